/**
 * Property keys and the modify bodies shared by every object ({override_props, delete_props,
 * delete_namespaces}). The controller whitelists keys per object type; `Aux/` keys are free-form.
 * The emulator keeps one whitelist for all object types (a simplification, see docs/emulator.md).
 */
import { ApiRcError, RC } from './api-call-rc.js'
import type { Props } from './model.js'

const EXACT_KEYS = new Set([
  'StorPoolName',
  'StorPoolNameDrbdMeta',
  'PeerSlotsNewResource',
  'PrefNic',
  'Site',
  'AutoplaceTarget',
  'MaxOversubscriptionRatio',
  'MaxFreeCapacityOversubscriptionRatio',
  'MaxTotalCapacityOversubscriptionRatio',
  'MinorNrAutoRange',
  'TcpPortAutoRange',
  'AllowMixingStoragePoolDriver',
  'Autoplacer/MaxThroughput',
  'Autoplacer/MinThinFreeSpace',
  'Autoplacer/PreSelectScript',
  'Autoplacer/PreSelectScriptTimeout',
  'DrbdOptions/auto-quorum',
  'DrbdOptions/auto-add-quorum-tiebreaker',
  'DrbdOptions/auto-diskful',
  'DrbdOptions/auto-diskful-allow-cleanup',
  'DrbdOptions/AutoEvictAfterTime',
  'DrbdOptions/AutoEvictAllowEviction',
  'DrbdOptions/AutoEvictMinReplicaCount',
  'DrbdOptions/ExactSize',
  'DrbdOptions/SkipDisk',
  'FileSystem/Type',
  'FileSystem/MkfsParams',
  'Auth/TokenAuthenticationEnabled',
])

const PREFIX_KEYS = [
  'Autoplacer/Weights/',
  'StorDriver/',
  'sys/fs/',
  'Writecache/',
  'Cache/',
  'BCache/',
  'NVMe/',
  'DrbdProxy/',
  'SnapshotShipping/',
  'AutoSnapshot/',
  'REST/',
]

const DRBD_SECTIONS = ['DrbdOptions/Net/', 'DrbdOptions/Disk/', 'DrbdOptions/Resource/', 'DrbdOptions/PeerDevice/', 'DrbdOptions/Handlers/', 'DrbdOptions/Proxy/', 'DrbdOptions/ProxyCompression/']

/** DRBD options of boolean type: only yes/no (case-insensitive, stored lower-case). */
const DRBD_BOOLEANS = new Set([
  'DrbdOptions/Disk/disk-barrier',
  'DrbdOptions/Disk/disk-flushes',
  'DrbdOptions/Disk/disk-drain',
  'DrbdOptions/Disk/md-flushes',
  'DrbdOptions/Disk/al-updates',
  'DrbdOptions/Disk/discard-zeroes-if-aligned',
  'DrbdOptions/Disk/disable-write-same',
  'DrbdOptions/PeerDevice/bitmap',
  'DrbdOptions/Resource/auto-promote',
  'DrbdOptions/Net/allow-two-primaries',
  'DrbdOptions/Net/always-asbp',
  'DrbdOptions/Net/tcp-cork',
  'DrbdOptions/Net/csums-after-crash-only',
  'DrbdOptions/Net/use-rle',
  'DrbdOptions/Net/allow-remote-read',
])

/** LINSTOR's own booleans accept true/false/yes/no. */
const LINSTOR_BOOLEANS = new Set([
  'AllowMixingStoragePoolDriver',
  'AutoplaceTarget',
  'DrbdOptions/auto-add-quorum-tiebreaker',
  'DrbdOptions/auto-diskful-allow-cleanup',
  'DrbdOptions/AutoEvictAllowEviction',
  'DrbdOptions/ExactSize',
  'DrbdOptions/SkipDisk',
  'Auth/TokenAuthenticationEnabled',
])

const QUORUM_VALUES = /^(off|majority|all|[1-9]|[12][0-9]|3[0-2])$/

/** Checks a key's path syntax (≤ 256 chars, non-empty segments). */
export function validKeySyntax(key: string): boolean {
  return key.length > 0 && key.length <= 256 && !key.startsWith('/') && !key.endsWith('/') && !key.includes('//')
}

export function isWhitelisted(key: string): boolean {
  if (key.startsWith('Aux/')) return true
  if (EXACT_KEYS.has(key)) return true
  if (PREFIX_KEYS.some((p) => key.startsWith(p) && key.length > p.length)) return true
  return DRBD_SECTIONS.some((p) => key.startsWith(p) && /^[a-z0-9-]+$/.test(key.slice(p.length)))
}

