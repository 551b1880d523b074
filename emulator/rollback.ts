/**
 * Snapshot rollback, as the controller version the emulator plays does it
 * (core/apicallhandler/controller/CtrlSnapshotRollbackApiCallHandler.java and
 * controller/utils/ZfsChecks.java, ZfsRollbackStrategy.java, SnapshotRollbackChecks.java).
 *
 * Two mechanisms:
 * - **In place** ("old", the only one before 1.31.0; since 1.32.0 the `zfs rollback` path of ZFS
 *   pools): only the most recent snapshot (FAIL_EXISTS_SNAPSHOT_DFN "Rollback is only allowed
 *   with the most recent snapshot"); the resources are marked down, every satellite rolls its
 *   volumes back, they come up again. Replicas and snapshots stay as they are.
 * - **Via restore** (since 1.31.0, CHANGELOG "Snapshot rollback now does internally a resource
 *   delete + snapshot restore"): any snapshot. A safety snapshot `safety-snap-…` (flag
 *   SAFETY_SNAPSHOT) of every diskful replica, all resources deleted (diskless first, the RD
 *   truncate), the volume definitions reset to the snapshot's (removed, re-created, sizes and
 *   props), the snapshot restored onto the nodes that hold it, the safety snapshot deleted, and
 *   every node that had a resource gets one again through make-available (diskful where it was
 *   diskful). Newer snapshots are kept. A failing step rolls back to the safety snapshot: after a
 *   failed delete the deleted diskful replicas are restored from it (those not deleted stay); after
 *   a failed restore all resources are deleted, the volume definitions reset to the safety
 *   snapshot's and it is restored on its nodes; either way the safety snapshot is then deleted and
 *   the error answered. Diskless replicas are not re-created then (recreateResources only runs on
 *   success), which is what a failure leaves.
 *
 * Which one: before 1.31.0 in place; 1.31.x via restore; from 1.32.0 a snapshot whose nodes and
 * diskful resources are all on ZFS/ZFS_THIN pools follows the strategy (request
 * `zfs_rollback_strategy`, else `StorDriver/Zfs/RollbackStrategy` on the RD, its group, the
 * controller; default DYNAMIC, names compared ignoring case): CLONE via restore, ROLLBACK in place
 * (an older snapshot: FAIL_DEPENDEND_BACKUP "'s' is not the most recent snapshot. Cannot 'zfs
 * rollback ...' to the given snapshot!"), DYNAMIC in place for the newest snapshot and via restore
 * otherwise; every other snapshot via restore.
 */
import { ApiRcError, MASK_DEL, MASK_RSC, MASK_SNAPSHOT, RC, ReplyBuilder } from './api-call-rc.js'
import type { Emu } from './context.js'
import { versionAtLeast } from './context.js'
import { allocateMinor } from './definitions.js'
import type { ResourceDefinitionState, SnapshotState } from './model.js'
import { findPool, rdPrioProp, replicas, vlmDfns } from './model.js'
import { nameKey } from './names.js'
import { runAutoHelpers } from './placement.js'
import { addReplica, linkReplicaFiles, removeReplica } from './replicas.js'

/** A satellite-side failure a test asks for (POST /x-emulator/faults/satellite). */
export interface SatelliteFault {
  /** What fails: the safety snapshot, a resource delete, or a snapshot restore. */
  operation: 'snapshot' | 'delete' | 'restore'
  /** Only on this node (any node when absent). */
  node?: string
  /** How many more times; undefined: until reset. */
  count?: number
}

/** Consumes a matching satellite fault; true when the operation on `node` is to fail. */
export function satelliteFails(emu: Emu, operation: SatelliteFault['operation'], node: string): boolean {
  const list = emu.satelliteFaults
  if (list === undefined) return false
  const i = list.findIndex((f) => f.operation === operation && (f.node === undefined || nameKey(f.node) === nameKey(node)))
  if (i < 0) return false
  const f = list[i] as SatelliteFault
  if (f.count !== undefined) {
    f.count--
    if (f.count <= 0) list.splice(i, 1)
  }
  return true
}

