/**
 * Attach, detach and live migration for the stacks beyond DRBD (docs/lifecycle.md "Stacks"):
 *
 * - NVMe-oF (`nvme,storage`, `luks,nvme,storage`): the data lives on one target; a host runs the
 *   VM through an NVMe initiator (a resource create with flag NVME_INITIATOR: LINSTOR's
 *   make-available makes a diskful resource on stacks without DRBD), or, on the target's node,
 *   from the backing volume itself. NVMe has no roles and no dual-primary: LINSTOR cannot tell which
 *   host uses the volume, so linstor-virt records it on the definition (AUX_ATTACHED, written before
 *   the initiator is made and removed after it is gone). Attaching on a second host while one is
 *   recorded begins a live migration (the migration record, without allow-two-primaries): both
 *   initiators exist for the migration window; detaching either end finishes it. The doctor finds
 *   initiators nobody recorded (leftovers) and settles left-over migration records.
 * - Storage only (`storage`, `luks,storage`): usable where the data is, nowhere else (NOT_SHARED,
 *   naming the stack, before anything is written); no live migration.
 * - LUKS anywhere in the stack: the controller's master passphrase must be entered, or LINSTOR
 *   neither creates nor deploys the crypt layer: PASSPHRASE_LOCKED before anything is written.
 *
 * The device a VM opens: DRBD's by-res path, else (this process sees the node's /dev) a stable
 * link `<root>/dev/linstor-virt/by-res/<resource>/<volume>` to the device LINSTOR reports (an NVMe
 * namespace's name changes between connects; the Proxmox shim's path() looks here), else LINSTOR's
 * device itself.
 */
import { mkdirSync, readdirSync, readlinkSync, rmSync, symlinkSync, existsSync } from 'node:fs'
import { dirname } from 'node:path'
import { PluginError } from '../errors/index.js'
import type { LinstorClient } from '../linstor/index.js'
import type { Logger } from '../log/index.js'
import { isLinstorName, replicaOn, sameNode, stackName } from '../volumes/index.js'
import type { Replica, ResourceInfo } from '../volumes/index.js'
import { AUX_MIGRATION, isPair, readMigrationRecord, writeMigrationRecord } from './migration-record.js'
import type { MigrationRecord } from './migration-record.js'

/** The host an NVMe-oF volume is attached to (LINSTOR reports no role for NVMe). */
export const AUX_ATTACHED = 'Aux/linstor-virt/attached'

/** Stable per-volume links for stacks without DRBD: `/dev/linstor-virt/by-res/<resource>/<volume>`. */
export function stableLinkPath(resource: string, volume: number): string {
  return `/dev/linstor-virt/by-res/${resource}/${volume}`
}

/** Points the stable link of a volume at the device LINSTOR reports (both under `root`). */
export function linkDevice(root: string, resource: string, volume: number, device: string): string {
  if (!isLinstorName(resource)) throw new PluginError('CONFIG_INVALID', `'${resource}' is not a LINSTOR resource name`)
  const link = root + stableLinkPath(resource, volume)
  const target = root + device
  let current: string | undefined
  try {
    current = readlinkSync(link)
  } catch {
    current = undefined
  }
  if (current !== target) {
    mkdirSync(dirname(link), { recursive: true })
    rmSync(link, { force: true })
    symlinkSync(target, link)
  }
  return link
}

/** Removes the stable links of a resource on a node. */
export function unlinkDevices(root: string, resource: string): void {
  if (!isLinstorName(resource)) return
  rmSync(root + `/dev/linstor-virt/by-res/${resource}`, { recursive: true, force: true })
}

/** Volume numbers with a stable link under `root` (the offline fallback of stacks without DRBD). */
export function linkedVolumes(root: string, resource: string): number[] {
  if (!isLinstorName(resource)) return []
  let names: string[]
  try {
    names = readdirSync(root + `/dev/linstor-virt/by-res/${resource}`)
  } catch {
    return []
  }
  return names.filter((n) => /^\d+$/.test(n) && existsSync(root + stableLinkPath(resource, Number(n)))).map(Number).sort((a, b) => a - b)
}

/** Where the data is: a diskful replica (NVMe target, storage-only) on this node. */
export function dataReplica(info: ResourceInfo, node: string): Replica | undefined {
  const r = replicaOn(info, node)
  return r?.kind === 'diskful' && r.dr !== true ? r : undefined
}

