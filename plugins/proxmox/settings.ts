/**
 * A storage.cfg section of type `linstor`, as the Perl shim forwards it (config.scfg), turned into
 * the core's settings. Every problem names the storage.cfg key the operator wrote.
 */
import { ConfigError, collectIssues, nearestName } from '../../core/errors/index.js'
import { parseControllerList } from '../../core/linstor/index.js'
import type { ConfigIssue, PlatformWords, SettingId } from '../../core/errors/index.js'
import { parsePlacementPolicy } from '../../core/placement/index.js'
import type { PlacementPolicy } from '../../core/placement/index.js'
import type { DrTarget } from '../../core/volumes/index.js'

/** storage.cfg keys of this plugin (all prefixed, so nothing clashes with linstor-proxmox's `drbd` type). */
export const KEYS = {
  controllers: 'linstor-controllers',
  resourceGroup: 'linstor-resource-group',
  placeCount: 'linstor-place-count',
  storagePools: 'linstor-storage-pools',
  replicasOnDifferent: 'linstor-replicas-on-different',
  preferLocal: 'linstor-prefer-local',
  statusCache: 'linstor-status-cache',
  exactSize: 'linstor-exact-size',
  ca: 'linstor-ca',
  cert: 'linstor-cert',
  key: 'linstor-key',
  controllerVms: 'linstor-controller-vms',
  layers: 'linstor-layer-list',
  drNode: 'linstor-dr-node',
  drSite: 'linstor-dr-site',
  drSiteKey: 'linstor-dr-site-key',
  nodeMap: 'linstor-node-map',
  searchDomain: 'linstor-search-domain',
} as const

/** Keys the Perl shim reads itself (never used by the TypeScript side, but known). */
export const SHIM_KEYS = ['linstor-token', 'linstor-agent-socket'] as const

/** Every linstor-* key the shim declares (plugins/proxmox/perl properties()). */
export const ALL_KEYS: readonly string[] = [...Object.values(KEYS), ...SHIM_KEYS].sort()

/**
 * linstor-proxmox's options (storage type drbd), and what to write in a linstor section instead.
 * PVE drops them from a linstor section ("unknown property type" or "unexpected property").
 */
export const LINSTOR_PROXMOX_KEYS: Readonly<Record<string, string>> = {
  controller: `use ${KEYS.controllers}`,
  resourcegroup: `use ${KEYS.resourceGroup}`,
  preferlocal: `use ${KEYS.preferLocal} (0 or 1)`,
  statuscache: `use ${KEYS.statusCache}`,
  exactsize: `use ${KEYS.exactSize} (0 or 1)`,
  apica: `use ${KEYS.ca}`,
  apicrt: `use ${KEYS.cert}`,
  apikey: `use ${KEYS.key}`,
  searchdomain: `use ${KEYS.searchDomain}`,
  redundancy: `use ${KEYS.placeCount}`,
  storagepool: `use ${KEYS.storagePools}`,
  controllervm: `use ${KEYS.controllerVms}`,
  allowtwoprimaries: 'not needed: linstor-virt allows two primaries only while a live migration runs, for that pair of nodes',
  clusterlocktimeout: 'not needed: linstor-virt keeps its work inside the storage lock short (allocations answer within 45 s)',
}

export interface ProxmoxSettings {
  storeid: string
  /** This node's LINSTOR node name (PVE's node name through linstor-node-map or linstor-search-domain). */
  node: string
  /** This node's PVE name. */
  pveNode: string
  policy: Readonly<PlacementPolicy>
  /** Seconds a status answer may be reused (linstor-proxmox's statuscache; default 60). */
  statusCacheS: number
  /** VM ids whose disks are the LINSTOR controller's own: never freed, deactivated or resized. */
  controllerVms: ReadonlySet<number>
  /** The core's settings for storageOf (see core/protocol). */
  core: Record<string, unknown>
  /** Where every volume keeps a disaster-recovery replica (linstor-dr-node / linstor-dr-site); none when unset. */
  dr?: DrTarget
}

