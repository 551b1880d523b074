/**
 * Autoplace as the controller runs it (CtrlRscAutoPlaceApiCallHandler), plus the helpers that
 * run after every create/delete/autoplace (CtrlRscAutoHelper): the tie-breaker and auto-quorum.
 */
import { ApiRcError, RC } from './api-call-rc.js'
import type { ReplyBuilder } from './api-call-rc.js'
import type { PlacerExisting, PlacerNode, PlacerPool, PlacerRequest, PlacerResult, StrategyWeights } from './autoplacer.js'
import { DEFAULT_WEIGHTS, autoplace, placementCount } from './autoplacer.js'
import { isDisklessPool, placerPool } from './capacity.js'
import type { Emu } from './context.js'
import type { AutoSelectFilter, NodeState, ResourceDefinitionState, ResourceState } from './model.js'
import { FILTER_FIELDS, findRd, findRg, isDiskless, nodeLayers, rdPrioProp, replicas, sortedByName } from './model.js'
import { nameKey } from './names.js'
import { isYes } from './props.js'
import { addReplica, convertReplica, deployEntries, disklessPoolOf, rdSizeKib, readyEntry, removeReplica } from './replicas.js'
import { adoptLayers, checkNewReplica } from './routes/resources.js'


/** Field-wise merge, the request's present fields winning (AutoSelectFilterPojo.merge). */
export function mergeFilter(high: AutoSelectFilter | undefined, low: AutoSelectFilter | undefined): AutoSelectFilter {
  const out: Record<string, unknown> = {}
  for (const k of FILTER_FIELDS) {
    const h = high?.[k]
    const l = low?.[k]
    if (h !== undefined && h !== null) out[k] = h
    else if (l !== undefined && l !== null) out[k] = l
  }
  return out
}

/** The resource group's filter with the implicit place_count of 2. */
export function groupFilter(emu: Emu, rd: ResourceDefinitionState | undefined, rgName?: string): AutoSelectFilter {
  const rg = findRg(emu.state, rgName ?? rd?.resourceGroup ?? '')
  return { place_count: 2, ...(rg?.selectFilter ?? {}) }
}

function weights(emu: Emu): StrategyWeights {
  const w = (name: keyof StrategyWeights): number => {
    const raw = emu.state.controllerProps[`Autoplacer/Weights/${name}`]
    if (raw === undefined) return DEFAULT_WEIGHTS[name]
    const n = Number(raw)
    return Number.isFinite(n) ? n : 1
  }
  return { MaxFreeSpace: w('MaxFreeSpace'), MinReservedSpace: w('MinReservedSpace'), MinRscCount: w('MinRscCount') }
}

/** Names of the resources a node hosts: a scan of every definition (of the pending ones plus the totals during a bulk load). */
function hostedBy(emu: Emu, nodeKey: string): string[] {
  const rscs = [...(emu.bulk?.nodeResources.get(nodeKey) ?? [])]
  for (const rd of emu.bulk?.pending ?? Object.values(emu.state.resourceDefinitions)) if (rd.resources[nodeKey] !== undefined) rscs.push(rd.name)
  return rscs
}

function placerNodes(emu: Emu, filter: AutoSelectFilter): PlacerNode[] {
  const ctrlTarget = !/^false$/i.test(emu.state.controllerProps['AutoplaceTarget'] ?? '')
  // The placer reads a node's resource list only for not_place_with_rsc[_regex]. Without a regex
  // the named resources are all that matter, and looking them up beats scanning every definition
  // for every node (which dominates placement once thousands of resources exist).
  const regex = filter.not_place_with_rsc_regex !== undefined && filter.not_place_with_rsc_regex !== ''
  const named = regex ? [] : (filter.not_place_with_rsc ?? []).map((name) => findRd(emu.state, name)).filter((rd) => rd !== undefined)
  return Object.values(emu.state.nodes).map((n) => {
    const nk = nameKey(n.name)
    const rscs = regex ? hostedBy(emu, nk) : named.filter((rd) => rd.resources[nk] !== undefined).map((rd) => rd.name)
    return {
      name: n.name,
      online: n.online && (n.type === 'SATELLITE' || n.type === 'COMBINED'),
      evacuating: n.flags.includes('EVACUATE'),
      props: n.props,
      autoplaceTarget: ctrlTarget && !/^false$/i.test(n.props['AutoplaceTarget'] ?? ''),
      layers: nodeLayers(n),
      resources: rscs,
    }
  })
}

