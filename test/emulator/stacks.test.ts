/**
 * Layer stacks beyond DRBD in the emulator, as linstor-server builds them (docs/emulator.md
 * "Layer stacks"): NVMe-oF targets and initiators, LUKS with the controller's master passphrase,
 * storage-only resources, and DRBD Proxy on a resource connection.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { test } from 'node:test'
import type { ClusterSpec } from '../../emulator/index.js'
import { SatelliteError } from '../../emulator/index.js'
import { clientFor, code, entries, getJson, isErrorRc, ok, raw, withEmulator } from './helpers.js'

const GIB = 1024 * 1024

/** Two NVMe-oF storage nodes (no DRBD), two compute nodes without a diskful pool, one of them without NVMe. */
const DISAGGREGATED: ClusterSpec = {
  nodes: [
    ...['stor-1', 'stor-2'].map((name) => ({
      name,
      layers: ['NVME', 'STORAGE'],
      pools: [{ name: 'nvmepool', provider_kind: 'LVM_THIN' as const, total_capacity_kib: 100 * GIB, props: { 'StorDriver/StorPoolName': 'nvme_vg/thin' } }],
    })),
    { name: 'compute-1', layers: ['NVME', 'LUKS', 'STORAGE'] },
    { name: 'compute-2', layers: ['LUKS', 'STORAGE'] },
  ],
}

async function rd(emu: Parameters<typeof ok>[0], name: string, layers: string[], sizeKib = 8 * 1024): Promise<void> {
  await ok(emu, 'POST', '/v1/resource-definitions', { resource_definition: { name, layer_data: layers.map((type) => ({ type })) } })
  await ok(emu, 'POST', `/v1/resource-definitions/${name}/volume-definitions`, { volume_definition: { size_kib: sizeKib } })
}

function firstError(text: string): { code: number; message: string } {
  const e = entries(text).find((x) => isErrorRc(x.ret_code))
  if (e === undefined) throw new Error(`no error entry in ${text}`)
  return { code: code(e.ret_code), message: e.message }
}