function list(v: unknown, key: string, issues: ConfigIssue[]): string[] | undefined {
  if (v === undefined || v === null || v === '') return undefined
  if (typeof v !== 'string' && typeof v !== 'number') {
    issues.push({ setting: key, problem: 'must be a list of words separated by spaces or commas' })
    return undefined
  }
  return String(v)
    .split(/[\s,;]+/)
    .filter((x) => x !== '')
}

/** PVE writes booleans as 0/1 (numbers or strings, depending on the path they took). */
function bool(v: unknown, key: string, issues: ConfigIssue[]): boolean | undefined {
  if (v === undefined || v === null || v === '') return undefined
  if (v === 1 || v === '1' || v === true) return true
  if (v === 0 || v === '0' || v === false) return false
  issues.push({ setting: key, problem: 'must be 0 or 1' })
  return undefined
}

function int(v: unknown, key: string, min: number, max: number, issues: ConfigIssue[]): number | undefined {
  if (v === undefined || v === null || v === '') return undefined
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?[0-9]+$/.test(v) ? Number(v) : NaN
  if (!Number.isInteger(n) || n < min || n > max) {
    issues.push({ setting: key, problem: `must be a whole number from ${min} to ${max}` })
    return undefined
  }
  return n
}

function path(v: unknown, key: string, issues: ConfigIssue[]): string | undefined {
  if (v === undefined || v === null || v === '') return undefined
  if (typeof v !== 'string' || !v.startsWith('/')) {
    issues.push({ setting: key, problem: 'must be an absolute file path' })
    return undefined
  }
  return v
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined
}

/** A string-valued key of the section: unset when empty, an issue when it is not a string. */
function text(v: unknown, key: string, issues: ConfigIssue[]): string | undefined {
  if (v === undefined || v === null || v === '') return undefined
  if (typeof v !== 'string') {
    issues.push({ setting: key, problem: 'must be a string' })
    return undefined
  }
  return v
}

