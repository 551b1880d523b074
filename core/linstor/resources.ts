/** Resources (replicas on nodes): create, delete, make-available, toggle-disk, autoplace. */
import type { ApiCallRc } from './api-call-rc.js'
import { seg } from './caller.js'
import type { CallOptions, Caller } from './caller.js'
import { list } from './narrow.js'
import { readResource, readVolume } from './readers.js'
import type {
  AutoPlaceRequest, Resource, ResourceCreate, ResourceMakeAvailable, ResourceModify, ToggleDiskRequest, Volume,
} from './types.js'

const base = (resource: string): string => `/v1/resource-definitions/${seg(resource)}/resources`

export class ResourcesApi {
  readonly #c: Caller
  constructor(caller: Caller) {
    this.#c = caller
  }

  /** The replicas of one definition, without volumes (use view.resources for those). */
  list(resource: string, options?: CallOptions): Promise<Resource[]> {
    return this.#c.query({ method: 'GET', path: base(resource) }, (v) => list(v, 'resources', readResource), options)
  }

  get(resource: string, node: string, options?: CallOptions): Promise<Resource | undefined> {
    return this.#c.find({ method: 'GET', path: `${base(resource)}/${seg(node)}` }, (v) => readResource(v, 'resource'), options)
  }

  volumes(resource: string, node: string, options?: CallOptions): Promise<Volume[]> {
    return this.#c.query({ method: 'GET', path: `${base(resource)}/${seg(node)}/volumes` }, (v) => list(v, 'volumes', readVolume), options)
  }

  /**
   * Creates a replica on `node`. Diskless: `{ resource: { flags: ['DISKLESS'] } }`. Repeating it is
   * safe: the controller answers INFO_RSC_ALREADY_EXISTS (or toggles a diskless replica to diskful
   * when a diskful one is asked for).
   */
  create(resource: string, node: string, body: ResourceCreate = {}, options?: CallOptions): Promise<ApiCallRc[]> {
    return this.#c.mutate({ method: 'POST', path: `${base(resource)}/${seg(node)}`, body, idempotent: true }, options)
  }

  /** Creates several replicas in one call; each body names its node in resource.node_name. */
  createMany(resource: string, bodies: readonly ResourceCreate[], options?: CallOptions): Promise<ApiCallRc[]> {
    return this.#c.mutate({ method: 'POST', path: base(resource), body: bodies, idempotent: true }, options)
  }

  modify(resource: string, node: string, body: ResourceModify, options?: CallOptions): Promise<ApiCallRc[]> {
    return this.#c.mutate({ method: 'PUT', path: `${base(resource)}/${seg(node)}`, body }, options)
  }

  /**
   * Deletes a replica. Missing → WARN_NOT_FOUND (success). The controller may keep a deleted
   * diskless replica as tie-breaker; `keepTiebreaker` asks for that explicitly (without it, deleting
   * a tie-breaker turns auto tie-breakers off for the definition).
   */
  delete(resource: string, node: string, opts: { keepTiebreaker?: boolean } = {}, options?: CallOptions): Promise<ApiCallRc[]> {
    return this.#c.mutate(
      { method: 'DELETE', path: `${base(resource)}/${seg(node)}`, query: { keep_tiebreaker: opts.keepTiebreaker === true ? true : undefined } },
      options,
    )
  }

  /**
   * Makes the resource usable on `node`: no-op if it is there, a diskless client if a diskful peer
   * exists, else a diskful replica (or diskful on request); clears a tie-breaker flag.
   */
  makeAvailable(resource: string, node: string, body: ResourceMakeAvailable = {}, options?: CallOptions): Promise<ApiCallRc[]> {
    return this.#c.mutate({ method: 'POST', path: `${base(resource)}/${seg(node)}/make-available`, body, idempotent: true }, options)
  }

  /** REST 1.28+: unified toggle-disk. Older controllers: use toggleDiskLegacy. */
  toggleDisk(resource: string, node: string, body: ToggleDiskRequest, options?: CallOptions): Promise<ApiCallRc[]> {
    return this.#c.mutate({ method: 'PUT', path: `${base(resource)}/${seg(node)}/toggle-disk`, body }, options)
  }

  /** The deprecated toggle-disk/diskless[/pool] and toggle-disk/diskful[/pool] endpoints (every controller version). */
  toggleDiskLegacy(resource: string, node: string, into: 'diskless' | 'diskful', pool?: string, options?: CallOptions): Promise<ApiCallRc[]> {
    const suffix = pool === undefined ? '' : `/${seg(pool)}`
    return this.#c.mutate({ method: 'PUT', path: `${base(resource)}/${seg(node)}/toggle-disk/${into}${suffix}` }, options)
  }

  /** Toggles LINSTOR's INACTIVE flag (shared storage); not the plugin-level activate. */
  activate(resource: string, node: string, options?: CallOptions): Promise<ApiCallRc[]> {
    return this.#c.mutate({ method: 'POST', path: `${base(resource)}/${seg(node)}/activate`, idempotent: true }, options)
  }

  deactivate(resource: string, node: string, options?: CallOptions): Promise<ApiCallRc[]> {
    return this.#c.mutate({ method: 'POST', path: `${base(resource)}/${seg(node)}/deactivate`, idempotent: true }, options)
  }

  /**
   * Places replicas with the autoplacer; the filter is merged over the definition's resource group.
   * Already placed → WARN_RSC_ALREADY_DEPLOYED (success), so repeating is safe. Cannot place →
   * LinstorApiError with FAIL_NOT_ENOUGH_NODES.
   */
  autoplace(resource: string, body: AutoPlaceRequest, options?: CallOptions): Promise<ApiCallRc[]> {
    return this.#c.mutate({ method: 'POST', path: `/v1/resource-definitions/${seg(resource)}/autoplace`, body, idempotent: true }, options)
  }
}
