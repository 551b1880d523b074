/**
 * The OpenNebula driver end to end: the built executables under dist/share/opennebula/remotes run
 * as oned runs them, against the emulator, with stand-ins for OpenNebula's CLI and for ssh (see
 * test/opennebula/one.ts). Each scenario follows oned's call order for a VM event
 * (../shared/reference/opennebula.md 1.5) and ends with the invariants users judge us by: no
 * unused diskless client, no dual-primary, no migration record, and the bytes still there.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { execFile, execFileSync } from 'node:child_process'
import { existsSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { MiB } from '../../core/volumes/index.js'
import { repoRoot } from '../helpers/paths.js'
import { actionData, datastoreXml, oneFrontEnd, vmXml } from '../opennebula/one.js'
import type { DiskSpec, OneFrontEnd } from '../opennebula/one.js'
import type { EmulatorOptions } from '../../emulator/index.js'
import { startSshd } from '../opennebula/sshd.js'
import { startAgent } from '../../cli/agent/server.js'
import { buildDispatcher } from '../../cli/dispatcher.js'
import { silentLogger } from '../../core/log/index.js'

const ALLOW = 'DrbdOptions/Net/allow-two-primaries'
const MIGRATION = 'Aux/linstor-virt/migration'
const IMAGE_DS = 101
const DIR = (vmid: number): string => `/var/lib/one//datastores/0/${vmid}`

/** What a host reads from its device (the emulator's device file, as dd or qemu-img would). */
function bytesOf(one: OneFrontEnd, node: string, rsc: string, length: number): Buffer {
  return readFileSync(`${one.emu.deviceRoot(node)}/dev/drbd/by-res/${rsc}/0`).subarray(0, length)
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex')
}

async function setup(t: Parameters<typeof oneFrontEnd>[0], attrs: Record<string, string> = {}, emulator: EmulatorOptions = {}): Promise<OneFrontEnd> {
  const one = await oneFrontEnd(t, { emulator })
  one.store('datastore', IMAGE_DS, datastoreXml(IMAGE_DS, { LINSTOR_CONTROLLERS: one.emu.url, LINSTOR_PLACE_COUNT: '2', BRIDGE_LIST: 'alpha bravo', RESTRICTED_DIRS: '/', SAFE_DIRS: one.dir, ...attrs }))
  one.store('datastore', 0, datastoreXml(0, {}, { type: 1, tmMad: 'ssh', name: 'system' }))
  return one
}

/** An image made the way `oneimage create` does: stat, then cp, with a raw file of known bytes. */
async function importImage(one: OneFrontEnd, id: number, sizeMiB: number): Promise<Buffer> {
  const raw = Buffer.alloc(sizeMiB * MiB)
  randomBytes(64 * 1024).copy(raw, 0)
  randomBytes(64 * 1024).copy(raw, raw.length - 64 * 1024)
  const file = join(one.dir, `image-${id}.raw`)
  writeFileSync(file, raw)
  const ds = readFileSync(join(one.env['LV_ONE_DB'] ?? '', `datastore-${IMAGE_DS}.xml`), 'utf8')
  const r = await one.ok('datastore', 'cp', [String(id)], { stdin: actionData({ ID: String(id), PATH: file, SIZE: String(sizeMiB), TYPE: '0' }, ds) })
  assert.equal(r.stdout.trim(), `OpenNebula-Image-${id} raw`)
  return raw
}

