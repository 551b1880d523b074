/**
 * The request body classes the emulated controller reads (the controller's
 * `api/rest/v1/serializer/JsonGenTypes.java`, generated from the OpenAPI document of REST level
 * 1.28.0 by `scripts/rest-gen.py`), written out by hand: field names and Java types in
 * declaration order. test/conformance/request-types.test.ts checks every table against the spec
 * read in place, by rest-gen's rules.
 *
 * Classes the controller only ever sends (layer objects, satellite states) are read as
 * java.lang.Object where a request class embeds them: clients echo them at most, and the emulator
 * ignores them (docs/emulator.md, guesses).
 */
import type { JClass, JType } from './jackson.js'

const S = 'String'
const strList: JType = { list: 'String' }
const props: JType = { map: 'String' }
const propsModify = { override_props: props, delete_props: strList, delete_namespaces: strList } as const

function cls(name: string, fields: Record<string, JType>, defaults?: Record<string, number | boolean | string>): JClass {
  return defaults === undefined ? { name, fields } : { name, fields, defaults }
}

export const AutoSelectFilter = cls('AutoSelectFilter', {
  place_count: 'Integer',
  additional_place_count: 'Integer',
  node_name_list: strList,
  storage_pool: S,
  storage_pool_list: strList,
  storage_pool_diskless_list: strList,
  not_place_with_rsc: strList,
  not_place_with_rsc_regex: S,
  replicas_on_same: strList,
  replicas_on_different: strList,
  x_replicas_on_different_map: { map: 'Integer' },
  layer_stack: strList,
  provider_list: strList,
  diskless_on_remaining: 'Boolean',
  diskless_type: S,
  overprovision: 'Double',
  port_count: 'Integer',
})

export const NetInterface = cls('NetInterface', {
  name: S,
  address: S,
  satellite_port: 'Integer',
  satellite_encryption_type: S,
  is_active: 'Boolean',
  uuid: S,
})

export const Node = cls('Node', {
  name: S,
  type: S,
  flags: strList,
  props,
  net_interfaces: { list: NetInterface },
  connection_status: S,
  uuid: S,
  storage_providers: strList,
  resource_layers: strList,
  unsupported_providers: { map: strList },
  unsupported_layers: { map: strList },
  eviction_timestamp: 'Long',
  platform: S,
  os_variant: S,
})

export const NodeModify = cls('NodeModify', { node_type: S, ...propsModify })

/** An ApiCallRc as a client may echo it inside a StoragePool (read, then ignored). */
const ApiCallRcType = cls('ApiCallRc', {
  ret_code: 'long',
  message: S,
  cause: S,
  details: S,
  correction: S,
  error_report_ids: strList,
  obj_refs: props,
  created_at: S,
})

export const StoragePool = cls(
  'StoragePool',
  {
    storage_pool_name: S,
    node_name: S,
    provider_kind: S,
    props,
    static_traits: props,
    free_capacity: 'Long',
    total_capacity: 'Long',
    free_space_mgr_name: S,
    uuid: S,
    reports: { list: ApiCallRcType },
    supports_snapshots: 'Boolean',
    shared_space: S,
    external_locking: 'boolean',
  },
  { external_locking: false },
)

export const StoragePoolDefinitionModify = cls('StoragePoolDefinitionModify', { ...propsModify })

export const ResourceGroup = cls(
  'ResourceGroup',
  { name: S, description: S, props, select_filter: AutoSelectFilter, uuid: S, peer_slots: 'Integer' },
  { name: '', description: '' },
)

export const ResourceGroupModify = cls('ResourceGroupModify', {
  description: S,
  ...propsModify,
  select_filter: AutoSelectFilter,
  peer_slots: 'Integer',
  snap_names: strList,
  copy_all_snaps: 'Boolean',
})

export const ResourceGroupSpawn = cls(
  'ResourceGroupSpawn',
  {
    resource_definition_name: S,
    resource_definition_external_name: S,
    volume_sizes: { list: 'Long' },
    select_filter: AutoSelectFilter,
    partial: 'boolean',
    definitions_only: 'boolean',
    peer_slots: 'Integer',
    volume_passphrases: strList,
    resource_definition_props: props,
  },
  { partial: false, definitions_only: false },
)

