/**
 * The running emulator's shared context: state, clock, uuids, the satellites' data store and
 * persistence. Route modules and operations receive it explicitly (no module-level singletons).
 */
import { randomUUID, randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import type { Clock } from './api-call-rc.js'
import type { PoolUsage } from './capacity.js'
import type { DataStore } from './data-store.js'
import type { ErrorReportStore } from './error-reports.js'
import type { SatelliteFault } from './rollback.js'
import type { EmulatorState, PoolState, ResourceDefinitionState } from './model.js'

/**
 * Running totals over the resource definitions a bulk load (the cluster file's `resources:`) has
 * finished. Minor and TCP port allocation, pool usage and the placer otherwise rescan every
 * definition on each call, which makes seeding thousands of resources quadratic; while this is
 * set they add these totals to a scan of `pending` only (the definitions still being built).
 * Only the loader may mutate the state while it is set, and it never frees a minor or a port.
 */
export interface BulkTotals {
  /** Definitions not folded into the totals yet; the helpers scan these as usual. */
  pending: ResourceDefinitionState[]
  minors: Set<number>
  /** Where the lowest-free minor search may resume: every minor of [range start, next) is taken. */
  minorSearch?: { start: number; next: number }
  /** Node key → TCP ports in use there. */
  tcpPorts: Map<string, Set<number>>
  /** Node key → names of the resources it hosts. */
  nodeResources: Map<string, string[]>
  /** Usage of each pool (keyed by the pool object: cheaper than building a name key per call). */
  pools: Map<PoolState, PoolUsage>
}

/** What GET /v1/controller/version reports; rollback and request classes follow `version`. */
export interface ControllerVersionInfo {
  version: string
  git_hash: string
  build_time: string
  rest_api_version: string
}

export interface Emu {
  state: EmulatorState
  /** The controller version the emulator plays (default 1.34.0). */
  version: ControllerVersionInfo
  /** Error reports the REST layer filed (GET /v1/error-reports). */
  errorReports: ErrorReportStore
  /** Satellite-side failures a test asked for (POST /x-emulator/faults/satellite). */
  satelliteFaults?: SatelliteFault[]
  clock: Clock
  uuid: () => string
  secret: () => string
  data: DataStore
  log: Logger
  /** How long a clone reports CLONING before COMPLETE (ms of the injected clock). */
  cloneDurationMs: number
  /**
   * Runs `fn` (synchronous) as one change of the state (journal.ts): `emu.state` is its view while
   * it runs; when it returns, what it touched is persisted; when it throws, every write it made is
   * undone and the error passes on. A change inside a change joins it.
   */
  change: <T>(fn: () => T) => T
  /**
   * Persists the whole state as a new base (atomic write). For changes made outside `change`
   * (a bulk load); inside a change it does nothing (the change persists what it touched).
   */
  save: () => void
  /** Set only while a cluster description's resources are being seeded. */
  bulk?: BulkTotals | undefined
  /**
   * Usage of every pool, computed in one pass; set only while a read-only handler (size queries,
   * the storage-pool views) runs, so those need not rescan every definition once per pool.
   */
  usage?: Map<PoolState, PoolUsage> | undefined
  /** Counts saves (successful mutations), so a usage snapshot knows when the state changed. */
  saves?: number
  /**
   * The master passphrase was created or entered since this controller started: the decrypted
   * master key is in memory (CtrlSecurityObjects). Never persisted: a restart locks LUKS again.
   */
  masterKeyEntered?: boolean
  /** Emulated WAN bandwidth of a DRBD Proxy connection, KiB/s of the clock (proxy.ts). */
  proxyBandwidthKibPerS?: number
}

/** A uuid generator: random, or deterministic from a seed (v4-shaped, counter based). */
export function uuidGenerator(seed?: number): () => string {
  if (seed === undefined) return () => randomUUID()
  let n = 0
  return () => {
    n++
    const hex = (seed >>> 0).toString(16).padStart(8, '0') + n.toString(16).padStart(24, '0')
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`
  }
}

/** DRBD shared secrets look like 20 base62 characters. */
export function secretGenerator(seed?: number): () => string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
  let x = seed ?? 0
  return () => {
    let out = ''
    const bytes = seed === undefined ? randomBytes(20) : Buffer.alloc(20).map(() => ((x = (x * 1103515245 + 12345) >>> 0), x >>> 16))
    for (const b of bytes) out += alphabet[b % alphabet.length]
    return out
  }
}

/** Numeric compare of dotted versions ("1.30.0" < "1.31.2"); missing parts count as 0. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0)
  const pb = b.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0)
  for (let i = 0; i < Math.max(pa.length, pb.length, 3); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d !== 0) return d < 0 ? -1 : 1
  }
  return 0
}

/** True when the emulated controller is `min` or newer. */
export function versionAtLeast(emu: Pick<Emu, 'version'>, min: string): boolean {
  return compareVersions(emu.version.version, min) >= 0
}

/**
 * The REST API level a controller version ships (the reference's table: 1.31 → 1.25.0, 1.32 →
 * 1.26.0, 1.33 → 1.27.0, 1.34 → 1.28.0). Older versions are not in the reference: 1.24.0 is a
 * guess (docs/emulator.md).
 */
export function restApiVersionOf(version: string): string {
  if (compareVersions(version, '1.34.0') >= 0) return '1.28.0'
  if (compareVersions(version, '1.33.0') >= 0) return '1.27.0'
  if (compareVersions(version, '1.32.0') >= 0) return '1.26.0'
  if (compareVersions(version, '1.31.0') >= 0) return '1.25.0'
  return '1.24.0'
}

/** The version answer for a controller version ("1.34.0" → 1.34.0 with REST 1.28.0). */
export function controllerVersionInfo(version = '1.34.0'): ControllerVersionInfo {
  if (!/^\d+\.\d+\.\d+([.-][0-9A-Za-z.-]+)?$/.test(version)) throw new Error(`controller version must look like 1.34.0, got '${version}'`)
  return { version, git_hash: '3e9306a9d0000000000000000000000000000000', build_time: '2026-06-02T00:00:00+00:00', rest_api_version: restApiVersionOf(version) }
}
