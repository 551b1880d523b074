/**
 * The per-host agent: the call protocol over a unix socket (Express 5), holding keep-alive
 * connections to the controllers, the capacity cache and the per-resource locks for its lifetime.
 * No TCP listener unless asked for (then loopback only, with a bearer token). POST /v1/call runs one request; GET /health reports controllers, in-flight calls
 * and uptime; GET /metrics the Prometheus metrics (metrics.ts), which can also go to a node_exporter textfile. Bad JSON, oversized bodies and unknown operations get protocol error replies; slow
 * clients are cut by the server's timeouts; the agent keeps serving.
 */
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs'
import http from 'node:http'
import type { Server } from 'node:http'
import { timingSafeEqual } from 'node:crypto'
import net from 'node:net'
import { dirname } from 'node:path'
import express from 'express'
import type { NextFunction, Request, Response } from 'express'
import { DEFAULT_STATE_DIR, HostState, knownStateDirs } from '../../core/ha/index.js'
import { createLinstorClient } from '../../core/linstor/index.js'
import type { LinstorClient } from '../../core/linstor/index.js'
import type { Logger } from '../../core/log/index.js'
import { MAX_REQUEST_BYTES, ServiceRegistry } from '../../core/protocol/index.js'
import type { CallReply, Dispatcher } from '../../core/protocol/index.js'
import { createAgentMetrics, startTextfile } from './metrics.js'
import type { AgentMetrics, Textfile } from './metrics.js'

export const DEFAULT_SOCKET = '/run/linstor-virt/agent.sock'

/** Requests are obeyed as sent (tests and benchmarks only). */
export const TRUST_REQUESTS = 'trust-requests'

export interface AgentOptions {
  socketPath: string
  /** Controllers used when a request's config names none (--controllers, else LS_CONTROLLERS, ...). */
  controllers?: string
  dispatcher: Dispatcher
  logger: Logger
  access?: typeof TRUST_REQUESTS
  /** Cut clients that send nothing complete for this long (default 10 s). */
  clientTimeoutMs?: number
  /**
   * Also listen on TCP (off unless asked for): a loopback address only, and every request must
   * carry `Authorization: Bearer <token>`. For shims that cannot reach a unix socket (containers).
   */
  tcp?: { host: string; port: number; token: string }
  /**
   * Prometheus metrics under GET /metrics on every listener (over TCP with the token, as any path),
   * and with `textfile` written there every `textfileIntervalMs` (default 15 s) for node_exporter.
   * `surveyIntervalMs`: how often a scrape may survey the cluster (default 60 s; 0: never).
   * false: no metrics (prom-client is not loaded).
   */
  metrics?: false | { textfile?: string; textfileIntervalMs?: number; surveyIntervalMs?: number; surveyWaitMs?: number; probeAfterMs?: number }
  /**
   * How often the agent settles what starts and stops left pending while no controller answered
   * (the pending records of the state folders it knows), default 30000 ms; 0: never.
   */
  pendingSweepMs?: number
}

