/**
 * `linstor-virt controller version [--controllers LIST] [--token-file F] [--ca-file F]
 *  [--cert-file F --key-file F] [--timeout-ms N] [--json]`
 * Asks the first reachable controller for its version: a quick check that the configuration
 * (controllers, TLS, token) works from this host.
 */
import { parseArgs } from 'node:util'
import { isPluginError } from '../../core/errors/index.js'
import { createLinstorClient } from '../../core/linstor/index.js'
import type { LinstorClientOptions } from '../../core/linstor/index.js'
import { createLogger } from '../../core/log/index.js'

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      controllers: { type: 'string' },
      'token-file': { type: 'string' },
      'ca-file': { type: 'string' },
      'cert-file': { type: 'string' },
      'key-file': { type: 'string' },
      'timeout-ms': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  })
  if (positionals[0] !== 'version' || positionals.length !== 1) {
    process.stderr.write('usage: linstor-virt controller version [--controllers LIST] [--token-file F] [--ca-file F] [--cert-file F --key-file F] [--timeout-ms N] [--json]\n')
    return 2
  }
  const timeoutMs = values['timeout-ms'] === undefined ? 10_000 : Number(values['timeout-ms'])
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    process.stderr.write(`linstor-virt: --timeout-ms: '${values['timeout-ms'] ?? ''}' is not a positive whole number of milliseconds\n`)
    return 2
  }
  const tls: NonNullable<LinstorClientOptions['tls']> = {}
  if (values['ca-file'] !== undefined) tls.caFile = values['ca-file']
  if (values['cert-file'] !== undefined) tls.certFile = values['cert-file']
  if (values['key-file'] !== undefined) tls.keyFile = values['key-file']
  try {
    const client = createLinstorClient({
      ...(values.controllers === undefined ? {} : { controllers: values.controllers }),
      ...(values['token-file'] === undefined ? {} : { tokenFile: values['token-file'] }),
      ...(Object.keys(tls).length === 0 ? {} : { tls }),
      timeoutMs,
      logger: createLogger({ name: 'linstor-virt' }),
    })
    try {
      const v = await client.controller.version()
      if (values.json) process.stdout.write(JSON.stringify(v) + '\n')
      else process.stdout.write(`LINSTOR ${v.version} (REST API ${v.rest_api_version})\n`)
      return 0
    } finally {
      client.close()
    }
  } catch (e) {
    if (!isPluginError(e)) throw e
    process.stderr.write(`linstor-virt: ${e.message}\n`)
    return 1
  }
}
