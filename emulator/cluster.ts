/**
 * Cluster descriptions: which nodes exist, their storage pools (provider kind, capacity), node
 * properties (e.g. Aux/site), whether they are online, and resources that already exist at start.
 * Written in YAML (see emulator/clusters/*.yaml and docs/emulator.md) or passed as an object.
 */
import fs from 'node:fs'
import { ApiRcError, MASK_CRT, MASK_RSC_DFN, ReplyBuilder } from './api-call-rc.js'
import { poolUsage } from './capacity.js'
import type { BulkTotals, Emu } from './context.js'
import type { EmulatorState, ProviderKind, ResourceDefinitionState } from './model.js'
import { DEFAULT_POOL, DEFAULT_RSC_GRP, DISKLESS_KINDS, DISKLESS_POOL, PROVIDER_KINDS, THIN_KINDS, emptyState, findPool } from './model.js'
import { checkNodeName, checkResourceName, checkStoragePoolName, nameKey } from './names.js'
import { validateProps } from './props.js'
import { reconcileFiles } from './replicas.js'
import { newNode, newPool } from './routes/nodes.js'
import { createResources } from './routes/resources.js'
import { MAX_VLM_KIB, MIN_VLM_KIB, createRd, createVd, newResourceGroup } from './definitions.js'

export interface ClusterPoolSpec {
  name: string
  provider_kind: ProviderKind
  /** Total capacity in KiB (ignored for DISKLESS pools). */
  total_capacity_kib?: number
  /** Free capacity in KiB at start (default: total); the difference is used outside LINSTOR. */
  free_capacity_kib?: number
  props?: Record<string, string>
}

export interface ClusterNodeSpec {
  name: string
  /** SATELLITE (default), COMBINED, CONTROLLER or AUXILIARY. */
  type?: string
  /** Default true. */
  online?: boolean
  /** Address of the default net interface (default 127.0.0.1). */
  address?: string
  props?: Record<string, string>
  pools?: ClusterPoolSpec[]
}

export interface ClusterResourceGroupSpec {
  name: string
  description?: string
  props?: Record<string, string>
  select_filter?: Record<string, unknown>
}

export interface ClusterReplicaSpec {
  node: string
  /**
   * Storage pool of a diskful replica. Absent: resolved as a REST create without StorPoolName
   * resolves it (resource, RD, RG, node StorPoolName, a diskful peer's pool, else DfltStorPool).
   * Ignored for diskless replicas.
   */
  pool?: string
  /** A diskless replica on the node's DfltDisklessStorPool (flag DRBD_DISKLESS). */
  diskless?: boolean
  props?: Record<string, string>
}

/** A resource that exists at start, as if made by RD create, VD creates and one batch resource create. */
export interface ClusterResourceSpec {
  name: string
  /** Default DfltRscGrp. */
  resource_group?: string
  /** Resource-definition properties. */
  props?: Record<string, string>
  /** Sizes in KiB of volume definitions 0..n-1 (at least one). */
  volumes: number[]
  /** At least one. */
  replicas: ClusterReplicaSpec[]
}

export interface ClusterSpec {
  nodes: ClusterNodeSpec[]
  /**
   * The LINSTOR version the emulator plays (default 1.34.0), e.g. "1.29.0" for a controller that
   * rolls back to the newest snapshot only. Unlike the rest of the file it applies on every start
   * (it describes the controller program, not its database); --version overrides it.
   */
  controller_version?: string
  controller_props?: Record<string, string>
  resource_groups?: ClusterResourceGroupSpec[]
  resources?: ClusterResourceSpec[]
}

const GIB = 1024 * 1024

/** The four-node cluster used when no --cluster is given: one 100 GiB LVM thin pool per node. */
export const DEFAULT_CLUSTER: ClusterSpec = {
  nodes: ['alpha', 'bravo', 'charlie', 'delta'].map((name, i) => ({
    name,
    address: `10.0.0.${i + 1}`,
    pools: [
      {
        name: 'DfltStorPool',
        provider_kind: 'LVM_THIN',
        total_capacity_kib: 100 * GIB,
        props: { 'StorDriver/LvmVg': 'linstor_vg', 'StorDriver/ThinPool': 'thinpool', 'StorDriver/StorPoolName': 'linstor_vg/thinpool' },
      },
    ],
  })),
}

