/** Resource definitions, volume definitions, clone and sync status. */
import type { Request } from 'express'
import { ApiRcError, MASK_CRT, MASK_DEL, MASK_MOD, MASK_RSC_DFN, MASK_VLM_DFN, RC, ReplyBuilder, entriesToJson, statusFor } from '../api-call-rc.js'
import type { ResponseContext } from '../api-call-rc.js'
import type { Emu } from '../context.js'
import { checkSize, createRd, createVd, normaliseLayers, requireRd } from '../definitions.js'
import type { RouteTable } from '../http-kit.js'
import { answerBodyError, matchesPropsFilter, mutation, notFound, page, param, query, queryBool, queryList, readBody, sendJson } from '../http-kit.js'
import * as T from '../request-types.js'
import type { ResourceDefinitionState } from '../model.js'
import { findPool, findRg, replicas, sortedByName, vlmDfns } from '../model.js'
import { nameKey } from '../names.js'
import { knownInUse } from '../layers.js'
import { runAutoHelpers } from '../placement.js'
import { applyPropsPlan, planPropsModify } from '../props.js'
import { addReplica, checkSpace, reconcileFiles, removeReplica, unlinkVolumeFiles } from '../replicas.js'
import { rdJson, vdJson } from '../views.js'

export const rdCtx = (op: bigint, rd: string): ResponseContext => ({
  op,
  obj: MASK_RSC_DFN,
  objRefs: { RscDfn: rd },
  objDescription: `Resource definition: ${rd}`,
})
const vdCtx = (op: bigint, rd: string, nr: string): ResponseContext => ({
  op,
  obj: MASK_VLM_DFN,
  objRefs: { RscDfn: rd, VlmNr: nr },
  objDescription: `Resource definition: ${rd}, Volume number: ${nr}`,
})

const QUORUM_KEY = 'DrbdOptions/Resource/quorum'

/** For GETs: RequestHelper.notFoundResponse's bare "Resource definition 'x' not found.". */
export function rdOrNotFound(emu: Emu, name: string): ResourceDefinitionState {
  const rd = emu.state.resourceDefinitions[nameKey(name)]
  if (rd === undefined) throw notFound(RC.FAIL_NOT_FOUND_RSC_DFN, `Resource definition '${name}' not found.`)
  return rd
}

/** Deletes an RD with its resources (guards: snapshots, Primary replicas). */
export function deleteRd(emu: Emu, rd: ResourceDefinitionState, reply: ReplyBuilder): void {
  if (Object.keys(rd.snapshots).length > 0) {
    throw new ApiRcError(RC.FAIL_EXISTS_SNAPSHOT_DFN, `Cannot delete resource definition '${rd.name}' because it has snapshots.`)
  }
  const primary = replicas(rd).find((r) => knownInUse(rd, r))
  if (primary !== undefined) {
    throw new ApiRcError(RC.FAIL_IN_USE, `Resource '${rd.name}' is still in use.`, {
      cause: `Resource is mounted/in use on node '${primary.node}'.`,
      correction: `Un-mount resource '${rd.name}' on the node '${primary.node}'.`,
    })
  }
  reply.add(0n, `Resource definition '${rd.name}' preparing for deletion.`, { details: `Resource definition '${rd.name}' UUID is: ${rd.uuid}` })
  for (const r of replicas(rd)) {
    removeReplica(emu, rd, r)
    reply.add(0n, `Deleted '${rd.name}' on '${r.node}'`)
  }
  for (const vd of vlmDfns(rd)) emu.data.removeVolume(nameKey(rd.name), vd.volumeNumber)
  emu.data.removeResourceData(nameKey(rd.name))
  delete emu.state.resourceDefinitions[nameKey(rd.name)]
  for (const [k, c] of Object.entries(emu.state.clones)) {
    if (nameKey(c.clone) === nameKey(rd.name) || nameKey(c.source) === nameKey(rd.name)) delete emu.state.clones[k]
  }
  reply.add(RC.DELETED, `Resource definition '${rd.name}' deleted.`, { details: `Resource definition '${rd.name}' UUID was: ${rd.uuid}` })
}

