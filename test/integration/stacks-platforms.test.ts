/**
 * Every layer stack × every platform (issue 24): the stack chosen by the platform's own setting
 * (Proxmox storage.cfg, Cinder extra spec `linstor:layer_list`, OpenNebula LINSTOR_LAYER_LIST) or
 * by the named resource group's own layer list, and the DR replica by each platform's DR option;
 * each stack's attach semantics through each platform's calls, with the reliability invariants
 * (test/reliability/invariants.ts) after every step:
 *
 * - NVMe-oF: an initiator on the VM's host, two during a live migration, none left after;
 * - storage only: usable where the data is, attach elsewhere and live migration refused up front
 *   naming the stack (NOT_SHARED);
 * - LUKS: works with the passphrase entered, PASSPHRASE_LOCKED when the controller has it locked;
 * - DR: a replica on the DR site through DRBD Proxy, protocol A there only, never attached
 *   (DR_REPLICA), not counted as a local replica.
 */
import assert from 'node:assert/strict'
import { existsSync, readlinkSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { checkInvariants } from '../reliability/invariants.js'
import { STACK_WORLDS, enterPassphrase, stackWorld } from '../reliability/stacks.js'
import type { StackName } from '../reliability/stacks.js'
import { World, expectedOf } from '../reliability/world.js'
import type { CallOutcome, Disk, Step } from '../reliability/world.js'

/** A step as the platform makes it: the hypervisor's part, the call, the hypervisor's part after. */
async function run(w: World, step: Step): Promise<CallOutcome> {
  step.before()
  const r = await w.call(step.spec(), 30_000)
  if (r.ok) step.after()
  return r
}

async function ok(w: World, step: Step, disks: readonly Disk[]): Promise<unknown> {
  const r = await run(w, step)
  assert.ok(r.ok, `${step.adapter} ${step.operation} on ${step.node}: ${r.code ?? ''} ${r.message ?? ''}`)
  assert.deepEqual(checkInvariants(w.emu, expectedOf(disks)), [], `invariants after ${step.adapter} ${step.operation} on ${step.node}`)
  return r.result
}

/** The call is refused with `code` (and a message matching `re`), and nothing changed. */
async function refused(w: World, step: Step, disks: readonly Disk[], code: string, re?: RegExp): Promise<void> {
  const before = JSON.stringify(w.emu.state().resourceDefinitions)
  step.before()
  const r = await w.call(step.spec(), 30_000)
  assert.equal(r.ok ? 'ok' : r.code, code, `${step.adapter} ${step.operation} on ${step.node}: ${r.message ?? ''}`)
  if (re !== undefined) assert.match(r.message ?? '', re)
  assert.equal(JSON.stringify(w.emu.state().resourceDefinitions), before, 'nothing changed')
  assert.deepEqual(checkInvariants(w.emu, expectedOf(disks)), [])
}

function initiators(w: World, rsc: string): string[] {
  const rd = Object.values(w.emu.state().resourceDefinitions).find((x) => x.name.toLowerCase() === rsc.toLowerCase())
  return Object.values(rd?.resources ?? {}).filter((r) => r.nvmeInitiator === true).map((r) => r.node).sort()
}

function layersOf(w: World, rsc: string): string[] {
  const rd = Object.values(w.emu.state().resourceDefinitions).find((x) => x.name.toLowerCase() === rsc.toLowerCase())
  return rd?.layerStack ?? []
}

/** Where the disk link OpenNebula's tm made in the VM directory on `host` leads (through linstor-virt's by-res link, if it goes there). */
function oneDevice(d: Disk, host: string): string {
  const first = readlinkSync(join(process.env['LV_ONE_HOSTS'] ?? '', host, 'var', 'lib', 'one', 'datastores', '0', String(d.vmid), `disk.${d.diskId}`))
  return first.includes('/dev/linstor-virt/by-res/') ? readlinkSync(first) : first
}

async function world(t: { after: (fn: () => Promise<void>) => void }, stack: StackName): Promise<World> {
  const w = await stackWorld(stack)
  t.after(() => w.close())
  return w
}

// ------------------------------------------------------------------ NVMe-oF (native setting, and the resource group's own layer list)

for (const stack of ['nvme', 'rg-nvme'] as const) {
  const how = stack === 'nvme' ? 'the platform setting' : "the resource group's own layer list"
  test(`NVMe-oF by ${how} × Proxmox: an initiator on the VM's host, two during a live migration, the path a stable link`, async (t) => {
    const w = await world(t, stack)
    const d = w.newDisk('proxmox')
    await ok(w, w.pveAlloc(d, 'compute-1'), [d])
    assert.deepEqual(layersOf(w, d.resource), ['NVME', 'STORAGE'])
    assert.match(w.diskful(d.resource).join(), /^stor-\d$/, 'the data on a storage node (compute-1 has no pool)')
    const a = (await ok(w, w.pveActivate(d, 'compute-1'), [d])) as { path: string }
    assert.equal(a.path, w.emu.deviceRoot('compute-1') + `/dev/linstor-virt/by-res/${d.resource}/0`)
    assert.equal(readlinkSync(a.path), w.emu.deviceRoot('compute-1') + '/dev/nvme0n1')
    assert.deepEqual(initiators(w, d.resource), ['compute-1'])
    await ok(w, w.pveActivate(d, 'compute-2'), [d])
    assert.deepEqual(initiators(w, d.resource), ['compute-1', 'compute-2'], 'both hosts during the window')
    await ok(w, w.pveDeactivate(d, 'compute-1'), [d])
    assert.deepEqual(initiators(w, d.resource), ['compute-2'])
    await ok(w, w.pveDeactivate(d, 'compute-2'), [d])
    assert.deepEqual(initiators(w, d.resource), [])
    assert.equal(existsSync(a.path), false, 'the link went with the initiator')
    await ok(w, w.pveFree(d, 'compute-1'), [d])
  })

  test(`NVMe-oF by ${how} × Cinder: initialize_connection returns the initiator's namespace; Nova's live migration holds two`, async (t) => {
    const w = await world(t, stack)
    const d = w.newDisk('cinder')
    await ok(w, w.cinderCreate(d), [d])
    assert.deepEqual(layersOf(w, d.resource), ['NVME', 'STORAGE'])
    const c = (await ok(w, w.cinderAttach(d, 'compute-1'), [d])) as { connection_info: { data: { device_path: string } } }
    assert.equal(c.connection_info.data.device_path, w.emu.deviceRoot('compute-1') + '/dev/nvme0n1')
    await ok(w, w.cinderAttach(d, 'compute-2'), [d])
    assert.deepEqual(initiators(w, d.resource), ['compute-1', 'compute-2'])
    await ok(w, w.cinderDetach(d, 'compute-1'), [d])
    assert.deepEqual(initiators(w, d.resource), ['compute-2'])
    await ok(w, w.cinderExtend(d, 'compute-2', 2), [d])
    await ok(w, w.cinderDetach(d, 'compute-2'), [d])
    assert.deepEqual(initiators(w, d.resource), [])
    await ok(w, w.cinderDelete(d, 'compute-1'), [d])
  })

  test(`NVMe-oF by ${how} × OpenNebula: tm ln links the initiator's device, premigrate/postmigrate move it`, async (t) => {
    const w = await world(t, stack)
    const d = w.newDisk('opennebula')
    await ok(w, w.oneMkfs(d), [d])
    assert.deepEqual(layersOf(w, d.resource), ['NVME', 'STORAGE'])
    await ok(w, w.oneLn(d, 'compute-1'), [d])
    assert.equal(oneDevice(d, 'compute-1'), w.emu.deviceRoot('compute-1') + '/dev/nvme0n1', "the disk is the initiator's namespace")
    await ok(w, w.onePremigrate(d, 'compute-1', 'compute-2'), [d])
    assert.deepEqual(initiators(w, d.resource), ['compute-1', 'compute-2'])
    await ok(w, w.onePostmigrate(d, 'compute-1', 'compute-2'), [d])
    assert.deepEqual(initiators(w, d.resource), ['compute-2'])
    await ok(w, w.oneDelete(d, 'compute-2'), [d])
    assert.deepEqual(initiators(w, d.resource), [])
    await ok(w, w.oneRm(d), [d])
  })
}

// ------------------------------------------------------------------ storage only

test('storage only × Proxmox: activation where the data is; elsewhere and live migration refused up front, naming the stack', async (t) => {
  const w = await world(t, 'storage')
  const d = w.newDisk('proxmox')
  await ok(w, w.pveAlloc(d, 'hv-2'), [d])
  assert.deepEqual(w.diskful(d.resource), ['hv-2'], 'prefer-local puts the data on the allocating node')
  const a = (await ok(w, w.pveActivate(d, 'hv-2'), [d])) as { path: string }
  assert.equal(readlinkSync(a.path), w.emu.deviceRoot('hv-2') + `/dev/hv_vg/${d.resource}_00000`)
  // A live migration to hv-1 while the VM runs on hv-2, and a start on hv-3.
  await refused(w, w.pveActivate(d, 'hv-1'), [d], 'NOT_SHARED', /layer stack STORAGE \(storage only\): its data lives only on hv-2/)
  await ok(w, w.pveDeactivate(d, 'hv-2'), [d])
  await refused(w, w.pveActivate(d, 'hv-3'), [d], 'NOT_SHARED', /cannot be attached on hv-3/)
  await ok(w, w.pveFree(d, 'hv-2'), [d])
})

test('storage only × Cinder: initialize_connection on the data node only', async (t) => {
  const w = await world(t, 'storage')
  const d = w.newDisk('cinder')
  await ok(w, w.cinderCreate(d), [d])
  const [home] = w.diskful(d.resource) as [string]
  const away = w.spare(d.resource)[0] ?? ''
  await refused(w, w.cinderAttach(d, away), [d], 'NOT_SHARED', /storage only/)
  const c = (await ok(w, w.cinderAttach(d, home), [d])) as { connection_info: { data: { device_path: string } } }
  assert.equal(c.connection_info.data.device_path, w.emu.deviceRoot(home) + `/dev/hv_vg/${d.resource}_00000`)
  // Nova's live migration: the second initialize_connection is refused before anything is written.
  await refused(w, w.cinderAttach(d, away), [d], 'NOT_SHARED', /cannot be live-migrated/)
  await ok(w, w.cinderDetach(d, home), [d])
  await ok(w, w.cinderDelete(d, home), [d])
})

test('storage only × OpenNebula: deploy on the data node; elsewhere and live migration refused', async (t) => {
  const w = await world(t, 'storage')
  const d = w.newDisk('opennebula')
  await ok(w, w.oneMkfs(d), [d])
  const [home] = w.diskful(d.resource) as [string]
  const away = w.spare(d.resource)[0] ?? ''
  await refused(w, w.oneLn(d, away), [d], 'NOT_SHARED', /storage only/)
  await ok(w, w.oneLn(d, home), [d])
  assert.equal(oneDevice(d, home), w.emu.deviceRoot(home) + `/dev/hv_vg/${d.resource}_00000`)
  await refused(w, w.onePremigrate(d, home, away), [d], 'NOT_SHARED', /cannot be live-migrated/)
  await ok(w, w.oneDelete(d, home), [d])
  await ok(w, w.oneRm(d), [d])
})

// ------------------------------------------------------------------ LUKS

test('LUKS × every platform: creates and attaches with the passphrase entered; PASSPHRASE_LOCKED once the controller has it locked', async (t) => {
  const w = await world(t, 'luks')
  const pve = w.newDisk('proxmox')
  const cinder = w.newDisk('cinder')
  const one = w.newDisk('opennebula')
  const all = [pve, cinder, one]
  await ok(w, w.pveAlloc(pve, 'hv-1'), all)
  await ok(w, w.cinderCreate(cinder), all)
  await ok(w, w.oneMkfs(one), all)
  for (const d of all) assert.deepEqual(layersOf(w, d.resource), ['DRBD', 'LUKS', 'STORAGE'])
  // A diskless client on a node without a replica: DRBD over the peers' crypt devices.
  await ok(w, w.pveActivate(pve, w.spare(pve.resource)[0] ?? ''), all)
  await ok(w, w.cinderAttach(cinder, w.spare(cinder.resource)[0] ?? ''), all)
  await ok(w, w.oneLn(one, w.spare(one.resource)[0] ?? ''), all)
  // The controller restarts; nobody enters the passphrase.
  w.emu.control.lockMasterKey()
  const fresh = w.newDisk('proxmox')
  await refused(w, w.pveAlloc(fresh, 'hv-1'), all, 'PASSPHRASE_LOCKED', /passphrase/)
  const freshCinder = w.newDisk('cinder')
  await refused(w, w.cinderCreate(freshCinder), all, 'PASSPHRASE_LOCKED')
  const [pveHost] = pve.running as [string]
  await ok(w, w.pveDeactivate(pve, pveHost), all)
  await refused(w, w.pveActivate(pve, pveHost), all, 'PASSPHRASE_LOCKED', /locked/)
  const [cinderHost] = cinder.attached as [string]
  await ok(w, w.cinderDetach(cinder, cinderHost), all)
  await refused(w, w.cinderAttach(cinder, cinderHost), all, 'PASSPHRASE_LOCKED')
  const [oneHost] = one.running as [string]
  await ok(w, w.oneDelete(one, oneHost), all)
  await refused(w, w.oneLn(one, oneHost), all, 'PASSPHRASE_LOCKED')
  // Entered again: everything works as before.
  const r = await fetch(`${w.emu.url}/v1/encryption/passphrase`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify('secret') })
  assert.equal(r.status, 200)
  await ok(w, w.pveActivate(pve, pveHost), all)
  await ok(w, w.cinderAttach(cinder, cinderHost), all)
  await ok(w, w.oneLn(one, oneHost), all)
})

