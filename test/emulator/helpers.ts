/**
 * Helpers for the emulator's behaviour tests: an emulator per test on 127.0.0.1:0, raw HTTP
 * (node:http) for exact-body checks and the /x-emulator control endpoints, and the project's
 * LINSTOR client for the API calls.
 */
import http from 'node:http'
import https from 'node:https'
import type { TestContext } from 'node:test'
import { createLinstorClient, parseLinstorJson } from '../../core/linstor/index.js'
import type { LinstorClient, LinstorClientOptions } from '../../core/linstor/index.js'
import { startEmulator } from '../../emulator/index.js'
import type { EmulatorOptions, RunningEmulator } from '../../emulator/index.js'

/** Starts an emulator (127.0.0.1, free port, temp state) and closes it after the test. */
export async function withEmulator(t: TestContext, options: EmulatorOptions = {}): Promise<RunningEmulator> {
  const emu = await startEmulator({ logLevel: 'silent', ...options, listen: { host: '127.0.0.1', port: 0, ...(options.listen ?? {}) } })
  t.after(() => emu.close())
  return emu
}

/** A client for the emulator, without retries so faults surface directly; closed after the test. */
export function clientFor(t: TestContext, emu: RunningEmulator, extra: Pick<LinstorClientOptions, 'token' | 'transport' | 'timeoutMs' | 'connectTimeoutMs'> = {}): LinstorClient {
  const c = createLinstorClient({
    controllers: emu.url,
    env: {},
    clientConfPaths: [],
    defaultTokenFile: '/nonexistent/linstor-auth.json',
    retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    ...extra,
  })
  t.after(() => c.close())
  return c
}

export interface RawResponse {
  status: number
  headers: http.IncomingHttpHeaders
  text: string
  body: Buffer
}

export interface RawOptions {
  headers?: Record<string, string>
  /** For HTTPS: CA, client cert/key. */
  ca?: string | Buffer
  cert?: string | Buffer
  key?: string | Buffer
}

/** One HTTP request with node:http(s); the body is JSON-encoded unless it is a string or Buffer. */
export function raw(base: string | RunningEmulator, method: string, path: string, body?: unknown, opts: RawOptions = {}): Promise<RawResponse> {
  const url = new URL(path, typeof base === 'string' ? base : base.url)
  let payload: Buffer | undefined
  const headers: Record<string, string> = { connection: 'close', ...(opts.headers ?? {}) }
  if (body !== undefined) {
    payload = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body))
    headers['content-length'] = String(payload.length)
    if (headers['content-type'] === undefined) headers['content-type'] = Buffer.isBuffer(body) ? 'application/octet-stream' : 'application/json'
  }
  const mod = url.protocol === 'https:' ? https : http
  return new Promise((resolve, reject) => {
    const req = mod.request(
      url,
      { method, headers, ...(opts.ca !== undefined ? { ca: opts.ca } : {}), ...(opts.cert !== undefined ? { cert: opts.cert } : {}), ...(opts.key !== undefined ? { key: opts.key } : {}) },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const buf = Buffer.concat(chunks)
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: buf.toString('utf8'), body: buf })
        })
        res.on('error', reject)
      },
    )
    req.setTimeout(15_000, () => req.destroy(new Error('request timed out')))
    req.on('error', reject)
    if (payload !== undefined) req.write(payload)
    req.end()
  })
}

/** Every `ret_code` in a parsed reply as a bigint, wherever it sits. */
function retCodesToBigint(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(retCodesToBigint)
  if (typeof v !== 'object' || v === null) return v
  const out: Record<string, unknown> = {}
  for (const [k, x] of Object.entries(v)) {
    out[k] = k === 'ret_code' && (typeof x === 'string' || typeof x === 'number') ? BigInt(x) : retCodesToBigint(x)
  }
  return out
}

/**
 * Parses a reply body with the client's lossless reader (integers beyond 2^53, such as Long.MAX
 * capacities, arrive as decimal strings) and gives every `ret_code` as a bigint.
 */
export function parseLossless(text: string): unknown {
  return retCodesToBigint(parseLinstorJson(text))
}

export interface Entry {
  ret_code: bigint
  message: string
  details?: string
  cause?: string
  obj_refs?: Record<string, string>
  error_report_ids?: string[]
  created_at?: string
}

export function entries(text: string): Entry[] {
  const v = parseLossless(text)
  if (!Array.isArray(v)) throw new Error(`expected an ApiCallRc list, got: ${text.slice(0, 200)}`)
  return v as Entry[]
}

export const MASK_ERROR = -0x4000000000000000n
export const MASK_BITS_CODE = 0x7fffn

