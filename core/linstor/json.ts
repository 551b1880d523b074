/**
 * Lossless reading of LINSTOR JSON. ret_code values and diskless pool capacities exceed 2^53, and
 * plain JSON.parse rounds them (destroying the 15 code bits of a ret_code). Integers that are not
 * safe JS numbers are turned into decimal strings before parsing; the narrowing layer turns the
 * fields it knows (ret_code, capacities) into bigint or number. Strings are left untouched.
 */

// One token at a time: a JSON string (skipped as-is) or a number literal.
const TOKEN = /"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g
// 16 digits is the shortest integer that can be unsafe; documents without such a run take the fast path.
const LONG_DIGITS = /\d{16}/

export function parseLinstorJson(text: string): unknown {
  if (!LONG_DIGITS.test(text)) return JSON.parse(text)
  const quoted = text.replace(TOKEN, (token) => {
    if (token.charCodeAt(0) === 0x22 /* " */) return token
    if (token.includes('.') || token.includes('e') || token.includes('E')) return token
    return Number.isSafeInteger(Number(token)) ? token : `"${token}"`
  })
  return JSON.parse(quoted)
}

/** Writes a request body; bigint values become exact integer literals (JSON.stringify refuses them). */
export function stringifyLinstorJson(value: unknown): string {
  const marks: string[] = []
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v !== 'bigint') return v
    marks.push(v.toString())
    return `\u0000bigint${marks.length - 1}\u0000`
  })
  if (marks.length === 0) return text
  return text.replace(/"\\u0000bigint(\d+)\\u0000"/g, (_m, i: string) => marks[Number(i)] ?? '0')
}
