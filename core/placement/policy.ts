/**
 * Parsing and canonical forms of the placement policy: validation (schema plus the checks a schema
 * cannot express), the canonical key and derived group name, and the mapping onto LINSTOR's
 * AutoSelectFilter.
 */
import { createHash } from 'node:crypto'
import { configIssues, settingName } from '../config/index.js'
import type { ValidateOptions } from '../config/index.js'
import { ConfigError } from '../errors/index.js'
import type { ConfigIssue } from '../errors/index.js'
import type { AutoSelectFilter } from '../linstor/index.js'
import type { Layer, PlacementPolicy } from './policy-types.js'

/** The place count of a policy without resource group when none is given (LINSTOR's own default too). */
export const DEFAULT_PLACE_COUNT = 2

/** Prefix of the groups linstor-virt creates for policies without resourceGroup. */
export const GROUP_NAME_PREFIX = 'LinstorVirt-'

/** The property that makes DRBD keep the exact requested size (policy field exactSize). */
export const EXACT_SIZE_KEY = 'DrbdOptions/ExactSize'

/** Options of parsePlacementPolicy. */
export interface ParsePolicyOptions {
  /** A policy field → the platform's own setting name, used in error messages. */
  settingNames?: Partial<Record<keyof PlacementPolicy, string>>
  /** Put before every setting name in messages. */
  prefix?: string
}

type Mutable = { -readonly [K in keyof PlacementPolicy]?: PlacementPolicy[K] }

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const selectorKey = (s: string): string => s.split('=', 1)[0] ?? s
const BOOLEAN_WORD = /^(?:yes|no)$/i

/**
 * Validates a placement policy handed in by an adapter and returns a normalised, deeply frozen copy.
 *
 * Normalisation: null and empty lists/maps count as "not set" and are dropped; `placeCount`
 * defaults to 2 when there is no `resourceGroup`; `layers` gets `storage` appended when it does not
 * end with it; DRBD yes/no option values are lower-cased (LINSTOR stores them so);
 * `drbdOptions["DrbdOptions/ExactSize"]` is folded into `exactSize`.
 *
 * @throws ConfigError (CONFIG_INVALID) listing every problem at once; each issue names the setting
 *   with the platform's name from `settingNames` when given.
 * @example
 * const policy = parsePlacementPolicy({ placeCount: 3, storagePools: ['ssd'] }, { settingNames: { placeCount: 'redundancy' } })
 */
