/** Public face of core/lifecycle: attach, detach and live migration of volumes across hosts. */
export { Attachments, OFFLINE_ACTIVATION_CHANNEL } from './attachments.js'
export type { Attachment, AttachedVolume, Detachment, AttachmentsOptions, AttachOptions, DetachOptions, DeviceProbe, OfflineActivationEvent } from './attachments.js'
export { AUX_MIGRATION, ALLOW_TWO_PRIMARIES, readMigrationRecord, isYes } from './migration-record.js'
export type { MigrationRecord } from './migration-record.js'
export { AUX_ATTACHED, NvmeAttachments, stableLinkPath } from './stacks.js'
