/** Errors of the LINSTOR client: the controller said no, or no controller could be asked. */
import { PluginError } from '../errors/index.js'
import type { ErrorCode, PluginErrorOptions } from '../errors/index.js'
import { codeOf, describeCode, isError, matches } from './api-call-rc.js'
import type { ApiCallRc } from './api-call-rc.js'

function entryText(e: ApiCallRc): string {
  const parts = [`${e.message.replace(/\s+$/, '')} [${describeCode(e.ret_code)}]`]
  if (e.cause !== undefined && e.cause !== '') parts.push(`Cause: ${e.cause}`)
  if (e.correction !== undefined && e.correction !== '') parts.push(`Correction: ${e.correction}`)
  if (e.details !== undefined && e.details !== '') parts.push(`Details: ${e.details}`)
  if (e.error_report_ids.length > 0) parts.push(`Error report: ${e.error_report_ids.join(', ')}`)
  return parts.join(' ')
}

function classify(status: number, entries: readonly ApiCallRc[]): ErrorCode {
  if (status === 401 || status === 403) return 'LINSTOR_UNAUTHORIZED'
  const first = entries.find(isError)
  if (status === 404 && first !== undefined) {
    const code = codeOf(first.ret_code)
    if (code >= 300 && code < 400) return 'LINSTOR_NOT_FOUND'
  }
  return 'LINSTOR_API_ERROR'
}

/**
 * The controller answered, and at least one entry carries the ERROR mask (or the HTTP status says
 * failure). Keeps the whole reply list; `has(RC.X)` tells whether any entry carries code X.
 */
export class LinstorApiError extends PluginError {
  readonly entries: readonly ApiCallRc[]
  readonly status: number
  readonly method: string
  readonly path: string

  constructor(method: string, path: string, status: number, entries: readonly ApiCallRc[], options: PluginErrorOptions = {}) {
    const errors = entries.filter(isError)
    const shown = errors.length > 0 ? errors : entries
    const text = shown.length > 0 ? shown.map(entryText).join('; ') : `HTTP ${status}`
    super(classify(status, entries), `LINSTOR ${method} ${path} failed: ${text}`, {
      ...options,
      context: { method, path, status, ...(options.context ?? {}) },
    })
    this.name = 'LinstorApiError'
    this.entries = entries
    this.status = status
    this.method = method
    this.path = path
  }

  /** Whether any entry carries `code` (a value of RC: severity and code bits compared). */
  has(code: bigint): boolean {
    return this.entries.some((e) => matches(e, code))
  }

  /** The entries with the ERROR mask. */
  get errors(): ApiCallRc[] {
    return this.entries.filter(isError)
  }

  /** Controller error report ids named by any entry. */
  get reportIds(): string[] {
    return this.entries.flatMap((e) => e.error_report_ids)
  }
}

/** One failed try at one controller. `reason` is operator-readable, never holds secrets. */
export interface ControllerAttempt {
  controller: string
  reason: string
  /** Whether the request had been sent when it failed (the controller may have acted on it). */
  sent: boolean
}

/**
 * Every controller failed (refused, timed out, TLS failure) or, for LINSTOR_OUTCOME_UNKNOWN, the
 * connection broke after a non-idempotent request was sent; for LINSTOR_DEADLINE the deadline
 * passed while waiting for an answer.
 */
export class LinstorUnavailableError extends PluginError {
  readonly attempts: readonly ControllerAttempt[]

  constructor(
    code: 'LINSTOR_UNAVAILABLE' | 'LINSTOR_OUTCOME_UNKNOWN' | 'LINSTOR_DEADLINE',
    method: string,
    path: string,
    attempts: readonly ControllerAttempt[],
    options: PluginErrorOptions & { deadlineMs?: number } = {},
  ) {
    // One entry per controller with its last reason, so three tries at one host read as one line.
    const byController = new Map<string, { reason: string; tries: number }>()
    for (const a of attempts) byController.set(a.controller, { reason: a.reason, tries: (byController.get(a.controller)?.tries ?? 0) + 1 })
    const tried = [...byController].map(([c, { reason, tries }]) => `${c} (${reason}${tries > 1 ? `, ${tries} tries` : ''})`).join(', ')
    const lead =
      code === 'LINSTOR_UNAVAILABLE'
        ? 'no LINSTOR controller reachable'
        : code === 'LINSTOR_DEADLINE'
          ? `no answer from the LINSTOR controller within ${options.deadlineMs ?? '?'} ms`
          : 'connection to the LINSTOR controller lost after the request was sent; it may or may not have been applied'
    super(code, `${lead} for ${method} ${path}: ${tried === '' ? 'no controller configured' : tried}`, {
      ...options,
      context: { method, path, ...(options.context ?? {}) },
    })
    this.name = 'LinstorUnavailableError'
    this.attempts = attempts
  }
}
