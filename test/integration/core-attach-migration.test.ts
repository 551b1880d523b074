/**
 * Attach, detach and live migration against the emulator: diskless clients appear and go, diskful
 * replicas stay, dual-primary is on only during a migration and only for the pair of hosts, every
 * step survives a crash at any point, and concurrent attach/detach from several hosts converges.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { AUX_MIGRATION, readMigrationRecord } from '../../core/lifecycle/index.js'
import { runDoctor } from '../../core/doctor/index.js'
import type { Storage } from '../../core/storage/index.js'
import { GiB } from '../../core/volumes/index.js'
import type { RunningEmulator } from '../../emulator/index.js'
import { CrashingTransport, SimulatedCrash, clientOf, coreFixture, roles, storageOn, writeCalls } from '../helpers/core.js'

const A2P = 'DrbdOptions/Net/allow-two-primaries'

/** No diskless client on the node: nothing, or a tie-breaker LINSTOR keeps for quorum. */
function noClient(role: string | undefined): boolean {
  return role === undefined || role === 'T'
}

function tieBreakers(r: Record<string, string>): number {
  return Object.values(r).filter((x) => x === 'T').length
}

/** Two diskful replicas on alpha and bravo (explicit, so tests do not depend on the autoplacer). */
async function twoReplicas(storage: Storage, name: string): Promise<void> {
  const disk = storage.resource(name)
  await disk.create({ volumes: [1 * GiB], policy: { placeCount: 1 }, preferNode: 'alpha' })
  await disk.addReplica('bravo')
}

async function connectionA2p(storage: Storage, name: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const c of await storage.client.resourceDefinitions.connections(name)) {
    const v = c.props[A2P]
    if (v !== undefined) out[[c.node_a, c.node_b].sort().join('-')] = v
  }
  return out
}

test('attach on a host with a replica writes nothing; elsewhere one make-available; detach one delete', async (t) => {
  const { storage, emu } = await coreFixture(t)
  await twoReplicas(storage, 'r1')
  const disk = storage.resource('r1')

  emu.resetCounters()
  const local = await disk.attach('alpha')
  assert.deepEqual(writeCalls(emu), {})
  assert.equal(local.role, 'diskful')
  assert.equal(local.created, false)

  emu.resetCounters()
  const remote = await disk.attach('delta')
  assert.deepEqual(writeCalls(emu), { 'POST /v1/resource-definitions/{resource}/resources/{node}/make-available': 1 })
  assert.equal(remote.role, 'diskless')
  assert.equal(remote.created, true)
  assert.equal(remote.volumes[0]?.devicePath, emu.deviceRoot('delta') + '/dev/drbd/by-res/r1/0')

  emu.resetCounters()
  assert.equal((await disk.attach('delta')).created, false, 'repeating attach is a no-op')
  assert.deepEqual(writeCalls(emu), {})

  emu.resetCounters()
  const d = await disk.detach('delta')
  assert.equal(d.removed, true)
  assert.deepEqual(writeCalls(emu), { 'DELETE /v1/resource-definitions/{resource}/resources/{node}': 1 })
  assert.equal((await roles(storage, 'r1'))['delta'], undefined)

  assert.deepEqual(await disk.detach('delta'), { resource: 'r1', node: 'delta', removed: false, kept: 'absent' })
  assert.equal((await disk.detach('alpha')).kept, 'diskful', 'a diskful replica is never removed')
  assert.equal((await roles(storage, 'r1'))['alpha'], 'D')
})

test('a tie-breaker becomes the diskless client; detaching it leaves LINSTOR to keep it for quorum', async (t) => {
  const { storage } = await coreFixture(t)
  await twoReplicas(storage, 'tb')
  const before = await roles(storage, 'tb')
  const tbNode = Object.entries(before).find(([, r]) => r === 'T')?.[0]
  assert.ok(tbNode !== undefined, `two diskful replicas get a tie-breaker: ${JSON.stringify(before)}`)
  const a = await storage.resource('tb').attach(tbNode)
  assert.equal(a.role, 'diskless')
  assert.equal((await roles(storage, 'tb'))[tbNode], 'd')
  await storage.resource('tb').detach(tbNode)
  assert.equal((await roles(storage, 'tb'))[tbNode], 'T', 'kept as tie-breaker (keep_tiebreaker)')
})

