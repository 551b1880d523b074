/**
 * Controller addresses and client settings, resolved the way LINSTOR's own tools do:
 * the platform's configuration first, else LS_CONTROLLERS, else the [global] controllers line of
 * linstor-client.conf, else linstor://localhost.
 */
import { readFileSync } from 'node:fs'
import { parse as parseIni } from 'ini'
import { ConfigError } from '../errors/index.js'

export const DEFAULT_PLAIN_PORT = 3370
export const DEFAULT_TLS_PORT = 3371
export const CLIENT_CONF_PATHS: readonly string[] = ['/etc/linstor/linstor-client.conf']
export const DEFAULT_TOKEN_FILE = '/var/lib/linstor.d/auth.json'

/** One controller endpoint, normalised. */
export interface ControllerEndpoint {
  /** 'http' or 'https'. */
  protocol: 'http' | 'https'
  host: string
  port: number
  /** Normalised base URL, e.g. http://10.0.0.1:3370 (IPv6 hosts bracketed). */
  url: string
  /**
   * Written as linstor:// (or bare host): the controller may redirect plain HTTP to its HTTPS
   * port, and the client follows that once and stays on HTTPS, as python-linstor does.
   */
  upgradable?: boolean
}

/** The endpoint for a protocol, a host (URL form, IPv6 possibly bracketed) and a port. */
export function endpointOf(protocol: 'http' | 'https', urlHost: string, port: number): ControllerEndpoint {
  const host = urlHost.startsWith('[') ? urlHost.slice(1, -1) : urlHost
  const hostForUrl = host.includes(':') ? `[${host}]` : host
  return { protocol, host, port, url: `${protocol}://${hostForUrl}:${port}` }
}

const SCHEMES: Record<string, { protocol: 'http' | 'https'; port: number }> = {
  'linstor:': { protocol: 'http', port: DEFAULT_PLAIN_PORT },
  'linstor+ssl:': { protocol: 'https', port: DEFAULT_TLS_PORT },
  'http:': { protocol: 'http', port: DEFAULT_PLAIN_PORT },
  'https:': { protocol: 'https', port: DEFAULT_TLS_PORT },
}

/**
 * An address as messages may show it: anything up to its last '@' (user:password written into the
 * URL) left out. A controller address never needs an '@', and credentials in one are refused.
 */
export function withoutCredentials(address: string): string {
  return address.replace(/^([a-z][a-z0-9+.-]*:\/\/)?.*@/is, '$1')
}

/**
 * Parses one controller address: linstor://host[:port], linstor+ssl://host[:port], http(s)://...,
 * or a bare host[:port] (= linstor://). Throws ConfigError naming `setting` when it is not one;
 * messages never repeat credentials written into the address.
 */