function existingOf(emu: Emu, rd: ResourceDefinitionState): PlacerExisting[] {
  return replicas(rd).map((r) => {
    const pool = emu.state.nodes[nameKey(r.node)]?.pools[nameKey(r.storPool)]
    return { node: r.node, pool: r.storPool, providerKind: pool?.providerKind ?? 'DISKLESS', diskless: isDiskless(r) }
  })
}

/** Builds and runs a placer request for an RD. */
export function runPlacer(
  emu: Emu,
  rd: ResourceDefinitionState | undefined,
  filter: AutoSelectFilter,
  count: number,
  opts: { diskless?: boolean; sizeKib?: number; rscName?: string; exemptDiskless?: boolean } = {},
): PlacerResult {
  const rscName = opts.rscName ?? rd?.name ?? ''
  if ((filter.diskless_type ?? '').toUpperCase() === 'NVME_INITIATOR' && !(filter.layer_stack ?? []).some((l) => l.toUpperCase() === 'NVME')) {
    throw new ApiRcError(RC.FAIL_INVLD_LAYER_STACK, "You have to specify a --layer-list containing at least 'nvme' when autoplacing an nvme-initiator")
  }
  const f: AutoSelectFilter = { ...filter, not_place_with_rsc: [...(filter.not_place_with_rsc ?? []), ...(rscName === '' ? [] : [rscName])] }
  const diskless = opts.diskless ?? (filter.diskless_type !== undefined && filter.diskless_type !== '')
  // The placer drops pools of the other kind (diskful/diskless) first; skipping them here saves
  // their usage computation.
  const pools: PlacerPool[] = []
  for (const n of Object.values(emu.state.nodes)) {
    for (const p of Object.values(n.pools)) if (isDisklessPool(p) === diskless) pools.push(placerPool(emu, n, p, rd))
  }
  const existing = rd === undefined ? [] : existingOf(emu, rd)
  const req: PlacerRequest = {
    filter: f,
    rscName,
    sizeKib: opts.sizeKib ?? (rd === undefined ? 0 : rdSizeKib(rd)),
    count,
    diskless,
    nodes: placerNodes(emu, f),
    pools,
    existing,
    exemptNodes: rd === undefined || opts.exemptDiskless === false ? [] : replicas(rd).filter(isDiskless).map((r) => r.node),
    weights: weights(emu),
    allowMixing: rd !== undefined && isYes(rdPrioProp(emu.state, rd, 'AllowMixingStoragePoolDriver')),
  }
  return autoplace(req)
}

function notEnoughNodesDetails(filter: AutoSelectFilter, sizeKib: number, rscName: string): string {
  const lines = ['Not enough nodes fulfilling the following auto-place criteria:']
  const pools = filter.storage_pool_list ?? (filter.storage_pool !== undefined ? [filter.storage_pool] : [])
  for (const p of pools) {
    lines.push(` * has a deployed storage pool named '${p}'`)
    lines.push(` * the storage pool '${p}' has to have at least '${sizeKib}' free space`)
  }
  lines.push(' * the current access context has enough privileges to use the node and the storage pool')
  lines.push(' * the node is online')
  lines.push(`Auto-placing resource: ${rscName}`)
  return lines.join('\n')
}

export interface AutoplaceOptions {
  disklessOnRemaining: boolean
  layerList?: string[] | undefined
}

