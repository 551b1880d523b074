/**
 * The storage itself in the REAL Proxmox VE storage library: adoption of linstor-proxmox's volumes
 * (a second linstor storage on their resource group), freeing volumes, the controller VM's
 * protection, the token through PVE's own storage API (pvesm add / set / remove, the GUI's
 * dialogs: PVE takes the sensitive property out of storage.cfg and hands it to our hooks), and
 * status with a slow or dead controller. Each group of flows has a small cluster of its own.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { MiB } from '../../core/volumes/index.js'
import { boundedBy } from '../helpers/bounds.js'
import { flow, invariants, newDisk, nodesOf, qemuRead, qemuWrite, rscOf } from './pve-e2e.js'
import { linstorSection, startPveReal } from './pve-real.js'
import type { PveReal, PveVersion } from './pve-real.js'

/** The token the suite's secret scan looks for in every test's output (scripts/scan-secrets.mjs). */
const TOKEN = 'tok-SECRET-pve'

/** The shim's own deadlines for what PVE's storage_info asks: activate_storage, then status (plugins/proxmox/perl). */
const STORAGE_INFO_DEADLINE_MS = 2000 + 2000

/** linstor-proxmox's volumes, seen through a linstor storage on their resource group: listed, used, rolled back, reassigned. */
async function adoption(pve: PveReal, pm: string): Promise<void> {
  await pve.client.resourceGroups.create({ name: 'pvegrp', select_filter: { place_count: 2 } })
  await pve.client.resourceGroups.spawn('pvegrp', { resource_definition_name: 'pm-1a2b3c4d', volume_sizes: [1024 * 1024] })
  await pve.client.resourceDefinitions.modify('pm-1a2b3c4d', { override_props: { 'Aux/pm/vmid': '105' } })
  const { diskful, other } = await nodesOf(pve, 'pm-1a2b3c4d')
  const before = randomBytes(4096)
  qemuWrite(pve, diskful[0] as string, 'pm-1a2b3c4d', 0, before)
  await pve.client.snapshots.create('pm-1a2b3c4d', { name: 'snap_pm-1a2b3c4d_before' })
  qemuWrite(pve, diskful[0] as string, 'pm-1a2b3c4d', 0, randomBytes(4096))

  const vol = `${pm}:pm-1a2b3c4d_105`
  const listed = ((await pve.call('alpha', 'vdisk_list', [pm])) as Record<string, { volid: string; vmid: number }[]>)[pm]
  assert.deepEqual(listed?.map((i) => [i.volid, Number(i.vmid)]), [[vol, 105]])
  assert.deepEqual(((await pve.call('alpha', 'vdisk_list', [pve.storeid, 105])) as Record<string, unknown[]>)[pve.storeid], [], "not on the other storage's group")
  assert.deepEqual(Object.keys((await pve.call('alpha', 'volume_snapshot_info', [vol])) as object), ['before'])
  // The VM starts where the volume has no replica, and rolls back to linstor-proxmox's snapshot.
  const host = other[0] as string
  await pve.call(host, 'activate_volumes', [[vol]], 'void')
  assert.equal(await pve.call(host, 'path', [vol]), `${pve.emu.deviceRoot(host)}/dev/drbd/by-res/pm-1a2b3c4d/0`)
  await pve.call(host, 'deactivate_volumes', [[vol]], 'void')
  await invariants(pve, 'pm-1a2b3c4d', [])
  assert.deepEqual(await pve.call('alpha', 'volume_rollback_check', [vol, 'before']), { possible: 1, blockers: [] })
  await pve.call('alpha', 'volume_snapshot_rollback', [vol, 'before'], 'void')
  assert.deepEqual(qemuRead(pve, diskful[0] as string, 'pm-1a2b3c4d', 0, 4096), before)
  // qm disk reassign: linstor-proxmox keeps the VM id in a property; the name stays.
  assert.equal(await pve.call('alpha', 'rename_volume', [vol, 106, null]), `${pm}:pm-1a2b3c4d_106`)
  assert.equal((await pve.client.resourceDefinitions.get('pm-1a2b3c4d'))?.props['Aux/pm/vmid'], '106')
  const content = (await pve.call('bravo', 'PVE::API2::Storage::Content->index', [{ node: 'bravo', storage: pm, vmid: 106 }])) as { volid: string }[]
  assert.deepEqual(content.map((i) => i.volid), [`${pm}:pm-1a2b3c4d_106`])
  assert.deepEqual(await pve.client.snapshots.list('pm-1a2b3c4d').then((l) => l.map((s) => s.name)), ['snap_pm-1a2b3c4d_before'], 'its snapshot kept')
}

