/**
 * The Proxmox adapter end to end: the real Perl shim (plugins/proxmox/perl), loaded by Debian's
 * perl with the project's stand-in PVE modules, driven method by method in the order Proxmox calls
 * them (test/proxmox/drive.pl runs one method per process), forwarding over a real agent socket to
 * the TypeScript operations, against the emulator. A "node" is a PVE node name plus that node's
 * device root in the emulator; QEMU opening and closing a disk is the emulator's control.open/close.
 * Every scenario ends with the invariants: no unused diskless client, no dual-primary, no
 * migration record, and the bytes written still there.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import { startAgent } from '../../cli/agent/server.js'
import { buildDispatcher } from '../../cli/dispatcher.js'
import type { LinstorClient } from '../../core/linstor/index.js'
import { silentLogger } from '../../core/log/index.js'
import { GiB, MiB } from '../../core/volumes/index.js'
import type { RunningEmulator } from '../../emulator/index.js'
import { clientFor, withEmulator } from '../emulator/helpers.js'
import { tempDir } from '../helpers/core.js'
import { repoRoot } from '../helpers/paths.js'
import { boundedBy } from '../helpers/bounds.js'

const root = repoRoot()
const ALLOW = 'DrbdOptions/Net/allow-two-primaries'
const MIGRATION = 'Aux/linstor-virt/migration'

interface Pve {
  emu: RunningEmulator
  client: LinstorClient
  /** Runs one plugin method through the shim as PVE node `node`; resolves to its result or rejects with the die text. */
  call(node: string, method: string, args: unknown[], env?: Record<string, string>): Promise<unknown>
  dir: string
}

async function pveCluster(t: TestContext, scfg: Record<string, unknown> = {}, token?: string, version?: string): Promise<Pve> {
  const emu = await withEmulator(t, { cloneDurationMs: 50, ...(token !== undefined ? { token } : {}), ...(version !== undefined ? { version } : {}) })
  const client = clientFor(t, emu, { timeoutMs: 10_000, ...(token !== undefined ? { token } : {}) })
  const dir = tempDir(t, 'lv-pve-')
  process.env['LINSTOR_VIRT_LOCK_DIR'] = join(dir, 'locks')
  mkdirSync(join(dir, 'priv'), { mode: 0o700 }) // /etc/pve/priv exists on every PVE node
  const socketPath = join(dir, 'agent.sock')
  const agent = await startAgent({ socketPath, dispatcher: buildDispatcher(silentLogger()), logger: silentLogger() })
  t.after(() => agent.close())
  const section = JSON.stringify({ 'linstor-controllers': emu.url, 'linstor-place-count': 2, content: 'images,rootdir', ...scfg })
  const call = (node: string, method: string, args: unknown[], env: Record<string, string> = {}): Promise<unknown> =>
    new Promise((resolve, reject) => {
      execFile(
        'perl',
        ['-I', join(root, 'test/proxmox/lib'), '-I', join(root, 'plugins/proxmox/perl'), join(root, 'test/proxmox/drive.pl'), method, JSON.stringify(args)],
        {
          env: {
            PATH: process.env['PATH'] ?? '/usr/bin:/bin',
            LV_PVE_SCFG: section,
            LV_PVE_STOREID: 'drbdstore',
            LV_PVE_NODENAME: node,
            LINSTOR_VIRT_DEVICE_ROOT: emu.deviceRoot(node),
            LINSTOR_VIRT_AGENT_SOCKET: socketPath,
            LINSTOR_VIRT_PVE_PRIV_DIR: join(dir, 'priv'),
            ...env,
          },
          timeout: 120_000,
        },
        (err, stdout, stderr) => {
          if (err !== null) return reject(new Error(`drive.pl ${method} failed: ${err.message}\n${stderr}`))
          const reply = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { result?: unknown; error?: string }
          if (reply.error !== undefined) reject(new Error(reply.error))
          else resolve(reply.result)
        },
      )
    })
  return { emu, client, call, dir }
}

