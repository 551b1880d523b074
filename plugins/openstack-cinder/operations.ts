/**
 * The operations behind the Python driver's forwarded methods (plugins/openstack-cinder/CONTRACT.md),
 * one per Cinder driver method, translated to the core. Registered as platform "cinder".
 *
 * Sizes: Cinder speaks whole GiB; LINSTOR volumes are made exactly that size (never smaller, unlike
 * the in-tree driver's 4 MiB "downsize").
 */
import { PluginError, factsOf, inOperatorWords, isPluginError, withFacts } from '../../core/errors/index.js'
import type { Props } from '../../core/linstor/index.js'
import { statusAnswer, storageOf, withDeadline } from '../../core/protocol/index.js'
import type { CallContext, Operation } from '../../core/protocol/index.js'
import type { Attachment } from '../../core/lifecycle/index.js'
import type { ResourceHandle, Storage } from '../../core/storage/index.js'
import { AUX_PLATFORM_NAME, GiB, drInSync, drPresence, isLinstorName } from '../../core/volumes/index.js'
import type { ResourceInfo } from '../../core/volumes/index.js'
import {
  connectorHost,
  newSnapshotName,
  newVolumeName,
  snapshotArg,
  snapshotCandidates,
  snapshotPlatformName,
  typeArg,
  volumeArg,
  volumeCandidates,
  volumePlatformName,
  volumePlatformNames,
} from './objects.js'
import type { CinderSnapshot, CinderVolume } from './objects.js'
import { AUX_SNAPSHOT_ID, AUX_VOLUME_ID, cinderSettings, cinderWords, isRecord, typeSpecOf } from './settings.js'
import type { CinderSettings, TypeSpec } from './settings.js'

/** Budget for the reachability probe at start-up: a dead controller must not hold cinder-volume. */
const CHECK_BUDGET_MS = 5_000

interface Env {
  settings: CinderSettings
  storage: Storage
  ctx: CallContext
  /** The volume type placement of this call (what its errors name: the type's spec or the backend option). */
  spec?: TypeSpec
}

/** The type's placement over the backend's defaults, remembered for the call's messages. */
function specOf(env: Env, type: Parameters<typeof typeSpecOf>[0]): TypeSpec {
  const spec = typeSpecOf(type, env.settings)
  env.spec = spec
  return spec
}

async function envOf(ctx: CallContext): Promise<Env> {
  const settings = cinderSettings(ctx.config)
  return { settings, storage: await storageOf(ctx, { config: settings.core }), ctx }
}

const gib = (n: number): number => n * GiB
const toGib = (bytes: number): number => Math.ceil(bytes / GiB)
const round2 = (n: number): number => Math.floor(n * 100) / 100

/**
 * Whether a LINSTOR object found under a candidate name is this Cinder object: it records one of
 * its platform names; or it records none (the in-tree or LINBIT driver made it, or linstor-virt
 * before the property), LINSTOR spells it exactly as the candidate, and the Cinder id it may keep
 * is this object's.
 */
function owns(o: { name: string; props: Readonly<Record<string, string>> }, candidate: string, platformNames: readonly string[], idKey: string, ids: readonly string[]): boolean {
  const recorded = o.props[AUX_PLATFORM_NAME]
  if (recorded !== undefined) return platformNames.includes(recorded)
  const id = o.props[idKey]
  return o.name === candidate && (id === undefined || ids.includes(id))
}

interface Found<T> {
  found?: T
  /** Objects found under a candidate name that belong to another name (for the refusal's message). */
  others: string[]
}

/** The volume's resource, found by any of its possible names (one listing) and checked to be this volume's. */
async function lookupVolume(env: Env, v: CinderVolume): Promise<Found<ResourceHandle>> {
  const names = volumeCandidates(v)
  const rds = await env.storage.client.resourceDefinitions.list({ resourceDefinitions: names })
  const have = new Map(rds.map((rd) => [rd.name.toLowerCase(), rd]))
  const others: string[] = []
  for (const n of names) {
    const rd = have.get(n.toLowerCase())
    if (rd === undefined) continue
    if (owns(rd, n, volumePlatformNames(v), AUX_VOLUME_ID, [v.id, v.nameId])) {
      return { found: env.storage.resource(n, { platformName: rd.props[AUX_PLATFORM_NAME] ?? n, noun: 'volume' }), others }
    }
    others.push(`${rd.name} (${rd.props[AUX_PLATFORM_NAME] ?? (rd.props[AUX_VOLUME_ID] !== undefined ? `volume ${rd.props[AUX_VOLUME_ID]}` : 'spelled differently')})`)
  }
  return { others }
}

