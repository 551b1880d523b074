/**
 * REST round trips per operation, per adapter (issue 9, section 2): each platform's calls made the
 * way the platform makes them, in the order of a VM's life, against the emulator, whose counters
 * give the REST calls of each step (the counters are reset before it). Beside each figure stands
 * the minimum the operation needs against a LINSTOR controller; a step above its minimum carries
 * the reason (MINIMA below). The Proxmox and Cinder calls go over a real agent socket; OpenNebula's
 * are the built driver executables run as oned runs them (test/opennebula/one.ts).
 *
 * Usage: node build/bench/round-trips.bench.js
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { callAgent } from '../cli/agent/client.js'
import { startAgent } from '../cli/agent/server.js'
import { buildDispatcher } from '../cli/dispatcher.js'
import { silentLogger } from '../core/log/index.js'
import { startEmulator } from '../emulator/index.js'
import type { RunningEmulator } from '../emulator/index.js'
import { actionData, datastoreXml, oneFrontEnd, vmXml } from '../test/opennebula/one.js'
import type { DiskSpec } from '../test/opennebula/one.js'

export interface RoundTripRow {
  adapter: 'proxmox' | 'opennebula' | 'cinder'
  operation: string
  reads: number
  writes: number
  calls: Record<string, number>
  minimum: number
  /** Why the step makes more calls than its minimum (only then). */
  reason?: string
}

