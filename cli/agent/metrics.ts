/**
 * The agent's metrics in the Prometheus text format (prom-client, loaded only by the agent, on
 * start): its calls by platform, operation and outcome with latency histograms; its LINSTOR
 * requests by controller (from the transport's request events), failovers and reachability;
 * offline activations (from the lifecycle's events); and, from a cluster survey at most every
 * `surveyIntervalMs` (the same read as `linstor-virt status`), the migration windows open and the
 * findings `doctor` would report, by kind. Served under GET /metrics and optionally written to a
 * node_exporter textfile (textfile.ts). docs/agent.md lists every metric and the alerts to set.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { rename, rm, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import type { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { OFFLINE_ACTIVATION_CHANNEL } from '../../core/lifecycle/index.js'
import type { OfflineActivationEvent } from '../../core/lifecycle/index.js'
import { LINSTOR_REQUEST_CHANNEL } from '../../core/linstor/index.js'
import type { LinstorClient, LinstorRequestEvent } from '../../core/linstor/index.js'
import type { Logger } from '../../core/log/index.js'
import { figuresOf, readCluster, surveyOf } from '../status/survey.js'
import type { ClusterFigures } from '../status/survey.js'

export interface MetricsOptions {
  /** The client the probes and the survey use (the agent's own controllers). */
  client: () => LinstorClient
  /** Survey the cluster (migration windows, doctor findings) at most this often; 0: never. Default 60 s. */
  surveyIntervalMs?: number
  /** A scrape waits at most this long for a due survey, then serves the last one. Default 5 s. */
  surveyWaitMs?: number
  /** Probe the controllers on a scrape when nothing was asked of them for this long. Default 15 s. */
  probeAfterMs?: number
  /** The operations the dispatcher knows (platform → names), asked once, on the first call: other names are counted as "unknown". */
  operations: () => Readonly<Record<string, readonly string[]>>
  logger?: Logger
  now?: () => number
}

export interface AgentMetrics {
  /** Counts one finished call: outcome is "ok" or the reply's error code. */
  observeCall(platform: unknown, operation: unknown, outcome: string, seconds: number): void
  /** The exposition text, after a probe and a survey when they are due. */
  render(): Promise<string>
  readonly contentType: string
  close(): void
}

let processRegistry: Registry | undefined

const CALL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]
const REST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
const FINDING_KINDS = ['unused-diskless', 'migration-left', 'under-replicated', 'unreferenced', 'unused-group', 'unused-initiator', 'dr-unproxied', 'dual-primary-left'] as const

/** LINSTOR's answer as an outcome label: the status class, or the error the request failed with. */
function restOutcome(e: LinstorRequestEvent): string {
  if (e.status !== undefined) return `${Math.floor(e.status / 100)}xx`
  return e.error ?? 'error'
}

