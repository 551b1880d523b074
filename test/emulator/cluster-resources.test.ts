/**
 * Resources declared in a cluster description (`resources:`): they exist when the emulator
 * starts, exactly as if they had been made through the REST API, files included; bad
 * declarations are refused with a message naming the field; and a large declaration (100 nodes,
 * 2,000 resources here; 10,000 in bench/status.bench.ts) starts without a REST round trip each.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import type { ClusterResourceSpec, ClusterSpec, RunningEmulator } from '../../emulator/index.js'
import { loadClusterFile, parseClusterSpec, startEmulator } from '../../emulator/index.js'
import { repoRoot } from '../helpers/paths.js'
import { getJson, ok, open, raw, viewResources, withEmulator } from './helpers.js'

const GIB = 1024 * 1024
const EXAMPLE = (): string => path.join(repoRoot(), 'emulator', 'clusters', 'preexisting.yaml')
const FIXED_CLOCK = (): Date => new Date('2024-05-01T12:00:00.000Z')

interface RdRow {
  name: string
  resource_group_name: string
  props?: Record<string, string>
  volume_definitions?: Array<{ volume_number: number; size_kib: number; layer_data: Array<{ type: string; data?: { minor_number?: number } }> }>
}

interface PoolRow {
  node_name: string
  storage_pool_name: string
  free_capacity?: number | string
  total_capacity?: number | string
}

async function rds(emu: RunningEmulator): Promise<RdRow[]> {
  return (await getJson(emu, '/v1/resource-definitions?with_volume_definitions=true')) as RdRow[]
}

async function pool(emu: RunningEmulator, node: string, name: string): Promise<PoolRow> {
  return (await getJson(emu, `/v1/nodes/${node}/storage-pools/${name}`)) as PoolRow
}

function tempDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emu-seed-test-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Every file under a directory, relative to it (sorted). */
function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return []
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort()
}

/**
 * The satellites' files of a state directory: each data file with its size, each device file with
 * the data file it is a hard link of (so two directories can be compared).
 */
function deviceTree(stateDir: string): Record<string, string> {
  const out: Record<string, string> = {}
  const byIno = new Map<number, string>()
  for (const f of filesUnder(path.join(stateDir, 'data'))) {
    const st = fs.statSync(path.join(stateDir, 'data', f))
    byIno.set(st.ino, `data/${f}`)
    out[`data/${f}`] = `${st.size} bytes`
  }
  for (const f of filesUnder(path.join(stateDir, 'nodes'))) {
    out[`nodes/${f}`] = byIno.get(fs.statSync(path.join(stateDir, 'nodes', f)).ino) ?? 'not a link of a data file'
  }
  return out
}

