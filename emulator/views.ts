/**
 * Reply objects as the controller serialises them (JsonGenTypes): field names and enum strings of
 * REST API 1.28, NON_EMPTY omission left to the JSON writer, int64 capacities as bigint.
 */
import { isDisklessPool, isThin, poolFreeKib, volumeAllocatedKib } from './capacity.js'
import type { Emu } from './context.js'
import type { JsonValue } from './json-writer.js'
import { stringMap } from './json-writer.js'
import type {
  AutoSelectFilter,
  NodeState,
  PoolState,
  ResourceDefinitionState,
  ResourceGroupState,
  ResourceState,
  SnapshotState,
  VolumeDefinitionState,
  VolumeGroupState,
} from './model.js'
import { FILTER_FIELDS, LONG_MAX, SNAPSHOT_KINDS, findPool, nodeLayers, replicas, vlmDfns } from './model.js'
import { nameKey } from './names.js'
import { backingDevice, deployedLayers, layerDevice, luksDevice, replicaLayers, topDevice } from './layers.js'
import { proxyDiskState, replicationState } from './proxy.js'

const STORAGE_PROVIDERS = ['DISKLESS', 'LVM', 'LVM_THIN', 'ZFS', 'ZFS_THIN', 'FILE', 'FILE_THIN']

export function nodeJson(n: NodeState): JsonValue {
  return {
    name: n.name,
    type: n.type,
    flags: n.flags,
    props: stringMap({ CurStltConnName: 'default', NodeUname: n.name, ...n.props }),
    net_interfaces: [
      {
        name: 'default',
        address: n.address,
        satellite_port: 3366,
        satellite_encryption_type: 'PLAIN',
        is_active: true,
        uuid: `${n.uuid.slice(0, 24)}000000000001`,
      },
    ],
    connection_status: n.online ? 'ONLINE' : 'OFFLINE',
    uuid: n.uuid,
    storage_providers: STORAGE_PROVIDERS,
    resource_layers: [...nodeLayers(n)],
    platform: 'LINUX',
  }
}

export function poolJson(emu: Emu, n: NodeState, p: PoolState): JsonValue {
  const diskless = isDisklessPool(p)
  const supportsSnapshots = SNAPSHOT_KINDS.has(p.providerKind)
  const traits: Record<string, string> = diskless
    ? { SupportsSnapshots: 'false' }
    : { Provisioning: isThin(p) ? 'Thin' : 'Fat', SupportsSnapshots: String(supportsSnapshots) }
  const free = diskless ? LONG_MAX : poolFreeKib(emu, n, p)
  const total = diskless ? LONG_MAX : p.totalKib
  return {
    storage_pool_name: p.name,
    node_name: n.name,
    provider_kind: p.providerKind,
    props: stringMap(p.props),
    static_traits: stringMap(traits),
    free_capacity: free === null ? undefined : typeof free === 'bigint' ? free : BigInt(Math.floor(free)),
    total_capacity: total === null ? undefined : typeof total === 'bigint' ? total : BigInt(Math.floor(total)),
    free_space_mgr_name: `${n.name};${p.name}`,
    uuid: p.uuid,
    supports_snapshots: supportsSnapshots,
    external_locking: false,
  }
}

export function filterJson(f: AutoSelectFilter): JsonValue {
  const out: Record<string, JsonValue> = {}
  for (const k of FILTER_FIELDS) {
    const v = f[k]
    if (v === undefined) continue
    out[k] = k === 'x_replicas_on_different_map' ? new Map(Object.entries(v as Record<string, number>)) : (v)
  }
  return out
}

export function rgJson(rg: ResourceGroupState): JsonValue {
  return {
    name: rg.name,
    description: rg.description,
    props: stringMap(rg.props),
    select_filter: filterJson({ place_count: 2, ...rg.selectFilter }),
    uuid: rg.uuid,
    peer_slots: rg.peerSlots,
  }
}

export function vgJson(vg: VolumeGroupState): JsonValue {
  return { volume_number: vg.volumeNumber, props: stringMap(vg.props), uuid: vg.uuid, flags: vg.flags }
}

