/**
 * Drift check for the LINSTOR client: every request each client method sends (path, method, query
 * names and types, body) must be one the upstream spec declares. The server answers every request
 * with an error reply list, which the spec allows for any operation (see deviations.ts), so only the
 * request side is judged here; the emulator's tests judge replies.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createLinstorClient } from '../../core/linstor/index.js'
import type { LinstorClient } from '../../core/linstor/index.js'
import { replyRaw, startServer } from '../helpers/servers.js'
import { checkExchange, loadSpecOrNotice } from './openapi.js'

const ERROR_LIST = '[{"ret_code":-4611686018427386906,"message":"scripted failure"}]'

/** One call per client method, with realistic arguments. */
const calls: Record<string, Record<string, (c: LinstorClient) => Promise<unknown>>> = {
  controller: {
    version: (c) => c.controller.version(),
    properties: (c) => c.controller.properties(),
    modifyProperties: (c) => c.controller.modifyProperties({ override_props: { 'DrbdOptions/Net/allow-two-primaries': 'yes' }, delete_props: ['Aux/x'] }),
    encryptionStatus: (c) => c.controller.encryptionStatus(),
  },
  nodes: {
    list: (c) => c.nodes.list({ nodes: ['alpha', 'bravo'], props: ['Aux/site=a'] }),
    get: (c) => c.nodes.get('alpha'),
    modify: (c) => c.nodes.modify('alpha', { override_props: { 'Aux/site': 'a' } }),
  },
  storagePools: {
    list: (c) => c.storagePools.list({ nodes: ['alpha'], storagePools: ['thin'], props: ['Aux/x'], limit: 100, offset: 0 }),
    ofNode: (c) => c.storagePools.ofNode('alpha'),
    get: (c) => c.storagePools.get('alpha', 'thin'),
  },
  resourceGroups: {
    list: (c) => c.resourceGroups.list({ resourceGroups: ['rg1'], props: ['Aux/x'] }),
    get: (c) => c.resourceGroups.get('rg1'),
    create: (c) => c.resourceGroups.create({
      name: 'rg1',
      description: 'linstor-virt policy',
      select_filter: {
        place_count: 2, storage_pool_list: ['thin'], replicas_on_different: ['Aux/rack'], x_replicas_on_different_map: { 'Aux/rack': 1 },
        not_place_with_rsc_regex: 'vm-1.*', layer_stack: ['DRBD', 'STORAGE'], provider_list: ['LVM_THIN'], diskless_on_remaining: false,
      },
    }),
    modify: (c) => c.resourceGroups.modify('rg1', { select_filter: { place_count: 3 }, override_props: { 'DrbdOptions/Net/allow-two-primaries': 'yes' } }),
    delete: (c) => c.resourceGroups.delete('rg1'),
    spawn: (c) => c.resourceGroups.spawn('rg1', { resource_definition_name: 'vm-100-disk-0', volume_sizes: [10485760], definitions_only: false, resource_definition_props: { 'Aux/pm/vmid': '100' } }),
    querySizeInfo: (c) => c.resourceGroups.querySizeInfo('rg1', { select_filter: { place_count: 2 } }),
  },
  resourceDefinitions: {
    list: (c) => c.resourceDefinitions.list({ resourceDefinitions: ['rsc1'], props: ['Aux/pm/vmid=100'], withVolumeDefinitions: true }),
    get: (c) => c.resourceDefinitions.get('rsc1'),
    create: (c) => c.resourceDefinitions.create({ resource_definition: { name: '', external_name: 'vm-100-disk-0', resource_group_name: 'rg1', props: { 'Aux/pm/vmid': '100' } } }),
    modify: (c) => c.resourceDefinitions.modify('rsc1', { override_props: { 'DrbdOptions/Net/allow-two-primaries': 'no' }, delete_props: ['Aux/x'] }),
    delete: (c) => c.resourceDefinitions.delete('rsc1'),
    connections: (c) => c.resourceDefinitions.connections('rsc1'),
    modifyConnection: (c) => c.resourceDefinitions.modifyConnection('rsc1', 'alpha', 'bravo', { override_props: { 'DrbdOptions/Net/allow-two-primaries': 'yes' } }),
    clone: (c) => c.resourceDefinitions.clone('rsc1', { name: 'rsc2', resource_group: 'rg1' }),
    cloneStatus: (c) => c.resourceDefinitions.cloneStatus('rsc1', 'rsc2'),
    drbdProxyEnable: (c) => c.resourceDefinitions.drbdProxyEnable('rsc1', 'alpha', 'bravo'),
    drbdProxyDisable: (c) => c.resourceDefinitions.drbdProxyDisable('rsc1', 'alpha', 'bravo'),
    drbdProxyModify: (c) => c.resourceDefinitions.drbdProxyModify('rsc1', { compression_type: 'lz4', compression_props: { level: '9' }, override_props: { 'DrbdOptions/Proxy/memlimit': '33554432' } }),
  },
  volumeDefinitions: {
    list: (c) => c.volumeDefinitions.list('rsc1'),
    get: (c) => c.volumeDefinitions.get('rsc1', 0),
    create: (c) => c.volumeDefinitions.create('rsc1', { volume_definition: { size_kib: 10485760, volume_number: 0, props: { StorPoolName: 'thin' } } }),
    modify: (c) => c.volumeDefinitions.modify('rsc1', 0, { size_kib: 20971520 }),
    delete: (c) => c.volumeDefinitions.delete('rsc1', 0),
  },
  resources: {
    list: (c) => c.resources.list('rsc1'),
    get: (c) => c.resources.get('rsc1', 'alpha'),
    volumes: (c) => c.resources.volumes('rsc1', 'alpha'),
    create: (c) => c.resources.create('rsc1', 'alpha', { resource: { flags: ['DISKLESS'], props: { StorPoolName: 'DfltDisklessStorPool' } }, layer_list: ['DRBD', 'STORAGE'] }),
    createMany: (c) => c.resources.createMany('rsc1', [{ resource: { node_name: 'alpha', props: { StorPoolName: 'thin' } } }, { resource: { node_name: 'bravo' } }]),
    modify: (c) => c.resources.modify('rsc1', 'alpha', { override_props: { 'Aux/x': 'y' } }),
    delete: (c) => c.resources.delete('rsc1', 'alpha', { keepTiebreaker: true }),
    makeAvailable: (c) => c.resources.makeAvailable('rsc1', 'alpha', { diskful: false }),
    toggleDisk: (c) => c.resources.toggleDisk('rsc1', 'alpha', { operation: 'INTO_DRBD_DISKFUL', storage_pool: 'thin' }),
    toggleDiskLegacy: async (c) => {
      await c.resources.toggleDiskLegacy('rsc1', 'alpha', 'diskless').catch(() => undefined)
      await c.resources.toggleDiskLegacy('rsc1', 'alpha', 'diskful', 'thin')
    },
    activate: (c) => c.resources.activate('rsc1', 'alpha'),
    deactivate: (c) => c.resources.deactivate('rsc1', 'alpha'),
    autoplace: (c) => c.resources.autoplace('rsc1', { select_filter: { place_count: 2, storage_pool_list: ['thin'], replicas_on_same: ['Aux/site'] }, diskless_on_remaining: true, layer_list: ['DRBD', 'STORAGE'] }),
  },
  snapshots: {
    list: (c) => c.snapshots.list('rsc1'),
    get: (c) => c.snapshots.get('rsc1', 'snap1'),
    create: (c) => c.snapshots.create('rsc1', { name: 'snap1', nodes: [] }),
    delete: (c) => c.snapshots.delete('rsc1', 'snap1', { nodes: ['alpha'] }),
    restoreVolumeDefinitions: (c) => c.snapshots.restoreVolumeDefinitions('rsc1', 'snap1', 'rsc3'),
    restoreResources: (c) => c.snapshots.restoreResources('rsc1', 'snap1', { to_resource: 'rsc3', nodes: ['alpha'] }),
    rollback: (c) => c.snapshots.rollback('rsc1', 'snap1'),
  },
  view: {
    resources: (c) => c.view.resources({ nodes: ['alpha'], resources: ['rsc1'], storagePools: ['thin'], props: ['Aux/x'], limit: 0, offset: 0 }),
    snapshots: (c) => c.view.snapshots({ nodes: ['alpha'], resources: ['rsc1'] }),
  },
}

