/**
 * Turns transport replies into values or errors. Success or failure is decided from the ApiCallRc
 * list (any entry with the ERROR mask fails the call), never from the HTTP status alone: the real
 * controller answers most errors with 500 and some successes with codes the spec does not list.
 */
import { PluginError } from '../errors/index.js'
import { isError } from './api-call-rc.js'
import type { ApiCallRc } from './api-call-rc.js'
import { LinstorApiError } from './errors.js'
import { parseLinstorJson, stringifyLinstorJson } from './json.js'
import { isApiCallRcList, readApiCallRcList } from './readers.js'
import type { HttpMethod, LinstorTransport, QueryValue } from './transport.js'

/** Per-call options every client method accepts. */
export interface CallOptions {
  /** Total deadline for this call (all controllers, retries); default the client's. */
  timeoutMs?: number
  signal?: AbortSignal
}

/** A reply as received: status, parsed body (losslessly) and whether it parsed. */
export interface Exchange {
  status: number
  controller: string
  text: string
  value: unknown
  parsed: boolean
}

export interface RequestSpec {
  method: HttpMethod
  path: string
  query?: Readonly<Record<string, QueryValue>>
  body?: unknown
  idempotent?: boolean
}

/**
 * Percent-encodes one path segment (names are validated by the controller, not here). `.` and `..`
 * are refused: encodeURIComponent leaves them as they are, and a server or proxy normalising the
 * path would send the request to another resource.
 */
export function seg(name: string | number): string {
  const s = String(name)
  if (s === '.' || s === '..') throw new PluginError('CALL_INVALID', `'${s}' is not a LINSTOR object name`)
  return encodeURIComponent(s)
}

export class Caller {
  readonly transport: LinstorTransport

  constructor(transport: LinstorTransport) {
    this.transport = transport
  }

  /** Sends and parses, without judging the status: for replies with their own error shape (clone). */
  async exchange(spec: RequestSpec, options: CallOptions = {}): Promise<Exchange> {
    const res = await this.transport.request({
      method: spec.method,
      path: spec.path,
      ...(spec.query === undefined ? {} : { query: spec.query }),
      ...(spec.body === undefined ? {} : { body: stringifyLinstorJson(spec.body) }),
      ...(spec.idempotent === undefined ? {} : { idempotent: spec.idempotent }),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    })
    const text = res.body.trim()
    let value: unknown
    let parsed = true
    if (text !== '') {
      try {
        value = parseLinstorJson(text)
      } catch {
        parsed = false
      }
    }
    return { status: res.status, controller: res.controller, text, value, parsed }
  }

  /** The error for a failed exchange: LinstorApiError when the body is a LINSTOR reply list. */
  failure(spec: RequestSpec, ex: Exchange): PluginError {
    if (ex.value !== undefined && isApiCallRcList(ex.value)) {
      return new LinstorApiError(spec.method, spec.path, ex.status, readApiCallRcList(ex.value), { context: { controller: ex.controller } })
    }
    const snippet = ex.text.replace(/\s+/g, ' ').slice(0, 200)
    return new PluginError(
      ex.status === 401 || ex.status === 403 ? 'LINSTOR_UNAUTHORIZED' : 'LINSTOR_HTTP_ERROR',
      `LINSTOR ${spec.method} ${spec.path} failed: HTTP ${ex.status}${snippet === '' ? '' : `: ${snippet}`}`,
      { context: { method: spec.method, path: spec.path, status: ex.status, controller: ex.controller } },
    )
  }

  async #send(spec: RequestSpec, options: CallOptions): Promise<Exchange> {
    const ex = await this.exchange(spec, options)
    if (ex.status < 200 || ex.status >= 300) throw this.failure(spec, ex)
    if (!ex.parsed) {
      throw new PluginError('LINSTOR_BAD_REPLY', `LINSTOR ${spec.method} ${spec.path}: reply is not JSON (HTTP ${ex.status})`, {
        context: { method: spec.method, path: spec.path, status: ex.status, controller: ex.controller },
      })
    }
    return ex
  }

  /** A mutation: resolves to the reply list; rejects with LinstorApiError if any entry is an error. */
  async mutate(spec: RequestSpec, options: CallOptions = {}): Promise<ApiCallRc[]> {
    const { status, value, controller } = await this.#send(spec, options)
    const entries = value === undefined ? [] : readApiCallRcList(value)
    if (entries.some(isError)) {
      throw new LinstorApiError(spec.method, spec.path, status, entries, { context: { controller } })
    }
    return entries
  }

  /** A query: the reply body read by `read`. */
  async query<T>(spec: RequestSpec, read: (v: unknown) => T, options: CallOptions = {}): Promise<T> {
    const { value } = await this.#send(spec, options)
    return read(value)
  }

  /** A single-object query: undefined when the controller says the object (or its parent) does not exist. */
  async find<T>(spec: RequestSpec, read: (v: unknown) => T, options: CallOptions = {}): Promise<T | undefined> {
    try {
      return await this.query(spec, read, options)
    } catch (e) {
      if (e instanceof LinstorApiError && e.code === 'LINSTOR_NOT_FOUND') return undefined
      throw e
    }
  }
}