async function findVolume(env: Env, v: CinderVolume): Promise<ResourceHandle | undefined> {
  return (await lookupVolume(env, v)).found
}

async function mustFindVolume(env: Env, v: CinderVolume): Promise<ResourceHandle> {
  const { found, others } = await lookupVolume(env, v)
  if (found !== undefined) return found
  if (others.length > 0) {
    throw new PluginError('NAME_COLLISION', `volume ${v.id} (${volumePlatformName(v)}) has no LINSTOR resource: ${others.join(', ')} belong${others.length === 1 ? 's' : ''} to another volume (LINSTOR compares names without regard to case); nothing was changed`, { context: { volume: v.id } })
  }
  throw new PluginError('RESOURCE_NOT_FOUND', `volume ${v.id} has no LINSTOR resource (looked for ${volumeCandidates(v).join(', ')})`, { context: { volume: v.id } })
}

/** A snapshot's LINSTOR name and the platform name it is checked against. */
interface SnapshotRef {
  name: string
  platformName: string
}

async function lookupSnapshot(h: ResourceHandle, s: CinderSnapshot): Promise<Found<SnapshotRef>> {
  const have = new Map((await h.snapshots()).map((x) => [x.name.toLowerCase(), x]))
  const others: string[] = []
  for (const n of snapshotCandidates(s)) {
    const snap = have.get(n.toLowerCase())
    if (snap === undefined) continue
    if (owns(snap, n, [snapshotPlatformName(s)], AUX_SNAPSHOT_ID, [s.id])) return { found: { name: n, platformName: snap.props[AUX_PLATFORM_NAME] ?? n }, others }
    others.push(`${snap.name} (${snap.props[AUX_PLATFORM_NAME] ?? (snap.props[AUX_SNAPSHOT_ID] !== undefined ? `snapshot ${snap.props[AUX_SNAPSHOT_ID]}` : 'spelled differently')})`)
  }
  return { others }
}

async function mustFindSnapshot(h: ResourceHandle, s: CinderSnapshot): Promise<SnapshotRef> {
  const { found, others } = await lookupSnapshot(h, s)
  if (found !== undefined) return found
  if (others.length > 0) {
    throw new PluginError('NAME_COLLISION', `snapshot ${s.id} (${snapshotPlatformName(s)}) has no LINSTOR snapshot of ${h.name}: ${others.join(', ')} belong${others.length === 1 ? 's' : ''} to another snapshot (LINSTOR compares names without regard to case); nothing was changed`, { context: { resource: h.name, snapshot: s.id } })
  }
  throw new PluginError('SNAPSHOT_NOT_FOUND', `snapshot ${s.id} has no LINSTOR snapshot of ${h.name} (looked for ${snapshotCandidates(s).join(', ')})`, { context: { resource: h.name, snapshot: s.id } })
}

/** The handle of a new volume's resource: it records the volume's platform name, and refuses another volume's. */
function newVolumeHandle(env: Env, v: CinderVolume): ResourceHandle {
  return env.storage.resource(newVolumeName(v), { platformName: volumePlatformName(v), noun: 'volume' })
}

/** A volume to be made: at least 1 GiB (0 only ever comes with a volume being managed). */
function newVolume(v: CinderVolume): void {
  if (v.size < 1) throw new PluginError('CALL_INVALID', `volume ${v.id}: a new volume needs a size of at least 1 GiB, not ${v.size}`, { context: { volume: v.id } })
  refuseMultiattach(v)
}

function refuseMultiattach(v: CinderVolume): void {
  if (v.multiattach) {
    throw new PluginError('MULTIATTACH_UNSUPPORTED', `volume ${v.id} asks for multi-attach, which this backend does not offer: a DRBD volume is writable on one host at a time (two only while a live migration runs); use a volume type without multiattach`, { context: { volume: v.id } })
  }
}

