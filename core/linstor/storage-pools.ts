/** Storage pools: capacities (KiB), provider kinds, and which node has which pool. */
import { seg } from './caller.js'
import type { CallOptions, Caller } from './caller.js'
import { list } from './narrow.js'
import { readStoragePool } from './readers.js'
import type { StoragePool } from './types.js'

export interface StoragePoolFilter {
  nodes?: readonly string[]
  storagePools?: readonly string[]
  props?: readonly string[]
  limit?: number
  offset?: number
}

/** Diskless pools report Long.MAX capacities; leave them out of capacity sums. */
export function isDisklessPool(pool: Pick<StoragePool, 'provider_kind'>): boolean {
  return pool.provider_kind === 'DISKLESS' || pool.provider_kind === 'EBS_INIT' || pool.provider_kind === 'REMOTE_SPDK'
}

export class StoragePoolsApi {
  readonly #c: Caller
  constructor(caller: Caller) {
    this.#c = caller
  }

  /** Every node's pools in one call (GET /v1/view/storage-pools). */
  list(filter: StoragePoolFilter = {}, options?: CallOptions): Promise<StoragePool[]> {
    return this.#c.query(
      {
        method: 'GET',
        path: '/v1/view/storage-pools',
        query: { nodes: filter.nodes, storage_pools: filter.storagePools, props: filter.props, limit: filter.limit, offset: filter.offset },
      },
      (v) => list(v, 'storage-pools', readStoragePool),
      options,
    )
  }

  /** The pools of one node. */
  ofNode(node: string, options?: CallOptions): Promise<StoragePool[]> {
    return this.#c.query({ method: 'GET', path: `/v1/nodes/${seg(node)}/storage-pools` }, (v) => list(v, 'storage-pools', readStoragePool), options)
  }

  get(node: string, pool: string, options?: CallOptions): Promise<StoragePool | undefined> {
    return this.#c.find(
      { method: 'GET', path: `/v1/nodes/${seg(node)}/storage-pools/${seg(pool)}` },
      (v) => readStoragePool(v, 'storage-pool'),
      options,
    )
  }
}
