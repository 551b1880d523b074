/**
 * ApiCallRc entries as the LINSTOR controller builds them: a signed 64-bit ret_code composed of a
 * severity mask, an operation mask, an object mask and a 15-bit code, plus message texts, obj_refs
 * and created_at. Values follow linstor-common's consts.json (see docs/linstor-rest.md §1.3).
 */
import type { JsonValue } from './json-writer.js'
import { stringMap } from './json-writer.js'

/** Reinterprets an unsigned 64-bit pattern as Java's signed long. */
function signed(u: bigint): bigint {
  return BigInt.asIntN(64, u)
}

export const MASK_ERROR = signed(0xc000000000000000n)
export const MASK_WARN = signed(0x8000000000000000n)
export const MASK_INFO = 0x4000000000000000n
export const MASK_SUCCESS = 0n
export const MASK_BITS_TYPE = MASK_ERROR
export const MASK_BITS_OP = 0x3000000n
export const MASK_BITS_OBJ = 0x7c0000n
export const MASK_BITS_CODE = 0x7fffn

export const MASK_CRT = 0x1000000n
export const MASK_MOD = 0x2000000n
export const MASK_DEL = 0x3000000n

export const MASK_NODE = 0x3c0000n
export const MASK_RSC_DFN = 0x380000n
export const MASK_RSC = 0x340000n
export const MASK_VLM_DFN = 0x300000n
export const MASK_VLM = 0x2c0000n
export const MASK_NODE_CONN = 0x280000n
export const MASK_RSC_CONN = 0x240000n
export const MASK_STOR_POOL = 0x140000n
export const MASK_CTRL_CONF = 0x100000n
export const MASK_SNAPSHOT = 0xc0000n
export const MASK_RSC_GRP = 0x440000n
export const MASK_VLM_GRP = 0x480000n

const e = (code: bigint): bigint => code | MASK_ERROR
const w = (code: bigint): bigint => code | MASK_WARN
const i = (code: bigint): bigint => code | MASK_INFO

