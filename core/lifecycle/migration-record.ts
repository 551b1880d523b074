/**
 * The trace a live migration leaves on its resource definition while it runs: an Aux property
 * with both hosts, the start time, and what allow-two-primaries was on that connection before. It
 * is written before anything else changes and removed last, so a crash at any step leaves it
 * visible, and re-running the step (or the doctor) knows what to finish or undo.
 */
import { sameNode } from '../volumes/index.js'

export const AUX_MIGRATION = 'Aux/linstor-virt/migration'
export const ALLOW_TWO_PRIMARIES = 'DrbdOptions/Net/allow-two-primaries'

export interface MigrationRecord {
  from: string
  to: string
  /** ISO time the migration began. */
  since: string
  /** True when linstor-virt set allow-two-primaries on the from-to connection (and must restore it). */
  set: boolean
  /** The connection's own value before the migration; absent when it had none. */
  previous?: string
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

export function isPair(r: MigrationRecord, from: string, to: string): boolean {
  return sameNode(r.from, from) && sameNode(r.to, to)
}

/** DRBD booleans are yes/no; LINSTOR's own accept true/false too. */
export function isYes(v: string | undefined): boolean {
  return v !== undefined && ['yes', 'true'].includes(v.toLowerCase())
}
