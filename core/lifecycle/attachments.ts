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
 */
import { channel } from 'node:diagnostics_channel'
import { PluginError } from '../errors/index.js'
import { isControllerUnreachable, localVolumes } from '../ha/index.js'
import type { ControllerVmGuard } from '../ha/index.js'
import type { LinstorClient } from '../linstor/index.js'
import type { Logger } from '../log/index.js'
import { DisasterRecovery, assertIdentity, drPresence, readResource, replicaOn, sameNode, stableDevicePath, stackOf } from '../volumes/index.js'
import type { DrPresence, IdentityExpectation, ResourceInfo, Stack } from '../volumes/index.js'
import { NvmeAttachments, checkPassphrase, dataReplica, linkDevice, linkedVolumes, luksUndeployed, notShared, stableLinkPath, unlinkDevices } from './stacks.js'
import { ALLOW_TWO_PRIMARIES, AUX_MIGRATION, isPair, isYes, readMigrationRecord, writeMigrationRecord } from './migration-record.js'
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
}

export interface AttachmentsOptions {
  client: LinstorClient
  logger: Logger
  guard: ControllerVmGuard
  deviceRoot: (node: string) => string | undefined
  now?: () => Date
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

  constructor(o: AttachmentsOptions) {
    this.#c = o.client
    this.#log = o.logger
    this.#guard = o.guard
    this.#root = o.deviceRoot
    this.#now = o.now ?? (() => new Date())
    this.#nvme = new NvmeAttachments({ client: o.client, logger: o.logger, now: this.#now, read: (r) => this.#read(r) })
    this.#dr = new DisasterRecovery(o.client, o.logger)
  }

  /** `expect`: the object must be that platform name's (NAME_COLLISION otherwise, core/volumes/names.ts). */
  async #read(resource: string, expect?: IdentityExpectation): Promise<ResourceInfo> {
    const info = await readResource(this.#c, resource)
    if (info === undefined) throw new PluginError('RESOURCE_NOT_FOUND', `resource ${resource} does not exist`, { context: { resource } })
    if (expect !== undefined) assertIdentity('resource', info, resource, expect)
    return info
  }

