/**
 * Runs the build-time compiled validators and turns ajv's error list into ConfigError issues in
 * plain English, one per problem, naming the platform's own setting where the caller maps it.
 */
import { ConfigError } from '../errors/index.js'
import type { ConfigIssue } from '../errors/index.js'
import { SCHEMAS } from './schemas.js'
// A default import of a CommonJS module binds to its module.exports, both under Node and in the
// esbuild bundle (createRequire would work under Node but hide the file from the bundler).
import generated from './validators.generated.cjs'
import type { GeneratedValidationError, GeneratedValidator } from './validators.generated.cjs'

/** Names of the compiled validators (one per entry of SCHEMAS). */
export type ValidatorName = {
  [K in keyof typeof generated]: (typeof generated)[K] extends GeneratedValidator ? K : never
}[keyof typeof generated]

/** How issues name settings. */
export interface ValidateOptions {
  /**
   * A field of the validated object → the platform's name for that setting (e.g. placeCount →
   * 'linstor:redundancy'), so messages use the words of the operator's configuration.
   */
  settingNames?: Readonly<Partial<Record<string, string>>>
  /** Put before every setting name, e.g. 'storage drbd1: '. */
  prefix?: string
}

/** The subset of JSON Schema this module reads to phrase messages. */
interface SchemaNode {
  title?: string
  description?: string
  type?: string
  enum?: readonly unknown[]
  minimum?: number
  maximum?: number
  minLength?: number
  maxLength?: number
  minItems?: number
  maxItems?: number
  writeOnly?: boolean
  properties?: Record<string, SchemaNode>
  items?: SchemaNode
  additionalProperties?: boolean | SchemaNode
  propertyNames?: SchemaNode
}

function schemaOf(name: string): SchemaNode {
  const entry = SCHEMAS.find((s) => s.exportName === name)
  if (entry === undefined) throw new TypeError(`no schema named ${name}`)
  return entry.schema
}

/** The node a schemaPath ("#/properties/a/items/pattern") points into, without its last segment (the keyword). */
function nodeAt(root: SchemaNode, schemaPath: string): SchemaNode | undefined {
  const parts = schemaPath.replace(/^#\/?/, '').split('/').filter((p) => p !== '').map(unescapePointer)
  parts.pop()
  let node: unknown = root
  for (const p of parts) {
    if (typeof node !== 'object' || node === null) return undefined
    node = (node as Record<string, unknown>)[p]
  }
  return typeof node === 'object' && node !== null ? node : undefined
}

function unescapePointer(s: string): string {
  return s.replace(/~1/g, '/').replace(/~0/g, '~')
}

function pointerParts(instancePath: string): string[] {
  return instancePath === '' ? [] : instancePath.slice(1).split('/').map(unescapePointer)
}

function valueAt(data: unknown, parts: readonly string[]): unknown {
  let v = data
  for (const p of parts) {
    if (typeof v !== 'object' || v === null) return undefined
    v = (v as Record<string, unknown>)[p]
  }
  return v
}

function list(values: readonly unknown[]): string {
  return values.map((v) => String(v)).join(', ')
}

function quote(v: unknown): string {
  const text = typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v) ?? String(v)
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}

function range(node: SchemaNode): string {
  const { minimum: min, maximum: max } = node
  if (min !== undefined && max !== undefined) return ` from ${min} to ${max}`
  if (min !== undefined) return ` of at least ${min}`
  if (max !== undefined) return ` of at most ${max}`
  return ''
}

/** What a value must be, as a phrase to follow "must be". */
function expectation(node: SchemaNode): string {
  if (node.enum !== undefined) return `one of: ${list(node.enum)}`
  if (node.description !== undefined) return node.description
  switch (node.type) {
    case 'integer':
      return `an integer${range(node)}`
    case 'number':
      return `a number${range(node)}`
    case 'boolean':
      return 'true or false'
    case 'array':
      return 'a list'
    case 'object':
      return 'a map'
    case 'string': {
      const min = node.minLength ?? 0
      const max = node.maxLength
      if (min > 1) return max === undefined ? `a string of at least ${min} characters` : `a string of ${min} to ${max} characters`
      const lead = min === 1 ? 'a non-empty string' : 'a string'
      return max === undefined ? lead : `${lead} of at most ${max} characters`
    }
    default:
      return 'a valid value'
  }
}

