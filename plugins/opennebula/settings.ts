/**
 * A linstor datastore's template (DATASTORE/TEMPLATE) turned into the core's settings. Attribute
 * names are addon-linstor's where they exist (LINSTOR_CONTROLLERS, LINSTOR_RESOURCE_GROUP), and the
 * older addon's LINSTOR_AUTO_PLACE / LINSTOR_STORAGE_POOL are still read, so an existing datastore
 * keeps working when it switches drivers. Every problem names the attribute the operator wrote.
 */
import { ConfigError, collectIssues, nearestName } from '../../core/errors/index.js'
import { parseControllerList } from '../../core/linstor/index.js'
import type { ConfigIssue, PlatformWords, SettingId } from '../../core/errors/index.js'
import { parsePlacementPolicy } from '../../core/placement/index.js'
import type { PlacementPolicy } from '../../core/placement/index.js'
import type { DrTarget } from '../../core/volumes/index.js'
import type { XmlElement } from './xml.js'

export const ATTR = {
  controllers: 'LINSTOR_CONTROLLERS',
  resourceGroup: 'LINSTOR_RESOURCE_GROUP',
  placeCount: 'LINSTOR_PLACE_COUNT',
  storagePools: 'LINSTOR_STORAGE_POOLS',
  replicasOnSame: 'LINSTOR_REPLICAS_ON_SAME',
  replicasOnDifferent: 'LINSTOR_REPLICAS_ON_DIFFERENT',
  doNotPlaceWithRegex: 'LINSTOR_DO_NOT_PLACE_WITH_REGEX',
  layers: 'LINSTOR_LAYER_LIST',
  providers: 'LINSTOR_PROVIDER_LIST',
  disklessOnRemaining: 'LINSTOR_DISKLESS_ON_REMAINING',
  preferLocal: 'LINSTOR_PREFER_LOCAL',
  exactSize: 'LINSTOR_EXACT_SIZE',
  caFile: 'LINSTOR_CA_FILE',
  certFile: 'LINSTOR_CERT_FILE',
  keyFile: 'LINSTOR_KEY_FILE',
  tokenFile: 'LINSTOR_TOKEN_FILE',
  controllerVms: 'LINSTOR_CONTROLLER_VMS',
  drNode: 'LINSTOR_DR_NODE',
  drSite: 'LINSTOR_DR_SITE',
  drSiteKey: 'LINSTOR_DR_SITE_KEY',
  /** The front-end's LINSTOR node, where cp writes imported images (default: its host name, when LINSTOR has such a node; '-': none). */
  frontEndNode: 'LINSTOR_FRONTEND_NODE',
  /** addon-linstor before 2.0: replica count and pool (read when no resource group is set). */
  oldAutoPlace: 'LINSTOR_AUTO_PLACE',
  oldStoragePool: 'LINSTOR_STORAGE_POOL',
} as const

export interface OneSettings {
  dsId: string
  dsName: string
  /** TM_MAD of the datastore (system datastores: which driver owns the VM directory). */
  tmMad: string
  /** 0 image, 1 system, 2 file. */
  type: string
  policy: Readonly<PlacementPolicy>
  /** VM ids whose disks are the LINSTOR controller's own: never deleted or detached. */
  controllerVms: ReadonlySet<number>
  bridgeList: string[]
  restrictedDirs: string[]
  safeDirs: string[]
  stagingDir: string
  noDecompress: boolean
  /** The core's settings for storageOf. */
  core: Record<string, unknown>
  /** Notes for the user: logged as INFO lines. */
  notes: string[]
  /** Where every image keeps a disaster-recovery replica (LINSTOR_DR_NODE / LINSTOR_DR_SITE); none when unset. */
  dr?: DrTarget
  /** What the datastore says that has no effect (old attributes a resource group overrides): WARN lines. */
  warnings: string[]
  /**
   * LINSTOR_FRONTEND_NODE: the front-end's LINSTOR node name (cp converts images onto the volume's
   * device there); null when set to '-' (never: write through a replica's host over ssh); absent
   * when unset (the front-end's host name, if LINSTOR has a node of that name).
   */
  frontEndNode?: string | null
}

