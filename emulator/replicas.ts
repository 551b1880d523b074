/**
 * Creating, converting and removing replicas (resources on nodes), with the bookkeeping the
 * controller and satellites do around them: DRBD node ids, TCP ports, the StorPoolName prop and the
 * device files of the emulated satellites.
 */
import fs from 'node:fs'
import path from 'node:path'
import { ApiRcError, RC } from './api-call-rc.js'
import type { ReplyBuilder } from './api-call-rc.js'
import type { Emu } from './context.js'
import type { NodeState, Props, ReplicaKind, ResourceDefinitionState, ResourceState } from './model.js'
import { DEFAULT_POOL, DISKLESS_POOL, findPool, findRg, replicas, vlmDfns } from './model.js'
import { nameKey } from './names.js'
import { isDisklessPool, oversubscription, poolFreeKib, poolUsage } from './capacity.js'
import { NVME_TARGET_PROP, allocateNvmeCtrl, replicaFiles } from './layers.js'

export interface NewReplica {
  kind: ReplicaKind
  pool: string
  client?: boolean | undefined
  /** An NVMe-oF initiator (kind diskless): gets its target (props) and controller index. */
  nvmeInitiator?: boolean | undefined
  props?: Props | undefined
  nodeId?: number | undefined
  tcpPorts?: number[] | undefined
}

function lowestFree(used: { has(n: number): boolean }, min: number, max: number): number | undefined {
  for (let n = min; n <= max; n++) if (!used.has(n)) return n
  return undefined
}

function allocateNodeId(rd: ResourceDefinitionState, wanted?: number): number {
  const used = new Set(Object.values(rd.resources).map((r) => r.nodeId))
  if (wanted !== undefined) {
    if (used.has(wanted) || wanted < 0 || wanted > 31) throw new ApiRcError(RC.FAIL_INVLD_NODE_ID, `Node id ${wanted} is not available.`)
    return wanted
  }
  const id = lowestFree(used, 0, 31)
  if (id === undefined) throw new ApiRcError(RC.FAIL_POOL_EXHAUSTED_NODE_ID, 'No free DRBD node id left.')
  return id
}

function allocateTcpPort(emu: Emu, node: NodeState): number {
  const nk = nameKey(node.name)
  const used = new Set<number>()
  for (const rd of emu.bulk?.pending ?? Object.values(emu.state.resourceDefinitions)) {
    const r = rd.resources[nk]
    if (r !== undefined) used.add(r.tcpPort)
  }
  // During a bulk load the ports of the definitions already folded into the totals count too.
  const settled = emu.bulk?.tcpPorts.get(nk)
  const taken = settled === undefined ? used : { has: (p: number): boolean => used.has(p) || settled.has(p) }
  const range = /^(\d+)-(\d+)$/.exec(emu.state.controllerProps['TcpPortAutoRange'] ?? '')
  const port = lowestFree(taken, range ? Number(range[1]) : 7000, range ? Number(range[2]) : 7999)
  if (port === undefined) throw new ApiRcError(RC.FAIL_POOL_EXHAUSTED_TCP_PORT, `No free TCP port left on node '${node.name}'.`)
  return port
}

/** Links (or relinks) all device files of a replica (layers.ts decides which files its stack shows). */
export function linkReplicaFiles(emu: Emu, rd: ResourceDefinitionState, node: string): void {
  const r = rd.resources[nameKey(node)]
  for (const vd of vlmDfns(rd)) {
    emu.data.ensureVolume(nameKey(rd.name), vd.volumeNumber, vd.sizeKib)
    if (r === undefined) emu.data.linkReplica(node, rd.name, nameKey(rd.name), vd.volumeNumber, vd.minor)
    else emu.data.linkPaths(r.node, nameKey(rd.name), vd.volumeNumber, replicaFiles(emu, rd, r, vd.volumeNumber, vd.minor))
  }
}

export function unlinkReplicaFiles(emu: Emu, rd: ResourceDefinitionState, node: string): void {
  const r = rd.resources[nameKey(node)]
  for (const vd of vlmDfns(rd)) unlinkVolumeFiles(emu, rd, r, node, vd.volumeNumber, vd.minor)
}

/** Removes one volume's device files of a replica (the DRBD ones when the replica is already gone from the state). */
export function unlinkVolumeFiles(emu: Emu, rd: ResourceDefinitionState, r: ResourceState | undefined, node: string, vlmNr: number, minor: number): void {
  if (r === undefined) emu.data.unlinkReplica(node, rd.name, vlmNr, minor)
  else emu.data.unlinkPaths(r.node, replicaFiles(emu, rd, r, vlmNr, minor))
}