test('detach refuses a diskless client that is in use; a storage-only volume is NOT_SHARED elsewhere', async (t) => {
  const { storage, emu } = await coreFixture(t)
  await twoReplicas(storage, 'busy')
  await storage.resource('busy').attach('delta')
  emu.control.open('delta', 'busy')
  await assert.rejects(storage.resource('busy').detach('delta'), { code: 'RESOURCE_IN_USE' })
  emu.control.close('delta', 'busy')

  const local = storage.resource('local-only')
  await local.create({ volumes: [1 * GiB], policy: { placeCount: 1, layers: ['storage'] }, preferNode: 'alpha' })
  assert.equal((await local.attach('alpha')).role, 'diskful')
  await assert.rejects(local.attach('bravo'), (e: Error & { code?: string }) => e.code === 'NOT_SHARED' && /alpha/.test(e.message))
})

test('implicit live migration (Proxmox): attach while in use elsewhere allows two primaries for that pair only, detach of the source restores it', async (t) => {
  const { storage, emu } = await coreFixture(t)
  await twoReplicas(storage, 'vm')
  const disk = storage.resource('vm')
  await disk.attach('bravo')
  emu.control.open('bravo', 'vm')
  assert.throws(() => emu.control.open('charlie', 'vm'), 'no second primary without allow-two-primaries')

  const a = await disk.attach('charlie')
  assert.deepEqual(a.migration, { from: 'bravo', to: 'charlie' })
  assert.deepEqual(await connectionA2p(storage, 'vm'), { 'bravo-charlie': 'yes' })
  const record = readMigrationRecord((await disk.info())?.props ?? {})
  assert.equal(record?.from, 'bravo')
  assert.equal(record?.to, 'charlie')
  assert.equal((await disk.info())?.props[A2P], undefined, 'the definition itself is not changed')

  emu.control.open('charlie', 'vm') // QEMU on the target opens the device during the hand-over
  emu.control.close('bravo', 'vm') // the source stops
  const d = await disk.detach('bravo')
  assert.equal(d.migration?.outcome, 'completed')
  assert.equal(d.removed, false, 'bravo is diskful: kept')
  assert.deepEqual(await connectionA2p(storage, 'vm'), {})
  assert.equal((await disk.info())?.props[AUX_MIGRATION], undefined)
  const after = await roles(storage, 'vm')
  assert.deepEqual([after['alpha'], after['bravo'], after['charlie']], ['D', 'D', 'd*'], JSON.stringify(after))

  // and back: charlie's diskless client goes
  await disk.attach('bravo')
  emu.control.open('bravo', 'vm')
  emu.control.close('charlie', 'vm')
  const back = await disk.detach('charlie')
  assert.equal(back.removed, true)
  const end = await roles(storage, 'vm')
  assert.ok(noClient(end['charlie']) && tieBreakers(end) <= 1, JSON.stringify(end))
  assert.deepEqual(await connectionA2p(storage, 'vm'), {})
})

test('explicit begin / complete / abort, and an operator-set allow-two-primaries is left as it was', async (t) => {
  const { storage, emu } = await coreFixture(t)
  await twoReplicas(storage, 'on')
  const disk = storage.resource('on')
  await disk.attach('charlie')
  emu.control.open('charlie', 'on')
  await disk.beginMigration('charlie', 'delta')
  emu.control.open('delta', 'on')
  emu.control.close('delta', 'on')
  await disk.abortMigration('charlie', 'delta')
  assert.ok(noClient((await roles(storage, 'on'))['delta']), 'abort removes the target client')
  assert.deepEqual(await connectionA2p(storage, 'on'), {})
  assert.equal((await roles(storage, 'on'))['charlie'], 'd*')

  await storage.client.resourceDefinitions.modify('on', { override_props: { [A2P]: 'yes' } })
  emu.resetCounters()
  await disk.beginMigration('charlie', 'delta')
  assert.equal(writeCalls(emu)['PUT /v1/resource-definitions/{resource}/resource-connections/{node_a}/{node_b}'], undefined, 'already allowed above: no connection change')
  emu.control.open('delta', 'on')
  emu.control.close('charlie', 'on')
  await disk.completeMigration('charlie', 'delta')
  assert.equal((await disk.info())?.props[A2P], 'yes', 'the operator setting stays')
  assert.ok(noClient((await roles(storage, 'on'))['charlie']))
  await assert.rejects(disk.completeMigration('charlie', 'delta').then(() => disk.abortMigration('charlie', 'delta')), { code: 'RESOURCE_IN_USE' })
})

