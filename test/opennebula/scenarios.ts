/**
 * The OpenNebula end-to-end scenarios, registered per system datastore mode and group by the
 * test/integration/opennebula-e2e-*.test.ts files (split so each file stays well inside the
 * suite's per-file time on a busy 2-core machine). Every VM scenario runs as oned runs it
 * (oned.ts: TransferManager.cc's transfer lines, run like one_tm.rb), in mixed mode
 * (TM_MAD_SYSTEM=ssh, OpenNebula's own ssh TM scripts from ../shared/upstream/opennebula for the
 * system datastore's part) or with linstor as the system datastore's TM. The built executables under
 * dist/share/opennebula/remotes run against the emulator; stand-ins only for what cannot run here
 * (README.md beside this file). After each step: no unused diskless client, no dual-primary, no
 * migration record, the bytes still there, and every host's VM directory (the front-end's too)
 * holds only links that resolve.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { MiB } from '../../core/volumes/index.js'
import { actionData, datastoreXml, oneFrontEnd } from './one.js'
import type { DiskSpec, OneFrontEnd } from './one.js'
import { DIR, FRONT_END, Oned, vmDirLinks } from './oned.js'
import type { SystemMode } from './oned.js'
import type { EmulatorOptions } from '../../emulator/index.js'

export const ALLOW = 'DrbdOptions/Net/allow-two-primaries'
export const MIGRATION = 'Aux/linstor-virt/migration'
export const IMAGE_DS = 101

/** What a host reads from its device (the emulator's device file, as dd or qemu-img would). */
export function bytesOf(one: OneFrontEnd, node: string, rsc: string, length: number): Buffer {
  return readFileSync(`${one.emu.deviceRoot(node)}/dev/drbd/by-res/${rsc}/0`).subarray(0, length)
}

export function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex')
}

export async function setup(t: Parameters<typeof oneFrontEnd>[0], attrs: Record<string, string> = {}, emulator: EmulatorOptions = {}): Promise<OneFrontEnd> {
  const one = await oneFrontEnd(t, { emulator })
  one.store('datastore', IMAGE_DS, datastoreXml(IMAGE_DS, { LINSTOR_CONTROLLERS: one.emu.url, LINSTOR_PLACE_COUNT: '2', BRIDGE_LIST: 'alpha bravo', RESTRICTED_DIRS: '/', SAFE_DIRS: one.dir, ...attrs }))
  one.store('datastore', 0, datastoreXml(0, {}, { type: 1, tmMad: 'ssh', name: 'system' }))
  return one
}

