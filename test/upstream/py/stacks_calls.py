"""python-linstor's calls for the stacks beyond DRBD: the master passphrase (crypt_*), a LUKS
resource, an NVMe-oF target and initiator (ResourceData(nvme_initiator=True)), a storage-only
resource, and DRBD Proxy on a resource connection (drbd_proxy_*).

Usage: stacks_calls.py URL
Prints one JSON object: per call whether the replies were free of errors, the errors, and what
the list calls returned.
"""
import json
import sys

from linstor import MultiLinstor
from linstor.linstorapi import ResourceData

out = {}


def record(name, replies):
    errors = [r.message for r in replies if r.is_error()]
    out[name] = {'ok': len(errors) == 0, 'errors': errors}


with MultiLinstor(sys.argv[1].split(',')) as lin:
    out['crypt_before'] = lin.crypt_status()[0].status
    record('luks_rd', lin.resource_dfn_create('lv-luks', layer_list=['luks', 'storage']))
    record('luks_vd', lin.volume_dfn_create('lv-luks', 4096))
    record('luks_locked', lin.resource_create([ResourceData('alpha', 'lv-luks')]))
    record('crypt_create', lin.crypt_create_passphrase('pw-one'))
    out['crypt_after_create'] = lin.crypt_status()[0].status
    record('luks_create', lin.resource_create([ResourceData('alpha', 'lv-luks')]))
    record('crypt_modify', lin.crypt_modify_passphrase('pw-one', 'pw-two'))
    record('crypt_enter_wrong', lin.crypt_enter_passphrase('pw-one'))
    record('crypt_enter', lin.crypt_enter_passphrase('pw-two'))
    vl = lin.volume_list(filter_by_resources=['lv-luks'])[0]
    out['luks_devices'] = sorted(v.device_path for r in vl.resources for v in r.volumes)

    record('nvme_rd', lin.resource_dfn_create('lv-nvme', layer_list=['nvme', 'storage']))
    record('nvme_vd', lin.volume_dfn_create('lv-nvme', 4096))
    record('nvme_target', lin.resource_create([ResourceData('alpha', 'lv-nvme')]))
    record('nvme_initiator', lin.resource_create([ResourceData('bravo', 'lv-nvme', nvme_initiator=True)]))
    rl = lin.resource_list(filter_by_resources=['lv-nvme'])[0]
    out['nvme_flags'] = sorted([r.node_name, sorted(r.flags)] for r in rl.resources)
    vl = lin.volume_list(filter_by_resources=['lv-nvme'])[0]
    out['nvme_devices'] = sorted([r.node_name, v.device_path] for r in vl.resources for v in r.volumes if v.device_path)

    record('storage_rd', lin.resource_dfn_create('lv-local', layer_list=['storage']))
    record('storage_vd', lin.volume_dfn_create('lv-local', 4096))
    record('storage_create', lin.resource_create([ResourceData('charlie', 'lv-local')]))
    vl = lin.volume_list(filter_by_resources=['lv-local'])[0]
    out['storage_devices'] = sorted(v.device_path for r in vl.resources for v in r.volumes)

    record('dr_create', lin.resource_create_and_auto_place('lv-dr', 4 * 1024 ** 2, 2))
    record('dr_replica', lin.resource_create([ResourceData('delta', 'lv-dr')]))
    diskful = sorted(r.node_name for r in lin.resource_list(filter_by_resources=['lv-dr'])[0].resources if 'DISKLESS' not in r.flags and r.node_name != 'delta')
    out['dr_local'] = diskful
    record('proxy_enable', lin.drbd_proxy_enable('lv-dr', diskful[0], 'delta'))
    record('proxy_modify', lin.drbd_proxy_modify('lv-dr', property_dict={'DrbdOptions/Proxy/memlimit': '33554432'}, compression_type='zstd'))
    conns = lin.resource_conn_list('lv-dr')[0]
    out['proxy_conns'] = sorted([c.node_a, c.node_b, sorted(c.flags), c.properties.get('DrbdOptions/Net/protocol')] for c in conns.resource_connections)
    record('proxy_disable', lin.drbd_proxy_disable('lv-dr', diskful[0], 'delta'))
    out['rd_props'] = {k: v for k, v in lin.resource_dfn_list(filter_by_resource_definitions=['lv-dr'])[0].resource_definitions[0].properties.items() if 'Proxy' in k}

print(json.dumps(out))
