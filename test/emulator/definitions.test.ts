import assert from 'node:assert/strict'
import { test } from 'node:test'
import { clientFor, code, entries, getJson, ok, raw, withEmulator } from './helpers.js'

interface Vd {
  volume_number: number
  size_kib: number
  layer_data?: Array<{ type: string; data?: { minor_number?: number } }>
}

const minorOf = (vd: Vd): number | undefined => vd.layer_data?.find((l) => l.type === 'DRBD')?.data?.minor_number

test('external names: the controller generates the LINSTOR name and returns it in obj_refs.RscDfn', async (t) => {
  const emu = await withEmulator(t)
  const uuid = '6f1c3a0e-2b4d-4e8f-9a7b-1c2d3e4f5a6b'
  const r = entries((await raw(emu, 'POST', '/v1/resource-definitions', { resource_definition: { name: '', external_name: uuid } })).text)
  assert.equal(r[0]?.obj_refs?.['RscDfn'], `LS_${uuid.toUpperCase()}`)
  const valid = entries((await raw(emu, 'POST', '/v1/resource-definitions', { resource_definition: { external_name: 'plain-name' } })).text)
  assert.equal(valid[0]?.obj_refs?.['RscDfn'], 'plain-name')
  const odd = entries((await raw(emu, 'POST', '/v1/resource-definitions', { resource_definition: { external_name: 'disk.img 1' } })).text)
  assert.equal(odd[0]?.obj_refs?.['RscDfn'], 'disk_img_1')
  const rd = (await getJson(emu, '/v1/resource-definitions/disk_img_1')) as { external_name: string }
  assert.equal(rd.external_name, 'disk.img 1')
  const again = await raw(emu, 'POST', '/v1/resource-definitions', { resource_definition: { external_name: 'disk.img 1' } })
  assert.equal(again.status, 500)
  assert.equal(code(entries(again.text)[0]?.ret_code ?? 0n), 517)
})

test('unknown resource group → 404 FAIL_NOT_FOUND_RSC_GRP; a layer list without STORAGE gets it appended with a warning', async (t) => {
  const emu = await withEmulator(t)
  const r = await raw(emu, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'r1', resource_group_name: 'nope' } })
  assert.equal(r.status, 404)
  const w = await raw(emu, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'r2', layer_data: [{ type: 'DRBD' }] } })
  assert.equal(w.status, 201)
  assert.ok(entries(w.text).some((e) => code(e.ret_code) === 1012))
})

test('volume definitions: create answers 200; minors are the lowest free from 1000', async (t) => {
  const emu = await withEmulator(t)
  await ok(emu, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'a1' } })
  await ok(emu, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'b1' } })
  const first = await raw(emu, 'POST', '/v1/resource-definitions/a1/volume-definitions', { volume_definition: { size_kib: 1024 } })
  assert.equal(first.status, 200)
  assert.match(first.text, /"ret_code":19922945,"message":"New volume definition with number '0' of resource definition 'a1' created."/)
  await ok(emu, 'POST', '/v1/resource-definitions/a1/volume-definitions', { volume_definition: { size_kib: 1024 } })
  await ok(emu, 'POST', '/v1/resource-definitions/b1/volume-definitions', { volume_definition: { size_kib: 1024 } })
  const a = (await getJson(emu, '/v1/resource-definitions/a1/volume-definitions')) as Vd[]
  assert.deepEqual(a.map((v) => [v.volume_number, minorOf(v)]), [[0, 1000], [1, 1001]])
  await ok(emu, 'DELETE', '/v1/resource-definitions/a1/volume-definitions/0')
  await ok(emu, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'c1' } })
  await ok(emu, 'POST', '/v1/resource-definitions/c1/volume-definitions', { volume_definition: { size_kib: 1024 } })
  const c = (await getJson(emu, '/v1/resource-definitions/c1/volume-definitions/0')) as Vd
  assert.equal(minorOf(c), 1000)
  const dupNr = await raw(emu, 'POST', '/v1/resource-definitions/a1/volume-definitions', { volume_definition: { size_kib: 1024, volume_number: 1 } })
  assert.equal(code(entries(dupNr.text)[0]?.ret_code ?? 0n), 503)
  const taken = await raw(emu, 'POST', '/v1/resource-definitions/a1/volume-definitions', { volume_definition: { size_kib: 1024 }, drbd_minor_number: 1002 })
  assert.equal(code(entries(taken.text)[0]?.ret_code ?? 0n), 207)
})

