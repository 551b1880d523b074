/**
 * Where `linstor-virt status` finds the platform storages of a host, from what the host has:
 *
 * - Proxmox VE: /etc/pve/storage.cfg (cluster-wide on pmxcfs), its `linstor:` sections, read here
 *   with PVE's own section rules (docs/proxmox.md); a storage's token is the file the Perl shim
 *   uses, /etc/pve/priv/storage/<id>.linstor-token.
 * - OpenNebula: the datastores' attributes, from `onedatastore list -x` on the front-end (or
 *   `onedatastore show -x ID` per --datastore), or from a file holding that XML (--one-xml), for a
 *   host without OpenNebula's CLI.
 * - Cinder: the backend sections of /etc/cinder/cinder.conf whose volume_driver is ours (only those
 *   in enabled_backends when it is set), with [backend_defaults] under each, as oslo.config reads them.
 *
 * Nothing here talks to LINSTOR; every file or command that cannot be read is reported, not thrown.
 */
import { execFile } from 'node:child_process'
import { accessSync, constants, existsSync, readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { delimiter, join } from 'node:path'
import { parse as parseIni } from 'ini'
import { isPluginError } from '../../core/errors/index.js'
import { describeOpenNebulaDatastores } from '../../plugins/opennebula/index.js'
import type { OneDescribedDatastore } from '../../plugins/opennebula/index.js'
import { describeCinderBackend } from '../../plugins/openstack-cinder/index.js'
import type { CinderDescribedBackend } from '../../plugins/openstack-cinder/index.js'
import { describeProxmoxStorage } from '../../plugins/proxmox/index.js'
import type { ProxmoxDescribedStorage } from '../../plugins/proxmox/index.js'

export type Platform = 'proxmox' | 'opennebula' | 'cinder'
export const PLATFORMS: readonly Platform[] = ['proxmox', 'opennebula', 'cinder']

/** One platform storage (a storage.cfg section, a datastore, a backend section), described by its plugin. */
export type PlatformStorage = ProxmoxDescribedStorage | OneDescribedDatastore | CinderDescribedBackend

export const DEFAULT_STORAGE_CFG = '/etc/pve/storage.cfg'
export const DEFAULT_CINDER_CONF = '/etc/cinder/cinder.conf'
export const DEFAULT_PVE_PRIV_DIR = '/etc/pve/priv'
/** The Cinder driver class whose backend sections are ours. */
export const CINDER_DRIVER = 'linstor_virt_cinder.driver.LinstorVirtDriver'

export interface SourceOptions {
  /** Only this platform (else every platform found on the host). */
  platform?: Platform
  /** Only this Proxmox storage id / these OpenNebula datastore ids / this Cinder backend section. */
  storage?: string
  datastores?: readonly string[]
  backend?: string
  /** Explicit locations; an explicit one that cannot be read is reported (a default one that is absent is not). */
  storageCfg?: string
  cinderConf?: string
  oneXml?: string
  /** OpenNebula's CLI (default `onedatastore` on PATH). */
  onedatastore?: string
  /** This host's node name (default: the short host name). */
  node?: string
  env?: NodeJS.ProcessEnv
  /** Deadline of one OpenNebula CLI run, default 10 s. */
  commandTimeoutMs?: number
}

export interface Sources {
  storages: PlatformStorage[]
  /** What could not be read, one line each, naming the file, command or section. */
  unread: string[]
  /** Where the storages came from (files and commands read), for the report's header. */
  read: string[]
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** One `type: id` section of storage.cfg with its keys (first value of a duplicate key kept). */
export interface CfgSection {
  type: string
  id: string
  keys: Record<string, string>
  line: number
}

const STORAGE_ID = /^[a-z][a-z0-9\-_.]*[a-z0-9]$/i

/**
 * Parses storage.cfg as PVE's SectionConfig does: a header `type: id` in column 0, property lines
 * indented (`key value`, a key alone meaning 1), comments (first non-blank `#`) dropped anywhere,
 * and a section ending at the first completely empty line. Sections with a bad id are skipped and
 * reported in `problems`.
 */
export function parseStorageCfg(text: string): { sections: CfgSection[]; problems: string[] } {
  const sections: CfgSection[] = []
  const problems: string[] = []
  let current: CfgSection | undefined
  let skipping = false
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '')
    if (line === '') {
      current = undefined
      skipping = false
      return
    }
    if (/^\s*#/.test(line)) return
    if (current === undefined && !skipping) {
      const h = /^([A-Za-z][A-Za-z0-9_-]*):\s*(\S+)\s*$/.exec(line)
      if (h === null) return
      const id = h[2] ?? ''
      if (!STORAGE_ID.test(id)) {
        problems.push(`line ${i + 1}: '${id}' is not a storage id; section skipped`)
        skipping = true
        return
      }
      current = { type: (h[1] ?? '').toLowerCase(), id, keys: {}, line: i + 1 }
      sections.push(current)
      return
    }
    if (current === undefined) return
    const p = /^\s+(\S+)(?:\s+(.*?))?\s*$/.exec(line)
    if (p === null) return
    const key = p[1] ?? ''
    if (!Object.hasOwn(current.keys, key)) current.keys[key] = p[2] ?? '1'
  })
  return { sections, problems }
}

