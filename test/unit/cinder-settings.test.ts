/**
 * The Cinder adapter's pure parts: backend options → settings, volume-type extra specs → placement,
 * Cinder objects → LINSTOR names, and the declared operation names.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isPluginError } from '../../core/errors/index.js'
import { CINDER_OPERATIONS } from '../../plugins/openstack-cinder/index.js'
import { connectorHost, snapshotArg, snapshotCandidates, volumeArg, volumeCandidates } from '../../plugins/openstack-cinder/objects.js'
import { cinderOperations } from '../../plugins/openstack-cinder/operations.js'
import { cinderSettings, typeSpecOf } from '../../plugins/openstack-cinder/settings.js'

const ID = '6c3d5e1a-0f5b-4a55-9a3c-2f0e7c1d9b01'
const OTHER = '0b5a0f7e-1111-4a55-9a3c-2f0e7c1d9b02'

function codeOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn()
  } catch (err) {
    assert.ok(isPluginError(err), `expected a coded error, got ${String(err)}`)
    return { code: err.code, message: err.message }
  }
  assert.fail('expected an error')
}

test('declared cinder operations equal the implemented ones', () => {
  assert.deepEqual([...CINDER_OPERATIONS].sort(), Object.keys(cinderOperations()).sort())
})

test('backend options become the core settings; the node map applies to the Cinder host and connectors', () => {
  const s = cinderSettings({
    backend: 'lv-1',
    controllers: ['linstor://b', 'linstor://a'],
    caFile: '/etc/linstor/ca.pem',
    certFile: '/etc/linstor/c.pem',
    keyFile: '/etc/linstor/k.pem',
    nodeMap: { 'compute-1.example.org': 'compute1', 'CINDER-CTL': 'alpha' },
    cinderHost: 'cinder-ctl',
    controllerVolumes: 'ctrl-disk-0, ctrl-disk-1',
    reservedPercentage: 5,
    maxOverSubscriptionRatio: 'auto',
    deviceRoot: '/tmp/emu/{node}',
  })
  assert.deepEqual(s.controllers, ['linstor://a', 'linstor://b'])
  assert.equal(s.cinderNode, 'alpha')
  assert.equal(s.nodeOf('Compute-1.example.org'), 'compute1')
  assert.equal(s.nodeOf('bravo'), 'bravo', 'an unmapped host is its own node name, as in both LINBIT drivers')
  assert.equal(s.volumeBackendName, 'lv-1')
  assert.equal(s.maxOverSubscriptionRatio, 'auto')
  assert.equal(s.devicePath('bravo', 'CV_x'), '/tmp/emu/bravo/dev/drbd/by-res/CV_x/0')
  assert.deepEqual(s.core, {
    localNode: 'alpha',
    controllers: ['linstor://a', 'linstor://b'],
    caFile: '/etc/linstor/ca.pem',
    certFile: '/etc/linstor/c.pem',
    keyFile: '/etc/linstor/k.pem',
    controllerVolumes: ['ctrl-disk-0', 'ctrl-disk-1'],
    deviceRoot: '/tmp/emu/alpha',
    capacityMaxAgeMs: 30_000,
  })
  assert.equal(cinderSettings({ backend: 'x' }).devicePath('n', 'r', 0), '/dev/drbd/by-res/r/0', 'no device root in production')
})

test('bad backend options are named with their cinder.conf section and option', () => {
  const e = codeOf(() => cinderSettings({ backend: 'lv-1', controllers: ['ftp://x'], certFile: '/c.pem', reservedPercentage: 120, maxOverSubscriptionRatio: '0.5', defaultResourceGroup: '9bad', nodeMap: { h: 'no spaces allowed' } }))
  assert.equal(e.code, 'CONFIG_INVALID')
  for (const want of ['[lv-1] linstor_uris', '[lv-1] linstor_client_key', '[lv-1] reserved_percentage', '[lv-1] max_over_subscription_ratio', '[lv-1] linstor_default_resource_group_name', '[lv-1] linstor_virt_node_map']) {
    assert.ok(e.message.includes(want), `${want} in: ${e.message}`)
  }
})

test('LINBIT extra specs become a placement policy and definition properties', () => {
  const spec = typeSpecOf(
    {
      name: 'gold',
      extra_specs: {
        volume_backend_name: 'lv-1',
        'capabilities:thin_provisioning_support': '<is> True',
        'linstor:redundancy': '3',
        'linstor:storage_pool': 'ssd, nvme',
        'linstor:diskless_on_remaining': '<is> True',
        'linstor:do_not_place_with_regex': '^CV_db',
        'linstor:layer_list': 'DRBD,storage',
        'linstor:provider_list': 'lvm_thin,zfs_thin',
        'linstor:replicas_on_same': 'site',
        'linstor:replicas_on_different': 'Aux/rack,room',
        'linstor:property:DrbdOptions:auto-quorum': 'suspend-io',
        'linstor:property:DrbdOptions:Net:protocol': 'C',
        'linstor:property:Aux:owner': 'team-a',
      },
    },
    {},
  )
  assert.deepEqual(spec.policy, {
    placeCount: 3,
    storagePools: ['ssd', 'nvme'],
    replicasOnSame: ['Aux/site'],
    replicasOnDifferent: ['Aux/rack', 'Aux/room'],
    doNotPlaceWithRegex: '^CV_db',
    layers: ['drbd', 'storage'],
    providers: ['LVM_THIN', 'ZFS_THIN'],
    disklessOnRemaining: true,
    drbdOptions: { 'DrbdOptions/auto-quorum': 'suspend-io', 'DrbdOptions/Net/protocol': 'C' },
  })
  assert.deepEqual(spec.props, { 'Aux/owner': 'team-a' })
})

test('no type: the default resource group, else linstor-virt\'s own two-replica group; a type\'s group wins', () => {
  assert.deepEqual(typeSpecOf(null, {}).policy, { placeCount: 2 })
  assert.deepEqual(typeSpecOf(null, { defaultResourceGroup: 'DfltRscGrp' }).policy, { resourceGroup: 'DfltRscGrp' })
  assert.deepEqual(typeSpecOf({ name: 't', extra_specs: { 'linstor:resource_group': 'fast', 'linstor:redundancy': '3' } }, { defaultResourceGroup: 'DfltRscGrp' }).policy, { resourceGroup: 'fast', placeCount: 3 })
})

test('bad or unknown linstor: extra specs fail with every key named', () => {
  const e = codeOf(() =>
    typeSpecOf({ name: 'broken', extra_specs: { 'linstor:redundancy': 'zero', 'linstor:diskless_on_remaining': 'maybe', 'linstor:do_not_place_with_regex': '([', 'linstor:layer_list': 'drbd,nvme', 'linstor:replicas': '2', 'linstor:property:Aux:cinder:volume-id': 'x', 'linstor:property:bad key': 'x' } }, {}),
  )
  assert.equal(e.code, 'VOLUME_TYPE_INVALID')
  assert.match(e.message, /^volume type "broken": /)
  for (const key of ['linstor:redundancy', 'linstor:diskless_on_remaining', 'linstor:do_not_place_with_regex', 'linstor:layer_list', 'linstor:replicas ', 'linstor:property:Aux:cinder:volume-id', 'linstor:property:bad key']) {
    assert.ok(e.message.includes(key), `${key} in: ${e.message}`)
  }
})

test('volumes and snapshots are found under the in-tree, ours and LINBIT v2 names, adopted names first', () => {
  const v = volumeArg({ id: ID, name_id: OTHER, size: 1, provider_id: null })
  assert.deepEqual(volumeCandidates(v), [`CV_${OTHER}`, `volume-${OTHER}`, `CV_${ID}`])
  assert.deepEqual(volumeCandidates(volumeArg({ id: ID, size: 1, provider_id: 'legacy_disk' })), ['legacy_disk', `CV_${ID}`, `volume-${ID}`])
  const s = snapshotArg({ id: OTHER, volume_size: 1, volume: { id: ID, size: 1 } })
  assert.deepEqual(snapshotCandidates(s), [`SN_${OTHER}`, `snapshot-${OTHER}`])
  assert.equal(volumeArg({ id: ID, size: 0 }).size, 0, 'a volume being managed has size 0 until its size is known')
  assert.equal(connectorHost(null, false), undefined)
  assert.equal(codeOf(() => connectorHost({ ip: '10.0.0.1' }, true)).code, 'CALL_INVALID')
})

test('objects that could smuggle a name or a size are refused', () => {
  for (const bad of [
    { id: '../../etc', size: 1 },
    { id: ID, size: -1 },
    { id: ID, size: 1.5 },
    { id: ID, size: 1, provider_id: 'x; rm -rf /' },
    { id: ID, size: 1, name_id: 'a b' },
    { id: ID, size: 1, attachments: 'all' },
  ]) {
    assert.equal(codeOf(() => volumeArg(bad)).code, 'CALL_INVALID', JSON.stringify(bad))
  }
})