/**
 * LINSTOR_* attributes of addon-linstor that linstor-virt does not read, with what to do instead.
 * (LINSTOR_AUTO_PLACE and LINSTOR_STORAGE_POOL are read: see ATTR.)
 */
export const FOREIGN_ATTRS: Readonly<Record<string, string>> = {
  LINSTOR_DEPLOYMENT_NODES: `addon-linstor's fixed node list is not used: LINSTOR places the replicas (${ATTR.placeCount}, ${ATTR.storagePools}, ${ATTR.replicasOnSame} with a node property)`,
  LINSTOR_CLONE_MODE: 'not needed: linstor-virt clones inside LINSTOR where the pools allow it and copies the data otherwise',
}

/** Every LINSTOR_* attribute linstor-virt reads. */
export const KNOWN_ATTRS: readonly string[] = Object.values(ATTR)

/**
 * One line per LINSTOR_* attribute of the datastore that linstor-virt does not read, naming the
 * known attribute it is nearest to (a typo such as LINSTOR_RESOURCE_GRUOP would otherwise leave
 * the datastore on the default placement without a word).
 */
export function unknownAttributeWarnings(ds: XmlElement): string[] {
  const t = ds.first('TEMPLATE')?.attributes() ?? {}
  const dsId = ds.get('ID') ?? ''
  const out: string[] = []
  for (const key of Object.keys(t).sort()) {
    if (!/^LINSTOR_/i.test(key) || KNOWN_ATTRS.includes(key)) continue
    const foreign = FOREIGN_ATTRS[key.toUpperCase()]
    const near = nearestName(key, KNOWN_ATTRS)
    const advice = foreign ?? (near !== undefined ? `did you mean ${near}?` : `known: ${KNOWN_ATTRS.join(', ')}`)
    out.push(`datastore ${dsId}: ${key} is not an attribute linstor-virt reads, so it has no effect; ${advice}`)
  }
  return out
}

/**
 * How messages name what the operator configured on OpenNebula: `datastore <id>` and the template
 * attribute with its value (or what applies while it is unset).
 */
export function oneWords(ds: XmlElement): PlatformWords {
  const t = ds.first('TEMPLATE')?.attributes() ?? {}
  const dsId = ds.get('ID') ?? ''
  const at = (k: string): string | undefined => {
    const v = t[k]
    return v === undefined || v.trim() === '' ? undefined : v.trim()
  }
  const attr = (k: string, unset: string): string => {
    const v = at(k)
    return v !== undefined ? `${k}=${JSON.stringify(v)}` : `${k} (${unset})`
  }
  const group = at(ATTR.resourceGroup) !== undefined ? attr(ATTR.resourceGroup, '') : undefined
  const fromGroup = (k: string, what: string, unset: string): string => (at(k) === undefined && group !== undefined ? `${group} (its ${what})` : attr(k, unset))
  const subject = (id: SettingId): string => {
    switch (id) {
      case 'controllers':
        return attr(ATTR.controllers, 'not set: linstor://localhost')
      case 'tokenFile':
        return attr(ATTR.tokenFile, 'not set')
      case 'caFile':
        return attr(ATTR.caFile, 'not set')
      case 'certFile':
        return attr(ATTR.certFile, 'not set')
      case 'keyFile':
        return attr(ATTR.keyFile, 'not set')
      case 'controllerVolumes':
        return attr(ATTR.controllerVms, 'not set')
      case 'localNode':
        return 'the host name (a LINSTOR node of the same name)'
      case 'resourceGroup':
        return attr(ATTR.resourceGroup, 'not set')
      case 'placeCount':
        if (at(ATTR.placeCount) === undefined && group === undefined && at(ATTR.oldAutoPlace) !== undefined) return attr(ATTR.oldAutoPlace, '')
        return fromGroup(ATTR.placeCount, 'place count', 'not set: 2')
      case 'storagePools':
        if (at(ATTR.storagePools) === undefined && group === undefined && at(ATTR.oldStoragePool) !== undefined) return attr(ATTR.oldStoragePool, '')
        return fromGroup(ATTR.storagePools, 'storage pools', 'not set: any pool')
      case 'replicasOnSame':
      case 'replicasOnDifferent':
      case 'doNotPlaceWithRegex':
      case 'layers':
      case 'providers':
      case 'disklessOnRemaining':
      case 'preferLocal':
      case 'exactSize':
        return fromGroup(ATTR[id], id, 'not set')
      default:
        return group !== undefined ? `${group} (its ${id})` : `the placement's ${id}`
    }
  }
  return {
    where: (id) => (id === undefined ? `datastore ${dsId}` : `datastore ${dsId}: ${subject(id)}`),
    fix: (id) => {
      if (id !== 'tokenFile') return undefined
      return at(ATTR.tokenFile) !== undefined
        ? `put the controller's token in that file (readable by oneadmin), or correct ${ATTR.tokenFile} (onedatastore update ${dsId})`
        : `set ${ATTR.tokenFile} to a file holding the controller's token (onedatastore update ${dsId})`
    },
  }
}