export async function createAgentMetrics(o: MetricsOptions): Promise<AgentMetrics> {
  // A CommonJS module: Node's import gives its exports by name and as default; the ESM bundle's
  // chunk only as default.
  const loaded = await import('prom-client')
  const prom: typeof loaded.default = typeof (loaded as { Registry?: unknown }).Registry === 'function' ? loaded : loaded.default
  const now = o.now ?? Date.now
  const registry: Registry = new prom.Registry()
  // The process figures once per process (their event-loop monitor and GC observer live as long as it does).
  processRegistry ??= new prom.Registry()
  if (processRegistry.getMetricsAsArray().length === 0) prom.collectDefaultMetrics({ register: processRegistry, prefix: 'linstor_virt_agent_' })
  const processMetrics = processRegistry
  let knownOps: Map<string, Set<string>> | undefined
  const known = (): Map<string, Set<string>> => (knownOps ??= new Map(Object.entries(o.operations()).map(([p, ops]) => [p, new Set(ops)])))
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> => new prom.Counter({ name, help, labelNames, registers: [registry] })
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> => new prom.Gauge({ name, help, labelNames, registers: [registry] })
  const histogram = <L extends string>(name: string, help: string, labelNames: readonly L[], buckets: number[]): Histogram<L> => new prom.Histogram({ name, help, labelNames, buckets, registers: [registry] })

  const calls = counter('linstor_virt_calls_total', 'Calls the agent answered, by platform, operation and outcome (ok or the error code).', ['platform', 'operation', 'outcome'])
  const callSeconds = histogram('linstor_virt_call_duration_seconds', 'Time from a call\'s request to its reply.', ['platform', 'operation'], CALL_BUCKETS)
  const rest = counter('linstor_virt_linstor_requests_total', 'LINSTOR REST requests, by the controller that answered (none: no controller did), method and outcome (HTTP status class or error code).', ['controller', 'method', 'outcome'])
  const restSeconds = histogram('linstor_virt_linstor_request_duration_seconds', 'Time a controller took to answer one REST request (the try that got the answer).', ['controller', 'method'], REST_BUCKETS)
  const failedTries = counter('linstor_virt_controller_failed_tries_total', 'Tries at a controller that got no answer, by reason (connect, transport, deadline, aborted).', ['controller', 'reason'])
  const failovers = counter('linstor_virt_controller_failovers_total', 'Requests answered by another controller than the first one tried, by the controller that answered.', ['controller'])
  const up = gauge('linstor_virt_controller_up', 'Whether the last try at this controller got an answer (1) or not (0).', ['controller'])
  const reachable = gauge('linstor_virt_controller_reachable', 'Whether the last request (or probe) got an answer from any controller (1) or from none (0).')
  const lastAnswer = gauge('linstor_virt_controller_last_answer_timestamp_seconds', 'When a controller last answered (Unix time; 0: never since the agent started).')
  const offline = counter('linstor_virt_offline_activations_total', 'Volumes activated from a local device without LINSTOR, by reason (controller-unreachable, controller-vm).', ['reason'])
  const windows = gauge('linstor_virt_migration_windows_open', 'Live-migration windows recorded on resources (dual-primary may be allowed), at the last survey.')
  const windowAge = gauge('linstor_virt_migration_window_open_seconds', 'How long each open migration window has been open, at the last survey.', ['resource', 'from', 'to'])
  const findings = gauge('linstor_virt_doctor_findings', 'Findings `linstor-virt doctor` would report, by kind, at the last survey.', ['kind'])
  const clients = gauge('linstor_virt_diskless_clients', 'Diskless clients (tie-breakers not counted), at the last survey.')
  const surveyed = gauge('linstor_virt_survey_resources', 'Resources the last survey read.')
  const surveyOk = gauge('linstor_virt_survey_success', 'Whether the last cluster survey read everything (1) or not (0).')
  const surveyAt = gauge('linstor_virt_survey_timestamp_seconds', 'When the last successful cluster survey finished (Unix time; 0: none yet).')
  const surveySeconds = gauge('linstor_virt_survey_duration_seconds', 'How long the last cluster survey took.')
  lastAnswer.set(0)
  surveyAt.set(0)
  reachable.set(0)
  for (const k of FINDING_KINDS) findings.set({ kind: k }, 0)
  offline.inc({ reason: 'controller-unreachable' }, 0)
  offline.inc({ reason: 'controller-vm' }, 0)

  let lastRequestAt = 0
  const onRequest = (m: unknown): void => {
    const e = m as LinstorRequestEvent
    lastRequestAt = now()
    const answered = e.tries.filter((t) => t.outcome === 'answered')
    for (const t of e.tries) {
      if (t.outcome === 'answered') up.set({ controller: t.controller }, 1)
      else if (t.outcome !== 'redirected') {
        up.set({ controller: t.controller }, 0)
        failedTries.inc({ controller: t.controller, reason: t.outcome })
      }
    }
    const winner = answered[answered.length - 1]
    rest.inc({ controller: e.controller ?? 'none', method: e.method, outcome: restOutcome(e) })
    if (winner !== undefined && e.controller !== undefined) {
      restSeconds.observe({ controller: e.controller, method: e.method }, winner.ms / 1000)
      if (e.tries[0]?.controller !== e.controller) failovers.inc({ controller: e.controller })
    }
    if (e.controller !== undefined) {
      reachable.set(1)
      lastAnswer.set(now() / 1000)
    } else if (e.tries.length > 0) reachable.set(0)
  }
  const onOffline = (m: unknown): void => {
    offline.inc({ reason: (m as OfflineActivationEvent).reason })
  }
  subscribe(LINSTOR_REQUEST_CHANNEL, onRequest)
  subscribe(OFFLINE_ACTIVATION_CHANNEL, onOffline)

  const surveyEvery = o.surveyIntervalMs ?? 60_000
  let surveyDoneAt = 0
  let surveying: Promise<void> | undefined
  const applySurvey = (f: ClusterFigures, complete: boolean): void => {
    windows.set(f.migrations.length)
    windowAge.reset()
    for (const m of f.migrations) windowAge.set({ resource: m.resource, from: m.from, to: m.to }, m.ageSeconds ?? 0)
    for (const k of FINDING_KINDS) findings.set({ kind: k }, f.findings[k])
    clients.set(f.clients)
    surveyed.set(f.resources)
    surveyOk.set(complete ? 1 : 0)
  }
  const survey = async (): Promise<void> => {
    const t0 = now()
    try {
      const read = await readCluster(o.client(), { snapshots: false, timeoutMs: 30_000 })
      if (read.definitions === undefined) {
        surveyOk.set(0)
        o.logger?.warn({ errors: read.errors }, 'metrics: the cluster survey could not read the resources')
        return
      }
      applySurvey(figuresOf(surveyOf(read), new Date(now())), read.errors.length === 0)
      surveyAt.set(now() / 1000)
    } catch (err) {
      surveyOk.set(0)
      o.logger?.warn({ err: err instanceof Error ? err.message : String(err) }, 'metrics: cluster survey failed')
    } finally {
      surveyDoneAt = now()
      surveySeconds.set((now() - t0) / 1000)
    }
  }
  const probe = async (): Promise<void> => {
    try {
      await o.client().controller.version({ timeoutMs: 1500 })
    } catch {
      // Counted by the request listener (reachable 0, up 0 per controller).
    }
  }

  return {
    contentType: registry.contentType,
    observeCall(platform, operation, outcome, seconds) {
      const p = typeof platform === 'string' && known().has(platform) ? platform : 'unknown'
      const op = typeof operation === 'string' && known().get(p)?.has(operation) === true ? operation : 'unknown'
      calls.inc({ platform: p, operation: op, outcome })
      callSeconds.observe({ platform: p, operation: op }, seconds)
    },
    async render() {
      const waits: Promise<void>[] = []
      if (surveyEvery > 0 && (surveyDoneAt === 0 || now() - surveyDoneAt >= surveyEvery)) {
        surveying ??= survey().finally(() => {
          surveying = undefined
        })
        const wait = o.surveyWaitMs ?? 5000
        waits.push(Promise.race([surveying, new Promise<void>((resolve) => setTimeout(resolve, wait).unref())]))
      } else if (now() - lastRequestAt >= (o.probeAfterMs ?? 15_000)) {
        waits.push(probe())
      }
      await Promise.all(waits)
      return prom.Registry.merge([processMetrics, registry]).metrics()
    },
    close() {
      unsubscribe(LINSTOR_REQUEST_CHANNEL, onRequest)
      unsubscribe(OFFLINE_ACTIVATION_CHANNEL, onOffline)
      registry.clear()
    },
  }
}

