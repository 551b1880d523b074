/**
 * The LINSTOR controller REST API v1 emulator: public face.
 *
 * ```ts
 * const emu = await startEmulator({ cluster: DEFAULT_CLUSTER })
 * // ... talk LINSTOR REST to emu.url, play the hypervisor through emu.url + '/x-emulator/...'
 * await emu.close()
 * ```
 *
 * Written from the LINSTOR references and the upstream spec only; it never imports core/.
 */
import fs from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import os from 'node:os'
import path from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import type { Socket } from 'node:net'
import pino from 'pino'
import type { Clock } from './api-call-rc.js'
import type { ClusterSpec } from './cluster.js'
import { DEFAULT_CLUSTER, loadClusterFile, parseClusterSpec, stateFromCluster } from './cluster.js'
import type { Emu } from './context.js'
import { controllerVersionInfo, secretGenerator, uuidGenerator } from './context.js'
import { ErrorReportStore } from './error-reports.js'
import { DataStore } from './data-store.js'
import { Counters, Faults } from './faults.js'
import type { FaultSpec } from './faults.js'
import { SatelliteError, closeReplica, openReplica, readVolume, setNodeOnline, writeVolume } from './satellites.js'
import type { EmulatorState } from './model.js'
import { emptyState, replicas } from './model.js'
import { Transaction } from './journal.js'
import { loadState, saveChange, saveState, stateSignature } from './persistence.js'
import { linkReplicaFiles } from './replicas.js'
import type { RecordedExchange } from './server.js'
import type { SatelliteFault } from './rollback.js'
import { createApp } from './server.js'
import { DEFAULT_PROXY_BANDWIDTH_KIB_PER_S, proxyStatus } from './proxy.js'

export type { ClusterSpec, ClusterNodeSpec, ClusterPoolSpec, ClusterResourceGroupSpec, ClusterResourceSpec, ClusterReplicaSpec } from './cluster.js'
export { DEFAULT_CLUSTER, DISAGGREGATED_CLUSTER, parseClusterSpec, loadClusterFile } from './cluster.js'
export type { RecordedExchange } from './server.js'
export type { FaultSpec } from './faults.js'
export { SatelliteError } from './satellites.js'
export type { EmulatorState } from './model.js'
export { writeJson } from './json-writer.js'

export interface EmulatorTlsOptions {
  key: string | Buffer
  cert: string | Buffer
  /** CA for client certificates (mTLS). */
  ca?: string | Buffer
  /** Require a client certificate signed by `ca` (like a configured truststore). */
  requestClientCert?: boolean
}

export interface EmulatorOptions {
  /** Where to listen; default 127.0.0.1:0 (a free port). */
  listen?: { host?: string; port?: number }
  /** A cluster description or the path of a YAML file; default DEFAULT_CLUSTER. Ignored when the state dir already holds a state. */
  cluster?: ClusterSpec | string
  /** State directory; a temporary one (removed on close) when absent. */
  stateDir?: string
  /** Enables bearer-token enforcement on /v1. */
  token?: string
  tls?: EmulatorTlsOptions
  logLevel?: pino.LevelWithSilent
  /** Called for every request under /v1 and /health, with the bodies exactly as on the wire. */
  onExchange?: (ex: RecordedExchange) => void
  /** Clock for created_at, create_timestamp and clone progress. */
  clock?: Clock
  /** Seed for deterministic uuids and DRBD secrets. */
  seed?: number
  /** How long a clone reports CLONING before COMPLETE (default 300 ms of the clock). */
  cloneDurationMs?: number
  /**
   * The LINSTOR version to play (default: the cluster file's controller_version, else 1.34.0).
   * Decides /v1/controller/version and version-dependent behaviour such as snapshot rollback
   * (before 1.31.0 to the newest snapshot only).
   */
  version?: string
  /**
   * With `tls`: also listen for plain HTTP on this port (0 = free port) and answer every /v1
   * request with a 302 to the HTTPS listener, as the controller's HTTP listener does when HTTPS is
   * active (python-linstor relies on it to upgrade linstor:// URLs).
   */
  httpRedirectPort?: number
  /**
   * Emulated WAN bandwidth of a DRBD Proxy connection in KiB/s of the clock (default: the cluster
   * file's drbd_proxy.bandwidth_kib_per_s, else 20 MiB/s); see proxy.ts.
   */
  proxyBandwidthKibPerS?: number
}

/** One proxied connection as the control endpoint reports it. */
export interface ProxyConnectionStatus {
  node_a: string
  node_b: string
  /** The node the data flows to (the replica that is not Primary). */
  to: string
  backlog_kib: number
  /** established: nothing beyond the buffer; ahead: DRBD pulled ahead; resync: catching up. */
  state: 'established' | 'ahead' | 'resync'
  done_percentage?: number
  protocol: string
  rate_kib_per_s: number
  memlimit_kib: number
}