/** vdisk_free removes a volume and its snapshots (again: nothing to do); the controller VM's disks are never freed, deactivated or resized. */
async function freeAndControllerVm(pve: PveReal): Promise<void> {
  const vol = await newDisk(pve, 'alpha', 150, 1024)
  await pve.call('alpha', 'volume_snapshot', [vol, 'keep'], 'void')
  const freed = await pve.request('alpha', 'vdisk_free', [vol])
  assert.deepEqual([freed.ok, freed.workers], [true, undefined], 'freed at once, no cleanup task')
  assert.equal(await pve.client.resourceDefinitions.get(rscOf(vol)), undefined)
  assert.deepEqual(await pve.client.snapshots.list(rscOf(vol)).catch(() => []), [])
  await pve.call('alpha', 'vdisk_free', [vol]) // again: already gone is fine

  const ctl = await newDisk(pve, 'alpha', 900, 1024)
  const rsc = rscOf(ctl)
  const { other } = await nodesOf(pve, rsc)
  const host = other[0] as string
  await pve.call(host, 'activate_volumes', [[ctl]], 'void')
  await pve.call(host, 'deactivate_volumes', [[ctl]], 'void')
  assert.ok((await pve.client.view.resources({ resources: [rsc] })).some((r) => r.node_name === host), 'the controller VM keeps its client')
  await assert.rejects(pve.call('alpha', 'vdisk_free', [ctl]), /controller VM 900.*never freed/)
  await assert.rejects(pve.call('alpha', 'volume_resize', [ctl, 2 * MiB, 0]), /controller VM 900/)
  assert.ok((await pve.client.resourceDefinitions.get(rsc)) !== undefined)
  assert.equal(await pve.call('alpha', 'volume_size_info', [ctl, 5]), 3 * MiB, 'not resized')
}

/** pvesm add / set / remove through PVE's storage API with the token as the sensitive property it is. */
async function tokenStorage(pve: PveReal): Promise<void> {
  const lv = pve.storeid
  const api = (method: string, param: Record<string, unknown>): Promise<unknown> => pve.call('alpha', `PVE::API2::Storage::Config->${method}`, [param])
  const tokenFile = join(pve.priv, 'storage', `${lv}.linstor-token`)
  const storageCfg = (): string => readFileSync(join(pve.etc, 'storage.cfg'), 'utf8')
  const add = { storage: lv, type: 'linstor', 'linstor-controllers': pve.emu.url, content: 'images,rootdir', 'linstor-token': TOKEN }

  // A resource group is looked up when the storage is added: on a controller that answers only
  // with the token, the lookup needs the token being added.
  await pve.client.resourceGroups.create({ name: 'pvegrp', select_filter: { place_count: 2 } })
  await assert.rejects(api('create', { ...add, 'linstor-resource-group': 'nope' }), /storage lv: linstor-resource-group 'nope': LINSTOR has no resource group of this name; create it \(linstor resource-group create nope --place-count 2\) or name another/)
  assert.ok(!storageCfg().includes(`linstor: ${lv}`), 'the storage was not added')
  assert.ok(!existsSync(tokenFile), 'no token kept for a storage that was not added')
  assert.deepEqual(await api('create', { ...add, 'linstor-resource-group': 'pvegrp' }), { storage: lv, type: 'linstor' })
  assert.equal(readFileSync(tokenFile, 'utf8').trim(), TOKEN)
  assert.equal(await newDisk(pve, 'charlie', 161, 1024), `${lv}:vm-161-disk-0`)
  await api('delete', { storage: lv })
  assert.ok(!existsSync(tokenFile), 'removing the storage removes its token')

  assert.deepEqual(await api('create', { ...add, 'linstor-place-count': 2 }), { storage: lv, type: 'linstor' })
  assert.equal(readFileSync(tokenFile, 'utf8').trim(), TOKEN)
  assert.equal(statSync(tokenFile).mode & 0o777, 0o600)
  assert.ok(storageCfg().includes(`linstor: ${lv}`))
  assert.ok(!storageCfg().includes(TOKEN), 'the token is not in storage.cfg')
  assert.equal(await newDisk(pve, 'bravo', 160, 1024), `${lv}:vm-160-disk-0`, 'every node uses the token')

  // pvesm set --linstor-token (another one: the controller refuses it), then the right one again.
  await api('update', { storage: lv, 'linstor-token': `${TOKEN}-old` })
  assert.equal(readFileSync(tokenFile, 'utf8').trim(), `${TOKEN}-old`)
  await assert.rejects(newDisk(pve, 'alpha', 160, 1024), /401|token|unauthori/i)
  await api('update', { storage: lv, 'linstor-token': TOKEN, 'linstor-status-cache': 0 })
  assert.equal(readFileSync(tokenFile, 'utf8').trim(), TOKEN)
  assert.match(storageCfg(), /linstor-status-cache 0/)
  // A change the check refuses keeps the token that was there.
  await assert.rejects(api('update', { storage: lv, 'linstor-token': `${TOKEN}-new`, 'linstor-controllers': pve.emu.url, 'linstor-resource-group': 'nope', delete: 'linstor-place-count' }), /Unauthorized|no resource group 'nope'|places volumes by itself/)
  assert.equal(readFileSync(tokenFile, 'utf8').trim(), TOKEN, 'the token before the refused change')
  assert.ok(!storageCfg().includes('nope'))
  assert.equal(await newDisk(pve, 'alpha', 160, 1024), `${lv}:vm-160-disk-1`)
  // pvesm set --delete linstor-token
  await api('update', { storage: lv, delete: 'linstor-token' })
  assert.ok(!existsSync(tokenFile), 'deleting the property removes the token')
  await assert.rejects(newDisk(pve, 'alpha', 160, 1024), /401|token|unauthori/i)
  await api('update', { storage: lv, 'linstor-token': TOKEN })
  // pvesm remove
  await api('delete', { storage: lv })
  assert.ok(!existsSync(tokenFile), 'removing the storage removes its token')
  assert.ok(!storageCfg().includes(`linstor: ${lv}`))
  assert.ok((await pve.client.resourceDefinitions.get('vm-160-disk-0')) !== undefined, 'the volumes stay in LINSTOR')
}

