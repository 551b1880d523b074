/**
 * The scope LINSTOR requests run in: an abort signal and a deadline, carried across awaits. The
 * call protocol runs each operation in the scope of its call (deadline and abort signal); code that
 * must not wait on the controller for long (starting and stopping a VM on a host that holds the
 * volume) runs a part of its work in a shorter budget nested inside. A client built with
 * `callSignal`/`callDeadline` reading this scope (as the call protocol's Storage is) never lets a
 * request outlive the scope's deadline, and sends no write once the scope's signal is aborted.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { PluginError } from '../errors/index.js'
// Kept free of the client's modules: the call protocol's dispatcher loads this in every process.

export interface RequestScope {
  /** Aborted when the call (or the budget) is over: no more writes for it. */
  signal: AbortSignal
  /** Epoch milliseconds after which no request of this scope may still wait for an answer. */
  deadline: number
}

const store = new AsyncLocalStorage<RequestScope>()
/** setTimeout's largest delay (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1

/** Runs `fn` (and everything it awaits) in `scope`. */
export function runInRequestScope<T>(scope: RequestScope, fn: () => T): T {
  return store.run(scope, fn)
}

/** The scope the current code runs in; undefined outside any. */
export function currentRequestScope(): RequestScope | undefined {
  return store.getStore()
}

/** The abort signal of the current scope (for a client's `callSignal`). */
export function currentScopeSignal(): AbortSignal | undefined {
  return store.getStore()?.signal
}

/** The deadline of the current scope (for a client's `callDeadline`). */
export function currentScopeDeadline(): number | undefined {
  return store.getStore()?.deadline
}

/** Milliseconds left in the current scope (Infinity outside any), never negative. */
export function scopeRemainingMs(): number {
  const s = store.getStore()
  return s === undefined ? Number.POSITIVE_INFINITY : Math.max(0, s.deadline - Date.now())
}

/** The error of a budget that ran out: no controller answered within it. */
export function budgetExceeded(ms: number): PluginError {
  return new PluginError('LINSTOR_DEADLINE', `no answer from LINSTOR within the ${ms} ms budget`, { context: { budgetMs: ms } })
}

/**
 * Runs `fn` with at most `ms` more (and never past the enclosing scope's deadline). When the
 * budget runs out first, the result is a LINSTOR_DEADLINE error, the budget's requests are cut
 * (their deadline is the budget's) and nothing started in it writes any more (its signal is
 * aborted); `fn` is abandoned. The signal is aborted as well when `fn` ends, so no straggler of it
 * writes later.
 */
export async function withinBudget<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  const parent = store.getStore()
  const ctl = new AbortController()
  const deadline = Math.min(parent?.deadline ?? Number.POSITIVE_INFINITY, Date.now() + Math.max(0, ms))
  const allowed = Math.max(0, Math.round(deadline - Date.now()))
  const onParentAbort = (): void => ctl.abort()
  if (parent?.signal.aborted === true) ctl.abort()
  else parent?.signal.addEventListener('abort', onParentAbort, { once: true })
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_, reject) => {
    // No deadline at all (no budget, no enclosing call): nothing to time.
    if (!Number.isFinite(deadline)) return
    timer = setTimeout(() => {
      ctl.abort()
      reject(budgetExceeded(allowed))
    }, Math.min(MAX_TIMER_MS, Math.max(0, deadline - Date.now())))
  })
  try {
    return await Promise.race([store.run({ signal: ctl.signal, deadline }, fn), expired])
  } finally {
    clearTimeout(timer)
    parent?.signal.removeEventListener('abort', onParentAbort)
    ctl.abort()
  }
}