/** Checks that a thick pool can hold another copy of every volume. */
export function checkSpace(emu: Emu, node: NodeState, poolName: string, sizeKib: number, rscName: string): void {
  const pool = findPool(node, poolName)
  if (pool === undefined || isDisklessPool(pool)) return
  const free = poolFreeKib(emu, node, pool)
  const os = oversubscription(emu, pool)
  const usage = poolUsage(emu, node, pool)
  const estimate = free === null || pool.totalKib === null ? 0 : Math.min(free * os.free, pool.totalKib * os.total - usage.reservedKib)
  if (estimate < sizeKib) {
    throw new ApiRcError(RC.FAIL_NOT_ENOUGH_FREE_SPACE, `Not enough free space available for volume(s) of resource '${rscName}' on node '${node.name}'.`, {
      details: `Storage pool '${pool.name}' on node '${node.name}' has ${Math.max(0, Math.floor(estimate))} KiB free, ${sizeKib} KiB required.`,
    })
  }
}

export function rdSizeKib(rd: ResourceDefinitionState): number {
  return vlmDfns(rd).reduce((s, v) => s + v.sizeKib, 0)
}

/** Adds a replica to the state and to the emulated satellite's /dev. */
export function addReplica(emu: Emu, rd: ResourceDefinitionState, node: NodeState, spec: NewReplica): ResourceState {
  if (rd.resources[nameKey(node.name)] !== undefined) {
    throw new ApiRcError(RC.FAIL_EXISTS_RSC, `A resource '${rd.name}' on node '${node.name}' already exists.`)
  }
  const peerSlots = rd.peerSlots
  if (Object.keys(rd.resources).length >= peerSlots + 1) {
    throw new ApiRcError(RC.FAIL_INSUFFICIENT_PEER_SLOTS, `Resource definition '${rd.name}' has no free peer slots (${peerSlots}).`)
  }
  const props: Props = { ...(spec.props ?? {}), StorPoolName: spec.pool }
  const r: ResourceState = {
    node: node.name,
    kind: spec.kind,
    client: spec.client ?? false,
    inactive: false,
    storPool: spec.pool,
    props,
    nodeId: allocateNodeId(rd, spec.nodeId),
    tcpPort: spec.tcpPorts?.[0] ?? allocateTcpPort(emu, node),
    uuid: emu.uuid(),
    createTimestamp: emu.clock().getTime(),
    role: 'Secondary',
    volumes: {},
  }
  for (const vd of vlmDfns(rd)) r.volumes[String(vd.volumeNumber)] = { props: {}, uuid: emu.uuid() }
  if (spec.nvmeInitiator === true) {
    r.nvmeInitiator = true
    r.nvmeCtrl = allocateNvmeCtrl(emu, node.name)
    if (props[NVME_TARGET_PROP] === undefined) props[NVME_TARGET_PROP] = nvmeTargetFor(rd, node.name)
  }
  rd.resources[nameKey(node.name)] = r
  linkReplicaFiles(emu, rd, node.name)
  return r
}

/**
 * The target an initiator connects to (RscNvmeLayerHelper.ensureTargetNodeNameIsSet): among the
 * other resources, the target with the fewest initiators (each non-initiator counts from 0).
 */
export function nvmeTargetFor(rd: ResourceDefinitionState, initiatorNode: string): string {
  const counts = new Map<string, number>()
  for (const other of replicas(rd)) {
    if (nameKey(other.node) === nameKey(initiatorNode)) continue
    if (other.nvmeInitiator === true) {
      const t = other.props[NVME_TARGET_PROP]
      if (t !== undefined) counts.set(t, (counts.get(t) ?? 0) + 1)
    } else if (!counts.has(other.node)) {
      counts.set(other.node, 0)
    }
  }
  let best: string | undefined
  let lowest = Number.MAX_SAFE_INTEGER
  for (const [n, c] of counts) {
    if (c < lowest) {
      lowest = c
      best = n
    }
  }
  if (best === undefined) throw new ApiRcError(RC.FAIL_MISSING_NVME_TARGET, 'No available nvme target found')
  return best
}

/** Removes a replica from state and its node's /dev. */
export function removeReplica(emu: Emu, rd: ResourceDefinitionState, r: ResourceState): void {
  unlinkReplicaFiles(emu, rd, r.node)
  delete rd.resources[nameKey(r.node)]
  for (const [k, c] of Object.entries(rd.connections)) {
    if (nameKey(c.nodeA) === nameKey(r.node) || nameKey(c.nodeB) === nameKey(r.node)) delete rd.connections[k]
  }
}

/** Converts a replica to another kind on another pool (toggle-disk, takeover, make-available). */
export function convertReplica(r: ResourceState, kind: ReplicaKind, pool: string, client = false): void {
  r.kind = kind
  r.client = kind === 'diskful' ? false : client
  r.storPool = pool
  r.props['StorPoolName'] = pool
}

/** The name of a node's diskless pool (DfltDisklessStorPool unless another diskless pool is named). */
export function disklessPoolOf(node: NodeState, wanted?: string): string | undefined {
  if (wanted !== undefined) {
    const p = findPool(node, wanted)
    return p !== undefined && isDisklessPool(p) ? p.name : undefined
  }
  const dflt = findPool(node, DISKLESS_POOL)
  if (dflt !== undefined) return dflt.name
  return Object.values(node.pools).find((p) => isDisklessPool(p))?.name
}

/**
 * Storage pool of a new diskful replica (CtrlStorPoolResolveHelper): StorPoolName on the resource,
 * a volume definition, the RD, the RG, the node; else a pool used by diskful peers that the node
 * also has; else DfltStorPool.
 */