/** What pvestatd and the GUI's storage summary ask (storage_info), with a slow and then no controller (the last known numbers, issue 20); VMs still start from local replicas. */
async function statusWithoutController(pve: PveReal): Promise<void> {
  const lv = pve.storeid
  const vol = await newDisk(pve, 'alpha', 170, 1024)
  const node = (await nodesOf(pve, rscOf(vol))).diskful[0] as string
  const info = async (what: string): Promise<Record<string, number>> =>
    boundedBy(STORAGE_INFO_DEADLINE_MS, what, async () => ((await pve.call('alpha', 'storage_info', ['images'])) as Record<string, Record<string, number>>)[lv] as Record<string, number>)
  const warm = await info('storage_info')
  assert.equal(warm['active'], 1)
  // The controller's delay (60 s) is far past the deadlines and any margin.
  pve.emu.control.faults.delay(60_000)
  const slow = await info('storage_info with a slow controller')
  assert.deepEqual([slow['active'], slow['total'], slow['avail'], slow['used']], [1, warm['total'], warm['avail'], warm['used']], 'the last known numbers while the controller is slow')
  pve.emu.control.faults.reset()
  await pve.emu.stopListening()
  const dead = await info('storage_info with no controller')
  assert.deepEqual([dead['active'], dead['total']], [1, warm['total']], 'the last known numbers while no controller answers (issue 20)')
  // No controller: the node with a replica still starts the VM from its local device.
  await pve.call(node, 'activate_volumes', [[vol]], 'void')
  assert.equal(await pve.call(node, 'path', [vol]), `${pve.emu.deviceRoot(node)}/dev/drbd/by-res/${rscOf(vol)}/0`)
  await pve.call(node, 'deactivate_volumes', [[vol]], 'void')
}

export function adminFlows(version: PveVersion): void {
  test(`PVE ${version}, the real storage library: adoption of linstor-proxmox volumes, free, the controller VM`, async (t) => {
    const pm = 'lvpm'
    const pve = await startPveReal(t, {
      version,
      nodes: ['alpha', 'bravo', 'charlie'],
      scfg: { 'linstor-place-count': 2, 'linstor-controller-vms': 900 },
      extraSections: (url) => linstorSection(pm, url, { 'linstor-resource-group': 'pvegrp' }),
    })
    await flow(t, "linstor-proxmox's volumes are adopted: listed under their pm- name, started anywhere, rolled back, reassigned by property", pve, () => adoption(pve, pm))
    await flow(t, 'vdisk_free removes the volume and its snapshots; a controller VM disk is never freed, deactivated or resized', pve, () => freeAndControllerVm(pve))
  })
  test(`PVE ${version}, the real storage library: pvesm add, set and remove keep the token only in the priv file, from where every node uses it`, async (t) => {
    const pve = await startPveReal(t, { version, scfg: null, emulator: { token: TOKEN }, nodes: ['alpha', 'bravo', 'charlie'] })
    await flow(t, 'the token through the storage API', pve, () => tokenStorage(pve))
  })
  test(`PVE ${version}, the real storage library: status never hangs (a slow or dead controller gives the last answer); VMs still start from local replicas`, async (t) => {
    const pve = await startPveReal(t, { version, scfg: { 'linstor-place-count': 2, 'linstor-status-cache': 0 } })
    await flow(t, 'storage_info with a slow and a dead controller', pve, () => statusWithoutController(pve))
  })
}
