/**
 * HTTP plumbing shared by the route modules: writing replies with the emulator's JSON writer,
 * running mutations as the controller does (errors become ApiCallRc entries, the first error entry
 * decides the status), body parsing with LINSTOR's parse-error behaviour, and query helpers.
 */
import type { Request, Response, Router } from 'express'
import { ApiRcError, RC, ReplyBuilder, entriesToJson, formatTimestamp, statusFor } from './api-call-rc.js'
import type { ApiCallRc, ResponseContext } from './api-call-rc.js'
import type { Emu } from './context.js'
import type { JClass } from './jackson.js'
import { JacksonError, readValue } from './jackson.js'
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

/**
 * An exception the controller's Java code would throw where it dereferences what a body left null
 * (e.g. a top-level `null`): answered like any unexpected exception of the entry point.
 */
export class JavaException extends Error {
  readonly exception: string
  constructor(exception: string, message: string) {
    super(message)
    this.name = 'JavaException'
    this.exception = exception
  }
}

function rawText(req: Request): string {
  return (req as RawBodyRequest).rawBody?.toString('utf8') ?? ''
}

/**
 * The body read as `objectMapper.readValue(jsonData, type)` (see jackson.ts); throws a
 * JacksonError the route's entry point answers. `emptyAsNew`: the REST method checks for an empty
 * body first and then uses `new Type()` (e.g. SnapshotRollback, VolumeGroups.createVolumeGroup);
 * `emptyAsObject`: it reads "{}" instead (query-size-info).
 */
export function readBody(req: Request, type: JClass, opts: { emptyAsNew?: boolean } = {}): Record<string, unknown> {
  const text = rawText(req)
  const v = readValue(opts.emptyAsNew === true && text === '' ? '{}' : text, type)
  if (v === undefined || v === null) throw new JavaException('NullPointerException', `Cannot read field because "${type.name.charAt(0).toLowerCase()}${type.name.slice(1)}" is null`)
  return v as Record<string, unknown>
}

/** A body that is a bare JSON string (`objectMapper.readValue(json, String.class)`); undefined for `null`. */
export function readBodyString(req: Request): string | undefined {
  return readValue(rawText(req), 'String') as string | undefined
}

/** A body that is a JSON list of `type` (e.g. `ResourceCreate[]`); null elements stay null. */
export function readBodyList(req: Request, type: JClass): Array<Record<string, unknown> | null> {
  const v = readValue(rawText(req), { list: type })
  if (v === undefined || v === null) throw new JavaException('NullPointerException', 'Cannot invoke "Object.getClass()" because "a" is null')
  return v as Array<Record<string, unknown> | null>
}

/**
 * How a REST method of the controller turns a body it cannot read into a reply:
 * - `sync`: inside RequestHelper.doInScope: a JsonParseException or JsonMappingException answers
 *   400 with API_CALL_PARSE_ERROR "Unable to parse input json." and an error report; anything
 *   else (an InputCoercionException, an NPE) 500 FAIL_UNKNOWN_ERROR "Exception thrown.";
 * - `async`: caught as IOException and answered by ApiCallRcRestUtils.handleJsonParseException:
 *   API_CALL_PARSE_ERROR without an error report, whose status toResponse derives from the code:
 *   500 (its code bits are neither 3xx nor 4xx);
 * - `escape`: the method declares `throws IOException` and Jersey hands the exception to
 *   GrizzlyHttpService's LinstorMapper: a parse or mapping exception answers 500 with
 *   API_CALL_PARSE_ERROR and an error report, anything else 500 "An unknown error occurred.".
 */
export type ParseStyle = 'sync' | 'async' | 'escape'

/** One reply entry built without a response context (ApiCallRcImpl.entryBuilder): bare code. */
function bareEntry(emu: Emu, code: bigint, message: string, details: string | undefined, reportId: string | undefined): ApiCallRc {
  const e: ApiCallRc = { ret_code: code, message, created_at: formatTimestamp(emu.clock()) }
  if (details !== undefined) e.details = details
  if (reportId !== undefined) e.error_report_ids = [reportId]
  return e
}

function peerOf(req: Request): string {
  return `RestClient(${req.socket.remoteAddress ?? ''}; '${req.get('user-agent') ?? ''}')`
}

/** Answers a body the entry point could not read (see ParseStyle); false when `err` is no such error. */
export function answerBodyError(emu: Emu, req: Request, res: Response, err: unknown, style: ParseStyle): boolean {
  if (!(err instanceof JacksonError) && !(err instanceof JavaException)) return false
  const jsonError = err instanceof JacksonError && err.kind !== 'coercion'
  const report = (): string => emu.errorReports.add(err.exception, err.message, emu.clock(), peerOf(req))
  if (style === 'async' && err instanceof JacksonError) {
    sendEntries(res, 500, [bareEntry(emu, RC.API_CALL_PARSE_ERROR, 'Unable to parse input json.', err.message, undefined)])
  } else if (jsonError) {
    sendEntries(res, style === 'sync' ? 400 : 500, [bareEntry(emu, RC.API_CALL_PARSE_ERROR, 'Unable to parse input json.', err.message, report())])
  } else {
    sendEntries(res, 500, [bareEntry(emu, RC.FAIL_UNKNOWN_ERROR, style === 'sync' ? 'Exception thrown.' : 'An unknown error occurred.', err.message, report())])
  }
  return true
}

/**
 * A reply of one bare entry, as RequestHelper.notFoundResponse builds for a single-object GET
 * whose object is missing: ApiCallRcImpl.simpleEntry(code, message), no masks, no obj_refs.
 */
export class SimpleReply extends Error {
  readonly status: number
  readonly retCode: bigint
  constructor(status: number, retCode: bigint, message: string) {
    super(message)
    this.name = 'SimpleReply'
    this.status = status
    this.retCode = retCode
  }
}

/** RequestHelper.notFoundResponse(code, message): 404 with the bare code and the message. */
export function notFound(retCode: bigint, message: string): SimpleReply {
  return new SimpleReply(404, retCode, message)
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
  /** How the controller's REST method answers a body it cannot read (default 'async'). */
  parse?: ParseStyle
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
    const status = o.successStatus
    try {
      // One change: persisted when the handler returns, undone when it throws (journal.ts).
      emu.change(() => handler(req, reply))
    } catch (err) {
      try {
        reconcileFiles(emu)
      } catch (fsErr) {
        emu.log.warn({ err: fsErr }, 'could not reconcile device files after a rollback')
      }
      if (answerBodyError(emu, req, res, err, o.parse ?? 'async')) return
      if (err instanceof ApiRcError) {
        reply.add(err.retCode, err.message, err.options)
      } else {
        emu.log.error({ err }, 'unexpected error in handler')
        const id = emu.errorReports.add(err instanceof Error ? err.name : 'Error', err instanceof Error ? err.message : String(err), emu.clock(), peerOf(req))
        reply.add(RC.FAIL_UNKNOWN_ERROR, `An unknown error occurred: ${err instanceof Error ? err.message : String(err)}`)
        const last = reply.entries[reply.entries.length - 1]
        if (last !== undefined) last.error_report_ids = [id]
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
      if (err instanceof SimpleReply) {
        sendEntries(res, err.status, [bareEntry(emu, err.retCode, err.message, undefined, undefined)])
        return
      }
      if (answerBodyError(emu, req, res, err, 'escape')) return
      const reply = new ReplyBuilder(typeof ctx === 'function' ? ctx(req) : ctx, emu.clock)
      if (err instanceof ApiRcError) reply.add(err.retCode, err.message, err.options)
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