/** QEMU writes through the device on `node` (it must have the disk open). */
function write(p: Pve, node: string, rsc: string, offset: number, data: Buffer): void {
  p.emu.control.write(node, rsc, 0, offset, data)
}

function read(p: Pve, node: string, rsc: string, offset: number, length: number): Buffer {
  return p.emu.control.read(node, rsc, 0, offset, length)
}

/** The steady state between operations: what users judge a plugin by. */
async function invariants(p: Pve, rsc: string, primaries: string[]): Promise<void> {
  const view = await p.client.view.resources({ resources: [rsc] })
  const rd = await p.client.resourceDefinitions.get(rsc)
  assert.ok(rd !== undefined, `${rsc} exists`)
  const roles = p.emu.control.roles(rsc)
  assert.deepEqual(Object.entries(roles).filter(([, r]) => r === 'Primary').map(([n]) => n).sort(), [...primaries].sort(), `Primary only on ${primaries.join(', ') || 'no node'}`)
  assert.equal(rd.props[MIGRATION], undefined, 'no migration record left')
  assert.equal(rd.props[ALLOW], undefined, 'no allow-two-primaries on the definition')
  for (const c of await p.client.resourceDefinitions.connections(rsc)) assert.equal(c.props[ALLOW], undefined, `no allow-two-primaries on ${c.node_a}-${c.node_b}`)
  const idle = view.filter((r) => r.flags.includes('DRBD_DISKLESS') && !r.flags.includes('TIE_BREAKER') && r.state?.in_use !== true)
  assert.deepEqual(idle.map((r) => r.node_name), [], 'no unused diskless client')
  assert.equal(view.filter((r) => !r.flags.includes('DRBD_DISKLESS')).length, 2, 'two diskful replicas')
}

async function nodesOf(p: Pve, rsc: string): Promise<{ diskful: string[]; other: string[] }> {
  const view = await p.client.view.resources({ resources: [rsc] })
  const diskful = view.filter((r) => !r.flags.includes('DRBD_DISKLESS')).map((r) => r.node_name)
  return { diskful, other: ['alpha', 'bravo', 'charlie', 'delta'].filter((n) => !diskful.includes(n)) }
}

test('GUI disk creation: status, then alloc_image with a free name, preferring the local node, listed with its size and VM id', async (t) => {
  const p = await pveCluster(t)
  const [total, avail, used, active] = (await p.call('alpha', 'status', [{}])) as number[]
  assert.equal(active, 1)
  assert.ok((total ?? 0) >= 100 * GiB && (avail ?? 0) > 0 && (used ?? -1) >= 0, `status ${total} ${avail} ${used}`)
  assert.equal(await p.call('alpha', 'alloc_image', [100, 'raw', null, 4 * 1024 * 1024]), 'vm-100-disk-0')
  assert.equal(await p.call('alpha', 'alloc_image', [100, 'raw', '', 1024]), 'vm-100-disk-1')
  assert.equal(await p.call('alpha', 'alloc_image', [100, 'raw', 'vm-100-cloudinit', 4096]), 'vm-100-cloudinit')
  assert.equal(await p.call('bravo', 'alloc_image', [100, 'raw', 'vm-100-cloudinit', 4096]), 'vm-100-cloudinit', 'cloud-init re-allocation by name returns the existing one')
  const rd = await p.client.resourceDefinitions.get('vm-100-disk-0')
  assert.equal(rd?.props['Aux/pm/vmid'], '100')
  assert.ok((await nodesOf(p, 'vm-100-disk-0')).diskful.includes('alpha'), 'one replica on the allocating node')
  const list = (await p.call('bravo', 'list_images', [100, null, {}])) as { volid: string; size: number; vmid: number; format: string }[]
  assert.deepEqual(list.map((i) => [i.volid, i.format, Number(i.vmid)]), [['drbdstore:vm-100-cloudinit', 'raw', 100], ['drbdstore:vm-100-disk-0', 'raw', 100], ['drbdstore:vm-100-disk-1', 'raw', 100]])
  assert.equal(list.find((i) => i.volid.endsWith('disk-0'))?.size, 4 * GiB)
  assert.equal(list.find((i) => i.volid.endsWith('disk-1'))?.size, 3 * MiB, 'tiny disks (EFI vars) get the 3 MiB minimum')
  await assert.rejects(p.call('alpha', 'alloc_image', [100, 'qcow2', null, 1024]), /raw block devices only/)
  await assert.rejects(p.call('alpha', 'alloc_image', [100, 'raw', 'vm-101-disk-0', 1024]), /belongs to VM 101/)
})

