/**
 * The core's front door: `createStorage(options)` wires the LINSTOR client, the placement groups,
 * the capacity cache, the per-resource locks, controller-VM awareness and the lifecycle, and hands
 * out one `ResourceHandle` per name. Adapters call only this.
 *
 * @example
 * ```ts
 * const storage = createStorage({ client: createLinstorClient({ controllers: 'linstor://ctrl' }) })
 * const disk = storage.resource('demo')
 * await disk.create({ volumes: [10 * GiB], policy: { placeCount: 2 } })   // spawn + autoplace
 * await disk.grow(0, { byBytes: 10 * GiB })                                // on every replica
 * console.log((await disk.attach('bravo')).volumes[0]?.devicePath)        // /dev/drbd/by-res/demo/0
 * await disk.detach('bravo')
 * ```
 */
import { hostname } from 'node:os'
import { join } from 'node:path'
import { ControllerVmGuard, DEFAULT_STATE_DIR, HostState, isControllerTrouble, seenOf } from '../ha/index.js'
import type { ControllerVmOptions, PendingRecord } from '../ha/index.js'
import { Attachments } from '../lifecycle/index.js'
import type { AttachOptions, Attachment, Detachment } from '../lifecycle/index.js'
import { withinBudget } from '../linstor/index.js'
import type { LinstorClient, Props } from '../linstor/index.js'
import { ResourceLocks } from '../lock/index.js'
import { silentLogger } from '../log/index.js'
import type { Logger } from '../log/index.js'
import { CapacityCache, ResourceGroups } from '../placement/index.js'
import type { Capacity, PlacementPolicy } from '../placement/index.js'
import { PluginError, isPluginError } from '../errors/index.js'
import { DisasterRecovery, VolumeLifecycle, assertIdentity, isIdentical, localDiskful, recordedName } from '../volumes/index.js'
import type { CloneOptions, CreateSpec, DrTarget, IdentityExpectation, ResourceInfo, SnapshotInfo, VolumeInfo } from '../volumes/index.js'
import { replicaOn } from '../volumes/index.js'

export interface StorageOptions {
  client: LinstorClient
  logger?: Logger
  /** Lock folder shared by every process on this host (default /run/linstor-virt/locks). */
  lockDir?: string
  lockWaitMs?: number
  /** This host's LINSTOR node name (default: the short host name). */
  localNode?: string
  /**
   * Where this process sees a node's devices: '' for the local node in production. Tests point it at
   * the emulator's per-node folders. undefined: that node's devices are not visible from here.
   */
  deviceRoot?: (node: string) => string | undefined
  /** The LINSTOR controller's own VM: its volumes are protected. */
  controllerVm?: ControllerVmOptions
  /** Bounded age of capacity answers (default 10 s). */
  capacityMaxAgeMs?: number
  now?: () => Date
  /** Clone polling (tests shorten it). */
  pollMs?: number
  /**
   * The host's state folder: pending records, last seen replicas, last status answers (see
   * core/ha host-state.ts). Default: `<lockDir>/state` when a lock folder is given, else
   * /var/lib/linstor-virt.
   */
  stateDir?: string
  /** How long starting or stopping a VM waits on LINSTOR when the host has what it needs (default 1500 ms). */
  controllerBudgetMs?: number
  /** The core settings this Storage was built from (storageOf), kept in pending records for the agent's sweep. */
  origin?: Record<string, unknown>
}

/** What one settle of the pending records did. */
export interface PendingSettlement {
  settled: PendingRecord[]
  left: { record: PendingRecord; error?: string }[]
}

/** Everything the adapters need, on one object; see ResourceHandle for the per-volume operations. */
export class Storage {
  readonly client: LinstorClient
  readonly logger: Logger
  readonly groups: ResourceGroups
  readonly capacityCache: CapacityCache
  readonly locks: ResourceLocks
  readonly guard: ControllerVmGuard
  readonly volumes: VolumeLifecycle
  readonly attachments: Attachments
  /** Disaster-recovery replicas behind DRBD Proxy. */
  readonly dr: DisasterRecovery
  readonly localNode: string
  readonly deviceRoot: (node: string) => string | undefined
  /** What this host keeps on disk for when no controller answers. */
  readonly state: HostState
  /** The core settings this Storage was built from, when built by the call protocol. */
  readonly origin: Record<string, unknown> | undefined

