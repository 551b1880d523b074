/** Public face of core/volumes: resource state, size rules, and the volume lifecycle. */
export { readResource, resourceInfoOf, replicaKind, replicaOn, isShared, sameNode, stableDevicePath } from './state.js'
export type { ResourceInfo, Replica, ReplicaKind, ReplicaVolume, VolumeInfo } from './state.js'
export { isLinstorName, LINSTOR_NAME_MAX, AUX_PLATFORM_NAME, nameHash, fitName, recordedName, isIdentical, assertIdentity } from './names.js'
export type { IdentityExpectation, NamedObject } from './names.js'
export { KiB, MiB, GiB, TiB, bytesToKib, kibToBytes, formatBytes } from './sizes.js'
export { VolumeLifecycle, sortSnapshots, AUX_CREATED_BY, AUX_CLONE_OF } from './volumes.js'
export type { CreateSpec, SnapshotInfo, CloneOptions, VolumeLifecycleOptions } from './volumes.js'
