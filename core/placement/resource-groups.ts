/**
 * The resource group each policy spawns from: the operator's named group (read, never changed), or
 * the group linstor-virt derives from the policy, created on first use and kept in sync.
 */
import { PluginError, withFacts } from '../errors/index.js'
import { LinstorApiError, RC } from '../linstor/index.js'
import type { AutoSelectFilter, LinstorClient, ResourceGroup, ResourceGroupModify } from '../linstor/index.js'
import type { Logger } from '../log/index.js'
import { DEFAULT_PLACE_COUNT, EXACT_SIZE_KEY, groupPropsOf, policyGroupName, policyKey, selectFilterOf, spawnOverrides } from './policy.js'
import type { PlacementPolicy } from './policy-types.js'
import { SharedCache } from './shared-cache.js'

/** The property on a derived group holding the policy it was made for (policyKey). */
export const POLICY_PROP = 'Aux/linstor-virt/policy'

/** Description put on derived groups, so operators know where they come from. */
export const DERIVED_GROUP_DESCRIPTION = 'linstor-virt placement policy (managed by linstor-virt: edits are reverted; see Aux/linstor-virt/policy)'

/** How long a group found in sync is trusted before it is read again. */
export const DEFAULT_GROUP_MAX_AGE_MS = 60_000

/** What ResourceGroups is built with. */
export interface ResourceGroupsOptions {
  client: LinstorClient
  logger?: Logger
  /** A policy field → the platform's setting name, for PLACEMENT_GROUP_MISSING messages. */
  settingNames?: Partial<Record<keyof PlacementPolicy, string>>
  /** How long "exists and in sync" is remembered per policy; default 60 s. */
  maxAgeMs?: number
  /** Clock in milliseconds (tests). Default Date.now. */
  now?: () => number
}

/** A policy's group as last read or written: its name and the filter a spawn from it uses. */
export interface ResolvedGroup {
  /** The group's name as LINSTOR spells it. */
  name: string
  /** True when linstor-virt derived (and manages) the group. */
  derived: boolean
  /** The group's filter with the policy's spawn overrides merged over it (what the autoplacer uses). */
  filter: AutoSelectFilter
}

// Filter fields whose values are sets (order does not matter to LINSTOR).
const SET_FIELDS = [
  'storage_pool_list',
  'storage_pool_diskless_list',
  'not_place_with_rsc',
  'replicas_on_same',
  'replicas_on_different',
  'provider_list',
  'node_name_list',
] as const satisfies readonly (keyof AutoSelectFilter)[]

const sameSet = (a: readonly string[] | undefined, b: readonly string[] | undefined): boolean => {
  const x = [...new Set(a ?? [])].sort()
  const y = [...new Set(b ?? [])].sort()
  return x.length === y.length && x.every((v, i) => v === y[i])
}

const sameList = (a: readonly string[] | undefined, b: readonly string[] | undefined): boolean => {
  const x = (a ?? []).map((s) => s.toUpperCase())
  const y = (b ?? []).map((s) => s.toUpperCase())
  return x.length === y.length && x.every((v, i) => v === y[i])
}

const sameMap = (a: Readonly<Record<string, number>> | undefined, b: Readonly<Record<string, number>> | undefined): boolean => {
  const x = Object.entries(a ?? {}).sort(([k], [l]) => k.localeCompare(l))
  const y = Object.entries(b ?? {}).sort(([k], [l]) => k.localeCompare(l))
  return x.length === y.length && x.every(([k, v], i) => y[i]?.[0] === k && y[i]?.[1] === v)
}

// LINSTOR stores DRBD yes/no options lower case and keeps its own true/false as given.
const samePropValue = (a: string | undefined, b: string): boolean =>
  a === b || (a !== undefined && /^(?:true|false|yes|no)$/i.test(b) && a.toLowerCase() === b.toLowerCase())

/** Merges `high` over `low` field by field, as LINSTOR merges a request's filter over a group's. */
export function mergeFilters(high: AutoSelectFilter | undefined, low: AutoSelectFilter): AutoSelectFilter {
  const out: Record<string, unknown> = { ...low }
  for (const [k, v] of Object.entries(high ?? {})) if (v !== undefined && v !== null) out[k] = v
  return out
}

/** What must change on a derived group to match its policy; empty when in sync. */
interface Drift {
  filter: AutoSelectFilter
  setProps: Record<string, string>
  deleteProps: string[]
  /** Fields that differ but cannot be cleared through the REST API (reported, not repaired). */
  unrepairable: string[]
}

