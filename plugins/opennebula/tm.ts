/**
 * The transfer manager (TM_MAD linstor): one operation per action oned runs, argv exactly as oned
 * writes it (../shared/reference/opennebula.md 1.4). Each action reads what it needs through the
 * OpenNebula CLI, does the LINSTOR part through the core, and the host part (links into the VM
 * directory, mkswap/mkfs, backups) over ssh. Every action is safe to repeat (`onevm recover
 * --retry`), settles a live migration the system datastore never finished, and leaves a host
 * without a diskless client once nothing there uses the disk.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { PluginError, isPluginError } from '../../core/errors/index.js'
import { isControllerTrouble } from '../../core/ha/index.js'
import { AUX_MIGRATION, readMigrationRecord } from '../../core/lifecycle/index.js'
import type { Attachment } from '../../core/lifecycle/index.js'
import { withinBudget } from '../../core/linstor/index.js'
import type { Storage } from '../../core/storage/index.js'
import { MiB, drInSync, fitName } from '../../core/volumes/index.js'
import type { OneCall } from './call.js'
import type { DriverResult } from './call.js'
import { currentHost, diskOf, disksOf, linstorDisks } from './disks.js'
import type { OneDisk } from './disks.js'
import { AUX_DISK_ID, AUX_DS_ID, AUX_VM_ID, MAX_SIZE_MIB, backupSnapshotName, checkResourceName, intArgument, parseLocation, parseSystemPath, snapshotName } from './names.js'
import type { OneSettings } from './settings.js'
import { mkfsCommand, shellCommand, shellSequence } from './remote.js'
import { revertToSnapshot } from './revert.js'
import type { XmlElement } from './xml.js'

type Action = (call: OneCall) => Promise<DriverResult>

function hostOf(arg: string, what: string): { host: string; path: string } {
  const l = parseLocation(arg)
  if (l.host === undefined || l.host === '') throw new PluginError('ONE_DOCUMENT_INVALID', `${what} '${arg}' is not host:path`)
  return { host: l.host, path: l.path }
}

/** Context of a disk action: the disk, its datastore's settings and Storage. */
interface DiskEnv {
  call: OneCall
  vmid: string
  vm: XmlElement
  disk: OneDisk
  settings: OneSettings
  storage: Storage
}

async function diskEnv(call: OneCall, vmid: string, diskId: number, dsId?: string): Promise<DiskEnv> {
  const vm = await call.show('vm', vmid)
  const disk = diskOf(vm, diskId)
  const settings = await call.settings(disk.dsId !== '' ? disk.dsId : (dsId ?? ''))
  return { call, vmid, vm, disk, settings, storage: await call.storage(settings) }
}

function isControllerVm(e: { settings: OneSettings; vmid: string }): boolean {
  return e.settings.controllerVms.has(Number(e.vmid))
}

/** Where a disk is linked: the VM (for its current host), its directory and the disk id. */
interface DiskPlace {
  vm: XmlElement
  dir: string
  diskId: number
}

/**
 * A live migration the system datastore never finished (ssh's failmigrate does not call the image
 * TMs): finish it from the state, before this action touches the disk. Both ends in use: leave it.
 * The end that does not run the VM (the VM's newest history record) also loses the disk's link that
 * premigrate made there: nothing else removes it (the VM's epilog runs on its own host only).
 * LINSTOR is asked within the action's controller budget: when no controller answers in time the
 * check is skipped (with a warning) and the result is undefined; else whether the resource exists.
 */
async function settle(call: OneCall, storage: Storage, resource: string, place?: DiskPlace): Promise<boolean | undefined> {
  let r: { exists: boolean; done: boolean; record?: ReturnType<typeof readMigrationRecord> }
  try {
    r = await withinBudget(call.controllerUntil(storage) - Date.now(), async () => {
      const info = await storage.resource(resource).info()
      if (info === undefined) return { exists: false, done: false }
      if (info.props[AUX_MIGRATION] === undefined) return { exists: true, done: false }
      const record = readMigrationRecord(info.props)
      const done = await storage.withLock(resource, () => storage.attachments.settleMigration(resource))
      return { exists: true, done, record }
    })
  } catch (err) {
    if (!isControllerTrouble(err)) throw err
    call.controllerUnanswered()
    call.warn(`no LINSTOR controller answered in time (${err instanceof Error ? err.message : String(err)}); ${resource} goes on without LINSTOR's view`)
    return undefined
  }
  if (!r.done) return r.exists
  call.info(`finished the live migration of ${resource} left behind earlier`)
  const runs = place !== undefined ? currentHost(place.vm) : undefined
  if (place === undefined || r.record === undefined || runs === undefined) return true
  for (const h of new Set([r.record.from, r.record.to])) {
    if (h.toLowerCase() !== runs.toLowerCase()) await unlinkOn(call, h, place.dir, place.diskId)
  }
  return true
}

