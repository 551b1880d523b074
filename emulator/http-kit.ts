/**
 * HTTP plumbing shared by the route modules: writing replies with the emulator's JSON writer,
 * running mutations as the controller does (errors become ApiCallRc entries, the first error entry
 * decides the status), body parsing with LINSTOR's parse-error behaviour, and query helpers.
 */
import type { Request, Response, Router } from 'express'
import { ApiRcError, RC, ReplyBuilder, entriesToJson, statusFor } from './api-call-rc.js'
import type { ApiCallRc, ResponseContext } from './api-call-rc.js'
import type { Emu } from './context.js'
import type { EmulatorState } from './model.js'
import type { JsonValue } from './json-writer.js'
import { writeJson } from './json-writer.js'
import { reconcileFiles } from './replicas.js'

/** The raw body, read by the server's body middleware. */
export interface RawBodyRequest extends Request {
  rawBody?: Buffer
}

/** A scalar body field as text ('' for objects, arrays and absent values). */
export function text(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' ? String(v) : ''
}

export function sendJson(res: Response, status: number, value: JsonValue): void {
  const body = writeJson(value)
  res.status(status)
  res.setHeader('Content-Type', 'application/json')
  res.end(body)
}

export function sendEntries(res: Response, status: number, entries: readonly ApiCallRc[]): void {
  sendJson(res, status, entriesToJson(entries))
}

export class BodyParseError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'BodyParseError'
  }
}

/** The JSON body, or undefined when the request had none. */
export function jsonBody(req: Request): unknown {
  const raw = (req as RawBodyRequest).rawBody
  if (raw === undefined || raw.length === 0) return undefined
  const text = raw.toString('utf8')
  if (text.trim() === '') return undefined
  try {
    return JSON.parse(text) as unknown
  } catch (err) {
    throw new BodyParseError(err instanceof Error ? err.message : String(err))
  }
}