test('the example cluster file: declared resources show up in the views as declared', async (t) => {
  const emu = await withEmulator(t, { cluster: EXAMPLE() })
  const defs = await rds(emu)
  assert.deepEqual(
    defs.map((d) => [d.name, d.resource_group_name, d.props?.['Aux/pm/vmid'] ?? d.props?.['Aux/one/vm']]),
    [
      ['one-7-disk-0', 'DfltRscGrp', '7'],
      ['pm-12345678', 'DfltRscGrp', '100'],
      ['pm-87654321', 'pve-thick', '101'],
    ],
  )
  const vds = (d: RdRow | undefined): Array<[number, number, number | undefined]> =>
    (d?.volume_definitions ?? []).map((v) => [v.volume_number, v.size_kib, v.layer_data.find((l) => l.type === 'DRBD')?.data?.minor_number])
  assert.deepEqual(vds(defs[0]), [[0, 2097152, 1003]])
  assert.deepEqual(vds(defs[1]), [[0, 10 * GIB, 1000]])
  assert.deepEqual(vds(defs[2]), [
    [0, 4 * GIB, 1001],
    [1, GIB, 1002],
  ])
  // Auto-quorum ran as after a REST create: two diskful + a voter gives majority, one replica off.
  assert.deepEqual(defs.map((d) => d.props?.['DrbdOptions/Resource/quorum']), ['off', 'majority', 'majority'])

  const rows = await viewResources(emu)
  assert.deepEqual(
    rows.map((r) => [r.name, r.node_name, r.flags ?? [], r.volumes.map((v) => `${v.storage_pool_name} ${v.device_path ?? ''}`)]),
    [
      ['one-7-disk-0', 'delta', [], ['DfltStorPool /dev/drbd1003']],
      ['pm-12345678', 'alpha', [], ['DfltStorPool /dev/drbd1000']],
      ['pm-12345678', 'bravo', [], ['DfltStorPool /dev/drbd1000']],
      // Two diskful replicas: the controller adds a tie-breaker on a third node.
      ['pm-12345678', 'charlie', ['DISKLESS', 'DRBD_DISKLESS', 'TIE_BREAKER'], ['DfltDisklessStorPool /dev/drbd1000']],
      ['pm-87654321', 'bravo', [], ['thick /dev/drbd1001', 'thick /dev/drbd1002']],
      ['pm-87654321', 'charlie', [], ['thick /dev/drbd1001', 'thick /dev/drbd1002']],
      ['pm-87654321', 'delta', ['DISKLESS', 'DRBD_DISKLESS'], ['DfltDisklessStorPool /dev/drbd1001', 'DfltDisklessStorPool /dev/drbd1002']],
    ],
  )
  assert.deepEqual(rows[0]?.props, { 'Aux/origin': 'imported', StorPoolName: 'DfltStorPool' })
  assert.deepEqual(
    rows.map((r) => r.volumes.map((v) => v.state?.disk_state)),
    [['UpToDate'], ['UpToDate'], ['UpToDate'], ['Diskless'], ['UpToDate', 'UpToDate'], ['UpToDate', 'UpToDate'], ['Diskless', 'Diskless']],
  )
})

test('device files exist on exactly the replica nodes, as links of one sparse data file per volume', async (t) => {
  const emu = await withEmulator(t, { cluster: EXAMPLE() })
  const holders: Record<string, string[]> = {
    'pm-12345678': ['alpha', 'bravo', 'charlie'],
    'pm-87654321': ['bravo', 'charlie', 'delta'],
    'one-7-disk-0': ['delta'],
  }
  const volumes: Record<string, Array<[number, number, number]>> = {
    'pm-12345678': [[0, 1000, 10 * GIB]],
    'pm-87654321': [
      [0, 1001, 4 * GIB],
      [1, 1002, GIB],
    ],
    'one-7-disk-0': [[0, 1003, 2097152]],
  }
  for (const [rsc, vols] of Object.entries(volumes)) {
    for (const [nr, minor, sizeKib] of vols) {
      const data = fs.statSync(path.join(emu.stateDir, 'data', rsc.toUpperCase(), String(nr)))
      assert.equal(data.size, sizeKib * 1024)
      assert.ok(data.blocks * 512 < 1024 * 1024, `${rsc}/${nr} is sparse`)
      for (const node of ['alpha', 'bravo', 'charlie', 'delta']) {
        const byRes = path.join(emu.deviceRoot(node), 'dev', 'drbd', 'by-res', rsc, String(nr))
        const dev = path.join(emu.deviceRoot(node), 'dev', `drbd${minor}`)
        const expected = holders[rsc]?.includes(node) === true
        assert.equal(fs.existsSync(byRes), expected, `${byRes} exists: ${String(expected)}`)
        assert.equal(fs.existsSync(dev), expected, `${dev} exists: ${String(expected)}`)
        if (expected) {
          assert.equal(fs.statSync(byRes).ino, data.ino)
          assert.equal(fs.statSync(dev).ino, data.ino)
        }
      }
    }
  }
})

