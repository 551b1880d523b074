/** Public face of core/ha: controller-VM awareness and the no-controller fallback. */
export { ControllerVmGuard, isControllerUnreachable, localVolumes } from './controller-vm.js'
export type { ControllerVmOptions } from './controller-vm.js'
