/**
 * Attach, detach and live migration per layer stack (NVMe-oF, storage only, LUKS) and the
 * disaster-recovery replica through DRBD Proxy, against the emulator's disaggregated cluster
 * (emulator/clusters/disaggregated.yaml): the core's semantics of docs/lifecycle.md "Stacks".
 */
import assert from 'node:assert/strict'
import { readFileSync, readlinkSync, writeFileSync } from 'node:fs'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import { runDoctor } from '../../core/doctor/index.js'
import { AUX_ATTACHED, AUX_MIGRATION, readMigrationRecord } from '../../core/lifecycle/index.js'
import { isPluginError } from '../../core/errors/index.js'
import { AUX_DR, GiB, MiB } from '../../core/volumes/index.js'
import { parsePlacementPolicy } from '../../core/placement/index.js'
import { loadClusterFile } from '../../emulator/index.js'
import type { ClusterSpec } from '../../emulator/index.js'
import { repoRoot } from '../helpers/paths.js'
import { coreFixture, writeCalls } from '../helpers/core.js'
import type { CoreFixture } from '../helpers/core.js'

const A2P = 'DrbdOptions/Net/allow-two-primaries'
let cluster: ClusterSpec | undefined

async function disaggregated(t: TestContext): Promise<CoreFixture> {
  cluster ??= await loadClusterFile(repoRoot() + '/emulator/clusters/disaggregated.yaml')
  return coreFixture(t, { cluster })
}

const NVME = { layers: ['nvme' as const, 'storage' as const], storagePools: ['nvmepool'] }
const DRBD = { layers: ['drbd' as const, 'storage' as const], storagePools: ['hvpool'], placeCount: 2 }

function code(err: unknown): string | undefined {
  return isPluginError(err) ? err.code : undefined
}

test('NVMe-oF: an initiator on the VM host, a stable link to its namespace, two initiators only for a migration window, no dual-primary; the doctor knows leftovers', async (t) => {
  const f = await disaggregated(t)
  const disk = f.storage.resource('vm-1-disk-0')
  const made = await disk.create({ volumes: [1 * GiB], policy: NVME, preferNode: 'compute-1' })
  assert.deepEqual(made.replicas.map((r) => [r.node, r.kind]), [['stor-1', 'diskful']], 'one target, on a storage node (compute-1 has no pool)')
  const a = await disk.attach('compute-1')
  assert.equal(a.stack, 'nvme')
  assert.equal(a.created, true)
  assert.equal(a.volumes[0]?.device, '/dev/nvme0n1')
  const link = a.volumes[0]?.devicePath ?? ''
  assert.equal(link, f.emu.deviceRoot('compute-1') + '/dev/linstor-virt/by-res/vm-1-disk-0/0')
  assert.equal(readlinkSync(link), f.emu.deviceRoot('compute-1') + '/dev/nvme0n1')
  writeFileSync(link, Buffer.from('over the fabric'), { flag: 'r+' })
  assert.equal(readFileSync(f.emu.deviceRoot('stor-1') + '/dev/nvme_vg/thin/vm-1-disk-0_00000'.replace('/thin', '')).subarray(0, 15).toString(), 'over the fabric')
  let info = await disk.info()
  assert.equal(info?.props[AUX_ATTACHED], 'compute-1')
  assert.deepEqual(await disk.attach('compute-1').then((x) => x.created), false, 'repeating is no change')

  // Attach elsewhere while compute-1 is recorded: a live migration (Proxmox's implicit one):
  // the record first, then compute-2's initiator; both initiators for the window, no dual-primary.
  const m = await disk.attach('compute-2')
  assert.deepEqual(m.migration, { from: 'compute-1', to: 'compute-2' })
  info = await disk.info()
  assert.deepEqual(info?.replicas.filter((r) => r.nvmeInitiator === true).map((r) => r.node), ['compute-1', 'compute-2'])
  assert.equal(readMigrationRecord(info?.props ?? {})?.set, false)
  // Migration failed: the platform aborts; compute-2's initiator goes, compute-1 stays recorded.
  await disk.abortMigration('compute-1', 'compute-2')
  info = await disk.info()
  assert.equal(info?.props[AUX_MIGRATION], undefined)
  assert.equal(info?.props[AUX_ATTACHED], 'compute-1')
  assert.deepEqual(info?.replicas.map((r) => r.node), ['compute-1', 'stor-1'])

  // A migration to the target's own node: the VM uses the backing volume there, no initiator.
  const t2 = await disk.attach('stor-1')
  assert.deepEqual(t2.migration, { from: 'compute-1', to: 'stor-1' })
  assert.equal(t2.created, false)
  assert.equal(t2.volumes[0]?.device, '/dev/nvme_vg/vm-1-disk-0_00000')
  info = await disk.info()
  assert.equal(readMigrationRecord(info?.props ?? {})?.set, false, 'no allow-two-primaries for NVMe')
  const conns = await f.client.resourceDefinitions.connections('vm-1-disk-0')
  assert.ok(!conns.some((c) => c.props[A2P] !== undefined))
  const back = await disk.detach('compute-1')
  assert.deepEqual(back.migration, { from: 'compute-1', to: 'stor-1', outcome: 'completed' })
  assert.equal(back.removed, true)
  info = await disk.info()
  assert.deepEqual(info?.replicas.map((r) => r.node), ['stor-1'])
  assert.equal(info?.props[AUX_ATTACHED], 'stor-1')
  // Back to compute-1 and the VM stops there.
  await disk.attach('compute-1')
  await disk.detach('stor-1')
  const stop = await disk.detach('compute-1')
  assert.equal(stop.removed, true)
  info = await disk.info()
  assert.equal(info?.props[AUX_ATTACHED], undefined)
  assert.deepEqual(info?.replicas.map((r) => r.node), ['stor-1'])

  // A leftover initiator (made by hand, or by a crash between two steps): the doctor finds it.
  await f.client.resources.create('vm-1-disk-0', 'compute-1', { resource: { flags: ['NVME_INITIATOR'] } })
  const report = await runDoctor(f.storage, { fix: true })
  assert.deepEqual(report.findings.map((x) => [x.kind, x.node, x.fixed]), [['unused-initiator', 'compute-1', true]])
  assert.deepEqual((await disk.info())?.replicas.map((r) => r.node), ['stor-1'])
  // An NVMe-oF policy with two replicas is refused before anything is made.
  assert.throws(() => parsePlacementPolicy({ ...NVME, placeCount: 2 }), (err: unknown) => code(err) === 'CONFIG_INVALID' && /must be 1 with the layer stack nvme,storage/.test((err as Error).message))
})