test('VM start and stop on a node without a replica: a diskless client for the run, removed at stop; data stays', async (t) => {
  const p = await pveCluster(t)
  const vol = (await p.call('alpha', 'alloc_image', [100, 'raw', null, 1024 * 1024])) as string
  const { other } = await nodesOf(p, vol)
  const host = other[0] as string
  const path = (await p.call(host, 'activate_volume', [vol, null, {}, {}])) ?? (await p.call(host, 'path', [vol, null]))
  assert.equal(await p.call(host, 'path', [vol, null]), `${p.emu.deviceRoot(host)}/dev/drbd/by-res/${vol}/0`)
  void path
  p.emu.control.open(host, vol)
  const data = randomBytes(64 * 1024)
  write(p, host, vol, 1 * MiB, data)
  p.emu.control.close(host, vol)
  await p.call(host, 'deactivate_volume', [vol, null, {}])
  await invariants(p, vol, [])
  const { diskful } = await nodesOf(p, vol)
  p.emu.control.open(diskful[0] as string, vol)
  assert.deepEqual(read(p, diskful[0] as string, vol, 1 * MiB, data.length), data)
  p.emu.control.close(diskful[0] as string, vol)
  // Deactivating on a node with a diskful replica never removes it.
  await p.call(diskful[0] as string, 'deactivate_volume', [vol, null, {}])
  await invariants(p, vol, [])
})

test('live migration both ways and to a third node: dual-primary only during the move, nothing copied, no client left', async (t) => {
  const p = await pveCluster(t)
  const vol = (await p.call('alpha', 'alloc_image', [100, 'raw', null, 1024 * 1024])) as string
  const { diskful, other } = await nodesOf(p, vol)
  const [d0] = diskful as [string]
  const [x, y] = other as [string, string]
  const data = randomBytes(128 * 1024)
  await p.call(d0, 'activate_volume', [vol, null, {}, {}])
  p.emu.control.open(d0, vol)
  write(p, d0, vol, 0, data)

  // d0 (diskful) → x (no replica): qm start --migratedfrom on x, then the source stops and cleans up.
  const move = async (from: string, to: string): Promise<void> => {
    await p.call(to, 'activate_volume', [vol, null, {}, {}])
    const conn = (await p.client.resourceDefinitions.connections(vol)).find((c) => [c.node_a, c.node_b].sort().join() === [from, to].sort().join())
    assert.equal(conn?.props[ALLOW], 'yes', `dual-primary allowed for ${from}↔${to} while moving`)
    p.emu.control.open(to, vol) // both open during the hand-over
    p.emu.control.close(from, vol)
    await p.call(from, 'deactivate_volume', [vol, null, {}])
    await invariants(p, vol, [to])
    assert.deepEqual(read(p, to, vol, 0, data.length), data, `data readable on ${to}`)
  }
  await move(d0, x)
  await move(x, y) // diskless to diskless: a third node
  await move(y, d0) // and back home
  p.emu.control.close(d0, vol)
  await p.call(d0, 'deactivate_volume', [vol, null, {}])
  await invariants(p, vol, [])
  const counters = await (await fetch(`${p.emu.url}/x-emulator/counters`)).json() as Record<string, number>
  assert.equal(Object.keys(counters).filter((k) => /clone|snapshot/.test(k)).length, 0, 'nothing copied')
})