function ownProps(v: CinderVolume, spec: TypeSpec): Props {
  return { ...spec.props, [AUX_VOLUME_ID]: v.id }
}

/** Grows volume 0 to the Cinder size when that is larger (clones and restores may be asked for more). */
async function growTo(h: ResourceHandle, info: ResourceInfo, sizeGib: number): Promise<void> {
  const have = info.volumes.find((x) => x.number === 0)?.sizeBytes ?? 0
  if (have < gib(sizeGib)) await h.grow(0, { toBytes: gib(sizeGib) })
}

/** A new resource from a snapshot or a live source: clone, top up replicas per the type, grow. */
async function cloneInto(env: Env, source: ResourceHandle, v: CinderVolume, snapshot: SnapshotRef | undefined): Promise<{ model_update: null }> {
  newVolume(v)
  const spec = specOf(env, v.type)
  const target = newVolumeHandle(env, v)
  const info = await source.cloneTo(target.name, {
    ...(snapshot !== undefined ? { snapshot: snapshot.name, snapshotPlatformName: snapshot.platformName } : {}),
    identity: target.identity,
    policy: spec.policy,
    props: ownProps(v, spec),
  })
  try {
    // A restore puts replicas where the snapshot was; the new type may ask for more.
    await target.placeUpTo(spec.policy)
    await growTo(target, info, v.size)
    if (spec.dr !== undefined) await target.syncDr(spec.dr)
  } catch (err) {
    await target.delete().catch((e: unknown) => env.ctx.logger.warn({ resource: target.name, err: String(e) }, 'could not remove a clone that failed to grow'))
    throw err
  }
  return { model_update: null }
}

async function nodeMustExist(env: Env, node: string, host: string): Promise<string> {
  const found = await env.storage.client.nodes.list({ nodes: [node] })
  const n = found.find((x) => x.name.toLowerCase() === node.toLowerCase())
  if (n === undefined) {
    const mapped = node === host ? '' : ` (mapped from ${host})`
    throw new PluginError('NODE_NOT_FOUND', `host ${host} is not a LINSTOR node: no node ${node}${mapped}; add it as a satellite or map it with linstor_virt_node_map`, { context: { host, node } })
  }
  return n.name
}

/** The LINSTOR nodes of the volume's other live attachments (Cinder's view of who holds it). */
function otherAttachedNodes(env: Env, v: CinderVolume, node: string): string[] {
  const out = new Set<string>()
  for (const a of v.attachments) {
    if (a.attachedHost === undefined || a.status !== 'attached') continue
    const n = env.settings.nodeOf(a.attachedHost)
    if (n.toLowerCase() !== node.toLowerCase()) out.add(n)
  }
  return [...out]
}

// ---------------------------------------------------------------- operations

async function check(env: Env): Promise<{ warnings: string[] }> {
  const warnings: string[] = []
  const c = env.storage.client
  try {
    const budget = Math.min(CHECK_BUDGET_MS, env.ctx.remainingMs())
    const nodes = await withDeadline(c.nodes.list(), budget, () => new PluginError('CALL_DEADLINE', `no controller answered within ${budget} ms`))
    if (!nodes.some((n) => n.name.toLowerCase() === env.settings.cinderNode.toLowerCase())) {
      warnings.push(`the Cinder host's node ${env.settings.cinderNode} is not a LINSTOR node: copying images to and from volumes, and backups, need a diskless client there (add the host as a satellite, or map it with linstor_virt_node_map)`)
    }
    const group = env.settings.defaultResourceGroup
    if (group !== undefined) {
      specOf(env, null)
      try {
        await env.storage.groups.ensure({ resourceGroup: group })
      } catch (err) {
        // A missing default group refuses the start-up (CONFIG_INVALID), in the option's words.
        const facts = factsOf(err)
        if (!(isPluginError(err) && err.code === 'PLACEMENT_GROUP_MISSING') || facts === undefined) throw err
        throw withFacts(new PluginError('CONFIG_INVALID', err.message, { cause: err, context: err.context }), facts)
      }
    }
  } catch (err) {
    if (isPluginError(err) && err.code === 'CONFIG_INVALID') throw err
    const said = inOperatorWords(err, cinderWords(env.ctx.config, env.spec))
    const text = said instanceof Error ? said.message.split('\n').join(' (') + (said.message.includes('\n') ? ')' : '') : String(said)
    warnings.push(`${text}; the backend starts and reports itself down until a controller answers`)
  }
  return { warnings: [...env.settings.warnings, ...warnings] }
}

