/**
 * Resources: create (single and batch), list/get, volumes, props, delete with its guards,
 * make-available, activate/deactivate, toggle-disk (1.28 and deprecated forms), autoplace,
 * resource connections and the /v1/view/resources view.
 */
import type { Request } from 'express'
import { ApiRcError, MASK_CRT, MASK_DEL, MASK_MOD, MASK_RSC, MASK_RSC_CONN, MASK_VLM, RC } from '../api-call-rc.js'
import type { ReplyBuilder, ResponseContext } from '../api-call-rc.js'
import type { Emu } from '../context.js'
import { normaliseLayers, requireRd } from '../definitions.js'
import type { RouteTable } from '../http-kit.js'
import { JavaException, matchesPropsFilter, mutation, notFound, page, param, query, queryBool, queryList, readBody, readBodyList } from '../http-kit.js'
import type { RawBodyRequest } from '../http-kit.js'
import * as T from '../request-types.js'
import { versionAtLeast } from '../context.js'
import type { JsonValue } from '../json-writer.js'
import { stringMap } from '../json-writer.js'
import type { NodeState, ResourceDefinitionState, ResourceState } from '../model.js'
import { connectionKey, findPool, isDiskless, replicas, sortedByName, vlmDfns } from '../model.js'
import { nameKey } from '../names.js'
import { autoplaceRd, fitsTieBreaker, placeOnNode, runAutoHelpers, tieBreakerWanted } from '../placement.js'
import { applyPropsPlan, planPropsModify, validateProps } from '../props.js'
import { addReplica, checkSpace, convertReplica, deployEntries, disklessPoolOf, rdSizeKib, readyEntry, removeReplica, resolveStorPool } from '../replicas.js'
import { isDisklessPool } from '../capacity.js'
import { resourceJson, resourceWithVolumesJson, volumesJson } from '../views.js'
import { parseFilter } from './resource-groups.js'
import { requireNode } from './nodes.js'

export const rscCtx = (op: bigint, rd: string, node?: string): ResponseContext => ({
  op,
  obj: MASK_RSC,
  objRefs: node === undefined ? { RscDfn: rd } : { RscDfn: rd, Node: node },
  objDescription: node === undefined ? `Resource: ${rd}` : `Node: ${node}, Resource: ${rd}`,
})

const KNOWN_FLAGS = new Set(['DISKLESS', 'DRBD_DISKLESS', 'NVME_INITIATOR', 'EBS_INITIATOR', 'TIE_BREAKER', 'INACTIVE', 'CLEAN', 'DELETE'])

function requireResource(rd: ResourceDefinitionState, node: string): ResourceState {
  const r = rd.resources[nameKey(node)]
  if (r === undefined) throw new ApiRcError(RC.FAIL_NOT_FOUND_RSC, `Resource '${rd.name}' on node '${node}' not found.`)
  return r
}

function createdEntries(emu: Emu, rd: ResourceDefinitionState, r: ResourceState, reply: ReplyBuilder): void {
  reply.add(RC.CREATED, `New resource '${rd.name}' on node '${r.node}' registered.`, {
    details: `Resource '${rd.name}' on node '${r.node}' UUID is: ${r.uuid}`,
    objRefs: { Node: r.node },
  })
  for (const vd of vlmDfns(rd)) {
    reply.add(RC.CREATED | MASK_VLM, `Volume with number '${vd.volumeNumber}' on resource '${rd.name}' on node '${r.node}' successfully registered`, {
      details: `Volume UUID is: ${r.volumes[String(vd.volumeNumber)]?.uuid ?? ''}`,
      objRefs: { Node: r.node, VlmNr: String(vd.volumeNumber) },
    })
  }
}

export interface CreateItem {
  node: string
  body: Record<string, unknown>
}

/**
 * Resource create (CtrlRscCrtApiHelper.createResourceDb): an existing diskful replica answers
 * INFO_RSC_ALREADY_EXISTS; an existing diskless one gets a disk when a diskful one is requested,
 * or loses TIE_BREAKER when a diskless one is requested.
 */
