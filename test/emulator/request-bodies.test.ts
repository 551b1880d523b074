/**
 * Request bodies as the controller's Jackson ObjectMapper reads them (emulator/jackson.ts), the
 * reply each REST entry point gives a body it cannot read, and the endpoints python-linstor's
 * operator commands reach that only list things (error reports, physical storage, space report).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { JacksonError, readValue } from '../../emulator/jackson.js'
import * as T from '../../emulator/request-types.js'
import { code, entries, getJson, ok, raw, withEmulator } from './helpers.js'

const filterOf = (json: string): Record<string, unknown> => (readValue(json, T.ResourceGroup) as { select_filter: Record<string, unknown> }).select_filter

function jacksonError(f: () => unknown): JacksonError {
  try {
    f()
  } catch (err) {
    if (err instanceof JacksonError) return err
    throw err
  }
  assert.fail('expected a JacksonError')
}

test('scalars are coerced like ALLOW_COERCION_OF_SCALARS: "2" → Integer, 2.9 → 2, 1 → true, "True" → true, 7 → "7"', () => {
  assert.equal(filterOf('{"select_filter":{"place_count":"2"}}')['place_count'], 2)
  assert.equal(filterOf('{"select_filter":{"place_count":" +3 "}}')['place_count'], 3)
  assert.equal(filterOf('{"select_filter":{"place_count":2.9}}')['place_count'], 2)
  assert.equal(filterOf('{"select_filter":{"diskless_on_remaining":1}}')['diskless_on_remaining'], true)
  assert.equal(filterOf('{"select_filter":{"diskless_on_remaining":"True"}}')['diskless_on_remaining'], true)
  assert.equal(filterOf('{"select_filter":{"diskless_on_remaining":"false"}}')['diskless_on_remaining'], false)
  assert.equal(filterOf('{"select_filter":{"storage_pool":7}}')['storage_pool'], '7')
  assert.deepEqual(filterOf('{"select_filter":{"replicas_on_same":["a",1,true]}}')['replicas_on_same'], ['a', '1', 'true'])
  assert.equal((readValue('{"volume_sizes":["1048576"]}', T.ResourceGroupSpawn) as { volume_sizes: number[] }).volume_sizes[0], 1048576)
})

test('null and "" leave a field at its default; primitives hold their Java defaults', () => {
  const spawn = readValue('{"partial":null,"definitions_only":"","select_filter":null,"resource_definition_name":null}', T.ResourceGroupSpawn) as Record<string, unknown>
  assert.deepEqual(spawn, { partial: false, definitions_only: false })
  assert.equal(filterOf('{"select_filter":{"place_count":""}}')['place_count'], undefined)
  assert.equal(filterOf('{"select_filter":{"place_count":"null"}}')['place_count'], undefined)
  const qsi = readValue('{}', T.QuerySizeInfoRequest) as Record<string, unknown>
  assert.deepEqual(qsi, { ignore_cache_older_than_sec: -1 })
  const auto = readValue('{"diskless_on_remaining":null,"select_filter":{"place_count":2}}', T.AutoPlaceRequest) as Record<string, unknown>
  assert.deepEqual(auto, { diskless_on_remaining: false, select_filter: { place_count: 2 } })
})

test('what Jackson refuses: unknown fields, wrong shapes, unparsable numbers, malformed JSON, empty content', () => {
  const unknown = jacksonError(() => readValue('{"name":"x","select_filter":{"place_cnt":2}}', T.ResourceGroup))
  assert.equal(unknown.kind, 'mapping')
  assert.equal(unknown.exception, 'UnrecognizedPropertyException')
  assert.match(unknown.message, /^Unrecognized field "place_cnt" \(class com\.linbit\.linstor\.api\.rest\.v1\.serializer\.JsonGenTypes\$AutoSelectFilter\), not marked as ignorable \(17 known properties: "place_count", /)
  assert.match(unknown.message, /\(through reference chain: com\.linbit\.linstor\.api\.rest\.v1\.serializer\.JsonGenTypes\$ResourceGroup\["select_filter"\]->com\.linbit\.linstor\.api\.rest\.v1\.serializer\.JsonGenTypes\$AutoSelectFilter\["place_cnt"\]\)$/)
  const notInt = jacksonError(() => readValue('{"select_filter":{"place_count":"two"}}', T.ResourceGroup))
  assert.equal(notInt.exception, 'InvalidFormatException')
  assert.match(notInt.message, /^Cannot deserialize value of type `java\.lang\.Integer` from String "two": not a valid `java\.lang\.Integer` value\n at \[Source: .*; line: 1, column: \d+\]/)
  assert.equal(jacksonError(() => readValue('{"select_filter":{"place_count":true}}', T.ResourceGroup)).exception, 'MismatchedInputException')
  assert.equal(jacksonError(() => readValue('{"select_filter":{"replicas_on_same":"a"}}', T.ResourceGroup)).exception, 'MismatchedInputException')
  assert.equal(jacksonError(() => readValue('{"select_filter":[]}', T.ResourceGroup)).exception, 'MismatchedInputException')
  assert.equal(jacksonError(() => readValue('{"select_filter":{"diskless_on_remaining":"yes"}}', T.ResourceGroup)).exception, 'InvalidFormatException')
  const range = jacksonError(() => readValue('{"select_filter":{"place_count":2147483648}}', T.ResourceGroup))
  assert.deepEqual([range.kind, range.exception], ['coercion', 'InputCoercionException'])
  assert.match(range.message, /^Numeric value \(2147483648\) out of range of int/)
  const syntax = jacksonError(() => readValue('{"name": "x",}', T.ResourceGroup))
  assert.deepEqual([syntax.kind, syntax.exception], ['parse', 'JsonParseException'])
  assert.match(syntax.message, /^Unexpected character \('\}' \(code 125\)\): was expecting double-quote to start field name\n at \[Source: .*; line: 1, column: 14\]$/)
  assert.match(jacksonError(() => readValue("{'name': 'x'}", T.ResourceGroup)).message, /^Unexpected character \(''' \(code 39\)\)/)
  assert.match(jacksonError(() => readValue('{"name": nope}', T.ResourceGroup)).message, /^Unrecognized token 'nope'/)
  assert.match(jacksonError(() => readValue('', T.ResourceGroup)).message, /^No content to map due to end-of-input/)
  // Content after the root value is not read (FAIL_ON_TRAILING_TOKENS is off).
  assert.deepEqual(readValue('{"name":"x"} trailing', T.ResourceGroup), { name: 'x', description: '' })
})

test('linstor resource-group create/modify/spawn --place-count send "place_count":"2" and it works', async (t) => {
  const emu = await withEmulator(t)
  const created = await raw(emu, 'POST', '/v1/resource-groups', { name: 'rg1', select_filter: { place_count: '2', storage_pool_list: ['DfltStorPool'] } })
  assert.equal(created.status, 201)
  assert.equal(((await getJson(emu, '/v1/resource-groups/rg1')) as { select_filter: { place_count: number } }).select_filter.place_count, 2)
  await ok(emu, 'PUT', '/v1/resource-groups/rg1', { select_filter: { place_count: '3' } })
  assert.equal(((await getJson(emu, '/v1/resource-groups/rg1')) as { select_filter: { place_count: number } }).select_filter.place_count, 3)
  await ok(emu, 'POST', '/v1/resource-groups/rg1/volume-groups', {})
  const spawned = await raw(emu, 'POST', '/v1/resource-groups/rg1/spawn', { resource_definition_name: 'res1', volume_sizes: [1048576], partial: false, definitions_only: false, select_filter: { place_count: '3' } })
  assert.equal(spawned.status, 201, spawned.text)
  const rows = (await getJson(emu, '/v1/view/resources?resources=res1')) as Array<{ flags?: string[] }>
  assert.equal(rows.filter((r) => !(r.flags ?? []).includes('DRBD_DISKLESS')).length, 3)
})

test('query-size-info reads its filter or fails: --place-count 3 answers for 3 nodes, a bad filter is a parse error (not the group default)', async (t) => {
  const emu = await withEmulator(t)
  await ok(emu, 'POST', '/v1/resource-groups', { name: 'rg1', select_filter: { place_count: 2 } })
  const post = async (body: string): Promise<{ status: number; text: string }> => raw(emu, 'POST', '/v1/resource-groups/rg1/query-size-info', body, { headers: { 'content-type': 'application/json' } })
  const r3 = await post('{"select_filter":{"place_count":"3"}}')
  assert.equal(r3.status, 200)
  assert.equal((JSON.parse(r3.text) as { space_info: { next_spawn_result: unknown[] } }).space_info.next_spawn_result.length, 3)
  const r2 = await post('')
  assert.equal((JSON.parse(r2.text) as { space_info: { next_spawn_result: unknown[] } }).space_info.next_spawn_result.length, 2)
  // ResourceGroups.querySizeInfo throws the JsonProcessingException to LinstorMapper: 500 with a report.
  const bad = await post('{"select_filter":{"place_count":"three"}}')
  assert.equal(bad.status, 500)
  const [e] = entries(bad.text)
  assert.equal(e?.message, 'Unable to parse input json.')
  assert.equal(e?.error_report_ids?.length, 1)
})

test('each entry point answers an unreadable body as its REST method does', async (t) => {
  const emu = await withEmulator(t)
  await ok(emu, 'POST', '/v1/resource-groups', { name: 'rg1' })
  const send = (method: string, path: string, body: string): Promise<{ status: number; text: string }> => raw(emu, method, path, body, { headers: { 'content-type': 'application/json' } })
  // doInScope (resource-group create): 400 with an error report.
  const sync = await send('POST', '/v1/resource-groups', '{"name":"rg2","color":"red"}')
  assert.equal(sync.status, 400)
  assert.equal(entries(sync.text)[0]?.error_report_ids?.length, 1)
  // handleJsonParseException (node create, spawn): 500 without a report.
  for (const [m, p] of [['POST', '/v1/nodes'], ['POST', '/v1/resource-groups/rg1/spawn']] as const) {
    const r = await send(m, p, '{"color":"red"}')
    assert.equal(r.status, 500, p)
    const [e] = entries(r.text)
    assert.deepEqual([e?.ret_code, e?.message, e?.error_report_ids], [-3458764513820540931n, 'Unable to parse input json.', undefined], p)
  }
  // `throws IOException` (resource-group modify): LinstorMapper, 500 with a report.
  const escaped = await send('PUT', '/v1/resource-groups/rg1', '{"color":"red"}')
  assert.equal(escaped.status, 500)
  assert.equal(entries(escaped.text)[0]?.error_report_ids?.length, 1)
  // An integer out of range is no JSON mapping error: "An unknown error occurred." there.
  const range = await send('PUT', '/v1/resource-groups/rg1', '{"select_filter":{"place_count":99999999999}}')
  assert.deepEqual([range.status, entries(range.text)[0]?.message], [500, 'An unknown error occurred.'])
  // The parse error leaves nothing behind.
  assert.equal((await raw(emu, 'GET', '/v1/resource-groups/rg2')).status, 404)
})

test('error reports list what the REST layer reported; physical storage is an empty list; the space report says it is not installed', async (t) => {
  const emu = await withEmulator(t)
  assert.deepEqual(await getJson(emu, '/v1/error-reports'), [])
  const bad = await raw(emu, 'POST', '/v1/resource-groups', '{"name":"x","select_filter":{"place_count":"x"}}', { headers: { 'content-type': 'application/json' } })
  const id = entries(bad.text)[0]?.error_report_ids?.[0] ?? ''
  assert.match(id, /^[0-9A-F]{8}-00000-000000$/)
  const list = (await getJson(emu, '/v1/error-reports')) as Array<Record<string, unknown>>
  assert.equal(list.length, 1)
  assert.equal(list[0]?.['filename'], `ErrorReport-${id}.log`)
  assert.equal(list[0]?.['exception'], 'InvalidFormatException')
  assert.equal(list[0]?.['module'], 'CONTROLLER')
  assert.equal(typeof list[0]?.['error_time'], 'number')
  assert.equal(list[0]?.['text'], undefined)
  const one = (await getJson(emu, `/v1/error-reports/${id}`)) as Array<Record<string, unknown>>
  assert.match(String(one[0]?.['text']), new RegExp(`^ERROR REPORT ${id}`))
  await ok(emu, 'DELETE', `/v1/error-reports/${id}`)
  assert.deepEqual(await getJson(emu, '/v1/error-reports'), [])
  assert.deepEqual(await getJson(emu, '/v1/physical-storage'), [])
  assert.deepEqual(await getJson(emu, '/v1/space-report'), { reportText: 'The SpaceTracking service is not installed.' })
})

test('the controller version is configurable; REST level follows it', async (t) => {
  const old = await withEmulator(t, { version: '1.29.0' })
  assert.deepEqual(await getJson(old, '/v1/controller/version'), {
    version: '1.29.0',
    git_hash: '3e9306a9d0000000000000000000000000000000',
    build_time: '2026-06-02T00:00:00+00:00',
    rest_api_version: '1.24.0',
  })
  const fromFile = await withEmulator(t, { cluster: { nodes: [{ name: 'n1' }], controller_version: '1.32.1' } })
  assert.equal(((await getJson(fromFile, '/v1/controller/version')) as { rest_api_version: string }).rest_api_version, '1.26.0')
  const bad = await raw(old, 'POST', '/v1/resource-definitions/x/snapshot-rollback/y', { zfs_rollback_strategy: 'clone' })
  // Before 1.32 SnapshotRollback has no zfs_rollback_strategy: an unknown field.
  assert.equal(bad.status, 500)
  assert.match(entries(bad.text)[0]?.details ?? '', /^Unrecognized field "zfs_rollback_strategy"/)
  assert.equal(code(entries(bad.text)[0]?.ret_code ?? 0n), 32765)
})