/** Reads config { storeid, node, scfg, tokenFile?, deviceRoot? } from the shim. */
export function proxmoxSettings(config: Readonly<Record<string, unknown>>): ProxmoxSettings {
  const storeid = str(config['storeid'])
  const node = str(config['node'])
  const scfg = config['scfg']
  const top: ConfigIssue[] = []
  if (storeid === undefined) top.push({ setting: 'storeid', problem: 'is missing (the shim sends it)' })
  if (node === undefined) top.push({ setting: 'node', problem: 'is missing (the shim sends it)' })
  if (typeof scfg !== 'object' || scfg === null || Array.isArray(scfg)) top.push({ setting: 'scfg', problem: 'must be the storage.cfg section as an object' })
  if (top.length > 0) throw new ConfigError(top)
  const s = scfg as Record<string, unknown>
  const prefix = `storage ${storeid as string}: `
  const issues: ConfigIssue[] = []

  const resourceGroup = text(s[KEYS.resourceGroup], KEYS.resourceGroup, issues)
  const sectionControllers = text(s[KEYS.controllers], KEYS.controllers, issues)
  if (sectionControllers !== undefined) {
    collectIssues(issues, () => parseControllerList(sectionControllers, KEYS.controllers))
  }
  const placeCount = int(s[KEYS.placeCount], KEYS.placeCount, 1, 16, issues)
  const storagePools = list(s[KEYS.storagePools], KEYS.storagePools, issues)
  const replicasOnDifferent = list(s[KEYS.replicasOnDifferent], KEYS.replicasOnDifferent, issues)
  const preferLocal = bool(s[KEYS.preferLocal], KEYS.preferLocal, issues)
  const exactSize = bool(s[KEYS.exactSize], KEYS.exactSize, issues)
  const statusCacheS = int(s[KEYS.statusCache], KEYS.statusCache, 0, 7200, issues) ?? 60
  const caFile = path(s[KEYS.ca], KEYS.ca, issues)
  const certFile = path(s[KEYS.cert], KEYS.cert, issues)
  const keyFile = path(s[KEYS.key], KEYS.key, issues)
  if ((certFile === undefined) !== (keyFile === undefined)) issues.push({ setting: certFile === undefined ? KEYS.cert : KEYS.key, problem: `a client certificate and its key go together: set both ${KEYS.cert} and ${KEYS.key}, or neither` })
  const layers = list(s[KEYS.layers], KEYS.layers, issues)?.map((l) => l.toLowerCase())
  const drNode = text(s[KEYS.drNode], KEYS.drNode, issues)
  const drSite = text(s[KEYS.drSite], KEYS.drSite, issues)
  const drSiteKey = text(s[KEYS.drSiteKey], KEYS.drSiteKey, issues)
  if (drNode !== undefined && drSite !== undefined) issues.push({ setting: KEYS.drSite, problem: `names the disaster-recovery replica's place like ${KEYS.drNode}: set one of the two` })
  if (drSiteKey !== undefined && drSite === undefined) issues.push({ setting: KEYS.drSiteKey, problem: `only applies with ${KEYS.drSite}` })
  if ((drNode !== undefined || drSite !== undefined) && layers !== undefined && !layers.includes('drbd')) {
    issues.push({ setting: drNode !== undefined ? KEYS.drNode : KEYS.drSite, problem: `needs DRBD to replicate to it, and ${KEYS.layers} has none` })
  }
  const linstorNode = nodeNameOf(node as string, s, issues)
  const vms = list(s[KEYS.controllerVms], KEYS.controllerVms, issues) ?? []
  const controllerVms = new Set<number>()
  for (const v of vms) {
    if (/^[1-9][0-9]{0,8}$/.test(v)) controllerVms.add(Number(v))
    else issues.push({ setting: KEYS.controllerVms, problem: `'${v}' is not a VM id` })
  }
  if (resourceGroup !== undefined && (placeCount !== undefined || storagePools !== undefined || replicasOnDifferent !== undefined)) {
    issues.push({ setting: KEYS.resourceGroup, problem: `places volumes by itself: leave ${KEYS.placeCount}, ${KEYS.storagePools} and ${KEYS.replicasOnDifferent} unset, or drop ${KEYS.resourceGroup}` })
  }
  if (resourceGroup !== undefined && layers !== undefined) {
    issues.push({ setting: KEYS.layers, problem: `the resource group ${resourceGroup} brings its own layer list: leave ${KEYS.layers} unset, or drop ${KEYS.resourceGroup}` })
  }

  const policy: Readonly<PlacementPolicy> = collectIssues(issues, () => parsePlacementPolicy(
    {
      // Without a count the policy's default applies: 2, or 1 for stacks without DRBD.
      ...(resourceGroup !== undefined ? { resourceGroup } : placeCount !== undefined ? { placeCount } : {}),
      ...(layers !== undefined && resourceGroup === undefined ? { layers } : {}),
      ...(storagePools !== undefined ? { storagePools } : {}),
      ...(replicasOnDifferent !== undefined ? { replicasOnDifferent } : {}),
      ...(preferLocal !== undefined ? { preferLocal } : {}),
      ...(exactSize !== undefined ? { exactSize } : {}),
    },
    { settingNames: { resourceGroup: KEYS.resourceGroup, placeCount: KEYS.placeCount, storagePools: KEYS.storagePools, replicasOnDifferent: KEYS.replicasOnDifferent, preferLocal: KEYS.preferLocal, exactSize: KEYS.exactSize, layers: KEYS.layers } },
  )) ?? {}
  if (issues.length > 0) throw new ConfigError(issues.map((i) => ({ ...i, setting: prefix + i.setting })))

  // The section's controllers, else the agent's own (--controllers / LS_CONTROLLERS, put into config).
  const controllers = sectionControllers ?? str(config['controllers'])
  const tokenFile = str(config['tokenFile'])
  const deviceRoot = typeof config['deviceRoot'] === 'string' ? config['deviceRoot'] : undefined
  const lockDir = str(config['lockDir'])
  const core: Record<string, unknown> = {
    localNode: linstorNode,
    ...(controllers !== undefined ? { controllers } : {}),
    ...(tokenFile !== undefined ? { tokenFile } : {}),
    ...(caFile !== undefined ? { caFile } : {}),
    ...(certFile !== undefined ? { certFile } : {}),
    ...(keyFile !== undefined ? { keyFile } : {}),
    ...(deviceRoot !== undefined ? { deviceRoot } : {}),
    ...(lockDir !== undefined ? { lockDir } : {}),
    // Where the host keeps what no controller could be told, and the last status answers (tests; default /var/lib/linstor-virt).
    ...(typeof config['stateDir'] === 'string' && config['stateDir'] !== '' ? { stateDir: config['stateDir'] } : {}),
    ...(typeof config['controllerBudgetMs'] === 'number' ? { controllerBudgetMs: config['controllerBudgetMs'] } : {}),
    capacityMaxAgeMs: statusCacheS * 1000,
  }
  const dr: DrTarget | undefined = drNode !== undefined ? { node: drNode } : drSite !== undefined ? { site: drSite, ...(drSiteKey !== undefined ? { siteKey: drSiteKey } : {}) } : undefined
  return { storeid: storeid as string, node: linstorNode, pveNode: node as string, policy, statusCacheS, controllerVms, core, ...(dr !== undefined ? { dr } : {}) }
}