test('thick pools lose the declared capacity; size queries see it', async (t) => {
  const emu = await withEmulator(t, { cluster: EXAMPLE() })
  const withoutResources = await loadClusterFile(EXAMPLE())
  delete withoutResources.resources
  const empty = await withEmulator(t, { cluster: withoutResources })
  for (const node of ['bravo', 'charlie']) {
    const p = await pool(emu, node, 'thick')
    assert.equal(Number(p.free_capacity), 52428800 - 5 * GIB)
    assert.equal(Number(p.total_capacity), 52428800)
  }
  // Thin pools allocate what is written: nothing yet, and the first write shows.
  assert.equal(Number((await pool(emu, 'alpha', 'DfltStorPool')).free_capacity), 104857600)
  fs.writeFileSync(path.join(emu.deviceRoot('alpha'), 'dev', 'drbd', 'by-res', 'pm-12345678', '0'), Buffer.alloc(1024 * 1024, 1), { flag: 'r+' })
  // Written from outside the emulator: it shows with the next satellite report (ALLOCATION_REPORT_MS).
  let free = Number((await pool(emu, 'alpha', 'DfltStorPool')).free_capacity)
  for (let i = 0; i < 30 && free !== 104857600 - 1024; i++) {
    await new Promise((r) => setTimeout(r, 100))
    free = Number((await pool(emu, 'alpha', 'DfltStorPool')).free_capacity)
  }
  assert.equal(free, 104857600 - 1024)

  const sizeInfo = async (e: RunningEmulator): Promise<number> => {
    const r = await raw(e, 'POST', '/v1/resource-groups/pve-thick/query-size-info', {})
    assert.equal(r.status, 200)
    return (JSON.parse(r.text) as { space_info: { max_vlm_size_in_kib: number } }).space_info.max_vlm_size_in_kib
  }
  assert.equal(await sizeInfo(empty), 52428800)
  assert.equal(await sizeInfo(emu), 52428800 - 5 * GIB)
})

/** Six nodes, thin and thick pools, one offline node, a group with a pool filter. */
function twinCluster(resources: ClusterResourceSpec[] | undefined): ClusterSpec {
  const nodes = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'].map((name, i) => ({
    name,
    online: name !== 'n6',
    props: { 'Aux/site': i % 2 === 0 ? 'east' : 'west' },
    pools: [
      { name: 'DfltStorPool', provider_kind: 'LVM_THIN' as const, total_capacity_kib: 50 * GIB },
      ...(i < 4 ? [{ name: 'thick', provider_kind: 'LVM' as const, total_capacity_kib: 30 * GIB, free_capacity_kib: 25 * GIB }] : []),
    ],
  }))
  const spec: ClusterSpec = {
    nodes,
    resource_groups: [{ name: 'grp', props: { 'Aux/g': '1' }, select_filter: { place_count: 3 } }],
  }
  if (resources !== undefined) spec.resources = resources
  return spec
}

/** A mix: thick pairs, thin triples, pairs with a diskless peer, group members, single replicas. */
function twinResources(count: number): ClusterResourceSpec[] {
  const node = (n: number): string => `n${(n % 6) + 1}`
  const out: ClusterResourceSpec[] = []
  for (let i = 0; i < count; i++) {
    const name = `vol-${i}`
    switch (i % 5) {
      case 0:
        out.push({ name, volumes: [GIB], replicas: [{ node: `n${(i % 4) + 1}`, pool: 'thick' }, { node: `n${((i + 1) % 4) + 1}`, pool: 'thick' }] })
        break
      case 1:
        out.push({ name, props: { 'Aux/i': String(i) }, volumes: [2 * GIB], replicas: [{ node: node(i) }, { node: node(i + 1) }, { node: node(i + 2) }] })
        break
      case 2:
        out.push({ name, volumes: [GIB], replicas: [{ node: node(i) }, { node: node(i + 3) }, { node: node(i + 4), diskless: true }] })
        break
      case 3:
        out.push({ name, resource_group: 'grp', volumes: [GIB, 4096], replicas: [{ node: node(i), props: { 'Aux/r': 'x' } }] })
        break
      default:
        out.push({ name, volumes: [GIB], replicas: [{ node: node(i) }, { node: node(i + 2) }] })
    }
  }
  return out
}