/** The 15-bit code of a ret_code. */
export function code(rc: bigint): number {
  return Number(rc & MASK_BITS_CODE)
}

export function isErrorRc(rc: bigint): boolean {
  return (rc & MASK_ERROR) === MASK_ERROR
}

/** JSON reply of a raw call (throws on non-JSON). */
export async function getJson(emu: RunningEmulator, path: string): Promise<unknown> {
  const r = await raw(emu, 'GET', path)
  if (r.status !== 200) throw new Error(`GET ${path} -> ${r.status}: ${r.text}`)
  return parseLossless(r.text)
}

/** POST/PUT/DELETE expecting no ERROR entry; returns the entries. */
export async function ok(emu: RunningEmulator, method: string, path: string, body?: unknown): Promise<Entry[]> {
  const r = await raw(emu, method, path, body)
  const list = entries(r.text)
  if (list.some((e) => isErrorRc(e.ret_code)) || r.status >= 300) throw new Error(`${method} ${path} -> ${r.status}: ${r.text}`)
  return list
}

const clients = new WeakMap<RunningEmulator, LinstorClient>()

/**
 * The project's LINSTOR client for an emulator, used by the setup helpers so every test also drives
 * the client against the emulator. No keep-alive, so nothing needs closing.
 */
export function linstor(emu: RunningEmulator): LinstorClient {
  let c = clients.get(emu)
  if (c === undefined) {
    c = createLinstorClient({
      controllers: emu.url,
      env: {},
      clientConfPaths: [],
      defaultTokenFile: '/nonexistent/linstor-auth.json',
      keepAlive: false,
      retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    })
    clients.set(emu, c)
  }
  return c
}

/** Creates an RD with one volume of `sizeKib` (through the client). */
export async function createRdWithVolume(emu: RunningEmulator, name: string, sizeKib = 10240, extra: { resource_group_name?: string } = {}): Promise<void> {
  const c = linstor(emu)
  await c.resourceDefinitions.create({ resource_definition: { name, ...extra } })
  await c.volumeDefinitions.create(name, { volume_definition: { size_kib: sizeKib } })
}

/** RD + VD + autoplace (place_count, default 2), through the client. */
export async function placedResource(emu: RunningEmulator, name: string, placeCount = 2, sizeKib = 10240): Promise<Entry[]> {
  await createRdWithVolume(emu, name, sizeKib)
  return linstor(emu).resources.autoplace(name, { select_filter: { place_count: placeCount } })
}

export interface ViewResource {
  name: string
  node_name: string
  flags?: string[]
  props?: Record<string, string>
  state?: { in_use?: boolean }
  volumes: Array<{ volume_number: number; device_path?: string; storage_pool_name?: string; allocated_size_kib?: number; state?: { disk_state?: string } }>
}

export async function viewResources(emu: RunningEmulator, query = ''): Promise<ViewResource[]> {
  return (await getJson(emu, `/v1/view/resources${query}`)) as ViewResource[]
}

/** node → flags of each replica of a resource (through the client's view). */
export async function placement(emu: RunningEmulator, rsc: string): Promise<Record<string, string[]>> {
  const rows = await linstor(emu).view.resources({ resources: [rsc] })
  return Object.fromEntries(rows.map((r) => [r.node_name, r.flags]))
}

// Control endpoints.

export async function control(emu: RunningEmulator, method: string, path: string, body?: unknown): Promise<RawResponse> {
  return raw(emu, method, `/x-emulator${path}`, body)
}

export async function open(emu: RunningEmulator, node: string, rsc: string): Promise<RawResponse> {
  return control(emu, 'POST', `/nodes/${node}/resources/${rsc}/open`)
}

export async function close(emu: RunningEmulator, node: string, rsc: string): Promise<RawResponse> {
  return control(emu, 'POST', `/nodes/${node}/resources/${rsc}/close`)
}

export async function write(emu: RunningEmulator, node: string, rsc: string, vol: number, offset: number, data: Buffer): Promise<RawResponse> {
  return raw(emu, 'PUT', `/x-emulator/nodes/${node}/resources/${rsc}/volumes/${vol}/data?offset=${offset}`, data)
}

export async function read(emu: RunningEmulator, node: string, rsc: string, vol: number, offset: number, length: number): Promise<RawResponse> {
  return raw(emu, 'GET', `/x-emulator/nodes/${node}/resources/${rsc}/volumes/${vol}/data?offset=${offset}&length=${length}`)
}

export async function setOnline(emu: RunningEmulator, node: string, online: boolean): Promise<void> {
  const r = await control(emu, 'POST', `/nodes/${node}/${online ? 'online' : 'offline'}`)
  if (r.status !== 200) throw new Error(`node ${node} online=${online}: ${r.text}`)
}
