/** Controller-level calls: version, properties. */
import type { ApiCallRc } from './api-call-rc.js'
import type { CallOptions, Caller } from './caller.js'
import { strMap } from './narrow.js'
import { readControllerVersion } from './readers.js'
import type { ControllerVersion, Props, PropsModify } from './types.js'

export class ControllerApi {
  readonly #c: Caller
  constructor(caller: Caller) {
    this.#c = caller
  }

  /** GET /v1/controller/version: version, git_hash, build_time, rest_api_version. */
  version(options?: CallOptions): Promise<ControllerVersion> {
    return this.#c.query({ method: 'GET', path: '/v1/controller/version' }, (v) => readControllerVersion(v), options)
  }

  /** GET /v1/controller/properties: the controller's property map. */
  properties(options?: CallOptions): Promise<Props> {
    return this.#c.query({ method: 'GET', path: '/v1/controller/properties' }, (v) => strMap(v ?? {}, 'properties'), options)
  }

  /** POST /v1/controller/properties (the controller uses POST for its property modify). */
  modifyProperties(body: PropsModify, options?: CallOptions): Promise<ApiCallRc[]> {
    return this.#c.mutate({ method: 'POST', path: '/v1/controller/properties', body, idempotent: true }, options)
  }
}
