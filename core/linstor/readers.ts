/** Readers from parsed reply JSON to the narrow types of types.ts. */
import type { ApiCallRc } from './api-call-rc.js'
import {
  defined, int64, list, num, obj, optBool, optNum, optStr, str, strList, strMap,
} from './narrow.js'
import type {
  AutoSelectFilter, CloneStarted, CloneStatus, ControllerVersion, LayerData, NetInterface, Node,
  QuerySizeInfo, Resource, ResourceConnection, ResourceDefinition, ResourceGroup, ResourceWithVolumes, Snapshot, StoragePool,
  Volume, VolumeDefinition, VolumeState,
} from './types.js'

export function readApiCallRc(v: unknown, p: string): ApiCallRc {
  const o = obj(v, p)
  return defined<ApiCallRc>({
    ret_code: int64(o['ret_code'], `${p}.ret_code`),
    message: optStr(o['message'], `${p}.message`) ?? '',
    cause: optStr(o['cause'], `${p}.cause`),
    details: optStr(o['details'], `${p}.details`),
    correction: optStr(o['correction'], `${p}.correction`),
    error_report_ids: strList(o['error_report_ids'], `${p}.error_report_ids`),
    obj_refs: strMap(o['obj_refs'], `${p}.obj_refs`),
    created_at: optStr(o['created_at'], `${p}.created_at`),
  })
}

export function readApiCallRcList(v: unknown, p = 'reply'): ApiCallRc[] {
  return list(v, p, readApiCallRc)
}

/** Whether a parsed body looks like an ApiCallRc list (used to tell LINSTOR errors from proxies' pages). */
export function isApiCallRcList(v: unknown): boolean {
  return Array.isArray(v) && v.every((e) => typeof e === 'object' && e !== null && 'ret_code' in e)
}

function numMap(v: unknown, p: string): Record<string, number> | undefined {
  if (v === undefined || v === null) return undefined
  const o = obj(v, p)
  const out: Record<string, number> = {}
  for (const [k, val] of Object.entries(o)) out[k] = num(val, `${p}.${k}`)
  return out
}

function optStrList(v: unknown, p: string): string[] | undefined {
  return v === undefined || v === null ? undefined : strList(v, p)
}

export function readAutoSelectFilter(v: unknown, p: string): AutoSelectFilter {
  if (v === undefined || v === null) return {}
  const o = obj(v, p)
  return defined<AutoSelectFilter>({
    place_count: optNum(o['place_count'], `${p}.place_count`),
    additional_place_count: optNum(o['additional_place_count'], `${p}.additional_place_count`),
    node_name_list: optStrList(o['node_name_list'], `${p}.node_name_list`),
    storage_pool: optStr(o['storage_pool'], `${p}.storage_pool`),
    storage_pool_list: optStrList(o['storage_pool_list'], `${p}.storage_pool_list`),
    storage_pool_diskless_list: optStrList(o['storage_pool_diskless_list'], `${p}.storage_pool_diskless_list`),
    not_place_with_rsc: optStrList(o['not_place_with_rsc'], `${p}.not_place_with_rsc`),
    not_place_with_rsc_regex: optStr(o['not_place_with_rsc_regex'], `${p}.not_place_with_rsc_regex`),
    replicas_on_same: optStrList(o['replicas_on_same'], `${p}.replicas_on_same`),
    replicas_on_different: optStrList(o['replicas_on_different'], `${p}.replicas_on_different`),
    x_replicas_on_different_map: numMap(o['x_replicas_on_different_map'], `${p}.x_replicas_on_different_map`),
    layer_stack: optStrList(o['layer_stack'], `${p}.layer_stack`),
    provider_list: optStrList(o['provider_list'], `${p}.provider_list`),
    diskless_on_remaining: optBool(o['diskless_on_remaining'], `${p}.diskless_on_remaining`),
    diskless_type: optStr(o['diskless_type'], `${p}.diskless_type`),
    port_count: optNum(o['port_count'], `${p}.port_count`),
  })
}

