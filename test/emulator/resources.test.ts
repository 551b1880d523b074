import assert from 'node:assert/strict'
import { test } from 'node:test'
import { clientFor, code, createRdWithVolume, entries, getJson, ok, open, placedResource, placement, raw, setOnline, viewResources, withEmulator } from './helpers.js'

test('diskful create: 201 with registered/volume/created/ready entries; repeat → 201 INFO_RSC_ALREADY_EXISTS', async (t) => {
  const emu = await withEmulator(t)
  await createRdWithVolume(emu, 'r1')
  const r = await raw(emu, 'POST', '/v1/resource-definitions/r1/resources/alpha', {})
  assert.equal(r.status, 201)
  const msgs = entries(r.text).map((e) => e.message)
  assert.equal(msgs[0], "New resource 'r1' on node 'alpha' registered.")
  assert.equal(msgs[1], "Volume with number '0' on resource 'r1' on node 'alpha' successfully registered")
  assert.ok(msgs.includes("Created resource 'r1' on 'alpha'"))
  assert.equal(msgs.at(-1), "Resource 'r1' on 'alpha' ready")
  const again = await raw(emu, 'POST', '/v1/resource-definitions/r1/resources/alpha', {})
  assert.equal(again.status, 201)
  assert.match(again.text, /"ret_code":4611686018447583000,"message":"A resource 'r1' on node 'alpha' already exists."/)
})

test('diskless create: flags DISKLESS are reported as DISKLESS + DRBD_DISKLESS on DfltDisklessStorPool', async (t) => {
  const emu = await withEmulator(t)
  await createRdWithVolume(emu, 'r1')
  await ok(emu, 'POST', '/v1/resource-definitions/r1/resources/alpha', {})
  await ok(emu, 'POST', '/v1/resource-definitions/r1/resources/bravo', { resource: { flags: ['DISKLESS'] } })
  const c = clientFor(t, emu)
  const rsc = await c.resources.get('r1', 'bravo')
  assert.deepEqual(rsc?.flags, ['DISKLESS', 'DRBD_DISKLESS'])
  const [vol] = await c.resources.volumes('r1', 'bravo')
  assert.equal(vol?.storage_pool_name, 'DfltDisklessStorPool')
  assert.equal(vol?.provider_kind, 'DISKLESS')
  assert.equal(vol?.state.disk_state, 'Diskless')
  const unknown = await raw(emu, 'POST', '/v1/resource-definitions/r1/resources/charlie', { resource: { flags: ['SHINY'] } })
  assert.equal(unknown.status, 500)
})

test('create on a diskless replica asking for a disk toggles it to diskful', async (t) => {
  const emu = await withEmulator(t)
  await createRdWithVolume(emu, 'r1')
  await ok(emu, 'POST', '/v1/resource-definitions/r1/resources/alpha', {})
  await ok(emu, 'POST', '/v1/resource-definitions/r1/resources/bravo', { resource: { flags: ['DISKLESS'] } })
  const r = await raw(emu, 'POST', '/v1/resource-definitions/r1/resources/bravo', {})
  assert.equal(r.status, 201)
  assert.deepEqual((await placement(emu, 'r1'))['bravo'], [])
})

test('unknown node → 404 FAIL_NOT_FOUND_NODE; pool missing on the node → 404 FAIL_NOT_FOUND_DFLT_STOR_POOL', async (t) => {
  const emu = await withEmulator(t)
  await createRdWithVolume(emu, 'r1')
  const n = await raw(emu, 'POST', '/v1/resource-definitions/r1/resources/zulu', {})
  assert.equal(n.status, 404)
  assert.equal(code(entries(n.text)[0]?.ret_code ?? 0n), 300)
  const p = await raw(emu, 'POST', '/v1/resource-definitions/r1/resources/alpha', { resource: { props: { StorPoolName: 'nopool' } } })
  assert.equal(p.status, 404)
  assert.equal(code(entries(p.text)[0]?.ret_code ?? 0n), 311)
})

test('batch create of several nodes in one call', async (t) => {
  const emu = await withEmulator(t)
  await createRdWithVolume(emu, 'r1')
  const c = clientFor(t, emu)
  await c.resources.createMany('r1', [{ resource: { node_name: 'alpha' } }, { resource: { node_name: 'bravo' } }, { resource: { node_name: 'charlie' } }])
  const p = await placement(emu, 'r1')
  assert.deepEqual(p, { alpha: [], bravo: [], charlie: [] })
})

