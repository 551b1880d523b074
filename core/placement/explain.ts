/**
 * Why a placement failed, in terms an operator can act on. LINSTOR answers both "the volume is too
 * big" and "there are too few nodes" with the same FAIL_NOT_ENOUGH_NODES and a dump of criteria;
 * this asks the cluster what it offers instead (query-size-info with the same filter, at the
 * replica count asked and, if that places nothing, at fewer) and says what was asked (size,
 * replicas, pools, filters) next to what is there (the nodes that came closest and their free
 * space, or how many nodes match).
 */
import { PluginError, linstorText, withFacts } from '../errors/index.js'
import type { OperatorFacts } from '../errors/index.js'
import { LinstorApiError, RC, codeOf, isDisklessPool, isError } from '../linstor/index.js'
import type { AutoSelectFilter, LinstorClient, StoragePool } from '../linstor/index.js'
import { DEFAULT_PLACE_COUNT, spawnOverrides } from './policy.js'
import type { PlacementPolicy } from './policy-types.js'
import type { ResolvedGroup } from './resource-groups.js'

const KIB = 1024

/** KiB as "10 GiB" / "1.5 TiB" (the same style as core/volumes' formatBytes). */
export function kibText(kib: number): string {
  const units: [number, string][] = [[KIB ** 3, 'TiB'], [KIB ** 2, 'GiB'], [KIB, 'MiB']]
  for (const [size, unit] of units) {
    if (kib >= size) {
      const v = kib / size
      return `${Number.isInteger(v) ? v : v.toFixed(1)} ${unit}`
    }
  }
  return `${kib} KiB`
}

/** The errors of an autoplace or spawn that mean "LINSTOR found no placement". */
export function isPlacementFailure(err: unknown): err is LinstorApiError {
  return err instanceof LinstorApiError && (err.has(RC.FAIL_NOT_ENOUGH_NODES) || err.has(RC.FAIL_UNDECIDABLE_AUTOPLACMENT) || err.has(RC.FAIL_NOT_ENOUGH_FREE_SPACE) || err.has(RC.FAIL_NOT_FOUND_STOR_POOL))
}

/** What a placement asked for, for the message. */
export interface PlacementAsk {
  resource: string
  /** The size of the resource's volumes together (what each replica needs), KiB. */
  sizeKib?: number
  placeCount: number
  filter: AutoSelectFilter
}

/** The filter's constraints besides count and pools, as words. */
export function filterWords(f: AutoSelectFilter): string[] {
  const out: string[] = []
  if (f.replicas_on_same !== undefined && f.replicas_on_same.length > 0) out.push(`replicas on the same ${f.replicas_on_same.join(', ')}`)
  if (f.replicas_on_different !== undefined && f.replicas_on_different.length > 0) out.push(`replicas on different ${f.replicas_on_different.join(', ')}`)
  if (f.provider_list !== undefined && f.provider_list.length > 0) out.push(`providers ${f.provider_list.join(', ')}`)
  if (f.layer_stack !== undefined && f.layer_stack.length > 0) out.push(`layers ${f.layer_stack.map((l) => l.toLowerCase()).join(',')}`)
  if (f.node_name_list !== undefined && f.node_name_list.length > 0) out.push(`nodes ${f.node_name_list.join(', ')}`)
  if (f.not_place_with_rsc_regex !== undefined && f.not_place_with_rsc_regex !== '') out.push(`not with resources matching ${f.not_place_with_rsc_regex}`)
  if (f.not_place_with_rsc !== undefined && f.not_place_with_rsc.length > 0) out.push(`not with ${f.not_place_with_rsc.join(', ')}`)
  return out
}

function poolNames(f: AutoSelectFilter): string[] {
  if (f.storage_pool_list !== undefined && f.storage_pool_list.length > 0) return f.storage_pool_list
  return f.storage_pool !== undefined && f.storage_pool !== '' ? [f.storage_pool] : []
}

