/**
 * The placement policy model: parsing (schema and semantic checks, messages naming the platform's
 * settings), canonical key and derived group name, and the mapping onto LINSTOR's AutoSelectFilter.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConfigError } from '../../core/errors/index.js'
import type { ConfigIssue } from '../../core/errors/index.js'
import {
  definitionPropsOf, layerListOf, parsePlacementPolicy, policyGroupName, policyKey, selectFilterOf, spawnOverrides,
} from '../../core/placement/index.js'
import type { ParsePolicyOptions, PlacementPolicy } from '../../core/placement/index.js'

/** The issues of the ConfigError that parsing `input` throws. */
function issuesOf(input: unknown, opts?: ParsePolicyOptions): ConfigIssue[] {
  try {
    parsePlacementPolicy(input, opts)
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`)
    assert.equal(e.code, 'CONFIG_INVALID')
    return [...e.issues]
  }
  assert.fail(`expected ${JSON.stringify(input)} to be refused`)
}

const FULL = {
  placeCount: 3,
  storagePools: ['ssd_pool', 'nvme-pool'],
  disklessStoragePools: ['DfltDisklessStorPool'],
  replicasOnSame: ['Aux/site=berlin'],
  replicasOnDifferent: ['Aux/rack'],
  xReplicasOnDifferent: { 'Aux/rack': 2 },
  doNotPlaceWith: ['vm-100-disk-0'],
  doNotPlaceWithRegex: '^vm-1\\d\\d-',
  layers: ['drbd', 'luks', 'storage'],
  providers: ['LVM_THIN', 'ZFS_THIN'],
  disklessOnRemaining: true,
  preferLocal: true,
  exactSize: true,
  drbdOptions: { 'DrbdOptions/Net/protocol': 'C', 'DrbdOptions/Disk/disk-flushes': 'No' },
}

test('a full policy parses, normalised and deeply frozen', () => {
  const p = parsePlacementPolicy(FULL)
  assert.deepEqual(p, { ...FULL, drbdOptions: { 'DrbdOptions/Net/protocol': 'C', 'DrbdOptions/Disk/disk-flushes': 'no' } })
  assert.ok(Object.isFrozen(p))
  assert.ok(Object.isFrozen(p.storagePools))
  assert.ok(Object.isFrozen(p.drbdOptions))
  assert.throws(() => p.storagePools?.push('x'), TypeError)
  // The input is not the result: later changes to it do not leak in.
  const input = { storagePools: ['pool1'] }
  const q = parsePlacementPolicy(input)
  input.storagePools.push('pool2')
  assert.deepEqual(q.storagePools, ['pool1'])
})

test('defaults: placeCount 2 without resourceGroup, none with it; nulls and empty lists mean "not set"', () => {
  assert.deepEqual(parsePlacementPolicy({}), { placeCount: 2 })
  assert.deepEqual(parsePlacementPolicy({ resourceGroup: 'gold' }), { resourceGroup: 'gold' })
  assert.deepEqual(parsePlacementPolicy({ resourceGroup: 'gold', placeCount: 3 }), { resourceGroup: 'gold', placeCount: 3 })
  assert.deepEqual(parsePlacementPolicy({ storagePools: [], placeCount: null, drbdOptions: {}, layers: null }), { placeCount: 2 })
})

test('layers: storage is appended when missing; drbd with nvme and storage not last are refused', () => {
  assert.deepEqual(parsePlacementPolicy({ layers: ['drbd'] }).layers, ['drbd', 'storage'])
  assert.deepEqual(parsePlacementPolicy({ layers: ['nvme', 'storage'] }).layers, ['nvme', 'storage'])
  assert.deepEqual(issuesOf({ layers: ['drbd', 'nvme'] }), [{ setting: 'layers', problem: 'cannot have both drbd and nvme' }])
  assert.deepEqual(issuesOf({ layers: ['storage', 'drbd'] }), [{ setting: 'layers', problem: 'storage must be the last (lowest) layer' }])
  assert.deepEqual(issuesOf({ layers: [] }), [{ setting: 'layers', problem: 'must list at least 1 entry' }])
})

test('DrbdOptions/ExactSize in drbdOptions is folded into exactSize; a contradiction is refused', () => {
  assert.deepEqual(parsePlacementPolicy({ drbdOptions: { 'DrbdOptions/ExactSize': 'yes' } }), { placeCount: 2, exactSize: true })
  assert.deepEqual(parsePlacementPolicy({ drbdOptions: { 'DrbdOptions/ExactSize': 'False' } }), { placeCount: 2, exactSize: false })
  assert.deepEqual(issuesOf({ exactSize: false, drbdOptions: { 'DrbdOptions/ExactSize': 'true' } }), [
    { setting: 'exactSize', problem: 'contradicts DrbdOptions/ExactSize in drbdOptions' },
  ])
  assert.deepEqual(issuesOf({ drbdOptions: { 'DrbdOptions/ExactSize': 'maybe' } }), [
    { setting: 'drbdOptions', problem: 'DrbdOptions/ExactSize must be true or false' },
  ])
})

test('each bad setting gives an issue naming that setting', () => {
  const cases: Array<[unknown, ConfigIssue]> = [
    [{ resourceGroup: '1abc' }, { setting: 'resourceGroup', problem: "must be a LINSTOR resource group name (2 to 48 characters: letters, digits, '_' and '-', starting with a letter or '_') (got \"1abc\")" }],
    [{ resourceGroup: 'x'.repeat(49) }, { setting: 'resourceGroup', problem: `must be a LINSTOR resource group name (2 to 48 characters: letters, digits, '_' and '-', starting with a letter or '_') (got "${'x'.repeat(49)}")` }],
    // Long values are cut in messages.
    [{ resourceGroup: 'x'.repeat(70) }, { setting: 'resourceGroup', problem: `must be a LINSTOR resource group name (2 to 48 characters: letters, digits, '_' and '-', starting with a letter or '_') (got "${'x'.repeat(56)}...)` }],
    [{ placeCount: 0 }, { setting: 'placeCount', problem: 'must be an integer from 1 to 16 (got 0)' }],
    [{ placeCount: 17 }, { setting: 'placeCount', problem: 'must be an integer from 1 to 16 (got 17)' }],
    [{ placeCount: 2.5 }, { setting: 'placeCount', problem: 'must be an integer from 1 to 16 (got 2.5)' }],
    [{ placeCount: '2' }, { setting: 'placeCount', problem: 'must be an integer from 1 to 16 (got "2")' }],
    [{ storagePools: 'ssd' }, { setting: 'storagePools', problem: 'must be a list (got "ssd")' }],
    [{ storagePools: ['ok_pool', 'ab'] }, { setting: 'storagePools', problem: "entry 2 (\"ab\") must be a storage pool name (3 to 48 characters: letters, digits, '_' and '-', starting with a letter or '_')" }],
    [{ disklessStoragePools: ['has space'] }, { setting: 'disklessStoragePools', problem: "entry 1 (\"has space\") must be a storage pool name (3 to 48 characters: letters, digits, '_' and '-', starting with a letter or '_')" }],
    [{ storagePools: ['pool1', 'pool1'] }, { setting: 'storagePools', problem: 'lists "pool1" more than once' }],
    [{ replicasOnSame: ['Aux/site='] }, { setting: 'replicasOnSame', problem: 'entry 1 ("Aux/site=") must be a node property key such as "Aux/site", optionally with "=value"' }],
    [{ replicasOnDifferent: ['/Aux//x'] }, { setting: 'replicasOnDifferent', problem: 'entry 1 ("/Aux//x") must be a node property key such as "Aux/site", optionally with "=value"' }],
    [{ replicasOnDifferent: ['Aux/rack'], xReplicasOnDifferent: { 'Aux/rack': 0 } }, { setting: 'xReplicasOnDifferent', problem: 'the value of "Aux/rack" must be an integer from 1 to 16 (got 0)' }],
    [{ xReplicasOnDifferent: { 'Aux/rack': 2 } }, { setting: 'xReplicasOnDifferent', problem: '"Aux/rack" is not one of the keys of replicasOnDifferent' }],
    [{ replicasOnSame: ['Aux/site'], replicasOnDifferent: ['Aux/site=x'] }, { setting: 'replicasOnSame', problem: '"Aux/site" cannot be in both replicasOnSame and replicasOnDifferent' }],
    [{ doNotPlaceWith: ['-x'] }, { setting: 'doNotPlaceWith', problem: "entry 1 (\"-x\") must be a resource name (2 to 48 characters: letters, digits, '_' and '-', starting with a letter or '_')" }],
    [{ doNotPlaceWithRegex: '' }, { setting: 'doNotPlaceWithRegex', problem: 'must not be empty' }],
    [{ doNotPlaceWithRegex: 'vm-(1' }, { setting: 'doNotPlaceWithRegex', problem: 'is not a valid regular expression (Invalid regular expression: /vm-(1/i: Unterminated group)' }],
    [{ layers: ['drbd', 'zfs'] }, { setting: 'layers', problem: 'entry 2 ("zfs") must be one of: drbd, luks, nvme, writecache, cache, storage' }],
    [{ providers: ['lvm'] }, { setting: 'providers', problem: 'entry 1 ("lvm") must be one of: LVM, LVM_THIN, ZFS, ZFS_THIN, FILE, FILE_THIN, SPDK, EBS_TARGET, STORAGE_SPACES, STORAGE_SPACES_THIN, REMOTE_SPDK' }],
    [{ disklessOnRemaining: 'yes' }, { setting: 'disklessOnRemaining', problem: 'must be true or false (got "yes")' }],
    [{ preferLocal: 1 }, { setting: 'preferLocal', problem: 'must be true or false (got 1)' }],
    [{ exactSize: 'true' }, { setting: 'exactSize', problem: 'must be true or false (got "true")' }],
    [{ drbdOptions: { 'Net/protocol': 'C' } }, { setting: 'drbdOptions', problem: 'key "Net/protocol" is not allowed: must be a DRBD option key starting with "DrbdOptions/"' }],
    [{ drbdOptions: { 'DrbdOptions/Net/protocol': 3 } }, { setting: 'drbdOptions', problem: 'the value of "DrbdOptions/Net/protocol" must be a non-empty string of at most 4096 characters (got 3)' }],
    [{ drbdOptions: ['DrbdOptions/Net/protocol'] }, { setting: 'drbdOptions', problem: 'must be a map (got ["DrbdOptions/Net/protocol"])' }],
    [{ placecount: 3 }, { setting: 'placecount', problem: 'unknown setting; known settings are resourceGroup, placeCount, storagePools, disklessStoragePools, replicasOnSame, replicasOnDifferent, xReplicasOnDifferent, doNotPlaceWith, doNotPlaceWithRegex, layers, providers, disklessOnRemaining, preferLocal, exactSize, drbdOptions' }],
    ['3 replicas', { setting: 'placement policy', problem: 'must be a map (got "3 replicas")' }],
  ]
  for (const [input, issue] of cases) {
    assert.deepEqual(issuesOf(input), [issue], JSON.stringify(input))
  }
})

