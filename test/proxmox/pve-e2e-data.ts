/**
 * Data flows in the REAL Proxmox VE storage library (one four-node cluster per PVE release with a
 * `dir` storage beside the linstor one, shared by the flows, each with VM ids of its own; one more
 * small cluster on an emulator playing LINSTOR 1.29): snapshots and rollback, templates and linked
 * clones, backup export and restore through the real `pvesm export` / `pvesm import` and
 * PVE::Storage::storage_migrate (which pipes the real pvesm CLI), disk reassignment, and a container
 * backup through a snapshot view. Every flow checks the bytes.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { MiB } from '../../core/volumes/index.js'
import { tempDir } from '../helpers/core.js'
import { flow, invariants, newDisk, nodesOf, qemuRead, qemuWrite, rscOf, writeCalls } from './pve-e2e.js'
import { startPveReal } from './pve-real.js'
import type { PveReal, PveVersion } from './pve-real.js'

const ROLLBACK = 'POST /v1/resource-definitions/{resource}/snapshot-rollback/{snapshot}'

/** A volume with snapshots 'first' (bytes v1) and 'second' (v2) and newer data after them, on a node with a replica. */
async function twoSnapshots(pve: PveReal, vmid: number): Promise<{ vol: string; rsc: string; node: string; v1: Buffer; v2: Buffer }> {
  const vol = await newDisk(pve, 'alpha', vmid, 1024 * 1024)
  const rsc = rscOf(vol)
  const node = (await nodesOf(pve, rsc)).diskful[0] as string
  await pve.call(node, 'activate_volumes', [[vol]], 'void')
  const v1 = randomBytes(4096)
  const v2 = randomBytes(4096)
  qemuWrite(pve, node, rsc, 0, v1)
  await pve.call(node, 'volume_snapshot', [vol, 'first'], 'void')
  qemuWrite(pve, node, rsc, 0, v2)
  await pve.call(node, 'volume_snapshot', [vol, 'second'], 'void')
  qemuWrite(pve, node, rsc, 0, randomBytes(4096))
  return { vol, rsc, node, v1, v2 }
}

/** `qm snapshot`, `qm rollback` (to an older snapshot: one LINSTOR rollback, the newer snapshot kept), `qm delsnapshot`. */
async function snapshots(pve: PveReal): Promise<void> {
  const { vol, rsc, node, v1, v2 } = await twoSnapshots(pve, 200)
  const info = (await pve.call(node, 'volume_snapshot_info', [vol])) as Record<string, { id: number; timestamp: number }>
  assert.deepEqual(Object.keys(info).sort(), ['first', 'second'])
  assert.ok((info['second']?.id ?? 0) > (info['first']?.id ?? 0))
  assert.equal(await pve.call(node, 'volume_has_feature', ['snapshot', vol, null, 0]), 1)
  // qemu-server 9 asks who snapshots a running VM's disk: the storage, transparently.
  if (pve.version === 9) assert.equal(await pve.call(node, 'volume_qemu_snapshot_method', [vol]), 'storage')
  assert.deepEqual(await pve.call(node, 'volume_rollback_check', [vol, 'first']), { possible: 1, blockers: [] })
  pve.emu.resetCounters()
  // PVE::Storage::volume_snapshot_rollback asks volume_rollback_is_possible first, then rolls back.
  await pve.call(node, 'volume_snapshot_rollback', [vol, 'first'], 'void')
  assert.deepEqual(writeCalls(pve), [[ROLLBACK, 1]])
  assert.deepEqual(qemuRead(pve, node, rsc, 0, 4096), v1)
  assert.deepEqual(Object.keys((await pve.call(node, 'volume_snapshot_info', [vol])) as object).sort(), ['first', 'second'])
  await pve.call(node, 'volume_snapshot_rollback', [vol, 'second'], 'void')
  assert.deepEqual(qemuRead(pve, node, rsc, 0, 4096), v2)
  await pve.call(node, 'volume_snapshot_delete', [vol, 'second', 0], 'void')
  await pve.call(node, 'volume_snapshot_rollback', [vol, 'first'], 'void')
  assert.deepEqual(Object.keys((await pve.call(node, 'volume_snapshot_info', [vol])) as object), ['first'])
  await pve.call(node, 'deactivate_volumes', [[vol]], 'void')
  await invariants(pve, rsc, [])
}

