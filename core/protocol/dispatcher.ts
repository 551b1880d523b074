/**
 * The one call protocol shared by every adapter and both transports (the per-host agent and the
 * one-shot `linstor-virt call --stdin`).
 *
 * Request (protocol version 1):
 *   { "v": 1, "platform": "proxmox", "operation": "status", "arguments": {...}, "config": {...},
 *     "deadlineMs": 2000, "id": "optional correlation id" }
 * Reply:
 *   { "v": 1, "id"?: ..., "result": ... }   or   { "v": 1, "id"?: ..., "error": { "code", "message", "details" } }
 *
 * Adapters register their operations per platform; the transports know nothing of platforms. A
 * request is validated (shape, size of names) before anything runs; every call has a deadline.
 */
import { configIssues } from '../config/index.js'
import { PluginError, isPluginError } from '../errors/index.js'
import type { Logger } from '../log/index.js'
import { silentLogger } from '../log/index.js'
import type { CallAccess } from './access.js'
import { replyMarginMs, runInCallScope } from './call-scope.js'

export const PROTOCOL_VERSION = 1
/** Default deadline of a call; status-type operations use STATUS_DEADLINE_MS. */
export const DEFAULT_DEADLINE_MS = 60_000
export const STATUS_DEADLINE_MS = 2_000
/** Largest request a transport accepts. */
export const MAX_REQUEST_BYTES = 1024 * 1024
/** Deepest nesting of objects and lists a request may have (the request itself is level 1). */
export const MAX_NESTING = 64

export interface CallRequest {
  v: 1
  platform: string
  operation: string
  arguments: Record<string, unknown>
  config: Record<string, unknown>
  deadlineMs?: number
  id?: string
}

export interface CallError {
  code: string
  message: string
  details: Record<string, unknown>
}

export type CallReply = { v: 1; id?: string; result: unknown } | { v: 1; id?: string; error: CallError }

/** What an operation gets besides its arguments. */
export interface CallContext {
  platform: string
  operation: string
  /** The platform's configuration as sent (validated by the operation itself). */
  config: Readonly<Record<string, unknown>>
  /** Aborted when the deadline passes. */
  signal: AbortSignal
  /** Milliseconds left before the deadline. */
  remainingMs: () => number
  logger: Logger
  /** Long-lived state of the transport (the agent keeps clients and caches here; one-shot: fresh). */
  services: CallServices
  /**
   * What the caller may make linstor-virt do (access.ts): set by a listener others can reach (a
   * group's socket, the TCP listener); absent for the owner-only socket and the one-shot, whose
   * callers could do what the request asks themselves.
   */
  access?: CallAccess
}

/**
 * Shared, transport-owned state. The agent keeps one instance for its lifetime (keep-alive
 * connections, capacity cache, locks); the one-shot transport builds one per call.
 */
export interface CallServices {
  /**
   * An object cached under `key` for the life of the services, built by `make` on first use.
   * `evictable`: one of many (one per storage configuration): the least recently used are
   * dropped past a bound, and disposed once no call uses them.
   */
  shared<T>(key: string, make: () => T, dispose?: (value: T) => void, options?: { evictable?: boolean }): T
  /** True in the long-running agent. */
  readonly longLived: boolean
  /**
   * The services as one call sees them: what the call uses is not disposed before `release`
   * (the dispatcher calls it once the operation has ended, also past its deadline).
   */
  lease?(): { services: CallServices; release(): void }
}

export interface Operation {
  /** 'status' operations get STATUS_DEADLINE_MS unless the request sets a shorter deadline. */
  kind?: 'status' | 'action'
  run(args: Readonly<Record<string, unknown>>, ctx: CallContext): Promise<unknown>
}

/**
 * How many evictable values (one Storage per distinct storage configuration: a LINSTOR client with
 * its connections and caches, about 17 KiB) the agent keeps: a host has a handful of storage
 * configurations; a caller sending thousands of distinct ones costs at most this many.
 */
export const MAX_CACHED_CONFIGURATIONS = 64

interface Entry {
  value: unknown
  dispose?: (value: never) => void
  evictable: boolean
  /** Calls using it now. */
  leases: number
  /** Dropped from the cache: disposed when the last call using it ends. */
  evicted: boolean
}

/**
 * A plain services implementation: Map-backed, disposed all at once on close. Evictable values
 * are kept least recently used first and bounded (MAX_CACHED_CONFIGURATIONS by default); one
 * dropped while a call uses it is disposed when that call ends.
 */
export class ServiceRegistry implements CallServices {
  readonly longLived: boolean
  readonly #values = new Map<string, Entry>()
  readonly #maxEvictable: number
  #evictable = 0