test('several problems are reported at once, in the platform\'s words when settingNames maps them', () => {
  const settingNames = { placeCount: 'linstor:redundancy', storagePools: 'linstor:storage_pool', layers: 'linstor:layer_list' }
  const issues = issuesOf({ placeCount: 99, storagePools: ['x'], layers: ['drbd', 'nvme'], doNotPlaceWithRegex: '[' }, { settingNames })
  assert.deepEqual(issues.map((i) => i.setting), ['linstor:redundancy', 'linstor:storage_pool', 'doNotPlaceWithRegex', 'linstor:layer_list'])
  assert.equal(issues[0]?.problem, 'must be an integer from 1 to 16 (got 99)')
  // The error message names every setting.
  try {
    parsePlacementPolicy({ placeCount: 0, exactSize: 'no' }, { settingNames: { placeCount: 'redundancy', exactSize: 'exactsize' }, prefix: 'drbdstorage: ' })
    assert.fail('expected a ConfigError')
  } catch (e) {
    assert.ok(e instanceof ConfigError)
    assert.equal(e.message, 'invalid configuration: drbdstorage: redundancy: must be an integer from 1 to 16 (got 0); drbdstorage: exactsize: must be true or false (got "no")')
  }
  // Unknown settings list the known ones in the platform's words.
  const unknown = issuesOf({ foo: 1 }, { settingNames: { placeCount: 'redundancy' } })
  assert.match(unknown[0]?.problem ?? '', /known settings are resourceGroup, redundancy, storagePools,/)
})

