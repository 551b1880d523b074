/**
 * Time in tests. No test compares how long something took against a number of its own: the CI
 * machine has 2 cores and may be busy, and speed is bench/'s business. What a test may bound is a
 * deadline the code under test enforces on itself (a call's deadlineMs, a status budget, a connect
 * timeout), plus this generous margin for scheduling; that tells "answered by its own deadline" from
 * "hung" on any machine. Tests that want "did not wait for the controller" make the controller's
 * delay far longer than deadline + margin (see the emulator's delay and black-hole faults).
 */
import assert from 'node:assert/strict'

/** Scheduling slack allowed past a deadline the code enforces on itself. */
export const SCHEDULING_MARGIN_MS = 20_000

/** Rejects with a clear failure when `p` has not settled `deadlineMs` + the margin after the call. */
export async function withinDeadline<T>(p: Promise<T>, deadlineMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const limit = deadlineMs + SCHEDULING_MARGIN_MS
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer ${limit} ms after the call, though its own deadline is ${deadlineMs} ms (a hang)`)), limit)))])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Asserts that something that took `tookMs` (measured by the test, or reported by the code itself,
 * e.g. a call's own timing inside PVE's library) settled before its own deadline plus the margin.
 */
export function assertWithinDeadline(tookMs: number, deadlineMs: number, what: string): void {
  assert.ok(tookMs < deadlineMs + SCHEDULING_MARGIN_MS, `${what}: settled ${Math.round(tookMs)} ms after the call, past its own deadline of ${deadlineMs} ms plus ${SCHEDULING_MARGIN_MS} ms of scheduling margin`)
}

/**
 * Runs `work` and asserts it settled (resolved or rejected) before its own deadline plus the margin;
 * passes its result or its error through.
 */
export async function boundedBy<T>(deadlineMs: number, what: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now()
  try {
    return await work()
  } finally {
    assertWithinDeadline(performance.now() - started, deadlineMs, what)
  }
}