/** Removes a disk's link on a host that no longer has the disk, and the VM directory if that leaves it empty. */
async function unlinkOn(call: OneCall, host: string, dir: string, diskId: number): Promise<void> {
  await removeOn(call, host, `${dir}/disk.${diskId}`)
  // `rmdir` removes only an empty directory; anything else there (or no directory) stays as it is.
  await call.remote.run(host, `${shellCommand(['rmdir', dir])} 2>/dev/null || true`, { signal: call.ctx.signal }).catch(() => undefined)
}

async function link(call: OneCall, host: string, dir: string, diskId: number, resource: string, device?: string): Promise<void> {
  const dev = device ?? call.device(host, resource)
  await call.remote.run(host, shellSequence([['mkdir', '-p', dir], ['ln', '-sfn', dev, `${dir}/disk.${diskId}`]]), { signal: call.ctx.signal })
}

/** Removes a path on a host; a dead host is fine (recovery, cleanup), anything else fails. */
async function removeOn(call: OneCall, host: string, path: string, recursive = false): Promise<void> {
  try {
    await call.remote.exec(host, ['rm', recursive ? '-rf' : '-f', path], { signal: call.ctx.signal })
  } catch (err) {
    if (isPluginError(err) && err.code === 'HOST_UNREACHABLE') call.warn(`${host} is unreachable; ${path} left there (${err.message})`)
    else throw err
  }
}

/**
 * The disk's entry in a VM directory that is about to be moved to another host: a link to the
 * device as the target host sees it, or nothing. A dead host is skipped (recovery: its directory
 * is not moved either).
 */
async function carryLink(call: OneCall, host: string, dir: string, diskId: number, targetDevice: string | undefined): Promise<void> {
  if (targetDevice === undefined) {
    await removeOn(call, host, `${dir}/disk.${diskId}`)
    return
  }
  try {
    await call.remote.run(host, shellSequence([['mkdir', '-p', dir], ['ln', '-sfn', targetDevice, `${dir}/disk.${diskId}`]]), { signal: call.ctx.signal })
  } catch (err) {
    if (isPluginError(err) && err.code === 'HOST_UNREACHABLE') call.warn(`${host} is unreachable; its ${dir} is not moved (${err.message})`)
    else throw err
  }
}

/** Detach on a host, tolerating what a stopped or dead host leaves: the doctor finds leftovers. */
async function release(call: OneCall, e: { storage: Storage; settings: OneSettings; vmid: string }, resource: string, host: string): Promise<void> {
  if (isControllerVm(e)) {
    call.info(`VM ${e.vmid} is a LINSTOR controller VM: ${resource} stays attached on ${host}`)
    return
  }
  try {
    const d = await e.storage.resource(resource).detach(host, { until: call.controllerUntil(e.storage) })
    if (d.removed) call.info(`removed the diskless client of ${resource} on ${host}`)
    if (d.kept === 'controller-unreachable') call.controllerUnanswered()
    if (d.kept === 'controller-unreachable') call.warn(`no LINSTOR controller answered in time: ${resource} stays attached on ${host} until one does${d.pending === true ? ' (kept as pending; the next action on it, the agent or linstor-virt doctor --fix finishes it)' : ''}`)
  } catch (err) {
    if (isPluginError(err) && err.code === 'RESOURCE_IN_USE') call.info(`${resource} is still in use on ${host} (another VM): its client stays`)
    else throw err
  }
}

