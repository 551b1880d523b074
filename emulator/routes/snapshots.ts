/** Snapshots: create, list, delete, props, restore to a new resource, rollback; the view. */
import type { Request } from 'express'
import { ApiRcError, MASK_CRT, MASK_DEL, MASK_MOD, MASK_SNAPSHOT, MASK_VLM_DFN, RC } from '../api-call-rc.js'
import type { ReplyBuilder, ResponseContext } from '../api-call-rc.js'
import type { Emu } from '../context.js'
import { allocateMinor, requireRd } from '../definitions.js'
import type { RouteTable } from '../http-kit.js'
import { mutation, notFound, page, param, query, queryList, readBody, text } from '../http-kit.js'
import * as T from '../request-types.js'
import { versionAtLeast } from '../context.js'
import { nextSequence, rollbackSnapshot } from '../rollback.js'
import { makeAvailable } from './resources.js'
import { rdOrNotFound } from './resource-definitions.js'
import type { JsonValue } from '../json-writer.js'
import type { ResourceDefinitionState, SnapshotState } from '../model.js'
import { SNAPSHOT_KINDS, findPool, replicas, sortedByName, vlmDfns } from '../model.js'
import { checkSnapshotName, nameKey } from '../names.js'
import { runAutoHelpers } from '../placement.js'
import { applyPropsPlan, planPropsModify, validateProps } from '../props.js'
import { addReplica, checkSpace } from '../replicas.js'
import { snapshotJson } from '../views.js'
import { requireNode } from './nodes.js'

const snapCtx = (op: bigint, rd: string, snap: string): ResponseContext => ({
  op,
  obj: MASK_SNAPSHOT,
  objRefs: { RscDfn: rd, Snapshot: snap },
  objDescription: `Resource: ${rd}, Snapshot: ${snap}`,
})

function requireSnapshot(rd: ResourceDefinitionState, name: string): SnapshotState {
  const s = rd.snapshots[nameKey(name)]
  if (s === undefined) throw new ApiRcError(RC.FAIL_NOT_FOUND_SNAPSHOT_DFN, `Snapshot definition '${name}' of resource '${rd.name}' not found.`)
  return s
}

function createSnapshot(emu: Emu, rd: ResourceDefinitionState, body: Record<string, unknown>, reply: ReplyBuilder): void {
  const name = body['name']
  const bad = checkSnapshotName(name)
  if (bad !== undefined || typeof name !== 'string') throw new ApiRcError(RC.FAIL_INVLD_SNAPSHOT_NAME, bad ?? 'Invalid snapshot name')
  if (rd.snapshots[nameKey(name)] !== undefined) {
    throw new ApiRcError(RC.FAIL_EXISTS_SNAPSHOT_DFN, `A snapshot definition with the name '${name}' already exists in resource definition '${rd.name}'.`)
  }
  const wanted = Array.isArray(body['nodes']) ? (body['nodes'] as unknown[]).map(String) : []
  const targets = wanted.length > 0 ? wanted.map((n) => rd.resources[nameKey(n)] ?? (() => { throw new ApiRcError(RC.FAIL_NOT_FOUND_RSC, `Resource '${rd.name}' on node '${n}' not found.`) })()) : replicas(rd).filter((r) => r.kind === 'diskful')
  if (targets.length === 0) throw new ApiRcError(RC.FAIL_NOT_CONNECTED, `No diskful resource of '${rd.name}' to take a snapshot of.`)
  for (const r of targets) {
    const pool = emu.state.nodes[nameKey(r.node)]?.pools[nameKey(r.storPool)]
    if (r.kind !== 'diskful' || pool === undefined || !SNAPSHOT_KINDS.has(pool.providerKind)) {
      throw new ApiRcError(RC.FAIL_SNAPSHOTS_NOT_SUPPORTED, `Storage pool '${r.storPool}' on node '${r.node}' does not support snapshots.`)
    }
  }
  if (!targets.some((r) => emu.state.nodes[nameKey(r.node)]?.online === true)) {
    throw new ApiRcError(RC.FAIL_NOT_CONNECTED, `No active connection to a satellite with a diskful replica of '${rd.name}'.`)
  }
  const now = emu.clock().getTime()
  const snap: SnapshotState = {
    name,
    uuid: emu.uuid(),
    props: validateProps(body['snapshot_definition_props']),
    rdProps: { ...rd.props },
    flags: ['SUCCESSFUL'],
    sequence: nextSequence(rd),
    volumeDefinitions: vlmDfns(rd).map((v) => ({ volumeNumber: v.volumeNumber, sizeKib: v.sizeKib, props: { ...v.props } })),
    nodes: targets.map((r) => ({
      node: r.node,
      storPool: r.storPool,
      providerKind: emu.state.nodes[nameKey(r.node)]?.pools[nameKey(r.storPool)]?.providerKind ?? 'LVM_THIN',
      createTimestamp: now,
      uuid: emu.uuid(),
      resourceProps: { ...r.props },
    })),
  }
  for (const v of vlmDfns(rd)) emu.data.snapshot(nameKey(rd.name), nameKey(name), v.volumeNumber)
  rd.snapshots[nameKey(name)] = snap
  reply.add(RC.CREATED, `New snapshot '${name}' of resource '${rd.name}' registered.`, { details: `Snapshot '${name}' of resource '${rd.name}' UUID is: ${snap.uuid}` })
  for (const n of snap.nodes) {
    if (emu.state.nodes[nameKey(n.node)]?.online === true) reply.add(0n, `Took snapshot of '${rd.name}' on '${n.node}'`)
    else reply.add(RC.WARN_NOT_CONNECTED, `No active connection to satellite '${n.node}'`)
  }
  reply.add(0n, `Snapshot '${name}' of resource '${rd.name}' successfully taken.`)
}

