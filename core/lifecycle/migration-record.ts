/**
 * The trace a live migration leaves on its resource definition while it runs: an Aux property
 * with both hosts, the start time, until when its begin may still write, and what
 * allow-two-primaries was on that connection before. It is written before anything else changes
 * and removed last, so a crash at any step leaves it visible, and re-running the step (or the
 * doctor) knows what to finish or undo.
 *
 * Hosts racing to begin migrations of one resource have no lock in common but LINSTOR, whose
 * property writes are each atomic and seen in one order by every reader, but have no
 * compare-and-set. So a begin first writes a claim under a key of its own (no two writers share a
 * key, so no claim overwrites another), then reads the definition back: a claim of another pair
 * seen there (or another pair's record) means a race, and the begin withdraws its claim and fails
 * with MIGRATION_CONFLICT. Of two racing begins at least the later reader sees the other's claim,
 * so at most one goes on (both may back off); the one that goes on turns its claim into the
 * record in one write. Claims and records carry `until`: the begin that wrote them sends nothing
 * after it (it runs within that budget), so after `until` (plus CLOCK_SKEW_MS for the hosts'
 * clocks) a record whose ends are not both in use is a left-over anyone may settle.
 *
 * Where linstor-virt switches allow-two-primaries on for a pair, a mark on the definition
 * (Aux/linstor-virt/dual-primary/<a>/<b>, written before the connection is changed and removed
 * after it is restored) keeps the value it replaced, so the doctor can tell linstor-virt's setting
 * from an operator's and remove one that no open migration accounts for.
 */
import { sameNode } from '../volumes/index.js'

export const AUX_MIGRATION = 'Aux/linstor-virt/migration'
export const ALLOW_TWO_PRIMARIES = 'DrbdOptions/Net/allow-two-primaries'
/** Claims of migrations being begun: one key per begin (a random suffix). */
export const AUX_MIGRATION_CLAIM = 'Aux/linstor-virt/migration-claim/'
/** allow-two-primaries linstor-virt switched on for a pair: one key per pair (node names lower-cased, sorted). */
export const AUX_DUAL_PRIMARY = 'Aux/linstor-virt/dual-primary/'
/** How far the hosts' clocks may be apart (they compare `until` written by another host). */
export const CLOCK_SKEW_MS = 30_000
/** Longest time a migration's begin runs (and may write); records of older versions are given this from `since`. */
export const MIGRATION_BEGIN_MS = 60_000

export interface MigrationRecord {
  from: string
  to: string
  /** ISO time the migration began. */
  since: string
  /** Epoch ms after which the begin that wrote it sends nothing more (absent in older records: since + MIGRATION_BEGIN_MS). */
  until?: number
  /** True when linstor-virt set allow-two-primaries on the from-to connection (and must restore it). */
  set: boolean
  /** The connection's own value before the migration; absent when it had none. */
  previous?: string
}

export interface MigrationClaim {
  key: string
  from: string
  to: string
  since: string
  until: number
}

export interface DualPrimaryMark {
  key: string
  /** The pair, as written in the key (lower case, sorted). */
  nodes: [string, string]
  /** The connection's value before linstor-virt set it; absent when it had none. */
  previous?: string
  since: string
}

/** The record in a definition's props; a malformed value counts as a record with unknown hosts. */
export function readMigrationRecord(props: Readonly<Record<string, string>>): MigrationRecord | undefined {
  const raw = props[AUX_MIGRATION]
  if (raw === undefined) return undefined
  try {
    const v = JSON.parse(raw) as Partial<MigrationRecord>
    if (typeof v.from === 'string' && typeof v.to === 'string') {
      return {
        from: v.from,
        to: v.to,
        since: typeof v.since === 'string' ? v.since : '',
        ...(typeof v.until === 'number' && Number.isFinite(v.until) ? { until: v.until } : {}),
        set: v.set === true,
        ...(typeof v.previous === 'string' ? { previous: v.previous } : {}),
      }
    }
  } catch {
    // fall through
  }
  return { from: '', to: '', since: '', set: false }
}