/**
 * In-process equivalents of the /x-emulator control endpoints (same rules; refusals throw a
 * SatelliteError carrying the HTTP status the endpoint would answer).
 */
export interface EmulatorControl {
  /** The hypervisor opens the volume on `node`: DRBD Primary (allow-two-primaries, quorum apply). */
  open(node: string, rsc: string): void
  /** Back to Secondary. */
  close(node: string, rsc: string): void
  /** node → DRBD role of each replica of `rsc`. */
  roles(rsc: string): Record<string, 'Primary' | 'Secondary'>
  setOnline(node: string, online: boolean): void
  write(node: string, rsc: string, volume: number, offset: number, data: Buffer): void
  read(node: string, rsc: string, volume: number, offset: number, length: number): Buffer
  /** The controller restarted: it forgets the decrypted master key (LUKS resources stay undeployed until the passphrase is entered). */
  lockMasterKey(): void
  /** Each DRBD Proxy connection of `rsc` with the data still in its buffer (proxy.ts). */
  proxy(rsc: string): ProxyConnectionStatus[]
  faults: {
    delay(ms: number, spec?: FaultSpec): void
    error(status?: number, spec?: FaultSpec): void
    drop(spec?: FaultSpec): void
    /** Accept matching requests and never answer them (a hung controller), until reset. */
    blackhole(spec?: FaultSpec): void
    /** The satellite on spec.node (any) fails the next spec.count (all) operations of the kind (see rollback.ts). */
    satellite(operation: SatelliteFault['operation'], spec?: { node?: string; count?: number }): void
    reset(): void
  }
}

export interface RunningEmulator {
  /** Base URL, e.g. http://127.0.0.1:41234. */
  url: string
  /** The plain-HTTP redirecting listener's URL (only with `httpRedirectPort`). */
  redirectUrl?: string
  stateDir: string
  /** The node's device-root prefix: <prefix>/dev/drbd/by-res/<rsc>/<vol> holds the volume bytes. */
  deviceRoot(node: string): string
  /** The live state (read-only use in tests). */
  state(): EmulatorState
  /** In-process control (the /x-emulator endpoints without HTTP). */
  control: EmulatorControl
  /** REST calls per "METHOD /template" since start or the last reset. */
  counters(): Record<string, number>
  resetCounters(): void
  /** Closes the listener and drops open connections (the controller "stops listening"). */
  stopListening(): Promise<void>
  /** Listens again on the same host and port. */
  startListening(): Promise<void>
  close(): Promise<void>
}

/** The node the controller runs on, named in error reports: a CONTROLLER or COMBINED node, else "controller". */
function controllerNodeName(c: ClusterSpec): string {
  return c.nodes.find((n) => n.type === 'CONTROLLER' || n.type === 'COMBINED')?.name ?? 'controller'
}

async function resolveCluster(c: ClusterSpec | string | undefined): Promise<ClusterSpec> {
  if (c === undefined) return DEFAULT_CLUSTER
  if (typeof c === 'string') return loadClusterFile(c)
  return parseClusterSpec(c)
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  const tempDir = options.stateDir === undefined ? fs.mkdtempSync(path.join(os.tmpdir(), 'linstor-emu-')) : undefined
  try {
    return await start(options, tempDir)
  } catch (err) {
    // A bad cluster file or a busy port must not leave a temporary state directory behind.
    if (tempDir !== undefined) fs.rmSync(tempDir, { recursive: true, force: true })
    throw err
  }
}

/**
 * LINSTOR_EMU_CHECK_JOURNAL=FILE (a debugging aid, slow: it copies and reads back the whole state
 * around every change): every change is checked to have persisted the state exactly as it is in
 * memory (nothing was written to the state past the change's view, journal.ts), and every failed
 * change to have been undone exactly; a difference is appended to FILE (and the change fails).
 */
const checkJournal = process.env['LINSTOR_EMU_CHECK_JOURNAL'] ?? ''

function journalCheckFailed(message: string): void {
  fs.appendFileSync(checkJournal, `${new Date().toISOString()} ${process.pid} ${message}\n`)
}