export function resolveStorPool(emu: Emu, rd: ResourceDefinitionState, node: NodeState, rscProps: Props): string {
  const fromVd = vlmDfns(rd)
    .map((v) => v.props['StorPoolName'])
    .find((v) => v !== undefined)
  const explicit =
    rscProps['StorPoolName'] ?? fromVd ?? rd.props['StorPoolName'] ?? findRg(emu.state, rd.resourceGroup)?.props['StorPoolName'] ?? node.props['StorPoolName']
  if (explicit !== undefined) return explicit
  for (const peer of replicas(rd)) {
    if (peer.kind === 'diskful' && findPool(node, peer.storPool) !== undefined) return findPool(node, peer.storPool)?.name ?? peer.storPool
  }
  return DEFAULT_POOL
}

/** Entries the satellites produce when a replica is deployed (or a warning when offline). */
export function deployEntries(emu: Emu, rd: ResourceDefinitionState, r: ResourceState, reply: ReplyBuilder): void {
  const node = emu.state.nodes[nameKey(r.node)]
  if (node === undefined || !node.online) {
    reply.add(RC.WARN_NOT_CONNECTED, `No active connection to satellite '${r.node}'`, {
      details: 'The controller is trying to (re-) establish a connection to the satellite. The controller stored the changes and as soon the satellite is connected, it will receive this update.',
    })
    return
  }
  reply.add(0n, `Created resource '${rd.name}' on '${r.node}'`)
  const peers = replicas(rd).filter((p) => nameKey(p.node) !== nameKey(r.node) && emu.state.nodes[nameKey(p.node)]?.online === true)
  for (const p of peers) reply.add(0n, `Added peer(s) '${r.node}' to resource '${rd.name}' on '${p.node}'`)
}

export function readyEntry(emu: Emu, rd: ResourceDefinitionState, r: ResourceState, reply: ReplyBuilder): void {
  if (emu.state.nodes[nameKey(r.node)]?.online === true) reply.add(0n, `Resource '${rd.name}' on '${r.node}' ready`)
}

/**
 * Makes the satellites' /dev folders and the data directory match the state again. Used after a
 * failed call is rolled back (the controller's transaction undoes the database; the emulator also
 * has to undo the device links and data files the call had already created).
 */
export function reconcileFiles(emu: Emu): void {
  const nodesDir = path.join(emu.data.root, 'nodes')
  const wanted = new Set<string>()
  const wantedData = new Set<string>()
  for (const rd of Object.values(emu.state.resourceDefinitions)) {
    for (const vd of vlmDfns(rd)) wantedData.add(path.join(nameKey(rd.name), String(vd.volumeNumber)))
    for (const r of Object.values(rd.resources)) {
      for (const vd of vlmDfns(rd)) for (const rel of replicaFiles(emu, rd, r, vd.volumeNumber, vd.minor)) wanted.add(path.join(r.node, rel))
    }
  }
  const list = (dir: string): fs.Dirent[] => {
    try {
      return fs.readdirSync(dir, { withFileTypes: true })
    } catch {
      return []
    }
  }
  // Files of the kinds the emulated satellites make (DRBD devices, NVMe namespaces, LUKS mappings,
  // backing volumes `<rsc>_<5 digits>`) under a node's dev/ and var/ must be explained by the
  // state; anything else there (a test's own files, linstor-virt's links) is left alone.
  const ours = (rel: string): boolean =>
    /^dev\/drbd\d+$/.test(rel) || rel.startsWith('dev/drbd/by-res/') || /^dev\/nvme\d+n\d+$/.test(rel) || /^dev\/mapper\/Linstor-Crypt-/.test(rel) || /_\d{5}(\.img)?$/.test(rel)
  const sweep = (node: string, rel: string): boolean => {
    const abs = path.join(nodesDir, node, rel)
    let empty = true
    for (const e of list(abs)) {
      const childRel = path.join(rel, e.name)
      if (e.isDirectory()) {
        if (sweep(node, childRel)) fs.rmSync(path.join(abs, e.name), { recursive: true, force: true })
        else empty = false
      } else if (ours(childRel) && !wanted.has(path.join(node, childRel))) {
        fs.rmSync(path.join(abs, e.name), { force: true })
      } else {
        empty = false
      }
    }
    return empty
  }
  for (const node of list(nodesDir)) {
    if (!node.isDirectory()) continue
    for (const top of ['dev', 'var']) if (sweep(node.name, top) && top !== 'dev') fs.rmSync(path.join(nodesDir, node.name, top), { recursive: true, force: true })
  }
  const dataDir = path.join(emu.data.root, 'data')
  for (const rsc of list(dataDir)) {
    for (const vol of list(path.join(dataDir, rsc.name))) {
      if (!wantedData.has(path.join(rsc.name, vol.name))) fs.rmSync(path.join(dataDir, rsc.name, vol.name), { force: true })
    }
  }
  for (const rd of Object.values(emu.state.resourceDefinitions)) for (const r of Object.values(rd.resources)) linkReplicaFiles(emu, rd, r.node)
}