test('device_path /dev/drbd<minor> on every replica, diskless included; in_use follows the DRBD role', async (t) => {
  const emu = await withEmulator(t)
  await placedResource(emu, 'r1')
  await ok(emu, 'POST', '/v1/resource-definitions/r1/resources/delta/make-available', {})
  const rows = await viewResources(emu, '?resources=r1')
  assert.equal(rows.length, 4)
  for (const row of rows) assert.equal(row.volumes[0]?.device_path, '/dev/drbd1000', row.node_name)
  assert.equal((await open(emu, 'delta', 'r1')).status, 200)
  const after = await viewResources(emu, '?resources=r1')
  assert.deepEqual(after.map((r) => [r.node_name, r.state?.in_use]), [['alpha', false], ['bravo', false], ['charlie', false], ['delta', true]])
  assert.deepEqual(after.map((r) => r.volumes[0]?.state?.disk_state), ['UpToDate', 'UpToDate', 'Diskless', 'Diskless'])
})

test('delete guards: FAIL_IN_USE for a Primary replica and for the last diskful one while diskless remain', async (t) => {
  const emu = await withEmulator(t)
  await createRdWithVolume(emu, 'r1')
  await ok(emu, 'POST', '/v1/resource-definitions/r1/resources/alpha', {})
  await ok(emu, 'POST', '/v1/resource-definitions/r1/resources/bravo', { resource: { flags: ['DRBD_DISKLESS'] } })
  const last = await raw(emu, 'DELETE', '/v1/resource-definitions/r1/resources/alpha')
  assert.equal(last.status, 500)
  assert.equal(code(entries(last.text)[0]?.ret_code ?? 0n), 997)
  assert.equal(entries(last.text)[0]?.message, "Last resource of 'r1' with disk still has diskless resources attached.")
  assert.equal((await open(emu, 'bravo', 'r1')).status, 200)
  const inUse = await raw(emu, 'DELETE', '/v1/resource-definitions/r1/resources/bravo')
  assert.equal(inUse.status, 500)
  assert.equal(entries(inUse.text)[0]?.message, "Resource 'r1' is still in use.")
  const rdInUse = await raw(emu, 'DELETE', '/v1/resource-definitions/r1')
  assert.equal(rdInUse.status, 500)
  assert.equal(code(entries(rdInUse.text)[0]?.ret_code ?? 0n), 997)
})

test('autoplace of 2 on a 4-node cluster adds a tie-breaker and sets quorum majority', async (t) => {
  const emu = await withEmulator(t)
  const list = await placedResource(emu, 'r1', 2)
  assert.ok(list.some((e) => code(e.ret_code) === 10003 && e.message === "Tie breaker resource 'r1' created on charlie"))
  assert.deepEqual(await placement(emu, 'r1'), { alpha: [], bravo: [], charlie: ['DISKLESS', 'DRBD_DISKLESS', 'TIE_BREAKER'] })
  const rd = (await getJson(emu, '/v1/resource-definitions/r1')) as { props: Record<string, string> }
  assert.equal(rd.props['DrbdOptions/Resource/quorum'], 'majority')
})

test('a third diskful replica replaces the tie-breaker (its node may be picked)', async (t) => {
  const emu = await withEmulator(t)
  await placedResource(emu, 'r1', 2)
  await ok(emu, 'POST', '/v1/resource-definitions/r1/autoplace', { select_filter: { place_count: 3 } })
  const p = await placement(emu, 'r1')
  assert.equal(Object.values(p).filter((f) => f.length === 0).length, 3)
  assert.ok(!Object.values(p).some((f) => f.includes('TIE_BREAKER')))
})

test('a voting diskless replica makes the tie-breaker unnecessary: INFO_TIE_BREAKER_DELETING', async (t) => {
  const emu = await withEmulator(t)
  await placedResource(emu, 'r1', 2)
  const r = await ok(emu, 'POST', '/v1/resource-definitions/r1/resources/delta', { resource: { flags: ['DISKLESS'] } })
  assert.ok(r.some((e) => code(e.ret_code) === 10004))
  assert.deepEqual(await placement(emu, 'r1'), { alpha: [], bravo: [], delta: ['DISKLESS', 'DRBD_DISKLESS'] })
  const rd = (await getJson(emu, '/v1/resource-definitions/r1')) as { props: Record<string, string> }
  assert.equal(rd.props['DrbdOptions/Resource/quorum'], 'majority')
})

