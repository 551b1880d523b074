/**
 * Names OpenNebula and LINSTOR share, kept identical to LINBIT's addon-linstor so that existing
 * datastores switch drivers without moving data: image SOURCE strings, VM-private clones, volatile
 * disks and disk snapshots. Also the `host:path` locations of TM arguments.
 */
import { PluginError } from '../../core/errors/index.js'
import { isLinstorName } from '../../core/volumes/index.js'

/** LINSTOR's rule for resource names: a letter or '_' first, then letters, digits, '_' and '-', at most 48. */

export const imageResource = (imageId: string | number): string => `OpenNebula-Image-${imageId}`
/** A non-persistent (CLONE=YES) disk's private copy of image SOURCE. */
export const diskResource = (source: string, vmid: string | number, diskId: string | number): string => `${source}-vm${vmid}-disk${diskId}`
/** A volatile disk (swap or fs) of a VM on a linstor system datastore. */
export const volatileResource = (vmid: string | number, diskId: string | number): string => `OpenNebula-Volatile-vm${vmid}-disk${diskId}`
/** A disk snapshot (TM snap_* and DS snap_* share it: PERSISTENT_SNAPSHOTS copies the list into the image). */
export const snapshotName = (snapId: string | number): string => `OpenNebula-Snap-${snapId}`
/** A temporary snapshot a backup reads from. */
export const backupSnapshotName = (vmid: string | number, diskId: string | number): string => `OpenNebula-Backup-vm${vmid}-disk${diskId}`

/** Aux properties on the definitions this driver makes (per-VM disk monitoring reads them). */
export const AUX_VM_ID = 'Aux/one/VM_ID'
export const AUX_DISK_ID = 'Aux/one/DISK_ID'
export const AUX_DS_ID = 'Aux/one/DS_ID'
export const AUX_IMAGE_ID = 'Aux/one/IMAGE_ID'

/** Refuses what LINSTOR would refuse, before any call, naming where the name came from. */
export function checkResourceName(name: string, what: string): string {
  if (!isLinstorName(name)) {
    throw new PluginError('ONE_DOCUMENT_INVALID', `${what} '${name}' is not a LINSTOR resource name (a letter, then letters, digits, '_' or '-', at most 48 characters)`)
  }
  return name
}

export interface Location {
  /** Host part; undefined when the argument had no colon (MVDS/CPDS get a bare SOURCE). */
  host: string | undefined
  path: string
}

/** `host:path` → parts. oned never puts a colon in a host name it writes here. */
export function parseLocation(arg: string): Location {
  const i = arg.indexOf(':')
  if (i < 0) return { host: undefined, path: arg }
  return { host: arg.slice(0, i), path: arg.slice(i + 1) }
}

export interface SystemPath {
  /** The VM directory, with oned's double slashes folded. */
  dir: string
  /** The disk number when the path is `<dir>/disk.N`. */
  diskId?: number
  vmid: string
  /** The system datastore id (the directory above the VM's). */
  dsId: string
}

/** `/var/lib/one//datastores/0/42/disk.1` → dir /var/lib/one/datastores/0/42, disk 1, VM 42, DS 0. */
export function parseSystemPath(path: string): SystemPath {
  const norm = path.replace(/\/{2,}/g, '/').replace(/\/$/, '')
  if (!norm.startsWith('/')) throw new PluginError('ONE_DOCUMENT_INVALID', `'${path}' is not an absolute path in a system datastore`)
  const parts = norm.split('/')
  // oned writes <DATASTORE_LOCATION>/<ds>/<vm>: a '.' or '..' step would make the VM directory
  // (linked into, copied, removed with rm -rf on the host) a different folder than it spells.
  if (parts.includes('..') || parts.includes('.')) throw new PluginError('ONE_DOCUMENT_INVALID', `'${path}' climbs with '.' or '..': not a VM directory path`)
  const last = parts[parts.length - 1] ?? ''
  const disk = /^disk\.([0-9]+)$/.exec(last)
  const dirParts = disk !== null ? parts.slice(0, -1) : parts
  const vmid = dirParts[dirParts.length - 1] ?? ''
  const dsId = dirParts[dirParts.length - 2] ?? ''
  if (!/^[0-9]+$/.test(vmid) || !/^[0-9]+$/.test(dsId)) throw new PluginError('ONE_DOCUMENT_INVALID', `'${path}' is not <datastores>/<ds id>/<vm id>[/disk.N]`)
  return { dir: dirParts.join('/'), ...(disk !== null ? { diskId: Number(disk[1]) } : {}), vmid, dsId }
}

/** A whole number argument (ids, sizes) as oned writes it, from `min` to `max`. */
export function intArgument(v: string | undefined, what: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined || !/^-?[0-9]+$/.test(v) || Number(v) < min || Number(v) > max || !Number.isSafeInteger(Number(v))) {
    const range = max < Number.MAX_SAFE_INTEGER ? ` from ${min} to ${max}` : min > 0 ? ` of at least ${min}` : ''
    throw new PluginError('ONE_DOCUMENT_INVALID', `${what} must be a whole number${range}, got '${v ?? ''}'`)
  }
  return Number(v)
}

/** The largest size in MiB whose byte count is still exact (about 8 EiB): larger ones are refused up front. */
export const MAX_SIZE_MIB = Math.floor(Number.MAX_SAFE_INTEGER / (1024 * 1024))
