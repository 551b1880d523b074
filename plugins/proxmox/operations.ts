/**
 * The operations behind the Perl shim's forwarded methods (plugins/proxmox/CONTRACT.md), one per
 * PVE storage plugin method, translated to the core. Registered as platform "proxmox".
 *
 * Units follow PVE: alloc_image takes KiB; sizes everywhere else are bytes.
 */
import { PluginError, isPluginError } from '../../core/errors/index.js'
import { policyGroupName } from '../../core/placement/index.js'
import { statusAnswer, storageOf } from '../../core/protocol/index.js'
import type { CallContext, Operation } from '../../core/protocol/index.js'
import type { ResourceHandle, Storage } from '../../core/storage/index.js'
import { KiB, MiB } from '../../core/volumes/index.js'
import type { ResourceInfo } from '../../core/volumes/index.js'
import { PARENT_PROP, VMID_PROP, VOLNAME_PROP, linstorSnapshotName, parseVolname, pveSnapshotName, snapshotResource, validSnapshotName, volnameOf } from './names.js'
import type { PveVolume } from './names.js'
import { proxmoxSettings } from './settings.js'
import type { ProxmoxSettings } from './settings.js'

/**
 * Smallest volume this storage makes. DRBD and ZFS refuse tiny backing devices (EFI vars disks are
 * ~528 KiB), and vzdump restores tolerate a 4 MiB difference, so 3 MiB is both safe and restorable;
 * linstor-proxmox settled on the same after trying 5 MiB (#43, #62).
 */
export const MIN_VOLUME_BYTES = 3 * MiB

interface Env {
  settings: ProxmoxSettings
  storage: Storage
  ctx: CallContext
}

async function envOf(ctx: CallContext): Promise<Env> {
  const settings = proxmoxSettings(ctx.config)
  const vms = settings.controllerVms
  const storage = await storageOf(ctx, {
    config: settings.core,
    // A controller VM's disks are never freed, deactivated or resized (vm-<id>-... names carry the
    // id; pm- names are checked by the operations from their volname).
    controllerVm: { match: (rsc) => vms.size > 0 && vms.has(parseVolname(rsc)?.vmid ?? 0) },
  })
  return { settings, storage, ctx }
}

function invalid(message: string): PluginError {
  return new PluginError('CALL_INVALID', message)
}

function strArg(args: Readonly<Record<string, unknown>>, name: string): string {
  const v = args[name]
  if (typeof v !== 'string' || v === '') throw invalid(`arguments.${name}: must be a non-empty string`)
  return v
}

function optStr(args: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const v = args[name]
  if (v === undefined || v === null || v === '') return undefined
  if (typeof v !== 'string') throw invalid(`arguments.${name}: must be a string or null`)
  return v
}

function intArg(args: Readonly<Record<string, unknown>>, name: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const v = args[name]
  const n = typeof v === 'string' && /^[0-9]+$/.test(v) ? Number(v) : v
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max) {
    throw invalid(`arguments.${name}: must be a whole number ${max < Number.MAX_SAFE_INTEGER ? `from ${min} to ${max}` : `of at least ${min}`}`)
  }
  return n
}

/** PVE's VM ids (1 to 999999999; names and the shim's parse_volname hold no more digits). */
const MAX_VMID = 999_999_999
/** The largest alloc_image size whose byte count is still exact. */
const MAX_KIB = Math.floor(Number.MAX_SAFE_INTEGER / KiB)

function volumeArg(args: Readonly<Record<string, unknown>>, name = 'volname'): PveVolume {
  const volname = strArg(args, name)
  const v = parseVolname(volname)
  if (v === undefined) throw new PluginError('CALL_INVALID', `'${volname}' is not a volume name of a linstor storage (vm-<vmid>-..., base-<vmid>-..., or linstor-proxmox's pm-<id>_<vmid>)`)
  return v
}

function snapArg(args: Readonly<Record<string, unknown>>, name: string): string {
  const snap = strArg(args, name)
  if (!validSnapshotName(snap)) throw invalid(`snapshot name '${snap}' is not valid: a letter, then letters, digits, '-' or '_' (2-40 characters)`)
  return snap
}

