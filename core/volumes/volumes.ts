/**
 * The volume lifecycle on LINSTOR: create (spawn from the policy's resource group), grow, delete,
 * snapshots, rollback, clone, and replicas on named nodes. Every operation is safe to repeat:
 * creating what exists with the same shape returns it, deleting what is gone succeeds, a
 * conflicting shape is RESOURCE_CONFLICT. Callers serialize per resource (core/lock); nothing here
 * locks.
 */
import { open } from 'node:fs/promises'
import { PluginError } from '../errors/index.js'
import { LinstorApiError, RC } from '../linstor/index.js'
import type { LinstorClient, Props, Snapshot } from '../linstor/index.js'
import type { Logger } from '../log/index.js'
import type { PlacementPolicy, ResourceGroups } from '../placement/index.js'
import { definitionPropsOf, explainPlacementFailure, layerListOf, spawnOverrides } from '../placement/index.js'
import { AUX_PLATFORM_NAME, assertIdentity, fitName } from './names.js'
import type { IdentityExpectation } from './names.js'
import { bytesToKib, formatBytes } from './sizes.js'
import { ControllerVersion, NO_ZFS_LOOKUP, limitText, rollbackLimit } from './rollback.js'
import type { RollbackLimit } from './rollback.js'
import { readResource, replicaOn, resourceInfoOf, stableDevicePath } from './state.js'
import type { ResourceInfo, VolumeInfo } from './state.js'

/** Props linstor-virt keeps on the definitions it makes (Aux/ keys are free-form in LINSTOR). */
export const AUX_CREATED_BY = 'Aux/linstor-virt/created-by'
export const AUX_CLONE_OF = 'Aux/linstor-virt/clone-of'
/** A block copy's target until its last byte is copied (then it gets AUX_CLONE_OF): a repeated clone makes it again. */
export const AUX_CLONE_COPYING = 'Aux/linstor-virt/clone-copying'

export interface CreateSpec {
  /** Volume sizes in bytes, volume 0 first. */
  volumes: readonly number[]
  policy: Readonly<PlacementPolicy>
  /** Extra props on the definition (e.g. the platform's Aux/ ids). */
  props?: Props
  /**
   * Place the first diskful replica on this node when it can hold one (the VM's host), unless the
   * policy says preferLocal: false. A node that cannot hold one is skipped (logged at info).
   */
  preferNode?: string
  /** Create the definitions only; place later with autoplace. */
  definitionsOnly?: boolean
  /**
   * The platform's exact name of the volume: recorded in AUX_PLATFORM_NAME, and an existing
   * definition must be that volume's (else NAME_COLLISION, see names.ts).
   */
  identity?: IdentityExpectation
  /**
   * The caller found the name free in a listing it made for this call (a free-name search): the
   * spawn is sent without reading the definition first. LINSTOR refuses a name that exists in any
   * spelling before changing anything; only then is it read and checked.
   */
  nameFree?: boolean
}

export interface SnapshotInfo {
  name: string
  resource: string
  nodes: readonly string[]
  /** Milliseconds since the epoch (earliest node), when LINSTOR reported it. */
  createdAt?: number
  successful: boolean
  volumes: readonly { number: number; sizeBytes: number }[]
  props: Props
  /**
   * The definition's properties as LINSTOR keeps them with the snapshot (copied when it was
   * taken); undefined when the controller does not report them.
   */
  resourceProps?: Props
}

export interface CloneOptions {
  /** Clone this snapshot of the source instead of its current data. */
  snapshot?: string
  /** Placement of the clone (default: the source's resource group). */
  policy?: Readonly<PlacementPolicy>
  props?: Props
  /** Bytes copied so far and in all, for the block-copy path. */
  onProgress?: (copied: number, total: number) => void
  /** Skip LINSTOR's clone and snapshot restore (tests of the fallback; thick pools). */
  method?: 'auto' | 'block-copy'
  /**
   * The target's platform name (recorded in AUX_PLATFORM_NAME; an existing target must be that
   * object). Without it the target records none of its own: the source's is never inherited.
   */
  identity?: IdentityExpectation
  /** The source's expected identity (checked before anything is made from it). */
  sourceIdentity?: IdentityExpectation
  /** The expected identity of `snapshot` (checked before it is restored). */
  snapshotIdentity?: IdentityExpectation
  /** Properties a LINSTOR clone copies from the source that the target must not keep. */
  deleteProps?: readonly string[]
}

export interface VolumeLifecycleOptions {
  client: LinstorClient
  groups: ResourceGroups
  logger: Logger
  /** Where this host sees a node's devices ('' in production for the local node; undefined: not visible). */
  deviceRoot: (node: string) => string | undefined
  /** The node this process runs on (block copies run here). */
  localNode?: string
  /** Clone wait: poll interval and deadline. */
  pollMs?: number
  cloneTimeoutMs?: number
  sleep?: (ms: number) => Promise<void>
}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