/** POST .../autoplace semantics on an RD; entries go to `reply`. */
export function autoplaceRd(emu: Emu, rd: ResourceDefinitionState, requestFilter: AutoSelectFilter, opts: AutoplaceOptions, reply: ReplyBuilder): void {
  // The REST layer (AutoPlace.java) overwrites these two of the request's filter with the
  // top-level fields; the group's filter then fills what the request leaves null.
  const req: AutoSelectFilter = { ...requestFilter }
  if (opts.layerList !== undefined) req.layer_stack = opts.layerList
  else delete req.layer_stack
  const filter = mergeFilter(req, groupFilter(emu, rd))
  filter.diskless_on_remaining = opts.disklessOnRemaining
  adoptLayers(rd, opts.layerList)
  if (filter.place_count !== undefined && filter.place_count < 0) {
    throw new ApiRcError(RC.FAIL_INVLD_PLACE_COUNT, `Invalid place count: ${filter.place_count}`)
  }
  const existing = existingOf(emu, rd)
  const count = placementCount(filter, existing)
  const diskfulNow = existing.filter((x) => !x.diskless).length
  if (count < 0) {
    reply.add(
      RC.WARN_RSC_ALREADY_DEPLOYED,
      `Resource '${rd.name}' was already deployed on ${diskfulNow} nodes. The requested place count of ${filter.place_count ?? 2} would require resources to be deleted.`,
    )
    return
  }
  if (count === 0 && opts.disklessOnRemaining !== true) {
    reply.add(RC.WARN_RSC_ALREADY_DEPLOYED, `Resource '${rd.name}' was already deployed on ${diskfulNow} nodes. Skipping.`)
    return
  }
  const created: ResourceState[] = []
  if (count > 0) {
    const result = runPlacer(emu, rd, filter, count)
    if (!result.ok) {
      if (result.reason === 'undecidable') throw new ApiRcError(RC.FAIL_UNDECIDABLE_AUTOPLACMENT, result.message)
      throw new ApiRcError(RC.FAIL_NOT_ENOUGH_NODES, 'Not enough available nodes', {
        details: notEnoughNodesDetails(filter, rdSizeKib(rd), rd.name),
      })
    }
    const diskless = filter.diskless_type !== undefined && filter.diskless_type !== ''
    const objRefs: Record<string, string> = {}
    result.selection.forEach((p, i) => {
      objRefs[`Node/${i}`] = p.node
      objRefs[`StoragePool/${i}/0`] = `${p.pool},${p.providerKind}`
    })
    reply.add(RC.CREATED, `Resource '${rd.name}' successfully autoplaced on ${result.selection.length} nodes`, {
      details: `Used nodes (storage pool name): ${result.selection.map((p) => `'${p.node} (${p.pool})'`).join(', ')}`,
      objRefs,
    })
    for (const p of result.selection) {
      const node = emu.state.nodes[nameKey(p.node)]
      if (node === undefined) continue
      const present = rd.resources[nameKey(p.node)]
      if (present !== undefined) {
        // A node holding a diskless replica may be picked; the replica then gets a disk.
        convertReplica(present, diskless ? 'diskless' : 'diskful', p.pool)
        created.push(present)
      } else {
        const initiator = diskless && (filter.diskless_type ?? '').toUpperCase() === 'NVME_INITIATOR'
        checkNewReplica(emu, rd, node, initiator ? 'nvme-initiator' : diskless ? 'diskless' : 'diskful')
        created.push(addReplica(emu, rd, node, { kind: diskless ? 'diskless' : 'diskful', pool: p.pool, nvmeInitiator: initiator }))
      }
    }
  }
  if (opts.disklessOnRemaining) created.push(...disklessOnRemaining(emu, rd))
  for (const r of created) deployEntries(emu, rd, r, reply)
  runAutoHelpers(emu, rd, reply)
  for (const r of created) if (rd.resources[nameKey(r.node)] !== undefined) readyEntry(emu, rd, r, reply)
}

