/**
 * Snapshot rollback by controller version and storage (emulator/rollback.ts, after
 * CtrlSnapshotRollbackApiCallHandler, ZfsChecks and ZfsRollbackStrategy): any snapshot via restore
 * since 1.31, newest only before; ZFS by strategy; what a failing step leaves.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { RunningEmulator } from '../../emulator/index.js'
import { close, code, entries, getJson, ok, open, placedResource, raw, read, withEmulator, write } from './helpers.js'

interface Row {
  node_name: string
  uuid: string
  flags?: string[]
}

async function rows(emu: RunningEmulator, rsc: string): Promise<Row[]> {
  return ((await getJson(emu, `/v1/view/resources?resources=${rsc}`)) as Row[]).sort((a, b) => a.node_name.localeCompare(b.node_name))
}

const diskful = (list: Row[]): string[] => list.filter((r) => !(r.flags ?? []).includes('DRBD_DISKLESS')).map((r) => r.node_name)

async function snapshotNames(emu: RunningEmulator, rsc: string): Promise<string[]> {
  return ((await getJson(emu, `/v1/resource-definitions/${rsc}/snapshots`)) as Array<{ name: string }>).map((s) => s.name)
}

/** Writes `text` at offset 0 through a node that opens and closes the volume. */
async function put(emu: RunningEmulator, node: string, rsc: string, text: string): Promise<void> {
  await open(emu, node, rsc)
  await write(emu, node, rsc, 0, 0, Buffer.from(text))
  await close(emu, node, rsc)
}

async function get(emu: RunningEmulator, node: string, rsc: string): Promise<string> {
  await open(emu, node, rsc)
  const text = (await read(emu, node, rsc, 0, 0, 2)).text
  await close(emu, node, rsc)
  return text
}

/** r1 on alpha+bravo (tie-breaker on a third node), a diskless client on delta, snapshots s1 (v1), s2 (v2), data v3. */
async function history(emu: RunningEmulator): Promise<void> {
  await placedResource(emu, 'r1', 2, 4096)
  const nodes = diskful(await rows(emu, 'r1'))
  assert.deepEqual(nodes, ['alpha', 'bravo'])
  await ok(emu, 'POST', '/v1/resource-definitions/r1/resources/delta/make-available', { diskful: false })
  await put(emu, 'alpha', 'r1', 'v1')
  await ok(emu, 'POST', '/v1/resource-definitions/r1/snapshots', { name: 's1' })
  await put(emu, 'alpha', 'r1', 'v2')
  await ok(emu, 'POST', '/v1/resource-definitions/r1/snapshots', { name: 's2' })
  await put(emu, 'alpha', 'r1', 'v3')
}

test('1.34: a rollback to an older snapshot keeps the newer ones; the replicas return where they were; no safety snapshot is left', async (t) => {
  const emu = await withEmulator(t)
  await history(emu)
  const before = await rows(emu, 'r1')
  const r = await raw(emu, 'POST', '/v1/resource-definitions/r1/snapshot-rollback/s1', {})
  assert.equal(r.status, 200, r.text)
  const list = entries(r.text)
  assert.ok(list.some((e) => /^New snapshot 'safety-snap-[0-9a-f]+' of resource 'r1' registered\.$/.test(e.message)), r.text)
  assert.ok(list.some((e) => /^Snapshot 'safety-snap-[0-9a-f]+' of resource 'r1' deleted\.$/.test(e.message)), r.text)
  assert.deepEqual(await snapshotNames(emu, 'r1'), ['s1', 's2'])
  assert.equal(await get(emu, 'bravo', 'r1'), 'v1')
  const after = await rows(emu, 'r1')
  assert.deepEqual(after.map((x) => x.node_name), before.map((x) => x.node_name))
  assert.deepEqual(diskful(after), ['alpha', 'bravo'])
  // The resources were deleted and restored: new objects.
  assert.notEqual(after.find((x) => x.node_name === 'alpha')?.uuid, before.find((x) => x.node_name === 'alpha')?.uuid)
  // Forward again to the newer snapshot.
  await ok(emu, 'POST', '/v1/resource-definitions/r1/snapshot-rollback/s2')
  assert.equal(await get(emu, 'alpha', 'r1'), 'v2')
  assert.deepEqual(await snapshotNames(emu, 'r1'), ['s1', 's2'])
})