test('policyKey and policyGroupName: stable across key and set order, different for different policies', () => {
  const a = parsePlacementPolicy({ placeCount: 3, storagePools: ['b_pool', 'a_pool'], replicasOnDifferent: ['Aux/rack'], drbdOptions: { 'DrbdOptions/Net/b': '1', 'DrbdOptions/Net/a': '2' } })
  const b = parsePlacementPolicy({ drbdOptions: { 'DrbdOptions/Net/a': '2', 'DrbdOptions/Net/b': '1' }, replicasOnDifferent: ['Aux/rack'], storagePools: ['a_pool', 'b_pool'], placeCount: 3, preferLocal: true })
  assert.equal(policyKey(a), policyKey(b))
  assert.equal(policyGroupName(a), policyGroupName(b))
  assert.equal(
    policyKey(a),
    '{"drbdOptions":{"DrbdOptions/Net/a":"2","DrbdOptions/Net/b":"1"},"placeCount":3,"replicasOnDifferent":["Aux/rack"],"storagePools":["a_pool","b_pool"]}',
  )
  assert.match(policyGroupName(a), /^LinstorVirt-[0-9a-f]{12}$/)
  // Defaults and "false" flags do not make another group.
  assert.equal(policyKey(parsePlacementPolicy({})), policyKey(parsePlacementPolicy({ placeCount: 2, exactSize: false, disklessOnRemaining: false })))
  assert.equal(policyKey({}), policyKey(parsePlacementPolicy({})))
  assert.equal(policyKey({ layers: ['drbd'] }), policyKey({ layers: ['drbd', 'storage'] }))
  // Anything that changes placement or the group's props changes the key and name.
  const variants: PlacementPolicy[] = [
    { placeCount: 3, storagePools: ['a_pool'], replicasOnDifferent: ['Aux/rack'], drbdOptions: { 'DrbdOptions/Net/a': '2', 'DrbdOptions/Net/b': '1' } },
    { placeCount: 2, storagePools: ['a_pool', 'b_pool'], replicasOnDifferent: ['Aux/rack'], drbdOptions: { 'DrbdOptions/Net/a': '2', 'DrbdOptions/Net/b': '1' } },
    { ...a, exactSize: true },
    { ...a, layers: ['drbd', 'storage'] },
    { ...a, resourceGroup: 'gold' },
  ]
  const names = new Set([policyGroupName(a), ...variants.map(policyGroupName)])
  assert.equal(names.size, variants.length + 1)
  // A named group is its own name; explicit false flags count there (they override the group).
  assert.equal(policyGroupName({ resourceGroup: 'gold' }), 'gold')
  assert.notEqual(policyKey({ resourceGroup: 'gold' }), policyKey({ resourceGroup: 'gold', disklessOnRemaining: false }))
})

