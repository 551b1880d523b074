/**
 * The emulator's hand-written request classes (emulator/request-types.ts) against the upstream
 * OpenAPI document, read in place: the controller's JsonGenTypes is generated from it by
 * scripts/rest-gen.py, so every table must have the schema's properties, in order, with the Java
 * types rest-gen derives (integer → Integer, int64 → Long, primitives when the spec gives a
 * default; number → Double; boolean → Boolean; array → List; object → Map or the named class).
 * Where the emulator reads a response-only class as java.lang.Object, the test says so.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { test } from 'node:test'
import { parse as parseYaml } from 'yaml'
import type { JType } from '../../emulator/jackson.js'
import { REQUEST_TYPES } from '../../emulator/request-types.js'
import { specPath } from './openapi.js'

type Schema = Record<string, unknown>

/** Fields the emulator reads as java.lang.Object or a narrower class than the generated one (reason: docs/emulator.md). */
const LOOSER: Readonly<Record<string, string>> = {
  'Resource.effective_props': 'Map<Object>',
  'Resource.layer_object': 'Object',
}

function load(): Record<string, Schema> | undefined {
  const file = specPath()
  if (!existsSync(file)) {
    process.stderr.write(`conformance: spec not found at ${file}, skipped\n`)
    return undefined
  }
  const doc = parseYaml(readFileSync(file, 'utf8')) as { components: { schemas: Record<string, Schema> } }
  return doc.components.schemas
}

/** rest-gen.py's resolve_type_str, written as a type description comparable with ours. */
function restGenType(schemas: Record<string, Schema>, f: Schema): string {
  const ref = f['$ref']
  if (typeof ref === 'string') {
    const name = ref.split('/').pop() ?? ''
    const s = schemas[name] ?? {}
    if (s['type'] === 'object' && s['properties'] !== undefined) return name
    return restGenType(schemas, s)
  }
  if (f['oneOf'] !== undefined) return 'Object'
  const d = Object.hasOwn(f, 'default')
  switch (f['type']) {
    case 'integer':
      return f['format'] === 'int64' ? (d ? 'long' : 'Long') : d ? 'int' : 'Integer'
    case 'number':
      return d ? 'double' : 'Double'
    case 'string':
      return 'String'
    case 'boolean':
      return d ? 'boolean' : 'Boolean'
    case 'array':
      return `List<${restGenType(schemas, f['items'] as Schema)}>`
    case 'object': {
      const add = f['additionalProperties']
      if (typeof add === 'object' && add !== null) return `Map<${restGenType(schemas, add as Schema)}>`
      return 'Map<String>'
    }
    default:
      return '?'
  }
}

function ourType(t: JType): string {
  if (typeof t === 'string') return t
  if ('list' in t) return `List<${ourType(t.list)}>`
  if ('map' in t) return `Map<${ourType(t.map)}>`
  return t.name
}

function properties(schemas: Record<string, Schema>, s: Schema): Record<string, Schema> {
  const parts = Array.isArray(s['allOf']) ? (s['allOf'] as Schema[]) : [s]
  const out: Record<string, Schema> = {}
  for (const p of parts) {
    const ref = p['$ref']
    const resolved = typeof ref === 'string' ? (schemas[ref.split('/').pop() ?? ''] ?? {}) : p
    Object.assign(out, (resolved['properties'] ?? {}) as Record<string, Schema>)
  }
  return out
}

test('every request class the emulator reads has the fields and Java types of the spec schema (rest-gen rules)', (t) => {
  const schemas = load()
  if (schemas === undefined) return
  const problems: string[] = []
  let checked = 0
  for (const c of Object.values(REQUEST_TYPES)) {
    const s = schemas[c.name]
    if (s === undefined) {
      problems.push(`${c.name}: no such schema in the spec`)
      continue
    }
    const props = properties(schemas, s)
    const want = Object.keys(props)
    const have = Object.keys(c.fields)
    if (want.join(',') !== have.join(',')) problems.push(`${c.name}: fields ${have.join(',')} instead of ${want.join(',')}`)
    for (const [k, f] of Object.entries(props)) {
      const ours = c.fields[k]
      if (ours === undefined) continue
      const expected = LOOSER[`${c.name}.${k}`] ?? restGenType(schemas, f)
      // The rest-gen.py we could read emits a required integer without default as Long; the
      // generated JsonGenTypes of REST 1.27 has primitives there (`long ret_code`, `long size_kib`).
      const required = Array.isArray(s['required']) && (s['required'] as string[]).includes(k)
      const alt = required && (expected === 'Long' || expected === 'Integer') ? (expected === 'Long' ? 'long' : 'int') : expected
      if (ourType(ours) !== expected && ourType(ours) !== alt) problems.push(`${c.name}.${k}: ${ourType(ours)} instead of ${expected}`)
      const dflt = (f as { default?: unknown }).default
      if (dflt !== undefined && dflt !== null && typeof dflt !== 'object' && c.defaults?.[k] !== dflt) problems.push(`${c.name}.${k}: default ${String(c.defaults?.[k])} instead of ${JSON.stringify(dflt)}`)
      checked++
    }
  }
  t.diagnostic(`${checked} fields of ${Object.keys(REQUEST_TYPES).length} classes checked`)
  assert.deepEqual(problems, [])
})
