/**
 * The per-host agent: the call protocol over a unix socket (Express 5), holding keep-alive
 * connections to the controllers, the capacity cache and the per-resource locks for its lifetime.
 * No TCP listener unless asked for (then loopback only, with a bearer token). POST /v1/call runs one request; GET /health reports controllers, in-flight calls
 * and uptime; GET /metrics the Prometheus metrics (metrics.ts), which can also go to a node_exporter textfile. Bad JSON, oversized bodies and unknown operations get protocol error replies; slow
 * clients are cut by the server's timeouts; the agent keeps serving.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs'
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
import type { CallAccess, CallReply, Dispatcher } from '../../core/protocol/index.js'
import { createAgentMetrics, startTextfile } from './metrics.js'
import type { AgentMetrics, Textfile } from './metrics.js'

export const DEFAULT_SOCKET = '/run/linstor-virt/agent.sock'


export interface AgentOptions {
  socketPath: string
  /** Controllers used when a request's config names none (--controllers, else LS_CONTROLLERS, ...). */
  controllers?: string
  dispatcher: Dispatcher
  logger: Logger
  /**
   * Sockets for a group (mode 0660 by default): the callers there (a platform's service user, e.g.
   * cinder) get only what `access` allows (core/protocol/access.ts), as over the TCP listener.
   */
  sockets?: { path: string; group: string | number; mode?: number; access: CallAccess }[]
  /**
   * What the pending sweep may do with the configurations it finds in pending records (state
   * folders that callers of the group sockets may write): the host's rules in the agent; absent,
   * as recorded (tests whose agent has no listener but its owner's).
   */
  sweepAccess?: CallAccess
  /** Cut clients that send nothing complete for this long (default 10 s). */
  clientTimeoutMs?: number
  /**
   * Also listen on TCP (off unless asked for): a loopback address only, and every request must
   * carry `Authorization: Bearer <token>`. For shims that cannot reach a unix socket (containers).
   * Whoever holds the token is a caller others could be: `access` says what such a caller may do.
   */
  tcp?: { host: string; port: number; token: string; access: CallAccess }
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
async function sweepPending(dispatcher: Dispatcher, services: ServiceRegistry, logger: Logger, access: CallAccess | undefined): Promise<void> {
  const configs = new Map<string, Record<string, unknown>>()
  for (const dir of new Set([DEFAULT_STATE_DIR, ...knownStateDirs()])) {
    for (const r of new HostState(dir).pending()) {
      if (r.config !== undefined) configs.set(JSON.stringify(r.config, Object.keys(r.config).sort()), r.config)
    }
  }
  for (const config of configs.values()) {
    // A record's configuration is only as trustworthy as its folder: checked like a caller's.
    const reply = await dispatcher.dispatch({ v: 1, platform: 'core', operation: 'settle_pending', arguments: {}, config, deadlineMs: 30_000 }, services, access !== undefined ? { access } : {})
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

/** A group's id: a number, or a name looked up in /etc/group (Node has no getgrnam). */
export function groupId(group: string | number, groupFile = '/etc/group'): number {
  if (typeof group === 'number') return group
  if (/^[0-9]+$/.test(group)) return Number(group)
  for (const line of readFileSync(groupFile, 'utf8').split('\n')) {
    const [name, , gid] = line.split(':')
    if (name === group && gid !== undefined && /^[0-9]+$/.test(gid)) return Number(gid)
  }
  throw new Error(`there is no group ${group}`)
}

export interface RunningAgent {
  socketPath: string
  /** The group sockets, in the order given. */
  sockets: string[]
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
  /** The access of the connections of each listener others can reach (absent: the owner-only socket). */
  const accessOf = new WeakMap<object, CallAccess>()
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
      const access = accessOf.get(req.socket)
      const answer = await o.dispatcher.dispatch(body, services, access !== undefined ? { access } : {})
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
  const groupServers: Server[] = []
  const httpServer = (): Server => http.createServer({ headersTimeout: t, requestTimeout: t, connectionsCheckingInterval: Math.min(1000, t), keepAliveTimeout: 5_000 }, app)
  /** Listens on a unix socket made with no access for others at any moment, then given `mode` (and `gid`). */
  const listenUnix = async (srv: Server, path: string, mode: number, gid?: number): Promise<void> => {
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 })
    await clearStaleSocket(path)
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject)
      // The socket file is made by the bind inside listen(): a umask that leaves only the owner's
      // bits for that moment, so it is never reachable by anyone else before the chown and chmod
      // below (whatever the umask the agent was started with).
      const umask = process.umask(0o177)
      try {
        srv.listen(path, () => resolve())
      } finally {
        process.umask(umask)
      }
    })
    if (gid !== undefined) chownSync(path, process.getuid?.() ?? 0, gid)
    chmodSync(path, mode)
  }
  try {
    server = httpServer()
    // The owner-only socket: its callers run as the agent's own user (root), who could do what a
    // request asks without the agent; requests are obeyed as sent.
    await listenUnix(server, o.socketPath, 0o600)
    for (const g of o.sockets ?? []) {
      const srv = httpServer()
      const gid = groupId(g.group)
      srv.on('connection', (sock) => accessOf.set(sock, g.access))
      await listenUnix(srv, g.path, g.mode ?? 0o660, gid)
      groupServers.push(srv)
    }
    if (o.tcp !== undefined) {
      const tcp = httpServer()
      const tcpAccess = o.tcp.access
      tcp.on('connection', (sock) => {
        tcpSockets.add(sock)
        accessOf.set(sock, tcpAccess)
      })
      const { host, port } = o.tcp
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject)
        tcp.listen(port, host, () => resolve())
      })
      tcpServer = tcp
    }
  } catch (err) {
    metrics?.close()
    for (const srv of groupServers) srv.close()
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
        sweepPending(o.dispatcher, services, o.logger, o.sweepAccess)
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
    sockets: (o.sockets ?? []).map((g) => g.path),
    ...(typeof address === 'object' && address !== null ? { tcpPort: address.port } : {}),
    ...(metrics !== undefined ? { metrics } : {}),
    ...(textfile !== undefined ? { textfile } : {}),
    close: async () => {
      if (sweeper !== undefined) clearInterval(sweeper)
      await Promise.all([closeServer(server), ...groupServers.map(closeServer), ...(tcpServer !== undefined ? [closeServer(tcpServer)] : [])])
      await textfile?.stop()
      metrics?.close()
      services.close()
    },
  }
}