test('NVMe-oF: an explicit migration (OpenNebula, Cinder) keeps both initiators for the window; a left-over record is settled towards its target once old', async (t) => {
  const f = await disaggregated(t)
  const disk = f.storage.resource('one-img-1')
  await disk.create({ volumes: [256 * MiB], policy: NVME })
  // Two NVMe-capable hosts without a target: compute-1 and (by a second resource's target) stor-2.
  await disk.attach('compute-1', { migrate: false })
  const begun = await disk.beginMigration('compute-1', 'stor-2')
  assert.equal(begun.created, true)
  let info = await disk.info()
  assert.deepEqual(info?.replicas.filter((r) => r.nvmeInitiator === true).map((r) => r.node), ['compute-1', 'stor-2'])
  await disk.completeMigration('compute-1', 'stor-2')
  info = await disk.info()
  assert.deepEqual(info?.replicas.filter((r) => r.nvmeInitiator === true).map((r) => r.node), ['stor-2'])
  assert.equal(info?.props[AUX_ATTACHED], 'stor-2')
  // A record left by a platform that never ended its migration: reported, settled once 10 min old.
  await disk.beginMigration('stor-2', 'compute-1')
  const young = await runDoctor(f.storage, { fix: true })
  assert.deepEqual(young.findings.map((x) => [x.kind, x.fixable]), [['migration-left', false]])
  const later = await runDoctor(f.storage, { fix: true, now: () => new Date(Date.now() + 11 * 60_000) })
  assert.deepEqual(later.findings.map((x) => [x.kind, x.fixed]), [['migration-left', true]])
  info = await disk.info()
  assert.deepEqual(info?.replicas.filter((r) => r.nvmeInitiator === true).map((r) => r.node), ['compute-1'])
  assert.equal(info?.props[AUX_ATTACHED], 'compute-1')
})

test('storage only: usable where the data is; attach elsewhere and live migration refused up front, naming the stack, with no write', async (t) => {
  const f = await disaggregated(t)
  const disk = f.storage.resource('vm-3-disk-0')
  await disk.create({ volumes: [GiB], policy: { layers: ['storage'], storagePools: ['hvpool'] }, preferNode: 'hv-2' })
  const here = await disk.attach('hv-2')
  assert.equal(here.stack, 'storage')
  assert.equal(here.volumes[0]?.device, '/dev/hv_vg/vm-3-disk-0_00000')
  assert.equal(readlinkSync(here.volumes[0]?.devicePath ?? ''), f.emu.deviceRoot('hv-2') + '/dev/hv_vg/vm-3-disk-0_00000')
  f.emu.resetCounters()
  await assert.rejects(disk.attach('hv-1'), (err: unknown) => code(err) === 'NOT_SHARED' && /layer stack STORAGE \(storage only\): its data lives only on hv-2/.test((err as Error).message))
  await assert.rejects(disk.beginMigration('hv-2', 'hv-1'), (err: unknown) => code(err) === 'NOT_SHARED' && /cannot be live-migrated to hv-1/.test((err as Error).message))
  assert.deepEqual(writeCalls(f.emu), {}, 'nothing was written')
  const d = await disk.detach('hv-2')
  assert.deepEqual([d.removed, d.kept], [false, 'diskful'])
  assert.throws(() => parsePlacementPolicy({ layers: ['storage'], placeCount: 2 }), (err: unknown) => code(err) === 'CONFIG_INVALID' && /must be 1 with the layer stack storage: storage only/.test((err as Error).message))
  assert.equal(parsePlacementPolicy({ layers: ['luks', 'storage'] }).placeCount, 1, 'one replica by default')
})