export function resourceDefinitionRoutes(emu: Emu, routes: RouteTable): void {
  routes.add(
    'get',
    '/v1/resource-definitions',
    query(emu, { op: 0n, obj: MASK_RSC_DFN, objRefs: {} }, (req) => {
      const names = new Set(queryList(req, 'resource_definitions').map(nameKey))
      const props = queryList(req, 'props')
      const withVd = queryBool(req, 'with_volume_definitions')
      const list = sortedByName(Object.values(emu.state.resourceDefinitions)).filter(
        (rd) => (names.size === 0 || names.has(nameKey(rd.name))) && matchesPropsFilter(rd.props, props),
      )
      return page(req, list).map((rd) => rdJson(emu, rd, withVd))
    }),
  )

  routes.add(
    'get',
    '/v1/resource-definitions/:resource',
    // ResourceDefinitions.listSingleResourceDefinition → queryRequestResponse (bare entry).
    query(emu, (req) => rdCtx(0n, param(req, 'resource')), (req) => rdJson(emu, rdOrNotFound(emu, param(req, 'resource')), false)),
  )

  routes.add(
    'post',
    '/v1/resource-definitions',
    // ResourceDefinitions.createResourceDefinition reads the body inside RequestHelper.doInScope.
    mutation(emu, { ctx: { op: MASK_CRT, obj: MASK_RSC_DFN, objRefs: {} }, successStatus: 201, parse: 'sync' }, (req, reply) => {
      const body = readBody(req, T.ResourceDefinitionCreate)
      const rdBody = (body['resource_definition'] ?? {}) as Record<string, unknown>
      const layers = Array.isArray(rdBody['layer_data'])
        ? normaliseLayers((rdBody['layer_data'] as Array<Record<string, unknown>>).map((l) => l['type']), reply)
        : undefined
      createRd(
        emu,
        {
          name: typeof rdBody['name'] === 'string' ? rdBody['name'] : '',
          externalName: typeof rdBody['external_name'] === 'string' ? rdBody['external_name'] : undefined,
          props: rdBody['props'],
          layerStack: layers,
          resourceGroup: typeof rdBody['resource_group_name'] === 'string' ? rdBody['resource_group_name'] : undefined,
          peerSlots: typeof body['drbd_peer_slots'] === 'number' ? body['drbd_peer_slots'] : undefined,
          secret: typeof body['drbd_secret'] === 'string' ? body['drbd_secret'] : undefined,
          transportType: typeof body['drbd_transport_type'] === 'string' ? body['drbd_transport_type'] : undefined,
        },
        reply,
      )
    }),
  )

  routes.add(
    'put',
    '/v1/resource-definitions/:resource',
    // ResourceDefinitions.modifyResourceDefinition declares `throws IOException`.
    mutation(emu, (req) => ({ ctx: rdCtx(MASK_MOD, param(req, 'resource')), successStatus: 200, parse: 'escape' }), (req, reply) => {
      const body = readBody(req, T.ResourceDefinitionModify)
      const rd = requireRd(emu, param(req, 'resource'))
      const plan = planPropsModify(body)
      let newGroup: string | undefined
      if (typeof body['resource_group'] === 'string' && body['resource_group'] !== '') {
        const rg = findRg(emu.state, body['resource_group'])
        if (rg === undefined) throw new ApiRcError(RC.FAIL_NOT_FOUND_RSC_GRP, `Resource group '${body['resource_group']}' not found.`)
        newGroup = rg.name
      }
      const layers = normaliseLayers(body['layer_stack'], reply)
      if (layers !== undefined && Object.keys(rd.resources).length > 0 && layers.join(',') !== rd.layerStack.join(',')) {
        throw new ApiRcError(RC.FAIL_INVLD_LAYER_STACK, `The layer stack of resource definition '${rd.name}' cannot be changed while resources exist.`)
      }
      applyPropsPlan(rd.props, plan)
      // A quorum the user sets turns the auto-quorum helper off for this RD; deleting it hands
      // control back (Internal/Drbd/QuorumSetBy).
      if (Object.hasOwn(plan.set, QUORUM_KEY)) rd.quorumSetBy = 'user'
      else if (plan.del.includes(QUORUM_KEY)) rd.quorumSetBy = 'linstor'
      if (newGroup !== undefined) rd.resourceGroup = newGroup
      if (layers !== undefined) rd.layerStack = layers
      if (typeof body['drbd_peer_slots'] === 'number') rd.peerSlots = body['drbd_peer_slots']
      reply.add(RC.MODIFIED, `Resource definition '${rd.name}' modified.`, { details: `Resource definition '${rd.name}' UUID is: ${rd.uuid}` })
      if (plan.del.includes(QUORUM_KEY) || Object.keys(plan.set).some((k) => k.startsWith('DrbdOptions/auto-'))) runAutoHelpers(emu, rd, reply)
    }),
  )

  routes.add(
    'delete',
    '/v1/resource-definitions/:resource',
    mutation(emu, (req) => ({ ctx: rdCtx(MASK_DEL, param(req, 'resource')), successStatus: 200 }), (req, reply) => {
      const rd = emu.state.resourceDefinitions[nameKey(param(req, 'resource'))]
      if (rd === undefined) {
        reply.add(RC.WARN_NOT_FOUND, `Resource definition '${param(req, 'resource')}' not found.`)
        return
      }
      deleteRd(emu, rd, reply)
    }),
  )

  routes.add(
    'get',
    '/v1/resource-definitions/:resource/sync-status',
    query(emu, (req) => rdCtx(0n, param(req, 'resource')), (req) => {
      const rd = requireRd(emu, param(req, 'resource'))
      const synced = replicas(rd).every((r) => emu.state.nodes[nameKey(r.node)]?.online === true)
      return { synced_on_all: synced }
    }),
  )

  // Clone: the copy is reported CLONING until the emulated copy time has passed, then COMPLETE.
  routes.add('post', '/v1/resource-definitions/:resource/clone', (req, res) => {
    const src = param(req, 'resource')
    const reply = new ReplyBuilder(rdCtx(MASK_CRT, src), emu.clock)
    let cloneName = ''
    let body: Record<string, unknown>
    try {
      // ResourceDefinitions.clone declares `throws IOException`: an unreadable body goes to LinstorMapper.
      body = readBody(req, T.ResourceDefinitionCloneRequest)
    } catch (err) {
      if (answerBodyError(emu, req, res, err, 'escape')) return
      throw err
    }
    try {
      // One change: persisted when it returns, undone when it throws (journal.ts).
      emu.change(() => {
        const rd = requireRd(emu, src)
        const rgName = typeof body['resource_group'] === 'string' && body['resource_group'] !== '' ? body['resource_group'] : rd.resourceGroup
        const layers = normaliseLayers(body['layer_list'], reply)
        const props = { ...rd.props }
        delete props['DrbdOptions/Resource/quorum']
        const target = createRd(
          emu,
          {
            name: typeof body['name'] === 'string' ? body['name'] : '',
            externalName: typeof body['external_name'] === 'string' ? body['external_name'] : undefined,
            props,
            layerStack: layers ?? [...rd.layerStack],
            resourceGroup: rgName,
          },
          reply,
        )
        cloneName = target.name
        applyPropsPlan(target.props, planPropsModify(body))
        for (const vd of vlmDfns(rd)) createVd(emu, target, { volumeNumber: vd.volumeNumber, sizeKib: vd.sizeKib, props: vd.props }, reply)
        for (const r of replicas(rd)) {
          if (r.kind === 'tiebreaker') continue
          const node = emu.state.nodes[nameKey(r.node)]
          if (node === undefined) continue
          if (r.kind === 'diskful') checkSpace(emu, node, r.storPool, vlmDfns(rd).reduce((s, v) => s + v.sizeKib, 0), target.name)
          addReplica(emu, target, node, { kind: r.kind, pool: r.storPool, client: r.client })
        }
        for (const vd of vlmDfns(rd)) emu.data.copyVolume(nameKey(rd.name), vd.volumeNumber, nameKey(target.name), vd.sizeKib)
        runAutoHelpers(emu, target, reply)
        const involved = replicas(rd).map((r) => emu.state.nodes[nameKey(r.node)])
        emu.state.clones[`${nameKey(rd.name)}:${nameKey(target.name)}`] = {
          source: rd.name,
          clone: target.name,
          completeAt: emu.clock().getTime() + emu.cloneDurationMs,
          failed: involved.some((n) => n === undefined || !n.online),
        }
        reply.add(RC.CREATED, `Resource definition '${rd.name}' cloned to '${target.name}'.`, { objRefs: { RscDfn: target.name } })
      })
    } catch (err) {
      reconcileFiles(emu)
      if (err instanceof ApiRcError) reply.add(err.retCode, err.message, err.options)
      else reply.add(RC.FAIL_UNKNOWN_ERROR, `An unknown error occurred: ${err instanceof Error ? err.message : String(err)}`)
    }
    const status = statusFor(reply.entries, 201)
    sendJson(res, status === 201 ? 201 : status === 404 ? 404 : 500, {
      location: `/v1/resource-definitions/${src}/clone/${cloneName}`,
      source_name: src,
      clone_name: cloneName,
      messages: entriesToJson(reply.entries),
    })
  })

  routes.add(
    'get',
    '/v1/resource-definitions/:resource/clone/:resourceClone',
    query(emu, (req) => rdCtx(0n, param(req, 'resource')), (req) => {
      const c = emu.state.clones[`${nameKey(param(req, 'resource'))}:${nameKey(param(req, 'resourceClone'))}`]
      if (c === undefined) throw new ApiRcError(RC.FAIL_NOT_FOUND_RSC_DFN, `Clone '${param(req, 'resourceClone')}' of resource definition '${param(req, 'resource')}' not found.`)
      const target = emu.state.resourceDefinitions[nameKey(c.clone)]
      const offline = target === undefined || replicas(target).some((r) => emu.state.nodes[nameKey(r.node)]?.online !== true)
      const status = c.failed || offline ? 'FAILED' : emu.clock().getTime() >= c.completeAt ? 'COMPLETE' : 'CLONING'
      return { status }
    }),
  )

  // Volume definitions.
  const vdNr = (req: Request): string => param(req, 'volume_number')

  routes.add(
    'get',
    '/v1/resource-definitions/:resource/volume-definitions',
    query(emu, (req) => rdCtx(0n, param(req, 'resource')), (req) => {
      const rd = rdOrNotFound(emu, param(req, 'resource'))
      return page(req, vlmDfns(rd)).map((vd) => vdJson(vd, rd.layerStack))
    }),
  )

  routes.add(
    'get',
    '/v1/resource-definitions/:resource/volume-definitions/:volume_number',
    query(emu, (req) => vdCtx(0n, param(req, 'resource'), vdNr(req)), (req) => {
      // VolumeDefinitions.listVolumeDefinition: bare not-found entries.
      const rd = rdOrNotFound(emu, param(req, 'resource'))
      const vd = rd.volumeDefinitions[String(Number(vdNr(req)))]
      if (vd === undefined) throw notFound(RC.FAIL_NOT_FOUND_VLM_DFN, `Volume definition '${Number(vdNr(req))}' not found.`)
      return vdJson(vd, rd.layerStack)
    }),
  )

  routes.add(
    'post',
    '/v1/resource-definitions/:resource/volume-definitions',
    // VolumeDefinitions.createVolumeDefinition answers with the default 200, not 201.
    mutation(emu, (req) => ({ ctx: vdCtx(MASK_CRT, param(req, 'resource'), ''), successStatus: 200 }), (req, reply) => {
      const body = readBody(req, T.VolumeDefinitionCreate)
      const rd = requireRd(emu, param(req, 'resource'))
      const vdBody = (body['volume_definition'] ?? {}) as Record<string, unknown>
      createVd(
        emu,
        rd,
        {
          volumeNumber: typeof vdBody['volume_number'] === 'number' ? vdBody['volume_number'] : undefined,
          sizeKib: vdBody['size_kib'],
          props: vdBody['props'],
          flags: vdBody['flags'],
          minor: typeof body['drbd_minor_number'] === 'number' ? body['drbd_minor_number'] : undefined,
        },
        reply,
      )
    }),
  )

  routes.add(
    'put',
    '/v1/resource-definitions/:resource/volume-definitions/:volume_number',
    mutation(emu, (req) => ({ ctx: vdCtx(MASK_MOD, param(req, 'resource'), vdNr(req)), successStatus: 200 }), (req, reply) => {
      const body = readBody(req, T.VolumeDefinitionModify)
      const rd = requireRd(emu, param(req, 'resource'))
      const vd = rd.volumeDefinitions[String(Number(vdNr(req)))]
      if (vd === undefined) throw new ApiRcError(RC.FAIL_NOT_FOUND_VLM_DFN, `Volume definition with number '${vdNr(req)}' of resource definition '${rd.name}' not found.`)
      const plan = planPropsModify(body)
      let newSize: number | undefined
      if (body['size_kib'] !== undefined && body['size_kib'] !== null) {
        const size = checkSize(body['size_kib'])
        if (size === vd.sizeKib) {
          reply.add(RC.WARN_VLMDFN_RESIZE_SAME_SIZE, `Volume definition with number '${vd.volumeNumber}' of resource definition '${rd.name}' already has the size ${size} KiB.`)
        } else if (size < vd.sizeKib) {
          // DRBD cannot shrink: refused as soon as a DRBD resource is deployed.
          if (Object.keys(rd.resources).length > 0 && rd.layerStack.includes('DRBD')) {
            throw new ApiRcError(RC.FAIL_INVLD_VLM_SIZE, 'Volumes can only grow in size', {
              details: `Volume definition with number '${vd.volumeNumber}' of resource definition '${rd.name}' is ${vd.sizeKib} KiB, ${size} KiB requested.`,
            })
          }
          newSize = size
        } else {
          for (const r of replicas(rd)) {
            if (r.kind !== 'diskful') continue
            const node = emu.state.nodes[nameKey(r.node)]
            const pool = node === undefined ? undefined : findPool(node, r.storPool)
            if (node !== undefined && pool !== undefined) checkSpace(emu, node, pool.name, size - vd.sizeKib, rd.name)
          }
          newSize = size
        }
      }
      applyPropsPlan(vd.props, plan)
      if (Array.isArray(body['flags'])) {
        for (const f of (body['flags'] as unknown[]).map(String)) {
          if (f.startsWith('-')) vd.flags = vd.flags.filter((x) => x !== f.slice(1))
          else if (!vd.flags.includes(f)) vd.flags.push(f)
        }
      }
      if (newSize !== undefined) {
        vd.sizeKib = newSize
        emu.data.resizeVolume(nameKey(rd.name), vd.volumeNumber, newSize)
      }
      reply.add(RC.MODIFIED, `Volume definition with number '${vd.volumeNumber}' of resource definition '${rd.name}' modified.`, {
        details: `Volume definition with number '${vd.volumeNumber}' of resource definition '${rd.name}' UUID is: ${vd.uuid}`,
      })
    }),
  )

  routes.add(
    'delete',
    '/v1/resource-definitions/:resource/volume-definitions/:volume_number',
    mutation(emu, (req) => ({ ctx: vdCtx(MASK_DEL, param(req, 'resource'), vdNr(req)), successStatus: 200 }), (req, reply) => {
      const rd = emu.state.resourceDefinitions[nameKey(param(req, 'resource'))]
      const vd = rd?.volumeDefinitions[String(Number(vdNr(req)))]
      if (rd === undefined || vd === undefined) {
        reply.add(RC.WARN_NOT_FOUND, `Volume definition with number '${vdNr(req)}' of resource definition '${param(req, 'resource')}' not found.`)
        return
      }
      const primary = replicas(rd).find((r) => knownInUse(rd, r))
      if (primary !== undefined) throw new ApiRcError(RC.FAIL_IN_USE, `Resource '${rd.name}' is still in use on node '${primary.node}'.`)
      for (const r of replicas(rd)) {
        unlinkVolumeFiles(emu, rd, r, r.node, vd.volumeNumber, vd.minor)
        delete r.volumes[String(vd.volumeNumber)]
      }
      emu.data.removeVolume(nameKey(rd.name), vd.volumeNumber)
      delete rd.volumeDefinitions[String(vd.volumeNumber)]
      reply.add(0n, `Volume definition with number '${vd.volumeNumber}' of resource definition '${rd.name}' preparing for deletion.`)
      reply.add(RC.DELETED, `Volume definition with number '${vd.volumeNumber}' of resource definition '${rd.name}' deleted.`, {
        details: `Volume definition with number '${vd.volumeNumber}' of resource definition '${rd.name}' UUID was: ${vd.uuid}`,
      })
    }),
  )
}