async function attachAndLink(e: DiskEnv, host: string, dir: string): Promise<Attachment> {
  const h = e.storage.resource(e.disk.resource)
  // A host holding the volume (its device found over ssh) starts the VM without waiting on LINSTOR past the budget.
  const a = await h.attach(host, { migrate: false, probe: e.call.probe, until: e.call.controllerUntil(e.storage) })
  if (a.created) e.call.info(`${e.disk.resource} attached on ${host} as ${a.stack === 'nvme' ? 'an NVMe-oF initiator' : 'a diskless client'}`)
  if (a.offline === 'controller-unreachable') e.call.controllerUnanswered()
  if (a.offline === 'controller-unreachable') e.call.warn(`no LINSTOR controller answered in time: ${e.disk.resource} is used from its device on ${host}${a.pending === true ? '; LINSTOR is told once a controller answers' : ''}`)
  // The datastore's LINSTOR_DR_NODE / LINSTOR_DR_SITE: the DR replica follows it (DRBD volumes only).
  if (a.offline === undefined && a.stack === 'drbd' && !isControllerVm(e) && !drInSync(e.settings.dr, a.dr ?? [])) {
    await h.syncDr(e.settings.dr)
    e.call.info(e.settings.dr === undefined ? `${e.disk.resource}: disaster-recovery replica removed` : `${e.disk.resource}: disaster-recovery replica in place`)
  }
  await link(e.call, host, dir, e.disk.id, e.disk.resource, e.call.attachedDevice(host, a))
  return a
}

function auxOf(vmid: string, diskId: number, dsId: string): Record<string, string> {
  return { [AUX_VM_ID]: vmid, [AUX_DISK_ID]: String(diskId), [AUX_DS_ID]: dsId }
}

/** clone fe:SOURCE host:dir/disk.i vmid dsid: the VM's private copy of an image. */
const clone: Action = async (call) => {
  const source = checkResourceName(parseLocation(call.arg(0, 'source')).path, 'image SOURCE')
  const dst = hostOf(call.arg(1, 'destination'), 'destination')
  const sp = parseSystemPath(dst.path)
  const vmid = call.arg(2, 'VM id')
  const e = await diskEnv(call, vmid, sp.diskId ?? -1, call.arg(3, 'datastore id'))
  const h = e.storage.resource(e.disk.resource)
  let info = await h.info()
  if (info === undefined) {
    call.info(`cloning ${source} into ${e.disk.resource}`)
    info = await e.storage.resource(source).cloneTo(e.disk.resource, { props: auxOf(vmid, e.disk.id, e.settings.dsId) })
  }
  const size = info.volumes[0]?.sizeBytes ?? 0
  if (e.disk.sizeMiB !== undefined && e.disk.sizeMiB * MiB > size) {
    call.info(`growing ${e.disk.resource} to ${e.disk.sizeMiB} MiB`)
    await h.grow(0, { toBytes: e.disk.sizeMiB * MiB })
  }
  await attachAndLink(e, dst.host, sp.dir)
  return call.result()
}

/** ln fe:SOURCE host:dir/disk.i vmid dsid: the image itself (persistent, CDROM). */
const ln: Action = async (call) => {
  const dst = hostOf(call.arg(1, 'destination'), 'destination')
  const sp = parseSystemPath(dst.path)
  const e = await diskEnv(call, call.arg(2, 'VM id'), sp.diskId ?? -1, call.arg(3, 'datastore id'))
  if ((await settle(call, e.storage, e.disk.resource, { vm: e.vm, dir: sp.dir, diskId: e.disk.id })) === false) throw new PluginError('RESOURCE_NOT_FOUND', `image ${e.disk.resource} does not exist in LINSTOR`)
  await attachAndLink(e, dst.host, sp.dir)
  return call.result()
}