/** Diskful pools the filter allows, on nodes that are online (by name, provider and node list only). */
function matchingPools(pools: readonly StoragePool[], onlineNodes: ReadonlySet<string>, f: AutoSelectFilter): StoragePool[] {
  const names = new Set(poolNames(f).map((n) => n.toUpperCase()))
  const providers = new Set(f.provider_list ?? [])
  const nodes = new Set((f.node_name_list ?? []).map((n) => n.toUpperCase()))
  return pools.filter(
    (p) =>
      !isDisklessPool(p) &&
      onlineNodes.has(p.node_name.toUpperCase()) &&
      (names.size === 0 || names.has(p.storage_pool_name.toUpperCase())) &&
      (providers.size === 0 || providers.has(p.provider_kind)) &&
      (nodes.size === 0 || nodes.has(p.node_name.toUpperCase())),
  )
}

/** The largest free space per node among the pools, most free first. */
function freestNodes(pools: readonly StoragePool[]): { node: string; freeKib: number; pool: string; kind: string }[] {
  const best = new Map<string, { node: string; freeKib: number; pool: string; kind: string }>()
  for (const p of pools) {
    const free = p.free_capacity ?? 0
    const have = best.get(p.node_name.toUpperCase())
    if (have === undefined || free > have.freeKib) best.set(p.node_name.toUpperCase(), { node: p.node_name, freeKib: free, pool: p.storage_pool_name, kind: p.provider_kind })
  }
  return [...best.values()].sort((a, b) => b.freeKib - a.freeKib || a.node.localeCompare(b.node))
}

function replicas(n: number): string {
  return `${n} ${n === 1 ? 'replica' : 'replicas'}`
}

/** The largest volume LINSTOR could place now with `count` replicas (0: none), or undefined when it cannot tell. */
async function maxSizeKib(client: LinstorClient, group: string, overrides: AutoSelectFilter | undefined, count: number): Promise<number | undefined> {
  const info = await client.resourceGroups.querySizeInfo(group, { select_filter: { ...(overrides ?? {}), place_count: count } })
  const failures = info.reports.filter((r) => isError(r) && codeOf(r.ret_code) !== codeOf(RC.FAIL_NOT_ENOUGH_NODES))
  if (failures.length > 0) return undefined
  return info.space_info?.max_vlm_size_in_kib ?? 0
}

/**
 * Measures what the cluster offers for a failed placement and states it next to what was asked.
 * Costs a few requests (the pool and node lists, and one query-size-info per replica count tried,
 * at most the count asked); only runs after a failure.
 */