/** The body as an object ({} when absent); anything else is a mapping error. */
export function objectBody(req: Request, required = false): Record<string, unknown> {
  const body = jsonBody(req)
  if (body === undefined) {
    if (required) throw new BodyParseError('No content to map due to end-of-input')
    return {}
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BodyParseError('Expected a JSON object')
  return body as Record<string, unknown>
}

export function queryList(req: Request, name: string): string[] {
  const v = req.query[name]
  if (v === undefined) return []
  const list = Array.isArray(v) ? v : [v]
  return list.filter((x): x is string => typeof x === 'string').flatMap((x) => x.split(',')).filter((x) => x !== '')
}

export function queryString(req: Request, name: string): string | undefined {
  const v = req.query[name]
  if (typeof v === 'string') return v
  if (Array.isArray(v) && typeof v[0] === 'string') return v[0]
  return undefined
}

export function queryBool(req: Request, name: string): boolean {
  const v = queryString(req, name)
  return v !== undefined && /^(true|1|yes)$/i.test(v)
}

/** limit/offset paging (limit 0 = everything). */
export function page<T>(req: Request, items: T[]): T[] {
  const offset = Math.max(0, Number(queryString(req, 'offset') ?? 0) || 0)
  const limit = Math.max(0, Number(queryString(req, 'limit') ?? 0) || 0)
  const from = items.slice(offset)
  return limit > 0 ? from.slice(0, limit) : from
}

/** A path parameter (Express 5 already decoded it). */
export function param(req: Request, name: string): string {
  const v = (req.params as Record<string, string | string[] | undefined>)[name]
  return Array.isArray(v) ? v.join('/') : (v ?? '')
}

/** The props filter of list endpoints: each entry "key" (must exist) or "key=value". */
export function matchesPropsFilter(props: Readonly<Record<string, string>>, filters: readonly string[]): boolean {
  return filters.every((f) => {
    const i = f.indexOf('=')
    if (i < 0) return Object.hasOwn(props, f)
    return props[f.slice(0, i)] === f.slice(i + 1)
  })
}

export interface MutationOptions {
  ctx: ResponseContext
  successStatus: number
  /**
   * Synchronous handlers of the controller answer 400 to an unparsable body; the asynchronous ones
   * route the parse error through the normal mapping and answer 500.
   */
  syncParse?: boolean
}

/**
 * Runs a mutation like a controller API call: the handler adds entries; a thrown ApiRcError
 * becomes an entry; the state is rolled back when the call failed with an exception (the
 * controller's transaction), and saved otherwise.
 */
export function mutation(
  emu: Emu,
  opts: MutationOptions | ((req: Request) => MutationOptions),
  handler: (req: Request, reply: ReplyBuilder) => void,
): (req: Request, res: Response) => void {
  return (req, res) => {
    const o = typeof opts === 'function' ? opts(req) : opts
    const reply = new ReplyBuilder(o.ctx, emu.clock)
    const before: EmulatorState = structuredClone(emu.state)
    let status = o.successStatus
    try {
      handler(req, reply)
      emu.save()
    } catch (err) {
      emu.state = before
      try {
        reconcileFiles(emu)
      } catch (fsErr) {
        emu.log.warn({ err: fsErr }, 'could not reconcile device files after a rollback')
      }
      if (err instanceof BodyParseError) {
        reply.add(RC.API_CALL_PARSE_ERROR, 'Unable to parse the request body.', { cause: err.message })
        status = o.syncParse === true ? 400 : 500
        sendEntries(res, status, reply.entries)
        return
      }
      if (err instanceof ApiRcError) {
        reply.add(err.retCode, err.message, err.options)
      } else {
        emu.log.error({ err }, 'unexpected error in handler')
        reply.add(RC.FAIL_UNKNOWN_ERROR, `An unknown error occurred: ${err instanceof Error ? err.message : String(err)}`)
      }
    }
    sendEntries(res, statusFor(reply.entries, status), reply.entries)
  }
}

/** A read endpoint; a thrown ApiRcError (e.g. not found) becomes its ApiCallRc reply. */
export function query(emu: Emu, ctx: ResponseContext | ((req: Request) => ResponseContext), handler: (req: Request) => JsonValue): (req: Request, res: Response) => void {
  return (req, res) => {
    try {
      sendJson(res, 200, handler(req))
    } catch (err) {
      const reply = new ReplyBuilder(typeof ctx === 'function' ? ctx(req) : ctx, emu.clock)
      if (err instanceof ApiRcError) reply.add(err.retCode, err.message, err.options)
      else if (err instanceof BodyParseError) reply.add(RC.API_CALL_PARSE_ERROR, 'Unable to parse the request body.', { cause: err.message })
      else {
        emu.log.error({ err }, 'unexpected error in query')
        reply.add(RC.FAIL_UNKNOWN_ERROR, `An unknown error occurred: ${err instanceof Error ? err.message : String(err)}`)
      }
      sendEntries(res, statusFor(reply.entries, 500), reply.entries)
    }
  }
}

export type Method = 'get' | 'post' | 'put' | 'delete' | 'patch' | 'options'

/** Registered routes, for method-not-allowed answers and per-template counters. */
export class RouteTable {
  readonly routes: Array<{ method: string; template: string; re: RegExp }> = []
  readonly #router: Router

  constructor(router: Router) {
    this.#router = router
  }

  add(method: Method, path: string, handler: (req: Request, res: Response) => void | Promise<void>): void {
    this.#router[method](path, handler)
    const template = path.replace(/:([A-Za-z_]+)/g, '{$1}')
    const re = new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:([A-Za-z_]+)/g, '[^/]+')}/?$`)
    this.routes.push({ method: method.toUpperCase(), template, re })
  }

  /** The template of a path ("/v1/nodes/{node}") for a method, or of any method. */
  match(method: string, path: string): { template: string; methodAllowed: boolean } | undefined {
    const hits = this.routes.filter((r) => r.re.test(path))
    if (hits.length === 0) return undefined
    // Prefer literal segments over parameters (e.g. /v1/resource-groups/adjustall over {rg}).
    const byMethod = hits.filter((r) => r.method === method)
    const pick = (list: typeof hits): string =>
      [...list].sort((a, b) => (a.template.match(/\{/g)?.length ?? 0) - (b.template.match(/\{/g)?.length ?? 0))[0]?.template ?? ''
    if (byMethod.length > 0) return { template: pick(byMethod), methodAllowed: true }
    return { template: pick(hits), methodAllowed: false }
  }
}