test('every request the client can send is declared by the upstream spec', async (t) => {
  const spec = loadSpecOrNotice()
  if (spec === null) return
  const srv = await startServer(t, (_req, res) => replyRaw(res, 500, ERROR_LIST))
  const c = createLinstorClient({ controllers: srv.url, env: {}, clientConfPaths: [], defaultTokenFile: '/nonexistent', retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 } })
  t.after(() => c.close())

  // The table must cover every public method of every family, so a new method cannot dodge the check.
  for (const family of Object.keys(calls)) {
    const api = (c as unknown as Record<string, object>)[family]
    assert.ok(api !== undefined, `client has no family ${family}`)
    const methods = Object.getOwnPropertyNames(Object.getPrototypeOf(api)).filter((m) => m !== 'constructor').sort()
    assert.deepEqual(Object.keys(calls[family] ?? {}).sort(), methods, `calls for ${family}`)
  }

  const problems: string[] = []
  let sent = 0
  for (const [family, methods] of Object.entries(calls)) {
    for (const [name, call] of Object.entries(methods)) {
      const before = srv.requests.length
      await call(c).catch(() => undefined)
      assert.ok(srv.requests.length > before, `${family}.${name} sent nothing`)
      for (const r of srv.requests.slice(before)) {
        sent++
        for (const p of checkExchange(spec, { method: r.method, url: r.url, requestBody: r.body, status: 500, responseBody: ERROR_LIST, contentType: 'application/json' })) {
          problems.push(`${family}.${name}: ${p}`)
        }
      }
    }
  }
  assert.deepEqual(problems, [])
  assert.ok(sent >= 45, `only ${sent} requests checked`)
})