function fail(msg: string): never {
  throw new Error(`invalid cluster description: ${msg}`)
}

function stringRecord(v: unknown, where: string): Record<string, string> {
  if (v === undefined || v === null) return {}
  if (typeof v !== 'object' || Array.isArray(v)) fail(`${where} must be a map of strings`)
  const out: Record<string, string> = {}
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (typeof x !== 'string' && typeof x !== 'number' && typeof x !== 'boolean') fail(`${where}.${k} must be a string`)
    out[k] = String(x)
  }
  return out
}

/** A props map that the REST API would also accept on create (same whitelist and value checks). */
function checkedProps(v: unknown, where: string): Record<string, string> {
  const props = stringRecord(v, where)
  try {
    validateProps(props)
  } catch (err) {
    if (err instanceof ApiRcError) fail(`${where}: ${err.message}`)
    throw err
  }
  return props
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Capacity bookkeeping of one pool while the declared resources are checked in order. */
interface PoolTally {
  spec: ClusterPoolSpec
  /** KiB handed out by thick pools (thin pools allocate nothing until data is written). */
  allocatedKib: number
  /** Sum of the volume sizes placed in the pool. */
  reservedKib: number
}

/** A positive number from a ratio property, like the controller reads MaxOversubscriptionRatio. */
function ratioProp(key: string, poolProps: Record<string, string>, ctrlProps: Record<string, string>): number | undefined {
  const raw = Object.hasOwn(poolProps, key) ? poolProps[key] : ctrlProps[key]
  if (raw === undefined) return undefined
  const n = Number(raw)
  return Number.isFinite(n) && n > 0 ? n : undefined
}

/**
 * What checkSpace (replicas.ts) would find free for a new replica in a pool of a fresh cluster:
 * min(free × free ratio, total × total ratio − reserved), with the same ratio defaults as
 * capacity.ts (20 thin, 1 thick). Checking here lets a bad file fail before anything is created.
 */
function estimatedFreeKib(t: PoolTally, ctrlProps: Record<string, string>): number {
  const p = t.spec
  const total = p.total_capacity_kib ?? 0
  const free = Math.max(0, (p.free_capacity_kib ?? total) - t.allocatedKib)
  const props = p.props ?? {}
  const base = ratioProp('MaxOversubscriptionRatio', props, ctrlProps) ?? (THIN_KINDS.has(p.provider_kind) ? 20 : 1)
  const byFree = ratioProp('MaxFreeCapacityOversubscriptionRatio', props, ctrlProps) ?? base
  const byTotal = ratioProp('MaxTotalCapacityOversubscriptionRatio', props, ctrlProps) ?? base
  return Math.min(free * byFree, total * byTotal - t.reservedKib)
}

/**
 * Validates the `resources:` list against the already validated nodes, groups and controller
 * props: names, groups, nodes, pools (resolved like a REST create would), provider mixing and
 * capacity, in declaration order, so every refusal names the field at fault.
 */
function parseResources(raw: unknown, nodes: ClusterNodeSpec[], groups: ClusterResourceGroupSpec[], ctrlProps: Record<string, string>): ClusterResourceSpec[] {
  if (!Array.isArray(raw)) fail('"resources" must be a list')
  const nodeByKey = new Map(nodes.map((n) => [nameKey(n.name), n]))
  const groupProps = new Map<string, Record<string, string>>([[nameKey(DEFAULT_RSC_GRP), {}]])
  for (const g of groups) groupProps.set(nameKey(g.name), g.props ?? {})
  // Pools per node as the state will have them: the declared ones plus the automatic diskless one.
  const poolsOf = new Map<string, Map<string, ClusterPoolSpec>>()
  for (const n of nodes) {
    const pools = new Map<string, ClusterPoolSpec>()
    if (n.type === 'SATELLITE' || n.type === 'COMBINED') pools.set(nameKey(DISKLESS_POOL), { name: DISKLESS_POOL, provider_kind: 'DISKLESS' })
    for (const p of n.pools ?? []) pools.set(nameKey(p.name), p)
    poolsOf.set(nameKey(n.name), pools)
  }
  const tallies = new Map<string, PoolTally>()
  const seen = new Map<string, number>()

  return raw.map((r: unknown, i): ClusterResourceSpec => {
    const where = `resources[${i}]`
    if (!isMap(r)) fail(`${where} must be a map`)
    const name = r['name']
    if (typeof name !== 'string') fail(`${where}.name must be a resource name`)
    const badName = checkResourceName(name)
    if (badName !== undefined) fail(`${where}.name: ${badName}`)
    const first = seen.get(nameKey(name))
    if (first !== undefined) fail(`${where}.name '${name}' is already used by resources[${first}]`)
    seen.set(nameKey(name), i)

    const group = r['resource_group']
    if (group !== undefined && typeof group !== 'string') fail(`${where}.resource_group must be a resource group name`)
    const rgProps = groupProps.get(nameKey(group ?? DEFAULT_RSC_GRP))
    if (rgProps === undefined) fail(`${where}.resource_group '${String(group)}' is not a resource group (declare it under resource_groups)`)
    const props = checkedProps(r['props'], `${where}.props`)

    const volumesRaw = r['volumes']
    if (!Array.isArray(volumesRaw) || volumesRaw.length === 0) fail(`${where}.volumes must be a non-empty list of sizes in KiB`)
    const volumes = volumesRaw.map((v: unknown, j) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < MIN_VLM_KIB || v > MAX_VLM_KIB) {
        fail(`${where}.volumes[${j}] must be a size in KiB between ${MIN_VLM_KIB} and ${MAX_VLM_KIB}`)
      }
      return v
    })
    const sizeKib = volumes.reduce((a, b) => a + b, 0)

    const replicasRaw = r['replicas']
    if (!Array.isArray(replicasRaw) || replicasRaw.length === 0) fail(`${where}.replicas must be a non-empty list`)
    // As the resource create reads it: the RD's value, else the controller's.
    const allowMixing = /^(true|yes)$/i.test(props['AllowMixingStoragePoolDriver'] ?? ctrlProps['AllowMixingStoragePoolDriver'] ?? '')
    const onNodes = new Set<string>()
    // Diskful replicas checked so far, for the peer rule of the pool resolution and for mixing.
    const diskful: Array<{ nodeKey: string; pool: ClusterPoolSpec }> = []
    const replicas = replicasRaw.map((x: unknown, j): ClusterReplicaSpec => {
      const rw = `${where}.replicas[${j}]`
      if (!isMap(x)) fail(`${rw} must be a map`)
      const node = x['node']
      if (typeof node !== 'string') fail(`${rw}.node must be a node name`)
      const nodeSpec = nodeByKey.get(nameKey(node))
      if (nodeSpec === undefined) fail(`${rw}.node '${node}' is not a node`)
      const nk = nameKey(node)
      if (onNodes.has(nk)) fail(`${rw}.node '${node}' already holds a replica of '${name}'`)
      onNodes.add(nk)
      const disklessRaw = x['diskless']
      if (disklessRaw !== undefined && typeof disklessRaw !== 'boolean') fail(`${rw}.diskless must be true or false`)
      const pool = x['pool']
      if (pool !== undefined && typeof pool !== 'string') fail(`${rw}.pool must be a storage pool name`)
      const rprops = checkedProps(x['props'], `${rw}.props`)
      const out: ClusterReplicaSpec = { node: nodeSpec.name, diskless: disklessRaw === true, props: rprops }
      if (pool !== undefined) out.pool = pool
      const pools = poolsOf.get(nk) ?? new Map<string, ClusterPoolSpec>()
      if (disklessRaw === true) {
        if (![...pools.values()].some((p) => DISKLESS_KINDS.has(p.provider_kind))) fail(`${rw}.node '${node}' has no diskless storage pool for a diskless replica`)
        return out
      }
      // The pool a REST create without StorPoolName would pick (resolveStorPool in replicas.ts).
      const explicit = pool ?? rprops['StorPoolName'] ?? props['StorPoolName'] ?? rgProps['StorPoolName'] ?? nodeSpec.props?.['StorPoolName']
      const peer = [...diskful].sort((a, b) => (a.nodeKey < b.nodeKey ? -1 : a.nodeKey > b.nodeKey ? 1 : 0)).find((d) => pools.has(nameKey(d.pool.name)))
      const poolName = explicit ?? peer?.pool.name ?? DEFAULT_POOL
      const p = pools.get(nameKey(poolName))
      if (p === undefined) {
        if (pool !== undefined) fail(`${rw}.pool '${pool}' does not exist on node '${nodeSpec.name}'`)
        fail(`${rw}: node '${nodeSpec.name}' has no storage pool '${poolName}' (the pool a create without one resolves to; name one with pool:)`)
      }
      if (DISKLESS_KINDS.has(p.provider_kind)) fail(`${rw}.pool '${p.name}' on node '${nodeSpec.name}' is diskless; declare the replica with diskless: true`)
      const other = diskful.find((d) => d.pool.provider_kind !== p.provider_kind)
      if (other !== undefined && !allowMixing) {
        fail(`${rw}.pool '${p.name}' is ${p.provider_kind} but another replica of '${name}' uses ${other.pool.provider_kind} (set AllowMixingStoragePoolDriver to mix them)`)
      }
      const key = `${nk};${nameKey(p.name)}`
      let tally = tallies.get(key)
      if (tally === undefined) {
        tally = { spec: p, allocatedKib: 0, reservedKib: 0 }
        tallies.set(key, tally)
      }
      const estimate = estimatedFreeKib(tally, ctrlProps)
      if (estimate < sizeKib) {
        fail(`${rw}: storage pool '${p.name}' on node '${nodeSpec.name}' has too little free capacity for '${name}': ${Math.max(0, Math.floor(estimate))} KiB available, ${sizeKib} KiB needed`)
      }
      tally.reservedKib += sizeKib
      if (!THIN_KINDS.has(p.provider_kind)) tally.allocatedKib += sizeKib
      diskful.push({ nodeKey: nk, pool: p })
      return out
    })
    const spec: ClusterResourceSpec = { name, props, volumes, replicas }
    if (group !== undefined) spec.resource_group = group
    return spec
  })
}

