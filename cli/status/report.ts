/**
 * `linstor-virt status`'s report: the platform storages of this host (sources.ts), the cluster as
 * their controllers have it (survey.ts, one read per distinct connection), and the text or JSON an
 * operator reads. Reads only; takes no lock.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { createLinstorClient, LINSTOR_REQUEST_CHANNEL } from '../../core/linstor/index.js'
import type { LinstorClient, LinstorClientOptions, LinstorRequestEvent } from '../../core/linstor/index.js'
import { isPluginError } from '../../core/errors/index.js'
import type { Finding } from '../../core/doctor/index.js'
import { formatBytes } from '../../core/volumes/index.js'
import type { Logger } from '../../core/log/index.js'
import { NODE_TABLE_COLUMNS, renderTable, replicaLabel } from '../table.js'
import type { Column } from '../table.js'
import { readCluster, surveyOf } from './survey.js'
import type { MigrationWindow, ReplicaStatus, ResourceStatus } from './survey.js'
import type { PlatformStorage, Sources } from './sources.js'

/** The controller settings a storage names, over the command's own (--controllers, --token-file, ...). */
export interface ConnectionSettings {
  controllers?: string | readonly string[]
  tokenFile?: string
  caFile?: string
  certFile?: string
  keyFile?: string
}

export interface ControllerSeen {
  url: string
  /** answered, or why not (connect, transport, deadline, ...); 'not tried' when the first answered. */
  outcome: string
}

export interface ConnectionReport {
  /** The controllers in the order they are configured, each with what happened. */
  controllers: ControllerSeen[]
  /** The controller whose answers were used. */
  answering?: string
  version?: string
  /** The storages read over this connection (labels). */
  storages: string[]
}

export interface VolumeReport extends ResourceStatus {
  /** The platform's name (volid, image/disk, Cinder volume id). */
  name: string
  vm?: string
  note?: string
}

export interface StorageReport {
  platform: string
  id: string
  label: string
  resourceGroup?: string
  /** Index into connections. */
  connection: number
  volumes: VolumeReport[]
}

export interface StatusReport {
  v: 1
  at: string
  /** Files and commands the storages were read from. */
  read: string[]
  connections: ConnectionReport[]
  storages: StorageReport[]
  /** What could not be read, one line each. */
  unread: string[]
}

export interface BuildOptions {
  /** The command's connection options: used where a storage names none. */
  defaults: ConnectionSettings
  timeoutMs: number
  /** Only the volumes of this VM (platforms whose names carry one). */
  vm?: string
  logger?: Logger
  now?: () => Date
  /** Tests: the environment and linstor-client.conf the client resolves controllers from. */
  clientEnv?: Pick<LinstorClientOptions, 'env' | 'clientConfPaths' | 'defaultTokenFile'>
}

function settingsOf(s: PlatformStorage, d: ConnectionSettings): ConnectionSettings {
  const c: ConnectionSettings = s.connection
  const pick = <K extends keyof ConnectionSettings>(k: K): Partial<ConnectionSettings> => {
    const v = c[k] ?? d[k]
    return v !== undefined ? { [k]: v } : {}
  }
  return { ...pick('controllers'), ...pick('tokenFile'), ...pick('caFile'), ...pick('certFile'), ...pick('keyFile') }
}