export function createResources(emu: Emu, rd: ResourceDefinitionState, items: CreateItem[], reply: ReplyBuilder): void {
  const fresh: ResourceState[] = []
  for (const item of items) {
    const node = requireNode(emu, item.node)
    const rscBody = (item.body['resource'] ?? {}) as Record<string, unknown>
    const flags = Array.isArray(rscBody['flags']) ? (rscBody['flags'] as unknown[]).map((f) => String(f).toUpperCase()) : []
    for (const f of flags) {
      if (!KNOWN_FLAGS.has(f)) throw new ApiRcError(RC.FAIL_UNKNOWN_ERROR, `No enum constant for resource flag '${f}'`)
    }
    const props = validateProps(rscBody['props'])
    const layers = normaliseLayers(item.body['layer_list'], reply)
    if (layers !== undefined && layers.join(',') !== rd.layerStack.join(',') && Object.keys(rd.resources).length > 0) {
      throw new ApiRcError(RC.FAIL_INVLD_LAYER_STACK, `The layer stack ${layers.join(',')} does not match the one of resource definition '${rd.name}'.`)
    }
    const client = item.body['drbd_client'] === true
    const namedPool = props['StorPoolName'] === undefined ? undefined : findPool(node, props['StorPoolName'])
    let wantDiskless = flags.includes('DISKLESS') || flags.includes('DRBD_DISKLESS') || flags.includes('NVME_INITIATOR')
    if (!wantDiskless && namedPool !== undefined && isDisklessPool(namedPool)) {
      wantDiskless = true
      reply.add(RC.WARN_NO_EFFECT, `Storage pool '${namedPool.name}' is diskless; resource '${rd.name}' on node '${node.name}' is created as diskless.`)
    }
    const present = rd.resources[nameKey(node.name)]
    if (present !== undefined) {
      if (present.kind === 'diskful' || (wantDiskless && present.kind === 'diskless')) {
        reply.add(RC.INFO_RSC_ALREADY_EXISTS, `A resource '${rd.name}' on node '${node.name}' already exists.`, { objRefs: { Node: node.name } })
        continue
      }
      if (wantDiskless) {
        // Diskless requested where a tie-breaker sits: the user takes it over.
        present.kind = 'diskless'
        present.client = client
        reply.add(RC.INFO_RSC_ALREADY_EXISTS, `A resource '${rd.name}' on node '${node.name}' already exists.`, { objRefs: { Node: node.name } })
        continue
      }
      const pool = resolveStorPool(emu, rd, node, props)
      const p = findPool(node, pool)
      if (p === undefined || isDisklessPool(p)) throw new ApiRcError(RC.FAIL_NOT_FOUND_DFLT_STOR_POOL, `Storage pool '${pool}' not found on node '${node.name}'.`)
      checkMixing(emu, rd, node, p.providerKind, present)
      checkSpace(emu, node, p.name, rdSizeKib(rd), rd.name)
      convertReplica(present, 'diskful', p.name)
      reply.add(RC.MODIFIED, `Resource '${rd.name}' on node '${node.name}' is now diskful (toggle-disk).`, { objRefs: { Node: node.name } })
      fresh.push(present)
      continue
    }
    let pool: string
    if (wantDiskless) {
      const dl = disklessPoolOf(node, namedPool !== undefined ? namedPool.name : undefined)
      if (dl === undefined) throw new ApiRcError(RC.FAIL_NOT_FOUND_DFLT_STOR_POOL, `No diskless storage pool found on node '${node.name}'.`)
      pool = dl
    } else {
      pool = resolveStorPool(emu, rd, node, props)
      const p = findPool(node, pool)
      if (p === undefined) {
        throw new ApiRcError(RC.FAIL_NOT_FOUND_DFLT_STOR_POOL, `Storage pool '${pool}' not found on node '${node.name}'.`, {
          details: `The resolved storage pool '${pool}' is not deployed on node '${node.name}'.`,
        })
      }
      checkMixing(emu, rd, node, p.providerKind)
      checkSpace(emu, node, p.name, rdSizeKib(rd), rd.name)
      pool = p.name
    }
    const tcpPorts = Array.isArray(item.body['drbd_tcp_ports']) ? (item.body['drbd_tcp_ports'] as unknown[]).filter((x): x is number => typeof x === 'number') : undefined
    const r = addReplica(emu, rd, node, {
      kind: wantDiskless ? 'diskless' : 'diskful',
      pool,
      client: wantDiskless && client,
      props,
      nodeId: typeof item.body['drbd_node_id'] === 'number' ? item.body['drbd_node_id'] : undefined,
      tcpPorts,
    })
    createdEntries(emu, rd, r, reply)
    fresh.push(r)
  }
  for (const r of fresh) deployEntries(emu, rd, r, reply)
  runAutoHelpers(emu, rd, reply)
  for (const r of fresh) if (rd.resources[nameKey(r.node)] !== undefined) readyEntry(emu, rd, r, reply)
}

/** All diskful replicas must share one provider kind unless AllowMixingStoragePoolDriver. */
function checkMixing(emu: Emu, rd: ResourceDefinitionState, node: NodeState, kind: string, except?: ResourceState): void {
  const allow = /^(true|yes)$/i.test(rd.props['AllowMixingStoragePoolDriver'] ?? emu.state.controllerProps['AllowMixingStoragePoolDriver'] ?? '')
  if (allow) return
  for (const peer of replicas(rd)) {
    if (peer === except || peer.kind !== 'diskful' || nameKey(peer.node) === nameKey(node.name)) continue
    const pk = emu.state.nodes[nameKey(peer.node)]?.pools[nameKey(peer.storPool)]?.providerKind
    if (pk !== undefined && pk !== kind) {
      throw new ApiRcError(RC.FAIL_INVLD_STOR_DRIVER, `Mixing storage pool drivers (${pk} and ${kind}) is not allowed for resource '${rd.name}'.`, {
        correction: "Set 'AllowMixingStoragePoolDriver' to 'true' to allow it.",
      })
    }
  }
}