/** NOT_SHARED for a storage-only stack, naming it, before anything is written. */
export function notShared(info: ResourceInfo, node: string, what: 'attach' | 'migrate'): PluginError {
  const where = info.replicas.filter((r) => r.kind === 'diskful').map((r) => r.node).join(', ') || 'no node'
  const why = what === 'attach' ? `cannot be attached on ${node}` : `cannot be live-migrated to ${node}`
  return new PluginError('NOT_SHARED', `resource ${info.name} has the layer stack ${stackName(info.layers)}: its data lives only on ${where} and nothing reaches it from another node, so it ${why}`, {
    context: { resource: info.name, node, stack: info.layers.join(',') },
  })
}

/**
 * For stacks with LUKS: PASSPHRASE_LOCKED unless the controller holds its master key. Asked only
 * when LINSTOR would have to create or deploy the crypt layer (`needed`), so a healthy attach on
 * an existing device makes no extra call.
 */
export async function checkPassphrase(client: LinstorClient, info: ResourceInfo, node: string): Promise<void> {
  if (!info.layers.includes('LUKS')) return
  const status = await client.controller.encryptionStatus()
  if (status === undefined || status === 'unlocked') return
  throw new PluginError(
    'PASSPHRASE_LOCKED',
    `resource ${info.name} has the layer stack ${stackName(info.layers)} and the LINSTOR controller's master passphrase is ${status === 'unset' ? 'not set' : 'locked (not entered since the controller started)'}: LINSTOR cannot deploy its crypt layer on ${node}; enter it (linstor encryption enter-passphrase) and retry`,
    { context: { resource: info.name, node, passphrase: status } },
  )
}

/** Whether a LUKS stack's device on this replica is missing (the crypt layer not deployed). */
export function luksUndeployed(info: ResourceInfo, r: Replica | undefined): boolean {
  if (!info.layers.includes('LUKS') || r === undefined) return false
  return r.volumes.length === 0 || r.volumes.some((v) => v.device === undefined)
}

export interface NvmeContext {
  client: LinstorClient
  logger: Logger
  now: () => Date
  read: (resource: string) => Promise<ResourceInfo>
}

/** The NVMe-oF side of Attachments (see the file header). */
export class NvmeAttachments {
  readonly #x: NvmeContext

  constructor(ctx: NvmeContext) {
    this.#x = ctx
  }

  /** The host recorded as running the VM. */
  static host(info: ResourceInfo): string | undefined {
    const h = info.props[AUX_ATTACHED]
    return h === undefined || h === '' ? undefined : h
  }

