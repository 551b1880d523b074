/**
 * The autoplacer, as a pure function over a snapshot of the cluster (controller package
 * `autoplacer/`): filter the candidate storage pools, rate them with the weighted strategies,
 * then walk them depth-first in score order to pick one pool per node.
 *
 * Kept free of the state model so it can be unit-tested with plain tables.
 */
import type { AutoSelectFilter } from './model.js'

export interface PlacerPool {
  node: string
  pool: string
  providerKind: string
  /** Free capacity the satellite last reported, KiB (null = unknown, treated as 0). */
  freeKib: number | null
  /** Total capacity the satellite last reported, KiB (null = unknown). */
  totalKib: number | null
  /** Usable sizes of the pool's volumes plus its snapshot volumes, KiB (0 for diskless pools). */
  reservedKib: number
  /** Number of distinct resources with volumes in this pool. */
  rscCount: number
  /** Shared-space identity: "<node>;<pool>" for an ordinary pool. */
  freeSpaceMgrName: string
  /** MaxFreeCapacityOversubscriptionRatio (20 thin, 1 thick, Infinity diskless by default). */
  oversubFree: number
  /** MaxTotalCapacityOversubscriptionRatio. */
  oversubTotal: number
  thin: boolean
  /** Autoplacer/MinThinFreeSpace resolved to KiB (default 10 % of total). */
  minThinFreeKib: number
  /** False when the pool carries AutoplaceTarget=false. */
  autoplaceTarget: boolean
}

export interface PlacerNode {
  name: string
  online: boolean
  evacuating: boolean
  props: Readonly<Record<string, string>>
  /** False when AutoplaceTarget=false on the node or the controller. */
  autoplaceTarget: boolean
  layers: readonly string[]
  /** Names of the (non-deleting) resources this node hosts. */
  resources: readonly string[]
}

/** A replica of the resource being placed that already exists. */
export interface PlacerExisting {
  node: string
  pool: string
  providerKind: string
  diskless: boolean
}

export interface StrategyWeights {
  MaxFreeSpace: number
  MinReservedSpace: number
  MinRscCount: number
}

export const DEFAULT_WEIGHTS: StrategyWeights = { MaxFreeSpace: 1, MinReservedSpace: 0, MinRscCount: 0.00001 }

export interface PlacerRequest {
  /** The merged filter (request over resource group). */
  filter: AutoSelectFilter
  /** The resource being placed (added to not_place_with_rsc by the caller's contract). */
  rscName: string
  /** Sum of the volume definition sizes, KiB. */
  sizeKib: number
  /** How many new replicas to place. */
  count: number
  /** Place diskless replicas (on diskless pools) instead of diskful ones. */
  diskless: boolean
  nodes: readonly PlacerNode[]
  pools: readonly PlacerPool[]
  existing: readonly PlacerExisting[]
  /** Nodes exempt from "already placed" / not-place-with checks (they hold a diskless replica). */
  exemptNodes?: readonly string[]
  weights?: StrategyWeights
  /** AllowMixingStoragePoolDriver=true. */
  allowMixing?: boolean
}

export type PlacerResult =
  | { ok: true; selection: PlacerPool[] }
  | { ok: false; reason: 'not-enough-nodes' | 'undecidable'; message: string }

/** Upper bound of pool visits in the depth-first walk; keeps pathological inputs bounded. */
const MAX_STEPS = 200_000

const up = (s: string): string => s.toUpperCase()

/** Splits "key=value" (value fixed) from "key". */
function splitKeyValue(entry: string): { key: string; value: string | undefined } {
  const i = entry.indexOf('=')
  return i < 0 ? { key: entry, value: undefined } : { key: entry.slice(0, i), value: entry.slice(i + 1) }
}

/**
 * Estimated free space (FreeCapacityAutoPoolSelectorUtils):
 * min(free × freeRatio, total × totalRatio − reserved); unknown capacity counts as 0.
 */
export function estimateFreeKib(p: PlacerPool): number {
  if (p.freeKib === null || p.totalKib === null) return 0
  const byFree = p.oversubFree === Infinity ? Infinity : p.freeKib * p.oversubFree
  const byTotal = p.oversubTotal === Infinity ? Infinity : p.totalKib * p.oversubTotal - p.reservedKib
  return Math.min(byFree, byTotal)
}

/**
 * How many replicas an autoplace must add: additional_place_count when positive, else
 * place_count minus the existing diskful (or, with diskless_type, diskless) replicas.
 * A negative value means "more than requested already exist".
 */
export function placementCount(filter: AutoSelectFilter, existing: readonly PlacerExisting[]): number {
  const additional = filter.additional_place_count ?? 0
  if (additional > 0) return additional
  const wantDiskless = filter.diskless_type !== undefined && filter.diskless_type !== ''
  const have = existing.filter((x) => x.diskless === wantDiskless).length
  return (filter.place_count ?? 2) - have
}

interface Rated {
  pool: PlacerPool
  node: PlacerNode
  score: number
}