/** An image made the way `oneimage create` does: stat, then cp, with a raw file of known bytes. */
export async function importImage(one: OneFrontEnd, id: number, sizeMiB: number): Promise<Buffer> {
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

export async function invariants(one: OneFrontEnd, rsc: string, primaries: string[]): Promise<void> {
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

export async function diskfulNodes(one: OneFrontEnd, rsc: string): Promise<string[]> {
  const view = await one.client.view.resources({ resources: [rsc] })
  return view.filter((r) => !r.flags.includes('DRBD_DISKLESS')).map((r) => r.node_name).sort()
}

/** A node with no replica of the resource (the VM's host in the interesting cases). */
export async function hostWithout(one: OneFrontEnd, rsc: string, not: string[] = []): Promise<string> {
  const have = await diskfulNodes(one, rsc)
  const h = ['alpha', 'bravo', 'charlie', 'delta'].find((n) => !have.includes(n) && !not.includes(n))
  assert.ok(h !== undefined)
  return h
}

export function linkOf(one: OneFrontEnd, host: string, vmid: number, disk: number): string | undefined {
  const p = join(one.hostRoot(host), 'datastores', '0', String(vmid), `disk.${disk}`)
  try {
    return readlinkSync(p)
  } catch {
    return undefined
  }
}

export const VM = 42
export const disks: DiskSpec[] = [
  { id: 0, image: 7, clone: true, sizeMiB: 24, dsId: IMAGE_DS },
  { id: 1, image: 9, persistent: true, sizeMiB: 16, dsId: IMAGE_DS },
  { id: 2, volatile: 'swap', sizeMiB: 8, dsId: 0, tmMad: 'ssh' },
]

export const CLONE = 'OpenNebula-Image-7-vm42-disk0'
export const DATA = 'OpenNebula-Image-9'
export const NODES = ['alpha', 'bravo', 'charlie', 'delta']

/** The VM's disks in a mode: the swap disk belongs to the system datastore's TM. */
export function disksFor(mode: SystemMode, withSwap = true): DiskSpec[] {
  return disks.filter((d) => withSwap || d.volatile === undefined).map((d) => (d.volatile !== undefined ? { ...d, tmMad: mode } : d))
}

/**
 * A front-end in `mode` (system datastore 0 with OpenNebula's ssh TM, or with linstor as its TM,
 * SHARED=YES) with images 7 (OS) and 9 (data) imported, and VM 42 deployed through oned's prolog
 * and the VMM's deploy on a host without a replica of `avoid` (so that disk gets a diskless client).
 */
export async function deployed(t: Parameters<typeof oneFrontEnd>[0], mode: SystemMode, opts: { avoid?: string; withSwap?: boolean; emulator?: EmulatorOptions } = {}): Promise<{ one: OneFrontEnd; oned: Oned; host: string; os: Buffer; data: Buffer }> {
  const one = await setup(t, {}, opts.emulator ?? {})
  if (mode === 'linstor') one.store('datastore', 0, datastoreXml(0, { LINSTOR_CONTROLLERS: one.emu.url, LINSTOR_PLACE_COUNT: '2' }, { type: 1, tmMad: 'linstor', name: 'system' }))
  const os = await importImage(one, 7, 16)
  const data = await importImage(one, 9, 16)
  const host = await hostWithout(one, opts.avoid ?? 'OpenNebula-Image-7')
  const oned = new Oned(one, mode, { vmid: VM, imageDs: IMAGE_DS, disks: disksFor(mode, opts.withSwap ?? true) })
  await oned.deploy(host)
  return { one, oned, host, os, data }
}

/**
 * After every step: the invariants for each of the VM's resources that exist, and every host's VM
 * directories (the front-end's too) hold only links that resolve. `down` hosts are out of reach.
 */
export async function settled(oned: Oned, primaries: string[], down: string[] = []): Promise<void> {
  for (const rsc of oned.resources()) {
    if ((await oned.one.client.resourceDefinitions.get(rsc)) !== undefined) await invariants(oned.one, rsc, primaries)
  }
  const hosts = [...NODES, FRONT_END].filter((h) => !down.includes(h))
  const dangling = vmDirLinks(oned.one, hosts).filter((l) => !l.resolves)
  assert.deepEqual(dangling.map((l) => `${l.host}: ${l.path} -> ${l.target}`), [], 'no dangling link in any VM directory')
}

/** Whether the driver's warnings reached the VM log (oned drops severity lines it does not know). */
export function warned(oned: Oned, re: RegExp): boolean {
  return oned.log.some((l) => l.severity === 'WARN' && re.test(l.text))
}

export type ScenarioGroup = 'migrate' | 'stop' | 'recover' | 'data'

/** Registers one group of scenarios (node:test) for a system datastore mode. */
export function scenarios(mode: SystemMode, group: ScenarioGroup): void {
  const label = mode === 'ssh' ? 'mixed mode (ssh system datastore, OpenNebula\'s own ssh driver)' : 'linstor system datastore'
  if (group === 'migrate') {
    test(`${label}: deploy, live migrate there and back, terminate: clients only where needed, dual-primary only during the move`, async (t) => {
      const { one, oned, host, data } = await deployed(t, mode)
      assert.equal((await one.client.resourceDefinitions.get(CLONE))?.props['Aux/one/VM_ID'], '42')
      assert.equal((await one.client.volumeDefinitions.list(CLONE))[0]?.size_kib, 24 * 1024, 'grown to the VM disk size')
      for (const d of [0, 1]) assert.equal(linkOf(one, host, VM, d), `${one.emu.deviceRoot(host)}/dev/drbd/by-res/${d === 0 ? CLONE : DATA}/0`)
      if (mode === 'ssh') assert.ok(existsSync(join(oned.vmDir(host), 'disk.2')), 'the swap file made by OpenNebula\'s mkswap')
      await settled(oned, [host])

      const to = await hostWithout(one, DATA, [host])
      await oned.liveMigrate(to)
      await settled(oned, [to])
      assert.equal(linkOf(one, host, VM, 1), undefined, 'the old host lost its link')
      assert.equal(existsSync(oned.vmDir(host)), false, 'and its VM directory')
      await oned.liveMigrate(host)
      await settled(oned, [host])

      const epilog = await oned.terminate()
      assert.equal(await one.client.resourceDefinitions.get(CLONE), undefined, 'the VM-private clone is gone')
      await settled(oned, [])
      assert.equal(existsSync(oned.vmDir(host)), false)
      const nodes = await diskfulNodes(one, DATA)
      assert.equal(sha(bytesOf(one, nodes[0] ?? '', DATA, 16 * MiB)), sha(data), 'the persistent image keeps its bytes')
      // Repeating the epilog (onevm recover --retry) is harmless.
      await oned.transfer(epilog)
      await settled(oned, [])
    })


    test(`${label}: a failed live migration, then terminate: no client, dual-primary or link left on the target`, async (t) => {
      const { one, oned, host } = await deployed(t, mode)
      const to = await hostWithout(one, DATA, [host])
      await oned.liveMigrate(to, { fail: true })
      if (mode === 'ssh') {
        // OpenNebula's ssh failmigrate is `exit 0`: the linstor driver is not told...
        assert.ok((await one.client.resourceDefinitions.get(DATA))?.props[MIGRATION] !== undefined, 'the migration record stays')
        // ...until the next action on the disk (a snapshot here) finishes it from the state.
        await oned.action(`SNAP_CREATE_LIVE.ssh linstor ${host}:${DIR(VM)}/disk.1 0 ${VM} ${IMAGE_DS}`)
        assert.ok(oned.log.some((l) => l.severity === 'INFO' && /finished the live migration of OpenNebula-Image-9/.test(l.text)), 'said in the VM log')
        await invariants(one, DATA, [host])
      } else {
        await settled(oned, [host])
      }
      // Terminate: the epilog's actions settle what is left, on every host.
      await oned.terminate()
      await settled(oned, [])
      assert.deepEqual(vmDirLinks(one, [to]), [], `${to} keeps no link of VM ${VM}`)
    })
  }
  if (group === 'stop') {
    test(`${label}: stop to a front-end that is no LINSTOR node and resume elsewhere, undeploy and resume, cold migration`, async (t) => {
      const { one, oned, host, data } = await deployed(t, mode)
      await oned.stop()
      const onFe = vmDirLinks(one, [FRONT_END])
      await settled(oned, [])
      assert.equal(existsSync(oned.vmDir(host)), false, 'the VM directory left the host')
      assert.ok(existsSync(join(oned.vmDir(FRONT_END), 'checkpoint')), 'the checkpoint is on the front-end')
      assert.deepEqual(onFe, [], 'no link to a device the front-end does not have')
      // Resume on another host: the disks are there, linked to that host's devices.
      const next = await hostWithout(one, DATA, [host])
      await oned.resume(next)
      await settled(oned, [next])
      assert.equal(existsSync(oned.vmDir(FRONT_END)), false, 'nothing left on the front-end')
      // Undeploy (the same transfer, no checkpoint) and deploy again on the first host.
      await oned.stop({ undeploy: true })
      await settled(oned, [])
      await oned.resume(host, { undeploy: true })
      await settled(oned, [host])
      // Cold migration (poweroff, migrate): MV host -> host.
      const third = NODES.find((n) => n !== host && n !== next) ?? ''
      await oned.coldMigrate(third)
      await settled(oned, [third])
      const nodes = await diskfulNodes(one, DATA)
      assert.equal(sha(bytesOf(one, nodes[0] ?? '', DATA, 16 * MiB)), sha(data))
      await oned.terminate()
      await settled(oned, [])
    })
  }
  if (group === 'recover') {
    test(`${label}: recovery from a dead host: nothing runs there, the VM starts elsewhere, the warnings reach the VM log`, async (t) => {
      // OpenNebula's ssh driver cannot bring a dead host's files along (its mv skips them in this
      // state), so the VM here has only LINSTOR disks.
      const { one, oned, host } = await deployed(t, mode, { withSwap: false })
      writeFileSync(join(one.env['LV_ONE_DB'] ?? '', 'dead-hosts'), host)
      oned.shutdown(host) // the host is gone, and its VM with it
      const to = NODES.find((n) => n !== host) ?? ''
      await oned.recover(to)
      assert.ok(warned(oned, /unreachable|could not/), `a WARN line in the VM log: ${JSON.stringify(oned.log)}`)
      await settled(oned, [to], [host])
      await oned.terminate()
      await settled(oned, [], [host])
    })
  }
  if (group === 'data') {
    test(`${label}: disk snapshots: revert to an older snapshot keeps the newer one; save-as from a snapshot; DS snapshot actions; resize`, async (t) => {
      const { one, oned, host } = await deployed(t, mode, { avoid: DATA })
      const sfx = oned.suffix
      const dev = `${one.emu.deviceRoot(host)}/dev/drbd/by-res/${DATA}/0`
      const write = (fill: number): void => {
        const b = readFileSync(dev)
        Buffer.alloc(MiB, fill).copy(b, 0)
        writeFileSync(dev, b)
      }
      const disk1 = `${host}:${DIR(VM)}/disk.1`
      write(0xa1)
      await oned.action(`SNAP_CREATE_LIVE${sfx} linstor ${disk1} 0 ${VM} ${IMAGE_DS}`)
      write(0xb2)
      await oned.action(`SNAP_CREATE_LIVE${sfx} linstor ${disk1} 1 ${VM} ${IMAGE_DS}`)
      write(0xc3)
      oned.shutdown() // poweroff
      // LINSTOR 1.31+: one rollback to the older snapshot, the newer one kept.
      one.emu.resetCounters()
      await oned.action(`SNAP_REVERT${sfx} linstor ${disk1} 0 ${VM} ${IMAGE_DS}`)
      assert.deepEqual(Object.entries(one.emu.counters()).filter(([k]) => !k.startsWith('GET ')), [['POST /v1/resource-definitions/{resource}/snapshot-rollback/{snapshot}', 1]])
      assert.equal(readFileSync(dev)[0], 0xa1, 'the disk holds snapshot 0')
      assert.deepEqual((await one.client.snapshots.list(DATA)).map((s) => s.name).sort(), ['OpenNebula-Snap-0', 'OpenNebula-Snap-1'])
      await oned.action(`SNAP_REVERT${sfx} linstor ${disk1} 1 ${VM} ${IMAGE_DS}`)
      assert.equal(readFileSync(dev)[0], 0xb2)
      // Save-as of snapshot 0 into a new image: DS mkfs (save_as) names it, TM cpds fills it.
      const ds = readFileSync(join(one.env['LV_ONE_DB'] ?? '', `datastore-${IMAGE_DS}.xml`), 'utf8')
      const mk = await one.ok('datastore', 'mkfs', ['15'], { stdin: actionData({ ID: '15', FORMAT: 'save_as', SIZE: '16', TYPE: '2' }, ds) })
      assert.equal(mk.stdout.trim(), 'OpenNebula-Image-15')
      assert.equal(await one.client.resourceDefinitions.get('OpenNebula-Image-15'), undefined, 'save_as writes nothing')
      await oned.action(`CPDS${sfx} linstor ${disk1} OpenNebula-Image-15 0 ${VM} ${IMAGE_DS}`)
      assert.equal(bytesOf(one, (await diskfulNodes(one, 'OpenNebula-Image-15'))[0] ?? '', 'OpenNebula-Image-15', 1)[0], 0xa1, 'saved from snapshot 0')
      // Resize (grow).
      await oned.action(`RESIZE${sfx} linstor ${disk1} 32 ${VM} ${IMAGE_DS}`)
      assert.equal((await one.client.volumeDefinitions.list(DATA))[0]?.size_kib, 32 * 1024)
      await oned.boot(host) // resume from poweroff
      await settled(oned, [host])
      // Terminate; then DS-level snapshot actions on the image (no VM uses it): delete one, flatten onto the other.
      await oned.terminate()
      await settled(oned, [])
      const snapDoc = (target: string): string => actionData({ ID: '9', SOURCE: DATA, TARGET_SNAPSHOT: target, SIZE: '32', TYPE: '2' }, ds)
      await one.ok('datastore', 'snap_delete', ['9'], { stdin: snapDoc('1') })
      assert.deepEqual((await one.client.snapshots.list(DATA)).map((s) => s.name), ['OpenNebula-Snap-0'])
      await one.ok('datastore', 'snap_flatten', ['9'], { stdin: snapDoc('0') })
      assert.deepEqual(await one.client.snapshots.list(DATA), [])
      assert.equal(bytesOf(one, (await diskfulNodes(one, DATA))[0] ?? '', DATA, 1)[0], 0xa1)
    })


    test(`${label}: backup of the running VM: the disk bytes and vm.xml in the VM directory, nothing left after postbackup`, async (t) => {
      const { one, oned, host, data } = await deployed(t, mode, { avoid: DATA })
      await oned.backup([1], 'pre')
      const out = join(oned.vmDir(host), 'backup')
      const back = join(one.dir, 'back.raw')
      execFileSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', join(out, 'disk.1.0'), back])
      assert.equal(sha(readFileSync(back).subarray(0, 16 * MiB)), sha(data), 'the backup holds the disk bytes')
      assert.equal(readFileSync(join(out, 'vm.xml'), 'utf8').trim(), oned.xml().trim())
      assert.ok(!(await one.client.resourceDefinitions.list()).some((r) => r.name.endsWith('-bk')), 'no temporary resource left')
      assert.deepEqual(await one.client.snapshots.list(DATA), [])
      await oned.backup([1], 'post')
      assert.equal(existsSync(out), false)
      await settled(oned, [host])
      await oned.terminate()
      await settled(oned, [])
    })
  }
}