/** mkswap/mkimage: a volatile disk of a linstor system datastore, made, formatted and linked. */
async function volatile(call: OneCall, sizeArg: string, dstArg: string, vmid: string, dsId: string, format: (e: DiskEnv, dev: string) => string[] | undefined): Promise<DriverResult> {
  const sizeMiB = intArgument(sizeArg, 'size (MiB)', 1, MAX_SIZE_MIB)
  const dst = hostOf(dstArg, 'destination')
  const sp = parseSystemPath(dst.path)
  const e = await diskEnv(call, vmid, sp.diskId ?? -1, dsId)
  const h = e.storage.resource(e.disk.resource)
  const existed = await h.exists()
  await h.create({ volumes: [sizeMiB * MiB], policy: e.settings.policy, preferNode: dst.host, props: auxOf(vmid, e.disk.id, e.settings.dsId) })
  if (e.settings.dr !== undefined) await h.syncDr(e.settings.dr)
  const a = await attachAndLink(e, dst.host, sp.dir)
  const argv = format(e, call.attachedDevice(dst.host, a))
  if (argv !== undefined && !existed) {
    call.info(`${argv[0] ?? ''} on ${e.disk.resource}`)
    await call.remote.run(dst.host, shellCommand(argv), { signal: call.ctx.signal })
  }
  return call.result()
}

const mkswap: Action = (call) => volatile(call, call.arg(0, 'size'), call.arg(1, 'destination'), call.arg(2, 'VM id'), call.arg(3, 'datastore id'), (_e, dev) => ['mkswap', dev])

const mkimage: Action = (call) =>
  volatile(call, call.arg(0, 'size'), call.arg(2, 'destination'), call.arg(3, 'VM id'), call.arg(4, 'datastore id'), (e, dev) => {
    const format = call.argv[1] ?? 'raw'
    if (format !== 'raw') call.info(`volatile disks on LINSTOR are block devices: ${format} is stored as raw`)
    return e.disk.fs !== undefined ? mkfsCommand(e.disk.fs, dev) : undefined
  })

/** Runs another TM driver's action (the VM directory's own driver, or the ISO builder), as oned would. */
async function runOtherTm(call: OneCall, tm: string, action: string, argv: readonly string[], stdin?: string): Promise<void> {
  if (!/^[a-z0-9_-]+$/i.test(tm)) throw new PluginError('ONE_DOCUMENT_INVALID', `'${tm}' is not a TM driver name`)
  const exe = join(call.remotesDir, 'tm', tm, action)
  if (!existsSync(exe)) throw new PluginError('ONE_CLI_FAILED', `${exe} does not exist (is OpenNebula's ${tm} driver installed?)`)
  // Loaded when used: an action that stops at its arguments starts without it.
  const { spawn } = await import('node:child_process')
  return new Promise((resolve, reject) => {
    const child = spawn(exe, [...argv], { stdio: ['pipe', 'ignore', 'pipe'], signal: call.ctx.signal })
    const err: Buffer[] = []
    child.stderr.on('data', (c: Buffer) => err.push(c))
    child.on('error', (e) => reject(new PluginError('ONE_CLI_FAILED', `tm/${tm}/${action}: ${e.message}`)))
    child.on('close', (code) => {
      const lines = Buffer.concat(err).toString('utf8').split('\n').filter((l) => l.trim() !== '')
      for (const l of lines) if (/^(INFO|WARNING|WARN|DEBUG|ERROR):/.test(l)) call.messages.push(l)
      if (code === 0) resolve()
      else reject(new PluginError('ONE_CLI_FAILED', `tm/${tm}/${action} failed (exit ${code ?? 'killed'}): ${lines.filter((l) => !/^[A-Z]+:/.test(l)).join(' ') || lines.join(' ')}`))
    })
    child.stdin.on('error', () => undefined)
    child.stdin.end(stdin ?? '')
  })
}

/** context: the ISO is a file in the VM directory; OpenNebula's ssh driver builds and copies it. */
const context: Action = async (call) => {
  await runOtherTm(call, 'ssh', 'context', call.argv)
  return call.result()
}

/** mvds host:dir/disk.i SOURCE vmid dsid: a persistent disk leaves the VM; its data stays in the image. */
const mvds: Action = async (call) => {
  const src = hostOf(call.arg(0, 'disk'), 'disk')
  const sp = parseSystemPath(src.path)
  const e = await diskEnv(call, call.arg(2, 'VM id'), sp.diskId ?? -1, call.arg(3, 'datastore id'))
  await settle(call, e.storage, e.disk.resource, { vm: e.vm, dir: sp.dir, diskId: e.disk.id })
  await removeOn(call, src.host, `${sp.dir}/disk.${e.disk.id}`)
  await release(call, e, e.disk.resource, src.host)
  return call.result()
}

