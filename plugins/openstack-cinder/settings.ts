/**
 * A cinder.conf backend section (as the Python shim forwards it, plugins/openstack-cinder/CONTRACT.md)
 * turned into the core's settings, and a volume type's `linstor:` extra specs turned into a
 * placement policy. Option and spec names are LINBIT's driver's where they mean the same, so a
 * backend section and its volume types keep working when they switch drivers. Every problem names
 * the option or extra spec the operator wrote.
 */
import { ConfigError, PluginError, collectIssues, nearestName } from '../../core/errors/index.js'
import { parseControllerUrl, withoutCredentials } from '../../core/linstor/index.js'
import type { ConfigIssue, PlatformWords, SettingId } from '../../core/errors/index.js'
import { parsePlacementPolicy } from '../../core/placement/index.js'
import type { PlacementPolicy } from '../../core/placement/index.js'
import { isLinstorName, stableDevicePath } from '../../core/volumes/index.js'
import type { DrTarget } from '../../core/volumes/index.js'

/** cinder.conf options of the driver, as the messages name them. */
export const OPTION = {
  controllers: 'linstor_uris',
  caFile: 'linstor_trusted_ca',
  certFile: 'linstor_client_cert',
  keyFile: 'linstor_client_key',
  defaultResourceGroup: 'linstor_default_resource_group_name',
  tokenFile: 'linstor_virt_token_file',
  nodeMap: 'linstor_virt_node_map',
  controllerVolumes: 'linstor_virt_controller_volumes',
  reservedPercentage: 'reserved_percentage',
  maxOverSubscriptionRatio: 'max_over_subscription_ratio',
} as const

/** cinder.conf options that reach this side only as written (config.options), not as config keys. */
export const WRITTEN_OPTION = {
  timeout: 'linstor_timeout',
  agentSocket: 'linstor_virt_agent_socket',
  command: 'linstor_virt_command',
  privateAgent: 'linstor_virt_private_agent',
  /** LINBIT's and the in-tree driver's, honoured: the pool(s) of volumes whose type names none. */
  defaultStoragePool: 'linstor_default_storage_pool_name',
  /** The in-tree driver's, honoured: the replica count of volumes whose type names none. */
  autoplaceCount: 'linstor_autoplace_count',
} as const

/** Every option name the Python shim registers or this side reads (the old name of linstor_uris too). */
export const KNOWN_OPTIONS: readonly string[] = [...Object.values(OPTION), ...Object.values(WRITTEN_OPTION), 'linstor_default_uri', 'linstor_direct', 'linstor_force_udev'].filter((o: string) => o.startsWith('linstor_')).sort()

/**
 * Options of LINBIT's driver and of Cinder's in-tree LINSTOR driver that linstor-virt does not
 * honour, each with what to use instead. (linstor_default_uri, linstor_uris, the TLS options,
 * linstor_default_resource_group_name, linstor_timeout, linstor_default_storage_pool_name and
 * linstor_autoplace_count are honoured; linstor_direct and linstor_force_udev only with True,
 * which is what linstor-virt always does.)
 */
export const REFUSED_OPTIONS: Readonly<Record<string, string>> = {
  linstor_default_volume_group_name: 'not used: linstor-virt never creates storage pools; create them (linstor storage-pool create) and name them in linstor_default_storage_pool_name or the linstor:storage_pool extra spec',
  linstor_volume_downsize_factor: 'not used: volumes are made exactly the size Cinder asks for; remove it',
  linstor_default_blocksize: 'not used: image copies use Cinder\'s volume_dd_blocksize; set that instead',
  dd_blocksize: 'not used: image copies use Cinder\'s volume_dd_blocksize; set that instead',
  linstor_controller_diskless: 'not used: the Cinder host gets a diskless client only while it copies data (image copies, backups); remove it',
}

const TRUE_ONLY: Readonly<Record<string, string>> = {
  linstor_direct: 'not offered: volumes are always attached as local DRBD devices (no iSCSI); set True or remove it',
  linstor_force_udev: 'not offered: the device path is always /dev/drbd/by-res/<resource>/0; set True or remove it',
}

/** A cinder.conf option as written (the shim sends every linstor_* option it finds in the files). */
export interface WrittenOption {
  value: string
  /** The section it was found in: the backend's own, or [backend_defaults]. */
  section: string
}

