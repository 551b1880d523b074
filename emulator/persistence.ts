/**
 * State persistence: a base document at STATE/state.json and, after it, a journal at
 * STATE/state.journal with one line per change: the entries the change touched (a resource
 * definition, node, resource group or clone by its key, or a top-level field), each as it is now
 * (journal.ts). A change appends its line (fsync), so its cost is what it touched, not the size of
 * the state; a restart (or a crash) reads the base and replays the complete lines (a line cut short
 * by a crash is no change at all). When the journal has grown past the base (and a floor), the
 * whole state becomes the new base: written to a temporary file, fsync, renamed over state.json,
 * then the journal is emptied. A crash between the two replays lines the base already holds,
 * which sets each entry to the value it has anyway.
 *
 * A second emulator on the same directory (a standby controller) sees the other's changes by the
 * signature of both files and reads them again (index.ts).
 */
import fs from 'node:fs'
import path from 'node:path'
import { SEPARATOR } from './journal.js'
import type { EntryKey } from './journal.js'
import type { EmulatorState } from './model.js'

export const STATE_FILE = 'state.json'
export const JOURNAL_FILE = 'state.journal'

/**
 * Whether a change waits for the disk (fsync) before its reply. LINSTOR_EMU_FSYNC=0 skips it: the
 * bytes still reach the file before the reply (a killed emulator loses nothing), only a crash of
 * the machine itself could. The test runner sets it (thousands of test worlds on a shared disk).
 */
const DURABLE = process.env['LINSTOR_EMU_FSYNC'] !== '0'

/** The journal is folded into the base once it is larger than the base and than this. */
export const JOURNAL_FLOOR_BYTES = 256 * 1024

function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`
  const fd = fs.openSync(tmp, 'w')
  try {
    fs.writeFileSync(fd, text)
    if (DURABLE) fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
  fs.renameSync(tmp, file)
}

function size(file: string): number {
  try {
    return fs.statSync(file).size
  } catch {
    return 0
  }
}

/** Writes the whole state as the new base and empties the journal. */
export function saveState(dir: string, state: EmulatorState): void {
  const text = JSON.stringify(state)
  writeAtomically(path.join(dir, STATE_FILE), text)
  const journal = path.join(dir, JOURNAL_FILE)
  if (fs.existsSync(journal)) fs.truncateSync(journal, 0)
}

/** One journal line: [collection or field, key (null for a field), value (absent: removed)] per entry. */
type JournalEntry = [string, string | null, unknown?]

function entriesOf(state: EmulatorState, touched: Iterable<EntryKey>): JournalEntry[] {
  const out: JournalEntry[] = []
  const root = state as unknown as Record<string, unknown>
  for (const t of touched) {
    const i = t.indexOf(SEPARATOR)
    if (i < 0) {
      out.push(root[t] === undefined ? [t, null] : [t, null, root[t]])
      continue
    }
    const collection = t.slice(0, i)
    const key = t.slice(i + 1)
    const map = root[collection] as Record<string, unknown> | undefined
    // A key whose whole collection was replaced is written with the collection (its own entry).
    if (map === undefined) continue
    out.push(map[key] !== undefined ? [collection, key, map[key]] : [collection, key])
  }
  return out
}

/**
 * Persists a change: one journal line with the entries it touched; the whole state as a new base
 * when the journal has outgrown it. Nothing is written for a change that touched nothing.
 */
export function saveChange(dir: string, state: EmulatorState, touched: ReadonlySet<EntryKey>): void {
  if (touched.size === 0) return
  const journal = path.join(dir, JOURNAL_FILE)
  let line = `${JSON.stringify(entriesOf(state, touched))}\n`
  const fd = fs.openSync(journal, 'a+')
  let journalBytes: number
  try {
    // A line a crash cut short (of this emulator, or of another on the same directory) is ended
    // first, so that it stays a line of its own that a restart passes over.
    const end = fs.fstatSync(fd).size
    if (end > 0) {
      const last = Buffer.alloc(1)
      fs.readSync(fd, last, 0, 1, end - 1)
      if (last[0] !== 0x0a) line = `\n${line}`
    }
    fs.writeSync(fd, line)
    if (DURABLE) fs.fsyncSync(fd)
    journalBytes = fs.fstatSync(fd).size
  } finally {
    fs.closeSync(fd)
  }
  if (journalBytes > JOURNAL_FLOOR_BYTES && journalBytes > size(path.join(dir, STATE_FILE))) saveState(dir, state)
}

function apply(state: EmulatorState, entries: JournalEntry[]): void {
  const root = state as unknown as Record<string, unknown>
  for (const e of entries) {
    const [where, key] = e
    if (key === null) {
      if (e.length > 2) root[where] = e[2]
      else delete root[where]
      continue
    }
    const map = (root[where] ??= {}) as Record<string, unknown>
    if (e.length > 2) map[key] = e[2]
    else delete map[key]
  }
}

export function loadState(dir: string): EmulatorState | undefined {
  const file = path.join(dir, STATE_FILE)
  if (!fs.existsSync(file)) return undefined
  const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as EmulatorState
  if (parsed.version !== 1) throw new Error(`unsupported emulator state version in ${file}`)
  const journal = path.join(dir, JOURNAL_FILE)
  if (!fs.existsSync(journal)) return parsed
  const lines = fs.readFileSync(journal, 'utf8').split('\n')
  // The last piece is what follows the last newline: empty, or a line a crash cut short.
  lines.pop()
  for (const line of lines) {
    // Every line written whole is a JSON array; one that is not was cut short by a crash (and
    // ended by the next change, saveChange): a change never acknowledged, so no change at all.
    let entries: unknown
    try {
      entries = JSON.parse(line)
    } catch {
      continue
    }
    if (Array.isArray(entries)) apply(parsed, entries as JournalEntry[])
  }
  if (parsed.version !== 1) throw new Error(`unsupported emulator state version in ${journal}`)
  return parsed
}

function signatureOf(file: string): string {
  try {
    const st = fs.statSync(file)
    return `${st.ino}:${st.size}:${st.mtimeMs}`
  } catch {
    return '-'
  }
}

/** Identity of the persisted state as last written or read (both files: inode, size, mtime). */
export function stateSignature(dir: string): string | undefined {
  const base = signatureOf(path.join(dir, STATE_FILE))
  if (base === '-') return undefined
  return `${base}|${signatureOf(path.join(dir, JOURNAL_FILE))}`
}
