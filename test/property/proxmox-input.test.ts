/**
 * What Proxmox VE (the Perl shim) and its operator can hand the adapter: storage.cfg sections of
 * any shape, and any arguments to any operation. Settings either parse or are refused with
 * CONFIG_INVALID naming the storage.cfg key; operations answer with a result or a catalogued error
 * (never INTERNAL_ERROR, never a hang), and bad arguments (sizes in KiB or bytes, VM ids, names,
 * handles) are refused naming the argument before anything reaches LINSTOR.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { ConfigError } from '../../core/errors/index.js'
import { silentLogger } from '../../core/log/index.js'
import { ServiceRegistry } from '../../core/protocol/index.js'
import { KiB } from '../../core/volumes/index.js'
import { buildDispatcher } from '../../cli/dispatcher.js'
import { PROXMOX_OPERATION_KINDS } from '../../plugins/proxmox/index.js'
import { parseVolname } from '../../plugins/proxmox/names.js'
import { KEYS, proxmoxSettings } from '../../plugins/proxmox/settings.js'
import { withEmulator } from '../emulator/helpers.js'
import { tempDir } from '../helpers/core.js'
import { absurdlyLarge, anyString, anyValue, assertErrorReply, dispatchClean, looseRecord, nonString, oddNumber, outcome, runs, show } from './arbitraries.js'

type Key = (typeof KEYS)[keyof typeof KEYS]

const STOREID = 'drbd-1'
const volname = fc.oneof(
  fc.tuple(fc.constantFrom('vm', 'base'), fc.integer({ min: 100, max: 105 }), fc.constantFrom('disk-0', 'disk-1', 'cloudinit', 'state-x')).map(([k, id, r]) => `${k}-${id}-${r}`),
  fc.constantFrom('pm-1a2b3c4d_100', 'subvol-101-disk-0', `vm-100-state-${'x'.repeat(50)}`),
)
const snapName = fc.constantFrom('snap1', 'before-upgrade', 'x')

// ------------------------------------------------------------------------------- storage.cfg

/** Valid storage.cfg sections (values as PVE hands them over: strings, or numbers for integers). */
const validSection: fc.Arbitrary<Record<string, unknown>> = fc
  .record(
    {
      placeCount: fc.option(fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 16 }).map(String)), { nil: undefined }),
      pools: fc.option(fc.constantFrom('ssd', 'ssd,hdd', 'pool-a pool-b'), { nil: undefined }),
      preferLocal: fc.option(fc.constantFrom(0, 1, '0', '1'), { nil: undefined }),
      statusCache: fc.option(fc.integer({ min: 0, max: 7200 }), { nil: undefined }),
      vms: fc.option(fc.constantFrom('100', '100,101', '999999999'), { nil: undefined }),
    },
    { requiredKeys: [] },
  )
  .map((r) => ({
    [KEYS.controllers]: 'http://127.0.0.1:9',
    ...(r.placeCount !== undefined ? { [KEYS.placeCount]: r.placeCount } : {}),
    ...(r.pools !== undefined ? { [KEYS.storagePools]: r.pools } : {}),
    ...(r.preferLocal !== undefined ? { [KEYS.preferLocal]: r.preferLocal } : {}),
    ...(r.statusCache !== undefined ? { [KEYS.statusCache]: r.statusCache } : {}),
    ...(r.vms !== undefined ? { [KEYS.controllerVms]: r.vms } : {}),
  }))

const notBool = fc.oneof(fc.integer().filter((n) => n !== 0 && n !== 1), anyString.filter((s) => !['', '0', '1'].includes(s)), fc.constantFrom([], {}, [1], 0.5))
const notAbsolute = fc.oneof(nonString, anyString.filter((s) => s !== '' && !s.startsWith('/')))

