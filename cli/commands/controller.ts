/**
 * `linstor-virt controller version [--controllers LIST] [--token-file F] [--ca-file F]
 *  [--cert-file F --key-file F] [--timeout-ms N] [--json]`
 * Asks the first reachable controller for its version: a quick check that the configuration
 * (controllers, TLS, token) works from this host.
 */
import { parseArgs } from 'node:util'
import { CONNECTION_OPTIONS, CONNECTION_USAGE, timeoutOf, withClient } from '../connection.js'

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...CONNECTION_OPTIONS, json: { type: 'boolean', default: false } },
  })
  if (positionals[0] !== 'version' || positionals.length !== 1) {
    process.stderr.write(`usage: linstor-virt controller version ${CONNECTION_USAGE} [--json]\n`)
    return 2
  }
  const timeoutMs = timeoutOf(values, 10_000)
  if (timeoutMs === undefined) return 2
  return withClient(values, timeoutMs, async (client) => {
    const v = await client.controller.version()
    if (values.json) process.stdout.write(JSON.stringify(v) + '\n')
    else process.stdout.write(`LINSTOR ${v.version} (REST API ${v.rest_api_version})\n`)
    return 0
  })
}