/** On LINSTOR 1.29 (newest snapshot only): PVE's rollback check shows the newer snapshot as its blocker, and refuses. */
async function snapshotsOn129(pve: PveReal): Promise<void> {
  const { vol, rsc, node, v1, v2 } = await twoSnapshots(pve, 201)
  const check = (await pve.call(node, 'volume_rollback_check', [vol, 'first'])) as { possible: number; blockers: string[]; error?: string }
  assert.equal(check.possible, 0)
  assert.deepEqual(check.blockers, ['second'], "the blockers qemu-server lists")
  assert.match(check.error ?? '', /newest snapshot only .*, and 'second' is newer/)
  pve.emu.resetCounters()
  await assert.rejects(pve.call(node, 'volume_snapshot_rollback', [vol, 'first'], 'void'), /newest snapshot only .*, and 'second' is newer/)
  assert.deepEqual(writeCalls(pve), [], 'refused before anything changed')
  assert.deepEqual(await pve.call(node, 'volume_rollback_check', [vol, 'second']), { possible: 1, blockers: [] })
  await pve.call(node, 'volume_snapshot_rollback', [vol, 'second'], 'void')
  assert.deepEqual(qemuRead(pve, node, rsc, 0, 4096), v2)
  await pve.call(node, 'volume_snapshot_delete', [vol, 'second', 0], 'void')
  await pve.call(node, 'volume_snapshot_rollback', [vol, 'first'], 'void')
  assert.deepEqual(qemuRead(pve, node, rsc, 0, 4096), v1)
  await pve.call(node, 'deactivate_volumes', [[vol]], 'void')
  await invariants(pve, rsc, [])
}

/** `qm template`, a linked `qm clone` on another node, PVE's own base-in-use guard, removal of both. */
async function templateAndLinkedClone(pve: PveReal): Promise<void> {
  const lv = pve.storeid
  const vol = await newDisk(pve, 'alpha', 210, 1024 * 1024)
  const node = (await nodesOf(pve, rscOf(vol))).diskful[0] as string
  await pve.call(node, 'activate_volumes', [[vol]], 'void')
  const golden = randomBytes(8192)
  qemuWrite(pve, node, rscOf(vol), 0, golden)
  await pve.call(node, 'deactivate_volumes', [[vol]], 'void')
  assert.equal(await pve.call('alpha', 'volume_has_feature', ['template', vol, null, 0]), 1)
  const base = `${lv}:base-210-disk-0`
  assert.equal(await pve.call('alpha', 'vdisk_create_base', [vol]), base)
  assert.equal(await pve.client.resourceDefinitions.get('vm-210-disk-0'), undefined, 'the vm- name is gone')
  assert.equal(await pve.call('bravo', 'vdisk_create_base', [vol]), base, 'repeating create_base converges')
  assert.equal(await pve.call('alpha', 'volume_has_feature', ['clone', base, null, 0]), 1)
  assert.equal(await pve.call('alpha', 'volume_has_feature', ['snapshot', base, null, 0]), 0, 'a template never changes')

  const clone = (await pve.call('charlie', 'vdisk_clone', [base, 211, null])) as string
  assert.equal(clone, `${lv}:base-210-disk-0/vm-211-disk-0`)
  const rsc = 'vm-211-disk-0'
  const { diskful, other } = await nodesOf(pve, rsc)
  // The clone's VM starts where the clone has no replica (the template's bytes), then where it has
  // one (the bytes it wrote).
  let expected = golden
  for (const n of [other[0] as string, diskful[0] as string]) {
    await pve.call(n, 'activate_volumes', [[clone]], 'void')
    assert.equal(await pve.call(n, 'path', [clone]), `${pve.emu.deviceRoot(n)}/dev/drbd/by-res/${rsc}/0`)
    assert.deepEqual(qemuRead(pve, n, rsc, 0, expected.length), expected, `the clone's bytes on ${n}`)
    expected = randomBytes(8192)
    qemuWrite(pve, n, rsc, 0, expected)
    await pve.call(n, 'deactivate_volumes', [[clone]], 'void')
    await invariants(pve, rsc, [])
  }
  const baseNode = (await nodesOf(pve, 'base-210-disk-0')).diskful[0] as string
  assert.deepEqual(qemuRead(pve, baseNode, 'base-210-disk-0', 0, golden.length), golden, 'the template is unchanged')
  await invariants(pve, 'base-210-disk-0', [])
  const listed = ((await pve.call('delta', 'vdisk_list', [lv, 211])) as Record<string, { volid: string; parent?: string }[]>)[lv]
  assert.deepEqual(listed?.map((i) => [i.volid, i.parent]), [[clone, 'base-210-disk-0']], 'parent is the bare base volname')
  // PVE's own guard (volume_is_base_and_used, inside the storage lock) refuses before our plugin is asked.
  const refused = await pve.request('alpha', 'vdisk_free', [base])
  assert.equal(refused.error, "base volume 'base-210-disk-0' is still in use by linked clones")
  assert.ok((await pve.client.resourceDefinitions.get('base-210-disk-0')) !== undefined, 'the base is still there')
  await pve.call('alpha', 'vdisk_free', [clone])
  await pve.call('alpha', 'vdisk_free', [base])
  assert.equal(await pve.client.resourceDefinitions.get('base-210-disk-0'), undefined)
  assert.equal(await pve.client.resourceDefinitions.get(rsc), undefined)
}

