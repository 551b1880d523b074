/**
 * The tables of operators' mistakes and the exact messages they get (one per platform, in
 * test/integration/operator-words-*.test.ts) are also the error lists of docs/<platform>.md: this
 * renders a table as markdown and checks the doc holds exactly that between its markers, so the two
 * cannot drift. LINSTOR_VIRT_WRITE_DOCS=1 writes the rendered table into the doc instead.
 */
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot } from './paths.js'

/** One mistake an operator makes, where it shows, and the exact text they read. */
export interface WordsCase {
  /** The mistake, in the operator's terms (what they wrote). */
  mistake: string
  /** Where the message appears (the action, or "warning on ..."). */
  when: string
  /** The exact text, lines separated by \n. */
  message: string
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').split('\n').map((l) => `\`${l.replace(/`/g, "'")}\``).join('<br>')
}

export function docsTable(cases: readonly WordsCase[]): string {
  const rows = cases.map((c) => `| ${c.mistake.replace(/\|/g, '\\|')} | ${c.when} | ${cell(c.message)} |`)
  return ['| mistake | when | what the operator reads |', '|---|---|---|', ...rows].join('\n')
}

const BEGIN = '<!-- operator-messages: generated from the table in test/integration/operator-words-'
const END = '<!-- operator-messages: end -->'

/** Asserts docs/<doc> holds docsTable(cases) between its markers (or writes it there with LINSTOR_VIRT_WRITE_DOCS=1). */
export function checkDocsTable(doc: string, platform: string, cases: readonly WordsCase[]): void {
  const path = join(repoRoot(), 'docs', doc)
  const text = readFileSync(path, 'utf8')
  const begin = `${BEGIN}${platform}.test.ts; edit it there -->`
  const start = text.indexOf(begin)
  const end = text.indexOf(END)
  assert.ok(start >= 0 && end > start, `docs/${doc} lacks the markers "${begin}" ... "${END}"`)
  const want = `${begin}\n${docsTable(cases)}\n${END}`
  const have = text.slice(start, end + END.length)
  if (have !== want && process.env['LINSTOR_VIRT_WRITE_DOCS'] === '1') {
    writeFileSync(path, text.slice(0, start) + want + text.slice(end + END.length))
    return
  }
  assert.equal(have, want, `docs/${doc}: the error table differs from the test's table (LINSTOR_VIRT_WRITE_DOCS=1 npm test -- operator-words writes it)`)
}
