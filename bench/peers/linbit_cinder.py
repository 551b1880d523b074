"""LINBIT's Cinder driver (the in-tree cinder.volume.drivers.linstordrv.LinstorDrbdDriver of Debian's
Cinder, with LINBIT's python-linstor from ../shared/upstream) run in place against the emulator, to
count its REST calls per Cinder operation: the peer figures of bench/round-trips (issue 26).

Usage: PYTHONPATH=../shared/upstream/linstor/python-linstor /usr/bin/python3 bench/peers/linbit_cinder.py URL
URL: the emulator (http://127.0.0.1:PORT). Prints one JSON object: operation -> {calls, error?}.
The emulator's counters (/x-emulator/counters) are reset before each operation.
"""
import json
import sys
import urllib.parse
import urllib.request

from cinder.volume.drivers import linstordrv

URL = sys.argv[1]
HOSTPORT = urllib.parse.urlparse(URL).netloc


class Conf:
    """The driver's configuration: what cinder.conf would give it (autoplace 2, no local node)."""

    def __init__(self, values):
        self._v = values

    def append_config_values(self, _opts):
        pass

    def safe_get(self, key):
        return self._v.get(key)

    def __getattr__(self, key):
        return self._v.get(key)


def control(method, path):
    req = urllib.request.Request(URL + '/x-emulator' + path, method=method)
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b'null')


drv = linstordrv.LinstorDrbdDriver(configuration=Conf({
    'linstor_default_uri': 'linstor://' + HOSTPORT,
    'linstor_default_storage_pool_name': 'DfltStorPool',
    'linstor_default_volume_group_name': 'drbd-vg',
    'linstor_volume_downsize_factor': 4096,
    'linstor_default_blocksize': 4096,
    'linstor_autoplace_count': 2,
    'linstor_controller_diskless': False,
    'volume_backend_name': 'lv-1',
    'reserved_percentage': 0,
    'max_over_subscription_ratio': 20.0,
}))
V = 'aaaaaaaa-0000-4000-8000-000000000001'
V2 = 'aaaaaaaa-0000-4000-8000-000000000002'
V3 = 'aaaaaaaa-0000-4000-8000-000000000003'
S = 'bbbbbbbb-0000-4000-8000-000000000001'
vol = {'id': V, 'size': 1, 'name': 'volume-' + V, 'migration_status': None}
snap = {'id': S, 'volume_id': V, 'volume_size': 1}


STEPS = [
    ('stats (first)', lambda: drv.get_volume_stats(refresh=True)),
    ('create_volume', lambda: drv.create_volume(vol)),
    ('initialize_connection (replica there)', lambda: drv.initialize_connection(vol, {'host': 'alpha'})),
    ('terminate_connection (replica there)', lambda: drv.terminate_connection(vol, {'host': 'alpha'})),
    ('extend_volume', lambda: drv.extend_volume(vol, 2)),
    ('create_snapshot', lambda: drv.create_snapshot(snap)),
    ('create_volume_from_snapshot', lambda: drv.create_volume_from_snapshot({'id': V2, 'size': 2, 'migration_status': None}, snap)),
    ('create_cloned_volume', lambda: drv.create_cloned_volume({'id': V3, 'size': 2, 'migration_status': None}, {'id': V, 'size': 2})),
    ('delete_snapshot', lambda: drv.delete_snapshot(snap)),
    ('ensure_export', lambda: drv.ensure_export(None, vol)),
    ('delete_volume', lambda: drv.delete_volume(vol)),
]

out = {}
for name, run in STEPS:
    control('POST', '/counters/reset')
    err = None
    try:
        run()
    except Exception as e:  # noqa: BLE001 - reported beside the count
        err = '%s: %s' % (type(e).__name__, e)
    calls = control('GET', '/counters')
    row = {'calls': calls.get('total', 0), 'detail': calls.get('calls', {})}
    if err is not None:
        row['error'] = err
    out[name] = row
print(json.dumps(out, indent=1))
