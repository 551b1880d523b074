/**
 * The fault matrix (issue 10): every operation row of faults.ts (ROWS) under every fault (FAULTS),
 * each cell in a world of its own (emulator, agent services, hypervisor model). One summary line
 * per cell: `<adapter> <operation> × <fault>: <ok|error CODE|killed> in N ms; converged by
 * <rerun|doctor>; violations V [what the fault hit]`.
 *
 * A cell passes when the operation succeeded or failed with one clear, catalogued error within its
 * deadline (the slow-controller column uses a 1.5 s deadline against the 5 s delay, so its clear
 * error is CALL_DEADLINE; the black-hole column must succeed through the second controller), and
 * afterwards re-running it at once (while a timed-out call may still run in the agent), or else the
 * doctor with fix, converged: no unused diskless client, dual-primary and a migration record only
 * for a migration in progress, two diskful replicas, Primary only where the VM runs, the bytes
 * written before the fault still there, no leftover resource, and the doctor finding nothing else.
 *
 * The columns are spread over files of 180 s each (see FAULTS in faults.ts); those where no
 * controller answers at all, or the first of two hangs (issue 20), have a file each.
 *
 * Operations covered, per adapter:
 * - Proxmox: alloc_image; activate_volume (VM start; and the implicit live-migration begin while the
 *   VM runs elsewhere); deactivate_volume (VM stop; and the migration end on the source);
 *   volume_snapshot; volume_resize; free_image.
 * - OpenNebula: tm ln, mv (resume elsewhere / recovery), delete, premigrate, postmigrate.
 * - Cinder: create_volume; initialize_connection (attach; and Nova's live-migration begin);
 *   terminate_connection (detach; and the migration end); extend_volume; delete_volume.
 * The others are equivalent for these faults: they reach LINSTOR through the same core calls
 * (map_volume is activate_volume; clone_image, create_base, rename_volume, Cinder's clones and
 * OpenNebula's clone/cpds are cloneTo plus the create and delete paths covered here; mvds,
 * failmigrate and Cinder's force detach are detach/abort; OpenNebula snapshots, Cinder snapshots
 * and the DS actions share createSnapshot, create and delete; status and stats are reads with
 * their own deadline tests in the adapters' suites). The soak (soak.ts) also runs failmigrate,
 * Cinder snapshots, OpenNebula's ds mkfs/rm, and platforms that give up instead of retrying.
 * Issue 20 adds, per platform, the start and the stop of a VM on a host holding a diskful replica
 * (faults.ts, "start and stop where the host holds a replica").
 */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { test } from 'node:test'
import { BLACK_HOLE, CONTROLLERS_DOWN, SLOW_5S, runColumn } from './faults.js'
import { ALLOW_TWO_PRIMARIES, MIGRATION_RECORD, checkInvariants, devicePath } from './invariants.js'
import { World, expectedOf } from './world.js'