/** Codes (already carrying their severity mask), named as in consts.json. */
export const RC = {
  CREATED: 1n,
  DELETED: 2n,
  MODIFIED: 3n,
  FAIL_INVLD_NODE_NAME: e(200n),
  FAIL_INVLD_NODE_TYPE: e(201n),
  FAIL_INVLD_RSC_NAME: e(202n),
  FAIL_INVLD_NODE_ID: e(204n),
  FAIL_INVLD_VLM_NR: e(205n),
  FAIL_INVLD_VLM_SIZE: e(206n),
  FAIL_INVLD_MINOR_NR: e(207n),
  FAIL_INVLD_STOR_POOL_NAME: e(208n),
  FAIL_INVLD_PROP: e(213n),
  FAIL_INVLD_SNAPSHOT_NAME: e(218n),
  FAIL_INVLD_PLACE_COUNT: e(219n),
  FAIL_INVLD_STOR_DRIVER: e(221n),
  FAIL_INVLD_LAYER_KIND: e(224n),
  FAIL_INVLD_LAYER_STACK: e(225n),
  FAIL_INVLD_EXT_NAME: e(226n),
  FAIL_INVLD_PROVIDER: e(227n),
  FAIL_INVLD_VLM_SIZES: e(228n),
  FAIL_INVLD_RSC_GRP_NAME: e(234n),
  FAIL_NOT_FOUND_NODE: e(300n),
  FAIL_NOT_FOUND_RSC_DFN: e(301n),
  FAIL_NOT_FOUND_RSC: e(302n),
  FAIL_NOT_FOUND_VLM_DFN: e(303n),
  FAIL_NOT_FOUND_VLM: e(304n),
  FAIL_NOT_FOUND_RSC_CONN: e(307n),
  FAIL_NOT_FOUND_STOR_POOL: e(310n),
  FAIL_NOT_FOUND_DFLT_STOR_POOL: e(311n),
  FAIL_NOT_FOUND_SNAPSHOT_DFN: e(313n),
  FAIL_NOT_FOUND_SNAPSHOT_VLM_DFN: e(314n),
  FAIL_NOT_FOUND_SNAPSHOT: e(315n),
  FAIL_NOT_FOUND_RSC_GRP: e(317n),
  FAIL_NOT_FOUND_VLM_GRP: e(318n),
  FAIL_ACC_DENIED_COMMAND: e(412n),
  FAIL_EXISTS_NODE: e(500n),
  FAIL_EXISTS_RSC_DFN: e(501n),
  FAIL_EXISTS_RSC: e(502n),
  FAIL_EXISTS_VLM_DFN: e(503n),
  FAIL_EXISTS_STOR_POOL: e(510n),
  FAIL_EXISTS_SNAPSHOT_DFN: e(514n),
  FAIL_EXISTS_SNAPSHOT: e(516n),
  FAIL_EXISTS_EXT_NAME: e(517n),
  FAIL_EXISTS_RSC_GRP: e(522n),
  FAIL_EXISTS_VLM_GRP: e(523n),
  FAIL_POOL_EXHAUSTED_MINOR_NR: e(801n),
  FAIL_POOL_EXHAUSTED_TCP_PORT: e(802n),
  FAIL_POOL_EXHAUSTED_NODE_ID: e(803n),
  FAIL_DEPENDEND_BACKUP: e(977n),
  FAIL_NOT_ENOUGH_FREE_SPACE: e(980n),
  FAIL_UNDECIDABLE_AUTOPLACMENT: e(985n),
  FAIL_INSUFFICIENT_REPLICA_COUNT: e(991n),
  FAIL_RSC_BUSY: e(992n),
  FAIL_INSUFFICIENT_PEER_SLOTS: e(993n),
  FAIL_SNAPSHOTS_NOT_SUPPORTED: e(994n),
  FAIL_NOT_CONNECTED: e(995n),
  FAIL_NOT_ENOUGH_NODES: e(996n),
  FAIL_IN_USE: e(997n),
  FAIL_UNKNOWN_ERROR: e(998n),
  FAIL_IMPL_ERROR: e(999n),
  WARN_NOT_CONNECTED: w(1002n),
  WARN_STLT_NOT_UPDATED: w(1003n),
  WARN_RSC_ALREADY_DEPLOYED: w(1006n),
  WARN_RSC_ALREADY_HAS_DISK: w(1007n),
  WARN_RSC_ALREADY_DISKLESS: w(1008n),
  WARN_ALL_DISKLESS: w(1009n),
  WARN_STORAGE_KIND_ADDED: w(1012n),
  WARN_NOT_ENOUGH_NODES_FOR_TIE_BREAKER: w(1013n),
  WARN_VLMDFN_RESIZE_SAME_SIZE: w(1023n),
  WARN_NOT_FOUND: w(3000n),
  WARN_NO_EFFECT: w(3001n),
  WARN_DEPRECATED: w(4000n),
  INFO_NO_RSC_SPAWNED: i(10000n),
  /** Code number not confirmed from the sources; see docs/emulator.md (guesses). */
  INFO_SPAWN_PARTIAL: i(10001n),
  INFO_PROP_SET: i(10002n),
  INFO_TIE_BREAKER_CREATED: i(10003n),
  INFO_TIE_BREAKER_DELETING: i(10004n),
  INFO_PROP_REMOVED: i(10005n),
  INFO_TIE_BREAKER_TAKEOVER: i(10006n),
  INFO_NOOP: i(10007n),
  INFO_RSC_ALREADY_EXISTS: i(10008n),
  /** 0x0FFFFFFFFFFFFFFD | MASK_ERROR: a body that could not be parsed or mapped. */
  API_CALL_PARSE_ERROR: signed(0x0ffffffffffffffdn | 0xc000000000000000n),
} as const

/** One reply entry. ret_code is the full signed 64-bit value. */
export interface ApiCallRc {
  ret_code: bigint
  message: string
  cause?: string
  details?: string
  correction?: string
  error_report_ids?: string[]
  obj_refs?: Record<string, string>
  created_at?: string
}

/** Options of a single entry. */
export interface EntryOptions {
  cause?: string | undefined
  details?: string | undefined
  correction?: string | undefined
  objRefs?: Record<string, string> | undefined
}