export function readControllerVersion(v: unknown, p = 'version'): ControllerVersion {
  const o = obj(v, p)
  return defined<ControllerVersion>({
    version: str(o['version'], `${p}.version`),
    git_hash: optStr(o['git_hash'], `${p}.git_hash`),
    build_time: optStr(o['build_time'], `${p}.build_time`),
    rest_api_version: str(o['rest_api_version'], `${p}.rest_api_version`),
  })
}

function readNetInterface(v: unknown, p: string): NetInterface {
  const o = obj(v, p)
  return defined<NetInterface>({
    name: str(o['name'], `${p}.name`),
    address: str(o['address'], `${p}.address`),
    satellite_port: optNum(o['satellite_port'], `${p}.satellite_port`),
    satellite_encryption_type: optStr(o['satellite_encryption_type'], `${p}.satellite_encryption_type`),
    is_active: optBool(o['is_active'], `${p}.is_active`),
  })
}

export function readNode(v: unknown, p: string): Node {
  const o = obj(v, p)
  return defined<Node>({
    name: str(o['name'], `${p}.name`),
    type: str(o['type'], `${p}.type`),
    flags: strList(o['flags'], `${p}.flags`),
    props: strMap(o['props'], `${p}.props`),
    net_interfaces: list(o['net_interfaces'], `${p}.net_interfaces`, readNetInterface),
    connection_status: optStr(o['connection_status'], `${p}.connection_status`),
    uuid: optStr(o['uuid'], `${p}.uuid`),
    storage_providers: strList(o['storage_providers'], `${p}.storage_providers`),
    resource_layers: strList(o['resource_layers'], `${p}.resource_layers`),
  })
}

export function readStoragePool(v: unknown, p: string): StoragePool {
  const o = obj(v, p)
  return defined<StoragePool>({
    storage_pool_name: str(o['storage_pool_name'], `${p}.storage_pool_name`),
    node_name: str(o['node_name'], `${p}.node_name`),
    provider_kind: str(o['provider_kind'], `${p}.provider_kind`),
    props: strMap(o['props'], `${p}.props`),
    static_traits: strMap(o['static_traits'], `${p}.static_traits`),
    free_capacity: optNum(o['free_capacity'], `${p}.free_capacity`),
    total_capacity: optNum(o['total_capacity'], `${p}.total_capacity`),
    free_space_mgr_name: optStr(o['free_space_mgr_name'], `${p}.free_space_mgr_name`),
    uuid: optStr(o['uuid'], `${p}.uuid`),
    supports_snapshots: optBool(o['supports_snapshots'], `${p}.supports_snapshots`),
    shared_space: optStr(o['shared_space'], `${p}.shared_space`),
    external_locking: optBool(o['external_locking'], `${p}.external_locking`),
    reports: readApiCallRcList(o['reports'], `${p}.reports`),
  })
}

export function readResourceGroup(v: unknown, p: string): ResourceGroup {
  const o = obj(v, p)
  return defined<ResourceGroup>({
    name: str(o['name'], `${p}.name`),
    description: optStr(o['description'], `${p}.description`),
    props: strMap(o['props'], `${p}.props`),
    select_filter: readAutoSelectFilter(o['select_filter'], `${p}.select_filter`),
    uuid: optStr(o['uuid'], `${p}.uuid`),
    peer_slots: optNum(o['peer_slots'], `${p}.peer_slots`),
  })
}

export function readQuerySizeInfo(v: unknown, p = 'query-size-info'): QuerySizeInfo {
  const o = obj(v, p)
  const si = o['space_info']
  const reports = readApiCallRcList(o['reports'], `${p}.reports`)
  if (si === undefined || si === null) return { reports }
  const s = obj(si, `${p}.space_info`)
  return {
    reports,
    space_info: defined<NonNullable<QuerySizeInfo['space_info']>>({
      max_vlm_size_in_kib: num(s['max_vlm_size_in_kib'], `${p}.space_info.max_vlm_size_in_kib`),
      available_size_in_kib: optNum(s['available_size_in_kib'], `${p}.space_info.available_size_in_kib`),
      capacity_in_kib: optNum(s['capacity_in_kib'], `${p}.space_info.capacity_in_kib`),
      next_spawn_result: list(s['next_spawn_result'], `${p}.space_info.next_spawn_result`, (r, rp) => {
        const ro = obj(r, rp)
        return { node_name: str(ro['node_name'], `${rp}.node_name`), stor_pool_name: str(ro['stor_pool_name'], `${rp}.stor_pool_name`) }
      }),
    }),
  }
}