test('the invariant checker sees each kind of violation (so a clean matrix means something)', async (t) => {
  const w = await World.create()
  t.after(() => w.close())
  const d = w.newDisk('proxmox')
  await w.perform(w.pveAlloc(d, 'alpha'))
  const [host, spare] = w.spare(d.resource) as [string, string]
  await w.perform(w.pveActivate(d, host))
  w.writePattern(d)
  assert.deepEqual(checkInvariants(w.emu, expectedOf([d])), [], 'a clean state has no violation')
  const seen = (re: RegExp, exp = expectedOf([d])): void => {
    const v = checkInvariants(w.emu, exp)
    assert.ok(v.some((x) => re.test(x)), `expected a violation matching ${String(re)}, got ${JSON.stringify(v)}`)
  }

  // The model says the VM runs where it does not, and the other way round.
  seen(new RegExp(`Primary on ${host}, where no VM runs`), expectedOf([{ ...d, running: [] }]))
  seen(/the VM runs on alpha but it is not Primary there/, expectedOf([{ ...d, running: [host, 'alpha'] }]))
  // A leftover diskless client.
  await w.client.resources.makeAvailable(d.resource, spare, { diskful: false })
  seen(new RegExp(`unused diskless client on ${spare}`))
  await w.client.resources.delete(d.resource, spare, { keepTiebreaker: true })
  // Dual-primary outside a migration, and a migration record nobody is running.
  await w.client.resourceDefinitions.modifyConnection(d.resource, host, 'alpha', { override_props: { [ALLOW_TWO_PRIMARIES]: 'yes' } })
  seen(/allow-two-primaries on .* outside a migration in progress/)
  await w.client.resourceDefinitions.modifyConnection(d.resource, host, 'alpha', { delete_props: [ALLOW_TWO_PRIMARIES] })
  await w.client.resourceDefinitions.modify(d.resource, { override_props: { [MIGRATION_RECORD]: JSON.stringify({ from: host, to: 'alpha', since: '', set: true }) } })
  seen(/migration record left/)
  await w.client.resourceDefinitions.modify(d.resource, { delete_props: [MIGRATION_RECORD] })
  seen(/in progress but not recorded/, expectedOf([{ ...d, migration: { from: host, to: spare } }]))
  // Bytes changed behind the model's back, a replica too few, a size and a snapshot not there.
  writeFileSync(devicePath(w.emu, host, d.resource), Buffer.alloc(16, 0xee), { flag: 'r+' })
  seen(/bytes written at .* are different/, expectedOf([{ ...d, data: [{ offset: 0, bytes: Buffer.alloc(16) }] }]))
  const clean = expectedOf([d])
  seen(/2 diskful replica\(s\), the policy asks for 3/, { ...clean, resources: clean.resources.map((r) => ({ ...r, placeCount: 3 })) })
  seen(/expected at least/, expectedOf([{ ...d, minSizeBytes: 1024 ** 4 }]))
  seen(/snapshot nope missing/, expectedOf([{ ...d, snapshots: ['nope'] }]))
  // A resource no platform knows of, and one that should be gone.
  const stray = w.newDisk('cinder')
  await w.perform(w.cinderCreate(stray))
  seen(/exists, but no platform knows of it/)
  seen(/still exists, should be deleted/, expectedOf([d, { ...stray, exists: false }]))
  assert.deepEqual(checkInvariants(w.emu, expectedOf([d, stray])), [], 'clean again')
})

test('a call past its deadline sends no more writes: the agent still runs it, but it changes nothing any more', async (t) => {
  const w = await World.create()
  t.after(() => w.close())
  const d = w.newDisk('proxmox')
  await w.perform(w.pveAlloc(d, 'alpha'))
  const node = w.spare(d.resource)[0] ?? 'delta'
  w.emu.resetCounters()
  // The read before the attach's write is answered late; the call's deadline passes meanwhile.
  w.emu.control.faults.delay(1_500, { count: 1, method: 'GET' })
  const r = await w.call({ platform: 'core', operation: 'attach', arguments: { resource: d.resource, node }, config: { controllers: [w.emu.url], lockDir: w.lockDir } }, 400)
  // The read is cut just before the call's deadline, so the error names the controller (issue 20).
  assert.equal(r.code, 'LINSTOR_DEADLINE', r.message)
  assert.ok(r.message?.includes(w.emu.url), r.message)
  await w.quiesce()
  const writes = Object.keys(w.emu.counters()).filter((k) => !k.startsWith('GET '))
  assert.deepEqual(writes, [], 'no make-available after the deadline')
  assert.deepEqual(w.spare(d.resource).filter((n) => n === node), [node], `still no replica on ${node}`)
  assert.deepEqual(checkInvariants(w.emu, expectedOf([d])), [])
})

// The other columns: fault-matrix-requests.test.ts, fault-matrix-hosts.test.ts, fault-matrix-blackhole.test.ts,
// fault-matrix-slow60.test.ts, fault-matrix-hung.test.ts (a test file has 180 s).
for (const fault of [CONTROLLERS_DOWN, BLACK_HOLE, SLOW_5S]) {
  test(`fault matrix: every operation × ${fault.name}`, async (t) => {
    const { lines, failures } = await runColumn(fault)
    for (const l of lines) t.diagnostic(l)
    assert.deepEqual(failures, [], failures.join('\n'))
  })
}