/** cpds host:dir/disk.i SOURCE snap_id vmid dsid: save-as into the image DS mkfs named. */
const cpds: Action = async (call) => {
  const src = hostOf(call.arg(0, 'disk'), 'disk')
  const sp = parseSystemPath(src.path)
  const target = checkResourceName(call.arg(1, 'SOURCE of the new image'), 'new image SOURCE')
  const snapId = intArgument(call.arg(2, 'snapshot id'), 'snapshot id', -1)
  const e = await diskEnv(call, call.arg(3, 'VM id'), sp.diskId ?? -1, call.arg(4, 'datastore id'))
  if (await e.storage.resource(target).exists()) {
    call.info(`${target} exists already`)
    return call.result()
  }
  const snapshot = snapId >= 0 ? snapshotName(snapId) : undefined
  call.info(`copying ${e.disk.resource}${snapshot !== undefined ? ` (snapshot ${snapId})` : ''} into ${target}`)
  await e.storage.resource(e.disk.resource).cloneTo(target, { ...(snapshot !== undefined ? { snapshot } : {}) })
  return call.result()
}

/** delete host:dir/disk.i vmid dsid, or host:dir vmid dsid for the VM directory. */
const del: Action = async (call) => {
  const at = hostOf(call.arg(0, 'path'), 'path')
  const sp = parseSystemPath(at.path)
  const vmid = call.arg(1, 'VM id')
  if (sp.diskId === undefined) {
    await removeOn(call, at.host, sp.dir, true)
    return call.result()
  }
  const vm = await call.show('vm', vmid)
  const found = disksOf(vm).find((d) => d.id === sp.diskId)
  if (found === undefined) {
    call.info(`VM ${vmid} has no disk ${sp.diskId} any more: only the link is removed`)
    await removeOn(call, at.host, at.path)
    return call.result()
  }
  const e = await diskEnv(call, vmid, found.id, call.arg(2, 'datastore id'))
  await removeOn(call, at.host, `${sp.dir}/disk.${e.disk.id}`)
  if (isControllerVm(e)) {
    call.info(`VM ${vmid} is a LINSTOR controller VM: ${e.disk.resource} is kept`)
    return call.result()
  }
  const exists = await settle(call, e.storage, e.disk.resource, { vm: e.vm, dir: sp.dir, diskId: e.disk.id })
  if (e.disk.private) {
    const h = e.storage.resource(e.disk.resource)
    if (exists === undefined) {
      // Deleting data needs the controller: the host's client is kept as pending, the disk stays.
      await release(call, e, e.disk.resource, at.host)
      throw new PluginError('LINSTOR_UNAVAILABLE', `no LINSTOR controller answered in time: ${e.disk.resource}, VM ${vmid}'s own disk, is not deleted; retry (onevm recover --retry) once a controller answers`, { context: { resource: e.disk.resource } })
    }
    if (exists) {
      await release(call, e, e.disk.resource, at.host)
      await h.delete({ snapshots: true })
      call.info(`deleted ${e.disk.resource}`)
    }
  } else {
    await release(call, e, e.disk.resource, at.host)
  }
  return call.result()
}

/** Copies a VM directory between hosts through the front-end (hosts need no ssh trust between them). */
async function copyDir(call: OneCall, from: string, fromDir: string, to: string, toDir: string): Promise<void> {
  const { PassThrough } = await import('node:stream')
  const pipe = new PassThrough()
  const out = call.remote.run(from, shellCommand(['tar', '-C', fromDir, '-cf', '-', '.']), { stdoutTo: pipe, signal: call.ctx.signal }).finally(() => pipe.end())
  const into = call.remote.run(to, shellSequence([['mkdir', '-p', toDir], ['tar', '-C', toDir, '-xf', '-']]), { input: pipe, signal: call.ctx.signal })
  await Promise.all([out, into])
}

/** The linstor disks of a VM, each with its datastore's Storage. */
async function vmDisks(call: OneCall, vm: XmlElement): Promise<{ disk: OneDisk; settings: OneSettings; storage: Storage }[]> {
  const out: { disk: OneDisk; settings: OneSettings; storage: Storage }[] = []
  for (const disk of linstorDisks(vm)) {
    checkResourceName(disk.resource, `the LINSTOR resource of disk ${disk.id}`)
    const settings = await call.settings(disk.dsId)
    out.push({ disk, settings, storage: await call.storage(settings) })
  }
  return out
}