/** The minimum REST calls of each step, and the reason when ours are more. Keyed "adapter operation". */
export const MINIMA: Record<string, { min: number; why: string; reason?: string }> = {}
/** Reasons many rows share, printed once under the table and cited by their letter. */
export const SHARED_REASONS: Record<string, string> = {
  R: 'the core reads a resource as two GETs: its definition (volumes, properties) and the view of its replicas',
  B: 'it reads before writing, so a repeated call finds its work done and returns without writing (every operation is safe to repeat)',
  A: 'it reads again after writing, so the reply states what LINSTOR now holds rather than what was asked',
  M: "the migration window claims the resource (a claim written and read back, so two hosts racing to migrate one VM never both begin) and reads the connection where allow-two-primaries may already be set, so ending it never removes an operator's own setting; the record on the definition (removed at the end) lets the next call or the doctor finish a migration a crash interrupted",
  C: 'spawn is definitions-only, then autoplace: the preferred (local) node gets its replica first (make-available), and a crash between the two leaves a definition the retry places',
  I: "it checks that the objects it found are the ones the platform named (their recorded platform name; LINSTOR compares names without regard to case) before it writes or deletes, where no earlier read of the call gave it them",
}
const READ = '[R]'
const BEFORE = '[B]'
const AFTER = '[A]'
const MIGRATION = '[M]'
const CREATE = '[C]'
const IDENTITY = '[I]'
function minimum(min: number, why: string, reason?: string): { min: number; why: string; reason?: string } {
  return reason === undefined ? { min, why } : { min, why, reason }
}
Object.assign(MINIMA, {
  'proxmox status (first)': minimum(2, 'query-size-info for the free space, the pools view for total and used', 'The first status of a new storage creates its resource group (POST, then PUT of its properties) after looking it up; later statuses come from the capacity cache.'),
  'proxmox status (again)': minimum(0, 'answered from the capacity cache (10 s)'),
  'proxmox alloc_image': minimum(2, 'one listing to choose the free name vm-<vmid>-disk-<n>, one spawn', `${CREATE}. ${READ}; ${BEFORE}, ${AFTER}.`),
  'proxmox list_images (one VM)': minimum(1, 'one definition listing'),
  'proxmox volume_size_info': minimum(1, 'the definition with its volumes', `${READ}.`),
  'proxmox activate_volume (replica here)': minimum(1, 'the view of the replicas (is one here?)', `${READ}.`),
  'proxmox deactivate_volume (replica here)': minimum(1, 'the view of the replicas (diskful here: nothing to remove)', `${READ}.`),
  'proxmox activate_volume (diskless client)': minimum(1, 'make-available (idempotent)', `${READ}; ${BEFORE} (a replica here means no write), ${AFTER}.`),
  'proxmox activate_volume (migration target)': minimum(4, 'the view (who is Primary), make-available, the migration record, allow-two-primaries on the one connection', `${READ}, before and after. ${MIGRATION}.`),
  'proxmox deactivate_volume (migration source)': minimum(4, 'the view, the client\'s delete, the connection\'s allow-two-primaries and the record removed', `${READ}.`),
  'proxmox deactivate_volume (diskless client)': minimum(2, 'the view (diskless here?), the delete', `${READ}.`),
  'proxmox volume_resize': minimum(1, 'the volume definition\'s PUT', `${READ}: the current size decides grow, no-op or refusal to shrink.`),
  'proxmox volume_snapshot': minimum(1, 'the snapshot\'s POST', `${READ}, and lists the snapshots before (an existing one is success) and after (the reply); ${BEFORE}.`),
  'proxmox volume_snapshot_info': minimum(1, 'the snapshots view'),
  'proxmox volume_snapshot (a second one)': minimum(1, 'the snapshot\'s POST', `${READ}, and lists the snapshots before (an existing one is success) and after (the reply); ${BEFORE}.`),
  'proxmox volume_rollback_is_possible (older snapshot)': minimum(1, 'the snapshots view (is the snapshot there? newer ones?)', 'With newer snapshots the controller\'s version decides (LINSTOR 1.31+ rolls back past them; asked once per agent, here the first time), and on 1.32+ the view of the replicas tells whether the resource is on ZFS, where the rollback strategy decides.'),
  'proxmox volume_snapshot_rollback (older snapshot)': minimum(1, 'the rollback POST (LINSTOR 1.31+ rolls back to any snapshot and keeps the newer ones)', `The snapshots are read: the one named must exist under its PVE name, and where the controller rolls back to the newest only the newer ones are refused up front, by name. ${IDENTITY}.`),
  'proxmox volume_snapshot_delete (the second)': minimum(1, 'the DELETE', `${READ}: the controller VM's volume is protected.`),
  'proxmox clone_image (from snapshot)': minimum(4, 'the free name, the new definition, the restored volume definitions and resources', `The source and the snapshot are read (identity, sizes), the target once before it is made (a repeated call finds its steps done) and once when it is finished, and it is placed per policy (a restore places only where the snapshot was). ${READ}; ${BEFORE}, ${AFTER}.`),
  'proxmox volume_snapshot_delete': minimum(1, 'the DELETE', `${READ}: the controller VM's volume is protected; a left-over view of the snapshot is looked for. ${IDENTITY}.`),
  'proxmox rename_volume': minimum(4, 'the free name, the clone, its completion, the old definition\'s delete', `The clone is polled until COMPLETE, each resource is read before and after, and the source's snapshots are listed (a volume with snapshots is refused up front). ${READ}.`),
  'proxmox free_image': minimum(1, 'the definition\'s DELETE', `${READ}, and lists its snapshots (LINSTOR refuses to delete a definition that has any; the adapter deletes them first when Proxmox asks).`),
  'opennebula datastore/stat': minimum(0, 'the size comes from qemu-img on the front-end'),
  'opennebula datastore/cp (qcow2 image)': minimum(2, 'the spawn and (for the copy) the view of where a replica is', `The first action of a new datastore creates its resource group. ${CREATE}. ${READ}; ${BEFORE}, ${AFTER}.`),
  'opennebula datastore/mkfs (empty image)': minimum(1, 'the spawn', `${CREATE}. ${READ}; ${BEFORE}, ${AFTER}.`),
  'opennebula datastore/monitor': minimum(2, 'query-size-info, the pools view', 'The group is looked up in each process: each action runs in a process of its own (with an agent, its capacity cache answers the next monitor).'),
  'opennebula tm/clone (image to VM disk)': minimum(3, 'the clone, its completion, the grow to the VM disk size', `The clone is polled until COMPLETE. ${READ}; ${BEFORE}, ${AFTER}.`),
  'opennebula tm/ln (persistent image, diskless client)': minimum(1, 'make-available (idempotent)', `It checks the image exists (a clear error instead of LINSTOR's), then looks for a live migration an earlier failed action left half done (oned may never call failmigrate) and finishes it before attaching. ${READ}; ${BEFORE}, ${AFTER}.`),
  'opennebula tm/premigrate (2 disks)': minimum(7, 'per disk the view, the record and allow-two-primaries; one make-available (the other disk has a replica on the target)', `${READ}. ${MIGRATION}.`),
  'opennebula tm/postmigrate (2 disks)': minimum(7, 'per disk the view, the record and allow-two-primaries removed; one client deleted on the source', `${READ}.`),
  'opennebula tm/snap_create (disk 1)': minimum(1, 'the snapshot\'s POST', `${READ}, and lists the snapshots before (an existing one is success) and after (the reply).`),
  'opennebula tm/snap_create (disk 1, a second one)': minimum(1, 'the snapshot\'s POST', `${READ}, and lists the snapshots before (an existing one is success) and after (the reply).`),
  'opennebula tm/snap_revert (disk 1, the older snapshot)': minimum(1, 'the rollback POST (LINSTOR 1.31+ rolls back to any snapshot and keeps the newer ones)', `The disk is checked to be this VM's (${READ}), the snapshots are read (the one named must exist) and, with newer ones, the controller's version is asked: each action runs in a process of its own. (Before 1.31 an older snapshot is restored into a temporary resource and copied back.)`),
  'opennebula datastore/snap_revert (image 9, the older snapshot)': minimum(1, 'the rollback POST (LINSTOR 1.31+ rolls back to any snapshot and keeps the newer ones)', `The snapshots are read: the one named must exist, and the copy of its definition's properties it keeps proves the image is the one OpenNebula named (${IDENTITY}); with newer ones the controller's version is asked: each action runs in a process of its own.`),
  'opennebula tm/resize (disk 1)': minimum(1, 'the volume definition\'s PUT', `${READ}, before (grow, no-op or refusal) and after.`),
  'opennebula tm/monitor': minimum(2, 'query-size-info, the pools view', 'As datastore/monitor: the group is looked up once per process.'),
  'opennebula tm/delete (clone)': minimum(1, 'the definition\'s DELETE', `${READ}; it checks the clone is this VM's (the owner property) and lists its snapshots, ${BEFORE}.`),
  'opennebula tm/mvds (persistent image back)': minimum(2, 'the view (diskless here?), the delete', `${READ}.`),
  'opennebula datastore/rm': minimum(2, 'the snapshot\'s and the definition\'s DELETE', `${READ} and lists the snapshots (LINSTOR refuses to delete a definition that has any).`),
  'cinder stats (first)': minimum(2, 'query-size-info for the capacity, the pools view for the providers (thin or thick)', 'The first poll creates the backend\'s resource group (POST, then PUT of its properties) after looking it up; later polls come from the capacity cache.'),
  'cinder stats (again)': minimum(0, 'answered from the capacity cache (10 s)'),
  'cinder create_volume': minimum(1, 'the spawn', `${CREATE}. ${READ}; ${BEFORE}, ${AFTER}.`),
  'cinder initialize_connection (replica there)': minimum(1, 'the view (a replica on the host?)', `${READ}, and lists the nodes to map the connector's host to a LINSTOR node (a host that is no node is refused by name).`),
  'cinder terminate_connection (replica there)': minimum(1, 'the view (a replica on the host: nothing to remove)', `${READ}, and finds the volume by its names (one listing over provider_id, CV_<name_id> and the fallbacks).`),
  'cinder initialize_connection (diskless client)': minimum(1, 'make-available (idempotent)', `${READ}; ${BEFORE}, ${AFTER}. The node list maps the connector's host.`),
  'cinder initialize_connection (migration target)': minimum(4, 'the view, make-available, the record, allow-two-primaries', `${READ}. ${MIGRATION}.`),
  'cinder terminate_connection (migration source)': minimum(4, 'the view, the delete, the record and allow-two-primaries removed', `${READ}.`),
  'cinder terminate_connection (diskless client)': minimum(2, 'the view, the delete', `${READ}, and finds the volume by its names.`),
  'cinder extend_volume': minimum(1, 'the volume definition\'s PUT', `${READ}: the current size decides grow or no-op.`),
  'cinder create_snapshot': minimum(1, 'the snapshot\'s POST', `${READ}, and lists the snapshots before and after.`),
  'cinder create_volume_from_snapshot': minimum(3, 'the new definition, the restored volume definitions and resources', `The volume and its snapshot are found by their names, the source and the snapshot read again under the target's lock, the target read once before it is made (a repeated call finds its steps done) and once when finished, then topped up per the type's policy (no read after: LINSTOR's reply is final) and grown to the requested size. ${READ}; ${BEFORE}, ${AFTER}. ${IDENTITY}.`),
  'cinder create_cloned_volume': minimum(2, 'the clone, its completion', `The clone is polled until COMPLETE and topped up per the type's policy (no read after it). ${READ}; ${BEFORE}, ${AFTER}. ${IDENTITY}.`),
  'cinder revert_to_snapshot': minimum(1, 'the rollback POST', `The volume and its snapshot are found by their names (a listing each); the rollback reads the snapshots (where the controller rolls back to the newest only, newer ones are refused up front), and the volume is read after to grow it to Cinder's size. ${READ}. ${IDENTITY}.`),
  'cinder delete_snapshot': minimum(1, 'the DELETE', `The snapshot is found by its names (one listing). ${IDENTITY}.`),
  'cinder ensure_export': minimum(1, 'one definition listing (does the volume exist?)'),
  'cinder delete_volume': minimum(1, 'the definition\'s DELETE', `${READ} and lists its snapshots (LINSTOR refuses to delete a definition that has any: Cinder's own snapshots must go first, which is VolumeIsBusy).`),
})

