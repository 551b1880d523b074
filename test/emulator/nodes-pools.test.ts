import assert from 'node:assert/strict'
import { test } from 'node:test'
import { clientFor, createRdWithVolume, entries, getJson, ok, raw, setOnline, withEmulator, write, open } from './helpers.js'

interface Pool {
  storage_pool_name: string
  node_name: string
  provider_kind: string
  free_capacity?: number | string
  total_capacity?: number | string
  static_traits?: Record<string, string>
  supports_snapshots?: boolean
  free_space_mgr_name?: string
}

test('the default cluster: alpha, bravo, charlie, delta online, each with an LVM thin pool and DfltDisklessStorPool', async (t) => {
  const emu = await withEmulator(t)
  const c = clientFor(t, emu)
  const nodes = await c.nodes.list()
  assert.deepEqual(nodes.map((n) => [n.name, n.type, n.connection_status]), [
    ['alpha', 'SATELLITE', 'ONLINE'],
    ['bravo', 'SATELLITE', 'ONLINE'],
    ['charlie', 'SATELLITE', 'ONLINE'],
    ['delta', 'SATELLITE', 'ONLINE'],
  ])
  const pools = (await getJson(emu, '/v1/view/storage-pools')) as Pool[]
  assert.equal(pools.length, 8)
  const thin = pools.find((p) => p.node_name === 'alpha' && p.provider_kind === 'LVM_THIN')
  assert.equal(thin?.storage_pool_name, 'DfltStorPool')
  assert.deepEqual(thin?.static_traits, { Provisioning: 'Thin', SupportsSnapshots: 'true' })
  assert.equal(thin?.free_space_mgr_name, 'alpha;DfltStorPool')
})

test('diskless pools report Long.MAX_VALUE capacities exactly on the wire', async (t) => {
  const emu = await withEmulator(t)
  const r = await raw(emu, 'GET', '/v1/nodes/bravo/storage-pools/DfltDisklessStorPool')
  assert.equal(r.status, 200)
  assert.match(r.text, /"free_capacity":9223372036854775807,"total_capacity":9223372036854775807/)
  assert.match(r.text, /"static_traits":\{"SupportsSnapshots":"false"\}/)
})

test('storage-pool view filters: nodes, storage_pools, props; missing pool → 404', async (t) => {
  const emu = await withEmulator(t)
  const byNode = (await getJson(emu, '/v1/view/storage-pools?nodes=alpha&nodes=Bravo')) as Pool[]
  assert.deepEqual([...new Set(byNode.map((p) => p.node_name))], ['alpha', 'bravo'])
  const byPool = (await getJson(emu, '/v1/view/storage-pools?storage_pools=dfltstorpool')) as Pool[]
  assert.equal(byPool.length, 4)
  const byProp = (await getJson(emu, '/v1/view/storage-pools?props=StorDriver/LvmVg=linstor_vg')) as Pool[]
  assert.equal(byProp.length, 4)
  assert.equal((await raw(emu, 'GET', '/v1/nodes/alpha/storage-pools/nope')).status, 404)
})

test('thick pool capacity: free shrinks on create and resize and grows back on delete', async (t) => {
  const emu = await withEmulator(t, {
    cluster: {
      nodes: [
        { name: 'n1', pools: [{ name: 'thick', provider_kind: 'LVM', total_capacity_kib: 1_000_000, free_capacity_kib: 900_000 }] },
        { name: 'n2', pools: [{ name: 'thick', provider_kind: 'LVM', total_capacity_kib: 1_000_000 }] },
      ],
    },
  })
  const free = async (): Promise<number> => Number(((await getJson(emu, '/v1/nodes/n1/storage-pools/thick')) as Pool).free_capacity)
  assert.equal(await free(), 900_000)
  await createRdWithVolume(emu, 'r1', 100_000)
  await ok(emu, 'POST', '/v1/resource-definitions/r1/resources/n1', { resource: { props: { StorPoolName: 'thick' } } })
  assert.equal(await free(), 800_000)
  await ok(emu, 'PUT', '/v1/resource-definitions/r1/volume-definitions/0', { size_kib: 150_000 })
  assert.equal(await free(), 750_000)
  const tooBig = await raw(emu, 'PUT', '/v1/resource-definitions/r1/volume-definitions/0', { size_kib: 950_000 })
  assert.equal(tooBig.status, 500)
  assert.equal(Number((entries(tooBig.text)[0]?.ret_code ?? 0n) & 0x7fffn), 980)
  await ok(emu, 'DELETE', '/v1/resource-definitions/r1/resources/n1')
  assert.equal(await free(), 900_000)
})