  async #ensureInitiator(info: ResourceInfo, node: string): Promise<boolean> {
    if (replicaOn(info, node) !== undefined) return false
    await this.#x.client.resources.create(info.name, node, { resource: { flags: ['NVME_INITIATOR'] } })
    return true
  }

  async #setHost(info: ResourceInfo, node: string): Promise<void> {
    if (NvmeAttachments.host(info) !== undefined && sameNode(NvmeAttachments.host(info) ?? '', node)) return
    await this.#x.client.resourceDefinitions.modify(info.name, { override_props: { [AUX_ATTACHED]: node } })
  }

  /**
   * Makes the volume usable on `node`: the target's own volume there, else an initiator. With
   * `migrate` and another host recorded, this is a live migration's begin. Returns whether an
   * initiator was created and the migration this attach began or resumed.
   */
  async attach(info: ResourceInfo, node: string, migrate: boolean): Promise<{ created: boolean; migration?: { from: string; to: string } }> {
    const record = readMigrationRecord(info.props)
    if (record !== undefined) {
      if (sameNode(record.to, node)) return { created: await this.#ensureInitiatorUnlessTarget(info, node), migration: { from: record.from, to: record.to } }
      if (!sameNode(record.from, node)) {
        throw new PluginError('MIGRATION_CONFLICT', `resource ${info.name} is migrating from ${record.from} to ${record.to} (since ${record.since}); it cannot also be attached on ${node}`, { context: { resource: info.name } })
      }
      return { created: false }
    }
    const host = NvmeAttachments.host(info)
    if (migrate && host !== undefined && !sameNode(host, node) && replicaOn(info, host) !== undefined) {
      return this.begin(info, host, node)
    }
    await this.#setHost(info, node)
    return { created: await this.#ensureInitiatorUnlessTarget(info, node) }
  }

  async #ensureInitiatorUnlessTarget(info: ResourceInfo, node: string): Promise<boolean> {
    if (dataReplica(info, node) !== undefined) return false
    return this.#ensureInitiator(info, node)
  }

  /** A live migration's begin: the record first (no allow-two-primaries: NVMe has no roles), then the target's initiator. */
  async begin(info: ResourceInfo, from: string, to: string): Promise<{ created: boolean; migration: { from: string; to: string } }> {
    let record = readMigrationRecord(info.props)
    if (record !== undefined && !isPair(record, from, to)) {
      throw new PluginError('MIGRATION_CONFLICT', `resource ${info.name} is migrating from ${record.from} to ${record.to} (since ${record.since}); it cannot also migrate from ${from} to ${to}`, { context: { resource: info.name } })
    }
    if (record === undefined) {
      record = { from, to, since: this.#x.now().toISOString(), set: false }
      await this.#x.client.resourceDefinitions.modify(info.name, { override_props: { [AUX_MIGRATION]: writeMigrationRecord(record) } })
      this.#x.logger.info({ resource: info.name, from, to, stack: 'nvme' }, 'live migration begins (two NVMe-oF initiators for the window)')
    }
    return { created: await this.#ensureInitiatorUnlessTarget(info, to), migration: { from, to } }
  }

  /**
   * One end leaves a recorded migration: its initiator goes (a target's volume stays), the other
   * end becomes the recorded host, and the record goes, in one definition modify.
   */
  async finish(info: ResourceInfo, record: MigrationRecord, leaving: string): Promise<{ removed: boolean; outcome: 'completed' | 'aborted' }> {
    const removed = await this.#removeInitiator(info, leaving)
    const stays = sameNode(leaving, record.from) ? record.to : record.from
    const props = stays === '' ? {} : { [AUX_ATTACHED]: stays }
    await this.#x.client.resourceDefinitions.modify(info.name, { override_props: props, delete_props: [AUX_MIGRATION] })
    const outcome = sameNode(leaving, record.to) && record.to !== '' ? 'aborted' : 'completed'
    this.#x.logger.info({ resource: info.name, from: record.from, to: record.to, outcome, stack: 'nvme' }, 'live migration ended')
    return { removed, outcome }
  }

  async #removeInitiator(info: ResourceInfo, node: string): Promise<boolean> {
    const r = replicaOn(info, node)
    if (r?.nvmeInitiator !== true) return false
    await this.#x.client.resources.delete(info.name, r.node)
    return true
  }

  /** Releases the volume on `node`: its initiator goes, then the host record (when it names this node). */
  async detach(info: ResourceInfo, node: string): Promise<{ removed: boolean; kept?: 'absent' | 'diskful'; migration?: { from: string; to: string; outcome: 'completed' | 'aborted' } }> {
    const record = readMigrationRecord(info.props)
    if (record !== undefined && (sameNode(record.from, node) || sameNode(record.to, node))) {
      const m = await this.finish(info, record, node)
      return { removed: m.removed, ...(m.removed ? {} : { kept: replicaOn(info, node) === undefined ? 'absent' : 'diskful' }), migration: { from: record.from, to: record.to, outcome: m.outcome } }
    }
    const removed = await this.#removeInitiator(info, node)
    const host = NvmeAttachments.host(info)
    if (host !== undefined && sameNode(host, node)) await this.#x.client.resourceDefinitions.modify(info.name, { delete_props: [AUX_ATTACHED] })
    if (removed) return { removed }
    return { removed: false, kept: replicaOn(info, node) === undefined ? 'absent' : 'diskful' }
  }

  /** Initiators nobody recorded: not the recorded host, not an end of a recorded migration. */
  static leftovers(info: ResourceInfo): Replica[] {
    const record = readMigrationRecord(info.props)
    const host = NvmeAttachments.host(info)
    return info.replicas.filter((r) => {
      if (r.nvmeInitiator !== true) return false
      if (host !== undefined && sameNode(host, r.node)) return false
      if (record !== undefined && (sameNode(record.from, r.node) || sameNode(record.to, r.node))) return false
      return true
    })
  }
}
