/**
 * The agent's own configuration (/etc/linstor-virt/agent.conf and agent.conf.d/*.conf) and the
 * access of its listeners that others can reach, from configuration their callers cannot write
 * (docs/reliability.md, "Trust boundaries"; the check itself is core/protocol/access.ts):
 *
 * - the platforms' own root-owned configuration, read by the agent: each `linstor:` section of
 *   Proxmox's storage.cfg (its linstor-controllers, linstor-ca/-cert/-key, and its token file
 *   /etc/pve/priv/storage/<id>.linstor-token) for Proxmox calls; each backend section of cinder.conf
 *   that uses our driver (linstor_uris, linstor_virt_token_file, the TLS files, and the lock folder
 *   the driver uses under cinder's state_path) for Cinder calls;
 * - `[allow]` sections of agent.conf: more controllers with their credential files, lock and state
 *   folders, device roots (tests);
 * - the agent's own controllers (--controllers, [agent] controllers, LS_CONTROLLERS,
 *   linstor-client.conf) and folders (LINSTOR_VIRT_LOCK_DIR, LINSTOR_VIRT_STATE_DIR,
 *   LINSTOR_VIRT_DEVICE_ROOT of the agent's environment, and the core's defaults).
 *
 * The files are read again when one changes (checked at each call: a stat each). As root, a file
 * that a non-root user owns or that group or others may write is not trusted: agent.conf then
 * stops the agent, a platform's file is left out (with a warning).
 *
 * agent.conf (INI):
 *   [agent]            socket = PATH (the owner-only socket), controllers = LIST
 *   [socket NAME]      path = PATH, group = GROUP, mode = 0660, platforms = cinder[, proxmox, core]
 *   [tcp]              listen = HOST:PORT, token-file = FILE, platforms = LIST
 *   [allow] / [allow NAME]  controllers, token-file, ca-file, cert-file, key-file, platforms (one
 *                      profile); folders, device-roots (for every call). Lists: commas or spaces.
 *   [platforms]        storage-cfg = FILE, pve-priv = DIR, cinder-conf = FILES (files or folders of *.conf)
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import { parse as parseIni } from 'ini'
import { resolveControllers } from '../../core/linstor/index.js'
import type { Logger } from '../../core/log/index.js'
import { AccessPolicy, DEFAULT_PROFILE_SOURCE } from '../../core/protocol/access.js'
import type { AccessProfile, AccessRules } from '../../core/protocol/access.js'
import { cinderBackends, parseStorageCfg } from '../status/sources.js'

export const DEFAULT_AGENT_CONF = '/etc/linstor-virt/agent.conf'
export const DEFAULT_STORAGE_CFG = '/etc/pve/storage.cfg'
export const DEFAULT_PVE_PRIV = '/etc/pve/priv'
export const DEFAULT_CINDER_CONF: readonly string[] = ['/etc/cinder/cinder.conf', '/etc/cinder/cinder.conf.d']
/** Cinder's own default state_path (the driver keeps its locks under <state_path>/linstor-virt). */
export const CINDER_STATE_PATH = '/var/lib/cinder'
/** The core's default lock and state folders (core/storage, core/ha). */
export const CORE_FOLDERS: readonly string[] = ['/run/linstor-virt', '/var/lib/linstor-virt']
/** Platforms a group's socket or the TCP listener serve unless agent.conf says otherwise. */
export const DEFAULT_SERVED: readonly string[] = ['proxmox', 'cinder', 'core']

/** A socket for a group, from a [socket NAME] section. */
export interface GroupSocket {
  name: string
  path: string
  group: string
  mode: number
  platforms: string[]
}

export interface AgentConf {
  /** The files read (agent.conf and its drop-ins), for messages. */
  files: string[]
  socket?: string
  controllers?: string
  sockets: GroupSocket[]
  tcp?: { listen: string; tokenFile: string; platforms: string[] }
  allow: AccessProfile[]
  folders: string[]
  deviceRoots: string[]
  storageCfg: string
  pvePriv: string
  cinderConf: string[]
}

function words(v: unknown): string[] {
  return typeof v === 'string' ? v.split(/[\s,]+/).filter((x) => x !== '') : []
}

function one(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined
}

function absolute(v: string | undefined, what: string): string | undefined {
  if (v === undefined) return undefined
  if (!isAbsolute(v)) throw new Error(`${what}: '${v}' is not an absolute path`)
  return v
}

/**
 * Whether a configuration file may be trusted by an agent running as root: owned by root and not
 * writable by group or others (else a user could widen what callers may do).
 */
export function trustworthy(path: string, uid = process.getuid?.() ?? 0): string | undefined {
  if (uid !== 0) return undefined
  const s = statSync(path)
  if (s.uid !== 0) return `${path} belongs to uid ${s.uid}, not root`
  if ((s.mode & 0o022) !== 0) return `${path} is writable by ${(s.mode & 0o020) !== 0 ? 'its group' : 'others'} (mode ${(s.mode & 0o777).toString(8)})`
  return undefined
}

