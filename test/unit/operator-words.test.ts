/**
 * Operators' words, the pure parts: core/errors' translation (one mechanism for every adapter), the
 * nearest known name, and each adapter's words and checks of what the operator wrote.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { ConfigError, PluginError, editDistance, factsOf, inOperatorWords, linstorText, nearestName, withFacts } from '../../core/errors/index.js'
import type { PlatformWords } from '../../core/errors/index.js'
import { LinstorApiError, LinstorUnavailableError, RC } from '../../core/linstor/index.js'
import { unknownAttributeWarnings, oneWords } from '../../plugins/opennebula/settings.js'
import { parseXml } from '../../plugins/opennebula/xml.js'
import { KNOWN_OPTIONS, REFUSED_OPTIONS, cinderSettings, cinderWords, typeSpecOf } from '../../plugins/openstack-cinder/settings.js'
import { KEYS, proxmoxSettings, proxmoxWords, unknownKeyWarnings } from '../../plugins/proxmox/settings.js'
import { datastoreXml } from '../opennebula/one.js'
import { repoRoot } from '../helpers/paths.js'

const words: PlatformWords = { where: (s) => (s === undefined ? 'storage x' : `storage x: key-of-${s}`) }

test('facts attached by the core become one line in the platform\'s words, with the detail on a second; applying twice changes nothing', () => {
  const err = withFacts(new PluginError('PLACEMENT_GROUP_MISSING', 'resource group g (setting resourceGroup) does not exist', { context: { resourceGroup: 'g' } }), {
    setting: 'resourceGroup',
    problem: 'LINSTOR has no resource group of this name',
    fix: 'create it',
    detail: 'LINSTOR:  some\n  text ',
  })
  const out = inOperatorWords(err, words)
  assert.ok(out instanceof PluginError)
  assert.equal(out.code, 'PLACEMENT_GROUP_MISSING')
  assert.equal(out.message, 'storage x: key-of-resourceGroup: LINSTOR has no resource group of this name; create it\nLINSTOR: some text')
  assert.equal(out.cause, err, 'the original stays the cause (debug log)')
  assert.equal(inOperatorWords(out, words), out)
  const plain = new PluginError('RESOURCE_NOT_FOUND', 'volume vm-1-disk-0 does not exist')
  assert.equal(inOperatorWords(plain, words), plain, 'errors about no setting are left as they are')
  const notOurs = new Error('boom')
  assert.equal(inOperatorWords(notOurs, words), notOurs)
})

test('codes that name a setting by themselves: unavailable controllers, refused credentials, an unknown node', () => {
  const down = new LinstorUnavailableError('LINSTOR_UNAVAILABLE', 'GET', '/v1/nodes', [{ controller: 'http://c:3370', reason: 'connection refused', sent: false }])
  assert.equal((inOperatorWords(down, words) as Error).message, 'storage x: key-of-controllers: no LINSTOR controller answered; start the controller or correct the address (each must be reachable from this host)\ntried http://c:3370 (connection refused)')
  const denied = new LinstorApiError('GET', '/v1/nodes', 401, [{ ret_code: RC.FAIL_ACC_DENIED_COMMAND, message: 'Unauthorized', error_report_ids: [], obj_refs: {} }])
  assert.equal(factsOf(denied)?.setting, 'tokenFile')
  const node = new LinstorApiError('POST', '/v1/resource-definitions/r/resources/n9/make-available', 404, [{ ret_code: RC.FAIL_NOT_FOUND_NODE, message: "Node 'n9' not found.", error_report_ids: [], obj_refs: {} }])
  assert.match((inOperatorWords(node, words) as Error).message, /^storage x: key-of-localNode: LINSTOR has no node n9; /)
})

test('a ConfigError naming the core\'s settings (tokenFile, tls.caFile, controllers) is put in the platform\'s words; the adapter\'s own issues stay', () => {
  const err = new ConfigError([
    { setting: 'tokenFile', problem: 'cannot read token file /x (ENOENT)' },
    { setting: 'tls.caFile', problem: 'cannot read /ca (EACCES)' },
    { setting: 'storage x: linstor-place-count', problem: 'must be a whole number from 1 to 16' },
  ])
  const out = inOperatorWords(err, words) as Error
  assert.equal(out.message, 'storage x: key-of-tokenFile: cannot read token file /x (ENOENT); put the controller\'s token in that file (readable by linstor-virt), or unset the setting; storage x: key-of-caFile: cannot read /ca (EACCES); point it at a readable PEM file; storage x: linstor-place-count: must be a whole number from 1 to 16')
  assert.doesNotMatch(out.message, /(^|; )tokenFile:|tls\.|invalid configuration/)
})

test('LINSTOR\'s text is shortened: no request line, no criteria dump', () => {
  assert.equal(linstorText('LINSTOR POST /v1/x failed: Not enough available nodes [FAIL_NOT_ENOUGH_NODES] Details: Not enough nodes\n * a\n * b'), 'Not enough available nodes [FAIL_NOT_ENOUGH_NODES]')
  assert.equal(linstorText('LINSTOR GET /v1/y failed: A [X] Cause: c Details: d Error report: 1-2; B [Y]'), 'A [X] Cause: c Error report: 1-2; B [Y]')
})

test('the nearest known name: slips of the keyboard, not arbitrary words', () => {
  assert.equal(editDistance('GRUOP', 'GROUP'), 1, 'a swap is one edit')
  assert.equal(nearestName('LINSTOR_RESOURCE_GRUOP', ['LINSTOR_RESOURCE_GROUP', 'LINSTOR_PLACE_COUNT']), 'LINSTOR_RESOURCE_GROUP')
  assert.equal(nearestName('linstor-resouce-group', ['linstor-resource-group', 'linstor-controllers']), 'linstor-resource-group')
  assert.equal(nearestName('linstor-storagepool', ['linstor-storage-pools', 'linstor-controllers']), 'linstor-storage-pools')
  assert.equal(nearestName('LINSTOR_FOO', ['LINSTOR_RESOURCE_GROUP', 'LINSTOR_CONTROLLERS']), undefined)
})

test('Proxmox: linstor-node-map and linstor-search-domain name this node in LINSTOR; the map wins', () => {
  const base = { storeid: 'drbd1', node: 'pve1' }
  assert.equal(proxmoxSettings({ ...base, scfg: {} }).node, 'pve1')
  assert.equal(proxmoxSettings({ ...base, scfg: { [KEYS.searchDomain]: 'example.org' } }).node, 'pve1.example.org')
  assert.equal(proxmoxSettings({ ...base, scfg: { [KEYS.searchDomain]: '.example.org' } }).node, 'pve1.example.org')
  const both = proxmoxSettings({ ...base, scfg: { [KEYS.searchDomain]: 'example.org', [KEYS.nodeMap]: 'pve2=other, PVE1=ln-1' } })
  assert.equal(both.node, 'ln-1')
  assert.equal(both.pveNode, 'pve1')
  assert.equal(both.core['localNode'], 'ln-1')
  assert.throws(() => proxmoxSettings({ ...base, scfg: { [KEYS.searchDomain]: 'exa mple' } }), /storage drbd1: linstor-search-domain: 'exa mple' is not a DNS domain/)
})

test('Proxmox: keys nobody reads are warned about with the nearest key; words name storage.cfg keys with their values', () => {
  assert.deepEqual(unknownKeyWarnings('s', { 'linstor-place-count': 2, content: 'images', 'linstor-bogus-option': 1 }, ['linstor-resouce-group', 'apicrt']), [
    'storage s: linstor-resouce-group is not an option of a linstor storage and was dropped from storage.cfg, so it has no effect; did you mean linstor-resource-group?',
    "storage s: apicrt is not an option of a linstor storage and was dropped from storage.cfg, so it has no effect; it is linstor-proxmox's option (type drbd): use linstor-cert",
    'storage s: linstor-bogus-option is not an option linstor-virt knows, so it has no effect; known keys: ' + ['linstor-agent-socket', 'linstor-ca', 'linstor-cert', 'linstor-controller-vms', 'linstor-controllers', 'linstor-exact-size', 'linstor-key', 'linstor-node-map', 'linstor-place-count', 'linstor-prefer-local', 'linstor-replicas-on-different', 'linstor-resource-group', 'linstor-search-domain', 'linstor-status-cache', 'linstor-storage-pools', 'linstor-token'].join(', '),
  ])
  const w = proxmoxWords({ storeid: 's', node: 'pve1', scfg: { [KEYS.resourceGroup]: 'pve-ssd' } })
  assert.equal(w.where('placeCount'), "storage s: linstor-resource-group 'pve-ssd' (its place count)")
  assert.equal(w.where('controllers'), "storage s: linstor-controllers (not set: the agent's LS_CONTROLLERS, /etc/linstor/linstor-client.conf or linstor://localhost)")
  assert.equal(proxmoxWords({ storeid: 's', scfg: 'broken' }).where('resourceGroup'), 'storage s: linstor-resource-group (not set)', 'works on a bad config too')
})

test('OpenNebula: unknown LINSTOR_* attributes are warned about (nearest, or what to use for addon-linstor\'s); words name the attribute', () => {
  const ds = parseXml(datastoreXml(7, { LINSTOR_RESOURCE_GRUOP: 'x', LINSTOR_CLONE_MODE: 'copy', LINSTOR_CONTROLLERS: 'ctrl', LINSTOR_ZZZ: '1', BRIDGE_LIST: 'a' }), 'DATASTORE')
  const warned = unknownAttributeWarnings(ds)
  assert.deepEqual(warned.slice(0, 2), [
    'datastore 7: LINSTOR_CLONE_MODE is not an attribute linstor-virt reads, so it has no effect; not needed: linstor-virt clones inside LINSTOR where the pools allow it and copies the data otherwise',
    'datastore 7: LINSTOR_RESOURCE_GRUOP is not an attribute linstor-virt reads, so it has no effect; did you mean LINSTOR_RESOURCE_GROUP?',
  ])
  assert.match(warned[2] ?? '', /^datastore 7: LINSTOR_ZZZ is not an attribute linstor-virt reads, so it has no effect; known: LINSTOR_CONTROLLERS, /)
  assert.equal(warned.length, 3)
  const w = oneWords(ds)
  assert.equal(w.where('controllers'), 'datastore 7: LINSTOR_CONTROLLERS="ctrl"')
  assert.equal(w.where('placeCount'), 'datastore 7: LINSTOR_PLACE_COUNT (not set: 2)')
  assert.equal(w.where(), 'datastore 7')
})

/** The option names a cinder.conf-era Python file registers (cfg.XxxOpt('name' or cfg.Opt('name'). */
function optionNames(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(/cfg\.[A-Za-z]*Opt\(\s*'([a-z_]+)'/g)].map((m) => m[1] as string)
}