function clientFor(c: ConnectionSettings, o: BuildOptions): LinstorClient {
  const tls = { ...(c.caFile !== undefined ? { caFile: c.caFile } : {}), ...(c.certFile !== undefined ? { certFile: c.certFile } : {}), ...(c.keyFile !== undefined ? { keyFile: c.keyFile } : {}) }
  return createLinstorClient({
    ...(c.controllers !== undefined ? { controllers: c.controllers } : {}),
    ...(c.tokenFile !== undefined ? { tokenFile: c.tokenFile } : {}),
    ...(Object.keys(tls).length > 0 ? { tls } : {}),
    timeoutMs: o.timeoutMs,
    connectTimeoutMs: Math.min(2000, o.timeoutMs),
    ...(o.logger !== undefined ? { logger: o.logger } : {}),
    ...o.clientEnv,
  })
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** Reads every storage's volumes, one cluster read per distinct connection, all at once. */
export async function buildReport(sources: Sources, o: BuildOptions): Promise<StatusReport> {
  const now = o.now ?? (() => new Date())
  const report: StatusReport = { v: 1, at: now().toISOString(), read: [...sources.read], connections: [], storages: [], unread: [...sources.unread] }
  const groups = new Map<string, { settings: ConnectionSettings; storages: PlatformStorage[] }>()
  for (const s of sources.storages) {
    const settings = settingsOf(s, o.defaults)
    // The same set of controllers is the same cluster, whatever order each storage lists them in.
    const list = (c: ConnectionSettings['controllers']): string => (c === undefined ? '' : (typeof c === 'string' ? c.split(',') : [...c]).map((x) => x.trim()).sort().join(','))
    const key = JSON.stringify({ ...settings, controllers: list(settings.controllers) }, Object.keys(settings).concat('controllers').sort())
    const g = groups.get(key) ?? { settings, storages: [] }
    g.storages.push(s)
    groups.set(key, g)
  }
  // Which controllers each client tried, from the transport's request events.
  const seen = new Map<object, LinstorRequestEvent[]>()
  const listener = (m: unknown): void => {
    const e = m as LinstorRequestEvent
    seen.get(e.transport)?.push(e)
  }
  subscribe(LINSTOR_REQUEST_CHANNEL, listener)
  try {
    await Promise.all(
      [...groups.values()].map(async (g, index) => {
        const labels = g.storages.map((s) => s.label)
        const conn: ConnectionReport = { controllers: [], storages: labels }
        report.connections[index] = conn
        let client: LinstorClient
        try {
          client = clientFor(g.settings, o)
        } catch (err) {
          if (!isPluginError(err)) throw err
          report.unread.push(`${labels.join(', ')}: ${err.message}`)
          for (const s of g.storages) report.storages.push({ platform: s.platform, id: s.id, label: s.label, ...(s.resourceGroup !== undefined ? { resourceGroup: s.resourceGroup } : {}), connection: index, volumes: [] })
          return
        }
        seen.set(client.transport, [])
        try {
          const read = await readCluster(client, { timeoutMs: o.timeoutMs })
          const events = seen.get(client.transport) ?? []
          conn.controllers = controllersSeen(client.endpoints.map((e) => e.url), events)
          const answering = [...events].reverse().find((e) => e.controller !== undefined)?.controller
          if (answering !== undefined) conn.answering = answering
          if (read.version !== undefined) conn.version = read.version
          for (const e of read.errors) report.unread.push(`${labels.join(', ')}: ${e}`)
          // Each resource is named by the first storage of this connection that claims it.
          const owners = new Map<string, { storage: number; name: ReturnType<PlatformStorage['volumeOf']> }>()
          const first = report.storages.length
          for (const s of g.storages) report.storages.push({ platform: s.platform, id: s.id, label: s.label, ...(s.resourceGroup !== undefined ? { resourceGroup: s.resourceGroup } : {}), connection: index, volumes: [] })
          const survey = surveyOf(read, (rd) => {
            const ref = { name: rd.name, props: rd.props, ...(rd.resource_group_name !== undefined ? { resourceGroup: rd.resource_group_name } : {}) }
            let claimed = false
            g.storages.forEach((s, i) => {
              const name = s.volumeOf(ref)
              if (name === undefined) return
              if (o.vm !== undefined && name.vm !== o.vm) return
              claimed = true
              // Backends or datastores sharing a cluster may both claim a resource: it is shown under each.
              const k = `${i}:${rd.name.toLowerCase()}`
              owners.set(k, { storage: first + i, name })
            })
            return claimed
          })
          for (const r of survey.resources) {
            g.storages.forEach((_s, i) => {
              const own = owners.get(`${i}:${r.resource.toLowerCase()}`)
              if (own?.name === undefined) return
              report.storages[own.storage]?.volumes.push({ ...own.name, ...r })
            })
          }
          if (o.vm !== undefined) {
            for (const s of g.storages) if (s.platform === 'cinder') report.unread.push(`${s.label}: LINSTOR does not record which instance uses a Cinder volume (Cinder's database does): --vm selects none of its volumes`)
          }
        } catch (err) {
          report.unread.push(`${labels.join(', ')}: ${message(err)}`)
        } finally {
          client.close()
        }
      }),
    )
  } finally {
    unsubscribe(LINSTOR_REQUEST_CHANNEL, listener)
  }
  for (const s of report.storages) s.volumes.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }))
  return report
}

/** Each configured controller with the last thing that happened when it was tried. */
function controllersSeen(configured: readonly string[], events: readonly LinstorRequestEvent[]): ControllerSeen[] {
  const last = new Map<string, string>()
  for (const e of events) for (const t of e.tries) last.set(t.controller, t.outcome === 'answered' ? 'answered' : t.outcome === 'connect' ? 'no connection' : t.outcome === 'transport' ? 'connection broke' : t.outcome === 'deadline' ? 'no answer before the deadline' : t.outcome)
  const urls = [...configured, ...[...last.keys()].filter((u) => !configured.includes(u))]
  return urls.map((url) => ({ url, outcome: last.get(url) ?? 'not tried' }))
}

