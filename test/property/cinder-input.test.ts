/**
 * What Cinder (the Python shim) and its operator can hand the adapter: backend options of any
 * shape, volume types with any extra specs, volume/snapshot/connector objects with wrong fields,
 * and any arguments to any operation. Options fail with CONFIG_INVALID naming "[backend] option",
 * extra specs with VOLUME_TYPE_INVALID naming the volume type and the spec key, objects with
 * CALL_INVALID naming the field path; operations answer cleanly and within their deadline.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { ConfigError } from '../../core/errors/index.js'
import { silentLogger } from '../../core/log/index.js'
import { ServiceRegistry } from '../../core/protocol/index.js'
import { isLinstorName } from '../../core/volumes/index.js'
import { buildDispatcher } from '../../cli/dispatcher.js'
import { CINDER_OPERATIONS } from '../../plugins/openstack-cinder/index.js'
import { connectorHost, snapshotArg, typeArg, volumeArg } from '../../plugins/openstack-cinder/objects.js'
import { OPTION, SPEC, cinderSettings, typeSpecOf } from '../../plugins/openstack-cinder/settings.js'
import { withEmulator } from '../emulator/helpers.js'
import { tempDir } from '../helpers/core.js'
import { absurdlyLarge, anyString, anyValue, assertErrorReply, dispatchClean, looseRecord, nonString, oddNumber, outcome, runs, show } from './arbitraries.js'

const BACKEND = 'lv-1'
const CONFIG_KEYS = ['backend', 'controllers', 'caFile', 'certFile', 'keyFile', 'tokenFile', 'defaultResourceGroup', 'nodeMap', 'cinderHost', 'controllerVolumes', 'reservedPercentage', 'maxOverSubscriptionRatio', 'deviceRoot', 'lockDir', 'volumeBackendName', 'driverVersion']
type OptionField = keyof typeof OPTION

// ------------------------------------------------------------------------------- cinder.conf options

const validOptions: fc.Arbitrary<Record<string, unknown>> = fc
  .record(
    {
      controllers: fc.constantFrom('linstor://10.0.0.1', 'linstor://a,linstor+ssl://b:3371', ['http://127.0.0.1:9'], ''),
      defaultResourceGroup: fc.constantFrom('cinder', 'rg_ssd-1'),
      nodeMap: fc.constantFrom({}, { 'compute-1.example.org': 'compute-1' }),
      controllerVolumes: fc.constantFrom('ctrl-disk', ['a-disk', 'b-disk'], ''),
      reservedPercentage: fc.constantFrom(0, 10, '5', 100),
      maxOverSubscriptionRatio: fc.constantFrom('20.0', 'auto', 1, 3.5),
      tokenFile: fc.constant('/etc/linstor-virt/token'),
    },
    { requiredKeys: [] },
  )
  .map((o) => ({ backend: BACKEND, ...o }))

const notAbsolute = fc.oneof(nonString, anyString.filter((s) => s.trim() !== '' && !s.trim().startsWith('/')))
const BAD_OPTION: Record<OptionField, fc.Arbitrary<unknown>> = {
  controllers: fc.oneof(fc.constantFrom('ftp://x', 'x', 'linstor://', ' host', 'linstor://a b', 5, true, { a: 'linstor://x' }, [1], ['linstor://a', 2])),
  caFile: notAbsolute,
  certFile: notAbsolute,
  keyFile: notAbsolute,
  tokenFile: notAbsolute,
  defaultResourceGroup: fc.oneof(fc.constantFrom('1abc', 'a', 'x y', '__', 'A'.repeat(49), 'grp!', 5, true, ['cinder'], { a: 1 })),
  nodeMap: fc.constantFrom('compute-1:node1', 5, ['a:b'], { host: '' }, { host: '-x' }, { host: 5 }, { host: 'a b' }, { host: null }),
  controllerVolumes: fc.constantFrom(5, true, { a: 'b' }, [1], ['ok', null]),
  reservedPercentage: fc.oneof(fc.integer({ min: 101 }), fc.integer({ max: -1 }), fc.constantFrom(1.5, NaN, '5%', '-1', 'ten', true, [], {})),
  maxOverSubscriptionRatio: fc.oneof(fc.double({ max: 0.999, noNaN: true }), fc.constantFrom(NaN, Infinity, 'x', '', '0.5', true, [], {}, 'AUTO')),
}

test('cinder.conf: any config the shim could send parses or is CONFIG_INVALID naming each bad option', () => {
  fc.assert(
    fc.property(fc.oneof(looseRecord(CONFIG_KEYS), validOptions, anyValue.filter((v): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v))), (config) => {
      const o = outcome(() => cinderSettings(config), `config ${show(config)}`)
      if (o.ok) {
        for (const c of o.value.controllers) assert.match(c, /^(?:linstor|linstor\+ssl|https?):\/\//i)
        assert.ok(Number.isInteger(o.value.reservedPercentage) && o.value.reservedPercentage >= 0 && o.value.reservedPercentage <= 100)
        assert.ok(o.value.maxOverSubscriptionRatio === 'auto' || o.value.maxOverSubscriptionRatio >= 1)
        if (o.value.defaultResourceGroup !== undefined) assert.ok(isLinstorName(o.value.defaultResourceGroup))
        assert.equal(typeof o.value.nodeOf(typeof config['cinderHost'] === 'string' ? config['cinderHost'] : 'localhost'), 'string')
        return
      }
      assert.ok(o.error instanceof ConfigError)
      for (const i of o.error.issues) assert.ok(o.error.message.includes(i.setting))
    }),
    runs(2500),
  )
})

test('cinder.conf: valid options with one bad option are refused, naming "[backend] <option>"', () => {
  fc.assert(
    fc.property(validOptions, fc.constantFrom(...(Object.keys(BAD_OPTION) as OptionField[])).chain((k) => fc.tuple(fc.constant(k), BAD_OPTION[k])), (base, [field, bad]) => {
      const config: Record<string, unknown> = { ...base, [field]: bad }
      // A certificate goes with its key: a bad one of the two alone is reported as such too.
      const o = outcome(() => cinderSettings(config), `${field}=${show(bad)}`)
      assert.ok(!o.ok, `${field} = ${show(bad)} was accepted`)
      assert.equal(o.error.code, 'CONFIG_INVALID')
      assert.ok(o.error.message.includes(`[${BACKEND}] ${OPTION[field]}`), `${field} = ${show(bad)}: ${o.error.message}`)
    }),
    runs(2500),
  )
})

// ------------------------------------------------------------------------------- extra specs

const validSpecs: fc.Arbitrary<Record<string, unknown>> = fc
  .record(
    {
      [SPEC.placeCount]: fc.integer({ min: 1, max: 16 }).map(String),
      [SPEC.storagePools]: fc.constantFrom('ssd', 'ssd, hdd'),
      [SPEC.disklessOnRemaining]: fc.constantFrom('True', '<is> False', 'yes', '0'),
      [SPEC.layers]: fc.constantFrom('drbd,storage', 'DRBD', 'luks, storage'),
      [SPEC.providers]: fc.constantFrom('lvm_thin', 'ZFS,LVM'),
      [SPEC.replicasOnDifferent]: fc.constantFrom('site', 'Aux/rack', 'room=a'),
      'linstor:property:DrbdOptions:Net:protocol': fc.constantFrom('C', 'A'),
      'linstor:property:Aux:tier': fc.constantFrom('gold'),
      volume_backend_name: fc.constant(BACKEND),
      'capabilities:thin': fc.constant('<is> True'),
    },
    { requiredKeys: [] },
  )

/** Spec key and a bad value for it. */
const badSpec: fc.Arbitrary<[string, unknown]> = fc.oneof(
  fc.tuple(fc.constant(SPEC.placeCount), fc.constantFrom('0', '17', 'two', '1.5', '', ' ', '-1', 5, true, null, ['2'])),
  fc.tuple(fc.constant(SPEC.resourceGroup), fc.constantFrom('1abc', '__', ' ', 'x y', 'A'.repeat(49), 7)),
  fc.tuple(fc.constant(SPEC.storagePools), fc.constantFrom('a', '1abc', 'x!y', 'ssd,ssd', false)),
  fc.tuple(fc.constant(SPEC.disklessOnRemaining), fc.constantFrom('maybe', '2', '', 'ja', 1)),
  fc.tuple(fc.constant(SPEC.doNotPlaceWithRegex), fc.constantFrom('(', '', '[a-', '*')),
  fc.tuple(fc.constant(SPEC.layers), fc.constantFrom('zfs', 'drbd,nvme', 'storage,drbd', '', 'drbd,drbd')),
  fc.tuple(fc.constant(SPEC.providers), fc.constantFrom('nope', 'LVM,LVM', 'lvm thin')),
  fc.tuple(fc.constantFrom(SPEC.replicasOnSame, SPEC.replicasOnDifferent), fc.constantFrom('/x', 'a= b', 'a//b', 'x x')),
  fc.tuple(fc.constantFrom('linstor:property:a b', 'linstor:property:', 'linstor:property:Aux:linstor-virt:pve-volname', 'linstor:property:aux:cinder:volume-id', 'linstor:property:/x'), fc.constant('v')),
  fc.tuple(fc.constant('linstor:property:DrbdOptions:Net:protocol'), fc.constantFrom('', 'x'.repeat(4097))),
  fc.tuple(fc.constantFrom('linstor:redundancy2', 'linstor:foo', 'LINSTOR:redundancy', 'linstor:storage_pools', 'Linstor:x'), fc.constant('2')),
  fc.tuple(fc.constantFrom(...Object.values(SPEC)), fc.oneof(nonString, fc.constant(null))),
)

