import assert from 'node:assert/strict'
import { test } from 'node:test'
import { proxmoxSettings } from '../../plugins/proxmox/settings.js'

const base = { storeid: 'drbd1', node: 'bravo' }

test('a storage.cfg section becomes the core settings: policy, controllers, TLS, token file, cache age', () => {
  const s = proxmoxSettings({
    ...base,
    tokenFile: '/etc/pve/priv/storage/drbd1.linstor-token',
    scfg: {
      'linstor-controllers': 'linstor://a,linstor://b',
      'linstor-place-count': '3',
      'linstor-storage-pools': 'ssd, nvme;hdd',
      'linstor-replicas-on-different': 'Aux/rack',
      'linstor-prefer-local': 0,
      'linstor-status-cache': '30',
      'linstor-ca': '/etc/linstor/ca.pem',
      'linstor-controller-vms': '100, 101',
      content: 'images,rootdir',
      shared: 1,
    },
  })
  assert.deepEqual(s.policy, { placeCount: 3, storagePools: ['ssd', 'nvme', 'hdd'], replicasOnDifferent: ['Aux/rack'], preferLocal: false })
  assert.equal(s.statusCacheS, 30)
  assert.deepEqual([...s.controllerVms], [100, 101])
  assert.deepEqual(s.core, { localNode: 'bravo', controllers: 'linstor://a,linstor://b', tokenFile: '/etc/pve/priv/storage/drbd1.linstor-token', caFile: '/etc/linstor/ca.pem', capacityMaxAgeMs: 30_000 })
})

test('defaults: two replicas, prefer local, a 60 s status cache; a named resource group places by itself', () => {
  const d = proxmoxSettings({ ...base, scfg: {} })
  assert.deepEqual(d.policy, { placeCount: 2 })
  assert.equal(d.statusCacheS, 60)
  const rg = proxmoxSettings({ ...base, scfg: { 'linstor-resource-group': 'pve-ssd', 'linstor-exact-size': '1' } })
  assert.deepEqual(rg.policy, { resourceGroup: 'pve-ssd', exactSize: true })
})

test('bad settings fail with one message naming each storage.cfg key', () => {
  assert.throws(
    () => proxmoxSettings({ ...base, scfg: { 'linstor-place-count': '0', 'linstor-prefer-local': 'yes', 'linstor-cert': '/c.pem', 'linstor-controller-vms': '100,abc', 'linstor-status-cache': '99999' } }),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'CONFIG_INVALID')
      for (const k of ['storage drbd1: linstor-place-count', 'storage drbd1: linstor-prefer-local: must be 0 or 1', 'storage drbd1: linstor-key', "'abc' is not a VM id", 'linstor-status-cache']) assert.ok(err.message.includes(k), `${k} missing in: ${err.message}`)
      return true
    },
  )
  assert.throws(() => proxmoxSettings({ ...base, scfg: { 'linstor-resource-group': 'rg', 'linstor-place-count': 2 } }), /linstor-resource-group: places volumes by itself/)
  assert.throws(() => proxmoxSettings({ scfg: {} }), /storeid: is missing/)
})

test('the dispatcher registers exactly the operations operations.ts implements, with the same kinds', async () => {
  const { PROXMOX_OPERATION_KINDS } = await import('../../plugins/proxmox/index.js')
  const { proxmoxOperations } = await import('../../plugins/proxmox/operations.js')
  const ops = proxmoxOperations()
  assert.deepEqual(Object.keys(PROXMOX_OPERATION_KINDS).sort(), Object.keys(ops).sort())
  for (const [name, op] of Object.entries(ops)) assert.equal(op.kind ?? 'action', PROXMOX_OPERATION_KINDS[name], name)
})