export function parsePlacementPolicy(input: unknown, opts: ParsePolicyOptions = {}): Readonly<PlacementPolicy> {
  const vopts: ValidateOptions = {
    ...(opts.settingNames === undefined ? {} : { settingNames: opts.settingNames }),
    ...(opts.prefix === undefined ? {} : { prefix: opts.prefix }),
  }
  const name = (field: keyof PlacementPolicy): string => settingName(field, vopts)
  const issues: ConfigIssue[] = [...configIssues('placementPolicy', input, vopts)]
  const bad = new Set(issues.map((i) => i.setting))
  const ok = (field: keyof PlacementPolicy): boolean => !bad.has(name(field))
  const src = isRecord(input) ? input : {}

  // Checks a schema cannot express; each only on a setting the schema found well-formed.
  const regex = src['doNotPlaceWithRegex']
  if (typeof regex === 'string' && ok('doNotPlaceWithRegex')) {
    try {
      new RegExp(regex, 'i')
    } catch (e) {
      issues.push({ setting: name('doNotPlaceWithRegex'), problem: `is not a valid regular expression (${(e as Error).message})` })
    }
  }
  const layers = src['layers']
  if (Array.isArray(layers) && ok('layers')) {
    if (layers.includes('drbd') && layers.includes('nvme')) {
      issues.push({ setting: name('layers'), problem: 'cannot have both drbd and nvme' })
    }
    const storageAt = layers.indexOf('storage')
    if (storageAt >= 0 && storageAt !== layers.length - 1) {
      issues.push({ setting: name('layers'), problem: 'storage must be the last (lowest) layer' })
    }
    // Without DRBD nothing replicates: NVMe-oF exports one target, storage-only stays where it is.
    if (!layers.includes('drbd')) {
      const stack = layers.includes('nvme') ? 'NVMe-oF (one target per volume)' : 'storage only (no replication)'
      const count = src['placeCount']
      if (typeof count === 'number' && count > 1 && ok('placeCount')) {
        issues.push({ setting: name('placeCount'), problem: `must be 1 with the layer stack ${layers.join(',')}: ${stack}` })
      }
      if (src['disklessOnRemaining'] === true && !layers.includes('nvme') && ok('disklessOnRemaining')) {
        issues.push({ setting: name('disklessOnRemaining'), problem: `has nothing to place with the layer stack ${layers.join(',')}: ${stack}` })
      }
    }
  }
  const onDifferent = Array.isArray(src['replicasOnDifferent']) ? (src['replicasOnDifferent'] as unknown[]).filter((s) => typeof s === 'string') : []
  const onSame = Array.isArray(src['replicasOnSame']) ? (src['replicasOnSame'] as unknown[]).filter((s) => typeof s === 'string') : []
  const xMap = src['xReplicasOnDifferent']
  if (isRecord(xMap) && ok('xReplicasOnDifferent') && (src['resourceGroup'] === undefined || src['resourceGroup'] === null)) {
    const keys = new Set(onDifferent.map(selectorKey))
    for (const k of Object.keys(xMap)) {
      if (!keys.has(k)) {
        issues.push({ setting: name('xReplicasOnDifferent'), problem: `${JSON.stringify(k)} is not one of the keys of ${name('replicasOnDifferent')}` })
      }
    }
  }
  if (ok('replicasOnSame') && ok('replicasOnDifferent')) {
    const different = new Set(onDifferent.map(selectorKey))
    for (const k of new Set(onSame.map(selectorKey))) {
      if (different.has(k)) {
        issues.push({ setting: name('replicasOnSame'), problem: `${JSON.stringify(k)} cannot be in both ${name('replicasOnSame')} and ${name('replicasOnDifferent')}` })
      }
    }
  }
  const drbd = src['drbdOptions']
  if (isRecord(drbd) && ok('drbdOptions') && ok('exactSize')) {
    const exact = drbd[EXACT_SIZE_KEY]
    if (typeof exact === 'string') {
      const on = /^(?:true|yes)$/i.test(exact)
      if (!on && !/^(?:false|no)$/i.test(exact)) {
        issues.push({ setting: name('drbdOptions'), problem: `${EXACT_SIZE_KEY} must be true or false` })
      } else if (typeof src['exactSize'] === 'boolean' && src['exactSize'] !== on) {
        issues.push({ setting: name('exactSize'), problem: `contradicts ${EXACT_SIZE_KEY} in ${name('drbdOptions')}` })
      }
    }
  }
  if (issues.length > 0) throw new ConfigError(issues)
  return deepFreeze(normalise(src))
}

function normalise(src: Record<string, unknown>): PlacementPolicy {
  const out: Mutable = {}
  const put = <K extends keyof PlacementPolicy>(k: K, v: PlacementPolicy[K] | undefined): void => {
    if (v !== undefined) out[k] = v
  }
  const strings = (v: unknown): string[] | undefined => (Array.isArray(v) && v.length > 0 ? (v as string[]).slice() : undefined)
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
  const bool = (v: unknown): boolean | undefined => (typeof v === 'boolean' ? v : undefined)

  put('resourceGroup', str(src['resourceGroup']))
  put('placeCount', typeof src['placeCount'] === 'number' ? src['placeCount'] : out.resourceGroup === undefined ? defaultPlaceCount(src['layers']) : undefined)
  put('storagePools', strings(src['storagePools']))
  put('disklessStoragePools', strings(src['disklessStoragePools']))
  put('replicasOnSame', strings(src['replicasOnSame']))
  put('replicasOnDifferent', strings(src['replicasOnDifferent']))
  if (isRecord(src['xReplicasOnDifferent']) && Object.keys(src['xReplicasOnDifferent']).length > 0) {
    put('xReplicasOnDifferent', { ...(src['xReplicasOnDifferent'] as Record<string, number>) })
  }
  put('doNotPlaceWith', strings(src['doNotPlaceWith']))
  put('doNotPlaceWithRegex', str(src['doNotPlaceWithRegex']))
  const layers = strings(src['layers']) as Layer[] | undefined
  if (layers !== undefined) put('layers', layers[layers.length - 1] === 'storage' ? layers : [...layers, 'storage'])
  put('providers', strings(src['providers']) as PlacementPolicy['providers'])
  put('disklessOnRemaining', bool(src['disklessOnRemaining']))
  put('preferLocal', bool(src['preferLocal']))
  put('exactSize', bool(src['exactSize']))
  if (isRecord(src['drbdOptions'])) {
    const opts: Record<string, string> = {}
    for (const [k, v] of Object.entries(src['drbdOptions'] as Record<string, string>)) {
      if (k === EXACT_SIZE_KEY) {
        out.exactSize ??= /^(?:true|yes)$/i.test(v)
        continue
      }
      opts[k] = BOOLEAN_WORD.test(v) ? v.toLowerCase() : v
    }
    if (Object.keys(opts).length > 0) put('drbdOptions', opts)
  }
  return out
}

