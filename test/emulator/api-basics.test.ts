import assert from 'node:assert/strict'
import { test } from 'node:test'
import { LinstorApiError, RC } from '../../core/linstor/index.js'
import { clientFor, code, entries, getJson, ok, raw, withEmulator } from './helpers.js'

test('GET /health answers 200 with an empty body; version reports REST 1.28.0', async (t) => {
  const emu = await withEmulator(t)
  const h = await raw(emu, 'GET', '/health')
  assert.equal(h.status, 200)
  assert.equal(h.text, '')
  const c = clientFor(t, emu)
  const v = await c.controller.version()
  assert.equal(v.rest_api_version, '1.28.0')
  assert.match(v.version, /^1\.34\./)
})

test('duplicate RD create: 500 with FAIL_EXISTS_RSC_DFN written exactly as -4611686018406940171', async (t) => {
  const emu = await withEmulator(t)
  const first = await raw(emu, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'rsc1' } })
  assert.equal(first.status, 201)
  assert.match(first.text, /"ret_code":20447233,/)
  const [created] = entries(first.text)
  assert.equal(created?.obj_refs?.['RscDfn'], 'rsc1')
  assert.match(created?.obj_refs?.['UUID'] ?? '', /^[0-9a-f-]{36}$/)
  assert.match(created?.created_at ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$/)
  const dup = await raw(emu, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'RSC1' } })
  assert.equal(dup.status, 500)
  assert.match(dup.text, /"ret_code":-4611686018406940171,/)
  assert.match(dup.text, /A resource definition with the name 'RSC1' already exists/)
})

test('the client sees FAIL_EXISTS_RSC_DFN through LinstorApiError.has', async (t) => {
  const emu = await withEmulator(t)
  const c = clientFor(t, emu)
  await c.resourceDefinitions.create({ resource_definition: { name: 'vm-1' } })
  await assert.rejects(c.resourceDefinitions.create({ resource_definition: { name: 'vm-1' } }), (err: unknown) => {
    assert.ok(err instanceof LinstorApiError)
    assert.ok(err.has(RC.FAIL_EXISTS_RSC_DFN))
    return true
  })
})

test('names are case-insensitive and keep their display case', async (t) => {
  const emu = await withEmulator(t)
  await ok(emu, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'MyDisk' } })
  const rd = (await getJson(emu, '/v1/resource-definitions/mydisk')) as { name: string }
  assert.equal(rd.name, 'MyDisk')
  const list = (await getJson(emu, '/v1/resource-definitions?resource_definitions=MYDISK')) as Array<{ name: string }>
  assert.deepEqual(list.map((x) => x.name), ['MyDisk'])
  const node = (await getJson(emu, '/v1/nodes/ALPHA')) as { name: string }
  assert.equal(node.name, 'alpha')
})

test('name validation: FAIL_INVLD_RSC_NAME for bad names, 500', async (t) => {
  const emu = await withEmulator(t)
  for (const name of ['1abc', 'a', 'has space', 'x'.repeat(49), '__', 'ä-umlaut']) {
    const r = await raw(emu, 'POST', '/v1/resource-definitions', { resource_definition: { name } })
    assert.equal(r.status, 500, name)
    assert.equal(code(entries(r.text)[0]?.ret_code ?? 0n), 202, name)
  }
  for (const name of ['_a', 'ab', 'a-b_c9', 'x'.repeat(48)]) {
    assert.equal((await raw(emu, 'POST', '/v1/resource-definitions', { resource_definition: { name } })).status, 201, name)
  }
})