/** What a client would send to make a declared resource: RD create, VD creates, one batch create. */
async function createThroughRest(emu: RunningEmulator, r: ClusterResourceSpec): Promise<void> {
  const rd: Record<string, unknown> = { name: r.name, props: r.props ?? {} }
  if (r.resource_group !== undefined) rd['resource_group_name'] = r.resource_group
  await ok(emu, 'POST', '/v1/resource-definitions', { resource_definition: rd })
  for (const [nr, size] of r.volumes.entries()) {
    await ok(emu, 'POST', `/v1/resource-definitions/${r.name}/volume-definitions`, { volume_definition: { volume_number: nr, size_kib: size } })
  }
  const items = r.replicas.map((x) => ({
    resource: {
      node_name: x.node,
      props: { ...(x.props ?? {}), ...(x.pool !== undefined && x.diskless !== true ? { StorPoolName: x.pool } : {}) },
      flags: x.diskless === true ? ['DRBD_DISKLESS'] : [],
    },
  }))
  const r2 = await raw(emu, 'POST', `/v1/resource-definitions/${r.name}/resources`, items)
  assert.equal(r2.status, 201, r2.text)
}

test('seeded resources equal the same resources made through REST calls (state, views, files)', async (t) => {
  const resources = twinResources(40)
  const seeded = await withEmulator(t, { cluster: twinCluster(resources), seed: 42, clock: FIXED_CLOCK })
  const rest = await withEmulator(t, { cluster: twinCluster(undefined), seed: 42, clock: FIXED_CLOCK })
  for (const r of resources) await createThroughRest(rest, r)

  assert.deepEqual(seeded.state(), rest.state())
  for (const p of ['/v1/view/resources', '/v1/resource-definitions?with_volume_definitions=true', '/v1/view/storage-pools', '/v1/resource-definitions/vol-7/resources']) {
    assert.equal((await raw(seeded, 'GET', p)).text, (await raw(rest, 'GET', p)).text, p)
  }
  for (const [m, p, body] of [
    ['POST', '/v1/resource-groups/DfltRscGrp/query-size-info', { select_filter: { place_count: 2 } }],
    ['POST', '/v1/resource-groups/grp/query-size-info', {}],
    ['POST', '/v1/queries/resource-groups/query-all-size-info', {}],
  ] as const) {
    assert.equal((await raw(seeded, m, p, body)).text, (await raw(rest, m, p, body)).text, p)
  }
  assert.deepEqual(deviceTree(seeded.stateDir), deviceTree(rest.stateDir))
  // Both placed tie-breakers the same way, and some were needed.
  assert.ok(Object.values(seeded.state().resourceDefinitions).some((rd) => Object.values(rd.resources).some((r) => r.kind === 'tiebreaker')))
  // And the next REST call behaves the same on both (allocation after the bulk totals are gone).
  for (const emu of [seeded, rest]) await createThroughRest(emu, { name: 'after', volumes: [GIB], replicas: [{ node: 'n1' }, { node: 'n2' }] })
  assert.deepEqual(seeded.state(), rest.state())
})