export function snapshotRoutes(emu: Emu, routes: RouteTable): void {
  const rsc = (req: Request): string => param(req, 'resource')
  const snap = (req: Request): string => param(req, 'snapshot')

  routes.add(
    'get',
    '/v1/resource-definitions/:resource/snapshots',
    query(emu, (req) => snapCtx(0n, rsc(req), ''), (req) => {
      const rd = rdOrNotFound(emu, rsc(req))
      return page(req, sortedByName(Object.values(rd.snapshots))).map((s) => snapshotJson(rd, s))
    }),
  )

  routes.add(
    'get',
    '/v1/resource-definitions/:resource/snapshots/:snapshot',
    query(emu, (req) => snapCtx(0n, rsc(req), snap(req)), (req) => {
      // Snapshots.listSnapshots → queryRequestResponse(FAIL_NOT_FOUND_SNAPSHOT, "Snapshot", ...).
      const rd = rdOrNotFound(emu, rsc(req))
      const s = rd.snapshots[nameKey(snap(req))]
      if (s === undefined) throw notFound(RC.FAIL_NOT_FOUND_SNAPSHOT, `Snapshot '${snap(req)}' not found.`)
      return snapshotJson(rd, s)
    }),
  )

  routes.add(
    'post',
    '/v1/resource-definitions/:resource/snapshots',
    mutation(emu, (req) => ({ ctx: snapCtx(MASK_CRT, rsc(req), ''), successStatus: 201 }), (req, reply) => {
      const body = readBody(req, T.Snapshot)
      createSnapshot(emu, requireRd(emu, rsc(req)), body, reply)
    }),
  )

  routes.add(
    'post',
    '/v1/actions/snapshot/multi',
    mutation(emu, { ctx: { op: MASK_CRT, obj: MASK_SNAPSHOT, objRefs: {} }, successStatus: 201 }, (req, reply) => {
      const body = readBody(req, T.CreateMultiSnapshotRequest)
      const list = Array.isArray(body['snapshots']) ? (body['snapshots'] as Array<Record<string, unknown> | null>).filter((x): x is Record<string, unknown> => x !== null) : []
      for (const s of list) createSnapshot(emu, requireRd(emu, text(s['resource_name'])), s, reply)
    }),
  )

  routes.add(
    'put',
    '/v1/resource-definitions/:resource/snapshots/:snapshot',
    // Snapshots.modifySnapshot declares `throws IOException`.
    mutation(emu, (req) => ({ ctx: snapCtx(MASK_MOD, rsc(req), snap(req)), successStatus: 200, parse: 'escape' }), (req, reply) => {
      const body = readBody(req, T.SnapshotModify)
      const rd = requireRd(emu, rsc(req))
      const s = requireSnapshot(rd, snap(req))
      applyPropsPlan(s.props, planPropsModify(body))
      reply.add(RC.MODIFIED, `Snapshot '${s.name}' of resource '${rd.name}' modified.`)
    }),
  )

  routes.add(
    'delete',
    '/v1/resource-definitions/:resource/snapshots/:snapshot',
    mutation(emu, (req) => ({ ctx: snapCtx(MASK_DEL, rsc(req), snap(req)), successStatus: 200 }), (req, reply) => {
      const rd = emu.state.resourceDefinitions[nameKey(rsc(req))]
      const s = rd?.snapshots[nameKey(snap(req))]
      if (rd === undefined || s === undefined) {
        reply.add(RC.WARN_NOT_FOUND, `Snapshot definition '${snap(req)}' of resource '${rsc(req)}' not found.`)
        return
      }
      const only = new Set(queryList(req, 'nodes').map(nameKey))
      if (only.size > 0) {
        s.nodes = s.nodes.filter((n) => !only.has(nameKey(n.node)))
        if (s.nodes.length > 0) {
          reply.add(RC.DELETED, `Snapshot '${s.name}' of resource '${rd.name}' deleted on the given nodes.`)
          return
        }
      }
      delete rd.snapshots[nameKey(s.name)]
      emu.data.removeSnapshot(nameKey(rd.name), nameKey(s.name))
      reply.add(RC.DELETED, `Snapshot '${s.name}' of resource '${rd.name}' deleted.`, { details: `Snapshot '${s.name}' of resource '${rd.name}' UUID was: ${s.uuid}` })
    }),
  )

  routes.add(
    'post',
    '/v1/resource-definitions/:resource/snapshot-restore-volume-definition/:snapshot',
    // SnapshotRestoreVolumeDefinition reads the body inside RequestHelper.doInScope.
    mutation(emu, (req) => ({ ctx: snapCtx(MASK_CRT, rsc(req), snap(req)), successStatus: 200, parse: 'sync' }), (req, reply) => {
      const body = readBody(req, T.SnapshotRestore)
      const rd = requireRd(emu, rsc(req))
      const s = requireSnapshot(rd, snap(req))
      const target = requireRd(emu, text(body['to_resource']))
      for (const v of s.volumeDefinitions) {
        if (target.volumeDefinitions[String(v.volumeNumber)] !== undefined) {
          throw new ApiRcError(RC.FAIL_EXISTS_VLM_DFN, `A volume definition with the number ${v.volumeNumber} already exists in resource definition '${target.name}'.`)
        }
      }
      for (const v of s.volumeDefinitions) {
        target.volumeDefinitions[String(v.volumeNumber)] = {
          volumeNumber: v.volumeNumber,
          sizeKib: v.sizeKib,
          props: { ...v.props },
          flags: [],
          minor: allocateMinor(emu),
          uuid: emu.uuid(),
        }
        reply.add(RC.CREATED | MASK_VLM_DFN, `New volume definition with number '${v.volumeNumber}' of resource definition '${target.name}' created.`, {
          objRefs: { RscDfn: target.name, VlmNr: String(v.volumeNumber) },
        })
      }
    }),
  )

  routes.add(
    'post',
    '/v1/resource-definitions/:resource/snapshot-restore-resource/:snapshot',
    mutation(emu, (req) => ({ ctx: snapCtx(MASK_CRT, rsc(req), snap(req)), successStatus: 200 }), (req, reply) => {
      const body = readBody(req, T.SnapshotRestore)
      const rd = requireRd(emu, rsc(req))
      const s = requireSnapshot(rd, snap(req))
      const target = requireRd(emu, text(body['to_resource']))
      if (Object.keys(target.resources).length > 0) {
        throw new ApiRcError(RC.FAIL_EXISTS_RSC, `Resource definition '${target.name}' already has resources; a snapshot can only be restored into an empty one.`)
      }
      for (const v of s.volumeDefinitions) {
        const vd = target.volumeDefinitions[String(v.volumeNumber)]
        if (vd === undefined) {
          throw new ApiRcError(RC.FAIL_NOT_FOUND_VLM_DFN, `Volume definition with number '${v.volumeNumber}' of resource definition '${target.name}' not found.`, {
            correction: 'Restore the volume definitions first (snapshot-restore-volume-definition).',
          })
        }
        if (vd.sizeKib !== v.sizeKib) {
          throw new ApiRcError(RC.FAIL_INVLD_VLM_SIZE, `Volume ${v.volumeNumber} of '${target.name}' is ${vd.sizeKib} KiB but the snapshot is ${v.sizeKib} KiB.`)
        }
      }
      const wanted = Array.isArray(body['nodes']) ? (body['nodes'] as unknown[]).map((n) => nameKey(String(n))) : []
      const rename = (body['stor_pool_rename'] ?? {}) as Record<string, string>
      const nodes = s.nodes.filter((n) => wanted.length === 0 || wanted.includes(nameKey(n.node)))
      if (wanted.length > 0 && nodes.length !== wanted.length) {
        throw new ApiRcError(RC.FAIL_NOT_FOUND_SNAPSHOT, `Snapshot '${s.name}' does not exist on all the given nodes.`)
      }
      for (const v of s.volumeDefinitions) {
        emu.data.restoreInto(nameKey(rd.name), nameKey(s.name), v.volumeNumber, nameKey(target.name), v.volumeNumber, v.sizeKib)
      }
      for (const sn of nodes) {
        const node = requireNode(emu, sn.node)
        const pool = rename[sn.storPool] ?? sn.storPool
        if (findPool(node, pool) === undefined) throw new ApiRcError(RC.FAIL_NOT_FOUND_STOR_POOL, `Storage pool '${pool}' not found on node '${node.name}'.`)
        checkSpace(emu, node, pool, s.volumeDefinitions.reduce((a, v) => a + v.sizeKib, 0), target.name)
        const r = addReplica(emu, target, node, { kind: 'diskful', pool })
        reply.add(RC.CREATED, `New resource '${target.name}' on node '${r.node}' registered.`, { objRefs: { RscDfn: target.name, Node: r.node } })
      }
      reply.add(0n, `Restored snapshot '${s.name}' of resource '${rd.name}' to resource '${target.name}'.`)
      runAutoHelpers(emu, target, reply)
    }),
  )

  // SnapshotRollback.rollbackSnapshot: an empty body is `new SnapshotRollback()`; a body it
  // cannot read goes to handleJsonParseException. The rollback itself: rollback.ts.
  routes.add(
    'post',
    '/v1/resource-definitions/:resource/snapshot-rollback/:snapshot',
    mutation(emu, (req) => ({ ctx: snapCtx(MASK_MOD, rsc(req), snap(req)), successStatus: 200 }), (req, reply) => {
      const body = readBody(req, versionAtLeast(emu, '1.32.0') ? T.SnapshotRollback : T.SnapshotRollbackBefore132, { emptyAsNew: true })
      const rd = requireRd(emu, rsc(req))
      const s = requireSnapshot(rd, snap(req))
      const strategy = typeof body['zfs_rollback_strategy'] === 'string' ? body['zfs_rollback_strategy'] : undefined
      rollbackSnapshot(emu, rd, s, strategy, reply, (target, node, diskful, sub) => makeAvailable(emu, target, node, { diskful }, sub))
    }),
  )

  routes.add(
    'get',
    '/v1/view/snapshots',
    query(emu, { op: 0n, obj: MASK_SNAPSHOT, objRefs: {} }, (req) => {
      const nodes = new Set(queryList(req, 'nodes').map(nameKey))
      const rscs = new Set(queryList(req, 'resources').map(nameKey))
      const out: JsonValue[] = []
      for (const rd of sortedByName(Object.values(emu.state.resourceDefinitions))) {
        if (rscs.size > 0 && !rscs.has(nameKey(rd.name))) continue
        for (const s of sortedByName(Object.values(rd.snapshots))) {
          if (nodes.size > 0 && !s.nodes.some((n) => nodes.has(nameKey(n.node)))) continue
          out.push(snapshotJson(rd, s))
        }
      }
      return page(req, out)
    }),
  )
}