export const QuerySizeInfoRequest = cls('QuerySizeInfoRequest', { select_filter: AutoSelectFilter, ignore_cache_older_than_sec: 'int' }, { ignore_cache_older_than_sec: -1 })
export const QueryAllSizeInfoRequest = cls('QueryAllSizeInfoRequest', { select_filter: AutoSelectFilter, ignore_cache_older_than_sec: 'int' }, { ignore_cache_older_than_sec: -1 })
export const ResourceGroupAdjust = cls('ResourceGroupAdjust', { select_filter: AutoSelectFilter, snap_names: strList, copy_all_snaps: 'Boolean' })

export const VolumeGroup = cls('VolumeGroup', { volume_number: 'Integer', props, uuid: S, flags: strList })
export const VolumeGroupModify = cls('VolumeGroupModify', { override_props: props, flags: strList, delete_props: strList, delete_namespaces: strList })

const ResourceDefinitionLayer = cls('ResourceDefinitionLayer', { type: S, data: 'Object' })
const VolumeDefinitionLayer = cls('VolumeDefinitionLayer', { type: S, data: 'Object' })

export const VolumeDefinition = cls('VolumeDefinition', {
  volume_number: 'Integer',
  size_kib: 'long',
  props,
  flags: strList,
  layer_data: { list: VolumeDefinitionLayer },
  uuid: S,
})

export const ResourceDefinition = cls(
  'ResourceDefinition',
  {
    name: S,
    external_name: S,
    props,
    flags: strList,
    layer_data: { list: ResourceDefinitionLayer },
    uuid: S,
    resource_group_name: S,
    volume_definitions: { list: VolumeDefinition },
  },
  { name: '' },
)

export const ResourceDefinitionCreate = cls('ResourceDefinitionCreate', {
  drbd_port: 'Integer',
  drbd_secret: S,
  drbd_peer_slots: 'Integer',
  drbd_transport_type: S,
  resource_definition: ResourceDefinition,
})

export const ResourceDefinitionModify = cls('ResourceDefinitionModify', {
  ...propsModify,
  drbd_port: 'Integer',
  drbd_peer_slots: 'Integer',
  layer_stack: strList,
  resource_group: S,
})

export const ResourceDefinitionCloneRequest = cls('ResourceDefinitionCloneRequest', {
  name: S,
  external_name: S,
  use_zfs_clone: 'Boolean',
  layer_list: strList,
  volume_passphrases: strList,
  resource_group: S,
  ...propsModify,
})

export const VolumeDefinitionCreate = cls('VolumeDefinitionCreate', { volume_definition: VolumeDefinition, drbd_minor_number: 'Integer', passphrase: S })
export const VolumeDefinitionModify = cls('VolumeDefinitionModify', { size_kib: 'Long', ...propsModify, flags: strList })

const ResourceState = cls('ResourceState', { in_use: 'Boolean' })

export const Resource = cls('Resource', {
  name: S,
  node_name: S,
  props,
  effective_props: { map: 'Object' },
  flags: strList,
  layer_object: 'Object',
  state: ResourceState,
  uuid: S,
  create_timestamp: 'Long',
})

export const ResourceCreate = cls('ResourceCreate', {
  resource: Resource,
  layer_list: strList,
  drbd_node_id: 'Integer',
  drbd_tcp_port_count: 'Integer',
  drbd_tcp_ports: { list: 'Integer' },
  snap_names: strList,
  copy_all_snaps: 'Boolean',
  drbd_client: 'Boolean',
})

export const ResourceModify = cls('ResourceModify', { ...propsModify, drbd_tiebreaker: 'Boolean', drbd_client: 'Boolean' })

export const ResourceMakeAvailable = cls(
  'ResourceMakeAvailable',
  { layer_list: strList, diskful: 'boolean', drbd_tcp_ports: { list: 'Integer' }, snap_names: strList, copy_all_snaps: 'Boolean' },
  { diskful: false },
)

