/**
 * OpenNebula's XML documents (DS_DRIVER_ACTION_DATA, `onevm show -x`, `onedatastore show -x`) read
 * with a real XML parser, configured so that every element is a list (an element that happens to
 * occur once is not a different shape from one that occurs twice: DISK, SNAPSHOT, ID, ...) and every
 * value stays a string (`<ID>007</ID>` is "007"; oned's CDATA and plain text read the same). Empty
 * elements (`<X/>`, `<X></X>`, `<X><![CDATA[]]></X>`) are all "".
 */
import { XMLParser } from 'fast-xml-parser'
import { PluginError } from '../../core/errors/index.js'

type Raw = Record<string, unknown>

const TEXT = '#text'

const parser = new XMLParser({
  ignoreAttributes: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  parseTagValue: false,
  trimValues: true,
  isArray: () => true,
  textNodeName: TEXT,
  // The five XML entities are decoded (stat's IMAGE/PATH is entity-escaped, not CDATA); DOCTYPE
  // entities, which oned never sends, stay within the parser's default expansion limits.
  processEntities: true,
})

/** One element: its text and its child elements by name, in document order. */
export class XmlElement {
  readonly name: string
  readonly #raw: unknown

  constructor(name: string, raw: unknown) {
    this.name = name
    this.#raw = raw
  }

  /** The element's own text ('' when it has none). */
  get text(): string {
    const r = this.#raw
    if (typeof r === 'string') return r
    if (typeof r === 'number' || typeof r === 'boolean') return String(r)
    if (typeof r === 'object' && r !== null) {
      const t = (r as Raw)[TEXT]
      if (Array.isArray(t)) return t.map((x) => (typeof x === 'string' ? x : '')).join('')
      if (typeof t === 'string') return t
    }
    return ''
  }

  /** Every child element named `name`, in order. */
  children(name: string): XmlElement[] {
    const r = this.#raw
    if (typeof r !== 'object' || r === null) return []
    const list = (r as Raw)[name]
    if (!Array.isArray(list)) return []
    return list.map((x) => new XmlElement(name, x))
  }

  /** The names of the child elements (each once, in first-seen order). */
  childNames(): string[] {
    const r = this.#raw
    if (typeof r !== 'object' || r === null) return []
    return Object.keys(r).filter((k) => k !== TEXT)
  }

  /** Every element at a slash path below this one ('TEMPLATE/DISK'). */
  all(path: string): XmlElement[] {
    let here: XmlElement[] = [this]
    for (const step of path.split('/')) here = here.flatMap((e) => e.children(step))
    return here
  }

  /** The first element at a path, or undefined. */
  first(path: string): XmlElement | undefined {
    return this.all(path)[0]
  }

  /** Text of the first element at a path; undefined when there is no such element. */
  get(path: string): string | undefined {
    return this.first(path)?.text
  }

  /** Text at a path, undefined when missing or empty. */
  value(path: string): string | undefined {
    const v = this.get(path)
    return v === undefined || v === '' ? undefined : v
  }

  /** The element's TEMPLATE-style children as a flat name → text map (first occurrence wins). */
  attributes(): Record<string, string> {
    const out: Record<string, string> = {}
    for (const n of this.childNames()) {
      const first = this.children(n)[0]
      if (first !== undefined && first.childNames().length === 0) out[n] = first.text
    }
    return out
  }
}

/** Parses a document and returns its root element; `expect` names the root it must have. */
export function parseXml(text: string, expect?: string): XmlElement {
  let doc: Raw
  try {
    doc = parser.parse(text, true) as Raw
  } catch (err) {
    // The parser's first line, cut short: for a deep unclosed document it lists every open tag.
    const why = (err instanceof Error ? err.message.split('\n')[0] ?? '' : String(err)).replace(/\s+/g, ' ')
    throw new PluginError('ONE_DOCUMENT_INVALID', `not a well-formed XML document: ${why.length > 200 ? `${why.slice(0, 200)}...` : why}`)
  }
  const roots = Object.keys(doc).filter((k) => !k.startsWith('?') && !k.startsWith('!'))
  const name = roots[0]
  if (name === undefined || roots.length !== 1) throw new PluginError('ONE_DOCUMENT_INVALID', 'the XML document has no single root element')
  if (expect !== undefined && name !== expect) throw new PluginError('ONE_DOCUMENT_INVALID', `expected a <${expect}> document, got <${name}>`)
  const list = doc[name]
  return new XmlElement(name, Array.isArray(list) ? list[0] : list)
}

/** Decodes base64 (as oned sends documents: one line, maybe with a trailing newline) and parses it. */
export function parseBase64Xml(b64: string, expect?: string): XmlElement {
  const clean = b64.replace(/\s+/g, '')
  if (clean === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(clean)) throw new PluginError('ONE_DOCUMENT_INVALID', 'the driver action data is not base64')
  return parseXml(Buffer.from(clean, 'base64').toString('utf8'), expect)
}

/** A document as oned passes it: plain XML (backups) or base64 of it (DS actions, migrate stdin). */
export function parseDocument(text: string, expect?: string): XmlElement {
  const t = text.trim()
  return t.startsWith('<') ? parseXml(t, expect) : parseBase64Xml(t, expect)
}
