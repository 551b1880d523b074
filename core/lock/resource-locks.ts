/**
 * Serializes operations per resource: within a process (a promise chain per name) and across
 * processes on one host (an exclusive lock file per name, O_EXCL create). A lock whose holder
 * process is gone is stale and taken over, so a crash never blocks a resource for good. Waiting is
 * bounded: past the deadline the caller gets LOCK_TIMEOUT naming the holder.
 *
 * LINSTOR names are case-insensitive, so the lock key is the lower-cased name.
 */
import { createHash } from 'node:crypto'
import { closeSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { PluginError } from '../errors/index.js'

export interface ResourceLocksOptions {
  /** Folder of the lock files, e.g. /run/linstor-virt/locks (created with mode 0700 if missing). */
  dir: string
  /** Longest wait for a lock, default 30000 ms. */
  waitMs?: number
  /** Poll interval while another process holds the lock, default 25 ms (with jitter). */
  pollMs?: number
}

export interface LockHolder {
  pid: number
  host: string
  since: string
  name: string
}

/** Lock file name for a resource: readable prefix plus a hash, safe for any input. */
export function lockFileName(name: string): string {
  const key = name.toLowerCase()
  const readable = key.replace(/[^a-z0-9_-]/g, '_').slice(0, 48)
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 12)
  return `${readable}-${hash}.lock`
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function readHolder(path: string): LockHolder | undefined {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockHolder>
    if (typeof v.pid === 'number' && typeof v.host === 'string') {
      return { pid: v.pid, host: v.host, since: String(v.since ?? ''), name: String(v.name ?? '') }
    }
  } catch {
    // Unreadable or half-written: treated as held (the writer may be mid-write) until the next poll.
  }
  return undefined
}

/** A lock file nobody could parse for this long was left by a writer that died mid-write. */
const UNREADABLE_STALE_MS = 5_000

function unreadableForLong(path: string): boolean {
  try {
    return Date.now() - statSync(path).mtimeMs > UNREADABLE_STALE_MS
  } catch {
    return false
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export class ResourceLocks {
  readonly #dir: string
  readonly #waitMs: number
  readonly #pollMs: number
  /** Tail of the in-process queue per key. */
  readonly #queues = new Map<string, Promise<void>>()
  #dirMade = false

  constructor(options: ResourceLocksOptions) {
    this.#dir = options.dir
    this.#waitMs = options.waitMs ?? 30_000
    this.#pollMs = options.pollMs ?? 25
  }

  /** The lock folder is made on first use, so read-only work (a doctor without --fix) needs none. */
  #ensureDir(): void {
    if (this.#dirMade) return
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 })
    this.#dirMade = true
  }

  /** Runs `fn` while holding the lock of `name`; the lock is released however `fn` ends. */
  async withLock<T>(name: string, fn: () => Promise<T>, options: { waitMs?: number } = {}): Promise<T> {
    const key = name.toLowerCase()
    const deadline = Date.now() + (options.waitMs ?? this.#waitMs)
    const previous = this.#queues.get(key) ?? Promise.resolve()
    let release!: () => void
    const mine = new Promise<void>((resolve) => {
      release = resolve
    })
    const tail = previous.then(() => mine)
    this.#queues.set(key, tail)
    try {
      await this.#waitInProcess(previous, name, deadline)
      const path = join(this.#dir, lockFileName(name))
      this.#ensureDir()
      await this.#acquireFile(path, name, deadline)
      try {
        return await fn()
      } finally {
        this.#releaseFile(path)
      }
    } finally {
      release()
      if (this.#queues.get(key) === tail) this.#queues.delete(key)
    }
  }

  /**
   * Waits for the earlier operations of this process on the same resource, within the deadline.
   * Giving up early is safe for those behind us: they wait for `previous` too (the chain).
   */
  async #waitInProcess(previous: Promise<void>, name: string, deadline: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const expired = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()))
    })
    try {
      if ((await Promise.race([previous, expired])) === 'timeout') {
        throw new PluginError('LOCK_TIMEOUT', `resource ${name} is busy: locked by an earlier operation of this process (pid ${process.pid})`, {
          context: { resource: name, holderPid: process.pid },
        })
      }
    } finally {
      clearTimeout(timer)
    }
  }

  async #acquireFile(path: string, name: string, deadline: number): Promise<void> {
    for (;;) {
      try {
        const fd = openSync(path, 'wx', 0o600)
        try {
          writeSync(fd, JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString(), name }))
        } finally {
          closeSync(fd)
        }
        return
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      }
      const holder = readHolder(path)
      if (holder === undefined ? unreadableForLong(path) : holder.host === hostname() && !alive(holder.pid)) {
        // The holder died without releasing: take the lock over (unlink, then race on O_EXCL again).
        try {
          unlinkSync(path)
        } catch {
          // Someone else took it over first.
        }
        continue
      }
      if (Date.now() >= deadline) {
        const who = holder === undefined ? 'another process' : `process ${holder.pid} on ${holder.host} since ${holder.since}`
        throw new PluginError('LOCK_TIMEOUT', `resource ${name} is busy: locked by ${who}`, {
          context: { resource: name, ...(holder === undefined ? {} : { holderPid: holder.pid }) },
        })
      }
      await sleep(this.#pollMs / 2 + Math.random() * this.#pollMs)
    }
  }

  #releaseFile(path: string): void {
    const holder = readHolder(path)
    if (holder !== undefined && holder.pid !== process.pid) return
    try {
      unlinkSync(path)
    } catch {
      // Already gone.
    }
  }
}
