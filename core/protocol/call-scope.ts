/**
 * The call on whose behalf code runs, across awaits: the dispatcher runs each operation in the
 * scope of its deadline's abort signal, so the LINSTOR transport underneath a Storage shared by
 * many calls can tell that the call it works for is past its deadline, without every function in
 * between passing the signal along.
 */
import { AsyncLocalStorage } from 'node:async_hooks'

const scope = new AsyncLocalStorage<AbortSignal>()

/** Runs `fn` (and everything it awaits) as part of the call whose deadline aborts `signal`. */
export function runInCallScope<T>(signal: AbortSignal, fn: () => T): T {
  return scope.run(signal, fn)
}

/** The abort signal of the call the current code runs for; undefined outside a call. */
export function currentCallSignal(): AbortSignal | undefined {
  return scope.getStore()
}