export function writeMigrationRecord(r: MigrationRecord): string {
  return JSON.stringify(r)
}

/** Until when (epoch ms) the begin of a record or claim may still write, on this host's clock. */
export function writesUntil(r: { since: string; until?: number }): number {
  if (r.until !== undefined) return r.until + CLOCK_SKEW_MS
  const since = Date.parse(r.since)
  return Number.isFinite(since) ? since + MIGRATION_BEGIN_MS + CLOCK_SKEW_MS : 0
}

/** The claims of migrations being begun. */
export function readClaims(props: Readonly<Record<string, string>>): MigrationClaim[] {
  const out: MigrationClaim[] = []
  for (const [key, raw] of Object.entries(props)) {
    if (!key.startsWith(AUX_MIGRATION_CLAIM)) continue
    try {
      const v = JSON.parse(raw) as Partial<MigrationClaim>
      out.push({ key, from: typeof v.from === 'string' ? v.from : '', to: typeof v.to === 'string' ? v.to : '', since: typeof v.since === 'string' ? v.since : '', until: typeof v.until === 'number' ? v.until : 0 })
    } catch {
      out.push({ key, from: '', to: '', since: '', until: 0 })
    }
  }
  return out
}

export function writeClaim(c: Omit<MigrationClaim, 'key'>): string {
  return JSON.stringify({ from: c.from, to: c.to, since: c.since, until: c.until })
}

/** The key of the mark of a pair (either order). */
export function dualPrimaryKey(a: string, b: string): string {
  const [x, y] = [a.toLowerCase(), b.toLowerCase()].sort() as [string, string]
  return `${AUX_DUAL_PRIMARY}${x}/${y}`
}

export function writeDualPrimaryMark(previous: string | undefined, since: string): string {
  return JSON.stringify({ ...(previous !== undefined ? { previous } : {}), since })
}

/** Every mark of allow-two-primaries linstor-virt set. */
export function readDualPrimaryMarks(props: Readonly<Record<string, string>>): DualPrimaryMark[] {
  const out: DualPrimaryMark[] = []
  for (const [key, raw] of Object.entries(props)) {
    if (!key.startsWith(AUX_DUAL_PRIMARY)) continue
    const nodes = key.slice(AUX_DUAL_PRIMARY.length).split('/')
    if (nodes.length !== 2 || nodes.some((n) => n === '')) continue
    let previous: string | undefined
    let since = ''
    try {
      const v = JSON.parse(raw) as { previous?: unknown; since?: unknown }
      if (typeof v.previous === 'string') previous = v.previous
      if (typeof v.since === 'string') since = v.since
    } catch {
      // A mark that cannot be read still says linstor-virt set it; nothing to restore but removal.
    }
    out.push({ key, nodes: nodes as [string, string], ...(previous !== undefined ? { previous } : {}), since })
  }
  return out
}

/** The mark of the pair a-b, if any. */
export function dualPrimaryMarkOf(props: Readonly<Record<string, string>>, a: string, b: string): DualPrimaryMark | undefined {
  const key = dualPrimaryKey(a, b)
  return readDualPrimaryMarks(props).find((m) => m.key === key)
}

export function isPair(r: { from: string; to: string }, from: string, to: string): boolean {
  return sameNode(r.from, from) && sameNode(r.to, to)
}

/** The record or mark is about the connection between a and b (in either direction). */
export function joins(r: { from: string; to: string }, a: string, b: string): boolean {
  return isPair(r, a, b) || isPair(r, b, a)
}

/** DRBD booleans are yes/no; LINSTOR's own accept true/false too. */
export function isYes(v: string | undefined): boolean {
  return v !== undefined && ['yes', 'true'].includes(v.toLowerCase())
}
