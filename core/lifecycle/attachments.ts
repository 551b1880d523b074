/**
 * Attach, detach and live migration: the diskless-client state machine.
 *
 * attach(host): a host holding any replica uses it as is (a tie-breaker becomes a wanted diskless
 * client); otherwise LINSTOR makes the resource available there as a diskless client. When another
 * host has the volume in use, attaching is the beginning of a live migration (Proxmox never
 * announces one): the migration is recorded on the resource, allow-two-primaries is switched on for
 * that pair of hosts only, and only if nothing above already allows it.
 *
 * detach(host): removes the host's replica only when it is a diskless client not in use (LINSTOR
 * keeps it as a tie-breaker when quorum needs one); a diskful replica is never removed. Detaching
 * either end of a recorded migration completes (source) or aborts (target) it: allow-two-primaries
 * goes back to what it was and the record goes away, last.
 *
 * Every step re-reads the state first, so each is safe to repeat and safe after a crash.
 *
 * Starting and stopping never wait on LINSTOR longer than a short budget when the host already has
 * what it needs (issue 20): an attach on a host that has a device for the volume (seen under its
 * device root, found by the adapter's probe, or known from the last read) uses that device once the
 * budget passes without an answer; a detach that LINSTOR does not confirm within the budget
 * succeeds. What LINSTOR was not told is kept as a pending record in the host's state folder
 * (core/ha host-state.ts), which the next attach or detach of the resource, the agent's sweep and
 * `doctor --fix` settle once a controller answers. A live migration is never begun that way: it
 * needs dual-primary, which only the controller grants.
 */
import { channel } from 'node:diagnostics_channel'
import { PluginError, isPluginError } from '../errors/index.js'
import { DEFAULT_CONTROLLER_BUDGET_MS, isControllerTrouble, isControllerUnreachable, localVolumes, seenOf } from '../ha/index.js'
import type { ControllerVmGuard, HostState, PendingIntent, PendingRecord } from '../ha/index.js'
import { scopeRemainingMs, withinBudget } from '../linstor/index.js'
import type { CallOptions, LinstorClient } from '../linstor/index.js'
import type { Logger } from '../log/index.js'
import { DisasterRecovery, assertIdentity, drPresence, readResource, replicaOn, sameNode, stableDevicePath, stackOf } from '../volumes/index.js'
import type { DrPresence, IdentityExpectation, Replica, ResourceInfo, Stack } from '../volumes/index.js'
import { NvmeAttachments, checkPassphrase, dataReplica, linkDevice, linkedVolumes, luksUndeployed, notShared, stableLinkPath, unlinkDevices } from './stacks.js'
import { randomBytes } from 'node:crypto'
import {
  ALLOW_TWO_PRIMARIES, AUX_MIGRATION, AUX_MIGRATION_CLAIM, MIGRATION_BEGIN_MS, dualPrimaryKey, dualPrimaryMarkOf, isPair, isYes, joins, readClaims, readMigrationRecord,
  writeClaim, writeDualPrimaryMark, writeMigrationRecord, writesUntil,
} from './migration-record.js'
import type { MigrationRecord } from './migration-record.js'

/**
 * Each attach answered from a local device without LINSTOR is published on this diagnostics channel
 * (the agent counts them: linstor_virt_offline_activations_total).
 */
export const OFFLINE_ACTIVATION_CHANNEL = 'linstor-virt:offline-activation'

export interface OfflineActivationEvent {
  resource: string
  node: string
  reason: 'controller-vm' | 'controller-unreachable'
}

const offlineChannel = channel(OFFLINE_ACTIVATION_CHANNEL)

export interface AttachedVolume {
  number: number
  /**
   * The stable path the platform opens: <device root>/dev/drbd/by-res/<resource>/<number> for
   * DRBD; for other stacks <device root>/dev/linstor-virt/by-res/<resource>/<number>, a link to the
   * device LINSTOR reports (or that device itself when this process does not see the node's /dev).
   */
  devicePath: string
  /** For a stack with LUKS: the crypt mapping the data goes through on this host (under DRBD, or the device itself). */
  crypt?: string
  /** Kernel device as LINSTOR reports it (/dev/drbd1000); absent offline. */
  device?: string
  minor?: number
}

export interface Attachment {
  resource: string
  node: string
  /** What the host holds: its own replica (diskful) or a diskless client; unknown when attached offline. */
  role: 'diskful' | 'diskless' | 'unknown'
  volumes: AttachedVolume[]
  /** A diskless client was created for this attach. */
  created: boolean
  /** Set when this attach began (or resumed) a live migration. */
  migration?: { from: string; to: string }
  /** Attached from the local device without asking LINSTOR (controller VM, or no controller answered). */
  offline?: 'controller-vm' | 'controller-unreachable'
  /** How the volume reaches this host (drbd, nvme, storage); absent when attached offline. */
  stack?: Stack
  /** The resource's disaster-recovery replicas (for adapters that keep them in line with their configuration). */
  dr?: DrPresence[]
  /** What LINSTOR was not told is kept as a pending record (host-state.ts). */
  pending?: boolean
}

export interface Detachment {
  resource: string
  node: string
  /** The host's diskless client was deleted. */
  removed: boolean
  /** Why nothing was removed, when nothing was. */
  kept?: 'absent' | 'diskful' | 'tiebreaker' | 'controller-vm' | 'controller-unreachable'
  /** A recorded migration this detach completed or aborted. */
  migration?: { from: string; to: string; outcome: 'completed' | 'aborted' }
  /** No controller confirmed it within the budget: kept as a pending record (host-state.ts). */
  pending?: boolean
}

/** Looks for a volume's devices on a host this process cannot see (OpenNebula: over ssh); the volume numbers found. */
export type DeviceProbe = (node: string, resource: string) => Promise<number[]>

