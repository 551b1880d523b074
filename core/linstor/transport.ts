/**
 * HTTP(S) transport to a list of LINSTOR controllers over node:http/https (global fetch costs
 * about 150 ms per short-lived process on Node 20).
 *
 * Failover: controllers are tried in order, the last one that answered first. A controller that
 * cannot be connected to within the connect timeout (refused, black-holed, TLS failure) is skipped
 * at once; nothing was sent, so this is safe for any request. Once a request was sent, a broken
 * connection moves on to the next controller only for idempotent requests. Every call has a total
 * deadline; it never hangs. With several controllers, each one gets its share of the time left
 * (the time left divided by the controllers not yet tried in this round) to connect, and an
 * idempotent write its share to be answered too; a read not answered within a short hedge delay is
 * also asked of the next controller, the first answer winning, so a controller that accepts
 * connections and never answers (a hung JVM) does not keep a read from the next one, and one that
 * is only slow still answers. Controllers that failed or were outrun are tried last for a while. The deadline of the call the
 * request belongs to (`callDeadline`) caps every request: its error, naming the controllers tried,
 * comes before the call's own deadline.
 */
import { channel } from 'node:diagnostics_channel'
import type http from 'node:http'
import type https from 'node:https'
import type { IncomingHttpHeaders } from 'node:http'
import type { Socket } from 'node:net'
import { PluginError } from '../errors/index.js'
import { silentLogger } from '../log/index.js'
import type { Logger } from '../log/index.js'
import { endpointOf } from './controllers.js'
import type { ControllerEndpoint } from './controllers.js'
import { LinstorUnavailableError } from './errors.js'
import type { ControllerAttempt } from './errors.js'
import { DEFAULT_RETRY_POLICY, parseRetryAfter, retryDelay } from './retry.js'
import type { Failure, RetryPolicy } from './retry.js'

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'OPTIONS'

export type QueryValue = string | number | boolean | readonly (string | number)[] | undefined

export interface LinstorRequest {
  method: HttpMethod
  /** Path below the controller root, already percent-encoded, e.g. /v1/nodes/alpha. */
  path: string
  /** Array values become repeated keys (?nodes=a&nodes=b), as LINSTOR expects. */
  query?: Readonly<Record<string, QueryValue>>
  /** Request body, already serialised as JSON text. */
  body?: string
  /** Safe to send twice. Default: true for GET, PUT, DELETE, OPTIONS; false for POST and PATCH. */
  idempotent?: boolean
  /** Total deadline for this call in ms (all controllers and retries); default the transport's. */
  timeoutMs?: number
  signal?: AbortSignal
}

export interface LinstorResponse {
  status: number
  headers: IncomingHttpHeaders
  body: string
  /** The controller that answered. */
  controller: string
}

/** The port the client's families use; tests and the agent may provide their own. */
export interface LinstorTransport {
  request(req: LinstorRequest): Promise<LinstorResponse>
  /** Closes idle keep-alive connections. */
  close(): void
}

export interface TlsOptions {
  /** PEM CA bundle to verify the controller with (default: Node's CA store). */
  ca?: string | Buffer
  /** PEM client certificate and key for mTLS; both or neither. */
  cert?: string | Buffer
  key?: string | Buffer
  /** Default true. Turning it off is for lab setups only. */
  rejectUnauthorized?: boolean
}

export interface HttpTransportOptions {
  controllers: readonly ControllerEndpoint[]
  /** Per controller; default 2000 ms. */
  connectTimeoutMs?: number
  /** Default total deadline per call; default 60000 ms (mutations wait for the satellites). */
  timeoutMs?: number
  tls?: TlsOptions
  /** Bearer token (REST API 1.28+). Sent as Authorization: Bearer; never logged. */
  token?: string
  /** Keep connections open between calls (long-lived processes). Default false. */
  keepAlive?: boolean
  retry?: RetryPolicy
  logger?: Logger
  /** Source of jitter in [0, 1). */
  random?: () => number
  userAgent?: string
  /**
   * Largest reply to a read accepted, default MAX_READ_REPLY_BYTES (128 MiB); a write's reply (a
   * list of reply entries) is bounded by MAX_WRITE_REPLY_BYTES, or by this when it is smaller.
   */
  maxResponseBytes?: number
  /**
   * The abort signal of the call a request is made for: once aborted (the call's deadline passed
   * and its reply has gone), writes are refused with ABORTED instead of being sent, so a call
   * that timed out changes nothing more, not even undoing what a retry has done meanwhile.
   * Reads still go (another call may share their answer).
   */
  callSignal?: () => AbortSignal | undefined
  /**
   * The deadline (epoch ms) of the call (or the budget) a request is made for: no request waits
   * past it, whatever its own timeout.
   */
  callDeadline?: () => number | undefined
}

