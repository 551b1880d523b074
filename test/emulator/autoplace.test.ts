import assert from 'node:assert/strict'
import { test } from 'node:test'
import { clientFor, code, createRdWithVolume, entries, ok, placement, raw, setOnline, withEmulator } from './helpers.js'
import type { ClusterSpec } from '../../emulator/index.js'

const sites: ClusterSpec = {
  nodes: [
    ['n1', 'a', 900_000],
    ['n2', 'a', 800_000],
    ['n3', 'b', 700_000],
    ['n4', 'b', 600_000],
  ].map(([name, site, total]) => ({
    name: String(name),
    props: { 'Aux/site': String(site) },
    pools: [{ name: 'thin', provider_kind: 'LVM_THIN' as const, total_capacity_kib: Number(total) }],
  })),
}

test('autoplace: most free space first, 201 with the placement message and obj_refs', async (t) => {
  const emu = await withEmulator(t, { cluster: sites })
  await createRdWithVolume(emu, 'r1', 1024)
  const r = await raw(emu, 'POST', '/v1/resource-definitions/r1/autoplace', { select_filter: { place_count: 2 } })
  assert.equal(r.status, 201)
  const [first] = entries(r.text)
  assert.equal(first?.message, "Resource 'r1' successfully autoplaced on 2 nodes")
  assert.equal(first?.details, "Used nodes (storage pool name): 'n1 (thin)', 'n2 (thin)'")
  assert.equal(first?.obj_refs?.['StoragePool/0/0'], 'thin,LVM_THIN')
})

test('autoplace when already placed: 201 with WARN_RSC_ALREADY_DEPLOYED, also for fewer than deployed', async (t) => {
  const emu = await withEmulator(t)
  await createRdWithVolume(emu, 'r1')
  const c = clientFor(t, emu)
  await c.resources.autoplace('r1', { select_filter: { place_count: 2 } })
  const again = await raw(emu, 'POST', '/v1/resource-definitions/r1/autoplace', { select_filter: { place_count: 2 } })
  assert.equal(again.status, 201)
  assert.match(again.text, /"ret_code":-9223372036834589714,"message":"Resource 'r1' was already deployed on 2 nodes. Skipping."/)
  const fewer = await raw(emu, 'POST', '/v1/resource-definitions/r1/autoplace', { select_filter: { place_count: 1 } })
  assert.equal(fewer.status, 201)
  assert.equal(code(entries(fewer.text)[0]?.ret_code ?? 0n), 1006)
  const more = await c.resources.autoplace('r1', { select_filter: { place_count: 3 } })
  assert.ok(more.some((e) => e.message.includes('successfully autoplaced on 1 nodes')))
})

test('FAIL_NOT_ENOUGH_NODES (500) when it cannot place; offline nodes are not used', async (t) => {
  const emu = await withEmulator(t)
  await createRdWithVolume(emu, 'r1')
  await setOnline(emu, 'alpha', false)
  await setOnline(emu, 'bravo', false)
  const r = await raw(emu, 'POST', '/v1/resource-definitions/r1/autoplace', { select_filter: { place_count: 3 } })
  assert.equal(r.status, 500)
  assert.match(r.text, /"ret_code":-4611686018407201820,"message":"Not enough available nodes"/)
  assert.match(entries(r.text)[0]?.details ?? '', /Not enough nodes fulfilling the following auto-place criteria/)
  await ok(emu, 'POST', '/v1/resource-definitions/r1/autoplace', { select_filter: { place_count: 2 } })
  const p = await placement(emu, 'r1')
  assert.deepEqual(Object.keys(p).filter((n) => p[n]?.length === 0), ['charlie', 'delta'])
})

test('unknown storage pool names filter everything out', async (t) => {
  const emu = await withEmulator(t)
  await createRdWithVolume(emu, 'r1')
  const r = await raw(emu, 'POST', '/v1/resource-definitions/r1/autoplace', { select_filter: { place_count: 1, storage_pool: 'nopool' } })
  assert.equal(r.status, 500)
  assert.match(entries(r.text)[0]?.details ?? '', /has a deployed storage pool named 'nopool'/)
})

