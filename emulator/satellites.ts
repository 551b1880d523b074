/**
 * The emulated satellites' DRBD side: each replica's role (Primary/Secondary) and I/O on the
 * volume data. Promotion follows DRBD's rules: a second Primary is refused unless
 * allow-two-primaries is enabled for that pair (resource connection → RD → RG → controller),
 * never more than two Primaries, a diskless replica needs an online diskful peer, and the node must
 * be up. Reads and writes need the node to hold the volume open (Primary), as a VM would.
 */
import type { Emu } from './context.js'
import type { ResourceDefinitionState, ResourceState } from './model.js'
import { connectionKey, findRg, prioProp, replicas } from './model.js'
import { nameKey } from './names.js'
import { isYes } from './props.js'
import { NVME_TARGET_PROP, hasDrbd, luksLocked } from './layers.js'
import { recordWrite } from './proxy.js'

export class SatelliteError extends Error {
  readonly status: number
  constructor(status: number, message: string) {
    super(message)
    this.name = 'SatelliteError'
    this.status = status
  }
}

const TWO_PRIMARIES = 'DrbdOptions/Net/allow-two-primaries'

/** allow-two-primaries for the connection between two nodes of a resource. */
export function allowTwoPrimaries(emu: Emu, rd: ResourceDefinitionState, a: string, b: string): boolean {
  const conn = rd.connections[connectionKey(a, b)]
  return isYes(prioProp(TWO_PRIMARIES, conn?.props, rd.props, findRg(emu.state, rd.resourceGroup)?.props, emu.state.controllerProps))
}

export function lookupReplica(emu: Emu, rscName: string, nodeName: string): { rd: ResourceDefinitionState; r: ResourceState } {
  const rd = emu.state.resourceDefinitions[nameKey(rscName)]
  if (rd === undefined) throw new SatelliteError(404, `resource '${rscName}' does not exist`)
  const r = rd.resources[nameKey(nodeName)]
  if (r === undefined) throw new SatelliteError(404, `resource '${rd.name}' is not deployed on node '${nodeName}'`)
  return { rd, r }
}

/** drbdadm primary: returns the new role or throws a SatelliteError like DRBD's refusal. */
export function openReplica(emu: Emu, rscName: string, nodeName: string): ResourceState {
  const { rd, r } = lookupReplica(emu, rscName, nodeName)
  const node = emu.state.nodes[nameKey(r.node)]
  if (node === undefined || !node.online) throw new SatelliteError(409, `node '${nodeName}' is offline`)
  if (r.role === 'Primary') return r
  if (r.inactive) throw new SatelliteError(409, `resource '${rd.name}' is inactive on node '${r.node}'`)
  if (luksLocked(emu, rd, r)) {
    throw new SatelliteError(409, `resource '${rd.name}' is not deployed on node '${r.node}': its LUKS layer has no key (the controller's master passphrase is not entered)`)
  }
  if (!hasDrbd(rd)) return openWithoutDrbd(emu, rd, r)
  if (r.kind !== 'diskful') {
    const peer = replicas(rd).find((p) => p.kind === 'diskful' && !p.inactive && emu.state.nodes[nameKey(p.node)]?.online === true && !luksLocked(emu, rd, p))
    if (peer === undefined) throw new SatelliteError(409, `State change failed: (-2) Need access to UpToDate data (resource '${rd.name}' on '${r.node}' is diskless)`)
  }
  if (!hasQuorum(emu, rd)) {
    throw new SatelliteError(409, `State change failed: No quorum (resource '${rd.name}' on '${r.node}' sees too few of its peers)`)
  }
  const primaries = replicas(rd).filter((p) => p.role === 'Primary' && p !== r)
  if (primaries.length >= 2) throw new SatelliteError(409, `State change failed: (-1) Multiple primaries not allowed by config (already Primary on ${primaries.map((p) => p.node).join(', ')})`)
  for (const p of primaries) {
    if (!allowTwoPrimaries(emu, rd, r.node, p.node)) {
      throw new SatelliteError(409, `State change failed: (-1) Multiple primaries not allowed by config (resource '${rd.name}' is Primary on '${p.node}')`)
    }
  }
  // A tie-breaker that is promoted becomes an ordinary diskless replica (ResourceStateEventHandler).
  if (r.kind === 'tiebreaker') r.kind = 'diskless'
  r.role = 'Primary'
  return r
}

/**
 * Opening a volume whose stack has no DRBD: no roles, no quorum, nothing keeps a second host from
 * opening it too. An NVMe initiator needs its target's node up (the namespace is exported there);
 * a target or a storage-only replica opens the backing volume on its own node.
 */