function count(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`
}

/**
 * The issues of a failed validation: one per problem, in ajv's order, duplicates removed.
 * `root` is the schema the validator was compiled from, `data` what it was given.
 */
export function describeErrors(
  root: SchemaNode,
  errors: readonly GeneratedValidationError[],
  data: unknown,
  options: ValidateOptions = {},
): ConfigIssue[] {
  const prefix = options.prefix ?? ''
  const settingOf = (field: string): string => `${prefix}${options.settingNames?.[field] ?? field}`
  const rootSetting = `${prefix}${root.title ?? 'configuration'}`
  const issues: ConfigIssue[] = []
  const seen = new Set<string>()
  const add = (setting: string, problem: string): void => {
    const key = `${setting}\u0000${problem}`
    if (seen.has(key)) return
    seen.add(key)
    issues.push({ setting, problem })
  }
  // propertyNames reports the inner failure and then a summary for the same key; keep the inner one.
  const keyErrors = new Set(errors.filter((e) => e.propertyName !== undefined).map((e) => `${e.instancePath}\u0000${e.propertyName}`))

  for (const e of errors) {
    const parts = pointerParts(e.instancePath)
    const field = parts[0]
    const node = nodeAt(root, e.schemaPath) ?? {}
    const secret = node.writeOnly === true
    const value = valueAt(data, parts)
    const shown = secret ? '' : ` (got ${quote(value)})`

    if (e.keyword === 'additionalProperties' && typeof e.params['additionalProperty'] === 'string') {
      const extra = e.params['additionalProperty']
      const known = Object.keys(node.properties ?? {}).map((k) => (parts.length === 0 ? (options.settingNames?.[k] ?? k) : k))
      if (field === undefined) {
        add(`${prefix}${extra}`, `unknown setting; known settings are ${list(known)}`)
      } else {
        add(settingOf(field), `unknown key ${quote(extra)}; known keys are ${list(known)}`)
      }
      continue
    }
    if (e.keyword === 'required' && typeof e.params['missingProperty'] === 'string') {
      const missing = e.params['missingProperty']
      add(field === undefined ? settingOf(missing) : settingOf(field), field === undefined ? 'must be set' : `needs ${quote(missing)}`)
      continue
    }
    if (e.keyword === 'propertyNames') {
      if (keyErrors.has(`${e.instancePath}\u0000${String(e.params['propertyName'])}`)) continue
    }

    const setting = field === undefined ? rootSetting : settingOf(field)
    if (e.propertyName !== undefined) {
      add(setting, `key ${quote(e.propertyName)} is not allowed: must be ${expectation(node)}`)
      continue
    }
    // Where below the setting the problem sits (ending with a space), and the value shown at the end.
    const { subject, got } = locate(data, parts, shown, secret)
    switch (e.keyword) {
      case 'type':
      case 'minimum':
      case 'maximum':
      case 'exclusiveMinimum':
      case 'exclusiveMaximum':
      case 'multipleOf':
      case 'enum':
      case 'pattern':
      case 'format':
        add(setting, `${subject}must be ${expectation(node)}${got}`)
        break
      case 'minLength':
        add(setting, node.minLength === 1 ? `${subject}must not be empty` : `${subject}must be ${expectation(node)}${got}`)
        break
      case 'maxLength':
        add(setting, `${subject}must be at most ${count(Number(e.params['limit']), 'character', 'characters')} long`)
        break
      case 'uniqueItems': {
        const j = Number(e.params['j'])
        const dup: unknown = Array.isArray(value) ? (value as unknown[])[j] : undefined
        add(setting, `${subject}lists ${secret ? 'an entry' : quote(dup)} more than once`)
        break
      }
      case 'minItems':
        add(setting, `${subject}must list at least ${count(Number(e.params['limit']), 'entry', 'entries')}`)
        break
      case 'maxItems':
        add(setting, `${subject}must list at most ${count(Number(e.params['limit']), 'entry', 'entries')}`)
        break
      default:
        add(setting, `${subject}${e.message ?? `fails ${e.keyword}`}`)
    }
  }
  return issues
}

/**
 * Describes the position of a problem below its setting: an entry of a list shows its value up
 * front ('entry 2 ("x") '), a map value names its key ('the value of "k" '), deeper positions give
 * a path ('at [0].size '). The value itself is shown at the end, except for list entries.
 */
function locate(data: unknown, parts: readonly string[], shown: string, secret: boolean): { subject: string; got: string } {
  if (parts.length < 2) return { subject: '', got: shown }
  const last = parts[parts.length - 1] ?? ''
  if (parts.length === 2) {
    if (Array.isArray(valueAt(data, parts.slice(0, -1)))) {
      return { subject: `entry ${Number(last) + 1}${secret ? '' : ` (${quote(valueAt(data, parts))})`} `, got: '' }
    }
    return { subject: `the value of ${quote(last)} `, got: shown }
  }
  let path = ''
  for (let i = 1; i < parts.length; i++) {
    const p = parts[i] ?? ''
    path += Array.isArray(valueAt(data, parts.slice(0, i))) ? `[${p}]` : `.${p}`
  }
  return { subject: `at ${path.replace(/^\./, '')} `, got: shown }
}

function validatorOf(name: ValidatorName): GeneratedValidator {
  const fn = (generated as Record<string, GeneratedValidator | undefined>)[name]
  if (typeof fn !== 'function') throw new TypeError(`no generated validator named ${name}: run node scripts/gen-validators.mjs`)
  return fn
}

/**
 * Checks `data` against the schema `name` and returns the problems as ConfigIssues (empty when
 * valid). Never throws for bad data.
 */
export function configIssues(name: ValidatorName, data: unknown, options: ValidateOptions = {}): ConfigIssue[] {
  const fn = validatorOf(name)
  if (fn(data)) return []
  return describeErrors(schemaOf(name), fn.errors ?? [], data, options)
}

/**
 * Validates `data` against the compiled schema `name` and returns it typed as T (the same object:
 * nothing is copied, coerced or defaulted).
 *
 * @throws ConfigError (CONFIG_INVALID) listing every problem at once, each naming its setting
 *   (mapped through `settingNames`, prefixed with `prefix`).
 * @example
 * const policy = validate<PlacementPolicy>('placementPolicy', input, { settingNames: { placeCount: 'redundancy' } })
 */
export function validate<T>(name: ValidatorName, data: unknown, options: ValidateOptions = {}): T {
  const issues = configIssues(name, data, options)
  if (issues.length > 0) throw new ConfigError(issues)
  return data as T
}

/** The name an issue uses for `field` under these options (for checks a schema cannot express). */
export function settingName(field: string, options: ValidateOptions = {}): string {
  return `${options.prefix ?? ''}${options.settingNames?.[field] ?? field}`
}
