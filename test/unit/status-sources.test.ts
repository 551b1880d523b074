/**
 * What `linstor-virt status` reads from a host, as the platforms themselves read it: storage.cfg by
 * PVE's SectionConfig rules, cinder.conf's backend sections as oslo.config sees them, OpenNebula's
 * datastore documents; and the table renderer the sandbox and status share.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { cinderBackends, parseStorageCfg } from '../../cli/status/sources.js'
import { renderTable } from '../../cli/table.js'
import { describeCinderBackend } from '../../plugins/openstack-cinder/index.js'
import { describeOpenNebulaDatastores } from '../../plugins/opennebula/index.js'
import { describeProxmoxStorage } from '../../plugins/proxmox/index.js'

test('storage.cfg: headers in column 0, indented keys, comments anywhere, a blank line ends a section, first of a duplicate key wins, bad ids skipped', () => {
  const text = [
    'dir: local',
    '\tpath /var/lib/vz',
    '',
    'linstor: drbd-a',
    '\tcontent images,rootdir',
    '# a comment inside the section does not end it',
    '\tlinstor-controllers   linstor://a , linstor://b  ',
    '\tlinstor-place-count 2',
    '\tlinstor-place-count 3',
    '\tdisable',
    'linstor: swallowed',
    '\tlinstor-prefer-local 0',
    '',
    ' linstor: indented',
    '',
    'LINSTOR:drbd-b\r',
    '\tlinstor-resource-group pve',
    '',
    'linstor: x',
    '\tlinstor-place-count 2',
  ].join('\n')
  const { sections, problems } = parseStorageCfg(text)
  assert.deepEqual(sections.map((s) => [s.type, s.id, s.keys]), [
    ['dir', 'local', { path: '/var/lib/vz' }],
    // The header without a blank line before it is a bad property line: its keys merge into drbd-a.
    ['linstor', 'drbd-a', { content: 'images,rootdir', 'linstor-controllers': 'linstor://a , linstor://b', 'linstor-place-count': '2', disable: '1', 'linstor-prefer-local': '0' }],
    ['linstor', 'drbd-b', { 'linstor-resource-group': 'pve' }],
  ])
  assert.deepEqual(problems, ["line 19: 'x' is not a storage id; section skipped"])
})

test('a storage.cfg section becomes a described storage: its group, its controllers, which resources are its volumes and their volids', async () => {
  const s = await describeProxmoxStorage({ storeid: 'drbd-a', node: 'n1', scfg: { 'linstor-controllers': 'linstor://a,linstor://b', 'linstor-resource-group': 'pve' }, tokenFile: '/etc/pve/priv/storage/drbd-a.linstor-token' })
  assert.deepEqual([s.resourceGroup, s.connection], ['pve', { controllers: 'linstor://a,linstor://b', tokenFile: '/etc/pve/priv/storage/drbd-a.linstor-token' }])
  const ref = (name: string, props: Record<string, string> = {}, resourceGroup = 'PVE') => ({ name, props, resourceGroup })
  assert.deepEqual(s.volumeOf(ref('vm-100-disk-0')), { name: 'drbd-a:vm-100-disk-0', vm: '100' })
  assert.deepEqual(s.volumeOf(ref('pm-12ab34cd', { 'Aux/pm/vmid': '7' })), { name: 'drbd-a:pm-12ab34cd_7', vm: '7' })
  assert.equal(s.volumeOf(ref('vm-100-disk-0', {}, 'other')), undefined, 'another group: another storage')
  assert.equal(s.volumeOf(ref('OpenNebula-Image-1')), undefined, 'not a Proxmox name')
  await assert.rejects(describeProxmoxStorage({ storeid: 'bad', node: 'n1', scfg: { 'linstor-place-count': 'many' } }), /storage bad: linstor-place-count/)
})

test('cinder.conf: our driver\'s backend sections only, enabled_backends first, [backend_defaults] under each, the deprecated linstor_default_uri', async () => {
  const text = [
    '[DEFAULT]',
    'enabled_backends = drbd-1, drbd-2, lvm',
    '[backend_defaults]',
    'linstor_virt_token_file = /etc/cinder/linstor.token',
    '[drbd-1]',
    'volume_driver = linstor_virt_cinder.driver.LinstorVirtDriver',
    'linstor_uris = linstor://a, linstor://b',
    'volume_backend_name = fast',
    '[drbd-2]',
    'volume_driver = linstor_virt_cinder.driver.LinstorVirtDriver',
    'linstor_default_uri = linstor://c',
    'linstor_default_resource_group_name = cinder-rg',
    '[lvm]',
    'volume_driver = cinder.volume.drivers.lvm.LVMVolumeDriver',
    '[drbd-disabled]',
    'volume_driver = linstor_virt_cinder.driver.LinstorVirtDriver',
  ].join('\n')
  const { backends, problems } = cinderBackends(text)
  assert.deepEqual(backends, [
    { backend: 'drbd-1', volumeBackendName: 'fast', controllers: ['linstor://a', 'linstor://b'], tokenFile: '/etc/cinder/linstor.token' },
    { backend: 'drbd-2', controllers: ['linstor://c'], tokenFile: '/etc/cinder/linstor.token', defaultResourceGroup: 'cinder-rg' },
  ])
  assert.deepEqual(problems, [])
  assert.deepEqual(cinderBackends('[DEFAULT]\nenabled_backends = gone\n').problems, ['enabled_backends names [gone], which cinder.conf does not have'])
  const b = await describeCinderBackend(backends[0] ?? {})
  const uuid = '6a0e8b1c-1111-4222-8333-0123456789ab'
  assert.deepEqual(b.volumeOf({ name: 'anything', props: { 'Aux/cinder/volume-id': uuid } }), { name: `volume ${uuid}` })
  assert.deepEqual(b.volumeOf({ name: `volume-${uuid.toUpperCase()}`, props: {} }), { name: `volume ${uuid}`, note: 'by name' })
  assert.equal(b.volumeOf({ name: 'vm-100-disk-0', props: {} }), undefined)
})

test('OpenNebula: linstor datastores of a pool document, each with its own volumes (DS_ID, or addon-linstor\'s names in its group)', async () => {
  const ds = (id: number, tm: string, extra = ''): string => `<DATASTORE><ID>${id}</ID><NAME>ds${id}</NAME><TYPE>0</TYPE><DS_MAD>${tm === 'linstor' ? 'linstor' : 'fs'}</DS_MAD><TM_MAD>${tm}</TM_MAD><TEMPLATE><LINSTOR_CONTROLLERS>linstor://a</LINSTOR_CONTROLLERS>${extra}</TEMPLATE></DATASTORE>`
  const d = await describeOpenNebulaDatastores(`<DATASTORE_POOL>${ds(100, 'linstor', '<LINSTOR_RESOURCE_GROUP>one</LINSTOR_RESOURCE_GROUP>')}${ds(1, 'ssh')}${ds(101, 'linstor', '<LINSTOR_PLACE_COUNT>many</LINSTOR_PLACE_COUNT>')}</DATASTORE_POOL>`)
  assert.deepEqual(d.datastores.map((x) => [x.id, x.label, x.resourceGroup]), [['100', 'opennebula datastore 100 (ds100)', 'one']])
  assert.equal(d.problems.length, 1)
  assert.match(d.problems[0] ?? '', /datastore 101: LINSTOR_PLACE_COUNT: must be a whole number from 1 to 16, got 'many'/)
  const one = d.datastores[0]
  assert.ok(one !== undefined)
  assert.deepEqual(one.volumeOf({ name: 'OpenNebula-Image-3', props: { 'Aux/one/DS_ID': '100' } }), { name: 'image 3' })
  assert.equal(one.volumeOf({ name: 'OpenNebula-Image-4', props: { 'Aux/one/DS_ID': '102' } }), undefined, 'another datastore\'s')
  assert.deepEqual(one.volumeOf({ name: 'OpenNebula-Image-5', props: {}, resourceGroup: 'one' }), { name: 'image 5' }, 'addon-linstor wrote no DS_ID')
  assert.equal(one.volumeOf({ name: 'OpenNebula-Image-5', props: {}, resourceGroup: 'other' }), undefined)
  assert.deepEqual(one.volumeOf({ name: 'OpenNebula-Volatile-vm9-disk2', props: { 'Aux/one/DS_ID': '100' } }), { name: 'VM 9 disk 2', vm: '9', note: 'volatile' })
})

test('tables: columns as wide as their widest cell or minimum, the last one unpadded, no trailing blanks', () => {
  assert.deepEqual(renderTable([{ header: 'node', minWidth: 8 }, { header: 'replica' }, { header: 'role' }], [['alpha', 'diskful', ''], ['charlie', 'diskless client', 'Primary']]), [
    '  node     replica         role',
    '  alpha    diskful',
    '  charlie  diskless client Primary',
  ])
})
