// Conformance checker: validates recorded HTTP exchanges with a LINSTOR controller (the real one or
// the project's emulator) against the upstream OpenAPI document of the LINSTOR REST API v1.
//
// The spec (linstor-rest-v1-openapi.yaml, OAS 3.0.2, GPLv3) is read in place at run time from
// `<repository root>/../shared/reference/linstor-rest-v1-openapi.yaml`, or from the file named by the
// environment variable LINSTOR_OPENAPI_SPEC. Nothing of it is copied into the project: paths,
// operations and schemas are looked up in the parsed document when a check runs. When the file
// is absent, loadSpec() returns null and loadSpecOrNotice() additionally prints
// `conformance: spec not found at <path>, skipped` to stderr; that is the only skip.
//
// checkExchange() reports, as readable strings:
// * a method + path that the spec does not declare (templates with {param} segments; literal
//   segments win over parameters), and path parameters of the wrong type (e.g. volume_number);
// * query parameters the operation does not declare, or with values of the wrong type;
// * a request body that is not JSON, is sent to an operation without a request body, or does not
//   validate against the operation's requestBody schema;
// * a status the operation does not declare;
// * a response body that does not validate against the schema declared for its status.
//
// Accepted beyond the literal spec (each with its reason in deviations.ts, citing linstor-rest.md):
// * vd-create-200         POST .../volume-definitions answers 200 instead of 201 (§1.4);
// * error-apicallrc-list  400/401/403/404/500 with an ApiCallRc list on any operation (§1.2, §1.4);
// * node-type-enum-names  Node.type SATELLITE/COMBINED/... in responses (§2.2);
// * health-endpoint       GET /health, 200 empty or 500 text (§1.1);
// * query-boolean-case    ?keep_tiebreaker=True (§6, §7.1);
// * query-range-unchecked query values are type-checked only, limit may exceed 50 (§1.1);
// * single-object-get     GET /v1/nodes/{node}, /v1/resource-definitions/{resource}, ... (not in the
//                         spec): the bare list element, or 404 with an ApiCallRc list (§1.1, §2.2-§2.7);
// * oneof-as-anyof        oneOf validated as anyOf (spec defect in VolumeLayer.data, §3).
//
// Bodies are parsed with JSON.parse: int64 values beyond 2^53 (ret_code -4611686018406940171,
// capacities 9223372036854775807) lose precision but stay integers, which is all a type check needs.

import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml } from 'yaml'
import { SINGLE_OBJECT_GETS } from './deviations.js'
import { PathIndex } from './paths.js'
import { SchemaStore, pointer } from './schemas.js'
import type { SchemaError } from './schemas.js'

export interface Exchange {
  method: string
  /** path + query, as sent */
  url: string
  /** raw text, '' if none */
  requestBody: string
  status: number
  /** raw text */
  responseBody: string
  contentType?: string
}

/** A loaded spec. Opaque apart from where it came from and its `info.version`. */
export interface Spec {
  readonly path: string
  readonly apiVersion: string
}

const SPEC_FILE = 'linstor-rest-v1-openapi.yaml'
const ENV_OVERRIDE = 'LINSTOR_OPENAPI_SPEC'
const PACKAGE_NAME = 'linstor-virt'
/** Name of the error-list schema in components/schemas; checked to exist when the spec loads. */
const API_CALL_RC_LIST = 'ApiCallRcList'
/** Statuses the real controller may answer with an ApiCallRc list on any operation (§1.4). */
const ERROR_LIST_STATUSES: ReadonlySet<number> = new Set([400, 401, 403, 404, 500])
const VD_CREATE = { method: 'post', template: '/v1/resource-definitions/{resource}/volume-definitions' }
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const
const MAX_SCHEMA_ERRORS = 20

// ---------------------------------------------------------------------------------------------
// Locating and loading the spec

