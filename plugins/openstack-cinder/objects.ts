/**
 * Cinder's objects as the shim sends them (CONTRACT.md), checked, and the LINSTOR names they map
 * to. Names follow the in-tree driver (CV_<id>, SN_<id>) so its volumes are found as they are, and
 * LINBIT's v2 driver's (volume-<id>, snapshot-<id>) are found too; new volumes use the name id, as
 * Cinder asks of drivers (it differs from the id after a generic migration).
 */
import { PluginError } from '../../core/errors/index.js'
import { isLinstorName } from '../../core/volumes/index.js'
import { isRecord } from './settings.js'
import type { VolumeTypeRef } from './settings.js'

export interface CinderAttachment {
  id: string
  attachedHost?: string
  status: string
  instance?: string
}

export interface CinderVolume {
  id: string
  nameId: string
  name: string
  /** GiB. */
  size: number
  providerId?: string
  multiattach: boolean
  host?: string
  status: string
  type: VolumeTypeRef | null
  attachments: CinderAttachment[]
}

export interface CinderSnapshot {
  id: string
  name: string
  volumeSize: number
  providerId?: string
  volume: CinderVolume
}

/**
 * Cinder ids are UUIDs (36 characters); anything else is refused before it reaches a name. At most
 * 45 characters, so that CV_<id> and SN_<id> stay within LINSTOR's 48.
 */
const ID = /^[A-Za-z0-9][A-Za-z0-9-]{0,44}$/

function invalid(message: string): PluginError {
  return new PluginError('CALL_INVALID', message)
}

function optString(o: Record<string, unknown>, key: string, where: string): string | undefined {
  const v = o[key]
  if (v === undefined || v === null || v === '') return undefined
  if (typeof v !== 'string') throw invalid(`${where}.${key}: must be a string or null`)
  return v
}

function id(o: Record<string, unknown>, key: string, where: string): string {
  const v = o[key]
  if (typeof v !== 'string' || !ID.test(v)) throw invalid(`${where}.${key}: must be a Cinder id (a UUID)`)
  return v
}

/** Whole GiB; 0 is what Cinder's database holds for a volume being managed until its size is known. */
function gib(o: Record<string, unknown>, key: string, where: string): number {
  const v = o[key]
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > 1024 * 1024) throw invalid(`${where}.${key}: must be a size in GiB from 0 to 1048576`)
  return v
}

/** A volume type ({ name, extra_specs }) or null for a volume without one. */
export function typeArg(t: unknown, where: string): VolumeTypeRef | null {
  if (t === undefined || t === null) return null
  if (!isRecord(t)) throw invalid(`${where}: must be an object or null`)
  const specs = t['extra_specs']
  if (specs !== undefined && specs !== null && !isRecord(specs)) throw invalid(`${where}.extra_specs: must be an object`)
  return { name: typeof t['name'] === 'string' ? t['name'] : null, extra_specs: specs ?? {} }
}

export function volumeArg(v: unknown, where = 'arguments.volume'): CinderVolume {
  if (!isRecord(v)) throw invalid(`${where}: must be a volume object`)
  const volumeId = id(v, 'id', where)
  const nameId = optString(v, 'name_id', where) ?? volumeId
  if (!ID.test(nameId)) throw invalid(`${where}.name_id: must be a Cinder id (a UUID)`)
  const providerId = optString(v, 'provider_id', where)
  if (providerId !== undefined && !isLinstorName(providerId)) throw invalid(`${where}.provider_id: ${JSON.stringify(providerId)} is not a LINSTOR resource name`)
  const rawAttachments = v['attachments'] ?? []
  if (!Array.isArray(rawAttachments)) throw invalid(`${where}.attachments: must be a list`)
  const attachments = rawAttachments.map((a, i): CinderAttachment => {
    if (!isRecord(a)) throw invalid(`${where}.attachments[${i}]: must be an object`)
    const host = optString(a, 'attached_host', `${where}.attachments[${i}]`)
    const instance = optString(a, 'instance_uuid', `${where}.attachments[${i}]`)
    return { id: optString(a, 'id', `${where}.attachments[${i}]`) ?? '', status: optString(a, 'attach_status', `${where}.attachments[${i}]`) ?? '', ...(host !== undefined ? { attachedHost: host } : {}), ...(instance !== undefined ? { instance } : {}) }
  })
  const host = optString(v, 'host', where)
  return {
    id: volumeId,
    nameId,
    name: optString(v, 'name', where) ?? `volume-${nameId}`,
    size: gib(v, 'size', where),
    ...(providerId !== undefined ? { providerId } : {}),
    multiattach: v['multiattach'] === true,
    ...(host !== undefined ? { host } : {}),
    status: optString(v, 'status', where) ?? '',
    type: typeArg(v['volume_type'], `${where}.volume_type`),
    attachments,
  }
}