test('REST operations work on seeded resources: add a replica, write, delete', async (t) => {
  const emu = await withEmulator(t, { cluster: EXAMPLE() })
  // A third diskful replica replaces the tie-breaker; its TCP port and links follow the seeded ones.
  const add = await raw(emu, 'POST', '/v1/resource-definitions/pm-12345678/resources/delta', {})
  assert.equal(add.status, 201, add.text)
  const rows = await viewResources(emu, '?resources=pm-12345678')
  assert.deepEqual(rows.map((r) => [r.node_name, r.flags ?? []]), [
    ['alpha', []],
    ['bravo', []],
    ['delta', []],
  ])
  const delta = emu.state().resourceDefinitions['PM-12345678']?.resources['DELTA']
  const deltaPorts = Object.values(emu.state().resourceDefinitions).flatMap((rd) => (rd.resources['DELTA'] === undefined ? [] : [rd.resources['DELTA'].tcpPort]))
  assert.equal(new Set(deltaPorts).size, deltaPorts.length)
  assert.equal(delta?.nodeId, 3)
  assert.ok(fs.existsSync(path.join(emu.deviceRoot('delta'), 'dev', 'drbd1000')))
  assert.equal(fs.existsSync(path.join(emu.deviceRoot('charlie'), 'dev', 'drbd1000')), false)

  // The hypervisor opens and writes; the bytes are seen through every node's device file.
  assert.equal((await open(emu, 'alpha', 'pm-12345678')).status, 200)
  emu.control.write('alpha', 'pm-12345678', 0, 4096, Buffer.from('seeded and written'))
  const onBravo = Buffer.alloc(18)
  const fd = fs.openSync(path.join(emu.deviceRoot('bravo'), 'dev', 'drbd', 'by-res', 'pm-12345678', '0'), 'r')
  try {
    fs.readSync(fd, onBravo, 0, 18, 4096)
  } finally {
    fs.closeSync(fd)
  }
  assert.equal(onBravo.toString(), 'seeded and written')

  // A new definition gets the next minor after the seeded ones.
  await ok(emu, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'fresh' } })
  await ok(emu, 'POST', '/v1/resource-definitions/fresh/volume-definitions', { volume_definition: { size_kib: GIB } })
  const fresh = (await getJson(emu, '/v1/resource-definitions/fresh/volume-definitions')) as Array<{ layer_data: Array<{ data?: { minor_number?: number } }> }>
  assert.equal(fresh[0]?.layer_data[0]?.data?.minor_number, 1004)

  // Deleting the voting diskless replica leaves two diskful ones: it stays as their tie-breaker;
  // deleting the tie-breaker then removes it (and its links) for good.
  await ok(emu, 'DELETE', '/v1/resource-definitions/pm-87654321/resources/delta')
  assert.deepEqual((await viewResources(emu, '?resources=pm-87654321&nodes=delta'))[0]?.flags, ['DISKLESS', 'DRBD_DISKLESS', 'TIE_BREAKER'])
  await ok(emu, 'DELETE', '/v1/resource-definitions/pm-87654321/resources/delta')
  assert.deepEqual(await viewResources(emu, '?resources=pm-87654321&nodes=delta'), [])
  assert.equal(fs.existsSync(path.join(emu.deviceRoot('delta'), 'dev', 'drbd', 'by-res', 'pm-87654321')), false)
  await ok(emu, 'DELETE', '/v1/resource-definitions/one-7-disk-0')
  assert.equal(fs.existsSync(path.join(emu.stateDir, 'data', 'ONE-7-DISK-0')), false)
  assert.equal(fs.existsSync(path.join(emu.deviceRoot('delta'), 'dev', 'drbd1003')), false)
  assert.deepEqual((await rds(emu)).map((d) => d.name), ['fresh', 'pm-12345678', 'pm-87654321'])
  const thick = await pool(emu, 'bravo', 'thick')
  assert.equal(Number(thick.free_capacity), 52428800 - 5 * GIB)
})

test('seeded resources survive a restart on the same state directory', async (t) => {
  const dir = tempDir(t)
  const first = await startEmulator({ cluster: EXAMPLE(), stateDir: dir, logLevel: 'silent' })
  const before = first.state()
  await first.close()
  // The cluster file is ignored once a state exists: nothing is seeded twice.
  const second = await startEmulator({ cluster: EXAMPLE(), stateDir: dir, logLevel: 'silent' })
  t.after(() => second.close())
  assert.deepEqual(second.state(), before)
  assert.equal((await viewResources(second)).length, 7)
})

