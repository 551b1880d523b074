/**
 * When to try a failed LINSTOR request again, as a pure function (the shape of got's
 * calculate-retry-delay): capped exponential back-off with jitter, idempotent requests only,
 * except that a request that never reached a controller may always be tried again.
 */

export interface RetryPolicy {
  /** Rounds over the controller list, the first included. */
  maxAttempts: number
  baseDelayMs: number
  maxDelayMs: number
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({ maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 2_000 })

export type Failure =
  /** Nothing was sent: refused, connect timeout, TLS handshake failure, DNS. */
  | { kind: 'connect' }
  /** Sent, then the connection broke or no answer came. */
  | { kind: 'transport' }
  /** An HTTP answer. `linstorReply`: the body is an ApiCallRc list, i.e. the controller itself decided. */
  | { kind: 'status'; status: number; linstorReply: boolean; retryAfterMs?: number }

export interface RetryInput {
  /** 1-based number of the attempt that just failed. */
  attempt: number
  idempotent: boolean
  failure: Failure
  /** Time left before the call's deadline. */
  remainingMs: number
  /** In [0, 1); injected so tests are deterministic. */
  random: number
}

const RETRY_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504])

/** Milliseconds to wait before the next attempt, or undefined: do not retry. */
export function retryDelay(policy: RetryPolicy, input: RetryInput): number | undefined {
  if (input.attempt >= policy.maxAttempts) return undefined
  const { failure } = input
  if (failure.kind === 'transport' && !input.idempotent) return undefined
  if (failure.kind === 'status') {
    // A LINSTOR reply list is the controller's decision (errors come as 500 too): asking again
    // would get the same answer. Only gateways, overload and bodies that are not LINSTOR's.
    if (!input.idempotent || failure.linstorReply || !RETRY_STATUSES.has(failure.status)) return undefined
  }
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (input.attempt - 1))
  // "Equal jitter": half fixed, half random, so concurrent clients spread out but never hammer.
  let delay = Math.round(exp / 2 + (exp / 2) * input.random)
  if (failure.kind === 'status' && failure.retryAfterMs !== undefined) {
    if (failure.retryAfterMs > policy.maxDelayMs) return undefined
    delay = Math.max(delay, failure.retryAfterMs)
  }
  return delay < input.remainingMs ? delay : undefined
}

/** Parses a Retry-After header (seconds or HTTP date) into milliseconds from `now`. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}