/** DELETE .../resources/{node} with the controller's guards and tie-breaker rules. */
export function deleteResource(emu: Emu, rd: ResourceDefinitionState, nodeName: string, keepTiebreaker: boolean, reply: ReplyBuilder): void {
  const r = rd.resources[nameKey(nodeName)]
  if (r === undefined) {
    reply.add(RC.WARN_NOT_FOUND, `Resource '${rd.name}' on node '${nodeName}' not found.`)
    return
  }
  if (r.role === 'Primary') {
    throw new ApiRcError(RC.FAIL_IN_USE, `Resource '${rd.name}' is still in use.`, {
      cause: `Resource is mounted/in use on node '${r.node}'.`,
      correction: `Un-mount resource '${rd.name}' on the node '${r.node}'.`,
    })
  }
  if (r.kind === 'diskful') {
    const otherDiskful = replicas(rd).filter((x) => x !== r && x.kind === 'diskful')
    const diskless = replicas(rd).filter((x) => x !== r && x.kind !== 'diskful')
    if (otherDiskful.length === 0 && diskless.length > 0) {
      throw new ApiRcError(RC.FAIL_IN_USE, `Last resource of '${rd.name}' with disk still has diskless resources attached.`, {
        correction: 'Delete the diskless resources first.',
      })
    }
  }
  if (r.kind === 'tiebreaker') {
    if (keepTiebreaker) {
      if (!/^(true|yes)$/i.test(rd.props['DrbdOptions/auto-add-quorum-tiebreaker'] ?? 'true')) rd.props['DrbdOptions/auto-add-quorum-tiebreaker'] = 'True'
      reply.add(RC.INFO_TIE_BREAKER_TAKEOVER, 'The given resource will not be deleted but will be taken over as a linstor managed tiebreaker resource.', {
        objRefs: { Node: r.node },
      })
      return
    }
    // Deleting the tie-breaker explicitly switches the automatism off for this RD.
    rd.props['DrbdOptions/auto-add-quorum-tiebreaker'] = 'False'
    reply.add(RC.INFO_PROP_SET, `Resource definition property 'DrbdOptions/auto-add-quorum-tiebreaker' set to 'False' as the tie-breaker was deleted`)
  }
  // A replica the user deletes stays as the tie-breaker when, without it, one would be needed
  // (CtrlRscAutoTieBreakerHelper's takeover; diskful replicas are toggled to diskless for that).
  if (r.kind !== 'tiebreaker') {
    delete rd.resources[nameKey(r.node)]
    const hasTb = replicas(rd).some((x) => x.kind === 'tiebreaker')
    const node = emu.state.nodes[nameKey(r.node)]
    const takeOver = !hasTb && tieBreakerWanted(emu, rd) && node !== undefined && fitsTieBreaker(emu, rd, node)
    rd.resources[nameKey(r.node)] = r
    if (takeOver) {
      const pool = r.kind === 'diskful' ? disklessPoolOf(node) : r.storPool
      convertReplica(r, 'tiebreaker', pool ?? r.storPool)
      reply.add(RC.INFO_TIE_BREAKER_TAKEOVER, 'The given resource will not be deleted but will be taken over as a linstor managed tiebreaker resource.', {
        objRefs: { Node: r.node },
      })
      runAutoHelpers(emu, rd, reply)
      return
    }
  }
  reply.add(0n, `Resource '${rd.name}' on node '${r.node}' preparing for deletion.`, { details: `Resource '${rd.name}' on node '${r.node}' UUID is: ${r.uuid}` })
  removeReplica(emu, rd, r)
  if (emu.state.nodes[nameKey(r.node)]?.online !== true) {
    reply.add(RC.WARN_NOT_CONNECTED, `No active connection to satellite '${r.node}'`)
  }
  reply.add(RC.DELETED, `Resource '${rd.name}' on node '${r.node}' deleted.`, { details: `Resource '${rd.name}' on node '${r.node}' UUID was: ${r.uuid}` })
  runAutoHelpers(emu, rd, reply)
}