  constructor(longLived: boolean, options: { maxEvictable?: number } = {}) {
    this.longLived = longLived
    this.#maxEvictable = Math.max(1, options.maxEvictable ?? MAX_CACHED_CONFIGURATIONS)
  }

  /** Values cached now (evictable and not). */
  get size(): number {
    return this.#values.size
  }

  /** Evictable values cached now (distinct storage configurations). */
  get evictableSize(): number {
    return this.#evictable
  }

  shared<T>(key: string, make: () => T, dispose?: (value: T) => void, options?: { evictable?: boolean }): T {
    return this.#take(key, make, dispose, options?.evictable === true, undefined)
  }

  #take<T>(key: string, make: () => T, dispose: ((value: T) => void) | undefined, evictable: boolean, used: Set<Entry> | undefined): T {
    let entry = this.#values.get(key)
    if (entry !== undefined && entry.evictable) {
      // Most recently used last.
      this.#values.delete(key)
      this.#values.set(key, entry)
    }
    if (entry === undefined) {
      entry = { value: make(), evictable, leases: 0, evicted: false, ...(dispose !== undefined ? { dispose } : {}) }
      this.#values.set(key, entry)
      if (evictable) {
        this.#evictable++
        if (used !== undefined) this.#use(entry, used)
        this.#evict()
      }
    }
    if (used !== undefined && entry.evictable) this.#use(entry, used)
    return entry.value as T
  }

  #use(entry: Entry, used: Set<Entry>): void {
    if (used.has(entry)) return
    used.add(entry)
    entry.leases++
  }

  #evict(): void {
    for (const [key, entry] of this.#values) {
      if (this.#evictable <= this.#maxEvictable) return
      if (!entry.evictable) continue
      this.#values.delete(key)
      this.#evictable--
      entry.evicted = true
      if (entry.leases === 0) entry.dispose?.(entry.value as never)
    }
  }

  lease(): { services: CallServices; release(): void } {
    const used = new Set<Entry>()
    let released = false
    const services: CallServices = {
      longLived: this.longLived,
      shared: <T>(key: string, make: () => T, dispose?: (value: T) => void, options?: { evictable?: boolean }): T => this.#take(key, make, dispose, options?.evictable === true, released ? undefined : used),
    }
    return {
      services,
      release: () => {
        if (released) return
        released = true
        for (const entry of used) {
          entry.leases--
          if (entry.evicted && entry.leases === 0) entry.dispose?.(entry.value as never)
        }
        used.clear()
      },
    }
  }

  /** Disposes everything (closes clients). */
  close(): void {
    for (const entry of this.#values.values()) entry.dispose?.(entry.value as never)
    this.#values.clear()
    this.#evictable = 0
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * The first top-level field of a request that nests objects and lists deeper than MAX_NESTING
 * (the request is level 1), without recursion: a value nested 200,000 levels is measured like any other.
 */
function tooDeep(raw: Record<string, unknown>): string | undefined {
  for (const [field, value] of Object.entries(raw)) {
    const stack: [unknown, number][] = [[value, 2]]
    while (stack.length > 0) {
      const [v, level] = stack.pop() as [unknown, number]
      if (typeof v !== 'object' || v === null) continue
      if (level > MAX_NESTING) return field
      for (const child of Array.isArray(v) ? v : Object.values(v)) {
        if (typeof child === 'object' && child !== null) stack.push([child, level + 1])
      }
    }
  }
  return undefined
}

/** Checks a request against its JSON Schema (compiled at build time); the message names each bad field. */
export function parseCallRequest(raw: unknown): CallRequest {
  if (!isRecord(raw)) throw new PluginError('CALL_INVALID', 'a call request must be a JSON object')
  // Before anything walks the request (the validator, a cache key, a platform's settings).
  const deep = tooDeep(raw)
  if (deep !== undefined) throw new PluginError('CALL_INVALID', `invalid call request: ${deep}: nested deeper than ${MAX_NESTING} levels`)
  const issues = configIssues('callRequest', raw)
  if (issues.length > 0) throw new PluginError('CALL_INVALID', `invalid call request: ${issues.map((i) => `${i.setting}: ${i.problem}`).join('; ')}`)
  const r = raw as Partial<CallRequest>
  return {
    v: 1,
    platform: r.platform ?? '',
    operation: r.operation ?? '',
    arguments: r.arguments ?? {},
    config: r.config ?? {},
    ...(r.deadlineMs !== undefined ? { deadlineMs: r.deadlineMs } : {}),
    ...(r.id !== undefined ? { id: r.id } : {}),
  }
}

/** The promise's outcome, or the error `onExpiry` makes when `ms` pass first (the timer never outlives it). */
export function withDeadline<T>(p: Promise<T>, ms: number, onExpiry: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onExpiry()), ms)
  })
  return Promise.race([p, expired]).finally(() => clearTimeout(timer))
}

