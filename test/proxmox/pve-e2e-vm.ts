/**
 * Disks and VMs in the REAL Proxmox VE storage library (one four-node cluster per PVE release,
 * shared by the flows, each with VM ids of its own): GUI disk creation, a VM started and stopped on
 * a node without a replica, live migration both ways and to a third node, a failed migration, and
 * allocations from every node at once under PVE's cluster-wide storage lock.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { GiB, MiB } from '../../core/volumes/index.js'
import { ALLOW, flow, invariants, newDisk, nodesOf, qemuRead, qemuWrite, rscOf } from './pve-e2e.js'
import { startPveReal } from './pve-real.js'
import type { PveReal, PveVersion } from './pve-real.js'

interface ListedImage {
  volid: string
  format: string
  size: number
  vmid: number | string
  content?: string
  parent?: string
}

/** The GUI: the storage summary, new disks of a VM (also EFI vars and cloud-init), the storage's content view. */
async function guiDiskCreation(pve: PveReal): Promise<void> {
  const lv = pve.storeid
  // The storage summary (storage_info: activate_storage, then status, as the GUI and pvestatd ask).
  const info = ((await pve.call('alpha', 'storage_info', ['images'])) as Record<string, Record<string, unknown>>)[lv]
  assert.ok(info !== undefined, 'the storage is listed for disk images')
  assert.equal(info['active'], 1)
  assert.equal(info['shared'], 1, 'shared: PVE never copies its disks on migration')
  assert.equal(info['type'], 'linstor')
  assert.ok(Number(info['total']) >= 100 * GiB && Number(info['avail']) > 0 && Number(info['used']) >= 0, JSON.stringify(info))
  assert.equal(((await pve.call('bravo', 'storage_config', [lv])) as Record<string, unknown>)['shared'], 1)

  assert.equal(await newDisk(pve, 'alpha', 100, 4 * 1024 * 1024), `${lv}:vm-100-disk-0`)
  // An EFI vars disk (528 KiB) gets the 3 MiB minimum.
  assert.equal(await pve.call('alpha', 'vdisk_alloc', [lv, 100, 'raw', null, 528]), `${lv}:vm-100-disk-1`)
  assert.equal(await pve.call('alpha', 'vdisk_alloc', [lv, 100, 'raw', 'vm-100-cloudinit', 4096]), `${lv}:vm-100-cloudinit`)
  assert.equal(await pve.call('bravo', 'vdisk_alloc', [lv, 100, 'raw', 'vm-100-cloudinit', 4096]), `${lv}:vm-100-cloudinit`, 'cloud-init re-allocation by name returns the existing one')
  // pvesm alloc (the storage content API): a named disk, size with a suffix.
  assert.equal(await pve.call('bravo', 'PVE::API2::Storage::Content->create', [{ node: 'bravo', storage: lv, vmid: 100, filename: 'vm-100-disk-7', size: '8M' }]), `${lv}:vm-100-disk-7`)
  const rd = await pve.client.resourceDefinitions.get('vm-100-disk-0')
  assert.equal(rd?.props['Aux/pm/vmid'], '100')
  assert.ok((await nodesOf(pve, 'vm-100-disk-0')).diskful.includes('alpha'), 'one replica on the allocating node')
  assert.ok((await nodesOf(pve, 'vm-100-disk-7')).diskful.includes('bravo'), 'one replica on the allocating node')

  const listed = ((await pve.call('charlie', 'vdisk_list', [lv, 100])) as Record<string, ListedImage[]>)[lv] ?? []
  assert.deepEqual(listed.map((i) => [i.volid, i.format, Number(i.vmid)]), [`${lv}:vm-100-cloudinit`, `${lv}:vm-100-disk-0`, `${lv}:vm-100-disk-1`, `${lv}:vm-100-disk-7`].map((v) => [v, 'raw', 100]))
  const size = (v: string): number | undefined => listed.find((i) => i.volid === `${lv}:${v}`)?.size
  assert.equal(size('vm-100-disk-0'), 4 * GiB)
  assert.equal(size('vm-100-disk-1'), 3 * MiB, 'tiny disks (EFI vars) get the 3 MiB minimum')
  assert.equal(size('vm-100-disk-7'), 8 * MiB)
  assert.equal(await pve.call('delta', 'volume_size_info', [`${lv}:vm-100-disk-0`, 5]), 4 * GiB)
  // qm resize (grow): PVE rounds the bytes up to whole KiB.
  await pve.call('charlie', 'volume_resize', [`${lv}:vm-100-disk-1`, 16 * MiB + 1, 0])
  assert.ok(Number(await pve.call('alpha', 'volume_size_info', [`${lv}:vm-100-disk-1`, 5])) >= 16 * MiB + 1024, 'grown to at least the size asked')
  // The GUI's content view of the storage (PVE::API2::Storage::Content->index over volume_list).
  const content = (await pve.call('delta', 'PVE::API2::Storage::Content->index', [{ node: 'delta', storage: lv, vmid: 100 }])) as ListedImage[]
  assert.deepEqual(content.map((i) => [i.volid, i.content, Number(i.vmid)]).sort(), listed.map((i) => [i.volid, 'images', 100]).sort())

  await assert.rejects(pve.call('alpha', 'vdisk_alloc', [lv, 100, 'qcow2', null, 1024]), /raw block devices only/)
  await assert.rejects(pve.call('alpha', 'vdisk_alloc', [lv, 100, 'raw', 'vm-101-disk-0', 1024]), /belongs to VM 101/)
  assert.equal(await pve.client.resourceDefinitions.get('vm-101-disk-0'), undefined)
}