const ZFS_KINDS = new Set(['ZFS', 'ZFS_THIN'])
export const ZFS_ROLLBACK_STRATEGY_KEY = 'StorDriver/Zfs/RollbackStrategy'
export const ROLLBACK_TARGET_KEY = 'RollbackTarget'

/** Snapshots of the RD in creation order (sequence number; older state files: timestamps). */
export function snapshotsInOrder(rd: ResourceDefinitionState): SnapshotState[] {
  const first = (s: SnapshotState): number => Math.min(...s.nodes.map((n) => n.createTimestamp), Number.MAX_SAFE_INTEGER)
  return Object.values(rd.snapshots).sort((a, b) => (a.sequence ?? 0) - (b.sequence ?? 0) || first(a) - first(b) || a.name.localeCompare(b.name))
}

/** The sequence number a new snapshot of the RD gets (SnapshotDefinition's max + 1). */
export function nextSequence(rd: ResourceDefinitionState): number {
  return Math.max(0, ...Object.values(rd.snapshots).map((s) => s.sequence ?? 0)) + 1
}

function isMostRecent(rd: ResourceDefinitionState, s: SnapshotState): boolean {
  const list = snapshotsInOrder(rd)
  return list[list.length - 1] === s
}

/** ZfsChecks.isZfsSnapshot: every snapshot and every diskful resource on a ZFS or ZFS_THIN pool. */
function isZfsSnapshot(emu: Emu, rd: ResourceDefinitionState, s: SnapshotState): boolean {
  if (!s.nodes.every((n) => ZFS_KINDS.has(n.providerKind))) return false
  return replicas(rd)
    .filter((r) => r.kind === 'diskful')
    .every((r) => {
      const node = emu.state.nodes[nameKey(r.node)]
      const pool = node === undefined ? undefined : findPool(node, r.storPool)
      return pool !== undefined && ZFS_KINDS.has(pool.providerKind)
    })
}

/** ZfsRollbackStrategy.parseStrat: a known name ignoring case, anything else DYNAMIC. */
function parseStrategy(v: string | undefined): 'ROLLBACK' | 'CLONE' | 'DYNAMIC' {
  const u = (v ?? '').toUpperCase()
  return u === 'ROLLBACK' || u === 'CLONE' ? u : 'DYNAMIC'
}

/** Decides in place ("old") or via restore, refusing what the controller refuses. */
function useInPlace(emu: Emu, rd: ResourceDefinitionState, s: SnapshotState, requested: string | undefined): boolean {
  if (!versionAtLeast(emu, '1.31.0')) return true
  if (!versionAtLeast(emu, '1.32.0') || !isZfsSnapshot(emu, rd, s)) return false
  const strategy = parseStrategy(requested ?? rdPrioProp(emu.state, rd, ZFS_ROLLBACK_STRATEGY_KEY))
  if (strategy === 'CLONE') return false
  if (strategy === 'ROLLBACK') {
    if (!isMostRecent(rd, s)) {
      throw new ApiRcError(RC.FAIL_DEPENDEND_BACKUP, `'${s.name}' is not the most recent snapshot. Cannot 'zfs rollback ...' to the given snapshot!`)
    }
    return true
  }
  return isMostRecent(rd, s)
}

/** The checks every rollback makes first (prepareRollbackInTransaction). */
function ensureRollbackAllowed(emu: Emu, rd: ResourceDefinitionState, s: SnapshotState): void {
  if (!s.flags.includes('SUCCESSFUL')) throw new ApiRcError(RC.FAIL_UNKNOWN_ERROR, 'Unable to roll back to failed snapshot')
  for (const r of replicas(rd)) {
    if (emu.state.nodes[nameKey(r.node)]?.online !== true) {
      throw new ApiRcError(RC.FAIL_NOT_CONNECTED, `No active connection to satellite '${r.node}'`, {
        details: 'Snapshot rollback cannot be performed when the corresponding satellites are not connected.',
      })
    }
  }
  const inUse = replicas(rd).find((r) => r.role === 'Primary')
  if (inUse !== undefined) {
    throw new ApiRcError(RC.FAIL_IN_USE, `Resource '${rd.name}' on node '${inUse.node}' is still in use.`, {
      cause: 'Resource is mounted/in use.',
      correction: `Un-mount resource '${rd.name}' on the node '${inUse.node}'.`,
    })
  }
}

