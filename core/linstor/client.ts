/** The LINSTOR client: one object per resource family over one transport. */
import { readFileSync } from 'node:fs'
import { ConfigError } from '../errors/index.js'
import type { Logger } from '../log/index.js'
import { Caller } from './caller.js'
import { ControllerApi } from './controller.js'
import { DEFAULT_TOKEN_FILE, readTokenFile, resolveControllers } from './controllers.js'
import type { ControllerEndpoint, ControllerSource } from './controllers.js'
import { NodesApi } from './nodes.js'
import { ResourceDefinitionsApi } from './resource-definitions.js'
import { ResourceGroupsApi } from './resource-groups.js'
import { ResourcesApi } from './resources.js'
import type { RetryPolicy } from './retry.js'
import { SnapshotsApi } from './snapshots.js'
import { StoragePoolsApi } from './storage-pools.js'
import { HttpLinstorTransport } from './transport.js'
import type { LinstorTransport, TlsOptions } from './transport.js'
import { ViewsApi } from './views.js'
import { VolumeDefinitionsApi } from './volume-definitions.js'

export interface LinstorTlsSettings {
  /** PEM contents or a path in the *File variant; contents win when both are given. */
  ca?: string | Buffer
  caFile?: string
  cert?: string | Buffer
  certFile?: string
  key?: string | Buffer
  keyFile?: string
  rejectUnauthorized?: boolean
}

export interface LinstorClientOptions {
  /**
   * The platform's controller setting (comma separated string or list). When empty: LS_CONTROLLERS,
   * then [global] controllers of linstor-client.conf, then linstor://localhost.
   */
  controllers?: string | readonly string[]
  /** Bearer token; or a file holding it (JSON {"token": ...} or plain). Default: LS_BEARER_TOKEN_FILE, then /var/lib/linstor.d/auth.json when present. */
  token?: string
  tokenFile?: string
  tls?: LinstorTlsSettings
  /** Per controller connect timeout, default 2000 ms. */
  connectTimeoutMs?: number
  /** Default total deadline per call, default 60000 ms. */
  timeoutMs?: number
  /** Keep connections open (long-lived processes such as the agent). Default false. */
  keepAlive?: boolean
  retry?: RetryPolicy
  logger?: Logger
  random?: () => number
  userAgent?: string
  /** For tests: environment and linstor-client.conf locations used to resolve controllers and token. */
  env?: NodeJS.ProcessEnv
  clientConfPaths?: readonly string[]
  defaultTokenFile?: string
  /** Use this transport instead of HTTP (tests of higher layers, recording). */
  transport?: LinstorTransport
  /**
   * The abort signal of the call a request is made for (the agent runs calls with deadlines, over
   * one shared client): once it is aborted, no further write is sent for that call.
   */
  callSignal?: () => AbortSignal | undefined
  /** The deadline (epoch ms) of the call a request is made for: no request waits past it. */
  callDeadline?: () => number | undefined
}

function readPem(setting: string, path: string): Buffer {
  try {
    return readFileSync(path)
  } catch (e) {
    throw new ConfigError([{ setting, problem: `cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? 'unreadable'})` }])
  }
}

function resolveTls(tls: LinstorTlsSettings | undefined): TlsOptions | undefined {
  if (tls === undefined) return undefined
  const out: TlsOptions = {}
  const ca = tls.ca ?? (tls.caFile === undefined ? undefined : readPem('tls.caFile', tls.caFile))
  const cert = tls.cert ?? (tls.certFile === undefined ? undefined : readPem('tls.certFile', tls.certFile))
  const key = tls.key ?? (tls.keyFile === undefined ? undefined : readPem('tls.keyFile', tls.keyFile))
  if ((cert === undefined) !== (key === undefined)) {
    throw new ConfigError([{ setting: cert === undefined ? 'tls.cert' : 'tls.key', problem: 'a client certificate and its key go together: set both or neither' }])
  }
  if (ca !== undefined) out.ca = ca
  if (cert !== undefined) out.cert = cert
  if (key !== undefined) out.key = key
  if (tls.rejectUnauthorized !== undefined) out.rejectUnauthorized = tls.rejectUnauthorized
  return out
}

