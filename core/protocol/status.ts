/**
 * Answers of status-type operations (Proxmox `status`, Cinder `stats`, OpenNebula `monitor`,
 * `core.capacity`) within their 2 s, whatever the controller does (issue 20): the controller's
 * answer when it comes within the call's time less a reply margin, else the last known answer
 * marked stale, else nothing (the adapter then reports inactive or zero). The last answer is kept
 * in the transport's services (the agent) and in the host's state folder (core/ha host-state.ts),
 * so one-shot calls, a fresh process each, have it too.
 */
import { createHash } from 'node:crypto'
import { isPluginError } from '../errors/index.js'
import { isControllerTrouble } from '../ha/index.js'
import type { StatusEntry } from '../ha/index.js'
import { withinBudget } from '../linstor/index.js'
import type { Storage } from '../storage/index.js'
import type { CallContext } from './dispatcher.js'

/** What a status call keeps of its 2 s for answering: the reply, process exit, the shim. */
export const STATUS_REPLY_MARGIN_MS = 400
/** An unchanged answer is written to disk again after this long (so its age stays honest). */
const REWRITE_AFTER_MS = 60_000

export type StatusAnswer<T> =
  | { value: T; stale: false; at: number }
  /** The last known answer; `error` is why no fresh one came. */
  | { value: T; stale: true; at: number; error: unknown }
  /** Nothing known: the adapter reports inactive or zero. */
  | { value?: undefined; stale: true; error: unknown }

/** A key for one storage's status: its name and a hash of the core settings it was built from. */
/** Last status answers kept in memory (a few per storage configuration; MAX_CACHED_CONFIGURATIONS configurations are kept). */
const MAX_STATUS_MEMO = 256

function statusKey(name: string, storage: Storage): string {
  const origin = storage.origin ?? {}
  const digest = createHash('sha256').update(JSON.stringify(origin, Object.keys(origin).sort())).digest('hex').slice(0, 16)
  return `${name}@${digest}`
}

/** Whether a failure may be answered from the last known value (the controller's trouble, not a setting's). */
function staleAllowed(err: unknown): boolean {
  return isControllerTrouble(err) && !(isPluginError(err) && err.code === 'LINSTOR_UNAUTHORIZED')
}

/**
 * The fresh answer of `fetch` within the call's time less STATUS_REPLY_MARGIN_MS, else the last
 * known one of this storage (`name` and the settings it was built from). Errors that are not the controller's trouble (a missing resource group, bad settings)
 * are thrown.
 */
export async function statusAnswer<T>(ctx: CallContext, storage: Storage, name: string, fetch: () => Promise<T>): Promise<StatusAnswer<T>> {
  const key = statusKey(name, storage)
  const memo = ctx.services.shared('status:last', () => new Map<string, StatusEntry<T> & { written: number }>())
  const budget = Math.max(50, ctx.remainingMs() - STATUS_REPLY_MARGIN_MS)
  try {
    const value = await withinBudget(budget, fetch)
    const at = Date.now()
    const before = memo.get(key)
    const same = before !== undefined && JSON.stringify(before.value) === JSON.stringify(value)
    const written = same && at - before.written < REWRITE_AFTER_MS ? before.written : at
    if (written === at) storage.state.writeStatus(key, value, at)
    memo.delete(key)
    memo.set(key, { value, at, written })
    // One entry per status and storage configuration: the oldest go past the bound (the state
    // folder keeps the last answer of each anyway).
    for (const old of memo.keys()) {
      if (memo.size <= MAX_STATUS_MEMO) break
      memo.delete(old)
    }
    return { value, stale: false, at }
  } catch (err) {
    if (!staleAllowed(err)) throw err
    const known = memo.get(key) ?? storage.state.readStatus<T>(key)
    ctx.logger.warn({ status: key, err: err instanceof Error ? err.message : String(err), lastKnown: known === undefined ? 'none' : new Date(known.at).toISOString() }, 'no fresh status answer in time')
    if (known === undefined) return { stale: true, error: err }
    return { value: known.value, stale: true, at: known.at, error: err }
  }
}
