/** Public face of core/ha: controller-VM awareness, the no-controller fallback, and what a host keeps for it. */
export { ControllerVmGuard, isControllerUnreachable, isControllerTrouble, localVolumes, DEFAULT_CONTROLLER_BUDGET_MS } from './controller-vm.js'
export type { ControllerVmOptions } from './controller-vm.js'
export { HostState, DEFAULT_STATE_DIR, knownStateDirs, stateFileName, seenOf } from './host-state.js'
export type { PendingRecord, PendingIntent, SeenResource, StatusEntry } from './host-state.js'
