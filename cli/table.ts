/**
 * The plain-text tables the CLI prints: the sandbox's node-by-role tables after each step and
 * `linstor-virt status`. Columns are left-aligned and padded to the widest cell (or a minimum
 * width); the last column is not padded, so no line ends in blanks.
 */
import type { ReplicaKind } from '../core/volumes/index.js'

export interface Column {
  header: string
  /** At least this wide (the header and the cells widen it). */
  minWidth?: number
}

/** Lines of a table: a header line, then one line per row, each prefixed with `indent`. */
export function renderTable(columns: readonly Column[], rows: readonly (readonly string[])[], indent = '  '): string[] {
  const widths = columns.map((c, i) => Math.max(c.minWidth ?? 0, c.header.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]): string => {
    const parts = columns.map((_, i) => (i === columns.length - 1 ? (cells[i] ?? '') : (cells[i] ?? '').padEnd(widths[i] ?? 0)))
    return (indent + parts.join(' ')).trimEnd()
  }
  return [line(columns.map((c) => c.header)), ...rows.map(line)]
}

/** The sandbox's node-by-role columns; `status` prints the same four per volume. */
export const NODE_TABLE_COLUMNS: readonly Column[] = [
  { header: 'node', minWidth: 8 },
  { header: 'replica', minWidth: 16 },
  { header: 'disk', minWidth: 9 },
  { header: 'role' },
]

/** How a replica's kind reads in the tables. */
export function replicaLabel(kind: ReplicaKind): string {
  return kind === 'diskful' ? 'diskful' : kind === 'tiebreaker' ? 'tie-breaker' : 'diskless client'
}
