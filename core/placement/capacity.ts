/**
 * How much a placement policy can still hold: LINSTOR's own estimate for the policy's group
 * (query-size-info) plus the raw sums of its candidate storage pools, cached briefly because
 * platforms ask often (Proxmox's status runs every few seconds on every node).
 */
import { LinstorApiError, RC, codeOf, isDisklessPool, isError } from '../linstor/index.js'
import type { AutoSelectFilter, LinstorClient, StoragePool } from '../linstor/index.js'
import type { PlacementPolicy } from './policy-types.js'
import { policyKey, spawnOverrides } from './policy.js'
import type { ResourceGroups } from './resource-groups.js'
import { SharedCache } from './shared-cache.js'

/** Default age after which a capacity is measured again. */
export const DEFAULT_CAPACITY_MAX_AGE_MS = 10_000

/**
 * Space for new volumes under one policy, in bytes.
 *
 * - maxVolumeBytes: the largest single volume a spawn could place now (LINSTOR's
 *   max_vlm_size_in_kib: the smallest free estimate among the pools the next spawn would pick,
 *   thin pools with their oversubscription); 0 when the policy cannot be placed at all.
 * - availableBytes / capacityBytes: how much place-count-way replicated data fits into the free /
 *   total space of all eligible pools (LINSTOR's available_size_in_kib / capacity_in_kib).
 * - totalFreeBytes / totalCapacityBytes: raw sums over the group's candidate diskful pools (not
 *   divided by the replica count; diskless pools excluded).
 */
export interface Capacity {
  maxVolumeBytes: number
  availableBytes: number
  capacityBytes: number
  totalFreeBytes: number
  totalCapacityBytes: number
  /** The provider kinds (LVM_THIN, ZFS, ...) of those candidate pools, sorted, each once. */
  providerKinds: string[]
  /** The resource group the numbers are for. */
  resourceGroup: string
  /** When it was measured (the `now` clock, milliseconds). */
  measuredAt: number
}

/** What CapacityCache is built with. */
export interface CapacityCacheOptions {
  client: LinstorClient
  groups: ResourceGroups
  /** How long a measurement is reused; default 10 s. */
  maxAgeMs?: number
  /** Clock in milliseconds (tests). Default Date.now. */
  now?: () => number
}

const KIB = 1024

function candidatePools(pools: readonly StoragePool[], filter: AutoSelectFilter): StoragePool[] {
  const names = filter.storage_pool_list !== undefined && filter.storage_pool_list.length > 0
    ? filter.storage_pool_list
    : filter.storage_pool !== undefined && filter.storage_pool !== '' ? [filter.storage_pool] : []
  const wanted = new Set(names.map((n) => n.toUpperCase()))
  const providers = new Set(filter.provider_list ?? [])
  const nodes = new Set((filter.node_name_list ?? []).map((n) => n.toUpperCase()))
  return pools.filter(
    (p) =>
      // Diskless pools report Long.MAX capacities; they hold no data.
      !isDisklessPool(p) &&
      (wanted.size === 0 || wanted.has(p.storage_pool_name.toUpperCase())) &&
      (providers.size === 0 || providers.has(p.provider_kind)) &&
      (nodes.size === 0 || nodes.has(p.node_name.toUpperCase())),
  )
}

/**
 * Capacity per placement policy, measured on demand and reused for `maxAgeMs`.
 *
 * Guarantees: at most one measurement in flight per policy (concurrent callers share it); a
 * failed measurement is not cached (the next call asks again); a measurement costs two requests
 * (query-size-info and the storage pool list) plus the group check of ResourceGroups.resolve
 * (itself cached).
 */
export class CapacityCache {
  readonly #client: LinstorClient
  readonly #groups: ResourceGroups
  readonly #maxAgeMs: number
  readonly #now: () => number
  readonly #cache: SharedCache<Capacity>

  constructor(options: CapacityCacheOptions) {
    this.#client = options.client
    this.#groups = options.groups
    this.#maxAgeMs = options.maxAgeMs ?? DEFAULT_CAPACITY_MAX_AGE_MS
    this.#now = options.now ?? Date.now
    this.#cache = new SharedCache(this.#now)
  }

  /**
   * The capacity for `policy`, from the cache when younger than `maxAgeMs` (per call, else the
   * instance's). Creates the policy's derived group if needed (ResourceGroups.ensure).
   *
   * @throws PluginError PLACEMENT_GROUP_MISSING when the policy names a missing group;
   *   LinstorApiError when query-size-info reports an error other than "not enough nodes" (which is
   *   an answer: maxVolumeBytes 0).
   */
  capacity(policy: Readonly<PlacementPolicy>, options: { maxAgeMs?: number } = {}): Promise<Capacity> {
    return this.#cache.get(policyKey(policy), options.maxAgeMs ?? this.#maxAgeMs, () => this.#measure(policy))
  }

  /** Drops cached measurements (of one policy, or all), e.g. after creating or deleting volumes. */
  invalidate(policy?: Readonly<PlacementPolicy>): void {
    this.#cache.invalidate(policy === undefined ? undefined : policyKey(policy))
  }

  async #measure(policy: Readonly<PlacementPolicy>): Promise<Capacity> {
    const group = await this.#groups.resolve(policy)
    const overrides = spawnOverrides(policy)
    const names = group.filter.storage_pool_list
    const [info, pools] = await Promise.all([
      this.#client.resourceGroups.querySizeInfo(group.name, overrides === undefined ? {} : { select_filter: overrides }),
      this.#client.storagePools.list(names !== undefined && names.length > 0 ? { storagePools: names } : {}),
    ])
    const failures = info.reports.filter((r) => isError(r) && codeOf(r.ret_code) !== codeOf(RC.FAIL_NOT_ENOUGH_NODES))
    if (failures.length > 0) {
      // The group vanished under us, or the controller failed: ask again next time.
      if (failures.some((r) => codeOf(r.ret_code) === codeOf(RC.FAIL_NOT_FOUND_RSC_GRP))) this.#groups.invalidate(policy)
      throw new LinstorApiError('POST', `/v1/resource-groups/${group.name}/query-size-info`, 200, info.reports)
    }
    const candidates = candidatePools(pools, group.filter)
    const totalFreeKib = candidates.reduce((s, p) => s + (p.free_capacity ?? 0), 0)
    const totalKib = candidates.reduce((s, p) => s + (p.total_capacity ?? 0), 0)
    const placeCount = Math.max(1, group.filter.place_count ?? 2)
    const space = info.space_info
    return {
      maxVolumeBytes: (space?.max_vlm_size_in_kib ?? 0) * KIB,
      // Controllers before available/capacity were reported: the raw sums shared by the replicas.
      availableBytes: (space?.available_size_in_kib ?? Math.floor(totalFreeKib / placeCount)) * KIB,
      capacityBytes: (space?.capacity_in_kib ?? Math.floor(totalKib / placeCount)) * KIB,
      totalFreeBytes: totalFreeKib * KIB,
      totalCapacityBytes: totalKib * KIB,
      providerKinds: [...new Set(candidates.map((p) => p.provider_kind))].sort(),
      resourceGroup: group.name,
      measuredAt: this.#now(),
    }
  }
}
