/**
 * Narrow types of what the LINSTOR controller returns and accepts, with LINSTOR's own field names
 * (snake_case on the wire, kept as is so each field can be checked against the upstream spec).
 * Lists and maps the controller omits when empty are always present here (empty).
 * Sizes are KiB.
 */
import type { ApiCallRc } from './api-call-rc.js'

export type Props = Record<string, string>

/** Body shape shared by every properties modification. */
export interface PropsModify {
  override_props?: Props
  delete_props?: string[]
  delete_namespaces?: string[]
}

export type LayerKind = 'DRBD' | 'LUKS' | 'NVME' | 'STORAGE' | 'CACHE' | 'WRITECACHE' | 'BCACHE' | 'OPENFLEX' | 'EXOS'

export type ProviderKind =
  | 'DISKLESS'
  | 'LVM'
  | 'LVM_THIN'
  | 'ZFS'
  | 'ZFS_THIN'
  | 'FILE'
  | 'FILE_THIN'
  | 'SPDK'
  | 'REMOTE_SPDK'
  | 'EBS_TARGET'
  | 'EBS_INIT'
  | 'STORAGE_SPACES'
  | 'STORAGE_SPACES_THIN'

/** The autoplacer's filter (AutoSelectFilter). Every field is optional; see reference §2.8. */
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
  port_count?: number
}

export interface ControllerVersion {
  version: string
  git_hash?: string
  build_time?: string
  rest_api_version: string
}

export interface NetInterface {
  name: string
  address: string
  satellite_port?: number
  satellite_encryption_type?: string
  is_active?: boolean
}

export interface Node {
  name: string
  type: string
  flags: string[]
  props: Props
  net_interfaces: NetInterface[]
  connection_status?: string
  uuid?: string
  storage_providers: string[]
  resource_layers: string[]
}

export interface StoragePool {
  storage_pool_name: string
  node_name: string
  provider_kind: string
  props: Props
  static_traits: Props
  /** KiB; absent when the satellite never reported. Diskless pools report Long.MAX (here ≈ 9.22e18). */
  free_capacity?: number
  total_capacity?: number
  free_space_mgr_name?: string
  uuid?: string
  supports_snapshots?: boolean
  shared_space?: string
  external_locking?: boolean
  reports: ApiCallRc[]
}

export interface ResourceGroup {
  name: string
  description?: string
  props: Props
  select_filter: AutoSelectFilter
  uuid?: string
  peer_slots?: number
}

export interface ResourceGroupCreate {
  name: string
  description?: string
  select_filter?: AutoSelectFilter
  peer_slots?: number
}

export interface ResourceGroupModify extends PropsModify {
  description?: string
  select_filter?: AutoSelectFilter
  peer_slots?: number
}

export interface ResourceGroupSpawn {
  resource_definition_name: string
  resource_definition_external_name?: string
  volume_sizes: number[]
  select_filter?: AutoSelectFilter
  partial?: boolean
  definitions_only?: boolean
  peer_slots?: number
  resource_definition_props?: Props
}

export interface QuerySizeInfoSpawnResult {
  node_name: string
  stor_pool_name: string
}

export interface QuerySizeInfo {
  space_info?: {
    max_vlm_size_in_kib: number
    available_size_in_kib?: number
    capacity_in_kib?: number
    next_spawn_result: QuerySizeInfoSpawnResult[]
  }
  reports: ApiCallRc[]
}

export interface LayerData {
  type: string
  data?: Record<string, unknown>
}

export interface VolumeDefinition {
  volume_number: number
  size_kib: number
  props: Props
  flags: string[]
  layer_data: LayerData[]
  uuid?: string
}

export interface VolumeDefinitionCreate {
  volume_definition: { size_kib: number; volume_number?: number; props?: Props; flags?: string[] }
  drbd_minor_number?: number
}

export interface VolumeDefinitionModify extends PropsModify {
  size_kib?: number
  flags?: string[]
}

export interface ResourceDefinition {
  name: string
  external_name?: string
  props: Props
  flags: string[]
  layer_data: LayerData[]
  uuid?: string
  resource_group_name?: string
  volume_definitions: VolumeDefinition[]
}