/** A small cluster for the validation cases: thin and thick pools, a controller without pools. */
function base(resources: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    resource_groups: [{ name: 'grp' }],
    nodes: [
      {
        name: 'alpha',
        pools: [
          { name: 'DfltStorPool', provider_kind: 'LVM_THIN', total_capacity_kib: 10 * GIB },
          { name: 'thick', provider_kind: 'LVM', total_capacity_kib: GIB },
        ],
      },
      { name: 'bravo', pools: [{ name: 'other', provider_kind: 'LVM_THIN', total_capacity_kib: 10 * GIB }] },
      { name: 'ctl', type: 'CONTROLLER' },
    ],
    resources,
    ...extra,
  }
}

const refused = (spec: unknown, message: string | RegExp): void => {
  assert.throws(
    () => parseClusterSpec(spec),
    (err: unknown) => {
      assert.ok(err instanceof Error)
      assert.match(err.message, /^invalid cluster description: /)
      if (typeof message === 'string') assert.equal(err.message, `invalid cluster description: ${message}`)
      else assert.match(err.message, message)
      return true
    },
  )
}

test('bad resource declarations are refused with a message naming the field', () => {
  const r = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ name: 'r1', volumes: [GIB], replicas: [{ node: 'alpha' }], ...extra })
  refused(base('nope'), '"resources" must be a list')
  refused(base([r(), r({ name: 'r2', replicas: [{ node: 'alpha' }, { node: 'zulu' }] })]), "resources[1].replicas[1].node 'zulu' is not a node")
  refused(base([r(), r(), r({ name: 'R1' })]), "resources[1].name 'r1' is already used by resources[0]")
  refused(base([r(), r({ name: 'r2' }), r({ name: 'R1' })]), "resources[2].name 'R1' is already used by resources[0]")
  refused(base([r({ name: '1x' })]), /^invalid cluster description: resources\[0\]\.name: Invalid name '1x'/)
  refused(base([r({ resource_group: 'nope' })]), "resources[0].resource_group 'nope' is not a resource group (declare it under resource_groups)")
  refused(base([r({ replicas: [{ node: 'alpha', pool: 'nope' }] })]), "resources[0].replicas[0].pool 'nope' does not exist on node 'alpha'")
  // Without a pool the replica resolves to DfltStorPool, which bravo lacks.
  refused(
    base([r({ replicas: [{ node: 'bravo' }] })]),
    "resources[0].replicas[0]: node 'bravo' has no storage pool 'DfltStorPool' (the pool a create without one resolves to; name one with pool:)",
  )
  refused(base([r({ replicas: [{ node: 'alpha', pool: 'DfltDisklessStorPool' }] })]), /replicas\[0\]\.pool 'DfltDisklessStorPool' on node 'alpha' is diskless/)
  refused(base([r({ replicas: [{ node: 'ctl', diskless: true }] })]), "resources[0].replicas[0].node 'ctl' has no diskless storage pool for a diskless replica")
  refused(base([r({ replicas: [{ node: 'alpha' }, { node: 'ALPHA', diskless: true }] })]), "resources[0].replicas[1].node 'ALPHA' already holds a replica of 'r1'")
  const mixed = [{ node: 'alpha', pool: 'thick' }, { node: 'bravo', pool: 'other' }]
  refused(base([r({ replicas: mixed })]), /resources\[0\]\.replicas\[1\]\.pool 'other' is LVM_THIN but another replica of 'r1' uses LVM/)
  assert.doesNotThrow(() => parseClusterSpec(base([r({ props: { AllowMixingStoragePoolDriver: 'true' }, replicas: mixed })])))
  // The RD's own value wins over the controller's, as in a resource create.
  refused(base([r({ props: { AllowMixingStoragePoolDriver: 'false' }, replicas: mixed })], { controller_props: { AllowMixingStoragePoolDriver: 'true' } }), /is LVM_THIN but/)
  // Thick: 1 GiB holds one 600 MiB volume, not two.
  refused(
    base([r({ volumes: [600 * 1024], replicas: [{ node: 'alpha', pool: 'thick' }] }), r({ name: 'r2', volumes: [600 * 1024], replicas: [{ node: 'alpha', pool: 'thick' }] })]),
    "resources[1].replicas[0]: storage pool 'thick' on node 'alpha' has too little free capacity for 'r2': 434176 KiB available, 614400 KiB needed",
  )
  // Thin: oversubscribed 20 times by default, so 10 GiB takes 200 GiB of volumes but not 201.
  assert.doesNotThrow(() => parseClusterSpec(base([r({ volumes: [200 * GIB] })])))
  refused(base([r({ volumes: [100 * GIB, 101 * GIB] })]), /resources\[0\]\.replicas\[0\]: storage pool 'DfltStorPool' on node 'alpha' has too little free capacity for 'r1'/)
  refused(base([r({ volumes: [] })]), 'resources[0].volumes must be a non-empty list of sizes in KiB')
  refused(base([r({ volumes: [GIB, 2] })]), 'resources[0].volumes[1] must be a size in KiB between 4 and 1099511627776')
  refused(base([r({ replicas: [] })]), 'resources[0].replicas must be a non-empty list')
  refused(base([r({ replicas: [{ node: 'alpha', diskless: 'yes' }] })]), 'resources[0].replicas[0].diskless must be true or false')
  refused(base([r({ props: { 'Foo/bar': 'x' } })]), 'resources[0].props: Invalid property key: Foo/bar')
  refused(base([r({ replicas: [{ node: 'alpha', props: { 'DrbdOptions/Net/allow-two-primaries': 'maybe' } }] })]), /^invalid cluster description: resources\[0\]\.replicas\[0\]\.props: Invalid property/)
  // Declared groups and DfltRscGrp are fine; so are numbers in props (YAML) and names in any case.
  const good = parseClusterSpec(base([r({ resource_group: 'GRP', props: { 'Aux/vmid': 100 } }), r({ name: 'r2', resource_group: 'DfltRscGrp', replicas: [{ node: 'Alpha' }] })]))
  assert.deepEqual(good.resources?.map((x) => [x.name, x.resource_group, x.props, x.replicas.map((y) => y.node)]), [
    ['r1', 'GRP', { 'Aux/vmid': '100' }, ['alpha']],
    ['r2', 'DfltRscGrp', {}, ['alpha']],
  ])
})

