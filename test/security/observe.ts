/**
 * Watches, inside the test process, what the code under test does to the machine: every child
 * process it starts (program, argv, environment) and every file-system path it opens, creates,
 * removes, renames or links. Production code is not changed: the exports of node:child_process,
 * node:fs and node:fs/promises are wrapped, and `syncBuiltinESMExports()` makes the ESM named
 * imports that modules already hold (`import { spawn } from 'node:child_process'`) see the
 * wrappers too. Asynchronous children of every kind (spawn, execFile, exec, fork) go through
 * `ChildProcess.prototype.spawn`, which is wrapped as well; the synchronous ones through the
 * exported spawnSync/execFileSync/execSync.
 *
 * Nothing is recorded unless a recording is open (`record(fn)`), so test set-up stays out of it.
 * Everything in this process is recorded while one is open, the in-process emulator included:
 * the checks then allow its state directory like any other root.
 */
import type * as ChildProcessModule from 'node:child_process'
import type * as FsModule from 'node:fs'
import { createRequire, syncBuiltinESMExports } from 'node:module'
import { basename, isAbsolute, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface ChildRecord {
  /** The program as given (a name found on PATH, or a path). */
  file: string
  /** argv after argv[0]. */
  args: string[]
  /** The child's environment as KEY=value strings. */
  env: string[]
  how: 'async' | 'spawnSync' | 'execFileSync' | 'execSync'
}

export interface PathRecord {
  op: string
  /** The path as the code gave it. */
  path: string
  /** write: created, written, removed, renamed, linked, chmod'ed; read: opened for reading, listed, stat'ed. */
  kind: 'read' | 'write'
}

export interface Recording {
  children: ChildRecord[]
  paths: PathRecord[]
}

type AnyFn = (...args: unknown[]) => unknown

// The CommonJS module objects: their properties are what the ESM named exports mirror.
const load = createRequire(import.meta.url)
const cp = load('node:child_process') as Record<string, unknown>
const fs = load('node:fs') as Record<string, unknown>
const fsp = load('node:fs/promises') as Record<string, unknown>
const ChildProcessClass = cp['ChildProcess'] as typeof ChildProcessModule.ChildProcess
const O_FLAGS = (fs as unknown as typeof FsModule).constants

let current: Recording | undefined
let installed = false

function pathOf(p: unknown): string | undefined {
  if (typeof p === 'string') return p
  if (Buffer.isBuffer(p)) return p.toString('utf8')
  if (p instanceof URL) return p.protocol === 'file:' ? fileURLToPath(p) : undefined
  return undefined
}

function note(op: string, p: unknown, kind: 'read' | 'write'): void {
  const path = pathOf(p)
  if (current !== undefined && path !== undefined) current.paths.push({ op, path, kind })
}

const WRITE_FLAGS = /[wax+]/

function openKind(flags: unknown): 'read' | 'write' {
  if (flags === undefined || flags === null) return 'read'
  if (typeof flags === 'number') {
    const c = O_FLAGS
    return (flags & (c.O_WRONLY | c.O_RDWR | c.O_CREAT | c.O_TRUNC | c.O_APPEND)) !== 0 ? 'write' : 'read'
  }
  return typeof flags === 'string' && WRITE_FLAGS.test(flags) ? 'write' : 'read'
}

function streamKind(options: unknown): 'read' | 'write' {
  return typeof options === 'object' && options !== null ? openKind((options as { flags?: unknown }).flags) : 'read'
}

/** How a file-system function touches its path arguments: [argument index, kind] pairs. */
type Touches = (args: unknown[]) => [number, 'read' | 'write'][]

const W0: Touches = () => [[0, 'write']]
const R0: Touches = () => [[0, 'read']]
const BOTH_W: Touches = () => [[0, 'write'], [1, 'write']]
const COPY: Touches = () => [[0, 'read'], [1, 'write']]
/** symlink(target, path): the link is written; its target is where it leads, checked like a write. */
const LINK: Touches = () => [[0, 'write'], [1, 'write']]

const FS_FUNCTIONS: Record<string, Touches> = {
  open: (a) => [[0, openKind(a[1])]],
  mkdir: W0,
  mkdtemp: W0,
  rm: W0,
  rmdir: W0,
  unlink: W0,
  rename: BOTH_W,
  symlink: LINK,
  link: LINK,
  copyFile: COPY,
  cp: COPY,
  truncate: W0,
  writeFile: W0,
  appendFile: W0,
  chmod: W0,
  chown: W0,
  lchown: W0,
  utimes: W0,
  lutimes: W0,
  readFile: R0,
  readdir: R0,
  stat: R0,
  lstat: R0,
  realpath: R0,
  access: R0,
  readlink: R0,
  opendir: R0,
  statfs: R0,
}

function wrap(target: Record<string, unknown>, name: string, label: string, touches: Touches): void {
  const original = target[name]
  if (typeof original !== 'function') return
  const fn = original as AnyFn
  const wrapped = function (this: unknown, ...args: unknown[]): unknown {
    if (current !== undefined) for (const [i, kind] of touches(args)) note(label, args[i], kind)
    return fn.apply(this, args)
  }
  // Keep attached helpers (fs.realpath.native and the like).
  for (const key of Object.keys(fn)) (wrapped as unknown as Record<string, unknown>)[key] = (fn as unknown as Record<string, unknown>)[key]
  target[name] = wrapped
}

function envPairs(env: unknown): string[] {
  const e = (env ?? process.env) as Record<string, string | undefined>
  return Object.entries(e).map(([k, v]) => `${k}=${v ?? ''}`)
}

function recordChild(file: string, args: string[], env: string[], how: ChildRecord['how']): void {
  current?.children.push({ file, args, env, how })
}

function install(): void {
  if (installed) return
  installed = true
  for (const [name, touches] of Object.entries(FS_FUNCTIONS)) {
    wrap(fs, name, name, touches)
    wrap(fs, `${name}Sync`, `${name}Sync`, touches)
    wrap(fsp, name, `promises.${name}`, touches)
  }
  wrap(fs, 'existsSync', 'existsSync', R0)
  wrap(fs, 'createReadStream', 'createReadStream', (a) => [[0, streamKind(a[1]) === 'write' ? 'write' : 'read']])
  wrap(fs, 'createWriteStream', 'createWriteStream', W0)

  // Every asynchronous child (spawn, execFile, exec, fork) is made here; options carry the final
  // file, argv (argv[0] included) and environment (envPairs).
  const proto = ChildProcessClass.prototype as unknown as { spawn: AnyFn }
  const protoSpawn = proto.spawn
  proto.spawn = function (this: unknown, ...a: unknown[]): unknown {
    const o = (a[0] ?? {}) as { file?: string; args?: string[]; envPairs?: string[] }
    if (current !== undefined) recordChild(String(o.file), (o.args ?? []).slice(1), [...(o.envPairs ?? [])], 'async')
    return protoSpawn.apply(this, a)
  }
  for (const how of ['spawnSync', 'execFileSync'] as const) {
    const original = cp[how] as AnyFn
    cp[how] = function (this: unknown, ...a: unknown[]): unknown {
      if (current !== undefined) {
        const args = Array.isArray(a[1]) ? (a[1] as unknown[]).map(String) : []
        const opts = (Array.isArray(a[1]) ? a[2] : a[1]) as { env?: unknown } | undefined
        recordChild(String(a[0]), args, envPairs(opts?.env), how)
      }
      return original.apply(this, a)
    }
  }
  const execSync = cp['execSync'] as AnyFn
  cp['execSync'] = function (this: unknown, ...a: unknown[]): unknown {
    // Always a shell: recorded as one, so the checks see it for what it is.
    if (current !== undefined) recordChild('/bin/sh', ['-c', String(a[0])], envPairs((a[1] as { env?: unknown } | undefined)?.env), 'execSync')
    return execSync.apply(this, a)
  }
  syncBuiltinESMExports()
}

/**
 * Runs `fn` with a recording open and returns what it recorded besides its result. Recordings do
 * not nest; tests in one file run one after the other, so one is open at a time.
 */
export async function record<T>(fn: () => Promise<T>): Promise<{ result: T } & Recording> {
  install()
  if (current !== undefined) throw new Error('a recording is already open')
  const rec: Recording = { children: [], paths: [] }
  current = rec
  try {
    const result = await fn()
    return { result, ...rec }
  } finally {
    current = undefined
  }
}

/** Opens a recording for the rest of a test (for flows that are not one function); close() ends it. */
export function startRecording(): Recording & { close(): void } {
  install()
  if (current !== undefined) throw new Error('a recording is already open')
  const rec: Recording & { close(): void } = {
    children: [],
    paths: [],
    close: () => {
      if (current === rec) current = undefined
    },
  }
  current = rec
  return rec
}

/** Names of shells: a child running one of these runs a command line, not a program. */
export const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'mksh', 'ash', 'busybox', 'csh', 'tcsh', 'fish'])

export function isShell(file: string): boolean {
  return SHELLS.has(basename(file))
}

/** True when `path` (made absolute and resolved lexically, so '..' counts) lies in one of `roots`. */
export function isUnder(path: string, roots: readonly string[]): boolean {
  const abs = resolve(path)
  return roots.some((r) => {
    const root = resolve(r)
    return abs === root || abs.startsWith(root.endsWith(sep) ? root : root + sep)
  })
}

/** The recorded paths outside `roots` (writes) or outside `roots` and `readOnly` (reads). */
export function pathsOutside(paths: readonly PathRecord[], roots: readonly string[], readOnly: readonly string[] = []): PathRecord[] {
  return paths.filter((p) => {
    if (!isAbsolute(p.path)) return true
    if (isUnder(p.path, roots)) return false
    return p.kind === 'write' || !isUnder(p.path, readOnly)
  })
}