function isControllerVm(env: Env, v: PveVolume): boolean {
  return env.settings.controllerVms.has(v.vmid)
}

function deviceOf(info: { volumes: readonly { number: number; devicePath: string }[] }, what: string): string {
  const v = info.volumes.find((x) => x.number === 0)
  if (v === undefined) throw new PluginError('RESOURCE_NOT_FOUND', `${what} has no volume 0`)
  return v.devicePath
}

async function mustExist(h: ResourceHandle, v: PveVolume): Promise<ResourceInfo> {
  const info = await h.info()
  if (info === undefined) throw new PluginError('RESOURCE_NOT_FOUND', `volume ${v.volname} does not exist in LINSTOR (resource ${v.resource})`, { context: { resource: v.resource } })
  return info
}

/** The resource group whose definitions are this storage's volumes. */
function groupOf(s: ProxmoxSettings): string {
  return s.policy.resourceGroup ?? policyGroupName(s.policy)
}

/** Every resource name in LINSTOR (lower-cased), and the volnames recorded for hashed names. */
async function takenNames(env: Env): Promise<Set<string>> {
  const rds = await env.storage.client.resourceDefinitions.list()
  const taken = new Set<string>()
  for (const rd of rds) {
    taken.add(rd.name.toLowerCase())
    const v = rd.props[VOLNAME_PROP]
    if (v !== undefined) taken.add(v.toLowerCase())
  }
  return taken
}

/** PVE's rule for new disks: the lowest n with neither vm-<vmid>-disk-<n> nor base-<vmid>-disk-<n> taken. */
async function freeDiskName(env: Env, vmid: number): Promise<string> {
  const taken = await takenNames(env)
  for (let n = 0; n < 1024; n++) {
    if (!taken.has(`vm-${vmid}-disk-${n}`) && !taken.has(`base-${vmid}-disk-${n}`)) return `vm-${vmid}-disk-${n}`
  }
  throw new PluginError('RESOURCE_CONFLICT', `VM ${vmid} already has 1024 disks on this storage; no free disk name`)
}

function ownProps(v: PveVolume, extra: Record<string, string> = {}): Record<string, string> {
  return { [VMID_PROP]: String(v.vmid), ...(v.resource !== v.volname ? { [VOLNAME_PROP]: v.volname } : {}), ...extra }
}

/**
 * Creates a one-volume resource of at least MIN_VOLUME_BYTES by the storage's policy, a replica on
 * this node first unless told otherwise.
 */
async function createVolume(env: Env, v: PveVolume, sizeBytes: number): Promise<void> {
  await env.storage.resource(v.resource).create({
    volumes: [Math.max(MIN_VOLUME_BYTES, sizeBytes)],
    policy: env.settings.policy,
    props: ownProps(v),
    ...(env.settings.policy.preferLocal !== false ? { preferNode: env.settings.node } : {}),
  })
}

/** Snapshots of a volume as PVE names them (oldest first), with their LINSTOR names. */
async function pveSnapshots(h: ResourceHandle, v: PveVolume): Promise<{ pve: string; linstor: string; createdAt?: number }[]> {
  const out: { pve: string; linstor: string; createdAt?: number }[] = []
  for (const s of await h.snapshots()) {
    const pve = pveSnapshotName(v, s.name)
    if (pve !== undefined) out.push({ pve, linstor: s.name, ...(s.createdAt !== undefined ? { createdAt: s.createdAt } : {}) })
  }
  return out
}

/** Moves a volume to a new name: LINSTOR cannot rename a definition, so clone (thin pools: copy-on-write) and delete. */
async function moveVolume(env: Env, from: PveVolume, to: PveVolume, props: Record<string, string>): Promise<void> {
  const src = env.storage.resource(from.resource)
  const info = await src.info()
  const target = env.storage.resource(to.resource)
  if (info === undefined) {
    // Done before (a repeat after a crash between clone and delete, or after both).
    if (await target.exists()) return
    throw new PluginError('RESOURCE_NOT_FOUND', `volume ${from.volname} does not exist`, { context: { resource: from.resource } })
  }
  const using = info.replicas.filter((r) => r.inUse === true).map((r) => r.node)
  if (using.length > 0) throw new PluginError('RESOURCE_IN_USE', `volume ${from.volname} is in use on ${using.join(', ')}; stop the VM first`, { context: { resource: from.resource } })
  await src.cloneTo(to.resource, { props: { ...ownProps(to), ...props } })
  await src.delete({ snapshots: true })
}

