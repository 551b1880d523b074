/**
 * Disaster recovery: a replica of a DRBD volume on a node of another site (named, or found by an
 * auxiliary node property such as Aux/site), reached through DRBD Proxy with DRBD's asynchronous
 * protocol A on its connections only. The local replicas keep replicating synchronously among
 * themselves; the VM's writes never wait for the WAN.
 *
 * The DR replica carries the resource property AUX_DR (the site, or `node:<name>`), so everything
 * else knows it: attach and migrations never use it (DR_REPLICA), the doctor does not count it
 * toward the local redundancy, and new diskless clients get their proxy to it (ensureProxies).
 *
 * add: LINSTOR resource create on the DR node with a pool of the provider kind the local replicas
 *   use (the marking in the same request), then DRBD Proxy enabled between the DR node and every
 *   other node of the resource (LINSTOR sets protocol A on each of those connections).
 * remove: DRBD Proxy disabled on its connections, then the replica deleted.
 * Both converge when repeated after a crash at any point (the doctor's `dr-unproxied` finding
 * covers a replica left without its proxies).
 *
 * LINSTOR itself counts the DR replica like any diskful one (auto-quorum, tie-breakers). Mark DR
 * nodes `AutoplaceTarget=false` so ordinary placement (and a tie-breaker takeover) never lands
 * there; linstor-virt places the DR replica by name, not through the autoplacer.
 */
import { PluginError } from '../errors/index.js'
import type { LinstorClient, StoragePool } from '../linstor/index.js'
import { isDisklessPool } from '../linstor/index.js'
import type { Logger } from '../log/index.js'
import { AUX_DR, replicaOn, sameNode, stackName, stackOf } from './state.js'
import type { Replica, ResourceInfo } from './state.js'

/** The flag LINSTOR puts on a resource connection while DRBD Proxy is enabled on it. */
export const PROXY_FLAG = 'LOCAL_DRBD_PROXY'
/** The node property DR sites are named by when nothing else is configured. */
export const DEFAULT_SITE_KEY = 'Aux/site'

/** Where a DR replica goes: a node by name, or any suitable node of a site. */
export interface DrTarget {
  node?: string
  site?: string
  /** The node property holding the site (default Aux/site). */
  siteKey?: string
  /** A storage pool on the DR node (default: the roomiest of the local replicas' provider kind). */
  storagePool?: string
}

/** The DR replicas of a resource. */
export function drReplicas(info: ResourceInfo): Replica[] {
  return info.replicas.filter((r) => r.dr === true)
}

/** Diskful replicas that count toward the local redundancy (the DR replica does not). */
export function localDiskful(info: ResourceInfo): Replica[] {
  return info.replicas.filter((r) => r.kind === 'diskful' && r.dr !== true)
}

function matchesTarget(r: Pick<Replica, 'node' | 'props'>, target: DrTarget): boolean {
  if (target.node !== undefined) return sameNode(r.node, target.node)
  return target.site !== undefined && r.props[AUX_DR] === target.site
}

/** A DR replica as an attachment reports it: its node and its marking (the site, or `node:<name>`). */
export interface DrPresence {
  node: string
  mark: string
}

/** The DR replicas of a resource as (node, marking) pairs. */
export function drPresence(info: ResourceInfo): DrPresence[] {
  return drReplicas(info).map((r) => ({ node: r.node, mark: r.props[AUX_DR] ?? '' }))
}

/**
 * Whether a resource's DR replicas are what a platform's configuration asks for: exactly one that
 * matches `target`, or none when the configuration names no DR target. Adapters call syncDr only
 * when this is false, so an attach that finds everything in place costs no extra call.
 */
export function drInSync(target: DrTarget | undefined, present: readonly DrPresence[]): boolean {
  if (target === undefined) return present.length === 0
  return present.length === 1 && matchesTarget({ node: present[0]?.node ?? '', props: { [AUX_DR]: present[0]?.mark ?? '' } }, target)
}

export class DisasterRecovery {
  readonly #c: LinstorClient
  readonly #log: Logger

  constructor(client: LinstorClient, logger: Logger) {
    this.#c = client
    this.#log = logger
  }

  /**
   * Adds the DR replica (or finds it) and makes sure DRBD Proxy runs between it and every other
   * node of the resource. Returns the DR node.
   */
  async add(info: ResourceInfo, target: DrTarget): Promise<string> {
    if (stackOf(info.layers) !== 'drbd') {
      throw new PluginError('CONFIG_INVALID', `resource ${info.name} has the layer stack ${stackName(info.layers)}: a disaster-recovery replica needs DRBD to replicate to it`, { context: { resource: info.name } })
    }
    if (target.node === undefined && target.site === undefined) throw new PluginError('CONFIG_INVALID', 'a disaster-recovery replica needs a node or a site')
    const present = drReplicas(info).find((r) => matchesTarget(r, target))
    if (present !== undefined) {
      await this.ensureProxies(info)
      return present.node
    }
    const { node, pool } = await this.#choose(info, target)
    const mark = target.site ?? `node:${node}`
    await this.#c.resources.create(info.name, node, { resource: { props: { StorPoolName: pool, [AUX_DR]: mark } } })
    this.#log.info({ resource: info.name, node, pool, site: target.site }, 'disaster-recovery replica created')
    return node
  }

