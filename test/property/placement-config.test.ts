/**
 * The settings every platform shares, over arbitrary input: the placement policy (each adapter
 * fills it from storage.cfg keys, datastore attributes or extra specs), controller addresses, and
 * the core's own call config (storageOf). Each either yields a valid, normalised value or throws
 * CONFIG_INVALID naming the bad setting in the platform's own words; normalising is idempotent and
 * does not depend on key or list order; valid controller addresses read back to themselves.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import fc from 'fast-check'
import { configIssues } from '../../core/config/index.js'
import { ConfigError } from '../../core/errors/index.js'
import { parseControllerList, parseControllerUrl } from '../../core/linstor/controllers.js'
import { silentLogger } from '../../core/log/index.js'
import { parsePlacementPolicy, policyGroupName, policyKey, selectFilterOf } from '../../core/placement/index.js'
import type { PlacementPolicy } from '../../core/placement/index.js'
import { ServiceRegistry } from '../../core/protocol/index.js'
import type { CallContext } from '../../core/protocol/index.js'
import { storageOf } from '../../core/protocol/storage-of.js'
import { isLinstorName } from '../../core/volumes/index.js'
import { ATTR } from '../../plugins/opennebula/settings.js'
import { SPEC } from '../../plugins/openstack-cinder/settings.js'
import { KEYS } from '../../plugins/proxmox/settings.js'
import { LETTERS, anyString, anyValue, assertProjectError, linstorName, looseRecord, nonString, outcome, runs, show, stringOf } from './arbitraries.js'

const POLICY_FIELDS = [
  'resourceGroup', 'placeCount', 'storagePools', 'disklessStoragePools', 'replicasOnSame', 'replicasOnDifferent', 'xReplicasOnDifferent',
  'doNotPlaceWith', 'doNotPlaceWithRegex', 'layers', 'providers', 'disklessOnRemaining', 'preferLocal', 'exactSize', 'drbdOptions',
] as const
type Field = (typeof POLICY_FIELDS)[number]

/** How the three adapters name the policy's fields (and no mapping at all, as platform "core" does). */
const NAMINGS: readonly { names: Partial<Record<Field, string>>; prefix: string }[] = [
  { names: {}, prefix: '' },
  { names: SPEC, prefix: '' },
  { names: { resourceGroup: ATTR.resourceGroup, placeCount: ATTR.placeCount, storagePools: ATTR.storagePools, layers: ATTR.layers, providers: ATTR.providers, exactSize: ATTR.exactSize }, prefix: 'datastore 100 ' },
  { names: { resourceGroup: KEYS.resourceGroup, placeCount: KEYS.placeCount, storagePools: KEYS.storagePools, preferLocal: KEYS.preferLocal }, prefix: 'storage drbd: ' },
]

const pool = stringOf(LETTERS, 3, 12)
const opt = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined })

/** Policies the schema and the extra checks accept. */
const validPolicy: fc.Arbitrary<Record<string, unknown>> = fc
  .record(
    {
      resourceGroup: opt(linstorName),
      placeCount: opt(fc.integer({ min: 1, max: 16 })),
      storagePools: opt(fc.uniqueArray(pool, { maxLength: 3 })),
      disklessStoragePools: opt(fc.uniqueArray(pool, { maxLength: 2 })),
      replicasOnSame: opt(fc.uniqueArray(fc.constantFrom('Aux/room', 'Aux/zone=eu 1'), { maxLength: 1 })),
      replicasOnDifferent: opt(fc.uniqueArray(fc.constantFrom('Aux/site', 'Aux/rack', 'Aux/psu=a'), { maxLength: 3 })),
      doNotPlaceWith: opt(fc.uniqueArray(linstorName, { maxLength: 2 })),
      doNotPlaceWithRegex: opt(fc.constantFrom('^vm-1', 'db.*', '[a-z]+[0-9]?')),
      layers: opt(fc.constantFrom(['drbd', 'storage'], ['drbd'], ['luks', 'storage'], ['nvme'], ['drbd', 'cache', 'storage'], ['writecache', 'storage'])),
      providers: opt(fc.uniqueArray(fc.constantFrom('LVM', 'LVM_THIN', 'ZFS', 'ZFS_THIN', 'FILE'), { maxLength: 3 })),
      disklessOnRemaining: opt(fc.boolean()),
      preferLocal: opt(fc.boolean()),
      exactSize: opt(fc.boolean()),
      drbdOptions: opt(fc.dictionary(fc.constantFrom('DrbdOptions/Net/protocol', 'DrbdOptions/Resource/quorum', 'DrbdOptions/Disk/on-io-error'), fc.constantFrom('yes', 'No', 'C', 'majority', 'detach'), { maxKeys: 3 })),
    },
    { requiredKeys: [] },
  )
  .chain((p) => {
    // x replicas per key of replicasOnDifferent (only those keys are allowed).
    const keys = (p.replicasOnDifferent ?? []).map((s) => s.split('=')[0] as string)
    if (keys.length === 0 || p.resourceGroup !== undefined) return fc.constant<Record<string, unknown>>(p)
    return fc.option(fc.dictionary(fc.constantFrom(...keys), fc.integer({ min: 1, max: 16 }), { minKeys: 1 }), { nil: undefined }).map((x) => (x === undefined ? p : { ...p, xReplicasOnDifferent: x }))
  })
  .map((p) => Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)))
  // Without DRBD nothing replicates: one replica, and no diskless clients for storage-only stacks.
  .map((p) => {
    const layers = p['layers'] as string[] | undefined
    if (layers === undefined || layers.includes('drbd')) return p
    const out = { ...p }
    if (out['placeCount'] !== undefined) out['placeCount'] = 1
    if (!layers.includes('nvme')) delete out['disklessOnRemaining']
    return out
  })