/**
 * What qemu-server 9 asks right after activating a disk, to build QEMU's -blockdev: PVE's
 * qemu_blockdev_options, which stats the device (PVE 8 has no such call; it hands QEMU the path).
 * The emulator's devices are regular files, so the driver is `file`; on a node, /dev/drbd/by-res
 * leads to a block device and PVE picks `host_device`.
 */
async function qemuOpens(pve: PveReal, node: string, vol: string, path: string): Promise<void> {
  if (pve.version !== 9) return
  assert.deepEqual(await pve.call(node, 'qemu_blockdev_options', [vol, '10.0+pve1', { hints: {} }]), { driver: 'file', filename: path })
}

/** `qm start` / `qm stop` on a node that holds no replica: a diskless client for the run only. */
async function startStopWithoutReplica(pve: PveReal): Promise<void> {
  const vol = await newDisk(pve, 'alpha', 110, 1024 * 1024)
  const rsc = rscOf(vol)
  const host = (await nodesOf(pve, rsc)).other[0] as string
  await pve.call(host, 'activate_volumes', [[vol]], 'void')
  const [path, owner, vtype] = (await pve.call(host, 'path', [vol], 'list')) as [string, string, string]
  assert.deepEqual([path, String(owner), vtype], [`${pve.emu.deviceRoot(host)}/dev/drbd/by-res/${rsc}/0`, '110', 'images'])
  await qemuOpens(pve, host, vol, path)
  const data = randomBytes(64 * 1024)
  qemuWrite(pve, host, rsc, 1 * MiB, data)
  await pve.call(host, 'deactivate_volumes', [[vol]], 'void')
  await invariants(pve, rsc, [])
  const { diskful } = await nodesOf(pve, rsc)
  assert.ok(!diskful.includes(host), 'the run left no replica behind')
  assert.deepEqual(qemuRead(pve, diskful[0] as string, rsc, 1 * MiB, data.length), data)
  // Deactivating on a node with a diskful replica never removes it.
  await pve.call(diskful[0] as string, 'deactivate_volumes', [[vol]], 'void')
  await invariants(pve, rsc, [])
}

/** Live migration d0 → x → y → d0 (x, y without a replica), as qemu-server runs it: target activates, source deactivates. */
async function liveMigration(pve: PveReal): Promise<void> {
  const vol = await newDisk(pve, 'alpha', 120, 1024 * 1024)
  const rsc = rscOf(vol)
  const { diskful, other } = await nodesOf(pve, rsc)
  const d0 = diskful.includes('alpha') ? 'alpha' : (diskful[0] as string)
  const [x, y] = other as [string, string]
  // qemu-server's migration asks PVE to carry the disk over: a shared storage's volume stays as is.
  pve.emu.resetCounters()
  assert.equal(await pve.call(d0, 'storage_migrate', [vol, null, pve.storeid, {}]), vol, 'shared: nothing to copy')
  assert.deepEqual(Object.keys(pve.emu.counters()), [], 'storage_migrate did not even ask LINSTOR')

  const data = randomBytes(128 * 1024)
  await pve.call(d0, 'activate_volumes', [[vol]], 'void')
  pve.emu.control.open(d0, rsc)
  qemuWrite(pve, d0, rsc, 0, data, true)
  const move = async (from: string, to: string): Promise<void> => {
    // qm start --migratedfrom on the target, while the source still runs the VM.
    await pve.call(to, 'activate_volumes', [[vol]], 'void')
    await qemuOpens(pve, to, vol, `${pve.emu.deviceRoot(to)}/dev/drbd/by-res/${rsc}/0`)
    const conn = (await pve.client.resourceDefinitions.connections(rsc)).find((c) => [c.node_a, c.node_b].sort().join() === [from, to].sort().join())
    assert.equal(conn?.props[ALLOW], 'yes', `dual-primary allowed for ${from}↔${to} while moving`)
    pve.emu.control.open(to, rsc) // both open during the hand-over
    pve.emu.control.close(from, rsc)
    // The source's cleanup after the move.
    await pve.call(from, 'deactivate_volumes', [[vol]], 'void')
    await invariants(pve, rsc, [to])
    assert.deepEqual(qemuRead(pve, to, rsc, 0, data.length, true), data, `data readable on ${to}`)
  }
  pve.emu.resetCounters()
  await move(d0, x)
  await move(x, y) // diskless to diskless: a third node
  await move(y, d0) // and back home
  pve.emu.control.close(d0, rsc)
  await pve.call(d0, 'deactivate_volumes', [[vol]], 'void')
  await invariants(pve, rsc, [])
  assert.deepEqual(Object.keys(pve.emu.counters()).filter((k) => /clone|snapshot/.test(k)), [], 'nothing copied')
  assert.deepEqual((await nodesOf(pve, rsc)).diskful, diskful, 'the replicas never moved')
}