test('Cinder: every option of LINBIT\'s driver and of the in-tree driver is honoured or refused at start-up saying what to use', () => {
  const inTree = '/usr/lib/python3/dist-packages/cinder/volume/drivers/linstordrv.py'
  assert.ok(existsSync(inTree), 'Debian\'s Cinder ships the in-tree LINSTOR driver')
  // LINBIT's driver's options (../shared/reference/cinder.md, 3.2).
  const linbit = ['linstor_uris', 'linstor_client_key', 'linstor_client_cert', 'linstor_trusted_ca', 'linstor_default_storage_pool_name', 'linstor_default_resource_group_name', 'linstor_direct', 'linstor_timeout', 'linstor_force_udev', 'dd_blocksize']
  const all = [...new Set([...optionNames(inTree), ...linbit])].sort()
  assert.ok(all.length >= 14, all.join(' '))
  // Each with the value the other driver's operators write: honoured, or one issue saying what instead.
  const sample: Record<string, string> = {
    linstor_uris: 'linstor://a', linstor_default_uri: 'linstor://a', linstor_client_key: '/k', linstor_client_cert: '/c', linstor_trusted_ca: '/ca',
    linstor_default_storage_pool_name: 'DfltStorPool', linstor_default_resource_group_name: 'DfltRscGrp', linstor_direct: 'False', linstor_timeout: '60',
    linstor_force_udev: 'True', dd_blocksize: '64k', linstor_default_volume_group_name: 'drbd-vg', linstor_volume_downsize_factor: '4096',
    linstor_default_blocksize: '4096', linstor_autoplace_count: '0', linstor_controller_diskless: 'True',
  }
  const honoured = new Set(['linstor_uris', 'linstor_default_uri', 'linstor_client_key', 'linstor_client_cert', 'linstor_trusted_ca', 'linstor_default_storage_pool_name', 'linstor_default_resource_group_name', 'linstor_timeout', 'linstor_force_udev'])
  for (const name of all) {
    const value = sample[name]
    assert.ok(value !== undefined, `a sample value for ${name}`)
    let message: string | undefined
    try {
      cinderSettings({ backend: 'b', options: { [name]: { value, section: 'backend' } } })
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err))
      message = err.issues.map((i) => `${i.setting}: ${i.problem}`).join('; ')
    }
    if (honoured.has(name)) {
      assert.equal(message, undefined, `${name} is honoured`)
      assert.ok(KNOWN_OPTIONS.includes(name), name)
    } else {
      assert.ok(message !== undefined && message.startsWith(`[b] ${name} = ${value}: `), `${name} is refused naming it: ${message ?? 'accepted'}`)
      assert.match(message, /use|set|create|remove|instead/, `${name}: the message says what to do: ${message}`)
    }
  }
  assert.ok(Object.keys(REFUSED_OPTIONS).every((o) => all.includes(o)), 'every refused option belongs to one of the two drivers')
})

