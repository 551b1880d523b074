/** Public face of core/lifecycle: attach, detach and live migration of volumes across hosts. */
export { Attachments, OFFLINE_ACTIVATION_CHANNEL } from './attachments.js'
export type { Attachment, AttachedVolume, Detachment, AttachmentsOptions, AttachOptions, DetachOptions, DeviceProbe, OfflineActivationEvent } from './attachments.js'
export {
  AUX_MIGRATION, ALLOW_TWO_PRIMARIES, AUX_MIGRATION_CLAIM, AUX_DUAL_PRIMARY, CLOCK_SKEW_MS, MIGRATION_BEGIN_MS,
  readMigrationRecord, readClaims, readDualPrimaryMarks, joins, writesUntil, isYes,
} from './migration-record.js'
export type { MigrationRecord, MigrationClaim, DualPrimaryMark } from './migration-record.js'
export { AUX_ATTACHED, NvmeAttachments, stableLinkPath } from './stacks.js'
