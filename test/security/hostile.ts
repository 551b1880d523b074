/**
 * What the hostile-name tests share: the hostile words, the outcome rule (success, or a refusal
 * with a catalogued project error), and the checks over a recording (no shell, remote command lines
 * that are plain data for the shell, every path under the roots, the canary untouched).
 */
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { basename, resolve } from 'node:path'
import { ERROR_CATALOGUE } from '../../core/errors/index.js'
import type { CallReply } from '../../core/protocol/index.js'
import { isShell, isUnder, pathsOutside } from './observe.js'
import type { ChildRecord, PathRecord, Recording } from './observe.js'
import { splitCommandLine } from './shell-words.js'

/**
 * Words that mean something to a shell or to a path, each a would-be attack when read as syntax:
 * a command that touches a file in `canary` if it ever runs, a climb out of a directory, quotes
 * that would end quoting, a newline, spaces. Every one is also plain text a name could hold.
 */
export function hostileWords(canary: string): string[] {
  return [
    `a;touch ${canary}/semicolon;b`,
    `$(touch ${canary}/dollar-paren)`,
    `\`touch ${canary}/backtick\``,
    `'; touch ${canary}/single-quote; '`,
    `"; touch ${canary}/double-quote; "`,
    `x\ntouch ${canary}/newline`,
    `../../../../../../../../../..${canary}/dotdot`,
    `a b  c`,
    `)(`,
    `/`,
    `..`,
  ]
}

/**
 * One directory-name-sized word holding the same at once (no '/'): its commands touch files in the
 * current directory, so a test that uses it runs with the canary as its working directory.
 */
export const HOSTILE_SEGMENT = `d ;$(touch seg1)\`touch seg2\`'"\n..x y`

/** The reply succeeded, or refused with a catalogued error that is not INTERNAL_ERROR. */
export function successOrRefusal(reply: CallReply, what: string): 'ok' | 'refused' {
  if (!('error' in reply)) return 'ok'
  const { code, message } = reply.error
  assert.ok(code in ERROR_CATALOGUE, `${what}: ${code} is not a catalogued error code (${message})`)
  assert.notEqual(code, 'INTERNAL_ERROR', `${what}: an internal error is no clear refusal: ${message}`)
  return 'refused'
}

export function refused(reply: CallReply, what: string, code?: string): string {
  assert.ok('error' in reply, `${what}: should be refused, got ${JSON.stringify((reply as { result?: unknown }).result)}`)
  successOrRefusal(reply, what)
  if (code !== undefined) assert.equal(reply.error.code, code, `${what}: ${reply.error.message}`)
  return reply.error.message
}

export function succeeded<T = Record<string, unknown>>(reply: CallReply, what: string): T {
  if ('error' in reply) assert.fail(`${what}: ${reply.error.code} ${reply.error.message}`)
  return reply.result as T
}

/** Programs the OpenNebula driver may run on a host over ssh. */
export const REMOTE_PROGRAMS = new Set(['mkdir', 'ln', 'rm', 'dd', 'tar', 'mkfs', 'mkswap', 'qemu-img', 'md5sum', 'test'])

/** `of=/path` and `if=/path` carry a path after the prefix. */
function pathIn(word: string): string | undefined {
  const w = /^(?:of|if)=(.*)$/s.exec(word)?.[1] ?? word
  return w.startsWith('/') ? w : undefined
}

/** An absolute path with no '.' or '..' step, under one of `roots` (double slashes folded). */
export function assertPlainPathUnder(path: string, roots: readonly string[], what: string): void {
  const steps = path.split('/')
  assert.ok(!steps.includes('..') && !steps.slice(1).includes('.'), `${what}: ${JSON.stringify(path)} climbs with '.' or '..'`)
  assert.ok(isUnder(path.replace(/\/{2,}/g, '/'), roots), `${what}: ${JSON.stringify(path)} is outside ${roots.join(', ')}`)
}

export interface RemoteCommand {
  host: string
  line: string
  commands: string[][]
}

/**
 * An ssh child: OpenSSH options, then '--', a checked host and exactly one command line, which must
 * read as plain words (every hostile character inside single quotes). Returns it split.
 */
