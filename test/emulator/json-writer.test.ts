import assert from 'node:assert/strict'
import { test } from 'node:test'
import { writeJson, stringMap } from '../../emulator/json-writer.js'
import { RC, ReplyBuilder, statusFor, entriesToJson, MASK_CRT, MASK_RSC_DFN, MASK_RSC, MASK_DEL, formatTimestamp } from '../../emulator/api-call-rc.js'

test('bigint values are written as exact integer literals', () => {
  assert.equal(writeJson({ a: -4611686018406940171n, b: 9223372036854775807n }), '{"a":-4611686018406940171,"b":9223372036854775807}')
})

test('empty fields are omitted like Jackson NON_EMPTY, false and 0 are kept', () => {
  assert.equal(
    writeJson({ name: 'x', flags: [], props: new Map(), description: '', gone: undefined, nul: null, zero: 0, no: false }),
    '{"name":"x","zero":0,"no":false}',
  )
})

test('string maps keep entries with empty values; top-level and item arrays are always written', () => {
  assert.equal(writeJson(stringMap({ a: '', b: 'c' })), '{"a":"","b":"c"}')
  assert.equal(writeJson([]), '[]')
  assert.equal(writeJson([[], {}]), '[[],{}]')
})

test('strings are escaped as JSON', () => {
  assert.equal(writeJson({ m: 'a "quoted"\nline' }), '{"m":"a \\"quoted\\"\\nline"}')
})

test('non-finite numbers are refused', () => {
  assert.throws(() => writeJson({ n: Infinity }), /non-finite/)
})

test('the reply builder ORs in the context masks only where the code has none', () => {
  const clock = (): Date => new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6))
  const b = new ReplyBuilder({ op: MASK_CRT, obj: MASK_RSC_DFN, objRefs: { RscDfn: 'r' }, objDescription: 'Resource definition: r' }, clock)
  b.add(RC.FAIL_EXISTS_RSC_DFN, 'exists')
  b.add(RC.CREATED | MASK_DEL | MASK_RSC, 'explicit')
  assert.equal(b.entries[0]?.ret_code, -4611686018406940171n)
  assert.equal(b.entries[0]?.details, 'Resource definition: r')
  assert.equal(b.entries[1]?.ret_code, 0x3340001n)
  assert.equal(b.entries[0]?.created_at, '2026-01-02T03:04:05.006+00:00')
  assert.equal(writeJson(entriesToJson(b.entries)).includes('"ret_code":-4611686018406940171'), true)
})

test('worked ret_code values of the reference', () => {
  assert.equal(RC.WARN_NOT_FOUND | 0x3000000n | 0x340000n, -9223372036801033288n)
  assert.equal(RC.INFO_RSC_ALREADY_EXISTS | MASK_CRT | MASK_RSC, 4611686018447583000n)
  assert.equal(RC.FAIL_NOT_ENOUGH_NODES | MASK_CRT | MASK_RSC, -4611686018407201820n)
  assert.equal(RC.WARN_RSC_ALREADY_DEPLOYED | MASK_CRT | MASK_RSC, -9223372036834589714n)
})

test('HTTP status: first error decides, 3xx codes → 404, 4xx → 403, others → 500', () => {
  const e = (rc: bigint) => ({ ret_code: rc, message: '' })
  assert.equal(statusFor([e(1n)], 201), 201)
  assert.equal(statusFor([e(RC.WARN_NOT_FOUND)], 200), 200)
  assert.equal(statusFor([e(RC.FAIL_NOT_FOUND_RSC_DFN)], 201), 404)
  assert.equal(statusFor([e(RC.FAIL_ACC_DENIED_COMMAND)], 201), 403)
  assert.equal(statusFor([e(RC.FAIL_EXISTS_RSC_DFN), e(RC.FAIL_NOT_FOUND_NODE)], 201), 500)
  assert.equal(statusFor([e(RC.API_CALL_PARSE_ERROR)], 200), 500)
})

test('timestamps are ISO-8601 with an explicit offset', () => {
  assert.match(formatTimestamp(new Date(0)), /^1970-01-01T00:00:00\.000\+00:00$/)
})