test('LUKS: created and attached only with the master passphrase entered; the crypt device under DRBD; a clear error when the controller is locked', async (t) => {
  const f = await disaggregated(t)
  const disk = f.storage.resource('vm-5-disk-0')
  const policy = { ...DRBD, layers: ['drbd' as const, 'luks' as const, 'storage' as const] }
  await assert.rejects(disk.create({ volumes: [GiB], policy }), (err: unknown) => code(err) === 'PASSPHRASE_LOCKED')
  assert.equal(await disk.info(), undefined, 'the half-made definition is gone again')
  await f.client.controller.encryptionStatus()
  await fetch(`${f.emu.url}/v1/encryption/passphrase`, { method: 'POST', body: JSON.stringify({ new_passphrase: 'pw' }), headers: { 'content-type': 'application/json' } })
  const made = await disk.create({ volumes: [GiB], policy })
  const local = made.replicas.filter((r) => r.kind === 'diskful').map((r) => r.node)
  const own = await disk.attach(local[0] ?? '')
  assert.equal(own.stack, 'drbd')
  assert.match(own.volumes[0]?.devicePath ?? '', /\/dev\/drbd\/by-res\/vm-5-disk-0\/0$/)
  assert.equal(own.volumes[0]?.crypt, '/dev/mapper/Linstor-Crypt-vm-5-disk-0_00000', 'DRBD runs on the crypt device')
  await disk.detach(local[0] ?? '')
  // The controller restarts and nobody enters the passphrase.
  f.emu.control.lockMasterKey()
  f.emu.resetCounters()
  await assert.rejects(disk.attach('hv-3'), (err: unknown) => code(err) === 'PASSPHRASE_LOCKED' && /locked \(not entered since the controller started\)/.test((err as Error).message))
  assert.deepEqual(writeCalls(f.emu), {}, 'no client was made')
  await fetch(`${f.emu.url}/v1/encryption/passphrase`, { method: 'PATCH', body: JSON.stringify('pw'), headers: { 'content-type': 'application/json' } })
  const later = await disk.attach('hv-3')
  assert.equal(later.stack, 'drbd')
  await disk.detach('hv-3')
  // Encrypted storage only: the device is the crypt mapping where the data is.
  const enc = f.storage.resource('vm-6-disk-0')
  await enc.create({ volumes: [GiB], policy: { layers: ['luks', 'storage'], storagePools: ['hvpool'] }, preferNode: 'hv-1' })
  const e = await enc.attach('hv-1')
  assert.equal(e.volumes[0]?.device, '/dev/mapper/Linstor-Crypt-vm-6-disk-0_00000')
  assert.equal(e.volumes[0]?.crypt, '/dev/mapper/Linstor-Crypt-vm-6-disk-0_00000')
})

