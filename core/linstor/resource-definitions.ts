/** Resource definitions, their connections' properties, and clones. */
import type { ApiCallRc } from './api-call-rc.js'
import { seg } from './caller.js'
import type { CallOptions, Caller } from './caller.js'
import { LinstorApiError } from './errors.js'
import { badReply, list } from './narrow.js'
import { readCloneStarted, readCloneStatus, readResourceConnection, readResourceDefinition } from './readers.js'
import type {
  CloneStarted, CloneStatus, Props, PropsModify, ResourceConnection, ResourceDefinition, ResourceDefinitionClone, ResourceDefinitionCreate,
  ResourceDefinitionModify,
} from './types.js'
import { isError } from './api-call-rc.js'

export interface ResourceDefinitionListFilter {
  resourceDefinitions?: readonly string[]
  /** Each `key` or `key=value`, on the definition's props. */
  props?: readonly string[]
  /** Include volume definitions (the single-object GET never does). */
  withVolumeDefinitions?: boolean
}

export class ResourceDefinitionsApi {
  readonly #c: Caller
  constructor(caller: Caller) {
    this.#c = caller
  }

  list(filter: ResourceDefinitionListFilter = {}, options?: CallOptions): Promise<ResourceDefinition[]> {
    return this.#c.query(
      {
        method: 'GET',
        path: '/v1/resource-definitions',
        query: {
          resource_definitions: filter.resourceDefinitions,
          props: filter.props,
          with_volume_definitions: filter.withVolumeDefinitions === true ? true : undefined,
        },
      },
      (v) => list(v, 'resource-definitions', readResourceDefinition),
      options,
    )
  }

  /** The definition without its volume definitions (LINSTOR's single GET omits them), or undefined. */
  get(name: string, options?: CallOptions): Promise<ResourceDefinition | undefined> {
    return this.#c.find({ method: 'GET', path: `/v1/resource-definitions/${seg(name)}` }, (v) => readResourceDefinition(v, 'resource-definition'), options)
  }

  /**
   * Creates a definition. Not idempotent on the controller (FAIL_EXISTS_RSC_DFN). With an empty
   * name and an external_name the controller generates the LINSTOR name and returns it in
   * obj_refs.RscDfn of the first entry (see `createdName`).
   */
  create(body: ResourceDefinitionCreate, options?: CallOptions): Promise<ApiCallRc[]> {
    return this.#c.mutate({ method: 'POST', path: '/v1/resource-definitions', body }, options)
  }

  modify(name: string, body: ResourceDefinitionModify, options?: CallOptions): Promise<ApiCallRc[]> {
    return this.#c.mutate({ method: 'PUT', path: `/v1/resource-definitions/${seg(name)}`, body }, options)
  }

  /** Deletes the definition and all its resources. Missing → WARN_NOT_FOUND (success); refused while snapshots exist or a replica is Primary. */
  delete(name: string, options?: CallOptions): Promise<ApiCallRc[]> {
    return this.#c.mutate({ method: 'DELETE', path: `/v1/resource-definitions/${seg(name)}` }, options)
  }

  /** The resource connections that carry properties or flags (node pairs never configured are not listed). */
  connections(name: string, options?: CallOptions): Promise<ResourceConnection[]> {
    return this.#c.query(
      { method: 'GET', path: `/v1/resource-definitions/${seg(name)}/resource-connections` },
      (v) => list(v, 'resource-connections', readResourceConnection),
      options,
    )
  }

  /** Properties of the connection between two nodes of this resource (e.g. allow-two-primaries for one pair). */
  modifyConnection(name: string, nodeA: string, nodeB: string, body: PropsModify, options?: CallOptions): Promise<ApiCallRc[]> {
    return this.#c.mutate(
      { method: 'PUT', path: `/v1/resource-definitions/${seg(name)}/resource-connections/${seg(nodeA)}/${seg(nodeB)}`, body },
      options,
    )
  }

  /**
   * DRBD Proxy on the connection of two nodes of this resource: flag LOCAL_DRBD_PROXY, proxy
   * ports, and `DrbdOptions/Net/protocol` = A on that connection. Repeating it is harmless.
   */
  drbdProxyEnable(name: string, nodeA: string, nodeB: string, body: { port?: number } = {}, options?: CallOptions): Promise<ApiCallRc[]> {
    return this.#c.mutate(
      { method: 'POST', path: `/v1/resource-definitions/${seg(name)}/drbd-proxy/enable/${seg(nodeA)}/${seg(nodeB)}`, body, idempotent: true },
      options,
    )
  }

  /** Takes DRBD Proxy off the connection (LINSTOR leaves its protocol property in place). */
  drbdProxyDisable(name: string, nodeA: string, nodeB: string, options?: CallOptions): Promise<ApiCallRc[]> {
    return this.#c.mutate({ method: 'POST', path: `/v1/resource-definitions/${seg(name)}/drbd-proxy/disable/${seg(nodeA)}/${seg(nodeB)}`, idempotent: true }, options)
  }

  /** DRBD Proxy options of the definition: `DrbdOptions/Proxy/*` and the compression type with its options. */
  drbdProxyModify(
    name: string,
    body: { override_props?: Props; delete_props?: string[]; compression_type?: string; compression_props?: Props },
    options?: CallOptions,
  ): Promise<ApiCallRc[]> {
    return this.#c.mutate({ method: 'PUT', path: `/v1/resource-definitions/${seg(name)}/drbd-proxy`, body }, options)
  }

  /**
   * Starts a clone; poll `cloneStatus` until COMPLETE. The controller answers 201, or 500 with the
   * same shape when its messages hold an error: that rejects with a LinstorApiError.
   */
  async clone(source: string, body: ResourceDefinitionClone, options?: CallOptions): Promise<CloneStarted> {
    const spec = { method: 'POST', path: `/v1/resource-definitions/${seg(source)}/clone`, body } as const
    const ex = await this.#c.exchange(spec, options)
    const v = ex.value
    if (typeof v === 'object' && v !== null && !Array.isArray(v) && 'clone_name' in v) {
      const started = readCloneStarted(v)
      if (ex.status >= 300 || started.messages.some(isError)) throw new LinstorApiError(spec.method, spec.path, ex.status, started.messages)
      return started
    }
    throw ex.status >= 200 && ex.status < 300 ? badReply('clone', 'a clone reply') : this.#c.failure(spec, ex)
  }

  /** CLONING, COMPLETE or FAILED; undefined for an unknown clone. */
  cloneStatus(source: string, clone: string, options?: CallOptions): Promise<CloneStatus | undefined> {
    return this.#c.find({ method: 'GET', path: `/v1/resource-definitions/${seg(source)}/clone/${seg(clone)}` }, (v) => readCloneStatus(v), options)
  }
}

/** The LINSTOR name a create reply reports (obj_refs.RscDfn of the first entry that has one). */
export function createdName(entries: readonly ApiCallRc[]): string | undefined {
  for (const e of entries) {
    const name = e.obj_refs['RscDfn']
    if (name !== undefined) return name
  }
  return undefined
}