/** The volume-type extra specs the driver reads (LINBIT's driver's keys), policy field by key. */
export const SPEC = {
  resourceGroup: 'linstor:resource_group',
  placeCount: 'linstor:redundancy',
  storagePools: 'linstor:storage_pool',
  disklessOnRemaining: 'linstor:diskless_on_remaining',
  doNotPlaceWithRegex: 'linstor:do_not_place_with_regex',
  layers: 'linstor:layer_list',
  providers: 'linstor:provider_list',
  replicasOnSame: 'linstor:replicas_on_same',
  replicasOnDifferent: 'linstor:replicas_on_different',
  /** linstor-virt's own: a disaster-recovery replica on this node, or on a node of this site (below). */
  drNode: 'linstor:dr_node',
  drSite: 'linstor:dr_site',
  drSiteKey: 'linstor:dr_site_key',
} as const

/** `linstor:property:<Key:With:Colons>` sets the LINSTOR property Key/With/Colons. */
export const PROPERTY_SPEC_PREFIX = 'linstor:property:'

/** Definition properties linstor-virt keeps for Cinder (which volume a resource belongs to). */
export const AUX_VOLUME_ID = 'Aux/cinder/volume-id'
export const AUX_SNAPSHOT_ID = 'Aux/cinder/snapshot-id'

export interface CinderSettings {
  backend: string
  /** linstor_default_storage_pool_name: pools for volumes whose type names no pool or group. */
  defaultStoragePools?: string[]
  /** linstor_autoplace_count: replicas for volumes whose type names no count or group. */
  defaultPlaceCount?: number
  /** The linstor_* options as written, by name (for messages). */
  written: Readonly<Record<string, WrittenOption>>
  /** Problems of options only in [backend_defaults] (meant for other backends too): start-up warnings. */
  warnings: string[]
  volumeBackendName: string
  driverVersion: string
  /** Sorted controller URIs (also the stats' location_info). */
  controllers: string[]
  defaultResourceGroup?: string
  /** The Cinder host's LINSTOR node (image copy and backups attach there). */
  cinderNode: string
  reservedPercentage: number
  maxOverSubscriptionRatio: number | 'auto'
  /** Tests only: where a node's devices appear ({node} is replaced); '' in production. */
  deviceRootTemplate: string
  /** The core's settings for storageOf. */
  core: Record<string, unknown>
  /** A platform host name (connector['host']) → its LINSTOR node name. */
  nodeOf(host: string): string
  /** The path a node opens for volume `number` of a resource. */
  devicePath(node: string, resource: string, number?: number): string
}

export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined
}

function strings(v: unknown, option: string, issues: ConfigIssue[]): string[] {
  if (v === undefined || v === null || v === '') return []
  const list = typeof v === 'string' ? v.split(',') : Array.isArray(v) ? v : undefined
  if (list === undefined || !list.every((x) => typeof x === 'string')) {
    issues.push({ setting: option, problem: 'must be a comma-separated list' })
    return []
  }
  return list.map((x) => (x).trim()).filter((x) => x !== '')
}

/** An option's string value (trimmed; unset when empty), an issue when it is not a string. */
function text(v: unknown, option: string, issues: ConfigIssue[]): string | undefined {
  if (v !== undefined && v !== null && typeof v !== 'string') {
    issues.push({ setting: option, problem: 'must be a string' })
    return undefined
  }
  return str(v)
}

function absolutePath(v: unknown, option: string, issues: ConfigIssue[]): string | undefined {
  const s = text(v, option, issues)
  if (s === undefined) return undefined
  if (!s.startsWith('/')) issues.push({ setting: option, problem: 'must be an absolute file path' })
  return s
}

const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/

