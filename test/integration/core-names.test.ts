/**
 * Names are identities (core/volumes/names.ts, docs/core.md): what the core makes records its
 * exact platform name; a handle refuses, before any write or delete, an object LINSTOR finds under
 * its name that is another name's (NAME_COLLISION), and adopted objects (recording nothing) are
 * accepted under their exact spelling only. Each refusal is checked to have changed nothing.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { AUX_PLATFORM_NAME, MiB, fitName, isLinstorName } from '../../core/volumes/index.js'
import { coreFixture, writeCalls } from '../helpers/core.js'

const collision = (...names: string[]) => (e: Error & { code?: string }): boolean => e.code === 'NAME_COLLISION' && names.every((n) => e.message.includes(n))

test('a resource records its platform name; another name in any case is refused for every write and read, and nothing changes', async (t) => {
  const { storage, emu, client } = await coreFixture(t)
  const mine = storage.resource('vm-7-disk-0', { platformName: 'vm-7-disk-0', noun: 'volume' })
  await mine.create({ volumes: [4 * MiB], policy: { placeCount: 2 } })
  assert.equal((await client.resourceDefinitions.get('vm-7-disk-0'))?.props[AUX_PLATFORM_NAME], 'vm-7-disk-0')
  await mine.createSnapshot('Snap1')

  const alias = storage.resource('vm-7-DISK-0', { platformName: 'vm-7-DISK-0', noun: 'volume' })
  emu.resetCounters()
  const refused = collision('volume vm-7-DISK-0', 'vm-7-disk-0')
  await assert.rejects(alias.create({ volumes: [4 * MiB], policy: { placeCount: 2 } }), refused)
  await assert.rejects(alias.info(), refused)
  await assert.rejects(alias.exists(), refused)
  await assert.rejects(alias.grow(0, { toBytes: 8 * MiB }), refused)
  await assert.rejects(alias.delete({ snapshots: true }), refused)
  await assert.rejects(alias.attach('charlie'), refused)
  await assert.rejects(alias.detach('alpha'), refused)
  await assert.rejects(alias.createSnapshot('s2'), refused)
  await assert.rejects(alias.deleteSnapshot('Snap1'), refused)
  await assert.rejects(alias.rollback('Snap1'), refused)
  await assert.rejects(alias.cloneTo('copy-1'), refused)
  await assert.rejects(alias.setAux({ 'Aux/x': 'y' }), refused)
  await assert.rejects(alias.autoplace({ placeCount: 3 }), refused)
  await assert.rejects(alias.addReplica('delta'), refused)
  // The same LINSTOR name with another platform name is refused as well.
  await assert.rejects(storage.resource('vm-7-disk-0', { platformName: 'base-6-disk-0/vm-7-disk-0' }).delete(), collision('base-6-disk-0/vm-7-disk-0', 'vm-7-disk-0'))
  assert.deepEqual(writeCalls(emu), {}, 'every refusal came before any write')
  assert.equal((await mine.info())?.volumes[0]?.sizeBytes, 4 * MiB)
  assert.deepEqual((await mine.snapshots()).map((s) => s.name), ['Snap1'])
})

test('snapshots record their platform name: a case variant is refused for create, delete, rollback and restore', async (t) => {
  const { storage, emu, client } = await coreFixture(t)
  const disk = storage.resource('snapdisk')
  await disk.create({ volumes: [4 * MiB], policy: { placeCount: 2 } })
  await disk.createSnapshot('Snap1')
  const view = await client.view.snapshots({ resources: ['snapdisk'] })
  assert.equal(view[0]?.snapshot_definition_props[AUX_PLATFORM_NAME], 'Snap1')
  emu.resetCounters()
  const before = structuredClone(emu.state().resourceDefinitions)
  const refused = collision('snapshot snap1', 'Snap1')
  await assert.rejects(disk.createSnapshot('snap1'), refused)
  await assert.rejects(disk.deleteSnapshot('snap1'), refused)
  await assert.rejects(disk.rollback('snap1'), refused)
  await assert.rejects(disk.cloneTo('from-snap', { snapshot: 'snap1' }), refused)
  // A snapshot is created without listing the snapshots first: LINSTOR itself refuses a name that
  // exists in any spelling (FAIL_EXISTS_SNAPSHOT_DFN) before changing anything, and only then is
  // the one found read and refused. That refused create is the only write sent, and nothing changed.
  assert.deepEqual(writeCalls(emu), { 'POST /v1/resource-definitions/{resource}/snapshots': 1 })
  assert.deepEqual(emu.state().resourceDefinitions, before, 'nothing changed')
  assert.equal((await disk.createSnapshot('Snap1')).name, 'Snap1', 'its own name again returns it')
  await disk.deleteSnapshot('Snap1')
  assert.deepEqual(await disk.snapshots(), [])
})

test('adopted objects (recording nothing) are theirs under their exact spelling only', async (t) => {
  const { storage, client } = await coreFixture(t)
  await client.resourceDefinitions.create({ resource_definition: { name: 'OpenNebula-Image-9' } })
  await client.volumeDefinitions.create('OpenNebula-Image-9', { volume_definition: { size_kib: 4096, volume_number: 0 } })
  const exact = storage.resource('OpenNebula-Image-9')
  assert.equal((await exact.info())?.name, 'OpenNebula-Image-9')
  await exact.grow(0, { toBytes: 8 * MiB })
  await assert.rejects(storage.resource('opennebula-image-9').delete(), collision('opennebula-image-9', 'OpenNebula-Image-9'))
  // linstor-proxmox's pm- volumes keep their VM id in a property: only that volname is theirs.
  await client.resourceDefinitions.create({ resource_definition: { name: 'pm-0a0b0c0d', props: { 'Aux/pm/vmid': '100' } } })
  const implied = (vmid: number) => ({ platformName: `pm-0a0b0c0d_${vmid}`, impliedName: (o: { name: string; props: Record<string, string> }) => `${o.name}_${o.props['Aux/pm/vmid'] ?? ''}` })
  assert.ok((await storage.resource('pm-0a0b0c0d', implied(100)).info()) !== undefined)
  await assert.rejects(storage.resource('pm-0a0b0c0d', implied(200)).delete(), collision('pm-0a0b0c0d_200', 'pm-0a0b0c0d_100'))
  assert.ok(await storage.resource('pm-0a0b0c0d', implied(100)).delete())
  // By LINSTOR name (the "core" platform's calls): the exact spelling, whatever it records.
  const recorded = storage.resource('lv-1234', { platformName: 'vm-1-state-a.b' })
  await recorded.create({ volumes: [4 * MiB], policy: { placeCount: 2 } })
  await assert.rejects(storage.resource('lv-1234').info(), collision('lv-1234', 'vm-1-state-a.b'))
  assert.equal((await storage.resource('lv-1234', { byLinstorName: true }).info())?.name, 'lv-1234')
  await assert.rejects(storage.resource('LV-1234', { byLinstorName: true }).info(), collision('LV-1234', 'lv-1234'))
})

test('a clone records its own platform name, never its source\'s; an existing target of another name is refused', async (t) => {
  const { storage, client } = await coreFixture(t)
  const src = storage.resource('golden', { platformName: 'base-1-disk-0' })
  await src.create({ volumes: [4 * MiB], policy: { placeCount: 2 } })
  const made = await src.cloneTo('vm-2-disk-0', { identity: { platformName: 'base-1-disk-0/vm-2-disk-0' } })
  assert.equal(made.props[AUX_PLATFORM_NAME], 'base-1-disk-0/vm-2-disk-0')
  const plain = await src.cloneTo('copy-of-golden')
  assert.equal(plain.props[AUX_PLATFORM_NAME], 'copy-of-golden', 'the default: the target\'s LINSTOR name')
  await src.createSnapshot('s1')
  const restored = await src.cloneTo('restored', { snapshot: 's1', deleteProps: ['Aux/never-there'] })
  assert.equal(restored.props[AUX_PLATFORM_NAME], 'restored')
  // The target exists under another name's record: nothing is made into it.
  await assert.rejects(src.cloneTo('VM-2-DISK-0', { identity: { platformName: 'vm-9-disk-0' } }), collision('vm-9-disk-0', 'base-1-disk-0/vm-2-disk-0'))
  assert.equal((await client.resourceDefinitions.get('vm-2-disk-0'))?.props[AUX_PLATFORM_NAME], 'base-1-disk-0/vm-2-disk-0')
})

test('without a controller, attach uses only the exact spelling\'s local device, and detach changes nothing', async (t) => {
  const { storage, emu } = await coreFixture(t)
  const disk = storage.resource('offline-disk')
  const info = await disk.create({ volumes: [4 * MiB], policy: { placeCount: 2 } })
  const here = info.replicas.find((r) => r.kind === 'diskful')?.node as string
  await emu.stopListening()
  const a = await storage.resource('offline-disk').attach(here)
  assert.equal(a.offline, 'controller-unreachable')
  await assert.rejects(storage.resource('OFFLINE-DISK').attach(here), (e: Error) => /no device/.test(e.message))
  assert.equal((await storage.resource('offline-disk').detach(here)).kept, 'controller-unreachable')
})

test('fitName: within 48 characters, and two names never shorten to one (in any case)', () => {
  const long = 'OpenNebula-Image-12345-vm67890-disk1-and-more-text'
  const a = fitName('', long, '-bk')
  const b = fitName('', `${long}x`, '-bk')
  const c = fitName('', long.toUpperCase(), '-bk')
  for (const n of [a, b, c]) assert.ok(isLinstorName(n) && n.length === 48, n)
  assert.notEqual(a.toLowerCase(), b.toLowerCase())
  assert.notEqual(a.toLowerCase(), c.toLowerCase())
  assert.equal(fitName('', 'short', '-bk'), 'short-bk')
  assert.equal(fitName('lvtmp-', 'x'.repeat(42)), `lvtmp-${'x'.repeat(42)}`)
  assert.notEqual(fitName('lvtmp-', 'x'.repeat(43)), fitName('lvtmp-', `${'x'.repeat(42)}y`))
})
