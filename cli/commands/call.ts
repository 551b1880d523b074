/**
 * `linstor-virt call --stdin`: one request of the call protocol on stdin, one reply on stdout, in a
 * fresh process. The shims use it when the agent's socket is missing or refuses, so a stopped
 * agent never stops the storage. The reply (result or error) is always a single JSON line and the
 * exit code 0; exit 2 means the command line itself was wrong.
 */
import { writeSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { createLogger, flushLogs } from '../../core/log/index.js'
import { MAX_REQUEST_BYTES, ServiceRegistry, toCallError } from '../../core/protocol/index.js'
import { PluginError } from '../../core/errors/index.js'
import type { CallReply } from '../../core/protocol/index.js'
import { buildDispatcher } from '../dispatcher.js'
import { commandUsage, isUsageError, usageError, wantsHelp } from '../usage.js'

/**
 * How long the one-shot waits for its whole request on stdin (the shims write it at once and close
 * stdin): a caller that never closes it gets CALL_INVALID instead of a process that waits forever.
 * LINSTOR_VIRT_STDIN_DEADLINE_MS may shorten it (tests) or lengthen it, up to a minute.
 */
export const STDIN_DEADLINE_MS = 10_000

function stdinDeadlineMs(): number {
  const v = Number(process.env['LINSTOR_VIRT_STDIN_DEADLINE_MS'])
  return Number.isInteger(v) && v > 0 && v <= 60_000 ? v : STDIN_DEADLINE_MS
}

async function readStdin(limit: number, deadlineMs = stdinDeadlineMs()): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  const stdin = process.stdin
  return new Promise<string>((resolve, reject) => {
    const done = (err: Error | undefined, text?: string): void => {
      clearTimeout(timer)
      stdin.off('data', onData)
      stdin.off('end', onEnd)
      stdin.off('error', onError)
      if (err !== undefined) {
        stdin.pause()
        reject(err)
      } else resolve(text ?? '')
    }
    const onData = (b: Buffer): void => {
      size += b.length
      if (size > limit) return done(new PluginError('CALL_INVALID', `the request is larger than ${limit} bytes`))
      chunks.push(b)
    }
    const onEnd = (): void => done(undefined, Buffer.concat(chunks).toString('utf8'))
    const onError = (e: Error): void => done(new PluginError('CALL_INVALID', `stdin could not be read: ${e.message}`))
    const timer = setTimeout(() => done(new PluginError('CALL_INVALID', `no complete request on stdin within ${deadlineMs} ms (stdin must be closed after the request)`)), deadlineMs)
    stdin.on('data', onData)
    stdin.once('end', onEnd)
    stdin.once('error', onError)
  })
}

/** Writes all of `text` to stdout through fd 1, waiting out a non-blocking pipe that is full. */
function writeStdout(text: string): void {
  const buf = Buffer.from(text, 'utf8')
  let off = 0
  while (off < buf.length) {
    try {
      off += writeSync(1, buf, off, buf.length - off)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5)
    }
  }
}

/**
 * Parses and runs one request text; never throws (every failure is an error reply). `startedAt`
 * (epoch ms): when the call began for the platform; a process run for this one call passes its own
 * start (performance.timeOrigin), so its start-up counts against the call's deadline.
 */
export async function callOnce(text: string, options: { startedAt?: number } = {}): Promise<CallReply> {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return { v: 1, error: { code: 'CALL_INVALID', message: 'the request is not valid JSON', details: {} } }
  }
  const services = new ServiceRegistry(false)
  try {
    return await buildDispatcher(createLogger({ name: 'linstor-virt' })).dispatch(raw, services, options)
  } finally {
    services.close()
  }
}

export async function run(args: string[]): Promise<number> {
  // `call` runs from the one-shot bundle (cli/bin.cjs), not through cli/main.ts: help and wrong
  // options are answered here.
  if (wantsHelp(args)) {
    process.stdout.write(commandUsage('call'))
    return 0
  }
  let stdin: boolean | undefined
  try {
    stdin = parseArgs({ args, options: { stdin: { type: 'boolean' } } }).values.stdin
  } catch (err) {
    if (isUsageError(err)) return usageError('call', err.message)
    throw err
  }
  if (stdin !== true) return usageError('call', 'the request comes on stdin: --stdin is required')
  let reply: CallReply
  try {
    reply = await callOnce(await readStdin(MAX_REQUEST_BYTES), { startedAt: performance.timeOrigin })
  } catch (err) {
    reply = { v: 1, error: toCallError(err) }
  }
  // The reply is final: leave at once, without waiting for requests the deadline abandoned
  // (a black-holing controller would otherwise hold the process for its connect timeouts).
  // Lines logged during the call are written first (pino is loaded only when one was).
  await flushLogs()
  try {
    writeStdout(JSON.stringify(reply) + '\n')
  } catch {
    // the shim stopped reading: nothing left to tell it
  }
  process.exit(0)
}