/** Settles every pending record the agent can find, one settle_pending call per storage configuration. */
async function sweepPending(dispatcher: Dispatcher, services: ServiceRegistry, logger: Logger): Promise<void> {
  const configs = new Map<string, Record<string, unknown>>()
  for (const dir of new Set([DEFAULT_STATE_DIR, ...knownStateDirs()])) {
    for (const r of new HostState(dir).pending()) {
      if (r.config !== undefined) configs.set(JSON.stringify(r.config, Object.keys(r.config).sort()), r.config)
    }
  }
  for (const config of configs.values()) {
    const reply = await dispatcher.dispatch({ v: 1, platform: 'core', operation: 'settle_pending', arguments: {}, config, deadlineMs: 30_000 }, services)
    if ('error' in reply) logger.info({ err: reply.error.message }, 'pending records left for a later sweep')
    else logger.info({ ...(reply.result as object) }, 'swept pending records')
  }
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/

/** Constant-time comparison of the presented token with the expected one. */
function tokenMatches(header: string | undefined, token: string): boolean {
  const presented = Buffer.from(header ?? '')
  const expected = Buffer.from(`Bearer ${token}`)
  return presented.length === expected.length && timingSafeEqual(presented, expected)
}

export interface RunningAgent {
  socketPath: string
  /** The TCP port when a TCP listener was asked for. */
  tcpPort?: number
  /** The metrics (undefined with metrics: false). */
  metrics?: AgentMetrics
  /** The textfile writer, when asked for. */
  textfile?: Textfile
  close(): Promise<void>
}

function reply(res: Response, status: number, body: CallReply): void {
  res.status(status).type('application/json').send(JSON.stringify(body))
}

/** Removes a socket file left by a dead agent; refuses to start beside a live one. */
async function clearStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return
  const alive = await new Promise<boolean>((resolve) => {
    const s = net.connect(path)
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
  if (alive) throw new Error(`another agent is listening on ${path}`)
  unlinkSync(path)
}

export async function startAgent(o: AgentOptions): Promise<RunningAgent> {
  if (o.tcp !== undefined) {
    if (!LOOPBACK.test(o.tcp.host)) throw new Error(`the agent listens on loopback addresses only, not ${o.tcp.host}`)
    if (o.tcp.token.length < 16) throw new Error('the agent TCP listener needs a token of at least 16 characters')
  }
  const services = new ServiceRegistry(true)
  // The client for /health, the metrics' probes and their cluster survey: the agent's own controllers.
  const ownClient = (): LinstorClient =>
    services.shared('health-client', () => createLinstorClient({ ...(o.controllers !== undefined ? { controllers: o.controllers } : {}), keepAlive: true, connectTimeoutMs: 1000, retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 } }), (c) => c.close())
  const mo = o.metrics === false ? undefined : (o.metrics ?? {})
  const metrics: AgentMetrics | undefined = mo === undefined ? undefined : await createAgentMetrics({
    client: ownClient,
    // A stand-in dispatcher (tests wrap dispatch alone) has no operation list: every name counts as unknown.
    operations: () => (typeof o.dispatcher.operations === 'function' ? o.dispatcher.operations() : {}),
    logger: o.logger,
    ...(mo.surveyIntervalMs !== undefined ? { surveyIntervalMs: mo.surveyIntervalMs } : {}),
    ...(mo.surveyWaitMs !== undefined ? { surveyWaitMs: mo.surveyWaitMs } : {}),
    ...(mo.probeAfterMs !== undefined ? { probeAfterMs: mo.probeAfterMs } : {}),
  })
  const started = Date.now()
  let inFlight = 0
  let calls = 0
  const tcpSockets = new WeakSet<object>()
  const app = express()
  app.disable('x-powered-by')
  const t = o.clientTimeoutMs ?? 10_000
  // A client that does not deliver its whole request within clientTimeoutMs is cut, so slow or
  // stuck shims cannot pile up; the time the operation itself takes is not counted.
  app.use((req: Request, res: Response, next: NextFunction) => {
    const timer = setTimeout(() => req.socket.destroy(), t)
    const clear = (): void => clearTimeout(timer)
    req.once('end', clear)
    req.once('close', clear)
    res.once('finish', clear)
    next()
  })
  // Requests over TCP carry the token (the unix socket's mode is its access control).
  app.use((req: Request, res: Response, next: NextFunction) => {
    if (o.tcp === undefined || !tcpSockets.has(req.socket)) return next()
    if (tokenMatches(req.headers['authorization'], o.tcp.token)) return next()
    reply(res, 401, { v: 1, error: { code: 'CALL_INVALID', message: 'this agent listener needs its bearer token', details: {} } })
  })
  app.use(express.json({ limit: MAX_REQUEST_BYTES, type: () => true }))

  app.post('/v1/call', async (req: Request, res: Response) => {
    inFlight++
    calls++
    try {
      const body: unknown = req.body
      if (o.controllers !== undefined && typeof body === 'object' && body !== null && !Array.isArray(body)) {
        const b = body as Record<string, unknown>
        // Only a config that is an object (or none) gets the agent's controllers: a null or a list
        // stays as sent, for the protocol check to refuse.
        const c = b['config']
        const config = typeof c === 'object' && c !== null && !Array.isArray(c) ? (c as Record<string, unknown>) : undefined
        if (c === undefined || (config !== undefined && config['controllers'] === undefined)) b['config'] = { controllers: o.controllers, ...config }
      }
      const t0 = performance.now()
      const answer = await o.dispatcher.dispatch(body, services)
      if (metrics !== undefined) {
        const b = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {}
        metrics.observeCall(b['platform'], b['operation'], 'error' in answer ? answer.error.code : 'ok', (performance.now() - t0) / 1000)
      }
      reply(res, 200, answer)
    } finally {
      inFlight--
    }
  })

  app.get('/health', async (_req: Request, res: Response) => {
    const client = ownClient()
    const t0 = Date.now()
    let controller: Record<string, unknown>
    try {
      const v = await client.controller.version({ timeoutMs: 1500 })
      controller = { reachable: true, version: v.version, ms: Date.now() - t0 }
    } catch (err) {
      controller = { reachable: false, error: err instanceof Error ? err.message : String(err) }
    }
    res.json({ ok: true, pid: process.pid, uptimeS: Math.round((Date.now() - started) / 1000), inFlight, calls, configurations: services.evictableSize, controller, operations: o.dispatcher.operations() })
  })

  if (metrics !== undefined) {
    app.get('/metrics', async (_req: Request, res: Response) => {
      res.status(200).type(metrics.contentType).send(await metrics.render())
    })
  }

  app.use((_req: Request, res: Response) => reply(res, 404, { v: 1, error: { code: 'CALL_INVALID', message: `unknown path: use POST /v1/call, GET /health${metrics !== undefined ? ' or GET /metrics' : ''}`, details: {} } }))
  // Body errors (bad JSON, too large) become protocol replies; the agent keeps serving.
  app.use((err: Error & { type?: string; status?: number }, _req: Request, res: Response, _next: NextFunction) => {
    const tooLarge = err.type === 'entity.too.large'
    const message = tooLarge ? `the request is larger than ${MAX_REQUEST_BYTES} bytes` : err.type === 'entity.parse.failed' ? 'the request is not valid JSON' : err.message
    reply(res, tooLarge ? 413 : (err.status ?? 400), { v: 1, error: { code: 'CALL_INVALID', message, details: {} } })
  })

  let server: Server
  let tcpServer: Server | undefined
  try {
    mkdirSync(dirname(o.socketPath), { recursive: true, mode: 0o755 })
    await clearStaleSocket(o.socketPath)
    server = http.createServer({ headersTimeout: t, requestTimeout: t, connectionsCheckingInterval: Math.min(1000, t), keepAliveTimeout: 5_000 }, app)
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      // The socket file is made by the bind inside listen(): a umask that leaves no world bits for
      // that moment, so it is never reachable by others before the chmod below (whatever the umask
      // the agent was started with).
      const umask = process.umask(0o117)
      try {
        server.listen(o.socketPath, () => resolve())
      } finally {
        process.umask(umask)
      }
    })
    chmodSync(o.socketPath, 0o660)
    if (o.tcp !== undefined) {
      const tcp = http.createServer({ headersTimeout: t, requestTimeout: t, connectionsCheckingInterval: Math.min(1000, t), keepAliveTimeout: 5_000 }, app)
      tcp.on('connection', (sock) => tcpSockets.add(sock))
      const { host, port } = o.tcp
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject)
        tcp.listen(port, host, () => resolve())
      })
      tcpServer = tcp
    }
  } catch (err) {
    metrics?.close()
    throw err
  }
  let textfile: Textfile | undefined
  if (metrics !== undefined && mo?.textfile !== undefined) {
    if (!mo.textfile.endsWith('.prom')) o.logger.warn({ path: mo.textfile }, 'node_exporter\'s textfile collector reads only files ending in .prom')
    textfile = startTextfile(metrics, mo.textfile, mo.textfileIntervalMs ?? 15_000, o.logger)
  }
  // What starts and stops left pending while no controller answered is settled in the background.
  let sweeping = false
  const sweepMs = o.pendingSweepMs ?? 30_000
  const sweeper = sweepMs > 0
    ? setInterval(() => {
        if (sweeping) return
        sweeping = true
        sweepPending(o.dispatcher, services, o.logger)
          .catch((err: unknown) => o.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'pending sweep failed'))
          .finally(() => {
            sweeping = false
          })
      }, sweepMs)
    : undefined
  sweeper?.unref()
  const address = tcpServer?.address()
  o.logger.info({ socket: o.socketPath, ...(typeof address === 'object' && address !== null ? { tcp: `${address.address}:${address.port}` } : {}) }, 'agent listening')
  const closeServer = (srv: Server): Promise<void> =>
    new Promise<void>((resolve) => {
      srv.close(() => resolve())
      srv.closeAllConnections()
    })
  return {
    socketPath: o.socketPath,
    ...(typeof address === 'object' && address !== null ? { tcpPort: address.port } : {}),
    ...(metrics !== undefined ? { metrics } : {}),
    ...(textfile !== undefined ? { textfile } : {}),
    close: async () => {
      if (sweeper !== undefined) clearInterval(sweeper)
      await Promise.all([closeServer(server), ...(tcpServer !== undefined ? [closeServer(tcpServer)] : [])])
      await textfile?.stop()
      metrics?.close()
      services.close()
    },
  }
}
