/** Resource groups, volume groups, spawn, adjust and the size queries. */
import type { Request } from 'express'
import { ApiRcError, MASK_CRT, MASK_DEL, MASK_MOD, MASK_RSC, MASK_RSC_DFN, MASK_RSC_GRP, MASK_VLM_GRP, RC, ReplyBuilder, entriesToJson } from '../api-call-rc.js'
import type { ResponseContext } from '../api-call-rc.js'
import { estimateFreeKib } from '../autoplacer.js'
import { oversubscription, placerPool, withUsageSnapshot } from '../capacity.js'
import type { Emu } from '../context.js'
import { createRd, createVd, ensureDefaultGroup } from '../definitions.js'
import type { RouteTable } from '../http-kit.js'
import { answerBodyError, matchesPropsFilter, mutation, notFound, page, param, query, queryList, readBody, sendJson } from '../http-kit.js'
import * as T from '../request-types.js'
import type { JsonValue } from '../json-writer.js'
import type { AutoSelectFilter, ResourceGroupState } from '../model.js'
import { FILTER_FIELDS, findRg, sortedByName } from '../model.js'
import { checkResourceGroupName, nameKey } from '../names.js'
import { autoplaceRd, groupFilter, mergeFilter, runPlacer } from '../placement.js'
import { applyPropsPlan, planPropsModify, validateProps } from '../props.js'
import { rgJson, vgJson } from '../views.js'

const rgCtx = (op: bigint, rg: string): ResponseContext => ({ op, obj: MASK_RSC_GRP, objRefs: { RscGrp: rg }, objDescription: `Resource group: ${rg}` })

export function requireRg(emu: Emu, name: string): ResourceGroupState {
  if (nameKey(name) === nameKey('DfltRscGrp')) return ensureDefaultGroup(emu)
  const rg = findRg(emu.state, name)
  if (rg === undefined) throw new ApiRcError(RC.FAIL_NOT_FOUND_RSC_GRP, `Resource group '${name}' not found.`)
  return rg
}

/**
 * The AutoSelectFilter of a body as read by jackson.ts (types already coerced); only the fields
 * the emulator's placer knows are kept.
 */
export function parseFilter(v: unknown): AutoSelectFilter {
  if (v === undefined || v === null || typeof v !== 'object' || Array.isArray(v)) return {}
  const src = v as Record<string, unknown>
  const out: Record<string, unknown> = {}
  for (const k of FILTER_FIELDS) {
    const x = src[k]
    if (x === undefined || x === null) continue
    out[k] = Array.isArray(x) ? x.filter((i) => i !== null) : x
  }
  return out
}

/** "Peel off" simulation: how much n-way replicated data fits into pools of these sizes. */
export function replicatedCapacity(values: number[], n: number): number {
  if (n <= 0) return 0
  const v = values.filter((x) => x > 0)
  let sum = 0
  for (let guard = 0; guard < values.length + 1; guard++) {
    v.sort((a, b) => b - a)
    const nth = v[n - 1]
    if (nth === undefined || nth <= 0) break
    sum += nth
    for (let i = 0; i < n; i++) v[i] = (v[i] ?? 0) - nth
  }
  return Math.floor(sum)
}