/**
 * Every request a transport finishes is published on this diagnostics channel (node:diagnostics_channel)
 * when someone listens: the agent's metrics and `linstor-virt status` (controllers tried, the one
 * answering). Nothing is built when nobody subscribes.
 */
export const LINSTOR_REQUEST_CHANNEL = 'linstor-virt:linstor-request'

/** One try at one controller, as published on LINSTOR_REQUEST_CHANNEL. */
export interface LinstorTry {
  controller: string
  /**
   * answered: an HTTP reply came back (any status); the others: no reply from this controller
   * (slow: none within its share of the time, so the next controller was asked).
   */
  outcome: 'answered' | 'connect' | 'transport' | 'deadline' | 'aborted' | 'redirected' | 'slow'
  /** The HTTP status of an answer. */
  status?: number
  ms: number
}

/** A finished request, as published on LINSTOR_REQUEST_CHANNEL. */
export interface LinstorRequestEvent {
  /** The transport that made it (a process may hold several clients). */
  transport: LinstorTransport
  method: HttpMethod
  /** The path without its query, e.g. /v1/resource-definitions/vm-100-disk-0. */
  path: string
  tries: LinstorTry[]
  /** The controller whose reply was returned; absent when the request failed without one. */
  controller?: string
  status?: number
  /** The error code the request failed with (LINSTOR_UNAVAILABLE, ...). */
  error?: string
  ms: number
}

const requestChannel = channel(LINSTOR_REQUEST_CHANNEL)

/**
 * node:http and node:https, loaded with a process's first request: a short-lived process that
 * asks LINSTOR nothing (a call refused for its arguments) starts without them and TLS.
 */
let httpModules: Promise<{ http: typeof http; https: typeof https }> | undefined
function loadHttp(): Promise<{ http: typeof http; https: typeof https }> {
  httpModules ??= Promise.all([import('node:http'), import('node:https')]).then(([a, b]) => ({ http: a.default, https: b.default }))
  return httpModules
}

const DEFAULT_CONNECT_TIMEOUT_MS = 2_000
const DEFAULT_TIMEOUT_MS = 60_000
/**
 * The largest reply to a read that is read: what LINSTOR legitimately sends for the largest view
 * linstor-virt asks for. A view of the resources of 10,000 volumes with three replicas each is
 * about 62 MiB as the emulator renders it (which follows the controller's JSON, layer data and
 * properties included; measured with bench-like data, docs/linstor-client.md): twice that, rounded.
 */
export const MAX_READ_REPLY_BYTES = 128 * 1024 * 1024
/** The largest reply to a write: LINSTOR answers a write with a list of reply entries (a few KiB). */
export const MAX_WRITE_REPLY_BYTES = 4 * 1024 * 1024
/** How long a controller that did not connect or answer within its share is tried last. */
const SUSPECT_MS = 30_000
/** A read not answered this long is asked of the next controller too (less when the time left is short). */
const HEDGE_MAX_MS = 1_000

/** What one round over the controllers gave: an answer, or why not. */
interface RoundResult {
  answer?: LinstorResponse
  /** The most telling failure of the round (see retryDelay). */
  failure: Failure
  /** An HTTP answer worth retrying elsewhere (5xx not from LINSTOR), kept for the caller when nothing better comes. */
  lastAnswer?: LinstorResponse
  /** A try ran into the deadline. */
  deadlineHit: boolean
}