test('a rollback restores the volume sizes the snapshot had', async (t) => {
  const emu = await withEmulator(t)
  await placedResource(emu, 'r1', 2, 4096)
  await ok(emu, 'POST', '/v1/resource-definitions/r1/snapshots', { name: 's1' })
  await ok(emu, 'PUT', '/v1/resource-definitions/r1/volume-definitions/0', { size_kib: 8192 })
  await ok(emu, 'POST', '/v1/resource-definitions/r1/snapshots', { name: 's2' })
  await ok(emu, 'POST', '/v1/resource-definitions/r1/snapshot-rollback/s1')
  assert.equal(((await getJson(emu, '/v1/resource-definitions/r1/volume-definitions/0')) as { size_kib: number }).size_kib, 4096)
})

test('refused while a replica is in use, with the controller cause and correction', async (t) => {
  const emu = await withEmulator(t)
  await history(emu)
  await open(emu, 'alpha', 'r1')
  const r = await raw(emu, 'POST', '/v1/resource-definitions/r1/snapshot-rollback/s1')
  assert.equal(r.status, 500)
  const [e] = entries(r.text)
  assert.equal(code(e?.ret_code ?? 0n), 997)
  assert.equal(e?.message, "Resource 'r1' on node 'alpha' is still in use.")
  assert.equal(e?.cause, 'Resource is mounted/in use.')
  assert.deepEqual(await snapshotNames(emu, 'r1'), ['s1', 's2'])
})

test('1.29: only the most recent snapshot; the rollback happens in place', async (t) => {
  const emu = await withEmulator(t, { version: '1.29.0' })
  await history(emu)
  const before = await rows(emu, 'r1')
  const old = await raw(emu, 'POST', '/v1/resource-definitions/r1/snapshot-rollback/s1')
  assert.equal(old.status, 500)
  const [e] = entries(old.text)
  assert.equal(code(e?.ret_code ?? 0n), 514)
  assert.equal(e?.message, 'Rollback is only allowed with the most recent snapshot')
  assert.equal(await get(emu, 'alpha', 'r1'), 'v3')
  const r = await raw(emu, 'POST', '/v1/resource-definitions/r1/snapshot-rollback/s2')
  assert.equal(r.status, 200, r.text)
  assert.ok(entries(r.text).some((x) => x.message === "Snapshot 's2' of resource 'r1' marked down for rollback."))
  assert.equal(await get(emu, 'alpha', 'r1'), 'v2')
  // In place: the same resources, no safety snapshot.
  assert.deepEqual((await rows(emu, 'r1')).map((x) => x.uuid), before.map((x) => x.uuid))
  assert.deepEqual(await snapshotNames(emu, 'r1'), ['s1', 's2'])
})

const zfsCluster = {
  nodes: ['z1', 'z2', 'z3'].map((name) => ({ name, pools: [{ name: 'zpool', provider_kind: 'ZFS_THIN' as const, total_capacity_kib: 10_000_000 }] })),
}

async function zfsHistory(emu: RunningEmulator): Promise<void> {
  await ok(emu, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'r1' } })
  await ok(emu, 'POST', '/v1/resource-definitions/r1/volume-definitions', { volume_definition: { size_kib: 4096 } })
  await ok(emu, 'POST', '/v1/resource-definitions/r1/autoplace', { select_filter: { place_count: 2 } })
  await put(emu, 'z1', 'r1', 'v1')
  await ok(emu, 'POST', '/v1/resource-definitions/r1/snapshots', { name: 's1' })
  await put(emu, 'z1', 'r1', 'v2')
  await ok(emu, 'POST', '/v1/resource-definitions/r1/snapshots', { name: 's2' })
  await put(emu, 'z1', 'r1', 'v3')
}

test('ZFS, DYNAMIC (default): the newest snapshot in place (zfs rollback), an older one via restore', async (t) => {
  const emu = await withEmulator(t, { cluster: zfsCluster })
  await zfsHistory(emu)
  const before = await rows(emu, 'r1')
  await ok(emu, 'POST', '/v1/resource-definitions/r1/snapshot-rollback/s2')
  assert.deepEqual((await rows(emu, 'r1')).map((x) => x.uuid), before.map((x) => x.uuid))
  assert.equal(await get(emu, 'z2', 'r1'), 'v2')
  await ok(emu, 'POST', '/v1/resource-definitions/r1/snapshot-rollback/s1')
  assert.notDeepEqual((await rows(emu, 'r1')).map((x) => x.uuid), before.map((x) => x.uuid))
  assert.equal(await get(emu, 'z2', 'r1'), 'v1')
  assert.deepEqual(await snapshotNames(emu, 'r1'), ['s1', 's2'])
})