/** diskless_on_remaining: a DRBD client on every other satellite, converting tie-breakers. */
function disklessOnRemaining(emu: Emu, rd: ResourceDefinitionState): ResourceState[] {
  if (!replicas(rd).some((r) => r.kind === 'diskful')) {
    throw new ApiRcError(RC.FAIL_NOT_FOUND_RSC, `Resource '${rd.name}' has no diskful replica to connect diskless replicas to.`)
  }
  const out: ResourceState[] = []
  for (const node of sortedByName(Object.values(emu.state.nodes))) {
    if (node.type !== 'SATELLITE' && node.type !== 'COMBINED') continue
    const present = rd.resources[nameKey(node.name)]
    if (present !== undefined) {
      if (present.kind === 'tiebreaker') {
        present.kind = 'diskless'
        present.client = true
      }
      continue
    }
    const pool = disklessPoolOf(node)
    if (pool === undefined) continue
    // CtrlRscAutoPlaceApiCallHandler.calculateInitialDisklessFlags: NVME_INITIATOR where the
    // stack has NVMe (and no DRBD), DRBD clients otherwise.
    const nvme = rd.layerStack.includes('NVME') && !rd.layerStack.includes('DRBD')
    checkNewReplica(emu, rd, node, nvme ? 'nvme-initiator' : 'diskless')
    out.push(nvme ? addReplica(emu, rd, node, { kind: 'diskless', pool, nvmeInitiator: true }) : addReplica(emu, rd, node, { kind: 'diskless', pool, client: true }))
  }
  return out
}

/** True when auto-quorum manages DrbdOptions/Resource/quorum and tie-breakers may be added. */
function tieBreakerEnabled(emu: Emu, rd: ResourceDefinitionState): boolean {
  const prop = rdPrioProp(emu.state, rd, 'DrbdOptions/auto-add-quorum-tiebreaker')
  if (prop !== undefined && !isYes(prop)) return false
  const quorum = rdPrioProp(emu.state, rd, 'DrbdOptions/Resource/quorum')
  return !(rd.quorumSetBy === 'user' && quorum === 'off')
}

function activeDiskful(rd: ResourceDefinitionState): ResourceState[] {
  return replicas(rd).filter((r) => r.kind === 'diskful' && !r.inactive)
}

/** Diskless replicas that vote for quorum like a tie-breaker would (not clients). */
function eligibleDiskless(emu: Emu, rd: ResourceDefinitionState): ResourceState[] {
  return replicas(rd).filter((r) => r.kind === 'diskless' && !r.client && !r.inactive && emu.state.nodes[nameKey(r.node)] !== undefined)
}

export function tieBreakerWanted(emu: Emu, rd: ResourceDefinitionState): boolean {
  if (!rd.layerStack.includes('DRBD')) return false
  const diskful = activeDiskful(rd).length
  return tieBreakerEnabled(emu, rd) && diskful >= 2 && diskful % 2 === 0 && eligibleDiskless(emu, rd).length === 0
}

/** The RG filter used to place a tie-breaker (x_replicas_on_different forced to 1, pools ignored). */
function tieBreakerFilter(emu: Emu, rd: ResourceDefinitionState): AutoSelectFilter {
  const f = { ...groupFilter(emu, rd) }
  delete f.storage_pool
  delete f.storage_pool_list
  delete f.place_count
  delete f.additional_place_count
  delete f.node_name_list
  if (f.x_replicas_on_different_map !== undefined) {
    f.x_replicas_on_different_map = Object.fromEntries(Object.keys(f.x_replicas_on_different_map).map((k) => [k, 1]))
  }
  f.diskless_type = 'DRBD_DISKLESS'
  f.layer_stack = ['DRBD']
  return f
}

/** Whether a node could carry this RD's tie-breaker (used for takeovers). */
export function fitsTieBreaker(emu: Emu, rd: ResourceDefinitionState, node: NodeState): boolean {
  // "fits the RG filter": at least what the autoplacer's node filter would demand of it.
  const target = !/^false$/i.test(node.props['AutoplaceTarget'] ?? emu.state.controllerProps['AutoplaceTarget'] ?? '')
  return node.online && target && !node.flags.includes('EVACUATE') && !node.flags.includes('EVICTED') && disklessPoolOf(node) !== undefined
}

/**
 * Tie-breaker then quorum (CtrlRscAutoHelper order). Takeovers of replicas being deleted are
 * decided by the delete handler before it calls this.
 */