function driftOf(group: ResourceGroup, policy: Readonly<PlacementPolicy>): Drift {
  const want = selectFilterOf(policy)
  const have = group.select_filter
  const filter: AutoSelectFilter = {}
  const unrepairable: string[] = []
  if ((have.place_count ?? DEFAULT_PLACE_COUNT) !== want.place_count && want.place_count !== undefined) filter.place_count = want.place_count
  for (const k of SET_FIELDS) {
    // An empty list in a modify request clears the field (LINSTOR sets what is present).
    if (!sameSet(have[k], want[k])) filter[k] = [...(want[k] ?? [])]
  }
  if (!sameList(have.layer_stack, want.layer_stack)) filter.layer_stack = [...(want.layer_stack ?? [])]
  if (!sameMap(have.x_replicas_on_different_map, want.x_replicas_on_different_map)) filter.x_replicas_on_different_map = { ...(want.x_replicas_on_different_map ?? {}) }
  if ((have.diskless_on_remaining ?? false) !== (want.diskless_on_remaining ?? false)) filter.diskless_on_remaining = want.diskless_on_remaining ?? false
  if (want.not_place_with_rsc_regex !== undefined) {
    if (have.not_place_with_rsc_regex !== want.not_place_with_rsc_regex) filter.not_place_with_rsc_regex = want.not_place_with_rsc_regex
  } else if (have.not_place_with_rsc_regex !== undefined && have.not_place_with_rsc_regex !== '') {
    // An empty regex would match every resource; there is no way to unset a single-valued field.
    unrepairable.push('not_place_with_rsc_regex')
  }
  const pools = (want.storage_pool_list ?? []).map((p) => p.toUpperCase())
  if (have.storage_pool !== undefined && have.storage_pool !== '' && !pools.includes(have.storage_pool.toUpperCase())) unrepairable.push('storage_pool')
  if (have.diskless_type !== undefined && have.diskless_type !== '') unrepairable.push('diskless_type')
  if (have.additional_place_count !== undefined && have.additional_place_count !== 0) unrepairable.push('additional_place_count')

  const wantProps: Record<string, string> = { [POLICY_PROP]: policyKey(policy), ...groupPropsOf(policy) }
  const setProps: Record<string, string> = {}
  for (const [k, v] of Object.entries(wantProps)) if (!samePropValue(group.props[k], v)) setProps[k] = v
  const deleteProps = wantProps[EXACT_SIZE_KEY] === undefined && group.props[EXACT_SIZE_KEY] !== undefined ? [EXACT_SIZE_KEY] : []
  return { filter, setProps, deleteProps, unrepairable }
}

/**
 * Finds or makes the LINSTOR resource group for each placement policy.
 *
 * - A policy with `resourceGroup`: the group must exist; it is read, never modified. Other policy
 *   fields are applied per request (see spawnOverrides).
 * - A policy without: the group `policyGroupName(policy)` is created on first use (select filter,
 *   then the props `Aux/linstor-virt/policy` = policyKey, `DrbdOptions/ExactSize` and the policy's
 *   drbdOptions, because LINSTOR ignores props on create). When found drifted from the policy
 *   (someone edited it) it is put back with one modify and an info log line. Properties the policy
 *   does not mention are left alone.
 *
 * "Exists and in sync" is remembered per policy for `maxAgeMs` (60 s), so repeated calls make at
 * most one GET per minute; concurrent calls for one policy share one check. Safe to call from
 * several processes at once: a concurrent creator's FAIL_EXISTS_RSC_GRP is verified with a GET.
 */
export class ResourceGroups {
  readonly #client: LinstorClient
  readonly #logger: Logger | undefined
  readonly #settingNames: Partial<Record<keyof PlacementPolicy, string>>
  readonly #maxAgeMs: number
  readonly #cache: SharedCache<ResolvedGroup>
  /** Derived groups this instance created (lower-case name → creation serial), for releaseIfUnused. */
  readonly #created = new Map<string, number>()
  #serial = 0

  constructor(options: ResourceGroupsOptions) {
    this.#client = options.client
    this.#logger = options.logger
    this.#settingNames = options.settingNames ?? {}
    this.#maxAgeMs = options.maxAgeMs ?? DEFAULT_GROUP_MAX_AGE_MS
    this.#cache = new SharedCache(options.now ?? Date.now)
  }

  /**
   * The name of the resource group to spawn from for `policy` (creating or repairing a derived
   * group first). Idempotent.
   *
   * @throws PluginError PLACEMENT_GROUP_MISSING when the policy names a group that does not exist.
   * @throws LinstorApiError / LinstorUnavailableError when the controller refuses or cannot be reached.
   */
  async ensure(policy: Readonly<PlacementPolicy>): Promise<string> {
    return (await this.resolve(policy)).name
  }