function openWithoutDrbd(emu: Emu, rd: ResourceDefinitionState, r: ResourceState): ResourceState {
  if (r.nvmeInitiator === true) {
    const target = r.props[NVME_TARGET_PROP]
    const t = target === undefined ? undefined : rd.resources[nameKey(target)]
    if (t === undefined || emu.state.nodes[nameKey(t.node)]?.online !== true) {
      throw new SatelliteError(409, `NVMe target of resource '${rd.name}' (node '${target ?? '?'}') is not reachable from '${r.node}'`)
    }
  } else if (r.kind !== 'diskful') {
    throw new SatelliteError(409, `resource '${rd.name}' has no device on node '${r.node}'`)
  }
  r.role = 'Primary'
  return r
}

/**
 * DRBD quorum as the emulator models it: with DrbdOptions/Resource/quorum = majority (or a number)
 * on the RD, RG or controller, a node may only become Primary while it reaches more than half of
 * the voters (diskful replicas and voting diskless ones such as tie-breakers; DRBD clients do not
 * vote) that are online; offline nodes are unreachable (a cluster-wide count, not per partition).
 */
export function hasQuorum(emu: Emu, rd: ResourceDefinitionState): boolean {
  const setting = prioProp('DrbdOptions/Resource/quorum', rd.props, findRg(emu.state, rd.resourceGroup)?.props, emu.state.controllerProps)
  if (setting === undefined || setting === 'off') return true
  const voters = replicas(rd).filter((p) => !p.inactive && (p.kind !== 'diskless' || !p.client))
  const reachable = voters.filter((p) => emu.state.nodes[nameKey(p.node)]?.online === true)
  const needed = setting === 'majority' ? Math.floor(voters.length / 2) + 1 : setting === 'all' ? voters.length : Number(setting)
  return Number.isFinite(needed) && reachable.length >= needed
}

/** drbdadm secondary (idempotent). */
export function closeReplica(emu: Emu, rscName: string, nodeName: string): ResourceState {
  const { r } = lookupReplica(emu, rscName, nodeName)
  r.role = 'Secondary'
  return r
}

function checkIo(emu: Emu, rscName: string, nodeName: string, vlmNr: number, offset: number, length: number): { rd: ResourceDefinitionState } {
  const { rd, r } = lookupReplica(emu, rscName, nodeName)
  const vd = rd.volumeDefinitions[String(vlmNr)]
  if (vd === undefined) throw new SatelliteError(404, `volume ${vlmNr} of resource '${rd.name}' does not exist`)
  if (emu.state.nodes[nameKey(r.node)]?.online !== true) throw new SatelliteError(409, `node '${nodeName}' is offline`)
  if (r.role !== 'Primary') throw new SatelliteError(409, `resource '${rd.name}' is not open (Primary) on node '${r.node}'`)
  if (!Number.isInteger(offset) || offset < 0 || !Number.isInteger(length) || length < 0 || offset + length > vd.sizeKib * 1024) {
    throw new SatelliteError(416, `range ${offset}+${length} is outside volume ${vlmNr} (${vd.sizeKib * 1024} bytes)`)
  }
  return { rd }
}

/** Writes through the node's open device; true when a DRBD Proxy buffer took the data (the state changed). */
export function writeVolume(emu: Emu, rscName: string, nodeName: string, vlmNr: number, offset: number, data: Buffer): boolean {
  const { rd } = checkIo(emu, rscName, nodeName, vlmNr, offset, data.length)
  emu.data.write(nameKey(rd.name), vlmNr, offset, data)
  return hasDrbd(rd) && recordWrite(emu, rd, nodeName, data.length)
}

export function readVolume(emu: Emu, rscName: string, nodeName: string, vlmNr: number, offset: number, length: number): Buffer {
  const { rd } = checkIo(emu, rscName, nodeName, vlmNr, offset, length)
  return emu.data.read(nameKey(rd.name), vlmNr, offset, length)
}

/** A node going down loses its Primary roles (the VM on it died with it). */
export function setNodeOnline(emu: Emu, nodeName: string, online: boolean): boolean {
  const node = emu.state.nodes[nameKey(nodeName)]
  if (node === undefined) return false
  node.online = online
  if (!online) {
    for (const rd of Object.values(emu.state.resourceDefinitions)) {
      const r = rd.resources[nameKey(node.name)]
      if (r !== undefined) r.role = 'Secondary'
    }
  }
  return true
}