/** 2 replicas by default; 1 for stacks without DRBD (NVMe-oF's one target, storage only). */
function defaultPlaceCount(layers: unknown): number {
  return Array.isArray(layers) && layers.length > 0 && !layers.includes('drbd') ? 1 : DEFAULT_PLACE_COUNT
}

function deepFreeze<T>(v: T): Readonly<T> {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    for (const x of Object.values(v)) deepFreeze(x)
    Object.freeze(v)
  }
  return v
}

const sortedSet = (v: readonly string[] | undefined): string[] | undefined =>
  v === undefined || v.length === 0 ? undefined : [...new Set(v)].sort()

const sortedMap = <V>(m: Readonly<Record<string, V>> | undefined): Record<string, V> | undefined => {
  if (m === undefined) return undefined
  const keys = Object.keys(m).sort()
  if (keys.length === 0) return undefined
  const out: Record<string, V> = {}
  for (const k of keys) out[k] = m[k] as V
  return out
}

/**
 * The canonical form of a policy: what decides the group. Sets are sorted and deduplicated,
 * empties dropped; without resourceGroup the defaults are applied and false booleans dropped (they
 * mean the same as "not set"); preferLocal is left out (it does not affect the group).
 */
function canonical(policy: Readonly<PlacementPolicy>): Record<string, unknown> {
  const derived = policy.resourceGroup === undefined
  const flag = (v: boolean | undefined): boolean | undefined => (derived && v === false ? undefined : v)
  const layers = policy.layers === undefined || policy.layers.length === 0 ? undefined : withStorage(policy.layers)
  const c: Record<string, unknown> = {
    resourceGroup: policy.resourceGroup,
    placeCount: policy.placeCount ?? (derived ? defaultPlaceCount(policy.layers) : undefined),
    storagePools: sortedSet(policy.storagePools),
    disklessStoragePools: sortedSet(policy.disklessStoragePools),
    replicasOnSame: sortedSet(policy.replicasOnSame),
    replicasOnDifferent: sortedSet(policy.replicasOnDifferent),
    xReplicasOnDifferent: sortedMap(policy.xReplicasOnDifferent),
    doNotPlaceWith: sortedSet(policy.doNotPlaceWith),
    doNotPlaceWithRegex: policy.doNotPlaceWithRegex,
    layers,
    providers: sortedSet(policy.providers),
    disklessOnRemaining: flag(policy.disklessOnRemaining),
    exactSize: flag(policy.exactSize),
    drbdOptions: sortedMap(policy.drbdOptions),
  }
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(c).sort()) if (c[k] !== undefined) out[k] = c[k]
  return out
}

function withStorage(layers: readonly Layer[]): Layer[] {
  return layers[layers.length - 1] === 'storage' ? [...layers] : [...layers, 'storage']
}

/**
 * Canonical JSON of a policy (sorted keys, sorted sets, defaults applied, preferLocal excluded):
 * equal for policies that place alike, whatever the key order of the input. Stored on derived
 * groups as `Aux/linstor-virt/policy`.
 */
export function policyKey(policy: Readonly<PlacementPolicy>): string {
  return JSON.stringify(canonical(policy))
}

/**
 * The name of the group linstor-virt creates for a policy without resourceGroup:
 * `LinstorVirt-` + the first 12 hex digits of sha256(policyKey). Deterministic (every host and
 * process derives the same name), a valid LINSTOR name (24 characters; LINSTOR compares names
 * case-insensitively, and the hex digits are lower case only). For a policy with resourceGroup it
 * returns that group's name.
 */