export function makeAvailable(emu: Emu, rd: ResourceDefinitionState, nodeName: string, body: Record<string, unknown>, reply: ReplyBuilder): void {
  const node = requireNode(emu, nodeName)
  const diskful = body['diskful'] === true
  const layers = normaliseLayers(body['layer_list'], undefined)
  const present = rd.resources[nameKey(node.name)]
  if (present !== undefined) {
    if (layers !== undefined && layers.join(',') !== rd.layerStack.join(',')) {
      throw new ApiRcError(RC.FAIL_INVLD_LAYER_STACK, `Resource '${rd.name}' on node '${node.name}' is deployed with a different layer stack.`)
    }
    if (present.inactive) {
      present.inactive = false
      reply.add(RC.MODIFIED, `Resource '${rd.name}' on node '${node.name}' activated.`)
      runAutoHelpers(emu, rd, reply)
      return
    }
    if (isDiskless(present) && diskful) {
      const pool = placeOnNode(emu, rd, node, false)
      if (pool === undefined) {
        throw new ApiRcError(RC.FAIL_NOT_FOUND_STOR_POOL, `Autoplacer could not find diskful stor pool on node ${node.name} matching resource-groups autoplace-settings`)
      }
      checkSpace(emu, node, pool, rdSizeKib(rd), rd.name)
      convertReplica(present, 'diskful', pool)
      reply.add(RC.MODIFIED, `Resource '${rd.name}' on node '${node.name}' is now diskful.`, { objRefs: { Node: node.name } })
      runAutoHelpers(emu, rd, reply)
      return
    }
    if (present.kind === 'tiebreaker') {
      present.kind = 'diskless'
      present.client = false
      reply.add(RC.MODIFIED, `Tie breaker resource '${rd.name}' on node '${node.name}' is now a regular diskless resource.`, { objRefs: { Node: node.name } })
      runAutoHelpers(emu, rd, reply)
      return
    }
    reply.add(0n, 'Resource already deployed as requested', { objRefs: { Node: node.name } })
    return
  }
  const stack = layers ?? rd.layerStack
  const hasDiskfulPeer = replicas(rd).some((r) => r.kind === 'diskful' && !r.inactive)
  let r: ResourceState
  if (stack.includes('DRBD') && !diskful && hasDiskfulPeer) {
    const pool = placeOnNode(emu, rd, node, true) ?? placeOnNode(emu, rd, node, true, false)
    if (pool === undefined) {
      throw new ApiRcError(RC.FAIL_NOT_FOUND_STOR_POOL, `Autoplacer could not find diskless stor pool on node ${node.name} matching resource-groups autoplace-settings`)
    }
    // Since REST 1.28 the diskless replica make-available creates is a DRBD client.
    r = addReplica(emu, rd, node, { kind: 'diskless', pool, client: true })
  } else {
    const pool = placeOnNode(emu, rd, node, false)
    if (pool === undefined) {
      throw new ApiRcError(RC.FAIL_NOT_FOUND_STOR_POOL, `Autoplacer could not find diskful stor pool on node ${node.name} matching resource-groups autoplace-settings`)
    }
    r = addReplica(emu, rd, node, { kind: 'diskful', pool })
  }
  createdEntries(emu, rd, r, reply)
  deployEntries(emu, rd, r, reply)
  runAutoHelpers(emu, rd, reply)
  readyEntry(emu, rd, r, reply)
}

type ToggleOp = 'INTO_DRBD_DISKFUL' | 'INTO_DRBD_DISKLESS' | 'INTO_DRBD_CLIENT'

