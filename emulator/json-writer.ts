/**
 * The emulator's JSON writer.
 *
 * Two LINSTOR behaviours cannot be produced with JSON.stringify:
 * - ret_code values and the capacities of diskless pools are Java longs beyond 2^53. A JS number
 *   would be rounded, destroying the code bits, so int64 values are carried as bigint and written
 *   as bare integer literals.
 * - The controller serialises with Jackson NON_EMPTY: null, empty strings, empty lists and empty
 *   maps are left out of every object. Plain objects in reply trees therefore lose such fields
 *   here. String maps (props, obj_refs, static traits) are carried as `Map` so that their *entries*
 *   are kept even when a value is an empty string; an empty Map is omitted as a field.
 *
 * Top-level values and array items are always written (an empty reply list is `[]`).
 */

/** A value the writer accepts. */
export type JsonValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | undefined
  | JsonValue[]
  | ReadonlyMap<string, JsonValue>
  | { readonly [key: string]: JsonValue }

function isEmptyField(v: JsonValue): boolean {
  if (v === undefined || v === null) return true
  if (typeof v === 'string') return v.length === 0
  if (Array.isArray(v)) return v.length === 0
  if (v instanceof Map) return v.size === 0
  return false
}

function write(v: JsonValue, out: string[]): void {
  if (v === undefined || v === null) {
    out.push('null')
  } else if (typeof v === 'bigint') {
    out.push(v.toString())
  } else if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new TypeError(`cannot write non-finite number ${v}`)
    out.push(JSON.stringify(v))
  } else if (typeof v === 'string' || typeof v === 'boolean') {
    out.push(JSON.stringify(v))
  } else if (Array.isArray(v)) {
    out.push('[')
    v.forEach((item, i) => {
      if (i > 0) out.push(',')
      write(item, out)
    })
    out.push(']')
  } else if (v instanceof Map) {
    out.push('{')
    let first = true
    for (const [k, item] of v as ReadonlyMap<string, JsonValue>) {
      if (item === undefined) continue
      if (!first) out.push(',')
      first = false
      out.push(JSON.stringify(k), ':')
      write(item, out)
    }
    out.push('}')
  } else {
    out.push('{')
    let first = true
    for (const k of Object.keys(v)) {
      const item = (v as Record<string, JsonValue>)[k]
      if (item === undefined || isEmptyField(item)) continue
      if (!first) out.push(',')
      first = false
      out.push(JSON.stringify(k), ':')
      write(item, out)
    }
    out.push('}')
  }
}

/** Serialises a reply tree with exact int64 literals and NON_EMPTY omission (see module doc). */
export function writeJson(value: JsonValue): string {
  const out: string[] = []
  write(value, out)
  return out.join('')
}

/** A string map as the writer keeps it (entries always written, omitted as a field when empty). */
export function stringMap(record: Readonly<Record<string, string>> | undefined): Map<string, string> {
  return new Map(Object.entries(record ?? {}))
}