async function invariants(one: OneFrontEnd, rsc: string, primaries: string[]): Promise<void> {
  const rd = await one.client.resourceDefinitions.get(rsc)
  assert.ok(rd !== undefined, `${rsc} exists`)
  assert.equal(rd.props[MIGRATION], undefined, `${rsc}: no migration record`)
  assert.equal(rd.props[ALLOW], undefined, `${rsc}: no allow-two-primaries on the definition`)
  for (const c of await one.client.resourceDefinitions.connections(rsc)) assert.equal(c.props[ALLOW], undefined, `${rsc}: no allow-two-primaries on ${c.node_a}-${c.node_b}`)
  const roles = one.emu.control.roles(rsc)
  assert.deepEqual(Object.entries(roles).filter(([, r]) => r === 'Primary').map(([n]) => n).sort(), [...primaries].sort(), `${rsc}: Primary only on ${primaries.join(', ') || 'no node'}`)
  const view = await one.client.view.resources({ resources: [rsc] })
  const idle = view.filter((r) => r.flags.includes('DRBD_DISKLESS') && !r.flags.includes('TIE_BREAKER') && r.state?.in_use !== true)
  assert.deepEqual(idle.map((r) => r.node_name), [], `${rsc}: no unused diskless client`)
}

async function diskfulNodes(one: OneFrontEnd, rsc: string): Promise<string[]> {
  const view = await one.client.view.resources({ resources: [rsc] })
  return view.filter((r) => !r.flags.includes('DRBD_DISKLESS')).map((r) => r.node_name).sort()
}

/** A node with no replica of the resource (the VM's host in the interesting cases). */
async function hostWithout(one: OneFrontEnd, rsc: string, not: string[] = []): Promise<string> {
  const have = await diskfulNodes(one, rsc)
  const h = ['alpha', 'bravo', 'charlie', 'delta'].find((n) => !have.includes(n) && !not.includes(n))
  assert.ok(h !== undefined)
  return h
}

function linkOf(one: OneFrontEnd, host: string, vmid: number, disk: number): string | undefined {
  const p = join(one.hostRoot(host), 'datastores', '0', String(vmid), `disk.${disk}`)
  try {
    return readlinkSync(p)
  } catch {
    return undefined
  }
}

const VM = 42
const disks: DiskSpec[] = [
  { id: 0, image: 7, clone: true, sizeMiB: 24, dsId: IMAGE_DS },
  { id: 1, image: 9, persistent: true, sizeMiB: 16, dsId: IMAGE_DS },
  { id: 2, volatile: 'swap', sizeMiB: 8, dsId: 0, tmMad: 'ssh' },
]

const CLONE = 'OpenNebula-Image-7-vm42-disk0'

/**
 * Imports images 7 (OS) and 9 (data), then deploys VM 42 as oned's prolog does, on a host without a
 * replica of `avoid` (so that disk gets a diskless client); returns the host and the image bytes.
 */
async function deployed(t: Parameters<typeof oneFrontEnd>[0], avoid = 'OpenNebula-Image-7', emulator: EmulatorOptions = {}): Promise<{ one: OneFrontEnd; host: string; os: Buffer; data: Buffer }> {
  const one = await setup(t, {}, emulator)
  const os = await importImage(one, 7, 16)
  const data = await importImage(one, 9, 16)
  const host = await hostWithout(one, avoid)
  one.store('vm', VM, vmXml(VM, disks, [host]))
  await one.ok('tm', 'clone.ssh', [`one-fe:OpenNebula-Image-7`, `${host}:${DIR(VM)}/disk.0`, String(VM), String(IMAGE_DS)])
  await one.ok('tm', 'ln.ssh', [`one-fe:OpenNebula-Image-9`, `${host}:${DIR(VM)}/disk.1`, String(VM), String(IMAGE_DS)])
  await one.ok('tm', 'context', ['/var/lib/one/vms/42/context.sh', `${host}:${DIR(VM)}/disk.3`, String(VM), '0'])
  // The hypervisor starts the VM: both disks open (Primary) on the host.
  one.emu.control.open(host, CLONE)
  one.emu.control.open(host, 'OpenNebula-Image-9')
  return { one, host, os, data }
}