/** A thrown value as a protocol error (PluginErrors keep code and details; anything else is INTERNAL_ERROR). */
export function toCallError(err: unknown): CallError {
  if (isPluginError(err)) return { code: err.code, message: err.message, details: { ...err.context } }
  return { code: 'INTERNAL_ERROR', message: err instanceof Error ? err.message : String(err), details: {} }
}

export class Dispatcher {
  readonly #ops = new Map<string, Map<string, Operation>>()
  readonly #logger: Logger

  constructor(options: { logger?: Logger } = {}) {
    this.#logger = options.logger ?? silentLogger()
  }

  /** Registers a platform's operations (a later registration of the same name replaces it). */
  register(platform: string, operations: Readonly<Record<string, Operation>>): this {
    const map = this.#ops.get(platform) ?? new Map<string, Operation>()
    for (const [name, op] of Object.entries(operations)) map.set(name, op)
    this.#ops.set(platform, map)
    return this
  }

  /** Platform → operation names, sorted. */
  operations(): Record<string, string[]> {
    return Object.fromEntries([...this.#ops].map(([p, m]) => [p, [...m.keys()].sort()]))
  }

  /**
   * Runs one raw (parsed JSON) request; never throws: every failure is an error reply. `startedAt`
   * (epoch ms, default now) is when the platform's call began: the one-shot transport passes its
   * process's start, so the time it took to start counts against the call's deadline.
   */
  async dispatch(raw: unknown, services: CallServices, options: { startedAt?: number; access?: CallAccess } = {}): Promise<CallReply> {
    let req: CallRequest
    try {
      req = parseCallRequest(raw)
    } catch (err) {
      const id = isRecord(raw) && typeof raw['id'] === 'string' ? raw['id'] : undefined
      return { v: 1, ...(id !== undefined ? { id } : {}), error: toCallError(err) }
    }
    const idPart = req.id !== undefined ? { id: req.id } : {}
    const op = this.#ops.get(req.platform)?.get(req.operation)
    if (op === undefined) {
      const known = this.#ops.has(req.platform) ? `; ${req.platform} has ${[...(this.#ops.get(req.platform)?.keys() ?? [])].sort().join(', ')}` : `; known platforms: ${[...this.#ops.keys()].sort().join(', ')}`
      return { v: 1, ...idPart, error: { code: 'UNKNOWN_OPERATION', message: `unknown operation ${req.platform}.${req.operation}${known}`, details: {} } }
    }
    if (options.access !== undefined && !options.access.serves(req.platform)) {
      return { v: 1, ...idPart, error: { code: 'CALL_FORBIDDEN', message: `${req.platform} calls are not served over ${options.access.listener}`, details: { platform: req.platform, notServed: true } } }
    }
    const limit = op.kind === 'status' ? Math.min(req.deadlineMs ?? STATUS_DEADLINE_MS, STATUS_DEADLINE_MS) : (req.deadlineMs ?? DEFAULT_DEADLINE_MS)
    // What the call uses of the shared services stays until the operation ends (past its deadline too).
    const lease = services.lease?.()
    const started = Math.min(Date.now(), options.startedAt ?? Date.now())
    const controller = new AbortController()
    const logger = this.#logger.child({ platform: req.platform, action: req.operation })
    const ctx: CallContext = {
      platform: req.platform,
      operation: req.operation,
      config: req.config,
      signal: controller.signal,
      remainingMs: () => Math.max(0, limit - (Date.now() - started)),
      logger,
      services: lease?.services ?? services,
      ...(options.access !== undefined ? { access: options.access } : {}),
    }
    try {
      // In the call's scope: once the deadline aborts it, the LINSTOR transport sends no more
      // writes for it (the reply has gone; a retry may already be running).
      const deadline = started + limit
      let running: Promise<unknown>
      try {
        running = runInCallScope(controller.signal, () => op.run(req.arguments, ctx), deadline - replyMarginMs(limit))
      } catch (err) {
        lease?.release()
        throw err
      }
      if (lease !== undefined) void running.then(() => lease.release(), () => lease.release())
      const result = await withDeadline(running, Math.max(0, deadline - Date.now()), () => {
        controller.abort()
        return new PluginError('CALL_DEADLINE', `${req.platform}.${req.operation} did not finish within ${limit} ms`, { context: { platform: req.platform, operation: req.operation } })
      })
      return { v: 1, ...idPart, result: result ?? null }
    } catch (err) {
      const e = toCallError(err)
      logger.warn({ code: e.code, ms: Date.now() - started }, e.message)
      return { v: 1, ...idPart, error: e }
    }
  }
}
