/** Public face of core/storage: the one entry point the platform adapters use. */
export { Storage, ResourceHandle, createStorage } from './storage.js'
export type { StorageOptions, PendingSettlement } from './storage.js'
