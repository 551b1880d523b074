/**
 * Issue 19 in Proxmox VE's REAL storage library (PVE 8 and PVE 9, test/proxmox/pve-real.ts),
 * through PVE::Storage's own entry points, the real plugin loader and a real agent, against the
 * emulator:
 *
 * - volnames that differ only in case (PVE accepts both) never reach one LINSTOR resource: the
 *   second allocation is refused naming both, and freeing, resizing or snapshotting the alias
 *   touches nothing; snapshot names likewise (Snap1 / snap1);
 * - a linked clone is <base>/<own name>, so PVE's own volume_is_base_and_used refuses to free the
 *   template while the clone exists (PVE's message, not ours); vdisk_list reports the parent as
 *   the bare base volname; the clone can be activated, snapshotted, exported and reassigned;
 * - a clone made before this change (a plain vm- name with its base in a property) keeps working,
 *   and its base cannot be freed either (the program refuses: PVE cannot see that clone).
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import { MiB } from '../../core/volumes/index.js'
import { tempDir } from '../helpers/core.js'
import { startPveReal } from './pve-real.js'
import type { PveReal, PveVersion } from './pve-real.js'

const PLATFORM_NAME = 'Aux/linstor-virt/platform-name'

/** The resource definitions of VM `vmid`, as LINSTOR spells them, with the name each records. */
async function volumesOf(pve: PveReal, vmid: number): Promise<string[]> {
  const rds = await pve.client.resourceDefinitions.list()
  return rds
    .filter((rd) => rd.props['Aux/pm/vmid'] === String(vmid))
    .map((rd) => `${rd.name}=${rd.props[PLATFORM_NAME] ?? '-'}`)
    .sort()
}

async function caseVariants(t: TestContext, version: PveVersion): Promise<void> {
  const pve = await startPveReal(t, { version })
  const lv = pve.storeid
  // The real loader registered our plugin (type linstor) in the API window of this PVE.
  const plugins = pve.nodes['alpha']?.boot['custom_plugins'] as { type?: string; registered?: number }[]
  assert.ok(plugins.some((p) => p.type === 'linstor' && p.registered === 1), JSON.stringify(plugins))

  assert.equal(await pve.call('alpha', 'vdisk_alloc', [lv, 9610, null, 'vm-9610-disk-0', 4096]), `${lv}:vm-9610-disk-0`)
  const node = (await pve.client.view.resources({ resources: ['vm-9610-disk-0'] })).find((r) => !r.flags.includes('DRBD_DISKLESS'))?.node_name as string
  await pve.call(node, 'activate_volumes', [[`${lv}:vm-9610-disk-0`]], 'void')
  const data = randomBytes(64 * 1024)
  pve.emu.control.open(node, 'vm-9610-disk-0')
  pve.emu.control.write(node, 'vm-9610-disk-0', 0, 0, data)
  pve.emu.control.close(node, 'vm-9610-disk-0')
  await pve.call(node, 'deactivate_volumes', [[`${lv}:vm-9610-disk-0`]], 'void')

  // PVE accepts the name; LINSTOR would find vm-9610-disk-0 under it (same size: nothing else tells them apart).
  const alloc = await pve.request('alpha', 'vdisk_alloc', [lv, 9610, null, 'vm-9610-DISK-0', 4096])
  assert.equal(alloc.ok, false, 'allocating a case variant must not return success')
  assert.match(alloc.error ?? '', /volume vm-9610-DISK-0 cannot be used: LINSTOR resource vm-9610-disk-0 belongs to vm-9610-disk-0/)
  assert.deepEqual(await volumesOf(pve, 9610), ['vm-9610-disk-0=vm-9610-disk-0'], 'one volume, recording its exact volname')

  // Nothing done through the alias reaches the other disk.
  const size = await pve.request('alpha', 'volume_size_info', [`${lv}:vm-9610-DISK-0`, 5])
  assert.equal(size.ok, false, `volume_size_info of the alias answered ${JSON.stringify(size.result)}`)
  assert.match(size.error ?? '', /vm-9610-DISK-0 cannot be used/)
  const free = await pve.request('alpha', 'vdisk_free', [`${lv}:vm-9610-DISK-0`])
  assert.equal(free.ok, false, 'freeing the alias must be refused')
  assert.match(free.error ?? '', /vm-9610-DISK-0 cannot be used: LINSTOR resource vm-9610-disk-0 belongs to vm-9610-disk-0/)
  assert.match((await pve.request('alpha', 'volume_resize', [`${lv}:vm-9610-DISK-0`, 64 * MiB, 0])).error ?? '', /cannot be used/)
  assert.match((await pve.request('alpha', 'volume_snapshot', [`${lv}:vm-9610-DISK-0`, 'x1'], 'void')).error ?? '', /cannot be used/)
  assert.match((await pve.request('bravo', 'activate_volumes', [[`${lv}:vm-9610-DISK-0`]], 'void')).error ?? '', /cannot be used/)
  assert.deepEqual(await volumesOf(pve, 9610), ['vm-9610-disk-0=vm-9610-disk-0'])
  assert.equal(await pve.call('alpha', 'volume_size_info', [`${lv}:vm-9610-disk-0`, 5]), 4 * MiB, 'the disk kept its size')
  pve.emu.control.open(node, 'vm-9610-disk-0')
  assert.deepEqual(pve.emu.control.read(node, 'vm-9610-disk-0', 0, 0, data.length), data, 'and its data')
  pve.emu.control.close(node, 'vm-9610-disk-0')

  // Snapshot names: Snap1 and snap1 are one LINSTOR snapshot.
  await pve.call('alpha', 'volume_snapshot', [`${lv}:vm-9610-disk-0`, 'Snap1'], 'void')
  assert.match((await pve.request('alpha', 'volume_snapshot', [`${lv}:vm-9610-disk-0`, 'snap1'], 'void')).error ?? '', /snapshot snap1 cannot be used: LINSTOR snapshot Snap1 of vm-9610-disk-0 belongs to Snap1/)
  assert.match((await pve.request('alpha', 'volume_snapshot_delete', [`${lv}:vm-9610-disk-0`, 'snap1', 0], 'void')).error ?? '', /snapshot snap1 cannot be used/)
  assert.equal((await pve.request('alpha', 'volume_rollback_is_possible', [`${lv}:vm-9610-disk-0`, 'snap1'])).ok, false)
  const snaps = (await pve.client.view.snapshots({ resources: ['vm-9610-disk-0'] })).map((s) => `${s.name}=${s.snapshot_definition_props[PLATFORM_NAME] ?? '-'}`)
  assert.deepEqual(snaps, ['Snap1=Snap1'], 'the snapshot is still there, recording its PVE name')
  assert.deepEqual(await pve.call('alpha', 'volume_rollback_is_possible', [`${lv}:vm-9610-disk-0`, 'Snap1']), { possible: 1, blockers: [] })
  await pve.call('alpha', 'volume_snapshot_delete', [`${lv}:vm-9610-disk-0`, 'Snap1', 0], 'void')

  // A different disk in any other spelling is its own volume; vdisk_list shows each once.
  assert.equal(await pve.call('alpha', 'vdisk_alloc', [lv, 9610, null, `vm-9610-STATE-${'x'.repeat(40)}`, 4096]), `${lv}:vm-9610-STATE-${'x'.repeat(40)}`)
  const list = (await pve.call('alpha', 'vdisk_list', [lv, 9610])) as Record<string, { volid: string }[]>
  assert.deepEqual((list[lv] ?? []).map((i) => i.volid).sort(), [`${lv}:vm-9610-STATE-${'x'.repeat(40)}`, `${lv}:vm-9610-disk-0`])

  // The real disk frees; its alias stays refused and has nothing to free afterwards either.
  await pve.call('alpha', 'vdisk_free', [`${lv}:vm-9610-disk-0`])
  await pve.call('alpha', 'vdisk_free', [`${lv}:vm-9610-STATE-${'x'.repeat(40)}`])
  assert.deepEqual(await volumesOf(pve, 9610), [])
}

