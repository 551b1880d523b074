/**
 * `linstor-virt status [--platform P] [--storage ID|--datastore ID|--backend NAME] [--vm ID] [--json]
 *  [--watch S] [--storage-cfg F] [--one-xml F] [--cinder-conf F] [connection options]`
 * The cluster as the sandbox shows it, for this host's platform storages: per storage, each volume
 * by its platform name beside its LINSTOR resource, its replicas by node with disk state and role,
 * open migration windows, snapshot count and what `doctor` would report; the controllers tried and
 * the one answering; and what could not be read. Reads only, takes no lock.
 * Exit 0: everything was read; 1: something could not be (the report says what); 2: usage.
 */
import { parseArgs } from 'node:util'
import { createLogger } from '../../core/log/index.js'
import { CONNECTION_OPTIONS, timeoutOf } from '../connection.js'
import { buildReport, renderText } from '../status/report.js'
import type { StatusReport } from '../status/report.js'
import { PLATFORMS, findSources } from '../status/sources.js'
import type { Platform, SourceOptions } from '../status/sources.js'
import { usageError } from '../usage.js'

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      platform: { type: 'string' },
      storage: { type: 'string' },
      datastore: { type: 'string', multiple: true },
      backend: { type: 'string' },
      vm: { type: 'string' },
      json: { type: 'boolean', default: false },
      watch: { type: 'string' },
      'storage-cfg': { type: 'string' },
      'one-xml': { type: 'string' },
      'cinder-conf': { type: 'string' },
      ...CONNECTION_OPTIONS,
    },
  })
  const platform = values.platform
  if (platform !== undefined && !(PLATFORMS as readonly string[]).includes(platform)) return usageError('status', `unknown platform '${platform}' (${PLATFORMS.join(', ')})`)
  const filters = [values.storage !== undefined ? 'proxmox' : undefined, values.datastore !== undefined ? 'opennebula' : undefined, values.backend !== undefined ? 'cinder' : undefined].filter((x) => x !== undefined)
  if (filters.length > 1) return usageError('status', '--storage, --datastore and --backend each name a storage of one platform: give one of them')
  if (platform !== undefined && filters[0] !== undefined && filters[0] !== platform) return usageError('status', `--${filters[0] === 'proxmox' ? 'storage' : filters[0] === 'opennebula' ? 'datastore' : 'backend'} names a ${filters[0]} storage, not a ${platform} one`)
  let watchS: number | undefined
  if (values.watch !== undefined) {
    watchS = Number(values.watch)
    if (!Number.isFinite(watchS) || watchS < 1 || watchS > 86_400) return usageError('status', `--watch: '${values.watch}' is not a number of seconds from 1 to 86400`)
  }
  const timeoutMs = timeoutOf(values, 10_000)
  if (timeoutMs === undefined) return 2
  const src: SourceOptions = {
    ...(platform !== undefined ? { platform: platform as Platform } : {}),
    ...(values.storage !== undefined ? { storage: values.storage } : {}),
    ...(values.datastore !== undefined ? { datastores: values.datastore } : {}),
    ...(values.backend !== undefined ? { backend: values.backend } : {}),
    ...(values['storage-cfg'] !== undefined ? { storageCfg: values['storage-cfg'] } : {}),
    ...(values['one-xml'] !== undefined ? { oneXml: values['one-xml'] } : {}),
    ...(values['cinder-conf'] !== undefined ? { cinderConf: values['cinder-conf'] } : {}),
  }
  const defaults = {
    ...(values.controllers !== undefined ? { controllers: values.controllers } : {}),
    ...(values['token-file'] !== undefined ? { tokenFile: values['token-file'] } : {}),
    ...(values['ca-file'] !== undefined ? { caFile: values['ca-file'] } : {}),
    ...(values['cert-file'] !== undefined ? { certFile: values['cert-file'] } : {}),
    ...(values['key-file'] !== undefined ? { keyFile: values['key-file'] } : {}),
  }
  const logger = createLogger({ name: 'linstor-virt', level: 'warn' })
  const once = async (): Promise<StatusReport> => buildReport(await findSources(src), { defaults, timeoutMs, ...(values.vm !== undefined ? { vm: values.vm } : {}), logger })
  const show = (r: StatusReport): void => {
    process.stdout.write(values.json ? JSON.stringify(r) + '\n' : renderText(r))
  }
  if (watchS === undefined) {
    const r = await once()
    show(r)
    return r.unread.length === 0 ? 0 : 1
  }
  // --watch: a report every S seconds (a JSON line each with --json; the screen redrawn on a terminal) until SIGINT/SIGTERM.
  let stop = false
  let wake: (() => void) | undefined
  const onSignal = (): void => {
    stop = true
    wake?.()
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  let last = 0
  while (!stop) {
    const r = await once()
    if (!values.json && process.stdout.isTTY) process.stdout.write('\x1b[H\x1b[2J')
    show(r)
    last = r.unread.length === 0 ? 0 : 1
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, (watchS ?? 1) * 1000)
      wake = () => {
        clearTimeout(t)
        resolve()
      }
      if (stop) wake()
    })
  }
  return last
}
