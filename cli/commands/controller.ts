/**
 * `linstor-virt controller version [--controllers LIST] [--token-file F] [--ca-file F]
 *  [--cert-file F --key-file F] [--timeout-ms N] [--json]`
 * Asks the first reachable controller for its version: a quick check that the configuration
 * (controllers, TLS, token) works from this host.
 */
import { parseArgs } from 'node:util'
import { CONNECTION_OPTIONS, timeoutOf, withClient } from '../connection.js'
import { usageError } from '../usage.js'

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...CONNECTION_OPTIONS, json: { type: 'boolean', default: false } },
  })
  if (positionals[0] !== 'version') return usageError('controller', positionals[0] === undefined ? 'which subcommand? (version)' : `unknown subcommand '${positionals[0]}' (version)`)
  if (positionals.length > 1) return usageError('controller', `unexpected argument '${positionals[1] ?? ''}'`)
  const timeoutMs = timeoutOf(values, 10_000)
  if (timeoutMs === undefined) return 2
  return withClient(values, timeoutMs, async (client) => {
    const v = await client.controller.version()
    if (values.json) process.stdout.write(JSON.stringify(v) + '\n')
    else process.stdout.write(`LINSTOR ${v.version} (REST API ${v.rest_api_version})\n`)
    return 0
  })
}
