/**
 * Request bodies read the way the LINSTOR controller reads them: every REST class calls
 * `new ObjectMapper().readValue(json, JsonGenTypes.X.class)`, a Jackson 2 ObjectMapper with its
 * default features, over classes generated from the OpenAPI document (scripts/rest-gen.py: integer
 * → Integer/Long, or int/long when the spec has a default; number → Double; boolean → Boolean or
 * boolean; array → List; object → Map or a generated class).
 *
 * What that default mapper does, and so what this reader does:
 * - JSON text is parsed strictly (no comments, no NaN, no single quotes); a syntax error is a
 *   JsonParseException. Content after the root value is ignored (FAIL_ON_TRAILING_TOKENS is off).
 * - An empty body is "No content to map due to end-of-input" (a MismatchedInputException).
 * - A field the class does not declare is an UnrecognizedPropertyException
 *   (FAIL_ON_UNKNOWN_PROPERTIES is on; the generated classes carry no @JsonIgnoreProperties).
 * - Scalars are coerced (ALLOW_COERCION_OF_SCALARS is on): "2" into an Integer, 2 into a String,
 *   "true"/"True"/"TRUE" into a Boolean, 0/1 into a Boolean, 2.7 into an Integer (truncated,
 *   ACCEPT_FLOAT_AS_INT), "" and "null" into null (0/false for primitives). What cannot be
 *   coerced is an InvalidFormatException or a MismatchedInputException; an integer beyond the
 *   target's range is an InputCoercionException.
 * - A single value is not taken for a list (ACCEPT_SINGLE_VALUE_AS_ARRAY is off), nor a
 *   one-element list for a value (UNWRAP_SINGLE_VALUE_ARRAYS is off).
 * - null leaves a field at its default: Jackson itself sets it to null, but since 1.33.3 the
 *   controller "handles null value inputs for json body rest requests with working defaults"
 *   (its CHANGELOG); how is not visible in the sources available to us, so the emulator applies
 *   the default (docs/emulator.md, guesses).
 *
 * The messages follow Jackson's wording, including the "at [Source: ...; line, column]" location
 * and the "(through reference chain: ...)" path that getMessage() appends.
 */

/** A Java type of a generated field. */
export type JType =
  | 'Integer'
  | 'int'
  | 'Long'
  | 'long'
  | 'Double'
  | 'double'
  | 'Boolean'
  | 'boolean'
  | 'String'
  /** java.lang.Object: any JSON value, kept as it is. */
  | 'Object'
  | { list: JType }
  | { map: JType }
  | JClass

/** A generated class: its simple name (JsonGenTypes$Name) and its fields in declaration order. */
export interface JClass {
  name: string
  fields: Readonly<Record<string, JType>>
  /** Defaults of primitive fields other than 0/false (rest-gen copies the spec's default). */
  defaults?: Readonly<Record<string, number | boolean | string>>
}

const PKG = 'com.linbit.linstor.api.rest.v1.serializer.JsonGenTypes$'

/** Which Jackson exception a failure is: decides how each REST entry point answers it. */
export type JacksonErrorKind = 'parse' | 'mapping' | 'coercion'

export class JacksonError extends Error {
  readonly kind: JacksonErrorKind
  /** Simple name of the Java exception class (for error reports). */
  readonly exception: string
  constructor(kind: JacksonErrorKind, exception: string, message: string) {
    super(message)
    this.name = 'JacksonError'
    this.kind = kind
    this.exception = exception
  }
}

// ---------------------------------------------------------------------------------------------
// The JSON text: a strict parser that keeps token kinds and positions (Jackson reports lines and
// columns, tells integers from floats, and keeps long values exact).

type Node =
  | { t: 'obj'; entries: Array<[string, Node]>; line: number; col: number }
  | { t: 'arr'; items: Node[]; line: number; col: number }
  | { t: 'str'; v: string; line: number; col: number }
  | { t: 'int'; text: string; line: number; col: number }
  | { t: 'float'; text: string; line: number; col: number }
  | { t: 'bool'; v: boolean; line: number; col: number }
  | { t: 'null'; line: number; col: number }

/** Jackson 2.16+ does not echo the source text (StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION off). */
function location(line: number, col: number): string {
  return `\n at [Source: REDACTED (\`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION\` disabled); line: ${line}, column: ${col}]`
}

function charDesc(c: string): string {
  const code = c.codePointAt(0) ?? 0
  if (code < 32) return `(CTRL-CHAR, code ${code})`
  return `('${c}' (code ${code}))`
}