test('a failed migration: the target deactivates after its start failed; no client, no dual-primary, the source keeps running', async (t) => {
  const p = await pveCluster(t)
  const vol = (await p.call('alpha', 'alloc_image', [100, 'raw', null, 1024 * 1024])) as string
  const { diskful, other } = await nodesOf(p, vol)
  const src = diskful[0] as string
  const dst = other[0] as string
  await p.call(src, 'activate_volume', [vol, null, {}, {}])
  p.emu.control.open(src, vol)
  await p.call(dst, 'activate_volume', [vol, null, {}, {}])
  // QEMU on the target never opened the disk; PVE's start rollback deactivates it there.
  await p.call(dst, 'deactivate_volume', [vol, null, {}])
  await invariants(p, vol, [src])
  // A later migration to the same node works.
  await p.call(dst, 'activate_volume', [vol, null, {}, {}])
  p.emu.control.open(dst, vol)
  p.emu.control.close(src, vol)
  await p.call(src, 'deactivate_volume', [vol, null, {}])
  await invariants(p, vol, [dst])
})

/** A volume with snapshots 'first' (bytes v1) and 'second' (v2) and newer data after them. */
async function twoSnapshots(p: Pve): Promise<{ vol: string; node: string; v1: Buffer; v2: Buffer }> {
  const vol = (await p.call('alpha', 'alloc_image', [100, 'raw', null, 1024 * 1024])) as string
  const node = (await nodesOf(p, vol)).diskful[0] as string
  await p.call(node, 'activate_volume', [vol, null, {}, {}])
  p.emu.control.open(node, vol)
  const v1 = randomBytes(4096)
  const v2 = randomBytes(4096)
  write(p, node, vol, 0, v1)
  p.emu.control.close(node, vol)
  await p.call(node, 'volume_snapshot', [vol, 'first'])
  p.emu.control.open(node, vol)
  write(p, node, vol, 0, v2)
  p.emu.control.close(node, vol)
  await p.call(node, 'volume_snapshot', [vol, 'second'])
  p.emu.control.open(node, vol)
  write(p, node, vol, 0, randomBytes(4096))
  p.emu.control.close(node, vol)
  return { vol, node, v1, v2 }
}

test('snapshots: create, info, rollback to an older snapshot in one LINSTOR call keeping the newer one (LINSTOR 1.31+), delete', async (t) => {
  const p = await pveCluster(t)
  const { vol, node, v1, v2 } = await twoSnapshots(p)
  const info = (await p.call(node, 'volume_snapshot_info', [vol])) as Record<string, { id: number; timestamp: number }>
  assert.deepEqual(Object.keys(info).sort(), ['first', 'second'])
  assert.ok((info['second']?.id ?? 0) > (info['first']?.id ?? 0))
  assert.equal(await p.call(node, 'volume_rollback_is_possible', [vol, 'first']), 1)
  p.emu.resetCounters()
  await p.call(node, 'volume_snapshot_rollback', [vol, 'first'])
  const writes = Object.entries(p.emu.counters()).filter(([k]) => !k.startsWith('GET '))
  assert.deepEqual(writes, [['POST /v1/resource-definitions/{resource}/snapshot-rollback/{snapshot}', 1]])
  p.emu.control.open(node, vol)
  assert.deepEqual(read(p, node, vol, 0, 4096), v1)
  p.emu.control.close(node, vol)
  assert.deepEqual(Object.keys((await p.call(node, 'volume_snapshot_info', [vol])) as object).sort(), ['first', 'second'])
  await p.call(node, 'volume_snapshot_rollback', [vol, 'second'])
  p.emu.control.open(node, vol)
  assert.deepEqual(read(p, node, vol, 0, 4096), v2)
  p.emu.control.close(node, vol)
  await p.call(node, 'volume_snapshot_delete', [vol, 'second', 0])
  await p.call(node, 'volume_snapshot_rollback', [vol, 'first'])
  await p.call(node, 'deactivate_volume', [vol, null, {}])
  await invariants(p, vol, [])
})

