/**
 * Shared pieces of the property tests (test/property/*.test.ts): run parameters with a fixed seed
 * (so `npm test` is reproducible; a failure prints the seed and the shrunk counterexample), the
 * check that a thrown error is one of the project's own with a catalogue code and a plain message,
 * and arbitraries for the hostile values platforms and operators can hand in.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { ERROR_CATALOGUE, isPluginError } from '../../core/errors/index.js'
import type { ErrorCode, PluginError } from '../../core/errors/index.js'
import type { CallReply, CallServices, Dispatcher } from '../../core/protocol/index.js'
import { withinDeadline } from '../helpers/bounds.js'

/** fast-check parameters: one fixed seed per property (override per call when two would share one). */
export function runs(numRuns: number, seed = 42): { seed: number; numRuns: number; includeErrorInReport: boolean } {
  return { seed, numRuns, includeErrorInReport: true }
}

/** Any value as text for assertion messages (also null-prototype objects, symbols, -0). */
export const show = (v: unknown): string => fc.stringify(v)

/** A stack frame as V8 prints it ("at fn (file.js:12:3)" / "at file.js:12:3"). */
const STACK_FRAME = /\n\s*at .*:\d+:\d+\)?/
/** The name of a raw JavaScript error at the start of a message. */
const RAW_ERROR = /^(?:TypeError|RangeError|ReferenceError|SyntaxError|Error):/

/** Asserts a message is fit for an operator: non-empty, no stack frames, no raw JS error name. */
export function assertPlainMessage(message: string, context: string): void {
  assert.ok(message.trim() !== '', `${context}: empty message`)
  assert.ok(!STACK_FRAME.test(message), `${context}: stack trace in the message: ${message}`)
  assert.ok(!RAW_ERROR.test(message), `${context}: raw JavaScript error: ${message}`)
  assert.ok(!/Cannot read propert|is not a function|is not iterable|Maximum call stack/i.test(message), `${context}: a TypeError's text: ${message}`)
}

/** Asserts `err` is a PluginError with a catalogue code other than INTERNAL_ERROR and a plain message. */
export function assertProjectError(err: unknown, context = 'error'): asserts err is PluginError {
  if (!isPluginError(err)) {
    const shown = err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err)
    assert.fail(`${context}: not a PluginError: ${shown}`)
  }
  assert.ok(Object.hasOwn(ERROR_CATALOGUE, err.code), `${context}: code ${err.code} is not in the catalogue`)
  assert.notEqual(err.code, 'INTERNAL_ERROR', `${context}: INTERNAL_ERROR (a bug): ${err.message}`)
  assertPlainMessage(err.message, context)
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: PluginError }

/** Runs `fn`: its value, or the project error it threw (anything else fails the property). */
export function outcome<T>(fn: () => T, context = 'call'): Outcome<T> {
  try {
    return { ok: true, value: fn() }
  } catch (err) {
    assertProjectError(err, context)
    return { ok: false, error: err }
  }
}

/** Asserts `fn` throws a project error with `code` whose message contains every one of `names`. */
export function assertRefused(fn: () => unknown, code: ErrorCode, names: readonly string[], context = 'call'): PluginError {
  const o = outcome(fn, context)
  assert.ok(!o.ok, `${context}: accepted, expected ${code}`)
  assert.equal(o.error.code, code, `${context}: ${o.error.code} (${o.error.message}), expected ${code}`)
  for (const n of names) assert.ok(o.error.message.includes(n), `${context}: the message does not name ${JSON.stringify(n)}: ${o.error.message}`)
  return o.error
}

/** Asserts a protocol reply is a result, or an error with a catalogue code (not INTERNAL_ERROR) and a plain message. */
export function assertCleanReply(reply: CallReply, context: string): void {
  assert.equal(reply.v, 1, `${context}: reply without v:1: ${JSON.stringify(reply)}`)
  if ('result' in reply) return
  assert.ok('error' in reply, `${context}: neither result nor error: ${JSON.stringify(reply)}`)
  const e = reply.error
  assert.ok(Object.hasOwn(ERROR_CATALOGUE, e.code), `${context}: code ${e.code} is not in the catalogue`)
  assert.notEqual(e.code, 'INTERNAL_ERROR', `${context}: INTERNAL_ERROR (a bug): ${e.message}`)
  assert.equal(typeof e.message, 'string')
  assertPlainMessage(e.message, context)
  assert.ok(typeof e.details === 'object' && e.details !== null, `${context}: details is not an object`)
}

/** Dispatches `request` (a hang past its own deadline, `deadlineMs`, plus the margin fails) and checks the reply is clean. */
export async function dispatchClean(d: Dispatcher, services: CallServices, request: unknown, context: string, deadlineMs = 60_000): Promise<CallReply> {
  const reply = await withinDeadline(d.dispatch(request, services), deadlineMs, context)
  assertCleanReply(reply, context)
  assert.doesNotThrow(() => JSON.stringify(reply), `${context}: the reply cannot be sent as JSON`)
  return reply
}

