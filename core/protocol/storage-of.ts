/**
 * The Storage behind a call: built from the call's config, and shared by every call with the same
 * config for the life of the transport's services (the agent keeps connections and caches). Loaded
 * lazily by the operations that need LINSTOR, so a call that does not (ping) never loads the client.
 */
import { statSync } from 'node:fs'
import { ConfigError } from '../errors/index.js'
import { DEFAULT_TOKEN_FILE, createLinstorClient } from '../linstor/index.js'
import { createStorage } from '../storage/index.js'
import type { ControllerVmOptions } from '../ha/index.js'
import type { Storage } from '../storage/index.js'
import { currentCallDeadline, currentCallSignal } from './call-scope.js'
import type { CallContext } from './dispatcher.js'

/** What an adapter adds to its call's config when it builds the core's settings itself. */
export interface StorageOfOptions {
  /** The core's settings (default: the call's config as sent, for platform "core"). */
  config?: Readonly<Record<string, unknown>>
  /** Controller-VM protection by predicate; must follow from `config` alone (it is not part of the cache key). */
  controllerVm?: ControllerVmOptions
}

/** The credential files a Storage's client reads once, with the setting naming each. */
const READ_ONCE = ['tokenFile', 'caFile', 'certFile', 'keyFile'] as const

/** Which version of a file this is (inode, size, change time); '' when it cannot be looked at. */
function versionOf(path: string): string {
  try {
    const s = statSync(path)
    return `${s.ino}:${s.size}:${s.ctimeMs}`
  } catch {
    return ''
  }
}

/**
 * The versions of the files the client of `c` would read (its own, else the default token file
 * the client falls back to), as a suffix of the cache key.
 */
function fileVersions(c: Readonly<Record<string, unknown>>): string {
  let out = ''
  for (const k of READ_ONCE) {
    const v = c[k]
    if (typeof v === 'string' && v !== '') out += `|${k}=${versionOf(v)}`
  }
  if (typeof c['tokenFile'] !== 'string') {
    const env = process.env['LS_BEARER_TOKEN_FILE']
    out += `|token=${versionOf(env !== undefined && env !== '' ? env : DEFAULT_TOKEN_FILE)}`
  }
  return out
}

function str(v: unknown, setting: string, required = true): string | undefined {
  if (v === undefined && !required) return undefined
  if (typeof v !== 'string' || v === '') throw new ConfigError([{ setting, problem: 'must be a non-empty string' }])
  return v
}

/**
 * The Storage for a call's config (`controllers`, `tokenFile`, `caFile`, `certFile`, `keyFile`,
 * `localNode`, `lockDir`, `stateDir`, `deviceRoot`, `controllerVolumes`, `capacityMaxAgeMs`,
 * `controllerBudgetMs`), shared by every call with the same config in the agent.
 */
export function storageOf(ctx: CallContext, options: StorageOfOptions = {}): Storage {
  const c = options.config ?? ctx.config
  // A caller over a listener others can reach gets only what this host's configuration allows
  // (access.ts): checked on every call, before anything is read, written, sent or cached.
  ctx.access?.check(ctx.platform, c)
  // The versions of the files the client reads once (token, CA, certificate, key) are part of the
  // configuration: a file replaced (written aside and renamed, as `pvesm set` does) makes a new client.
  const key = 'storage:' + JSON.stringify(c, Object.keys(c).sort()) + fileVersions(c)
  return ctx.services.shared(
    key,
    () => {
      const controllers = c['controllers']
      if (controllers !== undefined && controllers !== null && typeof controllers !== 'string' && !(Array.isArray(controllers) && controllers.every((x) => typeof x === 'string'))) {
        throw new ConfigError([{ setting: 'controllers', problem: 'must be a controller address list (a string or a list of strings)' }])
      }
      const deviceRoot = str(c['deviceRoot'], 'deviceRoot', false)
      const localNode = str(c['localNode'], 'localNode', false)
      // The lock folder: the call's, else LINSTOR_VIRT_LOCK_DIR (tests, unusual hosts), else the core's default.
      const lockDir = str(c['lockDir'], 'lockDir', false) ?? (process.env['LINSTOR_VIRT_LOCK_DIR'] || undefined)
      // The host's state folder (pending records, last seen replicas, last status answers): the
      // call's, else LINSTOR_VIRT_STATE_DIR, else beside the lock folder when one is given, else the core's default.
      const stateDir = str(c['stateDir'], 'stateDir', false) ?? (process.env['LINSTOR_VIRT_STATE_DIR'] || undefined)
      const budget = c['controllerBudgetMs']
      if (budget !== undefined && !(typeof budget === 'number' && Number.isFinite(budget) && budget >= 0 && budget <= 60_000)) {
        throw new ConfigError([{ setting: 'controllerBudgetMs', problem: 'must be a number of milliseconds from 0 to 60000' }])
      }
      const tokenFile = str(c['tokenFile'], 'tokenFile', false)
      const caFile = str(c['caFile'], 'caFile', false)
      const certFile = str(c['certFile'], 'certFile', false)
      const keyFile = str(c['keyFile'], 'keyFile', false)
      const tls = { ...(caFile !== undefined ? { caFile } : {}), ...(certFile !== undefined ? { certFile } : {}), ...(keyFile !== undefined ? { keyFile } : {}) }
      const maxAge = c['capacityMaxAgeMs']
      if (maxAge !== undefined && !(typeof maxAge === 'number' && Number.isFinite(maxAge) && maxAge >= 0)) {
        throw new ConfigError([{ setting: 'capacityMaxAgeMs', problem: 'must be a number of milliseconds of at least 0' }])
      }
      const volumes = c['controllerVolumes']
      if (volumes !== undefined && !(Array.isArray(volumes) && volumes.every((v) => typeof v === 'string'))) {
        throw new ConfigError([{ setting: 'controllerVolumes', problem: 'must be a list of resource names' }])
      }
      const client = createLinstorClient({
        ...(typeof controllers === 'string' || Array.isArray(controllers) ? { controllers } : {}),
        ...(tokenFile !== undefined ? { tokenFile } : {}),
        ...(Object.keys(tls).length > 0 ? { tls } : {}),
        keepAlive: ctx.services.longLived,
        callSignal: currentCallSignal,
        callDeadline: currentCallDeadline,
        logger: ctx.logger,
      })
      return createStorage({
        client,
        logger: ctx.logger,
        ...(localNode !== undefined ? { localNode } : {}),
        ...(lockDir !== undefined ? { lockDir } : {}),
        ...(deviceRoot !== undefined ? { deviceRoot: (node: string) => (localNode === undefined || node.toLowerCase() === localNode.toLowerCase() ? deviceRoot : undefined) } : {}),
        ...(volumes !== undefined || options.controllerVm !== undefined ? { controllerVm: { ...(volumes !== undefined ? { resources: volumes } : {}), ...options.controllerVm } } : {}),
        ...(typeof maxAge === 'number' && maxAge >= 0 ? { capacityMaxAgeMs: maxAge } : {}),
        ...(stateDir !== undefined ? { stateDir } : {}),
        ...(typeof budget === 'number' ? { controllerBudgetMs: budget } : {}),
        origin: { ...c },
      })
    },
    (s) => s.client.close(),
    { evictable: true },
  )
}