async function status(env: Env): Promise<Record<string, unknown>> {
  // Within the 2 s whatever the controller does (refused, black-holed, slow, failing): its answer,
  // else the last known one marked stale (the agent and, for one-shot calls, the host's state
  // folder keep it), else inactive; pvestatd and the GUI never wait on LINSTOR.
  let a
  try {
    a = await statusAnswer(env.ctx, env.storage, `proxmox-status:${env.settings.storeid}`, async () => {
      const cap = await env.storage.capacity(env.settings.policy)
      const total = cap.capacityBytes
      const avail = Math.min(cap.availableBytes, total)
      return { total, avail, used: Math.max(0, total - avail) }
    })
  } catch (err) {
    if (isPluginError(err) && (err.code === 'PLACEMENT_GROUP_MISSING' || err.code === 'CONFIG_INVALID')) throw err
    a = { stale: true as const, error: err }
  }
  if (a.value !== undefined) return a.stale ? { ...a.value, active: true, stale: true, asOf: new Date(a.at).toISOString() } : { ...a.value, active: true }
  const reason = a.error instanceof Error ? a.error.message : String(a.error)
  env.ctx.logger.warn({ storage: env.settings.storeid, err: reason }, 'status: storage reported inactive')
  return { total: 0, avail: 0, used: 0, active: false, reason }
}

async function allocImage(env: Env, args: Readonly<Record<string, unknown>>): Promise<{ volname: string }> {
  const vmid = intArg(args, 'vmid', 1, MAX_VMID)
  const fmt = optStr(args, 'fmt') ?? 'raw'
  if (fmt !== 'raw') throw new PluginError('CALL_INVALID', `a linstor storage holds raw block devices only, not ${fmt}`)
  const sizeKib = intArg(args, 'sizeKib', 1, MAX_KIB)
  const name = optStr(args, 'name')
  let v: PveVolume
  if (name === undefined) {
    v = parseVolname(await freeDiskName(env, vmid)) as PveVolume
  } else {
    const parsed = parseVolname(name)
    if (parsed === undefined) throw new PluginError('CALL_INVALID', `illegal name '${name}': use vm-${vmid}-<name>, base-${vmid}-<name> or leave the name empty`)
    if (parsed.vmid !== vmid) throw new PluginError('CALL_INVALID', `illegal name '${name}': it belongs to VM ${parsed.vmid}, not ${vmid}`)
    v = parsed
  }
  const h = env.storage.resource(v.resource)
  // qemu-server re-allocates cloud-init drives by name on a node whose device it does not see.
  if (/-cloudinit$/.test(v.volname) && (await h.exists())) return { volname: v.volname }
  try {
    await createVolume(env, v, sizeKib * KiB)
  } catch (err) {
    if (isPluginError(err) && err.code === 'RESOURCE_CONFLICT') throw new PluginError('RESOURCE_CONFLICT', `volume ${v.volname} already exists with another size or placement`, { cause: err, context: { resource: v.resource } })
    throw err
  }
  return { volname: v.volname }
}

async function freeImage(env: Env, args: Readonly<Record<string, unknown>>): Promise<Record<string, never>> {
  const v = volumeArg(args)
  if (isControllerVm(env, v)) throw new PluginError('CONTROLLER_VM_PROTECTED', `volume ${v.volname} belongs to the LINSTOR controller VM ${v.vmid} and is never freed by this storage`)
  const h = env.storage.resource(v.resource)
  // PVE frees right after stopping a VM; DRBD may need a moment to leave Primary.
  for (let attempt = 0; ; attempt++) {
    try {
      await h.delete({ snapshots: true })
      return {}
    } catch (err) {
      if (!(isPluginError(err) && err.code === 'RESOURCE_IN_USE') || attempt >= 10 || env.ctx.remainingMs() < 3000) throw err
      await new Promise((r) => setTimeout(r, 1000))
    }
  }
}