test('NVMe-oF: one target where the data is, initiators (NVME_INITIATOR) elsewhere, their devices, no DRBD role', async (t) => {
  const emu = await withEmulator(t, { cluster: DISAGGREGATED })
  const c = clientFor(t, emu)
  await rd(emu, 'nv', ['NVME', 'STORAGE'])
  // An initiator needs its target first (ResourceCreateCheck).
  const early = await raw(emu, 'POST', '/v1/resource-definitions/nv/resources/compute-1', { resource: { flags: ['NVME_INITIATOR'] } })
  assert.equal(early.status, 500)
  assert.deepEqual(firstError(early.text), { code: 608, message: 'An NVMe Target needs to be created before the Initiator!' })
  await ok(emu, 'POST', '/v1/resource-definitions/nv/resources/stor-1', { resource: { props: { StorPoolName: 'nvmepool' } } })
  // The deprecated DISKLESS flag becomes NVME_INITIATOR on a stack with NVMe and no DRBD.
  await ok(emu, 'POST', '/v1/resource-definitions/nv/resources/compute-1', { resource: { flags: ['DISKLESS'] } })
  const ini = await c.resources.get('nv', 'compute-1')
  assert.deepEqual(ini?.flags, ['DISKLESS', 'NVME_INITIATOR'])
  assert.equal(ini?.props['NvmeTargetNodeName'], 'stor-1')
  assert.deepEqual(ini?.state, {}, 'no in_use: NVMe reports no role')
  const [iv] = await c.resources.volumes('nv', 'compute-1')
  assert.equal(iv?.device_path, '/dev/nvme0n1')
  assert.equal(iv?.provider_kind, 'DISKLESS')
  assert.deepEqual(iv?.layer_data_list.map((l) => l.type), ['NVME', 'STORAGE'])
  const [tv] = await c.resources.volumes('nv', 'stor-1')
  assert.equal(tv?.device_path, undefined, 'a target provides no device of its own')
  const targetNvme = tv?.layer_data_list.find((l) => l.type === 'NVME')?.data
  assert.equal(targetNvme?.['backing_device'], '/dev/nvme_vg/nv_00000')
  // Only one target without DRBD; a node without the NVMe layer cannot take an initiator.
  const second = await raw(emu, 'POST', '/v1/resource-definitions/nv/resources/stor-2', { resource: { props: { StorPoolName: 'nvmepool' } } })
  assert.deepEqual(firstError(second.text), { code: 518, message: 'Only one NVMe Target per resource definition allowed!' })
  const noNvme = await raw(emu, 'POST', '/v1/resource-definitions/nv/resources/compute-2', { resource: { flags: ['NVME_INITIATOR'] } })
  assert.deepEqual(firstError(noNvme.text), { code: 988, message: "Satellite 'compute-2' does not support the following layers: [NVME]" })
  // Device files: the initiator's namespace and the target's backing volume hold the same bytes.
  const nsFile = `${emu.deviceRoot('compute-1')}/dev/nvme0n1`
  const lvFile = `${emu.deviceRoot('stor-1')}/dev/nvme_vg/nv_00000`
  assert.ok(existsSync(nsFile) && existsSync(lvFile))
  assert.ok(!existsSync(`${emu.deviceRoot('compute-1')}/dev/drbd/by-res/nv/0`), 'no DRBD device anywhere')
  writeFileSync(nsFile, Buffer.from('through the fabric'), { flag: 'r+' })
  assert.equal(readFileSync(lvFile).subarray(0, 18).toString(), 'through the fabric')
  // A second resource's initiator on the same node gets the next controller.
  await rd(emu, 'nv2', ['NVME', 'STORAGE'])
  await ok(emu, 'POST', '/v1/resource-definitions/nv2/resources/stor-2', { resource: { props: { StorPoolName: 'nvmepool' } } })
  await ok(emu, 'POST', '/v1/resource-definitions/nv2/resources/compute-1', { resource: { flags: ['NVME_INITIATOR'] } })
  assert.equal((await c.resources.volumes('nv2', 'compute-1'))[0]?.device_path, '/dev/nvme1n1')
  // No dual-primary rule: two hosts may open the volume at once (nothing protects it).
  emu.control.open('compute-1', 'nv')
  emu.control.open('stor-1', 'nv')
  assert.deepEqual(emu.control.roles('nv'), { 'compute-1': 'Primary', 'stor-1': 'Primary' })
  // Deleting an initiator LINSTOR cannot see in use is allowed; its device goes.
  await ok(emu, 'DELETE', '/v1/resource-definitions/nv/resources/compute-1')
  assert.ok(!existsSync(nsFile))
})

test('NVMe-oF: make-available without DRBD in the stack makes a diskful target, never an initiator (CtrlRscMakeAvailableApiCallHandler)', async (t) => {
  const emu = await withEmulator(t, { cluster: DISAGGREGATED })
  await rd(emu, 'nv', ['NVME', 'STORAGE'])
  await ok(emu, 'POST', '/v1/resource-definitions/nv/resources/stor-1', { resource: { props: { StorPoolName: 'nvmepool' } } })
  const compute = await raw(emu, 'POST', '/v1/resource-definitions/nv/resources/compute-1/make-available', { diskful: false })
  assert.equal(compute.status, 404)
  assert.match(firstError(compute.text).message, /could not find diskful stor pool on node compute-1/)
  const storage = await raw(emu, 'POST', '/v1/resource-definitions/nv/resources/stor-2/make-available', { diskful: false })
  assert.equal(firstError(storage.text).code, 518)
  // Autoplace of initiators needs the NVMe layer in the request (StorPoolFilter).
  const ap = await raw(emu, 'POST', '/v1/resource-definitions/nv/autoplace', { select_filter: { additional_place_count: 1, diskless_type: 'NVME_INITIATOR' } })
  assert.match(firstError(ap.text).message, /--layer-list containing at least 'nvme'/)
  await ok(emu, 'POST', '/v1/resource-definitions/nv/autoplace', { select_filter: { additional_place_count: 1, diskless_type: 'NVME_INITIATOR', node_name_list: ['compute-1'] }, layer_list: ['NVME', 'STORAGE'] })
  const view = (await getJson(emu, '/v1/view/resources?resources=nv')) as Array<{ node_name: string; flags?: string[] }>
  assert.deepEqual(view.map((r) => [r.node_name, r.flags ?? []]), [['compute-1', ['DISKLESS', 'NVME_INITIATOR']], ['stor-1', []]])
})