/** Validates an untrusted cluster description (from YAML). */
export function parseClusterSpec(raw: unknown): ClusterSpec {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('top level must be a map with a "nodes" list')
  const src = raw as Record<string, unknown>
  const nodesRaw = src['nodes']
  if (!Array.isArray(nodesRaw) || nodesRaw.length === 0) fail('"nodes" must be a non-empty list')
  const seen = new Set<string>()
  const nodes: ClusterNodeSpec[] = nodesRaw.map((n: unknown, i) => {
    if (typeof n !== 'object' || n === null) fail(`nodes[${i}] must be a map`)
    const o = n as Record<string, unknown>
    const name = o['name']
    if (typeof name !== 'string' || checkNodeName(name) !== undefined) fail(`nodes[${i}].name is not a valid node name`)
    if (seen.has(nameKey(name))) fail(`node '${name}' is listed twice`)
    seen.add(nameKey(name))
    const type = typeof o['type'] === 'string' ? o['type'].toUpperCase() : 'SATELLITE'
    if (!['SATELLITE', 'COMBINED', 'CONTROLLER', 'AUXILIARY'].includes(type)) fail(`nodes[${i}].type '${type}' is unknown`)
    const poolsRaw = o['pools'] ?? []
    if (!Array.isArray(poolsRaw)) fail(`nodes[${i}].pools must be a list`)
    const pools: ClusterPoolSpec[] = poolsRaw.map((p: unknown, j) => {
      if (typeof p !== 'object' || p === null) fail(`nodes[${i}].pools[${j}] must be a map`)
      const q = p as Record<string, unknown>
      const pname = q['name']
      if (typeof pname !== 'string' || checkStoragePoolName(pname) !== undefined) fail(`nodes[${i}].pools[${j}].name is not a valid storage pool name`)
      const kind = (typeof q['provider_kind'] === 'string' ? q['provider_kind'].toUpperCase() : '') as ProviderKind
      if (!PROVIDER_KINDS.includes(kind)) fail(`nodes[${i}].pools[${j}].provider_kind ${JSON.stringify(q['provider_kind'])} is unknown`)
      const total = q['total_capacity_kib']
      const free = q['free_capacity_kib']
      if (kind !== 'DISKLESS' && (typeof total !== 'number' || !Number.isInteger(total) || total < 0)) fail(`nodes[${i}].pools[${j}].total_capacity_kib must be a non-negative integer`)
      if (free !== undefined && (typeof free !== 'number' || !Number.isInteger(free) || free < 0 || (typeof total === 'number' && free > total))) {
        fail(`nodes[${i}].pools[${j}].free_capacity_kib must be an integer between 0 and total_capacity_kib`)
      }
      const spec: ClusterPoolSpec = { name: pname, provider_kind: kind, props: stringRecord(q['props'], `nodes[${i}].pools[${j}].props`) }
      if (typeof total === 'number') spec.total_capacity_kib = total
      if (typeof free === 'number') spec.free_capacity_kib = free
      return spec
    })
    const spec: ClusterNodeSpec = { name, type, online: o['online'] !== false, props: stringRecord(o['props'], `nodes[${i}].props`), pools }
    if (typeof o['address'] === 'string') spec.address = o['address']
    return spec
  })
  const out: ClusterSpec = { nodes, controller_props: stringRecord(src['controller_props'], 'controller_props') }
  const cv = src['controller_version']
  if (cv !== undefined) {
    if (typeof cv !== 'string' || !/^\d+\.\d+\.\d+$/.test(cv)) fail('controller_version must be a version such as "1.29.0"')
    out.controller_version = cv
  }
  if (Array.isArray(src['resource_groups'])) {
    out.resource_groups = (src['resource_groups'] as unknown[]).map((g, i) => {
      if (typeof g !== 'object' || g === null || typeof (g as Record<string, unknown>)['name'] !== 'string') fail(`resource_groups[${i}] needs a name`)
      const o = g as Record<string, unknown>
      const rg: ClusterResourceGroupSpec = { name: String(o['name']), props: stringRecord(o['props'], `resource_groups[${i}].props`) }
      if (typeof o['description'] === 'string') rg.description = o['description']
      if (typeof o['select_filter'] === 'object' && o['select_filter'] !== null) rg.select_filter = o['select_filter'] as Record<string, unknown>
      return rg
    })
  }
  if (src['resources'] !== undefined && src['resources'] !== null) {
    out.resources = parseResources(src['resources'], nodes, out.resource_groups ?? [], out.controller_props ?? {})
  }
  return out
}

