/**
 * The operations behind the Perl shim's forwarded methods (plugins/proxmox/CONTRACT.md), one per
 * PVE storage plugin method, translated to the core. Registered as platform "proxmox".
 *
 * Units follow PVE: alloc_image takes KiB; sizes everywhere else are bytes.
 */
import { PluginError, inOperatorWords, isPluginError } from '../../core/errors/index.js'
import { policyGroupName } from '../../core/placement/index.js'
import { statusAnswer, storageOf } from '../../core/protocol/index.js'
import type { CallContext, Operation } from '../../core/protocol/index.js'
import type { ResourceHandle, Storage } from '../../core/storage/index.js'
import { AUX_CLONE_OF, AUX_PLATFORM_NAME, KiB, MiB, drInSync, isLinstorName } from '../../core/volumes/index.js'
import type { IdentityExpectation, ResourceInfo, SnapshotInfo } from '../../core/volumes/index.js'
import {
  PARENT_PROP,
  SNAPSHOT_OF_PROP,
  VMID_PROP,
  VOLNAME_PROP,
  legacySnapshotResource,
  linstorSnapshotName,
  parseVolname,
  pveSnapshotName,
  snapshotResource,
  validSnapshotName,
  volnameOf,
  volumeIdentity,
} from './names.js'
import type { PveVolume } from './names.js'
import { proxmoxSettings, proxmoxWords, unknownKeyWarnings } from './settings.js'
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
    // A replaced token file makes a new client: the core keys its clients on the files' versions.
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
  if (v === undefined) throw new PluginError('CALL_INVALID', `'${volname}' is not a volume name of a linstor storage (vm-<vmid>-..., base-<vmid>-..., base-<vmid>-.../vm-<vmid>-... for a linked clone, or linstor-proxmox's pm-<id>_<vmid>)`)
  return v
}

/** The volume's resource, checked on every use to be this volname's (NAME_COLLISION otherwise). */
function volumeHandle(env: Env, v: PveVolume): ResourceHandle {
  return env.storage.resource(v.resource, volumeIdentity(v))
}

