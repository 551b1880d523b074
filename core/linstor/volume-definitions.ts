/** Volume definitions: size (KiB) and volume number of each volume of a resource definition. */
import type { ApiCallRc } from './api-call-rc.js'
import { seg } from './caller.js'
import type { CallOptions, Caller } from './caller.js'
import { list } from './narrow.js'
import { readVolumeDefinition } from './readers.js'
import type { VolumeDefinition, VolumeDefinitionCreate, VolumeDefinitionModify } from './types.js'

export class VolumeDefinitionsApi {
  readonly #c: Caller
  constructor(caller: Caller) {
    this.#c = caller
  }

  list(resource: string, options?: CallOptions): Promise<VolumeDefinition[]> {
    return this.#c.query(
      { method: 'GET', path: `/v1/resource-definitions/${seg(resource)}/volume-definitions` },
      (v) => list(v, 'volume-definitions', readVolumeDefinition),
      options,
    )
  }

  get(resource: string, volumeNumber: number, options?: CallOptions): Promise<VolumeDefinition | undefined> {
    return this.#c.find(
      { method: 'GET', path: `/v1/resource-definitions/${seg(resource)}/volume-definitions/${seg(volumeNumber)}` },
      (v) => readVolumeDefinition(v, 'volume-definition'),
      options,
    )
  }

  /** Creates a volume definition (the controller answers 200). An existing number fails with FAIL_EXISTS_VLM_DFN. */
  create(resource: string, body: VolumeDefinitionCreate, options?: CallOptions): Promise<ApiCallRc[]> {
    return this.#c.mutate({ method: 'POST', path: `/v1/resource-definitions/${seg(resource)}/volume-definitions`, body }, options)
  }

  /** Resize with `size_kib` (grow only once DRBD is deployed; same size → WARN_VLMDFN_RESIZE_SAME_SIZE), or props. */
  modify(resource: string, volumeNumber: number, body: VolumeDefinitionModify, options?: CallOptions): Promise<ApiCallRc[]> {
    return this.#c.mutate(
      { method: 'PUT', path: `/v1/resource-definitions/${seg(resource)}/volume-definitions/${seg(volumeNumber)}`, body },
      options,
    )
  }

  delete(resource: string, volumeNumber: number, options?: CallOptions): Promise<ApiCallRc[]> {
    return this.#c.mutate(
      { method: 'DELETE', path: `/v1/resource-definitions/${seg(resource)}/volume-definitions/${seg(volumeNumber)}` },
      options,
    )
  }
}