async function listImages(env: Env, args: Readonly<Record<string, unknown>>): Promise<Record<string, unknown>[]> {
  const vmidFilter = args['vmid'] === null || args['vmid'] === undefined || args['vmid'] === '' ? undefined : intArg(args, 'vmid', 1)
  const vollist = Array.isArray(args['vollist']) ? new Set((args['vollist'] as unknown[]).map(String)) : undefined
  const group = groupOf(env.settings).toLowerCase()
  const out: Record<string, unknown>[] = []
  for (const rd of await env.storage.client.resourceDefinitions.list({ withVolumeDefinitions: true })) {
    if ((rd.resource_group_name ?? '').toLowerCase() !== group) continue
    const volname = volnameOf(rd.name, rd.props)
    if (volname === undefined) continue
    const v = parseVolname(volname) as PveVolume
    const volid = `${env.settings.storeid}:${volname}`
    if (vmidFilter !== undefined && v.vmid !== vmidFilter) continue
    if (vollist !== undefined && !vollist.has(volid)) continue
    const vd = rd.volume_definitions.find((x) => x.volume_number === 0)
    if (vd === undefined || rd.volume_definitions.length !== 1) continue
    const parent = rd.props[PARENT_PROP]
    out.push({ volid, format: 'raw', size: vd.size_kib * KiB, vmid: v.vmid, ...(parent !== undefined ? { parent: `${env.settings.storeid}:${parent}` } : {}) })
  }
  return out.sort((a, b) => String(a['volid']).localeCompare(String(b['volid'])))
}

/** A read-only view of a snapshot as its own resource (LINSTOR cannot open a snapshot in place). */
async function snapshotView(env: Env, v: PveVolume, snap: string): Promise<ResourceHandle> {
  const name = snapshotResource(v.resource, snap)
  const view = env.storage.resource(name)
  if (!(await view.exists())) {
    const snapName = linstorSnapshotName(v, snap)
    const snaps = await env.storage.resource(v.resource).snapshots()
    if (!snaps.some((s) => s.name === snapName)) throw new PluginError('SNAPSHOT_NOT_FOUND', `volume ${v.volname} has no snapshot ${snap}`, { context: { resource: v.resource } })
    await env.storage.resource(v.resource).cloneTo(name, { snapshot: snapName, props: { 'Aux/linstor-virt/pve-snapshot-of': v.volname } })
  }
  return view
}

/** The volume itself, or the view of its snapshot when the call names one (arguments.snapname). */
async function volumeOrView(env: Env, v: PveVolume, args: Readonly<Record<string, unknown>>): Promise<ResourceHandle> {
  return optStr(args, 'snapname') === undefined ? env.storage.resource(v.resource) : snapshotView(env, v, snapArg(args, 'snapname'))
}

async function activateVolume(env: Env, args: Readonly<Record<string, unknown>>): Promise<{ path: string }> {
  const v = volumeArg(args)
  const h = await volumeOrView(env, v, args)
  const a = await h.attach(env.settings.node)
  if (a.offline !== undefined) env.ctx.logger.warn({ volume: v.volname, why: a.offline }, 'activated from the local replica without LINSTOR')
  return { path: deviceOf(a, `volume ${v.volname}`) }
}

async function deactivateVolume(env: Env, args: Readonly<Record<string, unknown>>): Promise<Record<string, never>> {
  const v = volumeArg(args)
  const snap = optStr(args, 'snapname')
  if (snap !== undefined) {
    const view = env.storage.resource(snapshotResource(v.resource, snapArg(args, 'snapname')))
    await view.detach(env.settings.node)
    // The view is temporary: gone once nothing uses it.
    const info = await view.info()
    if (info !== undefined && !info.replicas.some((r) => r.inUse === true)) await view.delete({ snapshots: true })
    return {}
  }
  if (isControllerVm(env, v)) return {}
  await env.storage.resource(v.resource).detach(env.settings.node)
  return {}
}

async function sizeInfo(env: Env, args: Readonly<Record<string, unknown>>): Promise<{ size: number }> {
  const v = volumeArg(args)
  const info = await mustExist(env.storage.resource(v.resource), v)
  const vol = info.volumes.find((x) => x.number === 0)
  if (vol === undefined) throw new PluginError('RESOURCE_NOT_FOUND', `volume ${v.volname} has no volume 0`)
  return { size: vol.sizeBytes }
}