/** A snapshot view's identity: "<volname>@<snap>", the view of that snapshot of that volume. */
function viewIdentity(v: PveVolume, snap: string): IdentityExpectation {
  return { platformName: `${v.volname}@${snap}`, noun: 'snapshot view' }
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

/**
 * Every resource name in LINSTOR and every volname recorded on one, lower-cased: LINSTOR compares
 * names without regard to case, so a free name must be free in any spelling.
 */
async function takenNames(env: Env): Promise<Set<string>> {
  const rds = await env.storage.client.resourceDefinitions.list()
  const taken = new Set<string>()
  for (const rd of rds) {
    taken.add(rd.name.toLowerCase())
    for (const k of [VOLNAME_PROP, AUX_PLATFORM_NAME]) {
      const recorded = rd.props[k]
      if (recorded !== undefined) taken.add((parseVolname(recorded)?.name ?? recorded).toLowerCase())
    }
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

/** The properties of a volume this storage makes (AUX_PLATFORM_NAME, the exact volname, comes from the core). */
function ownProps(v: PveVolume, extra: Record<string, string> = {}): Record<string, string> {
  return {
    [VMID_PROP]: String(v.vmid),
    ...(v.resource !== v.name ? { [VOLNAME_PROP]: v.name } : {}),
    ...(v.base !== undefined ? { [PARENT_PROP]: v.base.volname } : {}),
    ...extra,
  }
}

/** What a LINSTOR clone copies from its source that a new volume must not keep. */
function staleProps(props: Record<string, string>): string[] {
  return [VOLNAME_PROP, PARENT_PROP, SNAPSHOT_OF_PROP].filter((k) => !(k in props))
}

/**
 * Creates a one-volume resource of at least MIN_VOLUME_BYTES by the storage's policy, a replica on
 * this node first unless told otherwise.
 */
async function createVolume(env: Env, v: PveVolume, sizeBytes: number, nameFree = false): Promise<void> {
  const h = volumeHandle(env, v)
  // Nothing is read back: LINSTOR's replies to the spawn and the placement say what happened.
  await h.make({
    ...(nameFree ? { nameFree } : {}),
    volumes: [Math.max(MIN_VOLUME_BYTES, sizeBytes)],
    policy: env.settings.policy,
    props: ownProps(v),
    ...(env.settings.policy.preferLocal !== false ? { preferNode: env.settings.node } : {}),
  })
  // linstor-dr-node / linstor-dr-site: every volume keeps a disaster-recovery replica. Always
  // synced on a create (also when present: a repeated create after a crash completes its proxies).
  if (env.settings.dr !== undefined) await h.syncDr(env.settings.dr)
}

/** Snapshots of a volume as PVE names them (oldest first, the name each records first), with their LINSTOR names. */
/** PVE's name of a LINSTOR snapshot of `v`: the recorded one, else the one its LINSTOR name maps back to. */
function pveNameOf(v: PveVolume, s: SnapshotInfo): string | undefined {
  return s.props[AUX_PLATFORM_NAME] ?? pveSnapshotName(v, s.name)
}

async function pveSnapshots(h: ResourceHandle, v: PveVolume): Promise<{ pve: string; linstor: string; createdAt?: number }[]> {
  const out: { pve: string; linstor: string; createdAt?: number }[] = []
  for (const s of await h.snapshots()) {
    const pve = pveNameOf(v, s)
    if (pve !== undefined) out.push({ pve, linstor: s.name, ...(s.createdAt !== undefined ? { createdAt: s.createdAt } : {}) })
  }
  return out
}

/** Moves a volume to a new name: LINSTOR cannot rename a definition, so clone (thin pools: copy-on-write) and delete. */
async function moveVolume(env: Env, from: PveVolume, to: PveVolume, props: Record<string, string>): Promise<void> {
  const src = volumeHandle(env, from)
  const info = await src.info()
  const target = volumeHandle(env, to)
  if (info === undefined) {
    // Done before (a repeat after a crash between clone and delete, or after both).
    if (await target.exists()) return
    throw new PluginError('RESOURCE_NOT_FOUND', `volume ${from.volname} does not exist`, { context: { resource: from.resource } })
  }
  const using = info.replicas.filter((r) => r.inUse === true).map((r) => r.node)
  if (using.length > 0) throw new PluginError('RESOURCE_IN_USE', `volume ${from.volname} is in use on ${using.join(', ')}; stop the VM first`, { context: { resource: from.resource } })
  const own = { ...ownProps(to), ...props }
  await src.cloneTo(to.resource, { identity: volumeIdentity(to), props: own, deleteProps: staleProps(own) })
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
  // The reason in the operator's words (issue 23), for the log and the GUI.
  const said = inProxmoxWords(a.error, env.ctx)
  const reason = said instanceof Error ? said.message : String(said)
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
  // A name chosen here was free in this call's listing (under PVE's storage lock): no read before the spawn.
  const nameFree = name === undefined
  if (name === undefined) {
    v = parseVolname(await freeDiskName(env, vmid)) as PveVolume
  } else {
    const parsed = parseVolname(name)
    if (parsed === undefined || parsed.base !== undefined) throw new PluginError('CALL_INVALID', `illegal name '${name}': use vm-${vmid}-<name>, base-${vmid}-<name> or leave the name empty`)
    if (parsed.vmid !== vmid) throw new PluginError('CALL_INVALID', `illegal name '${name}': it belongs to VM ${parsed.vmid}, not ${vmid}`)
    v = parsed
  }
  const h = volumeHandle(env, v)
  // qemu-server re-allocates cloud-init drives by name on a node whose device it does not see.
  if (/-cloudinit$/.test(v.volname) && (await h.exists())) return { volname: v.volname }
  try {
    await createVolume(env, v, sizeKib * KiB, nameFree)
  } catch (err) {
    if (isPluginError(err) && err.code === 'RESOURCE_CONFLICT') throw new PluginError('RESOURCE_CONFLICT', `volume ${v.volname} already exists with another size or placement`, { cause: err, context: { resource: v.resource } })
    throw err
  }
  return { volname: v.volname }
}

async function freeImage(env: Env, args: Readonly<Record<string, unknown>>): Promise<Record<string, never>> {
  const v = volumeArg(args)
  if (isControllerVm(env, v)) throw new PluginError('CONTROLLER_VM_PROTECTED', `volume ${v.volname} belongs to the LINSTOR controller VM ${v.vmid} and is never freed by this storage`)
  if (v.isBase) await refuseBaseInUse(env, v)
  const h = volumeHandle(env, v)
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

/**
 * PVE refuses to free a template base that linked clones use (volume_is_base_and_used, from the
 * base prefix of the clones' volnames). Clones made before the prefix carry their base only in
 * PARENT_PROP, which PVE cannot see: refused here too, for every clone.
 */
async function refuseBaseInUse(env: Env, v: PveVolume): Promise<void> {
  const clones: string[] = []
  for (const rd of await env.storage.client.resourceDefinitions.list()) {
    if (rd.props[PARENT_PROP] !== v.name || rd.name.toLowerCase() === v.resource.toLowerCase()) continue
    clones.push(volnameOf(rd.name, rd.props) ?? rd.name)
  }
  if (clones.length > 0) {
    throw new PluginError('BASE_IN_USE', `base volume '${v.volname}' is still in use by linked clones: ${clones.sort().join(', ')}`, { context: { resource: v.resource } })
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
    // The base's bare volname, as PVE's own plugins report a linked clone's parent.
    const parent = rd.props[PARENT_PROP] ?? v.base?.volname
    out.push({ volid, format: 'raw', size: vd.size_kib * KiB, vmid: v.vmid, ...(parent !== undefined ? { parent } : {}) })
  }
  return out.sort((a, b) => String(a['volid']).localeCompare(String(b['volid'])))
}

/** A read-only view of a snapshot as its own resource (LINSTOR cannot open a snapshot in place). */
async function snapshotView(env: Env, v: PveVolume, snap: string): Promise<ResourceHandle> {
  const name = snapshotResource(v.resource, snap)
  const view = env.storage.resource(name, viewIdentity(v, snap))
  if (!(await view.exists())) {
    const snapName = linstorSnapshotName(v, snap)
    const vol = volumeHandle(env, v)
    if ((await vol.snapshot(snapName, snap)) === undefined) throw new PluginError('SNAPSHOT_NOT_FOUND', `volume ${v.volname} has no snapshot ${snap}`, { context: { resource: v.resource } })
    const props = { [SNAPSHOT_OF_PROP]: v.volname }
    await vol.cloneTo(name, { snapshot: snapName, snapshotPlatformName: snap, identity: viewIdentity(v, snap), props, deleteProps: [VOLNAME_PROP, PARENT_PROP, VMID_PROP] })
  }
  return view
}

/** The volume itself, or the view of its snapshot when the call names one (arguments.snapname). */
async function volumeOrView(env: Env, v: PveVolume, args: Readonly<Record<string, unknown>>): Promise<ResourceHandle> {
  return optStr(args, 'snapname') === undefined ? volumeHandle(env, v) : snapshotView(env, v, snapArg(args, 'snapname'))
}

async function activateVolume(env: Env, args: Readonly<Record<string, unknown>>): Promise<{ path: string }> {
  const v = volumeArg(args)
  const h = await volumeOrView(env, v, args)
  const a = await h.attach(env.settings.node)
  if (a.offline !== undefined) env.ctx.logger.warn({ volume: v.volname, why: a.offline }, 'activated from the local replica without LINSTOR')
  // The disaster-recovery replica follows the storage's configuration (none without the option).
  // Only DRBD volumes have one; the attach reported what exists, so nothing extra is asked when in line.
  if (a.offline === undefined && a.stack === 'drbd' && optStr(args, 'snapname') === undefined && !isControllerVm(env, v) && !drInSync(env.settings.dr, a.dr ?? [])) {
    await h.syncDr(env.settings.dr)
  }
  return { path: deviceOf(a, `volume ${v.volname}`) }
}

async function deactivateVolume(env: Env, args: Readonly<Record<string, unknown>>): Promise<Record<string, never>> {
  const v = volumeArg(args)
  const snap = optStr(args, 'snapname')
  if (snap !== undefined) {
    const s = snapArg(args, 'snapname')
    const view = env.storage.resource(snapshotResource(v.resource, s), viewIdentity(v, s))
    await view.detach(env.settings.node)
    // The view is temporary: gone once nothing uses it.
    const info = await view.info()
    if (info !== undefined && !info.replicas.some((r) => r.inUse === true)) await view.delete({ snapshots: true })
    return {}
  }
  if (isControllerVm(env, v)) return {}
  await volumeHandle(env, v).detach(env.settings.node)
  return {}
}

async function sizeInfo(env: Env, args: Readonly<Record<string, unknown>>): Promise<{ size: number }> {
  const v = volumeArg(args)
  // LINSTOR's volume size (the same on every node, also where the device is not): the definition alone.
  const info = await volumeHandle(env, v).definition()
  if (info === undefined) throw new PluginError('RESOURCE_NOT_FOUND', `volume ${v.volname} does not exist in LINSTOR (resource ${v.resource})`, { context: { resource: v.resource } })
  const vol = info.volumes.find((x) => x.number === 0)
  if (vol === undefined) throw new PluginError('RESOURCE_NOT_FOUND', `volume ${v.volname} has no volume 0`)
  return { size: vol.sizeBytes }
}

async function resize(env: Env, args: Readonly<Record<string, unknown>>): Promise<Record<string, never>> {
  const v = volumeArg(args)
  const bytes = intArg(args, 'sizeBytes', 1)
  if (isControllerVm(env, v)) throw new PluginError('CONTROLLER_VM_PROTECTED', `volume ${v.volname} belongs to the LINSTOR controller VM ${v.vmid}; resize it with LINSTOR directly`)
  await volumeHandle(env, v).grow(0, { toBytes: bytes })
  return {}
}

/**
 * Can the volume roll back to `snap`? Where LINSTOR rolls back to any snapshot (1.31+, unless a ZFS
 * strategy of Rollback) always, keeping the newer ones, like PVE's LVM-thin; elsewhere only to the
 * newest, and the newer ones are the blockers PVE shows.
 */
/** PVE's refusal text for a rollback LINSTOR can make to the newest snapshot only. */
function blockedMessage(v: PveVolume, snap: string, blockers: readonly string[]): string {
  const list = blockers.map((b) => `'${b}'`).join(', ')
  return `can't roll back ${v.volname} to '${snap}': this LINSTOR rolls back to the newest snapshot only (a controller before 1.31, or a ZFS rollback strategy of Rollback), and ${list} ${blockers.length === 1 ? 'is' : 'are'} newer; delete ${blockers.length === 1 ? 'it' : 'them'} first`
}

/**
 * Can the volume roll back to `snap`? Where LINSTOR rolls back to any snapshot (1.31+, unless a ZFS
 * strategy of Rollback) always, keeping the newer ones, like PVE's LVM-thin; elsewhere only to the
 * newest, and the newer ones are the blockers PVE shows.
 */
async function rollbackCheck(env: Env, args: Readonly<Record<string, unknown>>): Promise<Record<string, unknown>> {
  const v = volumeArg(args)
  const snap = snapArg(args, 'snap')
  const h = volumeHandle(env, v)
  const all = await h.snapshots()
  const at = all.find((s) => pveNameOf(v, s) === snap)
  if (at === undefined) throw new PluginError('SNAPSHOT_NOT_FOUND', `volume ${v.volname} has no snapshot ${snap}`, { context: { resource: v.resource } })
  const blockers = (await h.rollbackBlockers(at.name, { snapshots: all })).map((s) => pveNameOf(v, s) ?? s.name)
  if (blockers.length === 0) return { possible: true, blockers: [] }
  return { possible: false, blockers, message: blockedMessage(v, snap, blockers) }
}

async function snapshotInfo(env: Env, args: Readonly<Record<string, unknown>>): Promise<Record<string, { id: number; timestamp: number }>> {
  const v = volumeArg(args)
  const out: Record<string, { id: number; timestamp: number }> = {}
  ;(await pveSnapshots(volumeHandle(env, v), v)).forEach((s, i) => {
    out[s.pve] = { id: i + 1, timestamp: Math.floor((s.createdAt ?? 0) / 1000) }
  })
  return out
}

async function cloneImage(env: Env, args: Readonly<Record<string, unknown>>): Promise<{ volname: string }> {
  const base = volumeArg(args)
  const vmid = intArg(args, 'vmid', 1, MAX_VMID)
  const snap = optStr(args, 'snap') === undefined ? undefined : snapArg(args, 'snap')
  if (snap === undefined && !base.isBase) throw new PluginError('CALL_INVALID', `linked clones are made from a template's base volume or from a snapshot; ${base.volname} is neither`)
  const own = await freeDiskName(env, vmid)
  // PVE's convention (RBD, ZFS): a linked clone of a base is <base>/<own name>, so parse_volname
  // names its base and PVE refuses to free the base while the clone exists; a clone of a
  // snapshot is a volume of its own.
  const target = parseVolname(snap === undefined ? `${base.name}/${own}` : own) as PveVolume
  const src = volumeHandle(env, base)
  await mustExist(src, base)
  const props = ownProps(target)
  await src.cloneTo(target.resource, {
    ...(snap !== undefined ? { snapshot: linstorSnapshotName(base, snap), snapshotPlatformName: snap } : {}),
    identity: volumeIdentity(target),
    props,
    deleteProps: staleProps(props),
  })
  return { volname: target.volname }
}

async function createBase(env: Env, args: Readonly<Record<string, unknown>>): Promise<{ volname: string }> {
  const v = volumeArg(args)
  if (v.isBase) return { volname: v.volname }
  if (v.origin === 'pm' || !v.name.startsWith('vm-')) throw new PluginError('CALL_INVALID', `${v.volname} cannot become a template base: only vm-<vmid>-... volumes can`)
  if ((await pveSnapshots(volumeHandle(env, v), v)).length > 0) throw new PluginError('HAS_SNAPSHOTS', `${v.volname} has snapshots; a template cannot have any`)
  // A template made from a linked clone keeps its own base prefix (PVE's RBD and ZFS plugins do).
  const own = v.name.replace(/^vm-/, 'base-')
  const base = parseVolname(v.base !== undefined ? `${v.base.volname}/${own}` : own) as PveVolume
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
    const h = volumeHandle(env, v)
    await mustExist(h, v)
    await h.setAux({ [VMID_PROP]: String(targetVmid) })
    return { volname: `${v.resource}_${targetVmid}` }
  }
  const named = wanted !== undefined ? parseVolname(wanted) : (parseVolname(await freeDiskName(env, targetVmid)) as PveVolume)
  if (named === undefined || named.origin === 'pm' || named.vmid !== targetVmid) throw new PluginError('CALL_INVALID', `'${wanted ?? ''}' is not a volume name for VM ${targetVmid}`)
  if (v.isBase) throw new PluginError('CALL_INVALID', `${v.volname} is a template base; reassigning it is not possible`)
  // A linked clone stays one: its new volname keeps the base prefix (as PVE's RBD plugin does).
  const target = v.base !== undefined ? (parseVolname(`${v.base.volname}/${named.name}`) as PveVolume) : named.base !== undefined ? (parseVolname(named.name) as PveVolume) : named
  if (await volumeHandle(env, target).exists()) {
    if (await volumeHandle(env, v).exists()) throw new PluginError('RESOURCE_CONFLICT', `volume ${target.volname} already exists`)
  }
  await moveVolume(env, v, target, {})
  return { volname: target.volname }
}

/** What a transfer's begin hands the shim and its end gets back: the resource, its platform name, and whether it is a snapshot view. */
interface Handle {
  resource: string
  platformName?: string
  view?: string
}

function handleOf(args: Readonly<Record<string, unknown>>): Handle {
  try {
    const h = JSON.parse(strArg(args, 'handle')) as Partial<Handle>
    if (typeof h.resource === 'string' && (h.platformName === undefined || typeof h.platformName === 'string')) return h as Handle
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
  const handle: Handle = { resource: h.name, platformName: h.platformName, ...(h.name !== v.resource ? { view: h.name } : {}) }
  return { path: deviceOf(a, `volume ${v.volname}`), size, handle: JSON.stringify(handle) }
}

async function exportEnd(env: Env, args: Readonly<Record<string, unknown>>): Promise<Record<string, never>> {
  const handle = handleOf(args)
  const h = handleResource(env, handle)
  await releaseHere(env, h)
  if (handle.view !== undefined) await h.delete({ snapshots: true })
  return {}
}

/** The resource a transfer handle names, checked to be the object it was given out for. */
function handleResource(env: Env, handle: Handle): ResourceHandle {
  return env.storage.resource(handle.resource, handle.platformName !== undefined ? { platformName: handle.platformName } : {})
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
  // An import makes a full volume: a linked clone's volname arrives as its own name.
  if (v.base !== undefined) v = parseVolname(v.name) as PveVolume
  if (await volumeHandle(env, v).exists()) {
    if (!allowRename) throw new PluginError('RESOURCE_CONFLICT', `volume ${v.volname} already exists`)
    v = parseVolname(await freeDiskName(env, v.vmid)) as PveVolume
  }
  const h = volumeHandle(env, v)
  await createVolume(env, v, size)
  const a = await h.attach(env.settings.node)
  return { volname: v.volname, path: deviceOf(a, `volume ${v.volname}`), handle: JSON.stringify({ resource: v.resource, platformName: v.volname } satisfies Handle) }
}

async function importEnd(env: Env, args: Readonly<Record<string, unknown>>): Promise<Record<string, never>> {
  const handle = handleOf(args)
  const ok = args['ok'] === true || args['ok'] === 1
  const h = handleResource(env, handle)
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
  if (env.settings.policy.resourceGroup !== undefined) await env.storage.groups.ensure({ resourceGroup: env.settings.policy.resourceGroup })
  // Keys PVE dropped from the section while parsing storage.cfg (the shim reads its parse errors).
  const raw = args['dropped']
  const dropped = Array.isArray(raw) ? raw.filter((k): k is string => typeof k === 'string') : []
  const scfg = env.ctx.config['scfg'] as Record<string, unknown>
  return { warnings: unknownKeyWarnings(env.settings.storeid, scfg, dropped) }
}

/**
 * The one place Proxmox errors leave for the shim (which dies with the message): errors about a
 * setting are put in storage.cfg's words (core/errors inOperatorWords); the original text goes to
 * the debug log.
 */
function inProxmoxWords(err: unknown, ctx: CallContext): unknown {
  const out = inOperatorWords(err, proxmoxWords(ctx.config))
  if (out !== err) ctx.logger.debug({ err: err instanceof Error ? err.message : String(err) }, 'error put in storage.cfg words')
  return out
}

/**
 * A left-over view of this snapshot (a container backup that died) goes with it: the view under
 * its name, and one under the name views had before they were named injectively, each only when
 * it is the view of this very snapshot.
 */
async function removeLeftOverViews(env: Env, v: PveVolume, snap: string): Promise<void> {
  const name = snapshotResource(v.resource, snap)
  const legacy = legacySnapshotResource(v.resource, snap)
  // One listing of both names; a view found is then removed through its checked handle.
  const found = new Set((await env.storage.client.resourceDefinitions.list({ resourceDefinitions: [name, legacy] })).map((rd) => rd.name.toLowerCase()))
  if (found.has(name.toLowerCase())) await env.storage.resource(name, viewIdentity(v, snap)).delete({ snapshots: true })
  if (legacy.toLowerCase() === name.toLowerCase() || !found.has(legacy.toLowerCase())) return
  const origin = `${v.resource}@${linstorSnapshotName(v, snap)}`
  const old = env.storage.resource(legacy, { platformName: origin, noun: 'snapshot view', impliedName: (o) => o.props[AUX_CLONE_OF] ?? '' })
  try {
    await old.delete({ snapshots: true })
  } catch (err) {
    // Another object under the old name is not this snapshot's view: left alone.
    if (!(isPluginError(err) && err.code === 'NAME_COLLISION')) throw err
  }
}

function op(run: (env: Env, args: Readonly<Record<string, unknown>>) => Promise<unknown>, kind: 'status' | 'action' = 'action'): Operation {
  return {
    kind,
    run: async (args, ctx) => {
      try {
        return await run(await envOf(ctx), args)
      } catch (err) {
        throw inProxmoxWords(err, ctx)
      }
    },
  }
}

/** The proxmox platform's operations (see plugins/proxmox/CONTRACT.md). */
export function proxmoxOperations(): Record<string, Operation> {
  return {
    // Storage activation precedes every volume activation, also when no controller answers (VMs
    // then start from their local replicas): it only checks the settings.
    activate_storage: {
      kind: 'status',
      run: async (_args, ctx) => {
        try {
          proxmoxSettings(ctx.config)
          return await Promise.resolve({})
        } catch (err) {
          throw inProxmoxWords(err, ctx)
        }
      },
    },
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
      const name = linstorSnapshotName(v, snap)
      if (!isLinstorName(name)) throw invalid(`snapshot name '${snap}' is too long for linstor-proxmox's volume ${v.volname}: its LINSTOR name ${name} would pass 48 characters`)
      // The snapshot records its exact PVE name: Snap1 and snap1 are one LINSTOR snapshot, the second is refused.
      await volumeHandle(env, v).createSnapshot(name, undefined, snap)
      return {}
    }),
    volume_snapshot_delete: op(async (env, args) => {
      const v = volumeArg(args)
      const snap = snapArg(args, 'snap')
      const vol = volumeHandle(env, v)
      await removeLeftOverViews(env, v, snap)
      await vol.deleteSnapshot(linstorSnapshotName(v, snap), snap)
      return {}
    }),
    volume_rollback_is_possible: op(rollbackCheck),
    // One LINSTOR rollback for any snapshot where the controller can; refused naming the newer
    // snapshots where it rolls back to the newest only.
    volume_snapshot_rollback: op(async (env, args) => {
      const v = volumeArg(args)
      const snap = snapArg(args, 'snap')
      const h = volumeHandle(env, v)
      // The snapshots are read once, under the resource's lock: the one PVE names is picked there.
      let all: readonly SnapshotInfo[] = []
      try {
        await h.rollback(snap, { pick: (list) => (all = list).find((s) => pveNameOf(v, s) === snap) }, snap)
      } catch (err) {
        if (err instanceof PluginError && err.code === 'SNAPSHOT_NOT_FOUND') throw new PluginError('SNAPSHOT_NOT_FOUND', `volume ${v.volname} has no snapshot ${snap}`, { cause: err, context: { resource: v.resource } })
        if (err instanceof PluginError && err.code === 'ROLLBACK_BLOCKED') {
          const named = new Map(all.map((s) => [s.name, pveNameOf(v, s)]))
          const blockers = String(err.context['blockers'] ?? '').split(',').filter((b) => b !== '').map((b) => named.get(b) ?? pveSnapshotName(v, b) ?? b)
          throw new PluginError('ROLLBACK_BLOCKED', blockedMessage(v, snap, blockers), { cause: err, context: { resource: v.resource } })
        }
        throw err
      }
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