/**
 * get_volume_stats within 2 s (a status-kind operation) whatever the controller does: fresh stats,
 * else the last known ones (the agent and, for one-shot calls, the host's state folder keep them)
 * published with backend_state down and no free space, so nothing new is placed here meanwhile,
 * marked `stale`; else zeros, down.
 */
async function stats(env: Env): Promise<Record<string, unknown>> {
  const a = await statusAnswer(env.ctx, env.storage, `cinder-stats:${env.settings.backend}`, () => freshStats(env))
  if (a.value !== undefined) return a.stale ? { ...a.value, backend_state: 'down', free_capacity_gb: 0, stale: true } : a.value
  const s = env.settings
  return {
    volume_backend_name: s.volumeBackendName,
    vendor_name: 'LINBIT/linstor-virt',
    driver_version: s.driverVersion,
    storage_protocol: 'DRBD',
    // Zeros, not 'unknown': only 0 keeps the scheduler from placing volumes on a backend no controller answers for.
    total_capacity_gb: 0,
    free_capacity_gb: 0,
    reserved_percentage: s.reservedPercentage,
    location_info: locationInfo(s),
    multiattach: false,
    QoS_support: false,
    backend_state: 'down',
    stale: true,
  }
}

async function freshStats(env: Env): Promise<Record<string, unknown>> {
  const s = env.settings
  const policy = specOf(env, null).policy
  // Only the capacity measurement (cached for its age): stats cost the same at 10 or 10,000
  // volumes. provisioned_capacity_gb and total_volumes are not reported: Cinder's scheduler then
  // uses its own allocated_capacity_gb (the sum of this backend's volumes in its database), which
  // is what counting the definitions tagged as Cinder's gave, at the price of listing them all.
  const cap = await env.storage.capacity(policy)
  const kinds = new Set(cap.providerKinds)
  const thin = ['LVM_THIN', 'ZFS_THIN', 'FILE_THIN', 'STORAGE_SPACES_THIN'].some((k) => kinds.has(k))
  const thick = ['LVM', 'ZFS', 'FILE', 'STORAGE_SPACES', 'SPDK'].some((k) => kinds.has(k))
  return {
    volume_backend_name: s.volumeBackendName,
    vendor_name: 'LINBIT/linstor-virt',
    driver_version: s.driverVersion,
    storage_protocol: 'DRBD',
    // Usable space: what LINSTOR can still place with the backend's replica count (size query on its group).
    total_capacity_gb: round2(cap.capacityBytes / GiB),
    free_capacity_gb: round2(Math.min(cap.availableBytes, cap.capacityBytes) / GiB),
    reserved_percentage: s.reservedPercentage,
    max_over_subscription_ratio: s.maxOverSubscriptionRatio,
    thin_provisioning_support: thin,
    thick_provisioning_support: thick,
    location_info: locationInfo(s),
    multiattach: false,
    // Stock nova cannot grow a 'local' block disk of a running guest (LibvirtVolumeDriver).
    online_extend_support: false,
    QoS_support: false,
    sparse_copy_volume: true,
    backend_state: 'up',
  }
}

async function createVolume(env: Env, v: CinderVolume): Promise<{ model_update: null }> {
  newVolume(v)
  const spec = specOf(env, v.type)
  const h = newVolumeHandle(env, v)
  await h.create({ volumes: [gib(v.size)], policy: spec.policy, props: ownProps(v, spec) })
  // linstor:dr_node / linstor:dr_site: the volume keeps a disaster-recovery replica.
  if (spec.dr !== undefined) await h.syncDr(spec.dr)
  env.storage.capacityCache.invalidate()
  return { model_update: null }
}

/**
 * Deletes the volume's resource. A resource found under one of its names that belongs to another
 * volume is not this one's and is never touched: the volume has nothing left in LINSTOR, which is
 * success for Cinder (as for any volume whose backend object is gone).
 */