async function resize(env: Env, args: Readonly<Record<string, unknown>>): Promise<Record<string, never>> {
  const v = volumeArg(args)
  const bytes = intArg(args, 'sizeBytes', 1)
  if (isControllerVm(env, v)) throw new PluginError('CONTROLLER_VM_PROTECTED', `volume ${v.volname} belongs to the LINSTOR controller VM ${v.vmid}; resize it with LINSTOR directly`)
  await env.storage.resource(v.resource).grow(0, { toBytes: bytes })
  return {}
}

async function rollbackCheck(env: Env, args: Readonly<Record<string, unknown>>): Promise<Record<string, unknown>> {
  const v = volumeArg(args)
  const snap = snapArg(args, 'snap')
  const h = env.storage.resource(v.resource)
  const snaps = await pveSnapshots(h, v)
  const at = snaps.findIndex((s) => s.pve === snap)
  if (at < 0) throw new PluginError('SNAPSHOT_NOT_FOUND', `volume ${v.volname} has no snapshot ${snap}`, { context: { resource: v.resource } })
  const blockers = (await h.rollbackBlockers(snaps[at]?.linstor as string)).map((s) => pveSnapshotName(v, s.name) ?? s.name)
  if (blockers.length === 0) return { possible: true, blockers: [] }
  return {
    possible: false,
    blockers,
    message: `can't roll back ${v.volname} to '${snap}': LINSTOR rolls back to the newest snapshot only, and ${blockers.map((b) => `'${b}'`).join(', ')} ${blockers.length === 1 ? 'is' : 'are'} newer; delete ${blockers.length === 1 ? 'it' : 'them'} first`,
  }
}

async function snapshotInfo(env: Env, args: Readonly<Record<string, unknown>>): Promise<Record<string, { id: number; timestamp: number }>> {
  const v = volumeArg(args)
  const out: Record<string, { id: number; timestamp: number }> = {}
  ;(await pveSnapshots(env.storage.resource(v.resource), v)).forEach((s, i) => {
    out[s.pve] = { id: i + 1, timestamp: Math.floor((s.createdAt ?? 0) / 1000) }
  })
  return out
}

async function cloneImage(env: Env, args: Readonly<Record<string, unknown>>): Promise<{ volname: string }> {
  const base = volumeArg(args)
  const vmid = intArg(args, 'vmid', 1, MAX_VMID)
  const snap = optStr(args, 'snap') === undefined ? undefined : snapArg(args, 'snap')
  if (snap === undefined && !base.isBase) throw new PluginError('CALL_INVALID', `linked clones are made from a template's base volume or from a snapshot; ${base.volname} is neither`)
  const target = parseVolname(await freeDiskName(env, vmid)) as PveVolume
  const src = env.storage.resource(base.resource)
  await mustExist(src, base)
  await src.cloneTo(target.resource, {
    ...(snap !== undefined ? { snapshot: linstorSnapshotName(base, snap) } : {}),
    props: ownProps(target, { [PARENT_PROP]: base.volname }),
  })
  return { volname: target.volname }
}

async function createBase(env: Env, args: Readonly<Record<string, unknown>>): Promise<{ volname: string }> {
  const v = volumeArg(args)
  if (v.isBase) return { volname: v.volname }
  if (v.origin === 'pm' || !v.volname.startsWith('vm-')) throw new PluginError('CALL_INVALID', `${v.volname} cannot become a template base: only vm-<vmid>-... volumes can`)
  if ((await pveSnapshots(env.storage.resource(v.resource), v)).length > 0) throw new PluginError('HAS_SNAPSHOTS', `${v.volname} has snapshots; a template cannot have any`)
  const base = parseVolname(v.volname.replace(/^vm-/, 'base-')) as PveVolume
  await moveVolume(env, v, base, {})
  return { volname: base.volname }
}