type YamlParse = (text: string) => unknown

/** Reads a YAML cluster file (yaml is loaded lazily: only the emulator needs it). */
export async function loadClusterFile(file: string): Promise<ClusterSpec> {
  // yaml is CommonJS: bundled as an ESM chunk its exports sit on `default` (from build/ they are
  // named exports too), so take parse from wherever this module system put it.
  const yaml: { parse?: YamlParse; default?: { parse?: YamlParse } } = await import('yaml')
  const parse = yaml.parse ?? yaml.default?.parse
  if (parse === undefined) throw new Error('the yaml module has no parse function')
  return parseClusterSpec(parse(fs.readFileSync(file, 'utf8')))
}

/**
 * Folds a finished definition into the bulk totals, so later allocations and usage queries stop
 * scanning it. Pool usage is taken from poolUsage itself while the definition is still pending.
 */
function settle(emu: Emu, bulk: BulkTotals, rd: ResourceDefinitionState): void {
  for (const vd of Object.values(rd.volumeDefinitions)) bulk.minors.add(vd.minor)
  for (const r of Object.values(rd.resources)) {
    const nk = nameKey(r.node)
    let ports = bulk.tcpPorts.get(nk)
    if (ports === undefined) bulk.tcpPorts.set(nk, (ports = new Set()))
    ports.add(r.tcpPort)
    let hosted = bulk.nodeResources.get(nk)
    if (hosted === undefined) bulk.nodeResources.set(nk, (hosted = []))
    hosted.push(rd.name)
    const node = emu.state.nodes[nk]
    const pool = node === undefined ? undefined : findPool(node, r.storPool)
    if (node !== undefined && pool !== undefined) bulk.pools.set(pool, poolUsage(emu, node, pool))
  }
  bulk.pending = []
}