test('disaster recovery: a replica on the DR site through DRBD Proxy, protocol A on its connections only; never attached or migrated to; not counted as local redundancy', async (t) => {
  const f = await disaggregated(t)
  const disk = f.storage.resource('vm-7-disk-0')
  await disk.create({ volumes: [GiB], policy: DRBD, preferNode: 'hv-1' })
  const withDr = await disk.addDrReplica({ site: 'dr' })
  const dr = withDr.replicas.find((r) => r.dr === true)
  assert.equal(dr?.node, 'dr-1')
  assert.equal(dr?.props[AUX_DR], 'dr')
  const conns = await f.client.resourceDefinitions.connections('vm-7-disk-0')
  const others = withDr.replicas.filter((r) => r.dr !== true).map((r) => r.node).sort()
  const proxied = conns.filter((c) => c.flags.includes('LOCAL_DRBD_PROXY')).map((c) => [c.node_a, c.node_b].sort().join('-')).sort()
  assert.deepEqual(proxied, others.map((n) => [n, 'dr-1'].sort().join('-')).sort(), 'every node of the resource to dr-1')
  for (const c of conns) {
    const toDr = c.node_a === 'dr-1' || c.node_b === 'dr-1'
    assert.equal(c.props['DrbdOptions/Net/protocol'], toDr ? 'A' : undefined, `${c.node_a}-${c.node_b}`)
  }
  // Repeating converges; a site without room is a clear placement error.
  assert.equal((await disk.addDrReplica({ site: 'dr' })).replicas.filter((r) => r.dr === true).length, 1)
  await assert.rejects(f.storage.resource('vm-7-disk-0').addDrReplica({ site: 'moon' }), (err: unknown) => code(err) === 'PLACEMENT_FAILED')
  // Never a migration target, never attached.
  await assert.rejects(disk.attach('dr-1'), (err: unknown) => code(err) === 'DR_REPLICA')
  f.emu.control.open('hv-1', 'vm-7-disk-0')
  await assert.rejects(disk.beginMigration('hv-1', 'dr-1'), (err: unknown) => code(err) === 'DR_REPLICA')
  // A live migration to hv-3: its new client gets its proxy to dr-1 too.
  const moved = await disk.attach('hv-3')
  assert.deepEqual(moved.migration, { from: 'hv-1', to: 'hv-3' })
  const after = await f.client.resourceDefinitions.connections('vm-7-disk-0')
  assert.ok(after.some((c) => [c.node_a, c.node_b].sort().join('-') === 'dr-1-hv-3' && c.flags.includes('LOCAL_DRBD_PROXY')))
  f.emu.control.open('hv-3', 'vm-7-disk-0')
  f.emu.control.close('hv-1', 'vm-7-disk-0')
  await disk.detach('hv-1')
  // The doctor: nothing to report. The DR replica does not make up for a lost local one: with one
  // local replica left, that one is the last (LAST_REPLICA), and the doctor reports under-replication.
  assert.deepEqual((await runDoctor(f.storage)).findings, [])
  const localNodes = (await disk.info())?.replicas.filter((r) => r.kind === 'diskful' && r.dr !== true).map((r) => r.node) ?? []
  assert.deepEqual(localNodes, ['hv-1', 'hv-2'])
  await disk.removeReplica('hv-1')
  await assert.rejects(disk.removeReplica('hv-2'), (err: unknown) => code(err) === 'LAST_REPLICA')
  const under = await runDoctor(f.storage, { fix: true })
  assert.deepEqual(under.findings.map((x) => [x.kind, x.detail, x.fixed]), [['under-replicated', '1 diskful replica(s) besides the disaster-recovery one, the group ' + String((await disk.info())?.resourceGroup) + ' asks for 2', true]])
  assert.equal((await disk.info())?.replicas.filter((r) => r.kind === 'diskful' && r.dr !== true).length, 2)
  // Remove the DR replica: proxies off first, then the replica; the local copies keep the data.
  const gone = await disk.removeDrReplica()
  assert.equal(gone?.replicas.some((r) => r.node === 'dr-1'), false)
  const left = await f.client.resourceDefinitions.connections('vm-7-disk-0')
  assert.ok(!left.some((c) => c.node_a === 'dr-1' || c.node_b === 'dr-1'))
  assert.deepEqual((await runDoctor(f.storage)).findings, [])
})

test('disaster recovery: a crash between the replica and its proxies is found by the doctor and fixed; by node name', async (t) => {
  const f = await disaggregated(t)
  const disk = f.storage.resource('vm-8-disk-0')
  await disk.create({ volumes: [GiB], policy: DRBD })
  // As if the call died right after LINSTOR made the replica.
  await f.client.resources.create('vm-8-disk-0', 'dr-1', { resource: { props: { StorPoolName: 'drpool', [AUX_DR]: 'node:dr-1' } } })
  const report = await runDoctor(f.storage, { fix: true })
  assert.deepEqual(report.findings.map((x) => [x.kind, x.node, x.fixed]), [['dr-unproxied', 'dr-1', true]])
  assert.deepEqual((await runDoctor(f.storage)).findings, [])
  // The same call by node name finds it in place.
  const again = await disk.addDrReplica({ node: 'dr-1' })
  assert.deepEqual(again.replicas.filter((r) => r.dr === true).map((r) => r.node), ['dr-1'])
  // A local replica lost: under-replicated although three diskful replicas exist; the fix adds a local one.
  const local = again.replicas.filter((r) => r.kind === 'diskful' && r.dr !== true).map((r) => r.node)
  await f.client.resources.delete('vm-8-disk-0', local[0] ?? '')
  const under = await runDoctor(f.storage, { fix: true })
  assert.deepEqual(under.findings.map((x) => [x.kind, x.fixed]), [['under-replicated', true]])
  const now = await disk.info()
  assert.equal(now?.replicas.filter((r) => r.kind === 'diskful' && r.dr !== true).length, 2)
})