/** The backend sections of a cinder.conf that use our driver, as the shim's config objects. */
export function cinderBackends(text: string): { backends: Record<string, unknown>[]; problems: string[] } {
  const conf = parseIni(text) as Record<string, unknown>
  const section = (name: string): Record<string, unknown> => {
    const s = conf[name]
    return typeof s === 'object' && s !== null && !Array.isArray(s) ? (s as Record<string, unknown>) : {}
  }
  const defaults = section('backend_defaults')
  const enabledRaw = section('DEFAULT')['enabled_backends']
  const enabled = typeof enabledRaw === 'string' && enabledRaw.trim() !== '' ? enabledRaw.split(',').map((x) => x.trim()).filter((x) => x !== '') : undefined
  const problems: string[] = []
  const backends: Record<string, unknown>[] = []
  const names = enabled ?? Object.keys(conf).filter((k) => k !== 'DEFAULT' && k !== 'backend_defaults')
  for (const name of names) {
    if (!Object.hasOwn(conf, name)) {
      problems.push(`enabled_backends names [${name}], which cinder.conf does not have`)
      continue
    }
    const s = { ...defaults, ...section(name) }
    const opt = (k: string): string | undefined => {
      const v = s[k]
      return typeof v === 'string' && v.trim() !== '' ? v.trim() : typeof v === 'number' ? String(v) : undefined
    }
    if (opt('volume_driver') !== CINDER_DRIVER) continue
    const uris = opt('linstor_uris') ?? opt('linstor_default_uri') ?? 'linstor://localhost'
    const pick = (option: string, key: string): Record<string, string> => (opt(option) !== undefined ? { [key]: opt(option) as string } : {})
    backends.push({
      backend: name,
      ...pick('volume_backend_name', 'volumeBackendName'),
      controllers: uris.split(',').map((x) => x.trim()).filter((x) => x !== ''),
      ...pick('linstor_trusted_ca', 'caFile'),
      ...pick('linstor_client_cert', 'certFile'),
      ...pick('linstor_client_key', 'keyFile'),
      ...pick('linstor_virt_token_file', 'tokenFile'),
      ...pick('linstor_default_resource_group_name', 'defaultResourceGroup'),
    })
  }
  return { backends, problems }
}

function onPath(command: string, env: NodeJS.ProcessEnv): boolean {
  if (command.includes('/')) return existsSync(command)
  return (env['PATH'] ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { env, timeout: timeoutMs, maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`${[command, ...args].join(' ')}: ${stderr.trim().split('\n')[0] || err.message}`))
      else resolve(stdout)
    })
  })
}

function readText(path: string): string {
  return readFileSync(path, 'utf8')
}

async function proxmox(o: SourceOptions, out: Sources): Promise<void> {
  const path = o.storageCfg ?? DEFAULT_STORAGE_CFG
  if (o.storageCfg === undefined && !existsSync(path)) {
    if (o.platform === 'proxmox' || o.storage !== undefined) out.unread.push(`proxmox: ${path} does not exist (not a Proxmox VE node? --storage-cfg names another file)`)
    return
  }
  let text: string
  try {
    text = readText(path)
  } catch (err) {
    out.unread.push(`proxmox: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? message(err)}`)
    return
  }
  out.read.push(path)
  const { sections, problems } = parseStorageCfg(text)
  out.unread.push(...problems.map((p) => `proxmox: ${path} ${p}`))
  const env = o.env ?? process.env
  const priv = env['LINSTOR_VIRT_PVE_PRIV_DIR'] !== undefined && env['LINSTOR_VIRT_PVE_PRIV_DIR'] !== '' ? env['LINSTOR_VIRT_PVE_PRIV_DIR'] : DEFAULT_PVE_PRIV_DIR
  const ours = sections.filter((s) => s.type === 'linstor' && (o.storage === undefined || s.id === o.storage))
  if (o.storage !== undefined && ours.length === 0) out.unread.push(`proxmox: ${path} has no linstor storage ${o.storage}`)
  for (const s of ours) {
    const tokenFile = join(priv, 'storage', `${s.id}.linstor-token`)
    try {
      const d = await describeProxmoxStorage({ storeid: s.id, scfg: s.keys, node: o.node ?? hostname().split('.')[0] ?? 'localhost', ...(existsSync(tokenFile) ? { tokenFile } : {}) })
      out.storages.push(s.keys['disable'] === '1' ? { ...d, label: `${d.label} (disabled)` } : d)
    } catch (err) {
      if (!isPluginError(err)) throw err
      out.unread.push(`proxmox: ${path}: ${err.message}`)
    }
  }
}

