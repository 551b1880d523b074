/**
 * Capacity accounting of the emulated storage pools.
 *
 * - Thick pools (LVM, ZFS, FILE) allocate the full volume size when a replica is created.
 * - Thin pools allocate what has actually been written: the blocks of the volume's sparse data
 *   file (what `lvs` would report as data percent).
 * - Diskless pools report Long.MAX_VALUE, like the satellite's DisklessProvider.
 * The free capacity reported is total − (space used outside LINSTOR) − allocations.
 */
import type { Emu } from './context.js'
import type { EmulatorState, NodeState, PoolState, Props, ResourceDefinitionState } from './model.js'
import { ALLOCATION_REPORT_MS } from './data-store.js'
import { DISKLESS_KINDS, THIN_KINDS, findRg, prioProp, vlmDfns } from './model.js'
import { nameKey } from './names.js'
import type { PlacerPool } from './autoplacer.js'

export interface PoolUsage {
  allocatedKib: number
  /** Usable sizes of volumes plus snapshot volumes placed in the pool. */
  reservedKib: number
  rscCount: number
}

export function isThin(pool: PoolState): boolean {
  return THIN_KINDS.has(pool.providerKind)
}

export function isDisklessPool(pool: PoolState): boolean {
  return DISKLESS_KINDS.has(pool.providerKind)
}

/** KiB a replica's volume occupies in its pool. */
export function volumeAllocatedKib(emu: Emu, rd: ResourceDefinitionState, pool: PoolState, vlmNr: number, sizeKib: number): number {
  if (isDisklessPool(pool)) return 0
  if (isThin(pool)) return emu.data.allocatedKib(nameKey(rd.name), vlmNr)
  return sizeKib
}

export function poolUsage(emu: Emu, node: NodeState, pool: PoolState): PoolUsage {
  const snap = emu.usage?.get(pool)
  if (snap !== undefined) return snap
  const nk = nameKey(node.name)
  const pk = nameKey(pool.name)
  // During a bulk load, definitions already folded into the totals are not scanned again.
  const settled = emu.bulk?.pools.get(pool)
  let allocatedKib = settled?.allocatedKib ?? 0
  let reservedKib = settled?.reservedKib ?? 0
  let rscCount = settled?.rscCount ?? 0
  for (const rd of emu.bulk?.pending ?? Object.values(emu.state.resourceDefinitions)) {
    const r = rd.resources[nk]
    let counted = false
    if (r !== undefined && nameKey(r.storPool) === pk) {
      for (const vd of vlmDfns(rd)) {
        allocatedKib += volumeAllocatedKib(emu, rd, pool, vd.volumeNumber, vd.sizeKib)
        if (!isDisklessPool(pool)) reservedKib += vd.sizeKib
      }
      counted = vlmDfns(rd).length > 0
    }
    for (const snap of Object.values(rd.snapshots)) {
      for (const sn of snap.nodes) {
        if (nameKey(sn.node) !== nk || nameKey(sn.storPool) !== pk || isDisklessPool(pool)) continue
        for (const v of snap.volumeDefinitions) reservedKib += v.sizeKib
      }
    }
    if (counted) rscCount++
  }
  return { allocatedKib, reservedKib, rscCount }
}

/** Free capacity as the satellite would report it (KiB), or null when never reported. */
export function poolFreeKib(emu: Emu, node: NodeState, pool: PoolState): number | null {
  if (pool.totalKib === null) return null
  const used = poolUsage(emu, node, pool).allocatedKib
  return Math.max(0, pool.totalKib - pool.foreignUsedKib - used)
}

function ratio(v: string | undefined): number | undefined {
  if (v === undefined) return undefined
  const n = Number(v)
  return Number.isFinite(n) && n > 0 ? n : undefined
}

/** Oversubscription ratios: pool → controller props; default 20 thin, 1 thick, ∞ diskless. */
export function oversubscription(emu: Emu, pool: PoolState): { free: number; total: number } {
  if (isDisklessPool(pool)) return { free: Infinity, total: Infinity }
  const cp = emu.state.controllerProps
  const base = ratio(prioProp('MaxOversubscriptionRatio', pool.props, cp)) ?? (isThin(pool) ? 20 : 1)
  return {
    free: ratio(prioProp('MaxFreeCapacityOversubscriptionRatio', pool.props, cp)) ?? base,
    total: ratio(prioProp('MaxTotalCapacityOversubscriptionRatio', pool.props, cp)) ?? base,
  }
}

