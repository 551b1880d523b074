/**
 * Fault injection and call counters for the LINSTOR-facing paths (/v1 and /health).
 * Every fault is bounded: counts are finite or the fault is explicitly "all" until reset, delays are
 * capped at 60 s. A black hole holds requests without ever answering (a hung controller: the
 * connection is accepted, nothing comes back); the held connections are closed by a reset.
 */
import type { NextFunction, Request, Response } from 'express'
import { RC, ReplyBuilder, entriesToJson } from './api-call-rc.js'
import type { Clock } from './api-call-rc.js'
import { writeJson } from './json-writer.js'

export const MAX_DELAY_MS = 60_000

interface Rule {
  /** Remaining requests to affect; undefined = every matching request until reset. */
  remaining: number | undefined
  path: RegExp | undefined
  method: string | undefined
}

export interface DelayRule extends Rule {
  ms: number
}

export interface ErrorRule extends Rule {
  status: number
}

export interface FaultSpec {
  count?: number
  path?: string
  method?: string
}

function rule(spec: FaultSpec): Rule {
  const count = spec.count
  if (count !== undefined && (!Number.isInteger(count) || count < 0 || count > 1_000_000)) throw new RangeError('count must be an integer 0..1000000')
  return {
    remaining: count,
    path: spec.path === undefined || spec.path === '' ? undefined : new RegExp(spec.path),
    method: spec.method?.toUpperCase(),
  }
}

function applies(r: Rule, req: Request): boolean {
  if (r.remaining !== undefined && r.remaining <= 0) return false
  if (r.method !== undefined && r.method !== req.method) return false
  if (r.path !== undefined && !r.path.test(req.originalUrl)) return false
  return true
}

function consume(r: Rule): void {
  if (r.remaining !== undefined) r.remaining--
}

export class Faults {
  delays: DelayRule[] = []
  errors: ErrorRule[] = []
  drops: Rule[] = []
  blackholes: Rule[] = []
  /** Requests a black hole holds: their connections are destroyed on reset. */
  readonly #held = new Set<Request>()

  addDelay(ms: number, spec: FaultSpec): void {
    if (!Number.isFinite(ms) || ms < 0 || ms > MAX_DELAY_MS) throw new RangeError(`ms must be 0..${MAX_DELAY_MS}`)
    this.delays.push({ ...rule(spec), ms })
  }

  addError(status: number, spec: FaultSpec): void {
    if (!Number.isInteger(status) || status < 400 || status > 599) throw new RangeError('status must be 400..599')
    this.errors.push({ ...rule(spec), status })
  }

  addDrop(spec: FaultSpec): void {
    this.drops.push(rule(spec))
  }

  /** Matching requests are accepted and never answered (until the client gives up, or a reset). */
  addBlackhole(spec: FaultSpec): void {
    this.blackholes.push(rule(spec))
  }

  /** Requests held by a black hole right now. */
  get held(): number {
    return this.#held.size
  }

  reset(): void {
    this.delays = []
    this.errors = []
    this.drops = []
    this.blackholes = []
    for (const req of this.#held) req.socket.destroy()
    this.#held.clear()
  }

  describe(): unknown {
    const d = (r: Rule): Record<string, unknown> => ({ remaining: r.remaining ?? 'all', path: r.path?.source, method: r.method })
    return {
      delays: this.delays.map((r) => ({ ...d(r), ms: r.ms })),
      errors: this.errors.map((r) => ({ ...d(r), status: r.status })),
      drops: this.drops.map(d),
      blackholes: this.blackholes.map(d),
      held: this.#held.size,
    }
  }

  /** Express middleware applying drop → black hole → delay → error, in that order. */
  middleware(clock: Clock): (req: Request, res: Response, next: NextFunction) => void {
    return (req, res, next) => {
      const drop = this.drops.find((r) => applies(r, req))
      if (drop !== undefined) {
        consume(drop)
        req.socket.destroy()
        return
      }
      const hole = this.blackholes.find((r) => applies(r, req))
      if (hole !== undefined) {
        consume(hole)
        // Accepted, read, and never answered: the client waits until it gives up.
        this.#held.add(req)
        res.on('close', () => this.#held.delete(req))
        return
      }
      const delay = this.delays.find((r) => applies(r, req))
      const proceed = (): void => {
        const err = this.errors.find((r) => applies(r, req))
        if (err !== undefined) {
          consume(err)
          const reply = new ReplyBuilder({ op: 0n, obj: 0n, objRefs: {} }, clock)
          reply.add(RC.FAIL_UNKNOWN_ERROR, 'Injected fault: the controller failed to process the request.')
          res.status(err.status).setHeader('Content-Type', 'application/json')
          res.end(writeJson(entriesToJson(reply.entries)))
          return
        }
        next()
      }
      if (delay !== undefined) {
        consume(delay)
        const timer = setTimeout(proceed, delay.ms)
        res.on('close', () => clearTimeout(timer))
        return
      }
      proceed()
    }
  }
}

/** Counts of REST calls per "METHOD /path/{template}". */
export class Counters {
  readonly counts = new Map<string, number>()

  hit(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1)
  }

  total(): number {
    let n = 0
    for (const v of this.counts.values()) n += v
    return n
  }

  reset(): void {
    this.counts.clear()
  }

  toJson(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  }
}
