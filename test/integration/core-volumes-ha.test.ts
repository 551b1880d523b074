/**
 * Snapshots, rollback refusal, the three clone paths (with checksums over real bytes), replicas on
 * named nodes, capacity, and controller-VM awareness (protected volumes; starting from a local
 * replica while no controller answers).
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { GiB, MiB } from '../../core/volumes/index.js'
import type { Storage } from '../../core/storage/index.js'
import { CrashingTransport, SimulatedCrash, clientOf, coreFixture, roles, storageOn, writeCalls } from '../helpers/core.js'
import { boundedBy } from '../helpers/bounds.js'

/** Bytes of a node's device file (what a VM on that node would read). */
function readAt(root: string, rsc: string, offset: number, length: number): string {
  return readFileSync(root + `/dev/drbd/by-res/${rsc}/0`).subarray(offset, offset + length).toString()
}

function sha(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex')
}

test('snapshots list oldest first; on a controller before 1.31 a rollback past newer snapshots is refused up front naming them, unless told to remove them', async (t) => {
  const { storage, emu } = await coreFixture(t, { version: '1.29.0' })
  const disk = storage.resource('snappy')
  await disk.create({ volumes: [4 * MiB], policy: { placeCount: 2 } })
  await disk.attach('alpha')
  emu.control.open('alpha', 'snappy')
  emu.control.write('alpha', 'snappy', 0, 0, Buffer.from('version-1'))
  await disk.createSnapshot('s1')
  emu.control.write('alpha', 'snappy', 0, 0, Buffer.from('version-2'))
  emu.control.close('alpha', 'snappy')
  await disk.createSnapshot('s2')
  await disk.createSnapshot('s3')
  assert.equal((await disk.createSnapshot('s3')).name, 's3', 'creating an existing snapshot returns it')
  assert.deepEqual((await disk.snapshots()).map((s) => s.name), ['s1', 's2', 's3'])
  assert.deepEqual((await disk.rollbackBlockers('s1')).map((s) => s.name), ['s2', 's3'])

  emu.resetCounters()
  await assert.rejects(disk.rollback('s1'), (e: Error & { code?: string }) => e.code === 'ROLLBACK_BLOCKED' && /s2, s3/.test(e.message))
  assert.deepEqual(writeCalls(emu), {}, 'refused before anything changed')
  await assert.rejects(disk.rollback('nope'), { code: 'SNAPSHOT_NOT_FOUND' })

  await disk.rollback('s3')
  await disk.rollback('s1', { removeNewer: true })
  assert.deepEqual((await disk.snapshots()).map((s) => s.name), ['s1'])
  assert.equal(readAt(emu.deviceRoot('bravo'), 'snappy', 0, 9), 'version-1')
  await disk.deleteSnapshot('s1')
  await disk.deleteSnapshot('s1')
  assert.deepEqual(await disk.snapshots(), [])
})

test('clone from a volume (LINSTOR clone), from a snapshot (restore) and by block copy: same bytes, idempotent', async (t) => {
  const { storage, emu } = await coreFixture(t)
  const src = storage.resource('golden')
  await src.create({ volumes: [8 * MiB], policy: { placeCount: 2 } })
  await src.attach('alpha')
  emu.control.open('alpha', 'golden')
  emu.control.write('alpha', 'golden', 0, 5 * MiB, Buffer.from('template data'))
  emu.control.close('alpha', 'golden')
  const want = sha(emu.deviceRoot('alpha') + '/dev/drbd/by-res/golden/0')

  const c1 = await src.cloneTo('linked-1')
  assert.equal(c1.volumes[0]?.sizeBytes, 8 * MiB)
  const again = await src.cloneTo('linked-1')
  assert.equal(again.name, 'linked-1')

  await src.createSnapshot('base')
  emu.control.open('alpha', 'golden')
  emu.control.write('alpha', 'golden', 0, 0, Buffer.from('changed after the snapshot'))
  emu.control.close('alpha', 'golden')
  await src.cloneTo('from-snap', { snapshot: 'base' })

  const progress: number[] = []
  await src.cloneTo('copied', { method: 'block-copy', onProgress: (done) => progress.push(done) })
  assert.equal(progress.at(-1), 8 * MiB)

  for (const name of ['linked-1', 'from-snap']) {
    const node = (await storage.resource(name).info())?.replicas.find((r) => r.kind === 'diskful')?.node ?? ''
    assert.equal(sha(emu.deviceRoot(node) + `/dev/drbd/by-res/${name}/0`), want, name)
  }
  const copiedNode = (await storage.resource('copied').info())?.replicas.find((r) => r.kind === 'diskful')?.node ?? ''
  assert.equal(readAt(emu.deviceRoot(copiedNode), 'copied', 0, 26), 'changed after the snapshot')
  assert.equal((await roles(storage, 'copied'))['alpha'] === 'd', false, 'the block copy removed its temporary client')
  await assert.rejects(storage.resource('other').create({ volumes: [1 * MiB], policy: { placeCount: 1 } }).then(() => src.cloneTo('other')), { code: 'RESOURCE_CONFLICT' })
})