test('image import: stat and cp of a qcow2 made by qemu-img, in all three argument forms, converted to raw with the same bytes', async (t) => {
  const one = await setup(t)
  const raw = Buffer.alloc(20 * MiB)
  randomBytes(1 * MiB).copy(raw, 3 * MiB)
  const rawFile = join(one.dir, 'src.raw')
  const qcow = join(one.dir, 'src.qcow2')
  writeFileSync(rawFile, raw)
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', rawFile, qcow])
  const ds = readFileSync(join(one.env['LV_ONE_DB'] ?? '', `datastore-${IMAGE_DS}.xml`), 'utf8')
  const doc = actionData({ ID: '12', PATH: qcow, SIZE: '20', TYPE: '0' }, ds)
  // 7.x: id in argv, document on stdin; 6.6.2+: '-' then the id; up to 6.6: base64 in argv.
  assert.equal((await one.ok('datastore', 'stat', ['1'], { stdin: doc })).stdout.trim(), '20')
  assert.equal((await one.ok('datastore', 'stat', ['-', '1'], { stdin: doc })).stdout.trim(), '20')
  assert.equal((await one.ok('datastore', 'stat', [doc, '1'])).stdout.trim(), '20')
  const r = await one.ok('datastore', 'cp', ['12'], { stdin: doc })
  assert.equal(r.stdout.trim(), 'OpenNebula-Image-12 raw')
  assert.match(r.stderr, /^INFO: datastore\/linstor\/cp: image is qcow2, 20 MiB \(converted to raw\)$/m)
  assert.match(r.stderr, /writing OpenNebula-Image-12: 100%/)
  const nodes = await diskfulNodes(one, 'OpenNebula-Image-12')
  assert.equal(nodes.length, 2)
  const stored = bytesOf(one, nodes[0] ?? '', 'OpenNebula-Image-12', 20 * MiB)
  assert.equal(sha(stored), sha(raw), 'the volume holds the image bytes')
  // An empty datablock with a filesystem: mkfs runs on a node with a replica, on the real device file.
  const mk = await one.ok('datastore', 'mkfs', ['14'], { stdin: actionData({ ID: '14', FORMAT: 'raw', FS: 'ext4', SIZE: '8', TYPE: '2' }, ds) })
  assert.equal(mk.stdout.trim(), 'OpenNebula-Image-14')
  const fsNode = (await diskfulNodes(one, 'OpenNebula-Image-14'))[0] ?? ''
  assert.equal(bytesOf(one, fsNode, 'OpenNebula-Image-14', 1082).readUInt16LE(1080), 0xef53, 'an ext4 superblock')
  // Monitoring of the image datastore: three lines, integers.
  const m = await one.ok('datastore', 'monitor', [String(IMAGE_DS)], { stdin: actionData(undefined, ds) })
  assert.match(m.stdout, /^USED_MB=[0-9]+\nTOTAL_MB=[0-9]+\nFREE_MB=[0-9]+\n$/)
  // A restricted source is refused with one clear line, and nothing is created.
  const bad = await one.run('datastore', 'cp', ['13'], { stdin: actionData({ ID: '13', PATH: '/etc/passwd', SIZE: '1', TYPE: '0' }, ds) })
  assert.equal(bad.code, 1)
  const lines = bad.stderr.trim().split('\n')
  assert.equal(lines.length, 2, bad.stderr)
  assert.match(lines[0] ?? '', /^ERROR: datastore\/linstor\/cp: /)
  assert.doesNotMatch(bad.stderr, /\n\s+at /, 'no stack trace')
  assert.equal(await one.client.resourceDefinitions.get('OpenNebula-Image-13'), undefined)
})

