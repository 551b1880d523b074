/**
 * The emulator's state model: what the controller database (and the satellites' view of DRBD)
 * would hold. Plain JSON-able data, so persistence is a JSON dump; names are stored with their
 * display spelling and indexed by their upper-cased key (see names.ts).
 */
import { nameKey } from './names.js'

export type Props = Record<string, string>

export type ProviderKind =
  | 'DISKLESS'
  | 'LVM'
  | 'LVM_THIN'
  | 'ZFS'
  | 'ZFS_THIN'
  | 'FILE'
  | 'FILE_THIN'
  | 'SPDK'
  | 'EBS_TARGET'
  | 'EBS_INIT'

export const PROVIDER_KINDS: readonly ProviderKind[] = [
  'DISKLESS',
  'LVM',
  'LVM_THIN',
  'ZFS',
  'ZFS_THIN',
  'FILE',
  'FILE_THIN',
  'SPDK',
  'EBS_TARGET',
  'EBS_INIT',
]

export const THIN_KINDS: ReadonlySet<string> = new Set(['LVM_THIN', 'ZFS_THIN', 'FILE_THIN'])
export const DISKLESS_KINDS: ReadonlySet<string> = new Set(['DISKLESS', 'EBS_INIT'])
/** Kinds whose pools can take snapshots (thick LVM and diskless cannot). */
export const SNAPSHOT_KINDS: ReadonlySet<string> = new Set(['LVM_THIN', 'ZFS', 'ZFS_THIN', 'FILE', 'FILE_THIN'])

export const DISKLESS_POOL = 'DfltDisklessStorPool'
export const DEFAULT_POOL = 'DfltStorPool'
export const DEFAULT_RSC_GRP = 'DfltRscGrp'
/** Java's Long.MAX_VALUE, what a diskless pool reports as free and total capacity. */
export const LONG_MAX = 9223372036854775807n

export interface PoolState {
  name: string
  providerKind: ProviderKind
  props: Props
  /** Capacity the satellite reports (KiB); null = never reported. Diskless pools use Long.MAX. */
  totalKib: number | null
  /** Space used by things LINSTOR does not know about (total - initial free), KiB. */
  foreignUsedKib: number
  uuid: string
}

export interface NodeState {
  name: string
  type: string
  online: boolean
  props: Props
  flags: string[]
  address: string
  uuid: string
  pools: Record<string, PoolState>
}

export interface AutoSelectFilter {
  place_count?: number
  additional_place_count?: number
  node_name_list?: string[]
  storage_pool?: string
  storage_pool_list?: string[]
  storage_pool_diskless_list?: string[]
  not_place_with_rsc?: string[]
  not_place_with_rsc_regex?: string
  replicas_on_same?: string[]
  replicas_on_different?: string[]
  x_replicas_on_different_map?: Record<string, number>
  layer_stack?: string[]
  provider_list?: string[]
  diskless_on_remaining?: boolean
  diskless_type?: string
  overprovision?: number
  port_count?: number
}

export const FILTER_FIELDS: readonly (keyof AutoSelectFilter)[] = [
  'place_count',
  'additional_place_count',
  'node_name_list',
  'storage_pool',
  'storage_pool_list',
  'storage_pool_diskless_list',
  'not_place_with_rsc',
  'not_place_with_rsc_regex',
  'replicas_on_same',
  'replicas_on_different',
  'x_replicas_on_different_map',
  'layer_stack',
  'provider_list',
  'diskless_on_remaining',
  'diskless_type',
  'overprovision',
  'port_count',
]

export interface VolumeGroupState {
  volumeNumber: number
  props: Props
  flags: string[]
  uuid: string
}

export interface ResourceGroupState {
  name: string
  description: string
  props: Props
  selectFilter: AutoSelectFilter
  peerSlots?: number
  uuid: string
  volumeGroups: Record<string, VolumeGroupState>
}

export interface VolumeDefinitionState {
  volumeNumber: number
  sizeKib: number
  props: Props
  flags: string[]
  minor: number
  uuid: string
}

/** How a replica stores data. TIE_BREAKER is a controller-managed diskless replica. */
export type ReplicaKind = 'diskful' | 'diskless' | 'tiebreaker'

export interface ReplicaVolumeState {
  props: Props
  uuid: string
}

export interface ResourceState {
  node: string
  kind: ReplicaKind
  /** DRBD client role (diskless without quorum vote, REST 1.28). */
  client: boolean
  inactive: boolean
  storPool: string
  props: Props
  nodeId: number
  tcpPort: number
  uuid: string
  createTimestamp: number
  /** The DRBD role this node's satellite reports. */
  role: 'Primary' | 'Secondary'
  volumes: Record<string, ReplicaVolumeState>
}