/** Repository root, found from this module's location (sources in test/conformance, build output in build/test/conformance). */
function repoRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url))
  let dir = here
  for (;;) {
    const pkg = join(dir, 'package.json')
    if (existsSync(pkg)) {
      try {
        const name = (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name
        if (name === PACKAGE_NAME) return dir
      } catch {
        // not ours, keep walking
      }
    }
    const up = dirname(dir)
    if (up === dir) break
    dir = up
  }
  // Fallback on the known layout.
  return here.split(/[\\/]/).slice(-3, -2)[0] === 'build' ? resolve(here, '../../..') : resolve(here, '../..')
}

export function specPath(): string {
  const override = process.env[ENV_OVERRIDE]
  if (override !== undefined && override !== '') return resolve(override)
  return join(repoRoot(), '..', 'shared', 'reference', SPEC_FILE)
}

const loaded = new Map<string, Spec>()
const internals = new WeakMap<Spec, SpecInternals>()

/** Loads (and caches) the spec; null when the file does not exist. A file that exists but does not parse throws. */
export function loadSpec(path?: string): Spec | null {
  const file = resolve(path ?? specPath())
  const cached = loaded.get(file)
  if (cached) return cached
  if (!existsSync(file)) return null
  const doc: unknown = parseYaml(readFileSync(file, 'utf8'))
  if (!isRecord(doc) || !isRecord(doc['paths']) || !isRecord(doc['components'])) {
    throw new Error(`conformance: ${file} is not an OpenAPI document`)
  }
  const info = isRecord(doc['info']) ? doc['info'] : {}
  const spec: Spec = { path: file, apiVersion: typeof info['version'] === 'string' ? info['version'] : '' }
  internals.set(spec, new SpecInternals(doc))
  loaded.set(file, spec)
  return spec
}

/** loadSpec() for callers that skip when the spec is absent: prints the notice to stderr and returns null. */
export function loadSpecOrNotice(): Spec | null {
  const file = specPath()
  const spec = loadSpec(file)
  if (!spec) process.stderr.write(`conformance: spec not found at ${file}, skipped\n`)
  return spec
}

// ---------------------------------------------------------------------------------------------
// Index of the spec's operations

type JsonRecord = Record<string, unknown>

interface ParamInfo {
  readonly name: string
  readonly type: string | undefined
  readonly itemType: string | undefined
}

interface ResponseInfo {
  /** pointer of the application/json schema, if declared */
  readonly jsonSchema: string | undefined
  /** declared content types */
  readonly contentTypes: readonly string[]
}

interface Operation {
  readonly template: string
  readonly method: string
  readonly operationId: string | undefined
  readonly pathParams: ReadonlyMap<string, ParamInfo>
  readonly queryParams: ReadonlyMap<string, ParamInfo>
  readonly hasRequestBody: boolean
  readonly requestRequired: boolean
  readonly requestJsonSchema: string | undefined
  readonly responses: ReadonlyMap<string, ResponseInfo>
}

class SpecInternals {
  readonly doc: JsonRecord
  readonly index: PathIndex
  readonly ops = new Map<string, Map<string, Operation>>()
  readonly schemas: SchemaStore
  readonly apiCallRcList: string | undefined
  /** allowed values of Node.type, for deviation 'node-type-enum-names' */
  readonly nodeTypeEnum: readonly string[]