/** For each key, values that are wrong for it; a section with one of them must be refused naming the key. */
const BAD: Record<Key, fc.Arbitrary<unknown>> = {
  [KEYS.controllers]: fc.oneof(nonString, fc.constantFrom('ftp://x', 'linstor://a b', 'linstor://h:99999', 'http://user:pw@h', 'linstor://h/path', ',', 'linstor://')),
  [KEYS.resourceGroup]: fc.oneof(nonString, fc.constantFrom('1abc', 'a', 'x y', '__', '-ab', 'A'.repeat(49), 'grp!')),
  [KEYS.placeCount]: fc.oneof(fc.integer({ min: 17 }), fc.integer({ max: 0 }), fc.constantFrom('0', '17', 'two', '1.5', '1e1', ' 2', 1.5, NaN, true, [], {}, [2], 2 ** 53)),
  [KEYS.storagePools]: fc.oneof(fc.constantFrom('1abc', 'ab', 'x!y', 'ssd,ssd', true, [], ['ssd'], { a: 'ssd' })),
  [KEYS.replicasOnDifferent]: fc.constantFrom('/x', 'a//b', 'a= b', 'k k', true, ['Aux/site'], {}),
  [KEYS.preferLocal]: notBool,
  [KEYS.statusCache]: fc.oneof(fc.integer({ min: 7201 }), fc.integer({ max: -1 }), fc.constantFrom('60s', '1.5', 0.5, true, [], {})),
  [KEYS.exactSize]: notBool,
  [KEYS.ca]: notAbsolute,
  [KEYS.cert]: notAbsolute,
  [KEYS.key]: notAbsolute,
  [KEYS.controllerVms]: fc.oneof(fc.constantFrom('0', 'abc', '1234567890', '-5', '100,x', '1.5', true, { a: 1 }, [100])),
  [KEYS.nodeMap]: fc.constantFrom('pve1', 'pve1=', '=ln1', 'pve1=bad!name', 'pve1=a,pve2', true, ['pve1=a'], { pve1: 'a' }),
  [KEYS.searchDomain]: fc.constantFrom('exa mple.org', '-x.org', 'a..b', 'x_y.org', true, [], { a: 1 }),
}

test('storage.cfg: any config the shim could send parses or is CONFIG_INVALID naming each bad key', () => {
  const config = fc.oneof(
    looseRecord(['storeid', 'node', 'scfg', 'controllers', 'tokenFile', 'deviceRoot', 'lockDir']),
    fc.record({ storeid: fc.oneof(fc.constant(STOREID), anyValue), node: fc.oneof(fc.constant('pve1'), anyValue), scfg: fc.oneof(looseRecord(Object.values(KEYS)), validSection, anyValue) }),
  )
  fc.assert(
    fc.property(config, (c) => {
      const o = outcome(() => proxmoxSettings(c), `config ${show(c)}`)
      if (o.ok) {
        assert.ok(typeof o.value.storeid === 'string' && o.value.storeid !== '' && typeof o.value.node === 'string')
        assert.ok(Number.isInteger(o.value.statusCacheS) && o.value.statusCacheS >= 0)
        for (const id of o.value.controllerVms) assert.ok(Number.isSafeInteger(id) && id > 0)
        return
      }
      assert.ok(o.error instanceof ConfigError)
      for (const i of o.error.issues) assert.ok(o.error.message.includes(i.setting))
    }),
    runs(1500),
  )
})

test('storage.cfg: a valid section with one bad key is refused, naming "storage <id>: <key>"', () => {
  fc.assert(
    fc.property(
      validSection,
      fc.constantFrom(...(Object.values(KEYS) as Key[])).chain((k) => fc.tuple(fc.constant(k), BAD[k])),
      (section, [key, bad]) => {
        const scfg: Record<string, unknown> = { ...section, [key]: bad }
        // A resource group places by itself: leave the other placement keys out, so only the group is wrong.
        if (key === KEYS.resourceGroup) for (const k of [KEYS.placeCount, KEYS.storagePools, KEYS.replicasOnDifferent]) delete scfg[k]
        const o = outcome(() => proxmoxSettings({ storeid: STOREID, node: 'pve1', scfg }), `${key}=${show(bad)}`)
        assert.ok(!o.ok, `${key} = ${show(bad)} was accepted`)
        assert.equal(o.error.code, 'CONFIG_INVALID')
        assert.ok(o.error.message.includes(`storage ${STOREID}: ${key}`), `${key} = ${show(bad)}: ${o.error.message}`)
      },
    ),
    runs(1500),
  )
})

// ------------------------------------------------------------------------------- operations