async function deleteVolume(env: Env, v: CinderVolume): Promise<Record<string, never>> {
  const { found, others } = await lookupVolume(env, v)
  if (found !== undefined) await found.delete()
  else if (others.length > 0) env.ctx.logger.warn({ volume: v.id, others: others.join(', ') }, 'cinder: delete_volume left alone what belongs to another volume')
  return {}
}

async function createSnapshot(env: Env, s: CinderSnapshot): Promise<{ model_update: null }> {
  const h = await mustFindVolume(env, s.volume)
  await h.createSnapshot(newSnapshotName(s), { [AUX_SNAPSHOT_ID]: s.id }, snapshotPlatformName(s))
  return { model_update: null }
}

async function deleteSnapshot(env: Env, s: CinderSnapshot): Promise<Record<string, never>> {
  const h = await findVolume(env, s.volume)
  if (h === undefined) return {}
  const { found } = await lookupSnapshot(h, s)
  if (found !== undefined) await h.deleteSnapshot(found.name, found.platformName)
  return {}
}

async function createFromSnapshot(env: Env, v: CinderVolume, s: CinderSnapshot): Promise<{ model_update: null }> {
  const src = await mustFindVolume(env, s.volume)
  return cloneInto(env, src, v, await mustFindSnapshot(src, s))
}

async function createCloned(env: Env, v: CinderVolume, source: CinderVolume): Promise<{ model_update: null }> {
  return cloneInto(env, await mustFindVolume(env, source), v, undefined)
}

async function extendVolume(env: Env, v: CinderVolume, newSizeGib: number): Promise<Record<string, never>> {
  const h = await mustFindVolume(env, v)
  await h.grow(0, { toBytes: gib(newSizeGib) })
  return {}
}

async function revertToSnapshot(env: Env, v: CinderVolume, s: CinderSnapshot): Promise<Record<string, never>> {
  const h = await mustFindVolume(env, v)
  // One LINSTOR rollback. Cinder's API reverts to a volume's newest snapshot only (and the driver
  // asks for no temporary backup snapshot, see driver.py), which every LINSTOR can roll back to;
  // on 1.31+ an older one would work as well.
  const snap = await mustFindSnapshot(h, s)
  await h.rollback(snap.name, {}, snap.platformName)
  const info = await h.info()
  if (info !== undefined) await growTo(h, info, v.size)
  return {}
}

async function ensureExport(env: Env, v: CinderVolume): Promise<Record<string, never>> {
  await mustFindVolume(env, v)
  return {}
}

/**
 * The volume's resource, when this host's last read of LINSTOR saw it with a replica on `node` (any
 * node when none is given): what a compute host holds is not visible from the Cinder host, so this
 * is how a start or stop knows without asking a controller (issue 20).
 */
function lastSeen(env: Env, v: CinderVolume, node?: string): ResourceHandle | undefined {
  for (const name of volumeCandidates(v)) {
    const seen = env.storage.state.seen(name)
    if (seen === undefined) continue
    // The identity as last read: only this volume's resource (the core checks it again when LINSTOR answers).
    const props = seen.aux ?? {}
    if (!owns({ name: seen.resource, props }, name, volumePlatformNames(v), AUX_VOLUME_ID, [v.id, v.nameId])) continue
    if (node === undefined || seen.replicas.some((r) => r.node.toLowerCase() === node.toLowerCase())) {
      return env.storage.resource(name, { platformName: props[AUX_PLATFORM_NAME] ?? name, noun: 'volume' })
    }
  }
  return undefined
}

/** Cinder's connection info for `node`: DRBD's stable by-res path; NVMe-oF: the initiator's namespace LINSTOR reports on that host. */
function connectionInfo(env: Env, node: string, resource: string, a: Attachment): Record<string, unknown> {
  const dev = a.volumes.find((x) => x.number === 0)?.device
  const devicePath = a.stack === undefined || a.stack === 'drbd' || dev === undefined ? env.settings.devicePath(node, resource, 0) : env.settings.deviceRootTemplate.replaceAll('{node}', node) + dev
  return {
    connection_info: {
      driver_volume_type: 'local',
      data: { device_path: devicePath, resource, node },
    },
  }
}

