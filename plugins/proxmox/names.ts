/**
 * Proxmox volume names and the LINSTOR names behind them. Pure functions; the Perl shim applies the
 * same rules for parse_volname and path (plugins/proxmox/CONTRACT.md), and both sides check the
 * vectors in test/fixtures/proxmox/volnames.json.
 */
import { createHash } from 'node:crypto'
import { isLinstorName } from '../../core/volumes/index.js'

/** A volume name Proxmox uses, understood. */
export interface PveVolume {
  volname: string
  vmid: number
  /** A template's base image (base-<vmid>-...). */
  isBase: boolean
  /** The LINSTOR resource-definition name. */
  resource: string
  /** 'pm': made by linstor-proxmox (pm-<8 hex>_<vmid>, the VM id lives in Aux/pm/vmid). */
  origin: 'pve' | 'pm'
}

const PVE_NAME = /^(vm|base)-([1-9][0-9]{0,8})-([A-Za-z0-9][A-Za-z0-9_.+-]*)$/
const SUBVOL_NAME = /^subvol-([1-9][0-9]{0,8})-disk-([0-9]+)$/
const PM_NAME = /^(pm-[0-9a-f]{8})_([1-9][0-9]{0,8})$/

function sha32(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex').slice(0, 32)
}

/** The resource name for a volname that is not a valid LINSTOR name itself. */
function resourceFor(volname: string): string {
  return isLinstorName(volname) ? volname : `lv-${sha32(volname)}`
}

/** Parses a volname; undefined when it is none of the forms this storage holds. */
export function parseVolname(volname: string): PveVolume | undefined {
  const pm = PM_NAME.exec(volname)
  if (pm !== null) return { volname, vmid: Number(pm[2]), isBase: false, resource: pm[1] as string, origin: 'pm' }
  const pve = PVE_NAME.exec(volname) ?? SUBVOL_NAME.exec(volname)
  if (pve === null) return undefined
  const vmid = Number(volname.startsWith('subvol-') ? pve[1] : pve[2])
  return { volname, vmid, isBase: volname.startsWith('base-'), resource: resourceFor(volname), origin: 'pve' }
}

/** The resource holding a read-only view of a snapshot (container backups, clones from snapshots). */
export function snapshotResource(resource: string, snap: string): string {
  const plain = `snap_${resource}_${snap}`
  return isLinstorName(plain) ? plain : `lvs-${sha32(`${resource}/${snap}`)}`
}

/**
 * The LINSTOR snapshot name of a Proxmox snapshot. linstor-proxmox named them snap_<rd>_<snap>;
 * its volumes keep that scheme so their existing snapshots stay visible after adoption.
 */
export function linstorSnapshotName(v: PveVolume, snap: string): string {
  return v.origin === 'pm' ? `snap_${v.resource}_${snap}` : snap
}

/** The Proxmox name of a LINSTOR snapshot of this volume, or undefined when it is not one of ours. */
export function pveSnapshotName(v: PveVolume, linstorName: string): string | undefined {
  if (v.origin !== 'pm') return linstorName
  const prefix = `snap_${v.resource}_`
  return linstorName.startsWith(prefix) ? linstorName.slice(prefix.length) : undefined
}

/** Proxmox snapshot names (PVE's own rule: a letter, then letters, digits, '-' and '_'; 2-40 chars). */
export function validSnapshotName(snap: string): boolean {
  return /^[A-Za-z][A-Za-z0-9_-]{1,39}$/.test(snap)
}

/** The volname Proxmox sees for a resource: pm- resources carry their VM id as a suffix. */
export function volnameOf(resource: string, props: Readonly<Record<string, string>>): string | undefined {
  if (/^pm-[0-9a-f]{8}$/.test(resource)) {
    const vmid = props['Aux/pm/vmid']
    return vmid !== undefined && /^[1-9][0-9]{0,8}$/.test(vmid) ? `${resource}_${vmid}` : undefined
  }
  const original = props[VOLNAME_PROP]
  const name = original ?? resource
  const v = parseVolname(name)
  return v !== undefined && v.resource.toLowerCase() === resource.toLowerCase() ? name : undefined
}

/** Where a resource records the Proxmox volname it was made for (needed for names hashed into lv-...). */
export const VOLNAME_PROP = 'Aux/linstor-virt/pve-volname'
/** The owning VM id, shared with linstor-proxmox (which lists volumes by it). */
export const VMID_PROP = 'Aux/pm/vmid'
/** The template base volume a linked clone was made from. */
export const PARENT_PROP = 'Aux/linstor-virt/pve-parent'