export async function placementFacts(client: LinstorClient, group: ResolvedGroup, policy: Readonly<PlacementPolicy>, ask: PlacementAsk, cause: LinstorApiError): Promise<OperatorFacts> {
  const overrides = spawnOverrides(policy)
  const f = ask.filter
  const names = poolNames(f)
  const [pools, nodes] = await Promise.all([client.storagePools.list(names.length > 0 ? { storagePools: names } : {}), client.nodes.list()])
  const online = new Set(nodes.filter((n) => (n.connection_status ?? 'ONLINE').toUpperCase() === 'ONLINE').map((n) => n.name.toUpperCase()))
  const matching = matchingPools(pools, online, f)
  const freest = freestNodes(matching)
  const n = ask.placeCount
  const constraints = filterWords(f)
  const poolText = `pool${names.length === 1 ? '' : 's'} ${names.join(', ')}`
  const asked = `${replicas(n)}${ask.sizeKib !== undefined ? ` of ${kibText(ask.sizeKib)}` : ''}${names.length > 0 ? ` in ${poolText}` : ''}${constraints.length > 0 ? ` (${constraints.join('; ')})` : ''}`
  const detail = `LINSTOR: ${linstorText(cause.message)}`
  // Which setting sets the replica count: the policy's own, else the named group's.
  const countSetting = policy.placeCount !== undefined || policy.resourceGroup === undefined ? 'placeCount' : 'resourceGroup'
  const ofGroup = countSetting === 'resourceGroup' ? ` (its place count is ${n})` : ''

  const fitsAll = await maxSizeKib(client, group.name, overrides, n)
  if (fitsAll !== undefined && fitsAll > 0 && ask.sizeKib !== undefined && fitsAll >= ask.sizeKib) {
    // It fits now: something changed meanwhile, or a constraint query-size-info does not see.
    return { problem: `LINSTOR could not place ${asked}, though that fits now`, fix: 'repeat the operation; if it fails again, read LINSTOR\'s reason below', detail }
  }
  if (fitsAll !== undefined && fitsAll > 0) {
    // Enough nodes: the size is what does not fit.
    const closest = freest.slice(0, n + 1).map((x) => `${x.node} ${kibText(x.freeKib)} in ${x.pool}${x.kind !== '' ? ` (${x.kind})` : ''}`).join(', ')
    return {
      problem: `${asked} do not fit: the largest volume with ${replicas(n)} that fits now is ${kibText(fitsAll)}${closest !== '' ? ` (most free: ${closest})` : ''}`,
      fix: 'ask for a smaller volume, or free or add space in those pools',
      detail,
    }
  }
  if (fitsAll === undefined) {
    return { problem: `LINSTOR could not place ${asked}`, fix: 'read LINSTOR\'s reason below', detail }
  }
  // Too few nodes: how many replicas would fit at all, and how many nodes have a matching pool.
  let fits = 0
  for (let k = n - 1; k >= 1; k--) {
    const m = await maxSizeKib(client, group.name, overrides, k)
    if (m !== undefined && m > 0) {
      fits = k
      break
    }
  }
  const nodeNames = freest.map((x) => x.node)
  const matchText = nodeNames.length === 0 ? 'no online node has a matching storage pool' : `only ${nodeNames.length} online node${nodeNames.length === 1 ? ' has' : 's have'} a matching pool (${nodeNames.join(', ')})`
  const limit = fits < nodeNames.length && fits > 0 ? `; the filters allow at most ${replicas(fits)}` : ''
  const problem = `${asked}${ofGroup} asked, but ${matchText}${limit}`
  if (fits === 0) {
    return {
      setting: names.length > 0 ? 'storagePools' : countSetting,
      problem,
      fix: names.length > 0 ? 'check the pool names (linstor storage-pool list) and that their nodes are online' : 'add storage pools on online nodes (linstor storage-pool list)',
      detail,
    }
  }
  return {
    setting: countSetting,
    problem,
    fix: countSetting === 'placeCount' ? `ask for at most ${replicas(fits)}, or add nodes with matching pools` : `lower the group's place count to ${fits} (linstor resource-group modify ${group.name} --place-count ${fits}), or add nodes with matching pools`,
    detail,
  }
}

/**
 * A failed placement as PLACEMENT_FAILED with OperatorFacts (what was asked, what the cluster
 * offers). Falls back to LINSTOR's own text when measuring fails. Any other error is returned as it is.
 */
export async function explainPlacementFailure(
  client: LinstorClient,
  group: ResolvedGroup,
  policy: Readonly<PlacementPolicy>,
  resource: string,
  filter: AutoSelectFilter,
  cause: unknown,
): Promise<unknown> {
  if (!isPlacementFailure(cause)) return cause
  const placeCount = filter.place_count ?? group.filter.place_count ?? DEFAULT_PLACE_COUNT
  let facts: OperatorFacts
  try {
    const rds = await client.resourceDefinitions.list({ resourceDefinitions: [resource], withVolumeDefinitions: true })
    const rd = rds.find((r) => r.name.toLowerCase() === resource.toLowerCase())
    const sizeKib = rd === undefined || rd.volume_definitions.length === 0 ? undefined : rd.volume_definitions.reduce((s, v) => s + v.size_kib, 0)
    const merged = { ...group.filter, ...filter, place_count: placeCount }
    facts = await placementFacts(client, group, policy, { resource, ...(sizeKib !== undefined ? { sizeKib } : {}), placeCount, filter: merged }, cause)
  } catch {
    facts = { problem: `LINSTOR could not place ${replicas(placeCount)}`, fix: 'read LINSTOR\'s reason below', detail: `LINSTOR: ${linstorText(cause.message)}` }
  }
  return withFacts(
    new PluginError('PLACEMENT_FAILED', `cannot place ${resource}: ${facts.problem}; ${facts.fix ?? ''}\n${facts.detail ?? ''}`.trim(), { cause, context: { resource } }),
    facts,
  )
}
