/**
 * Public face of core/linstor: a hand-written, typed client for the LINSTOR REST API v1.
 * See docs/linstor-client.md.
 */
export { LinstorClient, createLinstorClient } from './client.js'
export type { LinstorClientOptions, LinstorTlsSettings } from './client.js'
export {
  RC, MASK_ERROR, MASK_WARN, MASK_INFO, MASK_BITS_CODE, MASK_BITS_OP, MASK_BITS_OBJ, MASK_CRT, MASK_MOD, MASK_DEL,
  MASK_NODE, MASK_RSC_DFN, MASK_RSC, MASK_VLM_DFN, MASK_VLM, MASK_RSC_CONN, MASK_STOR_POOL, MASK_CTRL_CONF,
  MASK_SNAPSHOT, MASK_RSC_GRP, MASK_VLM_GRP,
  severityOf, isError, codeOf, matches, describeCode,
} from './api-call-rc.js'
export type { ApiCallRc, RcName, Severity } from './api-call-rc.js'
export { LinstorApiError, LinstorUnavailableError } from './errors.js'
export type { ControllerAttempt } from './errors.js'
export {
  parseControllerUrl, parseControllerList, resolveControllers, readClientConfControllers, readTokenFile, withoutCredentials,
  DEFAULT_PLAIN_PORT, DEFAULT_TLS_PORT, CLIENT_CONF_PATHS, DEFAULT_TOKEN_FILE,
} from './controllers.js'
export type { ControllerEndpoint, ControllerSource, ResolveControllersInput } from './controllers.js'
export { retryDelay, parseRetryAfter, DEFAULT_RETRY_POLICY } from './retry.js'
export type { RetryPolicy, RetryInput, Failure } from './retry.js'
export { HttpLinstorTransport, buildQuery, LINSTOR_REQUEST_CHANNEL, MAX_READ_REPLY_BYTES, MAX_WRITE_REPLY_BYTES } from './transport.js'
export type { LinstorTransport, LinstorRequest, LinstorResponse, HttpTransportOptions, TlsOptions, HttpMethod, LinstorRequestEvent, LinstorTry } from './transport.js'
export { parseLinstorJson, stringifyLinstorJson } from './json.js'
export {
  runInRequestScope, currentRequestScope, currentScopeSignal, currentScopeDeadline, scopeRemainingMs, withinBudget, budgetExceeded,
} from './scope.js'
export type { RequestScope } from './scope.js'
export { createdName } from './resource-definitions.js'
export { isDisklessPool } from './storage-pools.js'
export type { CallOptions } from './caller.js'
export type { NodeListFilter } from './nodes.js'
export type { ResourceDefinitionListFilter } from './resource-definitions.js'
export type { StoragePoolFilter } from './storage-pools.js'
export type { ViewFilter } from './views.js'
export type * from './types.js'