function words(v: string | undefined): string[] | undefined {
  if (v === undefined || v.trim() === '') return undefined
  return v.split(/[\s,;]+/).filter((x) => x !== '')
}

function yesNo(v: string | undefined, attr: string, issues: ConfigIssue[]): boolean | undefined {
  if (v === undefined || v === '') return undefined
  const l = v.toLowerCase()
  if (['yes', 'true', '1', 'on'].includes(l)) return true
  if (['no', 'false', '0', 'off'].includes(l)) return false
  issues.push({ setting: attr, problem: `must be YES or NO, got '${v}'` })
  return undefined
}

function file(v: string | undefined, attr: string, issues: ConfigIssue[]): string | undefined {
  if (v === undefined || v === '') return undefined
  if (!v.startsWith('/')) issues.push({ setting: attr, problem: 'must be an absolute path of a file on the front-end' })
  return v
}

/** What the launcher passes from its environment (tests point these at scratch folders). */
export interface CallEnvironment {
  /** Device-root prefix of a host, with {node} standing for the host's name ('' in production). */
  deviceRoot?: string
  lockDir?: string
  /** The host's state folder (pending records, last status answers); default beside lockDir, else /var/lib/linstor-virt. */
  stateDir?: string
  /** How long starting or stopping a VM waits on LINSTOR when the host has the device (default the core's 1500 ms). */
  controllerBudgetMs?: number
}