/**
 * The peers' REST calls, as fixed reference figures (they are not measured by this benchmark: the
 * peers' code does not run here). Each flow is a set of this benchmark's steps; ours is their sum.
 */
export interface PeerFlow {
  adapter: RoundTripRow['adapter']
  flow: string
  /** This benchmark's steps that make up the flow (operation names of the rows). */
  steps: string[]
  peer: string
  /** The peer's REST calls for the flow. */
  peerCalls: number
  source: string
}

const ISSUE_26 =
  'issue 26 (2026-12-07): measured by the session that filed it, running the peer against the same emulator (linstor-proxmox under the real PVE storage library); which PVE calls made up each flow in that run was not recorded, so the steps listed are our reading of the flow'
export const PEER_FLOWS: PeerFlow[] = [
  {
    adapter: 'proxmox',
    flow: 'lifecycle (create, list, size, start and stop where a replica is, destroy)',
    steps: ['alloc_image', 'list_images (one VM)', 'volume_size_info', 'activate_volume (replica here)', 'deactivate_volume (replica here)', 'free_image'],
    peer: 'linstor-proxmox',
    peerCalls: 25,
    source: ISSUE_26,
  },
  {
    adapter: 'proxmox',
    flow: 'migrate (start on a host without a replica, live migration to another, stop there)',
    steps: ['activate_volume (diskless client)', 'activate_volume (migration target)', 'deactivate_volume (migration source)', 'deactivate_volume (diskless client)'],
    peer: 'linstor-proxmox',
    peerCalls: 31,
    source: ISSUE_26,
  },
  {
    adapter: 'proxmox',
    flow: 'snapshot (two snapshots, list, rollback to the older, delete both)',
    steps: ['volume_snapshot', 'volume_snapshot_info', 'volume_snapshot (a second one)', 'volume_rollback_is_possible (older snapshot)', 'volume_snapshot_rollback (older snapshot)', 'volume_snapshot_delete', 'volume_snapshot_delete (the second)'],
    peer: 'linstor-proxmox',
    peerCalls: 20,
    source: ISSUE_26,
  },
  {
    adapter: 'proxmox',
    flow: 'resize (size, then grow)',
    steps: ['volume_size_info', 'volume_resize'],
    peer: 'linstor-proxmox',
    peerCalls: 13,
    source: ISSUE_26,
  },
  {
    adapter: 'opennebula',
    flow: 'TM snap_revert',
    steps: ['tm/snap_revert (disk 1, the older snapshot)'],
    peer: 'addon-linstor',
    peerCalls: 7,
    source: 'issue 26 (2026-12-07): addon-linstor against the same emulator, measured by the session that filed it',
  },
  {
    adapter: 'opennebula',
    flow: 'DS snap_revert',
    steps: ['datastore/snap_revert (image 9, the older snapshot)'],
    peer: 'addon-linstor',
    peerCalls: 7,
    source: 'issue 26 (2026-12-07): addon-linstor against the same emulator, measured by the session that filed it',
  },
]

