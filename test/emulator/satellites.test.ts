import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { SatelliteError } from '../../emulator/index.js'
import { clientFor, close, control, getJson, ok, open, placedResource, raw, read, setOnline, withEmulator, write } from './helpers.js'

test('a second Primary is refused without allow-two-primaries, like DRBD', async (t) => {
  const emu = await withEmulator(t)
  await placedResource(emu, 'vm1')
  assert.equal((await open(emu, 'alpha', 'vm1')).status, 200)
  const second = await open(emu, 'bravo', 'vm1')
  assert.equal(second.status, 409)
  assert.match(second.text, /Multiple primaries not allowed/)
  assert.equal((await close(emu, 'alpha', 'vm1')).status, 200)
  assert.equal((await open(emu, 'bravo', 'vm1')).status, 200)
  const roles = (await control(emu, 'GET', '/roles/vm1')).text
  assert.deepEqual(JSON.parse(roles), { alpha: 'Secondary', bravo: 'Primary', charlie: 'Secondary' })
})

for (const where of ['definition', 'group', 'controller', 'connection'] as const) {
  test(`allow-two-primaries set on the ${where} permits a second Primary (never a third)`, async (t) => {
    const emu = await withEmulator(t)
    const c = clientFor(t, emu)
    await placedResource(emu, 'vm1', 2)
    await ok(emu, 'POST', '/v1/resource-definitions/vm1/resources/delta/make-available', {})
    const prop = { override_props: { 'DrbdOptions/Net/allow-two-primaries': 'yes' } }
    if (where === 'definition') await c.resourceDefinitions.modify('vm1', prop)
    if (where === 'group') await c.resourceGroups.modify('DfltRscGrp', prop)
    if (where === 'controller') await c.controller.modifyProperties(prop)
    if (where === 'connection') await c.resourceDefinitions.modifyConnection('vm1', 'alpha', 'delta', prop)
    assert.equal((await open(emu, 'alpha', 'vm1')).status, 200)
    assert.equal((await open(emu, 'delta', 'vm1')).status, 200)
    const third = await open(emu, 'bravo', 'vm1')
    assert.equal(third.status, 409)
  })
}

test('allow-two-primaries on a connection only covers that node pair; "no" on the RD overrides the group', async (t) => {
  const emu = await withEmulator(t)
  const c = clientFor(t, emu)
  await placedResource(emu, 'vm1', 3)
  await c.resourceDefinitions.modifyConnection('vm1', 'alpha', 'bravo', { override_props: { 'DrbdOptions/Net/allow-two-primaries': 'yes' } })
  const conns = (await getJson(emu, '/v1/resource-definitions/vm1/resource-connections')) as Array<{ node_a: string; node_b: string; props: Record<string, string> }>
  assert.deepEqual(conns.map((x) => [x.node_a, x.node_b, x.props['DrbdOptions/Net/allow-two-primaries']]), [['alpha', 'bravo', 'yes']])
  assert.equal((await open(emu, 'alpha', 'vm1')).status, 200)
  assert.equal((await open(emu, 'charlie', 'vm1')).status, 409)
  assert.equal((await open(emu, 'bravo', 'vm1')).status, 200)
  await close(emu, 'bravo', 'vm1')
  await c.resourceGroups.modify('DfltRscGrp', { override_props: { 'DrbdOptions/Net/allow-two-primaries': 'yes' } })
  await c.resourceDefinitions.modify('vm1', { override_props: { 'DrbdOptions/Net/allow-two-primaries': 'no' } })
  assert.equal((await open(emu, 'charlie', 'vm1')).status, 409)
})

test('live migration: data written on one node reads back on another, after a diskless attach', async (t) => {
  const emu = await withEmulator(t)
  const c = clientFor(t, emu)
  await placedResource(emu, 'vm1', 2, 8192)
  const payload = Buffer.from('the quick brown fox jumps over the lazy dog')
  assert.equal((await open(emu, 'alpha', 'vm1')).status, 200)
  assert.equal((await write(emu, 'alpha', 'vm1', 0, 4096, payload)).status, 200)
  await c.resources.makeAvailable('vm1', 'delta')
  await c.resourceDefinitions.modify('vm1', { override_props: { 'DrbdOptions/Net/allow-two-primaries': 'yes' } })
  assert.equal((await open(emu, 'delta', 'vm1')).status, 200)
  await close(emu, 'alpha', 'vm1')
  const back = await read(emu, 'delta', 'vm1', 0, 4096, payload.length)
  assert.equal(back.status, 200)
  assert.deepEqual(back.body, payload)
  // And the same bytes are in every node's device file.
  for (const node of ['alpha', 'bravo', 'charlie', 'delta']) {
    const file = path.join(emu.deviceRoot(node), 'dev', 'drbd', 'by-res', 'vm1', '0')
    const fd = fs.openSync(file, 'r')
    const buf = Buffer.alloc(payload.length)
    fs.readSync(fd, buf, 0, payload.length, 4096)
    fs.closeSync(fd)
    assert.deepEqual(buf, payload, node)
    assert.equal(fs.statSync(file).size, 8192 * 1024)
    assert.ok(fs.existsSync(path.join(emu.deviceRoot(node), 'dev', 'drbd1000')))
  }
})