class Parser {
  readonly #s: string
  #i = 0
  #line = 1
  #lineStart = 0

  constructor(s: string) {
    this.#s = s
  }

  #col(): number {
    return this.#i - this.#lineStart + 1
  }

  #fail(message: string): never {
    throw new JacksonError('parse', 'JsonParseException', message + location(this.#line, this.#col()))
  }

  #ws(): void {
    const s = this.#s
    while (this.#i < s.length) {
      const c = s[this.#i]
      if (c === ' ' || c === '\t' || c === '\r') this.#i++
      else if (c === '\n') {
        this.#i++
        this.#line++
        this.#lineStart = this.#i
      } else break
    }
  }

  /** The root value; undefined when the text holds none (only whitespace). */
  root(): Node | undefined {
    this.#ws()
    if (this.#i >= this.#s.length) return undefined
    return this.#value('root')
  }

  #value(where: 'root' | 'array' | 'object'): Node {
    this.#ws()
    const s = this.#s
    if (this.#i >= s.length) {
      this.#fail(where === 'root' ? 'Unexpected end-of-input' : `Unexpected end-of-input: expected close marker for ${where === 'array' ? 'Array' : 'Object'}`)
    }
    const c = s[this.#i] as string
    if (c === '{') return this.#object()
    if (c === '[') return this.#array()
    if (c === '"') {
      const v = this.#string()
      return { t: 'str', v, line: this.#line, col: this.#col() }
    }
    if (c === '-' || (c >= '0' && c <= '9')) return this.#number()
    const m = /^[A-Za-z_$][A-Za-z0-9_$]*/.exec(s.slice(this.#i, this.#i + 256))
    if (m !== null) {
      const word = m[0]
      this.#i += word.length
      if (word === 'true' || word === 'false') return { t: 'bool', v: word === 'true', line: this.#line, col: this.#col() }
      if (word === 'null') return { t: 'null', line: this.#line, col: this.#col() }
      if (word === 'NaN' || word === 'Infinity') this.#fail(`Non-standard token '${word}': enable \`JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS\` to allow`)
      this.#fail(`Unrecognized token '${word}': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')`)
    }
    if (c === ']' && where === 'array') this.#fail(`Unexpected character ${charDesc(c)}: expected a value`)
    this.#fail(`Unexpected character ${charDesc(c)}: expected a valid value (JSON String, Number, Array, Object or token 'null', 'true' or 'false')`)
  }

  #object(): Node {
    const line = this.#line
    const col = this.#col()
    this.#i++
    const entries: Array<[string, Node]> = []
    this.#ws()
    if (this.#s[this.#i] === '}') {
      this.#i++
      return { t: 'obj', entries, line, col }
    }
    for (;;) {
      this.#ws()
      if (this.#i >= this.#s.length) this.#fail(`Unexpected end-of-input: expected close marker for Object (start marker at [Source: REDACTED (\`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION\` disabled); line: ${line}, column: ${col}])`)
      const c = this.#s[this.#i] as string
      if (c !== '"') this.#fail(`Unexpected character ${charDesc(c)}: was expecting double-quote to start field name`)
      const key = this.#string()
      this.#ws()
      if (this.#i >= this.#s.length) this.#fail('Unexpected end-of-input: was expecting a colon to separate field name and value')
      if (this.#s[this.#i] !== ':') this.#fail(`Unexpected character ${charDesc(this.#s[this.#i] as string)}: was expecting a colon to separate field name and value`)
      this.#i++
      entries.push([key, this.#value('object')])
      this.#ws()
      if (this.#i >= this.#s.length) this.#fail(`Unexpected end-of-input: expected close marker for Object (start marker at [Source: REDACTED (\`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION\` disabled); line: ${line}, column: ${col}])`)
      const d = this.#s[this.#i] as string
      this.#i++
      if (d === '}') return { t: 'obj', entries, line, col }
      if (d !== ',') {
        this.#i--
        this.#fail(`Unexpected character ${charDesc(d)}: was expecting comma to separate Object entries`)
      }
    }
  }

  #array(): Node {
    const line = this.#line
    const col = this.#col()
    this.#i++
    const items: Node[] = []
    this.#ws()
    if (this.#s[this.#i] === ']') {
      this.#i++
      return { t: 'arr', items, line, col }
    }
    for (;;) {
      items.push(this.#value('array'))
      this.#ws()
      if (this.#i >= this.#s.length) this.#fail(`Unexpected end-of-input: expected close marker for Array (start marker at [Source: REDACTED (\`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION\` disabled); line: ${line}, column: ${col}])`)
      const d = this.#s[this.#i] as string
      this.#i++
      if (d === ']') return { t: 'arr', items, line, col }
      if (d !== ',') {
        this.#i--
        this.#fail(`Unexpected character ${charDesc(d)}: was expecting comma to separate Array entries`)
      }
    }
  }

  #string(): string {
    const s = this.#s
    this.#i++
    let out = ''
    for (;;) {
      if (this.#i >= s.length) this.#fail('Unexpected end-of-input: was expecting closing quote for a string value')
      const c = s[this.#i] as string
      if (c === '"') {
        this.#i++
        return out
      }
      if (c === '\\') {
        const e = s[this.#i + 1]
        this.#i += 2
        switch (e) {
          case '"':
          case '\\':
          case '/':
            out += e
            break
          case 'b':
            out += '\b'
            break
          case 'f':
            out += '\f'
            break
          case 'n':
            out += '\n'
            break
          case 'r':
            out += '\r'
            break
          case 't':
            out += '\t'
            break
          case 'u': {
            const hex = s.slice(this.#i, this.#i + 4)
            if (!/^[0-9A-Fa-f]{4}$/.test(hex)) this.#fail('Unexpected character in unicode escape: expected a hex-digit for character escape sequence')
            out += String.fromCharCode(parseInt(hex, 16))
            this.#i += 4
            break
          }
          default:
            this.#i--
            this.#fail(`Unrecognized character escape ${charDesc(e ?? '')}`)
        }
        continue
      }
      if (c.charCodeAt(0) < 32) this.#fail(`Illegal unquoted character (${'CTRL-CHAR'}, code ${c.charCodeAt(0)})): has to be escaped using backslash to be included in string value`)
      out += c
      this.#i++
    }
  }

  #number(): Node {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(this.#s.slice(this.#i, this.#i + 400))
    if (m === null || m[0] === '-') {
      const next = this.#s[this.#i + 1] ?? ''
      this.#i++
      this.#fail(`Unexpected character ${charDesc(next)} in numeric value: expected digit (0-9) to follow minus sign, for valid numeric value`)
    }
    const text = m[0]
    this.#i += text.length
    if (/^-?0[0-9]/.test(this.#s.slice(this.#i - text.length, this.#i + 1))) this.#fail('Invalid numeric value: Leading zeroes not allowed')
    const float = m[2] !== undefined || m[3] !== undefined
    return float ? { t: 'float', text, line: this.#line, col: this.#col() } : { t: 'int', text, line: this.#line, col: this.#col() }
  }
}

// ---------------------------------------------------------------------------------------------
// Mapping onto the generated classes

const INT_MIN = -2147483648n
const INT_MAX = 2147483647n
const LONG_MIN = -9223372036854775808n
const LONG_MAX = 9223372036854775807n

function javaName(t: JType): string {
  if (typeof t === 'string') {
    switch (t) {
      case 'Integer':
      case 'Long':
      case 'Double':
      case 'Boolean':
      case 'String':
      case 'Object':
        return `java.lang.${t}`
      default:
        return t
    }
  }
  if ('list' in t) return `java.util.ArrayList<${javaName(t.list)}>`
  if ('map' in t) return `java.util.LinkedHashMap<java.lang.String,${javaName(t.map)}>`
  return PKG + t.name
}

function tokenName(n: Node): string {
  switch (n.t) {
    case 'obj':
      return 'Object value (token `JsonToken.START_OBJECT`)'
    case 'arr':
      return 'Array value (token `JsonToken.START_ARRAY`)'
    case 'str':
      return 'String value (token `JsonToken.VALUE_STRING`)'
    case 'int':
      return 'Integer value (token `JsonToken.VALUE_NUMBER_INT`)'
    case 'float':
      return 'Floating-point value (token `JsonToken.VALUE_NUMBER_FLOAT`)'
    case 'bool':
      return `Boolean value (token \`JsonToken.VALUE_${n.v ? 'TRUE' : 'FALSE'}\`)`
    case 'null':
      return 'Null value (token `JsonToken.VALUE_NULL`)'
  }
}

/** One step of Jackson's reference chain, e.g. `JsonGenTypes$AutoSelectFilter["place_count"]`. */
type Ref = string

class Mapper {
  /** The whole reference chain of the value being mapped. */
  readonly #path: Ref[] = []

  #fail(exception: string, message: string, n: Node, kind: JacksonErrorKind = 'mapping'): never {
    const chain = this.#path.length > 0 ? ` (through reference chain: ${this.#path.join('->')})` : ''
    throw new JacksonError(kind, exception, message + location(n.line, n.col) + (kind === 'coercion' ? '' : chain))
  }

  #mismatch(t: JType, n: Node): never {
    this.#fail('MismatchedInputException', `Cannot deserialize value of type \`${javaName(t)}\` from ${tokenName(n)}`, n)
  }

  #invalid(t: JType, n: Node, text: string, why: string): never {
    this.#fail('InvalidFormatException', `Cannot deserialize value of type \`${javaName(t)}\` from String "${text}": ${why}`, n)
  }

  /** The value of `n` as type `t`; undefined stands for Java null (the field keeps its default). */
  map(t: JType, n: Node): unknown {
    if (n.t === 'null') return undefined
    if (typeof t === 'string') return this.#scalar(t, n)
    if ('list' in t) {
      if (n.t !== 'arr') this.#mismatch(t, n)
      return n.items.map((item, i) => {
        this.#path.push(`java.util.ArrayList[${i}]`)
        try {
          return this.map(t.list, item) ?? null
        } finally {
          this.#path.pop()
        }
      })
    }
    if ('map' in t) {
      if (n.t !== 'obj') this.#mismatch(t, n)
      const out: Record<string, unknown> = {}
      for (const [k, v] of n.entries) {
        this.#path.push(`java.util.LinkedHashMap["${k}"]`)
        try {
          const x = this.map(t.map, v)
          out[k] = x === undefined ? null : x
        } finally {
          this.#path.pop()
        }
      }
      return out
    }
    return this.#object(t, n)
  }

  #object(c: JClass, n: Node): Record<string, unknown> {
    if (n.t === 'str' && n.v === '') this.#fail('InvalidFormatException', `Cannot coerce empty String ("") to \`${javaName(c)}\` value (but could if coercion was enabled using \`CoercionConfig\`)`, n)
    if (n.t === 'str') this.#fail('MismatchedInputException', `Cannot construct instance of \`${javaName(c)}\` (although at least one Creator exists): no String-argument constructor/factory method to deserialize from String value ('${n.v}')`, n)
    if (n.t === 'int' || n.t === 'float') this.#fail('MismatchedInputException', `Cannot construct instance of \`${javaName(c)}\` (although at least one Creator exists): no ${n.t === 'int' ? 'int/Int' : 'double/Double'}-argument constructor/factory method to deserialize from Number value (${n.text})`, n)
    if (n.t !== 'obj') this.#mismatch(c, n)
    const out: Record<string, unknown> = {}
    for (const [k, v] of n.entries) {
      const ft = c.fields[k]
      if (ft === undefined) {
        const known = Object.keys(c.fields)
        this.#path.push(`${javaName(c)}["${k}"]`)
        this.#fail(
          'UnrecognizedPropertyException',
          `Unrecognized field "${k}" (class ${javaName(c)}), not marked as ignorable (${known.length} known properties: ${known.map((x) => `"${x}"`).join(', ')}])`,
          v,
        )
      }
      this.#path.push(`${javaName(c)}["${k}"]`)
      try {
        const x = this.map(ft, v)
        if (x !== undefined) out[k] = x
        else delete out[k]
      } finally {
        this.#path.pop()
      }
    }
    // Primitive fields the JSON left out (or gave null) hold their Java default.
    const defaults: Record<string, unknown> = {}
    for (const [k, ft] of Object.entries(c.fields)) {
      if (out[k] !== undefined) continue
      const d = c.defaults?.[k]
      if (d !== undefined) defaults[k] = d
      else if (ft === 'int' || ft === 'long' || ft === 'double') defaults[k] = 0
      else if (ft === 'boolean') defaults[k] = false
    }
    return { ...defaults, ...out }
  }

  #scalar(t: Exclude<JType, object>, n: Node): unknown {
    switch (t) {
      case 'Object':
        return plain(n)
      case 'String':
        if (n.t === 'str') return n.v
        if (n.t === 'int' || n.t === 'float') return n.text
        if (n.t === 'bool') return String(n.v)
        return this.#mismatch(t, n)
      case 'Integer':
      case 'int':
      case 'Long':
      case 'long': {
        const long = t === 'Long' || t === 'long'
        const [min, max] = long ? [LONG_MIN, LONG_MAX] : [INT_MIN, INT_MAX]
        const range = long ? 'long (-9223372036854775808 - 9223372036854775807)' : 'int (-2147483648 - 2147483647)'
        if (n.t === 'int') {
          const v = BigInt(n.text)
          if (v < min || v > max) this.#fail('InputCoercionException', `Numeric value (${n.text}) out of range of ${range}`, n, 'coercion')
          return Number(v)
        }
        if (n.t === 'float') {
          // ACCEPT_FLOAT_AS_INT: the fraction is dropped.
          const v = Math.trunc(Number(n.text))
          if (!Number.isFinite(v) || BigInt(v) < min || BigInt(v) > max) this.#fail('InputCoercionException', `Numeric value (${n.text}) out of range of ${range}`, n, 'coercion')
          return v
        }
        if (n.t === 'str') {
          const text = n.v.trim()
          if (text === '' || text === 'null') return undefined
          if (!/^[+-]?[0-9]+$/.test(text)) this.#invalid(t, n, n.v, `not a valid \`${javaName(t)}\` value`)
          const v = BigInt(text)
          if (v < min || v > max) this.#invalid(t, n, n.v, `Overflow: numeric value (${text}) out of range of \`${javaName(t)}\` (${String(min)} - ${String(max)})`)
          return Number(v)
        }
        return this.#mismatch(t, n)
      }
      case 'Double':
      case 'double': {
        if (n.t === 'int' || n.t === 'float') return Number(n.text)
        if (n.t === 'str') {
          const text = n.v.trim()
          if (text === '' || text === 'null') return undefined
          if (text === 'NaN') return Number.NaN
          if (/^[+-]?Infinity$/.test(text)) return text.startsWith('-') ? -Infinity : Infinity
          if (!/^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?[dDfF]?$/.test(text)) this.#invalid(t, n, n.v, `not a valid \`${javaName(t)}\` value`)
          return Number(text.replace(/[dDfF]$/, ''))
        }
        return this.#mismatch(t, n)
      }
      case 'Boolean':
      case 'boolean': {
        if (n.t === 'bool') return n.v
        if (n.t === 'int') return BigInt(n.text) !== 0n
        if (n.t === 'str') {
          const text = n.v.trim()
          if (text === '' || text === 'null') return undefined
          if (text === 'true' || text === 'True' || text === 'TRUE') return true
          if (text === 'false' || text === 'False' || text === 'FALSE') return false
          this.#invalid(t, n, n.v, 'only "true" or "false" recognized')
        }
        if (n.t === 'float') this.#fail('InvalidFormatException', `Cannot coerce Floating-point value (${n.text}) to \`${javaName(t)}\` value`, n)
        return this.#mismatch(t, n)
      }
    }
  }
}

/** A parsed JSON value as a plain JavaScript value (java.lang.Object fields). */
function plain(n: Node): unknown {
  switch (n.t) {
    case 'obj':
      return Object.fromEntries(n.entries.map(([k, v]) => [k, plain(v)]))
    case 'arr':
      return n.items.map(plain)
    case 'str':
      return n.v
    case 'int':
    case 'float':
      return Number(n.text)
    case 'bool':
      return n.v
    case 'null':
      return null
  }
}

/**
 * Reads `text` as `objectMapper.readValue(text, type)` does. The result holds the fields the JSON
 * gave (coerced to their Java types) plus the non-null defaults of primitives; fields left at
 * Java null are absent. A top-level `null` gives undefined. Throws a JacksonError.
 */
export function readValue(text: string, type: JClass | { list: JClass }): unknown {
  const root = new Parser(text).root()
  if (root === undefined) {
    throw new JacksonError('mapping', 'MismatchedInputException', `No content to map due to end-of-input${location(1, 1)}`)
  }
  const m = new Mapper()
  if ('list' in type) {
    if (root.t !== 'arr') {
      throw new JacksonError('mapping', 'MismatchedInputException', `Cannot deserialize value of type \`${PKG}${type.list.name}[]\` from ${tokenName(root)}${location(root.line, root.col)}`)
    }
    return m.map(type, root)
  }
  return m.map(type, root)
}

/** The Java class name Jackson reports for a type (e.g. in error reports). */
export function javaTypeName(t: JType): string {
  return javaName(t)
}