/** Puts a snapshot's bytes back into the RD's volumes (the satellite's restore or zfs rollback). */
function restoreData(emu: Emu, rd: ResourceDefinitionState, s: SnapshotState): void {
  for (const v of s.volumeDefinitions) {
    if (rd.volumeDefinitions[String(v.volumeNumber)] === undefined) continue
    emu.data.restoreInto(nameKey(rd.name), nameKey(s.name), v.volumeNumber, nameKey(rd.name), v.volumeNumber, v.sizeKib)
  }
}

function rollbackInPlace(emu: Emu, rd: ResourceDefinitionState, s: SnapshotState, reply: ReplyBuilder): void {
  if (!isMostRecent(rd, s)) throw new ApiRcError(RC.FAIL_EXISTS_SNAPSHOT_DFN, 'Rollback is only allowed with the most recent snapshot')
  for (const r of replicas(rd)) {
    if (r.kind !== 'diskful') continue
    if (!s.nodes.some((n) => nameKey(n.node) === nameKey(r.node))) {
      throw new ApiRcError(RC.FAIL_NOT_FOUND_SNAPSHOT, 'Some volumes were not captured by the snapshot. Cannot rollback.')
    }
  }
  reply.add(RC.MODIFIED, `Snapshot '${s.name}' of resource '${rd.name}' marked down for rollback.`)
  for (const r of replicas(rd)) reply.add(0n, `Deactivated resource '${rd.name}' on '${r.node}' for rollback`, { objRefs: { Node: r.node } })
  // zfs rollback / lvconvert --merge: the volumes keep their size history of the snapshot.
  for (const v of s.volumeDefinitions) {
    const vd = rd.volumeDefinitions[String(v.volumeNumber)]
    if (vd !== undefined) vd.sizeKib = v.sizeKib
  }
  restoreData(emu, rd, s)
  for (const r of replicas(rd)) {
    linkReplicaFiles(emu, rd, r.node)
    if (r.kind === 'diskful') reply.add(0n, `Rolled resource '${rd.name}' back on '${r.node}'`, { objRefs: { Node: r.node } })
  }
  for (const r of replicas(rd)) reply.add(0n, `Re-activated resource '${rd.name}' on '${r.node}' after rollback`, { objRefs: { Node: r.node } })
}

/** Deletes every resource of the RD, diskless ones first (CtrlRscDfnTruncateApiCallHandler). */
function truncate(emu: Emu, rd: ResourceDefinitionState, reply: ReplyBuilder): string | undefined {
  const order = [...replicas(rd).filter((r) => r.kind !== 'diskful'), ...replicas(rd).filter((r) => r.kind === 'diskful')]
  let failed: string | undefined
  for (const r of order) {
    if (satelliteFails(emu, 'delete', r.node)) {
      failed ??= r.node
      continue
    }
    removeReplica(emu, rd, r)
    reply.add(RC.DELETED | MASK_RSC | MASK_DEL, `Resource '${rd.name}' on node '${r.node}' deleted.`, { objRefs: { Node: r.node } })
  }
  return failed
}

/** resetVlmDfnsInTransaction: the volume definitions as the snapshot has them. */
function resetVolumeDefinitions(emu: Emu, rd: ResourceDefinitionState, s: SnapshotState): void {
  const wanted = new Set(s.volumeDefinitions.map((v) => v.volumeNumber))
  for (const vd of vlmDfns(rd)) {
    if (wanted.has(vd.volumeNumber)) continue
    for (const r of replicas(rd)) emu.data.unlinkReplica(r.node, rd.name, vd.volumeNumber, vd.minor)
    emu.data.removeVolume(nameKey(rd.name), vd.volumeNumber)
    delete rd.volumeDefinitions[String(vd.volumeNumber)]
  }
  for (const v of s.volumeDefinitions) {
    const vd = rd.volumeDefinitions[String(v.volumeNumber)]
    if (vd === undefined) {
      rd.volumeDefinitions[String(v.volumeNumber)] = { volumeNumber: v.volumeNumber, sizeKib: v.sizeKib, props: { ...v.props }, flags: [], minor: allocateMinor(emu), uuid: emu.uuid() }
    } else {
      vd.sizeKib = v.sizeKib
      vd.props = { ...v.props }
    }
  }
}