async function renameVolume(env: Env, args: Readonly<Record<string, unknown>>): Promise<{ volname: string }> {
  const v = volumeArg(args)
  const targetVmid = intArg(args, 'targetVmid', 1, MAX_VMID)
  const wanted = optStr(args, 'targetVolname')
  if (isControllerVm(env, v)) throw new PluginError('CONTROLLER_VM_PROTECTED', `volume ${v.volname} belongs to the LINSTOR controller VM ${v.vmid}`)
  if (v.origin === 'pm' && wanted === undefined) {
    // linstor-proxmox's names carry the VM id in a property only: reassigning changes that.
    const h = env.storage.resource(v.resource)
    await mustExist(h, v)
    await h.setAux({ [VMID_PROP]: String(targetVmid) })
    return { volname: `${v.resource}_${targetVmid}` }
  }
  const target = wanted !== undefined ? parseVolname(wanted) : (parseVolname(await freeDiskName(env, targetVmid)) as PveVolume)
  if (target === undefined || target.origin === 'pm' || target.vmid !== targetVmid) throw new PluginError('CALL_INVALID', `'${wanted ?? ''}' is not a volume name for VM ${targetVmid}`)
  if (v.isBase) throw new PluginError('CALL_INVALID', `${v.volname} is a template base; reassigning it is not possible`)
  if (await env.storage.resource(target.resource).exists()) {
    if (await env.storage.resource(v.resource).exists()) throw new PluginError('RESOURCE_CONFLICT', `volume ${target.volname} already exists`)
  }
  await moveVolume(env, v, target, {})
  return { volname: target.volname }
}

/** What a transfer's begin hands the shim and its end gets back: the resource, and whether it is a snapshot view. */
interface Handle {
  resource: string
  view?: string
}

function handleOf(args: Readonly<Record<string, unknown>>): Handle {
  try {
    const h = JSON.parse(strArg(args, 'handle')) as Partial<Handle>
    if (typeof h.resource === 'string') return h as Handle
  } catch {
    // fall through
  }
  throw invalid('arguments.handle: not a handle this storage gave out')
}

async function exportBegin(env: Env, args: Readonly<Record<string, unknown>>): Promise<Record<string, unknown>> {
  const v = volumeArg(args)
  const h = await volumeOrView(env, v, args)
  const info = await h.info()
  if (info === undefined) throw new PluginError('RESOURCE_NOT_FOUND', `volume ${v.volname} does not exist`)
  const a = await h.attach(env.settings.node)
  const size = info.volumes.find((x) => x.number === 0)?.sizeBytes ?? 0
  const handle: Handle = { resource: h.name, ...(h.name !== v.resource ? { view: h.name } : {}) }
  return { path: deviceOf(a, `volume ${v.volname}`), size, handle: JSON.stringify(handle) }
}

async function exportEnd(env: Env, args: Readonly<Record<string, unknown>>): Promise<Record<string, never>> {
  const handle = handleOf(args)
  const h = env.storage.resource(handle.resource)
  await releaseHere(env, h)
  if (handle.view !== undefined) await h.delete({ snapshots: true })
  return {}
}

/**
 * Lets go of a volume this node attached for a transfer: the core removes only a diskless client
 * nobody uses (a tie-breaker it converted goes back to being one); a VM using it here keeps it.
 */
async function releaseHere(env: Env, h: ResourceHandle): Promise<void> {
  try {
    await h.detach(env.settings.node)
  } catch (err) {
    if (!(isPluginError(err) && err.code === 'RESOURCE_IN_USE')) throw err
  }
}

async function importBegin(env: Env, args: Readonly<Record<string, unknown>>): Promise<Record<string, unknown>> {
  let v = volumeArg(args)
  const size = intArg(args, 'size', 1)
  const allowRename = args['allowRename'] === true || args['allowRename'] === 1 || args['allowRename'] === '1'
  if (v.origin === 'pm') throw new PluginError('CALL_INVALID', `imports make vm-<vmid>-... volumes, not ${v.volname}`)
  if (await env.storage.resource(v.resource).exists()) {
    if (!allowRename) throw new PluginError('RESOURCE_CONFLICT', `volume ${v.volname} already exists`)
    v = parseVolname(await freeDiskName(env, v.vmid)) as PveVolume
  }
  const h = env.storage.resource(v.resource)
  await createVolume(env, v, size)
  const a = await h.attach(env.settings.node)
  return { volname: v.volname, path: deviceOf(a, `volume ${v.volname}`), handle: JSON.stringify({ resource: v.resource } satisfies Handle) }
}