export interface ResourceDefinitionCreate {
  resource_definition: {
    name?: string
    external_name?: string
    props?: Props
    layer_data?: LayerData[]
    resource_group_name?: string
  }
  drbd_port?: number
  drbd_peer_slots?: number
  drbd_transport_type?: string
}

export interface ResourceDefinitionModify extends PropsModify {
  drbd_port?: number
  drbd_peer_slots?: number
  layer_stack?: string[]
  resource_group?: string
}

/** Properties of the connection between two nodes of one resource (e.g. allow-two-primaries for that pair). */
export interface ResourceConnection {
  node_a: string
  node_b: string
  props: Props
  flags: string[]
}

export interface ResourceDefinitionClone extends PropsModify {
  name: string
  external_name?: string
  use_zfs_clone?: boolean
  layer_list?: string[]
  resource_group?: string
}

export interface CloneStarted {
  location: string
  source_name: string
  clone_name: string
  messages: ApiCallRc[]
}

export type CloneStatus = 'CLONING' | 'COMPLETE' | 'FAILED'

export interface Resource {
  name: string
  node_name: string
  props: Props
  effective_props?: Record<string, unknown>
  flags: string[]
  layer_object?: Record<string, unknown>
  /** Absent when the satellite state is unknown. in_use = DRBD Primary on that node. */
  state?: { in_use?: boolean }
  uuid?: string
  create_timestamp?: number
}

export interface VolumeState {
  disk_state?: string
  replication_states?: Record<string, { replication_state?: string; done_percentage?: number }>
}

export interface Volume {
  volume_number: number
  storage_pool_name?: string
  provider_kind?: string
  /** /dev/drbd<minor> for DRBD, also on diskless replicas; absent until the satellite reported. */
  device_path?: string
  allocated_size_kib?: number
  props: Props
  flags: string[]
  state: VolumeState
  layer_data_list: LayerData[]
  uuid?: string
}

export interface ResourceWithVolumes extends Resource {
  volumes: Volume[]
  shared_name?: string
}

export interface ResourceCreate {
  resource?: { node_name?: string; flags?: string[]; props?: Props }
  layer_list?: string[]
  drbd_node_id?: number
  drbd_tcp_ports?: number[]
  drbd_client?: boolean
}

export interface ResourceModify extends PropsModify {
  drbd_tiebreaker?: boolean
  drbd_client?: boolean
}

export interface ResourceMakeAvailable {
  diskful?: boolean
  layer_list?: string[]
  drbd_tcp_ports?: number[]
}

export type ToggleDiskOperation = 'INTO_DRBD_DISKFUL' | 'INTO_DRBD_DISKLESS' | 'INTO_DRBD_CLIENT'

export interface ToggleDiskRequest {
  operation: ToggleDiskOperation
  storage_pool?: string
  migrate_from?: string
  layer_list?: string[]
}

export interface AutoPlaceRequest {
  select_filter: AutoSelectFilter
  /** Top level, not in the filter: the REST layer overwrites the filter's copy with this. */
  diskless_on_remaining?: boolean
  /** Top level, likewise overwrites select_filter.layer_stack. */
  layer_list?: string[]
}

export interface SnapshotVolumeDefinition {
  volume_number: number
  size_kib: number
}

export interface SnapshotNode {
  snapshot_name?: string
  node_name: string
  create_timestamp?: number
  flags: string[]
}

export interface Snapshot {
  name: string
  resource_name: string
  nodes: string[]
  flags: string[]
  props: Props
  snapshot_definition_props: Props
  /** The definition's properties as the snapshot keeps them (copied when it was taken). */
  resource_definition_props?: Props
  volume_definitions: SnapshotVolumeDefinition[]
  snapshots: SnapshotNode[]
  uuid?: string
}

export interface SnapshotCreate {
  name: string
  nodes?: string[]
  snapshot_definition_props?: Props
}

export interface SnapshotRestore {
  to_resource: string
  nodes?: string[]
  stor_pool_rename?: Record<string, string>
}