/** Candidate filter: returns the pools a new replica could go to (before the per-node walk). */
export function filterCandidates(req: PlacerRequest): { pools: Array<{ pool: PlacerPool; node: PlacerNode }>; undecidable?: string } {
  const f = req.filter
  const exempt = new Set((req.exemptNodes ?? []).map(up))
  const nodeByKey = new Map(req.nodes.map((n) => [up(n.name), n]))
  const existingNodes = req.existing.map((x) => nodeByKey.get(up(x.node))).filter((n): n is PlacerNode => n !== undefined)

  // replicas_on_same: the value every chosen node must share, fixed by "key=value", else by
  // already deployed replicas; two different deployed values cannot be satisfied.
  const sameFixed = new Map<string, string | undefined>()
  for (const entry of f.replicas_on_same ?? []) {
    const { key, value } = splitKeyValue(entry)
    let fixed = value
    if (fixed === undefined) {
      const seen = new Set(existingNodes.map((n) => n.props[key]).filter((v): v is string => v !== undefined))
      if (seen.size > 1) return { pools: [], undecidable: `Replicas on same '${key}' is undecidable: deployed replicas have values ${[...seen].join(', ')}` }
      fixed = [...seen][0]
    }
    sameFixed.set(key, fixed)
  }
  const notWith = new Set((f.not_place_with_rsc ?? []).map(up))
  let notWithRe: RegExp | undefined
  if (f.not_place_with_rsc_regex !== undefined && f.not_place_with_rsc_regex !== '') {
    try {
      notWithRe = new RegExp(f.not_place_with_rsc_regex, 'i')
    } catch {
      notWithRe = undefined
    }
  }
  const nodeList = f.node_name_list !== undefined && f.node_name_list.length > 0 ? new Set(f.node_name_list.map(up)) : undefined
  const poolList = (() => {
    const list = f.storage_pool_list !== undefined && f.storage_pool_list.length > 0 ? f.storage_pool_list : f.storage_pool !== undefined && f.storage_pool !== '' ? [f.storage_pool] : []
    return list.length > 0 ? new Set(list.map(up)) : undefined
  })()
  const disklessList = f.storage_pool_diskless_list !== undefined && f.storage_pool_diskless_list.length > 0 ? new Set(f.storage_pool_diskless_list.map(up)) : undefined
  const providers = f.provider_list !== undefined && f.provider_list.length > 0 ? new Set(f.provider_list.map(up)) : undefined
  // StorPoolFilter: an NVMe initiator needs the layers as given; a DRBD diskless replica needs
  // DRBD; a diskful replica of a stack with NVMe is a target, which needs NVMe and below only.
  let layers = [...(f.layer_stack ?? [])].map(up)
  if (req.diskless && up(f.diskless_type ?? '') !== 'NVME_INITIATOR' && !layers.includes('DRBD')) layers.unshift('DRBD')
  if (!req.diskless && layers.includes('NVME')) layers = layers.slice(layers.indexOf('NVME'))

  const out: Array<{ pool: PlacerPool; node: PlacerNode }> = []
  for (const pool of req.pools) {
    const node = nodeByKey.get(up(pool.node))
    if (node === undefined || !node.online || node.evacuating || !node.autoplaceTarget) continue
    const isDisklessPool = pool.providerKind === 'DISKLESS' || pool.providerKind === 'EBS_INIT'
    if (req.diskless !== isDisklessPool) continue
    if (nodeList !== undefined && !nodeList.has(up(node.name))) continue
    let ok = true
    for (const [key, fixed] of sameFixed) {
      const v = node.props[key]
      if (v === undefined || (fixed !== undefined && v !== fixed)) ok = false
    }
    for (const entry of f.replicas_on_different ?? []) {
      const { key, value } = splitKeyValue(entry)
      const v = node.props[key]
      if (v === undefined) continue
      if (value !== undefined) {
        if (v === value) ok = false
        continue
      }
      const limit = f.x_replicas_on_different_map?.[key] ?? 1
      const used = existingNodes.filter((n) => n.props[key] === v).length
      if (used >= limit) ok = false
    }
    if (!ok) continue
    if (layers.some((l) => !node.layers.map(up).includes(l))) continue
    if (!exempt.has(up(node.name))) {
      const hosts = node.resources.some((r) => notWith.has(up(r)) || (notWithRe !== undefined && notWithRe.test(r)))
      if (hosts) continue
    }
    if (!pool.autoplaceTarget) continue
    if (req.diskless) {
      if (disklessList !== undefined && !disklessList.has(up(pool.pool))) continue
    } else {
      const estimate = estimateFreeKib(pool)
      if (estimate < req.sizeKib) continue
      if (pool.thin && estimate < pool.minThinFreeKib) continue
      if (poolList !== undefined && !poolList.has(up(pool.pool))) continue
      if (providers !== undefined && !providers.has(up(pool.providerKind))) continue
    }
    out.push({ pool, node })
  }
  return { pools: out }
}