test('snapshots on LINSTOR 1.29: a rollback past a newer snapshot is refused up front naming it; the newest rolls back', async (t) => {
  const p = await pveCluster(t, {}, undefined, '1.29.0')
  const { vol, node, v1, v2 } = await twoSnapshots(p)
  await assert.rejects(p.call(node, 'volume_rollback_is_possible', [vol, 'first']), /newest snapshot only .*, and 'second' is newer/)
  await assert.rejects(p.call(node, 'volume_snapshot_rollback', [vol, 'first']), /newest snapshot only .*, and 'second' is newer/)
  assert.equal(await p.call(node, 'volume_rollback_is_possible', [vol, 'second']), 1)
  await p.call(node, 'volume_snapshot_rollback', [vol, 'second'])
  p.emu.control.open(node, vol)
  assert.deepEqual(read(p, node, vol, 0, 4096), v2)
  p.emu.control.close(node, vol)
  await p.call(node, 'volume_snapshot_delete', [vol, 'second', 0])
  await p.call(node, 'volume_snapshot_rollback', [vol, 'first'])
  p.emu.control.open(node, vol)
  assert.deepEqual(read(p, node, vol, 0, 4096), v1)
  p.emu.control.close(node, vol)
  await p.call(node, 'deactivate_volume', [vol, null, {}])
  await invariants(p, vol, [])
})

test('template and linked clone: create_base renames to base-, clone_image makes an independent disk for another VM', async (t) => {
  const p = await pveCluster(t)
  const vol = (await p.call('alpha', 'alloc_image', [200, 'raw', null, 1024 * 1024])) as string
  const node = (await nodesOf(p, vol)).diskful[0] as string
  await p.call(node, 'activate_volume', [vol, null, {}, {}])
  p.emu.control.open(node, vol)
  const golden = randomBytes(8192)
  write(p, node, vol, 0, golden)
  p.emu.control.close(node, vol)
  await p.call(node, 'deactivate_volume', [vol, null, {}])
  assert.deepEqual(await p.call('alpha', 'volume_has_feature', ['template', vol, null, 0]), 1)
  const base = await p.call('alpha', 'create_base', [vol])
  assert.equal(base, 'base-200-disk-0')
  assert.equal(await p.client.resourceDefinitions.get(vol), undefined, 'the vm- name is gone')
  assert.deepEqual(await p.call('alpha', 'create_base', [vol]).catch(() => 'refused'), 'base-200-disk-0', 'repeating create_base converges')
  assert.equal(await p.call('alpha', 'volume_has_feature', ['clone', 'base-200-disk-0', null, 0]), 1)
  const clone = (await p.call('alpha', 'clone_image', ['base-200-disk-0', 201, null])) as string
  assert.equal(clone, 'base-200-disk-0/vm-201-disk-0', "PVE's linked-clone volname: <base>/<own name>")
  const rsc = 'vm-201-disk-0'
  const cnode = (await nodesOf(p, rsc)).diskful[0] as string
  assert.equal(await p.call(cnode, 'activate_volume', [clone, null, {}, {}]), 1)
  assert.equal(await p.call(cnode, 'path', [clone, null]), `${p.emu.deviceRoot(cnode)}/dev/drbd/by-res/${rsc}/0`)
  p.emu.control.open(cnode, rsc)
  assert.deepEqual(read(p, cnode, rsc, 0, golden.length), golden)
  write(p, cnode, rsc, 0, randomBytes(8192))
  p.emu.control.close(cnode, rsc)
  await p.call(cnode, 'deactivate_volume', [clone, null, {}])
  await invariants(p, rsc, [])
  await invariants(p, 'base-200-disk-0', [])
  const list = (await p.call('alpha', 'list_images', [201, null, {}])) as { volid: string; parent?: string }[]
  assert.deepEqual(list.map((i) => [i.volid, i.parent]), [['drbdstore:base-200-disk-0/vm-201-disk-0', 'base-200-disk-0']], 'parent is the bare base volname')
  // PVE's own guard (volume_is_base_and_used) is not in these stand-ins: the program refuses too.
  await assert.rejects(p.call('alpha', 'free_image', ['base-200-disk-0', 1, 'raw']), /base volume 'base-200-disk-0' is still in use by linked clones: base-200-disk-0\/vm-201-disk-0/)
  assert.ok((await p.client.resourceDefinitions.get('base-200-disk-0')) !== undefined, 'the base is still there')
  await p.call('alpha', 'free_image', [clone, 0, 'raw'])
  await p.call('alpha', 'free_image', ['base-200-disk-0', 1, 'raw'])
  assert.equal(await p.client.resourceDefinitions.get('base-200-disk-0'), undefined)
})