/** agent.conf and then its drop-ins (agent.conf.d/*.conf, in name order); a missing agent.conf is an empty one. */
export function readAgentConf(path = DEFAULT_AGENT_CONF): AgentConf {
  const files: string[] = []
  const sections: [string, Record<string, unknown>][] = []
  const dropins = `${path}.d`
  const paths = [path, ...(existsSync(dropins) ? readdirSync(dropins).filter((f) => f.endsWith('.conf')).sort().map((f) => join(dropins, f)) : [])]
  for (const p of paths) {
    if (!existsSync(p)) continue
    const bad = trustworthy(p)
    if (bad !== undefined) throw new Error(`${bad}: the agent does not trust it (chown root and chmod go-w it)`)
    files.push(p)
    const parsed = parseIni(readFileSync(p, 'utf8')) as Record<string, unknown>
    for (const [name, body] of Object.entries(parsed)) {
      if (typeof body === 'object' && body !== null && !Array.isArray(body)) sections.push([name, body as Record<string, unknown>])
      else throw new Error(`${p}: '${name}' is outside any section`)
    }
  }
  const conf: AgentConf = { files, sockets: [], allow: [], folders: [], deviceRoots: [], storageCfg: DEFAULT_STORAGE_CFG, pvePriv: DEFAULT_PVE_PRIV, cinderConf: [...DEFAULT_CINDER_CONF] }
  for (const [name, s] of sections) {
    const where = `[${name}]`
    if (name === 'agent') {
      const socket = absolute(one(s['socket']), `${where} socket`)
      if (socket !== undefined) conf.socket = socket
      const controllers = one(s['controllers'])
      if (controllers !== undefined) conf.controllers = controllers
    } else if (name === 'platforms') {
      conf.storageCfg = absolute(one(s['storage-cfg']), `${where} storage-cfg`) ?? conf.storageCfg
      conf.pvePriv = absolute(one(s['pve-priv']), `${where} pve-priv`) ?? conf.pvePriv
      if (s['cinder-conf'] !== undefined) conf.cinderConf = words(s['cinder-conf']).map((f) => absolute(f, `${where} cinder-conf`) as string)
    } else if (name === 'tcp') {
      const listen = one(s['listen'])
      const tokenFile = absolute(one(s['token-file']), `${where} token-file`)
      if (listen === undefined || tokenFile === undefined) throw new Error(`${where}: needs listen = HOST:PORT and token-file = FILE`)
      conf.tcp = { listen, tokenFile, platforms: s['platforms'] !== undefined ? words(s['platforms']) : [...DEFAULT_SERVED] }
    } else if (/^socket\s+\S+$/.test(name)) {
      const path = absolute(one(s['path']), `${where} path`)
      const group = one(s['group'])
      if (path === undefined || group === undefined) throw new Error(`${where}: needs path = PATH and group = GROUP`)
      const modeText = one(s['mode']) ?? '0660'
      if (!/^0?[0-7]{3}$/.test(modeText)) throw new Error(`${where} mode: '${modeText}' is not an octal mode such as 0660`)
      const mode = parseInt(modeText, 8)
      if ((mode & 0o007) !== 0) throw new Error(`${where} mode: ${modeText} would open the socket to everyone; a socket is for its owner and group`)
      conf.sockets.push({ name: name.replace(/^socket\s+/, ''), path, group, mode, platforms: s['platforms'] !== undefined ? words(s['platforms']) : [...DEFAULT_SERVED] })
    } else if (/^allow(\s+\S+)?$/.test(name)) {
      const file = (k: string): Record<string, string> => {
        const v = absolute(one(s[k]), `${where} ${k}`)
        const key = k === 'token-file' ? 'tokenFile' : k === 'ca-file' ? 'caFile' : k === 'cert-file' ? 'certFile' : 'keyFile'
        return v !== undefined ? { [key]: v } : {}
      }
      const folders = words(s['folders']).map((f) => absolute(f, `${where} folders`) as string)
      const controllers = words(s['controllers'])
      if (controllers.length > 0) {
        conf.allow.push({
          source: `agent.conf ${where}`,
          controllers,
          ...file('token-file'),
          ...file('ca-file'),
          ...file('cert-file'),
          ...file('key-file'),
          ...(s['platforms'] !== undefined ? { platforms: words(s['platforms']) } : {}),
        })
      }
      // Folders are for every call (whatever its controllers).
      conf.folders.push(...folders)
      conf.deviceRoots.push(...words(s['device-roots']).map((f) => absolute(f, `${where} device-roots`) as string))
    } else {
      throw new Error(`[${name}]: unknown section (agent, platforms, socket NAME, tcp, allow)`)
    }
  }
  return conf
}

/** A file's signature (changes when it is replaced or written); '' when absent. */
function signature(path: string): string {
  try {
    const s = statSync(path)
    return `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`
  } catch {
    return ''
  }
}

/** The Cinder configuration files: the files named, and the *.conf of the folders named. */
function cinderFiles(paths: readonly string[]): string[] {
  const out: string[] = []
  for (const p of paths) {
    try {
      if (statSync(p).isDirectory()) out.push(...readdirSync(p).filter((f) => f.endsWith('.conf')).sort().map((f) => join(p, f)))
      else out.push(p)
    } catch {
      // absent: nothing from it
    }
  }
  return out
}

