/**
 * The Cinder operations through the dispatcher, against the emulator, for what the Python tests
 * reach only with difficulty: Nova's live-migration window (attach on the target before the source
 * detaches), a third host refused, force detach, volumes made by the in-tree driver and by LINBIT's
 * v2 driver found under their names, the controller VM's volume protected, hosts that are not
 * LINSTOR nodes, and retype within and across backends. Each scenario ends with the invariants.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import { buildDispatcher } from '../../cli/dispatcher.js'
import type { LinstorClient } from '../../core/linstor/index.js'
import { silentLogger } from '../../core/log/index.js'
import { ServiceRegistry } from '../../core/protocol/index.js'
import type { RunningEmulator } from '../../emulator/index.js'
import { clientFor, withEmulator } from '../emulator/helpers.js'
import { tempDir } from '../helpers/core.js'

const ALLOW = 'DrbdOptions/Net/allow-two-primaries'
const MIGRATION = 'Aux/linstor-virt/migration'
const VOL = 'aaaaaaaa-0000-4000-8000-000000000001'
const VOL2 = 'aaaaaaaa-0000-4000-8000-000000000002'

interface Cinder {
  emu: RunningEmulator
  client: LinstorClient
  call(operation: string, args: Record<string, unknown>, config?: Record<string, unknown>): Promise<Record<string, unknown>>
  fails(operation: string, args: Record<string, unknown>, code: string, config?: Record<string, unknown>): Promise<string>
}

async function cinder(t: TestContext): Promise<Cinder> {
  const emu = await withEmulator(t, { cloneDurationMs: 20 })
  const client = clientFor(t, emu)
  const dir = tempDir(t, 'lv-cinder-')
  const dispatcher = buildDispatcher(silentLogger())
  const services = new ServiceRegistry(true)
  t.after(() => services.close())
  const base = { backend: 'lv-1', controllers: [emu.url], cinderHost: 'ctl', nodeMap: { ctl: 'alpha', 'compute-c.example.org': 'charlie' }, lockDir: join(dir, 'locks'), deviceRoot: join(dir, '{node}') }
  const send = async (operation: string, args: Record<string, unknown>, config: Record<string, unknown> = {}) =>
    dispatcher.dispatch({ v: 1, platform: 'cinder', operation, arguments: args, config: { ...base, ...config }, deadlineMs: 30_000 }, services)
  return {
    emu,
    client,
    call: async (operation, args, config) => {
      const r = await send(operation, args, config)
      if ('error' in r) assert.fail(`${operation}: ${r.error.code} ${r.error.message}`)
      return r.result as Record<string, unknown>
    },
    fails: async (operation, args, code, config) => {
      const r = await send(operation, args, config)
      assert.ok('error' in r, `${operation} should fail with ${code}`)
      assert.equal(r.error.code, code, r.error.message)
      return r.error.message
    },
  }
}

function volume(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, name_id: id, size: 1, multiattach: false, status: 'available', volume_type: { id: 't1', name: 'two', extra_specs: { volume_backend_name: 'lv-1', 'linstor:redundancy': '2' } }, attachments: [], ...extra }
}

const attached = (host: string) => ({ id: `att-${host}`, attached_host: host, attach_status: 'attached', instance_uuid: 'inst-1' })

async function replicas(c: Cinder, rsc: string): Promise<Record<string, string>> {
  const list = await c.client.resources.list(rsc)
  return Object.fromEntries(list.map((r) => [r.node_name, r.flags.includes('TIE_BREAKER') ? 'tiebreaker' : r.flags.includes('DISKLESS') ? 'diskless' : 'diskful']))
}

/** The nodes without a diskful replica (a tie-breaker may be on one of them). */
async function disklessHosts(c: Cinder, rsc: string): Promise<[string, string]> {
  const r = await replicas(c, rsc)
  const hosts = ['alpha', 'bravo', 'charlie', 'delta'].filter((n) => r[n] !== 'diskful')
  assert.equal(hosts.length, 2)
  return hosts as [string, string]
}

/** No diskless client but where wanted, no dual-primary anywhere, no migration record. */
async function invariants(c: Cinder, rsc: string, clients: string[] = []): Promise<void> {
  const rd = await c.client.resourceDefinitions.get(rsc)
  assert.equal(rd?.props[MIGRATION], undefined, 'no migration record')
  assert.equal(rd?.props[ALLOW], undefined)
  for (const conn of await c.client.resourceDefinitions.connections(rsc)) assert.equal(conn.props[ALLOW], undefined, `no dual-primary on ${conn.node_a}-${conn.node_b}`)
  const r = await replicas(c, rsc)
  assert.deepEqual(Object.entries(r).filter(([, k]) => k === 'diskless').map(([n]) => n).sort(), clients.sort())
  assert.equal(Object.values(r).filter((k) => k === 'diskful').length, 2, 'two diskful replicas')
}

