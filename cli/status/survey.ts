/**
 * One read of the whole cluster (resource definitions with their volumes, every replica, the
 * resource groups, every snapshot: four GETs, issued together, no lock) and what `status` and the
 * agent's metrics make of it: each resource with its replicas by node, diskless clients and
 * tie-breakers, where it is in use, the migration window the lifecycle recorded, its snapshot count
 * and the findings `doctor` would report. Assembly is linear in the number of replicas.
 */
import { examineResource } from '../../core/doctor/index.js'
import type { Finding, FindingKind } from '../../core/doctor/index.js'
import { isYes, readMigrationRecord } from '../../core/lifecycle/index.js'
import type { CallOptions, LinstorClient, ResourceDefinition, ResourceGroup, ResourceWithVolumes, Snapshot } from '../../core/linstor/index.js'
import { resourceInfoOf } from '../../core/volumes/index.js'
import type { ReplicaKind, ResourceInfo } from '../../core/volumes/index.js'

/** What one read of the cluster returned; a part that could not be read is undefined, with its error in `errors`. */
export interface ClusterRead {
  definitions?: ResourceDefinition[]
  replicas?: ResourceWithVolumes[]
  groups?: ResourceGroup[]
  snapshots?: Snapshot[]
  /** The controller's version (read beside the rest: it names what answered). */
  version?: string
  /** One line per part that could not be read. */
  errors: string[]
}

function why(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** The four GETs (and the version), together; each failure is reported, never thrown. */
export async function readCluster(client: LinstorClient, opts: { snapshots?: boolean; timeoutMs?: number } = {}): Promise<ClusterRead> {
  const o: CallOptions = opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}
  const [definitions, replicas, groups, snapshots, version] = await Promise.allSettled([
    client.resourceDefinitions.list({ withVolumeDefinitions: true }, o),
    client.view.resources({}, o),
    client.resourceGroups.list({}, o),
    opts.snapshots === false ? Promise.resolve(undefined) : client.view.snapshots({}, o),
    client.controller.version(o),
  ])
  const read: ClusterRead = { errors: [] }
  const take = <T>(r: PromiseSettledResult<T>, what: string): T | undefined => {
    if (r.status === 'fulfilled') return r.value
    read.errors.push(`${what}: ${why(r.reason)}`)
    return undefined
  }
  const d = take(definitions, 'resource definitions')
  const r = take(replicas, 'resources (replicas by node)')
  const g = take(groups, 'resource groups')
  const s = take(snapshots, 'snapshots')
  const v = version.status === 'fulfilled' ? version.value.version : undefined
  return { ...read, ...(d !== undefined ? { definitions: d } : {}), ...(r !== undefined ? { replicas: r } : {}), ...(g !== undefined ? { groups: g } : {}), ...(s !== undefined ? { snapshots: s } : {}), ...(v !== undefined ? { version: v } : {}) }
}

export type Role = 'Primary' | 'Secondary' | 'unknown'

export interface ReplicaStatus {
  node: string
  kind: ReplicaKind
  /** Disk state of each volume, in volume order (absent until the satellite reports one). */
  diskStates: string[]
  /** Primary: in use on that node; unknown: the satellite's state is not known (offline). */
  role: Role
  storagePool?: string
}

export interface MigrationWindow {
  from: string
  to: string
  /** ISO time the window opened ('' when the record does not say). */
  since: string
  /** allow-two-primaries was switched on for that pair by linstor-virt. */
  allowTwoPrimaries: boolean
}

export interface ResourceStatus {
  resource: string
  resourceGroup?: string
  /** Bytes of each volume, in volume order. */
  sizes: number[]
  layers: string[]
  replicas: ReplicaStatus[]
  /** Nodes where it is in use (Primary). */
  inUse: string[]
  /** Nodes with a diskless client (not a tie-breaker). */
  clients: string[]
  tieBreakers: string[]
  migration?: MigrationWindow
  /** undefined when the snapshots could not be read. */
  snapshots?: number
  findings: Finding[]
}

/** Resources of a read, by lower-cased name (for the platforms' naming) and in LINSTOR's order. */
export interface Survey {
  resources: ResourceStatus[]
  /** Each resource's definition, for the platforms' naming (name, props, group). */
  definitions: Map<string, ResourceDefinition>
}

function role(inUse: boolean | undefined): Role {
  return inUse === true ? 'Primary' : inUse === false ? 'Secondary' : 'unknown'
}

