/**
 * Proxmox volume names and the LINSTOR names behind them. Pure functions; the Perl shim applies the
 * same rules for parse_volname and path (plugins/proxmox/CONTRACT.md), and both sides check the
 * vectors in test/fixtures/proxmox/volnames.json.
 *
 * The mapping is injective: a volname that is a LINSTOR name is its own resource name, any other
 * one maps to lv-<128-bit hash of the exact volname>; LINSTOR compares names without regard to
 * case, so two volnames that differ only in case reach one resource name, and the second one is
 * refused by the identity check (the resource records its exact volname, core/volumes/names.ts).
 */
import { AUX_PLATFORM_NAME, isLinstorName, nameHash } from '../../core/volumes/index.js'
import type { IdentityExpectation, NamedObject } from '../../core/volumes/index.js'

/** A volume name Proxmox uses, understood. */
export interface PveVolume {
  /** The whole volname, as PVE passes it (`base-<vmid>-<n>/vm-<vmid>-<m>` for a linked clone). */
  volname: string
  /** The volume's own name: the volname without a linked clone's base prefix (PVE's `name`). */
  name: string
  vmid: number
  /** A template's base image (base-<vmid>-...). */
  isBase: boolean
  /** A linked clone's template base, from the volname's prefix (PVE's `basename`, `basevmid`). */
  base?: { volname: string; vmid: number }
  /** The LINSTOR resource-definition name. */
  resource: string
  /** 'pm': made by linstor-proxmox (pm-<8 hex>_<vmid>, the VM id lives in Aux/pm/vmid). */
  origin: 'pve' | 'pm'
}

const VMID = '([1-9][0-9]{0,8})'
const REST = '[A-Za-z0-9][A-Za-z0-9_.+-]*'
const PVE_NAME = new RegExp(`^(vm|base)-${VMID}-${REST}$`)
const SUBVOL_NAME = new RegExp(`^subvol-${VMID}-disk-[0-9]+$`)
const PM_NAME = new RegExp(`^(pm-[0-9a-f]{8})_${VMID}$`)
const BASE_NAME = new RegExp(`^base-${VMID}-${REST}$`)

/** The resource name for a volume's own name that is not a valid LINSTOR name itself. */
function resourceFor(name: string): string {
  return isLinstorName(name) ? name : `lv-${nameHash(name)}`
}

function parseOwn(volname: string): Omit<PveVolume, 'volname' | 'base'> | undefined {
  const pm = PM_NAME.exec(volname)
  if (pm !== null) return { name: volname, vmid: Number(pm[2]), isBase: false, resource: pm[1] as string, origin: 'pm' }
  const pve = PVE_NAME.exec(volname)
  const sub = pve === null ? SUBVOL_NAME.exec(volname) : null
  if (pve === null && sub === null) return undefined
  const vmid = Number(pve !== null ? pve[2] : (sub as RegExpExecArray)[1])
  return { name: volname, vmid, isBase: volname.startsWith('base-'), resource: resourceFor(volname), origin: 'pve' }
}

/**
 * Parses a volname; undefined when it is none of the forms this storage holds. A linked clone is
 * `<base volname>/<own name>`, as PVE's RBD and ZFS plugins name them: the base is a template's
 * `base-<vmid>-...`, the own name a `vm-` or `base-` name (a template made from a linked clone).
 */
export function parseVolname(volname: string): PveVolume | undefined {
  const slash = volname.indexOf('/')
  if (slash < 0) {
    const own = parseOwn(volname)
    return own === undefined ? undefined : { volname, ...own }
  }
  const baseName = volname.slice(0, slash)
  const ownName = volname.slice(slash + 1)
  const base = BASE_NAME.exec(baseName)
  if (base === null || !PVE_NAME.test(ownName)) return undefined
  const own = parseOwn(ownName)
  return own === undefined ? undefined : { volname, ...own, base: { volname: baseName, vmid: Number(base[1]) } }
}

/**
 * The resource holding a read-only view of a snapshot (container backups, clones from snapshots).
 * `snap_<rsc>_<snap>` only where that is unambiguous and free of case: the resource name has no '_'
 * (so the first '_' after snap_ ends it) and neither part has an upper-case letter; otherwise
 * lvs- and 128 bits of a hash of "<rsc>/<snap>" (neither part holds a '/').
 */
export function snapshotResource(resource: string, snap: string): string {
  const plain = `snap_${resource}_${snap}`
  if (/^[a-z0-9-]+$/.test(resource) && /^[a-z0-9_-]+$/.test(snap) && isLinstorName(plain)) return plain
  return `lvs-${nameHash(`${resource}/${snap}`)}`
}

/** The name a snapshot view was given before views were named injectively (left-over views are still found). */
export function legacySnapshotResource(resource: string, snap: string): string {
  const plain = `snap_${resource}_${snap}`
  return isLinstorName(plain) ? plain : `lvs-${nameHash(`${resource}/${snap}`)}`
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

/** Where a resource records the Proxmox volname it was made for (needed for names hashed into lv-...). */
export const VOLNAME_PROP = 'Aux/linstor-virt/pve-volname'
/** The owning VM id, shared with linstor-proxmox (which lists volumes by it). */
export const VMID_PROP = 'Aux/pm/vmid'
/** The template base volume (its bare volname) a linked clone was made from. */
export const PARENT_PROP = 'Aux/linstor-virt/pve-parent'
/** On a snapshot view: the volume and snapshot it shows, as "<volname>@<snap>". */
export const SNAPSHOT_OF_PROP = 'Aux/linstor-virt/pve-snapshot-of'

/**
 * The volname Proxmox sees for a resource, or undefined when it is not a volume of this storage:
 * the platform name it records (linked clones: with their base prefix), else the volname a hashed
 * name kept, else the resource name; pm- resources carry their VM id as a suffix.
 */
export function volnameOf(resource: string, props: Readonly<Record<string, string>>): string | undefined {
  if (/^pm-[0-9a-f]{8}$/.test(resource)) {
    const vmid = props[VMID_PROP]
    return vmid !== undefined && /^[1-9][0-9]{0,8}$/.test(vmid) ? `${resource}_${vmid}` : undefined
  }
  const name = props[AUX_PLATFORM_NAME] ?? props[VOLNAME_PROP] ?? resource
  const v = parseVolname(name)
  return v !== undefined && v.origin === 'pve' && v.resource.toLowerCase() === resource.toLowerCase() ? name : undefined
}

/**
 * What a volume's resource must be (core/volumes/names.ts): the one recording this exact volname;
 * an adopted or older one (recording none) spelled exactly like the volname's resource, and, where
 * its properties imply a volname (linstor-proxmox's VM id, a hashed name's kept volname), that one.
 */
export function volumeIdentity(v: PveVolume): IdentityExpectation {
  return {
    platformName: v.volname,
    noun: 'volume',
    impliedName: (o: NamedObject) => {
      if (v.origin === 'pm') {
        const vmid = o.props[VMID_PROP]
        return vmid === undefined ? undefined : `${o.name}_${vmid}`
      }
      return o.props[VOLNAME_PROP]
    },
  }
}
