/**
 * The whole life of a VM disk, as a plugin would drive it through the client, with the emulator
 * playing the hypervisors: spawn, attach, write, live-migrate, detach, delete.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { clientFor, close, open, placement, read, withEmulator, write } from './helpers.js'

test('spawn → attach → live-migrate → detach → delete, nothing left behind', async (t) => {
  const emu = await withEmulator(t)
  const c = clientFor(t, emu)
  await c.resourceGroups.create({ name: 'vmdisks', select_filter: { place_count: 2 } })
  await c.resourceGroups.spawn('vmdisks', { resource_definition_name: 'vm-100-disk-0', volume_sizes: [65536] })
  assert.deepEqual(await placement(emu, 'vm-100-disk-0'), { alpha: [], bravo: [], charlie: ['DISKLESS', 'DRBD_DISKLESS', 'TIE_BREAKER'] })

  // Attach on delta (a diskless DRBD client) and start the VM there.
  await c.resources.makeAvailable('vm-100-disk-0', 'delta')
  assert.equal((await open(emu, 'delta', 'vm-100-disk-0')).status, 200)
  const data = Buffer.from('boot sector and more')
  assert.equal((await write(emu, 'delta', 'vm-100-disk-0', 0, 0, data)).status, 200)

  // Live migration to charlie: attach there (clears TIE_BREAKER), two primaries for the switch-over.
  await c.resources.makeAvailable('vm-100-disk-0', 'charlie')
  assert.equal((await open(emu, 'charlie', 'vm-100-disk-0')).status, 409, 'refused without allow-two-primaries')
  await c.resourceDefinitions.modify('vm-100-disk-0', { override_props: { 'DrbdOptions/Net/allow-two-primaries': 'yes' } })
  assert.equal((await open(emu, 'charlie', 'vm-100-disk-0')).status, 200)
  assert.equal((await close(emu, 'delta', 'vm-100-disk-0')).status, 200)
  await c.resourceDefinitions.modify('vm-100-disk-0', { override_props: { 'DrbdOptions/Net/allow-two-primaries': 'no' } })
  assert.deepEqual((await read(emu, 'charlie', 'vm-100-disk-0', 0, 0, data.length)).body, data)

  // Detach the source; the destination's diskless replica stays while the VM runs.
  await c.resources.delete('vm-100-disk-0', 'delta')
  assert.deepEqual(await placement(emu, 'vm-100-disk-0'), { alpha: [], bravo: [], charlie: ['DISKLESS', 'DRBD_DISKLESS'] })

  // VM stops; detaching charlie leaves it as the tie-breaker again.
  await close(emu, 'charlie', 'vm-100-disk-0')
  await c.resources.delete('vm-100-disk-0', 'charlie')
  assert.deepEqual(await placement(emu, 'vm-100-disk-0'), { alpha: [], bravo: [], charlie: ['DISKLESS', 'DRBD_DISKLESS', 'TIE_BREAKER'] })

  await c.resourceDefinitions.delete('vm-100-disk-0')
  assert.deepEqual(await c.view.resources(), [])
  assert.equal(await c.resourceDefinitions.get('vm-100-disk-0'), undefined)
})
