/**
 * Layer stacks per replica: which layers a resource instantiates on its node, which of them its
 * satellite actually deploys, and the device each one provides. Followed from linstor-server:
 *
 * - CtrlRscLayerDataFactory / AbsRscLayerHelper: a resource's layer data follows the definition's
 *   layer stack (top first, STORAGE last). A DRBD diskless replica has nothing but a diskless
 *   STORAGE child below DRBD.
 * - RscNvmeLayerHelper.recalculateVolatilePropertiesImpl: an NVMe initiator ignores every layer
 *   below NVMe (LayerIgnoreReason.NVME_INITIATOR); an NVMe target tells its ancestors to ignore
 *   their data paths (NVME_TARGET): the target exports the storage below, the layers above run on
 *   the initiators. isExpectedToProvideDevice: only an initiator's NVMe layer provides a device.
 * - RscLuksLayerHelper.recalculateVolatilePropertiesImpl: without the controller's master key
 *   (CtrlSecurityObjects.areAllSet false) a LUKS resource that is not inactive or being deleted
 *   gets LayerIgnoreReason.LUKS_MISSING_KEY: LUKS and the layers above it are not deployed.
 * - Device paths: DRBD `/dev/drbd<minor>` (DrbdLayer), LUKS `/dev/mapper/Linstor-Crypt-<id>`
 *   (CryptSetupCommands.getLuksVolumePath), NVMe initiator `/dev/nvme<ctrl>n<nsid>` with nsid =
 *   volume number + 1 (NvmeUtils.setDevicePaths, createNamespace), STORAGE the backing volume
 *   (views.ts backingDevice).
 *
 * The emulator keeps one layer stack per definition (every replica of an RD uses it), see
 * docs/emulator.md.
 */
import type { Emu } from './context.js'
import type { ResourceDefinitionState, ResourceState } from './model.js'
import { nameKey } from './names.js'

/** The resource property naming an initiator's target (InternalApiConsts.PROP_NVME_TARGET_NODE_NAME). */
export const NVME_TARGET_PROP = 'NvmeTargetNodeName'

export function hasLayer(rd: ResourceDefinitionState, layer: string): boolean {
  return rd.layerStack.includes(layer)
}

export function hasDrbd(rd: ResourceDefinitionState): boolean {
  return hasLayer(rd, 'DRBD')
}

/** The layers this replica instantiates, top first. */
export function replicaLayers(rd: ResourceDefinitionState, r: ResourceState): string[] {
  const stack = rd.layerStack
  if (stack.includes('DRBD') && r.kind !== 'diskful' && r.nvmeInitiator !== true) return ['DRBD', 'STORAGE']
  return [...stack]
}

/** The layers its satellite deploys (the others carry an ignore reason). */
export function deployedLayers(emu: Emu, rd: ResourceDefinitionState, r: ResourceState): string[] {
  let layers = replicaLayers(rd, r)
  const nvme = layers.indexOf('NVME')
  if (nvme >= 0) {
    // Initiator: nothing below NVMe; target: nothing above it.
    layers = r.nvmeInitiator === true ? layers.slice(0, nvme + 1) : layers.slice(nvme)
  }
  const luks = layers.indexOf('LUKS')
  if (luks >= 0 && luksKeyMissing(emu, r)) layers = layers.slice(luks + 1)
  return layers
}

/** LUKS_MISSING_KEY: the controller has no master key and the resource is neither inactive nor deleted. */
export function luksKeyMissing(emu: Emu, r: ResourceState): boolean {
  return emu.masterKeyEntered !== true && !r.inactive
}

/** The LUKS layer of this replica cannot be deployed for want of the master key. */
export function luksLocked(emu: Emu, rd: ResourceDefinitionState, r: ResourceState): boolean {
  return replicaLayers(rd, r).includes('LUKS') && luksKeyMissing(emu, r)
}

/** LuksVlmData identifier: `<resource><suffix>_<volume number, 5 digits>` (the LVM naming). */
export function luksIdentifier(rd: ResourceDefinitionState, vlmNr: number): string {
  return `${rd.name}_${String(vlmNr).padStart(5, '0')}`
}

export function luksDevice(rd: ResourceDefinitionState, vlmNr: number): string {
  return `/dev/mapper/Linstor-Crypt-${luksIdentifier(rd, vlmNr)}`
}

export function nvmeDevice(r: ResourceState, vlmNr: number): string {
  return `/dev/nvme${r.nvmeCtrl ?? 0}n${vlmNr + 1}`
}