async function initializeConnection(env: Env, v: CinderVolume, connector: unknown): Promise<Record<string, unknown>> {
  const host = connectorHost(connector, true) as string
  const target = env.settings.nodeOf(host)
  if (otherAttachedNodes(env, v, target).length === 0) {
    // A compute host that held the volume at the last read: the core waits on the controller at
    // most its budget, then starts from what the host holds and keeps the attach as pending.
    const known = lastSeen(env, v, target)
    if (known !== undefined) {
      const a = await known.attach(target, { migrate: false })
      if (a.offline !== undefined) env.ctx.logger.warn({ resource: a.resource, node: target }, 'cinder: no controller answered in time; connected to what the host held at the last read')
      return connectionInfo(env, target, a.resource, a)
    }
  }
  const h = await mustFindVolume(env, v)
  const node = await nodeMustExist(env, env.settings.nodeOf(host), host)
  const others = otherAttachedNodes(env, v, node)
  if (others.length > 1) {
    throw new PluginError('MULTIATTACH_UNSUPPORTED', `volume ${v.id} is attached on ${others.join(' and ')} already; it cannot also be attached on ${node} (one host at a time, two only during a live migration)`, { context: { volume: v.id, node } })
  }
  // Nova attaches on the target host before it detaches the source: that window is a live
  // migration, with dual-primary for these two hosts only until one of them detaches.
  const a = others.length === 1 ? await h.beginMigration(others[0] as string, node) : await h.attach(node, { migrate: false })
  if (a.migration !== undefined) env.ctx.logger.info({ resource: h.name, from: a.migration.from, to: a.migration.to }, 'cinder: live migration window opened')
  return connectionInfo(env, node, h.name, a)
}

async function terminateConnection(env: Env, v: CinderVolume, connector: unknown): Promise<{ shared: boolean }> {
  const host = connectorHost(connector, false)
  if (host !== undefined) {
    // A volume this host has seen: the detach waits on the controller at most the core's budget,
    // then succeeds and keeps the rest as pending (a stop never fails on LINSTOR).
    const known = lastSeen(env, v)
    if (known !== undefined) {
      await known.detach(env.settings.nodeOf(host))
      return { shared: false }
    }
  }
  const h = await findVolume(env, v)
  if (h === undefined) return { shared: false }
  if (host === undefined) {
    // Force detach (no connector): release every host the volume is not in use on.
    const info = await h.info()
    for (const r of info?.replicas ?? []) {
      if (r.kind === 'diskless' && r.inUse !== true) await h.detach(r.node)
    }
    return { shared: false }
  }
  await h.detach(env.settings.nodeOf(host))
  return { shared: false }
}

/** The target of a retype is this LINSTOR cluster: the same backend section, or one reporting our location_info. */
function sameCluster(env: Env, target: unknown): boolean {
  const t = isRecord(target) ? target : {}
  const caps = isRecord(t['capabilities']) ? t['capabilities'] : {}
  if (caps['location_info'] === locationInfo(env.settings)) return true
  // host@backend#pool
  const backend = typeof t['host'] === 'string' ? t['host'].split('@')[1]?.split('#')[0] : undefined
  return backend === env.settings.backend
}

function locationInfo(s: CinderSettings): string {
  return `linstor-virt:${s.controllers.join(',')}`
}

async function retype(env: Env, v: CinderVolume, newType: unknown, target: unknown): Promise<{ changed: boolean }> {
  if (!sameCluster(env, target)) return { changed: false }
  const spec = specOf(env, typeArg(newType, 'arguments.newType'))
  const old = (() => {
    try {
      return typeSpecOf(v.type, env.settings)
    } catch {
      return { policy: {}, props: {} } as TypeSpec
    }
  })()
  const h = await mustFindVolume(env, v)
  const group = await env.storage.groups.ensure(spec.policy)
  const dropped = Object.keys(old.props).filter((k) => !(k in spec.props))
  await env.storage.client.resourceDefinitions.modify(h.name, { resource_group: group, override_props: spec.props, delete_props: dropped })
  // More replicas when the new type asks for them; extra ones stay (never a data move to retype).
  const placed = await h.autoplace(spec.policy)
  // The disaster-recovery replica follows the type: added, moved or removed.
  if (spec.dr !== undefined || !drInSync(spec.dr, drPresence(placed))) await h.syncDr(spec.dr)
  return { changed: true }
}