/** Whether `step` finished with a client whose process dies right before its write number `writes` + 1. */
async function finishesBeforeCrash(t: Parameters<typeof storageOn>[0], emu: Parameters<typeof storageOn>[1], localNode: string, writes: number, step: (s: Storage) => Promise<unknown>): Promise<boolean> {
  const crashing = clientOf(t, emu, new CrashingTransport(clientOf(t, emu).transport, writes))
  try {
    await step(storageOn(t, emu, crashing, { localNode }))
    return true
  } catch (err) {
    if (err instanceof SimulatedCrash || (err as { cause?: unknown }).cause instanceof SimulatedCrash) return false
    throw err
  }
}

test('a clone killed before each of its writes (restore from a snapshot, block copy), then repeated: it holds the source\'s bytes (issue 28)', async (t) => {
  for (const method of ['snapshot', 'block-copy'] as const) {
    for (let writes = 0; ; writes++) {
      assert.ok(writes < 16, `${method}: more than 16 writes`)
      const { storage, emu } = await coreFixture(t)
      const src = storage.resource('golden')
      await src.create({ volumes: [8 * MiB], policy: { placeCount: 2 } })
      const at = (await src.info())?.replicas.find((r) => r.kind === 'diskful')?.node ?? ''
      emu.control.open(at, 'golden')
      emu.control.write(at, 'golden', 0, 5 * MiB, Buffer.from(`template data ${method} ${writes}`))
      emu.control.close(at, 'golden')
      if (method === 'snapshot') await src.createSnapshot('base')
      const want = sha(emu.deviceRoot(at) + '/dev/drbd/by-res/golden/0')
      const opts = method === 'snapshot' ? { snapshot: 'base' } : { method }
      // The block copy runs on a node where the source has no replica (nor tie-breaker): its temporary client is a write to die before.
      const holders = (await src.info())?.replicas.map((r) => r.node) ?? []
      const local = ['alpha', 'bravo', 'charlie', 'delta'].find((n) => !holders.includes(n)) ?? 'delta'
      const finished = await finishesBeforeCrash(t, emu, local, writes, (s) => s.resource('golden').cloneTo('copy', opts))
      // The platform repeats the call (a new process).
      if (!finished) await storageOn(t, emu, clientOf(t, emu), { localNode: local }).resource('golden').cloneTo('copy', opts)
      const node = (await storage.resource('copy').info())?.replicas.find((r) => r.kind === 'diskful')?.node
      assert.ok(node !== undefined, `${method}, killed before write ${writes + 1}: the clone has a diskful replica`)
      assert.equal(sha(emu.deviceRoot(node) + '/dev/drbd/by-res/copy/0'), want, `${method}, killed before write ${writes + 1}: the clone holds the source's bytes`)
      if (finished) break
    }
  }
})

