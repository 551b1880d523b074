/**
 * What a caller may make the agent do (docs/reliability.md, "Trust boundaries"). A request's
 * config names controllers, credential files (token, CA, client certificate and key) and folders
 * (lock, state, device root); the agent runs as root, so over a listener that others can reach (a
 * group's socket, the TCP listener) those come from configuration the caller cannot forge, never
 * from the request alone:
 *
 * - profiles, each a set of controllers with the credential files that go with them (a storage.cfg
 *   section with its token file, a cinder.conf backend, an entry of /etc/linstor-virt/agent.conf,
 *   the agent's own controllers): a request's controllers must all be one profile's, and each of
 *   its credential files that profile's own (a token never goes to a controller its configuration
 *   does not name it with);
 * - folders the lock and state folders must lie in (after symbolic links are followed), and device
 *   roots (tests only);
 * - the platforms the listener serves (OpenNebula's actions run the front-end's commands: never
 *   over such a listener).
 *
 * A refusal is CALL_FORBIDDEN, checked before anything is read, written or sent; its message names
 * the setting and what is allowed, never whether a file or folder exists. The owner-only socket and
 * the one-shot have no such check: their caller can do what the request asks without linstor-virt.
 */
import { existsSync, realpathSync } from 'node:fs'
import { dirname, isAbsolute, join, resolve, sep } from 'node:path'
import { PluginError } from '../errors/index.js'
import { parseControllerList } from '../linstor/controllers.js'

/** The check a transport hands the dispatcher for the calls of one listener. */
export interface CallAccess {
  /** The listener, for messages ("the socket /run/linstor-virt/cinder.sock"). */
  readonly listener: string
  /** Whether calls of this platform are served here at all. */
  serves(platform: string): boolean
  /**
   * Throws CALL_FORBIDDEN unless the core settings a Storage is about to be built from (controllers,
   * tokenFile, caFile, certFile, keyFile, lockDir, stateDir, deviceRoot) are allowed for `platform`.
   */
  check(platform: string, settings: Readonly<Record<string, unknown>>): void
}

/** A set of controllers and the credential files that go with them, from configuration callers cannot write. */
export interface AccessProfile {
  /** Where it was read, for messages: "storage.cfg section linstor: drbdstore". */
  source: string
  /** Platforms whose calls may use it (absent: every platform the listener serves). */
  platforms?: readonly string[]
  /** Controller addresses (any form LINSTOR's clients accept). */
  controllers: readonly string[]
  tokenFile?: string
  caFile?: string
  certFile?: string
  keyFile?: string
  /** Folders calls using this profile may keep locks and state in, besides the policy's own. */
  folders?: readonly string[]
}

/** Everything an AccessPolicy allows; `profiles` etc. may be re-read between calls (read()). */
export interface AccessRules {
  profiles: readonly AccessProfile[]
  /** Folders every call may keep locks and state in. */
  folders: readonly string[]
  /** Device roots (tests point the adapters at the emulator's per-node folders; none in production). */
  deviceRoots: readonly string[]
}

export interface AccessPolicyOptions {
  listener: string
  /** Platforms served (never 'opennebula'). */
  platforms: readonly string[]
  /** The rules, asked for at every check (so a changed configuration file counts from the next call). */
  rules: () => AccessRules
  /**
   * Every profile counts whatever its platforms: for the agent's sweep of pending records, which
   * settles the core settings a platform's call left (platform 'core') with what they name.
   */
  anyProfile?: boolean
}

/** Platforms a listener others can reach never serves: OpenNebula's actions run commands of the front-end (onevm, ssh, other TM drivers). */
export const NEVER_SERVED: readonly string[] = ['opennebula']

const CREDENTIALS = [
  ['tokenFile', 'token file'],
  ['caFile', 'CA file'],
  ['certFile', 'client certificate'],
  ['keyFile', 'client key'],
] as const

function forbidden(message: string, context: Record<string, string | boolean> = {}): PluginError {
  return new PluginError('CALL_FORBIDDEN', message, { context })
}

/** Controller URLs as compared (normalised, lower case); undefined when the text is no controller list. */
function controllerKeys(v: unknown): string[] | undefined {
  const text = typeof v === 'string' ? v : Array.isArray(v) && v.every((x) => typeof x === 'string') ? v.join(',') : undefined
  if (text === undefined) return undefined
  try {
    return parseControllerList(text).map((e) => e.url.toLowerCase())
  } catch {
    return undefined
  }
}

/**
 * The path with every symbolic link of its existing part followed (the rest appended as written),
 * so that a folder inside an allowed one that is a link to elsewhere counts as elsewhere.
 */
function realOf(path: string): string {
  let head = resolve(path)
  const tail: string[] = []
  for (;;) {
    try {
      if (existsSync(head)) return join(realpathSync(head), ...tail)
    } catch {
      // unreadable: compared as written
      return join(head, ...tail)
    }
    const up = dirname(head)
    if (up === head) return join(head, ...tail)
    tail.unshift(head.slice(up.length).replace(/^\/+/, ''))
    head = up
  }
}

