/**
 * The opennebula platform as the dispatcher sees it: operation names only. The driver code loads on
 * the first opennebula call, so other platforms' calls never pay for it.
 */
import { lazyOperations } from '../../core/protocol/index.js'
import type { Operation } from '../../core/protocol/index.js'
import type { DescribedDatastore, DescribedDatastores } from './describe.js'

/** TM actions (remotes/tm/linstor/<action>); a test keeps these equal to tm.ts. */
export const ONE_TM_ACTIONS: readonly string[] = [
  'clone', 'ln', 'mkswap', 'mkimage', 'context', 'mvds', 'cpds', 'delete', 'mv',
  'premigrate', 'postmigrate', 'failmigrate',
  'snap_create', 'snap_create_live', 'snap_delete', 'snap_revert', 'resize',
  'prebackup', 'prebackup_live', 'postbackup', 'postbackup_live', 'restore', 'monitor',
]
/** DS actions (remotes/datastore/linstor/<action>); a test keeps these equal to ds.ts. */
export const ONE_DS_ACTIONS: readonly string[] = ['cp', 'mkfs', 'rm', 'monitor', 'stat', 'clone', 'export', 'snap_delete', 'snap_revert', 'snap_flatten']
/** TM actions oned may call with a `.ssh` suffix in mixed mode; the same executable serves both. */
export const ONE_SSH_VARIANTS: readonly string[] = ['clone', 'ln', 'mvds', 'delete', 'resize', 'snap_create', 'cpds', 'mv', 'snap_create_live', 'snap_delete', 'snap_revert']

/** Operations of the status kind: at most 2 s, answered from the last known figures when the controller does not answer in time. */
export const ONE_STATUS_OPERATIONS: readonly string[] = ['tm.monitor', 'ds.monitor']

export function openNebulaOperations(): Record<string, Operation> {
  const names = [...ONE_TM_ACTIONS.map((a) => `tm.${a}`), ...ONE_DS_ACTIONS.map((a) => `ds.${a}`)]
  const kinds = Object.fromEntries(names.map((n): [string, 'status' | 'action'] => [n, ONE_STATUS_OPERATIONS.includes(n) ? 'status' : 'action']))
  return lazyOperations('opennebula', kinds, () => import('./operations.js').then((m) => m.openNebulaOperations()))
}

export type { DescribedDatastore as OneDescribedDatastore, DescribedDatastores as OneDescribedDatastores }

/**
 * The linstor datastores of a `onedatastore show -x` or `onedatastore list -x` document, as
 * `linstor-virt status` shows them. Loaded on first use (the dispatcher imports this module).
 */
export async function describeOpenNebulaDatastores(xml: string): Promise<DescribedDatastores> {
  return (await import('./describe.js')).describeDatastores(xml)
}
