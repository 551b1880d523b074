import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseLinstorJson, stringifyLinstorJson } from '../../core/linstor/index.js'

test('ret_code values beyond 2^53 survive exactly (as decimal strings)', () => {
  const text = '[{"ret_code":-4611686018406940171,"message":"x"},{"ret_code":4611686018447583000},{"ret_code":-9223372036801033288},{"ret_code":20447233}]'
  const v = parseLinstorJson(text) as { ret_code: unknown }[]
  assert.equal(v[0]?.ret_code, '-4611686018406940171')
  assert.equal(v[1]?.ret_code, '4611686018447583000')
  assert.equal(v[2]?.ret_code, '-9223372036801033288')
  // Safe integers stay numbers.
  assert.equal(v[3]?.ret_code, 20447233)
  // What plain JSON.parse would have done: the 15 code bits destroyed.
  assert.notEqual(BigInt((JSON.parse(text) as { ret_code: number }[])[0]?.ret_code ?? 0), -4611686018406940171n)
})

test('strings, floats and exponents are left untouched', () => {
  const text = '{"a":"12345678901234567890","b":"say \\"9999999999999999999\\"","c":1.5,"d":12345678901234567890.5,"e":1e300,"f":[9223372036854775807]}'
  const v = parseLinstorJson(text) as Record<string, unknown>
  assert.equal(v['a'], '12345678901234567890')
  assert.equal(v['b'], 'say "9999999999999999999"')
  assert.equal(v['c'], 1.5)
  assert.equal(v['d'], Number('12345678901234567890.5'))
  assert.equal(v['e'], 1e300)
  assert.deepEqual(v['f'], ['9223372036854775807'])
})

test('documents without long digit runs take the plain path and parse the same', () => {
  const text = '{"name":"rsc1","size_kib":1048576,"props":{"Aux/x":"y"},"flags":[]}'
  assert.deepEqual(parseLinstorJson(text), JSON.parse(text))
})

test('invalid JSON still throws', () => {
  assert.throws(() => parseLinstorJson('{"a":12345678901234567890'), SyntaxError)
  assert.throws(() => parseLinstorJson('<html>'), SyntaxError)
})

test('bigint values are written as exact integer literals', () => {
  const text = stringifyLinstorJson({ a: 9223372036854775807n, b: [-4611686018406940171n], c: 'x', d: 1 })
  assert.equal(text, '{"a":9223372036854775807,"b":[-4611686018406940171],"c":"x","d":1}')
  assert.equal(stringifyLinstorJson({ s: 'plain' }), '{"s":"plain"}')
})