/** Autoplacer/MinThinFreeSpace as KiB: "<n>%" of total or a KiB number; default 10 %. */
export function minThinFreeKib(totalKib: number | null, ...maps: (Props | undefined)[]): number {
  const raw = prioProp('Autoplacer/MinThinFreeSpace', ...maps)
  const total = totalKib ?? 0
  if (raw === undefined) return total * 0.1
  const m = /^\s*([0-9.]+)\s*%\s*$/.exec(raw)
  if (m !== null) return (total * Number(m[1])) / 100
  const n = Number(raw)
  return Number.isFinite(n) ? n : total * 0.1
}

/** The autoplacer's view of one pool. */
export function placerPool(emu: Emu, node: NodeState, pool: PoolState, rd?: ResourceDefinitionState): PlacerPool {
  const usage = poolUsage(emu, node, pool)
  const os = oversubscription(emu, pool)
  const rg = rd === undefined ? undefined : findRg(emu.state, rd.resourceGroup)
  const diskless = isDisklessPool(pool)
  return {
    node: node.name,
    pool: pool.name,
    providerKind: pool.providerKind,
    freeKib: diskless ? Number.MAX_SAFE_INTEGER : poolFreeKib(emu, node, pool),
    totalKib: diskless ? Number.MAX_SAFE_INTEGER : pool.totalKib,
    reservedKib: usage.reservedKib,
    rscCount: usage.rscCount,
    freeSpaceMgrName: `${node.name};${pool.name}`,
    oversubFree: os.free,
    oversubTotal: os.total,
    thin: isThin(pool),
    minThinFreeKib: minThinFreeKib(pool.totalKib, pool.props, rd?.props, rg?.props, node.props, emu.state.controllerProps),
    autoplaceTarget: !/^false$/i.test(pool.props['AutoplaceTarget'] ?? ''),
  }
}

const lastUsage = new WeakMap<Emu, { state: EmulatorState; saves: number; dataGeneration: number; at: number; usage: Map<PoolState, PoolUsage> }>()

/** Every pool's usage in one pass over the definitions (same rules as poolUsage). */
function allPoolUsage(emu: Emu): Map<PoolState, PoolUsage> {
  const out = new Map<PoolState, PoolUsage>()
  const state = emu.state
  const entry = (pool: PoolState): PoolUsage => {
    let u = out.get(pool)
    if (u === undefined) {
      u = { allocatedKib: 0, reservedKib: 0, rscCount: 0 }
      out.set(pool, u)
    }
    return u
  }
  for (const node of Object.values(state.nodes)) for (const pool of Object.values(node.pools)) entry(pool)
  for (const rd of Object.values(state.resourceDefinitions)) {
    const vds = vlmDfns(rd)
    // Thin allocation is per volume (every replica shares its data file): measure it once.
    const thinKib = new Map<number, number>()
    for (const [nk, r] of Object.entries(rd.resources)) {
      const pool = state.nodes[nk]?.pools[nameKey(r.storPool)]
      if (pool === undefined) continue
      const u = entry(pool)
      for (const vd of vds) {
        let kib: number
        if (isDisklessPool(pool)) kib = 0
        else if (isThin(pool)) {
          kib = thinKib.get(vd.volumeNumber) ?? emu.data.allocatedKib(nameKey(rd.name), vd.volumeNumber)
          thinKib.set(vd.volumeNumber, kib)
        } else kib = vd.sizeKib
        u.allocatedKib += kib
        if (!isDisklessPool(pool)) u.reservedKib += vd.sizeKib
      }
      if (vds.length > 0) u.rscCount++
    }
    for (const snap of Object.values(rd.snapshots)) {
      for (const sn of snap.nodes) {
        const pool = state.nodes[nameKey(sn.node)]?.pools[nameKey(sn.storPool)]
        if (pool === undefined || isDisklessPool(pool)) continue
        for (const v of snap.volumeDefinitions) entry(pool).reservedKib += v.sizeKib
      }
    }
  }
  return out
}

/**
 * Runs a read-only computation (a size query, a pool view) with every pool's usage computed once.
 * Nothing may change the state inside `f`: the snapshot would go stale.
 */
export function withUsageSnapshot<T>(emu: Emu, f: () => T): T {
  if (emu.usage !== undefined || emu.bulk !== undefined) return f()
  // Size queries and pool views often come together (a status asks both): one pass serves all
  // of them until the state or the data changes, or a satellite would have reported anew.
  const now = Date.now()
  const last = lastUsage.get(emu)
  const fresh =
    last !== undefined && last.state === emu.state && last.saves === (emu.saves ?? 0) && last.dataGeneration === emu.data.generation && now - last.at < ALLOCATION_REPORT_MS
  const usage = fresh ? last.usage : allPoolUsage(emu)
  if (!fresh) lastUsage.set(emu, { state: emu.state, saves: emu.saves ?? 0, dataGeneration: emu.data.generation, at: now, usage })
  emu.usage = usage
  try {
    return f()
  } finally {
    emu.usage = undefined
  }
}