/** Argument names the contract's operations read (CONTRACT.md), each with plausible and arbitrary values. */
const ARGS: Record<string, fc.Arbitrary<unknown>> = {
  vmid: fc.oneof(fc.integer({ min: 100, max: 105 }), oddNumber, fc.constantFrom('100', 10 ** 10, 2 ** 52)),
  fmt: fc.constantFrom('raw', 'qcow2', null, 5),
  name: fc.oneof(volname, anyString, fc.constant(null)),
  sizeKib: fc.oneof(fc.integer({ min: 1, max: 4 * 1024 * 1024 }), oddNumber, absurdlyLarge, fc.constantFrom('1024', '-1')),
  volname: fc.oneof({ weight: 3, arbitrary: volname }, anyString, nonString),
  isBase: fc.boolean(),
  vollist: fc.oneof(fc.constant(null), fc.array(anyString, { maxLength: 2 }), fc.constant(`${STOREID}:vm-100-disk-0`)),
  snapname: fc.oneof(fc.constant(null), snapName, anyString),
  hints: anyValue,
  sizeBytes: fc.oneof(fc.integer({ min: 1, max: 8 * 1024 ** 3 }), oddNumber, absurdlyLarge),
  running: fc.boolean(),
  snap: fc.oneof({ weight: 2, arbitrary: snapName }, anyString, nonString),
  targetVmid: fc.oneof(fc.integer({ min: 100, max: 105 }), oddNumber, fc.constant(10 ** 10)),
  targetVolname: fc.oneof(fc.constant(null), volname, anyString),
  handle: fc.oneof(fc.constantFrom('{"resource":"vm-100-disk-0"}', '{"resource":5}', 'null', '[]', '{', '"x"'), anyString, nonString),
  size: fc.oneof(fc.integer({ min: 1, max: 1024 ** 3 }), oddNumber, absurdlyLarge),
  allowRename: fc.constantFrom(true, false, 1, '1', 0, null),
  ok: fc.constantFrom(true, false, 1, 0, 'yes'),
  hook: fc.oneof(fc.constantFrom('add', 'update', 'delete'), anyString, nonString),
  sensitive: anyValue,
}

/** Arguments every operation accepts (a working call), of which up to two are then replaced by arbitrary values. */
const PLAUSIBLE: Record<string, fc.Arbitrary<unknown>> = {
  vmid: fc.integer({ min: 100, max: 103 }),
  fmt: fc.constant('raw'),
  name: fc.constantFrom(null, 'vm-100-disk-7', 'vm-101-cloudinit', `vm-102-state-${'y'.repeat(48)}`),
  sizeKib: fc.constantFrom(1024, 4096, 64 * 1024),
  volname: volname,
  isBase: fc.boolean(),
  vollist: fc.constant(null),
  snapname: fc.constantFrom(null, null, 'snap1'),
  hints: fc.constant(null),
  sizeBytes: fc.constantFrom(8 * 1024 ** 2, 64 * 1024 ** 2),
  running: fc.boolean(),
  snap: snapName,
  targetVmid: fc.integer({ min: 100, max: 103 }),
  targetVolname: fc.constant(null),
  handle: fc.constantFrom('{"resource":"vm-100-disk-0"}', '{"resource":"vm-101-disk-1","view":"vm-101-disk-1"}'),
  size: fc.constant(4 * 1024 ** 2),
  allowRename: fc.boolean(),
  ok: fc.boolean(),
  hook: fc.constantFrom('add', 'update', 'delete'),
  sensitive: fc.constant({}),
}

function randomArgs(): fc.Arbitrary<Record<string, unknown>> {
  const names = Object.keys(ARGS)
  return fc
    .tuple(
      fc.record(PLAUSIBLE),
      fc.subarray(names, { maxLength: 2 }).chain((chosen) => (chosen.length === 0 ? fc.constant([] as [string, unknown][]) : fc.tuple(...chosen.map((n) => (ARGS[n] as fc.Arbitrary<unknown>).map((v): [string, unknown] => [n, v]))))),
      fc.subarray(names, { maxLength: 1 }),
      fc.dictionary(fc.string({ maxLength: 6 }), anyValue, { maxKeys: 1 }),
    )
    .map(([base, replaced, dropped, extra]) => {
      const args: Record<string, unknown> = { ...extra, ...base, ...Object.fromEntries(replaced) }
      for (const d of dropped) delete args[d]
      return args
    })
}

test('every operation, any arguments, against a live controller: a result or a catalogued error, within its deadline', async (t) => {
  const emu = await withEmulator(t, { cloneDurationMs: 5 })
  const services = new ServiceRegistry(true)
  t.after(() => services.close())
  const dispatcher = buildDispatcher(silentLogger())
  const config = { storeid: STOREID, node: 'alpha', scfg: { [KEYS.controllers]: emu.url, [KEYS.placeCount]: 2 }, lockDir: tempDir(t, 'lv-prop-pve-'), deviceRoot: emu.deviceRoot('alpha') }
  // A few volumes (one with a snapshot, one template base) for the random calls to find.
  const call = (operation: string, args: Record<string, unknown>): Promise<unknown> => dispatchClean(dispatcher, services, { v: 1, platform: 'proxmox', operation, arguments: args, config, deadlineMs: 5000 }, operation)
  for (const name of ['vm-100-disk-0', 'vm-101-disk-0', 'base-102-disk-0', `vm-100-state-${'x'.repeat(50)}`]) await call('alloc_image', { vmid: Number(name.split('-')[1]), name, sizeKib: 4096 })
  await call('volume_snapshot', { volname: 'vm-100-disk-0', snap: 'snap1' })
  const operation = fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...Object.keys(PROXMOX_OPERATION_KINDS)) }, fc.constantFrom('nope', 'alloc-image', 'status2'))
  await fc.assert(
    fc.asyncProperty(operation, randomArgs(), async (op, args) => {
      const reply = await dispatchClean(dispatcher, services, { v: 1, platform: 'proxmox', operation: op, arguments: args, config, deadlineMs: 5000 }, `proxmox.${op}(${show(args)})`)
      if (!(op in PROXMOX_OPERATION_KINDS)) assertErrorReply(reply, 'UNKNOWN_OPERATION', ['proxmox has activate_storage, activate_volume, alloc_image'], op)
    }),
    runs(250),
  )
})

