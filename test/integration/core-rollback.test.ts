/**
 * The core's rollback by what the controller can do (core/volumes/rollback.ts): one LINSTOR
 * rollback to any snapshot on 1.31+, the newer snapshots kept; the newest-only rule where a ZFS
 * resource's strategy is Rollback; the version asked once, and asked again after a controller
 * refused what its version promised (a failover to an older controller).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createLinstorClient } from '../../core/linstor/index.js'
import { MiB } from '../../core/volumes/index.js'
import { startEmulator } from '../../emulator/index.js'
import { coreFixture, storageOn, tempDir, writeCalls } from '../helpers/core.js'

test('1.34: a rollback to an older snapshot is one LINSTOR call; the newer snapshots stay; no blockers', async (t) => {
  const { storage, emu } = await coreFixture(t)
  const disk = storage.resource('anysnap')
  await disk.create({ volumes: [4 * MiB], policy: { placeCount: 2 } })
  const [node] = (await disk.info())?.replicas.filter((r) => r.kind === 'diskful').map((r) => r.node) ?? []
  const put = (text: string): void => {
    emu.control.open(node ?? '', 'anysnap')
    emu.control.write(node ?? '', 'anysnap', 0, 0, Buffer.from(text))
    emu.control.close(node ?? '', 'anysnap')
  }
  put('version-1')
  await disk.createSnapshot('s1')
  put('version-2')
  await disk.createSnapshot('s2')
  put('version-3')
  assert.deepEqual(await disk.rollbackBlockers('s1'), [])
  emu.resetCounters()
  await disk.rollback('s1')
  assert.deepEqual(writeCalls(emu), { 'POST /v1/resource-definitions/{resource}/snapshot-rollback/{snapshot}': 1 })
  assert.deepEqual((await disk.snapshots()).map((s) => s.name), ['s1', 's2'])
  emu.control.open(node ?? '', 'anysnap')
  assert.equal(emu.control.read(node ?? '', 'anysnap', 0, 0, 9).toString(), 'version-1')
  // The controller refuses while in use; the core says RESOURCE_IN_USE.
  await assert.rejects(disk.rollback('s2'), { code: 'RESOURCE_IN_USE' })
  emu.control.close(node ?? '', 'anysnap')
  await disk.rollback('s2')
  emu.control.open(node ?? '', 'anysnap')
  assert.equal(emu.control.read(node ?? '', 'anysnap', 0, 0, 9).toString(), 'version-2')
  emu.control.close(node ?? '', 'anysnap')
  await assert.rejects(disk.rollback('nope'), { code: 'SNAPSHOT_NOT_FOUND' })
  await assert.rejects(storage.resource('missing').rollback('s1'), { code: 'RESOURCE_NOT_FOUND' })
})

test('the version is asked once per Storage; a snapshot without newer ones needs no version at all', async (t) => {
  const { storage, emu } = await coreFixture(t)
  const disk = storage.resource('asked-once')
  await disk.create({ volumes: [4 * MiB], policy: { placeCount: 2 } })
  await disk.createSnapshot('s1')
  emu.resetCounters()
  await disk.rollback('s1')
  assert.equal(emu.counters()['GET /v1/controller/version'], undefined)
  await disk.createSnapshot('s2')
  for (let i = 0; i < 3; i++) await disk.rollbackBlockers('s1')
  assert.equal(emu.counters()['GET /v1/controller/version'], 1)
})

test('ZFS with StorDriver/Zfs/RollbackStrategy=Rollback: newest only, from the controller, group or definition; Clone on the definition lifts it', async (t) => {
  const zfs = { nodes: ['z1', 'z2', 'z3'].map((name) => ({ name, pools: [{ name: 'DfltStorPool', provider_kind: 'ZFS_THIN' as const, total_capacity_kib: 10_000_000 }] })) }
  const { storage, client } = await coreFixture(t, { cluster: zfs }, { localNode: 'z1' })
  const disk = storage.resource('zvol1')
  await disk.create({ volumes: [4 * MiB], policy: { placeCount: 2 } })
  await disk.createSnapshot('s1')
  await disk.createSnapshot('s2')
  assert.deepEqual(await disk.rollbackBlockers('s1'), [])
  await client.controller.modifyProperties({ override_props: { 'StorDriver/Zfs/RollbackStrategy': 'Rollback' } })
  assert.deepEqual((await disk.rollbackBlockers('s1')).map((s) => s.name), ['s2'])
  // The core lets the controller judge (it refuses before changing anything) and names the newer ones.
  await assert.rejects(disk.rollback('s1'), (e: Error & { code?: string }) => e.code === 'ROLLBACK_BLOCKED' && /not the most recent snapshot.*newer snapshots exist: s2/.test(e.message))
  await disk.rollback('s2')
  await client.resourceDefinitions.modify('zvol1', { override_props: { 'StorDriver/Zfs/RollbackStrategy': 'Clone' } })
  assert.deepEqual(await disk.rollbackBlockers('s1'), [])
  await disk.rollback('s1')
  assert.deepEqual((await disk.snapshots()).map((s) => s.name), ['s1', 's2'])
})

test('a failover to an older controller: its refusal is ROLLBACK_BLOCKED naming the newer snapshots, and the version is asked again', async (t) => {
  const state = tempDir(t, 'lv-rb-state-')
  const a = await startEmulator({ logLevel: 'silent', stateDir: state })
  t.after(() => a.close())
  const b = await startEmulator({ logLevel: 'silent', stateDir: state, version: '1.29.0' })
  t.after(() => b.close())
  const client = createLinstorClient({ controllers: [a.url, b.url], env: {}, clientConfPaths: [], defaultTokenFile: '/nonexistent', connectTimeoutMs: 500, retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 } })
  t.after(() => client.close())
  const storage = storageOn(t, a, client)
  const disk = storage.resource('failover')
  await disk.create({ volumes: [4 * MiB], policy: { placeCount: 2 } })
  await disk.createSnapshot('s1')
  await disk.createSnapshot('s2')
  assert.deepEqual(await disk.rollbackBlockers('s1'), [], 'the 1.34 controller answers first')
  await a.stopListening()
  await assert.rejects(disk.rollback('s1'), (e: Error & { code?: string }) => e.code === 'ROLLBACK_BLOCKED' && /most recent snapshot/.test(e.message) && /s2/.test(e.message))
  assert.deepEqual((await disk.rollbackBlockers('s1')).map((s) => s.name), ['s2'], 'asked again: 1.29 rolls back to the newest only')
  assert.deepEqual((await disk.snapshots()).map((s) => s.name), ['s1', 's2'])
})
