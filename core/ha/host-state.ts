/**
 * What a host keeps on disk for the times no controller answers (issue 20), in its state folder:
 *
 *   pending/<key>.json  what starting or stopping a VM could not do in LINSTOR because no controller
 *                       answered within the budget: one record per resource and node, the latest
 *                       intent winning ("attach": the volume was started from its local device;
 *                       "detach": the host let go of it, its client may have to go). The next
 *                       attach or detach of that resource, the agent's sweep and `doctor --fix`
 *                       settle it once a controller answers, then delete it.
 *   seen/<key>.json     a resource's volumes and replicas (node and kind) as last read from LINSTOR:
 *                       what a process that cannot look at a host's devices (Cinder) knows of them
 *                       when no controller answers.
 *   status/<key>.json   the last status answer of a storage (capacity, stats, monitor), returned
 *                       marked stale when no controller answers in time, also by one-shot calls.
 *
 * Every file is written whole under a temporary name and renamed into place, so a reader sees the
 * old or the new content, never a part. Nothing here ever fails a call: a folder that cannot be
 * written (read-only, permissions) only loses the record, and a warning says so.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from '../log/index.js'
import { silentLogger } from '../log/index.js'
import type { ReplicaKind, ResourceInfo } from '../volumes/index.js'

/** The state folder of a host when nothing else is configured. */
export const DEFAULT_STATE_DIR = '/var/lib/linstor-virt'

export type PendingIntent = 'attach' | 'detach'

export interface PendingRecord {
  v: 1
  resource: string
  node: string
  intent: PendingIntent
  /** ISO time the intent was recorded. */
  since: string
  /** Why LINSTOR could not be told then (the controller's error, or the budget). */
  reason: string
  /** The controllers of the cluster it belongs to (a settle only acts on a matching cluster). */
  controllers: string[]
  /** The core settings of the call that recorded it (no secrets: files are named, never read here), for the agent's sweep. */
  config?: Record<string, unknown>
}

export interface SeenResource {
  resource: string
  /** ISO time of the read. */
  at: string
  volumes: number[]
  replicas: { node: string; kind: ReplicaKind }[]
  /** The definition's Aux/ properties (the platform's name and ids of the object: its identity). */
  aux?: Record<string, string>
}

/** What is kept of a resource as read: its volumes, its replicas per node, its identity. */
export function seenOf(info: ResourceInfo): Omit<SeenResource, 'at'> {
  const aux = Object.fromEntries(Object.entries(info.props).filter(([k]) => k.startsWith('Aux/')))
  return { resource: info.name, volumes: info.volumes.map((v) => v.number), replicas: info.replicas.map((r) => ({ node: r.node, kind: r.kind })), ...(Object.keys(aux).length > 0 ? { aux } : {}) }
}

export interface StatusEntry<T = unknown> {
  value: T
  /** Epoch ms of the answer. */
  at: number
}

/** A file name for a key: a readable prefix and a hash, safe whatever the key holds. */
export function stateFileName(key: string): string {
  const k = key.toLowerCase()
  const readable = k.replace(/[^a-z0-9_-]/g, '_').slice(0, 60)
  return `${readable}-${createHash('sha256').update(k).digest('hex').slice(0, 16)}.json`
}

/** Every state folder a HostState was made for in this process (the agent's sweep looks at them). */
const knownDirs = new Set<string>()

export function knownStateDirs(): string[] {
  return [...knownDirs]
}

export class HostState {
  readonly dir: string
  readonly #log: Logger
  #warned = false

  constructor(dir: string, logger: Logger = silentLogger()) {
    this.dir = dir
    this.#log = logger
    knownDirs.add(dir)
  }