// ------------------------------------------------------------------------------------------ text

function sizeText(sizes: readonly number[]): string {
  return sizes.length === 0 ? '-' : sizes.map(formatBytes).join(' + ')
}

function diskText(r: ReplicaStatus): string {
  const states = [...new Set(r.diskStates.filter((s) => s !== ''))]
  return states.join(',')
}

function age(since: string, now: Date): string {
  const t = Date.parse(since)
  if (Number.isNaN(t)) return 'since an unknown time'
  const s = Math.max(0, Math.round((now.getTime() - t) / 1000))
  const text = s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`
  return `since ${since} (${text})`
}

function migrationLine(m: MigrationWindow, now: Date): string {
  return `    ⇄ migration window ${m.from || '?'} → ${m.to || '?'} open ${age(m.since, now)}${m.allowTwoPrimaries ? ', dual-primary allowed for that pair' : ''}`
}

function findingLine(f: Finding): string {
  const what = f.fixable ? 'doctor --fix repairs it' : 'needs an operator'
  return `    ✗ ${f.kind}${f.node !== undefined ? ` on ${f.node}` : ''}: ${f.detail} (${what})`
}

const VOLUME_COLUMNS: readonly Column[] = [{ header: 'volume' }, { header: 'resource' }, { header: 'size' }, { header: 'layers' }, { header: 'snaps' }, ...NODE_TABLE_COLUMNS]

function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`
}

/** One storage's table: a row per replica (the sandbox's node, replica, disk and role columns), the volume's columns on its first row, then its marked lines. */
function storageLines(s: StorageReport, now: Date): string[] {
  const v = s.volumes
  const windows = v.filter((x) => x.migration !== undefined).length
  const findings = v.reduce((n, x) => n + x.findings.length, 0)
  const head = `${s.label}${s.resourceGroup !== undefined ? `, resource group ${s.resourceGroup}` : ''}: ${count(v.length, 'volume')}, ${count(v.reduce((n, x) => n + x.replicas.filter((r) => r.kind === 'diskful').length, 0), 'diskful replica')}, ${count(v.reduce((n, x) => n + x.clients.length, 0), 'diskless client')}, ${count(v.reduce((n, x) => n + x.tieBreakers.length, 0), 'tie-breaker')}, ${count(windows, 'migration window')} open, ${count(findings, 'finding')}`
  if (v.length === 0) return [head]
  const rows: string[][] = []
  const after = new Map<number, string[]>()
  for (const x of v) {
    const cells = [x.name + (x.note !== undefined ? ` (${x.note})` : ''), x.resource, sizeText(x.sizes), x.layers.join(','), x.snapshots === undefined ? '?' : String(x.snapshots)]
    if (x.replicas.length === 0) rows.push([...cells, '-', '', '', ''])
    x.replicas.forEach((r, i) => rows.push([...(i === 0 ? cells : cells.map(() => '')), r.node, replicaLabel(r.kind), diskText(r), r.role]))
    const marks = [...(x.migration !== undefined ? [migrationLine(x.migration, now)] : []), ...x.findings.map(findingLine)]
    if (marks.length > 0) after.set(rows.length - 1, marks)
  }
  const table = renderTable(VOLUME_COLUMNS, rows)
  const lines = [head, table[0] ?? '']
  table.slice(1).forEach((line, i) => lines.push(line, ...(after.get(i) ?? [])))
  return lines
}

function connectionLine(c: ConnectionReport): string {
  const tried = c.controllers.map((x) => `${x.url} ${x.outcome}`).join(', ')
  const answer = c.answering !== undefined ? `the one answering: ${c.answering}${c.version !== undefined ? ` (LINSTOR ${c.version})` : ''}` : 'no controller answered'
  return `controllers tried: ${tried || '(none configured)'}; ${answer}`
}

/** The report as text: a line per connection, a table per storage, then what could not be read. */
export function renderText(r: StatusReport, now: Date = new Date(r.at)): string {
  const lines: string[] = []
  if (r.storages.length === 0 && r.unread.length === 0) lines.push('no linstor storage found in this host\'s platform configuration')
  r.connections.forEach((c, i) => {
    lines.push(r.connections.length > 1 ? `${connectionLine(c)} [${c.storages.join(', ')}]` : connectionLine(c))
    for (const s of r.storages.filter((x) => x.connection === i)) lines.push('', ...storageLines(s, now))
    if (i < r.connections.length - 1) lines.push('')
  })
  if (r.unread.length > 0) {
    lines.push('', 'not read:')
    for (const u of r.unread) lines.push(`  - ${u}`)
  }
  return lines.join('\n') + '\n'
}
