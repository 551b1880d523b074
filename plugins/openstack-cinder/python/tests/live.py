"""Helpers of the tests that run against the real TypeScript side and the LINSTOR emulator.

test/integration/cinder-python.test.ts starts both and passes their addresses:
LV_TEST_CONTROLLERS, LV_TEST_EMULATOR_URL, LV_TEST_AGENT_SOCKET, LV_TEST_CLI_NODE, LV_TEST_CLI,
LINSTOR_VIRT_DEVICE_ROOT (a template with {node}) and LINSTOR_VIRT_LOCK_DIR. A missing variable is
an error, never a skip.
"""

import json
import os
import socket
import urllib.error
import urllib.request

from linstor_virt_cinder import client as lv_client

NODES = ('alpha', 'bravo', 'charlie', 'delta')
# The machine's host name is arbitrary: the Cinder host is mapped to node alpha.
CINDER_NODE = 'alpha'
GiB = 1024 ** 3
ALLOW = 'DrbdOptions/Net/allow-two-primaries'
MIGRATION = 'Aux/linstor-virt/migration'


def env(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError('%s is not set: run these tests through '
                           'test/integration/cinder-python.test.ts' % name)
    return value


def configure(testcase, group):
    """Points the backend group's options at the emulator, the agent and the built CLI."""
    for name, value in (
            ('volume_backend_name', group),
            ('linstor_uris', [env('LV_TEST_CONTROLLERS')]),
            ('linstor_virt_agent_socket', env('LV_TEST_AGENT_SOCKET')),
            ('linstor_virt_command', [env('LV_TEST_CLI_NODE'), env('LV_TEST_CLI')]),
            ('linstor_virt_node_map', {socket.gethostname(): CINDER_NODE}),
            ('linstor_timeout', 60)):
        testcase.override_config(name, value, group=group)
    env('LINSTOR_VIRT_DEVICE_ROOT')
    env('LINSTOR_VIRT_LOCK_DIR')


def agent_calls(socket_path=None):
    """The agent's count of served calls (GET /health on its socket)."""
    conn = lv_client._UnixHTTPConnection(socket_path or env('LV_TEST_AGENT_SOCKET'), 5)
    try:
        conn.request('GET', '/health')
        return json.loads(conn.getresponse().read())['calls']
    finally:
        conn.close()


def device_path(node, resource, number=0):
    root = env('LINSTOR_VIRT_DEVICE_ROOT').replace('{node}', node)
    return '%s/dev/drbd/by-res/%s/%d' % (root, resource, number)


def write(node, resource, offset, data):
    """Writes through the node's device file (a hard link to the volume's data)."""
    with open(device_path(node, resource), 'r+b') as f:
        f.seek(offset)
        f.write(data)


def read(node, resource, offset, length):
    with open(device_path(node, resource), 'rb') as f:
        f.seek(offset)
        return f.read(length)


class Emulator(object):
    """The emulator's LINSTOR REST API and its /x-emulator control endpoints."""

    def __init__(self, url=None):
        self.url = (url or env('LV_TEST_EMULATOR_URL')).rstrip('/')

    def request(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={'Content-Type': 'application/json'})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                text = resp.read().decode()
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise AssertionError('%s %s -> %s: %s' % (method, path, e.code,
                                                      e.read().decode()))
        return json.loads(text) if text else None

    def get(self, path):
        return self.request('GET', path)

    def post(self, path, body=None):
        return self.request('POST', path, body)

    def rd(self, resource):
        """The resource definition, or None."""
        return self.get('/v1/resource-definitions/%s' % resource)

    def size_kib(self, resource):
        vds = self.get('/v1/resource-definitions/%s/volume-definitions' % resource)
        return {vd['volume_number']: vd['size_kib'] for vd in vds}[0]

    def replicas(self, resource):
        """node -> 'diskful' | 'diskless' | 'tiebreaker', plus in-use flags."""
        rows = self.get('/v1/view/resources?resources=%s' % resource) or []
        out = {}
        for r in rows:
            if r['name'].lower() != resource.lower():
                continue
            flags = r.get('flags') or []
            kind = ('tiebreaker' if 'TIE_BREAKER' in flags else
                    'diskless' if 'DRBD_DISKLESS' in flags or 'DISKLESS' in flags
                    else 'diskful')
            out[r['node_name']] = (kind, bool((r.get('state') or {}).get('in_use')))
        return out

    def diskful(self, resource):
        return sorted(n for n, (k, _) in self.replicas(resource).items()
                      if k == 'diskful')

    def clients(self, resource):
        """Nodes with a diskless client (not a tie-breaker)."""
        return sorted(n for n, (k, _) in self.replicas(resource).items()
                      if k == 'diskless')

    def without_replica(self, resource):
        """Nodes holding no diskful replica and no diskless client."""
        reps = self.replicas(resource)
        return [n for n in NODES
                if n not in reps or reps[n][0] == 'tiebreaker']

    def empty_nodes(self, resource):
        """Nodes where the resource has nothing at all (not even a tie-breaker)."""
        reps = self.replicas(resource)
        return [n for n in NODES if n not in reps]

    def snapshots(self, resource):
        return sorted(s['name'] for s in
                      self.get('/v1/resource-definitions/%s/snapshots' % resource) or [])

    def connections(self, resource):
        return self.get('/v1/resource-definitions/%s/resource-connections'
                        % resource) or []

    def dual_primary_pairs(self, resource):
        rd = self.rd(resource)
        pairs = [tuple(sorted((c['node_a'], c['node_b'])))
                 for c in self.connections(resource)
                 if (c.get('props') or {}).get(ALLOW) == 'yes']
        if rd is not None and (rd.get('props') or {}).get(ALLOW) == 'yes':
            pairs.append(('*', '*'))
        return sorted(pairs)

    def open(self, node, resource):
        self.post('/x-emulator/nodes/%s/resources/%s/open' % (node, resource))

    def close(self, node, resource):
        self.post('/x-emulator/nodes/%s/resources/%s/close' % (node, resource))

    def pools(self):
        return self.get('/v1/view/storage-pools') or []

    def create_resource(self, name, size_kib, place_count=2):
        """A resource made directly through the REST API, as an operator would."""
        self.post('/v1/resource-definitions', {'resource_definition': {'name': name}})
        self.post('/v1/resource-definitions/%s/volume-definitions' % name,
                  {'volume_definition': {'size_kib': size_kib}})
        self.post('/v1/resource-definitions/%s/autoplace' % name,
                  {'select_filter': {'place_count': place_count}})