  constructor(doc: JsonRecord) {
    this.doc = doc
    const paths = doc['paths'] as JsonRecord
    for (const [template, item] of Object.entries(paths)) {
      if (!isRecord(item)) continue
      const byMethod = new Map<string, Operation>()
      for (const method of HTTP_METHODS) {
        const op = item[method]
        if (isRecord(op)) byMethod.set(method, this.#operation(template, method, item, op))
      }
      this.ops.set(template, byMethod)
    }
    this.#addSingleObjectGets(paths)
    this.index = new PathIndex(this.ops.keys())
    const schemas = isRecord(doc['components']) ? doc['components']['schemas'] : undefined
    this.apiCallRcList = isRecord(schemas) && isRecord(schemas[API_CALL_RC_LIST]) ? pointer('components', 'schemas', API_CALL_RC_LIST) : undefined
    const nodeType = isRecord(schemas) ? dig(schemas, ['Node', 'properties', 'type', 'enum']) : undefined
    this.nodeTypeEnum = Array.isArray(nodeType) ? nodeType.filter((v): v is string => typeof v === 'string') : []
    // Last: SchemaStore rewrites oneOf in the document (in memory).
    this.schemas = new SchemaStore(doc)
  }

  #operation(template: string, method: string, item: JsonRecord, op: JsonRecord): Operation {
    const pathParams = new Map<string, ParamInfo>()
    const queryParams = new Map<string, ParamInfo>()
    const params = [...asArray(item['parameters']), ...asArray(op['parameters'])]
    for (const raw of params) {
      const p = this.#deref(raw)?.value
      if (!isRecord(p) || typeof p['name'] !== 'string') continue
      const schema = isRecord(p['schema']) ? (this.#deref(p['schema'])?.value as JsonRecord | undefined) : undefined
      const items = schema && isRecord(schema['items']) ? (this.#deref(schema['items'])?.value as JsonRecord | undefined) : undefined
      const info: ParamInfo = {
        name: p['name'],
        type: typeof schema?.['type'] === 'string' ? schema['type'] : undefined,
        itemType: typeof items?.['type'] === 'string' ? items['type'] : undefined,
      }
      if (p['in'] === 'query') queryParams.set(info.name, info)
      else if (p['in'] === 'path') pathParams.set(info.name, info)
    }

    let requestJsonSchema: string | undefined
    let hasRequestBody = false
    let requestRequired = false
    if (op['requestBody'] !== undefined) {
      const rb = this.#deref(op['requestBody'], ['paths', template, method, 'requestBody'])
      if (rb && isRecord(rb.value)) {
        hasRequestBody = true
        requestRequired = rb.value['required'] === true
        requestJsonSchema = this.#jsonSchemaPointer(rb.value, rb.tokens)
      }
    }

    const responses = new Map<string, ResponseInfo>()
    const rawResponses = isRecord(op['responses']) ? op['responses'] : {}
    for (const status of Object.keys(rawResponses)) {
      const r = this.#deref(rawResponses[status], ['paths', template, method, 'responses', status])
      if (!r || !isRecord(r.value)) continue
      const content = isRecord(r.value['content']) ? r.value['content'] : {}
      responses.set(status, {
        jsonSchema: this.#jsonSchemaPointer(r.value, r.tokens),
        contentTypes: Object.keys(content),
      })
    }

    return {
      template,
      method,
      operationId: typeof op['operationId'] === 'string' ? op['operationId'] : undefined,
      pathParams,
      queryParams,
      hasRequestBody,
      requestRequired,
      requestJsonSchema,
      responses,
    }
  }

  /** deviation 'single-object-get': synthesizes the GETs the spec lacks from the list GETs. */
  #addSingleObjectGets(paths: JsonRecord): void {
    for (const { template, list } of SINGLE_OBJECT_GETS) {
      const byMethod = this.ops.get(template)
      const item = paths[template]
      const listOk = this.ops.get(list)?.get('get')?.responses.get('200')?.jsonSchema
      if (!byMethod || byMethod.has('get') || !isRecord(item) || listOk === undefined) continue
      const arraySchema = this.#deref(dig(this.doc, pointerTokens(listOk)), pointerTokens(listOk))
      if (!arraySchema || !isRecord(arraySchema.value) || arraySchema.value['type'] !== 'array') continue
      if (arraySchema.value['items'] === undefined) continue
      const base = this.#operation(template, 'get', item, {})
      byMethod.set('get', {
        ...base,
        responses: new Map([
          ['200', { jsonSchema: pointer(...arraySchema.tokens, 'items'), contentTypes: ['application/json'] }],
        ]),
      })
    }
  }

  /** Pointer to content[<json type>].schema of a requestBody/response object found at `tokens`. */
  #jsonSchemaPointer(obj: JsonRecord, tokens: readonly string[]): string | undefined {
    const content = obj['content']
    if (!isRecord(content)) return undefined
    const type = Object.keys(content).find(isJsonMediaType)
    if (type === undefined) return undefined
    const media = content[type]
    if (!isRecord(media) || media['schema'] === undefined) return undefined
    return pointer(...tokens, 'content', type, 'schema')
  }