const NODE_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,253}[A-Za-z0-9])?$/
const DOMAIN = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*$/

/**
 * The LINSTOR node name of PVE node `pve`: its entry in linstor-node-map (pve=linstor pairs), else
 * the name with linstor-search-domain appended (linstor-proxmox's searchdomain, for nodes
 * registered in LINSTOR by their FQDN), else the name itself.
 */
function nodeNameOf(pve: string, s: Record<string, unknown>, issues: ConfigIssue[]): string {
  const map = new Map<string, string>()
  for (const pair of list(s[KEYS.nodeMap], KEYS.nodeMap, issues) ?? []) {
    const m = /^([^=:]+)[=:](.+)$/.exec(pair)
    if (m === null || !NODE_NAME.test(m[2] as string)) {
      issues.push({ setting: KEYS.nodeMap, problem: `'${pair}' is not pve-node=linstor-node (e.g. pve1=pve1.example.org)` })
      continue
    }
    map.set((m[1] as string).toLowerCase(), m[2] as string)
  }
  const domainText = text(s[KEYS.searchDomain], KEYS.searchDomain, issues)
  const domain = domainText?.replace(/^\./, '')
  if (domain !== undefined && !DOMAIN.test(domain)) issues.push({ setting: KEYS.searchDomain, problem: `'${domainText ?? ''}' is not a DNS domain (e.g. example.org)` })
  const mapped = map.get(pve.toLowerCase())
  if (mapped !== undefined) return mapped
  return domain !== undefined && DOMAIN.test(domain) && !pve.includes('.') ? `${pve}.${domain}` : pve
}

/**
 * Warnings about keys of the section nobody reads: a linstor-* key the shim does not declare (a
 * newer shim than agent), and keys PVE dropped from the section while parsing storage.cfg
 * (`dropped`, from the add/update hook), each with the known key it is nearest to.
 */
export function unknownKeyWarnings(storeid: string, scfg: Readonly<Record<string, unknown>>, dropped: readonly string[] = []): string[] {
  const out: string[] = []
  const seen = new Set<string>()
  const say = (key: string, how: string): void => {
    if (seen.has(key)) return
    seen.add(key)
    const foreign = LINSTOR_PROXMOX_KEYS[key.toLowerCase()]
    const near = nearestName(key, ALL_KEYS)
    const advice = foreign !== undefined ? `it is linstor-proxmox's option (type drbd): ${foreign}` : near !== undefined ? `did you mean ${near}?` : `known keys: ${ALL_KEYS.join(', ')}`
    out.push(`storage ${storeid}: ${key} ${how}; ${advice}`)
  }
  for (const key of dropped) say(key, 'is not an option of a linstor storage and was dropped from storage.cfg, so it has no effect')
  for (const key of Object.keys(scfg)) {
    if (key.startsWith('linstor-') && !ALL_KEYS.includes(key)) say(key, 'is not an option linstor-virt knows, so it has no effect')
  }
  return out
}