test('LUKS before any passphrase exists: every platform\'s create is refused up front with PASSPHRASE_LOCKED and leaves nothing; once created, it works', async (t) => {
  const w = await World.create(STACK_WORLDS.luks)
  t.after(() => w.close())
  const pve = w.newDisk('proxmox')
  const cinder = w.newDisk('cinder')
  const one = w.newDisk('opennebula')
  await refused(w, w.pveAlloc(pve, 'hv-1'), [], 'PASSPHRASE_LOCKED', /passphrase/)
  await refused(w, w.cinderCreate(cinder), [], 'PASSPHRASE_LOCKED')
  await refused(w, w.oneMkfs(one), [], 'PASSPHRASE_LOCKED')
  assert.deepEqual(Object.keys(w.emu.state().resourceDefinitions), [])
  await enterPassphrase(w)
  await ok(w, w.pveAlloc(pve, 'hv-1'), [pve])
})

// ------------------------------------------------------------------ disaster recovery

test('DR × Proxmox: linstor-dr-site keeps a replica on dr-1 through DRBD Proxy; activation there refused; migrations keep the proxies', async (t) => {
  const w = await world(t, 'dr')
  const d = w.newDisk('proxmox')
  await ok(w, w.pveAlloc(d, 'hv-1'), [d])
  assert.ok(w.diskful(d.resource).includes('dr-1'))
  const client = w.spare(d.resource).find((n) => n !== 'dr-1') ?? ''
  await ok(w, w.pveActivate(d, client), [d])
  await ok(w, w.pveActivate(d, 'hv-1'), [d])
  await ok(w, w.pveDeactivate(d, client), [d])
  await refused(w, w.pveActivate(d, 'dr-1'), [d], 'DR_REPLICA')
  await ok(w, w.pveDeactivate(d, 'hv-1'), [d])
  await ok(w, w.pveFree(d, 'hv-1'), [d])
})