test('backup export and restore in raw+size, and disk reassign to another VM', async (t) => {
  const p = await pveCluster(t)
  const vol = (await p.call('alpha', 'alloc_image', [300, 'raw', null, 4096])) as string
  const node = (await nodesOf(p, vol)).diskful[0] as string
  await p.call(node, 'activate_volume', [vol, null, {}, {}])
  p.emu.control.open(node, vol)
  const data = randomBytes(1 * MiB)
  write(p, node, vol, 1 * MiB, data)
  p.emu.control.close(node, vol)
  await p.call(node, 'deactivate_volume', [vol, null, {}])
  assert.deepEqual(await p.call('charlie', 'volume_export_formats', [vol, null, null, 0]), ['raw+size'])
  const file = join(p.dir, 'export.raw')
  await p.call('charlie', 'volume_export', [vol, 'raw+size', null, null, 0], { LV_PVE_EXPORT_FILE: file })
  const stream = readFileSync(file)
  assert.equal(stream.readBigUInt64LE(0), BigInt(4 * MiB))
  assert.equal(stream.length, 8 + 4 * MiB)
  assert.deepEqual(stream.subarray(8 + MiB, 8 + 2 * MiB), data)
  await invariants(p, vol, [])

  const restored = await p.call('delta', 'volume_import', ['vm-301-disk-0', 'raw+size', null, null, 0, 0], { LV_PVE_IMPORT_FILE: file })
  assert.equal(restored, 'drbdstore:vm-301-disk-0')
  const rnode = (await nodesOf(p, 'vm-301-disk-0')).diskful[0] as string
  p.emu.control.open(rnode, 'vm-301-disk-0')
  assert.deepEqual(read(p, rnode, 'vm-301-disk-0', 1 * MiB, data.length), data)
  p.emu.control.close(rnode, 'vm-301-disk-0')
  await invariants(p, 'vm-301-disk-0', [])

  const moved = await p.call('alpha', 'rename_volume', [vol, 302, null])
  assert.equal(moved, 'drbdstore:vm-302-disk-0')
  assert.equal(await p.client.resourceDefinitions.get(vol), undefined)
  const mnode = (await nodesOf(p, 'vm-302-disk-0')).diskful[0] as string
  p.emu.control.open(mnode, 'vm-302-disk-0')
  assert.deepEqual(read(p, mnode, 'vm-302-disk-0', 1 * MiB, data.length), data)
  p.emu.control.close(mnode, 'vm-302-disk-0')
  assert.equal((await p.client.resourceDefinitions.get('vm-302-disk-0'))?.props['Aux/pm/vmid'], '302')
})

