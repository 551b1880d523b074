/**
 * `linstor-virt call --stdin`: one request of the call protocol on stdin, one reply on stdout, in a
 * fresh process. The shims use it when the agent's socket is missing or refuses, so a stopped
 * agent never stops the storage. The reply (result or error) is always a single JSON line and the
 * exit code 0; exit 2 means the command line itself was wrong.
 */
import { readFileSync, writeSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { createLogger, flushLogs } from '../../core/log/index.js'
import { MAX_REQUEST_BYTES, ServiceRegistry, toCallError } from '../../core/protocol/index.js'
import { PluginError } from '../../core/errors/index.js'
import type { CallReply } from '../../core/protocol/index.js'
import { buildDispatcher } from '../dispatcher.js'
import { commandUsage, isUsageError, usageError, wantsHelp } from '../usage.js'

async function readStdin(limit: number): Promise<string> {
  // A pipe from the shim: read it from fd 0 directly (process.stdin would set up a stream first);
  // a non-blocking fd 0 falls back to the stream.
  try {
    const b = readFileSync(0)
    if (b.length > limit) throw new PluginError('CALL_INVALID', `the request is larger than ${limit} bytes`)
    return b.toString('utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK') throw err
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of process.stdin) {
    const b = chunk as Buffer
    size += b.length
    if (size > limit) throw new PluginError('CALL_INVALID', `the request is larger than ${limit} bytes`)
    chunks.push(b)
  }
  return Buffer.concat(chunks).toString('utf8')
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