/** For each field, values that are wrong for it (wrong type, out of range, or breaking a rule). */
const BAD: Record<Field, fc.Arbitrary<unknown>> = {
  resourceGroup: fc.oneof(nonString, fc.constantFrom('', '1abc', 'a', 'x y', '__', '-ab', 'A'.repeat(49), 'grp!', 'ä-group')),
  placeCount: fc.oneof(fc.integer({ min: 17 }), fc.integer({ max: 0 }), fc.constantFrom(1.5, NaN, Infinity, -Infinity, '2', 'two', true, [2], { n: 2 }, 2 ** 53)),
  storagePools: fc.constantFrom('ssd-pool', 5, true, {}, [1], ['ab'], ['x y z'], ['pool', 'pool'], ['1abc'], [null]),
  disklessStoragePools: fc.constantFrom('ssd-pool', 0, false, { a: 'b' }, ['ab'], ['dup', 'dup'], ['DfltDisklessStorPool', 7]),
  replicasOnSame: fc.constantFrom('Aux/x', 3, ['/x'], ['a//b'], ['a='], [''], [5], ['Aux/x', 'Aux/x'], ['x'.repeat(513)]),
  replicasOnDifferent: fc.constantFrom('Aux/x', 3, ['/x'], ['a//b'], ['a= b'], [''], [true], ['k', 'k']),
  xReplicasOnDifferent: fc.constantFrom({ 'Aux/rack': 2 }, { 'Aux/site': 0 }, { 'Aux/site': 17 }, { 'Aux/site': 'two' }, { 'Aux/site': 1.5 }, { 'bad key!': 1 }, 5, [], 'Aux/site=2'),
  doNotPlaceWith: fc.constantFrom(['1'], 'vm-1', [5], ['a b'], ['vm', 'vm'], [{}]),
  doNotPlaceWithRegex: fc.constantFrom('', '(', '[a-', '*', '(?<', 5, true, ['x'], 'x'.repeat(1025)),
  layers: fc.constantFrom(['drbd', 'nvme'], ['storage', 'drbd'], ['zfs'], [], 'drbd', 5, [1], ['drbd', 'drbd'], ['DRBD']),
  providers: fc.constantFrom(['lvm'], ['NOPE'], 'LVM', [3], ['ZFS', 'ZFS'], { LVM: true }),
  disklessOnRemaining: fc.oneof(fc.integer(), anyString, fc.constantFrom([], {}, [true])),
  preferLocal: fc.oneof(fc.integer(), anyString, fc.constantFrom([], {}, [false])),
  exactSize: fc.oneof(fc.integer(), anyString, fc.constantFrom([], {}, 0, 1)),
  drbdOptions: fc.constantFrom({ 'Net/protocol': 'C' }, { 'DrbdOptions/Net/protocol': '' }, { 'DrbdOptions/x': 5 }, 'x', [], { 'DrbdOptions/ExactSize': 'maybe' }, { 'DrbdOptions//x': 'a' }, { 'DrbdOptions/Net/protocol': 'x'.repeat(4097) }),
}