/** Why one try failed; `sent` tells whether the request may have reached the controller. */
class AttemptError extends Error {
  readonly sent: boolean
  /** 'slow': no answer within this controller's share of the time; the next one may be asked. */
  readonly kind: 'connect' | 'transport' | 'deadline' | 'aborted' | 'slow'

  constructor(kind: 'connect' | 'transport' | 'deadline' | 'aborted' | 'slow', sent: boolean, reason: string) {
    super(reason)
    this.kind = kind
    this.sent = sent
  }
}

/** Builds ?a=1&b=x&b=y with repeated keys for arrays; undefined values are left out. */
export function buildQuery(query: Readonly<Record<string, QueryValue>> | undefined): string {
  if (query === undefined) return ''
  const sp = new URLSearchParams()
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined) continue
    if (Array.isArray(v)) for (const item of v as readonly (string | number)[]) sp.append(k, String(item))
    else sp.append(k, String(v))
  }
  const s = sp.toString()
  return s === '' ? '' : `?${s}`
}

function describeSocketError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connection refused'
    case 'ECONNRESET':
      return 'connection reset'
    case 'EHOSTUNREACH':
      return 'host unreachable'
    case 'ENETUNREACH':
      return 'network unreachable'
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host name not resolved'
    case 'EPIPE':
      return 'connection closed'
    default:
      // TLS verification codes (e.g. DEPTH_ZERO_SELF_SIGNED_CERT) are clear as they are.
      return err.code === undefined ? err.message : `${err.code}: ${err.message}`
  }
}

export class HttpLinstorTransport implements LinstorTransport {
  readonly #controllers: ControllerEndpoint[]
  readonly #connectTimeoutMs: number
  readonly #timeoutMs: number
  readonly #token: string | undefined
  readonly #retry: RetryPolicy
  readonly #log: Logger
  readonly #random: () => number
  readonly #userAgent: string
  readonly #maxResponseBytes: number
  readonly #callSignal: (() => AbortSignal | undefined) | undefined
  readonly #callDeadline: (() => number | undefined) | undefined
  readonly #keepAlive: boolean
  readonly #tls: HttpTransportOptions['tls']
  /**
   * The modules and their agents, from the first request on. The fresh agents serve requests that
   * are not safe to repeat: a connection of their own each, never a kept-alive one.
   */
  #net: { http: typeof http; https: typeof https; httpAgent: http.Agent; httpsAgent: https.Agent; freshHttpAgent: http.Agent; freshHttpsAgent: https.Agent } | undefined
  #closed = false
  /** Index of the controller that answered last; it is tried first. */
  #preferred = 0
  /** Controllers that did not connect or answer within their share, until when (epoch ms): tried last meanwhile. */
  readonly #suspect = new Map<number, number>()

  constructor(options: HttpTransportOptions) {
    if (options.controllers.length === 0) throw new PluginError('CONFIG_INVALID', 'no LINSTOR controller configured')
    const tls = options.tls
    if (tls !== undefined && (tls.cert === undefined) !== (tls.key === undefined)) {
      throw new PluginError('CONFIG_INVALID', 'invalid configuration: a TLS client certificate needs its key and a key needs its certificate')
    }
    this.#controllers = [...options.controllers]
    this.#connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    this.#token = options.token
    this.#retry = options.retry ?? DEFAULT_RETRY_POLICY
    this.#log = options.logger ?? silentLogger()
    this.#random = options.random ?? Math.random
    this.#userAgent = options.userAgent ?? 'linstor-virt'
    this.#maxResponseBytes = options.maxResponseBytes ?? MAX_READ_REPLY_BYTES
    this.#callSignal = options.callSignal
    this.#callDeadline = options.callDeadline
    this.#keepAlive = options.keepAlive ?? false
    this.#tls = tls
  }