function snapshotInfo(s: Snapshot): SnapshotInfo {
  const times = s.snapshots.map((n) => n.create_timestamp).filter((t): t is number => typeof t === 'number')
  return {
    name: s.name,
    resource: s.resource_name,
    nodes: s.nodes,
    ...(times.length > 0 ? { createdAt: Math.min(...times) } : {}),
    successful: s.flags.includes('SUCCESSFUL'),
    volumes: s.volume_definitions.map((v) => ({ number: v.volume_number, sizeBytes: v.size_kib * 1024 })).sort((a, b) => a.number - b.number),
    props: s.snapshot_definition_props,
    ...(s.resource_definition_props !== undefined ? { resourceProps: s.resource_definition_props } : {}),
  }
}

/** Oldest first; snapshots without a timestamp keep LINSTOR's order after the dated ones. */
export function sortSnapshots(list: readonly SnapshotInfo[]): SnapshotInfo[] {
  return list
    .map((s, i) => ({ s, i }))
    .sort((a, b) => (a.s.createdAt ?? Number.MAX_SAFE_INTEGER) - (b.s.createdAt ?? Number.MAX_SAFE_INTEGER) || a.i - b.i)
    .map((x) => x.s)
}

/** A placement LINSTOR refused for want of the master key: the stack has LUKS and the passphrase is not entered. */
function passphraseError(err: unknown, resource: string): PluginError | undefined {
  if (err instanceof LinstorApiError && err.has(RC.FAIL_NOT_FOUND_CRYPT_KEY)) {
    return new PluginError('PASSPHRASE_LOCKED', `cannot place ${resource}: its layer stack has LUKS and the LINSTOR controller's master passphrase is not entered (${err.message}); enter it (linstor encryption enter-passphrase) and retry`, { cause: err, context: { resource } })
  }
  return undefined
}

function inUse(name: string, busy: readonly string[], cause?: unknown): PluginError {
  return new PluginError('RESOURCE_IN_USE', `resource ${name} is in use${busy.length > 0 ? ` on ${busy.join(', ')}` : ''}; stop what uses it first`, {
    ...(cause !== undefined ? { cause } : {}),
    context: { resource: name, nodes: busy.join(',') },
  })
}

function notFound(name: string, expect?: IdentityExpectation): PluginError {
  return new PluginError('RESOURCE_NOT_FOUND', `${expect?.noun ?? 'resource'} ${expect?.platformName ?? name} does not exist${expect?.platformName !== undefined && expect.platformName !== name ? ` (LINSTOR resource ${name})` : ''}`, { context: { resource: name } })
}

export class VolumeLifecycle {
  readonly #o: Required<Omit<VolumeLifecycleOptions, 'localNode'>> & { localNode?: string }

  /** The controller's version, asked once (decides which snapshots LINSTOR rolls back to). */
  readonly #version: ControllerVersion

  constructor(options: VolumeLifecycleOptions) {
    this.#o = { pollMs: 250, cloneTimeoutMs: 30 * 60_000, sleep: defaultSleep, ...options }
    this.#version = new ControllerVersion(options.client)
  }

  get client(): LinstorClient {
    return this.#o.client
  }

  /** The resource as LINSTOR has it now, or undefined. */
  info(name: string): Promise<ResourceInfo | undefined> {
    return readResource(this.#o.client, name)
  }

  /**
   * The resource, checked to be the object `expect` names (NAME_COLLISION otherwise); undefined
   * when it does not exist.
   */
  async checkedInfo(name: string, expect?: IdentityExpectation): Promise<ResourceInfo | undefined> {
    const info = await this.info(name)
    if (info !== undefined && expect !== undefined) assertIdentity('resource', info, name, expect)
    return info
  }

  async #mustExist(name: string, expect?: IdentityExpectation): Promise<ResourceInfo> {
    const info = await this.checkedInfo(name, expect)
    if (info === undefined) throw notFound(name, expect)
    return info
  }

  /**
   * The definition alone (one GET, with its volume definitions), checked to be the object `expect`
   * names; its `replicas` are not read (empty). Undefined when it does not exist. For the steps
   * that decide on the definition only (identity, sizes, group).
   */
  async definition(name: string, expect?: IdentityExpectation): Promise<ResourceInfo | undefined> {
    const rds = await this.#o.client.resourceDefinitions.list({ resourceDefinitions: [name], withVolumeDefinitions: true })
    const rd = rds.find((r) => r.name.toLowerCase() === name.toLowerCase())
    if (rd === undefined) return undefined
    const info = resourceInfoOf(rd, [])
    if (expect !== undefined) assertIdentity('resource', info, name, expect)
    return info
  }

