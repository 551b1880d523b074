/** The placement policy model: what every platform adapter fills from its own configuration. */

/** LINSTOR layers, lower case as in the platforms' configuration (upper case on the wire). */
export const LAYERS = ['drbd', 'luks', 'nvme', 'writecache', 'cache', 'storage'] as const
/** One layer of a policy's layer stack. */
export type Layer = (typeof LAYERS)[number]

/** Storage provider kinds a diskful replica may use (LINSTOR's names). */
export const PROVIDERS = [
  'LVM',
  'LVM_THIN',
  'ZFS',
  'ZFS_THIN',
  'FILE',
  'FILE_THIN',
  'SPDK',
  'EBS_TARGET',
  'STORAGE_SPACES',
  'STORAGE_SPACES_THIN',
  'REMOTE_SPDK',
] as const
/** One storage provider kind. */
export type Provider = (typeof PROVIDERS)[number]

/**
 * Where and how LINSTOR places the replicas of a volume. Every field is optional; see
 * docs/placement.md for each field's LINSTOR meaning.
 *
 * Two ways to use it:
 * - `resourceGroup` names an existing LINSTOR resource group (preferred: the operator owns it).
 *   Other fields then override the group's filter for each spawn, only where given.
 * - without `resourceGroup`, linstor-virt creates and keeps in sync one group per distinct policy
 *   (see `policyGroupName`), with `placeCount` defaulting to 2.
 */
export interface PlacementPolicy {
  /** An existing LINSTOR resource group to spawn from; never modified by linstor-virt. */
  resourceGroup?: string
  /** Number of diskful replicas, 1 to 16 (`place_count`). Default 2 when no resourceGroup. */
  placeCount?: number
  /** Storage pools a diskful replica may use (`storage_pool_list`). */
  storagePools?: string[]
  /** Storage pools for diskless replicas (`storage_pool_diskless_list`). */
  disklessStoragePools?: string[]
  /** Node property keys all replicas must share (`replicas_on_same`): "Aux/site" or "Aux/site=a". */
  replicasOnSame?: string[]
  /** Node property keys whose values must differ between replicas (`replicas_on_different`). */
  replicasOnDifferent?: string[]
  /** For a key of replicasOnDifferent: how many replicas may share one value (default 1). */
  xReplicasOnDifferent?: Record<string, number>
  /** Resource names whose nodes are avoided (`not_place_with_rsc`). */
  doNotPlaceWith?: string[]
  /** Nodes holding a resource whose name matches (case-insensitively) are avoided. */
  doNotPlaceWithRegex?: string
  /** Layer stack, top first, ending with storage (appended when missing). drbd and nvme exclude each other. */
  layers?: Layer[]
  /** Allowed storage provider kinds (`provider_list`). */
  providers?: Provider[]
  /** Add a diskless (DRBD client) replica on every other node after placing. */
  disklessOnRemaining?: boolean
  /** Prefer a diskful replica on the VM's own host. Used by the lifecycle code, not by the group. */
  preferLocal?: boolean
  /** Sets DrbdOptions/ExactSize on the resource definitions (no size rounding by DRBD metadata). */
  exactSize?: boolean
  /** DRBD options passed through as properties; keys start with "DrbdOptions/". */
  drbdOptions?: Record<string, string>
}