export interface AttachOptions {
  /** An attach while another host uses the volume begins a live migration (default true for DRBD). */
  migrate?: boolean
  /** Finds the device on a host whose device root this process cannot see. */
  probe?: DeviceProbe
  /** Epoch ms until which LINSTOR is waited on when the host has a device (default now + the budget). */
  until?: number
  /** The object must be that platform name's (NAME_COLLISION otherwise, core/volumes/names.ts). */
  expect?: IdentityExpectation
}

export interface DetachOptions {
  /** How long LINSTOR is waited on before the stop is kept as pending (default the budget; Infinity: the call's deadline). */
  budgetMs?: number
  /** Epoch ms, instead of budgetMs. */
  until?: number
  /** Settling a pending record: the other records of the resource are left alone. */
  settling?: boolean
  /** The object must be that platform name's (NAME_COLLISION otherwise, core/volumes/names.ts). */
  expect?: IdentityExpectation
}

export interface AttachmentsOptions {
  client: LinstorClient
  logger: Logger
  guard: ControllerVmGuard
  deviceRoot: (node: string) => string | undefined
  now?: () => Date
  /** The host's state folder (pending records, last seen replicas). */
  state?: HostState
  /** How long starting or stopping waits on LINSTOR when the host has what it needs (default 1500 ms). */
  budgetMs?: number
  /** The core settings of the calls this serves, kept in pending records for the agent's sweep. */
  origin?: Record<string, unknown>
}

/** A device for the volume on a host, and how it is known. */
interface KnownDevice {
  root: string
  numbers: number[]
  how: 'local' | 'probe' | 'last-seen'
  /** The device is linstor-virt's stable link (stacks without DRBD), not DRBD's by-res path. */
  link?: boolean
}

/** Resolves to 'timer' after `ms`, unless cancelled (so no timer outlives the race it is in). */
function timer(ms: number): { done: Promise<'timer'>; cancel: () => void } {
  let t: NodeJS.Timeout | undefined
  const done = new Promise<'timer'>((resolve) => {
    t = setTimeout(() => resolve('timer'), Math.min(2 ** 31 - 1, Math.max(0, ms)))
  })
  return { done, cancel: () => clearTimeout(t) }
}

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function inUse(info: ResourceInfo, node: string): boolean {
  return replicaOn(info, node)?.inUse === true
}

export class Attachments {
  readonly #c: LinstorClient
  readonly #log: Logger
  readonly #guard: ControllerVmGuard
  readonly #root: (node: string) => string | undefined
  readonly #now: () => Date
  readonly #nvme: NvmeAttachments
  readonly #dr: DisasterRecovery
  readonly #state: HostState | undefined
  readonly #budgetMs: number
  readonly #origin: Record<string, unknown> | undefined

  constructor(o: AttachmentsOptions) {
    this.#c = o.client
    this.#log = o.logger
    this.#guard = o.guard
    this.#root = o.deviceRoot
    this.#now = o.now ?? (() => new Date())
    this.#nvme = new NvmeAttachments({ client: o.client, logger: o.logger, now: this.#now, read: (r) => this.#read(r) })
    this.#dr = new DisasterRecovery(o.client, o.logger)
    this.#state = o.state
    this.#budgetMs = o.budgetMs ?? DEFAULT_CONTROLLER_BUDGET_MS
    this.#origin = o.origin
  }

  /** The budget for this call: the configured one, never past the call's own deadline. */
  budgetMs(): number {
    return Math.max(0, Math.min(this.#budgetMs, scopeRemainingMs() - 50))
  }

  /** `expect`: the object must be that platform name's (NAME_COLLISION otherwise, core/volumes/names.ts). */
  async #read(resource: string, options?: CallOptions, expect?: IdentityExpectation): Promise<ResourceInfo> {
    const info = await readResource(this.#c, resource, options)
    if (info === undefined) throw new PluginError('RESOURCE_NOT_FOUND', `resource ${resource} does not exist`, { context: { resource } })
    if (expect !== undefined) assertIdentity('resource', info, resource, expect)
    this.#state?.recordSeen(seenOf(info))
    return info
  }

  /** The volume's device under the node's device root; undefined when not visible from here or absent. */
  #localDevice(resource: string, node: string): KnownDevice | undefined {
    const root = this.#root(node)
    if (root === undefined) return undefined
    const drbd = localVolumes(root, resource)
    if (drbd.length > 0) return { root, numbers: drbd, how: 'local' }
    // Stacks without DRBD leave linstor-virt's stable link while attached.
    const linked = linkedVolumes(root, resource)
    return linked.length === 0 ? undefined : { root, numbers: linked, how: 'local', link: true }
  }

  /** The node held a replica (of any kind: each has a device) when LINSTOR was last read. */
  #lastSeenDevice(resource: string, node: string): KnownDevice | undefined {
    const seen = this.#state?.seen(resource)
    if (seen === undefined || seen.volumes.length === 0 || !seen.replicas.some((r) => sameNode(r.node, node))) return undefined
    return { root: '', numbers: [...seen.volumes].sort((a, b) => a - b), how: 'last-seen' }
  }

  /**
   * Whether the host is known to have a device for the volume without asking anyone: under its
   * device root when this process sees it, else from the last read of LINSTOR.
   */
  knowsDevice(resource: string, node: string): boolean {
    return this.#root(node) !== undefined ? this.#localDevice(resource, node) !== undefined : this.#lastSeenDevice(resource, node) !== undefined
  }

