/**
 * Controller-VM awareness. The LINSTOR controller may run in a VM whose disk lives on this very
 * storage (the HA setup: drbd-reactor promotes it). Its volumes are never deleted, detached,
 * resized or re-placed by the plugins, and attaching any volume whose device already exists on
 * the host succeeds while no controller answers, so the controller VM (and every VM with a local
 * replica) can start during a full outage.
 */
import { existsSync, readdirSync } from 'node:fs'
import { isPluginError } from '../errors/index.js'
import { isLinstorName, stableDevicePath } from '../volumes/index.js'

export interface ControllerVmOptions {
  /** Resource names of the controller VM's volumes (as the adapter maps its VM id to names). */
  resources?: readonly string[]
  /** Or a predicate, for adapters whose names carry the VM id (e.g. vm-<id>-disk-<n>). */
  match?: (resource: string) => boolean
}

export class ControllerVmGuard {
  readonly #names: Set<string>
  readonly #match: ((resource: string) => boolean) | undefined

  constructor(options: ControllerVmOptions = {}) {
    this.#names = new Set((options.resources ?? []).map((n) => n.toLowerCase()))
    this.#match = options.match
  }

  /** True for a volume of a configured controller VM. */
  isProtected(resource: string): boolean {
    return this.#names.has(resource.toLowerCase()) || (this.#match?.(resource) ?? false)
  }
}

/** True when no controller could be asked (down, black-holed, or out of time): the HA fallback case. */
export function isControllerUnreachable(err: unknown): boolean {
  return isPluginError(err) && (err.code === 'LINSTOR_UNAVAILABLE' || err.code === 'LINSTOR_DEADLINE')
}

/**
 * How long starting or stopping a VM waits on LINSTOR when the host already has what it needs (a
 * device for the volume): past it, the local device is used and what LINSTOR was not told is kept
 * as a pending record (host-state.ts). The issue asks for at most 2 s for the whole call.
 */
export const DEFAULT_CONTROLLER_BUDGET_MS = 1_500

const TROUBLE = new Set([
  'LINSTOR_UNAVAILABLE', 'LINSTOR_DEADLINE', 'LINSTOR_OUTCOME_UNKNOWN', 'LINSTOR_HTTP_ERROR', 'LINSTOR_API_ERROR',
  'LINSTOR_BAD_REPLY', 'LINSTOR_UNAUTHORIZED', 'ABORTED', 'CALL_DEADLINE', 'LOCK_TIMEOUT',
])

/**
 * True when LINSTOR gave no usable answer: none reachable, none answering in time, an answer cut
 * off, a server error (injected or real), a refused token, or the resource's lock held by a call
 * that waits on the controller. Starting from a local device and recording a stop as pending is
 * right in each of these; "does not exist", "in use" and bad input are answers, not trouble.
 */
export function isControllerTrouble(err: unknown): boolean {
  return isPluginError(err) && TROUBLE.has(err.code)
}

/**
 * Volume numbers whose stable device exists under `root` for a resource, ascending; empty when
 * the node holds nothing of it. `root` is the device-root prefix ('' in production).
 */
export function localVolumes(root: string, resource: string): number[] {
  // Only a LINSTOR name is a folder of by-res: '../..' or '/' would reach paths outside the root.
  if (!isLinstorName(resource)) return []
  const dir = root + `/dev/drbd/by-res/${resource}`
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return []
  }
  return names
    .filter((n) => /^\d+$/.test(n) && existsSync(root + stableDevicePath(resource, Number(n))))
    .map(Number)
    .sort((a, b) => a - b)
}