test('thin pool capacity: written data is allocated, deleting the resource frees it', async (t) => {
  const emu = await withEmulator(t)
  const c = clientFor(t, emu)
  const freeOf = async (): Promise<number> => (await c.storagePools.get('alpha', 'DfltStorPool'))?.free_capacity ?? -1
  const before = await freeOf()
  await createRdWithVolume(emu, 'r1', 65536)
  await ok(emu, 'POST', '/v1/resource-definitions/r1/resources/alpha', {})
  assert.equal(await freeOf(), before)
  assert.equal((await open(emu, 'alpha', 'r1')).status, 200)
  assert.equal((await write(emu, 'alpha', 'r1', 0, 0, Buffer.alloc(4 * 1024 * 1024, 7))).status, 200)
  const after = await freeOf()
  assert.ok(before - after >= 4096, `expected >= 4096 KiB allocated, got ${before - after}`)
  const vol = (await c.resources.volumes('r1', 'alpha'))[0]
  assert.ok((vol?.allocated_size_kib ?? 0) >= 4096)
  await raw(emu, 'POST', '/x-emulator/nodes/alpha/resources/r1/close')
  await ok(emu, 'DELETE', '/v1/resource-definitions/r1')
  assert.equal(await freeOf(), before)
})

test('an offline node reports OFFLINE and its resources lose satellite state', async (t) => {
  const emu = await withEmulator(t)
  await createRdWithVolume(emu, 'r1')
  await ok(emu, 'POST', '/v1/resource-definitions/r1/resources/charlie', {})
  await setOnline(emu, 'charlie', false)
  const node = (await getJson(emu, '/v1/nodes/charlie')) as { connection_status: string }
  assert.equal(node.connection_status, 'OFFLINE')
  const rsc = await raw(emu, 'GET', '/v1/resource-definitions/r1/resources/charlie')
  assert.doesNotMatch(rsc.text, /"state"/)
  await setOnline(emu, 'charlie', true)
  const back = await raw(emu, 'GET', '/v1/resource-definitions/r1/resources/charlie')
  assert.match(back.text, /"state":\{"in_use":false\}/)
})

test('node props modify and the nodes props filter', async (t) => {
  const emu = await withEmulator(t)
  const c = clientFor(t, emu)
  await c.nodes.modify('alpha', { override_props: { 'Aux/site': 'east' } })
  await c.nodes.modify('bravo', { override_props: { 'Aux/site': 'west' } })
  const east = (await getJson(emu, '/v1/nodes?props=Aux/site=east')) as Array<{ name: string }>
  assert.deepEqual(east.map((n) => n.name), ['alpha'])
  const any = (await getJson(emu, '/v1/nodes?props=Aux/site')) as Array<{ name: string }>
  assert.deepEqual(any.map((n) => n.name), ['alpha', 'bravo'])
})

test('creating a node adds DfltDisklessStorPool; creating a pool on it works', async (t) => {
  const emu = await withEmulator(t)
  await ok(emu, 'POST', '/v1/nodes', { name: 'echo', type: 'Satellite', net_interfaces: [{ name: 'default', address: '10.0.0.5' }] })
  const dup = await raw(emu, 'POST', '/v1/nodes', { name: 'ECHO' })
  assert.equal(dup.status, 500)
  const pools = (await getJson(emu, '/v1/nodes/echo/storage-pools')) as Pool[]
  assert.deepEqual(pools.map((p) => p.storage_pool_name), ['DfltDisklessStorPool'])
  await ok(emu, 'POST', '/v1/nodes/echo/storage-pools', { storage_pool_name: 'zpool1', provider_kind: 'ZFS_THIN', props: { 'StorDriver/StorPoolName': 'tank' } })
  const zfs = (await getJson(emu, '/v1/nodes/echo/storage-pools/zpool1')) as Pool
  assert.equal(zfs.provider_kind, 'ZFS_THIN')
  assert.equal(zfs.supports_snapshots, true)
})
