/**
 * Which snapshot LINSTOR can roll a resource back to, by controller version and storage:
 * - before 1.31.0 the controller rolls back to the newest snapshot only (refused otherwise with
 *   FAIL_EXISTS_SNAPSHOT_DFN "Rollback is only allowed with the most recent snapshot");
 * - since 1.31.0 it rolls back "via restore" to any snapshot and keeps the newer ones (a safety
 *   snapshot protects the data while it works);
 * - since 1.32.0 a resource whose replicas are all on ZFS follows `StorDriver/Zfs/RollbackStrategy`
 *   (resource definition, then its group, then the controller; default DYNAMIC): only ROLLBACK
 *   (`zfs rollback`) keeps the newest-only rule (FAIL_DEPENDEND_BACKUP for an older snapshot).
 * (linstor-server: CtrlSnapshotRollbackApiCallHandler, ZfsChecks, ZfsRollbackStrategy.)
 *
 * The version is asked once per VolumeLifecycle (one per Storage, so once per agent and config)
 * and forgotten when a controller refuses what its version promised (a failover to an older one).
 */
import type { LinstorClient, ResourceWithVolumes } from '../linstor/index.js'
import { replicaKind } from './state.js'

export const ZFS_ROLLBACK_STRATEGY = 'StorDriver/Zfs/RollbackStrategy'

/** Numeric compare of dotted versions ("1.30.4" < "1.31.0"); missing parts count as 0. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0)
  const pb = b.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0)
  for (let i = 0; i < Math.max(pa.length, pb.length, 3); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d !== 0) return d < 0 ? -1 : 1
  }
  return 0
}

/** The controller's version, asked once and kept (forget() asks again next time). */
export class ControllerVersion {
  readonly #client: LinstorClient
  #pending: Promise<string> | undefined

  constructor(client: LinstorClient) {
    this.#client = client
  }

  get(): Promise<string> {
    if (this.#pending === undefined) {
      const p = this.#client.controller.version().then((v) => v.version)
      // A failed question is asked again next time, not cached.
      p.catch(() => {
        if (this.#pending === p) this.#pending = undefined
      })
      this.#pending = p
    }
    return this.#pending
  }

  forget(): void {
    this.#pending = undefined
  }
}

/** Why LINSTOR cannot roll back past newer snapshots (undefined: it can, to any snapshot). */
export type RollbackLimit = { kind: 'controller'; version: string } | { kind: 'zfs-rollback-strategy'; source: string }

/** True when every diskful replica sits on a ZFS pool (what ZfsChecks.isZfsSnapshot decides on). */
export function onZfsOnly(rows: readonly ResourceWithVolumes[]): boolean {
  const diskful = rows.filter((r) => replicaKind(r.flags) === 'diskful')
  return diskful.length > 0 && diskful.every((r) => r.volumes.length > 0 && r.volumes.every((v) => v.provider_kind === 'ZFS' || v.provider_kind === 'ZFS_THIN'))
}

/** Where the ZFS rollback strategy of a resource is read: definition, group, controller. */
export interface StrategySources {
  /** The resource's replicas as the view has them (their pools' provider kinds). */
  replicas: () => Promise<readonly ResourceWithVolumes[]>
  definition: () => Promise<{ name: string; props: Record<string, string>; resourceGroup?: string } | undefined>
  group: (name: string) => Promise<Record<string, string>>
  controller: () => Promise<Record<string, string>>
}

/**
 * What limits a rollback past newer snapshots on this controller, for this resource; undefined
 * when LINSTOR can roll back to any snapshot. The replicas are read only for controllers 1.32+;
 * the definition, its group and the controller only when every diskful replica is on ZFS, each
 * only when the one before does not set the strategy.
 */
export async function rollbackLimit(version: string, src: StrategySources): Promise<RollbackLimit | undefined> {
  if (compareVersions(version, '1.31.0') < 0) return { kind: 'controller', version }
  if (compareVersions(version, '1.32.0') < 0) return undefined
  if (!onZfsOnly(await src.replicas())) return undefined
  const rd = await src.definition()
  let strategy = rd?.props[ZFS_ROLLBACK_STRATEGY]
  let source = `resource definition ${rd?.name ?? ''}`
  if (strategy === undefined && rd?.resourceGroup !== undefined) {
    strategy = (await src.group(rd.resourceGroup))[ZFS_ROLLBACK_STRATEGY]
    source = `resource group ${rd.resourceGroup}`
  }
  if (strategy === undefined) {
    strategy = (await src.controller())[ZFS_ROLLBACK_STRATEGY]
    source = 'controller'
  }
  return strategy !== undefined && strategy.toUpperCase() === 'ROLLBACK' ? { kind: 'zfs-rollback-strategy', source } : undefined
}

/**
 * For a rollback that lets the controller judge ZFS itself (it refuses a Rollback strategy past
 * newer snapshots before changing anything): the version alone decides.
 */
export const NO_ZFS_LOOKUP: StrategySources = {
  replicas: () => Promise.resolve([]),
  definition: () => Promise.resolve(undefined),
  group: () => Promise.resolve({}),
  controller: () => Promise.resolve({}),
}

/** The reason, as a clause for messages ("LINSTOR 1.29.0 rolls back to the newest snapshot only"). */
export function limitText(l: RollbackLimit): string {
  return l.kind === 'controller'
    ? `LINSTOR ${l.version} rolls back to the newest snapshot only`
    : `the ZFS rollback strategy 'Rollback' (${ZFS_ROLLBACK_STRATEGY} on the ${l.source}) rolls back to the newest snapshot only`
}