export function remoteCommandOf(c: ChildRecord): RemoteCommand {
  const dd = c.args.indexOf('--')
  assert.ok(dd >= 0, `ssh without '--' before the host: ${JSON.stringify(c.args)}`)
  const rest = c.args.slice(dd + 1)
  assert.equal(rest.length, 2, `ssh gets the host and one command line: ${JSON.stringify(rest)}`)
  const [host, line] = rest as [string, string]
  assert.match(host, /^[A-Za-z0-9_][A-Za-z0-9._-]*$/, 'the host is a plain host name')
  return { host, line, commands: splitCommandLine(line) }
}

export interface RecordingRules {
  /** Where the code may create, write, remove and link, and read. */
  roots: readonly string[]
  /** Where it may also read (code, fixed configuration files). */
  readRoots?: readonly string[]
  /** Paths it may only look at (realpath/stat/exists), e.g. the path of a refused image source. */
  statOnly?: readonly string[]
  /** For commands run on hosts: where their path arguments may point. */
  remoteRoots?: readonly string[]
  /** Local programs allowed (by basename or full path); anything else fails the check. */
  programs: readonly string[]
  /** Programs whose argv is forwarded as the platform gave it (not checked for paths). */
  verbatim?: readonly string[]
  /** The folder hostile words would touch files in: must stay empty. */
  canary: string
}

const STAT_OPS = /^(?:promises\.)?(?:realpath|stat|lstat|access|exists)(?:Sync)?$/

/** Checks a recording against the rules; returns the remote commands seen (ssh children). */
export function checkRecording(rec: Recording, rules: RecordingRules, what: string): RemoteCommand[] {
  const remote: RemoteCommand[] = []
  for (const c of rec.children) {
    const name = basename(c.file)
    assert.ok(!isShell(c.file), `${what}: a shell was started: ${c.file} ${JSON.stringify(c.args)}`)
    assert.ok(rules.programs.includes(name) || rules.programs.includes(c.file), `${what}: unexpected program ${c.file} ${JSON.stringify(c.args)}`)
    if (name === 'ssh') {
      const r = remoteCommandOf(c)
      for (const words of r.commands) {
        assert.ok(REMOTE_PROGRAMS.has(words[0] ?? ''), `${what}: unexpected remote program in ${JSON.stringify(r.line)}`)
        for (const w of words) {
          const p = pathIn(w)
          if (p !== undefined) assertPlainPathUnder(p, rules.remoteRoots ?? [], `${what}: remote ${words[0]} on ${r.host}`)
        }
      }
      remote.push(r)
      continue
    }
    if (rules.verbatim?.includes(c.file) === true) continue
    for (const a of c.args) {
      // A file the code opened itself and hands the child as its fd (qemu-img reads an image held
      // open through /proc/self/fd/N): the open is in rec.paths, checked against the roots below.
      if (/^\/proc\/self\/fd\/[0-9]+$/.test(a)) continue
      if (a.startsWith('/')) assert.ok(isUnder(a, [...rules.roots, ...(rules.readRoots ?? [])]), `${what}: ${c.file} got the path ${JSON.stringify(a)} outside the roots`)
    }
  }
  const statOnly = new Set((rules.statOnly ?? []).map((p) => resolve(p)))
  // Reading the link of one of its own fds tells the code which file it holds open (not a path outside).
  const ownFd = (p: PathRecord): boolean => /^(?:promises\.)?readlink(?:Sync)?$/.test(p.op) && /^\/proc\/self\/fd\/[0-9]+$/.test(p.path)
  const outside = pathsOutside(rec.paths, rules.roots, rules.readRoots ?? []).filter((p: PathRecord) => !(STAT_OPS.test(p.op) && statOnly.has(resolve(p.path))) && !ownFd(p))
  assert.deepEqual(outside.map((p) => `${p.op} ${p.path}`), [], `${what}: paths outside the roots`)
  assert.deepEqual(readdirSync(rules.canary), [], `${what}: something ran that a hostile name spelled`)
  return remote
}
