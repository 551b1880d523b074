import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  MASK_CRT, MASK_DEL, MASK_MOD, MASK_RSC, MASK_RSC_DFN, RC, codeOf, describeCode, isError, matches, severityOf,
} from '../../core/linstor/index.js'

// The signed 64-bit view of a composed mask, as Jackson prints a Java long.
const signed = (v: bigint): bigint => BigInt.asIntN(64, v)

test('composed ret_codes equal the worked values of the reference (§1.3)', () => {
  assert.equal(signed(1n | MASK_CRT | MASK_RSC_DFN), 20447233n)
  assert.equal(signed(3n | MASK_MOD | MASK_RSC_DFN), 37224451n)
  assert.equal(signed(2n | MASK_DEL | MASK_RSC), 53739522n)
  assert.equal(signed(MASK_CRT | MASK_RSC), 20185088n)
  assert.equal(signed(RC.FAIL_EXISTS_RSC_DFN | MASK_CRT | MASK_RSC_DFN), -4611686018406940171n)
  assert.equal(signed(RC.FAIL_NOT_ENOUGH_NODES | MASK_CRT | MASK_RSC), -4611686018407201820n)
  assert.equal(signed(RC.INFO_RSC_ALREADY_EXISTS | MASK_CRT | MASK_RSC), 4611686018447583000n)
  assert.equal(signed(RC.WARN_NOT_FOUND | MASK_DEL | MASK_RSC), -9223372036801033288n)
  assert.equal(signed(RC.WARN_RSC_ALREADY_DEPLOYED | MASK_CRT | MASK_RSC), -9223372036834589714n)
})

test('severity: ERROR is tested before WARN and INFO (it contains both bits)', () => {
  assert.equal(severityOf(-4611686018406940171n), 'error')
  assert.equal(severityOf(-9223372036801033288n), 'warning')
  assert.equal(severityOf(4611686018447583000n), 'info')
  assert.equal(severityOf(20447233n), 'success')
  assert.equal(isError({ ret_code: -9223372036801033288n }), false)
  assert.equal(isError({ ret_code: -4611686018406940171n }), true)
})

test('matches compares severity and code bits, ignoring operation and object bits', () => {
  const existsOnCreate = { ret_code: -4611686018406940171n }
  assert.equal(matches(existsOnCreate, RC.FAIL_EXISTS_RSC_DFN), true)
  assert.equal(matches(existsOnCreate, RC.FAIL_EXISTS_RSC), false)
  // Same code number, different severity: a warning 501 is not the error 501.
  assert.equal(matches({ ret_code: 501n | (1n << 63n) }, RC.FAIL_EXISTS_RSC_DFN), false)
  assert.equal(matches({ ret_code: -9223372036801033288n }, RC.WARN_NOT_FOUND), true)
  assert.equal(codeOf(-4611686018406940171n), 501)
  assert.equal(describeCode(-4611686018407201820n), 'FAIL_NOT_ENOUGH_NODES')
  assert.equal(describeCode(-4611686018427387904n | 4242n), 'error 4242')
})