test('a refusal found while seeding fails the start and leaves no files behind', async (t) => {
  const dir = tempDir(t)
  const yamlFile = path.join(dir, 'c.yaml')
  fs.writeFileSync(
    yamlFile,
    [
      'controller_props: { TcpPortAutoRange: "7000-7001" }',
      'nodes:',
      '  - { name: solo, pools: [{ name: DfltStorPool, provider_kind: LVM_THIN, total_capacity_kib: 10485760 }] }',
      'resources:',
      '  - { name: r1, volumes: [1024], replicas: [{ node: solo }] }',
      '  - { name: r2, volumes: [1024], replicas: [{ node: solo }] }',
      '  - { name: r3, volumes: [1024], replicas: [{ node: solo }] }',
      '',
    ].join('\n'),
  )
  const state = path.join(dir, 'state')
  await assert.rejects(
    startEmulator({ cluster: yamlFile, stateDir: state, logLevel: 'silent' }),
    /^Error: invalid cluster description: resources\[2\] 'r3': No free TCP port left on node 'solo'\.$/,
  )
  assert.equal(fs.existsSync(path.join(state, 'state.json')), false)
  assert.deepEqual(filesUnder(path.join(state, 'data')), [])
  assert.deepEqual(filesUnder(path.join(state, 'nodes')), [])
  // A YAML file with a bad entry is refused before anything starts.
  fs.writeFileSync(yamlFile, 'nodes: [{ name: solo }]\nresources:\n  - { name: r1, volumes: [1024], replicas: [{ node: zulu }] }\n')
  await assert.rejects(startEmulator({ cluster: yamlFile, logLevel: 'silent' }), /resources\[0\]\.replicas\[0\]\.node 'zulu' is not a node/)
})