test('Cinder: our own registered options are all known; the honoured ones reach the placement with their origin', () => {
  const ours = optionNames(join(repoRoot(), 'plugins/openstack-cinder/python/linstor_virt_cinder/options.py'))
  assert.ok(ours.length >= 11)
  for (const o of ours) assert.ok(KNOWN_OPTIONS.includes(o), `${o} is known to the TypeScript side`)
  const s = cinderSettings({ backend: 'b', options: { linstor_default_storage_pool_name: { value: 'ssd,nvme', section: 'backend_defaults' }, linstor_autoplace_count: { value: '3', section: 'backend' } } })
  const plain = typeSpecOf(null, s)
  assert.deepEqual(plain.policy, { placeCount: 3, storagePools: ['ssd', 'nvme'] })
  assert.equal(cinderWords({ backend: 'b', options: { linstor_default_storage_pool_name: { value: 'ssd,nvme', section: 'backend_defaults' } } }, plain).where('storagePools'), '[backend_defaults] linstor_default_storage_pool_name = ssd,nvme')
  const typed = typeSpecOf({ name: 'gold', extra_specs: { 'linstor:redundancy': '2' } }, s)
  assert.deepEqual(typed.policy, { placeCount: 2, storagePools: ['ssd', 'nvme'] }, 'the type\'s count wins, the backend\'s pools fill in')
  assert.equal(cinderWords({ backend: 'b' }, typed).where('placeCount'), 'volume type "gold": linstor:redundancy "2"')
  const own = typeSpecOf({ name: 'rg', extra_specs: { 'linstor:resource_group': 'mine' } }, s)
  assert.deepEqual(own.policy, { resourceGroup: 'mine' }, 'a type naming its own group gets exactly that group')
})
