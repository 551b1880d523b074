"""The MultiLinstor calls that cover what linstor-virt's own client does (core/linstor), with
two controller URLs (the first one refuses connections: MultiLinstor goes on to the second).

Usage: lowlevel_calls.py URL,URL
Prints one JSON object: per call whether the replies were free of errors, the errors, and what
the list calls returned.
"""
import json
import sys

from linstor import MultiLinstor

urls = sys.argv[1].split(',')
out = {}


def record(name, replies):
    errors = [r.message for r in replies if r.is_error()]
    out[name] = {'ok': len(errors) == 0, 'errors': errors}


with MultiLinstor(urls) as lin:
    out['rest_api_version'] = lin.controller_version().rest_api_version
    out['nodes'] = sorted(n.name for n in lin.node_list()[0].nodes)
    out['pools'] = sorted(set(p.name for p in lin.storage_pool_list()[0].storage_pools))
    record('rg_create', lin.resource_group_create('lv-rg', place_count=2, storage_pool='DfltStorPool'))
    record('rg_modify', lin.resource_group_modify('lv-rg', property_dict={'Aux/linstor-virt/policy': 'x'}))
    record('spawn', lin.resource_group_spawn('lv-rg', 'lv-vm1', ['1G'], definitions_only=True))
    record('autoplace', lin.resource_auto_place('lv-vm1', 2))
    qsi = lin.resource_group_query_size_info('lv-rg', place_count=3)
    out['qsi_spawn_nodes'] = len(qsi.space_info.next_spawn_result)
    record('make_available', lin.resource_make_available('charlie', 'lv-vm1', diskful=False))
    record('conn_modify', lin.resource_conn_modify('lv-vm1', 'alpha', 'charlie', {'DrbdOptions/Net/allow-two-primaries': 'yes'}, []))
    rl = lin.resource_list(filter_by_resources=['lv-vm1'])[0]
    out['resources'] = sorted([r.node_name, sorted(r.flags)] for r in rl.resources)
    vl = lin.volume_list(filter_by_resources=['lv-vm1'])[0]
    out['device_paths'] = sorted(set(v.device_path for r in vl.resources for v in r.volumes))
    record('vd_modify', lin.volume_dfn_modify('lv-vm1', 0, size=2 * 1024 ** 2))
    record('rd_modify', lin.resource_dfn_modify('lv-vm1', {'Aux/pm/vmid': '100'}))
    record('snapshot', lin.snapshot_create([], 'lv-vm1', 'before'))
    record('snapshot2', lin.snapshot_create([], 'lv-vm1', 'after'))
    out['snapshots'] = [s.name for s in lin.snapshot_dfn_list(filter_by_resources=['lv-vm1'])[0].snapshots]
    record('rollback_older', lin.snapshot_rollback('lv-vm1', 'before'))
    out['snapshots_after_rollback'] = [s.name for s in lin.snapshot_dfn_list(filter_by_resources=['lv-vm1'])[0].snapshots]
    record('rd_create', lin.resource_dfn_create('lv-vm2', resource_group='lv-rg'))
    record('vd_restore', lin.snapshot_volume_definition_restore('lv-vm1', 'before', 'lv-vm2'))
    record('rsc_restore', lin.snapshot_resource_restore([], 'lv-vm1', 'before', 'lv-vm2'))
    clone = lin.resource_dfn_clone('lv-vm1', 'lv-vm3')
    record('clone', clone.messages)
    out['clone_complete'] = lin.resource_dfn_clone_wait_complete('lv-vm1', 'lv-vm3', wait_interval=0.1, timeout=30)
    record('toggle_diskful', lin.resource_toggle_disk('charlie', 'lv-vm1', diskless=False, storage_pool='DfltStorPool'))
    record('toggle_diskless', lin.resource_toggle_disk('charlie', 'lv-vm1', diskless=True))
    record('deactivate', lin.resource_deactivate('charlie', 'lv-vm1'))
    record('activate', lin.resource_activate('charlie', 'lv-vm1'))
    record('rsc_delete', lin.resource_delete('charlie', 'lv-vm1'))
    record('snapshot_delete', lin.snapshot_delete('lv-vm1', 'before'))
    record('ctrl_prop', lin.controller_set_prop('Aux/lv-test', 'x'))
    out['ctrl_prop_value'] = lin.controller_props()[0].data_v1.get('Aux/lv-test')
    record('rd_delete', lin.resource_dfn_delete('lv-vm3'))
    record('rg_delete_in_use', lin.resource_group_delete('lv-rg'))

print(json.dumps(out))