/** Reads the call's config (CONTRACT.md) into settings; ConfigError names every bad option at once. */
export function cinderSettings(config: Readonly<Record<string, unknown>>): CinderSettings {
  const issues: ConfigIssue[] = []
  const backend = str(config['backend']) ?? 'linstor'
  const controllers = strings(config['controllers'], OPTION.controllers, issues).sort()
  for (const c of controllers) {
    if (!/^(?:linstor|linstor\+ssl|https?):\/\/[^\s/]+/i.test(c)) issues.push({ setting: OPTION.controllers, problem: `${JSON.stringify(withoutCredentials(c))} is not a controller URI (linstor://host, linstor+ssl://host, http(s)://host:port)` })
    else {
      // The rest of the address as the client will read it (spaces, ports, paths, credentials).
      collectIssues(issues, () => parseControllerUrl(c, OPTION.controllers))
    }
  }
  const caFile = absolutePath(config['caFile'], OPTION.caFile, issues)
  const certFile = absolutePath(config['certFile'], OPTION.certFile, issues)
  const keyFile = absolutePath(config['keyFile'], OPTION.keyFile, issues)
  if ((certFile === undefined) !== (keyFile === undefined)) {
    issues.push({ setting: certFile === undefined ? OPTION.certFile : OPTION.keyFile, problem: `a client certificate and its key go together: set both ${OPTION.certFile} and ${OPTION.keyFile}, or neither` })
  }
  const tokenFile = absolutePath(config['tokenFile'], OPTION.tokenFile, issues)
  const defaultResourceGroup = text(config['defaultResourceGroup'], OPTION.defaultResourceGroup, issues)
  const map = new Map<string, string>()
  const rawMap = config['nodeMap']
  if (rawMap !== undefined && rawMap !== null && !isRecord(rawMap)) issues.push({ setting: OPTION.nodeMap, problem: 'must be host:node pairs' })
  for (const [host, node] of Object.entries(isRecord(rawMap) ? rawMap : {})) {
    if (typeof node !== 'string' || !NODE_NAME.test(node.trim())) issues.push({ setting: OPTION.nodeMap, problem: `${JSON.stringify(host)} maps to ${JSON.stringify(node)}, which is not a LINSTOR node name` })
    else map.set(host.trim().toLowerCase(), node.trim())
  }
  const nodeOf = (host: string): string => map.get(host.toLowerCase()) ?? host
  const cinderHost = str(config['cinderHost']) ?? 'localhost'
  const controllerVolumes = strings(config['controllerVolumes'], OPTION.controllerVolumes, issues)
  const reserved = config['reservedPercentage'] ?? 0
  const reservedPercentage = typeof reserved === 'number' ? reserved : typeof reserved === 'string' && /^[0-9]+$/.test(reserved) ? Number(reserved) : NaN
  if (!Number.isInteger(reservedPercentage) || reservedPercentage < 0 || reservedPercentage > 100) issues.push({ setting: OPTION.reservedPercentage, problem: 'must be a whole number from 0 to 100' })
  const ratioRaw = config['maxOverSubscriptionRatio'] ?? '20.0'
  let maxOverSubscriptionRatio: number | 'auto' = 20
  if (ratioRaw === 'auto') maxOverSubscriptionRatio = 'auto'
  else {
    const n = typeof ratioRaw === 'number' ? ratioRaw : typeof ratioRaw === 'string' ? Number(ratioRaw) : NaN
    if (!Number.isFinite(n) || n < 1) issues.push({ setting: OPTION.maxOverSubscriptionRatio, problem: 'must be "auto" or a number of at least 1' })
    else maxOverSubscriptionRatio = n
  }
  if (defaultResourceGroup !== undefined && !isLinstorName(defaultResourceGroup)) {
    issues.push({ setting: OPTION.defaultResourceGroup, problem: `${JSON.stringify(defaultResourceGroup)} is not a LINSTOR resource group name` })
  }
  const written = writtenOptions(config['options'])
  const opts = checkWritten(backend, written)
  if (issues.length > 0 || opts.issues.length > 0) throw new ConfigError([...issues.map((i) => ({ ...i, setting: `[${backend}] ${i.setting}` })), ...opts.issues])

  const deviceRootTemplate = typeof config['deviceRoot'] === 'string' ? config['deviceRoot'] : ''
  const cinderNode = nodeOf(cinderHost)
  const lockDir = str(config['lockDir'])
  const core: Record<string, unknown> = {
    localNode: cinderNode,
    ...(controllers.length > 0 ? { controllers } : {}),
    ...(caFile !== undefined ? { caFile } : {}),
    ...(certFile !== undefined ? { certFile } : {}),
    ...(keyFile !== undefined ? { keyFile } : {}),
    ...(tokenFile !== undefined ? { tokenFile } : {}),
    ...(controllerVolumes.length > 0 ? { controllerVolumes } : {}),
    ...(deviceRootTemplate !== '' ? { deviceRoot: deviceRootTemplate.replaceAll('{node}', cinderNode) } : {}),
    ...(lockDir !== undefined ? { lockDir } : {}),
    // Where the host keeps what no controller could be told, and the last status answers (tests; default /var/lib/linstor-virt).
    ...(typeof config['stateDir'] === 'string' && config['stateDir'] !== '' ? { stateDir: config['stateDir'] } : {}),
    ...(typeof config['controllerBudgetMs'] === 'number' ? { controllerBudgetMs: config['controllerBudgetMs'] } : {}),
    // Cinder polls stats every 60 s; a minute-old capacity is as fresh as the scheduler sees it anyway.
    capacityMaxAgeMs: 30_000,
  }
  return {
    backend,
    ...(opts.storagePools !== undefined ? { defaultStoragePools: opts.storagePools } : {}),
    ...(opts.placeCount !== undefined ? { defaultPlaceCount: opts.placeCount } : {}),
    written,
    warnings: opts.warnings,
    volumeBackendName: str(config['volumeBackendName']) ?? backend,
    driverVersion: str(config['driverVersion']) ?? 'unknown',
    controllers,
    ...(defaultResourceGroup !== undefined ? { defaultResourceGroup } : {}),
    cinderNode,
    reservedPercentage,
    maxOverSubscriptionRatio,
    deviceRootTemplate,
    core,
    nodeOf,
    devicePath: (node, resource, number = 0) => deviceRootTemplate.replaceAll('{node}', node) + stableDevicePath(resource, number),
  }
}