export const AutoPlaceRequest = cls(
  'AutoPlaceRequest',
  { diskless_on_remaining: 'boolean', select_filter: AutoSelectFilter, layer_list: strList, snap_names: strList, copy_all_snaps: 'Boolean' },
  { diskless_on_remaining: false },
)

export const ToggleDiskRequest = cls('ToggleDiskRequest', { operation: S, storage_pool: S, migrate_from: S, layer_list: strList })
export const ToggleDiskDiskful = cls('ToggleDiskDiskful', { layer_list: strList })
export const VolumeModify = cls('VolumeModify', { ...propsModify })
export const ResourceConnectionModify = cls('ResourceConnectionModify', { ...propsModify })

const SnapshotVolumeDefinition = cls('SnapshotVolumeDefinition', {
  volume_number: 'Integer',
  size_kib: 'Long',
  snapshot_volume_definition_props: props,
  volume_definition_props: props,
})
const SnapshotVolumeNode = cls('SnapshotVolumeNode', { uuid: S, vlm_nr: 'Integer', props, snapshot_volume_props: props, volume_props: props, state: S })
const SnapshotNode = cls('SnapshotNode', {
  snapshot_name: S,
  node_name: S,
  create_timestamp: 'Long',
  flags: strList,
  uuid: S,
  snapshot_props: props,
  resource_props: props,
  snapshot_volumes: { list: SnapshotVolumeNode },
})

export const Snapshot = cls('Snapshot', {
  name: S,
  resource_name: S,
  nodes: strList,
  props,
  snapshot_definition_props: props,
  resource_definition_props: props,
  flags: strList,
  volume_definitions: { list: SnapshotVolumeDefinition },
  uuid: S,
  snapshots: { list: SnapshotNode },
})

export const CreateMultiSnapshotRequest = cls('CreateMultiSnapshotRequest', { snapshots: { list: Snapshot } })
export const SnapshotModify = cls('SnapshotModify', { ...propsModify })
export const SnapshotRestore = cls('SnapshotRestore', { to_resource: S, nodes: strList, stor_pool_rename: props })

/** `zfs_rollback_strategy` exists since REST 1.26.0 (controller 1.32.0, python-linstor's _require_version). */
export const SnapshotRollback = cls('SnapshotRollback', { zfs_rollback_strategy: S })
export const SnapshotRollbackBefore132 = cls('SnapshotRollback', {})

export const ControllerPropsModify = cls('ControllerPropsModify', { ...propsModify })

export const ErrorReportDelete = cls('ErrorReportDelete', { since: 'Long', to: 'Long', nodes: strList, exception: S, version: S, ids: strList })

/** Every table above by class name, for the conformance test. */
export const REQUEST_TYPES: Readonly<Record<string, JClass>> = Object.fromEntries(
  [
    AutoSelectFilter,
    NetInterface,
    Node,
    NodeModify,
    StoragePool,
    StoragePoolDefinitionModify,
    ResourceGroup,
    ResourceGroupModify,
    ResourceGroupSpawn,
    QuerySizeInfoRequest,
    QueryAllSizeInfoRequest,
    ResourceGroupAdjust,
    VolumeGroup,
    VolumeGroupModify,
    ResourceDefinitionLayer,
    VolumeDefinitionLayer,
    VolumeDefinition,
    ResourceDefinition,
    ResourceDefinitionCreate,
    ResourceDefinitionModify,
    ResourceDefinitionCloneRequest,
    VolumeDefinitionCreate,
    VolumeDefinitionModify,
    ResourceState,
    Resource,
    ResourceCreate,
    ResourceModify,
    ResourceMakeAvailable,
    AutoPlaceRequest,
    ToggleDiskRequest,
    ToggleDiskDiskful,
    VolumeModify,
    ResourceConnectionModify,
    SnapshotVolumeDefinition,
    SnapshotVolumeNode,
    SnapshotNode,
    Snapshot,
    CreateMultiSnapshotRequest,
    SnapshotModify,
    SnapshotRestore,
    SnapshotRollback,
    ControllerPropsModify,
    ErrorReportDelete,
    ApiCallRcType,
  ].map((c) => [c.name, c]),
)