test('deleting a diskless replica of a 2-diskful resource keeps it as the tie-breaker (takeover)', async (t) => {
  const emu = await withEmulator(t, { cluster: { nodes: [{ name: 'n1', pools: [{ name: 'DfltStorPool', provider_kind: 'LVM_THIN', total_capacity_kib: 10_000_000 }] }, { name: 'n2', pools: [{ name: 'DfltStorPool', provider_kind: 'LVM_THIN', total_capacity_kib: 10_000_000 }] }, { name: 'n3' }] } })
  await createRdWithVolume(emu, 'r1')
  await ok(emu, 'POST', '/v1/resource-definitions/r1/resources/n1', {})
  await ok(emu, 'POST', '/v1/resource-definitions/r1/resources/n2', {})
  assert.deepEqual((await placement(emu, 'r1'))['n3'], ['DISKLESS', 'DRBD_DISKLESS', 'TIE_BREAKER'])
  await ok(emu, 'POST', '/v1/resource-definitions/r1/resources/n3', { resource: { flags: ['DISKLESS'] } })
  assert.deepEqual((await placement(emu, 'r1'))['n3'], ['DISKLESS', 'DRBD_DISKLESS'])
  const del = await ok(emu, 'DELETE', '/v1/resource-definitions/r1/resources/n3')
  assert.ok(del.some((e) => code(e.ret_code) === 10006))
  assert.deepEqual((await placement(emu, 'r1'))['n3'], ['DISKLESS', 'DRBD_DISKLESS', 'TIE_BREAKER'])
  // keep_tiebreaker keeps it; without, the tie-breaker goes and the RD opts out.
  await ok(emu, 'DELETE', '/v1/resource-definitions/r1/resources/n3?keep_tiebreaker=True')
  assert.ok('n3' in (await placement(emu, 'r1')))
  await ok(emu, 'DELETE', '/v1/resource-definitions/r1/resources/n3')
  assert.ok(!('n3' in (await placement(emu, 'r1'))))
  const rd = (await getJson(emu, '/v1/resource-definitions/r1')) as { props: Record<string, string> }
  assert.equal(rd.props['DrbdOptions/auto-add-quorum-tiebreaker'], 'False')
  assert.equal(rd.props['DrbdOptions/Resource/quorum'], 'off')
})

test('make-available decision table', async (t) => {
  const emu = await withEmulator(t)
  await createRdWithVolume(emu, 'r1')
  // No replica at all: the first one is diskful.
  await ok(emu, 'POST', '/v1/resource-definitions/r1/resources/alpha/make-available', {})
  assert.deepEqual(await placement(emu, 'r1'), { alpha: [] })
  // A diskful peer exists: a diskless DRBD client.
  const r = await raw(emu, 'POST', '/v1/resource-definitions/r1/resources/bravo/make-available', {})
  assert.equal(r.status, 200)
  assert.deepEqual((await placement(emu, 'r1'))['bravo'], ['DISKLESS', 'DRBD_DISKLESS'])
  const c = clientFor(t, emu)
  const layer = (await c.resources.get('r1', 'bravo'))?.layer_object as { drbd?: { flags?: string[] } }
  assert.deepEqual(layer.drbd?.flags, ['CLIENT'])
  // Already as requested: code 0 with CRT|RSC masks (0x1340000).
  const same = await raw(emu, 'POST', '/v1/resource-definitions/r1/resources/bravo/make-available', {})
  assert.equal(same.status, 200)
  assert.match(same.text, /"ret_code":20185088,"message":"Resource already deployed as requested"/)
  // diskful: true on a diskless replica toggles it.
  await ok(emu, 'POST', '/v1/resource-definitions/r1/resources/bravo/make-available', { diskful: true })
  assert.deepEqual((await placement(emu, 'r1'))['bravo'], [])
  // diskful: true on a new node → diskful even though peers exist.
  await ok(emu, 'POST', '/v1/resource-definitions/r1/resources/delta/make-available', { diskful: true })
  assert.deepEqual((await placement(emu, 'r1'))['delta'], [])
})