test('device files written with plain file I/O are seen by every replica; checksums match', async (t) => {
  const emu = await withEmulator(t)
  await placedResource(emu, 'vm1', 2, 4096)
  const a = path.join(emu.deviceRoot('alpha'), 'dev', 'drbd', 'by-res', 'vm1', '0')
  const b = path.join(emu.deviceRoot('bravo'), 'dev', 'drbd', 'by-res', 'vm1', '0')
  const fd = fs.openSync(a, 'r+')
  fs.writeSync(fd, Buffer.alloc(65536, 0xab), 0, 65536, 1024 * 1024)
  fs.closeSync(fd)
  const sum = (f: string): string => createHash('sha256').update(fs.readFileSync(f)).digest('hex')
  assert.equal(sum(a), sum(b))
})

test('reads and writes need the node to hold the volume open (Primary); bounds are checked', async (t) => {
  const emu = await withEmulator(t)
  await placedResource(emu, 'vm1', 2, 64)
  assert.equal((await write(emu, 'alpha', 'vm1', 0, 0, Buffer.from('x'))).status, 409)
  assert.equal((await read(emu, 'alpha', 'vm1', 0, 0, 1)).status, 409)
  await open(emu, 'alpha', 'vm1')
  assert.equal((await write(emu, 'alpha', 'vm1', 0, 64 * 1024 - 1, Buffer.from('xy'))).status, 416)
  assert.equal((await write(emu, 'alpha', 'vm1', 1, 0, Buffer.from('x'))).status, 404)
  assert.equal((await open(emu, 'delta', 'vm1')).status, 404)
})

test('a diskless replica cannot be promoted without an online diskful peer; offline nodes cannot open', async (t) => {
  const emu = await withEmulator(t)
  await placedResource(emu, 'vm1', 1)
  await ok(emu, 'POST', '/v1/resource-definitions/vm1/resources/delta/make-available', {})
  await setOnline(emu, 'alpha', false)
  assert.equal((await open(emu, 'delta', 'vm1')).status, 409)
  assert.equal((await open(emu, 'alpha', 'vm1')).status, 409)
  await setOnline(emu, 'alpha', true)
  assert.equal((await open(emu, 'delta', 'vm1')).status, 200)
})

test('a node going offline loses its Primary role', async (t) => {
  const emu = await withEmulator(t)
  await placedResource(emu, 'vm1', 2)
  await open(emu, 'alpha', 'vm1')
  await setOnline(emu, 'alpha', false)
  await setOnline(emu, 'alpha', true)
  const roles = JSON.parse((await control(emu, 'GET', '/roles/vm1')).text) as Record<string, string>
  assert.equal(roles['alpha'], 'Secondary')
})

test('a promoted tie-breaker becomes a regular diskless replica', async (t) => {
  const emu = await withEmulator(t)
  await placedResource(emu, 'vm1', 2)
  assert.equal((await open(emu, 'charlie', 'vm1')).status, 200)
  const r = await raw(emu, 'GET', '/v1/resource-definitions/vm1/resources/charlie')
  assert.match(r.text, /"flags":\["DISKLESS","DRBD_DISKLESS"\]/)
})

test('resizing grows the shared data file on every node and keeps the bytes', async (t) => {
  const emu = await withEmulator(t)
  await placedResource(emu, 'vm1', 2, 1024)
  await open(emu, 'alpha', 'vm1')
  await write(emu, 'alpha', 'vm1', 0, 1000, Buffer.from('kept'))
  await ok(emu, 'PUT', '/v1/resource-definitions/vm1/volume-definitions/0', { size_kib: 4096 })
  for (const node of ['alpha', 'bravo', 'charlie']) {
    assert.equal(fs.statSync(path.join(emu.deviceRoot(node), 'dev', 'drbd', 'by-res', 'vm1', '0')).size, 4096 * 1024, node)
  }
  assert.equal((await read(emu, 'alpha', 'vm1', 0, 1000, 4)).text, 'kept')
  assert.equal((await write(emu, 'alpha', 'vm1', 0, 4096 * 1024 - 4, Buffer.from('tail'))).status, 200)
})

