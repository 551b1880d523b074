/**
 * ResourceGroups and CapacityCache against the emulator: the derived group is created with its
 * filter and props, kept in sync, read at most once per minute; named groups are used as they are;
 * spawning from the group places the policy's replicas; capacity matches the pools and is cached.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import { isPluginError } from '../../core/errors/index.js'
import { isDisklessPool } from '../../core/linstor/index.js'
import type { LinstorClient } from '../../core/linstor/index.js'
import { createLogger } from '../../core/log/index.js'
import {
  CapacityCache, POLICY_PROP, ResourceGroups, parsePlacementPolicy, policyGroupName, policyKey, spawnOverrides,
} from '../../core/placement/index.js'
import type { ClusterSpec, RunningEmulator } from '../../emulator/index.js'
import { clientFor, getJson, placement, raw, withEmulator } from '../emulator/helpers.js'

const GIB = 1024 * 1024 // KiB

/** Four nodes on two sites: fast thin pools of different sizes, and slow thick pools. */
const CLUSTER: ClusterSpec = {
  nodes: [
    { name: 'alpha', props: { 'Aux/site': 'a' }, pools: [
      { name: 'ssd', provider_kind: 'LVM_THIN', total_capacity_kib: 100 * GIB, free_capacity_kib: 80 * GIB },
      { name: 'hdd', provider_kind: 'LVM', total_capacity_kib: 500 * GIB },
    ] },
    { name: 'bravo', props: { 'Aux/site': 'a' }, pools: [{ name: 'ssd', provider_kind: 'LVM_THIN', total_capacity_kib: 100 * GIB }] },
    { name: 'charlie', props: { 'Aux/site': 'b' }, pools: [{ name: 'ssd', provider_kind: 'LVM_THIN', total_capacity_kib: 50 * GIB }] },
    { name: 'delta', props: { 'Aux/site': 'b' }, pools: [{ name: 'hdd', provider_kind: 'LVM', total_capacity_kib: 500 * GIB, free_capacity_kib: 400 * GIB }] },
  ],
}

interface Setup {
  emu: RunningEmulator
  client: LinstorClient
  /** "METHOD /path" of every request since the last reset (a copy). */
  calls: () => string[]
  writes: () => string[]
  reset: () => void
  clock: { now: number }
  logLines: Array<Record<string, unknown>>
  groups: ResourceGroups
}

async function setup(t: TestContext): Promise<Setup> {
  const log: string[] = []
  const emu = await withEmulator(t, { cluster: CLUSTER, onExchange: (ex) => log.push(`${ex.method} ${ex.url.split('?')[0] ?? ''}`) })
  const client = clientFor(t, emu)
  const clock = { now: 1_000_000 }
  const logLines: Array<Record<string, unknown>> = []
  const logger = createLogger({ level: 'info', destination: { write: (s: string) => void logLines.push(JSON.parse(s) as Record<string, unknown>) } })
  const groups = new ResourceGroups({ client, logger, now: () => clock.now, settingNames: { resourceGroup: 'linstor:resource_group' } })
  return {
    emu, client, clock, logLines, groups,
    calls: () => [...log],
    writes: () => log.filter((c) => !c.startsWith('GET ')),
    reset: () => void log.splice(0),
  }
}

test('ensure creates the derived group with its filter and props, then does no request for a minute', async (t) => {
  const s = await setup(t)
  const policy = parsePlacementPolicy({
    placeCount: 3,
    storagePools: ['ssd'],
    replicasOnDifferent: ['Aux/site'],
    xReplicasOnDifferent: { 'Aux/site': 2 },
    layers: ['drbd'],
    exactSize: true,
    drbdOptions: { 'DrbdOptions/Net/protocol': 'C', 'DrbdOptions/Disk/disk-flushes': 'No' },
  })
  const name = await s.groups.ensure(policy)
  assert.equal(name, policyGroupName(policy))
  assert.match(name, /^LinstorVirt-[0-9a-f]{12}$/)
  assert.deepEqual(s.calls(), [`GET /v1/resource-groups/${name}`, 'POST /v1/resource-groups', `PUT /v1/resource-groups/${name}`])
  const rg = await s.client.resourceGroups.get(name)
  assert.ok(rg !== undefined)
  assert.deepEqual(rg.select_filter, {
    place_count: 3,
    storage_pool_list: ['ssd'],
    replicas_on_different: ['Aux/site'],
    x_replicas_on_different_map: { 'Aux/site': 2 },
    layer_stack: ['DRBD', 'STORAGE'],
  })
  assert.deepEqual(rg.props, {
    [POLICY_PROP]: policyKey(policy),
    'DrbdOptions/ExactSize': 'True',
    'DrbdOptions/Net/protocol': 'C',
    'DrbdOptions/Disk/disk-flushes': 'no',
  })
  assert.ok(s.logLines.some((l) => l['msg'] === 'created resource group for placement policy' && l['resourceGroup'] === name))

  // Same policy again (even re-parsed, in another key order): no request at all within the minute.
  s.reset()
  const again = parsePlacementPolicy({ drbdOptions: { 'DrbdOptions/Disk/disk-flushes': 'no', 'DrbdOptions/Net/protocol': 'C' }, exactSize: true, layers: ['drbd', 'storage'], xReplicasOnDifferent: { 'Aux/site': 2 }, replicasOnDifferent: ['Aux/site'], storagePools: ['ssd'], placeCount: 3, preferLocal: true })
  assert.equal(await s.groups.ensure(again), name)
  assert.deepEqual(s.calls(), [])
  // After the minute: one GET, still no write (the group is in sync).
  s.clock.now += 60_000
  assert.equal(await s.groups.ensure(policy), name)
  assert.deepEqual(s.calls(), [`GET /v1/resource-groups/${name}`])
  // Another instance (another process) finds the group in sync: one GET, no write.
  s.reset()
  assert.equal(await new ResourceGroups({ client: s.client }).ensure(policy), name)
  assert.deepEqual(s.calls(), [`GET /v1/resource-groups/${name}`])
})