function toggleDisk(emu: Emu, rd: ResourceDefinitionState, nodeName: string, op: ToggleOp, storagePool: string | undefined, migrateFrom: string | undefined, reply: ReplyBuilder): void {
  const node = requireNode(emu, nodeName)
  const r = requireResource(rd, node.name)
  if (!rd.layerStack.includes('DRBD')) throw new ApiRcError(RC.FAIL_INVLD_LAYER_STACK, `Resource '${rd.name}' has no DRBD layer; toggle-disk needs DRBD.`)
  if (op === 'INTO_DRBD_DISKFUL') {
    if (r.kind === 'diskful') {
      reply.add(RC.INFO_NOOP, `Resource '${rd.name}' on node '${node.name}' is already diskful`, { objRefs: { Node: node.name } })
      return
    }
    let pool: string | undefined
    if (storagePool !== undefined) {
      const p = findPool(node, storagePool)
      if (p === undefined || isDisklessPool(p)) throw new ApiRcError(RC.FAIL_NOT_FOUND_STOR_POOL, `Storage pool '${storagePool}' not found on node '${node.name}'.`)
      pool = p.name
    } else {
      const resolved = resolveStorPool(emu, rd, node, {})
      const p = findPool(node, resolved)
      pool = p !== undefined && !isDisklessPool(p) ? p.name : placeOnNode(emu, rd, node, false)
      if (pool === undefined) throw new ApiRcError(RC.FAIL_NOT_FOUND_STOR_POOL, `No diskful storage pool found on node '${node.name}' for resource '${rd.name}'.`)
    }
    const kind = findPool(node, pool)?.providerKind ?? 'LVM'
    checkMixing(emu, rd, node, kind, r)
    checkSpace(emu, node, pool, rdSizeKib(rd), rd.name)
    convertReplica(r, 'diskful', pool)
    reply.add(RC.MODIFIED, `Added disk on resource '${rd.name}' on node '${node.name}'`, { objRefs: { Node: node.name } })
    if (migrateFrom !== undefined) {
      const from = rd.resources[nameKey(migrateFrom)]
      if (from === undefined) throw new ApiRcError(RC.FAIL_NOT_FOUND_RSC, `Resource '${rd.name}' on node '${migrateFrom}' not found.`)
      deleteResource(emu, rd, from.node, false, reply)
      return
    }
    runAutoHelpers(emu, rd, reply)
    return
  }
  const wantClient = op === 'INTO_DRBD_CLIENT'
  if (r.kind !== 'diskful') {
    if (r.client === wantClient && r.kind === 'diskless') {
      reply.add(RC.INFO_NOOP, `Resource '${rd.name}' on node '${node.name}' is already diskless`, { objRefs: { Node: node.name } })
      return
    }
    r.kind = 'diskless'
    r.client = wantClient
    reply.add(RC.MODIFIED, `Resource '${rd.name}' on node '${node.name}' is now ${wantClient ? 'a DRBD client' : 'diskless'}`, { objRefs: { Node: node.name } })
    runAutoHelpers(emu, rd, reply)
    return
  }
  const onlineDiskful = replicas(rd).filter((x) => x.kind === 'diskful' && emu.state.nodes[nameKey(x.node)]?.online === true)
  if (onlineDiskful.length <= 1 && onlineDiskful[0] === r) {
    throw new ApiRcError(RC.FAIL_INSUFFICIENT_REPLICA_COUNT, `Cannot remove the disk of the only online diskful replica of resource '${rd.name}'.`)
  }
  const pool = disklessPoolOf(node, storagePool)
  if (pool === undefined) throw new ApiRcError(RC.FAIL_NOT_FOUND_STOR_POOL, `Diskless storage pool '${storagePool ?? 'DfltDisklessStorPool'}' not found on node '${node.name}'.`)
  convertReplica(r, 'diskless', pool, wantClient)
  reply.add(RC.MODIFIED, `Removed disk on resource '${rd.name}' on node '${node.name}'`, { objRefs: { Node: node.name } })
  runAutoHelpers(emu, rd, reply)
}

function connectionJson(rd: ResourceDefinitionState, a: string, b: string): JsonValue {
  const c = rd.connections[connectionKey(a, b)]
  return { node_a: a, node_b: b, props: stringMap(c?.props) }
}

