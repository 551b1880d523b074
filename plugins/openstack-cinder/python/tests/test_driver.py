"""Cinder-style unit tests of the shim: real Cinder base classes, OVOs and backend-group
configuration; the TypeScript side replaced by a mocked `_call` or transport, and for the
transport tests by small stand-in processes (tests/fake_cli.py, tests/fake_agent.py).
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from unittest import mock

from cinder.tests.unit import test  # first: monkey-patches eventlet like every Cinder test run

from cinder.common import constants
from cinder import context
from cinder import exception
from cinder import interface
from cinder.interface import volume_driver as vd_interface
from cinder import objects
from cinder.tests.unit import fake_constants as fake
from cinder.tests.unit import fake_snapshot
from cinder.tests.unit import fake_volume
from cinder.volume import configuration as conf
from cinder.volume.drivers import linstordrv
from cinder.volume import manager as volume_manager
from cinder.volume import volume_types

from linstor_virt_cinder import client as lv_client
from linstor_virt_cinder import driver as lv_driver
from linstor_virt_cinder import options as lv_options
from tests import SCHEDULING_MARGIN_S

GROUP = 'lv-unit'
HERE = os.path.dirname(os.path.abspath(__file__))
OUR_OPTS = {'linstor_uris', 'linstor_client_key', 'linstor_client_cert',
            'linstor_trusted_ca', 'linstor_default_resource_group_name',
            'linstor_timeout', 'linstor_virt_agent_socket',
            'linstor_virt_command', 'linstor_virt_private_agent',
            'linstor_virt_node_map',
            'linstor_virt_token_file', 'linstor_virt_controller_volumes'}


def ok(result):
    return {'v': 1, 'result': result}


def err(code, message='the TS message (cause: LINSTOR said no)'):
    return {'v': 1, 'error': {'code': code, 'message': message,
                              'details': {}}}


class _Base(test.TestCase):

    def setUp(self):
        super(_Base, self).setUp()
        self.ctx = context.get_admin_context()
        # As VolumeManager.__init__ builds it, then the driver exactly as the manager does.
        self.configuration = conf.Configuration(
            volume_manager.volume_backend_opts, config_group=GROUP)
        self.driver = lv_driver.LinstorVirtDriver(
            configuration=self.configuration, host='cinder-1@' + GROUP,
            cluster_name=None, is_vol_db_empty=False, active_backend_id=None)
        self.override_config('volume_backend_name', 'lv-backend', group=GROUP)
        self.tmp = tempfile.mkdtemp(prefix='lv-unit-')
        self.addCleanup(subprocess.call, ['rm', '-rf', self.tmp])
        env = {k: v for k, v in os.environ.items()
               if k not in ('LINSTOR_VIRT_DEVICE_ROOT', 'LINSTOR_VIRT_LOCK_DIR')}
        env_patch = mock.patch.dict(os.environ, env, clear=True)
        env_patch.start()
        self.addCleanup(env_patch.stop)

    # -- helpers ----------------------------------------------------------------------------

    def _type(self, specs=None):
        return objects.VolumeType(self.ctx, id=fake.VOLUME_TYPE_ID, name='gold',
                                  extra_specs=specs or {})

    def _volume(self, **kw):
        specs = kw.pop('specs', {'linstor:redundancy': '3'})
        vol = fake_volume.fake_volume_obj(self.ctx, **kw)
        vol.volume_type = self._type(specs)
        return vol

    def _snapshot(self, volume=None, **kw):
        snap = fake_snapshot.fake_snapshot_obj(self.ctx, **kw)
        snap.volume = volume or self._volume()
        return snap

    def _mock_transport(self, *replies):
        transport = mock.Mock(spec=lv_client.CallClient)
        transport.call.side_effect = list(replies)
        self.driver._client = transport
        return transport

    def _request(self, transport, index=0):
        return transport.call.call_args_list[index][0][0]


class DriverTestCase(_Base):

    # -- registration and options -----------------------------------------------------------

    def test_interface_compliance(self):
        self.assertTrue(issubclass(lv_driver.LinstorVirtDriver,
                                   vd_interface.VolumeDriverCore))
        self.assertIn(lv_driver.LinstorVirtDriver, interface._volume_register)
        self.assertTrue(lv_driver.LinstorVirtDriver.SUPPORTED)
        self.assertRegex(lv_driver.LinstorVirtDriver.VERSION, r'^\d+\.\d+\.\d+$')

    def test_options_named_and_explained(self):
        opts = lv_driver.LinstorVirtDriver.get_driver_options()
        self.assertIs(lv_options.OPTS, opts)
        self.assertEqual(OUR_OPTS, {o.name for o in opts})
        for o in opts:
            self.assertGreater(len(o.help or ''), 30, o.name)
        in_tree = {o.name for o in linstordrv.linstor_opts}
        self.assertEqual(set(), {o.name for o in opts} & in_tree)
        uris = [o for o in opts if o.name == 'linstor_uris'][0]
        self.assertEqual(['linstor_default_uri'],
                         [d.name for d in uris.deprecated_opts])
        # Registered on [backend_defaults] at import, appended to the backend group.
        for name in OUR_OPTS:
            self.assertIn(name, conf.CONF[conf.SHARED_CONF_GROUP])
            self.assertIn(name, conf.CONF[GROUP])

    def test_in_tree_driver_options_coexist_in_one_process(self):
        # A real process with a cinder.conf: both option lists registered, each backend reads its
        # own section; linstor_default_uri feeds the in-tree option and our deprecated alias.
        cfg_file = os.path.join(self.tmp, 'cinder.conf')
        with open(cfg_file, 'w') as f:
            f.write('[DEFAULT]\nenabled_backends = lv, intree\n'
                    '[lv]\nlinstor_default_uri = linstor://old-name\n'
                    '[intree]\nlinstor_default_uri = linstor://in-tree\n'
                    '[backend_defaults]\nlinstor_uris = linstor://shared\n')
        script = textwrap.dedent('''
            import json, sys
            from oslo_config import cfg
            from cinder.volume import configuration as conf
            from cinder.volume.drivers import linstordrv
            from linstor_virt_cinder import options
            cfg.CONF(['--config-file', sys.argv[1]], project='cinder')
            ours = conf.Configuration(options.OPTS, config_group='lv')
            theirs = conf.Configuration(linstordrv.linstor_opts,
                                        config_group='intree')
            print(json.dumps([ours.safe_get('linstor_uris'),
                              theirs.safe_get('linstor_default_uri'),
                              theirs.safe_get('linstor_uris')]))
        ''')
        out = subprocess.run(
            [sys.executable, '-c', script, cfg_file], check=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=dict(os.environ, PYTHONPATH=os.path.dirname(HERE)))
        self.assertEqual([['linstor://old-name'], 'linstor://in-tree', None],
                         json.loads(out.stdout.decode().splitlines()[-1]))

    def test_written_options_reach_the_typescript_side_as_written(self):
        # A real cinder.conf: every linstor_* option (ours with a bad value, the other drivers',
        # a typo) is sent as written with its section, the backend's winning over
        # [backend_defaults]; a value oslo cannot convert neither breaks the request nor the
        # deadline (the start-up check refuses it, naming it).
        cfg_file = os.path.join(self.tmp, 'cinder.conf')
        with open(cfg_file, 'w') as f:
            f.write('[DEFAULT]\nenabled_backends = lv\n'
                    '[backend_defaults]\nlinstor_force_udev = False\n'
                    'linstor_timeout = 30\n'
                    '[lv]\nlinstor_timeout = abc\n'
                    'linstor_autoplace_count = 3\ndd_blocksize = 1M\n'
                    'linstor_virt_node_map = no-colon\n'
                    'linstor_default_resource_grup_name = x\n'
                    'volume_backend_name = lv\n')
        script = textwrap.dedent('''
            import json, sys
            from cinder import objects
            objects.register_all()
            from oslo_config import cfg
            from cinder.volume import configuration as conf
            from cinder.volume import manager
            from cinder.volume.drivers import linstordrv
            from linstor_virt_cinder import driver
            cfg.CONF(['--config-file', sys.argv[1]], project='cinder')
            d = driver.LinstorVirtDriver(configuration=conf.Configuration(
                manager.volume_backend_opts, config_group='lv'))
            c = d._config()
            print(json.dumps([c['options'], d._timeout(), c['nodeMap']]))
        ''')
        out = subprocess.run(
            [sys.executable, '-c', script, cfg_file], check=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=dict(os.environ, PYTHONPATH=os.path.dirname(HERE)))
        written, timeout, node_map = json.loads(
            out.stdout.decode().splitlines()[-1])
        self.assertEqual({
            'linstor_force_udev': {'value': 'False',
                                   'section': 'backend_defaults'},
            'linstor_timeout': {'value': 'abc', 'section': 'backend'},
            'linstor_autoplace_count': {'value': '3', 'section': 'backend'},
            'dd_blocksize': {'value': '1M', 'section': 'backend'},
            'linstor_virt_node_map': {'value': 'no-colon',
                                      'section': 'backend'},
            'linstor_default_resource_grup_name': {'value': 'x',
                                                   'section': 'backend'},
        }, written)
        self.assertEqual(60, timeout)
        self.assertEqual({}, node_map)

    def test_option_fallback_through_backend_defaults(self):
        self.assertEqual(['linstor://localhost'],
                         self.driver._config()['controllers'])
        self.override_config('linstor_uris', ['linstor://a', 'linstor://b'],
                             group=conf.SHARED_CONF_GROUP)
        self.override_config('linstor_virt_node_map', {'cinder-1': 'alpha'},
                             group=conf.SHARED_CONF_GROUP)
        c = self.driver._config()
        self.assertEqual(['linstor://a', 'linstor://b'], c['controllers'])
        self.assertEqual({'cinder-1': 'alpha'}, c['nodeMap'])
        self.override_config('linstor_uris', ['linstor://own'], group=GROUP)
        self.assertEqual(['linstor://own'], self.driver._config()['controllers'])
        self.assertEqual({'cinder-1': 'alpha'}, self.driver._config()['nodeMap'])

    # -- the request ------------------------------------------------------------------------

    def test_config_shape_minimal(self):
        with mock.patch.object(lv_driver.socket, 'gethostname',
                               return_value='cinder-1'):
            c = self.driver._config()
        self.assertEqual({
            'backend': GROUP, 'volumeBackendName': 'lv-backend',
            'controllers': ['linstor://localhost'], 'nodeMap': {},
            'cinderHost': 'cinder-1', 'controllerVolumes': [],
            'reservedPercentage': 0, 'maxOverSubscriptionRatio': '20.0',
            'driverVersion': lv_driver.LinstorVirtDriver.VERSION,
            'lockDir': os.path.join(lv_driver.CONF.state_path, 'linstor-virt',
                                    'locks'),
            'options': {},
        }, c)

    def test_config_shape_complete(self):
        for name, value in (
                ('linstor_trusted_ca', '/etc/lv/ca.pem'),
                ('linstor_client_cert', '/etc/lv/cert.pem'),
                ('linstor_client_key', '/etc/lv/key.pem'),
                ('linstor_virt_token_file', '/etc/lv/token'),
                ('linstor_default_resource_group_name', 'rg-cinder'),
                ('linstor_virt_node_map', {'cinder-1': 'alpha', 'c2': 'bravo'}),
                ('linstor_virt_controller_volumes', ['CV_ctrl']),
                ('reserved_percentage', 5),
                ('max_over_subscription_ratio', 'auto')):
            self.override_config(name, value, group=GROUP)
        self.override_config('volume_backend_name', None, group=GROUP)
        env = {'LINSTOR_VIRT_DEVICE_ROOT': '/tmp/emu/nodes/{node}',
               'LINSTOR_VIRT_LOCK_DIR': '/tmp/locks'}
        with mock.patch.dict(os.environ, env), mock.patch.object(
                lv_driver.socket, 'gethostname', return_value='cinder-1'):
            c = self.driver._config()
        self.assertEqual({
            'backend': GROUP, 'volumeBackendName': GROUP,
            'controllers': ['linstor://localhost'],
            'caFile': '/etc/lv/ca.pem', 'certFile': '/etc/lv/cert.pem',
            'keyFile': '/etc/lv/key.pem', 'tokenFile': '/etc/lv/token',
            'defaultResourceGroup': 'rg-cinder',
            'nodeMap': {'cinder-1': 'alpha', 'c2': 'bravo'},
            'cinderHost': 'cinder-1', 'controllerVolumes': ['CV_ctrl'],
            'reservedPercentage': 5, 'maxOverSubscriptionRatio': 'auto',
            'driverVersion': lv_driver.LinstorVirtDriver.VERSION,
            'deviceRoot': '/tmp/emu/nodes/{node}', 'lockDir': '/tmp/locks',
            'options': {},
        }, c)
        json.dumps(c)
        # Without the environment's lock folder: one under cinder's state_path, which both the
        # agent (group cinder) and the one-shot fallback (user cinder) can write.
        self.override_config('state_path', self.tmp)
        self.assertEqual(os.path.join(self.tmp, 'linstor-virt', 'locks'),
                         self.driver._config()['lockDir'])

    def test_request_envelope_and_deadlines(self):
        transport = self._mock_transport(ok({'model_update': None}), ok({}))
        self.override_config('linstor_timeout', 42, group=GROUP)
        vol = self._volume()
        self.assertIsNone(self.driver.create_volume(vol))
        req = self._request(transport)
        self.assertEqual({'v', 'platform', 'operation', 'deadlineMs',
                          'arguments', 'config'}, set(req))
        self.assertEqual((1, 'cinder', 'create_volume', 42000),
                         (req['v'], req['platform'], req['operation'],
                          req['deadlineMs']))
        self.assertEqual(self.driver._config(), req['config'])
        self.assertEqual(42 + lv_client.GRACE_S, transport.call.call_args_list[0][0][1])
        self.driver.get_volume_stats(refresh=True)
        req = self._request(transport, 1)
        self.assertEqual(('stats', {}), (req['operation'], req['arguments']))
        # Stats are a status-kind call: 2 s, whatever the controller does.
        self.assertEqual(2000, req['deadlineMs'])
        self.assertLessEqual(req['deadlineMs'] / 1000.0 + lv_client.GRACE_S, 15)
        self.assertLessEqual(transport.call.call_args_list[1][0][1], 15)
        json.dumps(req)

    # -- objects ----------------------------------------------------------------------------

    def test_volume_reduction(self):
        att = objects.VolumeAttachment(
            self.ctx, id=fake.ATTACHMENT_ID, attached_host='compute-a',
            attach_status='attached', instance_uuid=fake.INSTANCE_ID)
        att2 = objects.VolumeAttachment(
            self.ctx, id=fake.ATTACHMENT2_ID, attach_status='reserved')
        vol = fake_volume.fake_volume_obj(
            self.ctx, size=3, provider_id='legacy-rsc', multiattach=False,
            host='cinder-1@lv#lv', status='in-use', _name_id=fake.VOLUME2_ID,
            volume_type_id=fake.VOLUME_TYPE_ID)
        vol.volume_attachment = objects.VolumeAttachmentList(objects=[att, att2])
        vol.volume_type = self._type({'linstor:redundancy': '3',
                                      'volume_backend_name': 'lv-backend'})
        self.assertEqual({
            'id': fake.VOLUME_ID, 'name_id': fake.VOLUME2_ID,
            'name': 'volume-' + fake.VOLUME2_ID, 'size': 3,
            'provider_id': 'legacy-rsc', 'multiattach': False,
            'host': 'cinder-1@lv#lv', 'status': 'in-use',
            'volume_type': {'id': fake.VOLUME_TYPE_ID, 'name': 'gold',
                            'extra_specs': {'linstor:redundancy': '3',
                                            'volume_backend_name': 'lv-backend'}},
            'attachments': [
                {'id': fake.ATTACHMENT_ID, 'attached_host': 'compute-a',
                 'attach_status': 'attached',
                 'instance_uuid': fake.INSTANCE_ID},
                {'id': fake.ATTACHMENT2_ID, 'attached_host': None,
                 'attach_status': 'reserved', 'instance_uuid': None}],
        }, self.driver._volume(vol))

    def test_volume_type_missing_in_db_is_null(self):
        # The lazy load of a type that is not in the database raises VolumeTypeNotFound.
        vol = fake_volume.fake_volume_obj(self.ctx,
                                          volume_type_id=fake.VOLUME_TYPE5_ID)
        self.assertRaises(exception.VolumeTypeNotFound,
                          objects.VolumeType.get_by_id, self.ctx,
                          fake.VOLUME_TYPE5_ID)
        reduced = self.driver._volume(vol)
        self.assertIsNone(reduced['volume_type'])
        self.assertEqual(fake.VOLUME_ID, reduced['name_id'])

    def test_volume_type_is_loaded_from_the_database(self):
        vt = volume_types.create(self.ctx, 'silver',
                                 {'linstor:storage_pool': 'ssd'})
        vol = fake_volume.fake_volume_obj(self.ctx, volume_type_id=vt['id'])
        self.assertEqual({'id': vt['id'], 'name': 'silver',
                          'extra_specs': {'linstor:storage_pool': 'ssd'}},
                         self.driver._volume(vol)['volume_type'])

    def test_attachments_are_not_lazy_loaded(self):
        vol = objects.Volume(self.ctx, id=fake.VOLUME_ID, size=1,
                             _name_id=None, status='available')
        vol.volume_type = None
        with mock.patch.object(objects.Volume, 'obj_load_attr',
                               side_effect=AssertionError('lazy load')):
            reduced = self.driver._volume(vol)
        self.assertEqual([], reduced['attachments'])
        self.assertIsNone(reduced['provider_id'])
        self.assertIsNone(reduced['volume_type'])

    def test_snapshot_reduction(self):
        vol = self._volume(size=2)
        snap = self._snapshot(vol, volume_size=2, provider_id='SN_old')
        self.assertEqual({
            'id': fake.SNAPSHOT_ID, 'name': 'snapshot-' + fake.SNAPSHOT_ID,
            'volume_size': 2, 'provider_id': 'SN_old',
            'volume': self.driver._volume(vol),
        }, self.driver._snapshot(snap))

    # -- forwarding -------------------------------------------------------------------------

    def test_each_method_forwards_its_operation(self):
        vol = self._volume(size=2)
        src = self._volume(id=fake.VOLUME3_ID, size=1)
        snap = self._snapshot(vol, volume_size=2)
        V, S = self.driver._volume(vol), self.driver._snapshot(snap)
        conn = {'host': 'compute-b', 'ip': '10.0.0.2', 'multipath': False}
        info = {'driver_volume_type': 'local',
                'data': {'device_path': '/dev/drbd/by-res/CV_x/0',
                         'resource': 'CV_x', 'node': 'compute-b'}}
        mu = {'provider_id': None}
        new_type = {'id': fake.VOLUME_TYPE2_ID, 'name': 'triple',
                    'extra_specs': {'linstor:redundancy': '3'}}
        host = {'host': 'cinder-1@lv#lv', 'capabilities': {'a': 1}}
        ref = {'source-name': 'existing-rsc'}
        cases = [
            (lambda: self.driver.create_volume(vol), 'create_volume',
             {'volume': V}, {'model_update': mu}, mu),
            (lambda: self.driver.delete_volume(vol), 'delete_volume',
             {'volume': V}, {}, None),
            (lambda: self.driver.create_snapshot(snap), 'create_snapshot',
             {'snapshot': S}, {'model_update': None}, None),
            (lambda: self.driver.delete_snapshot(snap), 'delete_snapshot',
             {'snapshot': S}, {}, None),
            (lambda: self.driver.create_volume_from_snapshot(vol, snap),
             'create_volume_from_snapshot', {'volume': V, 'snapshot': S},
             {'model_update': mu}, mu),
            (lambda: self.driver.create_cloned_volume(vol, src),
             'create_cloned_volume',
             {'volume': V, 'source': self.driver._volume(src)},
             {'model_update': mu}, mu),
            (lambda: self.driver.extend_volume(vol, 5), 'extend_volume',
             {'volume': V, 'newSizeGib': 5}, {}, None),
            (lambda: self.driver.revert_to_snapshot(self.ctx, vol, snap),
             'revert_to_snapshot', {'volume': V, 'snapshot': S}, {}, None),
            (lambda: self.driver.ensure_export(self.ctx, vol), 'ensure_export',
             {'volume': V}, {}, None),
            (lambda: self.driver.initialize_connection(
                vol, conn, initiator_data={'x': 1}),
             'initialize_connection', {'volume': V, 'connector': conn},
             {'connection_info': info}, info),
            (lambda: self.driver.terminate_connection(vol, conn),
             'terminate_connection',
             {'volume': V, 'connector': conn, 'force': False},
             {'shared': False}, False),
            (lambda: self.driver.terminate_connection(vol, None, force=True),
             'terminate_connection',
             {'volume': V, 'connector': None, 'force': True},
             {'shared': True}, True),
            (lambda: self.driver.retype(self.ctx, vol, new_type, {}, host),
             'retype', {'volume': V, 'newType': new_type, 'host': host},
             {'changed': True}, (True, None)),
            (lambda: self.driver.retype(self.ctx, vol, new_type, {}, host),
             'retype', {'volume': V, 'newType': new_type, 'host': host},
             {'changed': False}, (False, None)),
            (lambda: self.driver.manage_existing(vol, ref), 'manage_existing',
             {'volume': V, 'ref': ref},
             {'model_update': {'provider_id': 'existing-rsc'}},
             {'provider_id': 'existing-rsc'}),
            (lambda: self.driver.manage_existing_get_size(vol, ref),
             'manage_existing_get_size', {'volume': V, 'ref': ref},
             {'sizeGib': 3}, 3),
            (lambda: self.driver.unmanage(vol), 'unmanage', {'volume': V}, {},
             None),
        ]
        copies = ('create_volume_from_snapshot', 'create_cloned_volume')
        for run, op, args, result, expected in cases:
            with mock.patch.object(self.driver, '_call',
                                   return_value=result) as call:
                self.assertEqual(expected, run(), op)
            self.assertEqual(1, call.call_count, op)
            (got_op, got_args), deadline = self._call_args(call)
            self.assertEqual((op, args), (got_op, got_args))
            # Copies may take long: at least an hour; everything else the configured timeout.
            self.assertEqual(3600 if op in copies else None, deadline, op)
            json.dumps(args)

    @staticmethod
    def _call_args(call):
        args, kwargs = call.call_args
        deadline = args[2] if len(args) > 2 else kwargs.get('deadline_s')
        return args[:2], deadline

    def test_get_manageable_volumes_paginates(self):
        entries = [
            {'reference': {'source-name': n}, 'size': s, 'safe_to_manage': True,
             'reason_not_safe': None, 'cinder_id': None, 'extra_info': None}
            for n, s in (('rsc-a', 3), ('rsc-b', 1), ('rsc-c', 2))]
        with mock.patch.object(self.driver, '_call',
                               return_value=entries) as call:
            page = self.driver.get_manageable_volumes(
                [], None, 2, 0, ['size'], ['desc'])
            call.assert_called_once_with('get_manageable_volumes', {})
            self.assertEqual(['rsc-a', 'rsc-c'],
                             [e['reference']['source-name'] for e in page])
            page = self.driver.get_manageable_volumes(
                [], {'source-name': 'rsc-c'}, 10, 0, ['size'], ['desc'])
            self.assertEqual(['rsc-b'],
                             [e['reference']['source-name'] for e in page])

    def test_exports_are_no_ops(self):
        transport = self._mock_transport()
        vol = self._volume()
        self.assertIsNone(self.driver.create_export(self.ctx, vol, {'host': 'x'}))
        self.assertIsNone(self.driver.remove_export(self.ctx, vol))
        transport.call.assert_not_called()
        self.assertFalse(self.driver.snapshot_revert_use_temp_snapshot())

    def test_update_migrated_volume_takes_the_new_name_id(self):
        vol = self._volume(provider_id='managed-rsc')
        new = self._volume(id=fake.VOLUME2_ID, provider_location=None)
        transport = self._mock_transport()
        self.assertEqual({'_name_id': fake.VOLUME2_ID, 'provider_location': None},
                         self.driver.update_migrated_volume(
                             self.ctx, vol, new, 'available'))
        transport.call.assert_not_called()

    # -- errors -----------------------------------------------------------------------------

    def test_error_codes_map_to_exceptions(self):
        vol = self._volume()
        snap = self._snapshot(vol)
        ref = {'source-name': 'bad name'}
        msg = 'the TS message (cause: LINSTOR said no)'
        cases = [
            ('VOLUME_TYPE_INVALID', lambda: self.driver.create_volume(vol),
             exception.InvalidVolumeType),
            ('MULTIATTACH_UNSUPPORTED',
             lambda: self.driver.initialize_connection(vol, {'host': 'b'}),
             exception.InvalidVolume),
            ('MANAGE_REF_INVALID',
             lambda: self.driver.manage_existing(vol, ref),
             exception.ManageExistingInvalidReference),
            ('MANAGE_REF_INVALID',
             lambda: self.driver.manage_existing_get_size(vol, ref),
             exception.ManageExistingInvalidReference),
            ('CONFIG_INVALID', lambda: self.driver.create_volume(vol),
             exception.VolumeDriverException),
            ('LINSTOR_UNAVAILABLE', lambda: self.driver.create_volume(vol),
             exception.VolumeBackendAPIException),
            ('RESOURCE_NOT_FOUND', lambda: self.driver.extend_volume(vol, 2),
             exception.VolumeBackendAPIException),
            ('SOMETHING_NEW', lambda: self.driver.delete_volume(vol),
             exception.VolumeBackendAPIException),
        ]
        for code in ('RESOURCE_IN_USE', 'HAS_SNAPSHOTS',
                     'CONTROLLER_VM_PROTECTED'):
            cases += [
                (code, lambda: self.driver.delete_volume(vol),
                 exception.VolumeIsBusy),
                (code, lambda: self.driver.revert_to_snapshot(
                    self.ctx, vol, snap), exception.VolumeIsBusy),
                (code, lambda: self.driver.extend_volume(vol, 4),
                 exception.VolumeIsBusy),
                (code, lambda: self.driver.delete_snapshot(snap),
                 exception.SnapshotIsBusy),
                (code, lambda: self.driver.create_snapshot(snap),
                 exception.SnapshotIsBusy),
            ]
        for code, run, cls in cases:
            self._mock_transport(err(code, msg))
            e = self.assertRaises(Exception, run)
            self.assertIs(cls, type(e), code)
            self.assertIn(msg, str(e), code)
            self.assertEqual(code, e.linstor_virt_code)
            if cls in (exception.VolumeIsBusy, exception.SnapshotIsBusy):
                self.assertEqual(msg, str(e))
            if cls is exception.ManageExistingInvalidReference:
                self.assertIn('bad name', str(e))

    def test_transport_error_names_socket_and_command(self):
        self.override_config('linstor_virt_agent_socket',
                             os.path.join(self.tmp, 'no-agent.sock'), group=GROUP)
        self.override_config('linstor_virt_command',
                             ['/nonexistent/bin/linstor-virt'], group=GROUP)
        e = self.assertRaises(exception.VolumeBackendAPIException,
                              self.driver.delete_volume, self._volume())
        self.assertIn(os.path.join(self.tmp, 'no-agent.sock'), str(e))
        self.assertIn('/nonexistent/bin/linstor-virt call --stdin', str(e))
        self.assertIn('delete_volume', str(e))

    # -- start-up, stats, ensure_export -----------------------------------------------------

    def test_check_for_setup_error_logs_warnings(self):
        transport = self._mock_transport(
            ok({'warnings': ['controller unreachable', 'node cinder-1 unknown']}))
        with mock.patch.object(lv_driver, 'LOG') as log:
            self.driver.do_setup(self.ctx)
            self.driver.check_for_setup_error()
        self.assertEqual('check', self._request(transport)['operation'])
        warned = [c[0][1] for c in log.warning.call_args_list]
        self.assertEqual(['controller unreachable', 'node cinder-1 unknown'],
                         warned)

    def test_check_for_setup_error_blocks_only_bad_config(self):
        self._mock_transport(err('CONFIG_INVALID', 'linstor_uris: bad URI'))
        e = self.assertRaises(exception.VolumeDriverException,
                              self.driver.check_for_setup_error)
        self.assertIn('linstor_uris: bad URI', str(e))
        self._mock_transport(err('LINSTOR_UNAVAILABLE', 'no controller'))
        with mock.patch.object(lv_driver, 'LOG') as log:
            self.driver.check_for_setup_error()
        self.assertIn('no controller', str(log.error.call_args))
        transport = self._mock_transport()
        transport.call.side_effect = lv_client.TransportError('no agent')
        self.driver.check_for_setup_error()

    def test_stats_pass_through_then_down_on_failure(self):
        stats = {'volume_backend_name': 'lv-backend',
                 'vendor_name': 'LINBIT/linstor-virt',
                 'driver_version': '1.0.0', 'storage_protocol': 'DRBD',
                 'total_capacity_gb': 100.0, 'free_capacity_gb': 40.5,
                 'reserved_percentage': 0,
                 'max_over_subscription_ratio': '20.0',
                 'thin_provisioning_support': True,
                 'thick_provisioning_support': False,
                 'location_info': 'linstor://localhost', 'multiattach': False,
                 'online_extend_support': False, 'QoS_support': False,
                 'sparse_copy_volume': True, 'backend_state': 'up'}
        self._mock_transport(ok(stats), err('LINSTOR_UNAVAILABLE'))
        self.assertEqual(stats, self.driver.get_volume_stats(refresh=True))
        self.assertEqual(stats, self.driver.get_volume_stats(refresh=False))
        down = self.driver.get_volume_stats(refresh=True)
        self.assertEqual(dict(stats, backend_state='down', free_capacity_gb=0),
                         down)
        self.assertEqual('up', stats['backend_state'])

    def test_stale_stats_are_published_down_without_the_stale_key(self):
        stale = {'volume_backend_name': 'lv-backend', 'total_capacity_gb': 100.0,
                 'free_capacity_gb': 0, 'backend_state': 'down', 'stale': True}
        self._mock_transport(ok(stale))
        stats = self.driver.get_volume_stats(refresh=True)
        self.assertNotIn('stale', stats)
        self.assertEqual('down', stats['backend_state'])
        self.assertEqual(100.0, stats['total_capacity_gb'])
        self.assertEqual(0, stats['free_capacity_gb'])

    def test_stats_without_any_answer_are_down_with_no_space(self):
        for failure in (err('LINSTOR_UNAVAILABLE'),
                        lv_client.TransportError('gone'), ValueError('bug'),
                        ok(None)):
            self.driver._stats = {}
            self._mock_transport(failure)
            stats = self.driver.get_volume_stats(refresh=True)
            self.assertEqual('down', stats['backend_state'])
            # 0, not 'unknown': Zed's CapacityFilter lets 'unknown' through.
            self.assertEqual(0, stats['total_capacity_gb'])
            self.assertEqual(0, stats['free_capacity_gb'])
            self.assertEqual('lv-backend', stats['volume_backend_name'])
            self.assertEqual(constants.DRBD, stats['storage_protocol'])
            for key in ('vendor_name', 'driver_version', 'reserved_percentage'):
                self.assertIn(key, stats)

    def test_ensure_export_raises_only_when_the_volume_is_gone(self):
        vol = self._volume()
        self._mock_transport(err('RESOURCE_NOT_FOUND', 'CV_x is gone'))
        self.assertRaises(exception.VolumeBackendAPIException,
                          self.driver.ensure_export, self.ctx, vol)
        for failure in (err('LINSTOR_UNAVAILABLE'), err('LINSTOR_DEADLINE')):
            self._mock_transport(failure)
            with mock.patch.object(lv_driver, 'LOG') as log:
                self.assertIsNone(self.driver.ensure_export(self.ctx, vol))
            self.assertTrue(log.warning.called)

    def test_vendor_properties(self):
        self._mock_transport(ok({'volume_backend_name': 'lv-backend',
                                 'backend_state': 'up'}))
        self.driver.init_capabilities()
        caps = self.driver.capabilities
        self.assertEqual('linstor', caps['vendor_prefix'])
        for key in ('linstor:resource_group', 'linstor:redundancy',
                    'linstor:storage_pool', 'linstor:diskless_on_remaining',
                    'linstor:do_not_place_with_regex', 'linstor:layer_list',
                    'linstor:provider_list', 'linstor:replicas_on_same',
                    'linstor:replicas_on_different', 'linstor:dr_node',
                    'linstor:dr_site', 'linstor:dr_site_key'):
            self.assertIn(key, caps['properties'])
            self.assertGreater(len(caps['properties'][key]['description']), 10)
        self.assertEqual('integer',
                         caps['properties']['linstor:redundancy']['type'])


class TransportTestCase(_Base):
    """The real transport against stand-in processes (no mocks of our code)."""

    def setUp(self):
        super(TransportTestCase, self).setUp()
        self.sock = os.path.join(self.tmp, 'agent.sock')
        self.record = os.path.join(self.tmp, 'record.json')
        self.override_config('linstor_virt_agent_socket', self.sock, group=GROUP)
        self._command('echo')

    def _command(self, mode):
        self.override_config(
            'linstor_virt_command',
            [sys.executable, os.path.join(HERE, 'fake_cli.py'), self.record,
             mode], group=GROUP)
        self.driver._client = None

    def _recorded(self):
        with open(self.record) as f:
            return json.load(f)

    def _start_agent(self, *extra):
        agent_record = os.path.join(self.tmp, 'agent-record')
        proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, 'fake_agent.py'), self.sock,
             agent_record] + list(extra), stdout=subprocess.PIPE)
        self.addCleanup(proc.wait)
        self.addCleanup(proc.kill)
        self.assertEqual(b'listening\n', proc.stdout.readline())
        return agent_record

    def test_missing_socket_falls_back_to_the_command(self):
        self.assertFalse(os.path.exists(self.sock))
        self.assertEqual({'via': 'command', 'operation': 'delete_volume'},
                         self.driver._call('delete_volume', {'x': 1}))
        rec = self._recorded()
        self.assertEqual(['call', '--stdin'], rec['argv'])
        self.assertEqual('delete_volume', rec['request']['operation'])
        self.assertEqual({'x': 1}, rec['request']['arguments'])
        self.assertEqual(self.driver._config(), rec['request']['config'])

    def test_not_a_socket_falls_back_to_the_command(self):
        with open(self.sock, 'w') as f:
            f.write('not a socket')
        self.assertEqual('command', self.driver._call('check', {})['via'])

    def test_refused_socket_falls_back_to_the_command(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(self.sock)  # a socket file nobody listens on: connect is refused
        s.close()
        self.assertTrue(os.path.exists(self.sock))
        self.assertEqual('command', self.driver._call('check', {})['via'])

    def test_listening_agent_is_used(self):
        agent_record = self._start_agent()
        self._command('silent')
        self.assertEqual({'via': 'agent', 'operation': 'stats', 'path': '/v1/call'},
                         self.driver._call('stats', {}))
        self.assertFalse(os.path.exists(self.record))
        with open(agent_record) as f:
            sent = json.loads(f.readline())
        self.assertEqual(('cinder', 'stats', 1),
                         (sent['platform'], sent['operation'], sent['v']))

    def test_a_request_the_agent_received_is_not_sent_again(self):
        agent_record = self._start_agent('hangup')
        e = self.assertRaises(exception.VolumeBackendAPIException,
                              self.driver._call, 'create_volume', {})
        self.assertIn(self.sock, str(e))
        self.assertFalse(os.path.exists(self.record))
        with open(agent_record) as f:
            self.assertEqual(1, len(f.readlines()))

    def test_command_without_a_reply(self):
        for mode, expected in (('garbage', 'not JSON'),
                               ('silent', 'exit code 3 and no reply: cannot do that')):
            self._command(mode)
            e = self.assertRaises(exception.VolumeBackendAPIException,
                                  self.driver._call, 'check', {})
            self.assertIn(expected, str(e))
            self.assertIn(self.sock, str(e))
            self.assertIn('fake_cli.py', str(e))

    def test_command_timeout(self):
        self._command('sleep')
        started = time.monotonic()
        with mock.patch.object(lv_client, 'GRACE_S', 0.5):
            e = self.assertRaises(exception.VolumeBackendAPIException,
                                  self.driver._call, 'check', {},
                                  deadline_s=0.5)
        # Bounded by the deadline the client enforces on itself (0.5 s plus 0.5 s of grace) and a
        # scheduling margin for a busy machine, far below the 60 s the command sleeps: the call
        # ended on its own deadline, not on the command's exit. Speed is bench/'s.
        self.assertLess(time.monotonic() - started, 0.5 + 0.5 + SCHEDULING_MARGIN_S)
        self.assertIn('no reply within', str(e))