function refName(ref: unknown): string {
  const r = isRecord(ref) ? ref : {}
  const name = r['source-name'] ?? r['source-id']
  if (typeof name !== 'string' || !isLinstorName(name)) {
    throw new PluginError('MANAGE_REF_INVALID', `the reference must be {"source-name": "<LINSTOR resource name>"}, got ${JSON.stringify(ref)}`)
  }
  return name
}

async function manageable(env: Env, ref: unknown, v: CinderVolume): Promise<ResourceInfo> {
  const name = refName(ref)
  // Read as it is: whose it is decides below.
  const info = await env.storage.volumes.info(name)
  if (info === undefined) throw new PluginError('MANAGE_REF_INVALID', `LINSTOR has no resource ${name}`, { context: { resource: name } })
  if (info.volumes.length !== 1 || info.volumes[0]?.number !== 0) {
    throw new PluginError('MANAGE_REF_INVALID', `resource ${info.name} has ${info.volumes.length} volumes; a Cinder volume is exactly one (volume 0)`, { context: { resource: info.name } })
  }
  const owner = info.props[AUX_VOLUME_ID]
  if (owner !== undefined && owner !== v.id) {
    throw new PluginError('MANAGE_REF_INVALID', `resource ${info.name} already belongs to Cinder volume ${owner}`, { context: { resource: info.name } })
  }
  const recorded = info.props[AUX_PLATFORM_NAME]
  if (recorded !== undefined && !volumePlatformNames(v).includes(recorded)) {
    throw new PluginError('MANAGE_REF_INVALID', `resource ${info.name} belongs to ${recorded} (made by linstor-virt for another volume or platform); remove its ${AUX_PLATFORM_NAME} property first if Cinder is to take it over`, { context: { resource: info.name } })
  }
  const busy = info.replicas.filter((r) => r.inUse === true).map((r) => r.node)
  if (busy.length > 0) throw new PluginError('MANAGE_REF_INVALID', `resource ${info.name} is in use on ${busy.join(', ')}; stop what uses it before Cinder manages it`, { context: { resource: info.name } })
  return info
}

async function manageExisting(env: Env, v: CinderVolume, ref: unknown): Promise<{ model_update: { provider_id: string } }> {
  const info = await manageable(env, ref, v)
  // Adopted in place: the name stays (LINSTOR cannot rename), Cinder keeps it as provider_id; the
  // resource records the volume's platform name from now on.
  await env.storage.resource(info.name, { platformName: info.props[AUX_PLATFORM_NAME] ?? info.name }).setAux({ [AUX_VOLUME_ID]: v.id, [AUX_PLATFORM_NAME]: volumePlatformName(v) })
  return { model_update: { provider_id: info.name } }
}

async function manageExistingGetSize(env: Env, v: CinderVolume, ref: unknown): Promise<{ sizeGib: number }> {
  const info = await manageable(env, ref, v)
  return { sizeGib: toGib(info.volumes[0]?.sizeBytes ?? 0) }
}

async function unmanage(env: Env, v: CinderVolume): Promise<Record<string, never>> {
  const h = await findVolume(env, v)
  if (h !== undefined) await h.setAux({ [AUX_VOLUME_ID]: null, [AUX_PLATFORM_NAME]: null })
  return {}
}