export function runAutoHelpers(emu: Emu, rd: ResourceDefinitionState, reply: ReplyBuilder): void {
  // Tie-breakers and auto-quorum are DRBD's (CtrlRscAutoTieBreakerHelper, CtrlRscAutoQuorumHelper).
  if (!rd.layerStack.includes('DRBD')) return
  const tb = replicas(rd).find((r) => r.kind === 'tiebreaker')
  if (tieBreakerWanted(emu, rd)) {
    if (tb === undefined) {
      // A tie-breaker needs a free DRBD peer slot like any other replica.
      const slotFree = Object.keys(rd.resources).length < rd.peerSlots + 1
      const result = slotFree ? runPlacer(emu, rd, tieBreakerFilter(emu, rd), 1, { diskless: true, exemptDiskless: false }) : undefined
      const chosen = result?.ok === true ? result.selection[0] : undefined
      const chosenNode = chosen === undefined ? undefined : emu.state.nodes[nameKey(chosen.node)]
      if (chosen !== undefined && chosenNode !== undefined) {
        const r = addReplica(emu, rd, chosenNode, { kind: 'tiebreaker', pool: chosen.pool })
        reply.add(RC.INFO_TIE_BREAKER_CREATED, `Tie breaker resource '${rd.name}' created on ${r.node}`)
      } else {
        reply.add(RC.WARN_NOT_ENOUGH_NODES_FOR_TIE_BREAKER, `Could not find suitable node to automatically create a tie breaking resource for '${rd.name}'.`)
      }
    }
  } else if (tb !== undefined) {
    const node = emu.state.nodes[nameKey(tb.node)]
    if (node?.online === true && tb.role !== 'Primary') {
      removeReplica(emu, rd, tb)
      reply.add(RC.INFO_TIE_BREAKER_DELETING, `Tie breaker marked for deletion`, { objRefs: { Node: tb.node } })
    }
  }
  autoQuorum(emu, rd, reply)
}

const QUORUM_KEY = 'DrbdOptions/Resource/quorum'

/** Auto-quorum: majority when ≥3 diskful, or 2 diskful + ≥1 voting diskless; else off. */
export function autoQuorum(emu: Emu, rd: ResourceDefinitionState, reply: ReplyBuilder): void {
  if (rd.quorumSetBy === 'user') return
  const diskful = activeDiskful(rd).length
  const voters = replicas(rd).filter((r) => r.kind !== 'diskful' && !r.client && !r.inactive).length
  const feasible = diskful >= 3 || (diskful === 2 && voters >= 1)
  const want = feasible ? 'majority' : 'off'
  const have = rd.props[QUORUM_KEY]
  if (have === want) return
  rd.props[QUORUM_KEY] = want
  if (feasible) {
    reply.add(RC.INFO_PROP_SET, `Resource definition property '${QUORUM_KEY}' set to '${want}' by auto-quorum`, { objRefs: { RscDfn: rd.name } })
  } else {
    reply.add(RC.INFO_PROP_REMOVED, `Resource definition property '${QUORUM_KEY}' set to '${want}' by auto-quorum (quorum not possible)`, {
      objRefs: { RscDfn: rd.name },
    })
  }
}

/**
 * Finds a pool on one node through the autoplacer (make-available, toggle-disk): the
 * definition's layer stack, restricted to the node (CtrlRscMakeAvailableApiCallHandler.createAutoSelectConfig).
 */
export function placeOnNode(emu: Emu, rd: ResourceDefinitionState, node: NodeState, diskless: boolean, useGroupFilter = true, disklessType = 'DRBD_DISKLESS'): string | undefined {
  const base = useGroupFilter ? groupFilter(emu, rd) : {}
  const f: AutoSelectFilter = { ...base, node_name_list: [node.name], additional_place_count: 1, layer_stack: [...rd.layerStack] }
  delete f.place_count
  if (diskless) {
    f.diskless_type = disklessType
    delete f.storage_pool
    delete f.storage_pool_list
  } else {
    delete f.diskless_type
    delete f.storage_pool_diskless_list
  }
  // The node itself is exempt from "already hosts this resource" when converting a replica.
  const result = runPlacer(emu, rd, f, 1, { diskless })
  if (result.ok && result.selection[0] !== undefined) return result.selection[0].pool
  return undefined
}
