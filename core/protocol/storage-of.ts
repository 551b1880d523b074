/**
 * The Storage behind a call: built from the call's config, and shared by every call with the same
 * config for the life of the transport's services (the agent keeps connections and caches). Loaded
 * lazily by the operations that need LINSTOR, so a call that does not (ping) never loads the client.
 */
import { ConfigError } from '../errors/index.js'
import { createLinstorClient } from '../linstor/index.js'
import { createStorage } from '../storage/index.js'
import type { Storage } from '../storage/index.js'
import type { CallContext } from './dispatcher.js'

function str(v: unknown, setting: string, required = true): string | undefined {
  if (v === undefined && !required) return undefined
  if (typeof v !== 'string' || v === '') throw new ConfigError([{ setting, problem: 'must be a non-empty string' }])
  return v
}

/**
 * The Storage for a call's config (`controllers`, `tokenFile`, `localNode`, `lockDir`,
 * `deviceRoot`, `controllerVolumes`), shared by every call with the same config in the agent.
 */
export function storageOf(ctx: CallContext): Storage {
  const c = ctx.config
  const key = 'storage:' + JSON.stringify(c, Object.keys(c).sort())
  return ctx.services.shared(
    key,
    () => {
      const controllers = c['controllers']
      const deviceRoot = str(c['deviceRoot'], 'deviceRoot', false)
      const localNode = str(c['localNode'], 'localNode', false)
      const lockDir = str(c['lockDir'], 'lockDir', false)
      const tokenFile = str(c['tokenFile'], 'tokenFile', false)
      const volumes = c['controllerVolumes']
      if (volumes !== undefined && !(Array.isArray(volumes) && volumes.every((v) => typeof v === 'string'))) {
        throw new ConfigError([{ setting: 'controllerVolumes', problem: 'must be a list of resource names' }])
      }
      const client = createLinstorClient({
        ...(typeof controllers === 'string' || Array.isArray(controllers) ? { controllers: controllers as string | string[] } : {}),
        ...(tokenFile !== undefined ? { tokenFile } : {}),
        keepAlive: ctx.services.longLived,
        logger: ctx.logger,
      })
      return createStorage({
        client,
        logger: ctx.logger,
        ...(localNode !== undefined ? { localNode } : {}),
        ...(lockDir !== undefined ? { lockDir } : {}),
        ...(deviceRoot !== undefined ? { deviceRoot: (node: string) => (localNode === undefined || node.toLowerCase() === localNode.toLowerCase() ? deviceRoot : undefined) } : {}),
        ...(volumes !== undefined ? { controllerVm: { resources: volumes } } : {}),
      })
    },
    (s) => s.client.close(),
  )
}
