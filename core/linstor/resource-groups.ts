/** Resource groups: the placement policy objects, and spawning resources from them. */
import type { ApiCallRc } from './api-call-rc.js'
import { seg } from './caller.js'
import type { CallOptions, Caller } from './caller.js'
import { list } from './narrow.js'
import { readQuerySizeInfo, readResourceGroup } from './readers.js'
import type {
  AutoSelectFilter, QuerySizeInfo, ResourceGroup, ResourceGroupCreate, ResourceGroupModify, ResourceGroupSpawn,
} from './types.js'

export class ResourceGroupsApi {
  readonly #c: Caller
  constructor(caller: Caller) {
    this.#c = caller
  }

  list(filter: { resourceGroups?: readonly string[]; props?: readonly string[] } = {}, options?: CallOptions): Promise<ResourceGroup[]> {
    return this.#c.query(
      { method: 'GET', path: '/v1/resource-groups', query: { resource_groups: filter.resourceGroups, props: filter.props } },
      (v) => list(v, 'resource-groups', readResourceGroup),
      options,
    )
  }

  get(name: string, options?: CallOptions): Promise<ResourceGroup | undefined> {
    return this.#c.find({ method: 'GET', path: `/v1/resource-groups/${seg(name)}` }, (v) => readResourceGroup(v, 'resource-group'), options)
  }

  /**
   * Creates a group. Not idempotent on the controller: an existing name fails with
   * FAIL_EXISTS_RSC_GRP. Props in the create body are ignored by LINSTOR; set them with modify.
   */
  create(body: ResourceGroupCreate, options?: CallOptions): Promise<ApiCallRc[]> {
    return this.#c.mutate({ method: 'POST', path: '/v1/resource-groups', body }, options)
  }

  /** Only the select-filter fields present in the body are changed. */
  modify(name: string, body: ResourceGroupModify, options?: CallOptions): Promise<ApiCallRc[]> {
    return this.#c.mutate({ method: 'PUT', path: `/v1/resource-groups/${seg(name)}`, body }, options)
  }

  /** Refused (FAIL_EXISTS_RSC_DFN) while resource definitions use the group; missing → WARN_NOT_FOUND. */
  delete(name: string, options?: CallOptions): Promise<ApiCallRc[]> {
    return this.#c.mutate({ method: 'DELETE', path: `/v1/resource-groups/${seg(name)}` }, options)
  }

  /** Creates a resource definition with volumes from the group and autoplaces it (unless definitions_only). */
  spawn(name: string, body: ResourceGroupSpawn, options?: CallOptions): Promise<ApiCallRc[]> {
    return this.#c.mutate({ method: 'POST', path: `/v1/resource-groups/${seg(name)}/spawn`, body }, options)
  }

  /** How large a volume the group could place now, and where the next spawn would go. Always 200: problems are in `reports`. */
  querySizeInfo(name: string, body: { select_filter?: AutoSelectFilter } = {}, options?: CallOptions): Promise<QuerySizeInfo> {
    return this.#c.query(
      { method: 'POST', path: `/v1/resource-groups/${seg(name)}/query-size-info`, body, idempotent: true },
      (v) => readQuerySizeInfo(v),
      options,
    )
  }
}
