import assert from 'node:assert/strict'
import { test } from 'node:test'
import { autoplace, estimateFreeKib, placementCount, ratePools, filterCandidates } from '../../emulator/autoplacer.js'
import type { PlacerNode, PlacerPool, PlacerRequest } from '../../emulator/autoplacer.js'

function pool(node: string, free: number, over: Partial<PlacerPool> = {}): PlacerPool {
  return {
    node,
    pool: 'thin',
    providerKind: 'LVM_THIN',
    freeKib: free,
    totalKib: 1_000_000,
    reservedKib: 0,
    rscCount: 0,
    freeSpaceMgrName: `${node};thin`,
    oversubFree: 20,
    oversubTotal: 20,
    thin: true,
    minThinFreeKib: 100_000,
    autoplaceTarget: true,
    ...over,
  }
}

function node(name: string, props: Record<string, string> = {}, over: Partial<PlacerNode> = {}): PlacerNode {
  return { name, online: true, evacuating: false, props, autoplaceTarget: true, layers: ['DRBD', 'STORAGE'], resources: [], ...over }
}

function req(over: Partial<PlacerRequest>): PlacerRequest {
  return { filter: {}, rscName: 'r', sizeKib: 1024, count: 2, diskless: false, nodes: [], pools: [], existing: [], ...over }
}

test('most free space wins; ties break by node name', () => {
  const nodes = ['delta', 'alpha', 'charlie', 'bravo'].map((n) => node(n))
  const pools = [pool('delta', 500_000), pool('alpha', 400_000), pool('charlie', 500_000), pool('bravo', 900_000)]
  const r = autoplace(req({ nodes, pools }))
  assert.ok(r.ok)
  assert.deepEqual(r.selection.map((p) => p.node), ['bravo', 'charlie'])
})

test('one replica per node: two pools of one node never both chosen', () => {
  const nodes = [node('a'), node('b')]
  const pools = [pool('a', 900_000), pool('a', 800_000, { pool: 'thin2', freeSpaceMgrName: 'a;thin2' }), pool('b', 100_000)]
  const r = autoplace(req({ nodes, pools }))
  assert.ok(r.ok)
  assert.deepEqual(r.selection.map((p) => `${p.node}/${p.pool}`), ['a/thin', 'b/thin'])
})

test('offline, evacuating and AutoplaceTarget=false nodes are not candidates', () => {
  const nodes = [node('a', {}, { online: false }), node('b', {}, { evacuating: true }), node('c', {}, { autoplaceTarget: false }), node('d')]
  const pools = ['a', 'b', 'c', 'd'].map((n) => pool(n, 500_000))
  assert.deepEqual(filterCandidates(req({ nodes, pools })).pools.map((c) => c.pool.node), ['d'])
  const r = autoplace(req({ nodes, pools }))
  assert.equal(r.ok, false)
  assert.equal(!r.ok && r.reason, 'not-enough-nodes')
})

test('free-space estimate: thin pools over-subscribe 20x, bounded by total x ratio minus reserved', () => {
  assert.equal(estimateFreeKib(pool('a', 1000, { totalKib: 100_000, reservedKib: 0 })), 20_000)
  assert.equal(estimateFreeKib(pool('a', 100_000, { totalKib: 100_000, reservedKib: 1_900_000 })), 100_000)
  assert.equal(estimateFreeKib(pool('a', 1000, { freeKib: null })), 0)
  const thick = pool('a', 5000, { thin: false, oversubFree: 1, oversubTotal: 1, totalKib: 10_000 })
  assert.equal(estimateFreeKib(thick), 5000)
})

test('a pool too small for the resource, or a thin pool below MinThinFreeSpace, is filtered', () => {
  const nodes = [node('a'), node('b'), node('c')]
  const pools = [
    pool('a', 40, { thin: false, oversubFree: 1, oversubTotal: 1 }),
    pool('b', 4000, { minThinFreeKib: 100_000 }),
    pool('c', 500_000),
  ]
  const c = filterCandidates(req({ nodes, pools, sizeKib: 1024 }))
  assert.deepEqual(c.pools.map((x) => x.pool.node), ['c'])
})

test('provider kinds are not mixed with the kinds already deployed', () => {
  const nodes = [node('a'), node('b'), node('c')]
  const pools = [pool('b', 900_000, { providerKind: 'ZFS_THIN' }), pool('c', 100_000)]
  const r = autoplace(req({ nodes, pools, count: 1, existing: [{ node: 'a', pool: 'thin', providerKind: 'LVM_THIN', diskless: false }] }))
  assert.ok(r.ok)
  assert.deepEqual(r.selection.map((p) => p.node), ['c'])
  const mixed = autoplace(req({ nodes, pools, count: 1, allowMixing: true, existing: [{ node: 'a', pool: 'thin', providerKind: 'LVM_THIN', diskless: false }] }))
  assert.ok(mixed.ok)
  assert.deepEqual(mixed.selection.map((p) => p.node), ['b'])
})

test('replicas_on_same keeps all replicas on one site; replicas_on_different spreads them', () => {
  const nodes = [node('a', { 'Aux/site': 'x' }), node('b', { 'Aux/site': 'y' }), node('c', { 'Aux/site': 'x' }), node('d', { 'Aux/site': 'y' })]
  const pools = [pool('a', 900_000), pool('b', 800_000), pool('c', 100_000), pool('d', 100_000)]
  const same = autoplace(req({ nodes, pools, filter: { replicas_on_same: ['Aux/site'] } }))
  assert.ok(same.ok)
  assert.deepEqual(same.selection.map((p) => p.node), ['a', 'c'])
  const diff = autoplace(req({ nodes, pools, filter: { replicas_on_different: ['Aux/site'] } }))
  assert.ok(diff.ok)
  assert.deepEqual(diff.selection.map((p) => p.node), ['a', 'b'])
  const fixed = autoplace(req({ nodes, pools, filter: { replicas_on_same: ['Aux/site=y'] } }))
  assert.ok(fixed.ok)
  assert.deepEqual(fixed.selection.map((p) => p.node), ['b', 'd'])
  const three = autoplace(req({ nodes, pools, count: 3, filter: { replicas_on_different: ['Aux/site'] } }))
  assert.equal(three.ok, false)
})