test('make-available on the tie-breaker node clears TIE_BREAKER', async (t) => {
  const emu = await withEmulator(t)
  await placedResource(emu, 'r1', 2)
  assert.deepEqual((await placement(emu, 'r1'))['charlie'], ['DISKLESS', 'DRBD_DISKLESS', 'TIE_BREAKER'])
  await ok(emu, 'POST', '/v1/resource-definitions/r1/resources/charlie/make-available', {})
  const p = await placement(emu, 'r1')
  assert.deepEqual(p['charlie'], ['DISKLESS', 'DRBD_DISKLESS'])
  assert.ok(!Object.values(p).some((f) => f.includes('TIE_BREAKER')))
})

test('make-available with no suitable pool → 404 FAIL_NOT_FOUND_STOR_POOL', async (t) => {
  const emu = await withEmulator(t, { cluster: { nodes: [{ name: 'n1', pools: [{ name: 'pool1', provider_kind: 'LVM', total_capacity_kib: 1000 }] }] } })
  await createRdWithVolume(emu, 'r1', 10240)
  const r = await raw(emu, 'POST', '/v1/resource-definitions/r1/resources/n1/make-available', {})
  assert.equal(r.status, 404)
  assert.equal(code(entries(r.text)[0]?.ret_code ?? 0n), 310)
})

test('toggle-disk: 1.28 body form and deprecated paths; INFO_NOOP when already there; last online disk refused', async (t) => {
  const emu = await withEmulator(t)
  await createRdWithVolume(emu, 'r1')
  await ok(emu, 'POST', '/v1/resource-definitions/r1/resources/alpha', {})
  await ok(emu, 'POST', '/v1/resource-definitions/r1/resources/bravo', { resource: { flags: ['DISKLESS'] } })
  const noop = await raw(emu, 'PUT', '/v1/resource-definitions/r1/resources/alpha/toggle-disk', { operation: 'into_drbd_diskful' })
  assert.equal(noop.status, 200)
  assert.equal(code(entries(noop.text)[0]?.ret_code ?? 0n), 10007)
  const only = await raw(emu, 'PUT', '/v1/resource-definitions/r1/resources/alpha/toggle-disk', { operation: 'INTO_DRBD_DISKLESS' })
  assert.equal(only.status, 500)
  assert.equal(code(entries(only.text)[0]?.ret_code ?? 0n), 991)
  const bad = await raw(emu, 'PUT', '/v1/resource-definitions/r1/resources/alpha/toggle-disk', { operation: 'SIDEWAYS' })
  assert.equal(bad.status, 500)
  await ok(emu, 'PUT', '/v1/resource-definitions/r1/resources/bravo/toggle-disk/diskful/DfltStorPool')
  assert.deepEqual((await placement(emu, 'r1'))['bravo'], [])
  const c = clientFor(t, emu)
  await c.resources.toggleDiskLegacy('r1', 'alpha', 'diskless')
  assert.deepEqual((await placement(emu, 'r1'))['alpha'], ['DISKLESS', 'DRBD_DISKLESS'])
  await c.resources.toggleDisk('r1', 'alpha', { operation: 'INTO_DRBD_DISKFUL' })
  assert.deepEqual((await placement(emu, 'r1'))['alpha'], [])
  const missing = await raw(emu, 'PUT', '/v1/resource-definitions/r1/resources/delta/toggle-disk/diskless')
  assert.equal(missing.status, 404)
})

test('resource props PUT, and the view filters: nodes, resources, storage_pools, props; no volumes → no row', async (t) => {
  const emu = await withEmulator(t)
  await placedResource(emu, 'r1', 2)
  await ok(emu, 'PUT', '/v1/resource-definitions/r1/resources/alpha', { override_props: { 'Aux/mark': 'x' } })
  assert.deepEqual((await viewResources(emu, '?props=Aux/mark=x')).map((r) => r.node_name), ['alpha'])
  assert.deepEqual((await viewResources(emu, '?nodes=bravo&resources=R1')).map((r) => r.node_name), ['bravo'])
  assert.deepEqual((await viewResources(emu, '?storage_pools=DfltDisklessStorPool')).map((r) => r.node_name), ['charlie'])
  await ok(emu, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'novol' } })
  await ok(emu, 'POST', '/v1/resource-definitions/novol/resources/alpha', {})
  assert.deepEqual(await viewResources(emu, '?resources=novol'), [])
  const listed = (await getJson(emu, '/v1/resource-definitions/novol/resources')) as Array<{ node_name: string }>
  assert.deepEqual(listed.map((r) => r.node_name), ['alpha'])
  assert.equal((await raw(emu, 'GET', '/v1/resource-definitions/nope/resources')).status, 404)
  const limited = await viewResources(emu, '?limit=1&offset=1')
  assert.equal(limited.length, 1)
})

