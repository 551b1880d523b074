/**
 * State persistence: one JSON document at STATE/state.json, replaced atomically (write a temp
 * file, fsync, rename) after every successful mutation, so a restart (or a crash) never sees a
 * half-written state.
 */
import fs from 'node:fs'
import path from 'node:path'
import type { EmulatorState } from './model.js'

export const STATE_FILE = 'state.json'

export function saveState(dir: string, state: EmulatorState): void {
  const file = path.join(dir, STATE_FILE)
  const tmp = `${file}.tmp-${process.pid}`
  const fd = fs.openSync(tmp, 'w')
  try {
    fs.writeFileSync(fd, JSON.stringify(state))
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
  fs.renameSync(tmp, file)
}

export function loadState(dir: string): EmulatorState | undefined {
  const file = path.join(dir, STATE_FILE)
  if (!fs.existsSync(file)) return undefined
  const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as EmulatorState
  if (parsed.version !== 1) throw new Error(`unsupported emulator state version in ${file}`)
  return parsed
}

/** Identity of the state file as last written or read (inode, size, mtime). */
export function stateSignature(dir: string): string | undefined {
  try {
    const st = fs.statSync(path.join(dir, STATE_FILE))
    return `${st.ino}:${st.size}:${st.mtimeMs}`
  } catch {
    return undefined
  }
}