/** Reads a <DATASTORE> element (from onedatastore show -x, or a DS action's document). */
export function oneSettings(ds: XmlElement, env: CallEnvironment = {}): OneSettings {
  const t = ds.first('TEMPLATE')?.attributes() ?? {}
  const dsId = ds.get('ID') ?? ''
  const at = (k: string): string | undefined => {
    const v = t[k]
    return v === undefined || v.trim() === '' ? undefined : v.trim()
  }
  const issues: ConfigIssue[] = []
  const notes: string[] = []
  const warnings: string[] = []

  const resourceGroup = at(ATTR.resourceGroup)
  let placeCountText = at(ATTR.placeCount)
  let pools = words(at(ATTR.storagePools))
  // Where the count and the pools came from (the older addon's attributes when the new ones are unset), for messages.
  let placeCountAttr: string = ATTR.placeCount
  let poolsAttr: string = ATTR.storagePools
  if (resourceGroup === undefined) {
    if (placeCountText === undefined && at(ATTR.oldAutoPlace) !== undefined) [placeCountText, placeCountAttr] = [at(ATTR.oldAutoPlace), ATTR.oldAutoPlace]
    if (pools === undefined && at(ATTR.oldStoragePool) !== undefined) [pools, poolsAttr] = [words(at(ATTR.oldStoragePool)), ATTR.oldStoragePool]
  } else if (at(ATTR.oldAutoPlace) !== undefined || at(ATTR.oldStoragePool) !== undefined) {
    warnings.push(`datastore ${dsId}: ${[ATTR.oldAutoPlace, ATTR.oldStoragePool].filter((a) => at(a) !== undefined).join(' and ')} ${at(ATTR.oldAutoPlace) !== undefined && at(ATTR.oldStoragePool) !== undefined ? 'have' : 'has'} no effect: resource group ${resourceGroup} (${ATTR.resourceGroup}) places the volumes; remove ${at(ATTR.oldAutoPlace) !== undefined && at(ATTR.oldStoragePool) !== undefined ? 'them' : 'it'}`)
  }
  let placeCount: number | undefined
  if (placeCountText !== undefined) {
    if (/^[0-9]{1,2}$/.test(placeCountText)) placeCount = Number(placeCountText)
    else issues.push({ setting: placeCountAttr, problem: `must be a whole number from 1 to 16, got '${placeCountText}'` })
  }
  const onSame = words(at(ATTR.replicasOnSame))
  const onDifferent = words(at(ATTR.replicasOnDifferent))
  const layers = words(at(ATTR.layers)?.toLowerCase())
  const providers = words(at(ATTR.providers)?.toUpperCase())
  const regex = at(ATTR.doNotPlaceWithRegex)
  const disklessOnRemaining = yesNo(at(ATTR.disklessOnRemaining), ATTR.disklessOnRemaining, issues)
  const preferLocal = yesNo(at(ATTR.preferLocal), ATTR.preferLocal, issues)
  const exactSize = yesNo(at(ATTR.exactSize), ATTR.exactSize, issues)
  const caFile = file(at(ATTR.caFile), ATTR.caFile, issues)
  const certFile = file(at(ATTR.certFile), ATTR.certFile, issues)
  const keyFile = file(at(ATTR.keyFile), ATTR.keyFile, issues)
  const tokenFile = file(at(ATTR.tokenFile), ATTR.tokenFile, issues)
  if ((certFile === undefined) !== (keyFile === undefined)) issues.push({ setting: certFile === undefined ? ATTR.certFile : ATTR.keyFile, problem: `a client certificate and its key go together: set both ${ATTR.certFile} and ${ATTR.keyFile}, or neither` })
  const controllerVms = new Set<number>()
  for (const v of words(at(ATTR.controllerVms)) ?? []) {
    if (/^[0-9]{1,9}$/.test(v)) controllerVms.add(Number(v))
    else issues.push({ setting: ATTR.controllerVms, problem: `'${v}' is not a VM id` })
  }
  const frontEnd = at(ATTR.frontEndNode)
  // LINSTOR's node names: a letter, digit or '_' first, then also '-' (up to 48 characters).
  if (frontEnd !== undefined && frontEnd !== '-' && !/^[A-Za-z0-9_][A-Za-z0-9_-]{0,47}$/.test(frontEnd)) {
    issues.push({ setting: ATTR.frontEndNode, problem: `must be the front-end's LINSTOR node name, or '-' for none, got '${frontEnd}'` })
  }
  const drNode = at(ATTR.drNode)
  const drSite = at(ATTR.drSite)
  const drSiteKey = at(ATTR.drSiteKey)
  if (drNode !== undefined && drSite !== undefined) issues.push({ setting: ATTR.drSite, problem: `names the disaster-recovery replica's place like ${ATTR.drNode}: set one of the two` })
  if (drSiteKey !== undefined && drSite === undefined) issues.push({ setting: ATTR.drSiteKey, problem: `only applies with ${ATTR.drSite}` })
  if ((drNode !== undefined || drSite !== undefined) && layers !== undefined && !layers.includes('drbd')) {
    issues.push({ setting: drNode !== undefined ? ATTR.drNode : ATTR.drSite, problem: `needs DRBD to replicate to it, and ${ATTR.layers} has none` })
  }
  const placing = [placeCount, pools, onSame, onDifferent, layers, providers, regex, disklessOnRemaining].some((x) => x !== undefined)
  if (resourceGroup !== undefined && placing) {
    issues.push({ setting: ATTR.resourceGroup, problem: `places volumes by itself: leave ${ATTR.placeCount}, ${ATTR.storagePools} and the other placement attributes unset, or drop ${ATTR.resourceGroup}` })
  }

  const policy: Readonly<PlacementPolicy> = collectIssues(issues, () => parsePlacementPolicy(
    {
      // Without a count the policy's default applies: 2, or 1 for stacks without DRBD.
      ...(resourceGroup !== undefined ? { resourceGroup } : placeCount !== undefined ? { placeCount } : {}),
      ...(pools !== undefined ? { storagePools: pools } : {}),
      ...(onSame !== undefined ? { replicasOnSame: onSame } : {}),
      ...(onDifferent !== undefined ? { replicasOnDifferent: onDifferent } : {}),
      ...(regex !== undefined ? { doNotPlaceWithRegex: regex } : {}),
      ...(layers !== undefined ? { layers } : {}),
      ...(providers !== undefined ? { providers } : {}),
      ...(disklessOnRemaining !== undefined ? { disklessOnRemaining } : {}),
      ...(preferLocal !== undefined ? { preferLocal } : {}),
      ...(exactSize !== undefined ? { exactSize } : {}),
    },
    {
      settingNames: {
        resourceGroup: ATTR.resourceGroup,
        placeCount: placeCountAttr,
        storagePools: poolsAttr,
        replicasOnSame: ATTR.replicasOnSame,
        replicasOnDifferent: ATTR.replicasOnDifferent,
        doNotPlaceWithRegex: ATTR.doNotPlaceWithRegex,
        layers: ATTR.layers,
        providers: ATTR.providers,
        disklessOnRemaining: ATTR.disklessOnRemaining,
        preferLocal: ATTR.preferLocal,
        exactSize: ATTR.exactSize,
      },
    },
  )) ?? {}
  const controllers = at(ATTR.controllers)
  if (controllers !== undefined) {
    collectIssues(issues, () => parseControllerList(controllers, ATTR.controllers))
  }
  if (issues.length > 0) throw new ConfigError(issues.map((i) => ({ ...i, setting: `datastore ${dsId}: ${i.setting}` })))

  const core: Record<string, unknown> = {
    controllers: controllers ?? 'linstor://localhost',
    ...(tokenFile !== undefined ? { tokenFile } : {}),
    ...(caFile !== undefined ? { caFile } : {}),
    ...(certFile !== undefined ? { certFile } : {}),
    ...(keyFile !== undefined ? { keyFile } : {}),
    ...(env.lockDir !== undefined ? { lockDir: env.lockDir } : {}),
    ...(env.stateDir !== undefined ? { stateDir: env.stateDir } : {}),
    ...(env.controllerBudgetMs !== undefined ? { controllerBudgetMs: env.controllerBudgetMs } : {}),
  }
  return {
    dsId,
    dsName: ds.get('NAME') ?? '',
    tmMad: ds.get('TM_MAD') ?? at('TM_MAD') ?? '',
    type: ds.get('TYPE') ?? '',
    policy,
    controllerVms,
    bridgeList: words(at('BRIDGE_LIST')) ?? [],
    restrictedDirs: words(at('RESTRICTED_DIRS')) ?? [],
    safeDirs: words(at('SAFE_DIRS')) ?? [],
    stagingDir: at('STAGING_DIR') ?? '/var/tmp',
    noDecompress: yesNo(at('NO_DECOMPRESS'), 'NO_DECOMPRESS', []) ?? false,
    core,
    notes,
    ...(drNode !== undefined ? { dr: { node: drNode } } : drSite !== undefined ? { dr: { site: drSite, ...(drSiteKey !== undefined ? { siteKey: drSiteKey } : {}) } } : {}),
    warnings,
    ...(frontEnd !== undefined ? { frontEndNode: frontEnd === '-' ? null : frontEnd } : {}),
  }
}