/** Validates and normalises a value; throws FAIL_INVLD_PROP on a bad key or value. */
export function normaliseProp(key: string, value: unknown): string {
  if (!validKeySyntax(key) || !isWhitelisted(key)) {
    throw new ApiRcError(RC.FAIL_INVLD_PROP, `Invalid property key: ${key}`, {
      cause: `The key '${key}' is not whitelisted.`,
    })
  }
  if (typeof value !== 'string') throw new ApiRcError(RC.FAIL_INVLD_PROP, `Invalid property(${key}) value: ${String(value)}`)
  if (DRBD_BOOLEANS.has(key)) {
    const v = value.toLowerCase()
    if (v !== 'yes' && v !== 'no') throw new ApiRcError(RC.FAIL_INVLD_PROP, `Invalid property(${key}) value: ${value}`)
    return v
  }
  if (LINSTOR_BOOLEANS.has(key) && !/^(true|false|yes|no)$/i.test(value)) {
    throw new ApiRcError(RC.FAIL_INVLD_PROP, `Invalid property(${key}) value: ${value}`)
  }
  if ((key === 'DrbdOptions/Resource/quorum' || key === 'DrbdOptions/Resource/quorum-minimum-redundancy') && !QUORUM_VALUES.test(value)) {
    throw new ApiRcError(RC.FAIL_INVLD_PROP, `Invalid property(${key}) value: ${value}`)
  }
  if (key === 'DrbdOptions/Net/protocol' && !/^[ABC]$/.test(value)) {
    throw new ApiRcError(RC.FAIL_INVLD_PROP, `Invalid property(${key}) value: ${value}`)
  }
  if ((key === 'StorPoolName' || key === 'PrefNic') && !/^[a-zA-Z0-9_][a-zA-Z0-9_-]{2,47}$/.test(value)) {
    throw new ApiRcError(RC.FAIL_INVLD_PROP, `Invalid property(${key}) value: ${value}`)
  }
  if (key === 'PeerSlotsNewResource' && !(/^\d+$/.test(value) && Number(value) >= 1 && Number(value) <= 31)) {
    throw new ApiRcError(RC.FAIL_INVLD_PROP, `Invalid property(${key}) value: ${value}`)
  }
  return value
}

export interface PropsModify {
  override_props?: unknown
  delete_props?: unknown
  delete_namespaces?: unknown
}

export interface PropsChange {
  set: string[]
  deleted: string[]
}

function stringArray(v: unknown, what: string): string[] {
  if (v === undefined || v === null) return []
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
    throw new ApiRcError(RC.API_CALL_PARSE_ERROR, `Could not parse '${what}': expected a list of strings`)
  }
  return v as string[]
}

/** Parses and validates a modify body without touching anything. */
export function planPropsModify(body: PropsModify): { set: Props; del: string[]; ns: string[] } {
  const set: Props = {}
  const ov = body.override_props
  if (ov !== undefined && ov !== null) {
    if (typeof ov !== 'object' || Array.isArray(ov)) throw new ApiRcError(RC.API_CALL_PARSE_ERROR, "Could not parse 'override_props'")
    for (const [k, v] of Object.entries(ov as Record<string, unknown>)) set[k] = normaliseProp(k, v)
  }
  const del = stringArray(body.delete_props, 'delete_props')
  for (const k of del) {
    if (!validKeySyntax(k) || !isWhitelisted(k)) throw new ApiRcError(RC.FAIL_INVLD_PROP, `Invalid property key: ${k}`)
  }
  return { set, del, ns: stringArray(body.delete_namespaces, 'delete_namespaces') }
}

/** Applies a validated plan to a props map. */
export function applyPropsPlan(target: Props, plan: { set: Props; del: string[]; ns: string[] }): PropsChange {
  const deleted: string[] = []
  for (const k of plan.del) {
    if (Object.hasOwn(target, k)) {
      delete target[k]
      deleted.push(k)
    }
  }
  for (const ns of plan.ns) {
    const prefix = ns.endsWith('/') ? ns : `${ns}/`
    for (const k of Object.keys(target)) {
      if (k.startsWith(prefix)) {
        delete target[k]
        deleted.push(k)
      }
    }
  }
  for (const [k, v] of Object.entries(plan.set)) target[k] = v
  return { set: Object.keys(plan.set), deleted }
}

/** Validates a full props map given on creation. */
export function validateProps(props: unknown): Props {
  if (props === undefined || props === null) return {}
  if (typeof props !== 'object' || Array.isArray(props)) throw new ApiRcError(RC.API_CALL_PARSE_ERROR, "Could not parse 'props'")
  const out: Props = {}
  for (const [k, v] of Object.entries(props as Record<string, unknown>)) out[k] = normaliseProp(k, v)
  return out
}

/** DRBD-style truthiness of a yes/no option. */
export function isYes(v: string | undefined): boolean {
  return v !== undefined && /^(yes|true)$/i.test(v)
}