const LINBIT_CINDER =
  "measured 2026-12-07 with bench/peers/linbit_cinder.py: the in-tree LinstorDrbdDriver 1.0.1 of Debian's Cinder (Zed) with LINBIT's python-linstor 3303209, run in place against the emulator, autoplace count 2, no diskless Cinder host (python-linstor asks /v1/controller/version on every connection, and those count). It has no revert_to_snapshot, and attaches a diskless client only on nodes without a storage pool, so those steps have no peer figure"
/** LINBIT's Cinder driver, per operation (each a flow of one step). */
const LINBIT_CINDER_CALLS: Record<string, number> = {
  'stats (first)': 9,
  create_volume: 20,
  'initialize_connection (replica there)': 6,
  'terminate_connection (replica there)': 3,
  extend_volume: 3,
  create_snapshot: 7,
  create_volume_from_snapshot: 19,
  create_cloned_volume: 33,
  delete_snapshot: 10,
  ensure_export: 3,
  delete_volume: 21,
}
for (const [operation, calls] of Object.entries(LINBIT_CINDER_CALLS)) {
  PEER_FLOWS.push({ adapter: 'cinder', flow: operation, steps: [operation], peer: "LINBIT's Cinder driver", peerCalls: calls, source: LINBIT_CINDER })
}

/** A flow's figures in a run: ours (the sum of its steps), the peer's, and the sum of the minima. */
export function flowFigures(rows: RoundTripRow[], f: PeerFlow): { ours: number; minimum: number; missing: string[] } {
  let ours = 0
  let min = 0
  const missing: string[] = []
  for (const step of f.steps) {
    const r = rows.find((x) => x.adapter === f.adapter && x.operation === step)
    if (r === undefined) {
      missing.push(step)
      continue
    }
    ours += r.reads + r.writes
    min += r.minimum
  }
  return { ours, minimum: min, missing }
}

/** The peer's figure for a step where the step is a whole flow of its own (else undefined). */
function peerOfStep(r: RoundTripRow): PeerFlow | undefined {
  return PEER_FLOWS.find((f) => f.adapter === r.adapter && f.steps.length === 1 && f.steps[0] === r.operation)
}

interface Step {
  operation: string
  run: () => Promise<unknown>
}

async function measureSteps(emu: RunningEmulator, adapter: RoundTripRow['adapter'], steps: Step[]): Promise<RoundTripRow[]> {
  const rows: RoundTripRow[] = []
  for (const s of steps) {
    emu.resetCounters()
    await s.run()
    const calls = emu.counters()
    let reads = 0
    let writes = 0
    for (const [k, v] of Object.entries(calls)) {
      if (k.startsWith('GET ')) reads += v
      else writes += v
    }
    const m = MINIMA[`${adapter} ${s.operation}`]
    rows.push({ adapter, operation: s.operation, reads, writes, calls, minimum: m?.min ?? Number.NaN, ...(m !== undefined && reads + writes > m.min && m.reason !== undefined ? { reason: m.reason } : {}) })
  }
  return rows
}

function fakeContext(cleanups: (() => unknown)[]): TestContext {
  return { after: (f: () => unknown) => cleanups.push(f) } as unknown as TestContext
}