test('DR × Cinder: linstor:dr_site on the volume type; Nova never attaches on the DR node', async (t) => {
  const w = await world(t, 'dr')
  const d = w.newDisk('cinder')
  await ok(w, w.cinderCreate(d), [d])
  assert.ok(w.diskful(d.resource).includes('dr-1'))
  const client = w.spare(d.resource).find((n) => n !== 'dr-1') ?? ''
  await ok(w, w.cinderAttach(d, client), [d])
  await refused(w, w.cinderAttach(d, 'dr-1'), [d], 'DR_REPLICA')
  await ok(w, w.cinderDetach(d, client), [d])
  await ok(w, w.cinderDelete(d, 'hv-1'), [d])
})

test('DR × OpenNebula: LINSTOR_DR_SITE on the datastore; deploy and live-migrate on the main site only', async (t) => {
  const w = await world(t, 'dr')
  const d = w.newDisk('opennebula')
  await ok(w, w.oneMkfs(d), [d])
  assert.ok(w.diskful(d.resource).includes('dr-1'))
  const [a, b] = w.diskful(d.resource).filter((n) => n !== 'dr-1') as [string, string]
  await ok(w, w.oneLn(d, a), [d])
  await ok(w, w.onePremigrate(d, a, b), [d])
  await ok(w, w.onePostmigrate(d, a, b), [d])
  await refused(w, w.onePremigrate(d, b, 'dr-1'), [d], 'DR_REPLICA')
  await ok(w, w.oneDelete(d, b), [d])
  await ok(w, w.oneRm(d), [d])
})