test('deploy, live migrate and back, terminate: diskless client only where needed, dual-primary only during the move', async (t) => {
  const { one, host, data } = await deployed(t)
  const clone = CLONE
  assert.equal((await one.client.resourceDefinitions.get(clone))?.props['Aux/one/VM_ID'], '42')
  const vd = await one.client.volumeDefinitions.list(clone)
  assert.equal(vd[0]?.size_kib, 24 * 1024, 'grown to the VM disk size')
  for (const d of [0, 1]) {
    const rsc = d === 0 ? clone : 'OpenNebula-Image-9'
    assert.equal(linkOf(one, host, VM, d), `${one.emu.deviceRoot(host)}/dev/drbd/by-res/${rsc}/0`)
    assert.ok(existsSync(linkOf(one, host, VM, d) ?? ''), 'the link points at the device')
  }
  assert.equal(one.otherTmLog().filter((e) => e.action === 'context').length, 1, 'context went to the ssh driver')
  await invariants(one, clone, [host])

  const to = await hostWithout(one, 'OpenNebula-Image-9', [host])
  const stdin = Buffer.from(readFileSync(join(one.env['LV_ONE_DB'] ?? '', `vm-${VM}.xml`))).toString('base64')
  // ssh/premigrate calls the other TMs with the caller as 6th argument and the same stdin.
  await one.ok('tm', 'premigrate', [host, to, DIR(VM), String(VM), '0', 'ssh'], { stdin })
  for (const rsc of [clone, 'OpenNebula-Image-9']) {
    one.emu.control.open(to, rsc) // libvirt starts the incoming VM: a second Primary, allowed now
    one.emu.control.close(host, rsc)
  }
  assert.equal(linkOf(one, to, VM, 1), `${one.emu.deviceRoot(to)}/dev/drbd/by-res/OpenNebula-Image-9/0`)
  await one.ok('tm', 'postmigrate', [host, to, DIR(VM), String(VM), '0', 'ssh'], { stdin })
  await invariants(one, clone, [to])
  await invariants(one, 'OpenNebula-Image-9', [to])
  assert.equal(linkOf(one, host, VM, 1), undefined, 'the old host lost its link')
  // ... and back.
  one.store('vm', VM, vmXml(VM, disks, [host, to]))
  await one.ok('tm', 'premigrate', [to, host, DIR(VM), String(VM), '0', 'ssh'], { stdin })
  for (const rsc of [clone, 'OpenNebula-Image-9']) {
    one.emu.control.open(host, rsc)
    one.emu.control.close(to, rsc)
  }
  await one.ok('tm', 'postmigrate', [to, host, DIR(VM), String(VM), '0', 'ssh'], { stdin })
  await invariants(one, clone, [host])
  await invariants(one, 'OpenNebula-Image-9', [host])

  // Terminate: the VM stops, then the epilog.
  for (const rsc of [clone, 'OpenNebula-Image-9']) one.emu.control.close(host, rsc)
  await one.ok('tm', 'delete.ssh', [`${host}:${DIR(VM)}/disk.0`, String(VM), String(IMAGE_DS)])
  await one.ok('tm', 'mvds.ssh', [`${host}:${DIR(VM)}/disk.1`, 'OpenNebula-Image-9', String(VM), String(IMAGE_DS)])
  assert.equal(await one.client.resourceDefinitions.get(clone), undefined, 'the VM-private clone is gone')
  await invariants(one, 'OpenNebula-Image-9', [])
  const nodes = await diskfulNodes(one, 'OpenNebula-Image-9')
  assert.equal(sha(bytesOf(one, nodes[0] ?? '', 'OpenNebula-Image-9', 16 * MiB)), sha(data), 'the persistent image keeps its bytes')
  // Repeating an epilog step (onevm recover --retry) is harmless.
  await one.ok('tm', 'delete.ssh', [`${host}:${DIR(VM)}/disk.0`, String(VM), String(IMAGE_DS)])
  await one.ok('tm', 'mvds.ssh', [`${host}:${DIR(VM)}/disk.1`, 'OpenNebula-Image-9', String(VM), String(IMAGE_DS)])
})