  constructor(o: StorageOptions) {
    this.client = o.client
    this.logger = o.logger ?? silentLogger()
    this.localNode = o.localNode ?? (hostname().split('.')[0] ?? 'localhost')
    const local = this.localNode
    this.deviceRoot = o.deviceRoot ?? ((node) => (node.toLowerCase() === local.toLowerCase() ? '' : undefined))
    this.groups = new ResourceGroups({ client: o.client, logger: this.logger })
    this.capacityCache = new CapacityCache({ client: o.client, groups: this.groups, ...(o.capacityMaxAgeMs !== undefined ? { maxAgeMs: o.capacityMaxAgeMs } : {}) })
    this.locks = new ResourceLocks({ dir: o.lockDir ?? '/run/linstor-virt/locks', ...(o.lockWaitMs !== undefined ? { waitMs: o.lockWaitMs } : {}) })
    this.guard = new ControllerVmGuard(o.controllerVm)
    this.volumes = new VolumeLifecycle({
      client: o.client,
      groups: this.groups,
      logger: this.logger,
      deviceRoot: this.deviceRoot,
      localNode: this.localNode,
      ...(o.pollMs !== undefined ? { pollMs: o.pollMs } : {}),
    })
    this.dr = new DisasterRecovery(o.client, this.logger)
    this.state = new HostState(o.stateDir ?? (o.lockDir !== undefined ? join(o.lockDir, 'state') : DEFAULT_STATE_DIR), this.logger)
    this.origin = o.origin
    this.attachments = new Attachments({
      client: o.client,
      logger: this.logger,
      guard: this.guard,
      deviceRoot: this.deviceRoot,
      state: this.state,
      ...(o.now !== undefined ? { now: o.now } : {}),
      ...(o.controllerBudgetMs !== undefined ? { budgetMs: o.controllerBudgetMs } : {}),
      ...(o.origin !== undefined ? { origin: o.origin } : {}),
    })
  }

  /** The pending records of this host for this cluster (what starts and stops could not tell LINSTOR). */
  pending(): PendingRecord[] {
    return this.attachments.pendingRecords()
  }

  /**
   * Settles every pending record of this cluster, each under its resource's lock, now that a
   * controller may answer again. Records LINSTOR still gives no usable answer for stay.
   */
  async settlePending(): Promise<PendingSettlement> {
    const out: PendingSettlement = { settled: [], left: [] }
    for (const record of this.pending()) {
      try {
        const done = await this.withLock(record.resource, () => this.attachments.settle(record))
        if (done === 'settled') out.settled.push(record)
        else out.left.push({ record })
      } catch (err) {
        out.left.push({ record, error: err instanceof Error ? err.message : String(err) })
      }
    }
    return out
  }

  /**
   * A handle on one resource by its LINSTOR name; no I/O until an operation runs. `identity` says
   * which object the platform means (its exact platform name; default: the LINSTOR name itself):
   * every operation refuses an object LINSTOR finds under `name` that is not that one
   * (NAME_COLLISION, see core/volumes/names.ts), and what the handle makes records it.
   */
  resource(name: string, identity: IdentityExpectation = {}): ResourceHandle {
    return new ResourceHandle(this, name, identity)
  }

  /** Max volume size, free and total space for a policy (cached with a bounded age). */
  capacity(policy: Readonly<PlacementPolicy>, opts: { maxAgeMs?: number } = {}): Promise<Capacity> {
    return this.capacityCache.capacity(policy, opts)
  }

  /** Runs fn under the resource's lock (in this process and across processes on this host). */
  withLock<T>(name: string, fn: () => Promise<T>, options: { waitMs?: number } = {}): Promise<T> {
    return this.locks.withLock(name, fn, options)
  }
}

export function createStorage(options: StorageOptions): Storage {
  return new Storage(options)
}

/**
 * One resource (a LINSTOR resource definition with its volumes). Every mutating method takes the
 * resource's lock and is safe to repeat; see the TSDoc of each for what it refuses.
 */