/** mv hostA:path hostB:path vmid dsid: stop/undeploy, resume, cold migration, recovery from a dead host. */
const mv: Action = async (call) => {
  const src = hostOf(call.arg(0, 'source'), 'source')
  const dst = hostOf(call.arg(1, 'destination'), 'destination')
  const sp = parseSystemPath(src.path)
  const dp = parseSystemPath(dst.path)
  const vmid = call.arg(2, 'VM id')
  const same = src.host.toLowerCase() === dst.host.toLowerCase()
  if (sp.diskId === undefined) {
    // The VM directory (this driver is the system datastore's): copy it, then re-link our disks.
    if (same && sp.dir === dp.dir) return call.result()
    try {
      await copyDir(call, src.host, sp.dir, dst.host, dp.dir)
    } catch (err) {
      if (!(isPluginError(err) && err.code === 'HOST_UNREACHABLE')) throw err
      call.warn(`could not copy ${sp.dir} from ${src.host} (${err.message}); making an empty one on ${dst.host}`)
      await call.remote.exec(dst.host, ['mkdir', '-p', dp.dir], { signal: call.ctx.signal })
    }
    const vm = await call.show('vm', vmid)
    for (const d of await vmDisks(call, vm)) {
      if (await call.isNode(d.storage, dst.host)) {
        const info = await d.storage.resource(d.disk.resource).info()
        await link(call, dst.host, dp.dir, d.disk.id, d.disk.resource, info === undefined ? undefined : call.deviceOn(dst.host, info))
      }
    }
    await removeOn(call, src.host, sp.dir, true)
    return call.result()
  }
  const e = await diskEnv(call, vmid, sp.diskId, call.arg(3, 'datastore id'))
  await settle(call, e.storage, e.disk.resource, { vm: e.vm, dir: sp.dir, diskId: e.disk.id })
  const toNode = await call.isNode(e.storage, dst.host)
  let moved: Attachment | undefined
  if (toNode) {
    moved = await attachAndLink(e, dst.host, dp.dir)
  } else {
    call.info(`${dst.host} is not a LINSTOR node: ${e.disk.resource} stays in LINSTOR until the VM is deployed again`)
  }
  if (!same) {
    // oned moves the VM directory right after the disks (TransferManager.cc: per-disk MV lines, then
    // the directory's with the system datastore's TM; OpenNebula's ssh/mv replaces the target's
    // directory with the source's). So the source directory gets the link the target needs, which
    // the move carries there; none when the target has no devices (a front-end that is no node).
    await carryLink(call, src.host, sp.dir, e.disk.id, moved !== undefined ? call.attachedDevice(dst.host, moved) : undefined)
    if (await call.isNode(e.storage, src.host)) {
      try {
        await release(call, e, e.disk.resource, src.host)
      } catch (err) {
        // A dead source host (recovery): LINSTOR may not remove its client now; the doctor will.
        call.warn(`could not remove the client of ${e.disk.resource} on ${src.host}: ${err instanceof Error ? err.message : String(err)}`)
      }
    }
  }
  return call.result()
}

type MigrateStep = 'pre' | 'post' | 'fail'