function writtenOptions(raw: unknown): Record<string, WrittenOption> {
  const out: Record<string, WrittenOption> = {}
  if (!isRecord(raw)) return out
  for (const [name, v] of Object.entries(raw)) {
    if (typeof v === 'string') out[name] = { value: v, section: 'backend' }
    else if (isRecord(v) && typeof v['value'] === 'string') out[name] = { value: v['value'], section: typeof v['section'] === 'string' ? v['section'] : 'backend' }
  }
  return out
}

/** How a written option is named in messages: "[section] name = value". */
export function optionText(backend: string, name: string, o: WrittenOption | undefined): string {
  const section = o === undefined || o.section === 'backend' ? backend : o.section
  return o === undefined ? `[${section}] ${name}` : `[${section}] ${name} = ${o.value}`
}

/**
 * The options as written, checked: linstor_timeout's value (oslo would only fail at the first use),
 * the other drivers' options (honoured with the same meaning, or refused with what to use instead)
 * and unknown linstor_* names (refused, naming the nearest known one). A problem with an option
 * found only in [backend_defaults] is a warning (that section is every backend's).
 */
function checkWritten(backend: string, written: Readonly<Record<string, WrittenOption>>): { issues: ConfigIssue[]; warnings: string[]; storagePools?: string[]; placeCount?: number } {
  const issues: ConfigIssue[] = []
  const warnings: string[] = []
  const out: { storagePools?: string[]; placeCount?: number } = {}
  const report = (name: string, problem: string): void => {
    const o = written[name]
    const setting = optionText(backend, name, o)
    if (o !== undefined && o.section !== 'backend') warnings.push(`${setting}: ${problem} (ignored by backend ${backend})`)
    else issues.push({ setting, problem })
  }
  for (const [name, o] of Object.entries(written).sort(([a], [b]) => a.localeCompare(b))) {
    const v = o.value.trim()
    const bool = /^(true|yes|on|1)$/i.test(v) ? true : /^(false|no|off|0)$/i.test(v) ? false : undefined
    if (name === WRITTEN_OPTION.timeout) {
      if (!/^[0-9]{1,6}$/.test(v) || Number(v) < 1) report(name, 'must be a whole number of seconds of at least 1')
    } else if (name === WRITTEN_OPTION.defaultStoragePool) {
      const pools = v.split(',').map((x) => x.trim()).filter((x) => x !== '')
      const bad = pools.filter((p) => !isLinstorName(p))
      if (pools.length === 0 || bad.length > 0) report(name, `must name LINSTOR storage pools, comma separated${bad.length > 0 ? ` (${bad.map((b) => JSON.stringify(b)).join(', ')} is not a pool name)` : ''}`)
      else out.storagePools = pools
    } else if (name === WRITTEN_OPTION.autoplaceCount) {
      const n = /^[0-9]{1,2}$/.test(v) ? Number(v) : NaN
      if (n === 0) report(name, '0 (a replica on every node) is not offered; set a replica count from 1 to 16 here, or linstor:redundancy (with linstor:diskless_on_remaining) on the volume types')
      else if (!(n >= 1 && n <= 16)) report(name, 'must be a whole number of replicas from 1 to 16')
      else out.placeCount = n
    } else if (name === OPTION.nodeMap) {
      // oslo's DictOpt: host:node pairs, comma separated (a pair without ':' fails in oslo itself).
      const bad = v.split(',').map((x) => x.trim()).filter((x) => x !== '' && !/^[^:]+:\s*[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(x))
      if (bad.length > 0) report(name, `must be host:node pairs, comma separated (${bad.map((b) => JSON.stringify(b)).join(', ')} is not)`)
    } else if (TRUE_ONLY[name] !== undefined) {
      if (bool !== true) report(name, bool === false ? TRUE_ONLY[name] : 'must be True or False')
    } else if (REFUSED_OPTIONS[name] !== undefined) {
      report(name, REFUSED_OPTIONS[name])
    } else if (!KNOWN_OPTIONS.includes(name)) {
      const near = nearestName(name, [...KNOWN_OPTIONS, ...Object.keys(REFUSED_OPTIONS)])
      report(name, `not an option of linstor-virt${near !== undefined ? `; did you mean ${near}?` : ''}`)
    }
  }
  return { issues, warnings, ...out }
}

/** What a volume type asks for: where replicas go, and extra properties for the definition. */
export interface TypeSpec {
  policy: Readonly<PlacementPolicy>
  /** linstor:property:* keys that are not DRBD options, set on each resource definition. */
  props: Record<string, string>
  /** linstor:dr_node / linstor:dr_site: where each volume keeps a disaster-recovery replica. */
  dr?: DrTarget
  /** The volume type's name (undefined: no type). */
  typeName?: string
  /** Where each policy field came from: the type's extra spec, or a backend option. */
  origins: Partial<Record<keyof PlacementPolicy, { source: 'type' | 'backend'; key: string; value: string }>>
}

export interface VolumeTypeRef {
  name?: string | null
  extra_specs?: Record<string, unknown> | null
}

function specList(v: string): string[] {
  return v.split(',').map((x) => x.trim()).filter((x) => x !== '')
}

/** Cinder spells booleans "True", "<is> True", "yes", "1". */
function specBool(v: string): boolean | undefined {
  const s = v.replace(/^<is>\s*/i, '').trim().toLowerCase()
  if (['true', 'yes', '1', 'on'].includes(s)) return true
  if (['false', 'no', '0', 'off'].includes(s)) return false
  return undefined
}

const PROPERTY_KEY = /^[A-Za-z0-9][A-Za-z0-9_.+-]*(?:\/[A-Za-z0-9][A-Za-z0-9_.+-]*)*$/

/**
 * A volume type's placement, from its `linstor:` extra specs over the backend's default resource
 * group. Keys of other scopes (volume_backend_name, capabilities:..., provisioning:...) are the
 * scheduler's and are ignored here.
 *
 * @throws PluginError VOLUME_TYPE_INVALID naming every bad or unknown linstor: key at once.
 */
export function typeSpecOf(type: VolumeTypeRef | null | undefined, settings: Pick<CinderSettings, 'defaultResourceGroup' | 'defaultStoragePools' | 'defaultPlaceCount'>): TypeSpec {
  const specs = type?.extra_specs ?? {}
  const where = type?.name !== undefined && type.name !== null ? `volume type ${JSON.stringify(type.name)}` : 'the volume (no type)'
  const issues: ConfigIssue[] = []
  const input: Record<string, unknown> = {}
  const drbdOptions: Record<string, string> = {}
  const props: Record<string, string> = {}
  const dr: DrTarget = {}
  const origins: TypeSpec['origins'] = {}
  const known = new Set<string>(Object.values(SPEC))
  for (const [key, raw] of Object.entries(specs)) {
    if (!key.toLowerCase().startsWith('linstor:')) continue
    if (typeof raw !== 'string') {
      issues.push({ setting: key, problem: 'must be a string' })
      continue
    }
    const value = raw.trim()
    if (key.startsWith(PROPERTY_SPEC_PREFIX)) {
      const prop = key.slice(PROPERTY_SPEC_PREFIX.length).replaceAll(':', '/')
      if (!PROPERTY_KEY.test(prop)) issues.push({ setting: key, problem: `${JSON.stringify(prop)} is not a LINSTOR property name` })
      else if (prop.toLowerCase().startsWith('aux/linstor-virt/') || prop.toLowerCase().startsWith('aux/cinder/')) issues.push({ setting: key, problem: 'is linstor-virt\'s own bookkeeping and cannot be set from a volume type' })
      else if (prop.startsWith('DrbdOptions/')) drbdOptions[prop] = value
      else props[prop] = value
      continue
    }
    if (!known.has(key)) {
      const near = nearestName(key, [...known])
      issues.push({ setting: key, problem: `is not a linstor-virt extra spec (${near !== undefined ? `did you mean ${near}?` : `known: ${[...known].join(', ')}, ${PROPERTY_SPEC_PREFIX}<Key:Name>`})` })
      continue
    }
    const field = (Object.entries(SPEC) as [keyof PlacementPolicy, string][]).find(([, k]) => k === key)?.[0]
    if (field !== undefined) origins[field] = { source: 'type', key, value }
    switch (key) {
      case SPEC.resourceGroup:
        input['resourceGroup'] = value
        break
      case SPEC.placeCount:
        input['placeCount'] = /^-?[0-9]+$/.test(value) ? Number(value) : value
        break
      case SPEC.storagePools:
        input['storagePools'] = specList(value)
        break
      case SPEC.disklessOnRemaining: {
        const b = specBool(value)
        if (b === undefined) issues.push({ setting: key, problem: 'must be true or false' })
        else input['disklessOnRemaining'] = b
        break
      }
      case SPEC.doNotPlaceWithRegex:
        input['doNotPlaceWithRegex'] = value
        break
      case SPEC.layers:
        input['layers'] = specList(value).map((x) => x.toLowerCase())
        break
      case SPEC.providers:
        input['providers'] = specList(value).map((x) => x.toUpperCase())
        break
      case SPEC.drNode:
      case SPEC.drSite:
      case SPEC.drSiteKey:
        if (value === '') issues.push({ setting: key, problem: 'must name a node, a site or a node property' })
        else dr[key === SPEC.drNode ? 'node' : key === SPEC.drSite ? 'site' : 'siteKey'] = value
        break
      case SPEC.replicasOnSame:
      case SPEC.replicasOnDifferent:
        // LINBIT's driver prefixes each item with Aux/ (node properties set with `linstor node set-property --aux`).
        input[key === SPEC.replicasOnSame ? 'replicasOnSame' : 'replicasOnDifferent'] = specList(value).map((x) => (/^aux\//i.test(x) ? x : `Aux/${x}`))
        break
    }
  }
  if (input['resourceGroup'] === undefined && settings.defaultResourceGroup !== undefined) {
    input['resourceGroup'] = settings.defaultResourceGroup
    origins.resourceGroup = { source: 'backend', key: OPTION.defaultResourceGroup, value: settings.defaultResourceGroup }
  }
  // The other drivers' backend-wide pool and replica count, for types that name neither the field
  // nor a group of their own (LINBIT's driver: the pool option is the fallback of linstor:storage_pool).
  const ownGroup = origins.resourceGroup?.source === 'type'
  if (!ownGroup && input['storagePools'] === undefined && settings.defaultStoragePools !== undefined) {
    input['storagePools'] = [...settings.defaultStoragePools]
    origins.storagePools = { source: 'backend', key: WRITTEN_OPTION.defaultStoragePool, value: settings.defaultStoragePools.join(',') }
  }
  if (!ownGroup && input['placeCount'] === undefined && settings.defaultPlaceCount !== undefined) {
    input['placeCount'] = settings.defaultPlaceCount
    origins.placeCount = { source: 'backend', key: WRITTEN_OPTION.autoplaceCount, value: String(settings.defaultPlaceCount) }
  }
  if (Object.keys(drbdOptions).length > 0) input['drbdOptions'] = drbdOptions
  const policyIssues: ConfigIssue[] = []
  const policy: Readonly<PlacementPolicy> = collectIssues(policyIssues, () => parsePlacementPolicy(input, { settingNames: SPEC })) ?? {}
  issues.push(...policyIssues.map((i) => (i.setting === 'drbdOptions' ? { ...i, setting: `${PROPERTY_SPEC_PREFIX}DrbdOptions:...` } : i)))
  if (dr.node !== undefined && dr.site !== undefined) issues.push({ setting: SPEC.drSite, problem: `names the disaster-recovery replica's place like ${SPEC.drNode}: set one of the two` })
  if (dr.siteKey !== undefined && dr.site === undefined) issues.push({ setting: SPEC.drSiteKey, problem: `only applies with ${SPEC.drSite}` })
  const hasDr = dr.node !== undefined || dr.site !== undefined
  if (hasDr && policy.layers !== undefined && !policy.layers.includes('drbd')) issues.push({ setting: dr.node !== undefined ? SPEC.drNode : SPEC.drSite, problem: `needs DRBD to replicate to it, and ${SPEC.layers} has none` })
  if (issues.length > 0) {
    throw new PluginError('VOLUME_TYPE_INVALID', `${where}: ${issues.map((i) => `${i.setting} ${i.problem}`).join('; ')}`, { context: { volumeType: type?.name ?? undefined } })
  }
  return { policy, props, origins, ...(type?.name !== undefined && type.name !== null ? { typeName: type.name } : {}), ...(hasDr ? { dr } : {}) }
}

/**
 * How messages name what the operator configured on Cinder: the volume type and its extra spec,
 * or the backend section and its option, whichever the setting came from (the call's TypeSpec).
 */
export function cinderWords(config: Readonly<Record<string, unknown>>, spec?: TypeSpec): PlatformWords {
  const backend = str(config['backend']) ?? 'linstor'
  const written = writtenOptions(config['options'])
  const opt = (name: string, typed: unknown, unset: string): string => {
    const o = written[name]
    if (o !== undefined) return optionText(backend, name, o)
    const v = Array.isArray(typed) ? typed.join(',') : typeof typed === 'string' && typed !== '' ? typed : undefined
    return v !== undefined ? `[${backend}] ${name} = ${v}` : `[${backend}] ${name} (${unset})`
  }
  const typeWhere = spec?.typeName !== undefined ? `volume type ${JSON.stringify(spec.typeName)}` : undefined
  const policyField = (id: keyof PlacementPolicy): string => {
    const o = spec?.origins[id]
    if (o !== undefined) return o.source === 'type' ? `${typeWhere ?? 'the volume'}: ${o.key} ${JSON.stringify(o.value)}` : opt(o.key, o.value, '')
    const group = spec?.origins.resourceGroup
    if (group !== undefined && id !== 'resourceGroup') return `${policyField('resourceGroup')} (its ${id})`
    const specKey = (SPEC as Record<string, string>)[id]
    const base = typeWhere ?? `[${backend}] (volumes without a type)`
    return specKey !== undefined ? `${base}: ${specKey} (not set${id === 'placeCount' ? ': 2' : ''})` : `${base}: the placement's ${id}`
  }
  const where = (id?: SettingId): string => {
    switch (id) {
      case undefined:
        return typeWhere ?? `backend ${backend}`
      case 'controllers':
        return opt(OPTION.controllers, config['controllers'], 'not set: linstor://localhost')
      case 'tokenFile':
        return opt(OPTION.tokenFile, config['tokenFile'], 'not set')
      case 'caFile':
        return opt(OPTION.caFile, config['caFile'], 'not set')
      case 'certFile':
        return opt(OPTION.certFile, config['certFile'], 'not set')
      case 'keyFile':
        return opt(OPTION.keyFile, config['keyFile'], 'not set')
      case 'controllerVolumes':
        return opt(OPTION.controllerVolumes, config['controllerVolumes'], 'not set')
      case 'localNode':
        return `[${backend}] ${OPTION.nodeMap} (this host, ${str(config['cinderHost']) ?? 'localhost'}, as a LINSTOR node)`
      default:
        return policyField(id)
    }
  }
  const tokenSet = written[OPTION.tokenFile] !== undefined || str(config['tokenFile']) !== undefined
  return {
    where,
    fix: (id) => {
      if (id !== 'tokenFile') return undefined
      return tokenSet
        ? `put the controller's token in that file (readable by the cinder user and the agent), or correct ${OPTION.tokenFile} in [${backend}]`
        : `set ${OPTION.tokenFile} in [${backend}] to a file holding the controller's token`
    },
  }
}