test("linstor-proxmox's volumes are adopted: listed under their pm- name, reassigned by property, snapshots kept", async (t) => {
  const p = await pveCluster(t, { 'linstor-resource-group': 'pvegrp', 'linstor-place-count': undefined })
  await p.client.resourceGroups.create({ name: 'pvegrp', select_filter: { place_count: 2 } })
  await p.client.resourceGroups.spawn('pvegrp', { resource_definition_name: 'pm-1a2b3c4d', volume_sizes: [1024 * 1024] })
  await p.client.resourceDefinitions.modify('pm-1a2b3c4d', { override_props: { 'Aux/pm/vmid': '105' } })
  await p.client.snapshots.create('pm-1a2b3c4d', { name: 'snap_pm-1a2b3c4d_before' })
  const list = (await p.call('alpha', 'list_images', [null, null, {}])) as { volid: string; vmid: number }[]
  assert.deepEqual(list.map((i) => [i.volid, Number(i.vmid)]), [['drbdstore:pm-1a2b3c4d_105', 105]])
  assert.deepEqual(Object.keys((await p.call('alpha', 'volume_snapshot_info', ['pm-1a2b3c4d_105'])) as object), ['before'])
  assert.equal(await p.call('alpha', 'path', ['pm-1a2b3c4d_105', null]), `${p.emu.deviceRoot('alpha')}/dev/drbd/by-res/pm-1a2b3c4d/0`)
  assert.equal(await p.call('alpha', 'rename_volume', ['pm-1a2b3c4d_105', 106, null]), 'drbdstore:pm-1a2b3c4d_106')
  assert.equal((await p.client.resourceDefinitions.get('pm-1a2b3c4d'))?.props['Aux/pm/vmid'], '106')
})

test('free_image removes the volume and its snapshots; a controller VM disk is never freed, deactivated or resized', async (t) => {
  const p = await pveCluster(t, { 'linstor-controller-vms': '900' })
  const vol = (await p.call('alpha', 'alloc_image', [100, 'raw', null, 1024])) as string
  await p.call('alpha', 'volume_snapshot', [vol, 'keep'])
  await p.call('alpha', 'free_image', [vol, 0, 'raw'])
  assert.equal(await p.client.resourceDefinitions.get(vol), undefined)
  await p.call('alpha', 'free_image', [vol, 0, 'raw']) // again: already gone is fine

  const ctl = (await p.call('alpha', 'alloc_image', [900, 'raw', null, 1024])) as string
  const { other } = await nodesOf(p, ctl)
  await p.call(other[0] as string, 'activate_volume', [ctl, null, {}, {}])
  await p.call(other[0] as string, 'deactivate_volume', [ctl, null, {}])
  assert.ok((await p.client.view.resources({ resources: [ctl] })).some((r) => r.node_name === other[0]), 'the controller VM keeps its client')
  await assert.rejects(p.call('alpha', 'free_image', [ctl, 0, 'raw']), /controller VM 900.*never freed/)
  await assert.rejects(p.call('alpha', 'volume_resize', [ctl, 2 * MiB, 0]), /controller VM 900/)
  assert.ok((await p.client.resourceDefinitions.get(ctl)) !== undefined)
})

test('storage add validates the settings and keeps the token only in the priv file, from where every call uses it', async (t) => {
  const token = 'tok-SECRET-pve'
  const bad = await pveCluster(t, { 'linstor-resource-group': 'nope', 'linstor-place-count': undefined })
  await assert.rejects(bad.call('alpha', 'on_add_hook', [{ 'linstor-token': 'x' }]), /linstor-resource-group: LINSTOR has no resource group 'nope'/)

  const p = await pveCluster(t, {}, token)
  const tokenFile = join(p.dir, 'priv', 'storage', 'drbdstore.linstor-token')
  await assert.rejects(p.call('alpha', 'alloc_image', [100, 'raw', null, 1024]), /401|token|unauthori/i)
  await p.call('alpha', 'on_add_hook', [{ 'linstor-token': token }])
  assert.equal(readFileSync(tokenFile, 'utf8').trim(), token)
  assert.equal(statSync(tokenFile).mode & 0o777, 0o600)
  assert.equal(await p.call('alpha', 'alloc_image', [100, 'raw', null, 1024]), 'vm-100-disk-0')
  await p.call('alpha', 'on_delete_hook', [])
  assert.ok(!existsSync(tokenFile), 'removing the storage removes its token')
})