  /** Like ensure, and also gives the filter a spawn from the group uses (for capacity queries). */
  resolve(policy: Readonly<PlacementPolicy>): Promise<ResolvedGroup> {
    const key = policyKey(policy)
    return this.#cache.get(key, this.#maxAgeMs, () =>
      policy.resourceGroup !== undefined ? this.#named(policy, policy.resourceGroup) : this.#derived(policy, key),
    )
  }

  /**
   * A mark for releaseIfUnused: the derived groups this instance creates after taking it count as
   * made on behalf of the caller that took it.
   */
  mark(): number {
    return this.#serial
  }

  /**
   * After a failed create: deletes `policy`'s derived group when this instance created it since
   * `mark` and no resource definition uses it (LINSTOR refuses to delete a group in use, so a
   * volume made meanwhile by someone else keeps it). A later create with the same policy makes it
   * again. Named groups are never touched. Never throws: true when the group was removed.
   */
  async releaseIfUnused(policy: Readonly<PlacementPolicy>, mark: number): Promise<boolean> {
    if (policy.resourceGroup !== undefined) return false
    const name = policyGroupName(policy)
    const serial = this.#created.get(name.toLowerCase())
    if (serial === undefined || serial <= mark) return false
    try {
      await this.#client.resourceGroups.delete(name)
    } catch (err) {
      // In use (a volume made meanwhile) or the controller is gone: keep it; the doctor reports leftovers.
      this.#logger?.info({ resourceGroup: name, err: err instanceof Error ? err.message : String(err) }, 'kept the resource group of a failed create')
      return false
    }
    this.#created.delete(name.toLowerCase())
    this.invalidate(policy)
    this.#logger?.info({ resourceGroup: name }, 'removed the resource group a failed create had made')
    return true
  }

  /** Forgets what is known about `policy`'s group (or every group): the next call reads it again. */
  invalidate(policy?: Readonly<PlacementPolicy>): void {
    this.#cache.invalidate(policy === undefined ? undefined : policyKey(policy))
  }

  async #named(policy: Readonly<PlacementPolicy>, name: string): Promise<ResolvedGroup> {
    const group = await this.#client.resourceGroups.get(name)
    if (group === undefined) {
      const setting = this.#settingNames.resourceGroup ?? 'resourceGroup'
      throw withFacts(
        new PluginError('PLACEMENT_GROUP_MISSING', `resource group ${name} (setting ${setting}) does not exist on the LINSTOR controller`, {
          context: { resourceGroup: name, setting },
        }),
        {
          setting: 'resourceGroup',
          problem: 'LINSTOR has no resource group of this name',
          fix: `create it (linstor resource-group create ${name} --place-count 2) or name another`,
        },
      )
    }
    return { name: group.name, derived: false, filter: mergeFilters(spawnOverrides(policy), group.select_filter) }
  }

  async #derived(policy: Readonly<PlacementPolicy>, key: string): Promise<ResolvedGroup> {
    const name = policyGroupName(policy)
    const rg = this.#client.resourceGroups
    let group = await rg.get(name)
    if (group === undefined) {
      const filter = selectFilterOf(policy)
      try {
        await rg.create({ name, description: DERIVED_GROUP_DESCRIPTION, select_filter: filter })
      } catch (err) {
        // Another process created it meanwhile: check what it made below.
        if (!(err instanceof LinstorApiError && err.has(RC.FAIL_EXISTS_RSC_GRP))) throw err
        group = await rg.get(name)
        if (group === undefined) throw err
      }
      if (group === undefined) {
        this.#created.set(name.toLowerCase(), ++this.#serial)
        await rg.modify(name, { override_props: { [POLICY_PROP]: key, ...groupPropsOf(policy) } })
        this.#logger?.info({ resourceGroup: name, policy: key }, 'created resource group for placement policy')
        return { name, derived: true, filter }
      }
    }
    const drift = driftOf(group, policy)
    const changedFields = Object.keys(drift.filter)
    const changedProps = [...Object.keys(drift.setProps), ...drift.deleteProps]
    if (changedFields.length > 0 || changedProps.length > 0) {
      const body: ResourceGroupModify = {}
      if (changedFields.length > 0) body.select_filter = drift.filter
      if (Object.keys(drift.setProps).length > 0) body.override_props = drift.setProps
      if (drift.deleteProps.length > 0) body.delete_props = drift.deleteProps
      await rg.modify(group.name, body)
      this.#logger?.info(
        { resourceGroup: group.name, fields: changedFields, props: changedProps },
        'resource group drifted from its placement policy; restored',
      )
    }
    if (drift.unrepairable.length > 0) {
      this.#logger?.warn(
        { resourceGroup: group.name, fields: drift.unrepairable },
        'resource group has select-filter fields its placement policy does not set and LINSTOR cannot unset; delete the group to reset it',
      )
    }
    return { name: group.name, derived: true, filter: mergeFilters(drift.filter, group.select_filter) }
  }
}