/** Runs `step` with a client that crashes after `writes` writes; returns true when it finished. */
async function crashAfter(t: Parameters<typeof storageOn>[0], emu: RunningEmulator, writes: number, step: (s: Storage) => Promise<unknown>): Promise<boolean> {
  const base = clientOf(t, emu)
  const crashing = clientOf(t, emu, new CrashingTransport(base.transport, writes))
  try {
    await step(storageOn(t, emu, crashing))
    return true
  } catch (err) {
    if (err instanceof SimulatedCrash || (err as { cause?: unknown }).cause instanceof SimulatedCrash) return false
    throw err
  }
}

test('a crash at every step of a migration: re-running the step converges, so does the doctor', async (t) => {
  for (const phase of ['begin', 'complete'] as const) {
    for (let writes = 0; ; writes++) {
      const { storage, emu } = await coreFixture(t)
      await twoReplicas(storage, 'mm')
      await storage.resource('mm').attach('charlie')
      emu.control.open('charlie', 'mm')
      if (phase === 'complete') {
        await storage.resource('mm').attach('delta')
        emu.control.open('delta', 'mm')
        emu.control.close('charlie', 'mm')
      }
      const step = (s: Storage): Promise<unknown> => (phase === 'begin' ? s.resource('mm').attach('delta') : s.resource('mm').detach('charlie'))
      const finished = await crashAfter(t, emu, writes, step)
      if (!finished) {
        await step(storage) // the platform (or an operator) repeats the step
      }
      if (phase === 'begin') {
        emu.control.open('delta', 'mm') // dual-primary works after the repeated begin
        emu.control.close('charlie', 'mm')
        await storage.resource('mm').detach('charlie')
      }
      const final = await roles(storage, 'mm')
      assert.ok(noClient(final['charlie']) && tieBreakers(final) <= 1, `${phase} crash after ${writes} writes: ${JSON.stringify(final)}`)
      assert.equal(final['delta'], 'd*')
      assert.deepEqual(await connectionA2p(storage, 'mm'), {}, `${phase}/${writes}`)
      assert.equal((await storage.resource('mm').info())?.props[AUX_MIGRATION], undefined, `${phase}/${writes}`)
      const report = await runDoctor(storage)
      assert.deepEqual(report.findings, [], `${phase}/${writes}: ${JSON.stringify(report.findings)}`)
      if (finished) break
      assert.ok(writes < 10, 'the step ends within 10 writes')
    }
  }
})

test('a crash left mid-migration is found and settled by the doctor', async (t) => {
  const { storage, emu } = await coreFixture(t)
  await twoReplicas(storage, 'left')
  await storage.resource('left').attach('charlie')
  emu.control.open('charlie', 'left')
  assert.equal(await crashAfter(t, emu, 2, (s) => s.resource('left').attach('delta')), false)
  emu.control.close('charlie', 'left')
  const before = await runDoctor(storage)
  assert.ok(before.findings.some((f) => f.kind === 'migration-left'), JSON.stringify(before.findings))
  const fixed = await runDoctor(storage, { fix: true })
  assert.ok(fixed.healthy, JSON.stringify(fixed.findings))
  assert.deepEqual(await connectionA2p(storage, 'left'), {})
  const after = await runDoctor(storage)
  assert.deepEqual(after.findings, [])
})

test('concurrent attach and detach of one volume from several hosts converges to what was asked last', async (t) => {
  const { storage, host, emu } = await coreFixture(t)
  await twoReplicas(storage, 'shared')
  const hosts = ['charlie', 'delta'].map((n) => host(n))
  for (let round = 0; round < 5; round++) {
    await Promise.all([
      ...hosts.map((h) => h.resource('shared').attach(h.localNode)),
      storage.resource('shared').attach('charlie'),
      storage.resource('shared').attach('delta'),
    ])
    const r = await roles(storage, 'shared')
    assert.equal(r['charlie'], 'd')
    assert.equal(r['delta'], 'd')
    await Promise.all([...hosts.map((h) => h.resource('shared').detach(h.localNode)), storage.resource('shared').detach('charlie')])
    const after = await roles(storage, 'shared')
    assert.ok(noClient(after['charlie']) && noClient(after['delta']) && tieBreakers(after) <= 1, JSON.stringify(after))
    assert.equal(after['alpha'], 'D')
    assert.equal(after['bravo'], 'D')
  }
  assert.equal(Object.values(emu.control.roles('shared')).filter((r) => r === 'Primary').length, 0)
})