  /** Loads node:http/https on the first request and makes the agents (kept for the transport's life). */
  async #ready(): Promise<void> {
    if (this.#net !== undefined) return
    const { http, https } = await loadHttp()
    if (this.#net !== undefined) return
    const keepAlive = this.#keepAlive && !this.#closed
    const tls = this.#tls
    const tlsOptions = {
      ...(tls?.ca === undefined ? {} : { ca: tls.ca }),
      ...(tls?.cert === undefined ? {} : { cert: tls.cert }),
      ...(tls?.key === undefined ? {} : { key: tls.key }),
      rejectUnauthorized: tls?.rejectUnauthorized ?? true,
    }
    this.#net = {
      http,
      https,
      httpAgent: new http.Agent({ keepAlive, maxSockets: 16 }),
      httpsAgent: new https.Agent({ keepAlive, maxSockets: 16, ...tlsOptions }),
      // No keep-alive and no socket limit (so nothing waits for, or is handed, another request's
      // socket): a broken connection of a write that is not safe to repeat was its own, so whether
      // the request was sent is known (connected or not), never guessed from a stale socket.
      freshHttpAgent: new http.Agent({ keepAlive: false }),
      freshHttpsAgent: new https.Agent({ keepAlive: false, ...tlsOptions }),
    }
  }

  /** The controllers in the order the next call will try them. */
  get order(): string[] {
    return this.#orderedIndexes().map((i) => this.#controllers[i]?.url ?? '')
  }

  close(): void {
    this.#closed = true
    this.#net?.httpAgent.destroy()
    this.#net?.httpsAgent.destroy()
    this.#net?.freshHttpAgent.destroy()
    this.#net?.freshHttpsAgent.destroy()
  }