test('ZFS, StorDriver/Zfs/RollbackStrategy=Rollback: an older snapshot is refused; the request and the RD override it', async (t) => {
  const emu = await withEmulator(t, { cluster: zfsCluster })
  await zfsHistory(emu)
  await ok(emu, 'POST', '/v1/controller/properties', { override_props: { 'StorDriver/Zfs/RollbackStrategy': 'Rollback' } })
  const refused = await raw(emu, 'POST', '/v1/resource-definitions/r1/snapshot-rollback/s1')
  assert.equal(refused.status, 500)
  const [e] = entries(refused.text)
  assert.equal(code(e?.ret_code ?? 0n), 977)
  assert.equal(e?.message, "'s1' is not the most recent snapshot. Cannot 'zfs rollback ...' to the given snapshot!")
  assert.equal(await get(emu, 'z1', 'r1'), 'v3')
  // The request's strategy wins over the properties.
  await ok(emu, 'POST', '/v1/resource-definitions/r1/snapshot-rollback/s1', { zfs_rollback_strategy: 'clone' })
  assert.equal(await get(emu, 'z1', 'r1'), 'v1')
  // The RD's property wins over the controller's.
  await ok(emu, 'PUT', '/v1/resource-definitions/r1', { override_props: { 'StorDriver/Zfs/RollbackStrategy': 'Clone' } })
  await ok(emu, 'POST', '/v1/resource-definitions/r1/snapshot-rollback/s2')
  await ok(emu, 'POST', '/v1/resource-definitions/r1/snapshot-rollback/s1')
  assert.equal(await get(emu, 'z1', 'r1'), 'v1')
})

test('a failed restore rolls back to the safety snapshot: the data and diskful replicas as before, the client gone, the error answered', async (t) => {
  const emu = await withEmulator(t)
  await history(emu)
  emu.control.faults.satellite('restore', { node: 'bravo', count: 1 })
  const r = await raw(emu, 'POST', '/v1/resource-definitions/r1/snapshot-rollback/s1')
  assert.equal(r.status, 500)
  assert.match(entries(r.text).find((x) => code(x.ret_code) === 998)?.message ?? '', /^Failed to restore snapshot 's1' of resource 'r1' on node 'bravo'/)
  assert.equal(await get(emu, 'alpha', 'r1'), 'v3')
  const after = await rows(emu, 'r1')
  assert.deepEqual(diskful(after), ['alpha', 'bravo'])
  assert.equal(after.some((x) => x.node_name === 'delta'), false)
  assert.deepEqual(await snapshotNames(emu, 'r1'), ['s1', 's2'])
})

test('a failed delete restores the deleted diskful replicas from the safety snapshot; the one not deleted stays', async (t) => {
  const emu = await withEmulator(t)
  await history(emu)
  const before = await rows(emu, 'r1')
  emu.control.faults.satellite('delete', { node: 'bravo', count: 1 })
  const r = await raw(emu, 'POST', '/v1/resource-definitions/r1/snapshot-rollback/s1')
  assert.equal(r.status, 500)
  assert.equal(await get(emu, 'bravo', 'r1'), 'v3')
  const after = await rows(emu, 'r1')
  assert.deepEqual(diskful(after), ['alpha', 'bravo'])
  assert.equal(after.find((x) => x.node_name === 'bravo')?.uuid, before.find((x) => x.node_name === 'bravo')?.uuid)
  assert.notEqual(after.find((x) => x.node_name === 'alpha')?.uuid, before.find((x) => x.node_name === 'alpha')?.uuid)
  assert.deepEqual(await snapshotNames(emu, 'r1'), ['s1', 's2'])
})

test('a failed safety snapshot changes nothing', async (t) => {
  const emu = await withEmulator(t)
  await history(emu)
  const before = await rows(emu, 'r1')
  emu.control.faults.satellite('snapshot', { count: 1 })
  const r = await raw(emu, 'POST', '/v1/resource-definitions/r1/snapshot-rollback/s1')
  assert.equal(r.status, 500)
  assert.deepEqual(await rows(emu, 'r1'), before)
  assert.equal(await get(emu, 'alpha', 'r1'), 'v3')
  assert.deepEqual(await snapshotNames(emu, 'r1'), ['s1', 's2'])
  // The fault was used up: the next rollback works.
  await ok(emu, 'POST', '/v1/resource-definitions/r1/snapshot-rollback/s1')
  assert.equal(await get(emu, 'alpha', 'r1'), 'v1')
})