test('LUKS: refused without the master passphrase, deployed once entered, undeployed again after a controller restart', async (t) => {
  const emu = await withEmulator(t)
  const c = clientFor(t, emu)
  assert.deepEqual(await getJson(emu, '/v1/encryption/passphrase'), { status: 'unset' })
  await rd(emu, 'enc', ['LUKS', 'STORAGE'])
  const refused = await raw(emu, 'POST', '/v1/resource-definitions/enc/resources/alpha', {})
  assert.equal(refused.status, 404, 'FAIL_NOT_FOUND_CRYPT_KEY is a 3xx code')
  const e = entries(refused.text)[0]
  assert.equal(code(e?.ret_code ?? 0n), 312)
  assert.equal(e?.message, 'Unable to create encrypt key without having a master key')
  assert.equal(e?.cause, 'The masterkey was not initialized yet')
  assert.equal(await c.resources.get('enc', 'alpha'), undefined, 'nothing was created')
  // Enter before create: nothing to enter.
  const early = await raw(emu, 'PATCH', '/v1/encryption/passphrase', JSON.stringify('s3cret'))
  assert.equal(firstError(early.text).message, 'encrypted namespace is empty, you need to set a passphrase first')
  const created = await raw(emu, 'POST', '/v1/encryption/passphrase', { new_passphrase: 's3cret' })
  assert.equal(created.status, 201)
  assert.equal(entries(created.text).at(-1)?.message, 'Crypt passphrase created.')
  assert.deepEqual(await getJson(emu, '/v1/encryption/passphrase'), { status: 'unlocked' })
  const again = await raw(emu, 'POST', '/v1/encryption/passphrase', { new_passphrase: 'other' })
  assert.equal(firstError(again.text).code, 512)
  await ok(emu, 'POST', '/v1/resource-definitions/enc/resources/alpha', {})
  const [v] = await c.resources.volumes('enc', 'alpha')
  assert.equal(v?.device_path, '/dev/mapper/Linstor-Crypt-enc_00000')
  assert.ok(existsSync(`${emu.deviceRoot('alpha')}/dev/mapper/Linstor-Crypt-enc_00000`))
  // DRBD on LUKS: DRBD's backing device is the crypt device.
  await rd(emu, 'drbdenc', ['DRBD', 'LUKS', 'STORAGE'])
  await ok(emu, 'POST', '/v1/resource-definitions/drbdenc/resources/alpha', {})
  const [dv] = await c.resources.volumes('drbdenc', 'alpha')
  assert.equal(dv?.device_path, '/dev/drbd1001')
  const drbd = dv?.layer_data_list.find((l) => l.type === 'DRBD')?.data
  assert.equal(drbd?.['backing_device'], '/dev/mapper/Linstor-Crypt-drbdenc_00000')
  // The controller restarts: locked; LUKS and what is above it report no device, nothing opens.
  emu.control.lockMasterKey()
  assert.deepEqual(await getJson(emu, '/v1/encryption/passphrase'), { status: 'locked' })
  assert.equal((await c.resources.volumes('enc', 'alpha'))[0]?.device_path, undefined)
  assert.equal((await c.resources.volumes('drbdenc', 'alpha'))[0]?.device_path, undefined)
  assert.throws(() => emu.control.open('alpha', 'drbdenc'), (err: unknown) => err instanceof SatelliteError && /master passphrase is not entered/.test(err.message))
  const more = await raw(emu, 'POST', '/v1/resource-definitions/enc/resources/bravo', {})
  assert.equal(firstError(more.text).code, 312)
  const wrong = await raw(emu, 'PATCH', '/v1/encryption/passphrase', JSON.stringify('nope'))
  assert.equal(wrong.status, 500)
  assert.equal(firstError(wrong.text).message, 'Could not restore master passphrase as the given old passphrase was incorrect')
  const entered = await ok(emu, 'PATCH', '/v1/encryption/passphrase', JSON.stringify('s3cret'))
  assert.equal(entered.at(-1)?.message, 'Passphrase accepted')
  assert.ok(entered.some((x) => x.message === 'Updated resource definition enc'))
  assert.equal((await c.resources.volumes('drbdenc', 'alpha'))[0]?.device_path, '/dev/drbd1001')
  emu.control.open('alpha', 'drbdenc')
  // Changing it needs the old one and does not lock.
  const bad = await raw(emu, 'PUT', '/v1/encryption/passphrase', { new_passphrase: 'n', old_passphrase: 'x' })
  assert.equal(firstError(bad.text).code, 600)
  await ok(emu, 'PUT', '/v1/encryption/passphrase', { new_passphrase: 'n3w', old_passphrase: 's3cret' })
  assert.deepEqual(await getJson(emu, '/v1/encryption/passphrase'), { status: 'unlocked' })
})

