/** Public face of core/lock: per-resource serialization within and across processes on a host. */
export { ResourceLocks, lockFileName } from './resource-locks.js'
export type { ResourceLocksOptions, LockHolder } from './resource-locks.js'
