/**
 * The cinder platform as the dispatcher sees it: operation names only (plugins/openstack-cinder/
 * CONTRACT.md). The operations load on the first cinder call.
 */
import { lazyOperations } from '../../core/protocol/index.js'
import type { Operation } from '../../core/protocol/index.js'
import type { DescribedBackend } from './describe.js'

/** Every operation of CONTRACT.md; a test keeps these equal to operations.ts. */
export const CINDER_OPERATIONS: readonly string[] = [
  'check', 'stats',
  'create_volume', 'delete_volume', 'create_snapshot', 'delete_snapshot',
  'create_volume_from_snapshot', 'create_cloned_volume', 'extend_volume', 'revert_to_snapshot',
  'ensure_export', 'initialize_connection', 'terminate_connection', 'retype',
  'manage_existing', 'manage_existing_get_size', 'unmanage', 'get_manageable_volumes',
]

/** Operations of the status kind: at most 2 s, answered from the last known stats when the controller does not answer in time. */
export const CINDER_STATUS_OPERATIONS: readonly string[] = ['stats']

export function cinderOperations(): Record<string, Operation> {
  const kinds = Object.fromEntries(CINDER_OPERATIONS.map((n): [string, 'status' | 'action'] => [n, CINDER_STATUS_OPERATIONS.includes(n) ? 'status' : 'action']))
  return lazyOperations('cinder', kinds, () => import('./operations.js').then((m) => m.cinderOperations()))
}

export type { DescribedBackend as CinderDescribedBackend }

/**
 * A backend section as `linstor-virt status` shows it (its volumes, their Cinder ids). Loaded on
 * first use (the dispatcher imports this module).
 */
export async function describeCinderBackend(config: Readonly<Record<string, unknown>>): Promise<DescribedBackend> {
  return (await import('./describe.js')).describeBackend(config)
}
