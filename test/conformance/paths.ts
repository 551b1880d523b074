// Path-template matching for the conformance checker.
//
// OpenAPI path templates such as `/v1/nodes/{node}/storage-pools/{storagepool}` are split into
// segments; a `{name}` segment matches any single non-empty segment, every other segment must match
// literally. When several templates match one concrete path, the one with a literal segment at the
// first position where they differ wins (so `/v1/nodes/properties/info` beats `/v1/nodes/{node}`
// for the path `/v1/nodes/properties/info`), which is also how the controller's JAX-RS router ranks
// them. The method is checked only afterwards, against the winning template.

export interface TemplateSegment {
  readonly literal: string | undefined
  readonly param: string | undefined
}

export interface CompiledTemplate {
  readonly template: string
  readonly segments: readonly TemplateSegment[]
}

const PARAM_SEGMENT = /^\{([^{}]+)\}$/

export function compileTemplate(template: string): CompiledTemplate {
  const segments = splitPath(template).map((part): TemplateSegment => {
    const m = PARAM_SEGMENT.exec(part)
    return m ? { literal: undefined, param: m[1] } : { literal: part, param: undefined }
  })
  return { template, segments }
}

/** Splits `/a/b/c` into `['a', 'b', 'c']`; an empty path or `/` gives `[]`. Keeps empty inner segments. */
export function splitPath(path: string): string[] {
  const trimmed = path.startsWith('/') ? path.slice(1) : path
  return trimmed === '' ? [] : trimmed.split('/')
}

export interface TemplateMatch {
  readonly template: CompiledTemplate
  /** raw (still percent-encoded) path parameter values by name */
  readonly params: ReadonlyMap<string, string>
}

export class PathIndex {
  readonly #bySegmentCount = new Map<number, CompiledTemplate[]>()

  constructor(templates: Iterable<string>) {
    for (const t of templates) {
      const compiled = compileTemplate(t)
      const n = compiled.segments.length
      let list = this.#bySegmentCount.get(n)
      if (!list) {
        list = []
        this.#bySegmentCount.set(n, list)
      }
      list.push(compiled)
    }
    // Literal-first ordering: compare segment by segment, a literal ranks before a parameter.
    for (const list of this.#bySegmentCount.values()) list.sort(compareSpecificity)
  }

  /** The most specific template matching `path` (no query string), or undefined. */
  match(path: string): TemplateMatch | undefined {
    const parts = splitPath(path)
    const candidates = this.#bySegmentCount.get(parts.length)
    if (!candidates) return undefined
    for (const candidate of candidates) {
      const params = matchSegments(candidate, parts)
      if (params) return { template: candidate, params }
    }
    return undefined
  }
}

function matchSegments(t: CompiledTemplate, parts: readonly string[]): Map<string, string> | undefined {
  const params = new Map<string, string>()
  for (let i = 0; i < t.segments.length; i++) {
    const seg = t.segments[i]
    const part = parts[i]
    if (seg === undefined || part === undefined) return undefined
    if (seg.param !== undefined) {
      if (part === '') return undefined
      params.set(seg.param, part)
    } else if (seg.literal !== part) {
      return undefined
    }
  }
  return params
}

function compareSpecificity(a: CompiledTemplate, b: CompiledTemplate): number {
  const n = Math.min(a.segments.length, b.segments.length)
  for (let i = 0; i < n; i++) {
    const aLit = a.segments[i]?.literal !== undefined
    const bLit = b.segments[i]?.literal !== undefined
    if (aLit !== bLit) return aLit ? -1 : 1
  }
  return a.template < b.template ? -1 : a.template > b.template ? 1 : 0
}