test('container backup in snapshot mode: snapshot, map the snapshot (a temporary view), read it, then clean up everything', async (t) => {
  const p = await pveCluster(t)
  const vol = (await p.call('alpha', 'alloc_image', [400, 'raw', null, 1024 * 1024])) as string
  const node = (await nodesOf(p, vol)).diskful[0] as string
  await p.call(node, 'activate_volume', [vol, null, {}, {}])
  p.emu.control.open(node, vol)
  const before = randomBytes(4096)
  write(p, node, vol, 0, before)
  await p.call(node, 'volume_snapshot', [vol, 'vzdump'])
  write(p, node, vol, 0, randomBytes(4096)) // the container keeps running and writing
  const view = 'snap_vm-400-disk-0_vzdump'
  const mapped = await p.call(node, 'map_volume', [vol, 'vzdump', {}])
  assert.equal(mapped, `${p.emu.deviceRoot(node)}/dev/drbd/by-res/${view}/0`)
  assert.equal(await p.call(node, 'path', [vol, 'vzdump']), mapped)
  p.emu.control.open(node, view)
  assert.deepEqual(read(p, node, view, 0, 4096), before, 'the backup reads the snapshot, not the live disk')
  p.emu.control.close(node, view)
  await p.call(node, 'unmap_volume', [vol, 'vzdump'])
  await p.call(node, 'deactivate_volume', [vol, 'vzdump', {}])
  await p.call(node, 'volume_snapshot_delete', [vol, 'vzdump', 1])
  assert.equal(await p.client.resourceDefinitions.get(view), undefined, 'the view is gone')
  assert.deepEqual(await p.client.snapshots.list(vol), [])
  p.emu.control.close(node, vol)
  await p.call(node, 'deactivate_volume', [vol, null, {}])
  await invariants(p, vol, [])
})

test('status never hangs: a slow or dead controller gives the last answer, none known "inactive", within 2 s; VMs still start from local replicas', async (t) => {
  const p = await pveCluster(t, { 'linstor-status-cache': 0 }) // every status asks LINSTOR
  const vol = (await p.call('alpha', 'alloc_image', [500, 'raw', null, 1024])) as string
  const node = (await nodesOf(p, vol)).diskful[0] as string
  const warm = (await p.call('alpha', 'status', [{}])) as number[]
  assert.equal(warm[3], 1)
  // Status has a 2 s budget of its own; the controller's delay (60 s) is far past it and any margin.
  const status = (what: string): Promise<number[]> => boundedBy(2000, what, async () => (await p.call('alpha', 'status', [{}])) as number[])
  p.emu.control.faults.delay(60_000)
  const slow = await status('status with a slow controller')
  assert.deepEqual(slow, warm, 'the last known numbers while the controller is slow')
  p.emu.control.faults.reset()
  await p.emu.stopListening()
  const dead = await status('status with no controller')
  assert.deepEqual(dead, warm, 'the last known numbers while no controller answers (issue 20)')
  // A storage with no answer known yet: inactive.
  const unknown = await boundedBy(2000, 'status of a storage never answered', async () => (await p.call('alpha', 'status', [{}], { LV_PVE_STOREID: 'never-answered' })) as number[])
  assert.equal(unknown[3], 0, 'inactive while no controller answers and none ever did')
  // No controller: the node with a replica still starts the VM from its local device.
  await p.call(node, 'activate_volume', [vol, null, {}, {}])
  assert.equal(await p.call(node, 'path', [vol, null]), `${p.emu.deviceRoot(node)}/dev/drbd/by-res/${vol}/0`)
  await p.call(node, 'deactivate_volume', [vol, null, {}])
})
