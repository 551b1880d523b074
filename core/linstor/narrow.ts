/**
 * Defensive readers that turn parsed JSON (unknown) into the client's narrow types. The controller
 * omits empty values (Jackson NON_EMPTY), so absent lists and maps read as empty ones. A value of
 * the wrong type is a bad reply, reported with the path of the field.
 */
import { PluginError } from '../errors/index.js'

export type Json = Record<string, unknown>

export function badReply(path: string, expected: string): PluginError {
  return new PluginError('LINSTOR_BAD_REPLY', `unexpected reply from the LINSTOR controller: ${path} is not ${expected}`, {
    context: { field: path },
  })
}

export function obj(v: unknown, path: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw badReply(path, 'an object')
  return v as Json
}

export function arr(v: unknown, path: string): unknown[] {
  if (v === undefined || v === null) return []
  if (!Array.isArray(v)) throw badReply(path, 'a list')
  return v
}

export function list<T>(v: unknown, path: string, read: (item: unknown, path: string) => T): T[] {
  return arr(v, path).map((item, i) => read(item, `${path}[${i}]`))
}

export function str(v: unknown, path: string): string {
  if (typeof v !== 'string') throw badReply(path, 'a string')
  return v
}

export function optStr(v: unknown, path: string): string | undefined {
  return v === undefined || v === null ? undefined : str(v, path)
}

export function bool(v: unknown, path: string, dflt: boolean): boolean {
  if (v === undefined || v === null) return dflt
  if (typeof v !== 'boolean') throw badReply(path, 'a boolean')
  return v
}

export function optBool(v: unknown, path: string): boolean | undefined {
  return v === undefined || v === null ? undefined : bool(v, path, false)
}

/**
 * A number that may have been quoted by the lossless reader because it was beyond 2^53
 * (diskless pools report Long.MAX_VALUE). Such values are returned as the nearest double.
 */
export function optNum(v: unknown, path: string): number | undefined {
  if (v === undefined || v === null) return undefined
  if (typeof v === 'number') return v
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return Number(v)
  throw badReply(path, 'a number')
}

export function num(v: unknown, path: string): number {
  const n = optNum(v, path)
  if (n === undefined) throw badReply(path, 'a number')
  return n
}

export function int64(v: unknown, path: string): bigint {
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v)
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt(v)
  throw badReply(path, 'an integer')
}

export function strList(v: unknown, path: string): string[] {
  return list(v, path, str)
}

export function strMap(v: unknown, path: string): Record<string, string> {
  if (v === undefined || v === null) return {}
  const o = obj(v, path)
  const out: Record<string, string> = {}
  for (const [k, val] of Object.entries(o)) out[k] = str(val, `${path}.${k}`)
  return out
}

/** Copies the defined entries of a partial object, so optional fields stay absent (exactOptionalPropertyTypes). */
export function defined<T extends object>(o: { [K in keyof T]: T[K] | undefined }): T {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v
  return out as T
}
