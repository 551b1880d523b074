/**
 * The Express application: body capture and exchange recording, call counters, bearer-token auth,
 * fault injection, the control router, the LINSTOR routes and LINSTOR's answers for unknown paths
 * (404) and methods (405).
 */
import express from 'express'
import type { NextFunction, Request, Response } from 'express'
import { ReplyBuilder, RC, formatTimestamp } from './api-call-rc.js'
import type { JsonValue } from './json-writer.js'
import type { Emu } from './context.js'
import type { Counters, Faults } from './faults.js'
import type { RawBodyRequest } from './http-kit.js'
import { RouteTable, sendEntries } from './http-kit.js'
import { writeJson } from './json-writer.js'
import { controlRouter } from './routes/control.js'
import type { ControlHooks } from './routes/control.js'
import { controllerRoutes } from './routes/controller.js'
import { nodeRoutes } from './routes/nodes.js'
import { resourceDefinitionRoutes } from './routes/resource-definitions.js'
import { resourceGroupRoutes } from './routes/resource-groups.js'
import { resourceRoutes } from './routes/resources.js'
import { snapshotRoutes } from './routes/snapshots.js'
import { reportRoutes } from './routes/reports.js'

/** One request/response pair on a LINSTOR path, as sent on the wire. */
export interface RecordedExchange {
  method: string
  /** Path and query as received. */
  url: string
  /** Raw request body text ('' when none). */
  requestBody: string
  status: number
  /** Raw response body text as sent. */
  responseBody: string
  contentType?: string
}

export interface AppOptions {
  token?: string | undefined
  onExchange?: ((ex: RecordedExchange) => void) | undefined
  faults: Faults
  counters: Counters
  stopListening: ControlHooks['stopListening']
  /** Called before every request (picks up a state another emulator on the same dir wrote). */
  refresh?: (() => void) | undefined
}

const MAX_BODY = 64 * 1024 * 1024

function isLinstorPath(path: string): boolean {
  return path === '/health' || path === '/v1' || path.startsWith('/v1/')
}

function readBody(req: Request, res: Response, next: NextFunction): void {
  const chunks: Buffer[] = []
  let size = 0
  let tooLarge = false
  req.on('data', (c: Buffer) => {
    size += c.length
    if (size > MAX_BODY) {
      tooLarge = true
      return
    }
    chunks.push(c)
  })
  req.on('end', () => {
    if (tooLarge) {
      res.status(413).end()
      return
    }
    ;(req as RawBodyRequest).rawBody = Buffer.concat(chunks)
    next()
  })
  req.on('error', () => res.destroy())
}

export function createApp(emu: Emu, opts: AppOptions): { app: express.Express; routes: RouteTable } {
  const app = express()
  app.disable('x-powered-by')
  app.disable('etag')
  app.set('query parser', 'simple')
  const router = express.Router()
  const routes = new RouteTable(router)

  // Exchange recording: capture what is written on LINSTOR paths, exactly as sent.
  app.use((req, res, next) => {
    if (opts.onExchange === undefined || !isLinstorPath(req.path)) return next()
    const end = res.end.bind(res) as (...args: unknown[]) => Response
    ;(res as unknown as { end: (...args: unknown[]) => Response }).end = (...args: unknown[]) => {
      const chunk = args[0]
      const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : ''
      const result = end(...args)
      try {
        const ct = res.getHeader('Content-Type')
        const ex: RecordedExchange = {
          method: req.method,
          url: req.originalUrl,
          requestBody: (req as RawBodyRequest).rawBody?.toString('utf8') ?? '',
          status: res.statusCode,
          responseBody: text,
        }
        if (typeof ct === 'string') ex.contentType = ct
        opts.onExchange?.(ex)
      } catch (err) {
        emu.log.warn({ err }, 'onExchange callback threw')
      }
      return result
    }
    next()
  })

  app.use((req, _res, next) => {
    opts.refresh?.()
    if (isLinstorPath(req.path)) {
      const m = routes.match(req.method, req.path)
      opts.counters.hit(`${req.method} ${m?.template ?? req.path}`)
    }
    emu.log.debug({ method: req.method, url: req.originalUrl }, 'request')
    next()
  })

  app.use(readBody)

  // Bearer tokens (AuthenticationFilter): every LINSTOR path except /health needs one.
  app.use((req, res, next) => {
    if (opts.token === undefined || !req.path.startsWith('/v1')) return next()
    const m = /^bearer\s+(.+)$/i.exec(req.get('authorization') ?? '')
    if (m !== null && m[1]?.trim() === opts.token) return next()
    const reply = new ReplyBuilder({ op: 0n, obj: 0n, objRefs: {} }, emu.clock)
    reply.add(RC.FAIL_ACC_DENIED_COMMAND, 'Unauthorized: token invalid or not provided')
    res.setHeader('WWW-Authenticate', 'Bearer realm="linstor-controller"')
    sendEntries(res, 401, reply.entries)
  })

  const faultMw = opts.faults.middleware(emu.clock)
  app.use((req, res, next) => (isLinstorPath(req.path) ? faultMw(req, res, next) : next()))

  app.use('/x-emulator', controlRouter(emu, { faults: opts.faults, counters: opts.counters, stopListening: opts.stopListening }))

  controllerRoutes(emu, routes)
  nodeRoutes(emu, routes)
  resourceGroupRoutes(emu, routes)
  resourceDefinitionRoutes(emu, routes)
  resourceRoutes(emu, routes)
  snapshotRoutes(emu, routes)
  reportRoutes(emu, routes)
  app.use(router)

  // Unknown path → 404, known path with another method → 405, as GrizzlyHttpService's
  // LinstorMapper answers Jersey's NotFoundException / NotAllowedException: FAIL_UNKNOWN_ERROR
  // with the path relative to the server root, the exception's message as details, no report.
  app.use((req, res) => {
    const m = routes.match(req.method, req.path)
    let path = req.path
    try {
      path = decodeURIComponent(req.path)
    } catch {
      // keep the raw path
    }
    const entry = (message: string, details: string): JsonValue[] => [{ ret_code: RC.FAIL_UNKNOWN_ERROR, message, details, created_at: formatTimestamp(emu.clock()) }]
    if (m !== undefined && !m.methodAllowed) {
      res.status(405).setHeader('Content-Type', 'application/json')
      res.end(writeJson(entry(`Method '${req.method}' not allowed on path '${path}'.`, 'HTTP 405 Method Not Allowed')))
      return
    }
    res.status(404).setHeader('Content-Type', 'application/json')
    res.end(writeJson(entry(`Path '${path}' not found on server.`, 'HTTP 404 Not Found')))
  })

  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    emu.log.error({ err }, 'unhandled error')
    const reply = new ReplyBuilder({ op: 0n, obj: 0n, objRefs: {} }, emu.clock)
    reply.add(RC.FAIL_UNKNOWN_ERROR, `An unknown error occurred: ${err instanceof Error ? err.message : String(err)}`)
    if (!res.headersSent) sendEntries(res, 500, reply.entries)
    else res.end()
  })

  return { app, routes }
}