export interface HostRulesOptions {
  conf: AgentConf
  /** The agent's --controllers. */
  controllers?: string
  env?: NodeJS.ProcessEnv
  logger?: Logger
}

/**
 * The rules of this host (see the module comment), read again whenever one of their files changed.
 * A file that cannot be read or trusted contributes nothing (and is logged once per change).
 */
export function hostRules(o: HostRulesOptions): () => AccessRules {
  const env = o.env ?? process.env
  let sig = ''
  let rules: AccessRules = { profiles: [], folders: [], deviceRoots: [] }
  const read = (path: string): string | undefined => {
    try {
      const bad = trustworthy(path)
      if (bad !== undefined) {
        o.logger?.warn({ file: path }, `${bad}: left out of what callers may use`)
        return undefined
      }
      return readFileSync(path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') o.logger?.warn({ file: path, err: (err as Error).message }, 'cannot read a platform configuration file')
      return undefined
    }
  }
  return () => {
    const files = [o.conf.storageCfg, ...cinderFiles(o.conf.cinderConf), ...o.conf.cinderConf]
    const now = files.map(signature).join('|')
    if (now === sig && sig !== '') return rules
    sig = now
    const own = o.controllers ?? o.conf.controllers
    const profiles: AccessProfile[] = []
    try {
      const mine = resolveControllers({ ...(own !== undefined ? { configured: own } : {}), env }).endpoints.map((e) => e.url)
      profiles.push({ source: DEFAULT_PROFILE_SOURCE, controllers: mine })
    } catch (err) {
      o.logger?.warn({ err: (err as Error).message }, "the agent's own controllers cannot be read")
    }
    const folders = [...CORE_FOLDERS, ...o.conf.folders, ...['LINSTOR_VIRT_LOCK_DIR', 'LINSTOR_VIRT_STATE_DIR'].map((k) => env[k]).filter((v): v is string => v !== undefined && isAbsolute(v))]
    const deviceRoots = [...o.conf.deviceRoots, ...(env['LINSTOR_VIRT_DEVICE_ROOT'] !== undefined && isAbsolute(env['LINSTOR_VIRT_DEVICE_ROOT']) ? [env['LINSTOR_VIRT_DEVICE_ROOT']] : [])]
    profiles.push(...o.conf.allow)
    // Proxmox: each linstor: section, with the token file the Perl shim keeps for it.
    const cfg = read(o.conf.storageCfg)
    if (cfg !== undefined) {
      for (const section of parseStorageCfg(cfg).sections.filter((x) => x.type === 'linstor')) {
        const k = section.keys
        const controllers = k['linstor-controllers'] !== undefined ? words(k['linstor-controllers']) : profiles[0]?.controllers ?? []
        profiles.push({
          source: `${o.conf.storageCfg} linstor: ${section.id}`,
          platforms: ['proxmox'],
          controllers,
          tokenFile: join(o.conf.pvePriv, 'storage', `${section.id}.linstor-token`),
          ...(k['linstor-ca'] !== undefined ? { caFile: k['linstor-ca'] } : {}),
          ...(k['linstor-cert'] !== undefined ? { certFile: k['linstor-cert'] } : {}),
          ...(k['linstor-key'] !== undefined ? { keyFile: k['linstor-key'] } : {}),
        })
      }
    }
    // Cinder: each backend of our driver, with the lock folder the driver uses under state_path.
    let statePath = CINDER_STATE_PATH
    const backends: Record<string, unknown>[] = []
    for (const file of cinderFiles(o.conf.cinderConf)) {
      const text = read(file)
      if (text === undefined) continue
      const conf = parseIni(text) as Record<string, Record<string, unknown> | undefined>
      const sp = one(conf['DEFAULT']?.['state_path'])
      if (sp !== undefined && isAbsolute(sp)) statePath = sp
      backends.push(...cinderBackends(text).backends.map((b) => ({ ...b, file })))
    }
    for (const b of backends) {
      const controllers = Array.isArray(b['controllers']) ? (b['controllers'] as string[]) : []
      const pick = (k: 'tokenFile' | 'caFile' | 'certFile' | 'keyFile'): Record<string, string> => (typeof b[k] === 'string' ? { [k]: b[k] } : {})
      profiles.push({
        source: `${String(b['file'])} [${String(b['backend'])}]`,
        platforms: ['cinder'],
        controllers,
        ...pick('tokenFile'),
        ...pick('caFile'),
        ...pick('certFile'),
        ...pick('keyFile'),
        folders: [join(statePath, 'linstor-virt')],
      })
    }
    rules = { profiles, folders, deviceRoots }
    o.logger?.info({ profiles: profiles.map((p) => p.source), folders }, 'what callers of the shared listeners may use')
    return rules
  }
}

/** The access of a listener others can reach, with the host's rules. */
export function hostAccess(listener: string, platforms: readonly string[], rules: () => AccessRules, anyProfile = false): AccessPolicy {
  return new AccessPolicy({ listener, platforms, rules, anyProfile })
}