test('volume size limits: 4 KiB to 2^40 KiB, else FAIL_INVLD_VLM_SIZE', async (t) => {
  const emu = await withEmulator(t)
  await ok(emu, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'r1' } })
  for (const size of [3, 2 ** 40 + 1, -5]) {
    const r = await raw(emu, 'POST', '/v1/resource-definitions/r1/volume-definitions', { volume_definition: { size_kib: size } })
    assert.equal(r.status, 500)
    assert.equal(code(entries(r.text)[0]?.ret_code ?? 0n), 206, String(size))
  }
  assert.equal((await raw(emu, 'POST', '/v1/resource-definitions/r1/volume-definitions', { volume_definition: { size_kib: 4 } })).status, 200)
})

test('resize: grow works, same size warns, shrink refused once deployed, allowed before', async (t) => {
  const emu = await withEmulator(t)
  const c = clientFor(t, emu)
  await ok(emu, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'r1' } })
  await ok(emu, 'POST', '/v1/resource-definitions/r1/volume-definitions', { volume_definition: { size_kib: 8192 } })
  await ok(emu, 'PUT', '/v1/resource-definitions/r1/volume-definitions/0', { size_kib: 4096 })
  assert.equal((await c.volumeDefinitions.get('r1', 0))?.size_kib, 4096)
  await ok(emu, 'POST', '/v1/resource-definitions/r1/resources/alpha', {})
  const same = await raw(emu, 'PUT', '/v1/resource-definitions/r1/volume-definitions/0', { size_kib: 4096 })
  assert.equal(same.status, 200)
  assert.equal(code(entries(same.text)[0]?.ret_code ?? 0n), 1023)
  const shrink = await raw(emu, 'PUT', '/v1/resource-definitions/r1/volume-definitions/0', { size_kib: 2048 })
  assert.equal(shrink.status, 500)
  assert.equal(entries(shrink.text)[0]?.message, 'Volumes can only grow in size')
  await c.volumeDefinitions.modify('r1', 0, { size_kib: 16384 })
  assert.equal((await c.volumeDefinitions.get('r1', 0))?.size_kib, 16384)
})

test('GET RD never includes volume definitions; the list does with with_volume_definitions', async (t) => {
  const emu = await withEmulator(t)
  await ok(emu, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'r1' } })
  await ok(emu, 'POST', '/v1/resource-definitions/r1/volume-definitions', { volume_definition: { size_kib: 1024 } })
  const one = await raw(emu, 'GET', '/v1/resource-definitions/r1')
  assert.doesNotMatch(one.text, /volume_definitions/)
  const plain = await raw(emu, 'GET', '/v1/resource-definitions')
  assert.doesNotMatch(plain.text, /volume_definitions/)
  const withVd = (await getJson(emu, '/v1/resource-definitions?with_volume_definitions=true')) as Array<{ volume_definitions: Vd[] }>
  assert.equal(withVd[0]?.volume_definitions[0]?.size_kib, 1024)
})

test('deletes of missing RD, VD and resource are 200 with WARN_NOT_FOUND', async (t) => {
  const emu = await withEmulator(t)
  for (const path of ['/v1/resource-definitions/nope', '/v1/resource-definitions/nope/volume-definitions/0', '/v1/resource-definitions/nope/resources/alpha']) {
    const r = await raw(emu, 'DELETE', path)
    assert.equal(r.status, 200, path)
    assert.equal(code(entries(r.text)[0]?.ret_code ?? 0n), 3000, path)
  }
  await ok(emu, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'r1' } })
  const r = await raw(emu, 'DELETE', '/v1/resource-definitions/r1/resources/alpha')
  assert.equal(r.status, 200)
  assert.match(r.text, /"ret_code":-9223372036801033288,/)
})

test('RD modify can move the RD to another resource group and sets a user quorum', async (t) => {
  const emu = await withEmulator(t)
  const c = clientFor(t, emu)
  await c.resourceGroups.create({ name: 'other' })
  await c.resourceDefinitions.create({ resource_definition: { name: 'r1' } })
  await c.resourceDefinitions.modify('r1', { resource_group: 'other', override_props: { 'DrbdOptions/Resource/quorum': 'off' } })
  const rd = await c.resourceDefinitions.get('r1')
  assert.equal(rd?.resource_group_name, 'other')
  assert.equal(rd?.props['DrbdOptions/Resource/quorum'], 'off')
  const badQuorum = await raw(emu, 'PUT', '/v1/resource-definitions/r1', { override_props: { 'DrbdOptions/Resource/quorum': 'most' } })
  assert.equal(badQuorum.status, 500)
})