export function snapshotArg(v: unknown, where = 'arguments.snapshot'): CinderSnapshot {
  if (!isRecord(v)) throw invalid(`${where}: must be a snapshot object`)
  const providerId = optString(v, 'provider_id', where)
  if (providerId !== undefined && !isLinstorName(providerId)) throw invalid(`${where}.provider_id: ${JSON.stringify(providerId)} is not a LINSTOR snapshot name`)
  const snapId = id(v, 'id', where)
  return {
    id: snapId,
    name: optString(v, 'name', where) ?? `snapshot-${snapId}`,
    volumeSize: gib(v, 'volume_size', where),
    ...(providerId !== undefined ? { providerId } : {}),
    volume: volumeArg(v['volume'], `${where}.volume`),
  }
}

/** The connector's host, or undefined for a force detach (connector null). */
export function connectorHost(v: unknown, required: boolean): string | undefined {
  if ((v === undefined || v === null) && !required) return undefined
  if (!isRecord(v)) throw new PluginError('CALL_INVALID', 'arguments.connector: must be the os-brick connector (an object with host)')
  const host = v['host']
  if (typeof host !== 'string' || host.trim() === '') throw new PluginError('CALL_INVALID', 'arguments.connector.host: the connector names no host; os-brick sets it from nova\'s CONF.host')
  return host.trim()
}

/** The name a new volume's resource gets. */
export function newVolumeName(v: CinderVolume): string {
  return `CV_${v.nameId}`
}

export function newSnapshotName(s: CinderSnapshot): string {
  return `SN_${s.id}`
}

/**
 * The platform name a volume's resource records (AUX_PLATFORM_NAME): Cinder's own name of the
 * volume, volume-<name_id> (its default volume_name_template), whatever the resource is called.
 * Ids that differ only in case map to one LINSTOR name; the recorded name tells them apart.
 */
export function volumePlatformName(v: CinderVolume): string {
  return `volume-${v.nameId}`
}

/** The platform names a volume's resource may record: by its name id, or by its id (made before a migration changed the name id). */
export function volumePlatformNames(v: CinderVolume): string[] {
  return [...new Set([`volume-${v.nameId}`, `volume-${v.id}`])]
}

/** The platform name a snapshot records: snapshot-<id> (Cinder's snapshot_name_template). */
export function snapshotPlatformName(s: CinderSnapshot): string {
  return `snapshot-${s.id}`
}

function unique(names: string[]): string[] {
  const seen = new Set<string>()
  return names.filter((n) => {
    const k = n.toLowerCase()
    if (seen.has(k) || !isLinstorName(n)) return false
    seen.add(k)
    return true
  })
}

/** Where a volume's resource may be, in order: adopted name, ours/in-tree, LINBIT v2, in-tree by id. */
export function volumeCandidates(v: CinderVolume): string[] {
  return unique([...(v.providerId !== undefined ? [v.providerId] : []), `CV_${v.nameId}`, `volume-${v.nameId}`, `CV_${v.id}`])
}

export function snapshotCandidates(s: CinderSnapshot): string[] {
  return unique([...(s.providerId !== undefined ? [s.providerId] : []), `SN_${s.id}`, `snapshot-${s.id}`])
}