  /**
   * Follows a local `$ref` (components/parameters, components/responses, ...) to its target.
   * `tokens` is where `value` itself sits in the document (needed when it is not a $ref).
   */
  #deref(value: unknown, tokens: readonly string[] = []): { value: unknown; tokens: readonly string[] } | undefined {
    let current = value
    let where = tokens
    for (let hops = 0; hops < 10; hops++) {
      if (!isRecord(current) || typeof current['$ref'] !== 'string') return { value: current, tokens: where }
      const ref = current['$ref']
      if (!ref.startsWith('#/')) return undefined
      where = pointerTokens(ref)
      current = dig(this.doc, where)
    }
    return undefined
  }

  findOperation(
    method: string,
    path: string,
  ): { op?: Operation; template?: string; declared?: string[]; params?: ReadonlyMap<string, string> } {
    const m = this.index.match(path)
    if (!m) return {}
    const template = m.template.template
    const byMethod = this.ops.get(template)
    const op = byMethod?.get(method.toLowerCase())
    if (!op) return { template, declared: [...(byMethod?.keys() ?? [])].map((x) => x.toUpperCase()) }
    return { op, template, params: m.params }
  }
}

function internalsOf(spec: Spec): SpecInternals {
  const i = internals.get(spec)
  if (!i) throw new Error('conformance: not a Spec returned by loadSpec()')
  return i
}

// ---------------------------------------------------------------------------------------------
// Public checks

export function matchOperation(
  spec: Spec,
  method: string,
  url: string,
): { template: string; operationId?: string } | undefined {
  const { path } = splitUrl(url)
  const { op } = internalsOf(spec).findOperation(method, path)
  if (!op) return undefined
  return op.operationId === undefined ? { template: op.template } : { template: op.template, operationId: op.operationId }
}

/** Human-readable conformance problems of one exchange; [] when it conforms. */
export function checkExchange(spec: Spec, ex: Exchange): string[] {
  const s = internalsOf(spec)
  const method = ex.method.toUpperCase()
  const { path, query } = splitUrl(ex.url)
  const problems: string[] = []
  const say = (msg: string): void => {
    problems.push(`${method} ${path} ${ex.status}: ${msg}`)
  }

  if (path === '/health' && !s.ops.has('/health')) {
    checkHealth(method, ex, say) // deviation 'health-endpoint'
    return problems
  }

  const found = s.findOperation(method, path)
  if (!found.op) {
    if (found.template === undefined) say('path not declared in the spec')
    else say(`method ${method} not declared for ${found.template} (declared: ${(found.declared ?? []).join(', ') || 'none'})`)
    return problems
  }
  const op = found.op

  checkPathParams(op, found.params ?? new Map<string, string>(), say)
  checkQuery(op, query, say)
  checkRequestBody(op, ex, s, say)
  checkResponse(op, ex, s, say)
  return problems
}

export class ConformanceRecorder {
  readonly #spec: Spec | null
  readonly #problems = new Map<string, number>()
  #count = 0

  constructor(spec: Spec | null) {
    this.#spec = spec
  }