test('sizes and VM ids: whole KiB for alloc_image, bytes for resize and import, VM ids up to 999999999; anything else is CALL_INVALID naming the argument before LINSTOR is asked', async (t) => {
  const services = new ServiceRegistry(true)
  t.after(() => services.close())
  const dispatcher = buildDispatcher(silentLogger())
  // An unreachable controller: a refusal must come from the argument check, not from LINSTOR.
  const config = { storeid: STOREID, node: 'alpha', scfg: { [KEYS.controllers]: 'http://127.0.0.1:9' }, lockDir: tempDir(t, 'lv-prop-pve-') }
  const maxKib = Math.floor(Number.MAX_SAFE_INTEGER / KiB)
  const badCount = fc.oneof(fc.integer({ max: 0 }), fc.constantFrom(0.5, 1.5, NaN, Infinity, -Infinity, -0, '1.5', '1e3', ' 1', '', '-1', true, [1], { n: 1 }, null), absurdlyLarge)
  const cases = fc.oneof(
    fc.tuple(fc.constant('alloc_image'), fc.constant('sizeKib'), fc.oneof(badCount, fc.integer({ min: maxKib + 1, max: Number.MAX_SAFE_INTEGER }))).map(([op, arg, v]) => ({ op, arg, args: { vmid: 100, name: 'vm-100-disk-9', sizeKib: v } })),
    fc.tuple(fc.constant('alloc_image'), fc.constant('vmid'), fc.oneof(badCount, fc.integer({ min: 1_000_000_000, max: Number.MAX_SAFE_INTEGER }))).map(([op, arg, v]) => ({ op, arg, args: { vmid: v, sizeKib: 1024 } })),
    fc.tuple(fc.constant('volume_resize'), fc.constant('sizeBytes'), badCount).map(([op, arg, v]) => ({ op, arg, args: { volname: 'vm-100-disk-0', sizeBytes: v } })),
    fc.tuple(fc.constant('volume_import_begin'), fc.constant('size'), badCount).map(([op, arg, v]) => ({ op, arg, args: { volname: 'vm-100-disk-0', size: v } })),
    fc.tuple(fc.constantFrom('clone_image'), fc.constant('vmid'), fc.oneof(badCount, fc.integer({ min: 1_000_000_000 }))).map(([op, arg, v]) => ({ op, arg, args: { volname: 'base-100-disk-0', vmid: v } })),
    fc.tuple(fc.constant('rename_volume'), fc.constant('targetVmid'), fc.oneof(badCount, fc.integer({ min: 1_000_000_000 }))).map(([op, arg, v]) => ({ op, arg, args: { volname: 'vm-100-disk-0', targetVmid: v } })),
  )
  await fc.assert(
    fc.asyncProperty(cases, async ({ op, arg, args }) => {
      const reply = await dispatchClean(dispatcher, services, { v: 1, platform: 'proxmox', operation: op, arguments: args, config, deadlineMs: 3000 }, `${op}(${show(args)})`, 3000)
      assertErrorReply(reply, 'CALL_INVALID', [`arguments.${arg}`], `${op} ${arg}=${show(args[arg as keyof typeof args])}`)
    }),
    runs(400),
  )
})