async function proxmoxRows(dir: string): Promise<RoundTripRow[]> {
  const emu = await startEmulator({ logLevel: 'silent', listen: { host: '127.0.0.1', port: 0 }, stateDir: join(dir, 'pve-state'), cloneDurationMs: 20 })
  const socketPath = join(dir, 'pve.sock')
  const agent = await startAgent({ socketPath, dispatcher: buildDispatcher(silentLogger()), logger: silentLogger() })
  const call = async (node: string, operation: string, args: Record<string, unknown> = {}): Promise<unknown> => {
    const config = { storeid: 'drbdstore', node, scfg: { 'linstor-controllers': emu.url, 'linstor-place-count': 2 }, lockDir: join(dir, 'pve-locks'), deviceRoot: emu.deviceRoot(node) }
    const reply = await callAgent(socketPath, { v: 1, platform: 'proxmox', operation, arguments: args, config, deadlineMs: 60_000 })
    if ('error' in reply) throw new Error(`proxmox ${operation} on ${node}: ${reply.error.message}`)
    return reply.result
  }
  try {
    let vol = ''
    let others: string[] = []
    const view = async (): Promise<{ diskful: string[]; other: string[] }> => {
      const r = await fetch(`${emu.url}/v1/view/resources?resources=${vol}`)
      const list = (await r.json()) as { node_name: string; flags?: string[] }[]
      const diskful = list.filter((x) => !(x.flags ?? []).includes('DRBD_DISKLESS')).map((x) => x.node_name)
      return { diskful, other: ['alpha', 'bravo', 'charlie', 'delta'].filter((n) => !diskful.includes(n)) }
    }
    await call('alpha', 'activate_storage')
    const steps: Step[] = [
      { operation: 'status (first)', run: () => call('alpha', 'status') },
      { operation: 'status (again)', run: () => call('alpha', 'status') },
      { operation: 'alloc_image', run: async () => { vol = ((await call('alpha', 'alloc_image', { vmid: 100, fmt: 'raw', name: null, sizeKib: 1024 * 1024 })) as { volname: string }).volname } },
      { operation: 'list_images (one VM)', run: () => call('alpha', 'list_images', { vmid: 100, vollist: null }) },
      { operation: 'volume_size_info', run: () => call('alpha', 'volume_size_info', { volname: vol }) },
      { operation: 'activate_volume (replica here)', run: () => call('alpha', 'activate_volume', { volname: vol, snapname: null, hints: null }) },
      { operation: 'deactivate_volume (replica here)', run: () => call('alpha', 'deactivate_volume', { volname: vol, snapname: null }) },
    ]
    const rows = await measureSteps(emu, 'proxmox', steps)
    others = (await view()).other
    const [a, b] = [others[0] ?? 'charlie', others[1] ?? 'delta']
    rows.push(
      ...(await measureSteps(emu, 'proxmox', [
        { operation: 'activate_volume (diskless client)', run: async () => { await call(a, 'activate_volume', { volname: vol, snapname: null, hints: null }); emu.control.open(a, vol) } },
        { operation: 'activate_volume (migration target)', run: () => call(b, 'activate_volume', { volname: vol, snapname: null, hints: null }) },
        { operation: 'deactivate_volume (migration source)', run: async () => { emu.control.open(b, vol); emu.control.close(a, vol); await call(a, 'deactivate_volume', { volname: vol, snapname: null }) } },
        { operation: 'deactivate_volume (diskless client)', run: async () => { emu.control.close(b, vol); await call(b, 'deactivate_volume', { volname: vol, snapname: null }) } },
        { operation: 'volume_resize', run: () => call('alpha', 'volume_resize', { volname: vol, sizeBytes: 2 * 1024 ** 3, running: false }) },
        { operation: 'volume_snapshot', run: () => call('alpha', 'volume_snapshot', { volname: vol, snap: 'before' }) },
        { operation: 'volume_snapshot_info', run: () => call('alpha', 'volume_snapshot_info', { volname: vol }) },
        { operation: 'volume_snapshot (a second one)', run: () => call('alpha', 'volume_snapshot', { volname: vol, snap: 'after' }) },
        { operation: 'volume_rollback_is_possible (older snapshot)', run: () => call('alpha', 'volume_rollback_is_possible', { volname: vol, snap: 'before' }) },
        { operation: 'volume_snapshot_rollback (older snapshot)', run: () => call('alpha', 'volume_snapshot_rollback', { volname: vol, snap: 'before' }) },
        { operation: 'clone_image (from snapshot)', run: () => call('alpha', 'clone_image', { volname: vol, vmid: 101, snap: 'before' }) },
        { operation: 'volume_snapshot_delete', run: () => call('alpha', 'volume_snapshot_delete', { volname: vol, snap: 'before', running: false }) },
        { operation: 'volume_snapshot_delete (the second)', run: () => call('alpha', 'volume_snapshot_delete', { volname: vol, snap: 'after', running: false }) },
        { operation: 'rename_volume', run: async () => { vol = ((await call('alpha', 'rename_volume', { volname: vol, targetVmid: 102, targetVolname: null })) as { volname: string }).volname } },
        { operation: 'free_image', run: () => call('alpha', 'free_image', { volname: vol, isBase: false }) },
      ])),
    )
    return rows
  } finally {
    await agent.close()
    await emu.close()
  }
}