/**
 * Backups and restores of a disk as a raw+size stream: the real `pvesm export` and `pvesm import`
 * (their API handlers) through a file and through a pipe between two nodes, and
 * PVE::Storage::storage_migrate between PVE's own `dir` storage and ours, both ways (the real
 * pvesm CLI, piped). Then `qm disk reassign` (rename_volume).
 */
async function backupExportAndRestore(pve: PveReal, dirStore: string): Promise<void> {
  const lv = pve.storeid
  const vol = await newDisk(pve, 'alpha', 220, 4096)
  const rsc = rscOf(vol)
  const node = (await nodesOf(pve, rsc)).diskful[0] as string
  const data = randomBytes(1 * MiB)
  await pve.call(node, 'activate_volumes', [[vol]], 'void')
  qemuWrite(pve, node, rsc, 1 * MiB, data)
  await pve.call(node, 'deactivate_volumes', [[vol]], 'void')
  const far = (await nodesOf(pve, rsc)).other as [string, string]

  // The formats PVE negotiates.
  assert.deepEqual(await pve.call(far[0], 'volume_export_formats', [vol, null, null, 0], 'list'), ['raw+size'])
  assert.deepEqual(await pve.call(far[0], 'volume_transfer_formats', [vol, `${lv}:vm-221-disk-0`, null, null, 0], 'list'), ['raw+size'])
  assert.deepEqual(await pve.call(far[0], 'volume_transfer_formats', [vol, `${dirStore}:221/vm-221-disk-0.raw`, null, null, 0], 'list'), ['raw+size'])
  assert.deepEqual(await pve.call(far[0], 'volume_export_formats', [vol, null, null, 1], 'list'), [], 'no streams with snapshots')

  // pvesm export on a node without a replica, into a file.
  const dir = pve.dir
  const file = join(dir, 'vm-220-disk-0.raw+size')
  await pve.call(far[0], 'PVE::CLI::pvesm->export', [{ volume: vol, format: 'raw+size', filename: file }])
  const stream = readFileSync(file)
  assert.equal(stream.readBigUInt64LE(0), BigInt(4 * MiB), 'the 8-byte size header')
  assert.equal(stream.length, 8 + 4 * MiB)
  assert.deepEqual(stream.subarray(8 + MiB, 8 + 2 * MiB), data)
  await invariants(pve, rsc, [])

  // pvesm import of that file on another node without a replica; again, with and without -allow-rename.
  assert.equal(await pve.call(far[1], 'PVE::CLI::pvesm->import', [{ volume: `${lv}:vm-221-disk-0`, format: 'raw+size', filename: file }]), `${lv}:vm-221-disk-0`)
  const rnode = (await nodesOf(pve, 'vm-221-disk-0')).diskful[0] as string
  assert.deepEqual(qemuRead(pve, rnode, 'vm-221-disk-0', 1 * MiB, data.length), data)
  await invariants(pve, 'vm-221-disk-0', [])
  await assert.rejects(pve.call(far[1], 'PVE::CLI::pvesm->import', [{ volume: `${lv}:vm-221-disk-0`, format: 'raw+size', filename: file }]), /vm-221-disk-0 already exists/)
  assert.equal(await pve.call(far[1], 'PVE::CLI::pvesm->import', [{ volume: `${lv}:vm-221-disk-0`, format: 'raw+size', filename: file, 'allow-rename': 1 }]), `${lv}:vm-221-disk-1`)
  assert.deepEqual(qemuRead(pve, (await nodesOf(pve, 'vm-221-disk-1')).diskful[0] as string, 'vm-221-disk-1', 1 * MiB, data.length), data)
  await invariants(pve, 'vm-221-disk-1', [])

  // Two restores into one volume name at once (a slow controller stretches the allocation): PVE's
  // storage lock lets one allocate; the other finds the name taken and is refused, instead of
  // writing into the same LINSTOR volume.
  pve.emu.control.faults.delay(1000, { method: 'POST', path: '/spawn$', count: 2 })
  const twice = await Promise.all(far.map((n) => pve.request(n, 'PVE::CLI::pvesm->import', [{ volume: `${lv}:vm-224-disk-0`, format: 'raw+size', filename: file }])))
  pve.emu.control.faults.reset()
  assert.deepEqual(twice.map((r) => r.ok).sort(), [false, true], JSON.stringify(twice.map((r) => r.error ?? r.result)))
  assert.match(twice.find((r) => !r.ok)?.error ?? '', /vm-224-disk-0 already exists/)
  await invariants(pve, 'vm-224-disk-0', [])

  // Through a pipe, as storage_migrate streams from one node to another: export on one, import on the other.
  const fifo = join(dir, 'stream')
  execFileSync('mkfifo', [fifo])
  const [exported, imported] = await Promise.all([
    pve.call(far[0], 'PVE::CLI::pvesm->export', [{ volume: vol, format: 'raw+size', filename: fifo }]),
    pve.call(far[1], 'PVE::CLI::pvesm->import', [{ volume: `${lv}:vm-222-disk-0`, format: 'raw+size', filename: fifo }]),
  ])
  assert.equal(exported, null)
  assert.equal(imported, `${lv}:vm-222-disk-0`)
  assert.deepEqual(qemuRead(pve, (await nodesOf(pve, 'vm-222-disk-0')).diskful[0] as string, 'vm-222-disk-0', 1 * MiB, data.length), data)
  for (const r of [rsc, 'vm-222-disk-0']) await invariants(pve, r, [])

  // From PVE's dir storage onto ours and back: PVE 9's storage_migrate pipes the real
  // `pvesm export | pvesm import`; PVE 8's always pipes through ssh to the target's IP, which needs
  // a root ssh login here, so for PVE 8 the same two pvesm commands are piped by the test.
  const raw = (await pve.call('alpha', 'vdisk_alloc', [dirStore, 225, 'raw', null, 4096])) as string
  assert.equal(raw, `${dirStore}:225/vm-225-disk-0.raw`)
  const rawPath = (await pve.call('alpha', 'path', [raw])) as string
  const payload = randomBytes(512 * 1024)
  const original = Buffer.alloc(4 * MiB)
  payload.copy(original, 3 * MiB)
  writeFileSync(rawPath, original)
  const migrate = async (from: string, volid: string, to: string, target: string, allowRename: 0 | 1): Promise<string> => {
    if (pve.version === 9) return (await pve.call(from, 'storage_migrate', [volid, null, target.slice(0, target.indexOf(':')), { allow_rename: allowRename }])) as string
    const r = await pve.pvesmPipe([
      { node: from, args: ['export', volid, 'raw+size', '-', '-with-snapshots', '0'] },
      { node: to, args: ['import', target, 'raw+size', '-', '-with-snapshots', '0', '-allow-rename', String(allowRename)] },
    ])
    assert.deepEqual(r.codes, [0, 0], r.stderr.join('\n'))
    const m = /successfully imported '([^']*)'/.exec(r.stdout)
    assert.ok(m !== null, `pvesm import said: ${r.stdout}`)
    return m[1] as string
  }
  const onLv = await migrate('alpha', raw, 'bravo', `${lv}:vm-225-disk-0`, 0)
  assert.equal(onLv, `${lv}:vm-225-disk-0`)
  const lnode = (await nodesOf(pve, 'vm-225-disk-0')).diskful[0] as string
  assert.deepEqual(qemuRead(pve, lnode, 'vm-225-disk-0', 3 * MiB, payload.length), payload)
  await invariants(pve, 'vm-225-disk-0', [])
  const lfar = (await nodesOf(pve, 'vm-225-disk-0')).other[0] as string
  const back = await migrate(lfar, onLv, lfar, `${dirStore}:225/vm-225-disk-0.raw`, 1)
  assert.equal(back, `${dirStore}:225/vm-225-disk-1.raw`, 'PVE renames on its side')
  assert.deepEqual(readFileSync((await pve.call(lfar, 'path', [back])) as string), original, 'the same bytes, back on the dir storage')
  await invariants(pve, 'vm-225-disk-0', [])

  // qm disk reassign: the disk moves to VM 223 with its bytes.
  assert.equal(await pve.call('alpha', 'rename_volume', [vol, 223, null]), `${lv}:vm-223-disk-0`)
  assert.equal(await pve.client.resourceDefinitions.get(rsc), undefined)
  assert.equal((await pve.client.resourceDefinitions.get('vm-223-disk-0'))?.props['Aux/pm/vmid'], '223')
  assert.deepEqual(qemuRead(pve, (await nodesOf(pve, 'vm-223-disk-0')).diskful[0] as string, 'vm-223-disk-0', 1 * MiB, data.length), data)
  await invariants(pve, 'vm-223-disk-0', [])
}

