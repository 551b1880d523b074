/**
 * One read of everything the lifecycle needs to know about a resource: its definition (props,
 * group, layer stack, volume definitions with minors) and its replicas per node (diskful, diskless
 * client, tie-breaker; in use or not; device paths). Two GETs, issued together.
 */
import type { CallOptions, LayerKind, LinstorClient, Props, ResourceDefinition, ResourceWithVolumes } from '../linstor/index.js'

export type ReplicaKind = 'diskful' | 'diskless' | 'tiebreaker'

export interface ReplicaVolume {
  number: number
  /** Device of the top layer as the satellite reports it, e.g. /dev/drbd1000 (absent until reported). */
  device?: string
  diskState?: string
  storagePool?: string
  /** Provider kind of that pool (LVM_THIN, ZFS, ...), as the view reports it. */
  providerKind?: string
}

export interface Replica {
  node: string
  kind: ReplicaKind
  /** DRBD Primary on that node; undefined when the satellite's state is unknown (offline). */
  inUse: boolean | undefined
  flags: readonly string[]
  storagePool?: string
  props: Props
  volumes: readonly ReplicaVolume[]
}

export interface VolumeInfo {
  number: number
  sizeKib: number
  sizeBytes: number
  minor?: number
}

export interface ResourceInfo {
  /** The name as LINSTOR spells it (names are case-insensitive). */
  name: string
  resourceGroup?: string
  props: Props
  flags: readonly string[]
  /** Layer stack from the definition, top first, e.g. ['DRBD', 'STORAGE']. */
  layers: readonly LayerKind[]
  volumes: readonly VolumeInfo[]
  replicas: readonly Replica[]
}

/** Diskless of any kind (LINSTOR reports DISKLESS on every diskless variant, tie-breakers included). */
export function replicaKind(flags: readonly string[]): ReplicaKind {
  if (flags.includes('TIE_BREAKER')) return 'tiebreaker'
  if (flags.includes('DISKLESS') || flags.includes('DRBD_DISKLESS') || flags.includes('NVME_INITIATOR')) return 'diskless'
  return 'diskful'
}

/** True when the layer stack lets other nodes reach the data (DRBD or NVMe-oF). */
export function isShared(layers: readonly LayerKind[]): boolean {
  return layers.includes('DRBD') || layers.includes('NVME')
}

/** The stable udev path of a DRBD volume: /dev/drbd/by-res/<resource>/<volume number>. */
export function stableDevicePath(resource: string, volume: number): string {
  return `/dev/drbd/by-res/${resource}/${volume}`
}

function minorOf(rd: ResourceDefinition, volume: number): number | undefined {
  const vd = rd.volume_definitions.find((v) => v.volume_number === volume)
  for (const l of vd?.layer_data ?? []) {
    const m = l.data?.['minor_number']
    if (l.type === 'DRBD' && typeof m === 'number') return m
  }
  return undefined
}

function toReplica(r: ResourceWithVolumes): Replica {
  const volumes = r.volumes
    .map((v): ReplicaVolume => ({
      number: v.volume_number,
      ...(v.device_path !== undefined ? { device: v.device_path } : {}),
      ...(v.state.disk_state !== undefined ? { diskState: v.state.disk_state } : {}),
      ...(v.storage_pool_name !== undefined ? { storagePool: v.storage_pool_name } : {}),
      ...(v.provider_kind !== undefined ? { providerKind: v.provider_kind } : {}),
    }))
    .sort((a, b) => a.number - b.number)
  const pool = r.props['StorPoolName'] ?? volumes[0]?.storagePool
  return {
    node: r.node_name,
    kind: replicaKind(r.flags),
    inUse: r.state?.in_use,
    flags: r.flags,
    ...(pool !== undefined ? { storagePool: pool } : {}),
    props: r.props,
    volumes,
  }
}

/** Assembles a ResourceInfo from the two replies (pure; exported for tests). */
export function resourceInfoOf(rd: ResourceDefinition, rows: readonly ResourceWithVolumes[]): ResourceInfo {
  const key = rd.name.toLowerCase()
  const layers = rd.layer_data.map((l) => l.type as LayerKind)
  return {
    name: rd.name,
    ...(rd.resource_group_name !== undefined ? { resourceGroup: rd.resource_group_name } : {}),
    props: rd.props,
    flags: rd.flags,
    layers: layers.length > 0 ? layers : ['DRBD', 'STORAGE'],
    volumes: rd.volume_definitions
      .map((vd): VolumeInfo => {
        const minor = minorOf(rd, vd.volume_number)
        return { number: vd.volume_number, sizeKib: vd.size_kib, sizeBytes: vd.size_kib * 1024, ...(minor !== undefined ? { minor } : {}) }
      })
      .sort((a, b) => a.number - b.number),
    replicas: rows
      .filter((r) => r.name.toLowerCase() === key)
      .map(toReplica)
      .sort((a, b) => a.node.localeCompare(b.node)),
  }
}

/** Reads a resource; undefined when its definition does not exist. */
export async function readResource(client: LinstorClient, name: string, options?: CallOptions): Promise<ResourceInfo | undefined> {
  const [rds, rows] = await Promise.all([
    client.resourceDefinitions.list({ resourceDefinitions: [name], withVolumeDefinitions: true }, options),
    client.view.resources({ resources: [name] }, options),
  ])
  const rd = rds.find((r) => r.name.toLowerCase() === name.toLowerCase())
  return rd === undefined ? undefined : resourceInfoOf(rd, rows)
}

/** The replica on a node (names compare case-insensitively, as in LINSTOR). */
export function replicaOn(info: ResourceInfo, node: string): Replica | undefined {
  const key = node.toLowerCase()
  return info.replicas.find((r) => r.node.toLowerCase() === key)
}

export function sameNode(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase()
}