async function cinderRows(dir: string): Promise<RoundTripRow[]> {
  const emu = await startEmulator({ logLevel: 'silent', listen: { host: '127.0.0.1', port: 0 }, stateDir: join(dir, 'cinder-state'), cloneDurationMs: 20 })
  const socketPath = join(dir, 'cinder.sock')
  const agent = await startAgent({ socketPath, dispatcher: buildDispatcher(silentLogger()), logger: silentLogger() })
  const config = { backend: 'lv-1', controllers: [emu.url], cinderHost: 'alpha', lockDir: join(dir, 'cinder-locks'), deviceRoot: join(dir, '{node}') }
  const call = async (operation: string, args: Record<string, unknown> = {}): Promise<unknown> => {
    const reply = await callAgent(socketPath, { v: 1, platform: 'cinder', operation, arguments: args, config, deadlineMs: 60_000 })
    if ('error' in reply) throw new Error(`cinder ${operation}: ${reply.error.message}`)
    return reply.result
  }
  const type = { id: 't1', name: 'two', extra_specs: { volume_backend_name: 'lv-1', 'linstor:redundancy': '2' } }
  const volume = (id: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ id, name_id: id, size: 1, multiattach: false, status: 'available', volume_type: type, attachments: [], ...extra })
  const attached = (host: string): Record<string, unknown> => ({ id: `att-${host}`, attached_host: host, attach_status: 'attached', instance_uuid: 'inst-1' })
  const V = 'aaaaaaaa-0000-4000-8000-000000000001'
  const S = 'bbbbbbbb-0000-4000-8000-000000000001'
  const V2 = 'aaaaaaaa-0000-4000-8000-000000000002'
  const V3 = 'aaaaaaaa-0000-4000-8000-000000000003'
  const snapshot = { id: S, volume_size: 1, volume: volume(V) }
  try {
    await call('check')
    const rows = await measureSteps(emu, 'cinder', [
      { operation: 'stats (first)', run: () => call('stats') },
      { operation: 'stats (again)', run: () => call('stats') },
      { operation: 'create_volume', run: () => call('create_volume', { volume: volume(V) }) },
    ])
    const list = (await (await fetch(`${emu.url}/v1/view/resources?resources=CV_${V}`)).json()) as { node_name: string; flags?: string[] }[]
    const diskful = list.filter((x) => !(x.flags ?? []).includes('DRBD_DISKLESS')).map((x) => x.node_name)
    const [a, b] = ['alpha', 'bravo', 'charlie', 'delta'].filter((n) => !diskful.includes(n))
    const ha = a ?? 'charlie'
    const hb = b ?? 'delta'
    rows.push(
      ...(await measureSteps(emu, 'cinder', [
        { operation: 'initialize_connection (replica there)', run: () => call('initialize_connection', { volume: volume(V), connector: { host: diskful[0] } }) },
        { operation: 'terminate_connection (replica there)', run: () => call('terminate_connection', { volume: volume(V, { attachments: [attached(diskful[0] ?? '')] }), connector: { host: diskful[0] } }) },
        { operation: 'initialize_connection (diskless client)', run: async () => { await call('initialize_connection', { volume: volume(V), connector: { host: ha } }); emu.control.open(ha, `CV_${V}`) } },
        { operation: 'initialize_connection (migration target)', run: () => call('initialize_connection', { volume: volume(V, { attachments: [attached(ha), { id: 'new', attach_status: 'attaching' }] }), connector: { host: hb } }) },
        { operation: 'terminate_connection (migration source)', run: async () => { emu.control.open(hb, `CV_${V}`); emu.control.close(ha, `CV_${V}`); await call('terminate_connection', { volume: volume(V, { attachments: [attached(ha), attached(hb)] }), connector: { host: ha } }) } },
        { operation: 'terminate_connection (diskless client)', run: async () => { emu.control.close(hb, `CV_${V}`); await call('terminate_connection', { volume: volume(V, { attachments: [attached(hb)] }), connector: { host: hb } }) } },
        { operation: 'extend_volume', run: () => call('extend_volume', { volume: volume(V), newSizeGib: 2 }) },
        { operation: 'create_snapshot', run: () => call('create_snapshot', { snapshot }) },
        { operation: 'create_volume_from_snapshot', run: () => call('create_volume_from_snapshot', { volume: volume(V2, { size: 2 }), snapshot }) },
        { operation: 'create_cloned_volume', run: () => call('create_cloned_volume', { volume: volume(V3, { size: 2 }), source: volume(V, { size: 2 }) }) },
        { operation: 'revert_to_snapshot', run: () => call('revert_to_snapshot', { volume: volume(V, { size: 2 }), snapshot }) },
        { operation: 'delete_snapshot', run: () => call('delete_snapshot', { snapshot }) },
        { operation: 'ensure_export', run: () => call('ensure_export', { volume: volume(V) }) },
        { operation: 'delete_volume', run: () => call('delete_volume', { volume: volume(V) }) },
      ])),
    )
    return rows
  } finally {
    await agent.close()
    await emu.close()
  }
}

