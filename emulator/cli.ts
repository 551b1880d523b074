/**
 * `linstor-virt emulator --listen HOST:PORT --cluster FILE.yaml --state DIR [--token T]
 * [--tls-cert FILE --tls-key FILE [--tls-ca FILE]] [--log-level LEVEL] [--version X.Y.Z]`
 *
 * Prints exactly one line, `listening on http://HOST:PORT`, on stdout when ready; logs go to
 * stderr. Runs until SIGTERM or SIGINT, then closes and returns 0.
 */
import fs from 'node:fs'
import { parseArgs } from 'node:util'
import type pino from 'pino'
import type { EmulatorOptions } from './index.js'
import { startEmulator } from './index.js'

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

function parseListen(v: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(v)
  if (m === null) throw new Error(`--listen must be HOST:PORT, got '${v}'`)
  const port = Number(m[3])
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid port in --listen '${v}'`)
  return { host: m[1] ?? m[2] ?? '127.0.0.1', port }
}

export async function run(args: string[]): Promise<number> {
  let values
  try {
    ;({ values } = parseArgs({
      args,
      options: {
        listen: { type: 'string', default: '127.0.0.1:3370' },
        cluster: { type: 'string' },
        state: { type: 'string' },
        token: { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'tls-ca': { type: 'string' },
        'log-level': { type: 'string', default: 'info' },
        version: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }))
  } catch (err) {
    process.stderr.write(`linstor-virt emulator: ${err instanceof Error ? err.message : String(err)}\n`)
    return 2
  }
  const level = values['log-level'] ?? 'info'
  if (!LEVELS.includes(level)) {
    process.stderr.write(`linstor-virt emulator: unknown --log-level '${level}'\n`)
    return 2
  }
  let options: EmulatorOptions
  try {
    options = { listen: parseListen(values.listen ?? '127.0.0.1:3370'), logLevel: level as pino.LevelWithSilent }
    if (values.cluster !== undefined) options.cluster = values.cluster
    if (values.state !== undefined) options.stateDir = values.state
    if (values.token !== undefined) options.token = values.token
    if (values.version !== undefined) options.version = values.version
    if (values['tls-cert'] !== undefined || values['tls-key'] !== undefined) {
      if (values['tls-cert'] === undefined || values['tls-key'] === undefined) throw new Error('--tls-cert and --tls-key go together')
      options.tls = { cert: fs.readFileSync(values['tls-cert']), key: fs.readFileSync(values['tls-key']) }
      if (values['tls-ca'] !== undefined) {
        options.tls.ca = fs.readFileSync(values['tls-ca'])
        options.tls.requestClientCert = true
      }
    }
  } catch (err) {
    process.stderr.write(`linstor-virt emulator: ${err instanceof Error ? err.message : String(err)}\n`)
    return 2
  }
  let emu
  try {
    emu = await startEmulator(options)
  } catch (err) {
    process.stderr.write(`linstor-virt emulator: ${err instanceof Error ? err.message : String(err)}\n`)
    return 1
  }
  process.stdout.write(`listening on ${emu.url}\n`)
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGTERM', stop)
      process.off('SIGINT', stop)
      resolve()
    }
    process.on('SIGTERM', stop)
    process.on('SIGINT', stop)
  })
  await emu.close()
  return 0
}
