import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import { clientFor, close, code, createRdWithVolume, entries, getJson, ok, open, placedResource, placement, raw, read, withEmulator, write } from './helpers.js'

interface Snap {
  name: string
  resource_name: string
  nodes: string[]
  flags: string[]
  volume_definitions: Array<{ volume_number: number; size_kib: number }>
}

test('snapshot create/list/get/delete; duplicate FAIL_EXISTS_SNAPSHOT_DFN; nodes default to the diskful replicas', async (t) => {
  const emu = await withEmulator(t)
  const c = clientFor(t, emu)
  await placedResource(emu, 'r1', 2)
  const r = await raw(emu, 'POST', '/v1/resource-definitions/r1/snapshots', { name: 'snap1' })
  assert.equal(r.status, 201)
  const snap = (await getJson(emu, '/v1/resource-definitions/r1/snapshots/snap1')) as Snap
  assert.deepEqual(snap.nodes, ['alpha', 'bravo'])
  assert.deepEqual(snap.flags, ['SUCCESSFUL'])
  assert.deepEqual(snap.volume_definitions.map((v) => v.size_kib), [10240])
  const dup = await raw(emu, 'POST', '/v1/resource-definitions/r1/snapshots', { name: 'SNAP1' })
  assert.equal(dup.status, 500)
  assert.equal(code(entries(dup.text)[0]?.ret_code ?? 0n), 514)
  assert.deepEqual((await c.snapshots.list('r1')).map((s) => s.name), ['snap1'])
  const view = (await getJson(emu, '/v1/view/snapshots?resources=r1&nodes=bravo')) as Snap[]
  assert.deepEqual(view.map((s) => s.name), ['snap1'])
  await c.snapshots.delete('r1', 'snap1')
  assert.deepEqual(await c.snapshots.list('r1'), [])
  const again = await raw(emu, 'DELETE', '/v1/resource-definitions/r1/snapshots/snap1')
  assert.equal(again.status, 200)
  assert.equal(code(entries(again.text)[0]?.ret_code ?? 0n), 3000)
})

test('thick LVM cannot snapshot: FAIL_SNAPSHOTS_NOT_SUPPORTED', async (t) => {
  const emu = await withEmulator(t, { cluster: { nodes: [{ name: 'n1', pools: [{ name: 'thick', provider_kind: 'LVM', total_capacity_kib: 1_000_000 }] }] } })
  await createRdWithVolume(emu, 'r1', 1024)
  await ok(emu, 'POST', '/v1/resource-definitions/r1/resources/n1', { resource: { props: { StorPoolName: 'thick' } } })
  const r = await raw(emu, 'POST', '/v1/resource-definitions/r1/snapshots', { name: 's1' })
  assert.equal(r.status, 500)
  assert.equal(code(entries(r.text)[0]?.ret_code ?? 0n), 994)
})

test('an RD with snapshots cannot be deleted', async (t) => {
  const emu = await withEmulator(t)
  await placedResource(emu, 'r1', 2)
  await ok(emu, 'POST', '/v1/resource-definitions/r1/snapshots', { name: 's1' })
  const r = await raw(emu, 'DELETE', '/v1/resource-definitions/r1')
  assert.equal(r.status, 500)
  assert.equal(entries(r.text)[0]?.message, "Cannot delete resource definition 'r1' because it has snapshots.")
  await ok(emu, 'DELETE', '/v1/resource-definitions/r1/snapshots/s1')
  await ok(emu, 'DELETE', '/v1/resource-definitions/r1')
})

test('restore to a new resource: three calls, data copied, target must be empty and sizes equal', async (t) => {
  const emu = await withEmulator(t)
  const c = clientFor(t, emu)
  await placedResource(emu, 'src', 2, 4096)
  await open(emu, 'alpha', 'src')
  await write(emu, 'alpha', 'src', 0, 0, Buffer.from('before snapshot'))
  await close(emu, 'alpha', 'src')
  await c.snapshots.create('src', { name: 's1' })
  await open(emu, 'alpha', 'src')
  await write(emu, 'alpha', 'src', 0, 0, Buffer.from('AFTER  snapshot'))
  await close(emu, 'alpha', 'src')
  await c.resourceDefinitions.create({ resource_definition: { name: 'dst' } })
  await c.snapshots.restoreVolumeDefinitions('src', 's1', 'dst')
  const r = await raw(emu, 'POST', '/v1/resource-definitions/src/snapshot-restore-resource/s1', { to_resource: 'dst' })
  assert.equal(r.status, 200)
  const p = await placement(emu, 'dst')
  assert.deepEqual(Object.keys(p).filter((n) => p[n]?.length === 0), ['alpha', 'bravo'])
  await open(emu, 'bravo', 'dst')
  assert.equal((await read(emu, 'bravo', 'dst', 0, 0, 15)).text, 'before snapshot')
  await close(emu, 'bravo', 'dst')
  const again = await raw(emu, 'POST', '/v1/resource-definitions/src/snapshot-restore-resource/s1', { to_resource: 'dst' })
  assert.equal(again.status, 500)
  assert.equal(code(entries(again.text)[0]?.ret_code ?? 0n), 502)
  await ok(emu, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'dst2' } })
  await ok(emu, 'POST', '/v1/resource-definitions/dst2/volume-definitions', { volume_definition: { size_kib: 8192 } })
  const size = await raw(emu, 'POST', '/v1/resource-definitions/src/snapshot-restore-resource/s1', { to_resource: 'dst2' })
  assert.equal(code(entries(size.text)[0]?.ret_code ?? 0n), 206)
})