async function openNebulaRows(dir: string): Promise<RoundTripRow[]> {
  const cleanups: (() => unknown)[] = []
  const one = await oneFrontEnd(fakeContext(cleanups))
  const emu = one.emu
  const IMAGE_DS = 101
  const VM = 42
  const DIR = `/var/lib/one//datastores/0/${VM}`
  try {
    one.store('datastore', IMAGE_DS, datastoreXml(IMAGE_DS, { LINSTOR_CONTROLLERS: emu.url, LINSTOR_PLACE_COUNT: '2', BRIDGE_LIST: 'alpha bravo', RESTRICTED_DIRS: '/', SAFE_DIRS: dir }))
    one.store('datastore', 0, datastoreXml(0, {}, { type: 1, tmMad: 'ssh', name: 'system' }))
    const ds = readFileSync(join(one.env['LV_ONE_DB'] ?? '', `datastore-${IMAGE_DS}.xml`), 'utf8')
    const raw = join(dir, 'image.raw')
    writeFileSync(raw, Buffer.alloc(16 * 1024 * 1024, 1))
    const qcow = join(dir, 'image.qcow2')
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow])
    const disks: DiskSpec[] = [
      { id: 0, image: 7, clone: true, sizeMiB: 24, dsId: IMAGE_DS },
      { id: 1, image: 9, persistent: true, sizeMiB: 16, dsId: IMAGE_DS },
    ]
    let host = 'charlie'
    let to = 'delta'
    const stdinVm = (): string => Buffer.from(readFileSync(join(one.env['LV_ONE_DB'] ?? '', `vm-${VM}.xml`))).toString('base64')
    const rows = await measureSteps(emu, 'opennebula', [
      { operation: 'datastore/stat', run: () => one.ok('datastore', 'stat', ['7'], { stdin: actionData({ ID: '7', PATH: qcow, SIZE: '16', TYPE: '0' }, ds) }) },
      { operation: 'datastore/cp (qcow2 image)', run: () => one.ok('datastore', 'cp', ['7'], { stdin: actionData({ ID: '7', PATH: qcow, SIZE: '16', TYPE: '0' }, ds) }) },
      { operation: 'datastore/mkfs (empty image)', run: () => one.ok('datastore', 'mkfs', ['9'], { stdin: actionData({ ID: '9', FORMAT: 'raw', SIZE: '16', TYPE: '2' }, ds) }) },
      { operation: 'datastore/monitor', run: () => one.ok('datastore', 'monitor', [String(IMAGE_DS)], { stdin: actionData(undefined, ds) }) },
    ])
    // The VM's host: one without a replica of image 7, so its clone gets a diskless client there.
    const list = (await (await fetch(`${emu.url}/v1/view/resources?resources=OpenNebula-Image-9`)).json()) as { node_name: string; flags?: string[] }[]
    const diskful9 = list.filter((x) => !(x.flags ?? []).includes('DRBD_DISKLESS')).map((x) => x.node_name)
    const free = ['alpha', 'bravo', 'charlie', 'delta'].filter((n) => !diskful9.includes(n))
    host = free[0] ?? host
    to = free[1] ?? to
    one.store('vm', VM, vmXml(VM, disks, [host]))
    const CLONE = 'OpenNebula-Image-7-vm42-disk0'
    rows.push(
      ...(await measureSteps(emu, 'opennebula', [
        { operation: 'tm/clone (image to VM disk)', run: () => one.ok('tm', 'clone.ssh', ['one-fe:OpenNebula-Image-7', `${host}:${DIR}/disk.0`, String(VM), String(IMAGE_DS)]) },
        { operation: 'tm/ln (persistent image, diskless client)', run: () => one.ok('tm', 'ln.ssh', ['one-fe:OpenNebula-Image-9', `${host}:${DIR}/disk.1`, String(VM), String(IMAGE_DS)]) },
        {
          operation: 'tm/premigrate (2 disks)',
          run: async () => {
            for (const r of [CLONE, 'OpenNebula-Image-9']) emu.control.open(host, r)
            await one.ok('tm', 'premigrate', [host, to, DIR, String(VM), '0', 'ssh'], { stdin: stdinVm() })
          },
        },
        {
          operation: 'tm/postmigrate (2 disks)',
          run: async () => {
            for (const r of [CLONE, 'OpenNebula-Image-9']) {
              emu.control.open(to, r)
              emu.control.close(host, r)
            }
            await one.ok('tm', 'postmigrate', [host, to, DIR, String(VM), '0', 'ssh'], { stdin: stdinVm() })
          },
        },
        { operation: 'tm/snap_create (disk 1)', run: () => one.ok('tm', 'snap_create.ssh', [`${to}:${DIR}/disk.1`, '0', String(VM), String(IMAGE_DS)]) },
        { operation: 'tm/snap_create (disk 1, a second one)', run: () => one.ok('tm', 'snap_create.ssh', [`${to}:${DIR}/disk.1`, '1', String(VM), String(IMAGE_DS)]) },
        {
          // The VM is powered off for a revert (oned's snapshot-revert needs it), then runs again.
          operation: 'tm/snap_revert (disk 1, the older snapshot)',
          run: async () => {
            emu.control.close(to, 'OpenNebula-Image-9')
            await one.ok('tm', 'snap_revert.ssh', [`${to}:${DIR}/disk.1`, '0', String(VM), String(IMAGE_DS)])
            emu.control.open(to, 'OpenNebula-Image-9')
          },
        },
        {
          // The image's own revert (oned's image snapshot-revert), the VM again powered off.
          operation: 'datastore/snap_revert (image 9, the older snapshot)',
          run: async () => {
            emu.control.close(to, 'OpenNebula-Image-9')
            await one.ok('datastore', 'snap_revert', ['9'], { stdin: actionData({ ID: '9', SOURCE: 'OpenNebula-Image-9', SIZE: '16', TYPE: '2', TARGET_SNAPSHOT: '0' }, ds) })
            emu.control.open(to, 'OpenNebula-Image-9')
          },
        },
        { operation: 'tm/resize (disk 1)', run: () => one.ok('tm', 'resize.ssh', [`${to}:${DIR}/disk.1`, '32', String(VM), String(IMAGE_DS)]) },
        { operation: 'tm/monitor', run: () => one.ok('tm', 'monitor', [String(IMAGE_DS)], { stdin: actionData(undefined, ds) }) },
        {
          operation: 'tm/delete (clone)',
          run: async () => {
            for (const r of [CLONE, 'OpenNebula-Image-9']) emu.control.close(to, r)
            await one.ok('tm', 'delete.ssh', [`${to}:${DIR}/disk.0`, String(VM), String(IMAGE_DS)])
          },
        },
        { operation: 'tm/mvds (persistent image back)', run: () => one.ok('tm', 'mvds.ssh', [`${to}:${DIR}/disk.1`, 'OpenNebula-Image-9', String(VM), String(IMAGE_DS)]) },
        { operation: 'datastore/rm', run: () => one.ok('datastore', 'rm', ['9'], { stdin: actionData({ ID: '9', SOURCE: 'OpenNebula-Image-9', SIZE: '32', TYPE: '2' }, ds) }) },
      ])),
    )
    return rows
  } finally {
    for (const f of cleanups.reverse()) await f()
  }
}