/** A volume definition; only DRBD has volume-definition layer data (LUKS and NVMe have none: Rsc*LayerHelper.createVlmDfnData). */
export function vdJson(vd: VolumeDefinitionState, layerStack: readonly string[] = ['DRBD', 'STORAGE']): JsonValue {
  return {
    volume_number: vd.volumeNumber,
    size_kib: vd.sizeKib,
    props: stringMap(vd.props),
    flags: vd.flags,
    layer_data: [
      ...(layerStack.includes('DRBD') ? [{ type: 'DRBD', data: { resource_name_suffix: '', volume_number: vd.volumeNumber, minor_number: vd.minor } }] : []),
      { type: 'STORAGE' },
    ],
    uuid: vd.uuid,
  }
}

/** Flags of an RD, with CLONING while a clone copy is still running. */
export function rdFlags(emu: Emu, rd: ResourceDefinitionState): string[] {
  const flags = [...rd.flags]
  const clone = Object.values(emu.state.clones).find((c) => nameKey(c.clone) === nameKey(rd.name))
  if (clone !== undefined && !clone.failed && emu.clock().getTime() < clone.completeAt && !flags.includes('CLONING')) flags.push('CLONING')
  return flags
}

/** The DRBD layer data of a definition; TCP ports are per node nowadays, so `port` is -1. */
function drbdDefinitionData(rd: ResourceDefinitionState): JsonValue {
  return {
    peer_slots: rd.peerSlots,
    al_stripes: 1,
    al_stripe_size_kib: 32,
    port: -1,
    transport_type: rd.transportType,
    secret: rd.secret,
    down: false,
  }
}

export function rdJson(emu: Emu, rd: ResourceDefinitionState, withVolumes: boolean): JsonValue {
  return {
    name: rd.name,
    external_name: rd.externalName,
    props: stringMap(rd.props),
    flags: rdFlags(emu, rd),
    layer_data: rd.layerStack.map((type) =>
      type === 'DRBD'
        ? {
            type,
            data: drbdDefinitionData(rd),
          }
        : { type },
    ),
    uuid: rd.uuid,
    resource_group_name: rd.resourceGroup,
    volume_definitions: withVolumes ? vlmDfns(rd).map((vd) => vdJson(vd, rd.layerStack)) : undefined,
  }
}

/** Flags in the controller's enum order (every flag whose bits are set). */
export function resourceFlags(r: ResourceState): string[] {
  const flags: string[] = []
  if (r.nvmeInitiator === true) flags.push('DISKLESS', 'NVME_INITIATOR')
  else if (r.kind !== 'diskful') flags.push('DISKLESS', 'DRBD_DISKLESS')
  if (r.kind === 'tiebreaker') flags.push('TIE_BREAKER')
  if (r.inactive) flags.push('INACTIVE')
  return flags
}

function nodeOnline(emu: Emu, name: string): boolean {
  return emu.state.nodes[nameKey(name)]?.online === true
}

function diskState(emu: Emu, r: ResourceState, rd: ResourceDefinitionState, vlmNr: number): string | undefined {
  if (!nodeOnline(emu, r.node)) return undefined
  if (r.inactive) return 'DUnknown'
  if (r.kind !== 'diskful') return 'Diskless'
  return proxyDiskState(emu, rd, r, vlmNr) ?? 'UpToDate'
}