async function linkedClones(t: TestContext, version: PveVersion): Promise<void> {
  const pve = await startPveReal(t, { version })
  const lv = pve.storeid
  const vol = (await pve.call('alpha', 'vdisk_alloc', [lv, 9100, null, null, 4096])) as string
  assert.equal(vol, `${lv}:vm-9100-disk-0`)
  const base = await pve.call('alpha', 'vdisk_create_base', [vol])
  assert.equal(base, `${lv}:base-9100-disk-0`)
  const clone = await pve.call('alpha', 'vdisk_clone', [base, 9101, null])
  assert.equal(clone, `${lv}:base-9100-disk-0/vm-9101-disk-0`, "PVE's linked-clone volname")
  assert.deepEqual(await pve.call('alpha', 'parse_volname', [clone], 'list'), ['images', 'vm-9101-disk-0', '9101', 'base-9100-disk-0', '9100', 0, 'raw'])
  assert.equal(await pve.call('alpha', 'volume_is_base_and_used', [base]), 1, "PVE's own check sees the base in use")
  const listed = (await pve.call('bravo', 'vdisk_list', [lv, 9101])) as Record<string, { volid: string; parent?: string; vmid: number }[]>
  assert.deepEqual(listed[lv]?.map((i) => [i.volid, i.parent, Number(i.vmid)]), [[clone, 'base-9100-disk-0', 9101]], 'parent is the bare base volname')

  // PVE itself refuses to free the base (its message; ours would list the clones).
  const refused = await pve.request('alpha', 'vdisk_free', [base])
  assert.equal(refused.ok, false)
  assert.equal(refused.error, "base volume 'base-9100-disk-0' is still in use by linked clones")
  assert.ok((await pve.client.resourceDefinitions.get('base-9100-disk-0')) !== undefined, 'the base is still there')

  // The clone works as a disk: activation and its path, a snapshot, an export (what backups stream).
  await pve.call('bravo', 'activate_volumes', [[clone]], 'void')
  const path = (await pve.call('bravo', 'path', [clone], 'list')) as string[]
  assert.deepEqual(path.slice(0, 2), [`${pve.emu.deviceRoot('bravo')}/dev/drbd/by-res/vm-9101-disk-0/0`, '9101'])
  await pve.call('bravo', 'deactivate_volumes', [[clone]], 'void')
  await pve.call('alpha', 'volume_snapshot', [clone, 'before'], 'void')
  assert.deepEqual(await pve.call('alpha', 'volume_rollback_is_possible', [clone, 'before']), { possible: 1, blockers: [] })
  await pve.call('alpha', 'volume_snapshot_rollback', [clone, 'before'], 'void')
  const mapped = await pve.call('alpha', 'map_volume', [clone, 'before'])
  assert.match(String(mapped), /\/dev\/drbd\/by-res\/snap_vm-9101-disk-0_before\/0$/)
  await pve.call('alpha', 'unmap_volume', [clone, 'before'], 'void')
  await pve.call('alpha', 'deactivate_volumes', [[clone], 'before'], 'void')
  await pve.call('alpha', 'volume_snapshot_delete', [clone, 'before', 0], 'void')
  const out = join(tempDir(t, 'lv-pve-export-'), 'clone.raw')
  assert.equal(await pve.call('alpha', 'volume_export_file', [out, clone, null]), 8 + 4 * MiB)
  assert.equal(readFileSync(out).readBigUInt64LE(0), BigInt(4 * MiB), 'raw+size header')

  // Reassigning the clone to another VM keeps it a linked clone of the same base.
  const moved = await pve.call('alpha', 'rename_volume', [clone, 9102, null])
  assert.equal(moved, `${lv}:base-9100-disk-0/vm-9102-disk-0`)
  assert.equal(await pve.call('alpha', 'volume_is_base_and_used', [base]), 1)
  assert.equal((await pve.request('alpha', 'vdisk_free', [base])).error, "base volume 'base-9100-disk-0' is still in use by linked clones")

  // A clone made before this change: a plain vm- name, its base only in a property.
  await pve.client.resourceDefinitions.clone('base-9100-disk-0', { name: 'vm-9201-disk-0', override_props: { 'Aux/pm/vmid': '9201', 'Aux/linstor-virt/pve-parent': 'base-9100-disk-0', 'Aux/linstor-virt/created-by': 'linstor-virt' }, delete_props: [PLATFORM_NAME] })
  for (let i = 0; i < 100 && (await pve.client.resourceDefinitions.cloneStatus('base-9100-disk-0', 'vm-9201-disk-0')) === 'CLONING'; i++) await new Promise((r) => setTimeout(r, 50))
  const old = `${lv}:vm-9201-disk-0`
  const oldList = (await pve.call('alpha', 'vdisk_list', [lv, 9201])) as Record<string, { volid: string; parent?: string }[]>
  assert.deepEqual(oldList[lv]?.map((i) => [i.volid, i.parent]), [[old, 'base-9100-disk-0']])
  await pve.call('alpha', 'activate_volumes', [[old]], 'void')
  await pve.call('alpha', 'deactivate_volumes', [[old]], 'void')
  await pve.call('alpha', 'volume_snapshot', [old, 'keep'], 'void')
  await pve.call('alpha', 'volume_snapshot_delete', [old, 'keep', 0], 'void')

  // Free the new-style clone: PVE no longer sees the base in use, but the old clone still uses it.
  await pve.call('alpha', 'vdisk_free', [moved])
  assert.equal(await pve.call('alpha', 'volume_is_base_and_used', [base]), 0, 'PVE cannot see a clone without the base prefix')
  const guarded = await pve.request('alpha', 'vdisk_free', [base])
  assert.equal(guarded.ok, false)
  assert.match(guarded.error ?? '', /base volume 'base-9100-disk-0' is still in use by linked clones: vm-9201-disk-0/)
  await pve.call('alpha', 'vdisk_free', [old])
  await pve.call('alpha', 'vdisk_free', [base])
  assert.deepEqual([...(await volumesOf(pve, 9100)), ...(await volumesOf(pve, 9101)), ...(await volumesOf(pve, 9102))], [])
}

// No skip when the sources are missing: the shared folder is part of the project's environment,
// and startPveReal fails naming what is missing.
for (const version of [8, 9] as const) {
  test(`PVE ${version}: case variants of a volname or snapshot name are refused naming both, and never free, resize or snapshot the other disk`, (t) => caseVariants(t, version))
  test(`PVE ${version}: linked clones are <base>/<own name>, PVE's volume_is_base_and_used refuses to free their base, and older clones keep working`, (t) => linkedClones(t, version))
}
