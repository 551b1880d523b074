/** The cluster-wide view endpoints, the efficient way to read many objects in one call. */
import type { CallOptions, Caller } from './caller.js'
import { list } from './narrow.js'
import { readResourceWithVolumes, readSnapshot } from './readers.js'
import type { ResourceWithVolumes, Snapshot } from './types.js'

export interface ViewFilter {
  nodes?: readonly string[]
  resources?: readonly string[]
  storagePools?: readonly string[]
  /** Each `key` (must exist) or `key=value`, on the object's own props. */
  props?: readonly string[]
  limit?: number
  offset?: number
}

export class ViewsApi {
  readonly #c: Caller
  constructor(caller: Caller) {
    this.#c = caller
  }

  /**
   * Resources with their volumes. Filters are ANDed. A resource whose volume list is empty (no
   * volume definitions, or all filtered out by storagePools) has no row.
   */
  resources(filter: ViewFilter = {}, options?: CallOptions): Promise<ResourceWithVolumes[]> {
    return this.#c.query(
      {
        method: 'GET',
        path: '/v1/view/resources',
        query: {
          nodes: filter.nodes,
          resources: filter.resources,
          storage_pools: filter.storagePools,
          props: filter.props,
          limit: filter.limit,
          offset: filter.offset,
        },
      },
      (v) => list(v, 'resources', readResourceWithVolumes),
      options,
    )
  }

  snapshots(filter: Pick<ViewFilter, 'nodes' | 'resources' | 'limit' | 'offset'> = {}, options?: CallOptions): Promise<Snapshot[]> {
    return this.#c.query(
      {
        method: 'GET',
        path: '/v1/view/snapshots',
        query: { nodes: filter.nodes, resources: filter.resources, limit: filter.limit, offset: filter.offset },
      },
      (v) => list(v, 'snapshots', readSnapshot),
      options,
    )
  }
}
