"""Cinder's real VolumeManager driving the shim, against the TypeScript side and the emulator.

BaseVolumeTestCase gives the sqlite database, the fake image service and the fake RPC transport;
the manager is then rebuilt from `volume_manager` with `volume_driver` in [backend_defaults]
pointing at our class, exactly as cinder-volume loads it. Volume types are real rows with a
volume_backend_name and linstor: extra specs, so they travel DB -> OVO -> driver -> JSON -> TS.
"""

import uuid
from unittest import mock

from oslo_config import cfg
from oslo_utils import importutils

from cinder.tests.unit import volume as base  # first: monkey-patches eventlet

from cinder import db
from cinder import exception
from cinder import objects
from cinder.objects import fields
from cinder.tests.unit import utils as tests_utils
from cinder.volume import configuration as conf
from cinder.volume import volume_types

from tests import live

CONF = cfg.CONF
BACKEND = 'lv-manager'


class ManagerTestCase(base.BaseVolumeTestCase):

    def setUp(self):
        super(ManagerTestCase, self).setUp()
        self.emu = live.Emulator()
        # The test manager runs as service "backend_defaults": its options are ours.
        self.override_config('volume_driver',
                             'linstor_virt_cinder.driver.LinstorVirtDriver',
                             group=conf.SHARED_CONF_GROUP)
        self.volume = importutils.import_object(CONF.volume_manager)
        live.configure(self, conf.SHARED_CONF_GROUP)
        self.override_config('volume_backend_name', BACKEND,
                             group=conf.SHARED_CONF_GROUP)
        self.mock_object(self.volume, '_driver_shares_targets',
                         return_value=False)
        self.volume.message_api = mock.Mock()
        self.assertEqual('LinstorVirtDriver', type(self.volume.driver).__name__)
        self.volume.init_host(service_id=None)
        self.assertTrue(self.volume.driver.initialized)
        self.vtype = volume_types.create(
            self.context, 'triple-%s' % uuid.uuid4().hex[:6],
            {'volume_backend_name': BACKEND, 'linstor:redundancy': '3'})

    def _new_volume(self, vtype=None, size=1, status='creating'):
        return tests_utils.create_volume(
            self.context, host=self.volume.host,
            size=size, status=status,
            volume_type_id=(vtype or self.vtype)['id'])

    @staticmethod
    def _rsc(volume):
        return 'CV_' + volume.name_id

    def test_init_host_publishes_stats_and_capabilities(self):
        caps = self.volume.driver.capabilities
        self.assertEqual(BACKEND, caps['volume_backend_name'])
        self.assertEqual('up', caps['backend_state'])
        self.assertEqual('linstor', caps['vendor_prefix'])
        self.assertIn('linstor:redundancy', caps['properties'])

    def test_volume_lifecycle(self):
        volume = self._new_volume(size=2)
        self.volume.create_volume(self.context, volume)
        volume.refresh()
        self.assertEqual('available', volume.status)
        rsc = self._rsc(volume)
        self.assertEqual(2 * 1048576, self.emu.size_kib(rsc))
        self.assertEqual({'linstor:redundancy': '3', 'volume_backend_name': BACKEND},
                         volume.volume_type.extra_specs)
        self.assertEqual(3, len(self.emu.diskful(rsc)), 'the type said 3')

        node = self.emu.diskful(rsc)[0]
        live.write(node, rsc, 0, b'before the snapshot')
        snapshot = tests_utils.create_snapshot(self.context, volume.id)
        self.volume.create_snapshot(self.context, snapshot)
        snapshot.refresh()
        self.assertEqual(fields.SnapshotStatus.AVAILABLE, snapshot.status)
        self.assertEqual(['SN_' + snapshot.id], self.emu.snapshots(rsc))
        live.write(node, rsc, 0, b'after the snapshot!')

        self.volume.extend_volume(self.context, volume, 3, [])
        volume.refresh()
        self.assertEqual((3, 'available'), (volume.size, volume.status))
        self.assertEqual(3 * 1048576, self.emu.size_kib(rsc))

        # Revert: no temporary safety snapshot (it would be the newest, and LINSTOR rolls back
        # to the newest only), the snapshot's bytes back, the volume keeps its 3 GiB.
        volume.status, snapshot.status = 'reverting', 'restoring'
        volume.save()
        snapshot.save()
        self.volume.revert_to_snapshot(self.context, volume, snapshot)
        volume.refresh()
        snapshot.refresh()
        self.assertEqual(('available', 'available'), (volume.status, snapshot.status))
        self.assertEqual(b'before the snapshot', live.read(node, rsc, 0, 19))
        self.assertEqual(['SN_' + snapshot.id], self.emu.snapshots(rsc))
        self.assertEqual(3 * 1048576, self.emu.size_kib(rsc))

        # Attach on a host without a replica through the attachments API.
        host = self.emu.empty_nodes(rsc)[0]
        attachment = self.volume_api.attachment_create(
            self.context, volume, str(uuid.uuid4()))
        connector = {'host': host, 'ip': '10.0.0.7', 'platform': 'x86_64',
                     'os_type': 'linux', 'multipath': False}
        volume = objects.Volume.get_by_id(self.context, volume.id)
        info = self.volume.attachment_update(self.context, volume, connector,
                                             attachment.id)
        self.assertEqual('local', info['driver_volume_type'])
        self.assertEqual(live.device_path(host, rsc), info['device_path'])
        self.assertEqual(attachment.id, info['attachment_id'])
        self.assertEqual([host], self.emu.clients(rsc))
        attachment = objects.VolumeAttachment.get_by_id(self.context,
                                                        attachment.id)
        # 'attaching' until nova calls attachment_complete.
        self.assertEqual(('attaching', host),
                         (attachment.attach_status, attachment.attached_host))

        volume = objects.Volume.get_by_id(self.context, volume.id)
        self.volume.attachment_delete(self.context, attachment.id, volume)
        self.assertEqual([], self.emu.clients(rsc))
        self.assertEqual(3, len(self.emu.diskful(rsc)))

        self.volume.delete_snapshot(self.context, snapshot)
        self.assertEqual([], self.emu.snapshots(rsc))
        live_rows = self.context.elevated(read_deleted='no')
        self.assertRaises(exception.SnapshotNotFound,
                          objects.Snapshot.get_by_id, live_rows, snapshot.id)

        volume = objects.Volume.get_by_id(self.context, volume.id)
        self.volume.delete_volume(self.context, volume)
        self.assertRaises(exception.VolumeNotFound, db.volume_get,
                          live_rows, volume.id)
        self.assertIsNone(self.emu.rd(rsc))

    def test_delete_with_snapshot_keeps_the_volume(self):
        volume = self._new_volume()
        self.volume.create_volume(self.context, volume)
        snapshot = tests_utils.create_snapshot(self.context, volume.id)
        self.volume.create_snapshot(self.context, snapshot)
        volume = objects.Volume.get_by_id(self.context, volume.id)
        self.volume.delete_volume(self.context, volume)
        volume.refresh()
        # VolumeIsBusy: the manager puts the volume back to available.
        self.assertEqual('available', volume.status)
        self.assertIsNotNone(self.emu.rd(self._rsc(volume)))
        self.volume.delete_snapshot(self.context, snapshot)
        self.volume.delete_volume(self.context, volume)
        self.assertIsNone(self.emu.rd(self._rsc(volume)))

    def test_failing_create_ends_in_error(self):
        bad = volume_types.create(
            self.context, 'bad-%s' % uuid.uuid4().hex[:6],
            {'volume_backend_name': BACKEND, 'linstor:redundancy': 'zero'})
        volume = self._new_volume(vtype=bad)
        self.assertRaises(exception.InvalidVolumeType, self.volume.create_volume,
                          self.context, volume)
        volume.refresh()
        self.assertEqual('error', volume.status)
        self.assertIsNone(self.emu.rd(self._rsc(volume)))

    def test_init_host_ensures_exports_of_in_use_volumes(self):
        present = self._new_volume()
        self.volume.create_volume(self.context, present)
        present.status = 'in-use'
        present.save()
        gone = self._new_volume(status='in-use')
        self.volume.init_host(service_id=None)
        present.refresh()
        gone.refresh()
        self.assertEqual('in-use', present.status)
        self.assertEqual('error', gone.status, 'its resource does not exist')

    def test_manage_existing_through_the_manager(self):
        name = 'legacy-%s' % uuid.uuid4().hex[:8]
        self.emu.create_resource(name, 1572864)  # 1.5 GiB
        # As volume.api.API.manage_existing records it before casting to the manager.
        volume = self._new_volume(size=0, status='managing')
        self.volume.manage_existing(self.context, volume, {'source-name': name})
        volume.refresh()
        self.assertEqual(('available', 2, name),
                         (volume.status, volume.size, volume.provider_id))
        self.assertEqual(1572864, self.emu.size_kib(name))
        # Managed: the manager deletes it through its provider_id.
        self.volume.delete_volume(self.context, volume)
        self.assertIsNone(self.emu.rd(name))

    def test_generic_migration_keeps_the_volume_found(self):
        """update_migrated_volume + finish_volume_migration as migrate_volume_completion runs
        them: afterwards the volume's name_id and provider_id lead to the migrated copy, and the
        temporary record to the source's resource (which Cinder then deletes)."""
        source = self._new_volume()
        source.provider_id = 'managed-source'
        source.status = 'available'
        source.save()
        target = self._new_volume(status='available')
        self.volume.update_migrated_volume(self.context, source, target,
                                           'available')
        source.refresh()
        target.refresh()
        source.finish_volume_migration(target)
        self.assertEqual((target.id, None), (source.name_id, source.provider_id))
        self.assertEqual(source.id, target.name_id)
        self.assertEqual('managed-source', target.provider_id)