/** premigrate/postmigrate/failmigrate src dst dir vmid dsid [caller_tm], VM document on stdin. */
function migrate(step: MigrateStep): Action {
  return async (call) => {
    const from = call.arg(0, 'source host')
    const to = call.arg(1, 'destination host')
    const dir = parseSystemPath(call.arg(2, 'VM directory')).dir
    const vmid = call.arg(3, 'VM id')
    const dsId = call.arg(4, 'system datastore id')
    const caller = call.argv[5]
    const vm = await call.vmFromStdin(vmid)
    const disks = await vmDisks(call, vm)
    const begun: typeof disks = []
    const system = caller === undefined ? await call.settings(dsId) : undefined
    // The VM directory first (linstor is the system datastore's TM): the links made below for the
    // target's devices must not be overwritten by the source's, carried in the copy.
    if (system?.tmMad === 'linstor' && step === 'pre') await copyDir(call, from, dir, to, dir).catch((err: unknown) => call.warn(`copying ${dir} to ${to}: ${err instanceof Error ? err.message : String(err)}`))
    if (step === 'pre') {
      try {
        for (const d of disks) {
          await d.storage.resource(d.disk.resource).beginMigration(from, to)
          begun.push(d)
          await link(call, to, dir, d.disk.id, d.disk.resource)
        }
      } catch (err) {
        for (const d of begun.reverse()) {
          await d.storage.resource(d.disk.resource).abortMigration(from, to).catch((e: unknown) => call.warn(`undoing ${d.disk.resource}: ${e instanceof Error ? e.message : String(e)}`))
        }
        if (system?.tmMad === 'linstor') await removeOn(call, to, dir, true).catch(() => undefined)
        throw err
      }
      if (disks.length > 0) call.info(`${disks.map((d) => d.disk.resource).join(', ')} ready on ${to}, dual-primary between ${from} and ${to} only`)
    } else {
      const leaving = step === 'post' ? from : to
      for (const d of disks) {
        const h = d.storage.resource(d.disk.resource)
        if (step === 'post') await h.completeMigration(from, to)
        else await h.abortMigration(from, to)
        await removeOn(call, leaving, `${dir}/disk.${d.disk.id}`)
      }
    }
    // The system datastore's driver calls the others (OpenNebula's migrate_other), and owns the directory.
    if (system !== undefined) {
      const others = [...new Set(disksOf(vm).map((d) => d.tmMad).filter((t) => t !== '' && t !== 'linstor'))]
      const action = step === 'pre' ? 'premigrate' : step === 'post' ? 'postmigrate' : 'failmigrate'
      for (const tm of others) await runOtherTm(call, tm, action, [from, to, call.argv[2] ?? dir, vmid, dsId, 'linstor'], call.stdin)
      if (system.tmMad === 'linstor' && step !== 'pre') await removeOn(call, step === 'post' ? from : to, dir, true)
    }
    return call.result()
  }
}

/** Disk action arguments `host:dir/disk.i <n> vmid dsid` (snapshots, resize). */
async function diskAction(call: OneCall): Promise<{ host: string; e: DiskEnv; n: string }> {
  const at = hostOf(call.arg(0, 'disk'), 'disk')
  const sp = parseSystemPath(at.path)
  const e = await diskEnv(call, call.arg(2, 'VM id'), sp.diskId ?? -1, call.arg(3, 'datastore id'))
  await settle(call, e.storage, e.disk.resource, { vm: e.vm, dir: sp.dir, diskId: e.disk.id })
  return { host: at.host, e, n: call.arg(1, 'snapshot id or size') }
}

const snapCreate: Action = async (call) => {
  const { e, n } = await diskAction(call)
  const snap = snapshotName(intArgument(n, 'snapshot id'))
  await e.storage.resource(e.disk.resource).createSnapshot(snap, auxOf(e.vmid, e.disk.id, e.settings.dsId))
  call.info(`snapshot ${snap} of ${e.disk.resource} taken`)
  return call.result()
}

const snapDelete: Action = async (call) => {
  const { e, n } = await diskAction(call)
  await e.storage.resource(e.disk.resource).deleteSnapshot(snapshotName(intArgument(n, 'snapshot id')))
  return call.result()
}

const snapRevert: Action = async (call) => {
  const { e, n, host } = await diskAction(call)
  await revertToSnapshot(call, e.storage, e.disk.resource, snapshotName(intArgument(n, 'snapshot id')), host)
  return call.result()
}

const resize: Action = async (call) => {
  const { e, n } = await diskAction(call)
  const mib = intArgument(n, 'size (MiB)', 1, MAX_SIZE_MIB)
  await e.storage.resource(e.disk.resource).grow(0, { toBytes: mib * MiB })
  call.info(`${e.disk.resource} is ${mib} MiB`)
  return call.result()
}

/**
 * prebackup[_live] host:dir disk_ids deploy_id bj_id vmid dsid (VM XML on stdin): for each of our
 * disks, a snapshot (crash-consistent while running), restored into a temporary resource that the
 * host reads into dir/backup/disk.<id>.0 as qcow2; both go again at once. vm.xml beside them.
 */