function sizeInfo(emu: Emu, rg: ResourceGroupState, requestFilter: AutoSelectFilter): JsonValue {
  const reply = new ReplyBuilder({ op: 0n, obj: MASK_RSC_GRP, objRefs: { RscGrp: rg.name } }, emu.clock)
  const filter = mergeFilter(requestFilter, groupFilter(emu, undefined, rg.name))
  const count = filter.place_count ?? 2
  const result = runPlacer(emu, undefined, filter, count, { sizeKib: 0, rscName: '' })
  let maxVlm = 0
  const spawn: JsonValue[] = []
  if (result.ok) {
    maxVlm = Math.floor(Math.min(...result.selection.map((p) => estimateFreeKib(p))))
    if (!Number.isFinite(maxVlm)) maxVlm = 0
    for (const p of result.selection) {
      const node = emu.state.nodes[nameKey(p.node)]
      const pool = node?.pools[nameKey(p.pool)]
      const os = pool === undefined ? { free: 1, total: 1 } : oversubscription(emu, pool)
      spawn.push({
        node_name: p.node,
        stor_pool_name: p.pool,
        stor_pool_oversubscription_ratio: Math.min(os.free, os.total),
        stor_pool_free_capacity_oversubscription_ratio: os.free,
        stor_pool_total_capacity_oversubscription_ratio: os.total,
      })
    }
  } else {
    reply.add(RC.FAIL_NOT_ENOUGH_NODES, 'Not enough available nodes')
  }
  // Eligible pools for the simulation: every pool the filter admits, ignoring one-per-node.
  const eligible = Object.values(emu.state.nodes).flatMap((n) =>
    Object.values(n.pools)
      .map((p) => placerPool(emu, n, p))
      .filter((p) => {
        if (p.providerKind === 'DISKLESS' || !n.online) return false
        const list = filter.storage_pool_list ?? (filter.storage_pool !== undefined ? [filter.storage_pool] : [])
        return list.length === 0 || list.map(nameKey).includes(nameKey(p.pool))
      }),
  )
  const cp = emu.state.controllerProps
  const num = (k: string): number | undefined => (cp[k] !== undefined && Number.isFinite(Number(cp[k])) ? Number(cp[k]) : undefined)
  return {
    space_info: {
      max_vlm_size_in_kib: maxVlm,
      available_size_in_kib: replicatedCapacity(eligible.map((p) => p.freeKib ?? 0), count),
      capacity_in_kib: replicatedCapacity(eligible.map((p) => p.totalKib ?? 0), count),
      default_max_oversubscription_ratio: 20,
      max_oversubscription_ratio: num('MaxOversubscriptionRatio'),
      max_free_capacity_oversubscription_ratio: num('MaxFreeCapacityOversubscriptionRatio'),
      max_total_capacity_oversubscription_ratio: num('MaxTotalCapacityOversubscriptionRatio'),
      next_spawn_result: spawn,
    },
    reports: entriesToJson(reply.entries),
  }
}