/**
 * Creates the declared resources through the same functions the REST handlers use: RD create,
 * one VD create per volume, then one batch resource create (which also runs the tie-breaker and
 * auto-quorum helpers). Nothing is saved here: the caller persists the finished state once, where
 * REST calls would save after each of them.
 */
function seedResources(emu: Emu, resources: readonly ClusterResourceSpec[]): void {
  const bulk: BulkTotals = { pending: [], minors: new Set(), tcpPorts: new Map(), nodeResources: new Map(), pools: new Map() }
  emu.bulk = bulk
  try {
    resources.forEach((spec, i) => {
      const reply = new ReplyBuilder({ op: MASK_CRT, obj: MASK_RSC_DFN, objRefs: { RscDfn: spec.name } }, emu.clock)
      try {
        const rd = createRd(emu, { name: spec.name, props: spec.props, resourceGroup: spec.resource_group }, reply)
        bulk.pending.push(rd)
        spec.volumes.forEach((sizeKib, nr) => createVd(emu, rd, { volumeNumber: nr, sizeKib }, reply))
        const items = spec.replicas.map((r) => {
          const props: Record<string, string> = { ...(r.props ?? {}) }
          if (r.diskless !== true && r.pool !== undefined) props['StorPoolName'] = r.pool
          return { node: r.node, body: { resource: { node_name: r.node, props, flags: r.diskless === true ? ['DRBD_DISKLESS'] : [] } } }
        })
        createResources(emu, rd, items, reply)
        settle(emu, bulk, rd)
      } catch (err) {
        if (!(err instanceof ApiRcError)) throw err
        // The static checks of parseClusterSpec should have caught this; the REST path had the
        // last word (e.g. peer slots, TCP ports running out).
        const details = err.options.details === undefined ? '' : ` (${err.options.details})`
        fail(`resources[${i}] '${spec.name}': ${err.message}${details}`)
      }
    })
  } catch (err) {
    // Leave no device links or data files of a half-seeded cluster behind.
    emu.state.resourceDefinitions = {}
    reconcileFiles(emu)
    throw err
  } finally {
    emu.bulk = undefined
  }
}