  /**
   * The last controller that answered first, the others in configuration order after it; a
   * controller that recently did not connect or answer in time goes last (for SUSPECT_MS), so the
   * next requests do not pay for it again.
   */
  #orderedIndexes(): number[] {
    const n = this.#controllers.length
    const now = Date.now()
    const rotated = Array.from({ length: n }, (_, k) => (this.#preferred + k) % n)
    const suspect = (i: number): boolean => (this.#suspect.get(i) ?? 0) > now
    return [...rotated.filter((i) => !suspect(i)), ...rotated.filter(suspect)]
  }

  async request(req: LinstorRequest): Promise<LinstorResponse> {
    await this.#ready()
    if (!requestChannel.hasSubscribers) return this.#request(req, undefined)
    const tries: LinstorTry[] = []
    const started = performance.now()
    const event = (extra: Partial<LinstorRequestEvent>): LinstorRequestEvent => ({ transport: this, method: req.method, path: req.path, tries, ms: performance.now() - started, ...extra })
    try {
      const res = await this.#request(req, tries)
      requestChannel.publish(event({ controller: res.controller, status: res.status }))
      return res
    } catch (e) {
      requestChannel.publish(event({ error: e instanceof PluginError ? e.code : 'INTERNAL_ERROR' }))
      throw e
    }
  }

  async #request(req: LinstorRequest, tries: LinstorTry[] | undefined): Promise<LinstorResponse> {
    const ownTimeoutMs = req.timeoutMs ?? this.#timeoutMs
    const callDeadline = this.#callDeadline?.()
    const deadline = Math.min(Date.now() + ownTimeoutMs, callDeadline ?? Number.POSITIVE_INFINITY)
    const timeoutMs = Math.max(0, Math.round(deadline - Date.now()))
    const idempotent = req.idempotent ?? (req.method !== 'POST' && req.method !== 'PATCH')
    const attempts: ControllerAttempt[] = []
    const fullPath = req.path + buildQuery(req.query)
    let lastAnswer: LinstorResponse | undefined
    let deadlineHit = false

    const callSignal = req.method === 'GET' ? undefined : this.#callSignal?.()
    for (let round = 1; ; round++) {
      if (callSignal?.aborted === true) {
        throw new PluginError('ABORTED', `LINSTOR ${req.method} ${req.path} not sent: the call it belongs to is past its deadline`, { context: { method: req.method, path: req.path } })
      }
      const order = this.#orderedIndexes()
      const r = req.method === 'GET' && order.length > 1
        ? await this.#hedgedRound(order, req, fullPath, deadline, attempts, tries)
        : await this.#sequentialRound(order, req, fullPath, deadline, idempotent, attempts, tries)
      if (r.answer !== undefined) return r.answer
      if (r.lastAnswer !== undefined) lastAnswer = r.lastAnswer
      if (r.deadlineHit) deadlineHit = true
      const failure = r.failure
      const remaining = deadline - Date.now()
      const delay = remaining <= 0 || deadlineHit
        ? undefined
        : retryDelay(this.#retry, { attempt: round, idempotent, failure, remainingMs: remaining, random: this.#random() })
      if (delay === undefined) {
        // Out of tries: an HTTP answer is the caller's to interpret; no answer is an error here.
        if (lastAnswer !== undefined && failure.kind === 'status') return lastAnswer
        if (attempts.length === 0) {
          // The call's time ran out before any controller could be asked: name them all the same.
          const notAsked = this.#controllers.map((c) => ({ controller: c.url, reason: 'not asked: the call had no time left', sent: false }))
          throw new LinstorUnavailableError('LINSTOR_DEADLINE', req.method, req.path, notAsked, { deadlineMs: timeoutMs })
        }
        const code = (deadlineHit || remaining <= 0) && attempts.some((a) => a.sent) ? 'LINSTOR_DEADLINE' : 'LINSTOR_UNAVAILABLE'
        throw new LinstorUnavailableError(code, req.method, req.path, attempts, { deadlineMs: timeoutMs })
      }
      await sleep(delay, req.signal)
    }
  }

  /**
   * One try at one controller, following a redirect to HTTPS, and judging the answer: an answer the
   * caller gets ('answer'), or an HTTP failure worth asking elsewhere ('status'). Rejects with
   * AttemptError.
   */
  async #attempt(index: number, req: LinstorRequest, fullPath: string, deadline: number, connectBy: number, answerBy: number, idempotent: boolean, attempts: ControllerAttempt[], tries: LinstorTry[] | undefined, cancelled?: AbortSignal): Promise<{ res: LinstorResponse; retryable: Failure | undefined }> {
    const endpoint = this.#controllers[index] as ControllerEndpoint
    let current = endpoint
    const started = Date.now()
    try {
      let res = await this.#once(current, req, fullPath, deadline, connectBy, answerBy, idempotent)
      const upgraded = this.#upgradeOnRedirect(index, current, res)
      if (upgraded !== undefined) {
        // The controller only redirects; nothing was processed. Ask again over HTTPS, and
        // judge that answer like any other.
        attempts.push({ controller: current.url, reason: `redirected to ${upgraded.url}`, sent: false })
        tries?.push({ controller: current.url, outcome: 'redirected', status: res.status, ms: Date.now() - started })
        current = upgraded
        res = await this.#once(current, req, fullPath, deadline, deadline, deadline, idempotent)
      }
      tries?.push({ controller: current.url, outcome: 'answered', status: res.status, ms: Date.now() - started })
      this.#log.debug({ method: req.method, path: req.path, controller: current.url, status: res.status, ms: Date.now() - started }, 'linstor call')
      this.#preferred = index
      this.#suspect.delete(index)
      // A LINSTOR reply list is the controller's own decision, even with status 500.
      const linstorReply = res.body.trimStart().startsWith('[')
      if (linstorReply || !(res.status >= 500 || res.status === 429 || res.status === 408) || !idempotent) return { res, retryable: undefined }
      attempts.push({ controller: current.url, reason: `HTTP ${res.status}`, sent: true })
      const retryAfterMs = parseRetryAfter(headerValue(res.headers['retry-after']), Date.now())
      return { res, retryable: retryAfterMs === undefined ? { kind: 'status', status: res.status, linstorReply } : { kind: 'status', status: res.status, linstorReply, retryAfterMs } }
    } catch (e) {
      if (!(e instanceof AttemptError)) throw e
      // A try this transport cancelled itself (another controller answered first) is no failure.
      if (e.kind === 'aborted' && cancelled?.aborted === true) throw e
      attempts.push({ controller: current.url, reason: e.message, sent: e.sent })
      tries?.push({ controller: current.url, outcome: e.kind, ms: Date.now() - started })
      this.#log.info({ method: req.method, path: req.path, controller: current.url, reason: e.message, sent: e.sent }, 'linstor controller failed')
      if ((e.kind === 'slow' || e.kind === 'connect') && this.#controllers.length > 1) this.#suspect.set(index, Date.now() + SUSPECT_MS)
      throw e
    }
  }

  /**
   * The controllers one after the other: each gets its share of the time left to connect and, for
   * an idempotent request, to answer. A write that was sent is never sent to another controller.
   */
  async #sequentialRound(order: number[], req: LinstorRequest, fullPath: string, deadline: number, idempotent: boolean, attempts: ControllerAttempt[], tries: LinstorTry[] | undefined): Promise<RoundResult> {
    // The most telling failure of this round decides whether another round is allowed:
    // an HTTP answer over a broken connection over a connection that never happened.
    let failure: Failure = { kind: 'connect' }
    let lastAnswer: LinstorResponse | undefined
    for (const [position, index] of order.entries()) {
      if (this.#controllers[index] === undefined || deadline - Date.now() <= 0) break
      const started = Date.now()
      const share = started + (deadline - started) / (order.length - position)
      try {
        const { res, retryable } = await this.#attempt(index, req, fullPath, deadline, share, idempotent ? share : deadline, idempotent, attempts, tries)
        if (retryable === undefined) return { answer: res, failure, deadlineHit: false }
        lastAnswer = res
        failure = retryable
      } catch (e) {
        if (!(e instanceof AttemptError)) throw e
        const err = e
        if (err.kind === 'aborted') throw new PluginError('ABORTED', `LINSTOR ${req.method} ${req.path} aborted`, { context: { method: req.method, path: req.path } })
        if (err.kind === 'deadline') return { failure, deadlineHit: true, ...(lastAnswer !== undefined ? { lastAnswer } : {}) }
        if (err.sent) {
          if (!idempotent) throw new LinstorUnavailableError('LINSTOR_OUTCOME_UNKNOWN', req.method, req.path, attempts)
          if (failure.kind === 'connect') failure = { kind: 'transport' }
        }
      }
    }
    return { failure, deadlineHit: false, ...(lastAnswer !== undefined ? { lastAnswer } : {}) }
  }

  /**
   * A read asked of several controllers: the first at once, the next one as soon as the previous
   * one fails, or when it has not answered within the hedge delay (it keeps running); the first
   * answer wins and the others are cancelled. A controller that hangs (accepts and never answers)
   * costs a read the hedge delay, not its share of the deadline, and one that is only slow still
   * answers. Controllers outrun by another are tried last for a while (SUSPECT_MS).
   */
  #hedgedRound(order: number[], req: LinstorRequest, fullPath: string, deadline: number, attempts: ControllerAttempt[], tries: LinstorTry[] | undefined): Promise<RoundResult> {
    return new Promise<RoundResult>((resolve, reject) => {
      const started = Date.now()
      const hedgeMs = Math.min(HEDGE_MAX_MS, Math.max(0, deadline - started) / order.length)
      const running = new Map<number, AbortController>()
      let failure: Failure = { kind: 'connect' }
      let lastAnswer: LinstorResponse | undefined
      let deadlineHit = false
      let next = 0
      let done = false
      let hedge: NodeJS.Timeout | undefined
      const settle = (fn: () => void): void => {
        if (done) return
        done = true
        clearTimeout(hedge)
        for (const c of running.values()) c.abort()
        fn()
      }
      // A try that failed hands over to the next controller at once; the round fails when none is left running.
      const failed = (): void => {
        launch()
        if (running.size === 0) settle(() => resolve({ failure, deadlineHit, ...(lastAnswer !== undefined ? { lastAnswer } : {}) }))
      }
      const launch = (): boolean => {
        clearTimeout(hedge)
        if (done || next >= order.length || deadline - Date.now() <= 0) return false
        const index = order[next++] as number
        const ctl = new AbortController()
        running.set(index, ctl)
        const signal = req.signal === undefined ? ctl.signal : AbortSignal.any([req.signal, ctl.signal])
        const now = Date.now()
        const connectBy = now + (deadline - now) / (order.length - next + 1)
        this.#attempt(index, { ...req, signal }, fullPath, deadline, connectBy, deadline, true, attempts, tries, ctl.signal).then(
          ({ res, retryable }) => {
            running.delete(index)
            if (done) return
            if (retryable === undefined) {
              // Those it outran are tried last for a while.
              for (const other of running.keys()) this.#suspect.set(other, Date.now() + SUSPECT_MS)
              settle(() => resolve({ answer: res, failure, deadlineHit }))
              return
            }
            lastAnswer = res
            failure = retryable
            failed()
          },
          (e: unknown) => {
            running.delete(index)
            if (done) return
            if (!(e instanceof AttemptError)) return settle(() => reject(e instanceof Error ? e : new Error(String(e))))
            if (e.kind === 'aborted') return settle(() => reject(new PluginError('ABORTED', `LINSTOR ${req.method} ${req.path} aborted`, { context: { method: req.method, path: req.path } })))
            if (e.kind === 'deadline') deadlineHit = true
            if (e.sent && failure.kind === 'connect') failure = { kind: 'transport' }
            failed()
          },
        )
        if (next < order.length) {
          hedge = setTimeout(() => {
            launch()
          }, hedgeMs)
        }
        return true
      }
      launch()
    })
  }

