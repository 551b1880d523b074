/** `linstor-virt uninstall proxmox`: see install.ts. */
import { runInstall } from './install.js'

export function run(args: string[]): Promise<number> {
  return runInstall(args, true)
}