  async #findDevice(resource: string, node: string, probe: DeviceProbe | undefined): Promise<KnownDevice | undefined> {
    if (this.#root(node) !== undefined) return this.#localDevice(resource, node)
    if (probe !== undefined) {
      try {
        const numbers = (await probe(node, resource)).filter((n) => Number.isInteger(n) && n >= 0).sort((a, b) => a - b)
        return numbers.length === 0 ? undefined : { root: '', numbers, how: 'probe' }
      } catch (err) {
        this.#log.warn({ resource, node, err: reasonOf(err) }, 'could not look for the device on the host')
        return undefined
      }
    }
    return this.#lastSeenDevice(resource, node)
  }

  #offline(resource: string, node: string, dev: KnownDevice, why: 'controller-vm' | 'controller-unreachable', pending = false): Attachment {
    if (offlineChannel.hasSubscribers) offlineChannel.publish({ resource, node, reason: why } satisfies OfflineActivationEvent)
    return {
      resource,
      node,
      role: 'unknown',
      volumes: dev.numbers.map((n) => ({ number: n, devicePath: dev.root + (dev.link === true ? stableLinkPath : stableDevicePath)(resource, n) })),
      created: false,
      offline: why,
      ...(pending ? { pending: true } : {}),
    }
  }

  #controllers(): string[] {
    return this.#c.endpoints.map((e) => e.url)
  }

  #notePending(resource: string, node: string, intent: PendingIntent, reason: string): boolean {
    if (this.#state === undefined) return false
    const earlier = this.#state.pendingFor(resource).find((r) => sameNode(r.node, node) && r.intent === intent)
    return this.#state.notePending({
      resource,
      node,
      intent,
      reason: reason.slice(0, 500),
      controllers: this.#controllers(),
      ...(earlier !== undefined ? { since: earlier.since } : {}),
      ...(this.#origin !== undefined ? { config: this.#origin } : {}),
    })
  }

  /**
   * Starts from the host's device without LINSTOR, keeping the attach as pending unless the host
   * was last seen holding a diskful replica (then LINSTOR has nothing to be told).
   */
  #startOffline(resource: string, node: string, dev: KnownDevice, reason: string): Attachment {
    const diskful = this.#state?.seen(resource)?.replicas.find((r) => sameNode(r.node, node))?.kind === 'diskful'
    // The latest intent wins: a stop left pending before this start is over either way.
    if (diskful) this.#state?.clearPending(resource, node)
    const pending = !diskful && this.#notePending(resource, node, 'attach', reason)
    this.#log.warn({ resource, node, device: dev.how, reason }, 'no LINSTOR controller answered in time: attached from the device on the host')
    return this.#offline(resource, node, dev, 'controller-unreachable', pending)
  }

  /**
   * Attaches from the host's device without asking LINSTOR (the resource's lock is held by a call
   * that waits on the controller): undefined when the host is not known to have one.
   */
  async attachWithoutLinstor(resource: string, node: string, opts: AttachOptions, reason: string): Promise<Attachment | undefined> {
    const dev = await this.#findDevice(resource, node, opts.probe)
    if (dev === undefined) return undefined
    if (this.#guard.isProtected(resource)) return this.#offline(resource, node, dev, 'controller-vm')
    return this.#startOffline(resource, node, dev, reason)
  }

  /** Keeps a stop LINSTOR could not be told of as pending (the resource's lock is held by a call that waits on the controller). */
  detachWithoutLinstor(resource: string, node: string, reason: string): Detachment {
    if (this.#guard.isProtected(resource)) return { resource, node, removed: false, kept: 'controller-vm' }
    const pending = this.#notePending(resource, node, 'detach', reason)
    this.#log.warn({ resource, node, reason }, 'no LINSTOR controller answered in time: the detach is kept as pending')
    return { resource, node, removed: false, kept: 'controller-unreachable', ...(pending ? { pending: true } : {}) }
  }

  #attachment(info: ResourceInfo, node: string, created: boolean): Attachment {
    const r = replicaOn(info, node)
    const root = this.#root(node)
    const stack = stackOf(info.layers)
    return {
      resource: info.name,
      node: r?.node ?? node,
      role: r?.kind === 'diskful' ? 'diskful' : 'diskless',
      created,
      stack,
      ...(info.replicas.some((x) => x.dr === true) ? { dr: drPresence(info) } : {}),
      volumes: info.volumes.map((v) => {
        const rv = r?.volumes.find((x) => x.number === v.number)
        // Where the data is, an NVMe target's own device is its backing volume.
        const device = rv?.device ?? (r?.kind === 'diskful' ? rv?.storageDevice : undefined)
        let path: string
        if (stack === 'drbd') path = (root ?? '') + stableDevicePath(info.name, v.number)
        else if (root !== undefined && device !== undefined) path = linkDevice(root, info.name, v.number, device)
        else path = (root ?? '') + (device ?? stableLinkPath(info.name, v.number))
        return {
          number: v.number,
          devicePath: path,
          ...(device !== undefined ? { device } : {}),
          ...(v.minor !== undefined ? { minor: v.minor } : {}),
          ...(rv?.cryptDevice !== undefined ? { crypt: rv.cryptDevice } : {}),
        }
      }),
    }
  }

  /** DR_REPLICA: the node holds the disaster-recovery replica, which never runs the VM. */
  #refuseDr(info: ResourceInfo, node: string, what: string): void {
    const r = replicaOn(info, node)
    if (r?.dr !== true) return
    throw new PluginError('DR_REPLICA', `${r.node} holds the disaster-recovery replica of ${info.name} (asynchronous, behind DRBD Proxy): it never runs the VM and cannot be ${what}`, { context: { resource: info.name, node: r.node } })
  }

  /** Stacks without DRBD: NVMe-oF through an initiator (or the target's own volume), storage-only where the data is. */
  async #attachOther(info: ResourceInfo, node: string, migrate: boolean): Promise<Attachment> {
    const mine = replicaOn(info, node)
    if (stackOf(info.layers) === 'storage') {
      if (dataReplica(info, node) === undefined) throw notShared(info, node, 'attach')
      if (luksUndeployed(info, mine)) await checkPassphrase(this.#c, info, node)
      return this.#attachment(info, node, false)
    }
    // Before anything is written: an initiator (or a target) that carries LUKS needs the master key.
    if (info.layers.includes('LUKS') && (mine === undefined || luksUndeployed(info, mine))) await checkPassphrase(this.#c, info, node)
    const done = await this.#nvme.attach(info, node, migrate)
    const after = done.created || done.migration !== undefined ? await this.#read(info.name) : info
    return { ...this.#attachment(after, node, done.created), ...(done.migration !== undefined ? { migration: done.migration } : {}) }
  }

  /**
   * A client on `node` (just made, or found: a repeated call after a crash between the client and
   * its proxy): DRBD Proxy between it and a disaster-recovery replica. One GET of the connections
   * when the resource has a DR replica, nothing otherwise.
   */
  async #proxyNewClient(resource: string | ResourceInfo, node: string): Promise<ResourceInfo> {
    let info = typeof resource === 'string' ? await this.#read(resource) : resource
    if (!info.replicas.some((r) => r.dr === true)) return info
    // The proxies are set up from what LINSTOR holds now (the client's own view included).
    if (typeof resource !== 'string') info = await this.#read(info.name)
    if ((await this.#dr.ensureProxies(info, [node])) > 0) return this.#read(info.name)
    return info
  }

  /**
   * The resource once LINSTOR made it available on `node` as a diskless client: the read from
   * before the write with that client added, since the make-available reply is final (an error
   * otherwise). DRBD's device is /dev/drbd<minor> on every node. Kept as the host's last seen state.
   */
  #withClient(info: ResourceInfo, node: string): ResourceInfo {
    const had = replicaOn(info, node)
    const drbd = info.layers.includes('DRBD')
    const client: Replica = {
      ...(had ?? { props: {} }),
      node: had?.node ?? node,
      kind: 'diskless',
      inUse: false,
      flags: ['DISKLESS', 'DRBD_DISKLESS'],
      volumes: info.volumes.map((v) => ({ ...(had?.volumes.find((x) => x.number === v.number) ?? {}), number: v.number, ...(drbd && v.minor !== undefined ? { device: `/dev/drbd${v.minor}` } : {}) })),
    }
    const after: ResourceInfo = { ...info, replicas: [...info.replicas.filter((r) => !sameNode(r.node, node)), client].sort((a, b) => a.node.localeCompare(b.node)) }
    this.#state?.recordSeen(seenOf(after))
    return after
  }

  /**
   * Makes the volume usable on `node` and returns its device paths. With `migrate` (default) an
   * attach while another host uses the volume begins a live migration from that host.
   * Controller VM volumes whose device exists locally attach without LINSTOR; when no controller
   * answers, any volume whose device exists locally attaches from it.
   */
  async attach(resource: string, node: string, opts: AttachOptions = {}): Promise<Attachment> {
    if (this.#guard.isProtected(resource)) {
      const local = this.#localDevice(resource, node)
      if (local !== undefined) {
        this.#log.info({ resource, node }, 'controller VM volume: attached from its local device without asking LINSTOR')
        return this.#offline(resource, node, local, 'controller-vm')
      }
    }
    const until = opts.until ?? Date.now() + this.budgetMs()
    const budgetMs = Math.max(0, Math.round(until - Date.now()))
    // A device known without asking anyone (the host's device root, the last read): the read runs
    // within the budget, so each controller gets its share of the budget (a hung first one hands
    // over to the next in time) and none is waited on past it.
    const known = this.#root(node) !== undefined ? this.#localDevice(resource, node) : opts.probe === undefined ? this.#lastSeenDevice(resource, node) : undefined
    if (known !== undefined) {
      let info: ResourceInfo
      try {
        info = await withinBudget(budgetMs, () => this.#read(resource, undefined, opts.expect))
      } catch (err) {
        if (!isControllerTrouble(err)) throw err
        return this.#startOffline(resource, node, known, reasonOf(err))
      }
      return this.#attached(await this.#attachOnline(info, node, opts, until, () => Promise.resolve(known)), info.name, node, until)
    }
    // Else the controller's answer, and, once the budget passes without one (or it fails), whether
    // the host has a device to start from (the adapter's probe, looked for only then: it costs an
    // ssh round trip): a device found is used.
    let looked: Promise<KnownDevice | undefined> | undefined
    const device = (): Promise<KnownDevice | undefined> => (looked ??= this.#findDevice(resource, node, opts.probe))
    const abandon = new AbortController()
    const read = this.#read(resource, { signal: abandon.signal }, opts.expect)
    read.catch(() => undefined)
    let info: ResourceInfo
    try {
      const budget = timer(until - Date.now())
      const first = await Promise.race([read.then(() => 'read' as const, () => 'read' as const), budget.done])
      budget.cancel()
      if (first === 'timer') {
        // No answer within the budget: a host with a device starts from it. The read goes on only
        // when there is none (the controller is needed then, up to the call's deadline).
        const found = await Promise.race([device().then((d) => ({ d })), read.then(() => undefined, () => undefined)])
        if (found?.d !== undefined) {
          abandon.abort()
          return this.#startOffline(resource, node, found.d, `no answer from LINSTOR within the ${budgetMs} ms budget`)
        }
      }
      info = await read
    } catch (err) {
      if (!isControllerTrouble(err)) throw err
      const dev = await device()
      if (dev !== undefined) return this.#startOffline(resource, node, dev, reasonOf(err))
      if (!isControllerUnreachable(err)) throw err
      const e = err as PluginError
      throw new PluginError(e.code, `no LINSTOR controller answered, and ${resource} has no device on ${node} to start from: ${e.message}`, { cause: err, context: { resource, node } })
    }
    return this.#attached(await this.#attachOnline(info, node, opts, until, device), info.name, node, until)
  }

  /** After an attach LINSTOR answered: the host's pending record is over; others of the resource are settled. */
  async #attached(a: Attachment, resource: string, node: string, until: number): Promise<Attachment> {
    if (a.offline === undefined) {
      this.#state?.clearPending(resource, node)
      await this.#settleOthers(resource, node, until)
    }
    return a
  }

  async #attachOnline(read: ResourceInfo, node: string, opts: AttachOptions, until: number, device: () => Promise<KnownDevice | undefined>): Promise<Attachment> {
    let info = read
    const mine = replicaOn(info, node)
    this.#refuseDr(info, node, 'attached')
    if (stackOf(info.layers) !== 'drbd') return this.#attachOther(info, node, opts.migrate !== false)
    // DRBD on LUKS: a new client, or a replica whose crypt layer is not deployed, needs the master key.
    if (info.layers.includes('LUKS') && (mine === undefined || mine.kind === 'tiebreaker' || luksUndeployed(info, mine) || info.replicas.filter((r) => r.kind === 'diskful' && r.dr !== true).every((r) => luksUndeployed(info, r)))) {
      await checkPassphrase(this.#c, info, node)
    }
    if (opts.migrate !== false) {
      // Another host runs the VM: this attach begins a live migration from it. Or a migration to
      // this host is recorded (a crash, a repeated call): resume it.
      const busy = info.replicas.find((r) => r.inUse === true && !sameNode(r.node, node))
      const record = readMigrationRecord(info.props)
      const from = busy?.node ?? (record !== undefined && sameNode(record.to, node) ? record.from : undefined)
      if (from !== undefined) return this.#begin(info, from, node)
    }
    let created = false
    if (mine?.kind === 'tiebreaker') {
      // Its device exists already: LINSTOR only has to keep it as a wanted client. Within the
      // budget; past it the host starts from the device and the conversion is kept as pending.
      const dev = await device()
      if (dev !== undefined) {
        try {
          info = await withinBudget(until - Date.now(), async () => {
            await this.#c.resources.makeAvailable(info.name, node, { diskful: false })
            return this.#withClient(info, node)
          })
        } catch (err) {
          if (!isControllerTrouble(err)) throw err
          return this.#startOffline(info.name, node, dev, reasonOf(err))
        }
        return this.#attachment(info, node, false)
      }
    }
    if (mine === undefined || mine.kind === 'tiebreaker') {
      await this.#c.resources.makeAvailable(info.name, node, { diskful: false })
      created = mine === undefined
      info = await this.#proxyNewClient(this.#withClient(info, node), node)
    } else if (mine.kind === 'diskless') {
      info = await this.#proxyNewClient(info, node)
    }
    return this.#attachment(info, node, created)
  }

  /** Explicit migration start (OpenNebula premigrate, Cinder): attach on `to` with dual-primary for from-to. */
  async beginMigration(resource: string, from: string, to: string, expect?: IdentityExpectation): Promise<Attachment> {
    const info = await this.#read(resource, undefined, expect)
    this.#refuseDr(info, to, 'a migration target')
    const stack = stackOf(info.layers)
    if (stack === 'storage') throw notShared(info, to, 'migrate')
    if (stack === 'nvme') {
      if (info.layers.includes('LUKS') && replicaOn(info, to) === undefined) await checkPassphrase(this.#c, info, to)
      const done = await this.#nvme.begin(info, from, to)
      return { ...this.#attachment(await this.#read(info.name), to, done.created), migration: done.migration }
    }
    return this.#begin(info, from, to)
  }

  /** MIGRATION_CONFLICT: another pair's migration of the resource is in progress (or being begun). */
  #conflict(info: ResourceInfo, other: { from: string; to: string; since: string }, from: string, to: string): PluginError {
    return new PluginError('MIGRATION_CONFLICT', `resource ${info.name} is migrating from ${other.from || '?'} to ${other.to || '?'} (since ${other.since || 'an unknown time'}); it cannot also migrate from ${from} to ${to}`, { context: { resource: info.name } })
  }

  /**
   * A migration record is in progress while the begin that wrote it may still write (its `until`,
   * plus the hosts' clock skew), and while both its ends have the volume open; otherwise it is a
   * left-over (a crash, a platform that never finished) that a new migration settles first.
   */
  #inProgress(info: ResourceInfo, record: MigrationRecord): boolean {
    return (inUse(info, record.from) && inUse(info, record.to)) || this.#now().getTime() < writesUntil(record)
  }

  /**
   * Begins (or resumes) a DRBD live migration from `from` to `to`. With no record of this pair yet,
   * it is claimed first (migration-record.ts): the claim, the definition read back, and only if
   * no other pair's claim or record shows there, the record in place of the claim. All of it, up to
   * the last write, runs within MIGRATION_BEGIN_MS (never past the call's deadline): the record
   * says until when, so other hosts can tell a begin still running from a left-over.
   */
  async #begin(info: ResourceInfo, from: string, to: string): Promise<Attachment> {
    this.#refuseDr(info, to, 'a migration target')
    const until = Date.now() + Math.max(0, Math.min(MIGRATION_BEGIN_MS, scopeRemainingMs()))
    return withinBudget(until - Date.now(), () => this.#beginWithin(info, from, to, until))
  }

  async #beginWithin(start: ResourceInfo, from: string, to: string, until: number): Promise<Attachment> {
    let info = start
    let record = readMigrationRecord(info.props)
    if (record !== undefined && !isPair(record, from, to)) {
      if (this.#inProgress(info, record)) throw this.#conflict(info, record, from, to)
      // A migration the platform never finished (or a crash): finish it before starting this one.
      await this.#settle(info, record)
      info = await this.#read(info.name)
      record = readMigrationRecord(info.props)
      if (record !== undefined && !isPair(record, from, to)) throw this.#conflict(info, record, from, to)
    }
    record ??= await this.#claim(info, from, to, until)
    const mine = replicaOn(info, to)
    let created = false
    if (mine === undefined || mine.kind === 'tiebreaker') {
      await this.#c.resources.makeAvailable(info.name, to, { diskful: false })
      created = mine === undefined
      if (info.replicas.some((r) => r.dr === true)) await this.#proxyNewClient(info.name, to)
    } else if (mine.kind === 'diskless') {
      await this.#proxyNewClient(info, to)
    }
    if (record.set) {
      // The mark goes first (a record of an older version has none): what the connection had is
      // known before it changes, and the doctor can tell this setting from an operator's.
      if (dualPrimaryMarkOf(info.props, record.from, record.to) === undefined) {
        await this.#c.resourceDefinitions.modify(info.name, { override_props: { [dualPrimaryKey(record.from, record.to)]: writeDualPrimaryMark(record.previous, record.since || this.#now().toISOString()) } })
      }
      await this.#c.resourceDefinitions.modifyConnection(info.name, record.from, record.to, { override_props: { [ALLOW_TWO_PRIMARIES]: 'yes' } })
    }
    // Each write's reply is final: what the target holds now follows from the read before them.
    const after = mine === undefined || mine.kind === 'tiebreaker' ? this.#withClient(info, to) : info
    return { ...this.#attachment(after, to, created), migration: { from: record.from, to: record.to } }
  }

  /**
   * Claims the migration from-to against begins on other hosts (migration-record.ts) and writes
   * its record (with the mark of allow-two-primaries when it will be set). MIGRATION_CONFLICT when
   * another pair's claim or record is seen; the claim is withdrawn then. A record of the same pair
   * written meanwhile by another host is taken as this migration's.
   */
  async #claim(info: ResourceInfo, from: string, to: string, until: number): Promise<MigrationRecord> {
    const now = this.#now()
    const since = now.toISOString()
    const rival = (c: { from: string; to: string }): boolean => !isPair(c, from, to)
    // Claims of others seen already: a live one of another pair is a race lost before it began;
    // ones past their time are left-overs, removed with this claim.
    const claims = readClaims(info.props)
    const live = claims.find((c) => rival(c) && now.getTime() < writesUntil(c))
    if (live !== undefined) throw this.#conflict(info, live, from, to)
    const stale = claims.filter((c) => now.getTime() >= writesUntil(c)).map((c) => c.key)
    const key = `${AUX_MIGRATION_CLAIM}${to.toLowerCase()}-${randomBytes(6).toString('hex')}`
    await this.#c.resourceDefinitions.modify(info.name, { override_props: { [key]: writeClaim({ from, to, since, until }) }, ...(stale.length > 0 ? { delete_props: stale } : {}) })
    // Read back: every claim and record written before this claim is seen now.
    const props = (await this.#c.resourceDefinitions.get(info.name))?.props ?? {}
    const record = readMigrationRecord(props)
    const other = record !== undefined && rival(record) ? record : readClaims(props).find((c) => c.key !== key && rival(c) && Date.now() < writesUntil(c))
    if (other !== undefined || record !== undefined) {
      await this.#c.resourceDefinitions.modify(info.name, { delete_props: [key] })
      if (other !== undefined) {
        this.#log.info({ resource: info.name, from, to, other: `${other.from} → ${other.to}` }, 'live migration not begun: another one of the resource is being begun')
        throw this.#conflict(info, other, from, to)
      }
      // Another host's begin of this same migration got there first: it is this one.
      return record as MigrationRecord
    }
    const conns = await this.#c.resourceDefinitions.connections(info.name)
    const conn = conns.find((c) => (sameNode(c.node_a, from) && sameNode(c.node_b, to)) || (sameNode(c.node_a, to) && sameNode(c.node_b, from)))
    // A mark of this pair left by an earlier migration: the yes on the connection is linstor-virt's, what it replaced is in the mark.
    const mark = dualPrimaryMarkOf(props, from, to)
    const previous = mark !== undefined ? mark.previous : conn?.props[ALLOW_TWO_PRIMARIES]
    const set = mark !== undefined || (!isYes(previous) && !(await this.#inheritedDualPrimary(info)))
    const made: MigrationRecord = { from, to, since, until, set, ...(previous !== undefined ? { previous } : {}) }
    await this.#c.resourceDefinitions.modify(info.name, {
      override_props: { [AUX_MIGRATION]: writeMigrationRecord(made), ...(set && mark === undefined ? { [dualPrimaryKey(from, to)]: writeDualPrimaryMark(previous, since) } : {}) },
      delete_props: [key],
    })
    this.#log.info({ resource: info.name, from, to, dualPrimary: set ? 'set on the connection' : 'already allowed' }, 'live migration begins')
    return made
  }

  /**
   * allow-two-primaries already on for the whole resource, as its definition (read already) says.
   * Its group and the controller are not asked: the window only ever sets and restores the
   * connection's own value, which leaves a group's or the controller's setting as it was, so where
   * one of them allows it already the connection is set (and restored) needlessly but harmlessly,
   * and two reads are saved on every migration.
   */
  #inheritedDualPrimary(info: ResourceInfo): Promise<boolean> {
    const rd = info.props[ALLOW_TWO_PRIMARIES]
    return Promise.resolve(rd !== undefined && isYes(rd))
  }

  /** Explicit migration end (OpenNebula postmigrate): the source's diskless client goes, dual-primary is restored. */
  async completeMigration(resource: string, from: string, to: string, expect?: IdentityExpectation): Promise<void> {
    const info = await this.#read(resource, undefined, expect)
    const record = readMigrationRecord(info.props) ?? { from, to, since: '', set: false }
    if (stackOf(info.layers) === 'nvme') {
      await this.#nvme.finish(info, record, from)
      this.#unlink(info.name, from)
      return
    }
    await this.#finish(info, record, from)
  }

  /** Explicit migration abort (OpenNebula failmigrate): the target's diskless client goes, dual-primary is restored. */
  async abortMigration(resource: string, from: string, to: string, expect?: IdentityExpectation): Promise<void> {
    const info = await this.#read(resource, undefined, expect)
    const record = readMigrationRecord(info.props) ?? { from, to, since: '', set: false }
    if (stackOf(info.layers) === 'nvme') {
      await this.#nvme.finish(info, record, to)
      this.#unlink(info.name, to)
      return
    }
    await this.#finish(info, record, to)
  }

  /** The stable links of stacks without DRBD go with the host's attachment. */
  #unlink(resource: string, node: string): void {
    const root = this.#root(node)
    if (root !== undefined) unlinkDevices(root, resource)
  }

  /**
   * Ends a recorded migration by one host leaving it: restore allow-two-primaries, remove the
   * leaving host's diskless client (never a diskful replica, never one in use), drop the record.
   */
  async #finish(info: ResourceInfo, record: MigrationRecord, leaving: string): Promise<Detachment['migration'] & { removed: boolean }> {
    if (inUse(info, leaving)) {
      throw new PluginError('RESOURCE_IN_USE', `resource ${info.name} is still in use on ${leaving}`, { context: { resource: info.name, node: leaving } })
    }
    // What linstor-virt set on the pair's connection goes back: the record says so, or its mark does.
    const mark = dualPrimaryMarkOf(info.props, record.from, record.to)
    if ((record.set || mark !== undefined) && replicaOn(info, record.from) !== undefined && replicaOn(info, record.to) !== undefined) {
      const previous = mark !== undefined ? mark.previous : record.previous
      const body = previous === undefined ? { delete_props: [ALLOW_TWO_PRIMARIES] } : { override_props: { [ALLOW_TWO_PRIMARIES]: previous } }
      await this.#c.resourceDefinitions.modifyConnection(info.name, record.from, record.to, body)
    }
    const removed = await this.#removeClient(info, leaving)
    // Last, in one write: the mark and the record.
    const gone = [...(mark !== undefined ? [mark.key] : []), ...(info.props[AUX_MIGRATION] !== undefined ? [AUX_MIGRATION] : [])]
    if (gone.length > 0) await this.#c.resourceDefinitions.modify(info.name, { delete_props: gone })
    const outcome = sameNode(leaving, record.to) && record.to !== '' ? 'aborted' : 'completed'
    this.#log.info({ resource: info.name, from: record.from, to: record.to, outcome }, 'live migration ended')
    return { from: record.from, to: record.to, outcome, removed }
  }

  /** Finishes a recorded migration from the state alone: the host that is not in use leaves. */
  async #settle(info: ResourceInfo, record: MigrationRecord): Promise<void> {
    if (stackOf(info.layers) === 'nvme') {
      // NVMe reports no use: the migration is finished towards where it was going.
      await this.#nvme.finish(info, record, record.from)
      return
    }
    const fromBusy = inUse(info, record.from)
    await this.#finish(info, record, fromBusy ? record.to : record.from)
    if (!fromBusy && !inUse(info, record.to)) {
      // Neither end runs the VM: the target's client is not needed either.
      await this.#removeClient(info, record.to)
    }
  }

  /**
   * Settles a left-over migration record (doctor --fix): only when at most one end is in use. Claims
   * whose begin is over are removed with it (they hold nothing).
   */
  async settleMigration(resource: string): Promise<boolean> {
    let info = await this.#read(resource)
    const now = this.#now().getTime()
    const stale = readClaims(info.props).filter((c) => now >= writesUntil(c)).map((c) => c.key)
    if (stale.length > 0) {
      await this.#c.resourceDefinitions.modify(info.name, { delete_props: stale })
      info = await this.#read(resource)
    }
    const record = readMigrationRecord(info.props)
    if (record === undefined) return stale.length > 0
    if (inUse(info, record.from) && inUse(info, record.to)) return false
    await this.#settle(info, record)
    return true
  }

  /**
   * Restores a connection where linstor-virt set allow-two-primaries for the pair a-b and no
   * migration record accounts for it (doctor --fix): the value its mark kept goes back, then the
   * mark goes. False when there is nothing to do (a migration of the pair is recorded now).
   */
  async clearDualPrimary(resource: string, a: string, b: string): Promise<boolean> {
    const info = await this.#read(resource)
    const mark = dualPrimaryMarkOf(info.props, a, b)
    const record = readMigrationRecord(info.props)
    if (mark === undefined || (record !== undefined && joins(record, a, b))) return false
    const [x, y] = [replicaOn(info, a)?.node, replicaOn(info, b)?.node]
    if (x !== undefined && y !== undefined) {
      const body = mark.previous === undefined ? { delete_props: [ALLOW_TWO_PRIMARIES] } : { override_props: { [ALLOW_TWO_PRIMARIES]: mark.previous } }
      await this.#c.resourceDefinitions.modifyConnection(info.name, x, y, body)
    }
    await this.#c.resourceDefinitions.modify(info.name, { delete_props: [mark.key] })
    this.#log.info({ resource: info.name, nodes: `${a} - ${b}` }, 'allow-two-primaries no migration accounts for is removed')
    return true
  }

  async #removeClient(info: ResourceInfo, node: string): Promise<boolean> {
    const r = replicaOn(info, node)
    if (r === undefined || r.kind !== 'diskless' || r.inUse === true) return false
    // keep_tiebreaker: LINSTOR keeps the replica as its tie-breaker when quorum needs one.
    await this.#c.resources.delete(info.name, r.node, { keepTiebreaker: true })
    return true
  }

  /**
   * Releases the volume on `node`. Only a diskless client that is not in use is removed; diskful
   * replicas and tie-breakers stay. When no controller answers, nothing is removed and the detach
   * succeeds (the doctor finds the leftover later), so stopping a VM never hangs on LINSTOR.
   */
  async detach(resource: string, node: string, opts: DetachOptions = {}): Promise<Detachment> {
    if (this.#guard.isProtected(resource)) {
      this.#log.info({ resource, node }, 'controller VM volume: detach leaves LINSTOR untouched')
      return { resource, node, removed: false, kept: 'controller-vm' }
    }
    const until = opts.until ?? Date.now() + (opts.budgetMs ?? this.budgetMs())
    let d: Detachment
    try {
      d = await withinBudget(until - Date.now(), () => this.#detachOnline(resource, node, opts.expect))
    } catch (err) {
      if (!isControllerTrouble(err)) throw err
      // Stopping never fails on LINSTOR: the client stays until a controller answers; the pending
      // record says what to finish then.
      return this.detachWithoutLinstor(resource, node, reasonOf(err))
    }
    this.#state?.clearPending(resource, node)
    if (opts.settling !== true) await this.#settleOthers(d.resource, node, until)
    return d
  }

  async #detachOnline(resource: string, node: string, expect?: IdentityExpectation): Promise<Detachment> {
    const info = await readResource(this.#c, resource)
    if (info === undefined) return { resource, node, removed: false, kept: 'absent' }
    if (expect !== undefined) assertIdentity('resource', info, resource, expect)
    this.#state?.recordSeen(seenOf(info))
    const stack = stackOf(info.layers)
    if (stack !== 'drbd') {
      this.#unlink(info.name, node)
      if (stack === 'storage') return { resource: info.name, node, removed: false, kept: replicaOn(info, node) === undefined ? 'absent' : 'diskful' }
      return { resource: info.name, node, ...(await this.#nvme.detach(info, node)) }
    }
    const record = readMigrationRecord(info.props)
    if (record !== undefined && (sameNode(record.from, node) || sameNode(record.to, node))) {
      const m = await this.#finish(info, record, node)
      const kind = replicaOn(info, node)?.kind
      return {
        resource: info.name,
        node,
        removed: m.removed,
        ...(m.removed ? {} : { kept: kind === undefined ? 'absent' : kind === 'tiebreaker' ? 'tiebreaker' : 'diskful' }),
        migration: { from: m.from, to: m.to, outcome: m.outcome },
      }
    }
    const r = replicaOn(info, node)
    if (r === undefined) return { resource: info.name, node, removed: false, kept: 'absent' }
    if (r.kind !== 'diskless') return { resource: info.name, node, removed: false, kept: r.kind }
    if (r.inUse === true) {
      throw new PluginError('RESOURCE_IN_USE', `resource ${info.name} is still in use on ${node}; stop what uses it first`, { context: { resource: info.name, node } })
    }
    await this.#removeClient(info, node)
    return { resource: info.name, node, removed: true }
  }

  // ---------------------------------------------------------------- pending records

  /** The pending records of this host that belong to this cluster (same controllers, or unknown ones). */
  pendingRecords(resource?: string): PendingRecord[] {
    if (this.#state === undefined) return []
    const mine = new Set(this.#controllers().map((c) => c.toLowerCase()))
    const all = resource === undefined ? this.#state.pending() : this.#state.pendingFor(resource)
    return all.filter((r) => mine.size === 0 || r.controllers.length === 0 || r.controllers.some((c) => mine.has(c.toLowerCase())))
  }

  /**
   * Finishes one pending record now that a controller answers (the caller holds the resource's
   * lock): a detach removes the host's client if nobody uses it and ends a migration the host was
   * an end of; an attach turns a tie-breaker the host started from into a wanted client. 'left'
   * when LINSTOR still gives no usable answer (the record stays).
   */
  async settle(record: PendingRecord): Promise<'settled' | 'left'> {
    if (record.intent === 'detach') {
      try {
        const d = await this.detach(record.resource, record.node, { budgetMs: Number.POSITIVE_INFINITY, settling: true })
        return d.pending === true ? 'left' : 'settled'
      } catch (err) {
        // In use there again: the VM came back, the stop is history.
        if (isPluginError(err) && err.code === 'RESOURCE_IN_USE') {
          this.#state?.clearPending(record.resource, record.node)
          return 'settled'
        }
        if (isControllerTrouble(err)) return 'left'
        throw err
      }
    }
    let info: ResourceInfo | undefined
    try {
      info = await readResource(this.#c, record.resource)
      const r = info === undefined ? undefined : replicaOn(info, record.node)
      if (info !== undefined && r?.kind === 'tiebreaker') await this.#c.resources.makeAvailable(info.name, record.node, { diskful: false })
    } catch (err) {
      if (isControllerTrouble(err)) return 'left'
      throw err
    }
    this.#state?.clearPending(record.resource, record.node)
    return 'settled'
  }

  /** The next call on a resource settles what other hosts left pending for it (best effort, within the budget). */
  async #settleOthers(resource: string, node: string, until: number): Promise<void> {
    const others = this.pendingRecords(resource).filter((r) => !sameNode(r.node, node))
    if (others.length === 0) return
    try {
      await withinBudget(Math.max(0, until - Date.now()), async () => {
        for (const r of others) {
          if ((await this.settle(r)) === 'settled') this.#log.info({ resource, node: r.node, intent: r.intent }, 'settled what was left pending while no controller answered')
        }
      })
    } catch (err) {
      this.#log.info({ resource, err: reasonOf(err) }, 'pending records of this resource are left for later')
    }
  }
}