function resolveToken(options: LinstorClientOptions, env: NodeJS.ProcessEnv): string | undefined {
  if (options.token !== undefined && options.token !== '') return options.token
  if (options.tokenFile !== undefined) return readTokenFile(options.tokenFile, 'tokenFile')
  const fromEnv = env['LS_BEARER_TOKEN_FILE']
  if (fromEnv !== undefined && fromEnv !== '') return readTokenFile(fromEnv, 'LS_BEARER_TOKEN_FILE')
  const dflt = options.defaultTokenFile ?? DEFAULT_TOKEN_FILE
  try {
    readFileSync(dflt)
  } catch {
    return undefined
  }
  return readTokenFile(dflt, dflt)
}

/**
 * A typed client for the LINSTOR REST API v1.
 *
 * @example
 * const linstor = createLinstorClient({ controllers: 'linstor://ctrl-a,linstor://ctrl-b' })
 * const { rest_api_version } = await linstor.controller.version()
 * await linstor.resourceDefinitions.create({ resource_definition: { name: 'vm-100-disk-0' } })
 * linstor.close()
 */
export class LinstorClient {
  readonly controller: ControllerApi
  readonly nodes: NodesApi
  readonly storagePools: StoragePoolsApi
  readonly resourceGroups: ResourceGroupsApi
  readonly resourceDefinitions: ResourceDefinitionsApi
  readonly volumeDefinitions: VolumeDefinitionsApi
  readonly resources: ResourcesApi
  readonly snapshots: SnapshotsApi
  readonly view: ViewsApi
  readonly transport: LinstorTransport
  /** The controllers in configuration order and where that list came from. */
  readonly endpoints: readonly ControllerEndpoint[]
  readonly controllerSource: ControllerSource | 'transport'

  constructor(transport: LinstorTransport, endpoints: readonly ControllerEndpoint[], source: ControllerSource | 'transport') {
    const caller = new Caller(transport)
    this.transport = transport
    this.endpoints = endpoints
    this.controllerSource = source
    this.controller = new ControllerApi(caller)
    this.nodes = new NodesApi(caller)
    this.storagePools = new StoragePoolsApi(caller)
    this.resourceGroups = new ResourceGroupsApi(caller)
    this.resourceDefinitions = new ResourceDefinitionsApi(caller)
    this.volumeDefinitions = new VolumeDefinitionsApi(caller)
    this.resources = new ResourcesApi(caller)
    this.snapshots = new SnapshotsApi(caller)
    this.view = new ViewsApi(caller)
  }

  /** Closes idle connections; the client must not be used afterwards. */
  close(): void {
    this.transport.close()
  }
}

/** Resolves controllers, TLS and token from options and the environment and builds a client. */
export function createLinstorClient(options: LinstorClientOptions = {}): LinstorClient {
  if (options.transport !== undefined) return new LinstorClient(options.transport, [], 'transport')
  const env = options.env ?? process.env
  const { endpoints, source } = resolveControllers({
    configured: options.controllers,
    env,
    ...(options.clientConfPaths === undefined ? {} : { clientConfPaths: options.clientConfPaths }),
  })
  const token = resolveToken(options, env)
  const tls = resolveTls(options.tls)
  if (token !== undefined && endpoints.some((e) => e.protocol === 'http')) {
    options.logger?.warn({ controllers: endpoints.map((e) => e.url) }, 'a bearer token is sent over plain HTTP; use linstor+ssl:// or https://')
  }
  const transport = new HttpLinstorTransport({
    controllers: endpoints,
    ...(token === undefined ? {} : { token }),
    ...(tls === undefined ? {} : { tls }),
    ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(options.keepAlive === undefined ? {} : { keepAlive: options.keepAlive }),
    ...(options.retry === undefined ? {} : { retry: options.retry }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    ...(options.random === undefined ? {} : { random: options.random }),
    ...(options.userAgent === undefined ? {} : { userAgent: options.userAgent }),
    ...(options.callSignal === undefined ? {} : { callSignal: options.callSignal }),
    ...(options.callDeadline === undefined ? {} : { callDeadline: options.callDeadline }),
  })
  return new LinstorClient(transport, endpoints, source)
}
