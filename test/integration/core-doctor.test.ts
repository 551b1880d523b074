/**
 * The doctor's other findings (under-replicated, unreferenced, diskless-on-remaining clients are
 * wanted), and the refusals of the migration state machine that the scenario tests do not reach.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { runDoctor } from '../../core/doctor/index.js'
import { GiB } from '../../core/volumes/index.js'
import { coreFixture, roles, storageOn } from '../helpers/core.js'

test('under-replicated: found, and --fix adds the missing replica without touching the existing one', async (t) => {
  const { storage, emu } = await coreFixture(t)
  const disk = storage.resource('thin')
  await disk.create({ volumes: [1 * GiB], policy: { placeCount: 2 }, preferNode: 'alpha' })
  const other = (await disk.info())?.replicas.find((r) => r.kind === 'diskful' && r.node !== 'alpha')?.node ?? ''
  emu.control.open('alpha', 'thin')
  emu.control.write('alpha', 'thin', 0, 0, Buffer.from('keep me'))
  emu.control.close('alpha', 'thin')
  await storage.client.resources.delete('thin', other)

  const report = await runDoctor(storage)
  assert.deepEqual(report.findings.map((f) => [f.kind, f.fixable]), [['under-replicated', true]])
  assert.match(report.findings[0]?.detail ?? '', /1 diskful replica\(s\), the group LinstorVirt-\w+ asks for 2/)
  assert.equal(report.healthy, false)

  const fixed = await runDoctor(storage, { fix: true })
  assert.equal(fixed.healthy, true, JSON.stringify(fixed.findings))
  const after = await roles(storage, 'thin')
  assert.equal(Object.values(after).filter((r) => r === 'D').length, 2)
  assert.equal(after['alpha'], 'D')
  assert.deepEqual((await runDoctor(storage)).findings, [])
})

test('unreferenced: only linstor-virt resources the platforms do not reference, never fixed', async (t) => {
  const { storage } = await coreFixture(t)
  await storage.resource('vm-1-disk-0').create({ volumes: [1 * GiB], policy: { placeCount: 2 } })
  await storage.resource('vm-2-disk-0').create({ volumes: [1 * GiB], policy: { placeCount: 2 } })
  await storage.client.resourceDefinitions.create({ resource_definition: { name: 'foreign' } })
  const report = await runDoctor(storage, { referenced: new Set(['vm-1-disk-0']), fix: true })
  assert.deepEqual(report.findings.map((f) => [f.kind, f.resource, f.fixable, f.fixed]), [['unreferenced', 'vm-2-disk-0', false, undefined]])
  assert.equal(report.healthy, false)
  assert.equal(await storage.resource('vm-2-disk-0').exists(), true)
})

test('clients a disklessOnRemaining policy wants are not leftovers', async (t) => {
  const { storage } = await coreFixture(t)
  const info = await storage.resource('everywhere').create({ volumes: [1 * GiB], policy: { placeCount: 2, disklessOnRemaining: true } })
  assert.equal(info.replicas.length, 4, JSON.stringify(info.replicas.map((r) => [r.node, r.kind])))
  assert.deepEqual((await runDoctor(storage)).findings, [])
})

test('a second migration while one is running on both hosts is MIGRATION_CONFLICT; controller VMs by predicate', async (t) => {
  const { storage, emu, client } = await coreFixture(t)
  const disk = storage.resource('busy-vm')
  await disk.create({ volumes: [1 * GiB], policy: { placeCount: 1 }, preferNode: 'alpha' })
  emu.control.open('alpha', 'busy-vm')
  await disk.attach('bravo')
  emu.control.open('bravo', 'busy-vm')
  await assert.rejects(disk.beginMigration('bravo', 'charlie'), (e: Error & { code?: string }) => e.code === 'MIGRATION_CONFLICT' && /alpha to bravo/.test(e.message))
  await assert.rejects(disk.rollback('snap-x'), { code: 'SNAPSHOT_NOT_FOUND' })
  await disk.createSnapshot('snap-x')
  await assert.rejects(disk.rollback('snap-x'), { code: 'RESOURCE_IN_USE' })

  const guarded = storageOn(t, emu, client, { controllerVm: { match: (name) => /^vm-100-/.test(name) } })
  await guarded.resource('vm-100-disk-0').create({ volumes: [1 * GiB], policy: { placeCount: 2 } })
  await assert.rejects(guarded.resource('vm-100-disk-0').delete(), { code: 'CONTROLLER_VM_PROTECTED' })
  assert.equal(await guarded.resource('vm-101-disk-0').delete(), false)
})