test('Nova live migration: attach on the target opens dual-primary for the two hosts only; the source detaching closes it', async (t) => {
  const c = await cinder(t)
  await c.call('create_volume', { volume: volume(VOL) })
  const rsc = `CV_${VOL}`
  const [src, dst] = await disklessHosts(c, rsc)
  const third = Object.entries(await replicas(c, rsc)).find(([, k]) => k === 'diskful')?.[0] as string

  const a = await c.call('initialize_connection', { volume: volume(VOL), connector: { host: src } })
  assert.equal((a['connection_info'] as { driver_volume_type: string }).driver_volume_type, 'local')
  c.emu.control.open(src, rsc)
  const b = await c.call('initialize_connection', { volume: volume(VOL, { attachments: [attached(src), { id: 'new', attach_status: 'attaching' }] }), connector: { host: dst } })
  assert.match((b['connection_info'] as { data: { device_path: string } }).data.device_path, new RegExp(`/${dst}/dev/drbd/by-res/${rsc}/0$`))
  const conn = (await c.client.resourceDefinitions.connections(rsc)).find((x) => [x.node_a, x.node_b].sort().join() === [src, dst].sort().join())
  assert.equal(conn?.props[ALLOW], 'yes', 'dual-primary on the source-target connection')
  assert.equal((await c.client.resourceDefinitions.get(rsc))?.props[ALLOW], undefined, 'never on the whole resource')

  const msg = await c.fails('initialize_connection', { volume: volume(VOL, { attachments: [attached(src), attached(dst)] }), connector: { host: third } }, 'MULTIATTACH_UNSUPPORTED')
  assert.match(msg, /one host at a time/)

  // The guest now runs on the target; Nova deletes the source attachment.
  c.emu.control.open(dst, rsc)
  c.emu.control.close(src, rsc)
  await c.call('terminate_connection', { volume: volume(VOL, { attachments: [attached(src), attached(dst)] }), connector: { host: src } })
  await invariants(c, rsc, [dst])
  c.emu.control.close(dst, rsc)
  assert.deepEqual(await c.call('terminate_connection', { volume: volume(VOL, { attachments: [attached(dst)] }), connector: { host: dst } }), { shared: false })
  await invariants(c, rsc)
})

test('an aborted migration (the target detaches) removes the target\'s client and closes dual-primary', async (t) => {
  const c = await cinder(t)
  await c.call('create_volume', { volume: volume(VOL) })
  const rsc = `CV_${VOL}`
  const [src, dst] = await disklessHosts(c, rsc)
  await c.call('initialize_connection', { volume: volume(VOL), connector: { host: src } })
  c.emu.control.open(src, rsc)
  await c.call('initialize_connection', { volume: volume(VOL, { attachments: [attached(src)] }), connector: { host: dst } })
  await c.call('terminate_connection', { volume: volume(VOL, { attachments: [attached(src), attached(dst)] }), connector: { host: dst } })
  await invariants(c, rsc, [src])
  c.emu.control.close(src, rsc)
})

test('force detach (no connector) removes every unused diskless client and keeps the replicas', async (t) => {
  const c = await cinder(t)
  await c.call('create_volume', { volume: volume(VOL) })
  const rsc = `CV_${VOL}`
  for (const host of await disklessHosts(c, rsc)) await c.call('initialize_connection', { volume: volume(VOL), connector: { host } })
  assert.equal(Object.values(await replicas(c, rsc)).filter((k) => k === 'diskless').length, 2)
  await c.call('terminate_connection', { volume: volume(VOL), connector: null, force: true })
  await invariants(c, rsc)
  // Repeating is harmless, and so is detaching a host that holds a diskful replica.
  await c.call('terminate_connection', { volume: volume(VOL), connector: null, force: true })
  const diskfulHost = Object.entries(await replicas(c, rsc)).find(([, k]) => k === 'diskful')?.[0] as string
  await c.call('terminate_connection', { volume: volume(VOL), connector: { host: diskfulHost } })
  await invariants(c, rsc)
})