test('selectFilterOf maps every field onto the AutoSelectFilter; layerListOf is upper case', () => {
  const p = parsePlacementPolicy(FULL)
  assert.deepEqual(selectFilterOf(p), {
    place_count: 3,
    storage_pool_list: ['ssd_pool', 'nvme-pool'],
    storage_pool_diskless_list: ['DfltDisklessStorPool'],
    not_place_with_rsc: ['vm-100-disk-0'],
    not_place_with_rsc_regex: '^vm-1\\d\\d-',
    replicas_on_same: ['Aux/site=berlin'],
    replicas_on_different: ['Aux/rack'],
    x_replicas_on_different_map: { 'Aux/rack': 2 },
    layer_stack: ['DRBD', 'LUKS', 'STORAGE'],
    provider_list: ['LVM_THIN', 'ZFS_THIN'],
    diskless_on_remaining: true,
  })
  assert.deepEqual(layerListOf(p), ['DRBD', 'LUKS', 'STORAGE'])
  assert.equal(layerListOf(parsePlacementPolicy({})), undefined)
  assert.deepEqual(selectFilterOf(parsePlacementPolicy({})), { place_count: 2 })
  assert.deepEqual(selectFilterOf({ resourceGroup: 'gold' }), {})
})

test('spawnOverrides: only for a named group with other fields; definitionPropsOf carries what the group cannot', () => {
  assert.equal(spawnOverrides(parsePlacementPolicy({ placeCount: 3 })), undefined)
  assert.equal(spawnOverrides(parsePlacementPolicy({ resourceGroup: 'gold', preferLocal: true })), undefined)
  assert.deepEqual(spawnOverrides(parsePlacementPolicy({ resourceGroup: 'gold', placeCount: 3, storagePools: ['fast_pool'] })), {
    place_count: 3,
    storage_pool_list: ['fast_pool'],
  })
  assert.deepEqual(spawnOverrides(parsePlacementPolicy({ resourceGroup: 'gold', disklessOnRemaining: false })), { diskless_on_remaining: false })
  assert.deepEqual(definitionPropsOf(parsePlacementPolicy({ exactSize: true })), {})
  assert.deepEqual(definitionPropsOf(parsePlacementPolicy({ resourceGroup: 'gold', exactSize: true, drbdOptions: { 'DrbdOptions/Net/protocol': 'C' } })), {
    'DrbdOptions/ExactSize': 'True',
    'DrbdOptions/Net/protocol': 'C',
  })
})
