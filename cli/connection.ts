/**
 * The controller connection options every controller-facing subcommand accepts, and the client
 * built from them: --controllers, --token-file, --ca-file, --cert-file/--key-file, --timeout-ms.
 */
import { createLinstorClient } from '../core/linstor/index.js'
import type { LinstorClient, LinstorClientOptions } from '../core/linstor/index.js'
import { isPluginError } from '../core/errors/index.js'
import { createLogger } from '../core/log/index.js'
import type { Logger } from '../core/log/index.js'

export const CONNECTION_OPTIONS = {
  controllers: { type: 'string' },
  'token-file': { type: 'string' },
  'ca-file': { type: 'string' },
  'cert-file': { type: 'string' },
  'key-file': { type: 'string' },
  'timeout-ms': { type: 'string' },
} as const

export { CONNECTION_USAGE } from './usage.js'

export type ConnectionValues = Partial<Record<keyof typeof CONNECTION_OPTIONS, string>>

/** The deadline from --timeout-ms (or the default); undefined, after a message on stderr, when invalid. */
export function timeoutOf(values: ConnectionValues, dflt: number): number | undefined {
  const ms = values['timeout-ms'] === undefined ? dflt : Number(values['timeout-ms'])
  if (Number.isInteger(ms) && ms > 0) return ms
  process.stderr.write(`linstor-virt: --timeout-ms: '${values['timeout-ms'] ?? ''}' is not a positive whole number of milliseconds\n`)
  return undefined
}

export function clientOf(values: ConnectionValues, timeoutMs: number, logger: Logger): LinstorClient {
  const tls: NonNullable<LinstorClientOptions['tls']> = {}
  if (values['ca-file'] !== undefined) tls.caFile = values['ca-file']
  if (values['cert-file'] !== undefined) tls.certFile = values['cert-file']
  if (values['key-file'] !== undefined) tls.keyFile = values['key-file']
  return createLinstorClient({
    ...(values.controllers === undefined ? {} : { controllers: values.controllers }),
    ...(values['token-file'] === undefined ? {} : { tokenFile: values['token-file'] }),
    ...(Object.keys(tls).length === 0 ? {} : { tls }),
    timeoutMs,
    logger,
  })
}

/**
 * Runs a subcommand's work with a client from the connection options, closes the client after,
 * and turns linstor-virt's own errors into one `linstor-virt: ...` line on stderr and exit code 1.
 */
export async function withClient(values: ConnectionValues, timeoutMs: number, work: (client: LinstorClient, logger: Logger) => Promise<number>): Promise<number> {
  try {
    const logger = createLogger({ name: 'linstor-virt' })
    const client = clientOf(values, timeoutMs, logger)
    try {
      return await work(client, logger)
    } finally {
      client.close()
    }
  } catch (e) {
    if (!isPluginError(e)) throw e
    process.stderr.write(`linstor-virt: ${e.message}\n`)
    return 1
  }
}