/** restoreSnap: volume definitions reset, data restored, a diskful resource on every snapshot node. */
function restoreOnto(emu: Emu, rd: ResourceDefinitionState, s: SnapshotState, reply: ReplyBuilder): string | undefined {
  resetVolumeDefinitions(emu, rd, s)
  restoreData(emu, rd, s)
  for (const sn of s.nodes) {
    if (satelliteFails(emu, 'restore', sn.node)) return sn.node
    const node = emu.state.nodes[nameKey(sn.node)]
    if (node === undefined || findPool(node, sn.storPool) === undefined || rd.resources[nameKey(sn.node)] !== undefined) continue
    const props = { ...sn.resourceProps }
    delete props['StorPoolName']
    const r = addReplica(emu, rd, node, { kind: 'diskful', pool: sn.storPool, props })
    reply.add(RC.CREATED | MASK_RSC, `New resource '${rd.name}' on node '${r.node}' registered.`, { objRefs: { Node: r.node } })
  }
  reply.add(0n, `Restored snapshot '${s.name}' of resource '${rd.name}' to resource '${rd.name}'.`)
  return undefined
}

function deleteSnapshot(emu: Emu, rd: ResourceDefinitionState, s: SnapshotState, reply: ReplyBuilder): void {
  delete rd.snapshots[nameKey(s.name)]
  emu.data.removeSnapshot(nameKey(rd.name), nameKey(s.name))
  reply.add(RC.DELETED | MASK_SNAPSHOT | MASK_DEL, `Snapshot '${s.name}' of resource '${rd.name}' deleted.`)
}

/** The safety snapshot: one per diskful replica, like a snapshot create with no nodes named. */
function takeSafetySnapshot(emu: Emu, rd: ResourceDefinitionState, reply: ReplyBuilder): SnapshotState {
  const name = `safety-snap-${emu.uuid().replace(/-/g, '').slice(0, 12)}`
  const now = emu.clock().getTime()
  const diskful = replicas(rd).filter((r) => r.kind === 'diskful')
  const s: SnapshotState = {
    name,
    uuid: emu.uuid(),
    props: {},
    rdProps: { ...rd.props },
    flags: ['SUCCESSFUL', 'SAFETY_SNAPSHOT'],
    sequence: nextSequence(rd),
    volumeDefinitions: vlmDfns(rd).map((v) => ({ volumeNumber: v.volumeNumber, sizeKib: v.sizeKib, props: { ...v.props } })),
    nodes: diskful.map((r) => ({
      node: r.node,
      storPool: r.storPool,
      providerKind: emu.state.nodes[nameKey(r.node)]?.pools[nameKey(r.storPool)]?.providerKind ?? 'LVM_THIN',
      createTimestamp: now,
      uuid: emu.uuid(),
      resourceProps: { ...r.props },
    })),
  }
  for (const v of vlmDfns(rd)) emu.data.snapshot(nameKey(rd.name), nameKey(name), v.volumeNumber)
  rd.snapshots[nameKey(name)] = s
  reply.add(RC.CREATED | MASK_SNAPSHOT, `New snapshot '${name}' of resource '${rd.name}' registered.`, { details: `Snapshot '${name}' of resource '${rd.name}' UUID is: ${s.uuid}` })
  return s
}