function firstDifference(a: unknown, b: unknown, at: string): string | undefined {
  if (isDeepStrictEqual(a, b)) return undefined
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return at
  const keys = new Set([...Object.keys(a), ...Object.keys(b)])
  for (const k of keys) {
    const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${at}.${k}`)
    if (d !== undefined) return d
  }
  return at
}

function checkPersisted(stateDir: string, state: EmulatorState): void {
  const disk = loadState(stateDir)
  const memory = JSON.parse(JSON.stringify(state)) as unknown
  const d = firstDifference(memory, disk, 'state')
  if (d === undefined) return
  const message = `emulator journal check: the persisted state differs from memory at ${d}`
  journalCheckFailed(message)
  throw new Error(message)
}

async function start(options: EmulatorOptions, tempDir: string | undefined): Promise<RunningEmulator> {
  const host = options.listen?.host ?? '127.0.0.1'
  const wantedPort = options.listen?.port ?? 0
  const stateDir = options.stateDir ?? tempDir ?? ''
  fs.mkdirSync(stateDir, { recursive: true })
  const log = pino({ level: options.logLevel ?? 'warn', base: { component: 'linstor-emulator' } }, pino.destination({ fd: 2, sync: true }))
  const clock: Clock = options.clock ?? (() => new Date())
  const data = new DataStore(stateDir)

  // The signature of state.json as this instance last wrote or read it: when another emulator on
  // the same state directory (a second "controller" for failover tests) has written since, the
  // state is re-read before the next request.
  let signature: string | undefined
  // The change running now (Emu.change), if any.
  let changing: Transaction | undefined
  const cluster = await resolveCluster(options.cluster)
  const version = controllerVersionInfo(options.version ?? cluster.controller_version ?? '1.34.0')
  const emu: Emu = {
    state: emptyState(),
    version,
    errorReports: new ErrorReportStore(clock(), controllerNodeName(cluster), () => version.version),
    clock,
    uuid: uuidGenerator(options.seed),
    secret: secretGenerator(options.seed),
    data,
    log,
    cloneDurationMs: options.cloneDurationMs ?? 300,
    proxyBandwidthKibPerS: options.proxyBandwidthKibPerS ?? cluster.drbd_proxy?.bandwidth_kib_per_s ?? DEFAULT_PROXY_BANDWIDTH_KIB_PER_S,
    change: <T>(fn: () => T): T => {
      if (changing !== undefined) return fn()
      const root = emu.state
      const tx = new Transaction(root)
      const before = checkJournal !== '' ? (JSON.parse(JSON.stringify(root)) as unknown) : undefined
      changing = tx
      emu.state = tx.state
      let done = false
      try {
        const out = fn()
        if (tx.touched.size > 0) {
          saveChange(stateDir, root, tx.touched)
          emu.saves = (emu.saves ?? 0) + 1
          signature = stateSignature(stateDir)
          if (checkJournal !== '') checkPersisted(stateDir, root)
        }
        done = true
        return out
      } finally {
        emu.state = root
        changing = undefined
        if (!done) {
          tx.undo()
          const d = before === undefined ? undefined : firstDifference(JSON.parse(JSON.stringify(root)), before, 'state')
          if (d !== undefined) journalCheckFailed(`emulator journal check: a failed change was not undone at ${d}`)
        }
        tx.close()
      }
    },
    save: () => {
      if (changing !== undefined) return
      emu.saves = (emu.saves ?? 0) + 1
      saveState(stateDir, emu.state)
      signature = stateSignature(stateDir)
    },
  }
  const refresh = (): void => {
    const now = stateSignature(stateDir)
    if (now === undefined || now === signature) return
    try {
      const fresh = loadState(stateDir)
      if (fresh !== undefined) emu.state = fresh
      signature = now
    } catch (err) {
      log.warn({ err }, 'could not re-read the state file')
    }
  }
  const loaded = loadState(stateDir)
  if (loaded !== undefined) {
    emu.state = loaded
    signature = stateSignature(stateDir)
    // Re-create the device links in case the folder was tidied while we were down.
    for (const rd of Object.values(emu.state.resourceDefinitions)) for (const r of replicas(rd)) linkReplicaFiles(emu, rd, r.node)
  } else {
    emu.state = stateFromCluster(emu, cluster)
    emu.save()
  }

  const faults = new Faults()
  const counters = new Counters()
  let server: http.Server | https.Server
  let port = wantedPort
  const sockets = new Set<Socket>()
  let restartTimer: NodeJS.Timeout | undefined

  const listen = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err)
      server.once('error', onError)
      server.listen(port, host, () => {
        server.off('error', onError)
        const addr = server.address()
        if (addr !== null && typeof addr === 'object') port = addr.port
        resolve()
      })
    })

  const stopListening = (): Promise<void> =>
    new Promise((resolve) => {
      if (!server.listening) return resolve()
      server.close(() => resolve())
      for (const s of sockets) s.destroy()
    })

  const { app } = createApp(emu, {
    token: options.token,
    onExchange: options.onExchange,
    faults,
    counters,
    refresh,
    stopListening: (ms) => {
      void stopListening().then(() => {
        restartTimer = setTimeout(() => {
          restartTimer = undefined
          listen().catch((err: unknown) => log.error({ err }, 'could not listen again'))
        }, ms)
      })
    },
  })

  if (options.tls !== undefined) {
    const t = options.tls
    const tlsOpts: https.ServerOptions = { key: t.key, cert: t.cert }
    if (t.ca !== undefined) tlsOpts.ca = t.ca
    if (t.requestClientCert === true) {
      tlsOpts.requestCert = true
      tlsOpts.rejectUnauthorized = true
    }
    server = https.createServer(tlsOpts, app)
  } else {
    server = http.createServer(app)
  }
  server.on('connection', (s: Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  server.on('secureConnection', (s: Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await listen()
  let redirectServer: http.Server | undefined
  let redirectUrl: string | undefined
  if (options.tls !== undefined && options.httpRedirectPort !== undefined) {
    const httpsHost = host.includes(':') ? `[${host}]` : host
    redirectServer = http.createServer((req, res) => {
      const url = req.url ?? '/'
      if (url === '/v1' || url.startsWith('/v1/') || url.startsWith('/v1?')) {
        res.statusCode = 302
        res.setHeader('Location', `https://${httpsHost}:${port}${url}`)
        res.end()
        return
      }
      app(req, res)
    })
    await new Promise<void>((resolve, reject) => {
      redirectServer?.once('error', reject)
      redirectServer?.listen(options.httpRedirectPort, host, () => resolve())
    })
    const addr = redirectServer.address()
    if (addr !== null && typeof addr === 'object') redirectUrl = `http://${httpsHost}:${addr.port}`
  }
  const scheme = options.tls !== undefined ? 'https' : 'http'
  const urlHost = host.includes(':') ? `[${host}]` : host
  log.info({ url: `${scheme}://${urlHost}:${port}`, stateDir }, 'emulator listening')

  let closed = false
  const running: RunningEmulator = {
    get url() {
      return `${scheme}://${urlHost}:${port}`
    },
    stateDir,
    deviceRoot: (node: string) => data.nodeRoot(emu.state.nodes[node.toUpperCase()]?.name ?? node),
    state: () => {
      refresh()
      return emu.state
    },
    control: {
      open: (node, rsc) => {
        refresh()
        emu.change(() => openReplica(emu, rsc, node))
      },
      close: (node, rsc) => {
        refresh()
        emu.change(() => closeReplica(emu, rsc, node))
      },
      roles: (rsc) => {
        refresh()
        const rd = emu.state.resourceDefinitions[rsc.toUpperCase()]
        if (rd === undefined) throw new SatelliteError(404, `resource '${rsc}' does not exist`)
        return Object.fromEntries(replicas(rd).map((r) => [r.node, r.role]))
      },
      setOnline: (node, online) => {
        refresh()
        if (!emu.change(() => setNodeOnline(emu, node, online))) throw new SatelliteError(404, `node '${node}' does not exist`)
      },
      write: (node, rsc, volume, offset, data) => {
        refresh()
        emu.change(() => writeVolume(emu, rsc, node, volume, offset, data))
      },
      lockMasterKey: () => {
        emu.masterKeyEntered = false
      },
      proxy: (rsc) => {
        refresh()
        const rd = emu.state.resourceDefinitions[rsc.toUpperCase()]
        if (rd === undefined) throw new SatelliteError(404, `resource '${rsc}' does not exist`)
        return proxyStatus(emu, rd) as unknown as ProxyConnectionStatus[]
      },
      read: (node, rsc, volume, offset, length) => {
        refresh()
        return readVolume(emu, rsc, node, volume, offset, length)
      },
      faults: {
        delay: (ms, spec = {}) => faults.addDelay(ms, spec),
        error: (status = 500, spec = {}) => faults.addError(status, spec),
        drop: (spec = {}) => faults.addDrop(spec),
        blackhole: (spec = {}) => faults.addBlackhole(spec),
        satellite: (operation, spec = {}) => {
          ;(emu.satelliteFaults ??= []).push({ operation, ...spec })
        },
        reset: () => {
          faults.reset()
          emu.satelliteFaults = []
        },
      },
    },
    counters: () => counters.toJson(),
    resetCounters: () => counters.reset(),
    stopListening,
    startListening: async () => {
      if (restartTimer !== undefined) clearTimeout(restartTimer)
      restartTimer = undefined
      if (!server.listening) await listen()
    },
    close: async () => {
      if (closed) return
      closed = true
      if (restartTimer !== undefined) clearTimeout(restartTimer)
      await stopListening()
      if (redirectServer !== undefined) {
        const rs = redirectServer
        await new Promise<void>((resolve) => {
          rs.close(() => resolve())
          rs.closeAllConnections()
        })
      }
      // No final save: every mutation was saved when it happened, and a standby sharing the
      // directory must not overwrite what the active emulator wrote.
      if (tempDir !== undefined) fs.rmSync(tempDir, { recursive: true, force: true })
    },
  }
  if (redirectUrl !== undefined) running.redirectUrl = redirectUrl
  return running
}