test('a failed live migration: failmigrate undoes it; with an ssh system datastore (no failmigrate) the next action and the doctor clean up', async (t) => {
  const { one, host } = await deployed(t)
  const clone = CLONE
  const to = await hostWithout(one, 'OpenNebula-Image-9', [host])
  const stdin = Buffer.from(readFileSync(join(one.env['LV_ONE_DB'] ?? '', `vm-${VM}.xml`))).toString('base64')
  await one.ok('tm', 'premigrate', [host, to, DIR(VM), String(VM), '0', 'ssh'], { stdin })
  const rd = await one.client.resourceDefinitions.get('OpenNebula-Image-9')
  assert.ok(rd?.props[MIGRATION] !== undefined, 'the migration is recorded while it runs')
  // libvirt fails; the VM keeps running on the source.
  await one.ok('tm', 'failmigrate', [host, to, DIR(VM), String(VM), '0', 'ssh'], { stdin })
  await invariants(one, clone, [host])
  await invariants(one, 'OpenNebula-Image-9', [host])
  assert.equal(linkOf(one, to, VM, 1), undefined)

  // Again, but the ssh system driver never calls failmigrate: the client and dual-primary stay...
  await one.ok('tm', 'premigrate', [host, to, DIR(VM), String(VM), '0', 'ssh'], { stdin })
  const conns = await one.client.resourceDefinitions.connections('OpenNebula-Image-9')
  assert.ok(conns.some((c) => c.props[ALLOW] === 'yes'), 'dual-primary allowed between the two hosts during the move')
  // ...until the next action on the disk (a snapshot here) finishes the migration from the state.
  const snap = await one.ok('tm', 'snap_create.ssh', [`${host}:${DIR(VM)}/disk.1`, '0', String(VM), String(IMAGE_DS)])
  assert.match(snap.stderr, /finished the live migration of OpenNebula-Image-9/)
  await invariants(one, 'OpenNebula-Image-9', [host])
  // The other disk is settled by the doctor.
  // (async: the emulator answers from this process)
  const doctor = await new Promise<string>((resolve) => {
    execFile(process.execPath, [join(repoRoot(), 'dist', 'linstor-virt.js'), 'doctor', '--controllers', one.emu.url, '--fix', '--json'], { encoding: 'utf8', env: { ...process.env, LINSTOR_VIRT_LOCK_DIR: join(one.dir, 'locks') } }, (_err, stdout) => resolve(stdout))
  })
  assert.match(doctor, /OpenNebula-Image-7-vm42-disk0/)
  await invariants(one, clone, [host])
})

test('stop to a front-end that is not a LINSTOR node, resume elsewhere, and recovery from a dead host', async (t) => {
  const { one, host, data } = await deployed(t)
  const clone = CLONE
  for (const rsc of [clone, 'OpenNebula-Image-9']) one.emu.control.close(host, rsc)
  // Stop: MV per disk host -> front-end (one-fe is no LINSTOR node): only detach, data stays.
  for (const d of [0, 1]) {
    const r = await one.ok('tm', 'mv.ssh', [`${host}:${DIR(VM)}/disk.${d}`, `one-fe:${DIR(VM)}/disk.${d}`, String(VM), String(IMAGE_DS)])
    if (d === 0) assert.match(r.stderr, /one-fe is not a LINSTOR node/)
  }
  await invariants(one, clone, [])
  await invariants(one, 'OpenNebula-Image-9', [])
  assert.equal(linkOf(one, host, VM, 0), undefined)
  // Resume on another host.
  const next = await hostWithout(one, 'OpenNebula-Image-9', [host])
  for (const d of [0, 1]) await one.ok('tm', 'mv.ssh', [`one-fe:${DIR(VM)}/disk.${d}`, `${next}:${DIR(VM)}/disk.${d}`, String(VM), String(IMAGE_DS)])
  assert.equal(linkOf(one, next, VM, 1), `${one.emu.deviceRoot(next)}/dev/drbd/by-res/OpenNebula-Image-9/0`)
  for (const rsc of [clone, 'OpenNebula-Image-9']) one.emu.control.open(next, rsc)
  await invariants(one, 'OpenNebula-Image-9', [next])
  // The host dies; the fault-tolerance hook moves the VM: nothing can run on the dead host.
  writeFileSync(join(one.env['LV_ONE_DB'] ?? '', 'dead-hosts'), next)
  for (const rsc of [clone, 'OpenNebula-Image-9']) one.emu.control.close(next, rsc)
  const third = ['alpha', 'bravo', 'charlie', 'delta'].find((n) => n !== next && n !== host) ?? ''
  for (const d of [0, 1]) {
    const r = await one.ok('tm', 'mv.ssh', [`${next}:${DIR(VM)}/disk.${d}`, `${third}:${DIR(VM)}/disk.${d}`, String(VM), String(IMAGE_DS)])
    assert.match(r.stderr, /unreachable/)
  }
  for (const rsc of [clone, 'OpenNebula-Image-9']) one.emu.control.open(third, rsc)
  await invariants(one, 'OpenNebula-Image-9', [third])
  const nodes = await diskfulNodes(one, 'OpenNebula-Image-9')
  assert.equal(sha(bytesOf(one, nodes[0] ?? '', 'OpenNebula-Image-9', 16 * MiB)), sha(data))
})

