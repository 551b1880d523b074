/** Snapshots: create, delete, list, restore into a new resource, rollback. */
import type { ApiCallRc } from './api-call-rc.js'
import { seg } from './caller.js'
import type { CallOptions, Caller } from './caller.js'
import { list } from './narrow.js'
import { readSnapshot } from './readers.js'
import type { Snapshot, SnapshotCreate, SnapshotRestore } from './types.js'

const base = (resource: string): string => `/v1/resource-definitions/${seg(resource)}`

export class SnapshotsApi {
  readonly #c: Caller
  constructor(caller: Caller) {
    this.#c = caller
  }

  list(resource: string, options?: CallOptions): Promise<Snapshot[]> {
    return this.#c.query({ method: 'GET', path: `${base(resource)}/snapshots` }, (v) => list(v, 'snapshots', readSnapshot), options)
  }

  get(resource: string, snapshot: string, options?: CallOptions): Promise<Snapshot | undefined> {
    return this.#c.find({ method: 'GET', path: `${base(resource)}/snapshots/${seg(snapshot)}` }, (v) => readSnapshot(v, 'snapshot'), options)
  }

  /** Empty `nodes`: every node with a diskful replica. Existing name → FAIL_EXISTS_SNAPSHOT_DFN. Wait for the SUCCESSFUL flag before use. */
  create(resource: string, body: SnapshotCreate, options?: CallOptions): Promise<ApiCallRc[]> {
    return this.#c.mutate({ method: 'POST', path: `${base(resource)}/snapshots`, body }, options)
  }

  delete(resource: string, snapshot: string, opts: { nodes?: readonly string[] } = {}, options?: CallOptions): Promise<ApiCallRc[]> {
    return this.#c.mutate({ method: 'DELETE', path: `${base(resource)}/snapshots/${seg(snapshot)}`, query: { nodes: opts.nodes } }, options)
  }

  /** Restore step 2: volume definitions of `to_resource` from the snapshot (the target definition must exist). */
  restoreVolumeDefinitions(resource: string, snapshot: string, toResource: string, options?: CallOptions): Promise<ApiCallRc[]> {
    return this.#c.mutate(
      { method: 'POST', path: `${base(resource)}/snapshot-restore-volume-definition/${seg(snapshot)}`, body: { to_resource: toResource } },
      options,
    )
  }

  /** Restore step 3: replicas of the target on the snapshot's nodes (the target must have none yet). */
  restoreResources(resource: string, snapshot: string, body: SnapshotRestore, options?: CallOptions): Promise<ApiCallRc[]> {
    return this.#c.mutate({ method: 'POST', path: `${base(resource)}/snapshot-restore-resource/${seg(snapshot)}`, body }, options)
  }

  /** Rolls the resource back to the snapshot; refused (FAIL_IN_USE) while any replica is Primary. */
  rollback(resource: string, snapshot: string, options?: CallOptions): Promise<ApiCallRc[]> {
    return this.#c.mutate({ method: 'POST', path: `${base(resource)}/snapshot-rollback/${seg(snapshot)}`, body: {} }, options)
  }
}
