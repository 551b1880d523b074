/**
 * The VM's disks as a TM action needs them: which LINSTOR resource backs disk N (the image itself
 * for persistent images and CDROMs, the VM's private clone for CLONE=YES, a volatile resource for
 * swap/fs disks on a linstor system datastore), read from `onevm show -x` or the migrate stdin.
 */
import { PluginError } from '../../core/errors/index.js'
import { checkResourceName, diskResource, volatileResource } from './names.js'
import type { XmlElement } from './xml.js'

export interface OneDisk {
  id: number
  /** The TM driver OpenNebula uses for this disk (linstor for ours). */
  tmMad: string
  /** Image datastore for image disks, system datastore for volatile ones. */
  dsId: string
  /** The backing LINSTOR resource (for disks of this driver). */
  resource: string
  /** The resource belongs to this VM alone (clone or volatile): deleted with the disk. */
  private: boolean
  persistent: boolean
  volatile: boolean
  readonly: boolean
  sizeMiB: number | undefined
  /** Filesystem of a volatile fs disk (FS, or FS_TYPE before 6.0). */
  fs: string | undefined
  format: string | undefined
}

function yes(v: string | undefined): boolean {
  return v !== undefined && v.toUpperCase() === 'YES'
}

/** Every DISK of a VM document, with the resource behind it. */
export function disksOf(vm: XmlElement): OneDisk[] {
  const vmid = vm.get('ID') ?? ''
  return vm.all('TEMPLATE/DISK').flatMap((d): OneDisk[] => {
    const idText = d.get('DISK_ID')
    if (idText === undefined || !/^[0-9]+$/.test(idText)) return []
    const id = Number(idText)
    const source = d.value('SOURCE')
    const volatile = d.value('IMAGE_ID') === undefined && source === undefined
    const clone = yes(d.get('CLONE'))
    const size = d.value('SIZE')
    let resource: string
    if (volatile) resource = volatileResource(vmid, id)
    else if (source === undefined) return []
    else resource = clone ? diskResource(source, vmid, id) : source
    return [
      {
        id,
        tmMad: d.get('TM_MAD') ?? '',
        dsId: d.get('DATASTORE_ID') ?? '',
        resource,
        private: volatile || clone,
        persistent: yes(d.get('PERSISTENT')),
        volatile,
        readonly: yes(d.get('READONLY')),
        sizeMiB: size !== undefined && /^[0-9]+$/.test(size) ? Number(size) : undefined,
        fs: d.value('FS') ?? d.value('FS_TYPE'),
        format: d.value('FORMAT') ?? d.value('DRIVER'),
      },
    ]
  })
}

/** Disk N of the VM, which must be one of this driver's. */
export function diskOf(vm: XmlElement, diskId: number): OneDisk {
  const d = disksOf(vm).find((x) => x.id === diskId)
  if (d === undefined) throw new PluginError('ONE_DOCUMENT_INVALID', `VM ${vm.get('ID') ?? '?'} has no disk ${diskId}`)
  checkResourceName(d.resource, `the LINSTOR resource of disk ${diskId}`)
  return d
}

/** The disks this driver serves (TM_MAD linstor). */
export function linstorDisks(vm: XmlElement, tmName = 'linstor'): OneDisk[] {
  return disksOf(vm).filter((d) => d.tmMad === tmName)
}

/** The host the VM runs on (or last ran on): the newest history record. */
export function currentHost(vm: XmlElement): string | undefined {
  const hs = vm.all('HISTORY_RECORDS/HISTORY')
  return hs[hs.length - 1]?.value('HOSTNAME')
}