export function resourceRoutes(emu: Emu, routes: RouteTable): void {
  const rsc = (req: Request): string => param(req, 'resource')
  const node = (req: Request): string => param(req, 'node')

  routes.add(
    'get',
    '/v1/resource-definitions/:resource/resources',
    query(emu, (req) => rscCtx(0n, rsc(req)), (req) => {
      const rd = requireRd(emu, rsc(req))
      const names = new Set(queryList(req, 'nodes').map(nameKey))
      return page(req, replicas(rd).filter((r) => names.size === 0 || names.has(nameKey(r.node)))).map((r) => resourceJson(emu, rd, r))
    }),
  )

  routes.add(
    'get',
    '/v1/resource-definitions/:resource/resources/:node',
    query(emu, (req) => rscCtx(0n, rsc(req), node(req)), (req) => {
      const rd = requireRd(emu, rsc(req))
      // Resources.listResources → queryRequestResponse("Resource 'r' on", node): a bare entry.
      const r = rd.resources[nameKey(node(req))]
      if (r === undefined) throw notFound(RC.FAIL_NOT_FOUND_RSC, `Resource '${rsc(req)}' on '${node(req)}' not found.`)
      return resourceJson(emu, rd, r)
    }),
  )

  routes.add(
    'post',
    '/v1/resource-definitions/:resource/resources',
    mutation(emu, (req) => ({ ctx: rscCtx(MASK_CRT, rsc(req)), successStatus: 201 }), (req, reply) => {
      const body = readBodyList(req, T.ResourceCreate)
      const rd = requireRd(emu, rsc(req))
      const items: CreateItem[] = body.map((item) => {
        // ResourceWithPayload dereferences each element and its `resource` right away.
        if (item === null) throw new JavaException('NullPointerException', 'Cannot read field "resource" because "rsc" is null')
        // "Fixed resource create if no .resource object was given" (CHANGELOG 1.33.3).
        if (item['resource'] === undefined && !versionAtLeast(emu, '1.33.3')) throw new JavaException('NullPointerException', 'Cannot read field "flags" because "rsc.resource" is null')
        const nodeName = ((item['resource'] ?? {}) as Record<string, unknown>)['node_name']
        if (typeof nodeName !== 'string') throw new ApiRcError(RC.FAIL_NOT_FOUND_NODE, 'Each resource needs a node_name.')
        return { node: nodeName, body: item }
      })
      createResources(emu, rd, items, reply)
    }),
  )

  routes.add(
    'post',
    '/v1/resource-definitions/:resource/resources/:node',
    mutation(emu, (req) => ({ ctx: rscCtx(MASK_CRT, rsc(req), node(req)), successStatus: 201 }), (req, reply) => {
      const body = readBody(req, T.ResourceCreate)
      // Resources.createResource sets `rscData.resource.node_name` right after reading; a missing
      // `resource` works since 1.33.3 (CHANGELOG "Fixed resource create if no .resource object was given").
      if (body['resource'] === undefined && !versionAtLeast(emu, '1.33.3')) throw new JavaException('NullPointerException', 'Cannot assign field "node_name" because "rscData.resource" is null')
      const rd = requireRd(emu, rsc(req))
      createResources(emu, rd, [{ node: node(req), body }], reply)
    }),
  )

  routes.add(
    'put',
    '/v1/resource-definitions/:resource/resources/:node',
    // Resources.modifyResource declares `throws IOException`.
    mutation(emu, (req) => ({ ctx: rscCtx(MASK_MOD, rsc(req), node(req)), successStatus: 200, parse: 'escape' }), (req, reply) => {
      const body = readBody(req, T.ResourceModify)
      const rd = requireRd(emu, rsc(req))
      const r = requireResource(rd, node(req))
      applyPropsPlan(r.props, planPropsModify(body))
      if (body['drbd_client'] === true && r.kind !== 'diskful') r.client = true
      if (body['drbd_client'] === false) r.client = false
      if (body['drbd_tiebreaker'] === true && r.kind === 'diskless') r.kind = 'tiebreaker'
      if (body['drbd_tiebreaker'] === false && r.kind === 'tiebreaker') r.kind = 'diskless'
      reply.add(RC.MODIFIED, `Resource '${rd.name}' on node '${r.node}' modified.`, { details: `Resource '${rd.name}' on node '${r.node}' UUID is: ${r.uuid}` })
      if (body['drbd_client'] !== undefined || body['drbd_tiebreaker'] !== undefined) runAutoHelpers(emu, rd, reply)
    }),
  )

  routes.add(
    'delete',
    '/v1/resource-definitions/:resource/resources/:node',
    mutation(emu, (req) => ({ ctx: rscCtx(MASK_DEL, rsc(req), node(req)), successStatus: 200 }), (req, reply) => {
      const rd = emu.state.resourceDefinitions[nameKey(rsc(req))]
      if (rd === undefined) {
        reply.add(RC.WARN_NOT_FOUND, `Resource definition '${rsc(req)}' not found.`)
        return
      }
      deleteResource(emu, rd, node(req), queryBool(req, 'keep_tiebreaker'), reply)
    }),
  )

  routes.add(
    'post',
    '/v1/resource-definitions/:resource/resources/:node/make-available',
    mutation(emu, (req) => ({ ctx: rscCtx(MASK_CRT, rsc(req), node(req)), successStatus: 200 }), (req, reply) => {
      const body = readBody(req, T.ResourceMakeAvailable)
      makeAvailable(emu, requireRd(emu, rsc(req)), node(req), body, reply)
    }),
  )

  for (const action of ['activate', 'deactivate'] as const) {
    routes.add(
      'post',
      `/v1/resource-definitions/:resource/resources/:node/${action}`,
      mutation(emu, (req) => ({ ctx: rscCtx(MASK_MOD, rsc(req), node(req)), successStatus: 200 }), (req, reply) => {
        const rd = requireRd(emu, rsc(req))
        const r = requireResource(rd, node(req))
        const target = action === 'deactivate'
        if (r.inactive === target) {
          reply.add(RC.INFO_NOOP, `Resource is already ${target ? 'deactivated' : 'activated'}. Noop`)
          return
        }
        if (target && r.role === 'Primary') throw new ApiRcError(RC.FAIL_IN_USE, `Resource '${rd.name}' is still in use on node '${r.node}'.`)
        r.inactive = target
        reply.add(RC.MODIFIED, `Resource '${rd.name}' on node '${r.node}' ${target ? 'deactivated' : 'activated'}.`)
        runAutoHelpers(emu, rd, reply)
      }),
    )
  }

  routes.add(
    'get',
    '/v1/resource-definitions/:resource/resources/:node/volumes',
    query(emu, (req) => rscCtx(0n, rsc(req), node(req)), (req) => {
      // Volumes.listVolumes: bare not-found entries.
      const rd = emu.state.resourceDefinitions[nameKey(rsc(req))]
      const r = rd?.resources[nameKey(node(req))]
      if (rd === undefined || r === undefined) throw notFound(RC.FAIL_NOT_FOUND_RSC, `Resource '${rsc(req)}' not found on node '${node(req)}'.`)
      return page(req, volumesJson(emu, rd, r))
    }),
  )

  routes.add(
    'get',
    '/v1/resource-definitions/:resource/resources/:node/volumes/:volume_number',
    query(emu, (req) => rscCtx(0n, rsc(req), node(req)), (req) => {
      const rd = emu.state.resourceDefinitions[nameKey(rsc(req))]
      const r = rd?.resources[nameKey(node(req))]
      if (rd === undefined || r === undefined) throw notFound(RC.FAIL_NOT_FOUND_RSC, `Resource '${rsc(req)}' not found on node '${node(req)}'.`)
      const nr = Number(param(req, 'volume_number'))
      const idx = vlmDfns(rd).findIndex((v) => v.volumeNumber === nr)
      const vol = volumesJson(emu, rd, r)[idx]
      if (idx < 0 || vol === undefined) throw notFound(RC.FAIL_NOT_FOUND_VLM, `Volume '${nr}' of resource '${rsc(req)}' on node '${node(req)}' not found.`)
      return vol
    }),
  )

  routes.add(
    'put',
    '/v1/resource-definitions/:resource/resources/:node/volumes/:volume_number',
    // Volumes.modifyVolume declares `throws IOException`.
    mutation(emu, (req) => ({ ctx: { ...rscCtx(MASK_MOD, rsc(req), node(req)), obj: MASK_VLM }, successStatus: 200, parse: 'escape' }), (req, reply) => {
      const body = readBody(req, T.VolumeModify)
      const rd = requireRd(emu, rsc(req))
      const r = requireResource(rd, node(req))
      const vol = r.volumes[String(Number(param(req, 'volume_number')))]
      if (vol === undefined) throw new ApiRcError(RC.FAIL_NOT_FOUND_VLM, `Volume ${param(req, 'volume_number')} of resource '${rd.name}' on node '${r.node}' not found.`)
      applyPropsPlan(vol.props, planPropsModify(body))
      reply.add(RC.MODIFIED, `Volume with number '${param(req, 'volume_number')}' on resource '${rd.name}' on node '${r.node}' modified.`, { details: `Volume UUID is: ${vol.uuid}` })
    }),
  )

  routes.add(
    'put',
    '/v1/resource-definitions/:resource/resources/:node/toggle-disk',
    mutation(emu, (req) => ({ ctx: rscCtx(MASK_MOD, rsc(req), node(req)), successStatus: 200 }), (req, reply) => {
      const body = readBody(req, T.ToggleDiskRequest)
      const rd = requireRd(emu, rsc(req))
      const op = typeof body['operation'] === 'string' ? body['operation'].toUpperCase() : ''
      if (op !== 'INTO_DRBD_DISKFUL' && op !== 'INTO_DRBD_DISKLESS' && op !== 'INTO_DRBD_CLIENT') {
        throw new ApiRcError(RC.API_CALL_PARSE_ERROR, `Unknown toggle-disk operation '${String(body['operation'])}'`)
      }
      toggleDisk(
        emu,
        rd,
        node(req),
        op,
        typeof body['storage_pool'] === 'string' ? body['storage_pool'] : undefined,
        typeof body['migrate_from'] === 'string' ? body['migrate_from'] : undefined,
        reply,
      )
    }),
  )

  for (const [suffix, op] of [
    ['diskless', 'INTO_DRBD_DISKLESS'],
    ['diskless/:disklesspool', 'INTO_DRBD_DISKLESS'],
    ['diskful', 'INTO_DRBD_DISKFUL'],
    ['diskful/:storagepool', 'INTO_DRBD_DISKFUL'],
  ] as const) {
    routes.add(
      'put',
      `/v1/resource-definitions/:resource/resources/:node/toggle-disk/${suffix}`,
      mutation(emu, (req) => ({ ctx: rscCtx(MASK_MOD, rsc(req), node(req)), successStatus: 200 }), (req, reply) => {
        // toggleDiskDiskful reads a ToggleDiskDiskful body when there is one; diskless reads none.
        if (op === 'INTO_DRBD_DISKFUL' && ((req as RawBodyRequest).rawBody?.toString('utf8') ?? '').trim() !== '') readBody(req, T.ToggleDiskDiskful)
        const rd = requireRd(emu, rsc(req))
        const pool = param(req, op === 'INTO_DRBD_DISKFUL' ? 'storagepool' : 'disklesspool')
        toggleDisk(emu, rd, node(req), op, pool === '' ? undefined : pool, undefined, reply)
      }),
    )
  }

  for (const suffix of ['migrate-disk/:fromnode', 'migrate-disk/:fromnode/:storagepool']) {
    routes.add(
      'put',
      `/v1/resource-definitions/:resource/resources/:node/${suffix}`,
      mutation(emu, (req) => ({ ctx: rscCtx(MASK_MOD, rsc(req), node(req)), successStatus: 200 }), (req, reply) => {
        const rd = requireRd(emu, rsc(req))
        const pool = param(req, 'storagepool')
        toggleDisk(emu, rd, node(req), 'INTO_DRBD_DISKFUL', pool === '' ? undefined : pool, param(req, 'fromnode'), reply)
      }),
    )
  }

  routes.add(
    'post',
    '/v1/resource-definitions/:resource/autoplace',
    mutation(emu, (req) => ({ ctx: rscCtx(MASK_CRT, rsc(req)), successStatus: 201 }), (req, reply) => {
      const body = readBody(req, T.AutoPlaceRequest)
      const rd = requireRd(emu, rsc(req))
      const filter = parseFilter(body['select_filter'])
      const layers = normaliseLayers(body['layer_list'], reply)
      autoplaceRd(emu, rd, filter, { disklessOnRemaining: body['diskless_on_remaining'] === true, layerList: layers }, reply)
    }),
  )

  // Resource connections: where allow-two-primaries can be set per node pair.
  const connCtx = (op: bigint, req: Request): ResponseContext => ({
    op,
    obj: MASK_RSC_CONN,
    objRefs: { RscDfn: rsc(req), SourceNode: param(req, 'node_a'), TargetNode: param(req, 'node_b') },
    objDescription: `Resource connection between '${param(req, 'node_a')}' and '${param(req, 'node_b')}' of resource '${rsc(req)}'`,
  })

  routes.add(
    'get',
    '/v1/resource-definitions/:resource/resource-connections',
    query(emu, (req) => rscCtx(0n, rsc(req)), (req) => {
      const rd = requireRd(emu, rsc(req))
      return Object.values(rd.connections)
        .sort((a, b) => connectionKey(a.nodeA, a.nodeB).localeCompare(connectionKey(b.nodeA, b.nodeB)))
        .map((c) => connectionJson(rd, c.nodeA, c.nodeB))
    }),
  )

  routes.add(
    'get',
    '/v1/resource-definitions/:resource/resource-connections/:node_a/:node_b',
    query(emu, (req) => connCtx(0n, req), (req) => {
      const rd = requireRd(emu, rsc(req))
      const a = requireResource(rd, param(req, 'node_a'))
      const b = requireResource(rd, param(req, 'node_b'))
      // The spec declares this single-connection GET as a list (of one).
      return [connectionJson(rd, a.node, b.node)]
    }),
  )

  routes.add(
    'put',
    '/v1/resource-definitions/:resource/resource-connections/:node_a/:node_b',
    // ResourceConnections.modifyResourceConnection declares `throws IOException`.
    mutation(emu, (req) => ({ ctx: connCtx(MASK_MOD, req), successStatus: 200, parse: 'escape' }), (req, reply) => {
      const body = readBody(req, T.ResourceConnectionModify)
      const rd = requireRd(emu, rsc(req))
      const a = requireResource(rd, param(req, 'node_a'))
      const b = requireResource(rd, param(req, 'node_b'))
      if (nameKey(a.node) === nameKey(b.node)) throw new ApiRcError(RC.FAIL_NOT_FOUND_RSC_CONN, 'A resource connection needs two different nodes.')
      const key = connectionKey(a.node, b.node)
      const c = rd.connections[key] ?? { nodeA: a.node, nodeB: b.node, props: {}, uuid: emu.uuid() }
      applyPropsPlan(c.props, planPropsModify(body))
      rd.connections[key] = c
      reply.add(RC.MODIFIED, `Resource connection between nodes '${a.node}' and '${b.node}' of resource '${rd.name}' modified.`)
    }),
  )

  routes.add(
    'get',
    '/v1/view/resources',
    query(emu, { op: 0n, obj: MASK_RSC, objRefs: {} }, (req) => {
      const nodes = new Set(queryList(req, 'nodes').map(nameKey))
      const rscs = new Set(queryList(req, 'resources').map(nameKey))
      const pools = queryList(req, 'storage_pools')
      const poolFilter = pools.length > 0 ? new Set(pools.map(nameKey)) : undefined
      const props = queryList(req, 'props')
      const rows: JsonValue[] = []
      for (const rd of sortedByName(Object.values(emu.state.resourceDefinitions))) {
        if (rscs.size > 0 && !rscs.has(nameKey(rd.name))) continue
        for (const r of replicas(rd)) {
          if (nodes.size > 0 && !nodes.has(nameKey(r.node))) continue
          if (!matchesPropsFilter(r.props, props)) continue
          // Rows whose volume list ends up empty are dropped, like View.viewResources.
          const row = resourceWithVolumesJson(emu, rd, r, poolFilter)
          if (row !== undefined) rows.push(row)
        }
      }
      return page(req, rows)
    }),
  )
}