  /** Picks the DR node and its pool. */
  async #choose(info: ResourceInfo, target: DrTarget): Promise<{ node: string; pool: string }> {
    const kinds = new Set(localDiskful(info).flatMap((r) => r.volumes.map((v) => v.providerKind).filter((k): k is string => k !== undefined)))
    const fits = (p: StoragePool): boolean => !isDisklessPool(p) && (target.storagePool !== undefined ? p.storage_pool_name.toLowerCase() === target.storagePool.toLowerCase() : kinds.size === 0 || kinds.has(p.provider_kind))
    const roomiest = (pools: readonly StoragePool[]): StoragePool | undefined => [...pools].filter(fits).sort((a, b) => (b.free_capacity ?? 0) - (a.free_capacity ?? 0) || a.storage_pool_name.localeCompare(b.storage_pool_name))[0]
    if (target.node !== undefined) {
      const busy = replicaOn(info, target.node)
      if (busy !== undefined) {
        throw new PluginError('CONFIG_INVALID', `${busy.node} already holds a ${busy.kind} replica of ${info.name}; a disaster-recovery replica goes to a node without one`, { context: { resource: info.name, node: busy.node } })
      }
      const node = await this.#c.nodes.get(target.node)
      if (node === undefined) throw new PluginError('NODE_NOT_FOUND', `disaster-recovery node ${target.node} is not a LINSTOR node`, { context: { node: target.node } })
      const pool = roomiest(await this.#c.storagePools.list({ nodes: [node.name] }))
      if (pool === undefined) {
        throw new PluginError('PLACEMENT_FAILED', `node ${node.name} has no storage pool for a disaster-recovery replica of ${info.name} (${target.storagePool ?? `provider ${[...kinds].join('/') || 'any'}`})`, { context: { resource: info.name, node: node.name } })
      }
      return { node: node.name, pool: pool.storage_pool_name }
    }
    const key = target.siteKey ?? DEFAULT_SITE_KEY
    const nodes = (await this.#c.nodes.list()).filter(
      (n) => n.props[key] === target.site && (n.type === 'SATELLITE' || n.type === 'COMBINED') && n.connection_status === 'ONLINE' && replicaOn(info, n.name) === undefined,
    )
    const pools = nodes.length === 0 ? [] : await this.#c.storagePools.list({ nodes: nodes.map((n) => n.name) })
    const pool = roomiest(pools)
    if (pool === undefined) {
      throw new PluginError('PLACEMENT_FAILED', `no online node with ${key}=${target.site ?? ''} can take a disaster-recovery replica of ${info.name} (${nodes.length} candidate node(s) without a replica of it; a pool of provider ${[...kinds].join('/') || 'any'} is needed)`, { context: { resource: info.name } })
    }
    return { node: pool.node_name, pool: pool.storage_pool_name }
  }

  /**
   * DRBD Proxy on every connection between a DR replica and another replica of the resource
   * (only those not proxied yet; one GET, then one POST per missing connection). `onlyNodes`:
   * just the connections of these nodes (a client that was just made). Returns how many it enabled.
   */
  async ensureProxies(info: ResourceInfo, onlyNodes?: readonly string[]): Promise<number> {
    const dr = drReplicas(info)
    if (dr.length === 0) return 0
    const conns = await this.#c.resourceDefinitions.connections(info.name)
    const proxied = (a: string, b: string): boolean =>
      conns.some((c) => c.flags.includes(PROXY_FLAG) && ((sameNode(c.node_a, a) && sameNode(c.node_b, b)) || (sameNode(c.node_a, b) && sameNode(c.node_b, a))))
    let enabled = 0
    for (const d of dr) {
      for (const r of info.replicas) {
        if (r.dr === true || (onlyNodes !== undefined && !onlyNodes.some((n) => sameNode(n, r.node)))) continue
        if (proxied(r.node, d.node)) continue
        await this.#c.resourceDefinitions.drbdProxyEnable(info.name, r.node, d.node)
        enabled++
      }
    }
    if (enabled > 0) this.#log.info({ resource: info.name, dr: dr.map((d) => d.node), enabled }, 'DRBD Proxy enabled towards the disaster-recovery replica')
    return enabled
  }

  /** DR replicas that do not match `target` (all of them without one). */
  static strays(info: ResourceInfo, target: DrTarget | undefined): Replica[] {
    return drReplicas(info).filter((r) => target === undefined || !matchesTarget(r, target))
  }

  /** Removes the DR replica(s) (all of them, or the one on `node`): proxies off, then the replica. Returns the nodes. */
  async remove(info: ResourceInfo, node?: string): Promise<string[]> {
    const gone = drReplicas(info).filter((r) => node === undefined || sameNode(r.node, node))
    if (gone.length === 0) return []
    const conns = await this.#c.resourceDefinitions.connections(info.name)
    for (const d of gone) {
      if (d.inUse === true) throw new PluginError('RESOURCE_IN_USE', `the disaster-recovery replica of ${info.name} on ${d.node} is in use`, { context: { resource: info.name, node: d.node } })
      for (const c of conns) {
        if (!c.flags.includes(PROXY_FLAG) || !(sameNode(c.node_a, d.node) || sameNode(c.node_b, d.node))) continue
        await this.#c.resourceDefinitions.drbdProxyDisable(info.name, c.node_a, c.node_b)
      }
      await this.#c.resources.delete(info.name, d.node)
      this.#log.info({ resource: info.name, node: d.node }, 'disaster-recovery replica removed')
    }
    return gone.map((d) => d.node)
  }
}
