/**
 * The proxmox platform as the dispatcher sees it: operation names and kinds only. The operations
 * themselves (operations.ts, with the core behind them) load on the first proxmox call, so a
 * one-shot call of another platform, or a ping, never pays for them.
 */
import { lazyOperations } from '../../core/protocol/index.js'
import type { Operation } from '../../core/protocol/index.js'
import type { DescribedStorage as ProxmoxDescribedStorage, ProxmoxStorageInput } from './describe.js'

/** Every operation of plugins/proxmox/CONTRACT.md; a test keeps this equal to operations.ts. */
export const PROXMOX_OPERATION_KINDS: Readonly<Record<string, 'status' | 'action'>> = {
  activate_storage: 'status',
  status: 'status',
  alloc_image: 'action',
  free_image: 'action',
  list_images: 'action',
  activate_volume: 'action',
  map_volume: 'action',
  deactivate_volume: 'action',
  unmap_volume: 'action',
  volume_size_info: 'action',
  volume_resize: 'action',
  volume_snapshot: 'action',
  volume_snapshot_delete: 'action',
  volume_rollback_is_possible: 'action',
  volume_snapshot_rollback: 'action',
  volume_snapshot_info: 'action',
  clone_image: 'action',
  create_base: 'action',
  rename_volume: 'action',
  volume_export_begin: 'action',
  volume_export_end: 'action',
  volume_import_begin: 'action',
  volume_import_end: 'action',
  check_config: 'action',
}

export function proxmoxOperations(): Record<string, Operation> {
  return lazyOperations('proxmox', PROXMOX_OPERATION_KINDS, () => import('./operations.js').then((m) => m.proxmoxOperations()))
}

export type { ProxmoxStorageInput, ProxmoxDescribedStorage }

/**
 * A storage.cfg section as `linstor-virt status` shows it (its volumes, their volids). Loaded on
 * first use, so the dispatcher's import of this module stays light.
 */
export async function describeProxmoxStorage(input: ProxmoxStorageInput): Promise<ProxmoxDescribedStorage> {
  return (await import('./describe.js')).describeStorage(input)
}
