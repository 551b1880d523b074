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

  /**
   * GET /v1/encryption/passphrase: whether the master passphrase is unset, locked (the controller
   * restarted and nobody entered it) or unlocked. Undefined for controllers before 1.33 (no such call).
   */
  encryptionStatus(options?: CallOptions): Promise<'unset' | 'locked' | 'unlocked' | undefined> {
    return this.#c.find(
      { method: 'GET', path: '/v1/encryption/passphrase' },
      (v) => {
        const o = Array.isArray(v) ? (v[0] as unknown) : v
        const s = typeof o === 'object' && o !== null ? (o as Record<string, unknown>)['status'] : undefined
        const l = typeof s === 'string' ? s.toLowerCase() : ''
        return l === 'unset' || l === 'locked' || l === 'unlocked' ? l : undefined
      },
      options,
    )
  }

  /** POST /v1/controller/properties (the controller uses POST for its property modify). */
  modifyProperties(body: PropsModify, options?: CallOptions): Promise<ApiCallRc[]> {
    return this.#c.mutate({ method: 'POST', path: '/v1/controller/properties', body, idempotent: true }, options)
  }
}