test('single-object GET of a missing object is 404 with one bare entry (RequestHelper.notFoundResponse)', async (t) => {
  const emu = await withEmulator(t)
  const r = await raw(emu, 'GET', '/v1/resource-definitions/nope')
  assert.equal(r.status, 404)
  // ApiCallRcImpl.simpleEntry: the code without operation or object masks, a message, created_at.
  assert.match(r.text, /^\[\{"ret_code":-4611686018427387603,"message":"Resource definition 'nope' not found\.","created_at":"[^"]+"\}\]$/)
  const n = await raw(emu, 'GET', '/v1/nodes/nope')
  assert.equal(n.status, 404)
  assert.match(n.text, /^\[\{"ret_code":-4611686018427387604,"message":"Node 'nope' not found\.","created_at":"[^"]+"\}\]$/)
  const g = entries((await raw(emu, 'GET', '/v1/resource-groups/nope')).text)[0]
  assert.deepEqual([code(g?.ret_code ?? 0n), g?.message, g?.obj_refs, g?.details], [317, "Resource group 'nope' not found.", undefined, undefined])
  const c = clientFor(t, emu)
  assert.equal(await c.resourceDefinitions.get('nope'), undefined)
})

test('unknown path → 404 and wrong method → 405 as LinstorMapper answers them (details: the Jersey message)', async (t) => {
  const emu = await withEmulator(t)
  const r = await raw(emu, 'GET', '/v1/no-such-thing')
  assert.equal(r.status, 404)
  const [e] = entries(r.text)
  assert.equal(e?.ret_code, -4611686018427386906n)
  assert.equal(e?.message, "Path '/v1/no-such-thing' not found on server.")
  assert.equal(e?.details, 'HTTP 404 Not Found')
  assert.equal(e?.error_report_ids, undefined)
  const m = await raw(emu, 'PATCH', '/v1/nodes')
  assert.equal(m.status, 405)
  assert.equal(entries(m.text)[0]?.message, "Method 'PATCH' not allowed on path '/v1/nodes'.")
})

test('unparsable JSON: "Unable to parse input json." — 400 with an error report in doInScope handlers, 500 in asynchronous ones', async (t) => {
  const emu = await withEmulator(t)
  // ResourceDefinitions.createResourceDefinition reads inside RequestHelper.doInScope: 400.
  const a = await raw(emu, 'POST', '/v1/resource-definitions', '{"resource_definition": ', { headers: { 'content-type': 'application/json' } })
  assert.equal(a.status, 400)
  const [ea] = entries(a.text)
  assert.equal(ea?.ret_code, -3458764513820540931n)
  assert.equal(ea?.message, 'Unable to parse input json.')
  assert.match(ea?.details ?? '', /^Unexpected end-of-input/)
  assert.equal(ea?.error_report_ids?.length, 1)
  // Controller.setProperties: handleJsonParseException, no report; toResponse maps the code to 500.
  const s = await raw(emu, 'POST', '/v1/controller/properties', '{nope', { headers: { 'content-type': 'application/json' } })
  assert.equal(s.status, 500)
  const [es] = entries(s.text)
  assert.equal(es?.message, 'Unable to parse input json.')
  assert.match(es?.details ?? '', /^Unexpected character \('n' \(code 110\)\): was expecting double-quote to start field name/)
  assert.equal(es?.error_report_ids, undefined)
})

test('props: whitelist enforced (FAIL_INVLD_PROP), Aux/ free, DRBD booleans yes/no stored lower-case', async (t) => {
  const emu = await withEmulator(t)
  await ok(emu, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'r1' } })
  const bad = await raw(emu, 'PUT', '/v1/resource-definitions/r1', { override_props: { 'NoSuch/Key': 'x' } })
  assert.equal(bad.status, 500)
  assert.equal(code(entries(bad.text)[0]?.ret_code ?? 0n), 213)
  assert.equal(entries(bad.text)[0]?.message, 'Invalid property key: NoSuch/Key')
  const badBool = await raw(emu, 'PUT', '/v1/resource-definitions/r1', { override_props: { 'DrbdOptions/Net/allow-two-primaries': 'true' } })
  assert.equal(badBool.status, 500)
  const good = await raw(emu, 'PUT', '/v1/resource-definitions/r1', {
    override_props: { 'Aux/pm/vmid': '100', 'DrbdOptions/Net/allow-two-primaries': 'YES', 'DrbdOptions/ExactSize': 'yes' },
  })
  assert.equal(good.status, 200)
  assert.match(good.text, /"ret_code":37224451,/)
  const rd = (await getJson(emu, '/v1/resource-definitions/r1')) as { props: Record<string, string> }
  assert.equal(rd.props['Aux/pm/vmid'], '100')
  assert.equal(rd.props['DrbdOptions/Net/allow-two-primaries'], 'yes')
  const del = await raw(emu, 'PUT', '/v1/resource-definitions/r1', { delete_props: ['Aux/pm/vmid', 'Aux/never-set'], delete_namespaces: ['DrbdOptions/Net'] })
  assert.equal(del.status, 200)
  const after = (await getJson(emu, '/v1/resource-definitions/r1')) as { props: Record<string, string> }
  assert.equal(after.props['Aux/pm/vmid'], undefined)
  assert.equal(after.props['DrbdOptions/Net/allow-two-primaries'], undefined)
})

test('controller properties: set and delete report the keys', async (t) => {
  const emu = await withEmulator(t)
  const c = clientFor(t, emu)
  const set = await c.controller.modifyProperties({ override_props: { 'DrbdOptions/Net/allow-two-primaries': 'yes', 'Aux/x': '1' } })
  assert.match(set[0]?.message ?? '', /Successfully set property key\(s\): DrbdOptions\/Net\/allow-two-primaries,Aux\/x/)
  const props = await c.controller.properties()
  assert.equal(props['Aux/x'], '1')
  const del = await c.controller.modifyProperties({ delete_props: ['Aux/x'] })
  assert.match(del[0]?.message ?? '', /Successfully deleted property key\(s\): Aux\/x/)
  assert.equal((await c.controller.properties())['Aux/x'], undefined)
})

test('empty fields are omitted on the wire: an RD without props or flags has neither key', async (t) => {
  const emu = await withEmulator(t)
  await ok(emu, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'bare' } })
  const r = await raw(emu, 'GET', '/v1/resource-definitions/bare')
  assert.doesNotMatch(r.text, /"props"|"flags"|"external_name"|"volume_definitions"/)
  assert.match(r.text, /"resource_group_name":"DfltRscGrp"/)
})

