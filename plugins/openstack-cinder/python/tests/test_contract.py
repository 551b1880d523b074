"""The driver against the real TypeScript side and the LINSTOR emulator: no mocks of our code.

Every request goes over the agent socket the node wrapper started (test/integration/
cinder-python.test.ts), to the `cinder` operations, to the emulator. Results are checked in the
emulator's REST API and in the real files under its device roots.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from unittest import mock

from cinder.tests.unit import test  # first: monkey-patches eventlet like every Cinder test run

from cinder import context
from cinder import exception
from cinder import objects
from cinder.tests.unit import fake_snapshot
from cinder.tests.unit import fake_volume
from cinder.volume import configuration as conf
from cinder.volume import driver as base_driver
from cinder.volume import manager as volume_manager
from cinder.volume import volume_utils

from os_brick import privileged as brick_privsep

from linstor_virt_cinder import driver as lv_driver
from tests import SCHEDULING_MARGIN_S
from tests import live

GROUP = 'lv-contract'
GiB = live.GiB


class ContractTestCase(test.TestCase):

    def setUp(self):
        super(ContractTestCase, self).setUp()
        self.ctx = context.get_admin_context()
        self.emu = live.Emulator()
        configuration = conf.Configuration(volume_manager.volume_backend_opts,
                                           config_group=GROUP)
        self.driver = lv_driver.LinstorVirtDriver(
            configuration=configuration, host='cinder@' + GROUP,
            cluster_name=None, is_vol_db_empty=False, active_backend_id=None)
        live.configure(self, GROUP)
        self.driver.do_setup(self.ctx)
        self.driver.check_for_setup_error()
        self.tmp = tempfile.mkdtemp(prefix='lv-contract-')
        self.addCleanup(shutil.rmtree, self.tmp, True)

    # -- helpers ----------------------------------------------------------------------------

    def _type(self, specs):
        return objects.VolumeType(self.ctx, id=str(uuid.uuid4()),
                                  name='type-%s' % len(specs), extra_specs=specs)

    def _volume(self, size=1, specs=None, **kw):
        vol = fake_volume.fake_volume_obj(self.ctx, id=str(uuid.uuid4()),
                                          size=size, **kw)
        vol.volume_type = None if specs is None else self._type(specs)
        return vol

    def _created(self, size=1, specs=None, **kw):
        vol = self._volume(size, specs, **kw)
        self.assertIsNone(self.driver.create_volume(vol))
        self.addCleanup(self._delete_quietly, vol)
        return vol

    def _delete_quietly(self, vol):
        try:
            self.driver.delete_volume(vol)
        except exception.VolumeIsBusy:
            pass

    def _snapshot(self, vol):
        snap = fake_snapshot.fake_snapshot_obj(
            self.ctx, id=str(uuid.uuid4()), volume_id=vol.id,
            volume_size=vol.size)
        snap.volume = vol
        return snap

    @staticmethod
    def _rsc(vol):
        return 'CV_' + vol.name_id

    def _attachment(self, host, status='attached'):
        return objects.VolumeAttachment(
            self.ctx, id=str(uuid.uuid4()), attached_host=host,
            attach_status=status, instance_uuid=str(uuid.uuid4()))

    def _pattern(self, seed, length=64 * 1024):
        return (seed * (length // len(seed) + 1))[:length]

    def _assert_idle(self, rsc):
        """No diskless client left, nothing in use, no dual-primary, no migration record."""
        self.assertEqual([], self.emu.clients(rsc))
        self.assertEqual({}, {n: r for n, r in self.emu.replicas(rsc).items() if r[1]})
        self.assertEqual([], self.emu.dual_primary_pairs(rsc))
        self.assertNotIn(live.MIGRATION, self.emu.rd(rsc).get('props') or {})

    # -- start-up and stats -----------------------------------------------------------------

    def test_check_and_stats(self):
        self.assertEqual({'warnings': []}, self.driver._call('check', {}))
        stats = self.driver.get_volume_stats(refresh=True)
        for key in ('volume_backend_name', 'vendor_name', 'driver_version',
                    'storage_protocol', 'total_capacity_gb', 'free_capacity_gb',
                    'reserved_percentage',
                    'max_over_subscription_ratio', 'thin_provisioning_support',
                    'thick_provisioning_support',
                    'location_info', 'multiattach', 'online_extend_support',
                    'QoS_support', 'sparse_copy_volume', 'backend_state'):
            self.assertIn(key, stats)
        self.assertEqual((GROUP, 'LINBIT/linstor-virt', lv_driver.LinstorVirtDriver.VERSION,
                          'DRBD', 'up', False, False),
                         (stats['volume_backend_name'], stats['vendor_name'],
                          stats['driver_version'], stats['storage_protocol'],
                          stats['backend_state'], stats['multiattach'],
                          stats['online_extend_support']))
        total, free = stats['total_capacity_gb'], stats['free_capacity_gb']
        self.assertIsInstance(total, (int, float))
        self.assertIsInstance(free, (int, float))
        self.assertGreater(free, 0)
        self.assertLessEqual(free, total)
        # Replica-aware: with 2 replicas per volume, at most half the raw free space is usable.
        raw_free_gb = sum(p['free_capacity'] for p in self.emu.pools()
                          if p['provider_kind'] != 'DISKLESS') / 1048576.0
        self.assertLessEqual(free, raw_free_gb / 2 + 0.01)
        # The emulator's pools are thin: the scheduler applies over-subscription, and with no
        # provisioned_capacity_gb it takes Cinder's own allocated_capacity_gb for it.
        self.assertEqual((True, False), (stats['thin_provisioning_support'],
                                         stats['thick_provisioning_support']))
        self.assertNotIn('provisioned_capacity_gb', stats)
        self.assertNotIn('total_volumes', stats)

    # -- transports --------------------------------------------------------------------------

    def test_calls_go_through_the_agent(self):
        before = live.agent_calls()
        self.driver.get_volume_stats(refresh=True)
        self.driver.delete_volume(self._volume())
        self.assertEqual(before + 2, live.agent_calls())

    def test_one_shot_command_without_the_agent(self):
        # The agent's socket missing and no private agent: each call runs
        # `node dist/linstor-virt.js call --stdin`.
        self.override_config('linstor_virt_agent_socket',
                             os.path.join(self.tmp, 'stopped-agent.sock'),
                             group=GROUP)
        self.override_config('linstor_virt_private_agent', False, group=GROUP)
        self.driver._client = None
        before = live.agent_calls()
        vol = self._volume(size=1, specs={'linstor:redundancy': '3'})
        self.driver.create_volume(vol)
        self.assertEqual(3, len(self.emu.diskful(self._rsc(vol))))
        e = self.assertRaises(exception.InvalidVolumeType, self.driver.create_volume,
                              self._volume(specs={'linstor:redundancy': 'zero'}))
        self.assertIn('linstor:redundancy', str(e))
        self.driver.delete_volume(vol)
        self.assertIsNone(self.emu.rd(self._rsc(vol)))
        self.assertEqual(before, live.agent_calls())

    def _counted_command(self):
        """linstor_virt_command through tests/exec_logged.py: each node start logged, same pid."""
        log = os.path.join(self.tmp, 'starts.log')
        self.override_config(
            'linstor_virt_command',
            [sys.executable, os.path.join(os.path.dirname(__file__), 'exec_logged.py'),
             log, live.env('LV_TEST_CLI_NODE'), live.env('LV_TEST_CLI')],
            group=GROUP)

        def starts():
            if not os.path.exists(log):
                return []
            with open(log) as f:
                return [json.loads(line) for line in f]
        return starts

    def test_private_agent_without_the_host_agent(self):
        # The host agent's socket missing: the driver starts one private agent, its child, and
        # every call goes there; no call runs `call --stdin`, so none pays a node start.
        self.override_config('linstor_virt_agent_socket',
                             os.path.join(self.tmp, 'stopped-agent.sock'),
                             group=GROUP)
        starts = self._counted_command()
        self.driver._client = None
        host_before = live.agent_calls()
        self.driver.get_volume_stats(refresh=True)
        client = self.driver._client
        self.addCleanup(client.close)
        pid = client.child_pid()
        self.assertIsNotNone(pid)
        private = client._child.socket_path
        served = live.agent_calls(private)
        vol = self._volume(size=1, specs={'linstor:redundancy': '3'})
        self.driver.create_volume(vol)
        self.assertEqual(3, len(self.emu.diskful(self._rsc(vol))))
        e = self.assertRaises(exception.InvalidVolumeType, self.driver.create_volume,
                              self._volume(specs={'linstor:redundancy': 'zero'}))
        self.assertIn('linstor:redundancy', str(e))
        self.driver.delete_volume(vol)
        self.assertIsNone(self.emu.rd(self._rsc(vol)))
        self.assertEqual(served + 3, live.agent_calls(private))
        self.assertEqual(pid, client.child_pid(), 'the same child served every call')
        self.assertEqual(host_before, live.agent_calls(), 'the host agent saw none')
        argvs = [s['argv'] for s in starts()]
        self.assertEqual(1, len(argvs), argvs)
        self.assertEqual(['agent', '--socket', private, '--survey-interval', '0',
                          '--exit-with-stdin'], argvs[0])
        self.assertEqual(pid, starts()[0]['pid'])

        # It died (killed): the next call starts another one and is served by it.
        proc = client._child.proc
        proc.kill()
        proc.wait()
        self.driver.get_volume_stats(refresh=True)
        self.assertNotIn(client.child_pid(), (None, pid))
        self.assertEqual(2, len(starts()))
        self.assertEqual([], [a for a in (s['argv'] for s in starts()) if 'call' in a])

        # Closed (cinder-volume's exit): it leaves and its folder goes.
        child = client._child
        client.close()
        self.assertIsNotNone(child.proc.poll())
        self.assertFalse(os.path.exists(child.dir))

    def test_private_agent_ends_with_its_parent(self):
        # A process holding a client that dies without any cleanup (SIGKILL, os._exit): the
        # private agent sees its stdin end and leaves.
        script = (
            'import json, os, sys\n'
            'from linstor_virt_cinder import client\n'
            'c = client.CallClient(sys.argv[1], sys.argv[2:])\n'
            'r = c.call({"v": 1, "platform": "core", "operation": "ping"}, 30)\n'
            'print(json.dumps({"pid": c.child_pid(), "reply": r}), flush=True)\n'
            'os._exit(0)\n')
        out = subprocess.run(
            [sys.executable, '-c', script, os.path.join(self.tmp, 'none.sock'),
             live.env('LV_TEST_CLI_NODE'), live.env('LV_TEST_CLI')],
            cwd=os.path.dirname(os.path.dirname(__file__)), stdout=subprocess.PIPE,
            check=True, timeout=60).stdout
        got = json.loads(out.decode().strip().splitlines()[-1])
        self.assertEqual(got['pid'], got['reply']['result']['pid'])
        self.assertTrue(got['reply']['result']['agent'])
        # Bounded wait for the orphan to notice (it needs no more than its event loop's turn).
        for _ in range(200):
            try:
                with open('/proc/%d/stat' % got['pid']) as f:
                    if f.read().rsplit(') ', 1)[1].startswith('Z'):
                        break  # ended, not yet reaped by whoever adopted it
            except FileNotFoundError:
                break
            time.sleep(0.1)
        else:
            os.kill(got['pid'], 9)
            self.fail('the private agent outlived its parent')

    def test_unreachable_controller_starts_down(self):
        # Port 1 refuses: the backend must still start, report itself down, and keep
        # in-use volumes out of error.
        self.override_config('linstor_uris', ['linstor://127.0.0.1:1'], group=GROUP)
        started = time.monotonic()
        with mock.patch.object(lv_driver, 'LOG') as log:
            self.driver.check_for_setup_error()
            stats = self.driver.get_volume_stats(refresh=True)
            self.assertIsNone(self.driver.ensure_export(self.ctx, self._volume()))
        # Not a speed check: only that the calls end (refused connections, their own deadlines).
        self.assertLess(time.monotonic() - started, 30 + SCHEDULING_MARGIN_S)
        warned = ' '.join(str(c) for c in log.warning.call_args_list)
        self.assertIn('no LINSTOR controller answered', warned)
        self.assertEqual(('down', 0, 0, GROUP),
                         (stats['backend_state'], stats['total_capacity_gb'],
                          stats['free_capacity_gb'], stats['volume_backend_name']))
        self.assertFalse(log.error.called)

    # -- create, size, placement ------------------------------------------------------------

    def test_create_exact_size_and_default_redundancy(self):
        vol = self._created(size=2)
        rsc = self._rsc(vol)
        self.assertEqual(2 * 1048576, self.emu.size_kib(rsc))
        self.assertEqual(2, len(self.emu.diskful(rsc)))
        self.assertEqual(2 * GiB, os.path.getsize(
            live.device_path(self.emu.diskful(rsc)[0], rsc)))

    def test_create_with_redundancy_3(self):
        vol = self._created(size=1, specs={'linstor:redundancy': '3',
                                           'volume_backend_name': GROUP})
        self.assertEqual(3, len(self.emu.diskful(self._rsc(vol))))
        self.assertEqual(1048576, self.emu.size_kib(self._rsc(vol)))

    def test_bad_extra_spec_raises_invalid_volume_type(self):
        vol = self._volume(specs={'linstor:redundancy': 'zero'})
        e = self.assertRaises(exception.InvalidVolumeType,
                              self.driver.create_volume, vol)
        self.assertIn('linstor:redundancy', str(e))
        self.assertIsNone(self.emu.rd(self._rsc(vol)))

    def test_delete_is_idempotent(self):
        vol = self._created()
        rsc = self._rsc(vol)
        self.driver.delete_volume(vol)
        self.assertIsNone(self.emu.rd(rsc))
        self.driver.delete_volume(vol)
        self.driver.delete_volume(self._volume())  # never created

    # -- snapshots, clones, extend, revert ---------------------------------------------------

    def test_snapshot_clone_extend_revert_and_busy_delete(self):
        vol = self._created(size=1)
        rsc = self._rsc(vol)
        node = self.emu.diskful(rsc)[0]
        first, second = self._pattern(b'first '), self._pattern(b'second ')
        live.write(node, rsc, 4096, first)
        snap = self._snapshot(vol)
        self.assertIsNone(self.driver.create_snapshot(snap))
        self.assertEqual(['SN_' + snap.id], self.emu.snapshots(rsc))
        live.write(node, rsc, 4096, second)

        # From the snapshot, 2 GiB: the snapshot's bytes, the larger size.
        restored = self._volume(size=2)
        self.addCleanup(self._delete_quietly, restored)
        self.driver.create_volume_from_snapshot(restored, snap)
        r_rsc = self._rsc(restored)
        self.assertEqual(2 * 1048576, self.emu.size_kib(r_rsc))
        self.assertEqual(first, live.read(self.emu.diskful(r_rsc)[0], r_rsc,
                                          4096, len(first)))

        # A clone of the live volume has the current bytes.
        clone = self._volume(size=1)
        self.addCleanup(self._delete_quietly, clone)
        self.driver.create_cloned_volume(clone, vol)
        c_rsc = self._rsc(clone)
        self.assertEqual(1048576, self.emu.size_kib(c_rsc))
        self.assertEqual(second, live.read(self.emu.diskful(c_rsc)[0], c_rsc,
                                           4096, len(second)))

        self.driver.extend_volume(vol, 3)
        self.assertEqual(3 * 1048576, self.emu.size_kib(rsc))
        vol.size = 3

        # Back to the snapshot's bytes; the volume keeps Cinder's (larger) size.
        self.driver.revert_to_snapshot(self.ctx, vol, snap)
        self.assertEqual(first, live.read(self.emu.diskful(rsc)[0], rsc, 4096,
                                          len(first)))
        self.assertEqual(3 * 1048576, self.emu.size_kib(rsc))

        e = self.assertRaises(exception.VolumeIsBusy, self.driver.delete_volume, vol)
        self.assertIn(rsc, str(e))
        self.assertIsNotNone(self.emu.rd(rsc))

        self.driver.delete_snapshot(snap)
        self.assertEqual([], self.emu.snapshots(rsc))
        self.driver.delete_snapshot(snap)  # already gone: success
        self.driver.delete_volume(vol)
        self.assertIsNone(self.emu.rd(rsc))
        # The restored volume and the clone do not depend on the deleted ones.
        self.assertEqual(first, live.read(self.emu.diskful(r_rsc)[0], r_rsc,
                                          4096, len(first)))

    # -- connections ------------------------------------------------------------------------

    def test_attach_on_a_host_without_replica_and_detach(self):
        vol = self._created(size=1)
        rsc = self._rsc(vol)
        diskful = self.emu.diskful(rsc)
        host = self.emu.empty_nodes(rsc)[0]
        connector = {'host': host, 'ip': '10.0.0.9', 'multipath': False,
                     'platform': 'x86_64', 'os_type': 'linux'}
        info = self.driver.initialize_connection(vol, connector)
        path = live.device_path(host, rsc)
        self.assertEqual({'driver_volume_type': 'local',
                          'data': {'device_path': path, 'resource': rsc,
                                   'node': host}}, info)
        self.assertTrue(path.endswith('/dev/drbd/by-res/%s/0' % rsc))
        self.assertTrue(os.path.exists(path))
        self.assertEqual([host], self.emu.clients(rsc))
        data = self._pattern(b'written on the compute host ')
        live.write(host, rsc, 0, data)
        self.assertEqual(data, live.read(diskful[0], rsc, 0, len(data)))

        vol.volume_attachment = objects.VolumeAttachmentList(
            objects=[self._attachment(host)])
        self.assertFalse(self.driver.terminate_connection(vol, connector))
        self.assertEqual([], self.emu.clients(rsc))
        self.assertFalse(os.path.exists(path))
        self.assertEqual(diskful, self.emu.diskful(rsc))
        # Detaching from a node with a diskful replica never removes the replica.
        self.assertFalse(self.driver.terminate_connection(
            vol, {'host': diskful[0]}))
        self.assertEqual(diskful, self.emu.diskful(rsc))
        self._assert_idle(rsc)

    def test_attach_on_an_unknown_host_fails(self):
        vol = self._created(size=1)
        self.assertRaises(exception.VolumeBackendAPIException,
                          self.driver.initialize_connection, vol,
                          {'host': 'not-a-linstor-node'})
        self.assertEqual([], self.emu.clients(self._rsc(vol)))

    def test_live_migration_window(self):
        vol = self._created(size=1)
        rsc = self._rsc(vol)
        diskful = self.emu.diskful(rsc)
        a, b = [n for n in live.NODES if n not in diskful][:2]
        att_a = self._attachment(a, status='attaching')
        att_a.attached_host = None
        vol.volume_attachment = objects.VolumeAttachmentList(objects=[att_a])
        self.driver.initialize_connection(vol, {'host': a})
        att_a.attached_host, att_a.attach_status = a, 'attached'
        self.emu.open(a, rsc)  # the guest runs on A
        self.assertEqual([], self.emu.dual_primary_pairs(rsc))

        # Nova attaches on B while A still holds the volume: dual-primary on A-B only.
        att_b = self._attachment(None, status='attaching')
        vol.volume_attachment = objects.VolumeAttachmentList(objects=[att_a, att_b])
        info = self.driver.initialize_connection(vol, {'host': b})
        self.assertEqual(live.device_path(b, rsc), info['data']['device_path'])
        self.assertEqual([tuple(sorted((a, b)))], self.emu.dual_primary_pairs(rsc))
        self.emu.open(b, rsc)  # the migrated guest opens it on B

        # The source guest is gone; nova detaches A.
        att_b.attached_host, att_b.attach_status = b, 'attached'
        self.emu.close(a, rsc)
        self.assertFalse(self.driver.terminate_connection(vol, {'host': a}))
        reps = self.emu.replicas(rsc)
        self.assertTrue(a not in reps or reps[a][0] == 'tiebreaker', reps)
        self.assertEqual(('diskless', True), reps[b])
        self.assertEqual([], self.emu.dual_primary_pairs(rsc))
        self.assertNotIn(live.MIGRATION, self.emu.rd(rsc).get('props') or {})
        self.assertEqual(diskful, self.emu.diskful(rsc))

        self.emu.close(b, rsc)
        vol.volume_attachment = objects.VolumeAttachmentList(objects=[att_b])
        self.driver.terminate_connection(vol, {'host': b})
        self._assert_idle(rsc)

    def test_force_detach_releases_every_idle_client(self):
        vol = self._created(size=1)
        rsc = self._rsc(vol)
        hosts = [n for n in live.NODES if n not in self.emu.diskful(rsc)]
        for h in hosts:
            self.driver.initialize_connection(vol, {'host': h})
        self.assertEqual(sorted(hosts), self.emu.clients(rsc))
        self.assertFalse(self.driver.terminate_connection(vol, None, force=True))
        self._assert_idle(rsc)

    def test_ensure_export(self):
        vol = self._created(size=1)
        self.assertIsNone(self.driver.ensure_export(self.ctx, vol))
        self.assertRaises(exception.VolumeBackendAPIException,
                          self.driver.ensure_export, self.ctx, self._volume())

    # -- manage ------------------------------------------------------------------------------

    def test_manage_existing_unmanage_and_list(self):
        name = 'legacy-%s' % uuid.uuid4().hex[:8]
        self.emu.create_resource(name, 1572864)  # 1.5 GiB, made by an operator
        node = self.emu.diskful(name)[0]
        data = self._pattern(b'operator data ')
        live.write(node, name, 8192, data)
        ref = {'source-name': name}

        listed = {e['reference']['source-name']: e for e in
                  self.driver.get_manageable_volumes([], None, 1000, 0,
                                                     ['size'], ['asc'])}
        self.assertEqual((2, True, None), (listed[name]['size'],
                                           listed[name]['safe_to_manage'],
                                           listed[name]['cinder_id']))

        # Cinder's API creates the record with size 0; its manage flow calls both methods with
        # it and sets the size from manage_existing_get_size afterwards.
        vol = self._volume(size=0, status='managing')
        self.assertEqual(2, self.driver.manage_existing_get_size(vol, ref))
        update = self.driver.manage_existing(vol, ref)
        self.assertEqual({'provider_id': name}, update)
        vol.provider_id, vol.size, vol.status = name, 2, 'available'
        self.assertIsNotNone(self.emu.rd(name))
        self.assertIsNone(self.emu.rd(self._rsc(vol)))
        self.assertEqual(data, live.read(node, name, 8192, len(data)))
        self.assertEqual(1572864, self.emu.size_kib(name))

        listed = {e['reference']['source-name']: e for e in
                  self.driver.get_manageable_volumes([], None, 1000, 0,
                                                     ['size'], ['asc'])}
        self.assertFalse(listed[name]['safe_to_manage'])
        self.assertEqual(vol.id, listed[name]['cinder_id'])

        # Managed, it is found through provider_id: attach works on it.
        host = self.emu.without_replica(name)[0]
        info = self.driver.initialize_connection(vol, {'host': host})
        self.assertEqual(live.device_path(host, name), info['data']['device_path'])
        self.driver.terminate_connection(vol, {'host': host})

        self.driver.unmanage(vol)
        self.assertIsNotNone(self.emu.rd(name))
        self.assertEqual(data, live.read(node, name, 8192, len(data)))
        listed = {e['reference']['source-name']: e for e in
                  self.driver.get_manageable_volumes([], None, 1000, 0,
                                                     ['size'], ['asc'])}
        self.assertTrue(listed[name]['safe_to_manage'])

        for bad in ({'source-name': 'no-such-resource'}, {'source-id': 7}, {}):
            e = self.assertRaises(exception.ManageExistingInvalidReference,
                                  self.driver.manage_existing, self._volume(), bad)
            self.assertIn('reference', str(e))

    # -- retype ------------------------------------------------------------------------------

    def test_retype_to_redundancy_3_adds_a_replica(self):
        vol = self._created(size=1)
        rsc = self._rsc(vol)
        self.assertEqual(2, len(self.emu.diskful(rsc)))
        new_type = {'id': str(uuid.uuid4()), 'name': 'triple',
                    'extra_specs': {'linstor:redundancy': '3',
                                    'volume_backend_name': GROUP}}
        host = {'host': 'cinder@%s#%s' % (GROUP, GROUP),
                'capabilities': self.driver.get_volume_stats(refresh=True)}
        self.assertEqual((True, None), self.driver.retype(
            self.ctx, vol, new_type, {'extra_specs': {}}, host))
        self.assertEqual(3, len(self.emu.diskful(rsc)))
        # A bad spec in the new type is refused with the key named.
        bad = dict(new_type, extra_specs={'linstor:redundancy': 'many'})
        e = self.assertRaises(exception.InvalidVolumeType, self.driver.retype,
                              self.ctx, vol, bad, {}, host)
        self.assertIn('linstor:redundancy', str(e))

    # -- image copy through Cinder's generic path --------------------------------------------

    def _local_connector(self):
        """See test_copy_image_to_volume_through_the_generic_path; returns the host name."""
        hostname = socket.gethostname()
        self.mock_object(volume_utils, 'brick_get_connector_properties',
                         lambda *a, **k: {'host': hostname, 'ip': '127.0.0.1',
                                          'platform': 'x86_64', 'os_type': 'linux',
                                          'multipath': False})
        brick_privsep.default.set_client_mode(False)
        self.addCleanup(brick_privsep.default.set_client_mode, True)
        return hostname

    def _record_connections(self):
        """(host, device path, whether it existed) of each initialize_connection."""
        seen = []
        real_init = self.driver.initialize_connection

        def recording_init(volume, connector, **kw):
            info = real_init(volume, connector, **kw)
            seen.append((connector['host'], info['data']['device_path'],
                         os.path.exists(info['data']['device_path'])))
            return info
        self.driver.initialize_connection = recording_init
        return seen

    def test_copy_image_to_volume_through_the_generic_path(self):
        """The base class's copy_image_to_volume, unchanged: it builds this host's connector,
        attaches through our initialize_connection, checks the device, converts the image with
        qemu-img onto it, and detaches through our terminate_connection.

        Two things differ from a cinder-volume host, both about privileges, none about our
        driver:
        - volume_utils.brick_get_connector_properties is replaced: it asks every os-brick
          transport (iSCSI, NVMe-oF, ...) for this machine's identity, through privsep, and on
          a machine with nvme-cli would write /etc/nvme/hostnqn. The stand-in returns what it
          returns on a host without those transports: host name and IP, all our driver reads.
        - os-brick's privsep context runs in-process (client mode off) instead of starting a
          privsep daemon through sudo, which Cinder's TestCase forbids. Its commands (the
          device check `dd`) then run as this test's user, who owns the emulator's files.
        The emulator's device is a regular file, and qemu-img recreates a regular-file target
        at the image's virtual size (a block device keeps its size): the image has exactly the
        volume's size, so the file keeps it.
        """
        self.override_config('image_conversion_dir', self.tmp)
        image = os.path.join(self.tmp, 'image.qcow2')
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', image, '1G'],
                       check=True)
        payload = self._pattern(b'image bytes at 3 MiB ', 256 * 1024)
        pattern_file = os.path.join(self.tmp, 'pattern.raw')
        with open(pattern_file, 'wb') as f:
            f.write(payload)
        for command in ('write -q -P 0xa5 1M 512k',
                        'write -q -s %s 3M %d' % (pattern_file, len(payload))):
            subprocess.run(['qemu-io', '-f', 'qcow2', '-c', command, image],
                           check=True)

        vol = self._created(size=1)
        rsc = self._rsc(vol)
        seen = self._record_connections()

        hostname = self._local_connector()
        image_service = FakeImageService(image, 'qcow2')
        base_driver.VolumeDriver.copy_image_to_volume(
            self.driver, self.ctx, vol, image_service, 'image-1')

        self.assertEqual([(hostname, live.device_path(live.CINDER_NODE, rsc), True)],
                         seen)
        node = self.emu.diskful(rsc)[0]
        self.assertEqual(b'\xa5' * 512 * 1024, live.read(node, rsc, 1024 * 1024, 512 * 1024))
        self.assertEqual(payload, live.read(node, rsc, 3 * 1024 * 1024, len(payload)))
        self.assertEqual(b'\0' * 4096, live.read(node, rsc, 0, 4096))
        self.assertEqual(GiB, os.path.getsize(live.device_path(node, rsc)))
        self.assertEqual(1048576, self.emu.size_kib(rsc))
        # Detached afterwards: no client left on the Cinder host.
        self._assert_idle(rsc)

    def test_copy_volume_to_image_through_the_generic_path(self):
        """The base class's copy_volume_to_image: attach on this host, read the device, detach
        (same two privilege stand-ins as the image-to-volume test)."""
        vol = self._created(size=1, specs={'volume_backend_name': GROUP})
        vol.glance_metadata = {}
        rsc = self._rsc(vol)
        data = self._pattern(b'volume bytes for glance ', 128 * 1024)
        live.write(self.emu.diskful(rsc)[0], rsc, 5 * 1024 * 1024, data)
        seen = self._record_connections()
        hostname = self._local_connector()
        image_service = FakeImageService(None, 'raw')
        base_driver.VolumeDriver.copy_volume_to_image(
            self.driver, self.ctx, vol, image_service,
            {'id': 'image-2', 'name': 'from-volume', 'disk_format': 'raw',
             'container_format': 'bare'})
        self.assertEqual([(hostname, live.device_path(live.CINDER_NODE, rsc), True)],
                         seen)
        self.assertEqual(GiB, image_service.uploaded_size)
        self.assertEqual(data, image_service.uploaded_at(5 * 1024 * 1024, len(data)))
        self._assert_idle(rsc)



class FakeImageService(object):
    """What Cinder's image code uses of Glance's client: show, download and update (the upload
    is streamed; only its size and a window of it are kept), and a temp_images slot."""

    temp_images = None
    WINDOW = (5 * 1024 * 1024, 128 * 1024)

    def __init__(self, path, disk_format):
        self.path, self.disk_format = path, disk_format
        self.uploaded_size, self._window = None, b''

    def show(self, context, image_id):
        return {'id': image_id, 'disk_format': self.disk_format,
                'container_format': 'bare', 'size': os.path.getsize(self.path),
                'status': 'active', 'properties': {}}

    def download(self, context, image_id, data=None):
        with open(self.path, 'rb') as f:
            shutil.copyfileobj(f, data)

    def update(self, context, image_id, image_meta, data=None, **kwargs):
        start, length = self.WINDOW
        pos, window = 0, []
        while True:
            chunk = data.read(4 * 1024 * 1024)
            if not chunk:
                break
            lo, hi = max(start, pos), min(start + length, pos + len(chunk))
            if lo < hi:
                window.append(chunk[lo - pos:hi - pos])
            pos += len(chunk)
        self.uploaded_size, self._window = pos, b''.join(window)
        return {'id': image_id}

    def uploaded_at(self, offset, length):
        assert (offset, length) == self.WINDOW
        return self._window