/** Scores pools: per strategy raw / max non-zero raw, times the (signed) weight, summed. */
export function ratePools(cands: ReadonlyArray<{ pool: PlacerPool; node: PlacerNode }>, weights: StrategyWeights = DEFAULT_WEIGHTS): Rated[] {
  const strategies: Array<{ raw: (p: PlacerPool) => number; weight: number }> = [
    { raw: (p) => p.freeKib ?? 0, weight: weights.MaxFreeSpace },
    { raw: (p) => (p.providerKind === 'DISKLESS' ? 0 : p.reservedKib), weight: -weights.MinReservedSpace },
    { raw: (p) => p.rscCount, weight: -weights.MinRscCount },
  ]
  const scores = cands.map(() => 0)
  for (const s of strategies) {
    const raws = cands.map((c) => s.raw(c.pool))
    const max = raws.reduce((m, v) => (v > m ? v : m), 0)
    raws.forEach((v, i) => {
      const norm = max === 0 ? v : v / max
      scores[i] = (scores[i] ?? 0) + norm * s.weight
    })
  }
  return cands.map((c, i) => ({ pool: c.pool, node: c.node, score: scores[i] ?? 0 }))
}

function sortRated(r: Rated[]): Rated[] {
  // The tie-break keys are upper-cased once per pool rather than in every comparison (placement
  // runs once per resource when a cluster file seeds thousands of them).
  const keyed = r.map((x) => ({ x, node: up(x.pool.node), pool: up(x.pool.pool) }))
  keyed.sort((a, b) => {
    if (a.x.score !== b.x.score) return b.x.score - a.x.score
    if (a.node !== b.node) return a.node < b.node ? -1 : 1
    return a.pool < b.pool ? -1 : a.pool > b.pool ? 1 : 0
  })
  return keyed.map((k) => k.x)
}

/** Runs filter → rate → select. */
export function autoplace(req: PlacerRequest): PlacerResult {
  const { pools: cands, undecidable } = filterCandidates(req)
  if (undecidable !== undefined) return { ok: false, reason: 'undecidable', message: undecidable }
  const rated = sortRated(ratePools(cands, req.weights))
  const f = req.filter
  const exempt = new Set((req.exemptNodes ?? []).map(up))
  const nodeProps = new Map(req.nodes.map((n) => [up(n.name), n.props]))
  const occupied = new Set(req.existing.filter((x) => !exempt.has(up(x.node))).map((x) => up(x.node)))
  const deployedKinds = new Set(req.existing.filter((x) => !x.diskless).map((x) => x.providerKind))

  const sameKeys = (f.replicas_on_same ?? []).map(splitKeyValue)
  const diffKeys = (f.replicas_on_different ?? []).map(splitKeyValue).filter((x) => x.value === undefined)
  const existingProps = req.existing.map((x) => nodeProps.get(up(x.node)) ?? {})

  const chosen: Rated[] = []
  let steps = 0

  const allowed = (c: Rated): boolean => {
    const nk = up(c.pool.node)
    if (occupied.has(nk) || chosen.some((x) => up(x.pool.node) === nk)) return false
    if (chosen.some((x) => x.pool.freeSpaceMgrName === c.pool.freeSpaceMgrName)) return false
    if (!req.diskless && req.allowMixing !== true) {
      const kinds = new Set([...deployedKinds, ...chosen.map((x) => x.pool.providerKind)])
      if (kinds.size > 0 && !kinds.has(c.pool.providerKind)) return false
    }
    for (const { key } of sameKeys) {
      const first = chosen[0]
      if (first !== undefined && first.node.props[key] !== c.node.props[key]) return false
    }
    for (const { key } of diffKeys) {
      const v = c.node.props[key]
      if (v === undefined) continue
      const limit = f.x_replicas_on_different_map?.[key] ?? 1
      const used = existingProps.filter((p) => p[key] === v).length + chosen.filter((x) => x.node.props[key] === v).length
      if (used >= limit) return false
    }
    return true
  }

  const complete = (): boolean => {
    for (const { key } of diffKeys) {
      const limit = f.x_replicas_on_different_map?.[key] ?? 1
      if (limit <= 1) continue
      const counts = new Map<string, number>()
      for (const p of [...existingProps, ...chosen.map((x) => x.node.props)]) {
        const v = p[key]
        if (v !== undefined) counts.set(v, (counts.get(v) ?? 0) + 1)
      }
      const partial = [...counts.values()].filter((n) => n > 0 && n < limit).length
      if (partial > 1) return false
    }
    return true
  }

  const walk = (from: number): boolean => {
    if (chosen.length === req.count) return complete()
    for (let i = from; i < rated.length; i++) {
      if (++steps > MAX_STEPS) return false
      const c = rated[i]
      if (c === undefined || !allowed(c)) continue
      chosen.push(c)
      if (walk(i + 1)) return true
      chosen.pop()
    }
    return false
  }

  if (req.count <= 0) return { ok: true, selection: [] }
  if (walk(0)) return { ok: true, selection: chosen.map((c) => c.pool) }
  return { ok: false, reason: 'not-enough-nodes', message: 'Not enough available nodes' }
}