export async function measureRoundTrips(): Promise<RoundTripRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'lv-bench-rt-'))
  try {
    return [...(await proxmoxRows(dir)), ...(await openNebulaRows(dir)), ...(await cinderRows(dir))]
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export function roundTripsMarkdown(rows: RoundTripRow[]): string {
  const out = ['## REST round trips per operation (emulator counters)', '', 'Each platform call made as the platform makes it, in the order of a VM\'s life. Minimum: the REST calls the operation needs against a LINSTOR controller (see the reasons below the table). Peer: the REST calls of the peer\'s equivalent (a fixed reference figure, see the flows below), where the step is a flow of its own.', '']
  out.push('### flows beside the peers', '', '| adapter | flow | ours | peer | peer\'s calls | ours / peer | minimum | steps |', '|---|---|---|---|---|---|---|---|')
  for (const f of PEER_FLOWS) {
    const x = flowFigures(rows, f)
    const ratio = Math.round((100 * x.ours) / f.peerCalls) / 100
    out.push(`| ${f.adapter} | ${f.flow} | ${x.ours}${x.missing.length > 0 ? ` (missing: ${x.missing.join(', ')})` : ''} | ${f.peer} | ${f.peerCalls} | ${ratio}${x.ours > f.peerCalls ? ' ⚠' : ''} | ${x.minimum} | ${f.steps.join('; ')} |`)
  }
  out.push('', 'The peers\' figures are fixed reference figures, not measured here:', '')
  for (const src of new Set(PEER_FLOWS.map((f) => `${f.peer}: ${f.source}`))) out.push(`- ${src}`)
  out.push('')
  for (const adapter of ['proxmox', 'opennebula', 'cinder'] as const) {
    out.push(`### ${adapter}`, '', '| operation | calls made | reads | writes | minimum | peer | the minimum is | write calls |', '|---|---|---|---|---|---|---|---|')
    for (const r of rows.filter((x) => x.adapter === adapter)) {
      const w = Object.entries(r.calls).filter(([k]) => !k.startsWith('GET ')).map(([k, v]) => `${v}× ${k}`).join('<br>')
      const peer = peerOfStep(r)
      out.push(`| ${r.operation} | ${r.reads + r.writes}${r.reads + r.writes > r.minimum ? ' ⚠' : ''} | ${r.reads} | ${r.writes} | ${Number.isNaN(r.minimum) ? '?' : r.minimum} | ${peer === undefined ? '–' : `${peer.peerCalls} (${peer.peer})`} | ${MINIMA[`${r.adapter} ${r.operation}`]?.why ?? ''} | ${w} |`)
    }
    out.push('')
  }
  const above = rows.filter((r) => r.reads + r.writes > r.minimum)
  if (above.length > 0) {
    out.push('Above the minimum, and why (the letters are explained below the list):', '')
    for (const r of above) out.push(`- ${r.adapter} ${r.operation}: ${r.reads + r.writes} for ${r.minimum}. ${r.reason ?? '(no reason recorded)'}`)
    out.push('', ...Object.entries(SHARED_REASONS).map(([k, v]) => `- [${k}] ${v}`), '')
  }
  return out.join('\n')
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '')
if (isMain) {
  const rows = await measureRoundTrips()
  process.stdout.write(roundTripsMarkdown(rows))
  if (process.argv.includes('--calls')) for (const r of rows) process.stdout.write(`${r.adapter} ${r.operation}: ${JSON.stringify(r.calls)}\n`)
}