  #write(kind: string, key: string, value: unknown): boolean {
    const folder = join(this.dir, kind)
    const path = join(folder, stateFileName(key))
    const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
    try {
      mkdirSync(folder, { recursive: true, mode: 0o700 })
      writeFileSync(tmp, JSON.stringify(value) + '\n', { mode: 0o600 })
      renameSync(tmp, path)
      return true
    } catch (err) {
      rmSync(tmp, { force: true })
      if (!this.#warned) {
        this.#warned = true
        this.#log.warn({ dir: this.dir, err: err instanceof Error ? err.message : String(err) }, 'cannot write the host state folder; what no controller could be told is not kept')
      }
      return false
    }
  }

  #read<T>(kind: string, key: string): T | undefined {
    try {
      return JSON.parse(readFileSync(join(this.dir, kind, stateFileName(key)), 'utf8')) as T
    } catch {
      return undefined
    }
  }

  #remove(kind: string, key: string): void {
    try {
      rmSync(join(this.dir, kind, stateFileName(key)), { force: true })
    } catch {
      // Nothing to remove, or nothing we may remove: the record stays for the doctor.
    }
  }

  // ---------------------------------------------------------------- pending intents

  /** Records (or replaces) the intent for a resource on a node. */
  notePending(record: Omit<PendingRecord, 'v' | 'since'> & { since?: string }): boolean {
    const full: PendingRecord = { v: 1, since: record.since ?? new Date().toISOString(), ...record }
    return this.#write('pending', `${record.resource}@${record.node}`, full)
  }

  clearPending(resource: string, node: string): void {
    this.#remove('pending', `${resource}@${node}`)
  }

  /** Every pending record of this host, oldest first. */
  pending(): PendingRecord[] {
    let names: string[]
    try {
      names = readdirSync(join(this.dir, 'pending')).filter((n) => n.endsWith('.json'))
    } catch {
      return []
    }
    const out: PendingRecord[] = []
    for (const n of names) {
      try {
        const r = JSON.parse(readFileSync(join(this.dir, 'pending', n), 'utf8')) as Partial<PendingRecord>
        if (r.v === 1 && typeof r.resource === 'string' && typeof r.node === 'string' && (r.intent === 'attach' || r.intent === 'detach')) {
          out.push({ v: 1, resource: r.resource, node: r.node, intent: r.intent, since: String(r.since ?? ''), reason: String(r.reason ?? ''), controllers: Array.isArray(r.controllers) ? r.controllers.map(String) : [], ...(typeof r.config === 'object' && r.config !== null ? { config: r.config } : {}) })
        }
      } catch {
        // Half-written files are never renamed into place; anything else unreadable is skipped.
      }
    }
    return out.sort((a, b) => a.since.localeCompare(b.since))
  }

  /** The pending records of one resource (names compare case-insensitively, as in LINSTOR). */
  pendingFor(resource: string): PendingRecord[] {
    const key = resource.toLowerCase()
    return this.pending().filter((r) => r.resource.toLowerCase() === key)
  }

  // ---------------------------------------------------------------- last seen replicas

  recordSeen(seen: Omit<SeenResource, 'at'>): void {
    const before = this.seen(seen.resource)
    const same = before !== undefined && JSON.stringify({ v: before.volumes, r: before.replicas, a: before.aux }) === JSON.stringify({ v: seen.volumes, r: seen.replicas, a: seen.aux })
    // Unchanged: keep the file (and its time) rather than rewrite it on every attach.
    if (!same) this.#write('seen', seen.resource, { ...seen, at: new Date().toISOString() })
  }

  seen(resource: string): SeenResource | undefined {
    const s = this.#read<Partial<SeenResource>>('seen', resource)
    if (s === undefined || typeof s.resource !== 'string' || !Array.isArray(s.replicas) || !Array.isArray(s.volumes)) return undefined
    return s as SeenResource
  }

  forgetSeen(resource: string): void {
    this.#remove('seen', resource)
  }

  // ---------------------------------------------------------------- last status answers

  writeStatus<T>(key: string, value: T, at: number = Date.now()): void {
    this.#write('status', key, { value, at } satisfies StatusEntry<T>)
  }

  readStatus<T>(key: string): StatusEntry<T> | undefined {
    const e = this.#read<Partial<StatusEntry<T>>>('status', key)
    return e === undefined || typeof e.at !== 'number' || !('value' in e) ? undefined : (e as StatusEntry<T>)
  }
}