export class ResourceHandle {
  readonly #s: Storage
  readonly name: string
  /** The platform's exact name of the object (the LINSTOR name unless the adapter says otherwise). */
  readonly platformName: string
  readonly #expect: IdentityExpectation

  constructor(storage: Storage, name: string, identity: IdentityExpectation = {}) {
    this.#s = storage
    this.name = name
    this.platformName = identity.platformName ?? name
    this.#expect = { ...identity, platformName: this.platformName }
  }

  /** What this handle expects to find under its name (for the core's own checks). */
  get identity(): IdentityExpectation {
    return this.#expect
  }

  /** Refuses (NAME_COLLISION) unless the object under this name is this handle's; undefined when absent. */
  async #verified(): Promise<ResourceInfo | undefined> {
    return this.#s.volumes.checkedInfo(this.name, this.#expect)
  }

  /**
   * The definition alone (one GET), checked to be this handle's: true when it exists. For the
   * writes that need nothing else from a read before them.
   */
  async #definitionVerified(): Promise<boolean> {
    const rds = await this.#s.client.resourceDefinitions.list({ resourceDefinitions: [this.name] })
    const rd = rds.find((r) => r.name.toLowerCase() === this.name.toLowerCase())
    if (rd === undefined) return false
    assertIdentity('resource', rd, this.name, this.#expect)
    return true
  }

  async #definitionMustExist(): Promise<void> {
    if (!(await this.#definitionVerified())) {
      const named = this.platformName !== this.name ? `${this.platformName} (LINSTOR resource ${this.name})` : `resource ${this.name}`
      throw new PluginError('RESOURCE_NOT_FOUND', `${named} does not exist`, { context: { resource: this.name } })
    }
  }

  /** The snapshot's expected identity: its LINSTOR name, or the platform's name for it. */
  #snapshotExpect(snapshot: string, platformName?: string): IdentityExpectation {
    return { platformName: platformName ?? snapshot, noun: 'snapshot' }
  }

  #locked<T>(fn: () => Promise<T>): Promise<T> {
    return this.#s.withLock(this.name, fn)
  }

  #protected(action: string): boolean {
    if (!this.#s.guard.isProtected(this.name)) return false
    this.#s.logger.warn({ resource: this.name, action }, `controller VM volume: ${action} leaves LINSTOR untouched`)
    return true
  }

  /**
   * The resource as LINSTOR has it now (undefined when it does not exist); NAME_COLLISION when the
   * object under this name is another platform name's.
   */
  async info(): Promise<ResourceInfo | undefined> {
    return this.#seen(await this.#verified())
  }

  /** Keeps what the host last saw of the resource (core/ha host-state.ts): a start knows from it which hosts hold it. */
  #seen<T extends ResourceInfo | undefined>(info: T): T {
    if (info !== undefined) this.#s.state.recordSeen(seenOf(info))
    return info
  }

  /**
   * The definition alone (one GET: properties, group, layers, volume sizes), checked to be this
   * handle's; its replicas are not read (empty). Undefined when it does not exist.
   */
  definition(): Promise<ResourceInfo | undefined> {
    return this.#s.volumes.definition(this.name, this.#expect)
  }

  async exists(): Promise<boolean> {
    return (await this.info()) !== undefined
  }

  /** Creates (spawn + placement) or returns the existing resource of the same shape; else RESOURCE_CONFLICT. */
  create(spec: CreateSpec): Promise<ResourceInfo> {
    return this.#locked(async () => {
      const mark = this.#s.groups.mark()
      try {
        return this.#seen(await this.#s.volumes.create(this.name, { ...spec, identity: this.#expect }))
      } catch (err) {
        // A derived group this create made and nothing uses goes again (core/placement).
        await this.#s.groups.releaseIfUnused(spec.policy, mark)
        throw err
      }
    })
  }

  /**
   * As create(), without reading the result back (LINSTOR's replies say what happened): for callers
   * that need nothing from it. `spawned`: this call made the definition.
   */
  make(spec: CreateSpec): Promise<{ spawned: boolean }> {
    return this.#locked(async () => {
      const mark = this.#s.groups.mark()
      try {
        return await this.#s.volumes.make(this.name, { ...spec, identity: this.#expect })
      } catch (err) {
        await this.#s.groups.releaseIfUnused(spec.policy, mark)
        throw err
      }
    })
  }

  /** Places replicas up to the policy's count (or `placeCount`); already placed → no change. */
  autoplace(policy: Readonly<PlacementPolicy>, placeCount?: number): Promise<ResourceInfo> {
    return this.#locked(async () => {
      if (this.#protected('re-placement')) return (await this.info()) as ResourceInfo
      await this.#definitionMustExist()
      return this.#s.volumes.autoplace(this.name, policy, placeCount)
    })
  }

  /** As autoplace, where nothing is needed back: LINSTOR's reply is final, no read follows it. */
  placeUpTo(policy: Readonly<PlacementPolicy>): Promise<void> {
    return this.#locked(async () => {
      if (this.#protected('re-placement')) return
      await this.#definitionMustExist()
      await this.#s.volumes.placeUpTo(this.name, policy)
    })
  }

  addVolume(number: number, sizeBytes: number): Promise<VolumeInfo> {
    return this.#locked(() => this.#s.volumes.addVolume(this.name, number, sizeBytes, this.#expect))
  }

  /** Grows a volume cluster-wide (never shrinks; sizes round up to KiB). Controller VM: no-op, logged. */
  grow(volume: number, size: { toBytes: number } | { byBytes: number }): Promise<VolumeInfo> {
    return this.#locked(async () => {
      if (this.#protected('resize')) {
        const v = (await this.info())?.volumes.find((x) => x.number === volume)
        if (v === undefined) throw new PluginError('RESOURCE_NOT_FOUND', `resource ${this.name} has no volume ${volume}`, { context: { resource: this.name } })
        return v
      }
      return this.#s.volumes.grow(this.name, volume, size, this.#expect)
    })
  }

  /** Deletes the resource (idempotent). Refused in use, with snapshots unless asked, and for a controller VM. */
  delete(opts: { snapshots?: boolean } = {}): Promise<boolean> {
    return this.#locked(async () => {
      if (this.#s.guard.isProtected(this.name)) {
        throw new PluginError('CONTROLLER_VM_PROTECTED', `resource ${this.name} is a volume of the LINSTOR controller VM and is never deleted`, { context: { resource: this.name } })
      }
      const deleted = await this.#s.volumes.delete(this.name, { ...opts, expect: this.#expect })
      // Nothing is left to finish or to remember of it.
      for (const r of this.#s.state.pendingFor(this.name)) this.#s.state.clearPending(r.resource, r.node)
      this.#s.state.forgetSeen(this.name)
      return deleted
    })
  }

  /**
   * Makes the volume usable on a node (see Attachments.attach) and returns its device paths. The
   * object is checked to be this handle's whenever LINSTOR answers; without a controller only the
   * exact device path of this name can be used (another object's device is spelled differently).
   * When the host has a device for it, neither the lock nor LINSTOR is waited on past the
   * controller budget: the device is used and the attach kept as pending.
   */
  async attach(node: string, opts: Omit<AttachOptions, 'expect'> = {}): Promise<Attachment> {
    const a = this.#s.attachments
    const o = { ...opts, expect: this.#expect }
    if (!a.knowsDevice(this.name, node)) return this.#locked(() => a.attach(this.name, node, o))
    const until = opts.until ?? Date.now() + a.budgetMs()
    try {
      return await this.#s.withLock(this.name, () => a.attach(this.name, node, { ...o, until }), { waitMs: Math.max(0, until - Date.now()) })
    } catch (err) {
      if (!(isPluginError(err) && err.code === 'LOCK_TIMEOUT')) throw err
      const offline = await a.attachWithoutLinstor(this.name, node, o, err.message)
      if (offline === undefined) throw err
      return offline
    }
  }

  /**
   * Releases the volume on a node: removes only a diskless client that is not in use. Never waits
   * on LINSTOR (or on the lock) past the controller budget (or `until`, epoch ms): the stop is then
   * kept as pending.
   */
  async detach(node: string, opts: { until?: number } = {}): Promise<Detachment> {
    const a = this.#s.attachments
    const until = opts.until ?? Date.now() + a.budgetMs()
    try {
      return await this.#s.withLock(this.name, () => a.detach(this.name, node, { until, expect: this.#expect }), { waitMs: Math.max(0, until - Date.now()) })
    } catch (err) {
      if (!(isPluginError(err) && err.code === 'LOCK_TIMEOUT')) throw err
      return a.detachWithoutLinstor(this.name, node, err.message)
    }
  }

  beginMigration(from: string, to: string): Promise<Attachment> {
    return this.#locked(() => this.#s.attachments.beginMigration(this.name, from, to, this.#expect))
  }

  /**
   * Ends a migration on its source. Like a stop, it never waits on LINSTOR past the controller
   * budget: the source's leaving is then kept as a pending detach (whose settling ends the recorded
   * migration the same way).
   */
  completeMigration(from: string, to: string): Promise<void> {
    return this.#endMigration(from, () => this.#s.attachments.completeMigration(this.name, from, to, this.#expect))
  }

  /** Aborts a migration (the target leaves), within the controller budget like completeMigration. */
  abortMigration(from: string, to: string): Promise<void> {
    return this.#endMigration(to, () => this.#s.attachments.abortMigration(this.name, from, to, this.#expect))
  }

  async #endMigration(leaving: string, end: () => Promise<void>): Promise<void> {
    const a = this.#s.attachments
    const until = Date.now() + a.budgetMs()
    try {
      await this.#s.withLock(this.name, async () => {
        if (this.#protected('migration clean-up')) return
        await withinBudget(until - Date.now(), end)
        this.#s.state.clearPending(this.name, leaving)
      }, { waitMs: Math.max(0, until - Date.now()) })
    } catch (err) {
      if (!isControllerTrouble(err)) throw err
      a.detachWithoutLinstor(this.name, leaving, err instanceof Error ? err.message : String(err))
    }
  }

  /**
   * The resource's snapshots, oldest first. LINSTOR names their resource as it spells it: when
   * that is not exactly this handle's name, the resource is checked to be this handle's first.
   */
  async snapshots(): Promise<SnapshotInfo[]> {
    const list = await this.#s.volumes.snapshots(this.name)
    if (list.some((x) => x.resource !== this.name)) await this.#verified()
    return list
  }

  /** The snapshot named `snapshot` (compared as LINSTOR does), checked to be `platformName`'s; undefined when absent. */
  async snapshot(snapshot: string, platformName?: string): Promise<SnapshotInfo | undefined> {
    const s = (await this.snapshots()).find((x) => x.name.toLowerCase() === snapshot.toLowerCase())
    if (s !== undefined) assertIdentity('snapshot', s, snapshot, this.#snapshotExpect(snapshot, platformName), this.platformName)
    return s
  }

  /**
   * Takes a snapshot (an existing one of that name is returned when it is the same snapshot).
   * `platformName`: the platform's exact name for it (default: `snapshot`), recorded on it.
   */
  createSnapshot(snapshot: string, props?: Props, platformName?: string): Promise<SnapshotInfo> {
    return this.#locked(() => this.#s.volumes.createSnapshot(this.name, snapshot, props, { resource: this.#expect, snapshot: this.#snapshotExpect(snapshot, platformName) }))
  }

  /**
   * Deletes a snapshot after checking the resource and the snapshot are the ones named; gone
   * already: success. One read of the snapshots, then the DELETE (see #proven for the resource).
   */
  deleteSnapshot(snapshot: string, platformName?: string): Promise<void> {
    return this.#locked(async () => {
      const s = (await this.#s.volumes.snapshots(this.name)).find((x) => x.name.toLowerCase() === snapshot.toLowerCase())
      if (s === undefined) {
        // Gone (or never made): nothing to delete, but another object under this name is still refused.
        await this.#definitionVerified()
        return
      }
      assertIdentity('snapshot', s, snapshot, this.#snapshotExpect(snapshot, platformName), this.platformName)
      await this.#proven(s)
      await this.#s.volumes.deleteSnapshot(this.name, s.name)
    })
  }

  /**
   * Checks that the resource a snapshot belongs to is this handle's. A snapshot keeps a copy of its
   * definition's properties, and LINSTOR refuses to delete a definition that has snapshots: a copy
   * recording this handle's platform name (AUX_PLATFORM_NAME, which linstor-virt writes once, when
   * it makes the definition) proves it without a read. Otherwise (a copy without one: adopted
   * objects, whose identity rests on properties that may change; a controller not reporting the
   * copy) the definition is read.
   */
  async #proven(s: SnapshotInfo): Promise<void> {
    const copy = s.resourceProps
    if (copy !== undefined && recordedName({ name: s.resource, props: copy }) !== undefined && this.#expect.byLinstorName !== true) {
      if (isIdentical({ name: s.resource, props: copy }, this.name, this.platformName)) return
    }
    await this.#definitionMustExist()
  }

  /**
   * The snapshots that block a rollback to `snapshot` (oldest first): none where LINSTOR rolls
   * back to any snapshot (controller 1.31+, unless a ZFS strategy of Rollback), else the newer ones.
   * `opts.snapshots`: the list when the caller has just read it.
   */
  rollbackBlockers(snapshot: string, opts: { snapshots?: readonly SnapshotInfo[] } = {}): Promise<SnapshotInfo[]> {
    return this.#s.volumes.rollbackBlockers(this.name, snapshot, opts)
  }

  /**
   * One LINSTOR rollback (past newer snapshots only where the controller can: see
   * VolumeLifecycle.rollback), after checking the resource and the snapshot are the ones named.
   * The snapshots are read once, under the lock; `opts.pick` chooses the target among them (the
   * platform's own naming), else the one named `snapshot`. Returns the snapshots as read.
   */
  rollback(snapshot: string, opts: { removeNewer?: boolean; pick?: (all: readonly SnapshotInfo[]) => SnapshotInfo | undefined } = {}, platformName?: string): Promise<SnapshotInfo[]> {
    return this.#locked(async () => {
      const all = await this.#s.volumes.snapshots(this.name)
      const s = opts.pick !== undefined ? opts.pick(all) : all.find((x) => x.name.toLowerCase() === snapshot.toLowerCase())
      if (s === undefined) {
        await this.#definitionMustExist()
        throw new PluginError('SNAPSHOT_NOT_FOUND', `${this.platformName} has no snapshot ${platformName ?? snapshot}`, { context: { resource: this.name, snapshot } })
      }
      // The LINSTOR name asked for (or, picked by the platform's naming, the one picked).
      const linstorName = opts.pick !== undefined ? s.name : snapshot
      assertIdentity('snapshot', s, linstorName, this.#snapshotExpect(linstorName, platformName ?? (opts.pick !== undefined ? snapshot : undefined)), this.platformName)
      await this.#proven(s)
      await this.#s.volumes.rollback(this.name, s.name, { snapshots: all, ...(opts.removeNewer !== undefined ? { removeNewer: opts.removeNewer } : {}) })
      return all
    })
  }

  /**
   * Clones this resource (or a snapshot of it) into `target`; returns the clone. This handle's
   * object is checked before anything is made from it; `opts.identity` names the target (default:
   * the target's LINSTOR name) and is recorded on it.
   */
  cloneTo(target: string, opts: CloneOptions & { snapshotPlatformName?: string } = {}): Promise<ResourceInfo> {
    const { snapshotPlatformName, ...rest } = opts
    return this.#s.withLock(target, () =>
      this.#s.volumes.clone(this.name, target, {
        ...rest,
        identity: { platformName: target, ...(rest.identity ?? {}) },
        sourceIdentity: this.#expect,
        ...(rest.snapshot !== undefined ? { snapshotIdentity: this.#snapshotExpect(rest.snapshot, snapshotPlatformName) } : {}),
      }),
    )
  }

  /** Adds a diskful replica on a node (e.g. a disaster-recovery site); present already → no change. */
  addReplica(node: string, opts: { storagePool?: string } = {}): Promise<ResourceInfo> {
    return this.#locked(async () => {
      const info = await this.#mustExist()
      const r = replicaOn(info, node)
      const c = this.#s.client
      if (r?.kind === 'diskful') return info
      if (r !== undefined) {
        await c.resources.toggleDiskLegacy(info.name, r.node, 'diskful', opts.storagePool)
      } else {
        await c.resources.create(info.name, node, { resource: { ...(opts.storagePool !== undefined ? { props: { StorPoolName: opts.storagePool } } : {}) } })
      }
      return this.#mustExist()
    })
  }

  /**
   * A disaster-recovery replica on a named node or on a node of a site (core/volumes/dr.ts): made
   * once, then DRBD Proxy (protocol A) between it and every other node of the resource. Repeating
   * it only completes what is missing. Returns the resource with it.
   */
  addDrReplica(target: DrTarget): Promise<ResourceInfo> {
    return this.#locked(async () => {
      const info = await this.#mustExist()
      const node = await this.#s.dr.add(info, target)
      const after = await this.#mustExist()
      if (replicaOn(after, node) !== undefined && (await this.#s.dr.ensureProxies(after)) > 0) return this.#mustExist()
      return after
    })
  }

  /**
   * Makes the DR replicas what a platform's configuration says: the one `target` names (added if
   * missing), no other; none without a target. Adapters call it when drInSync says they differ.
   */
  syncDr(target: DrTarget | undefined): Promise<ResourceInfo | undefined> {
    return this.#locked(async () => {
      let info = await this.#verified()
      if (info === undefined || this.#protected('disaster-recovery change')) return info
      for (const r of DisasterRecovery.strays(info, target)) await this.#s.dr.remove(info, r.node)
      if (target !== undefined) {
        info = await this.#mustExist()
        const node = await this.#s.dr.add(info, target)
        const after = await this.#mustExist()
        if (replicaOn(after, node) !== undefined) await this.#s.dr.ensureProxies(after)
      }
      return this.#mustExist()
    })
  }

  /** Removes the disaster-recovery replica (on `node`, or all of them): proxies off, then the replica. Controller VM: no-op. */
  removeDrReplica(node?: string): Promise<ResourceInfo | undefined> {
    return this.#locked(async () => {
      const info = await this.#verified()
      if (info === undefined || this.#protected('disaster-recovery removal')) return info
      const gone = await this.#s.dr.remove(info, node)
      return gone.length === 0 ? info : this.#mustExist()
    })
  }

  /** Removes the replica on a node; never the last diskful one, never one in use. Controller VM: no-op. */
  removeReplica(node: string): Promise<ResourceInfo | undefined> {
    return this.#locked(async () => {
      const info = await this.#verified()
      if (info === undefined || this.#protected('replica removal')) return info
      const r = replicaOn(info, node)
      if (r === undefined) return info
      if (r.inUse === true) throw new PluginError('RESOURCE_IN_USE', `resource ${info.name} is in use on ${r.node}`, { context: { resource: info.name, node: r.node } })
      // A disaster-recovery replica does not count toward the local redundancy.
      if (r.kind === 'diskful' && r.dr !== true && localDiskful(info).length <= 1) {
        throw new PluginError('LAST_REPLICA', `${r.node} holds the last diskful replica of ${info.name}`, { context: { resource: info.name, node: r.node } })
      }
      await this.#s.client.resources.delete(info.name, r.node)
      return this.#mustExist()
    })
  }

  /** Sets (string) or removes (null) Aux/ properties on the definition, for the adapters' own ids. */
  setAux(props: Record<string, string | null>): Promise<void> {
    return this.#locked(async () => {
      const set = Object.entries(props).filter((e): e is [string, string] => e[1] !== null)
      const del = Object.entries(props).filter(([, v]) => v === null).map(([k]) => k)
      for (const k of Object.keys(props)) {
        if (!k.startsWith('Aux/')) throw new PluginError('CONFIG_INVALID', `only Aux/ properties can be set this way, not ${k}`)
      }
      await this.#definitionMustExist()
      await this.#s.client.resourceDefinitions.modify(this.name, { override_props: Object.fromEntries(set), delete_props: del })
    })
  }

  async #mustExist(): Promise<ResourceInfo> {
    const info = await this.#verified()
    if (info === undefined) {
      const named = this.platformName !== this.name ? `${this.platformName} (LINSTOR resource ${this.name})` : `resource ${this.name}`
      throw new PluginError('RESOURCE_NOT_FOUND', `${named} does not exist`, { context: { resource: this.name } })
    }
    return info
  }
}