/**
 * vzdump of a running container in snapshot mode: snapshot, mount the snapshot (map_volume of a
 * temporary view), read it while the container keeps writing, then unmap, deactivate and delete
 * the snapshot: nothing left.
 */
async function containerBackup(pve: PveReal): Promise<void> {
  const vol = await newDisk(pve, 'alpha', 230, 1024 * 1024)
  const rsc = rscOf(vol)
  const node = (await nodesOf(pve, rsc)).diskful[0] as string
  await pve.call(node, 'activate_volumes', [[vol]], 'void')
  pve.emu.control.open(node, rsc)
  const before = randomBytes(4096)
  qemuWrite(pve, node, rsc, 0, before, true)
  assert.equal(await pve.call(node, 'volume_snapshot_needs_fsfreeze', [vol]), 0)
  await pve.call(node, 'volume_snapshot', [vol, 'vzdump'], 'void')
  qemuWrite(pve, node, rsc, 0, randomBytes(4096), true) // the container keeps running and writing
  const view = 'snap_vm-230-disk-0_vzdump'
  await pve.call(node, 'activate_volumes', [[vol], 'vzdump'], 'void')
  const mapped = await pve.call(node, 'map_volume', [vol, 'vzdump'])
  assert.equal(mapped, `${pve.emu.deviceRoot(node)}/dev/drbd/by-res/${view}/0`)
  assert.equal(await pve.call(node, 'path', [vol, 'vzdump']), mapped)
  assert.deepEqual(qemuRead(pve, node, view, 0, 4096), before, 'the backup reads the snapshot, not the live disk')
  await pve.call(node, 'unmap_volume', [vol, 'vzdump'])
  await pve.call(node, 'deactivate_volumes', [[vol], 'vzdump'], 'void')
  await pve.call(node, 'volume_snapshot_delete', [vol, 'vzdump', 1], 'void')
  assert.equal(await pve.client.resourceDefinitions.get(view), undefined, 'the view is gone')
  assert.deepEqual(await pve.client.snapshots.list(rsc), [])
  pve.emu.control.close(node, rsc)
  await pve.call(node, 'deactivate_volumes', [[vol]], 'void')
  await invariants(pve, rsc, [])
}