test('replicas_on_same / replicas_on_different with node properties', async (t) => {
  const emu = await withEmulator(t, { cluster: sites })
  await createRdWithVolume(emu, 'same', 1024)
  await ok(emu, 'POST', '/v1/resource-definitions/same/autoplace', { select_filter: { place_count: 2, replicas_on_same: ['Aux/site=b'] } })
  const s = await placement(emu, 'same')
  assert.deepEqual(Object.keys(s).filter((n) => s[n]?.length === 0), ['n3', 'n4'])
  await createRdWithVolume(emu, 'diff', 1024)
  await ok(emu, 'POST', '/v1/resource-definitions/diff/autoplace', { select_filter: { place_count: 2, replicas_on_different: ['Aux/site'] } })
  const d = await placement(emu, 'diff')
  const diskful = Object.keys(d).filter((n) => d[n]?.length === 0)
  assert.deepEqual(diskful, ['n1', 'n3'])
})

test('the resource group filter is merged under the request (default place_count from the group)', async (t) => {
  const emu = await withEmulator(t)
  await ok(emu, 'POST', '/v1/resource-groups', { name: 'three', select_filter: { place_count: 3 } })
  await createRdWithVolume(emu, 'r1', 1024, { resource_group_name: 'three' })
  await ok(emu, 'POST', '/v1/resource-definitions/r1/autoplace', { select_filter: {} })
  const p = await placement(emu, 'r1')
  assert.equal(Object.values(p).filter((f) => f.length === 0).length, 3)
})

test('diskless_on_remaining at top level adds DRBD clients on every other node', async (t) => {
  const emu = await withEmulator(t)
  await createRdWithVolume(emu, 'r1')
  await ok(emu, 'POST', '/v1/resource-definitions/r1/autoplace', { select_filter: { place_count: 2, diskless_on_remaining: false }, diskless_on_remaining: true })
  const p = await placement(emu, 'r1')
  assert.deepEqual(p, { alpha: [], bravo: [], charlie: ['DISKLESS', 'DRBD_DISKLESS'], delta: ['DISKLESS', 'DRBD_DISKLESS'] })
  const c = clientFor(t, emu)
  const layer = (await c.resources.get('r1', 'delta'))?.layer_object as { drbd?: { flags?: string[] } }
  assert.deepEqual(layer.drbd?.flags, ['CLIENT'])
})

test('a node holding a diskless replica can be chosen; the replica then gets a disk', async (t) => {
  const emu = await withEmulator(t, { cluster: sites })
  await createRdWithVolume(emu, 'r1', 1024)
  await ok(emu, 'POST', '/v1/resource-definitions/r1/resources/n4', { resource: { props: { StorPoolName: 'thin' } } })
  await ok(emu, 'POST', '/v1/resource-definitions/r1/resources/n1', { resource: { flags: ['DISKLESS'] } })
  await ok(emu, 'POST', '/v1/resource-definitions/r1/autoplace', { select_filter: { place_count: 2 } })
  const p = await placement(emu, 'r1')
  assert.deepEqual(p['n1'], [])
  assert.deepEqual(p['n4'], [])
})

test('thin over-subscription: a volume larger than the pool but within 20x (minus 10 % reserve) is placed', async (t) => {
  const emu = await withEmulator(t, { cluster: { nodes: [{ name: 'n1', pools: [{ name: 'thin', provider_kind: 'LVM_THIN', total_capacity_kib: 100_000 }] }] } })
  await createRdWithVolume(emu, 'big', 1_500_000)
  await ok(emu, 'POST', '/v1/resource-definitions/big/autoplace', { select_filter: { place_count: 1 } })
  await createRdWithVolume(emu, 'huge', 600_000)
  const r = await raw(emu, 'POST', '/v1/resource-definitions/huge/autoplace', { select_filter: { place_count: 1 } })
  assert.equal(r.status, 500)
})