async function manageableVolumes(env: Env): Promise<Record<string, unknown>[]> {
  const c = env.storage.client
  const [rds, rows] = await Promise.all([c.resourceDefinitions.list({ withVolumeDefinitions: true }), c.view.resources()])
  const inUse = new Map<string, string[]>()
  for (const r of rows) {
    if (r.state?.in_use === true) inUse.set(r.name.toLowerCase(), [...(inUse.get(r.name.toLowerCase()) ?? []), r.node_name])
  }
  return rds.map((rd) => {
    const owner = rd.props[AUX_VOLUME_ID]
    const recorded = rd.props[AUX_PLATFORM_NAME]
    const sizeKib = rd.volume_definitions.find((vd) => vd.volume_number === 0)?.size_kib ?? 0
    const busy = inUse.get(rd.name.toLowerCase()) ?? []
    const reason =
      owner !== undefined ? 'already managed'
      : recorded !== undefined ? `belongs to ${recorded}`
      : rd.volume_definitions.length !== 1 ? `has ${rd.volume_definitions.length} volumes (a Cinder volume is one)`
      : busy.length > 0 ? `in use on ${busy.join(', ')}`
      : env.storage.guard.isProtected(rd.name) ? 'a volume of the LINSTOR controller VM'
      : undefined
    return {
      reference: { 'source-name': rd.name },
      size: toGib(sizeKib * 1024),
      safe_to_manage: reason === undefined,
      reason_not_safe: reason ?? null,
      cinder_id: owner ?? null,
      extra_info: `resource group ${rd.resource_group_name ?? 'DfltRscGrp'}`,
    }
  })
}

// ---------------------------------------------------------------- registration

type Run = (env: Env, args: Readonly<Record<string, unknown>>) => Promise<unknown>

/** A size in GiB, within the range the objects' sizes have (objects.ts). */
function gibArg(args: Readonly<Record<string, unknown>>, name: string): number {
  const v = args[name]
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || v > 1024 * 1024) throw new PluginError('CALL_INVALID', `arguments.${name}: must be a size in GiB from 1 to 1048576`)
  return v
}

const RUN: Record<string, Run> = {
  check: (env) => check(env),
  stats: (env) => stats(env),
  create_volume: (env, a) => createVolume(env, volumeArg(a['volume'])),
  delete_volume: (env, a) => deleteVolume(env, volumeArg(a['volume'])),
  create_snapshot: (env, a) => createSnapshot(env, snapshotArg(a['snapshot'])),
  delete_snapshot: (env, a) => deleteSnapshot(env, snapshotArg(a['snapshot'])),
  create_volume_from_snapshot: (env, a) => createFromSnapshot(env, volumeArg(a['volume']), snapshotArg(a['snapshot'])),
  create_cloned_volume: (env, a) => createCloned(env, volumeArg(a['volume']), volumeArg(a['source'], 'arguments.source')),
  extend_volume: (env, a) => extendVolume(env, volumeArg(a['volume']), gibArg(a, 'newSizeGib')),
  revert_to_snapshot: (env, a) => revertToSnapshot(env, volumeArg(a['volume']), snapshotArg(a['snapshot'])),
  ensure_export: (env, a) => ensureExport(env, volumeArg(a['volume'])),
  initialize_connection: (env, a) => initializeConnection(env, volumeArg(a['volume']), a['connector']),
  terminate_connection: (env, a) => terminateConnection(env, volumeArg(a['volume']), a['connector']),
  retype: (env, a) => retype(env, volumeArg(a['volume']), a['newType'], a['host']),
  manage_existing: (env, a) => manageExisting(env, volumeArg(a['volume']), a['ref']),
  manage_existing_get_size: (env, a) => manageExistingGetSize(env, volumeArg(a['volume']), a['ref']),
  unmanage: (env, a) => unmanage(env, volumeArg(a['volume'])),
  get_manageable_volumes: (env) => manageableVolumes(env),
}

/**
 * The one place Cinder errors leave for the shim (which raises them as Cinder exceptions): errors
 * about a setting are put in the words of the volume type or the backend section it came from
 * (core/errors inOperatorWords); the original text goes to the debug log.
 */
function inCinderWords(err: unknown, ctx: CallContext, spec: TypeSpec | undefined): unknown {
  const out = inOperatorWords(err, cinderWords(ctx.config, spec))
  if (out !== err) ctx.logger.debug({ err: err instanceof Error ? err.message : String(err) }, 'error put in cinder.conf / volume type words')
  return out
}

export function cinderOperations(): Record<string, Operation> {
  return Object.fromEntries(
    Object.entries(RUN).map(([name, run]): [string, Operation] => [
      name,
      {
        kind: 'action',
        run: async (args, ctx) => {
          let env: Env | undefined
          try {
            env = await envOf(ctx)
            return await run(env, args)
          } catch (err) {
            throw inCinderWords(err, ctx, env?.spec)
          }
        },
      },
    ]),
  )
}