test('concurrent ensure calls: one check per instance, and a concurrent creator\'s FAIL_EXISTS_RSC_GRP is fine', async (t) => {
  const s = await setup(t)
  const policy = parsePlacementPolicy({ placeCount: 2, storagePools: ['ssd'] })
  const other = new ResourceGroups({ client: s.client })
  const names = await Promise.all([s.groups.ensure(policy), s.groups.ensure(policy), other.ensure(policy), other.ensure(policy)])
  assert.equal(new Set(names).size, 1)
  // Two instances: each did its own GET and POST; one POST lost the race.
  assert.equal(s.calls().filter((c) => c === 'POST /v1/resource-groups').length, 2)
  const rg = await s.client.resourceGroups.get(names[0] ?? '')
  assert.equal(rg?.props[POLICY_PROP], policyKey(policy))
  assert.deepEqual(rg?.select_filter, { place_count: 2, storage_pool_list: ['ssd'] })
})

test('a derived group edited by someone is put back in sync with one modify and an info line', async (t) => {
  const s = await setup(t)
  const policy = parsePlacementPolicy({ placeCount: 2, storagePools: ['ssd'], replicasOnSame: ['Aux/site'], drbdOptions: { 'DrbdOptions/Net/protocol': 'C' } })
  const name = await s.groups.ensure(policy)
  // An operator changes the filter and the props; a foreign prop is left alone.
  await s.client.resourceGroups.modify(name, {
    select_filter: { place_count: 4, storage_pool_list: ['hdd', 'ssd'], node_name_list: ['alpha', 'bravo'], diskless_on_remaining: true, replicas_on_same: [] },
    override_props: { [POLICY_PROP]: '{}', 'DrbdOptions/ExactSize': 'true', 'DrbdOptions/Net/protocol': 'A', 'Aux/owner': 'ops' },
  })
  s.reset()
  s.clock.now += 60_000
  assert.equal(await s.groups.ensure(policy), name)
  assert.deepEqual(s.writes(), [`PUT /v1/resource-groups/${name}`])
  const rg = await s.client.resourceGroups.get(name)
  assert.deepEqual(rg?.select_filter, { place_count: 2, storage_pool_list: ['ssd'], replicas_on_same: ['Aux/site'], diskless_on_remaining: false })
  assert.deepEqual(rg?.props, { [POLICY_PROP]: policyKey(policy), 'DrbdOptions/Net/protocol': 'C', 'Aux/owner': 'ops' })
  const line = s.logLines.find((l) => l['msg'] === 'resource group drifted from its placement policy; restored')
  assert.ok(line !== undefined)
  assert.equal(line['level'], 30)
  assert.deepEqual(line['fields'], ['place_count', 'storage_pool_list', 'replicas_on_same', 'node_name_list', 'diskless_on_remaining'])
  // Now in sync: the next check (after the minute) writes nothing.
  s.reset()
  s.clock.now += 60_000
  await s.groups.ensure(policy)
  assert.deepEqual(s.writes(), [])
})