function rollbackViaRestore(emu: Emu, rd: ResourceDefinitionState, s: SnapshotState, reply: ReplyBuilder, makeAvailable: MakeAvailable): void {
  const before = replicas(rd).map((r) => ({ node: r.node, diskful: r.kind === 'diskful' }))
  const safety = takeSafetySnapshot(emu, rd, reply)
  const snapFail = safety.nodes.find((n) => satelliteFails(emu, 'snapshot', n.node))
  if (snapFail !== undefined) {
    deleteSnapshot(emu, rd, safety, reply)
    reply.add(RC.FAIL_UNKNOWN_ERROR | MASK_SNAPSHOT, `Failed to take the safety snapshot '${safety.name}' of resource '${rd.name}' on node '${snapFail.node}'; nothing was rolled back.`)
    return
  }
  for (const n of safety.nodes) reply.add(0n, `Took snapshot of '${rd.name}' on '${n.node}'`, { objRefs: { Node: n.node } })

  const deleteFailed = truncate(emu, rd, reply)
  if (deleteFailed !== undefined) {
    // rollbackToSafetySnap(restoreStarted = false): restore the safety snapshot where the
    // resource is gone; the ones that could not be deleted stay (their DELETE flag is cleared).
    restoreData(emu, rd, safety)
    for (const sn of safety.nodes) {
      const node = emu.state.nodes[nameKey(sn.node)]
      if (node === undefined || rd.resources[nameKey(sn.node)] !== undefined) continue
      const props = { ...sn.resourceProps }
      delete props['StorPoolName']
      addReplica(emu, rd, node, { kind: 'diskful', pool: sn.storPool, props })
      reply.add(RC.CREATED | MASK_RSC, `New resource '${rd.name}' on node '${sn.node}' registered.`, { objRefs: { Node: sn.node } })
    }
    runAutoHelpers(emu, rd, reply)
    deleteSnapshot(emu, rd, safety, reply)
    reply.add(RC.FAIL_UNKNOWN_ERROR | MASK_RSC | MASK_DEL, `Failed to delete resource '${rd.name}' on node '${deleteFailed}' for the rollback to '${s.name}'; restored the state before the rollback.`)
    return
  }

  const restoreFailed = restoreOnto(emu, rd, s, reply)
  if (restoreFailed !== undefined) {
    // rollbackToSafetySnap(restoreStarted = true): delete what was restored, restore the safety snapshot.
    for (const r of replicas(rd)) removeReplica(emu, rd, r)
    restoreOnto(emu, rd, safety, reply)
    runAutoHelpers(emu, rd, reply)
    deleteSnapshot(emu, rd, safety, reply)
    reply.add(RC.FAIL_UNKNOWN_ERROR | MASK_SNAPSHOT, `Failed to restore snapshot '${s.name}' of resource '${rd.name}' on node '${restoreFailed}'; restored the state before the rollback.`)
    return
  }
  runAutoHelpers(emu, rd, reply)
  deleteSnapshot(emu, rd, safety, reply)
  // recreateResources: make-available where a resource was before and is not now.
  for (const b of before) {
    const r = rd.resources[nameKey(b.node)]
    if (r !== undefined && (r.kind === 'diskful' || !b.diskful)) continue
    const sub = new ReplyBuilder({ op: 0n, obj: MASK_RSC, objRefs: { RscDfn: rd.name, Node: b.node } }, emu.clock)
    try {
      makeAvailable(rd, b.node, b.diskful, sub)
    } catch (err) {
      if (!(err instanceof ApiRcError)) throw err
      sub.add(err.retCode, err.message, err.options)
    }
    reply.addAll(sub.entries)
  }
  reply.add(RC.MODIFIED | MASK_SNAPSHOT, `Resource '${rd.name}' rolled back to snapshot '${s.name}'.`)
}

/** make-available of a node (routes/resources.ts), passed in to keep this module free of routes. */
export type MakeAvailable = (rd: ResourceDefinitionState, node: string, diskful: boolean, reply: ReplyBuilder) => void

/**
 * POST .../snapshot-rollback/{snapshot}: the checks, then in place or via restore. Failures after
 * the first step are answered in the reply (the state they leave is kept), not thrown.
 */
export function rollbackSnapshot(emu: Emu, rd: ResourceDefinitionState, s: SnapshotState, requestedStrategy: string | undefined, reply: ReplyBuilder, makeAvailable: MakeAvailable): void {
  // Before 1.31 the newest-snapshot check came first (ensureMostRecentSnapshot).
  if (!versionAtLeast(emu, '1.31.0') && !isMostRecent(rd, s)) throw new ApiRcError(RC.FAIL_EXISTS_SNAPSHOT_DFN, 'Rollback is only allowed with the most recent snapshot')
  const inPlace = useInPlace(emu, rd, s, requestedStrategy)
  ensureRollbackAllowed(emu, rd, s)
  if (inPlace) rollbackInPlace(emu, rd, s, reply)
  else rollbackViaRestore(emu, rd, s, reply, makeAvailable)
}