test('replicas_on_same with conflicting deployed values is undecidable', () => {
  const nodes = [node('a', { site: 'x' }), node('b', { site: 'y' }), node('c', { site: 'x' })]
  const r = autoplace(req({
    nodes,
    pools: [pool('c', 100_000)],
    count: 1,
    filter: { replicas_on_same: ['site'] },
    existing: [
      { node: 'a', pool: 'thin', providerKind: 'LVM_THIN', diskless: false },
      { node: 'b', pool: 'thin', providerKind: 'LVM_THIN', diskless: false },
    ],
  }))
  assert.equal(!r.ok && r.reason, 'undecidable')
})

test('not_place_with_rsc and the regex avoid nodes hosting those resources, exempt nodes excepted', () => {
  const nodes = [node('a', {}, { resources: ['db1'] }), node('b', {}, { resources: ['web'] }), node('c')]
  const pools = [pool('a', 900_000), pool('b', 800_000), pool('c', 100_000)]
  const r = autoplace(req({ nodes, pools, count: 1, filter: { not_place_with_rsc: ['DB1'], not_place_with_rsc_regex: '^we' } }))
  assert.ok(r.ok)
  assert.deepEqual(r.selection.map((p) => p.node), ['c'])
  const ex = autoplace(req({ nodes, pools, count: 1, filter: { not_place_with_rsc: ['db1'] }, exemptNodes: ['a'] }))
  assert.ok(ex.ok)
  assert.deepEqual(ex.selection.map((p) => p.node), ['a'])
})

test('storage_pool_list, storage_pool and provider_list restrict pools (case-insensitive)', () => {
  const nodes = [node('a'), node('b')]
  const pools = [pool('a', 900_000), pool('b', 100_000, { pool: 'fast', freeSpaceMgrName: 'b;fast', providerKind: 'ZFS_THIN' })]
  const byList = autoplace(req({ nodes, pools, count: 1, filter: { storage_pool_list: ['FAST'] } }))
  assert.ok(byList.ok)
  assert.deepEqual(byList.selection.map((p) => p.pool), ['fast'])
  const bySingle = autoplace(req({ nodes, pools, count: 1, filter: { storage_pool: 'fast' } }))
  assert.ok(bySingle.ok)
  assert.deepEqual(bySingle.selection.map((p) => p.pool), ['fast'])
  const byProvider = autoplace(req({ nodes, pools, count: 1, filter: { provider_list: ['zfs_thin'] } }))
  assert.ok(byProvider.ok)
  assert.deepEqual(byProvider.selection.map((p) => p.node), ['b'])
})

test('diskless placement uses diskless pools only', () => {
  const nodes = [node('a'), node('b')]
  const pools = [pool('a', 900_000), pool('b', Number.MAX_SAFE_INTEGER, { pool: 'DfltDisklessStorPool', providerKind: 'DISKLESS', freeSpaceMgrName: 'b;d', thin: false, oversubFree: Infinity, oversubTotal: Infinity })]
  const r = autoplace(req({ nodes, pools, count: 1, diskless: true }))
  assert.ok(r.ok)
  assert.deepEqual(r.selection.map((p) => `${p.node}/${p.pool}`), ['b/DfltDisklessStorPool'])
})

test('rating normalises each strategy by its largest value and weighs minimise strategies negatively', () => {
  const cands = [pool('a', 1000, { rscCount: 10 }), pool('b', 500, { rscCount: 0 })].map((p) => ({ pool: p, node: node(p.node) }))
  const rated = ratePools(cands, { MaxFreeSpace: 1, MinReservedSpace: 0, MinRscCount: 1 })
  assert.deepEqual(rated.map((r) => r.score), [1 - 1, 0.5 - 0])
})

test('placementCount: additional wins, else place_count minus existing of the placed kind', () => {
  const ex = [
    { node: 'a', pool: 'p', providerKind: 'LVM', diskless: false },
    { node: 'b', pool: 'd', providerKind: 'DISKLESS', diskless: true },
  ]
  assert.equal(placementCount({}, ex), 1)
  assert.equal(placementCount({ place_count: 3 }, ex), 2)
  assert.equal(placementCount({ place_count: 3, additional_place_count: 1 }, ex), 1)
  assert.equal(placementCount({ place_count: 1, diskless_type: 'DRBD_DISKLESS' }, ex), 0)
  assert.equal(placementCount({ place_count: 0 }, ex), -1)
})

test('x_replicas_on_different_map allows X replicas per value', () => {
  const nodes = [node('a', { rack: '1' }), node('b', { rack: '1' }), node('c', { rack: '2' })]
  const pools = [pool('a', 900_000), pool('b', 800_000), pool('c', 100_000)]
  const r = autoplace(req({ nodes, pools, count: 2, filter: { replicas_on_different: ['rack'], x_replicas_on_different_map: { rack: 2 } } }))
  assert.ok(r.ok)
  assert.deepEqual(r.selection.map((p) => p.node), ['a', 'b'])
})
