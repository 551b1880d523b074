/**
 * The call on whose behalf code runs, across awaits: the dispatcher runs each operation in the
 * scope of its deadline (and the abort signal that deadline fires), so the LINSTOR transport
 * underneath a Storage shared by many calls can tell that the call it works for is past its
 * deadline, and never waits past it, without every function in between passing them along. The
 * scope itself is core/linstor's request scope; budgets nest inside it (withinBudget).
 */
// The scope module alone, not core/linstor's index: the dispatcher loads this in every one-shot
// process, and a ping must not pay for loading the LINSTOR client.
import { currentScopeDeadline, currentScopeSignal, runInRequestScope } from '../linstor/scope.js'

/**
 * Time the transport leaves before the call's deadline: a request still waiting then fails with its
 * own error (naming the controllers it tried) before the call fails as CALL_DEADLINE. A tenth of
 * the deadline, from 250 ms to 1 s (timers of a busy machine fire late).
 */
export const REPLY_MARGIN_MS = 250

/** The reply margin of a call with `limitMs` to run. */
export function replyMarginMs(limitMs: number): number {
  return Math.min(1_000, Math.max(REPLY_MARGIN_MS, Math.round(limitMs / 10)))
}

/** Runs `fn` (and everything it awaits) as part of the call whose deadline aborts `signal`. */
export function runInCallScope<T>(signal: AbortSignal, fn: () => T, deadline: number = Number.POSITIVE_INFINITY): T {
  return runInRequestScope({ signal, deadline }, fn)
}

/** The abort signal of the call (or budget) the current code runs for; undefined outside a call. */
export function currentCallSignal(): AbortSignal | undefined {
  return currentScopeSignal()
}

/** The deadline (epoch ms) requests of the current call (or budget) must end by; undefined outside a call. */
export function currentCallDeadline(): number | undefined {
  const d = currentScopeDeadline()
  return d === undefined || !Number.isFinite(d) ? undefined : d
}
