/** Public face of core/doctor: find and (safely) repair what the lifecycle left behind. */
export { runDoctor, examineResource } from './doctor.js'
export type { DoctorOptions, DoctorReport, Finding, FindingKind } from './doctor.js'