  /**
   * A controller with HTTPS enabled answers plain-HTTP /v1 requests with a redirect to its HTTPS
   * port. For an endpoint written as linstor:// that switches the endpoint to HTTPS for good (on
   * the same host only: a redirect elsewhere is not followed).
   */
  #upgradeOnRedirect(index: number, endpoint: ControllerEndpoint, res: LinstorResponse): ControllerEndpoint | undefined {
    if (endpoint.upgradable !== true || endpoint.protocol !== 'http' || ![301, 302, 307, 308].includes(res.status)) return undefined
    const location = headerValue(res.headers['location'])
    if (location === undefined) return undefined
    let target: URL
    try {
      target = new URL(location)
    } catch {
      return undefined
    }
    if (target.protocol !== 'https:') return undefined
    const upgraded = endpointOf('https', target.hostname, target.port === '' ? 443 : Number(target.port))
    if (upgraded.host.toLowerCase() !== endpoint.host.toLowerCase()) return undefined
    this.#controllers[index] = upgraded
    this.#log.info({ from: endpoint.url, to: upgraded.url }, 'controller redirects to HTTPS; using HTTPS from now on')
    return upgraded
  }

  /**
   * One try at one controller; rejects with AttemptError only. `connectBy` and `answerBy` (epoch ms,
   * at most `deadline`) bound the connection and the answer: past `answerBy` before `deadline` the
   * try fails as 'slow', so the next controller can be asked.
   */
  #once(endpoint: ControllerEndpoint, req: LinstorRequest, fullPath: string, deadline: number, connectBy: number, answerBy: number, idempotent: boolean): Promise<LinstorResponse> {
    const net = this.#net
    if (net === undefined) return Promise.reject(new AttemptError('aborted', false, 'the transport sent a request before it was ready'))
    return new Promise<LinstorResponse>((resolve, reject) => {
      const isTls = endpoint.protocol === 'https'
      const headers: Record<string, string> = {
        accept: 'application/json',
        'user-agent': this.#userAgent,
      }
      if (req.body !== undefined) {
        headers['content-type'] = 'application/json'
        headers['content-length'] = String(Buffer.byteLength(req.body))
      }
      if (this.#token !== undefined) headers['authorization'] = `Bearer ${this.#token}`
      const options: https.RequestOptions = {
        protocol: isTls ? 'https:' : 'http:',
        host: endpoint.host,
        port: endpoint.port,
        method: req.method,
        path: fullPath,
        headers,
        agent: idempotent ? (isTls ? net.httpsAgent : net.httpAgent) : isTls ? net.freshHttpsAgent : net.freshHttpAgent,
      }
      const maxBytes = req.method === 'GET' ? this.#maxResponseBytes : Math.min(this.#maxResponseBytes, MAX_WRITE_REPLY_BYTES)
      const startedAt = Date.now()
      let connected = false
      let settled = false
      let connectTimer: NodeJS.Timeout | undefined
      const finish = (err: AttemptError | PluginError | undefined, res?: LinstorResponse): void => {
        if (settled) return
        settled = true
        clearTimeout(deadlineTimer)
        if (connectTimer !== undefined) clearTimeout(connectTimer)
        req.signal?.removeEventListener('abort', onAbort)
        if (err !== undefined) {
          request.destroy()
          reject(err)
        } else if (res !== undefined) resolve(res)
      }
      const request = (isTls ? net.https : net.http).request(options)
      const onAbort = (): void => finish(new AttemptError('aborted', connected, 'aborted by caller'))
      if (req.signal?.aborted === true) {
        // Nothing has been sent yet.
        settled = true
        request.destroy()
        reject(new AttemptError('aborted', false, 'aborted by caller'))
        return
      }
      req.signal?.addEventListener('abort', onAbort, { once: true })
      const answerAt = Math.min(answerBy, deadline)
      const deadlineTimer = setTimeout(() => {
        if (answerAt < deadline) {
          const ms = Math.round(Date.now() - startedAt)
          finish(connected ? new AttemptError('slow', true, `no answer within ${ms} ms`) : new AttemptError('connect', false, `connect timeout after ${ms} ms`))
        } else {
          finish(new AttemptError('deadline', connected, connected ? 'no answer before the deadline' : 'deadline passed while connecting'))
        }
      }, Math.max(0, answerAt - Date.now()))

      request.on('socket', (socket: Socket) => {
        const onConnected = (): void => {
          connected = true
          if (connectTimer !== undefined) clearTimeout(connectTimer)
        }
        if (!socket.connecting && (request as { reusedSocket?: boolean }).reusedSocket === true) {
          onConnected()
          return
        }
        const connectMs = Math.round(Math.min(this.#connectTimeoutMs, Math.max(0, Math.min(connectBy, deadline) - Date.now())))
        connectTimer = setTimeout(() => {
          finish(new AttemptError('connect', false, `connect timeout after ${connectMs} ms`))
        }, connectMs)
        socket.once(isTls ? 'secureConnect' : 'connect', onConnected)
      })
      request.on('error', (e: NodeJS.ErrnoException) => {
        // A kept-alive socket the server had already closed: the request did not get through, or
        // it did and the controller broke the connection after reading it; only a request that is
        // safe to repeat is taken as not sent then (the others never use a kept-alive socket).
        const staleSocket = idempotent && (request as { reusedSocket?: boolean }).reusedSocket === true && e.code === 'ECONNRESET'
        const sent = connected && !staleSocket
        finish(new AttemptError(sent ? 'transport' : 'connect', sent, describeSocketError(e)))
      })
      request.on('response', (res) => {
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (c: Buffer) => {
          size += c.length
          if (size > maxBytes) {
            // Not a failure of this controller another one could mend: the same request gets the
            // same reply. It fails at once, clearly, and nothing more of it is read.
            finish(
              new PluginError('LINSTOR_REPLY_TOO_LARGE', `the reply of ${endpoint.url} to ${req.method} ${req.path} is larger than ${bytesText(maxBytes)}, more than LINSTOR sends for it (a view of 10,000 volumes is about 62 MiB); it was not read further`, {
                context: { method: req.method, path: req.path, controller: endpoint.url, limitBytes: maxBytes },
              }),
            )
            return
          }
          chunks.push(c)
        })
        res.on('end', () => {
          finish(undefined, {
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            controller: endpoint.url,
          })
        })
        res.on('error', (e: NodeJS.ErrnoException) => finish(new AttemptError('transport', true, describeSocketError(e))))
        res.on('aborted', () => finish(new AttemptError('transport', true, 'connection closed mid-reply')))
      })
      request.end(req.body)
    })
  }
}

function bytesText(n: number): string {
  return n % (1024 * 1024) === 0 ? `${n / (1024 * 1024)} MiB` : `${n} bytes`
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(new PluginError('ABORTED', 'aborted by caller'))
      return
    }
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = (): void => {
      clearTimeout(t)
      reject(new PluginError('ABORTED', 'aborted by caller'))
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