export function volumesJson(emu: Emu, rd: ResourceDefinitionState, r: ResourceState, poolFilter?: Set<string>): JsonValue[] {
  const node = emu.state.nodes[nameKey(r.node)]
  const pool = node === undefined ? undefined : findPool(node, r.storPool)
  if (poolFilter !== undefined && !poolFilter.has(nameKey(r.storPool))) return []
  const online = nodeOnline(emu, r.node)
  const peers = replicas(rd).filter((p) => nameKey(p.node) !== nameKey(r.node))
  const layers = replicaLayers(rd, r)
  const drbd = deployedLayers(emu, rd, r).includes('DRBD')
  return vlmDfns(rd).map((vd) => {
    const backing = backingDevice(emu, rd, r, vd.volumeNumber)
    const dev = (layer: string): string | undefined => (online ? layerDevice(emu, rd, r, layer, vd.volumeNumber, vd.minor, backing) : undefined)
    const devicePath = online ? topDevice(emu, rd, r, vd.volumeNumber, vd.minor, backing) : undefined
    const allocated = pool === undefined ? 0 : volumeAllocatedKib(emu, rd, pool, vd.volumeNumber, vd.sizeKib)
    const ds = drbd ? diskState(emu, r, rd, vd.volumeNumber) : undefined
    const replication = new Map<string, JsonValue>()
    if (online && drbd) {
      for (const p of peers) {
        if (nodeOnline(emu, p.node) && deployedLayers(emu, rd, p).includes('DRBD')) replication.set(p.node, replicationState(emu, rd, r, p))
      }
    }
    const vol = r.volumes[String(vd.volumeNumber)]
    const below = (i: number): string | undefined => {
      const next = layers[i + 1]
      return next === undefined ? undefined : next === 'STORAGE' ? backing : dev(next)
    }
    const usable = r.kind === 'diskful' || r.nvmeInitiator === true ? vd.sizeKib : undefined
    const layerData: JsonValue[] = layers.map((type, i): JsonValue => {
      switch (type) {
        case 'DRBD':
          return {
            type,
            data: {
              drbd_volume_definition: { resource_name_suffix: '', volume_number: vd.volumeNumber, minor_number: vd.minor },
              device_path: dev('DRBD'),
              backing_device: r.kind === 'diskful' ? below(i) : undefined,
              meta_disk: r.kind === 'diskful' ? 'internal' : undefined,
              allocated_size_kib: allocated,
              usable_size_kib: vd.sizeKib,
              disk_state: ds,
            },
          }
        case 'LUKS':
          return {
            type,
            data: {
              volume_number: vd.volumeNumber,
              device_path: dev('LUKS'),
              backing_device: below(i),
              allocated_size_kib: allocated,
              usable_size_kib: usable,
              opened: online && dev('LUKS') !== undefined,
            },
          }
        case 'NVME':
          return {
            type,
            data: {
              volume_number: vd.volumeNumber,
              device_path: dev('NVME'),
              backing_device: r.nvmeInitiator === true ? undefined : backing,
              allocated_size_kib: allocated,
              usable_size_kib: usable,
            },
          }
        default:
          return {
            type: 'STORAGE',
            data: {
              volume_number: vd.volumeNumber,
              device_path: backing,
              allocated_size_kib: allocated,
              usable_size_kib: r.kind === 'diskful' ? vd.sizeKib : undefined,
              disk_state: r.kind === 'diskful' ? '[]' : undefined,
            },
          }
      }
    })
    return {
      volume_number: vd.volumeNumber,
      storage_pool_name: r.storPool,
      provider_kind: pool?.providerKind ?? 'DISKLESS',
      device_path: devicePath,
      allocated_size_kib: allocated,
      props: stringMap(vol?.props),
      state: online ? { disk_state: ds, replication_states: replication } : undefined,
      layer_data_list: layerData,
      uuid: vol?.uuid,
    }
  })
}

/** One layer of a resource's layer_object tree (ResourceLayer), its children below it. */
function layerObject(emu: Emu, rd: ResourceDefinitionState, r: ResourceState, layers: string[], drbdData: () => JsonValue): JsonValue {
  const [type, ...rest] = layers
  const vds = vlmDfns(rd)
  const children = rest.length > 0 ? [layerObject(emu, rd, r, rest, drbdData)] : undefined
  const online = nodeOnline(emu, r.node)
  const dev = (layer: string, vlmNr: number, minor: number): string | undefined =>
    online ? layerDevice(emu, rd, r, layer, vlmNr, minor, backingDevice(emu, rd, r, vlmNr)) : undefined
  switch (type) {
    case 'DRBD':
      return { type, children, drbd: drbdData() }
    case 'LUKS':
      return {
        type,
        children,
        luks: {
          luks_volumes: vds.map((vd) => ({
            volume_number: vd.volumeNumber,
            device_path: dev('LUKS', vd.volumeNumber, vd.minor),
            usable_size_kib: r.kind === 'diskful' || r.nvmeInitiator === true ? vd.sizeKib : undefined,
            opened: dev('LUKS', vd.volumeNumber, vd.minor) !== undefined,
          })),
        },
      }
    case 'NVME':
      return {
        type,
        children,
        nvme: {
          nvme_volumes: vds.map((vd) => ({
            volume_number: vd.volumeNumber,
            device_path: dev('NVME', vd.volumeNumber, vd.minor),
            backing_device: r.nvmeInitiator === true ? undefined : backingDevice(emu, rd, r, vd.volumeNumber),
            usable_size_kib: vd.sizeKib,
          })),
        },
      }
    default:
      return {
        type: 'STORAGE',
        storage: {
          storage_volumes: vds.map((vd) => ({
            volume_number: vd.volumeNumber,
            device_path: backingDevice(emu, rd, r, vd.volumeNumber),
            usable_size_kib: r.kind === 'diskful' ? vd.sizeKib : undefined,
          })),
        },
      }
  }
}