  async #definitionMustExist(name: string, expect?: IdentityExpectation): Promise<ResourceInfo> {
    const info = await this.definition(name, expect)
    if (info === undefined) throw notFound(name, expect)
    return info
  }

  /**
   * Creates the resource from the policy (spawn), or returns it when it exists with the same
   * volume sizes and group. A definition left without any diskful replica (a crash between spawn
   * and placement, or definitionsOnly earlier) is placed now.
   */
  async create(name: string, spec: CreateSpec): Promise<ResourceInfo> {
    return (await this.#create(name, spec, true)).info as ResourceInfo
  }

  /**
   * As create(), without reading the result back: LINSTOR's replies to the spawn and the placement
   * say what happened (a refusal is an error). `spawned`: this call made the definition.
   */
  async make(name: string, spec: CreateSpec): Promise<{ spawned: boolean }> {
    return { spawned: (await this.#create(name, spec, false)).spawned }
  }

  /**
   * The definition is read first (one GET: identity and shape decide before anything is written),
   * unless the caller found the name free (`nameFree`); a definition that exists is then read
   * whole (does it have a diskful replica?). A new one is spawned and placed without reading it
   * back when `readBack` is false.
   */
  async #create(name: string, spec: CreateSpec, readBack: boolean): Promise<{ info: ResourceInfo | undefined; spawned: boolean }> {
    const sizesKib = spec.volumes.map((b, i) => bytesToKib(b, `volumes[${i}]`))
    const group = await this.#o.groups.ensure(spec.policy)
    let found = spec.nameFree === true ? undefined : await this.definition(name, spec.identity)
    let spawned = false
    if (found === undefined) {
      try {
        const overrides = spawnOverrides(spec.policy)
        await this.#o.client.resourceGroups.spawn(group, {
          resource_definition_name: name,
          volume_sizes: sizesKib,
          definitions_only: true,
          resource_definition_props: {
            [AUX_CREATED_BY]: 'linstor-virt',
            ...definitionPropsOf(spec.policy),
            ...(spec.props ?? {}),
            ...(spec.identity !== undefined ? { [AUX_PLATFORM_NAME]: spec.identity.platformName ?? name } : {}),
          },
          ...(overrides !== undefined ? { select_filter: overrides } : {}),
        })
        spawned = true
      } catch (err) {
        // The group vanished since it was checked: forget it, so the next call re-creates or reports it.
        if (err instanceof LinstorApiError && err.has(RC.FAIL_NOT_FOUND_RSC_GRP)) this.#o.groups.invalidate(spec.policy)
        // Someone else created it meanwhile (LINSTOR changed nothing): checked below.
        if (!(err instanceof LinstorApiError && err.has(RC.FAIL_EXISTS_RSC_DFN))) throw err
        found = await this.#definitionMustExist(name, spec.identity)
      }
    }
    if (found !== undefined) {
      this.#checkShape(found, sizesKib, group)
      const info = await this.#mustExist(name)
      if (spec.definitionsOnly === true || info.replicas.some((r) => r.kind === 'diskful')) return { info, spawned }
    } else if (spec.definitionsOnly === true) {
      return { info: readBack ? await this.#mustExist(name) : undefined, spawned }
    }
    try {
      return { info: await this.#place(name, spec, readBack), spawned }
    } catch (err) {
      // What this call created and could not place goes again, so a retry starts clean.
      if (spawned) await this.#o.client.resourceDefinitions.delete(name).catch(() => undefined)
      throw err
    }
  }

  #checkShape(info: ResourceInfo, sizesKib: readonly number[], group: string): void {
    const have = info.volumes.map((v) => v.sizeKib)
    const problems: string[] = []
    if (have.length !== sizesKib.length || have.some((s, i) => s !== sizesKib[i])) {
      problems.push(`volumes ${have.map((k) => formatBytes(k * 1024)).join(', ') || 'none'} instead of ${sizesKib.map((k) => formatBytes(k * 1024)).join(', ')}`)
    }
    if (info.resourceGroup !== undefined && info.resourceGroup.toLowerCase() !== group.toLowerCase()) {
      problems.push(`resource group ${info.resourceGroup} instead of ${group}`)
    }
    if (problems.length > 0) {
      throw new PluginError('RESOURCE_CONFLICT', `resource ${info.name} already exists with ${problems.join(' and ')}`, { context: { resource: info.name } })
    }
  }

  async #place(name: string, spec: CreateSpec, readBack: boolean): Promise<ResourceInfo | undefined> {
    const c = this.#o.client
    const prefer = spec.preferNode ?? undefined
    if (prefer !== undefined && spec.policy.preferLocal !== false) {
      try {
        await c.resources.makeAvailable(name, prefer, { diskful: true })
      } catch (err) {
        // The VM's host cannot hold a replica (no pool, no space): LINSTOR places them elsewhere.
        this.#o.logger.info({ resource: name, node: prefer, err: String(err) }, 'no local replica on the preferred node')
      }
    }
    return this.#autoplace(name, spec.policy, undefined, readBack)
  }

  /**
   * Places replicas until the policy's count is met (LINSTOR skips what is already deployed).
   * `placeCount` overrides the policy's for this call.
   */
  async autoplace(name: string, policy: Readonly<PlacementPolicy>, placeCount?: number): Promise<ResourceInfo> {
    return (await this.#autoplace(name, policy, placeCount, true)) as ResourceInfo
  }

  /** As autoplace, for a caller that needs nothing back: LINSTOR's reply is final, nothing is read after it. */
  async placeUpTo(name: string, policy: Readonly<PlacementPolicy>): Promise<void> {
    await this.#autoplace(name, policy, undefined, false)
  }

  async #autoplace(name: string, policy: Readonly<PlacementPolicy>, placeCount: number | undefined, readBack: boolean): Promise<ResourceInfo | undefined> {
    const group = await this.#o.groups.resolve(policy)
    const filter = { ...(spawnOverrides(policy) ?? {}) }
    if (placeCount !== undefined) filter.place_count = placeCount
    const layers = layerListOf(policy)
    try {
      await this.#o.client.resources.autoplace(name, {
        select_filter: filter,
        // The REST layer overwrites the filter's value with this one: take the group's merged value.
        diskless_on_remaining: group.filter.diskless_on_remaining === true,
        ...(layers !== undefined ? { layer_list: layers } : {}),
      })
    } catch (err) {
      // PLACEMENT_FAILED saying what was asked and what the cluster offers (core/placement);
      // PASSPHRASE_LOCKED when LUKS wants the master key.
      throw passphraseError(err, name) ?? (await explainPlacementFailure(this.#o.client, group, policy, name, filter, err))
    }
    this.#o.logger.debug({ resource: name, group: group.name }, 'autoplaced')
    return readBack ? this.#mustExist(name) : undefined
  }

  /** Adds a volume (definition) of the given size if that volume number is free; same size → no-op. */
  async addVolume(name: string, number: number, sizeBytes: number, expect?: IdentityExpectation): Promise<VolumeInfo> {
    const kib = bytesToKib(sizeBytes)
    const info = await this.#mustExist(name, expect)
    const have = info.volumes.find((v) => v.number === number)
    if (have === undefined) {
      await this.#o.client.volumeDefinitions.create(name, { volume_definition: { size_kib: kib, volume_number: number } })
    } else if (have.sizeKib !== kib) {
      throw new PluginError('RESOURCE_CONFLICT', `volume ${number} of ${name} exists with ${formatBytes(have.sizeBytes)}, not ${formatBytes(kib * 1024)}`, { context: { resource: name, volume: number } })
    }
    const after = await this.#mustExist(name)
    return after.volumes.find((v) => v.number === number) as VolumeInfo
  }

  /**
   * Grows a volume on every replica. `toBytes` is absolute (idempotent); `byBytes` adds to the
   * size read now (repeating it grows again). Sizes round up to whole KiB; a smaller target is
   * SHRINK_REFUSED, the same size a no-op.
   */
  async grow(name: string, volume: number, size: { toBytes: number } | { byBytes: number }, expect?: IdentityExpectation): Promise<VolumeInfo> {
    // The definition decides (identity, the current size): the replicas are not needed.
    const info = await this.#definitionMustExist(name, expect)
    const vd = info.volumes.find((v) => v.number === volume)
    if (vd === undefined) throw new PluginError('RESOURCE_NOT_FOUND', `resource ${name} has no volume ${volume}`, { context: { resource: name, volume } })
    const target = 'toBytes' in size ? bytesToKib(size.toBytes, 'size') : vd.sizeKib + bytesToKib(size.byBytes, 'size')
    if (target < vd.sizeKib) {
      throw new PluginError('SHRINK_REFUSED', `volume ${volume} of ${name} has ${formatBytes(vd.sizeBytes)}; it cannot shrink to ${formatBytes(target * 1024)}`, { context: { resource: name, volume } })
    }
    if (target === vd.sizeKib) return vd
    try {
      await this.#o.client.volumeDefinitions.modify(name, volume, { size_kib: target })
    } catch (err) {
      if (err instanceof LinstorApiError && err.has(RC.FAIL_NOT_ENOUGH_FREE_SPACE)) {
        throw new PluginError('PLACEMENT_FAILED', `not enough free space to grow ${name} to ${formatBytes(target * 1024)}: ${err.message}`, { cause: err, context: { resource: name } })
      }
      throw err
    }
    return { ...vd, sizeKib: target, sizeBytes: target * 1024 }
  }

  /**
   * Deletes the resource with all its replicas. Refused while it is in use anywhere; refused while
   * it has snapshots unless `snapshots: true`, which deletes them first. Gone already → success.
   *
   * The definition is read (its identity), then the DELETE is sent: LINSTOR refuses it before
   * changing anything while a replica is Primary (FAIL_IN_USE) or snapshots exist
   * (FAIL_EXISTS_SNAPSHOT_DFN), so its reply decides. Snapshots are deleted only after the
   * replicas were read and none is in use.
   */
  async delete(name: string, opts: { snapshots?: boolean; expect?: IdentityExpectation } = {}): Promise<boolean> {
    const rd = await this.definition(name, opts.expect)
    if (rd === undefined) return false
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#o.client.resourceDefinitions.delete(rd.name)
        return true
      } catch (err) {
        if (!(err instanceof LinstorApiError)) throw err
        if (err.has(RC.FAIL_IN_USE)) throw await this.#inUseError(rd.name, err)
        if (!err.has(RC.FAIL_EXISTS_SNAPSHOT_DFN) || attempt > 0) throw err
      }
      const snaps = await this.snapshots(rd.name)
      if (snaps.length > 0 && opts.snapshots !== true) {
        throw new PluginError('HAS_SNAPSHOTS', `resource ${rd.name} has snapshots: ${snaps.map((s) => s.name).join(', ')}`, { context: { resource: rd.name } })
      }
      // Deleting snapshots is not undone: nothing may use the resource (LINSTOR checks snapshots
      // first); the definition is known, its replicas are read.
      const busy = (await this.#o.client.view.resources({ resources: [rd.name] })).filter((r) => r.name.toLowerCase() === rd.name.toLowerCase() && r.state?.in_use === true).map((r) => r.node_name)
      if (busy.length > 0) throw inUse(rd.name, busy)
      for (const s of snaps) await this.#o.client.snapshots.delete(rd.name, s.name)
    }
  }

  /** RESOURCE_IN_USE for LINSTOR's FAIL_IN_USE, naming the nodes (one read, only then). */
  async #inUseError(name: string, cause: LinstorApiError): Promise<PluginError> {
    const rows = await this.#o.client.view.resources({ resources: [name] }).catch(() => [])
    const busy = rows.filter((r) => r.name.toLowerCase() === name.toLowerCase() && r.state?.in_use === true).map((r) => r.node_name)
    return inUse(name, busy, cause)
  }

  /** Snapshots of the resource, oldest first (empty when the resource does not exist). */
  async snapshots(name: string): Promise<SnapshotInfo[]> {
    const list = await this.#o.client.view.snapshots({ resources: [name] })
    // A SAFETY_SNAPSHOT is LINSTOR's own, left only by a rollback the controller did not finish.
    return sortSnapshots(list.filter((s) => s.resource_name.toLowerCase() === name.toLowerCase() && !s.flags.includes('SAFETY_SNAPSHOT')).map(snapshotInfo))
  }

  async snapshot(name: string, snapshot: string): Promise<SnapshotInfo | undefined> {
    return (await this.snapshots(name)).find((s) => s.name.toLowerCase() === snapshot.toLowerCase())
  }

  /**
   * Takes a snapshot on every diskful replica; an existing snapshot of that name is returned. With
   * `expect`, the resource must be that object and an existing snapshot the one `expect.snapshot`
   * names (NAME_COLLISION otherwise); a new one records its platform name.
   *
   * The definition is read (identity), then the POST is sent: LINSTOR answers once the snapshot is
   * taken on every node (an error otherwise), and refuses an existing name
   * (FAIL_EXISTS_SNAPSHOT_DFN) before changing anything; only then is the snapshot read. A
   * snapshot this call made is returned as asked for (`nodes` empty: the reply does not list them).
   */
  async createSnapshot(name: string, snapshot: string, props?: Props, expect?: { resource?: IdentityExpectation; snapshot?: IdentityExpectation }): Promise<SnapshotInfo> {
    const rd = await this.#definitionMustExist(name, expect?.resource)
    const all = { ...(props ?? {}), ...(expect?.snapshot !== undefined ? { [AUX_PLATFORM_NAME]: expect.snapshot.platformName ?? snapshot } : {}) }
    try {
      await this.#o.client.snapshots.create(rd.name, { name: snapshot, ...(Object.keys(all).length > 0 ? { snapshot_definition_props: all } : {}) })
      return { name: snapshot, resource: rd.name, nodes: [], successful: true, volumes: rd.volumes.map((v) => ({ number: v.number, sizeBytes: v.sizeBytes })), props: all, resourceProps: rd.props }
    } catch (err) {
      if (!(err instanceof LinstorApiError && err.has(RC.FAIL_EXISTS_SNAPSHOT_DFN))) throw err
    }
    // It exists (a repeated call, or someone else's of that name): it must be this snapshot, finished.
    const s = await this.snapshot(rd.name, snapshot)
    if (s === undefined || !s.successful) {
      throw new PluginError('SNAPSHOT_NOT_FOUND', `snapshot ${snapshot} of ${name} did not complete`, { context: { resource: name, snapshot } })
    }
    if (expect?.snapshot !== undefined) assertIdentity('snapshot', s, snapshot, expect.snapshot, s.resource)
    return s
  }

  async deleteSnapshot(name: string, snapshot: string): Promise<void> {
    await this.#o.client.snapshots.delete(name, snapshot)
  }

  /** The target snapshot and the ones newer than it (oldest first); SNAPSHOT_NOT_FOUND otherwise. */
  async #snapshotAndNewer(name: string, snapshot: string, known?: readonly SnapshotInfo[]): Promise<{ target: SnapshotInfo; newer: SnapshotInfo[] }> {
    const all = known ?? (await this.snapshots(name))
    const i = all.findIndex((s) => s.name.toLowerCase() === snapshot.toLowerCase())
    if (i < 0) {
      // Only now tell a missing resource from a missing snapshot.
      if (known === undefined) await this.#mustExist(name)
      throw new PluginError('SNAPSHOT_NOT_FOUND', `resource ${name} has no snapshot ${snapshot}`, { context: { resource: name, snapshot } })
    }
    return { target: all[i] as SnapshotInfo, newer: all.slice(i + 1) }
  }

  /** What keeps LINSTOR from rolling this resource back past newer snapshots (undefined: nothing). */
  async #rollbackLimit(name: string): Promise<RollbackLimit | undefined> {
    const c = this.#o.client
    return rollbackLimit(await this.#version.get(), {
      replicas: () => c.view.resources({ resources: [name] }),
      definition: async () => {
        const rd = await c.resourceDefinitions.get(name)
        return rd === undefined ? undefined : { name: rd.name, props: rd.props, ...(rd.resource_group_name !== undefined ? { resourceGroup: rd.resource_group_name } : {}) }
      },
      group: async (g) => (await c.resourceGroups.get(g))?.props ?? {},
      controller: () => c.controller.properties(),
    })
  }

  /**
   * The snapshots that block a rollback to `snapshot` on this controller, oldest first: none when
   * LINSTOR rolls back to any snapshot (1.31+, and a ZFS resource's strategy allows it), else the
   * newer ones. `opts.snapshots`: the list when the caller has just read it.
   */
  async rollbackBlockers(name: string, snapshot: string, opts: { snapshots?: readonly SnapshotInfo[] } = {}): Promise<SnapshotInfo[]> {
    const { newer } = await this.#snapshotAndNewer(name, snapshot, opts.snapshots)
    if (newer.length === 0) return []
    return (await this.#rollbackLimit(name)) === undefined ? [] : newer
  }

  /**
   * Rolls the resource back to a snapshot with LINSTOR's own rollback, one call. Past newer
   * snapshots where the controller can (1.31+; keeps them). A controller that rolls back to the
   * newest only (before 1.31, or a ZFS strategy of Rollback, which the controller itself refuses
   * before changing anything) gets ROLLBACK_BLOCKED naming the newer snapshots, unless
   * `removeNewer`, which deletes them first. In use: RESOURCE_IN_USE.
   */
  async rollback(name: string, snapshot: string, opts: { removeNewer?: boolean; snapshots?: readonly SnapshotInfo[] } = {}): Promise<void> {
    const { target, newer } = await this.#snapshotAndNewer(name, snapshot, opts.snapshots)
    const blocked = (why: string, cause?: unknown): PluginError =>
      new PluginError('ROLLBACK_BLOCKED', `cannot roll ${name} back to ${target.name}: ${why}, and newer snapshots exist: ${newer.map((s) => s.name).join(', ')}`, {
        ...(cause !== undefined ? { cause } : {}),
        context: { resource: name, snapshot: target.name, blockers: newer.map((s) => s.name).join(',') },
      })
    const version = newer.length > 0 ? await this.#version.get() : undefined
    const limit = version === undefined ? undefined : opts.removeNewer === true ? await this.#rollbackLimit(name) : await rollbackLimit(version, NO_ZFS_LOOKUP)
    if (limit !== undefined) {
      if (opts.removeNewer !== true) throw blocked(limitText(limit))
      // Deleting snapshots is not undone: check first that nothing has the resource open.
      const info = await this.#mustExist(name)
      const busy = info.replicas.filter((r) => r.inUse === true).map((r) => r.node)
      if (busy.length > 0) throw new PluginError('RESOURCE_IN_USE', `cannot roll ${info.name} back while it is in use on ${busy.join(', ')}`, { context: { resource: info.name } })
      for (const s of [...newer].reverse()) await this.#o.client.snapshots.delete(name, s.name)
    }
    try {
      await this.#o.client.snapshots.rollback(name, target.name)
    } catch (err) {
      if (err instanceof LinstorApiError && err.has(RC.FAIL_IN_USE)) {
        throw new PluginError('RESOURCE_IN_USE', `cannot roll ${name} back while it is in use: ${err.message}`, { cause: err, context: { resource: name } })
      }
      if (err instanceof LinstorApiError && limit === undefined && newer.length > 0) {
        // The ZFS strategy Rollback: the controller refuses up front (ZfsChecks).
        if (err.has(RC.FAIL_DEPENDEND_BACKUP)) throw blocked(`LINSTOR refused (${err.message})`, err)
        // A controller older than its version said (a failover): ask again next time.
        if (err.has(RC.FAIL_EXISTS_SNAPSHOT_DFN)) {
          this.#version.forget()
          throw blocked(`LINSTOR refused (${err.message})`, err)
        }
      }
      throw err
    }
  }

  /**
   * Clones a resource (or one of its snapshots) into a new resource. From a snapshot: restore.
   * From live data: LINSTOR's clone; where the controller refuses it, a temporary snapshot and a
   * restore; where the pools have no snapshots, a block copy on the local node with progress.
   * An existing target that is a finished clone of the same source is returned; a half-made target
   * is removed on failure so the clone can be retried.
   */
  async clone(source: string, target: string, opts: CloneOptions = {}): Promise<ResourceInfo> {
    const src = await this.#mustExist(source, opts.sourceIdentity)
    let existing = await this.checkedInfo(target, opts.identity)
    const origin = opts.snapshot === undefined ? src.name : `${src.name}@${opts.snapshot}`
    if (existing !== undefined && existing.props[AUX_CLONE_OF] === undefined && existing.props[AUX_CLONE_COPYING] === origin) {
      // A block copy that died before its last byte: its bytes are not the source's.
      await this.#removeHalfMade(target)
      existing = undefined
    }
    if (existing !== undefined) {
      if (existing.props[AUX_CLONE_OF] !== origin) {
        throw new PluginError('RESOURCE_CONFLICT', `cannot clone ${origin} into ${target}: ${target} exists and is not a clone of it`, { context: { resource: target } })
      }
      // Finished: volumes and a replica holding data. A target without them is a clone that died
      // half-way (a restore between its steps, issue 28's crash tests): it holds no data, and a
      // repeated call finishes it (a restore resumes at its next step; otherwise it is made again).
      const holdsData = existing.volumes.length > 0 && existing.replicas.some((r) => r.kind === 'diskful')
      if (!existing.flags.includes('CLONING') && holdsData) return existing
      if (!existing.flags.includes('CLONING') && opts.snapshot === undefined) await this.#removeHalfMade(target)
    }
    const group = opts.policy !== undefined ? await this.#o.groups.ensure(opts.policy) : src.resourceGroup
    const props: Props = {
      [AUX_CREATED_BY]: 'linstor-virt',
      [AUX_CLONE_OF]: origin,
      ...(opts.props ?? {}),
      ...(opts.identity !== undefined ? { [AUX_PLATFORM_NAME]: opts.identity.platformName ?? target } : {}),
    }
    // A LINSTOR clone copies the source's properties: what names the source must not name the target.
    const drop = [...(opts.deleteProps ?? []), ...(opts.identity === undefined ? [AUX_PLATFORM_NAME] : [])].filter((k) => !(k in props))
    // The snapshot is checked before anything is made: a refusal leaves nothing to clean up.
    const snap = opts.snapshot === undefined ? undefined : await this.#finishedSnapshot(src, opts.snapshot, opts.snapshotIdentity)
    try {
      // The target as read above (under the call's lock): the steps below need not read it again.
      if (snap !== undefined) {
        await this.#restore(src, snap, target, group, props, { info: existing })
      } else if (opts.method === 'block-copy') {
        await this.#blockCopy(src, target, opts, props)
      } else {
        await this.#cloneLive(src, target, group, props, drop, opts, existing)
      }
    } catch (err) {
      await this.#removeHalfMade(target)
      if (err instanceof PluginError && err.code !== 'LINSTOR_API_ERROR') throw err
      throw new PluginError('CLONE_FAILED', `cloning ${origin} into ${target} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err, context: { resource: target } })
    }
    const made = await this.#mustExist(target)
    // Whatever the clone method copied over: the target carries its own identity, not the source's.
    const wrong = Object.entries(props).filter(([k, v]) => made.props[k] !== v && k.startsWith('Aux/'))
    const stale = drop.filter((k) => made.props[k] !== undefined)
    if (wrong.length === 0 && stale.length === 0) return made
    await this.#o.client.resourceDefinitions.modify(made.name, { override_props: Object.fromEntries(wrong), delete_props: stale })
    return this.#mustExist(target)
  }

  async #removeHalfMade(target: string): Promise<void> {
    try {
      const snaps = await this.snapshots(target)
      for (const s of snaps) await this.#o.client.snapshots.delete(target, s.name)
      await this.#o.client.resourceDefinitions.delete(target)
    } catch (err) {
      this.#o.logger.warn({ resource: target, err: String(err) }, 'could not remove a half-made clone')
    }
  }

  /** The snapshot, finished, and (with `expect`) the one named; SNAPSHOT_NOT_FOUND or NAME_COLLISION otherwise. */
  async #finishedSnapshot(src: ResourceInfo, snapshot: string, expect?: IdentityExpectation): Promise<SnapshotInfo> {
    const snap = await this.snapshot(src.name, snapshot)
    if (snap === undefined || !snap.successful) {
      throw new PluginError('SNAPSHOT_NOT_FOUND', `resource ${src.name} has no finished snapshot ${snapshot}`, { context: { resource: src.name, snapshot } })
    }
    if (expect !== undefined) assertIdentity('snapshot', snap, snapshot, expect, src.name)
    return snap
  }

  /**
   * `found`: the target as the caller read it in this call, undefined when it does not exist
   * ('read': read it here). A definition made here has no volumes and no replicas: its create's
   * reply is final, nothing is read back.
   */
  async #restore(src: ResourceInfo, snap: SnapshotInfo, target: string, group: string | undefined, props: Props, found: { info: ResourceInfo | undefined } | 'read'): Promise<void> {
    const c = this.#o.client
    const t = found === 'read' ? await this.info(target) : found.info
    let name = target
    let volumes = 0
    let replicas = 0
    if (t === undefined) {
      await c.resourceDefinitions.create({ resource_definition: { name: target, props, ...(group !== undefined ? { resource_group_name: group } : {}) } })
    } else {
      name = t.name
      volumes = t.volumes.length
      replicas = t.replicas.length
    }
    // Each step is skipped when a repeated call finds it done; restoring volume definitions adds no replicas.
    if (volumes === 0) await c.snapshots.restoreVolumeDefinitions(src.name, snap.name, name)
    if (replicas === 0) await c.snapshots.restoreResources(src.name, snap.name, { to_resource: name })
  }

  async #cloneLive(src: ResourceInfo, target: string, group: string | undefined, props: Props, drop: readonly string[], opts: CloneOptions, found: ResourceInfo | undefined): Promise<void> {
    const c = this.#o.client
    let started = true
    if (found === undefined) {
      try {
        await c.resourceDefinitions.clone(src.name, { name: target, ...(group !== undefined ? { resource_group: group } : {}), override_props: props, ...(drop.length > 0 ? { delete_props: [...drop] } : {}) })
      } catch (err) {
        // Controllers before the clone API (unknown path), or pools LINSTOR cannot clone.
        if (!(err instanceof LinstorApiError)) throw err
        this.#o.logger.info({ resource: src.name, err: err.message }, 'LINSTOR clone refused; trying a snapshot restore')
        started = false
      }
    }
    if (started) {
      await this.#waitClone(src.name, target)
      return
    }
    await this.#removeHalfMade(target)
    // Two long targets must not share the temporary snapshot: the name shortens with a hash.
    const tmp = fitName('lvtmp-', target)
    let snapOk = false
    try {
      await this.createSnapshot(src.name, tmp, { [AUX_PLATFORM_NAME]: tmp })
      snapOk = true
    } catch (err) {
      this.#o.logger.info({ resource: src.name, err: String(err) }, 'no snapshot possible; falling back to a block copy')
    }
    if (snapOk) {
      try {
        await this.#restore(src, await this.#finishedSnapshot(src, tmp), target, group, props, 'read')
      } finally {
        await c.snapshots.delete(src.name, tmp)
      }
      return
    }
    await this.#blockCopy(src, target, opts, props)
  }

  async #waitClone(source: string, target: string): Promise<void> {
    const deadline = Date.now() + this.#o.cloneTimeoutMs
    for (;;) {
      const status = await this.#o.client.resourceDefinitions.cloneStatus(source, target)
      if (status === 'COMPLETE' || status === undefined) return
      if (status === 'FAILED') throw new PluginError('CLONE_FAILED', `LINSTOR reports the clone of ${source} into ${target} as FAILED`, { context: { resource: target } })
      if (Date.now() > deadline) throw new PluginError('CLONE_FAILED', `the clone of ${source} into ${target} did not complete within ${this.#o.cloneTimeoutMs} ms`, { context: { resource: target } })
      await this.#o.sleep(this.#o.pollMs)
    }
  }

  /**
   * Copies every volume byte by byte on the local node: a new resource of the same sizes in the
   * source's group, both made available locally, all-zero blocks skipped on the fresh target.
   */
  async #blockCopy(src: ResourceInfo, target: string, opts: CloneOptions, props: Props): Promise<void> {
    const node = this.#o.localNode
    const root = node === undefined ? undefined : this.#o.deviceRoot(node)
    if (node === undefined || root === undefined) {
      throw new PluginError('CLONE_FAILED', `a block copy of ${src.name} needs the local node's devices (set localNode)`, { context: { resource: src.name } })
    }
    const c = this.#o.client
    const policy: PlacementPolicy = src.resourceGroup !== undefined ? { resourceGroup: src.resourceGroup } : {}
    // Marked as a clone only once every byte is there (a process killed half-way leaves a target a
    // repeated clone makes again, never one it takes for finished).
    const origin = props[AUX_CLONE_OF]
    const { [AUX_CLONE_OF]: _done, ...copying } = props
    const made = await this.create(target, { volumes: src.volumes.map((v) => v.sizeBytes), policy: opts.policy ?? policy, props: origin !== undefined ? { ...copying, [AUX_CLONE_COPYING]: origin } : props })
    const createdHere: string[] = []
    for (const r of [src, made]) {
      if (replicaOn(r, node) === undefined) {
        await c.resources.makeAvailable(r.name, node, { diskful: false })
        createdHere.push(r.name)
      }
    }
    try {
      const total = src.volumes.reduce((s, v) => s + v.sizeBytes, 0)
      let copied = 0
      for (const v of src.volumes) {
        copied = await copyDevice(root + stableDevicePath(src.name, v.number), root + stableDevicePath(made.name, v.number), v.sizeBytes, copied, total, opts.onProgress)
      }
      if (origin !== undefined) await c.resourceDefinitions.modify(made.name, { override_props: { [AUX_CLONE_OF]: origin }, delete_props: [AUX_CLONE_COPYING] })
    } finally {
      for (const name of createdHere) await c.resources.delete(name, node, { keepTiebreaker: true })
    }
  }
}

const CHUNK = 4 * 1024 * 1024
const ZEROS = Buffer.alloc(CHUNK)

async function copyDevice(from: string, to: string, size: number, done: number, total: number, progress?: (copied: number, total: number) => void): Promise<number> {
  const src = await open(from, 'r')
  try {
    const dst = await open(to, 'r+')
    try {
      const buf = Buffer.alloc(CHUNK)
      for (let pos = 0; pos < size; ) {
        const want = Math.min(CHUNK, size - pos)
        const { bytesRead } = await src.read(buf, 0, want, pos)
        if (bytesRead === 0) break
        const slice = buf.subarray(0, bytesRead)
        // The target is fresh (zeroed, thin): writing zeros would only allocate space.
        if (!slice.equals(ZEROS.subarray(0, bytesRead))) await dst.write(slice, 0, bytesRead, pos)
        pos += bytesRead
        progress?.(done + pos, total)
      }
      await dst.sync()
    } finally {
      await dst.close()
    }
  } finally {
    await src.close()
  }
  return done + size
}