export function resourceGroupRoutes(emu: Emu, routes: RouteTable): void {
  routes.add(
    'get',
    '/v1/resource-groups',
    query(emu, { op: 0n, obj: MASK_RSC_GRP, objRefs: {} }, (req) => {
      ensureDefaultGroup(emu)
      const names = new Set(queryList(req, 'resource_groups').map(nameKey))
      const props = queryList(req, 'props')
      const list = sortedByName(Object.values(emu.state.resourceGroups)).filter(
        (g) => (names.size === 0 || names.has(nameKey(g.name))) && matchesPropsFilter(g.props, props),
      )
      return page(req, list).map(rgJson)
    }),
  )

  routes.add(
    'get',
    '/v1/resource-groups/:resource_group',
    // ResourceGroups.listSingleResourceGroup → queryRequestResponse (bare entry).
    query(emu, (req) => rgCtx(0n, param(req, 'resource_group')), (req) => {
      const name = param(req, 'resource_group')
      if (nameKey(name) === nameKey('DfltRscGrp')) return rgJson(ensureDefaultGroup(emu))
      const rg = findRg(emu.state, name)
      if (rg === undefined) throw notFound(RC.FAIL_NOT_FOUND_RSC_GRP, `Resource group '${name}' not found.`)
      return rgJson(rg)
    }),
  )

  routes.add(
    'post',
    '/v1/resource-groups',
    // ResourceGroups.createResourceGroup reads the body inside RequestHelper.doInScope.
    mutation(emu, { ctx: { op: MASK_CRT, obj: MASK_RSC_GRP, objRefs: {} }, successStatus: 201, parse: 'sync' }, (req, reply) => {
      const body = readBody(req, T.ResourceGroup)
      const name = body['name']
      const bad = checkResourceGroupName(name)
      if (bad !== undefined || typeof name !== 'string') throw new ApiRcError(RC.FAIL_INVLD_RSC_GRP_NAME, bad ?? 'Invalid resource group name')
      if (findRg(emu.state, name) !== undefined) {
        throw new ApiRcError(RC.FAIL_EXISTS_RSC_GRP, `A resource group with the name '${name}' already exists.`, { objRefs: { RscGrp: name } })
      }
      const filter = parseFilter(body['select_filter'])
      // Props in the create body are ignored by the controller ("not supported on creation").
      const rg: ResourceGroupState = {
        name,
        description: typeof body['description'] === 'string' ? body['description'] : '',
        props: {},
        selectFilter: filter,
        uuid: emu.uuid(),
        volumeGroups: {},
      }
      if (typeof body['peer_slots'] === 'number') rg.peerSlots = body['peer_slots']
      emu.state.resourceGroups[nameKey(name)] = rg
      reply.add(RC.CREATED, `New resource group '${name}' created.`, { details: `Resource group '${name}' UUID is: ${rg.uuid}`, objRefs: { RscGrp: name } })
    }),
  )

  routes.add(
    'put',
    '/v1/resource-groups/:resource_group',
    // ResourceGroups.modifyResourceGroup declares `throws IOException`.
    mutation(emu, (req) => ({ ctx: rgCtx(MASK_MOD, param(req, 'resource_group')), successStatus: 200, parse: 'escape' }), (req, reply) => {
      const body = readBody(req, T.ResourceGroupModify)
      const rg = requireRg(emu, param(req, 'resource_group'))
      const plan = planPropsModify(body)
      const filter = parseFilter(body['select_filter'])
      applyPropsPlan(rg.props, plan)
      rg.selectFilter = mergeFilter(filter, rg.selectFilter)
      if (typeof body['description'] === 'string') rg.description = body['description']
      if (typeof body['peer_slots'] === 'number') rg.peerSlots = body['peer_slots']
      reply.add(RC.MODIFIED, `Resource group '${rg.name}' modified.`, { details: `Resource group '${rg.name}' UUID is: ${rg.uuid}` })
    }),
  )

  routes.add(
    'delete',
    '/v1/resource-groups/:resource_group',
    mutation(emu, (req) => ({ ctx: rgCtx(MASK_DEL, param(req, 'resource_group')), successStatus: 200 }), (req, reply) => {
      const rg = findRg(emu.state, param(req, 'resource_group'))
      if (rg === undefined) {
        reply.add(RC.WARN_NOT_FOUND, `Resource group '${param(req, 'resource_group')}' not found.`)
        return
      }
      const users = Object.values(emu.state.resourceDefinitions).filter((rd) => nameKey(rd.resourceGroup) === nameKey(rg.name))
      if (users.length > 0) {
        throw new ApiRcError(RC.FAIL_EXISTS_RSC_DFN, `Cannot delete resource group '${rg.name}' because it has existing resource definitions.`, {
          details: `Resource definitions: ${users.map((u) => u.name).join(', ')}`,
        })
      }
      delete emu.state.resourceGroups[nameKey(rg.name)]
      reply.add(RC.DELETED, `Resource group '${rg.name}' deleted.`, { details: `Resource group '${rg.name}' UUID was: ${rg.uuid}` })
    }),
  )

  routes.add(
    'post',
    '/v1/resource-groups/:resource_group/spawn',
    mutation(emu, (req) => ({ ctx: rgCtx(MASK_CRT, param(req, 'resource_group')), successStatus: 201 }), (req, reply) => {
      const body = readBody(req, T.ResourceGroupSpawn)
      const rg = requireRg(emu, param(req, 'resource_group'))
      const sizes = ((body['volume_sizes'] ?? []) as unknown[]).filter((x): x is number => typeof x === 'number')
      const requestFilter = parseFilter(body['select_filter'])
      const vgs = Object.values(rg.volumeGroups).sort((a, b) => a.volumeNumber - b.volumeNumber)
      let partial = body['partial'] === true
      if (vgs.length === 0 && sizes.length > 0 && !partial) {
        partial = true
        reply.add(RC.INFO_SPAWN_PARTIAL, `Resource group '${rg.name}' has no volume groups; spawning with 'partial' enabled.`)
      }
      if (!partial && sizes.length !== vgs.length) {
        throw new ApiRcError(RC.FAIL_INVLD_VLM_SIZES, `The resource group '${rg.name}' has ${vgs.length} volume groups, but only ${sizes.length} sizes were given.`)
      }
      const merged = mergeFilter(requestFilter, groupFilter(emu, undefined, rg.name))
      const rdName = typeof body['resource_definition_name'] === 'string' ? body['resource_definition_name'] : ''
      const ext = typeof body['resource_definition_external_name'] === 'string' ? body['resource_definition_external_name'] : undefined
      const rdReply = new ReplyBuilder({ op: MASK_CRT, obj: MASK_RSC_DFN, objRefs: {} }, emu.clock)
      const rd = createRd(
        emu,
        {
          name: rdName,
          externalName: ext,
          props: body['resource_definition_props'],
          resourceGroup: rg.name,
          layerStack: merged.layer_stack !== undefined && merged.layer_stack.length > 0 ? merged.layer_stack.map((l) => l.toUpperCase()) : undefined,
          peerSlots: typeof body['peer_slots'] === 'number' ? body['peer_slots'] : undefined,
        },
        rdReply,
      )
      sizes.forEach((size, i) => {
        const vg = vgs[i]
        createVd(emu, rd, { volumeNumber: vg?.volumeNumber ?? i, sizeKib: size, flags: vg?.flags }, rdReply)
      })
      reply.addAll(rdReply.entries)
      if (body['definitions_only'] === true) {
        reply.add(RC.INFO_NO_RSC_SPAWNED, `Resource definition '${rd.name}' and ${sizes.length} volume definition(s) created but no resources deployed`)
        return
      }
      // The group always has a place count, so spawn continues with an autoplace; a failed
      // placement leaves the definitions in place and reports the error in the same reply.
      const apReply = new ReplyBuilder({ op: MASK_CRT, obj: MASK_RSC, objRefs: { RscDfn: rd.name } }, emu.clock)
      try {
        autoplaceRd(emu, rd, requestFilter, { disklessOnRemaining: merged.diskless_on_remaining === true, layerList: merged.layer_stack }, apReply)
      } catch (err) {
        if (!(err instanceof ApiRcError)) throw err
        apReply.add(err.retCode, err.message, err.options)
      }
      reply.addAll(apReply.entries)
    }),
  )

  // ResourceGroups.querySizeInfo reads `jsonData` (or "{}" when empty) before anything else and
  // declares `throws JsonProcessingException`: an unreadable body is answered by LinstorMapper.
  routes.add('post', '/v1/resource-groups/:resource_group/query-size-info', (req, res) => {
    let body: Record<string, unknown>
    try {
      body = readBody(req, T.QuerySizeInfoRequest, { emptyAsNew: true })
    } catch (err) {
      if (answerBodyError(emu, req, res, err, 'escape')) return
      throw err
    }
    const rg = findRg(emu.state, param(req, 'resource_group')) ?? (nameKey(param(req, 'resource_group')) === nameKey('DfltRscGrp') ? ensureDefaultGroup(emu) : undefined)
    if (rg === undefined) {
      const reply = new ReplyBuilder(rgCtx(0n, param(req, 'resource_group')), emu.clock)
      reply.add(RC.FAIL_NOT_FOUND_RSC_GRP, `Resource group '${param(req, 'resource_group')}' not found.`)
      sendJson(res, 200, { space_info: { max_vlm_size_in_kib: 0 }, reports: entriesToJson(reply.entries) })
      return
    }
    sendJson(res, 200, withUsageSnapshot(emu, () => sizeInfo(emu, rg, parseFilter(body['select_filter']))))
  })

  // Every group at once (what linstor-proxmox 7.0.1+ uses for its status); the request's filter
  // is merged over each group's.
  routes.add('post', '/v1/queries/resource-groups/query-all-size-info', (req, res) => {
    let filter: AutoSelectFilter
    try {
      // Queries.resourceGroupsQueryAllSizeInfo: as query-size-info.
      filter = parseFilter(readBody(req, T.QueryAllSizeInfoRequest, { emptyAsNew: true })['select_filter'])
    } catch (err) {
      if (answerBodyError(emu, req, res, err, 'escape')) return
      throw err
    }
    ensureDefaultGroup(emu)
    const result = new Map<string, JsonValue>()
    withUsageSnapshot(emu, () => {
      for (const rg of sortedByName(Object.values(emu.state.resourceGroups))) result.set(rg.name, sizeInfo(emu, rg, filter))
    })
    sendJson(res, 200, { result })
  })

  routes.add(
    'get',
    '/v1/resource-groups/:resource_group/query-max-volume-size',
    query(emu, (req) => rgCtx(0n, param(req, 'resource_group')), (req) => {
      const rg = requireRg(emu, param(req, 'resource_group'))
      const filter = groupFilter(emu, undefined, rg.name)
      const result = runPlacer(emu, undefined, filter, filter.place_count ?? 2, { sizeKib: 0, rscName: '' })
      if (!result.ok) throw new ApiRcError(RC.FAIL_NOT_ENOUGH_NODES, 'Not enough available nodes')
      const byPool = new Map<string, { nodes: string[]; max: number; thin: boolean }>()
      for (const p of result.selection) {
        const e = byPool.get(p.pool) ?? { nodes: [], max: Infinity, thin: true }
        e.nodes.push(p.node)
        e.max = Math.min(e.max, estimateFreeKib(p))
        e.thin = e.thin && p.thin
        byPool.set(p.pool, e)
      }
      return {
        candidates: [...byPool].map(([pool, e]) => ({ storage_pool: pool, max_volume_size_kib: Math.floor(e.max), node_names: e.nodes, all_thin: e.thin })),
        default_max_oversubscription_ratio: 20,
      }
    }),
  )

  // ResourceGroups.adjust/adjustAll: an empty body is `new ResourceGroupAdjust()`.
  const adjustFilter = (req: Request): AutoSelectFilter => parseFilter(readBody(req, T.ResourceGroupAdjust, { emptyAsNew: true })['select_filter'])
  const adjust = (filter: AutoSelectFilter, reply: ReplyBuilder, groups: ResourceGroupState[]): void => {
    for (const rg of groups) {
      for (const rd of sortedByName(Object.values(emu.state.resourceDefinitions))) {
        if (nameKey(rd.resourceGroup) !== nameKey(rg.name)) continue
        const sub = new ReplyBuilder({ op: MASK_CRT, obj: MASK_RSC, objRefs: { RscDfn: rd.name } }, emu.clock)
        try {
          autoplaceRd(emu, rd, filter, { disklessOnRemaining: mergeFilter(filter, groupFilter(emu, rd)).diskless_on_remaining === true }, sub)
        } catch (err) {
          if (!(err instanceof ApiRcError)) throw err
          sub.add(err.retCode, err.message, err.options)
        }
        reply.addAll(sub.entries)
      }
    }
  }

  routes.add(
    'post',
    '/v1/resource-groups/adjustall',
    mutation(emu, { ctx: { op: MASK_MOD, obj: MASK_RSC_GRP, objRefs: {} }, successStatus: 200 }, (req, reply) => {
      adjust(adjustFilter(req), reply, sortedByName(Object.values(emu.state.resourceGroups)))
    }),
  )

  routes.add(
    'post',
    '/v1/resource-groups/:resource_group/adjust',
    mutation(emu, (req) => ({ ctx: rgCtx(MASK_MOD, param(req, 'resource_group')), successStatus: 200 }), (req, reply) => {
      const filter = adjustFilter(req)
      adjust(filter, reply, [requireRg(emu, param(req, 'resource_group'))])
    }),
  )

  // Volume groups.
  const vgCtx = (op: bigint, req: Request): ResponseContext => ({
    op,
    obj: MASK_VLM_GRP,
    objRefs: { RscGrp: param(req, 'resource_group') },
    objDescription: `Resource group: ${param(req, 'resource_group')}`,
  })

  routes.add(
    'get',
    '/v1/resource-groups/:resource_group/volume-groups',
    query(emu, (req) => vgCtx(0n, req), (req) => {
      const rg = requireRg(emu, param(req, 'resource_group'))
      return Object.values(rg.volumeGroups)
        .sort((a, b) => a.volumeNumber - b.volumeNumber)
        .map(vgJson)
    }),
  )

  routes.add(
    'post',
    '/v1/resource-groups/:resource_group/volume-groups',
    // VolumeGroups.createVolumeGroup: inside doInScope; an empty body is `new VolumeGroup()`.
    mutation(emu, (req) => ({ ctx: vgCtx(MASK_CRT, req), successStatus: 201, parse: 'sync' }), (req, reply) => {
      const body = readBody(req, T.VolumeGroup, { emptyAsNew: true })
      const rg = requireRg(emu, param(req, 'resource_group'))
      let nr = typeof body['volume_number'] === 'number' ? body['volume_number'] : undefined
      if (nr === undefined) {
        nr = 0
        while (rg.volumeGroups[String(nr)] !== undefined) nr++
      }
      if (!Number.isInteger(nr) || nr < 0 || nr > 65534) throw new ApiRcError(RC.FAIL_INVLD_VLM_NR, `The specified volume number '${nr}' is invalid.`)
      if (rg.volumeGroups[String(nr)] !== undefined) throw new ApiRcError(RC.FAIL_EXISTS_VLM_GRP, `Volume group ${nr} already exists in resource group '${rg.name}'.`)
      const flags = Array.isArray(body['flags']) ? (body['flags'] as unknown[]).map(String) : []
      const vg = { volumeNumber: nr, props: validateProps(body['props']), flags, uuid: emu.uuid() }
      rg.volumeGroups[String(nr)] = vg
      reply.add(RC.CREATED, `New volume group with number '${nr}' of resource group '${rg.name}' created.`, { details: `Volume group UUID is: ${vg.uuid}`, objRefs: { VlmNr: String(nr) } })
    }),
  )

  routes.add(
    'put',
    '/v1/resource-groups/:resource_group/volume-groups/:volume_number',
    // VolumeGroups.modifyVolumeGroup declares `throws IOException`.
    mutation(emu, (req) => ({ ctx: vgCtx(MASK_MOD, req), successStatus: 200, parse: 'escape' }), (req, reply) => {
      const body = readBody(req, T.VolumeGroupModify)
      const rg = requireRg(emu, param(req, 'resource_group'))
      const vg = rg.volumeGroups[String(Number(param(req, 'volume_number')))]
      if (vg === undefined) throw new ApiRcError(RC.FAIL_NOT_FOUND_VLM_GRP, `Volume group ${param(req, 'volume_number')} of resource group '${rg.name}' not found.`)
      applyPropsPlan(vg.props, planPropsModify(body))
      if (Array.isArray(body['flags'])) {
        for (const f of (body['flags'] as unknown[]).map(String)) {
          if (f.startsWith('-')) vg.flags = vg.flags.filter((x) => x !== f.slice(1))
          else if (!vg.flags.includes(f)) vg.flags.push(f)
        }
      }
      reply.add(RC.MODIFIED, `Volume group with number '${vg.volumeNumber}' of resource group '${rg.name}' modified.`)
    }),
  )

  routes.add(
    'delete',
    '/v1/resource-groups/:resource_group/volume-groups/:volume_number',
    mutation(emu, (req) => ({ ctx: vgCtx(MASK_DEL, req), successStatus: 200 }), (req, reply) => {
      const rg = requireRg(emu, param(req, 'resource_group'))
      const key = String(Number(param(req, 'volume_number')))
      if (rg.volumeGroups[key] === undefined) {
        reply.add(RC.WARN_NOT_FOUND, `Volume group ${param(req, 'volume_number')} of resource group '${rg.name}' not found.`)
        return
      }
      delete rg.volumeGroups[key]
      reply.add(RC.DELETED, `Volume group with number '${key}' of resource group '${rg.name}' deleted.`)
    }),
  )
}
