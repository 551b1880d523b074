/**
 * Error reports (api/rest/v1/ErrorReports.java), physical storage (PhysicalStorage.java) and the
 * space report (SpaceTracking.java).
 */
import { MASK_DEL, RC } from '../api-call-rc.js'
import type { Emu } from '../context.js'
import type { ErrorReportEntry } from '../error-reports.js'
import type { RouteTable } from '../http-kit.js'
import { mutation, param, query, queryBool, queryString, readBody } from '../http-kit.js'
import type { JsonValue } from '../json-writer.js'
import * as T from '../request-types.js'

function reportJson(emu: Emu, r: ErrorReportEntry, withContent: boolean): JsonValue {
  return {
    node_name: r.node,
    error_time: r.time,
    filename: `ErrorReport-${r.id}.log`,
    module: r.module,
    version: r.version,
    peer: r.peer,
    exception: r.exception,
    exception_message: r.exceptionMessage,
    text: withContent ? emu.errorReports.text(r) : undefined,
  }
}

function timeParam(v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined
  const n = Number(v)
  return Number.isFinite(n) ? n : undefined
}

export function reportRoutes(emu: Emu, routes: RouteTable): void {
  // GET /v1/error-reports[?node=&since=&to=&withContent=&limit=]: the controller's and the
  // satellites' reports (the emulated satellites file none), at most `limit` (default 1000).
  const list = (id: string | undefined) => (req: Parameters<Parameters<typeof query>[2]>[0]): JsonValue => {
    const node = queryString(req, 'node')
    const filter: Parameters<typeof emu.errorReports.list>[0] = {}
    if (node !== undefined) filter.node = node
    if (id !== undefined) filter.ids = [id]
    const since = timeParam(queryString(req, 'since'))
    const to = timeParam(queryString(req, 'to'))
    if (since !== undefined) filter.since = since
    if (to !== undefined) filter.to = to
    const limit = Number(queryString(req, 'limit') ?? 1000)
    const withContent = queryString(req, 'withContent') === undefined ? id !== undefined : queryBool(req, 'withContent')
    const found = emu.errorReports.list(filter)
    return (limit > 0 ? found.slice(0, limit) : found).map((r) => reportJson(emu, r, withContent))
  }
  routes.add('get', '/v1/error-reports', query(emu, { op: 0n, obj: 0n, objRefs: {} }, list(undefined)))
  routes.add('get', '/v1/error-reports/:reportid', query(emu, { op: 0n, obj: 0n, objRefs: {} }, (req) => list(param(req, 'reportid'))(req)))

  // PATCH /v1/error-reports deletes by filter; DELETE /v1/error-reports/{id} one report.
  routes.add(
    'patch',
    '/v1/error-reports',
    mutation(emu, { ctx: { op: MASK_DEL, obj: 0n, objRefs: {} }, successStatus: 200 }, (req, reply) => {
      const body = readBody(req, T.ErrorReportDelete)
      const filter: Parameters<typeof emu.errorReports.delete>[0] = {}
      if (typeof body['since'] === 'number') filter.since = body['since']
      if (typeof body['to'] === 'number') filter.to = body['to']
      if (typeof body['exception'] === 'string') filter.exception = body['exception']
      if (typeof body['version'] === 'string') filter.version = body['version']
      if (Array.isArray(body['ids'])) filter.ids = (body['ids'] as unknown[]).filter((x): x is string => typeof x === 'string')
      const n = emu.errorReports.delete(filter)
      reply.add(RC.DELETED, `Deleted ${n} error report(s)`)
    }),
  )
  routes.add(
    'delete',
    '/v1/error-reports/:reportid',
    mutation(emu, { ctx: { op: MASK_DEL, obj: 0n, objRefs: {} }, successStatus: 200 }, (req, reply) => {
      const n = emu.errorReports.delete({ ids: [param(req, 'reportid')] })
      reply.add(RC.DELETED, `Deleted ${n} error report(s)`)
    }),
  )

  // PhysicalStorage.listPhysicalStorage: the unused block devices the satellites find, grouped by
  // size and rotational. The emulated satellites have no spare devices: an empty list.
  routes.add('get', '/v1/physical-storage', query(emu, { op: 0n, obj: 0n, objRefs: {} }, () => []))
  routes.add('get', '/v1/physical-storage/:node', query(emu, { op: 0n, obj: 0n, objRefs: {} }, () => []))

  // SpaceTracking.querySpaceReport: the open-source controller binds no SpaceTrackingService
  // (DefaultSpaceTrackingModule provides null), so the report says so.
  routes.add('get', '/v1/space-report', query(emu, { op: 0n, obj: 0n, objRefs: {} }, () => ({ reportText: 'The SpaceTracking service is not installed.' })))
}