export interface Textfile {
  /** Stops rewriting and removes the file (a stopped agent leaves no stale figures behind). */
  stop(): Promise<void>
  /** Resolves after the next complete write (tests). */
  written(): Promise<void>
}

/**
 * Writes the metrics to `path` now and every `intervalMs`, for node_exporter's textfile collector:
 * each time to a temporary file beside it (a name node_exporter skips: not ending in .prom), then
 * renamed over `path`, so a reader sees the old file or the new one, never a part.
 */
export function startTextfile(metrics: AgentMetrics, path: string, intervalMs: number, logger?: Logger): Textfile {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`)
  let waiting: (() => void)[] = []
  let stopped = false
  let running: Promise<void> = Promise.resolve()
  const writeOnce = async (): Promise<void> => {
    try {
      const text = await metrics.render()
      if (stopped) return
      await writeFile(tmp, text, { mode: 0o644 })
      await rename(tmp, path)
      const w = waiting
      waiting = []
      for (const f of w) f()
    } catch (err) {
      logger?.warn({ path, err: err instanceof Error ? err.message : String(err) }, 'metrics: cannot write the textfile')
    }
  }
  const tick = (): void => {
    running = running.then(writeOnce)
  }
  tick()
  const timer = setInterval(tick, intervalMs)
  timer.unref()
  return {
    written: () => new Promise<void>((resolve) => waiting.push(resolve)),
    async stop() {
      stopped = true
      clearInterval(timer)
      await running
      await rm(tmp, { force: true })
      await rm(path, { force: true })
    },
  }
}
