/**
 * Cluster descriptions: which nodes exist, their storage pools (provider kind, capacity), node
 * properties (e.g. Aux/site) and whether they are online. Written in YAML (see
 * emulator/clusters/*.yaml and docs/emulator.md) or passed as an object.
 */
import fs from 'node:fs'
import type { Emu } from './context.js'
import type { EmulatorState, ProviderKind } from './model.js'
import { PROVIDER_KINDS, emptyState } from './model.js'
import { checkNodeName, checkStoragePoolName, nameKey } from './names.js'
import { newNode, newPool } from './routes/nodes.js'
import { newResourceGroup } from './definitions.js'

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

export interface ClusterSpec {
  nodes: ClusterNodeSpec[]
  controller_props?: Record<string, string>
  resource_groups?: ClusterResourceGroupSpec[]
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
  return out
}

/** Reads a YAML cluster file (yaml is loaded lazily: only the emulator needs it). */
export async function loadClusterFile(file: string): Promise<ClusterSpec> {
  const { parse } = await import('yaml')
  return parseClusterSpec(parse(fs.readFileSync(file, 'utf8')) as unknown)
}

/** Builds a fresh controller state from a cluster description. */
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
  return state
}