/**
 * Builds a fresh controller state from a cluster description and makes it `emu.state`. Declared
 * resources get their data files and device links too; the caller saves the state.
 */
export function stateFromCluster(emu: Emu, spec: ClusterSpec): EmulatorState {
  const state = emptyState()
  Object.assign(state.controllerProps, spec.controller_props ?? {})
  for (const n of spec.nodes) {
    const node = newNode(emu, n.name, n.type ?? 'SATELLITE', n.address ?? '127.0.0.1', n.online !== false, { ...(n.props ?? {}) })
    for (const p of n.pools ?? []) {
      const total = p.provider_kind === 'DISKLESS' ? null : (p.total_capacity_kib ?? 0)
      node.pools[nameKey(p.name)] = newPool(emu, p.name, p.provider_kind, total, p.free_capacity_kib ?? total, { ...(p.props ?? {}) })
    }
    state.nodes[nameKey(n.name)] = node
  }
  const dflt = newResourceGroup(emu, 'DfltRscGrp')
  state.resourceGroups[nameKey(dflt.name)] = dflt
  for (const g of spec.resource_groups ?? []) {
    const rg = newResourceGroup(emu, g.name)
    rg.description = g.description ?? ''
    rg.props = { ...(g.props ?? {}) }
    rg.selectFilter = (g.select_filter ?? {})
    state.resourceGroups[nameKey(g.name)] = rg
  }
  emu.state = state
  if (spec.resources !== undefined && spec.resources.length > 0) seedResources(emu, spec.resources)
  return emu.state
}
