/** Nodes and storage pools (per node and the /v1/view/storage-pools view). */
import type { Request } from 'express'
import { ApiRcError, MASK_CRT, MASK_DEL, MASK_MOD, MASK_NODE, MASK_STOR_POOL, RC } from '../api-call-rc.js'
import type { ResponseContext } from '../api-call-rc.js'
import type { Emu } from '../context.js'
import type { RouteTable } from '../http-kit.js'
import { matchesPropsFilter, mutation, notFound, page, param, query, queryList, readBody, text } from '../http-kit.js'
import * as T from '../request-types.js'
import type { NodeState, PoolState, ProviderKind } from '../model.js'
import { DISKLESS_POOL, LONG_MAX, PROVIDER_KINDS, findNode, findPool, sortedByName } from '../model.js'
import { checkNodeName, checkStoragePoolName, nameKey } from '../names.js'
import { applyPropsPlan, planPropsModify, validateProps } from '../props.js'
import { isDisklessPool, withUsageSnapshot } from '../capacity.js'
import { nodeJson, poolJson } from '../views.js'
import type { JsonValue } from '../json-writer.js'

const nodeCtx = (op: bigint, node: string): ResponseContext => ({ op, obj: MASK_NODE, objRefs: { Node: node }, objDescription: `Node: ${node}` })
const poolCtx = (op: bigint, node: string, pool: string): ResponseContext => ({
  op,
  obj: MASK_STOR_POOL,
  objRefs: { Node: node, StorPoolName: pool },
  objDescription: `Node: ${node}, Storage pool name: ${pool}`,
})

export function requireNode(emu: Emu, name: string): NodeState {
  const n = findNode(emu.state, name)
  if (n === undefined) throw new ApiRcError(RC.FAIL_NOT_FOUND_NODE, `Node '${name}' not found.`)
  return n
}

/** Creates a storage pool object (also used by the cluster loader). */
export function newPool(emu: Emu, name: string, kind: ProviderKind, totalKib: number | null, freeKib: number | null, props: Record<string, string>): PoolState {
  const diskless = kind === 'DISKLESS' || kind === 'EBS_INIT'
  return {
    name,
    providerKind: kind,
    props,
    totalKib: diskless ? Number(LONG_MAX) : totalKib,
    foreignUsedKib: diskless || totalKib === null ? 0 : Math.max(0, totalKib - (freeKib ?? totalKib)),
    uuid: emu.uuid(),
  }
}

/** Creates a node with its DfltDisklessStorPool (CtrlNodeApiCallHandler). */
export function newNode(emu: Emu, name: string, type: string, address: string, online: boolean, props: Record<string, string>): NodeState {
  const n: NodeState = { name, type, online, props, flags: [], address, uuid: emu.uuid(), pools: {} }
  if (type === 'SATELLITE' || type === 'COMBINED') {
    n.pools[nameKey(DISKLESS_POOL)] = newPool(emu, DISKLESS_POOL, 'DISKLESS', null, null, {})
  }
  return n
}

function poolsView(emu: Emu, req: Request, only?: NodeState): ReturnType<typeof poolJson>[] {
  const nodesFilter = new Set(queryList(req, 'nodes').map(nameKey))
  const poolFilter = new Set(queryList(req, 'storage_pools').map(nameKey))
  const props = queryList(req, 'props')
  const out = []
  for (const n of sortedByName(Object.values(emu.state.nodes))) {
    if (only !== undefined && nameKey(n.name) !== nameKey(only.name)) continue
    if (nodesFilter.size > 0 && !nodesFilter.has(nameKey(n.name))) continue
    for (const p of sortedByName(Object.values(n.pools))) {
      if (poolFilter.size > 0 && !poolFilter.has(nameKey(p.name))) continue
      if (!matchesPropsFilter(p.props, props)) continue
      out.push(poolJson(emu, n, p))
    }
  }
  return page(req, out)
}