test('rollback: refused while in use; otherwise the data returns to the snapshot', async (t) => {
  const emu = await withEmulator(t)
  await placedResource(emu, 'r1', 2, 4096)
  await open(emu, 'alpha', 'r1')
  await write(emu, 'alpha', 'r1', 0, 100, Buffer.from('v1'))
  await close(emu, 'alpha', 'r1')
  await ok(emu, 'POST', '/v1/resource-definitions/r1/snapshots', { name: 's1' })
  await open(emu, 'alpha', 'r1')
  await write(emu, 'alpha', 'r1', 0, 100, Buffer.from('v2'))
  const busy = await raw(emu, 'POST', '/v1/resource-definitions/r1/snapshot-rollback/s1', {})
  assert.equal(busy.status, 500)
  assert.equal(code(entries(busy.text)[0]?.ret_code ?? 0n), 997)
  await close(emu, 'alpha', 'r1')
  await ok(emu, 'POST', '/v1/resource-definitions/r1/snapshot-rollback/s1')
  await open(emu, 'bravo', 'r1')
  assert.equal((await read(emu, 'bravo', 'r1', 0, 100, 2)).text, 'v1')
  const missing = await raw(emu, 'POST', '/v1/resource-definitions/r1/snapshot-rollback/nope')
  assert.equal(missing.status, 404)
})

test('clone: 201 ResourceDefinitionCloneStarted, status CLONING then COMPLETE, data copied', async (t) => {
  const emu = await withEmulator(t, { cloneDurationMs: 200 })
  const c = clientFor(t, emu)
  await placedResource(emu, 'src', 2, 4096)
  await open(emu, 'alpha', 'src')
  await write(emu, 'alpha', 'src', 0, 0, Buffer.from('golden image'))
  await close(emu, 'alpha', 'src')
  const r = await raw(emu, 'POST', '/v1/resource-definitions/src/clone', { name: 'copy1' })
  assert.equal(r.status, 201)
  const body = JSON.parse(r.text) as { location: string; source_name: string; clone_name: string; messages: unknown[] }
  assert.equal(body.location, '/v1/resource-definitions/src/clone/copy1')
  assert.equal(body.clone_name, 'copy1')
  assert.ok(body.messages.length > 0)
  assert.equal(await c.resourceDefinitions.cloneStatus('src', 'copy1'), 'CLONING')
  const rd = (await getJson(emu, '/v1/resource-definitions/copy1')) as { flags?: string[] }
  assert.deepEqual(rd.flags, ['CLONING'])
  await sleep(250)
  assert.equal(await c.resourceDefinitions.cloneStatus('src', 'copy1'), 'COMPLETE')
  assert.equal((await raw(emu, 'GET', '/v1/resource-definitions/src/clone/other')).status, 404)
  await open(emu, 'bravo', 'copy1')
  assert.equal((await read(emu, 'bravo', 'copy1', 0, 0, 12)).text, 'golden image')
  const dup = await raw(emu, 'POST', '/v1/resource-definitions/src/clone', { name: 'copy1' })
  assert.equal(dup.status, 500)
})

test('clone status is FAILED when a node of the clone is offline', async (t) => {
  const emu = await withEmulator(t, { cloneDurationMs: 0 })
  await placedResource(emu, 'src', 2, 1024)
  assert.equal((await raw(emu, 'POST', '/v1/resource-definitions/src/clone', { name: 'copy1' })).status, 201)
  assert.equal(JSON.parse((await raw(emu, 'GET', '/v1/resource-definitions/src/clone/copy1')).text).status, 'COMPLETE')
  await raw(emu, 'POST', '/x-emulator/nodes/bravo/offline')
  assert.equal(JSON.parse((await raw(emu, 'GET', '/v1/resource-definitions/src/clone/copy1')).text).status, 'FAILED')
})
