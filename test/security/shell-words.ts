/**
 * Reads a command line meant for a remote POSIX shell (what the OpenNebula driver hands ssh)
 * without running any shell: an independent check of plugins/opennebula/remote.ts's quoting.
 *
 * Only what a POSIX shell reads literally is accepted: words of the plain characters
 * [A-Za-z0-9_./:@%+,-], single-quoted text (nothing is special inside single quotes), a backslash
 * before a single quote (how a quote is written inside quoted text: 'it'\''s'), single spaces
 * between words, and ' && ' between commands. Anything else outside quotes (; $ ( ) ` " | & < >
 * newline tab * ? [ ~ # = { } !, a backslash before anything but a quote, an unterminated quote)
 * is reported with its position: in a real shell it would be syntax, not data.
 */

const PLAIN = /[A-Za-z0-9_./:@%+,-]/

export class UnquotedError extends Error {}

/** The commands of `line`, each as its list of words exactly as the shell would pass them. */
export function splitCommandLine(line: string): string[][] {
  const commands: string[][] = []
  let words: string[] = []
  let word: string | undefined
  const fail = (i: number, why: string): never => {
    throw new UnquotedError(`${why} at ${i} in ${JSON.stringify(line)}`)
  }
  let i = 0
  while (i < line.length) {
    const ch = line[i] as string
    if (ch === ' ') {
      if (word === undefined) fail(i, 'two spaces in a row (or a leading space)')
      words.push(word as string)
      word = undefined
      i++
      continue
    }
    if (ch === '&' && word === undefined && line.startsWith('&& ', i)) {
      if (words.length === 0) fail(i, "'&&' without a command before it")
      commands.push(words)
      words = []
      i += 3
      continue
    }
    if (ch === "'") {
      const end = line.indexOf("'", i + 1)
      if (end < 0) fail(i, 'unterminated single quote')
      word = (word ?? '') + line.slice(i + 1, end)
      i = end + 1
      continue
    }
    if (ch === '\\') {
      if (line[i + 1] !== "'") fail(i, 'a backslash before something other than a single quote')
      word = (word ?? '') + "'"
      i += 2
      continue
    }
    if (!PLAIN.test(ch)) fail(i, `unquoted ${JSON.stringify(ch)}`)
    word = (word ?? '') + ch
    i++
  }
  if (word === undefined) fail(line.length, 'a trailing space or an empty command line')
  words.push(word as string)
  commands.push(words)
  return commands
}
