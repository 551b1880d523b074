/** Public face of core/protocol: the one call protocol, its dispatcher, and the services transports share. */
export {
  Dispatcher, ServiceRegistry, parseCallRequest, toCallError, withDeadline,
  PROTOCOL_VERSION, DEFAULT_DEADLINE_MS, STATUS_DEADLINE_MS, MAX_REQUEST_BYTES, MAX_NESTING, MAX_CACHED_CONFIGURATIONS,
} from './dispatcher.js'
export type { CallRequest, CallReply, CallError, CallContext, CallServices, Operation } from './dispatcher.js'
export { coreOperations, storageOf, statusAnswer } from './core-operations.js'
export { lazyOperations } from './lazy.js'
// The policy itself (access.ts) is loaded by the agent alone: the one-shot never checks one.
export type { CallAccess, AccessProfile, AccessRules, AccessPolicyOptions } from './access.js'
export type { StatusAnswer } from './status.js'
export type { StorageOfOptions } from './storage-of.js'
export type { DefinitionRef, PlatformVolume, DescribedPlatformStorage, DescribedConnection } from './described.js'