test('volumes of the in-tree driver (CV_<id>) and of LINBIT v2 (volume-<name_id>) are found and handled in place', async (t) => {
  const c = await cinder(t)
  for (const name of [`volume-${VOL}`, `CV_${VOL2}`]) {
    await c.client.resourceDefinitions.create({ resource_definition: { name } })
    await c.client.volumeDefinitions.create(name, { volume_definition: { size_kib: 1024 * 1024 } })
    await c.client.resources.autoplace(name, { select_filter: { place_count: 2 } })
  }
  // LINBIT v2 named by name_id; in-tree by id (here a migrated volume whose name_id differs).
  await c.call('extend_volume', { volume: volume(VOL), newSizeGib: 2 })
  assert.equal((await c.client.volumeDefinitions.list(`volume-${VOL}`))[0]?.size_kib, 2 * 1024 * 1024)
  await c.call('create_snapshot', { snapshot: { id: VOL2, volume_size: 1, volume: volume(VOL2, { name_id: 'bbbbbbbb-0000-4000-8000-000000000009' }) } })
  assert.deepEqual((await c.client.snapshots.list(`CV_${VOL2}`)).map((s) => s.name), [`SN_${VOL2}`])
  await c.call('delete_snapshot', { snapshot: { id: VOL2, volume_size: 1, volume: volume(VOL2) } })
  await c.call('delete_volume', { volume: volume(VOL) })
  await c.call('delete_volume', { volume: volume(VOL2) })
  assert.equal(await c.client.resourceDefinitions.get(`volume-${VOL}`), undefined)
  assert.equal(await c.client.resourceDefinitions.get(`CV_${VOL2}`), undefined)
  await c.call('delete_volume', { volume: volume(VOL) }) // gone already: success
})

test('the controller VM\'s volume is never deleted; a host that is no LINSTOR node is named', async (t) => {
  const c = await cinder(t)
  await c.call('create_volume', { volume: volume(VOL) })
  const msg = await c.fails('delete_volume', { volume: volume(VOL) }, 'CONTROLLER_VM_PROTECTED', { controllerVolumes: [`CV_${VOL}`] })
  assert.match(msg, /never deleted/)
  assert.notEqual(await c.client.resourceDefinitions.get(`CV_${VOL}`), undefined)
  const m2 = await c.fails('initialize_connection', { volume: volume(VOL), connector: { host: 'compute-9.example.org' } }, 'NODE_NOT_FOUND')
  assert.match(m2, /compute-9\.example\.org.*linstor_virt_node_map/)
  // The map turns a compute's FQDN into its node name.
  const a = await c.call('initialize_connection', { volume: volume(VOL), connector: { host: 'compute-c.example.org' } })
  assert.equal((a['connection_info'] as { data: { node: string } }).data.node, 'charlie')
  await c.fails('create_volume', { volume: volume(VOL2, { multiattach: true }) }, 'MULTIATTACH_UNSUPPORTED')
  await c.fails('create_volume', { volume: volume(VOL2, { size: 0 }) }, 'CALL_INVALID')
})

test('retype within the backend moves the volume to the new placement without moving data; another backend is declined', async (t) => {
  const c = await cinder(t)
  await c.call('create_volume', { volume: volume(VOL) })
  const rsc = `CV_${VOL}`
  c.emu.control.open(Object.keys(await replicas(c, rsc))[0] as string, rsc)
  const gold = { id: 't3', name: 'gold', extra_specs: { 'linstor:redundancy': '3', 'linstor:property:Aux:tier': 'gold' } }
  assert.deepEqual(await c.call('retype', { volume: volume(VOL), newType: gold, host: { host: 'ctl@other#other', capabilities: {} } }), { changed: false })
  // Another backend section on the same LINSTOR cluster (its location_info is ours) retypes in place.
  assert.deepEqual(await c.call('retype', { volume: volume(VOL), newType: gold, host: { host: 'ctl@lv-2#lv-2', capabilities: { location_info: `linstor-virt:${c.emu.url}` } } }), { changed: true })
  assert.deepEqual(await c.call('retype', { volume: volume(VOL), newType: gold, host: { host: 'ctl@lv-1#lv-1', capabilities: {} } }), { changed: true }, 'repeating it changes nothing more')
  const r = await replicas(c, rsc)
  assert.equal(Object.values(r).filter((k) => k === 'diskful').length, 3)
  const rd = await c.client.resourceDefinitions.get(rsc)
  assert.equal(rd?.props['Aux/tier'], 'gold')
  assert.match(rd?.resource_group_name ?? '', /^LinstorVirt-/)
  await c.fails('retype', { volume: volume(VOL), newType: { name: 'bad', extra_specs: { 'linstor:redundancy': '0' } }, host: { host: 'ctl@lv-1#lv-1' } }, 'VOLUME_TYPE_INVALID')
})