/** The target's start fails (QEMU never opens the disk) and qemu-server deactivates there; a later migration works. */
async function failedMigration(pve: PveReal): Promise<void> {
  const vol = await newDisk(pve, 'alpha', 130, 1024 * 1024)
  const rsc = rscOf(vol)
  const { diskful, other } = await nodesOf(pve, rsc)
  const src = diskful[0] as string
  const dst = other[0] as string
  await pve.call(src, 'activate_volumes', [[vol]], 'void')
  pve.emu.control.open(src, rsc)
  await pve.call(dst, 'activate_volumes', [[vol]], 'void')
  await pve.call(dst, 'deactivate_volumes', [[vol]], 'void')
  await invariants(pve, rsc, [src])
  // A later migration to the same node works.
  await pve.call(dst, 'activate_volumes', [[vol]], 'void')
  pve.emu.control.open(dst, rsc)
  pve.emu.control.close(src, rsc)
  await pve.call(src, 'deactivate_volumes', [[vol]], 'void')
  await invariants(pve, rsc, [dst])
  pve.emu.control.close(dst, rsc)
  await pve.call(dst, 'deactivate_volumes', [[vol]], 'void')
  await invariants(pve, rsc, [])
}

/**
 * Every node adds a disk to one VM at the same moment: PVE serialises the allocations of a shared
 * storage with its cluster-wide lock (cfs_lock_storage), inside which our alloc_image picks the
 * free name, so each gets its own; freeing all four at once likewise.
 */
async function allocationsUnderTheClusterLock(pve: PveReal): Promise<void> {
  const lv = pve.storeid
  const nodes = Object.keys(pve.nodes)
  const vols = await Promise.all(nodes.map((n) => newDisk(pve, n, 140, 4096)))
  assert.deepEqual([...vols].sort(), nodes.map((_, i) => `${lv}:vm-140-disk-${i}`), 'one name each')
  for (const v of vols) await invariants(pve, rscOf(v), [])
  await Promise.all(vols.map((v, i) => pve.call(nodes[i] as string, 'vdisk_free', [v])))
  const left = ((await pve.call('alpha', 'vdisk_list', [lv, 140])) as Record<string, ListedImage[]>)[lv] ?? []
  assert.deepEqual(left, [])
  for (const v of vols) assert.equal(await pve.client.resourceDefinitions.get(rscOf(v)), undefined)
}

export function vmFlows(version: PveVersion): void {
  test(`PVE ${version}, the real storage library on four nodes: disks and VMs`, async (t) => {
    const pve = await startPveReal(t, { version, nodes: ['alpha', 'bravo', 'charlie', 'delta'] })
    await flow(t, 'GUI disk creation: the storage summary, new disks with free names on the allocating node, the content view', pve, () => guiDiskCreation(pve))
    await flow(t, 'VM start and stop on a node without a replica: a diskless client for the run, removed at stop; data stays', pve, () => startStopWithoutReplica(pve))
    await flow(t, 'live migration both ways and to a third node: dual-primary only during the move, nothing copied, no client left', pve, () => liveMigration(pve))
    await flow(t, 'a failed migration: the target deactivates after its start failed; no client, no dual-primary, the source keeps running', pve, () => failedMigration(pve))
    await flow(t, "allocations and frees from every node at once, under PVE's cluster-wide storage lock: one free name each", pve, () => allocationsUnderTheClusterLock(pve))
  })
}