/** Asserts a reply is an error with `code` whose message names each of `names`. */
export function assertErrorReply(reply: CallReply, code: string, names: readonly string[], context: string): void {
  assert.ok('error' in reply, `${context}: expected ${code}, got a result: ${JSON.stringify(reply)}`)
  assert.equal(reply.error.code, code, `${context}: ${reply.error.code} (${reply.error.message}), expected ${code}`)
  for (const n of names) assert.ok(reply.error.message.includes(n), `${context}: the message does not name ${JSON.stringify(n)}: ${reply.error.message}`)
}

/** A hang is a failed property: rejects when `p` has not settled by its own deadline plus the margin. */
export const within = withinDeadline

// ------------------------------------------------------------------------------- arbitraries

/** Strings chosen to break parsers, shells, paths and messages. */
export const HOSTILE_STRINGS: readonly string[] = [
  '', ' ', '\t', '\n', '\r\n', '\0', 'a\0b', '-', '--', '-rf', '.', '..', '../../etc/passwd', '/', '//', '/etc/shadow',
  '$(reboot)', '`id`', '; rm -rf /', '| cat', '&&', "'", '"', '\\', '%s%n', '{node}', '${x}', '<', '>', '<![CDATA[', ']]>',
  '&amp;', '&#0;', 'null', 'undefined', 'NaN', 'Infinity', '-Infinity', '0', '-0', '-1', '1e309', '0x10', '1_000',
  '9007199254740993', '99999999999999999999999', '18446744073709551616', ' 1 ', '1 ', '+1', '1.0', '1,5',
  '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty',
  'é', 'ß', 'İ', 'ﬁ', '\u200b', '\u202e', '\ufeff', '\ud800', '😀', 'x'.repeat(300), 'A'.repeat(49),
]

/** Any string: printable ASCII, any code unit, or one of the hostile ones. */
export const anyString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
)

/** Numbers that are not plain whole counts, and some that are (the edges). */
export const oddNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(0, -0, -1, 1, NaN, Infinity, -Infinity, 0.5, -0.5, 1.5, 2 ** 31, 2 ** 32, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, 2 ** 63, 2 ** 64, 1e300, Number.MIN_VALUE, Number.EPSILON),
  fc.integer(),
  fc.double(),
)

/** Any JSON-ish value, shallow (the wrong-type half of most properties). */
export const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 2, arbitrary: anyString },
  { weight: 2, arbitrary: oddNumber },
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.array(fc.oneof(anyString, fc.integer(), fc.boolean()), { maxLength: 4 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(anyString, fc.integer()), { maxKeys: 3 }),
  fc.jsonValue({ maxDepth: 2 }),
)

/** A value that is not a string (for string-typed settings and arguments). */
export const nonString: fc.Arbitrary<unknown> = fc.oneof(
  oddNumber.filter((n) => !Number.isNaN(n)),
  fc.boolean(),
  fc.array(fc.string({ maxLength: 5 }), { minLength: 1, maxLength: 3 }),
  fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), fc.string({ maxLength: 5 }), { minKeys: 1, maxKeys: 3 }),
)

/** Whole numbers too large for a double to hold exactly, and beyond 2^63. */
export const absurdlyLarge: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(2 ** 53, 2 ** 63, 2 ** 64, 1e21, 1e300, Number.MAX_VALUE),
  fc.double({ min: 2 ** 53, max: 1e300, noNaN: true }),
)

/** A random object whose keys come from `keys` (some missing) and from random names, values of any type. */
export function looseRecord(keys: readonly string[]): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .tuple(
      fc.subarray([...keys]),
      fc.array(anyValue, { minLength: keys.length, maxLength: keys.length }),
      fc.dictionary(fc.string({ maxLength: 10 }), anyValue, { maxKeys: 2 }),
    )
    .map(([chosen, values, extra]) => {
      const out: Record<string, unknown> = { ...extra }
      chosen.forEach((k, i) => {
        out[k] = values[i]
      })
      return out
    })
}

/** Strings of `chars` with a length spread evenly over min..max (fast-check's defaults keep strings short). */
export function stringOf(chars: string, minLength: number, maxLength: number): fc.Arbitrary<string> {
  const unit = fc.constantFrom(...chars)
  return fc.integer({ min: minLength, max: maxLength }).chain((n) => fc.string({ unit, minLength: n, maxLength: n }))
}

export const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
export const DIGITS = '0123456789'

/** Valid LINSTOR resource names (2-48 characters, a letter among them). */
export const linstorName: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom(...`${LETTERS}_`), stringOf(`${LETTERS}${DIGITS}_-`, 1, 47))
  .map(([a, b]) => a + b)
  .filter((s) => /[A-Za-z]/.test(s))