export function policyGroupName(policy: Readonly<PlacementPolicy>): string {
  if (policy.resourceGroup !== undefined) return policy.resourceGroup
  return GROUP_NAME_PREFIX + createHash('sha256').update(policyKey(policy)).digest('hex').slice(0, 12)
}

/** The layer stack on the wire (upper case, ending with STORAGE), or undefined when the policy leaves it to LINSTOR. */
export function layerListOf(policy: Readonly<PlacementPolicy>): string[] | undefined {
  if (policy.layers === undefined || policy.layers.length === 0) return undefined
  return withStorage(policy.layers).map((l) => l.toUpperCase())
}

/**
 * The policy as LINSTOR's AutoSelectFilter: only the fields the policy sets (plus place_count 2
 * for a policy without resourceGroup). Lists keep the policy's order; layers are upper case.
 * preferLocal, exactSize and drbdOptions have no filter field.
 */
export function selectFilterOf(policy: Readonly<PlacementPolicy>): AutoSelectFilter {
  const f: AutoSelectFilter = {}
  const placeCount = policy.placeCount ?? (policy.resourceGroup === undefined ? defaultPlaceCount(policy.layers) : undefined)
  if (placeCount !== undefined) f.place_count = placeCount
  if (policy.storagePools !== undefined && policy.storagePools.length > 0) f.storage_pool_list = [...policy.storagePools]
  if (policy.disklessStoragePools !== undefined && policy.disklessStoragePools.length > 0) f.storage_pool_diskless_list = [...policy.disklessStoragePools]
  if (policy.doNotPlaceWith !== undefined && policy.doNotPlaceWith.length > 0) f.not_place_with_rsc = [...policy.doNotPlaceWith]
  if (policy.doNotPlaceWithRegex !== undefined) f.not_place_with_rsc_regex = policy.doNotPlaceWithRegex
  if (policy.replicasOnSame !== undefined && policy.replicasOnSame.length > 0) f.replicas_on_same = [...policy.replicasOnSame]
  if (policy.replicasOnDifferent !== undefined && policy.replicasOnDifferent.length > 0) f.replicas_on_different = [...policy.replicasOnDifferent]
  if (policy.xReplicasOnDifferent !== undefined && Object.keys(policy.xReplicasOnDifferent).length > 0) {
    f.x_replicas_on_different_map = { ...policy.xReplicasOnDifferent }
  }
  const layers = layerListOf(policy)
  if (layers !== undefined) f.layer_stack = layers
  if (policy.providers !== undefined && policy.providers.length > 0) f.provider_list = [...policy.providers]
  if (policy.disklessOnRemaining !== undefined) f.diskless_on_remaining = policy.disklessOnRemaining
  return f
}

/**
 * For a policy naming a resourceGroup and setting other placement fields too: the select_filter to
 * send with spawn or autoplace so that the request overrides the group's filter field by field
 * (LINSTOR merges the request's filter over the group's; the request wins). Undefined when there
 * is nothing to override, and always for a policy without resourceGroup (its derived group holds
 * the whole policy).
 */
export function spawnOverrides(policy: Readonly<PlacementPolicy>): AutoSelectFilter | undefined {
  if (policy.resourceGroup === undefined) return undefined
  const f = selectFilterOf(policy)
  return Object.keys(f).length === 0 ? undefined : f
}

/**
 * Properties for each resource definition spawned under this policy that the group does not
 * carry: for a named resourceGroup (never modified by linstor-virt) exactSize and drbdOptions go on
 * the definitions; a derived group carries them itself, so this is empty then.
 */
export function definitionPropsOf(policy: Readonly<PlacementPolicy>): Record<string, string> {
  if (policy.resourceGroup === undefined) return {}
  return { ...(policy.exactSize === true ? { [EXACT_SIZE_KEY]: 'True' } : {}), ...(policy.drbdOptions ?? {}) }
}

/** The properties a derived group carries for its policy (besides the policy key). */
export function groupPropsOf(policy: Readonly<PlacementPolicy>): Record<string, string> {
  return { ...(policy.exactSize === true ? { [EXACT_SIZE_KEY]: 'True' } : {}), ...(policy.drbdOptions ?? {}) }
}