export function nodeRoutes(emu: Emu, routes: RouteTable): void {
  routes.add(
    'get',
    '/v1/nodes',
    query(emu, { op: 0n, obj: MASK_NODE, objRefs: {} }, (req) => {
      const names = new Set(queryList(req, 'nodes').map(nameKey))
      const props = queryList(req, 'props')
      const list = sortedByName(Object.values(emu.state.nodes)).filter(
        (n) => (names.size === 0 || names.has(nameKey(n.name))) && matchesPropsFilter(n.props, props),
      )
      return page(req, list).map(nodeJson)
    }),
  )

  routes.add(
    'get',
    '/v1/nodes/:node',
    // Nodes.listSingleNode → RequestHelper.queryRequestResponse: a bare "Node 'x' not found.".
    query(emu, (req) => nodeCtx(0n, param(req, 'node')), (req) => {
      const n = findNode(emu.state, param(req, 'node'))
      if (n === undefined) throw notFound(RC.FAIL_NOT_FOUND_NODE, `Node '${param(req, 'node')}' not found.`)
      return nodeJson(n)
    }),
  )

  routes.add(
    'post',
    '/v1/nodes',
    mutation(emu, { ctx: { op: MASK_CRT, obj: MASK_NODE, objRefs: {} }, successStatus: 201 }, (req, reply) => {
      const body = readBody(req, T.Node)
      const name = body['name']
      const bad = checkNodeName(name)
      if (bad !== undefined || typeof name !== 'string') throw new ApiRcError(RC.FAIL_INVLD_NODE_NAME, bad ?? 'Invalid node name')
      if (findNode(emu.state, name) !== undefined) throw new ApiRcError(RC.FAIL_EXISTS_NODE, `Node '${name}' already exists.`)
      const type = typeof body['type'] === 'string' ? (body['type']).toUpperCase() : 'SATELLITE'
      if (!['SATELLITE', 'COMBINED', 'CONTROLLER', 'AUXILIARY'].includes(type)) throw new ApiRcError(RC.FAIL_INVLD_NODE_TYPE, `Invalid node type '${type}'`)
      const nics = Array.isArray(body['net_interfaces']) ? (body['net_interfaces'] as Array<Record<string, unknown>>) : []
      const address = typeof nics[0]?.['address'] === 'string' ? (nics[0]['address']) : '127.0.0.1'
      const n = newNode(emu, name, type, address, true, validateProps(body['props']))
      emu.state.nodes[nameKey(name)] = n
      reply.add(RC.CREATED, `New node '${name}' registered.`, { details: `Node '${name}' UUID is: ${n.uuid}`, objRefs: { Node: name } })
    }),
  )

  routes.add(
    'put',
    '/v1/nodes/:node',
    mutation(emu, (req) => ({ ctx: nodeCtx(MASK_MOD, param(req, 'node')), successStatus: 200 }), (req, reply) => {
      const body = readBody(req, T.NodeModify)
      const n = requireNode(emu, param(req, 'node'))
      const plan = planPropsModify(body)
      applyPropsPlan(n.props, plan)
      reply.add(RC.MODIFIED, `Node '${n.name}' modified.`, { details: `Node '${n.name}' UUID is: ${n.uuid}` })
    }),
  )

  routes.add(
    'get',
    '/v1/nodes/:node/net-interfaces',
    query(emu, (req) => nodeCtx(0n, param(req, 'node')), (req) => {
      const n = requireNode(emu, param(req, 'node'))
      const json = nodeJson(n) as { net_interfaces: JsonValue[] }
      return json.net_interfaces
    }),
  )

  routes.add(
    'get',
    '/v1/nodes/:node/storage-pools',
    query(emu, (req) => poolCtx(0n, param(req, 'node'), ''), (req) => withUsageSnapshot(emu, () => poolsView(emu, req, requireNode(emu, param(req, 'node'))))),
  )

  routes.add(
    'get',
    '/v1/nodes/:node/storage-pools/:storagepool',
    query(emu, (req) => poolCtx(0n, param(req, 'node'), param(req, 'storagepool')), (req) => {
      const n = requireNode(emu, param(req, 'node'))
      const p = findPool(n, param(req, 'storagepool'))
      // StoragePools.storPoolListToResponse: a bare simpleEntry with the names as requested.
      if (p === undefined) throw notFound(RC.FAIL_NOT_FOUND_STOR_POOL, `Storage pool '${param(req, 'storagepool')}' on node '${param(req, 'node')}' not found.`)
      return poolJson(emu, n, p)
    }),
  )

  routes.add(
    'post',
    '/v1/nodes/:node/storage-pools',
    mutation(emu, (req) => ({ ctx: poolCtx(MASK_CRT, param(req, 'node'), ''), successStatus: 201 }), (req, reply) => {
      const body = readBody(req, T.StoragePool)
      const n = requireNode(emu, param(req, 'node'))
      const name = body['storage_pool_name']
      const bad = checkStoragePoolName(name)
      if (bad !== undefined || typeof name !== 'string') throw new ApiRcError(RC.FAIL_INVLD_STOR_POOL_NAME, bad ?? 'Invalid storage pool name')
      const kind = text(body['provider_kind']).toUpperCase() as ProviderKind
      if (!PROVIDER_KINDS.includes(kind)) throw new ApiRcError(RC.FAIL_INVLD_PROVIDER, `Invalid provider kind '${text(body['provider_kind'])}'`)
      if (findPool(n, name) !== undefined) throw new ApiRcError(RC.FAIL_EXISTS_STOR_POOL, `Storage pool '${name}' already exists on node '${n.name}'.`)
      // The real satellite reports capacity from the backing storage; the emulator takes it from
      // the (otherwise read-only) capacity fields of the body, 100 GiB if absent.
      const total = typeof body['total_capacity'] === 'number' ? (body['total_capacity']) : 104857600
      const free = typeof body['free_capacity'] === 'number' ? (body['free_capacity']) : total
      const p = newPool(emu, name, kind, total, free, validateProps(body['props']))
      n.pools[nameKey(name)] = p
      reply.add(RC.CREATED, `Successfully created storage pool '${name}' on node '${n.name}'.`, {
        details: `Storage pool '${name}' on node '${n.name}' UUID is: ${p.uuid}`,
        objRefs: { StorPoolName: name },
      })
    }),
  )

  routes.add(
    'put',
    '/v1/nodes/:node/storage-pools/:storagepool',
    // StoragePools.modifyStorPool reads the body before anything else, outside a handler.
    mutation(emu, (req) => ({ ctx: poolCtx(MASK_MOD, param(req, 'node'), param(req, 'storagepool')), successStatus: 200, parse: 'escape' }), (req, reply) => {
      const body = readBody(req, T.StoragePoolDefinitionModify)
      const n = requireNode(emu, param(req, 'node'))
      const p = findPool(n, param(req, 'storagepool'))
      if (p === undefined) throw new ApiRcError(RC.FAIL_NOT_FOUND_STOR_POOL, `Storage pool '${param(req, 'storagepool')}' on node '${n.name}' not found.`)
      applyPropsPlan(p.props, planPropsModify(body))
      reply.add(RC.MODIFIED, `Storage pool '${p.name}' on node '${n.name}' modified.`, { details: `Storage pool UUID is: ${p.uuid}` })
    }),
  )

  routes.add(
    'delete',
    '/v1/nodes/:node/storage-pools/:storagepool',
    mutation(emu, (req) => ({ ctx: poolCtx(MASK_DEL, param(req, 'node'), param(req, 'storagepool')), successStatus: 200 }), (req, reply) => {
      const n = requireNode(emu, param(req, 'node'))
      const p = findPool(n, param(req, 'storagepool'))
      if (p === undefined) {
        reply.add(RC.WARN_NOT_FOUND, `Storage pool '${param(req, 'storagepool')}' on node '${n.name}' not found.`)
        return
      }
      const users = Object.values(emu.state.resourceDefinitions).filter((rd) => {
        const r = rd.resources[nameKey(n.name)]
        return r !== undefined && nameKey(r.storPool) === nameKey(p.name)
      })
      if (users.length > 0 || (isDisklessPool(p) && p.name === DISKLESS_POOL && users.length > 0)) {
        throw new ApiRcError(RC.FAIL_IN_USE, `The specified storage pool '${p.name}' on node '${n.name}' can not be deleted as volumes are still using it.`, {
          details: `Resources using it: ${users.map((u) => u.name).join(', ')}`,
        })
      }
      delete n.pools[nameKey(p.name)]
      reply.add(RC.DELETED, `Storage pool '${p.name}' on node '${n.name}' deleted.`)
    }),
  )

  routes.add('get', '/v1/view/storage-pools', query(emu, { op: 0n, obj: MASK_STOR_POOL, objRefs: {} }, (req) => withUsageSnapshot(emu, () => poolsView(emu, req))))
}
