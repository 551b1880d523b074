/**
 * Creating resource definitions and volume definitions (shared by the RD/VD endpoints, spawn,
 * clone and snapshot restore): name and external-name handling, layer stacks, minor numbers.
 */
import { ApiRcError, MASK_VLM_DFN, RC } from './api-call-rc.js'
import type { ReplyBuilder } from './api-call-rc.js'
import type { Emu } from './context.js'
import type { Props, ResourceDefinitionState, ResourceGroupState, VolumeDefinitionState } from './model.js'
import { DEFAULT_RSC_GRP, findPool, findRg, replicas } from './model.js'
import { checkResourceName, nameKey, resourceNameFromExternal } from './names.js'
import { validateProps } from './props.js'
import { checkSpace, linkReplicaFiles } from './replicas.js'

const LAYERS = new Set(['DRBD', 'LUKS', 'STORAGE', 'NVME', 'WRITECACHE', 'CACHE', 'BCACHE'])
/** DRBD's size limits in KiB (MetaData.DRBD_MIN_NET_kiB / DRBD_MAX_kiB). */
export const MIN_VLM_KIB = 4
export const MAX_VLM_KIB = 2 ** 40

export function requireRd(emu: Emu, name: string): ResourceDefinitionState {
  const rd = emu.state.resourceDefinitions[nameKey(name)]
  if (rd === undefined) throw new ApiRcError(RC.FAIL_NOT_FOUND_RSC_DFN, `Resource definition '${name}' not found.`)
  return rd
}

export function newResourceGroup(emu: Emu, name: string): ResourceGroupState {
  return { name, description: '', props: {}, selectFilter: {}, uuid: emu.uuid(), volumeGroups: {} }
}

/** The default group is created on demand, like the controller does. */
export function ensureDefaultGroup(emu: Emu): ResourceGroupState {
  const existing = findRg(emu.state, DEFAULT_RSC_GRP)
  if (existing !== undefined) return existing
  const rg = newResourceGroup(emu, DEFAULT_RSC_GRP)
  emu.state.resourceGroups[nameKey(DEFAULT_RSC_GRP)] = rg
  return rg
}

/** Validates a layer list; appends STORAGE with a warning when missing. */
export function normaliseLayers(list: unknown, reply: ReplyBuilder | undefined): string[] | undefined {
  if (list === undefined || list === null) return undefined
  if (!Array.isArray(list)) throw new ApiRcError(RC.FAIL_INVLD_LAYER_STACK, 'The layer list must be a list of layer names.')
  const out = list.map((x) => String(x).toUpperCase())
  for (const l of out) if (!LAYERS.has(l)) throw new ApiRcError(RC.FAIL_INVLD_LAYER_KIND, `Unknown layer kind '${l}'.`)
  if (out.length === 0) return undefined
  if (out[out.length - 1] !== 'STORAGE') {
    out.push('STORAGE')
    reply?.add(RC.WARN_STORAGE_KIND_ADDED, 'No storage layer was given; STORAGE was appended to the layer list.')
  }
  return out
}

export interface RdSpec {
  name?: string | undefined
  externalName?: string | undefined
  props?: unknown
  layerStack?: string[] | undefined
  resourceGroup?: string | undefined
  peerSlots?: number | undefined
  secret?: string | undefined
  transportType?: string | undefined
}

export function createRd(emu: Emu, spec: RdSpec, reply: ReplyBuilder): ResourceDefinitionState {
  let name = spec.name ?? ''
  const ext = spec.externalName !== undefined && spec.externalName !== '' ? spec.externalName : undefined
  if (ext !== undefined) {
    const clash = Object.values(emu.state.resourceDefinitions).find((rd) => rd.externalName === ext)
    if (clash !== undefined) throw new ApiRcError(RC.FAIL_EXISTS_EXT_NAME, `A resource definition with the external name '${ext}' already exists.`)
  }
  if (name === '') {
    if (ext === undefined) throw new ApiRcError(RC.FAIL_INVLD_RSC_NAME, 'Neither a resource name nor an external name was given.')
    name = resourceNameFromExternal(ext, (k) => emu.state.resourceDefinitions[k] !== undefined)
  }
  const bad = checkResourceName(name)
  if (bad !== undefined) throw new ApiRcError(RC.FAIL_INVLD_RSC_NAME, bad)
  if (emu.state.resourceDefinitions[nameKey(name)] !== undefined) {
    throw new ApiRcError(RC.FAIL_EXISTS_RSC_DFN, `A resource definition with the name '${name}' already exists`, { objRefs: { RscDfn: name } })
  }
  let rg: ResourceGroupState
  if (spec.resourceGroup !== undefined && spec.resourceGroup !== '') {
    const found = findRg(emu.state, spec.resourceGroup)
    if (found === undefined) throw new ApiRcError(RC.FAIL_NOT_FOUND_RSC_GRP, `Resource group '${spec.resourceGroup}' not found.`)
    rg = found
  } else {
    rg = ensureDefaultGroup(emu)
  }
  const props: Props = validateProps(spec.props)
  const peerSlotsProp = Number(props['PeerSlotsNewResource'] ?? rg.props['PeerSlotsNewResource'] ?? emu.state.controllerProps['PeerSlotsNewResource'])
  const rd: ResourceDefinitionState = {
    name,
    props,
    flags: [],
    uuid: emu.uuid(),
    resourceGroup: rg.name,
    layerStack: spec.layerStack ?? ['DRBD', 'STORAGE'],
    peerSlots: spec.peerSlots ?? rg.peerSlots ?? (Number.isFinite(peerSlotsProp) && peerSlotsProp > 0 ? peerSlotsProp : 7),
    secret: spec.secret ?? emu.secret(),
    transportType: spec.transportType ?? 'IP',
    quorumSetBy: props['DrbdOptions/Resource/quorum'] !== undefined ? 'user' : 'linstor',
    volumeDefinitions: {},
    resources: {},
    snapshots: {},
    connections: {},
  }
  if (ext !== undefined) rd.externalName = ext
  emu.state.resourceDefinitions[nameKey(name)] = rd
  reply.add(RC.CREATED, `New resource definition '${name}' created.`, {
    details: `Resource definition '${name}' UUID is: ${rd.uuid}`,
    objRefs: { RscDfn: name, UUID: rd.uuid },
  })
  return rd
}