function readLayerData(v: unknown, p: string): LayerData {
  const o = obj(v, p)
  const data = o['data']
  return data === undefined || data === null
    ? { type: str(o['type'], `${p}.type`) }
    : { type: str(o['type'], `${p}.type`), data: obj(data, `${p}.data`) }
}

export function readVolumeDefinition(v: unknown, p: string): VolumeDefinition {
  const o = obj(v, p)
  return defined<VolumeDefinition>({
    volume_number: num(o['volume_number'], `${p}.volume_number`),
    size_kib: num(o['size_kib'], `${p}.size_kib`),
    props: strMap(o['props'], `${p}.props`),
    flags: strList(o['flags'], `${p}.flags`),
    layer_data: list(o['layer_data'], `${p}.layer_data`, readLayerData),
    uuid: optStr(o['uuid'], `${p}.uuid`),
  })
}

export function readResourceDefinition(v: unknown, p: string): ResourceDefinition {
  const o = obj(v, p)
  return defined<ResourceDefinition>({
    name: str(o['name'], `${p}.name`),
    external_name: optStr(o['external_name'], `${p}.external_name`),
    props: strMap(o['props'], `${p}.props`),
    flags: strList(o['flags'], `${p}.flags`),
    layer_data: list(o['layer_data'], `${p}.layer_data`, readLayerData),
    uuid: optStr(o['uuid'], `${p}.uuid`),
    resource_group_name: optStr(o['resource_group_name'], `${p}.resource_group_name`),
    volume_definitions: list(o['volume_definitions'], `${p}.volume_definitions`, readVolumeDefinition),
  })
}

export function readCloneStarted(v: unknown, p = 'clone'): CloneStarted {
  const o = obj(v, p)
  return {
    location: str(o['location'], `${p}.location`),
    source_name: str(o['source_name'], `${p}.source_name`),
    clone_name: str(o['clone_name'], `${p}.clone_name`),
    messages: readApiCallRcList(o['messages'], `${p}.messages`),
  }
}

export function readCloneStatus(v: unknown, p = 'clone-status'): CloneStatus {
  const s = str(obj(v, p)['status'], `${p}.status`)
  if (s !== 'CLONING' && s !== 'COMPLETE' && s !== 'FAILED') throw new TypeError(`unknown clone status ${s}`)
  return s
}

function readResourceFields(o: Record<string, unknown>, p: string): Resource {
  const state = o['state']
  const st = state === undefined || state === null ? undefined : obj(state, `${p}.state`)
  const lo = o['layer_object']
  const ep = o['effective_props']
  return defined<Resource>({
    name: str(o['name'], `${p}.name`),
    node_name: str(o['node_name'], `${p}.node_name`),
    props: strMap(o['props'], `${p}.props`),
    effective_props: ep === undefined || ep === null ? undefined : obj(ep, `${p}.effective_props`),
    flags: strList(o['flags'], `${p}.flags`),
    layer_object: lo === undefined || lo === null ? undefined : obj(lo, `${p}.layer_object`),
    state: st === undefined ? undefined : defined<{ in_use?: boolean }>({ in_use: optBool(st['in_use'], `${p}.state.in_use`) }),
    uuid: optStr(o['uuid'], `${p}.uuid`),
    create_timestamp: optNum(o['create_timestamp'], `${p}.create_timestamp`),
  })
}

export function readResource(v: unknown, p: string): Resource {
  return readResourceFields(obj(v, p), p)
}

