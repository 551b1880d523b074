import assert from 'node:assert/strict'
import { test } from 'node:test'
import { clientFor, code, entries, getJson, ok, placement, raw, withEmulator } from './helpers.js'

test('resource group create, duplicate FAIL_EXISTS_RSC_GRP, default place_count 2, props ignored on create', async (t) => {
  const emu = await withEmulator(t)
  const first = await raw(emu, 'POST', '/v1/resource-groups', { name: 'vms', description: 'VM disks', props: { 'Aux/x': '1' } })
  assert.equal(first.status, 201)
  const dup = await raw(emu, 'POST', '/v1/resource-groups', { name: 'VMS' })
  assert.equal(dup.status, 500)
  assert.equal(code(entries(dup.text)[0]?.ret_code ?? 0n), 522)
  const rg = (await getJson(emu, '/v1/resource-groups/vms')) as { name: string; description: string; props?: unknown; select_filter: { place_count: number } }
  assert.equal(rg.description, 'VM disks')
  assert.equal(rg.props, undefined)
  assert.equal(rg.select_filter.place_count, 2)
})

test('modify changes only the filter fields present', async (t) => {
  const emu = await withEmulator(t)
  const c = clientFor(t, emu)
  await c.resourceGroups.create({ name: 'grp', select_filter: { place_count: 3, storage_pool: 'DfltStorPool' } })
  await c.resourceGroups.modify('grp', { select_filter: { replicas_on_different: ['Aux/site'] }, override_props: { 'Aux/a': 'b' } })
  const rg = await c.resourceGroups.get('grp')
  assert.equal(rg?.select_filter?.place_count, 3)
  assert.equal(rg?.select_filter?.storage_pool, 'DfltStorPool')
  assert.deepEqual(rg?.select_filter?.replicas_on_different, ['Aux/site'])
  assert.equal(rg?.props['Aux/a'], 'b')
})

test('spawn creates RD + VDs and autoplaces with the merged filter', async (t) => {
  const emu = await withEmulator(t)
  await ok(emu, 'POST', '/v1/resource-groups', { name: 'grp', select_filter: { place_count: 3 } })
  await ok(emu, 'POST', '/v1/resource-groups/grp/volume-groups', {})
  const r = await raw(emu, 'POST', '/v1/resource-groups/grp/spawn', { resource_definition_name: 'vm1', volume_sizes: [20480], resource_definition_props: { 'Aux/vm': '1' } })
  assert.equal(r.status, 201)
  const p = await placement(emu, 'vm1')
  assert.equal(Object.values(p).filter((f) => !f.includes('DISKLESS')).length, 3)
  const rd = (await getJson(emu, '/v1/resource-definitions/vm1')) as { resource_group_name: string; props: Record<string, string> }
  assert.equal(rd.resource_group_name, 'grp')
  assert.equal(rd.props['Aux/vm'], '1')
  const override = await raw(emu, 'POST', '/v1/resource-groups/grp/spawn', { resource_definition_name: 'vm2', volume_sizes: [1024], select_filter: { place_count: 1 } })
  assert.equal(override.status, 201)
  const p2 = await placement(emu, 'vm2')
  assert.equal(Object.values(p2).filter((f) => !f.includes('DISKLESS')).length, 1)
  const again = await raw(emu, 'POST', '/v1/resource-groups/grp/spawn', { resource_definition_name: 'vm1', volume_sizes: [20480] })
  assert.equal(again.status, 500)
  assert.equal(code(entries(again.text).find((e) => e.ret_code < 0n)?.ret_code ?? 0n), 501)
})

test('spawn: size count must match the volume groups unless partial; no volume groups → partial', async (t) => {
  const emu = await withEmulator(t)
  await ok(emu, 'POST', '/v1/resource-groups', { name: 'two' })
  await ok(emu, 'POST', '/v1/resource-groups/two/volume-groups', { volume_number: 0 })
  await ok(emu, 'POST', '/v1/resource-groups/two/volume-groups', { volume_number: 1 })
  const bad = await raw(emu, 'POST', '/v1/resource-groups/two/spawn', { resource_definition_name: 'xx', volume_sizes: [1024] })
  assert.equal(bad.status, 500)
  assert.equal(code(entries(bad.text)[0]?.ret_code ?? 0n), 228)
  const partial = await raw(emu, 'POST', '/v1/resource-groups/two/spawn', { resource_definition_name: 'xx', volume_sizes: [1024], partial: true, definitions_only: true })
  assert.equal(partial.status, 201)
  await ok(emu, 'POST', '/v1/resource-groups', { name: 'none' })
  const auto = await raw(emu, 'POST', '/v1/resource-groups/none/spawn', { resource_definition_name: 'yy', volume_sizes: [1024, 2048], definitions_only: true })
  assert.equal(auto.status, 201)
  const list = entries(auto.text)
  assert.ok(list.some((e) => code(e.ret_code) === 10000 && e.ret_code > 0n), 'INFO_NO_RSC_SPAWNED')
  const vds = (await getJson(emu, '/v1/resource-definitions/yy/volume-definitions')) as Array<{ size_kib: number }>
  assert.deepEqual(vds.map((v) => v.size_kib), [1024, 2048])
  assert.deepEqual(await placement(emu, 'yy'), {})
})