function statusOf(info: ResourceInfo, group: ResourceGroup | undefined, snapshots: number | undefined, groupsKnown: boolean): ResourceStatus {
  const record = readMigrationRecord(info.props)
  // Without the groups, an under-replicated finding would be a guess at the place count: left out.
  const findings = examineResource(info, group, {}).filter((f) => groupsKnown || f.kind !== 'under-replicated')
  return {
    resource: info.name,
    ...(info.resourceGroup !== undefined ? { resourceGroup: info.resourceGroup } : {}),
    sizes: info.volumes.map((v) => v.sizeBytes),
    layers: [...info.layers],
    replicas: info.replicas.map((r) => ({
      node: r.node,
      kind: r.kind,
      diskStates: r.volumes.map((v) => v.diskState ?? ''),
      role: role(r.inUse),
      ...(r.storagePool !== undefined ? { storagePool: r.storagePool } : {}),
    })),
    inUse: info.replicas.filter((r) => r.inUse === true).map((r) => r.node),
    clients: info.replicas.filter((r) => r.kind === 'diskless').map((r) => r.node),
    tieBreakers: info.replicas.filter((r) => r.kind === 'tiebreaker').map((r) => r.node),
    ...(record !== undefined ? { migration: { from: record.from, to: record.to, since: record.since, allowTwoPrimaries: record.set || isYes(record.previous) } } : {}),
    ...(snapshots !== undefined ? { snapshots } : {}),
    findings,
  }
}

/**
 * Every resource of a read with its status (pure). `only` keeps the resources whose lower-cased
 * name it holds (the platforms' volumes), so 10,000 resources of which a few are asked for cost little.
 */
export function surveyOf(read: ClusterRead, only?: (definition: ResourceDefinition) => boolean): Survey {
  const rows = new Map<string, ResourceWithVolumes[]>()
  for (const r of read.replicas ?? []) {
    const k = r.name.toLowerCase()
    const list = rows.get(k)
    if (list === undefined) rows.set(k, [r])
    else list.push(r)
  }
  const snaps = new Map<string, number>()
  for (const s of read.snapshots ?? []) snaps.set(s.resource_name.toLowerCase(), (snaps.get(s.resource_name.toLowerCase()) ?? 0) + 1)
  const groups = new Map((read.groups ?? []).map((g) => [g.name.toLowerCase(), g]))
  const out: Survey = { resources: [], definitions: new Map() }
  for (const rd of read.definitions ?? []) {
    if (only !== undefined && !only(rd)) continue
    const k = rd.name.toLowerCase()
    const info = resourceInfoOf(rd, rows.get(k) ?? [])
    const group = groups.get((info.resourceGroup ?? 'DfltRscGrp').toLowerCase())
    out.resources.push(statusOf(info, group, read.snapshots === undefined ? undefined : (snaps.get(k) ?? 0), read.groups !== undefined))
    out.definitions.set(k, rd)
  }
  return out
}

/** What the agent exports of a survey: open migration windows (with their age) and findings by kind. */
export interface ClusterFigures {
  resources: number
  migrations: { resource: string; from: string; to: string; ageSeconds: number | undefined }[]
  /** The cluster's findings (a host's pending records are not the cluster's: `doctor` on that host reports them). */
  findings: Record<Exclude<FindingKind, 'pending'>, number>
  clients: number
}

export function figuresOf(survey: Survey, now: Date): ClusterFigures {
  const findings: Record<Exclude<FindingKind, 'pending'>, number> = { 'unused-diskless': 0, 'migration-left': 0, 'under-replicated': 0, unreferenced: 0, 'unused-group': 0, 'unused-initiator': 0, 'dr-unproxied': 0, 'dual-primary-left': 0 }
  const migrations: ClusterFigures['migrations'] = []
  let clients = 0
  for (const r of survey.resources) {
    for (const f of r.findings) if (f.kind !== 'pending') findings[f.kind]++
    clients += r.clients.length
    if (r.migration !== undefined) {
      const since = Date.parse(r.migration.since)
      migrations.push({ resource: r.resource, from: r.migration.from, to: r.migration.to, ageSeconds: Number.isNaN(since) ? undefined : Math.max(0, (now.getTime() - since) / 1000) })
    }
  }
  return { resources: survey.resources.length, migrations, findings, clients }
}