test('parsePlacementPolicy: any input gives a frozen policy or CONFIG_INVALID, never another error', () => {
  fc.assert(
    fc.property(fc.oneof(anyValue, looseRecord(POLICY_FIELDS), validPolicy), fc.constantFrom(...NAMINGS), (input, naming) => {
      const o = outcome(() => parsePlacementPolicy(input, { settingNames: naming.names, prefix: naming.prefix }), `policy ${show(input)}`)
      if (o.ok) {
        assert.ok(Object.isFrozen(o.value))
        assert.ok(isLinstorName(policyGroupName(o.value)), policyGroupName(o.value))
        selectFilterOf(o.value)
      } else {
        assert.equal(o.error.code, 'CONFIG_INVALID')
        assert.ok(o.error instanceof ConfigError && o.error.issues.length > 0)
        for (const i of o.error.issues) assert.ok(o.error.message.includes(i.setting))
      }
    }),
    runs(2000),
  )
})

test('parsePlacementPolicy: one bad field in a valid policy is refused, naming that field the way the platform calls it', () => {
  fc.assert(
    fc.property(
      validPolicy,
      fc.constantFrom(...POLICY_FIELDS).chain((f) => fc.tuple(fc.constant(f), BAD[f])),
      fc.constantFrom(...NAMINGS),
      (base, [field, bad], naming) => {
        const input: Record<string, unknown> = { ...base, [field]: bad }
        // The x map is checked against replicasOnDifferent, which it needs without a resource group.
        if (field === 'xReplicasOnDifferent') {
          input['replicasOnDifferent'] = ['Aux/site']
          delete input['resourceGroup']
          delete input['replicasOnSame']
        }
        if (field === 'drbdOptions') delete input['exactSize']
        const name = `${naming.prefix}${naming.names[field] ?? field}`
        const o = outcome(() => parsePlacementPolicy(input, { settingNames: naming.names, prefix: naming.prefix }), `${field}=${show(bad)}`)
        assert.ok(!o.ok, `${field} = ${show(bad)} was accepted`)
        assert.ok(o.error instanceof ConfigError)
        assert.ok(o.error.issues.some((i) => i.setting === name), `${field} = ${show(bad)}: no issue for ${name}: ${o.error.message}`)
        assert.ok(o.error.message.includes(name))
      },
    ),
    runs(2500),
  )
})

test('parsePlacementPolicy: normalising is idempotent and its key ignores key order and list order', () => {
  const shuffled = (p: Record<string, unknown>, rnd: () => number): Record<string, unknown> => {
    const entries = Object.entries(p).map(([k, v]): [string, unknown] => [k, Array.isArray(v) && k !== 'layers' ? [...(v as unknown[])].sort(() => rnd() - 0.5) : v])
    return Object.fromEntries(entries.sort(() => rnd() - 0.5))
  }
  fc.assert(
    fc.property(validPolicy, fc.integer(), (input, seed) => {
      const once = parsePlacementPolicy(input)
      const twice = parsePlacementPolicy(once)
      assert.deepEqual(twice, once)
      assert.equal(policyKey(twice), policyKey(once))
      let s = seed
      const rnd = (): number => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff)
      const other = parsePlacementPolicy(shuffled(input, rnd))
      assert.equal(policyKey(other), policyKey(once))
      assert.equal(policyGroupName(other), policyGroupName(once))
      const derived: Readonly<PlacementPolicy> = once
      if (derived.resourceGroup === undefined) assert.match(policyGroupName(derived), /^LinstorVirt-[0-9a-f]{12}$/)
    }),
    runs(1000),
  )
})

// ------------------------------------------------------------------------------- controllers

const host = fc.oneof(
  fc.ipV4().map((h) => ({ text: h, host: h })),
  fc.domain().map((h) => ({ text: h, host: h.toLowerCase() })),
  fc.constantFrom('::1', '2001:db8::7', 'fe80::1').map((h) => ({ text: `[${h}]`, host: h })),
)