  /** Checks one exchange (a no-op apart from counting when the spec is absent). Never throws. */
  record(ex: Exchange): void {
    this.#count++
    if (!this.#spec) return
    let found: string[]
    try {
      found = checkExchange(this.#spec, ex)
    } catch (e) {
      found = [`${ex.method.toUpperCase()} ${ex.url} ${ex.status}: checker failed: ${e instanceof Error ? e.message : String(e)}`]
    }
    for (const p of found) this.#problems.set(p, (this.#problems.get(p) ?? 0) + 1)
  }

  /** Distinct problems in first-seen order; a problem seen n > 1 times ends with ` [x n]`. */
  problems(): string[] {
    return [...this.#problems].map(([p, n]) => (n > 1 ? `${p} [x ${n}]` : p))
  }

  /** Number of exchanges recorded. */
  count(): number {
    return this.#count
  }
}

// ---------------------------------------------------------------------------------------------
// Individual checks

type Say = (msg: string) => void

function checkHealth(method: string, ex: Exchange, say: Say): void {
  if (method !== 'GET') say('/health is only known for GET')
  else if (ex.status === 200) {
    if (ex.responseBody.trim() !== '') say('/health 200 must have an empty body')
  } else if (ex.status !== 500) say('/health answers 200 or 500 only')
}

function checkPathParams(op: Operation, params: ReadonlyMap<string, string>, say: Say): void {
  for (const [name, raw] of params) {
    const info = op.pathParams.get(name)
    if (!info) continue
    const value = safeDecode(raw)
    const err = scalarTypeError(info.type, value)
    if (err) say(`path parameter ${name} ${err}`)
  }
}

function checkQuery(op: Operation, query: string, say: Say): void {
  if (query === '') return
  const seen = new Map<string, number>()
  for (const [name, value] of new URLSearchParams(query)) {
    seen.set(name, (seen.get(name) ?? 0) + 1)
    const info = op.queryParams.get(name)
    if (!info) {
      if (seen.get(name) === 1) {
        const known = [...op.queryParams.keys()]
        say(`unknown query parameter '${name}' (declared: ${known.length ? known.join(', ') : 'none'})`)
      }
      continue
    }
    // deviation 'query-range-unchecked': types only
    const err = info.type === 'array' ? scalarTypeError(info.itemType, value) : scalarTypeError(info.type, value)
    if (err) say(`query parameter ${name} ${err}`)
  }
  for (const [name, n] of seen) {
    const info = op.queryParams.get(name)
    if (info && info.type !== 'array' && n > 1) say(`query parameter ${name} repeated ${n} times but is not an array`)
  }
}

function scalarTypeError(type: string | undefined, value: string): string | undefined {
  switch (type) {
    case 'integer':
      return /^[+-]?\d+$/.test(value) ? undefined : `must be integer (got ${JSON.stringify(value)})`
    case 'number':
      return value.trim() !== '' && Number.isFinite(Number(value)) ? undefined : `must be number (got ${JSON.stringify(value)})`
    case 'boolean':
      // deviation 'query-boolean-case'
      return /^(true|false)$/i.test(value) ? undefined : `must be boolean (got ${JSON.stringify(value)})`
    default:
      return undefined
  }
}

function checkRequestBody(op: Operation, ex: Exchange, s: SpecInternals, say: Say): void {
  if (ex.requestBody.trim() === '') {
    if (op.requestRequired) say('request body required but empty')
    return
  }
  if (!op.hasRequestBody) {
    say('request body sent but the operation declares none')
    return
  }
  if (op.requestJsonSchema === undefined) return // non-JSON request content: not checked
  const parsed = parseJson(ex.requestBody)
  if (!parsed.ok) {
    say(`request body is not JSON (${parsed.error})`)
    return
  }
  reportSchemaErrors('request', s.schemas.validate(op.requestJsonSchema, parsed.value), say)
}

function checkResponse(op: Operation, ex: Exchange, s: SpecInternals, say: Say): void {
  const key = String(ex.status)
  let declared = op.responses.get(key)
  if (!declared && ex.status === 200 && op.method === VD_CREATE.method && op.template === VD_CREATE.template) {
    declared = op.responses.get('201') // deviation 'vd-create-200'
  }
  declared ??= op.responses.get('default')

  if (ex.status >= 400 && ERROR_LIST_STATUSES.has(ex.status)) {
    checkErrorResponse(declared, ex, s, say)
    return
  }
  if (!declared) {
    say(`status ${ex.status} not declared (declared: ${[...op.responses.keys()].join(', ')})`)
    return
  }
  checkDeclaredBody(declared, ex, s, say)
}

/** Body check for a declared response. */
function checkDeclaredBody(declared: ResponseInfo, ex: Exchange, s: SpecInternals, say: Say): void {
  const body = ex.responseBody
  if (declared.contentTypes.length === 0) {
    if (body.trim() !== '') say('response body present but the spec declares none for this status')
    return
  }
  if (declared.jsonSchema === undefined) return // only non-JSON content (event streams, octet streams): not checked
  if (ex.contentType !== undefined && body.trim() !== '' && !isJsonMediaType(ex.contentType)) {
    say(`response content-type ${ex.contentType} is not JSON`)
  }
  if (body.trim() === '') {
    say('response body empty, expected JSON')
    return
  }
  const parsed = parseJson(body)
  if (!parsed.ok) {
    say(`response body is not JSON (${parsed.error})`)
    return
  }
  const errors = s.schemas.validate(declared.jsonSchema, parsed.value).filter((e) => !isNodeTypeEnumName(e, s))
  reportSchemaErrors('response', errors, say)
}

/** 400/401/403/404/500: the declared schema, or an ApiCallRc list (deviation 'error-apicallrc-list'). */
function checkErrorResponse(declared: ResponseInfo | undefined, ex: Exchange, s: SpecInternals, say: Say): void {
  const body = ex.responseBody
  if (declared && declared.contentTypes.length === 0 && body.trim() === '') return
  if (body.trim() === '') {
    say('error response body empty, expected an ApiCallRc list')
    return
  }
  const parsed = parseJson(body)
  if (!parsed.ok) {
    say(`error response body is not JSON (${parsed.error})`)
    return
  }
  if (declared?.jsonSchema !== undefined && s.schemas.validate(declared.jsonSchema, parsed.value).length === 0) return
  if (s.apiCallRcList === undefined) {
    say(`status ${ex.status} not declared and the spec has no ${API_CALL_RC_LIST} schema`)
    return
  }
  reportSchemaErrors('response', s.schemas.validate(s.apiCallRcList, parsed.value), say)
}

/** deviation 'node-type-enum-names': an enum error on the Node.type enum whose value matches ignoring case. */
function isNodeTypeEnumName(e: SchemaError, s: SpecInternals): boolean {
  if (e.keyword !== 'enum' || typeof e.data !== 'string' || s.nodeTypeEnum.length === 0) return false
  const allowed = e.allowedValues
  if (!allowed || allowed.length !== s.nodeTypeEnum.length || !allowed.every((v, i) => v === s.nodeTypeEnum[i])) return false
  const upper = e.data.toUpperCase()
  return s.nodeTypeEnum.some((v) => v.toUpperCase() === upper)
}

function reportSchemaErrors(side: 'request' | 'response', errors: readonly SchemaError[], say: Say): void {
  const seen = new Set<string>()
  for (const e of errors) {
    const line = `${side}${e.instancePath === '' ? '' : ' ' + e.instancePath} ${e.text}`
    if (seen.has(line)) continue
    seen.add(line)
    if (seen.size > MAX_SCHEMA_ERRORS) {
      say(`${side}: further schema errors omitted`)
      return
    }
    say(line)
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

function splitUrl(url: string): { path: string; query: string } {
  let rest = url
  const origin = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(rest)
  if (origin) rest = rest.slice(origin[0].length)
  const hash = rest.indexOf('#')
  if (hash >= 0) rest = rest.slice(0, hash)
  const q = rest.indexOf('?')
  const path = q >= 0 ? rest.slice(0, q) : rest
  return { path: path === '' ? '/' : path, query: q >= 0 ? rest.slice(q + 1) : '' }
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown }
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) }
  }
}

function isJsonMediaType(type: string): boolean {
  const base = type.split(';')[0]?.trim().toLowerCase() ?? ''
  return base === 'application/json' || base.endsWith('+json')
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

function isRecord(x: unknown): x is JsonRecord {
  return x !== null && typeof x === 'object' && !Array.isArray(x)
}

function asArray(x: unknown): unknown[] {
  return Array.isArray(x) ? x : []
}

function pointerTokens(ptr: string): string[] {
  return ptr
    .replace(/^#\/?/, '')
    .split('/')
    .filter((t) => t !== '')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'))
}

function dig(root: unknown, tokens: readonly string[]): unknown {
  let cur = root
  for (const t of tokens) {
    if (!isRecord(cur)) return undefined
    cur = cur[t]
  }
  return cur
}