function quoted(v: unknown): string {
  return typeof v === 'string' || typeof v === 'number' ? `'${String(v)}'` : ''
}

/**
 * How messages name what the operator configured on Proxmox: `storage <id>` and the storage.cfg
 * key with its value. Built from the call's raw config, so it works when the settings are bad too.
 */
export function proxmoxWords(config: Readonly<Record<string, unknown>>): PlatformWords {
  const storeid = str(config['storeid']) ?? '?'
  const raw = config['scfg']
  const s: Record<string, unknown> = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {}
  const has = (key: string): boolean => s[key] !== undefined && s[key] !== null && s[key] !== ''
  const keyed = (key: string, unset: string): string => (has(key) ? `${key} ${quoted(s[key])}` : `${key} (${unset})`)
  const group = has(KEYS.resourceGroup) ? `${KEYS.resourceGroup} ${quoted(s[KEYS.resourceGroup])}` : undefined
  const subject = (id: SettingId): string => {
    switch (id) {
      case 'controllers':
        return keyed(KEYS.controllers, `not set: the agent's ${str(config['controllers']) ?? 'LS_CONTROLLERS, /etc/linstor/linstor-client.conf or linstor://localhost'}`)
      case 'tokenFile':
        return `linstor-token (${str(config['tokenFile']) !== undefined ? `kept in ${str(config['tokenFile']) as string}` : 'not set'})`
      case 'caFile':
        return keyed(KEYS.ca, 'not set')
      case 'certFile':
        return keyed(KEYS.cert, 'not set')
      case 'keyFile':
        return keyed(KEYS.key, 'not set')
      case 'localNode': {
        const pve = str(config['node']) ?? '?'
        const linstor = nodeNameOf(pve, s, [])
        const how = has(KEYS.nodeMap) || has(KEYS.searchDomain) ? `through ${[KEYS.nodeMap, KEYS.searchDomain].filter(has).join(' and ')}` : `${KEYS.nodeMap} and ${KEYS.searchDomain} not set`
        return `PVE node ${pve} as LINSTOR node ${linstor} (${how})`
      }
      case 'controllerVolumes':
        return keyed(KEYS.controllerVms, 'not set')
      case 'resourceGroup':
        return group ?? `${KEYS.resourceGroup} (not set)`
      case 'placeCount':
        return group !== undefined && !has(KEYS.placeCount) ? `${group} (its place count)` : keyed(KEYS.placeCount, 'default 2')
      case 'storagePools':
        return group !== undefined && !has(KEYS.storagePools) ? `${group} (its storage pools)` : keyed(KEYS.storagePools, 'not set: any pool')
      case 'replicasOnDifferent':
        return keyed(KEYS.replicasOnDifferent, 'not set')
      case 'preferLocal':
        return keyed(KEYS.preferLocal, 'default 1')
      case 'exactSize':
        return keyed(KEYS.exactSize, 'default 0')
      case 'layers':
        return group !== undefined && !has(KEYS.layers) ? `${group} (its layer list)` : keyed(KEYS.layers, 'not set: drbd,storage')
      default:
        // No storage.cfg key of its own: it comes from the resource group, if any.
        return group !== undefined ? `${group} (its ${id})` : `the placement's ${id}`
    }
  }
  return {
    where: (id) => (id === undefined ? `storage ${storeid}` : `storage ${storeid}: ${subject(id)}`),
    // The token lives on pmxcfs, written by the hooks: the fix is pvesm's.
    fix: (id) => {
      if (id === 'tokenFile') return `store the controller's token: pvesm set ${storeid} --linstor-token <token>`
      if (id === 'localNode') return `add this node to LINSTOR under that name, or map it: pvesm set ${storeid} --${KEYS.nodeMap} ${str(config['node']) ?? '<pve-node>'}=<linstor-node> (or --${KEYS.searchDomain} <domain>)`
      return undefined
    },
  }
}