/** The lowest NVMe controller index no initiator on the node uses (the kernel's numbering). */
export function allocateNvmeCtrl(emu: Emu, node: string): number {
  const used = new Set<number>()
  for (const rd of Object.values(emu.state.resourceDefinitions)) {
    const r = rd.resources[nameKey(node)]
    if (r?.nvmeInitiator === true && r.nvmeCtrl !== undefined) used.add(r.nvmeCtrl)
  }
  let n = 0
  while (used.has(n)) n++
  return n
}

/** The device a layer of this replica provides for a volume (undefined: none, or not deployed). */
export function layerDevice(emu: Emu, rd: ResourceDefinitionState, r: ResourceState, layer: string, vlmNr: number, minor: number, backing: string | undefined): string | undefined {
  if (!deployedLayers(emu, rd, r).includes(layer)) return undefined
  switch (layer) {
    case 'DRBD':
      return `/dev/drbd${minor}`
    case 'LUKS':
      return luksDevice(rd, vlmNr)
    case 'NVME':
      return r.nvmeInitiator === true ? nvmeDevice(r, vlmNr) : undefined
    case 'STORAGE':
      return backing
    default:
      return undefined
  }
}

/** The device of the topmost layer (the volume's device_path): absent when that layer is not deployed or provides none. */
export function topDevice(emu: Emu, rd: ResourceDefinitionState, r: ResourceState, vlmNr: number, minor: number, backing: string | undefined): string | undefined {
  const top = replicaLayers(rd, r)[0] ?? 'STORAGE'
  return layerDevice(emu, rd, r, top, vlmNr, minor, backing)
}

/**
 * The device files the emulated satellite shows for a replica's volume, relative to its node's
 * device root: DRBD's by-res link and minor, an initiator's NVMe namespace, the LUKS mapping, and
 * for definitions without DRBD the backing volume of a diskful replica (what a VM uses where the
 * data is). A locked LUKS layer keeps its files (the satellites keep running across a controller
 * restart); the views report no device for it.
 */
export function deviceFiles(rd: ResourceDefinitionState, r: ResourceState, vlmNr: number, minor: number, backing: string | undefined): string[] {
  const layers = replicaLayers(rd, r)
  const out: string[] = []
  const nvme = layers.indexOf('NVME')
  const visible = nvme < 0 ? layers : r.nvmeInitiator === true ? layers.slice(0, nvme + 1) : layers.slice(nvme)
  if (visible.includes('DRBD')) out.push(`dev/drbd/by-res/${rd.name}/${vlmNr}`, `dev/drbd${minor}`)
  if (visible.includes('LUKS')) out.push(luksDevice(rd, vlmNr).slice(1))
  if (visible.includes('NVME') && r.nvmeInitiator === true) out.push(nvmeDevice(r, vlmNr).slice(1))
  if (!layers.includes('DRBD') && r.kind === 'diskful' && visible.includes('STORAGE') && backing !== undefined) out.push(backing.replace(/^\/+/, ''))
  return out
}

/** The backing volume of a diskful replica (LvmProvider `<rsc>_<vlm 5 digits>`; ZFS zvols; FILE images). */
export function backingDevice(emu: Emu, rd: ResourceDefinitionState, r: ResourceState, vlmNr: number): string | undefined {
  if (r.kind !== 'diskful') return undefined
  const pool = emu.state.nodes[nameKey(r.node)]?.pools[nameKey(r.storPool)]
  const lv = `${rd.name}_${String(vlmNr).padStart(5, '0')}`
  const driverName = pool?.props['StorDriver/StorPoolName'] ?? pool?.props['StorDriver/LvmVg'] ?? pool?.name ?? 'pool'
  switch (pool?.providerKind) {
    case 'LVM':
    case 'LVM_THIN':
      return `/dev/${driverName.split('/')[0] ?? driverName}/${lv}`
    case 'ZFS':
    case 'ZFS_THIN':
      return `/dev/zvol/${driverName}/${lv}`
    default:
      return `/var/lib/linstor-file/${lv}.img`
  }
}

/** The device files of every volume of a replica (see deviceFiles). */
export function replicaFiles(emu: Emu, rd: ResourceDefinitionState, r: ResourceState, vlmNr: number, minor: number): string[] {
  return deviceFiles(rd, r, vlmNr, minor, backingDevice(emu, rd, r, vlmNr))
}

/** The controller knows the replica is in use: DRBD reports Primary (other layers report no role). */
export function knownInUse(rd: ResourceDefinitionState, r: ResourceState): boolean {
  return r.role === 'Primary' && hasDrbd(rd)
}
