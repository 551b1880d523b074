/**
 * LINSTOR's ApiCallRc reply entries and the ret_code bit layout (linstor-common consts.json, see
 * the reference linstor-rest.md §1.2-1.3). ret_code is a signed 64-bit value; the severity bits are
 * 62-63, so error and warning codes are beyond 2^53 and must be handled as bigint.
 */

export const MASK_ERROR = 0xc000000000000000n
export const MASK_WARN = 0x8000000000000000n
export const MASK_INFO = 0x4000000000000000n
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
export const MASK_RSC_CONN = 0x240000n
export const MASK_STOR_POOL = 0x140000n
export const MASK_CTRL_CONF = 0x100000n
export const MASK_SNAPSHOT = 0xc0000n
export const MASK_RSC_GRP = 0x440000n
export const MASK_VLM_GRP = 0x480000n

const err = (code: number): bigint => BigInt(code) | MASK_ERROR
const warn = (code: number): bigint => BigInt(code) | MASK_WARN
const info = (code: number): bigint => BigInt(code) | MASK_INFO

/** The codes the project looks for, each already carrying its severity mask (as consts.json does). */
export const RC = {
  CREATED: 1n,
  DELETED: 2n,
  MODIFIED: 3n,
  FAIL_INVLD_RSC_NAME: err(202),
  FAIL_INVLD_VLM_SIZE: err(206),
  FAIL_INVLD_STOR_POOL_NAME: err(208),
  FAIL_INVLD_PROP: err(213),
  FAIL_INVLD_PLACE_COUNT: err(219),
  FAIL_INVLD_LAYER_STACK: err(225),
  FAIL_INVLD_VLM_SIZES: err(228),
  FAIL_INVLD_REQUEST: err(234),
  FAIL_NOT_FOUND_NODE: err(300),
  FAIL_NOT_FOUND_RSC_DFN: err(301),
  FAIL_NOT_FOUND_RSC: err(302),
  FAIL_NOT_FOUND_VLM_DFN: err(303),
  FAIL_NOT_FOUND_STOR_POOL: err(310),
  FAIL_NOT_FOUND_DFLT_STOR_POOL: err(311),
  FAIL_NOT_FOUND_SNAPSHOT_DFN: err(313),
  FAIL_NOT_FOUND_SNAPSHOT_VLM_DFN: err(314),
  FAIL_NOT_FOUND_RSC_GRP: err(317),
  FAIL_ACC_DENIED_COMMAND: err(412),
  FAIL_EXISTS_NODE: err(500),
  FAIL_EXISTS_RSC_DFN: err(501),
  FAIL_EXISTS_RSC: err(502),
  FAIL_EXISTS_VLM_DFN: err(503),
  FAIL_EXISTS_SNAPSHOT_DFN: err(514),
  FAIL_EXISTS_SNAPSHOT: err(516),
  FAIL_EXISTS_EXT_NAME: err(517),
  FAIL_EXISTS_RSC_GRP: err(522),
  FAIL_EXISTS_VLM_GRP: err(523),
  FAIL_POOL_EXHAUSTED_MINOR_NR: err(801),
  FAIL_DEPENDEND_BACKUP: err(977),
  FAIL_NOT_ENOUGH_FREE_SPACE: err(980),
  FAIL_UNDECIDABLE_AUTOPLACMENT: err(985),
  FAIL_INSUFFICIENT_REPLICA_COUNT: err(991),
  FAIL_RSC_BUSY: err(992),
  FAIL_SNAPSHOTS_NOT_SUPPORTED: err(994),
  FAIL_NOT_CONNECTED: err(995),
  FAIL_NOT_ENOUGH_NODES: err(996),
  FAIL_IN_USE: err(997),
  FAIL_UNKNOWN_ERROR: err(998),
  WARN_NOT_CONNECTED: warn(1002),
  WARN_STLT_NOT_UPDATED: warn(1003),
  WARN_RSC_ALREADY_DEPLOYED: warn(1006),
  WARN_RSC_ALREADY_HAS_DISK: warn(1007),
  WARN_RSC_ALREADY_DISKLESS: warn(1008),
  WARN_ALL_DISKLESS: warn(1009),
  WARN_STORAGE_KIND_ADDED: warn(1012),
  WARN_NOT_ENOUGH_NODES_FOR_TIE_BREAKER: warn(1013),
  WARN_VLMDFN_RESIZE_SAME_SIZE: warn(1023),
  WARN_NOT_FOUND: warn(3000),
  WARN_NO_EFFECT: warn(3001),
  WARN_DEPRECATED: warn(4000),
  INFO_NO_RSC_SPAWNED: info(10000),
  INFO_PROP_SET: info(10002),
  INFO_TIE_BREAKER_CREATED: info(10003),
  INFO_TIE_BREAKER_DELETING: info(10004),
  INFO_PROP_REMOVED: info(10005),
  INFO_TIE_BREAKER_TAKEOVER: info(10006),
  INFO_NOOP: info(10007),
  INFO_RSC_ALREADY_EXISTS: info(10008),
} as const

export type RcName = keyof typeof RC

/** One entry of a LINSTOR reply list. `ret_code` is exact (bigint). */
export interface ApiCallRc {
  ret_code: bigint
  message: string
  cause?: string
  details?: string
  correction?: string
  error_report_ids: string[]
  obj_refs: Record<string, string>
  created_at?: string
}

export type Severity = 'error' | 'warning' | 'info' | 'success'

/** ERROR contains the WARN and INFO bits, so it is tested first (python-linstor gets this wrong). */
export function severityOf(retCode: bigint): Severity {
  if ((retCode & MASK_ERROR) === MASK_ERROR) return 'error'
  if ((retCode & MASK_WARN) === MASK_WARN) return 'warning'
  if ((retCode & MASK_INFO) === MASK_INFO) return 'info'
  return 'success'
}

export function isError(entry: Pick<ApiCallRc, 'ret_code'>): boolean {
  return (entry.ret_code & MASK_ERROR) === MASK_ERROR
}

/** The 15-bit code without severity, operation and object bits (e.g. 501 for FAIL_EXISTS_RSC_DFN). */
export function codeOf(retCode: bigint): number {
  return Number(retCode & MASK_BITS_CODE)
}

/**
 * Whether an entry carries the given code (as from RC, severity included): compares severity and
 * code bits, ignoring the operation and object bits, as golinstor's IsApiCallError does.
 */
export function matches(entry: Pick<ApiCallRc, 'ret_code'>, code: bigint): boolean {
  const mask = MASK_ERROR | MASK_BITS_CODE
  return (entry.ret_code & mask) === (code & mask)
}

/** The name of a known code for messages ('FAIL_EXISTS_RSC_DFN'), or the numeric code. */
export function describeCode(retCode: bigint): string {
  for (const [name, value] of Object.entries(RC)) {
    if (value !== 0n && matches({ ret_code: retCode }, value) && (value & MASK_BITS_CODE) !== 0n) return name
  }
  return `${severityOf(retCode)} ${codeOf(retCode)}`
}