/**
 * The "response context" of a handler: operation and object masks plus obj_refs that every entry
 * of the reply receives when it does not carry its own (ResponseConverter's behaviour).
 */
export interface ResponseContext {
  op: bigint
  obj: bigint
  objRefs: Record<string, string>
  /** Description appended to an error entry's details, e.g. "Resource definition: rsc1". */
  objDescription?: string
}

/** The clock used for created_at; injectable for deterministic tests. */
export type Clock = () => Date

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0')
}

/** ISO-8601 with an explicit UTC offset and millisecond precision. */
export function formatTimestamp(d: Date): string {
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}` +
    `T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}` +
    `.${pad(d.getUTCMilliseconds(), 3)}+00:00`
  )
}

/** Builds an ApiCallRc list for one request, composing masks like the controller's converter. */
export class ReplyBuilder {
  readonly entries: ApiCallRc[] = []
  #ctx: ResponseContext
  #clock: Clock

  constructor(ctx: ResponseContext, clock: Clock) {
    this.#ctx = ctx
    this.#clock = clock
  }

  get context(): ResponseContext {
    return this.#ctx
  }

  /** Adds an entry; op/object bits and obj_refs of the context fill in what the code lacks. */
  add(retCode: bigint, message: string, opts: EntryOptions = {}): this {
    let rc = retCode
    if ((rc & MASK_BITS_OP) === 0n) rc |= this.#ctx.op
    if ((rc & MASK_BITS_OBJ) === 0n) rc |= this.#ctx.obj
    const isError = (rc & MASK_ERROR) === MASK_ERROR
    let details = opts.details
    if (isError && this.#ctx.objDescription !== undefined) {
      details = details === undefined ? this.#ctx.objDescription : `${details}\n${this.#ctx.objDescription}`
    }
    const entry: ApiCallRc = {
      ret_code: rc,
      message,
      obj_refs: { ...this.#ctx.objRefs, ...(opts.objRefs ?? {}) },
      created_at: formatTimestamp(this.#clock()),
    }
    if (opts.cause !== undefined) entry.cause = opts.cause
    if (details !== undefined) entry.details = details
    if (opts.correction !== undefined) entry.correction = opts.correction
    this.entries.push(entry)
    return this
  }

  /** Appends entries produced elsewhere (kept as they are). */
  addAll(list: readonly ApiCallRc[]): this {
    this.entries.push(...list)
    return this
  }

  hasError(): boolean {
    return this.entries.some((x) => isError(x.ret_code))
  }
}

export function isError(rc: bigint): boolean {
  return (rc & MASK_ERROR) === MASK_ERROR
}

/** Thrown inside handlers; becomes one error entry of the reply (like ApiRcException). */
export class ApiRcError extends Error {
  readonly retCode: bigint
  readonly options: EntryOptions
  constructor(retCode: bigint, message: string, options: EntryOptions = {}) {
    super(message)
    this.name = 'ApiRcError'
    this.retCode = retCode
    this.options = options
  }
}

/**
 * HTTP status of an ApiCallRc reply (ApiCallRcRestUtils.toResponse): the first error entry
 * decides; 300-399 → 404, 400-499 → 403, anything else → 500; no error → the endpoint's status.
 */
export function statusFor(entries: readonly ApiCallRc[], successStatus: number): number {
  const firstError = entries.find((x) => isError(x.ret_code))
  if (firstError === undefined) return successStatus
  const code = Number(firstError.ret_code & MASK_BITS_CODE)
  if (code >= 300 && code <= 399) return 404
  if (code >= 400 && code <= 499) return 403
  return 500
}

/** The wire form of an entry (obj_refs as a string map so an empty one is omitted). */
export function entryToJson(x: ApiCallRc): JsonValue {
  return {
    ret_code: x.ret_code,
    message: x.message,
    cause: x.cause,
    details: x.details,
    correction: x.correction,
    error_report_ids: x.error_report_ids,
    obj_refs: stringMap(x.obj_refs),
    created_at: x.created_at,
  }
}

export function entriesToJson(list: readonly ApiCallRc[]): JsonValue {
  return list.map(entryToJson)
}