test('disk snapshots: revert to an older snapshot keeps the newer one; save-as from a snapshot; DS snapshot actions on the image', async (t) => {
  const { one, host } = await deployed(t, 'OpenNebula-Image-9')
  const rsc = 'OpenNebula-Image-9'
  const dev = `${one.emu.deviceRoot(host)}/dev/drbd/by-res/${rsc}/0`
  const write = (fill: number): void => {
    const b = Buffer.alloc(MiB, fill)
    const fd = readFileSync(dev)
    b.copy(fd, 0)
    writeFileSync(dev, fd)
  }
  const disk1 = [`${host}:${DIR(VM)}/disk.1`]
  write(0xa1)
  await one.ok('tm', 'snap_create_live.ssh', [...disk1, '0', String(VM), String(IMAGE_DS)])
  write(0xb2)
  await one.ok('tm', 'snap_create_live.ssh', [...disk1, '1', String(VM), String(IMAGE_DS)])
  write(0xc3)
  one.emu.control.close(host, rsc) // poweroff
  // LINSTOR 1.31+: one rollback to the older snapshot, the newer one kept.
  one.emu.resetCounters()
  const r = await one.ok('tm', 'snap_revert.ssh', [...disk1, '0', String(VM), String(IMAGE_DS)])
  assert.match(r.stderr, /rolled back to OpenNebula-Snap-0/)
  assert.deepEqual(Object.entries(one.emu.counters()).filter(([k]) => !k.startsWith('GET ')), [['POST /v1/resource-definitions/{resource}/snapshot-rollback/{snapshot}', 1]])
  assert.equal(readFileSync(dev)[0], 0xa1, 'the disk holds snapshot 0')
  const snaps = (await one.client.snapshots.list(rsc)).map((s) => s.name).sort()
  assert.deepEqual(snaps, ['OpenNebula-Snap-0', 'OpenNebula-Snap-1'])
  // Revert to the newest: a LINSTOR rollback as well.
  await one.ok('tm', 'snap_revert.ssh', [...disk1, '1', String(VM), String(IMAGE_DS)])
  assert.equal(readFileSync(dev)[0], 0xb2)
  // Save-as of snapshot 0 into a new image: DS mkfs (save_as) names it, TM cpds fills it.
  const ds = readFileSync(join(one.env['LV_ONE_DB'] ?? '', `datastore-${IMAGE_DS}.xml`), 'utf8')
  const mk = await one.ok('datastore', 'mkfs', ['15'], { stdin: actionData({ ID: '15', FORMAT: 'save_as', SIZE: '16', TYPE: '2' }, ds) })
  assert.equal(mk.stdout.trim(), 'OpenNebula-Image-15')
  assert.equal(await one.client.resourceDefinitions.get('OpenNebula-Image-15'), undefined, 'save_as writes nothing')
  await one.ok('tm', 'cpds.ssh', [...disk1, 'OpenNebula-Image-15', '0', String(VM), String(IMAGE_DS)])
  const saved = await diskfulNodes(one, 'OpenNebula-Image-15')
  assert.equal(bytesOf(one, saved[0] ?? '', 'OpenNebula-Image-15', 1)[0], 0xa1, 'saved from snapshot 0')
  // DS-level snapshot actions (the image is not in use): delete one, flatten onto the other.
  const snapDoc = (target: string): string => actionData({ ID: '9', SOURCE: rsc, TARGET_SNAPSHOT: target, SIZE: '16', TYPE: '2' }, ds)
  await one.ok('datastore', 'snap_delete', ['9'], { stdin: snapDoc('1') })
  assert.deepEqual((await one.client.snapshots.list(rsc)).map((s) => s.name), ['OpenNebula-Snap-0'])
  await one.ok('datastore', 'snap_flatten', ['9'], { stdin: snapDoc('0') })
  assert.deepEqual(await one.client.snapshots.list(rsc), [])
  assert.equal(bytesOf(one, (await diskfulNodes(one, rsc))[0] ?? '', rsc, 1)[0], 0xa1)
  // Resize (grow) on the running VM's disk.
  await one.ok('tm', 'resize.ssh', [...disk1, '32', String(VM), String(IMAGE_DS)])
  assert.equal((await one.client.volumeDefinitions.list(rsc))[0]?.size_kib, 32 * 1024)
})

