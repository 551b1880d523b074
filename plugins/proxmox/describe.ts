/**
 * A linstor storage of storage.cfg as `linstor-virt status` shows it: which LINSTOR resources are
 * its volumes (the same rule as list_images: the storage's resource group, and a name that is a
 * Proxmox volname or records one) and the volid Proxmox knows each by.
 */
import { policyGroupName } from '../../core/placement/index.js'
import { SNAPSHOT_OF_PROP, VMID_PROP, parseVolname, volnameOf } from './names.js'
import { proxmoxSettings } from './settings.js'
import type { DescribedPlatformStorage } from '../../core/protocol/index.js'

/** What status knows of one storage.cfg section (`linstor: <storeid>`). */
export interface ProxmoxStorageInput {
  storeid: string
  /** The section's keys as PVE parses them (strings; booleans and numbers as written). */
  scfg: Readonly<Record<string, unknown>>
  /** This node's name (PVE's nodename). */
  node: string
  /** /etc/pve/priv/storage/<storeid>.linstor-token when it exists (the Perl shim sends the same). */
  tokenFile?: string
}

/** Its volumes are named by their volid, storeid:volname. */
export interface DescribedStorage extends DescribedPlatformStorage<'proxmox'> {
  resourceGroup: string
}

/** @throws ConfigError naming each bad storage.cfg key, as the storage's own operations would. */
export function describeStorage(input: ProxmoxStorageInput): DescribedStorage {
  const s = proxmoxSettings({ storeid: input.storeid, node: input.node, scfg: input.scfg, ...(input.tokenFile !== undefined ? { tokenFile: input.tokenFile } : {}) })
  const group = policyGroupName(s.policy)
  const key = group.toLowerCase()
  const c = s.core
  const text = (k: string): string | undefined => (typeof c[k] === 'string' ? (c[k]) : undefined)
  const connection = Object.fromEntries(['controllers', 'tokenFile', 'caFile', 'certFile', 'keyFile'].flatMap((k) => (text(k) !== undefined ? [[k, text(k)]] : [])))
  return {
    platform: 'proxmox',
    id: s.storeid,
    label: `proxmox storage ${s.storeid}`,
    resourceGroup: group,
    connection,
    volumeOf: (rd) => {
      if ((rd.resourceGroup ?? '').toLowerCase() !== key) return undefined
      const volname = volnameOf(rd.name, rd.props)
      if (volname !== undefined) {
        const v = parseVolname(volname)
        return { name: `${s.storeid}:${volname}`, ...(v !== undefined ? { vm: String(v.vmid) } : {}) }
      }
      const of = rd.props[SNAPSHOT_OF_PROP]
      if (of !== undefined) {
        const vmid = rd.props[VMID_PROP] ?? parseVolname(of.split('@')[0] ?? '')?.vmid
        return { name: `${s.storeid}:${of}`, note: 'snapshot view', ...(vmid !== undefined ? { vm: String(vmid) } : {}) }
      }
      return undefined
    },
  }
}