function inside(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep)
}

/** Whether `path` lies in one of `roots`, as written and with links followed. */
export function withinFolders(path: string, roots: readonly string[]): boolean {
  if (!isAbsolute(path) || path.includes('\0')) return false
  const written = resolve(path)
  const real = realOf(written)
  return roots.some((r) => {
    const root = resolve(r)
    return inside(written, root) && inside(real, realOf(root))
  })
}

function sameFile(a: string, b: string): boolean {
  return isAbsolute(a) && isAbsolute(b) && resolve(a) === resolve(b)
}

/** An AccessProfile's controllers as compared. */
function profileKeys(p: AccessProfile): string[] {
  return controllerKeys([...p.controllers]) ?? []
}

/** The access of a listener others can reach: profiles, folders and platforms (see the module's comment). */
export class AccessPolicy implements CallAccess {
  readonly listener: string
  readonly #platforms: ReadonlySet<string>
  readonly #rules: () => AccessRules
  readonly #anyProfile: boolean

  constructor(o: AccessPolicyOptions) {
    this.listener = o.listener
    this.#platforms = new Set(o.platforms.filter((p) => !NEVER_SERVED.includes(p)))
    this.#rules = o.rules
    this.#anyProfile = o.anyProfile === true
  }

  serves(platform: string): boolean {
    return this.#platforms.has(platform)
  }

  check(platform: string, s: Readonly<Record<string, unknown>>): void {
    if (!this.serves(platform)) throw forbidden(`${platform} calls are not served over ${this.listener}`, { platform, notServed: true })
    const rules = this.#rules()
    const mine = rules.profiles.filter((p) => this.#anyProfile || p.platforms === undefined || p.platforms.includes(platform))
    // The controllers: every one of them named together by one profile.
    const wanted = s['controllers'] === undefined || s['controllers'] === null || s['controllers'] === '' ? [] : controllerKeys(s['controllers'])
    if (wanted === undefined) throw forbidden(`controllers: not a controller list this host's configuration names (over ${this.listener})`, { setting: 'controllers' })
    const candidates = mine.filter((p) => {
      const keys = profileKeys(p)
      return wanted.length === 0 ? keys.length === 0 || p.source === DEFAULT_PROFILE_SOURCE : wanted.every((w) => keys.includes(w))
    })
    if (candidates.length === 0) {
      throw forbidden(`controllers ${wanted.length === 0 ? '(the defaults)' : wanted.join(', ')}: no configuration of this host names ${wanted.length === 1 ? 'it' : 'them together'} for ${platform} calls over ${this.listener} (storage.cfg, cinder.conf, /etc/linstor-virt/agent.conf)`, { setting: 'controllers' })
    }
    // The credential files: each the one a profile of those controllers names.
    const fits = candidates.filter((p) => CREDENTIALS.every(([k]) => {
      const v = s[k]
      if (v === undefined || v === null || v === '') return true
      const own = p[k]
      return typeof v === 'string' && own !== undefined && sameFile(v, own)
    }))
    if (fits.length === 0) {
      const bad = CREDENTIALS.find(([k]) => {
        const v = s[k]
        return v !== undefined && v !== null && v !== '' && !candidates.some((p) => typeof v === 'string' && p[k] !== undefined && sameFile(v, p[k]))
      }) ?? CREDENTIALS[0]
      // The same words whether the file exists or not, is readable or not: nothing about it was looked at.
      throw forbidden(`${bad[0]}: not the ${bad[1]} this host's configuration names for these controllers (over ${this.listener}); nothing was read`, { setting: bad[0] })
    }
    // The folders: where the core's own defaults are, where the rules allow, or the profile's own.
    const folders = [...rules.folders, ...fits.flatMap((p) => p.folders ?? [])]
    for (const key of ['lockDir', 'stateDir'] as const) {
      const v = s[key]
      if (v === undefined || v === null || v === '') continue
      if (typeof v !== 'string' || !withinFolders(v, folders)) {
        throw forbidden(`${key}: not inside a folder this host's configuration allows (${folders.join(', ') || 'none'}) over ${this.listener}; nothing was created`, { setting: key })
      }
    }
    const root = s['deviceRoot']
    if (root !== undefined && root !== null && root !== '') {
      const path = typeof root === 'string' ? root.replaceAll('{node}', 'node') : ''
      if (!withinFolders(path, rules.deviceRoots)) throw forbidden(`deviceRoot: not a device root this host's configuration allows (over ${this.listener})`, { setting: 'deviceRoot' })
    }
  }
}

/** The source name of the profile of the agent's own controllers (also those a request without any gets). */
export const DEFAULT_PROFILE_SOURCE = "the agent's own controllers"