test('replicas on a named node: add (a DR site) and remove, never the last one', async (t) => {
  const { storage } = await coreFixture(t)
  const disk = storage.resource('dr')
  await disk.create({ volumes: [1 * GiB], policy: { placeCount: 1 }, preferNode: 'alpha' })
  await disk.addReplica('delta')
  await disk.addReplica('delta')
  assert.equal((await roles(storage, 'dr'))['delta'], 'D')
  await disk.removeReplica('alpha')
  assert.equal((await roles(storage, 'dr'))['alpha'], undefined)
  await assert.rejects(disk.removeReplica('delta'), { code: 'LAST_REPLICA' })
  await disk.removeReplica('charlie')
})

test('capacity for a policy comes from query-size-info and is cached', async (t) => {
  const { storage, emu } = await coreFixture(t)
  const cap = await storage.capacity({ placeCount: 2 })
  // Four 100 GiB thin pools: two replicas fit 200 GiB of real space; thin pools may oversubscribe.
  assert.equal(cap.capacityBytes, 200 * GiB, JSON.stringify(cap))
  assert.equal(cap.totalCapacityBytes, 400 * GiB)
  assert.ok(cap.maxVolumeBytes >= 100 * GiB)
  emu.resetCounters()
  await storage.capacity({ placeCount: 2 })
  assert.deepEqual(emu.counters(), {})
})

test('controller VM: its volumes are never deleted, detached or resized; the platform call succeeds', async (t) => {
  const { emu, client } = await coreFixture(t)
  const storage = storageOn(t, emu, client, { controllerVm: { resources: ['linstor-db'] } })
  const disk = storage.resource('linstor-db')
  const info = await disk.create({ volumes: [1 * GiB], policy: { placeCount: 2 } })
  const free = ['alpha', 'bravo', 'charlie', 'delta'].find((n) => !info.replicas.some((r) => r.node === n)) ?? ''
  const first = await disk.attach(free)
  assert.equal(first.created, true, 'no device yet on that host: attached through LINSTOR')
  emu.resetCounters()
  assert.equal((await disk.detach(free)).kept, 'controller-vm')
  assert.equal((await disk.grow(0, { toBytes: 2 * GiB })).sizeBytes, 1 * GiB)
  assert.equal((await disk.removeReplica(info.replicas[0]?.node ?? ''))?.replicas.length, info.replicas.length + 1)
  assert.deepEqual(writeCalls(emu), {})
  await assert.rejects(disk.delete(), { code: 'CONTROLLER_VM_PROTECTED' })
  assert.equal((await roles(storage, 'linstor-db'))[free], 'd')

  // Its attach on a host with the device needs no controller at all.
  emu.resetCounters()
  const a = await disk.attach(free)
  assert.equal(a.offline, 'controller-vm')
  assert.equal(a.volumes[0]?.devicePath, emu.deviceRoot(free) + '/dev/drbd/by-res/linstor-db/0')
  assert.deepEqual(emu.counters(), {})
})

test('no controller answers: a VM with a local replica starts, one without fails fast and clearly; detach succeeds', async (t) => {
  const { storage, emu } = await coreFixture(t)
  const disk = storage.resource('outage')
  const info = await disk.create({ volumes: [1 * GiB], policy: { placeCount: 2 } })
  const local = info.replicas.find((r) => r.kind === 'diskful')?.node ?? ''
  const none = ['alpha', 'bravo', 'charlie', 'delta'].find((n) => !info.replicas.some((r) => r.node === n)) ?? ''
  await emu.stopListening()
  const down = storageOn(t, emu, clientOf(t, emu, undefined, 3000))

  const a = await down.resource('outage').attach(local)
  assert.equal(a.offline, 'controller-unreachable')
  assert.equal(a.volumes[0]?.devicePath, emu.deviceRoot(local) + '/dev/drbd/by-res/outage/0')
  // Fails within the client's own deadline (3000 ms) plus scheduling margin.
  await assert.rejects(boundedBy(3000, 'attach without a device and without a controller', () => down.resource('outage').attach(none)), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'LINSTOR_UNAVAILABLE')
    assert.match(e.message, new RegExp(`no device on ${none}`))
    return true
  })
  assert.equal((await down.resource('outage').detach(local)).kept, 'controller-unreachable')
  await emu.startListening()
})