// 2,000 keeps the suite quick; bench/status.bench.ts starts the full 10,000.
test('100 nodes and 2,000 resources with two replicas each are all there after start', async (t) => {
  const N = 2000
  const nodes = Array.from({ length: 100 }, (_, i) => ({
    name: `node-${String(i).padStart(3, '0')}`,
    pools: [{ name: 'DfltStorPool', provider_kind: 'LVM_THIN' as const, total_capacity_kib: 10 * 1024 * GIB }],
  }))
  const resources = Array.from({ length: N }, (_, i) => ({
    name: `pm-${String(i).padStart(8, '0')}`,
    props: { 'Aux/pm/vmid': String(100 + i) },
    volumes: [GIB],
    replicas: [{ node: nodes[(2 * i) % 100]?.name ?? '' }, { node: nodes[(2 * i + 1) % 100]?.name ?? '' }],
  }))
  const emu = await withEmulator(t, { cluster: { nodes, resources } })

  const defs = (await getJson(emu, '/v1/resource-definitions')) as RdRow[]
  assert.equal(defs.length, N)
  assert.equal(defs[1234]?.props?.['Aux/pm/vmid'], '1334')
  const state = emu.state()
  const all = Object.values(state.resourceDefinitions)
  const minors = all.flatMap((rd) => Object.values(rd.volumeDefinitions).map((v) => v.minor))
  assert.equal(new Set(minors).size, N)
  assert.deepEqual([Math.min(...minors), Math.max(...minors)], [1000, 1000 + N - 1])
  const diskfulPerNode = new Map<string, number>()
  let tieBreakers = 0
  for (const rd of all) {
    const kinds = Object.values(rd.resources).map((r) => r.kind)
    assert.deepEqual(kinds.filter((k) => k === 'diskful').length, 2, rd.name)
    for (const r of Object.values(rd.resources)) if (r.kind === 'diskful') diskfulPerNode.set(r.node, (diskfulPerNode.get(r.node) ?? 0) + 1)
    tieBreakers += kinds.filter((k) => k === 'tiebreaker').length
  }
  assert.deepEqual([...new Set(diskfulPerNode.values())], [(2 * N) / 100])
  assert.equal(tieBreakers, N)
  // TCP ports are unique per node.
  for (const n of nodes) {
    const ports = all.flatMap((rd) => {
      const r = rd.resources[n.name.toUpperCase()]
      return r === undefined ? [] : [r.tcpPort]
    })
    assert.equal(new Set(ports).size, ports.length, n.name)
  }
  const rows = await viewResources(emu, '?resources=pm-00000000,pm-00001999')
  assert.deepEqual(
    rows.filter((r) => (r.flags ?? []).length === 0).map((r) => [r.name, r.node_name, r.volumes[0]?.device_path]),
    [
      ['pm-00000000', 'node-000', '/dev/drbd1000'],
      ['pm-00000000', 'node-001', '/dev/drbd1000'],
      ['pm-00001999', 'node-098', '/dev/drbd2999'],
      ['pm-00001999', 'node-099', '/dev/drbd2999'],
    ],
  )
  assert.ok(fs.existsSync(path.join(emu.deviceRoot('node-099'), 'dev', 'drbd', 'by-res', 'pm-00001999', '0')))
  assert.ok(fs.existsSync(path.join(emu.deviceRoot('node-000'), 'dev', 'drbd2000')))
  // REST keeps working on top (the bulk bookkeeping is gone; full scans take over).
  await ok(emu, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'one-more' } })
  await ok(emu, 'POST', '/v1/resource-definitions/one-more/volume-definitions', { volume_definition: { size_kib: GIB } })
  const more = (await getJson(emu, '/v1/resource-definitions/one-more/volume-definitions')) as Array<{ layer_data: Array<{ data?: { minor_number?: number } }> }>
  assert.equal(more[0]?.layer_data[0]?.data?.minor_number, 1000 + N)
})