test('disk snapshots on LINSTOR 1.29: revert to an older snapshot restores into a temporary resource and copies the bytes back, keeping the newer one', async (t) => {
  const { one, host } = await deployed(t, 'OpenNebula-Image-9', { version: '1.29.0' })
  const rsc = 'OpenNebula-Image-9'
  const dev = `${one.emu.deviceRoot(host)}/dev/drbd/by-res/${rsc}/0`
  const write = (fill: number): void => {
    const b = Buffer.alloc(MiB, fill)
    const fd = readFileSync(dev)
    b.copy(fd, 0)
    writeFileSync(dev, fd)
  }
  const disk1 = [`${host}:${DIR(VM)}/disk.1`]
  write(0xa1)
  await one.ok('tm', 'snap_create_live.ssh', [...disk1, '0', String(VM), String(IMAGE_DS)])
  write(0xb2)
  await one.ok('tm', 'snap_create_live.ssh', [...disk1, '1', String(VM), String(IMAGE_DS)])
  write(0xc3)
  one.emu.control.close(host, rsc) // poweroff
  one.emu.resetCounters()
  const r = await one.ok('tm', 'snap_revert.ssh', [...disk1, '0', String(VM), String(IMAGE_DS)])
  t.diagnostic(`REST calls of the restore-and-copy revert: ${Object.values(one.emu.counters()).reduce((a, b) => a + b, 0)}`)
  assert.match(r.stderr, /keeping the newer OpenNebula-Snap-1/)
  assert.equal(readFileSync(dev)[0], 0xa1, 'the disk holds snapshot 0')
  assert.deepEqual((await one.client.snapshots.list(rsc)).map((s) => s.name).sort(), ['OpenNebula-Snap-0', 'OpenNebula-Snap-1'])
  assert.ok(!(await one.client.resourceDefinitions.list()).some((d) => d.name.endsWith('-rv')), 'no temporary resource left')
})