export function parseControllerUrl(text: string, setting = 'controllers'): ControllerEndpoint {
  const raw = text.trim()
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `linstor://${raw}`
  const shown = withoutCredentials(raw)
  let u: URL
  try {
    u = new URL(withScheme)
  } catch {
    throw new ConfigError([{ setting, problem: `'${shown}' is not a controller address (expected linstor://host[:port], linstor+ssl://host[:port], http(s)://host[:port] or host[:port])` }])
  }
  const scheme = SCHEMES[u.protocol.toLowerCase()]
  if (scheme === undefined) {
    throw new ConfigError([{ setting, problem: `unsupported scheme '${u.protocol}' in '${shown}' (use linstor://, linstor+ssl://, http:// or https://)` }])
  }
  if (u.hostname === '') throw new ConfigError([{ setting, problem: `no host in '${shown}'` }])
  if (u.username !== '' || u.password !== '') {
    throw new ConfigError([{ setting, problem: 'credentials in controller URLs are not accepted; configure a token file instead' }])
  }
  if ((u.pathname !== '' && u.pathname !== '/') || u.search !== '' || u.hash !== '') {
    throw new ConfigError([{ setting, problem: `'${shown}' must not have a path or query` }])
  }
  // URL drops a port equal to its scheme's web default (http :80, https :443): keep the one written.
  const written = /^[a-z][a-z0-9+.-]*:\/\/(?:\[[^\]]*\]|[^/?#:@[]*)(?::([0-9]+))?(?:[/?#]|$)/i.exec(withScheme)?.[1]
  const endpoint = endpointOf(scheme.protocol, u.hostname, u.port !== '' ? Number(u.port) : written !== undefined ? Number(written) : scheme.port)
  if (u.protocol.toLowerCase() === 'linstor:') endpoint.upgradable = true
  return endpoint
}

/** Parses a comma separated list (spaces allowed); duplicates are dropped, order kept. */
export function parseControllerList(text: string, setting = 'controllers'): ControllerEndpoint[] {
  const parts = text.split(',').map((s) => s.trim()).filter((s) => s !== '')
  if (parts.length === 0) throw new ConfigError([{ setting, problem: 'no controller address given' }])
  const seen = new Set<string>()
  const out: ControllerEndpoint[] = []
  for (const p of parts) {
    const e = parseControllerUrl(p, setting)
    if (!seen.has(e.url)) {
      seen.add(e.url)
      out.push(e)
    }
  }
  return out
}

/** Where the resolved controller list came from (for `doctor`-style reports). */
export type ControllerSource = 'config' | 'LS_CONTROLLERS' | 'linstor-client.conf' | 'default'

export interface ResolveControllersInput {
  /** The platform configuration's value (storage.cfg, cinder.conf, datastore template...). */
  configured?: string | readonly string[] | undefined
  env?: NodeJS.ProcessEnv
  clientConfPaths?: readonly string[]
}

/** Reads the [global] controllers line of a linstor-client.conf; undefined when absent or unset. */
export function readClientConfControllers(path: string): string | undefined {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
  const conf = parseIni(text) as Record<string, unknown>
  const global = conf['global']
  if (typeof global !== 'object' || global === null) return undefined
  const controllers = (global as Record<string, unknown>)['controllers']
  return typeof controllers === 'string' && controllers.trim() !== '' ? controllers : undefined
}

export function resolveControllers(input: ResolveControllersInput = {}): { endpoints: ControllerEndpoint[]; source: ControllerSource } {
  const { configured } = input
  if (configured !== undefined && (typeof configured === 'string' ? configured.trim() !== '' : configured.length > 0)) {
    const text = typeof configured === 'string' ? configured : configured.join(',')
    return { endpoints: parseControllerList(text), source: 'config' }
  }
  const env = input.env ?? process.env
  const fromEnv = env['LS_CONTROLLERS']
  if (fromEnv !== undefined && fromEnv.trim() !== '') {
    return { endpoints: parseControllerList(fromEnv, 'LS_CONTROLLERS'), source: 'LS_CONTROLLERS' }
  }
  for (const path of input.clientConfPaths ?? CLIENT_CONF_PATHS) {
    const fromConf = readClientConfControllers(path)
    if (fromConf !== undefined) {
      return { endpoints: parseControllerList(fromConf, `${path} [global] controllers`), source: 'linstor-client.conf' }
    }
  }
  return { endpoints: [parseControllerUrl('linstor://localhost')], source: 'default' }
}

/**
 * Reads a bearer token file: JSON {"token": "..."} (LINSTOR's auth.json convention) or the token
 * as plain text. Errors name the file, never its content.
 */
export function readTokenFile(path: string, setting = 'token_file'): string {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'unreadable'
    throw new ConfigError([{ setting, problem: `cannot read token file ${path} (${code})` }])
  }
  const trimmed = text.trim()
  if (trimmed.startsWith('{')) {
    let parsed: unknown
    try {
      parsed = JSON.parse(trimmed)
    } catch {
      throw new ConfigError([{ setting, problem: `token file ${path} is not valid JSON` }])
    }
    const token = (parsed as Record<string, unknown> | null)?.['token']
    if (typeof token !== 'string' || token === '') {
      throw new ConfigError([{ setting, problem: `token file ${path} has no "token" string` }])
    }
    return token
  }
  if (trimmed === '' || /\s/.test(trimmed)) {
    throw new ConfigError([{ setting, problem: `token file ${path} must hold one token` }])
  }
  return trimmed
}