const prebackup: Action = async (call) => {
  const at = hostOf(call.arg(0, 'VM directory'), 'VM directory')
  const dir = parseSystemPath(at.path).dir
  const ids = new Set(call.arg(1, 'disk ids').split(':').filter((x) => x !== '').map((x) => intArgument(x, 'disk id')))
  const vmid = call.arg(4, 'VM id')
  const vm = await call.vmFromStdin(vmid)
  const backupDir = `${dir}/backup`
  await call.remote.exec(at.host, ['mkdir', '-p', backupDir], { signal: call.ctx.signal })
  for (const d of await vmDisks(call, vm)) {
    if (!ids.has(d.disk.id)) continue
    const snap = backupSnapshotName(vmid, d.disk.id)
    const temp = tempName(d.disk.resource, 'bk')
    const h = d.storage.resource(d.disk.resource)
    await cleanupBackup(d.storage, d.disk.resource, temp, snap)
    await h.createSnapshot(snap)
    try {
      await h.cloneTo(temp, { snapshot: snap })
      const t = d.storage.resource(temp)
      await t.attach(at.host, { migrate: false })
      const out = `${backupDir}/disk.${d.disk.id}.0`
      call.info(`backing up disk ${d.disk.id} (${d.disk.resource}) into ${out}`)
      await call.remote.exec(at.host, ['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'qcow2', call.device(at.host, temp), out], { signal: call.ctx.signal, timeoutMs: call.ctx.remainingMs() })
    } finally {
      await cleanupBackup(d.storage, d.disk.resource, temp, snap)
    }
  }
  await call.remote.exec(at.host, ['dd', `of=${backupDir}/vm.xml`, 'status=none'], { input: call.stdinText(), signal: call.ctx.signal })
  return call.result()
}

/** A temporary resource name derived from a resource, within LINSTOR's 48 characters; two resources never share one. */
function tempName(resource: string, tag: string): string {
  return fitName('', resource, `-${tag}`)
}

async function cleanupBackup(storage: Storage, resource: string, temp: string, snap: string): Promise<void> {
  const t = storage.resource(temp)
  if (await t.exists()) await t.delete({ snapshots: true })
  const snaps = await storage.resource(resource).snapshots()
  if (snaps.some((s) => s.name === snap)) await storage.resource(resource).deleteSnapshot(snap)
}

/** postbackup[_live]: the backup files are read; remove them and anything a failed run left. */
const postbackup: Action = async (call) => {
  const at = hostOf(call.arg(0, 'VM directory'), 'VM directory')
  const dir = parseSystemPath(at.path).dir
  const vmid = call.arg(4, 'VM id')
  const vm = await call.vmFromStdin(vmid)
  for (const d of await vmDisks(call, vm)) await cleanupBackup(d.storage, d.disk.resource, tempName(d.disk.resource, 'bk'), backupSnapshotName(vmid, d.disk.id))
  await removeOn(call, at.host, `${dir}/backup`, true)
  return call.result()
}

/** monitor <ds id> (system datastore; DS document on stdin): capacity as the image datastore reports it. */
const monitor: Action = async (call) => {
  const { monitorLines } = await import('./ds.js')
  return call.result(await monitorLines(call))
}

/** restore: OpenNebula's native restore reads a backup datastore; not done by this driver yet. */
const restore: Action = () => Promise.reject(new PluginError('ONE_DOCUMENT_INVALID', 'restoring from a backup in place is not supported by the linstor driver yet: restore the backup into a new image (onebackup restore creates images) instead'))

export const TM_ACTIONS: Readonly<Record<string, Action>> = {
  clone,
  ln,
  mkswap,
  mkimage,
  context,
  mvds,
  cpds,
  delete: del,
  mv,
  premigrate: migrate('pre'),
  postmigrate: migrate('post'),
  failmigrate: migrate('fail'),
  snap_create: snapCreate,
  snap_create_live: snapCreate,
  snap_delete: snapDelete,
  snap_revert: snapRevert,
  resize,
  prebackup,
  prebackup_live: prebackup,
  postbackup,
  postbackup_live: postbackup,
  restore,
  monitor,
}