export interface ResourceConnectionState {
  nodeA: string
  nodeB: string
  props: Props
  uuid: string
}

export interface SnapshotVolumeDefinitionState {
  volumeNumber: number
  sizeKib: number
  props: Props
}

export interface SnapshotNodeState {
  node: string
  storPool: string
  providerKind: ProviderKind
  createTimestamp: number
  uuid: string
  resourceProps: Props
}

export interface SnapshotState {
  name: string
  uuid: string
  props: Props
  rdProps: Props
  flags: string[]
  /** Creation order within the RD (the controller's snapshot sequence number); absent in older state files. */
  sequence?: number
  volumeDefinitions: SnapshotVolumeDefinitionState[]
  nodes: SnapshotNodeState[]
}

export interface ResourceDefinitionState {
  name: string
  externalName?: string
  props: Props
  flags: string[]
  uuid: string
  resourceGroup: string
  layerStack: string[]
  peerSlots: number
  secret: string
  transportType: string
  /** Who owns DrbdOptions/Resource/quorum: the auto-quorum helper or the user. */
  quorumSetBy: 'linstor' | 'user'
  volumeDefinitions: Record<string, VolumeDefinitionState>
  resources: Record<string, ResourceState>
  snapshots: Record<string, SnapshotState>
  connections: Record<string, ResourceConnectionState>
}

export interface CloneState {
  source: string
  clone: string
  /** When the copy is reported COMPLETE (epoch ms). */
  completeAt: number
  failed: boolean
}

export interface EmulatorState {
  version: 1
  controllerProps: Props
  nodes: Record<string, NodeState>
  resourceGroups: Record<string, ResourceGroupState>
  resourceDefinitions: Record<string, ResourceDefinitionState>
  clones: Record<string, CloneState>
}

export function emptyState(): EmulatorState {
  return {
    version: 1,
    controllerProps: { 'DrbdOptions/auto-add-quorum-tiebreaker': 'True' },
    nodes: {},
    resourceGroups: {},
    resourceDefinitions: {},
    clones: {},
  }
}

export function findNode(s: EmulatorState, name: string): NodeState | undefined {
  return s.nodes[nameKey(name)]
}
export function findRd(s: EmulatorState, name: string): ResourceDefinitionState | undefined {
  return s.resourceDefinitions[nameKey(name)]
}
export function findRg(s: EmulatorState, name: string): ResourceGroupState | undefined {
  return s.resourceGroups[nameKey(name)]
}
export function findPool(node: NodeState, name: string): PoolState | undefined {
  return node.pools[nameKey(name)]
}
export function findResource(rd: ResourceDefinitionState, node: string): ResourceState | undefined {
  return rd.resources[nameKey(node)]
}

/** Volume definitions in volume-number order. */
export function vlmDfns(rd: ResourceDefinitionState): VolumeDefinitionState[] {
  return Object.values(rd.volumeDefinitions).sort((a, b) => a.volumeNumber - b.volumeNumber)
}

/** Resources in node-name order (the controller lists them sorted by key). */
export function replicas(rd: ResourceDefinitionState): ResourceState[] {
  return Object.values(rd.resources).sort((a, b) => cmpKey(a.node, b.node))
}

export function cmpKey(a: string, b: string): number {
  const x = nameKey(a)
  const y = nameKey(b)
  return x < y ? -1 : x > y ? 1 : 0
}

export function sortedByName<T extends { name: string }>(items: Iterable<T>): T[] {
  return [...items].sort((a, b) => cmpKey(a.name, b.name))
}

/** The key of a resource connection (unordered node pair). */
export function connectionKey(a: string, b: string): string {
  const [x, y] = [nameKey(a), nameKey(b)].sort()
  return `${x}:${y}`
}

/** First value of a key in a priority list of prop maps. */
export function prioProp(key: string, ...maps: (Props | undefined)[]): string | undefined {
  for (const m of maps) {
    if (m !== undefined && Object.hasOwn(m, key)) return m[key]
  }
  return undefined
}

/** Props that govern a resource definition: RD → RG → controller. */
export function rdPrioProp(s: EmulatorState, rd: ResourceDefinitionState, key: string): string | undefined {
  return prioProp(key, rd.props, findRg(s, rd.resourceGroup)?.props, s.controllerProps)
}

export function isDiskless(r: ResourceState): boolean {
  return r.kind !== 'diskful'
}