test('storage only: the backing volume is the device, on its node only; no diskless access elsewhere', async (t) => {
  const emu = await withEmulator(t)
  const c = clientFor(t, emu)
  await rd(emu, 'local', ['STORAGE'])
  await ok(emu, 'POST', '/v1/resource-definitions/local/resources/alpha', {})
  const [v] = await c.resources.volumes('local', 'alpha')
  assert.equal(v?.device_path, '/dev/linstor_vg/local_00000')
  assert.deepEqual(v?.layer_data_list.map((l) => l.type), ['STORAGE'])
  assert.ok(existsSync(`${emu.deviceRoot('alpha')}/dev/linstor_vg/local_00000`))
  const diskless = await raw(emu, 'POST', '/v1/resource-definitions/local/resources/bravo', { resource: { flags: ['DISKLESS'] } })
  assert.equal(firstError(diskless.text).code, 225)
  const view = (await getJson(emu, '/v1/resource-definitions/local')) as { layer_data: Array<{ type: string }> }
  assert.deepEqual(view.layer_data.map((l) => l.type), ['STORAGE'])
  assert.throws(() => emu.control.open('bravo', 'local'), SatelliteError)
  emu.control.open('alpha', 'local')
  assert.deepEqual((await c.resources.get('local', 'alpha'))?.state, {})
})