test('a named group that does not exist: PLACEMENT_GROUP_MISSING naming the platform setting, nothing created', async (t) => {
  const s = await setup(t)
  const err = await s.groups.ensure(parsePlacementPolicy({ resourceGroup: 'gold', placeCount: 3 })).then(() => undefined, (e: unknown) => e)
  assert.ok(isPluginError(err))
  assert.equal(err.code, 'PLACEMENT_GROUP_MISSING')
  assert.match(err.message, /resource group gold \(setting linstor:resource_group\) does not exist/)
  assert.deepEqual(err.context, { resourceGroup: 'gold', setting: 'linstor:resource_group' })
  assert.deepEqual(s.writes(), [])
  // Not cached: once the operator creates it, the next call finds it.
  await s.client.resourceGroups.create({ name: 'gold' })
  assert.equal(await s.groups.ensure(parsePlacementPolicy({ resourceGroup: 'gold', placeCount: 3 })), 'gold')
})

test('a named group is used unchanged; policy fields become per-spawn overrides', async (t) => {
  const s = await setup(t)
  await s.client.resourceGroups.create({ name: 'Gold', select_filter: { place_count: 3, storage_pool_list: ['ssd'] } })
  await s.client.resourceGroups.modify('Gold', { override_props: { 'DrbdOptions/Net/protocol': 'A' } })
  const before = await getJson(s.emu, '/v1/resource-groups/Gold')
  s.reset()
  const policy = parsePlacementPolicy({ resourceGroup: 'gold', placeCount: 1, exactSize: true })
  assert.equal(await s.groups.ensure(policy), 'Gold')
  assert.deepEqual(s.calls(), ['GET /v1/resource-groups/gold'])
  assert.deepEqual(await getJson(s.emu, '/v1/resource-groups/Gold'), before)
  // Spawning with the overrides places one replica instead of the group's three.
  const overrides = spawnOverrides(policy)
  assert.deepEqual(overrides, { place_count: 1 })
  await s.client.resourceGroups.spawn('Gold', { resource_definition_name: 'vm-101-disk-0', volume_sizes: [10240], ...(overrides === undefined ? {} : { select_filter: overrides }) })
  const p = await placement(s.emu, 'vm-101-disk-0')
  assert.equal(Object.values(p).filter((f) => !f.includes('DISKLESS')).length, 1)
  // Without overrides the group's own filter applies.
  await s.client.resourceGroups.spawn('Gold', { resource_definition_name: 'vm-102-disk-0', volume_sizes: [10240] })
  assert.equal(Object.values(await placement(s.emu, 'vm-102-disk-0')).filter((f) => !f.includes('DISKLESS')).length, 3)
})

test('spawning from the ensured group with one volume size places placeCount diskful replicas as the policy says', async (t) => {
  const s = await setup(t)
  const policy = parsePlacementPolicy({ placeCount: 3, storagePools: ['ssd'], exactSize: true })
  const group = await s.groups.ensure(policy)
  // The derived group has no volume groups: LINSTOR spawns with "partial" by itself.
  const reply = await s.client.resourceGroups.spawn(group, { resource_definition_name: 'vm-100-disk-0', volume_sizes: [1 * GIB] })
  assert.ok(reply.length > 0)
  const rows = await s.client.view.resources({ resources: ['vm-100-disk-0'] })
  const diskful = rows.filter((r) => !r.flags.includes('DISKLESS'))
  assert.deepEqual(diskful.map((r) => r.node_name).sort(), ['alpha', 'bravo', 'charlie'])
  for (const r of diskful) assert.equal(r.volumes[0]?.storage_pool_name, 'ssd')
  const rd = await s.client.resourceDefinitions.get('vm-100-disk-0')
  assert.equal(rd?.resource_group_name, group)
  // Replicas on different sites: one on each.
  const spread = await s.groups.ensure(parsePlacementPolicy({ placeCount: 2, replicasOnDifferent: ['Aux/site'] }))
  await s.client.resourceGroups.spawn(spread, { resource_definition_name: 'vm-103-disk-0', volume_sizes: [GIB] })
  const sites = (await s.client.view.resources({ resources: ['vm-103-disk-0'] }))
    .filter((r) => !r.flags.includes('DISKLESS'))
    .map((r) => CLUSTER.nodes.find((n) => n.name === r.node_name)?.props?.['Aux/site'])
  assert.deepEqual(sites.sort(), ['a', 'b'])
})