test('spawn with an impossible placement reports FAIL_NOT_ENOUGH_NODES (500)', async (t) => {
  const emu = await withEmulator(t)
  await ok(emu, 'POST', '/v1/resource-groups', { name: 'big', select_filter: { place_count: 5 } })
  const r = await raw(emu, 'POST', '/v1/resource-groups/big/spawn', { resource_definition_name: 'zz', volume_sizes: [1024] })
  assert.equal(r.status, 500)
  assert.match(r.text, /"ret_code":-4611686018407201820,"message":"Not enough available nodes"/)
})

test('query-size-info: always 200; max volume size from the next spawn pools (20x thin)', async (t) => {
  const emu = await withEmulator(t)
  const c = clientFor(t, emu)
  const info = await c.resourceGroups.querySizeInfo('DfltRscGrp')
  assert.equal(info.space_info?.max_vlm_size_in_kib, 100 * 1024 * 1024 * 20)
  assert.equal(info.space_info?.next_spawn_result?.length, 2)
  assert.equal(info.space_info?.capacity_in_kib, 2 * 100 * 1024 * 1024)
  const missing = await raw(emu, 'POST', '/v1/resource-groups/nope/query-size-info', {})
  assert.equal(missing.status, 200)
  assert.match(missing.text, /"reports":\[\{"ret_code":-4611686018422931139/)
  const impossible = await raw(emu, 'POST', '/v1/resource-groups/DfltRscGrp/query-size-info', { select_filter: { place_count: 9 } })
  assert.equal(impossible.status, 200)
  assert.match(impossible.text, /"max_vlm_size_in_kib":0/)
})

test('delete: refused while RDs use the group; missing group → 200 WARN_NOT_FOUND', async (t) => {
  const emu = await withEmulator(t)
  await ok(emu, 'POST', '/v1/resource-groups', { name: 'grp' })
  await ok(emu, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'rr', resource_group_name: 'grp' } })
  const busy = await raw(emu, 'DELETE', '/v1/resource-groups/grp')
  assert.equal(busy.status, 500)
  assert.equal(code(entries(busy.text)[0]?.ret_code ?? 0n), 501)
  await ok(emu, 'DELETE', '/v1/resource-definitions/rr')
  await ok(emu, 'DELETE', '/v1/resource-groups/grp')
  const gone = await raw(emu, 'DELETE', '/v1/resource-groups/grp')
  assert.equal(gone.status, 200)
  assert.equal(code(entries(gone.text)[0]?.ret_code ?? 0n), 3000)
})

test('adjust autoplaces every RD of the group', async (t) => {
  const emu = await withEmulator(t)
  await ok(emu, 'POST', '/v1/resource-groups', { name: 'grp', select_filter: { place_count: 1 } })
  await ok(emu, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'a1', resource_group_name: 'grp' } })
  await ok(emu, 'POST', '/v1/resource-definitions/a1/volume-definitions', { volume_definition: { size_kib: 1024 } })
  const r = await raw(emu, 'POST', '/v1/resource-groups/grp/adjust', {})
  assert.equal(r.status, 200)
  assert.equal(Object.keys(await placement(emu, 'a1')).length, 1)
})

test('query-all-size-info answers every group at once', async (t) => {
  const emu = await withEmulator(t)
  await ok(emu, 'POST', '/v1/resource-groups', { name: 'three', select_filter: { place_count: 3 } })
  const r = await raw(emu, 'POST', '/v1/queries/resource-groups/query-all-size-info', { ignore_cache_older_than_sec: -1 })
  assert.equal(r.status, 200)
  const body = JSON.parse(r.text) as { result: Record<string, { space_info: { capacity_in_kib: number; next_spawn_result: unknown[] } }> }
  assert.deepEqual(Object.keys(body.result), ['DfltRscGrp', 'three'])
  assert.equal(body.result['three']?.space_info.next_spawn_result.length, 3)
  assert.equal(body.result['DfltRscGrp']?.space_info.capacity_in_kib, 2 * 100 * 1024 * 1024)
})
