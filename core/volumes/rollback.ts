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
import type { LinstorClient } from '../linstor/index.js'
import type { ResourceInfo } from './state.js'

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
export function onZfsOnly(info: ResourceInfo): boolean {
  const diskful = info.replicas.filter((r) => r.kind === 'diskful')
  return diskful.length > 0 && diskful.every((r) => r.volumes.length > 0 && r.volumes.every((v) => v.providerKind === 'ZFS' || v.providerKind === 'ZFS_THIN'))
}

/**
 * What limits a rollback past newer snapshots on this controller, for this resource; undefined
 * when LINSTOR can roll back to any snapshot. `info` is needed only for controllers 1.32+ (ZFS);
 * `props` reads the group's and the controller's properties only when the resource is on ZFS and
 * its definition does not set the strategy itself.
 */
export async function rollbackLimit(
  version: string,
  info: () => Promise<ResourceInfo>,
  props: { group: (name: string) => Promise<Record<string, string>>; controller: () => Promise<Record<string, string>> },
): Promise<RollbackLimit | undefined> {
  if (compareVersions(version, '1.31.0') < 0) return { kind: 'controller', version }
  if (compareVersions(version, '1.32.0') < 0) return undefined
  const i = await info()
  if (!onZfsOnly(i)) return undefined
  let strategy = i.props[ZFS_ROLLBACK_STRATEGY]
  let source = `resource definition ${i.name}`
  if (strategy === undefined && i.resourceGroup !== undefined) {
    strategy = (await props.group(i.resourceGroup))[ZFS_ROLLBACK_STRATEGY]
    source = `resource group ${i.resourceGroup}`
  }
  if (strategy === undefined) {
    strategy = (await props.controller())[ZFS_ROLLBACK_STRATEGY]
    source = 'controller'
  }
  return strategy !== undefined && strategy.toUpperCase() === 'ROLLBACK' ? { kind: 'zfs-rollback-strategy', source } : undefined
}

/** The reason, as a clause for messages ("LINSTOR 1.29.0 rolls back to the newest snapshot only"). */
export function limitText(l: RollbackLimit): string {
  return l.kind === 'controller'
    ? `LINSTOR ${l.version} rolls back to the newest snapshot only`
    : `the ZFS rollback strategy 'Rollback' (${ZFS_ROLLBACK_STRATEGY} on the ${l.source}) rolls back to the newest snapshot only`
}