export function resourceJson(emu: Emu, rd: ResourceDefinitionState, r: ResourceState): Record<string, JsonValue> {
  const online = nodeOnline(emu, r.node)
  const vds = vlmDfns(rd)
  const drbdDeployed = deployedLayers(emu, rd, r).includes('DRBD')
  const drbdData = (): JsonValue => {
    const connections = new Map<string, JsonValue>()
    for (const p of replicas(rd)) {
      if (nameKey(p.node) === nameKey(r.node)) continue
      const up = online && drbdDeployed && nodeOnline(emu, p.node) && deployedLayers(emu, rd, p).includes('DRBD')
      connections.set(p.node, { connected: up, message: up ? 'Connected' : 'Connecting' })
    }
    const drbdFlags: string[] = []
    if (r.client) drbdFlags.push('CLIENT')
    const otherPrimary = replicas(rd).some((p) => p.role === 'Primary' && nameKey(p.node) !== nameKey(r.node))
    return {
      drbd_resource_definition: drbdDefinitionData(rd),
      node_id: r.nodeId,
      tcp_ports: [r.tcpPort],
      peer_slots: rd.peerSlots,
      al_stripes: 1,
      al_size: 32,
      flags: drbdFlags,
      drbd_volumes: vds.map((vd) => ({
        drbd_volume_definition: { volume_number: vd.volumeNumber, minor_number: vd.minor },
        device_path: drbdDeployed ? `/dev/drbd${vd.minor}` : undefined,
        backing_device: r.kind === 'diskful' ? (replicaLayers(rd, r)[1] === 'LUKS' ? luksDevice(rd, vd.volumeNumber) : backingDevice(emu, rd, r, vd.volumeNumber)) : undefined,
        meta_disk: r.kind === 'diskful' ? 'internal' : undefined,
        usable_size_kib: vd.sizeKib,
      })),
      connections,
      promotion_score: online && drbdDeployed && r.kind === 'diskful' ? 10102 : online && drbdDeployed ? 1 : 0,
      may_promote: online && drbdDeployed && !otherPrimary && r.role !== 'Primary',
    }
  }
  return {
    name: rd.name,
    node_name: r.node,
    props: stringMap(r.props),
    flags: resourceFlags(r),
    layer_object: layerObject(emu, rd, r, replicaLayers(rd, r), drbdData),
    // Only DRBD reports a role; NVMe, LUKS and storage layers report in_use as unknown (null).
    state: online ? (drbdDeployed ? { in_use: r.role === 'Primary' } : {}) : undefined,
    uuid: r.uuid,
    create_timestamp: r.createTimestamp,
  }
}

export function resourceWithVolumesJson(emu: Emu, rd: ResourceDefinitionState, r: ResourceState, poolFilter?: Set<string>): JsonValue | undefined {
  const volumes = volumesJson(emu, rd, r, poolFilter)
  if (volumes.length === 0) return undefined
  return { ...resourceJson(emu, rd, r), volumes }
}

export function snapshotJson(rd: ResourceDefinitionState, s: SnapshotState): JsonValue {
  return {
    name: s.name,
    resource_name: rd.name,
    nodes: s.nodes.map((n) => n.node),
    props: stringMap({ ...s.rdProps, ...s.props }),
    snapshot_definition_props: stringMap(s.props),
    resource_definition_props: stringMap(s.rdProps),
    flags: s.flags,
    volume_definitions: s.volumeDefinitions.map((v) => ({
      volume_number: v.volumeNumber,
      size_kib: v.sizeKib,
      volume_definition_props: stringMap(v.props),
    })),
    uuid: s.uuid,
    snapshots: s.nodes.map((n) => ({
      snapshot_name: s.name,
      node_name: n.node,
      create_timestamp: n.createTimestamp,
      uuid: n.uuid,
      resource_props: stringMap(n.resourceProps),
      snapshot_volumes: s.volumeDefinitions.map((v, i) => ({ uuid: `${n.uuid.slice(0, 24)}${String(i).padStart(12, '0')}`, vlm_nr: v.volumeNumber })),
    })),
  }
}
