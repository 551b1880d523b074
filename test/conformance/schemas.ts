// Ajv wrapper for OpenAPI 3.0 schemas of the LINSTOR spec.
//
// The whole parsed OpenAPI document is registered with Ajv under one id, and every schema is
// addressed by a JSON pointer into it (`linstor-openapi#/components/schemas/ApiCallRcList`,
// `linstor-openapi#/paths/~1v1~1nodes/get/responses/200/content/application~1json/schema`), so the
// spec's own `$ref: '#/components/schemas/X'` references resolve without rewriting. Validators are
// compiled on first use and cached per pointer.
//
// OAS 3.0 specifics handled here:
// * `nullable: true` is understood by Ajv 8 itself;
// * `format` values: int32 gets a range check, date-time an RFC 3339 check, everything else
//   (int64, double, float, binary, password, byte, ...) is accepted as-is. int64 has no range check
//   on purpose: bodies are parsed with JSON.parse, so 9223372036854775807 arrives as 2^63;
// * OpenAPI-only keywords (example, xml, discriminator, readOnly, writeOnly, deprecated, ...) are
//   ignored (`strict: false`);
// * `oneOf` is rewritten to `anyOf` in memory (deviation 'oneof-as-anyof' in deviations.ts).

import AjvModule from 'ajv'
import type { ErrorObject, ValidateFunction } from 'ajv'

const Ajv = AjvModule.default

export const SPEC_SCHEMA_ID = 'linstor-openapi'

const INT32_MIN = -2147483648
const INT32_MAX = 2147483647
// RFC 3339 date-time; fraction optional, offset Z or +hh:mm.
const DATE_TIME = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$/

export function escapePointerToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1')
}

export function pointer(...tokens: readonly string[]): string {
  return '#' + tokens.map((t) => '/' + escapePointerToken(t)).join('')
}

export interface SchemaError {
  /** JSON pointer into the instance, '' for the root */
  readonly instancePath: string
  readonly keyword: string
  readonly text: string
  /** the offending value */
  readonly data: unknown
  /** for `enum` errors: the allowed values */
  readonly allowedValues: readonly unknown[] | undefined
}

export class SchemaStore {
  readonly #ajv: InstanceType<typeof Ajv>
  readonly #cache = new Map<string, ValidateFunction>()

  constructor(doc: Record<string, unknown>) {
    relaxOneOf(doc)
    this.#ajv = new Ajv({
      strict: false,
      allErrors: true,
      verbose: true,
      validateSchema: false,
      validateFormats: true,
      // Deep spec trees are compiled once per pointer; keep the generated code small.
      inlineRefs: false,
    })
    this.#ajv.addFormat('int32', {
      type: 'number',
      validate: (n: number) => Number.isInteger(n) && n >= INT32_MIN && n <= INT32_MAX,
    })
    this.#ajv.addFormat('date-time', { type: 'string', validate: (s: string) => DATE_TIME.test(s) })
    for (const name of collectFormats(doc)) {
      if (name !== 'int32' && name !== 'date-time') this.#ajv.addFormat(name, true)
    }
    this.#ajv.addSchema(doc, SPEC_SCHEMA_ID)
  }

  /** Validates `data` against the schema at `ptr` (a '#/...' pointer into the spec document). */
  validate(ptr: string, data: unknown): SchemaError[] {
    let fn = this.#cache.get(ptr)
    if (!fn) {
      fn = this.#ajv.compile({ $ref: SPEC_SCHEMA_ID + ptr })
      this.#cache.set(ptr, fn)
    }
    if (fn(data)) return []
    return (fn.errors ?? []).map(toSchemaError)
  }
}

function toSchemaError(e: ErrorObject): SchemaError {
  let text = e.message ?? `fails ${e.keyword}`
  const params = e.params as Record<string, unknown>
  if (e.keyword === 'enum' && Array.isArray(params['allowedValues'])) {
    text += ` (${(params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}; got ${describe(e.data)})`
  } else if (e.keyword === 'type' || e.keyword === 'format' || e.keyword === 'const') {
    text += ` (got ${describe(e.data)})`
  }
  const allowed = params['allowedValues']
  return {
    instancePath: e.instancePath,
    keyword: e.keyword,
    text,
    data: e.data,
    allowedValues: Array.isArray(allowed) ? (allowed as unknown[]) : undefined,
  }
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'array'
  if (v === null) return 'null'
  if (typeof v === 'object') return 'object'
  const s = JSON.stringify(v)
  return s.length > 60 ? s.slice(0, 57) + '...' : s
}

function collectFormats(root: unknown): Set<string> {
  const found = new Set<string>()
  const walk = (x: unknown): void => {
    if (Array.isArray(x)) {
      for (const y of x) walk(y)
    } else if (x !== null && typeof x === 'object') {
      const rec = x as Record<string, unknown>
      if (typeof rec['format'] === 'string') found.add(rec['format'])
      for (const [k, v] of Object.entries(rec)) if (k !== 'example' && k !== 'examples') walk(v)
    }
  }
  walk(root)
  return found
}

/** In-memory only: turns every `oneOf` into `anyOf` (see deviation 'oneof-as-anyof'). */
function relaxOneOf(root: unknown): void {
  const walk = (x: unknown): void => {
    if (Array.isArray(x)) {
      for (const y of x) walk(y)
    } else if (x !== null && typeof x === 'object') {
      const rec = x as Record<string, unknown>
      if (Array.isArray(rec['oneOf']) && rec['anyOf'] === undefined) {
        rec['anyOf'] = rec['oneOf']
        delete rec['oneOf']
      }
      for (const [k, v] of Object.entries(rec)) if (k !== 'example' && k !== 'examples') walk(v)
    }
  }
  walk(root)
}
