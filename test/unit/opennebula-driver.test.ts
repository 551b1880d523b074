/**
 * The OpenNebula adapter's pure parts: the XML reader on documents shaped like oned's, names and
 * locations, datastore attributes, the three DS argument forms, and the declared action lists.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConfigError } from '../../core/errors/index.js'
import { ONE_DS_ACTIONS, ONE_TM_ACTIONS } from '../../plugins/opennebula/index.js'
import { disksOf, currentHost } from '../../plugins/opennebula/disks.js'
import { DS_ACTIONS } from '../../plugins/opennebula/ds.js'
import { checkResourceName, diskResource, parseLocation, parseSystemPath, volatileResource } from '../../plugins/opennebula/names.js'
import { oneSettings } from '../../plugins/opennebula/settings.js'
import { TM_ACTIONS } from '../../plugins/opennebula/tm.js'
import { parseBase64Xml, parseXml } from '../../plugins/opennebula/xml.js'
import { datastoreXml, vmXml } from '../opennebula/one.js'

test('the declared action names are exactly the implemented ones', () => {
  assert.deepEqual([...ONE_TM_ACTIONS].sort(), Object.keys(TM_ACTIONS).sort())
  assert.deepEqual([...ONE_DS_ACTIONS].sort(), Object.keys(DS_ACTIONS).sort())
})

test('XML: single elements stay lists, values stay strings, CDATA and entities read as text, empty forms are ""', () => {
  const doc = parseXml('<?xml version="1.0"?><R><ID>007</ID><A><![CDATA[x & <y>]]></A><B>a &amp; b</B><E/><F></F><G><![CDATA[]]></G><L><I>1</I></L><L><I>2</I></L></R>', 'R')
  assert.equal(doc.get('ID'), '007')
  assert.equal(doc.get('A'), 'x & <y>')
  assert.equal(doc.get('B'), 'a & b')
  for (const e of ['E', 'F', 'G']) assert.equal(doc.get(e), '')
  assert.equal(doc.value('E'), undefined)
  assert.deepEqual(doc.all('L/I').map((x) => x.text), ['1', '2'])
  assert.equal(doc.all('ID').length, 1)
  assert.throws(() => parseXml('<R><A></R>'), { code: 'ONE_DOCUMENT_INVALID' })
  assert.throws(() => parseXml('<R/>', 'VM'), /expected a <VM> document/)
  assert.throws(() => parseBase64Xml('not base64 !'), { code: 'ONE_DOCUMENT_INVALID' })
  assert.equal(parseBase64Xml(Buffer.from('<VM><ID>4</ID></VM>').toString('base64') + '\n', 'VM').get('ID'), '4')
})

test('names and locations as addon-linstor has them', () => {
  assert.deepEqual(parseLocation('one-fe:OpenNebula-Image-7'), { host: 'one-fe', path: 'OpenNebula-Image-7' })
  assert.deepEqual(parseLocation('OpenNebula-Image-7'), { host: undefined, path: 'OpenNebula-Image-7' })
  assert.deepEqual(parseSystemPath('/var/lib/one//datastores/0/42/disk.1'), { dir: '/var/lib/one/datastores/0/42', diskId: 1, vmid: '42', dsId: '0' })
  assert.deepEqual(parseSystemPath('/var/lib/one//datastores/0/42'), { dir: '/var/lib/one/datastores/0/42', vmid: '42', dsId: '0' })
  assert.throws(() => parseSystemPath('relative/0/42'), { code: 'ONE_DOCUMENT_INVALID' })
  assert.throws(() => parseSystemPath('/x/y/disk.1'), { code: 'ONE_DOCUMENT_INVALID' })
  assert.equal(diskResource('OpenNebula-Image-7', 42, 0), 'OpenNebula-Image-7-vm42-disk0')
  assert.equal(volatileResource(42, 3), 'OpenNebula-Volatile-vm42-disk3')
  assert.throws(() => checkResourceName('a;rm -rf /', 'SOURCE'), /not a LINSTOR resource name/)
})

test('disks of a VM: clone, persistent, CDROM and volatile map to their resources', () => {
  const vm = parseXml(
    vmXml(42, [
      { id: 0, image: 7, clone: true, sizeMiB: 20, dsId: 101 },
      { id: 1, image: 9, persistent: true, sizeMiB: 10, dsId: 101 },
      { id: 2, image: 3, cdrom: true, sizeMiB: 1, dsId: 101 },
      { id: 3, volatile: 'fs', fs: 'ext4', sizeMiB: 5, dsId: 102 },
    ], ['node1', 'node2']),
    'VM',
  )
  const d = disksOf(vm)
  assert.deepEqual(d.map((x) => [x.id, x.resource, x.private]), [
    [0, 'OpenNebula-Image-7-vm42-disk0', true],
    [1, 'OpenNebula-Image-9', false],
    [2, 'OpenNebula-Image-3', false],
    [3, 'OpenNebula-Volatile-vm42-disk3', true],
  ])
  assert.equal(d[3]?.fs, 'ext4')
  assert.equal(currentHost(vm), 'node2')
})

test('datastore attributes: addon-linstor names, old names, placement and TLS, problems named by attribute', () => {
  const ds = (attrs: Record<string, string>) => parseXml(datastoreXml(101, attrs), 'DATASTORE')
  const rg = oneSettings(ds({ LINSTOR_CONTROLLERS: '10.0.0.10:3370,10.0.0.11:3370', LINSTOR_RESOURCE_GROUP: 'OneRscGrp', LINSTOR_AUTO_PLACE: '3' }))
  assert.deepEqual(rg.policy, { resourceGroup: 'OneRscGrp' })
  assert.equal(rg.core['controllers'], '10.0.0.10:3370,10.0.0.11:3370')
  assert.deepEqual(rg.warnings, ['datastore 101: LINSTOR_AUTO_PLACE has no effect: resource group OneRscGrp (LINSTOR_RESOURCE_GROUP) places the volumes; remove it'])
  const old = oneSettings(ds({ LINSTOR_AUTO_PLACE: '3', LINSTOR_STORAGE_POOL: 'ssd' }))
  assert.equal(old.policy.placeCount, 3)
  assert.deepEqual(old.policy.storagePools, ['ssd'])
  const full = oneSettings(ds({ LINSTOR_PLACE_COUNT: '2', LINSTOR_REPLICAS_ON_DIFFERENT: 'Aux/site', LINSTOR_CA_FILE: '/etc/ca.pem', LINSTOR_TOKEN_FILE: '/etc/one/linstor-token', LINSTOR_CONTROLLER_VMS: '5 6', SAFE_DIRS: '/var/tmp /srv', NO_DECOMPRESS: 'yes' }))
  assert.deepEqual(full.policy.replicasOnDifferent, ['Aux/site'])
  assert.equal(full.core['caFile'], '/etc/ca.pem')
  assert.equal(full.core['tokenFile'], '/etc/one/linstor-token')
  assert.deepEqual([...full.controllerVms], [5, 6])
  assert.deepEqual(full.safeDirs, ['/var/tmp', '/srv'])
  assert.equal(full.noDecompress, true)
  assert.equal(oneSettings(ds({})).core['controllers'], 'linstor://localhost')
  const err = (() => {
    try {
      oneSettings(ds({ LINSTOR_PLACE_COUNT: 'two', LINSTOR_CERT_FILE: '/c.pem', LINSTOR_CONTROLLER_VMS: 'x', LINSTOR_DISKLESS_ON_REMAINING: 'maybe' }))
    } catch (e) {
      return e
    }
    return undefined
  })()
  assert.ok(err instanceof ConfigError)
  const settings = err.issues.map((i) => i.setting)
  for (const a of ['LINSTOR_PLACE_COUNT', 'LINSTOR_KEY_FILE', 'LINSTOR_CONTROLLER_VMS', 'LINSTOR_DISKLESS_ON_REMAINING']) assert.ok(settings.some((s) => s.endsWith(a)), `${a} named in ${settings.join(', ')}`)
  assert.throws(() => oneSettings(ds({ LINSTOR_RESOURCE_GROUP: 'g', LINSTOR_PLACE_COUNT: '2' })), /places volumes by itself/)
})