function minorRange(emu: Emu): [number, number] {
  const m = /^(\d+)-(\d+)$/.exec(emu.state.controllerProps['MinorNrAutoRange'] ?? '')
  return m ? [Number(m[1]), Number(m[2])] : [1000, 49999]
}

/** Minors in use (during a bulk load only those of the pending definitions; allocateMinor adds the rest). */
export function usedMinors(emu: Emu): Set<number> {
  const used = new Set<number>()
  for (const rd of emu.bulk?.pending ?? Object.values(emu.state.resourceDefinitions)) for (const vd of Object.values(rd.volumeDefinitions)) used.add(vd.minor)
  return used
}

/** Lowest free minor in the auto range (BitmapPool.autoAllocate). */
export function allocateMinor(emu: Emu, wanted?: number): number {
  const pending = usedMinors(emu)
  const settled = emu.bulk?.minors
  const used = { has: (m: number): boolean => pending.has(m) || settled?.has(m) === true }
  if (wanted !== undefined) {
    if (!Number.isInteger(wanted) || wanted < 0 || wanted > 1048575) {
      throw new ApiRcError(RC.FAIL_INVLD_MINOR_NR, `The specified minor number '${wanted}' is invalid. Minor numbers have to be in range of 0 - 1048575.`)
    }
    if (used.has(wanted)) throw new ApiRcError(RC.FAIL_INVLD_MINOR_NR, `The specified minor number '${wanted}' is already in use.`)
    return wanted
  }
  const [min, max] = minorRange(emu)
  // A bulk load never frees a minor, so its search resumes where the previous one ended.
  const resume = emu.bulk?.minorSearch
  for (let m = resume !== undefined && resume.start === min ? Math.max(min, resume.next) : min; m <= max; m++) {
    if (used.has(m)) continue
    if (emu.bulk !== undefined) emu.bulk.minorSearch = { start: min, next: m }
    return m
  }
  throw new ApiRcError(RC.FAIL_POOL_EXHAUSTED_MINOR_NR, `Could not find free minor number in range ${min} - ${max}.`)
}

export interface VdSpec {
  volumeNumber?: number | undefined
  sizeKib: unknown
  props?: unknown
  flags?: unknown
  minor?: number | undefined
}

export function checkSize(size: unknown): number {
  if (typeof size !== 'number' || !Number.isInteger(size) || size < MIN_VLM_KIB || size > MAX_VLM_KIB) {
    throw new ApiRcError(RC.FAIL_INVLD_VLM_SIZE, `The specified volume size '${String(size)}' is invalid. It must be between ${MIN_VLM_KIB} KiB and ${MAX_VLM_KIB} KiB.`)
  }
  return size
}

export function createVd(emu: Emu, rd: ResourceDefinitionState, spec: VdSpec, reply: ReplyBuilder): VolumeDefinitionState {
  const size = checkSize(spec.sizeKib)
  let nr = spec.volumeNumber
  if (nr === undefined) {
    nr = 0
    while (rd.volumeDefinitions[String(nr)] !== undefined) nr++
  }
  if (!Number.isInteger(nr) || nr < 0 || nr > 65534) throw new ApiRcError(RC.FAIL_INVLD_VLM_NR, `The specified volume number '${nr}' is invalid.`)
  if (rd.volumeDefinitions[String(nr)] !== undefined) {
    throw new ApiRcError(RC.FAIL_EXISTS_VLM_DFN, `A volume definition with the number ${nr} already exists in resource definition '${rd.name}'.`)
  }
  const props = validateProps(spec.props)
  const flags = Array.isArray(spec.flags) ? spec.flags.map(String).filter((f) => f !== '') : []
  // A deployed thick pool must have room for the new volume on every diskful replica.
  for (const r of replicas(rd)) {
    if (r.kind !== 'diskful') continue
    const node = emu.state.nodes[nameKey(r.node)]
    if (node !== undefined && findPool(node, r.storPool) !== undefined) checkSpace(emu, node, r.storPool, size, rd.name)
  }
  const vd: VolumeDefinitionState = { volumeNumber: nr, sizeKib: size, props, flags, minor: allocateMinor(emu, spec.minor), uuid: emu.uuid() }
  rd.volumeDefinitions[String(nr)] = vd
  for (const r of replicas(rd)) {
    r.volumes[String(nr)] = { props: {}, uuid: emu.uuid() }
    linkReplicaFiles(emu, rd, r.node)
  }
  reply.add(RC.CREATED | MASK_VLM_DFN, `New volume definition with number '${nr}' of resource definition '${rd.name}' created.`, {
    details: `Volume definition with number '${nr}' of resource definition '${rd.name}' UUID is: ${vd.uuid}`,
    objRefs: { RscDfn: rd.name, VlmNr: String(nr) },
  })
  return vd
}
