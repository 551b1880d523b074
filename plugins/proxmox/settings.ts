/**
 * A storage.cfg section of type `linstor`, as the Perl shim forwards it (config.scfg), turned into
 * the core's settings. Every problem names the storage.cfg key the operator wrote.
 */
import { ConfigError, collectIssues } from '../../core/errors/index.js'
import { parseControllerList } from '../../core/linstor/index.js'
import type { ConfigIssue } from '../../core/errors/index.js'
import { parsePlacementPolicy } from '../../core/placement/index.js'
import type { PlacementPolicy } from '../../core/placement/index.js'

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
} as const

export interface ProxmoxSettings {
  storeid: string
  /** This PVE node's name, which is its LINSTOR node name. */
  node: string
  policy: Readonly<PlacementPolicy>
  /** Seconds a status answer may be reused (linstor-proxmox's statuscache; default 60). */
  statusCacheS: number
  /** VM ids whose disks are the LINSTOR controller's own: never freed, deactivated or resized. */
  controllerVms: ReadonlySet<number>
  /** The core's settings for storageOf (see core/protocol). */
  core: Record<string, unknown>
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
  const vms = list(s[KEYS.controllerVms], KEYS.controllerVms, issues) ?? []
  const controllerVms = new Set<number>()
  for (const v of vms) {
    if (/^[1-9][0-9]{0,8}$/.test(v)) controllerVms.add(Number(v))
    else issues.push({ setting: KEYS.controllerVms, problem: `'${v}' is not a VM id` })
  }
  if (resourceGroup !== undefined && (placeCount !== undefined || storagePools !== undefined || replicasOnDifferent !== undefined)) {
    issues.push({ setting: KEYS.resourceGroup, problem: `places volumes by itself: leave ${KEYS.placeCount}, ${KEYS.storagePools} and ${KEYS.replicasOnDifferent} unset, or drop ${KEYS.resourceGroup}` })
  }

  const policy: Readonly<PlacementPolicy> = collectIssues(issues, () => parsePlacementPolicy(
    {
      ...(resourceGroup !== undefined ? { resourceGroup } : { placeCount: placeCount ?? 2 }),
      ...(storagePools !== undefined ? { storagePools } : {}),
      ...(replicasOnDifferent !== undefined ? { replicasOnDifferent } : {}),
      ...(preferLocal !== undefined ? { preferLocal } : {}),
      ...(exactSize !== undefined ? { exactSize } : {}),
    },
    { settingNames: { resourceGroup: KEYS.resourceGroup, placeCount: KEYS.placeCount, storagePools: KEYS.storagePools, replicasOnDifferent: KEYS.replicasOnDifferent, preferLocal: KEYS.preferLocal, exactSize: KEYS.exactSize } },
  )) ?? {}
  if (issues.length > 0) throw new ConfigError(issues.map((i) => ({ ...i, setting: prefix + i.setting })))

  // The section's controllers, else the agent's own (--controllers / LS_CONTROLLERS, put into config).
  const controllers = sectionControllers ?? str(config['controllers'])
  const tokenFile = str(config['tokenFile'])
  const deviceRoot = typeof config['deviceRoot'] === 'string' ? config['deviceRoot'] : undefined
  const lockDir = str(config['lockDir'])
  const core: Record<string, unknown> = {
    localNode: node,
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
  return { storeid: storeid as string, node: node as string, policy, statusCacheS, controllerVms, core }
}