test('DRBD Proxy: enable sets LOCAL_DRBD_PROXY, ports and protocol A on that connection; data through it lags, then catches up; disable', async (t) => {
  let now = Date.parse('2026-01-01T00:00:00Z')
  const emu = await withEmulator(t, { clock: () => new Date(now), proxyBandwidthKibPerS: 1024 })
  const c = clientFor(t, emu)
  await rd(emu, 'dr', ['DRBD', 'STORAGE'], 64 * 1024)
  await ok(emu, 'POST', '/v1/resource-definitions/dr/resources', ['alpha', 'bravo', 'delta'].map((n) => ({ resource: { node_name: n } })))
  const enabled = await ok(emu, 'POST', '/v1/resource-definitions/dr/drbd-proxy/enable/alpha/delta', {})
  assert.equal(enabled[0]?.message, "DRBD Proxy enabled on resource connection between nodes 'alpha' and 'delta' of resource 'dr'")
  const conns = await c.resourceDefinitions.connections('dr')
  const ad = conns.find((x) => x.node_a === 'alpha' && x.node_b === 'delta')
  assert.equal(ad?.props['DrbdOptions/Net/protocol'], 'A')
  const rawConn = (await getJson(emu, '/v1/resource-definitions/dr/resource-connections/alpha/delta')) as Array<Record<string, unknown>>
  assert.deepEqual(rawConn[0]?.['flags'], ['LOCAL_DRBD_PROXY'])
  assert.equal(typeof rawConn[0]?.['drbd_proxy_port_a'], 'number')
  assert.ok(!conns.some((x) => x.node_b === 'bravo' || x.node_a === 'bravo'), 'the other connections stay as they are')
  // Options on the definition.
  await ok(emu, 'PUT', '/v1/resource-definitions/dr/drbd-proxy', { override_props: { 'DrbdOptions/Proxy/memlimit': '16777216' }, compression_type: 'lz4' })
  const props = (await c.resourceDefinitions.get('dr'))?.props ?? {}
  assert.equal(props['DrbdProxy/CompressionType'], 'lz4')
  assert.equal(props['DrbdOptions/Proxy/memlimit'], '16777216')
  const badType = await raw(emu, 'PUT', '/v1/resource-definitions/dr/drbd-proxy', { compression_type: 'gzip' })
  assert.deepEqual(firstError(badType.text), { code: 222, message: "Unknown compression type 'gzip'" })
  const badKey = await raw(emu, 'PUT', '/v1/resource-definitions/dr/drbd-proxy', { override_props: { 'DrbdOptions/Net/protocol': 'C' } })
  assert.equal(firstError(badKey.text).code, 213)
  // 24 MiB written on alpha: beyond the 16 MiB buffer, DRBD pulls ahead of delta.
  emu.control.open('alpha', 'dr')
  emu.control.write('alpha', 'dr', 0, 0, Buffer.alloc(24 * 1024 * 1024, 1))
  const state = async (node: string, peer: string): Promise<unknown> => ((await c.resources.volumes('dr', node))[0]?.state.replication_states ?? {})[peer]
  assert.deepEqual(await state('alpha', 'delta'), { replication_state: 'Ahead', done_percentage: 100 })
  assert.deepEqual(await state('delta', 'alpha'), { replication_state: 'Behind', done_percentage: 100 })
  assert.equal((await c.resources.volumes('dr', 'delta'))[0]?.state.disk_state, 'Outdated')
  assert.deepEqual(await state('alpha', 'bravo'), { replication_state: 'Established', done_percentage: 100 })
  // lz4 doubles the 1 MiB/s link: after 6 s, 12 MiB are left: resync.
  now += 6000
  const resync = (await state('alpha', 'delta')) as { replication_state: string; done_percentage: number }
  assert.equal(resync.replication_state, 'SyncSource')
  assert.equal(resync.done_percentage, 50)
  assert.equal(emu.control.proxy('dr')[0]?.backlog_kib, 12 * 1024)
  now += 7000
  assert.deepEqual(await state('alpha', 'delta'), { replication_state: 'Established', done_percentage: 100 })
  assert.equal((await c.resources.volumes('dr', 'delta'))[0]?.state.disk_state, 'UpToDate')
  const disabled = await ok(emu, 'POST', '/v1/resource-definitions/dr/drbd-proxy/disable/alpha/delta')
  assert.match(disabled[0]?.message ?? '', /^DRBD Proxy disabled on/)
  const after = (await getJson(emu, '/v1/resource-definitions/dr/resource-connections/alpha/delta')) as Array<Record<string, unknown>>
  assert.equal(after[0]?.['flags'], undefined)
  assert.equal(after[0]?.['drbd_proxy_port_a'], undefined)
  assert.deepEqual(after[0]?.['props'], { 'DrbdOptions/Net/protocol': 'A', 'DrbdProxy/AutoEnable': 'false' })
  const missing = await raw(emu, 'POST', '/v1/resource-definitions/dr/drbd-proxy/enable/alpha/charlie', {})
  assert.equal(firstError(missing.text).code, 302)
})