function readVolumeState(v: unknown, p: string): VolumeState {
  if (v === undefined || v === null) return {}
  const o = obj(v, p)
  const rs = o['replication_states']
  let replication: VolumeState['replication_states']
  if (rs !== undefined && rs !== null) {
    replication = {}
    for (const [peer, val] of Object.entries(obj(rs, `${p}.replication_states`))) {
      const r = obj(val, `${p}.replication_states.${peer}`)
      replication[peer] = defined<{ replication_state?: string; done_percentage?: number }>({
        replication_state: optStr(r['replication_state'], `${p}.replication_states.${peer}.replication_state`),
        done_percentage: optNum(r['done_percentage'], `${p}.replication_states.${peer}.done_percentage`),
      })
    }
  }
  return defined<VolumeState>({ disk_state: optStr(o['disk_state'], `${p}.disk_state`), replication_states: replication })
}

export function readVolume(v: unknown, p: string): Volume {
  const o = obj(v, p)
  return defined<Volume>({
    volume_number: num(o['volume_number'], `${p}.volume_number`),
    storage_pool_name: optStr(o['storage_pool_name'], `${p}.storage_pool_name`),
    provider_kind: optStr(o['provider_kind'], `${p}.provider_kind`),
    device_path: optStr(o['device_path'], `${p}.device_path`),
    allocated_size_kib: optNum(o['allocated_size_kib'], `${p}.allocated_size_kib`),
    props: strMap(o['props'], `${p}.props`),
    flags: strList(o['flags'], `${p}.flags`),
    state: readVolumeState(o['state'], `${p}.state`),
    layer_data_list: list(o['layer_data_list'], `${p}.layer_data_list`, readLayerData),
    uuid: optStr(o['uuid'], `${p}.uuid`),
  })
}

export function readResourceWithVolumes(v: unknown, p: string): ResourceWithVolumes {
  const o = obj(v, p)
  const base = readResourceFields(o, p)
  const shared = optStr(o['shared_name'], `${p}.shared_name`)
  const out: ResourceWithVolumes = { ...base, volumes: list(o['volumes'], `${p}.volumes`, readVolume) }
  if (shared !== undefined) out.shared_name = shared
  return out
}

function readSnapshotNode(v: unknown, p: string): Snapshot['snapshots'][number] {
  const o = obj(v, p)
  return defined<Snapshot['snapshots'][number]>({
    snapshot_name: optStr(o['snapshot_name'], `${p}.snapshot_name`),
    node_name: str(o['node_name'], `${p}.node_name`),
    create_timestamp: optNum(o['create_timestamp'], `${p}.create_timestamp`),
    flags: strList(o['flags'], `${p}.flags`),
  })
}

export function readSnapshot(v: unknown, p: string): Snapshot {
  const o = obj(v, p)
  return defined<Snapshot>({
    name: str(o['name'], `${p}.name`),
    resource_name: str(o['resource_name'], `${p}.resource_name`),
    nodes: strList(o['nodes'], `${p}.nodes`),
    flags: strList(o['flags'], `${p}.flags`),
    props: strMap(o['props'], `${p}.props`),
    snapshot_definition_props: strMap(o['snapshot_definition_props'], `${p}.snapshot_definition_props`),
    resource_definition_props: o['resource_definition_props'] === undefined || o['resource_definition_props'] === null ? undefined : strMap(o['resource_definition_props'], `${p}.resource_definition_props`),
    volume_definitions: list(o['volume_definitions'], `${p}.volume_definitions`, (vd, vp) => {
      const x = obj(vd, vp)
      return { volume_number: num(x['volume_number'], `${vp}.volume_number`), size_kib: num(x['size_kib'], `${vp}.size_kib`) }
    }),
    snapshots: list(o['snapshots'], `${p}.snapshots`, readSnapshotNode),
    uuid: optStr(o['uuid'], `${p}.uuid`),
  })
}

export function readResourceConnection(v: unknown, p: string): ResourceConnection {
  const o = obj(v, p)
  return {
    node_a: str(o['node_a'], `${p}.node_a`),
    node_b: str(o['node_b'], `${p}.node_b`),
    props: strMap(o['props'], `${p}.props`),
    flags: strList(o['flags'], `${p}.flags`),
  }
}