test('controller addresses: valid ones read back to themselves with the port written (or the scheme default); anything else is CONFIG_INVALID naming the setting', () => {
  const schemes: Record<string, { protocol: 'http' | 'https'; port: number }> = {
    '': { protocol: 'http', port: 3370 },
    'linstor://': { protocol: 'http', port: 3370 },
    'linstor+ssl://': { protocol: 'https', port: 3371 },
    'http://': { protocol: 'http', port: 3370 },
    'https://': { protocol: 'https', port: 3371 },
  }
  fc.assert(
    fc.property(fc.constantFrom(...Object.keys(schemes)), host, opt(fc.oneof(fc.integer({ min: 1, max: 65535 }), fc.constantFrom(80, 443, 3370, 3371))), (scheme, h, port) => {
      const text = `${scheme}${h.text}${port !== undefined ? `:${port}` : ''}`
      const e = parseControllerUrl(text)
      const want = schemes[scheme] as { protocol: 'http' | 'https'; port: number }
      assert.equal(e.protocol, want.protocol, text)
      assert.equal(e.port, port ?? want.port, `${text} → port ${e.port}`)
      assert.equal(e.host, h.host, text)
      const again = parseControllerUrl(e.url)
      assert.deepEqual([again.protocol, again.host, again.port, again.url], [e.protocol, e.host, e.port, e.url])
    }),
    runs(1500),
  )
  fc.assert(
    fc.property(fc.oneof(anyString, anyString.map((s) => `linstor://${s}`), anyString.map((s) => `http://ctrl:${s}`)), fc.constantFrom('controllers', KEYS.controllers, ATTR.controllers), (text, setting) => {
      for (const parse of [(): unknown => parseControllerUrl(text, setting), (): unknown => parseControllerList(text, setting)]) {
        const o = outcome(parse, `controllers ${JSON.stringify(text)}`)
        if (o.ok) continue
        assert.equal(o.error.code, 'CONFIG_INVALID')
        assert.ok(o.error.message.includes(setting), o.error.message)
      }
    }),
    runs(2000),
  )
})

// ------------------------------------------------------------------------------- the core's call config

/** A CallContext just for storageOf (it only reads config, services and logger). */
function contextFor(services: ServiceRegistry): CallContext {
  return { platform: 'core', operation: 'info', config: {}, signal: new AbortController().signal, remainingMs: () => 1000, logger: silentLogger(), services }
}

const CORE_STRING_KEYS = ['deviceRoot', 'localNode', 'lockDir', 'tokenFile', 'caFile', 'certFile', 'keyFile'] as const

test('the core call config (controllers, files, node, caches): each setting of a wrong type is CONFIG_INVALID naming it, never ignored', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lv-prop-core-'))
  try {
    const base = { controllers: 'http://127.0.0.1:9', lockDir: dir }
    const bad = fc.oneof(
      fc.tuple(fc.constant('controllers'), fc.oneof(fc.integer(), fc.boolean(), fc.constant({ url: 'http://x' }), fc.constant([1, 2]), fc.constant(['http://a', 5]))),
      fc.tuple(fc.constantFrom(...CORE_STRING_KEYS), fc.oneof(nonString, fc.constant(''))),
      fc.tuple(fc.constant('controllerVolumes'), fc.oneof(anyString, fc.integer(), fc.constant([1]), fc.constant({ a: 'b' }), fc.constant(['ok', null]))),
      fc.tuple(fc.constant('capacityMaxAgeMs'), fc.oneof(fc.integer({ max: -1 }), fc.constantFrom(NaN, Infinity, -0.5, '1000', true, [1000], {}))),
    )
    fc.assert(
      fc.property(bad, ([key, value]) => {
        const services = new ServiceRegistry(false)
        try {
          const o = outcome(() => storageOf(contextFor(services), { config: { ...base, [key]: value } }), `${key}=${show(value)}`)
          assert.ok(!o.ok, `${key} = ${show(value)} was accepted`)
          assert.equal(o.error.code, 'CONFIG_INVALID')
          assert.ok(o.error.message.includes(key), `${key} = ${show(value)}: ${o.error.message}`)
        } finally {
          services.close()
        }
      }),
      runs(600),
    )
    // And the valid shapes are taken.
    const services = new ServiceRegistry(false)
    try {
      for (const config of [base, { ...base, controllers: ['http://127.0.0.1:9', 'linstor://127.0.0.1:10'] }, { ...base, capacityMaxAgeMs: 0, controllerVolumes: ['ctrl-disk'], localNode: 'alpha', deviceRoot: dir }]) {
        assertProjectErrorFree(() => storageOf(contextFor(services), { config }))
      }
    } finally {
      services.close()
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

function assertProjectErrorFree(fn: () => unknown): void {
  try {
    fn()
  } catch (err) {
    assertProjectError(err)
    assert.fail(`refused a valid config: ${err.message}`)
  }
}

test('configIssues never throws, whatever it is given, and names fields of a call request by their keys', () => {
  fc.assert(
    fc.property(fc.oneof(anyValue, looseRecord(['v', 'platform', 'operation', 'arguments', 'config', 'deadlineMs', 'id'])), (input) => {
      const issues = configIssues('callRequest', input)
      for (const i of issues) assert.ok(typeof i.setting === 'string' && typeof i.problem === 'string' && i.problem !== '')
      configIssues('placementPolicy', input)
    }),
    runs(1000),
  )
})