test('CapacityCache: numbers match the pools and query-size-info; cached for maxAge; concurrent calls share one request', async (t) => {
  const s = await setup(t)
  const cache = new CapacityCache({ client: s.client, groups: s.groups, now: () => s.clock.now })
  const policy = parsePlacementPolicy({ placeCount: 2, storagePools: ['ssd'] })
  const c = await cache.capacity(policy)
  const group = policyGroupName(policy)
  assert.equal(c.resourceGroup, group)
  assert.equal(c.measuredAt, s.clock.now)
  // Raw sums over the ssd pools (diskless pools and hdd excluded).
  assert.equal(c.totalFreeBytes, (80 + 100 + 50) * GIB * 1024)
  assert.equal(c.totalCapacityBytes, (100 + 100 + 50) * GIB * 1024)
  const pools = (await s.client.storagePools.list({ storagePools: ['ssd'] })).filter((p) => !isDisklessPool(p))
  assert.equal(c.totalFreeBytes, pools.reduce((n, p) => n + (p.free_capacity ?? 0), 0) * 1024)
  // LINSTOR's own estimate, as the controller reports it for the group.
  const info = JSON.parse((await raw(s.emu, 'POST', `/v1/resource-groups/${group}/query-size-info`, {})).text) as {
    space_info: { max_vlm_size_in_kib: number; available_size_in_kib: number; capacity_in_kib: number }
  }
  assert.ok(info.space_info.max_vlm_size_in_kib > 0)
  assert.equal(c.maxVolumeBytes, info.space_info.max_vlm_size_in_kib * 1024)
  assert.equal(c.availableBytes, info.space_info.available_size_in_kib * 1024)
  assert.equal(c.capacityBytes, info.space_info.capacity_in_kib * 1024)
  assert.ok(c.availableBytes > 0 && c.availableBytes <= c.totalFreeBytes / 2)
  assert.ok(c.capacityBytes > 0 && c.capacityBytes <= c.totalCapacityBytes / 2)

  // Within maxAge (10 s): no request.
  s.reset()
  s.clock.now += 9_999
  assert.equal(await cache.capacity(policy), c)
  assert.deepEqual(s.calls(), [])
  // After maxAge: asks again (query-size-info and the pools; the group check is still cached).
  s.clock.now += 1
  const fresh = await cache.capacity(policy)
  assert.notEqual(fresh, c)
  assert.deepEqual(s.calls().sort(), [`POST /v1/resource-groups/${group}/query-size-info`, 'GET /v1/view/storage-pools'].sort())
  // A per-call maxAge.
  s.reset()
  s.clock.now += 1_000
  await cache.capacity(policy, { maxAgeMs: 500 })
  assert.equal(s.calls().filter((x) => x.endsWith('/query-size-info')).length, 1)

  // Concurrent callers share one measurement.
  s.reset()
  s.clock.now += 60_000
  const all = await Promise.all([cache.capacity(policy), cache.capacity(policy), cache.capacity(policy), cache.capacity(policy)])
  assert.ok(all.every((x) => x === all[0]))
  assert.equal(s.calls().filter((x) => x.endsWith('/query-size-info')).length, 1)
  assert.equal(s.calls().filter((x) => x === 'GET /v1/view/storage-pools').length, 1)
})

test('CapacityCache: a policy that cannot be placed has maxVolumeBytes 0; a failure is not cached', async (t) => {
  const s = await setup(t)
  const cache = new CapacityCache({ client: s.client, groups: s.groups, now: () => s.clock.now })
  // Four replicas on ssd: only three nodes have it.
  const tooMany = await cache.capacity(parsePlacementPolicy({ placeCount: 4, storagePools: ['ssd'] }))
  assert.equal(tooMany.maxVolumeBytes, 0)
  assert.equal(tooMany.totalFreeBytes, 230 * GIB * 1024)
  // A missing named group fails, and the next call asks again.
  const named = parsePlacementPolicy({ resourceGroup: 'silver' })
  await assert.rejects(cache.capacity(named), (e: unknown) => isPluginError(e) && e.code === 'PLACEMENT_GROUP_MISSING')
  await s.client.resourceGroups.create({ name: 'silver', select_filter: { place_count: 1, storage_pool_list: ['hdd'] } })
  const c = await cache.capacity(named)
  assert.equal(c.resourceGroup, 'silver')
  assert.equal(c.totalFreeBytes, (500 + 400) * GIB * 1024)
  assert.equal(c.totalCapacityBytes, 1000 * GIB * 1024)
  // Thick pools: the largest volume is the free space of the pool the next spawn would pick.
  assert.equal(c.maxVolumeBytes, 500 * GIB * 1024)
  // The named group with an override: capacity for the overridden filter (the request's filter wins).
  const overridden = await cache.capacity(parsePlacementPolicy({ resourceGroup: 'silver', storagePools: ['ssd'], placeCount: 3 }))
  assert.equal(overridden.resourceGroup, 'silver')
  assert.equal(overridden.totalFreeBytes, 230 * GIB * 1024)
  const info = JSON.parse((await raw(s.emu, 'POST', '/v1/resource-groups/silver/query-size-info', { select_filter: { place_count: 3, storage_pool_list: ['ssd'] } })).text) as {
    space_info: { max_vlm_size_in_kib: number }
  }
  assert.ok(info.space_info.max_vlm_size_in_kib > 0)
  assert.equal(overridden.maxVolumeBytes, info.space_info.max_vlm_size_in_kib * 1024)
})