test('extra specs: any volume type gives a placement or VOLUME_TYPE_INVALID naming the type; one bad spec in a valid type is named by its key', () => {
  const anyType = fc.oneof(
    fc.constant(null),
    fc.record({ name: fc.oneof(anyString, fc.constant(null)), extra_specs: fc.oneof(validSpecs, fc.dictionary(fc.oneof(anyString, fc.constantFrom(...Object.values(SPEC), 'linstor:property:X')), anyValue, { maxKeys: 4 })) }),
  )
  fc.assert(
    fc.property(anyType, fc.constantFrom(undefined, 'cinder'), (type, defaultResourceGroup) => {
      const o = outcome(() => typeSpecOf(type, defaultResourceGroup === undefined ? {} : { defaultResourceGroup }), `type ${show(type)}`)
      if (o.ok) {
        for (const k of Object.keys(o.value.props)) assert.ok(!/^aux\/(linstor-virt|cinder)\//i.test(k))
        return
      }
      assert.equal(o.error.code, 'VOLUME_TYPE_INVALID')
      const name = type?.name
      assert.ok(o.error.message.startsWith(typeof name === 'string' ? `volume type ${JSON.stringify(name)}: ` : 'the volume (no type): '), o.error.message)
    }),
    runs(2500),
  )
  fc.assert(
    fc.property(validSpecs, badSpec, (specs, [key, bad]) => {
      const extra: Record<string, unknown> = { ...specs, [key]: bad }
      // A resource group with pools or a count is allowed: it only overrides them; the bad value alone is the problem.
      const o = outcome(() => typeSpecOf({ name: 'gold', extra_specs: extra }, {}), `${key}=${show(bad)}`)
      assert.ok(!o.ok, `${key} = ${show(bad)} was accepted`)
      assert.equal(o.error.code, 'VOLUME_TYPE_INVALID')
      assert.ok(o.error.message.startsWith('volume type "gold": '), o.error.message)
      const named = key.startsWith('linstor:property:DrbdOptions') ? 'linstor:property:DrbdOptions' : key
      assert.ok(o.error.message.includes(named), `${key} = ${show(bad)}: ${o.error.message}`)
    }),
    runs(2500),
  )
})

// ------------------------------------------------------------------------------- volumes, snapshots, connectors

const UUID = '6f1c0d9e-5a1b-4c2d-9e8f-0a1b2c3d4e5f'
const validVolume = (): Record<string, unknown> => ({
  id: UUID,
  name_id: UUID,
  name: 'volume-x',
  size: 1,
  provider_id: null,
  multiattach: false,
  host: 'ctl@lv-1#lv-1',
  status: 'available',
  volume_type: { name: 'two', extra_specs: { 'linstor:redundancy': '2' } },
  attachments: [{ id: 'att-1', attached_host: 'compute-1', attach_status: 'attached', instance_uuid: 'inst-1' }],
})

/** A volume field, a wrong value for it, and the path the message must name. */
const badVolumeField: fc.Arbitrary<[string, unknown, string]> = fc.oneof(
  fc.tuple(fc.constant('id'), fc.oneof(nonString, fc.constantFrom('', '-x', 'a b', 'x'.repeat(46), '../x', 'a_b')), fc.constant('arguments.volume.id')),
  fc.tuple(fc.constant('name_id'), fc.oneof(fc.oneof(oddNumber, fc.boolean(), fc.constant([])), fc.constantFrom('-x', 'a b', 'x'.repeat(46))), fc.constant('arguments.volume.name_id')),
  fc.tuple(fc.constant('provider_id'), fc.oneof(fc.oneof(oddNumber, fc.boolean(), fc.constant({})), fc.constantFrom('1abc', '__', 'a b', 'A'.repeat(49))), fc.constant('arguments.volume.provider_id')),
  fc.tuple(fc.constant('size'), fc.oneof(fc.constantFrom(-1, 1.5, NaN, '1', null, true, 1024 * 1024 + 1), absurdlyLarge), fc.constant('arguments.volume.size')),
  fc.tuple(fc.constantFrom('name', 'host', 'status'), fc.oneof(oddNumber, fc.boolean(), fc.constant([]), fc.constant({}))).map(([f, v]): [string, unknown, string] => [f, v, `arguments.volume.${f}`]),
  fc.tuple(fc.constant('attachments'), fc.constantFrom('att-1', 5, {}, true), fc.constant('arguments.volume.attachments')),
  fc.tuple(fc.constant('attachments'), fc.constantFrom([5], [null], ['x'], [[]]), fc.constant('arguments.volume.attachments[0]')),
  fc.tuple(fc.constantFrom('attached_host', 'instance_uuid', 'attach_status', 'id'), fc.oneof(oddNumber, fc.boolean(), fc.constant({}))).map(([f, v]): [string, unknown, string] => ['attachments', [{ [f]: v }], `arguments.volume.attachments[0].${f}`]),
  fc.tuple(fc.constant('volume_type'), fc.constantFrom('two', 5, true, ['two']), fc.constant('arguments.volume.volume_type')),
  fc.tuple(fc.constant('volume_type'), fc.constantFrom({ name: 'two', extra_specs: 'linstor:redundancy=2' }, { extra_specs: [] }, { extra_specs: 5 }), fc.constant('arguments.volume.volume_type.extra_specs')),
)

test('volume, snapshot and connector objects: any object is taken or CALL_INVALID, and one bad field in a valid volume is named by its path', () => {
  const volumeKeys = ['id', 'name_id', 'name', 'size', 'provider_id', 'multiattach', 'host', 'status', 'volume_type', 'attachments']
  fc.assert(
    fc.property(fc.oneof(anyValue, looseRecord(volumeKeys), fc.record({ id: fc.oneof(fc.uuid(), anyString), size: fc.oneof(fc.nat(), oddNumber), attachments: fc.oneof(fc.array(looseRecord(['id', 'attached_host', 'attach_status', 'instance_uuid']), { maxLength: 2 }), anyValue) })), (raw) => {
      const parsers: [() => unknown, string][] = [[() => volumeArg(raw), 'arguments.volume'], [() => snapshotArg(raw), 'arguments.snapshot'], [() => typeArg(raw, 'arguments.newType'), 'arguments.newType'], [() => connectorHost(raw, true), 'arguments.connector']]
      for (const [fn, path] of parsers) {
        const o = outcome(fn, `${path} ${show(raw)}`)
        if (o.ok) continue
        assert.equal(o.error.code, 'CALL_INVALID')
        assert.ok(o.error.message.startsWith(path), `${path}: ${o.error.message}`)
      }
      const host = outcome(() => connectorHost(raw, false), 'connector')
      if (raw === null || raw === undefined) assert.ok(host.ok && host.value === undefined)
    }),
    runs(2500),
  )
  fc.assert(
    fc.property(badVolumeField, ([field, bad, path]) => {
      const raw = { ...validVolume(), [field]: bad }
      const o = outcome(() => volumeArg(raw), `${field}=${show(bad)}`)
      assert.ok(!o.ok, `${field} = ${show(bad)} was accepted`)
      assert.equal(o.error.code, 'CALL_INVALID')
      assert.ok(o.error.message.startsWith(`${path}:`), `${field} = ${show(bad)}: ${o.error.message}`)
      // The same volume inside a snapshot is named by the snapshot's path.
      const s = outcome(() => snapshotArg({ id: UUID, volume_size: 1, volume: raw }))
      assert.ok(!s.ok && s.error.message.startsWith(path.replace('arguments.volume', 'arguments.snapshot.volume')), s.ok ? 'accepted' : s.error.message)
    }),
    runs(1500),
  )
})

// ------------------------------------------------------------------------------- operations

const ARG_VALUES: Record<string, fc.Arbitrary<unknown>> = {
  volume: fc.oneof({ weight: 3, arbitrary: fc.constant(null).map(() => validVolume()) }, anyValue, looseRecord(['id', 'size', 'name_id'])),
  snapshot: fc.oneof(fc.constant(null).map(() => ({ id: '0a1b2c3d-5a1b-4c2d-9e8f-6f1c0d9e4e5f', volume_size: 1, volume: validVolume() })), anyValue),
  source: fc.oneof(fc.constant(null).map(() => ({ ...validVolume(), id: '11111111-2222-4333-8444-555555555555', name_id: null })), anyValue),
  newSizeGib: fc.oneof(fc.integer({ min: 1, max: 3 }), oddNumber, absurdlyLarge),
  connector: fc.oneof(fc.constantFrom({ host: 'bravo' }, { host: 'compute-1' }, null, { host: '' }, { host: 5 }), anyValue),
  newType: fc.oneof(fc.constantFrom(null, { name: 'three', extra_specs: { 'linstor:redundancy': '3' } }, { name: 'bad', extra_specs: { 'linstor:redundancy': 'x' } }), anyValue),
  host: fc.oneof(fc.constantFrom({ host: `ctl@${BACKEND}#${BACKEND}` }, { host: 'other@x#y' }, { capabilities: { location_info: 'x' } }), anyValue),
  ref: fc.oneof(fc.constantFrom({ 'source-name': 'CV_6f1c0d9e-5a1b-4c2d-9e8f-0a1b2c3d4e5f' }, { 'source-name': 'no-such' }, { 'source-id': '__' }, { 'source-name': 5 }), anyValue),
}

test('every operation, any arguments, against a live controller: a result or a catalogued error, within its deadline', async (t) => {
  const emu = await withEmulator(t, { cloneDurationMs: 5 })
  const services = new ServiceRegistry(true)
  t.after(() => services.close())
  const dispatcher = buildDispatcher(silentLogger())
  const dir = tempDir(t, 'lv-prop-cinder-')
  const config = { backend: BACKEND, controllers: [emu.url], cinderHost: 'ctl', nodeMap: { ctl: 'alpha', 'compute-1': 'charlie' }, lockDir: `${dir}/locks`, deviceRoot: `${dir}/{node}` }
  const names = Object.keys(ARG_VALUES)
  const args = fc.tuple(fc.subarray(names, { minLength: 1 }), fc.dictionary(fc.string({ maxLength: 6 }), anyValue, { maxKeys: 1 })).chain(([chosen, extra]) =>
    fc.tuple(...chosen.map((n) => (ARG_VALUES[n] as fc.Arbitrary<unknown>).map((v): [string, unknown] => [n, v]))).map((pairs) => ({ ...extra, ...Object.fromEntries(pairs) })),
  )
  const operation = fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...CINDER_OPERATIONS) }, fc.constantFrom('create-volume', 'nope'))
  await fc.assert(
    fc.asyncProperty(operation, args, async (op, a) => {
      const reply = await dispatchClean(dispatcher, services, { v: 1, platform: 'cinder', operation: op, arguments: a, config, deadlineMs: 6000 }, `cinder.${op}(${show(a)})`)
      if (!CINDER_OPERATIONS.includes(op)) assertErrorReply(reply, 'UNKNOWN_OPERATION', ['cinder has check, create_cloned_volume'], op)
    }),
    runs(200),
  )
})

test('extend_volume: the new size is whole GiB from 1 to 1048576, refused naming arguments.newSizeGib before LINSTOR is asked', async (t) => {
  const services = new ServiceRegistry(true)
  t.after(() => services.close())
  const dispatcher = buildDispatcher(silentLogger())
  const config = { backend: BACKEND, controllers: 'http://127.0.0.1:9', lockDir: tempDir(t, 'lv-prop-cinder-') }
  const bad = fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 1024 * 1024 + 1 }), fc.constantFrom(1.5, NaN, Infinity, '2', null, true, [2], { n: 2 }), absurdlyLarge)
  await fc.assert(
    fc.asyncProperty(bad, async (size) => {
      const reply = await dispatchClean(dispatcher, services, { v: 1, platform: 'cinder', operation: 'extend_volume', arguments: { volume: validVolume(), newSizeGib: size }, config, deadlineMs: 3000 }, `newSizeGib ${show(size)}`, 3000)
      assertErrorReply(reply, 'CALL_INVALID', ['arguments.newSizeGib'], `newSizeGib ${show(size)}`)
    }),
    runs(300),
  )
})