test('backup through a snapshot: prebackup writes a qcow2 with the disk bytes and vm.xml on the host; postbackup leaves nothing behind', async (t) => {
  const { one, host, data } = await deployed(t, 'OpenNebula-Image-9')
  const xml = readFileSync(join(one.env['LV_ONE_DB'] ?? '', `vm-${VM}.xml`), 'utf8')
  await one.ok('tm', 'prebackup_live', [`${host}:${DIR(VM)}`, '1', 'deploy-id', '-', String(VM), '0'], { stdin: xml })
  const out = join(one.hostRoot(host), 'datastores', '0', String(VM), 'backup')
  const back = join(one.dir, 'back.raw')
  execFileSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', join(out, 'disk.1.0'), back])
  assert.equal(sha(readFileSync(back).subarray(0, 16 * MiB)), sha(data), 'the backup holds the disk bytes')
  assert.equal(readFileSync(join(out, 'vm.xml'), 'utf8'), xml.trim())
  const rds = (await one.client.resourceDefinitions.list()).map((r) => r.name)
  assert.ok(!rds.some((n) => n.endsWith('-bk')), 'no temporary resource left')
  assert.deepEqual(await one.client.snapshots.list('OpenNebula-Image-9'), [])
  await one.ok('tm', 'postbackup_live', [`${host}:${DIR(VM)}`, '1', 'deploy-id', '-', String(VM), '0'], { stdin: xml })
  assert.equal(existsSync(out), false)
  await invariants(one, 'OpenNebula-Image-9', [host])
})

test('through a real OpenSSH server: ln and delete link a disk into a VM directory whose path needs quoting', async (t) => {
  const one = await setup(t)
  await importImage(one, 9, 16)
  const host = await hostWithout(one, 'OpenNebula-Image-9')
  const sshd = await startSshd(t, [host])
  // A real sshd runs the commands on this machine: the VM directory is a scratch path with a quote,
  // a space and a would-be command substitution in it.
  const base = join(one.dir, "it's a $(touch pwned) dir")
  const dir = `${base}/datastores/0/${VM}`
  one.store('vm', VM, vmXml(VM, disks, [host]))
  const env = { ...sshd.env, LINSTOR_VIRT_SSH: '/usr/bin/ssh' }
  const before = one.sshLog().length
  await one.ok('tm', 'ln', [`one-fe:OpenNebula-Image-9`, `${host}:${dir}/disk.1`, String(VM), String(IMAGE_DS)], { env })
  assert.equal(readlinkSync(`${dir}/disk.1`), `${one.emu.deviceRoot(host)}/dev/drbd/by-res/OpenNebula-Image-9/0`)
  assert.equal(existsSync(join(one.dir, 'pwned')), false, 'nothing ran that the path spelled')
  assert.equal(one.sshLog().length, before, 'the stand-in ssh was not used')
  await one.ok('tm', 'delete', [`${host}:${dir}/disk.1`, String(VM), String(IMAGE_DS)], { env })
  assert.equal(existsSync(`${dir}/disk.1`), false)
  await invariants(one, 'OpenNebula-Image-9', [])
})

test('through the agent when it runs: the executable forwards over its socket and prints the same answer', async (t) => {
  const one = await setup(t)
  const socketPath = join(one.dir, 'agent.sock')
  let calls = 0
  const dispatcher = buildDispatcher(silentLogger())
  const agent = await startAgent({ socketPath, dispatcher: { dispatch: (raw: unknown, services: never) => ((calls += 1), dispatcher.dispatch(raw, services)) } as never, logger: silentLogger() })
  t.after(() => agent.close())
  const ds = readFileSync(join(one.env['LV_ONE_DB'] ?? '', `datastore-${IMAGE_DS}.xml`), 'utf8')
  const direct = await one.ok('datastore', 'monitor', [String(IMAGE_DS)], { stdin: actionData(undefined, ds) })
  assert.equal(calls, 0)
  const viaAgent = await one.ok('datastore', 'monitor', [String(IMAGE_DS)], { stdin: actionData(undefined, ds), env: { LINSTOR_VIRT_AGENT_SOCKET: socketPath } })
  assert.equal(calls, 1, 'the agent served the call')
  assert.equal(viaAgent.stdout.split('\n')[1], direct.stdout.split('\n')[1], 'same TOTAL_MB')
})
