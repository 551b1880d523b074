/**
 * The high-level resource API against the emulator: the five-statement story, idempotent create
 * and delete, conflicting shapes, grow rules and rounding, and what delete refuses.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { GiB, KiB, MiB } from '../../core/volumes/index.js'
import { coreFixture } from '../helpers/core.js'

test('open, give a 10 GiB volume with redundancy 2, autoplace, grow by 10 GiB, activate, print the path, deactivate', async (t) => {
  const { storage, emu } = await coreFixture(t)
  const disk = storage.resource('demo')
  await disk.create({ volumes: [10 * GiB], policy: { placeCount: 2 } })
  await disk.grow(0, { byBytes: 10 * GiB })
  const a = await disk.attach('charlie')
  await disk.detach('charlie')

  assert.equal(a.volumes[0]?.devicePath, emu.deviceRoot('charlie') + '/dev/drbd/by-res/demo/0')
  assert.equal(a.role, 'diskless')
  assert.equal(a.volumes[0]?.minor, 1000)
  const info = await disk.info()
  assert.equal(info?.volumes[0]?.sizeBytes, 20 * GiB)
  assert.equal(info?.replicas.filter((r) => r.kind === 'diskful').length, 2)
  assert.ok(!info?.replicas.some((r) => r.node === 'charlie' && r.kind === 'diskless'), 'the diskless client is gone after detach')
})

test('create is idempotent for the same shape and refuses another shape without changing anything', async (t) => {
  const { storage } = await coreFixture(t)
  const disk = storage.resource('vm-100-disk-0')
  const first = await disk.create({ volumes: [1 * GiB], policy: { placeCount: 2 } })
  const again = await disk.create({ volumes: [1 * GiB], policy: { placeCount: 2 } })
  assert.deepEqual(again.replicas.map((r) => r.node), first.replicas.map((r) => r.node))

  await assert.rejects(disk.create({ volumes: [2 * GiB], policy: { placeCount: 2 } }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'RESOURCE_CONFLICT')
    assert.match(e.message, /1 GiB instead of 2 GiB/)
    return true
  })
  await assert.rejects(disk.create({ volumes: [1 * GiB], policy: { placeCount: 3 } }), { code: 'RESOURCE_CONFLICT' })
  assert.equal((await disk.info())?.volumes[0]?.sizeBytes, 1 * GiB)
})

test('a definition left without replicas (crash after spawn) is placed by the next create', async (t) => {
  const { storage } = await coreFixture(t)
  const disk = storage.resource('half')
  await disk.create({ volumes: [1 * GiB], policy: { placeCount: 2 }, definitionsOnly: true })
  assert.equal((await disk.info())?.replicas.length, 0)
  const info = await disk.create({ volumes: [1 * GiB], policy: { placeCount: 2 } })
  assert.equal(info.replicas.filter((r) => r.kind === 'diskful').length, 2)
})

test('preferNode puts a diskful replica on the VM host', async (t) => {
  const { storage } = await coreFixture(t)
  const info = await storage.resource('local-first').create({ volumes: [1 * GiB], policy: { placeCount: 2 }, preferNode: 'delta' })
  assert.equal(info.replicas.find((r) => r.node === 'delta')?.kind, 'diskful')
  assert.equal(info.replicas.filter((r) => r.kind === 'diskful').length, 2)
})

test('sizes round up to whole KiB; grow to the same size is a no-op and a smaller size is refused', async (t) => {
  const { storage, emu } = await coreFixture(t)
  const disk = storage.resource('sizes')
  const info = await disk.create({ volumes: [3 * MiB + 1], policy: { placeCount: 1 } })
  assert.equal(info.volumes[0]?.sizeKib, 3 * 1024 + 1)

  emu.resetCounters()
  const same = await disk.grow(0, { toBytes: 3 * MiB + 10 })
  assert.equal(same.sizeKib, 3 * 1024 + 1)
  assert.equal(Object.keys(emu.counters()).filter((k) => k.startsWith('PUT')).length, 0, 'no write for the same size')

  await assert.rejects(disk.grow(0, { toBytes: 3 * MiB }), (e: Error & { code?: string }) => e.code === 'SHRINK_REFUSED' && /cannot shrink/.test(e.message))
  const grown = await disk.grow(0, { toBytes: 5 * MiB })
  assert.equal(grown.sizeBytes, 5 * MiB)
  await assert.rejects(disk.grow(0, { toBytes: 0.5 * KiB }), { code: 'SHRINK_REFUSED' })
  await assert.rejects(disk.grow(7, { toBytes: 5 * MiB }), { code: 'RESOURCE_NOT_FOUND' })
})

test('delete: gone is success, in use and snapshots are refused, snapshots go only when asked', async (t) => {
  const { storage, emu } = await coreFixture(t)
  const disk = storage.resource('victim')
  assert.equal(await disk.delete(), false, 'deleting what never existed succeeds')
  const info = await disk.create({ volumes: [1 * GiB], policy: { placeCount: 2 } })
  const free = ['alpha', 'bravo', 'charlie', 'delta'].find((n) => !info.replicas.some((r) => r.node === n)) ?? ''
  const a = await disk.attach(free)
  assert.equal(a.created, true)
  emu.control.open(free, 'victim')
  await assert.rejects(disk.delete(), (e: Error & { code?: string }) => e.code === 'RESOURCE_IN_USE' && e.message.includes(free))
  emu.control.close(free, 'victim')

  await disk.createSnapshot('s1')
  await assert.rejects(disk.delete(), (e: Error & { code?: string }) => e.code === 'HAS_SNAPSHOTS' && /s1/.test(e.message))
  assert.equal(await disk.delete({ snapshots: true }), true)
  assert.equal(await disk.exists(), false)
  assert.equal(await disk.delete(), false)
})

test('a placement LINSTOR cannot satisfy is PLACEMENT_FAILED and leaves nothing behind', async (t) => {
  const { storage } = await coreFixture(t)
  const disk = storage.resource('too-many')
  await assert.rejects(disk.create({ volumes: [1 * GiB], policy: { placeCount: 5 } }), { code: 'PLACEMENT_FAILED' })
  assert.equal(await disk.exists(), false)
  const info = await disk.create({ volumes: [1 * GiB], policy: { placeCount: 3 } })
  assert.equal(info.replicas.filter((r) => r.kind === 'diskful').length, 3)
})