  #offline(resource: string, node: string, why: 'controller-vm' | 'controller-unreachable'): Attachment | undefined {
    const root = this.#root(node)
    if (root === undefined) return undefined
    const drbd = localVolumes(root, resource)
    // Stacks without DRBD leave linstor-virt's stable link while attached.
    const numbers = drbd.length > 0 ? drbd : linkedVolumes(root, resource)
    if (numbers.length === 0) return undefined
    const path = drbd.length > 0 ? stableDevicePath : stableLinkPath
    if (offlineChannel.hasSubscribers) offlineChannel.publish({ resource, node, reason: why } satisfies OfflineActivationEvent)
    return {
      resource,
      node,
      role: 'unknown',
      volumes: numbers.map((n) => ({ number: n, devicePath: root + path(resource, n) })),
      created: false,
      offline: why,
    }
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
    const info = typeof resource === 'string' ? await this.#read(resource) : resource
    if (info.replicas.some((r) => r.dr === true) && (await this.#dr.ensureProxies(info, [node])) > 0) return this.#read(info.name)
    return info
  }

  /**
   * Makes the volume usable on `node` and returns its device paths. With `migrate` (default) an
   * attach while another host uses the volume begins a live migration from that host.
   * Controller VM volumes whose device exists locally attach without LINSTOR; when no controller
   * answers, any volume whose device exists locally attaches from it.
   */
  async attach(resource: string, node: string, opts: { migrate?: boolean; expect?: IdentityExpectation } = {}): Promise<Attachment> {
    if (this.#guard.isProtected(resource)) {
      const local = this.#offline(resource, node, 'controller-vm')
      if (local !== undefined) {
        this.#log.info({ resource, node }, 'controller VM volume: attached from its local device without asking LINSTOR')
        return local
      }
    }
    let info: ResourceInfo
    try {
      info = await this.#read(resource, opts.expect)
    } catch (err) {
      if (!isControllerUnreachable(err)) throw err
      const local = this.#offline(resource, node, 'controller-unreachable')
      if (local !== undefined) {
        this.#log.warn({ resource, node }, 'no LINSTOR controller answered: attached from the local device')
        return local
      }
      const e = err as PluginError
      throw new PluginError(e.code, `no LINSTOR controller answered, and ${resource} has no device on ${node} to start from: ${e.message}`, { cause: err, context: { resource, node } })
    }
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
    if (mine === undefined || mine.kind === 'tiebreaker') {
      await this.#c.resources.makeAvailable(info.name, node, { diskful: false })
      created = mine === undefined
      info = await this.#proxyNewClient(info.name, node)
    } else if (mine.kind === 'diskless') {
      info = await this.#proxyNewClient(info, node)
    }
    return this.#attachment(info, node, created)
  }

  /** Explicit migration start (OpenNebula premigrate, Cinder): attach on `to` with dual-primary for from-to. */
  async beginMigration(resource: string, from: string, to: string, expect?: IdentityExpectation): Promise<Attachment> {
    const info = await this.#read(resource, expect)
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

  async #begin(info: ResourceInfo, from: string, to: string): Promise<Attachment> {
    this.#refuseDr(info, to, 'a migration target')
    let record = readMigrationRecord(info.props)
    if (record !== undefined && !isPair(record, from, to)) {
      if (inUse(info, record.from) && inUse(info, record.to)) {
        throw new PluginError('MIGRATION_CONFLICT', `resource ${info.name} is migrating from ${record.from} to ${record.to} (since ${record.since}); it cannot also migrate from ${from} to ${to}`, { context: { resource: info.name } })
      }
      // A migration the platform never finished (or a crash): finish it before starting this one.
      await this.#settle(info, record)
      info = await this.#read(info.name)
      record = undefined
    }
    if (record === undefined) {
      const conns = await this.#c.resourceDefinitions.connections(info.name)
      const conn = conns.find((c) => (sameNode(c.node_a, from) && sameNode(c.node_b, to)) || (sameNode(c.node_a, to) && sameNode(c.node_b, from)))
      const previous = conn?.props[ALLOW_TWO_PRIMARIES]
      const set = !isYes(previous) && !(await this.#inheritedDualPrimary(info))
      record = { from, to, since: this.#now().toISOString(), set, ...(previous !== undefined ? { previous } : {}) }
      await this.#c.resourceDefinitions.modify(info.name, { override_props: { [AUX_MIGRATION]: writeMigrationRecord(record) } })
      this.#log.info({ resource: info.name, from, to, dualPrimary: set ? 'set on the connection' : 'already allowed' }, 'live migration begins')
    }
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
      await this.#c.resourceDefinitions.modifyConnection(info.name, record.from, record.to, { override_props: { [ALLOW_TWO_PRIMARIES]: 'yes' } })
    }
    const after = await this.#read(info.name)
    return { ...this.#attachment(after, to, created), migration: { from: record.from, to: record.to } }
  }

  /** allow-two-primaries already on for the whole resource (RD, its group, or the controller). */
  async #inheritedDualPrimary(info: ResourceInfo): Promise<boolean> {
    const rd = info.props[ALLOW_TWO_PRIMARIES]
    if (rd !== undefined) return isYes(rd)
    if (info.resourceGroup !== undefined) {
      const rg = (await this.#c.resourceGroups.get(info.resourceGroup))?.props[ALLOW_TWO_PRIMARIES]
      if (rg !== undefined) return isYes(rg)
    }
    return isYes((await this.#c.controller.properties())[ALLOW_TWO_PRIMARIES])
  }

  /** Explicit migration end (OpenNebula postmigrate): the source's diskless client goes, dual-primary is restored. */
  async completeMigration(resource: string, from: string, to: string, expect?: IdentityExpectation): Promise<void> {
    const info = await this.#read(resource, expect)
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
    const info = await this.#read(resource, expect)
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
    if (record.set && replicaOn(info, record.from) !== undefined && replicaOn(info, record.to) !== undefined) {
      const body = record.previous === undefined ? { delete_props: [ALLOW_TWO_PRIMARIES] } : { override_props: { [ALLOW_TWO_PRIMARIES]: record.previous } }
      await this.#c.resourceDefinitions.modifyConnection(info.name, record.from, record.to, body)
    }
    const removed = await this.#removeClient(info, leaving)
    if (info.props[AUX_MIGRATION] !== undefined) {
      await this.#c.resourceDefinitions.modify(info.name, { delete_props: [AUX_MIGRATION] })
    }
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

  /** Settles a left-over migration record (doctor --fix): only when at most one end is in use. */
  async settleMigration(resource: string): Promise<boolean> {
    const info = await this.#read(resource)
    const record = readMigrationRecord(info.props)
    if (record === undefined || (inUse(info, record.from) && inUse(info, record.to))) return false
    await this.#settle(info, record)
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
  async detach(resource: string, node: string, opts: { expect?: IdentityExpectation } = {}): Promise<Detachment> {
    if (this.#guard.isProtected(resource)) {
      this.#log.info({ resource, node }, 'controller VM volume: detach leaves LINSTOR untouched')
      return { resource, node, removed: false, kept: 'controller-vm' }
    }
    let info: ResourceInfo | undefined
    try {
      info = await readResource(this.#c, resource)
    } catch (err) {
      if (!isControllerUnreachable(err)) throw err
      this.#log.warn({ resource, node, err: (err as Error).message }, 'no LINSTOR controller answered: detach leaves the replica in place')
      return { resource, node, removed: false, kept: 'controller-unreachable' }
    }
    if (info === undefined) return { resource, node, removed: false, kept: 'absent' }
    if (opts.expect !== undefined) assertIdentity('resource', info, resource, opts.expect)
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
}