test('names and handles of the wrong type or form are CALL_INVALID naming the argument (or quoting the name) before LINSTOR is asked', async (t) => {
  const services = new ServiceRegistry(true)
  t.after(() => services.close())
  const dispatcher = buildDispatcher(silentLogger())
  const config = { storeid: STOREID, node: 'alpha', scfg: { [KEYS.controllers]: 'http://127.0.0.1:9' }, lockDir: tempDir(t, 'lv-prop-pve-') }
  const volnameOps = Object.keys(PROXMOX_OPERATION_KINDS).filter((op) => !['activate_storage', 'status', 'alloc_image', 'list_images', 'unmap_volume', 'check_config', 'volume_export_end', 'volume_import_end'].includes(op))
  const cases = fc.oneof(
    fc.tuple(fc.constantFrom(...volnameOps), fc.oneof(nonString, fc.constant(''))).map(([op, v]) => ({ op, args: { volname: v, snap: 'snap1', vmid: 100, sizeBytes: 1024, size: 1024, targetVmid: 101 }, names: ['arguments.volname'] })),
    fc.tuple(fc.constantFrom(...volnameOps), anyString.filter((s) => s !== '' && !/^(vm|base|subvol|pm)-/.test(s))).map(([op, v]) => ({ op, args: { volname: v, snap: 'snap1', vmid: 100, sizeBytes: 1024, size: 1024, targetVmid: 101 }, names: [`'${v}'`] })),
    fc.tuple(fc.constantFrom('volume_snapshot', 'volume_snapshot_delete', 'volume_rollback_is_possible', 'volume_snapshot_rollback'), fc.oneof(nonString, anyString.filter((s) => !/^[A-Za-z][A-Za-z0-9_-]{1,39}$/.test(s)))).map(([op, v]) => ({ op, args: { volname: 'vm-100-disk-0', snap: v }, names: typeof v === 'string' && v !== '' ? ['snapshot name'] : ['arguments.snap'] })),
    fc.tuple(fc.constantFrom('volume_export_end', 'volume_import_end'), fc.oneof(nonString, fc.constantFrom('null', '[]', '{', '"x"', '{"resource":5}', '{}', ''))).map(([op, v]) => ({ op, args: { volname: 'vm-100-disk-0', handle: v }, names: ['arguments.handle'] })),
    fc.oneof(nonString, anyString.filter((s) => !['add', 'update', 'delete'].includes(s))).map((v) => ({ op: 'check_config', args: { hook: v }, names: ['arguments.hook'] })),
  )
  await fc.assert(
    fc.asyncProperty(cases, async ({ op, args, names }) => {
      const reply = await dispatchClean(dispatcher, services, { v: 1, platform: 'proxmox', operation: op, arguments: args, config, deadlineMs: 3000 }, `${op}(${show(args)})`, 3000)
      assertErrorReply(reply, 'CALL_INVALID', names, `${op}(${show(args)})`)
    }),
    runs(400),
  )
})

test('a storage.cfg section the operator got wrong fails every operation with CONFIG_INVALID naming the key, also activate_storage', async (t) => {
  const services = new ServiceRegistry(true)
  t.after(() => services.close())
  const dispatcher = buildDispatcher(silentLogger())
  const lockDir = tempDir(t, 'lv-prop-pve-')
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...(Object.values(KEYS) as Key[])).chain((k) => fc.tuple(fc.constant(k), BAD[k])),
      fc.constantFrom(...Object.keys(PROXMOX_OPERATION_KINDS)),
      async ([key, bad], op) => {
        const scfg: Record<string, unknown> = { [KEYS.controllers]: 'http://127.0.0.1:9', [key]: bad }
        const reply = await dispatchClean(dispatcher, services, { v: 1, platform: 'proxmox', operation: op, arguments: { volname: 'vm-100-disk-0', vmid: 100, sizeKib: 1024, snap: 'snap1', hook: 'add' }, config: { storeid: STOREID, node: 'alpha', scfg, lockDir }, deadlineMs: 3000 }, `${op} with ${key}=${show(bad)}`, 3000)
        assertErrorReply(reply, 'CONFIG_INVALID', [`storage ${STOREID}: ${key}`], `${op} with ${key}=${show(bad)}`)
      },
    ),
    runs(300),
  )
})

test('a volname that is only almost one of ours is refused, never folded onto the valid one', () => {
  // Whitespace, control characters, slashes and unicode look-alikes around or inside valid names.
  const near = fc
    .tuple(fc.constantFrom('vm-100-disk-0', 'base-100-disk-0', 'pm-1a2b3c4d_100', 'subvol-100-disk-0'), fc.constantFrom(' ', '\n', '\t', '\u200b', '/', '\0', '\u2010', ':'))
    .chain(([v, junk]) => fc.constantFrom(`${junk}${v}`, `${v}${junk}`, v.replace('-', `-${junk}`)))
  fc.assert(
    fc.property(near, (v) => {
      assert.equal(parseVolname(v), undefined, `${JSON.stringify(v)} was taken as a volume name`)
    }),
    runs(300),
  )
})