test('onExchange records every /v1 and /health exchange exactly as sent, never /x-emulator', async (t) => {
  const seen: Array<{ method: string; url: string; requestBody: string; status: number; responseBody: string; contentType?: string }> = []
  const emu = await withEmulator(t, { onExchange: (ex) => seen.push(ex) })
  await raw(emu, 'GET', '/health')
  const body = '{"resource_definition":{"name":"rec1"}}'
  const created = await raw(emu, 'POST', '/v1/resource-definitions?x=1', body, { headers: { 'content-type': 'application/json' } })
  await raw(emu, 'GET', '/x-emulator/state')
  assert.equal(seen.length, 2)
  assert.deepEqual(seen[0], { method: 'GET', url: '/health', requestBody: '', status: 200, responseBody: '' })
  assert.equal(seen[1]?.url, '/v1/resource-definitions?x=1')
  assert.equal(seen[1]?.requestBody, body)
  assert.equal(seen[1]?.status, 201)
  assert.equal(seen[1]?.responseBody, created.text)
  assert.equal(seen[1]?.contentType, 'application/json')
})

test('deterministic uuids with a seed and created_at from the injected clock', async (t) => {
  const at = new Date(Date.UTC(2030, 4, 6, 7, 8, 9, 10))
  const a = await withEmulator(t, { seed: 7, clock: () => at })
  const b = await withEmulator(t, { seed: 7, clock: () => at })
  const na = (await getJson(a, '/v1/nodes/alpha')) as { uuid: string }
  const nb = (await getJson(b, '/v1/nodes/alpha')) as { uuid: string }
  assert.equal(na.uuid, nb.uuid)
  const r = entries((await raw(a, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'r1' } })).text)
  assert.equal(r[0]?.created_at, '2030-05-06T07:08:09.010+00:00')
})