async function opennebula(o: SourceOptions, out: Sources): Promise<void> {
  const env = o.env ?? process.env
  const cli = o.onedatastore ?? 'onedatastore'
  const timeout = o.commandTimeoutMs ?? 10_000
  const documents: { from: string; xml: Promise<string> }[] = []
  if (o.oneXml !== undefined) {
    const file = o.oneXml
    documents.push({ from: file, xml: Promise.resolve().then(() => readText(file)) })
  } else if (o.datastores !== undefined && o.datastores.length > 0) {
    for (const id of o.datastores) {
      if (!/^[0-9]+$/.test(id)) {
        out.unread.push(`opennebula: '${id}' is not a datastore id`)
        continue
      }
      documents.push({ from: `${cli} show -x ${id}`, xml: run(cli, ['show', '-x', id], env, timeout) })
    }
  } else if (o.platform === 'opennebula' || onPath(cli, env)) {
    documents.push({ from: `${cli} list -x`, xml: run(cli, ['list', '-x'], env, timeout) })
  }
  for (const d of documents) {
    try {
      const described = await describeOpenNebulaDatastores(await d.xml)
      out.read.push(d.from)
      out.unread.push(...described.problems.map((p) => `opennebula: ${p}`))
      const wanted = described.datastores.filter((ds) => o.datastores === undefined || o.datastores.length === 0 || o.datastores.includes(ds.id))
      if (o.datastores !== undefined && o.oneXml !== undefined) {
        for (const id of o.datastores) if (!wanted.some((ds) => ds.id === id)) out.unread.push(`opennebula: ${d.from} has no linstor datastore ${id}`)
      }
      out.storages.push(...wanted)
    } catch (err) {
      out.unread.push(`opennebula: ${d.from}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : message(err)}`)
    }
  }
}

async function cinder(o: SourceOptions, out: Sources): Promise<void> {
  const path = o.cinderConf ?? DEFAULT_CINDER_CONF
  if (o.cinderConf === undefined && !existsSync(path)) {
    if (o.platform === 'cinder' || o.backend !== undefined) out.unread.push(`cinder: ${path} does not exist (not a cinder-volume host? --cinder-conf names another file)`)
    return
  }
  let text: string
  try {
    text = readText(path)
  } catch (err) {
    out.unread.push(`cinder: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? message(err)}`)
    return
  }
  out.read.push(path)
  const { backends, problems } = cinderBackends(text)
  out.unread.push(...problems.map((p) => `cinder: ${path}: ${p}`))
  const ours = backends.filter((b) => o.backend === undefined || b['backend'] === o.backend)
  if (o.backend !== undefined && ours.length === 0) out.unread.push(`cinder: ${path} has no backend section [${o.backend}] with volume_driver = ${CINDER_DRIVER}`)
  for (const b of ours) {
    try {
      out.storages.push(await describeCinderBackend(b))
    } catch (err) {
      if (!isPluginError(err)) throw err
      out.unread.push(`cinder: ${path}: ${err.message}`)
    }
  }
}

/** Every platform storage this host's configuration names (filtered by the options). */
export async function findSources(o: SourceOptions = {}): Promise<Sources> {
  const out: Sources = { storages: [], unread: [], read: [] }
  const want = (p: Platform): boolean => o.platform === undefined || o.platform === p
  // A filter of one platform implies that platform.
  const implied: Platform | undefined = o.storage !== undefined ? 'proxmox' : o.datastores !== undefined && o.datastores.length > 0 ? 'opennebula' : o.backend !== undefined ? 'cinder' : undefined
  const only = implied ?? o.platform
  const opts = { ...o, ...(only !== undefined ? { platform: only } : {}) }
  if (only === undefined || only === 'proxmox') if (want('proxmox')) await proxmox(opts, out)
  if (only === undefined || only === 'opennebula') if (want('opennebula')) await opennebula(opts, out)
  if (only === undefined || only === 'cinder') if (want('cinder')) await cinder(opts, out)
  return out
}