test('deleting a replica removes its device files; deleting the RD removes all data', async (t) => {
  const emu = await withEmulator(t)
  await placedResource(emu, 'vm1', 2, 1024)
  await ok(emu, 'POST', '/v1/resource-definitions/vm1/resources/delta/make-available', {})
  const dev = (node: string): string => path.join(emu.deviceRoot(node), 'dev', 'drbd', 'by-res', 'vm1', '0')
  assert.ok(fs.existsSync(dev('delta')))
  await ok(emu, 'DELETE', '/v1/resource-definitions/vm1/resources/delta')
  assert.equal(fs.existsSync(dev('delta')), false)
  assert.equal(fs.existsSync(path.join(emu.deviceRoot('delta'), 'dev', 'drbd1000')), false)
  await ok(emu, 'DELETE', '/v1/resource-definitions/vm1')
  for (const node of ['alpha', 'bravo', 'charlie']) assert.equal(fs.existsSync(dev(node)), false, node)
  assert.equal(fs.existsSync(path.join(emu.stateDir, 'data', 'VM1')), false)
})

test('a failed batch create is rolled back in the state and in the device folders', async (t) => {
  const emu = await withEmulator(t)
  await ok(emu, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'vm1' } })
  await ok(emu, 'POST', '/v1/resource-definitions/vm1/volume-definitions', { volume_definition: { size_kib: 1024 } })
  const r = await raw(emu, 'POST', '/v1/resource-definitions/vm1/resources', [{ resource: { node_name: 'alpha' } }, { resource: { node_name: 'nowhere' } }])
  assert.equal(r.status, 404)
  assert.deepEqual(await getJson(emu, '/v1/resource-definitions/vm1/resources'), [])
  assert.equal(fs.existsSync(path.join(emu.deviceRoot('alpha'), 'dev', 'drbd', 'by-res', 'vm1', '0')), false)
  assert.equal(fs.existsSync(path.join(emu.deviceRoot('alpha'), 'dev', 'drbd1000')), false)
})

test('with quorum majority a node that sees too few voters cannot become Primary', async (t) => {
  const emu = await withEmulator(t)
  await placedResource(emu, 'vm1', 2)
  // alpha, bravo diskful + charlie tie-breaker: 3 voters, quorum = majority (2).
  await setOnline(emu, 'alpha', false)
  assert.equal((await open(emu, 'bravo', 'vm1')).status, 200, 'bravo + charlie are a majority')
  await close(emu, 'bravo', 'vm1')
  await setOnline(emu, 'charlie', false)
  const lonely = await open(emu, 'bravo', 'vm1')
  assert.equal(lonely.status, 409)
  assert.match(lonely.text, /No quorum/)
  const c = clientFor(t, emu)
  await c.resourceDefinitions.modify('vm1', { override_props: { 'DrbdOptions/Resource/quorum': 'off' } })
  assert.equal((await open(emu, 'bravo', 'vm1')).status, 200, 'quorum off: no restriction')
})

test('in-process control mirrors the control endpoints', async (t) => {
  const emu = await withEmulator(t)
  await placedResource(emu, 'vm1', 2, 64)
  emu.control.open('alpha', 'vm1')
  assert.throws(() => emu.control.open('bravo', 'vm1'), (err: unknown) => err instanceof SatelliteError && err.status === 409)
  emu.control.write('alpha', 'vm1', 0, 10, Buffer.from('abc'))
  assert.deepEqual(emu.control.read('alpha', 'vm1', 0, 10, 3), Buffer.from('abc'))
  assert.deepEqual(emu.control.roles('vm1'), { alpha: 'Primary', bravo: 'Secondary', charlie: 'Secondary' })
  emu.control.close('alpha', 'vm1')
  emu.control.setOnline('delta', false)
  assert.equal(((await getJson(emu, '/v1/nodes/delta')) as { connection_status: string }).connection_status, 'OFFLINE')
  emu.control.faults.error(503, { count: 1, path: '^/v1/nodes$' })
  assert.equal((await raw(emu, 'GET', '/v1/nodes')).status, 503)
  assert.equal((await raw(emu, 'GET', '/v1/nodes')).status, 200)
})