test('activate/deactivate toggle INACTIVE; deactivating a Primary is refused', async (t) => {
  const emu = await withEmulator(t)
  await placedResource(emu, 'r1', 2)
  await ok(emu, 'POST', '/v1/resource-definitions/r1/resources/alpha/deactivate')
  assert.ok((await placement(emu, 'r1'))['alpha']?.includes('INACTIVE'))
  const again = await raw(emu, 'POST', '/v1/resource-definitions/r1/resources/alpha/deactivate')
  assert.equal(code(entries(again.text)[0]?.ret_code ?? 0n), 10007)
  await ok(emu, 'POST', '/v1/resource-definitions/r1/resources/alpha/activate')
  assert.equal(((await placement(emu, 'r1'))['alpha'] ?? []).length, 0)
  assert.equal((await open(emu, 'bravo', 'r1')).status, 200)
  const busy = await raw(emu, 'POST', '/v1/resource-definitions/r1/resources/bravo/deactivate')
  assert.equal(busy.status, 500)
})

test('creating a replica on an offline node stores it and warns WARN_NOT_CONNECTED', async (t) => {
  const emu = await withEmulator(t)
  await createRdWithVolume(emu, 'r1')
  await setOnline(emu, 'delta', false)
  const r = await raw(emu, 'POST', '/v1/resource-definitions/r1/resources/delta', {})
  assert.equal(r.status, 201)
  const list = entries(r.text)
  assert.ok(list.some((e) => code(e.ret_code) === 1002 && e.message === "No active connection to satellite 'delta'"))
  assert.ok(!list.some((e) => e.message.endsWith('ready')))
  assert.deepEqual(await placement(emu, 'r1'), { delta: [] })
})

test('peer slots: at most peer_slots + 1 replicas (FAIL_INSUFFICIENT_PEER_SLOTS)', async (t) => {
  const emu = await withEmulator(t)
  await ok(emu, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'r1' }, drbd_peer_slots: 1 })
  await ok(emu, 'POST', '/v1/resource-definitions/r1/volume-definitions', { volume_definition: { size_kib: 1024 } })
  await ok(emu, 'POST', '/v1/resource-definitions/r1/resources/alpha', {})
  const second = await ok(emu, 'POST', '/v1/resource-definitions/r1/resources/bravo', {})
  assert.ok(second.some((e) => code(e.ret_code) === 1013), 'no slot left for a tie-breaker')
  const r = await raw(emu, 'POST', '/v1/resource-definitions/r1/resources/charlie', { resource: { flags: ['DISKLESS'] } })
  assert.equal(r.status, 500)
  assert.equal(code(entries(r.text)[0]?.ret_code ?? 0n), 993)
})

test('volume props PUT and the node net-interfaces list', async (t) => {
  const emu = await withEmulator(t)
  await placedResource(emu, 'r1', 1)
  await ok(emu, 'PUT', '/v1/resource-definitions/r1/resources/alpha/volumes/0', { override_props: { 'Aux/v': '1' } })
  const c = clientFor(t, emu)
  assert.equal((await c.resources.volumes('r1', 'alpha'))[0]?.props['Aux/v'], '1')
  assert.equal((await raw(emu, 'PUT', '/v1/resource-definitions/r1/resources/alpha/volumes/7', {})).status, 404)
  const nics = (await getJson(emu, '/v1/nodes/alpha/net-interfaces')) as Array<{ name: string; address: string; satellite_port: number }>
  assert.deepEqual(nics.map((n) => [n.name, n.address, n.satellite_port]), [['default', '10.0.0.1', 3366]])
})