export function dataFlows(version: PveVersion): void {
  test(`PVE ${version}, the real storage library on four nodes: snapshots, templates, backups and restores`, async (t) => {
    const dirPath = tempDir(t, 'lv-pve-dir-')
    const dirStore = 'lvdir'
    const pve = await startPveReal(t, { version, nodes: ['alpha', 'bravo', 'charlie', 'delta'], extraSections: `dir: ${dirStore}\n\tpath ${dirPath}\n\tcontent images\n\n` })
    await flow(t, 'snapshots: create, info, rollback to an older snapshot in one LINSTOR call keeping the newer one (LINSTOR 1.31+), delete', pve, () => snapshots(pve))
    await flow(t, "template and linked clone: base-N-disk-M/vm-K-disk-J with the template's bytes on any node; PVE's own guard keeps the base", pve, () => templateAndLinkedClone(pve))
    await flow(t, 'backup export and restore: pvesm export and import by file and by pipe, storage_migrate to and from a dir storage, disk reassign', pve, () => backupExportAndRestore(pve, dirStore))
    await flow(t, 'container backup in snapshot mode: snapshot, map the snapshot (a temporary view), read it, then clean up everything', pve, () => containerBackup(pve))
  })
  test(`PVE ${version}, the real storage library, LINSTOR 1.29: a rollback past a newer snapshot is refused up front with the newer one as PVE's blocker`, async (t) => {
    const pve = await startPveReal(t, { version, emulator: { version: '1.29.0' } })
    await snapshotsOn129(pve)
  })
}