async function importEnd(env: Env, args: Readonly<Record<string, unknown>>): Promise<Record<string, never>> {
  const handle = handleOf(args)
  const ok = args['ok'] === true || args['ok'] === 1
  const h = env.storage.resource(handle.resource)
  await releaseHere(env, h)
  // A half-imported volume is not data anyone has yet: remove it so a retry starts clean.
  if (!ok) await h.delete({ snapshots: true })
  return {}
}

async function checkConfig(env: Env, args: Readonly<Record<string, unknown>>): Promise<Record<string, unknown>> {
  const hook = strArg(args, 'hook')
  if (!['add', 'update', 'delete'].includes(hook)) throw invalid('arguments.hook: must be add, update or delete')
  if (hook === 'delete') return {}
  // A named resource group must exist: otherwise every allocation would fail later, less clearly.
  const rg = env.settings.policy.resourceGroup
  if (rg !== undefined) {
    const found = await env.storage.client.resourceGroups.get(rg)
    if (found === undefined) throw new PluginError('PLACEMENT_GROUP_MISSING', `storage ${env.settings.storeid}: linstor-resource-group: LINSTOR has no resource group '${rg}'; create it (linstor resource-group create ${rg} --place-count 2) or name another`)
  }
  return {}
}

function op(run: (env: Env, args: Readonly<Record<string, unknown>>) => Promise<unknown>, kind: 'status' | 'action' = 'action'): Operation {
  return { kind, run: async (args, ctx) => run(await envOf(ctx), args) }
}

/** The proxmox platform's operations (see plugins/proxmox/CONTRACT.md). */
export function proxmoxOperations(): Record<string, Operation> {
  return {
    // Storage activation precedes every volume activation, also when no controller answers (VMs
    // then start from their local replicas): it only checks the settings.
    activate_storage: { kind: 'status', run: (_args, ctx) => Promise.resolve((proxmoxSettings(ctx.config), {})) },
    status: op((env) => status(env), 'status'),
    alloc_image: op(allocImage),
    free_image: op(freeImage),
    list_images: op(listImages),
    activate_volume: op(activateVolume),
    map_volume: op(activateVolume),
    deactivate_volume: op(deactivateVolume),
    // Unmapping leaves the attachment to deactivate_volume, which PVE calls after it.
    unmap_volume: op(() => Promise.resolve({})),
    volume_size_info: op(sizeInfo),
    volume_resize: op(resize),
    volume_snapshot: op(async (env, args) => {
      const v = volumeArg(args)
      const snap = snapArg(args, 'snap')
      const h = env.storage.resource(v.resource)
      await mustExist(h, v)
      await h.createSnapshot(linstorSnapshotName(v, snap))
      return {}
    }),
    volume_snapshot_delete: op(async (env, args) => {
      const v = volumeArg(args)
      const snap = snapArg(args, 'snap')
      // A left-over view of this snapshot (a container backup that died) goes with it.
      const view = env.storage.resource(snapshotResource(v.resource, snap))
      if (await view.exists()) await view.delete({ snapshots: true })
      await env.storage.resource(v.resource).deleteSnapshot(linstorSnapshotName(v, snap))
      return {}
    }),
    volume_rollback_is_possible: op(rollbackCheck),
    volume_snapshot_rollback: op(async (env, args) => {
      const v = volumeArg(args)
      const check = await rollbackCheck(env, args)
      if (check['possible'] !== true) throw new PluginError('ROLLBACK_BLOCKED', String(check['message']), { context: { resource: v.resource } })
      await env.storage.resource(v.resource).rollback(linstorSnapshotName(v, snapArg(args, 'snap')))
      return {}
    }),
    volume_snapshot_info: op(snapshotInfo),
    clone_image: op(cloneImage),
    create_base: op(createBase),
    rename_volume: op(renameVolume),
    volume_export_begin: op(exportBegin),
    volume_export_end: op(exportEnd),
    volume_import_begin: op(importBegin),
    volume_import_end: op(importEnd),
    check_config: op(checkConfig),
  }
}
