/**
 * The operations every platform shares, registered as platform "core": a health ping that needs
 * no controller, capacity for a policy (status-type: answers within 2 s, from the last known value
 * when the controller does not answer in time), and attach / detach / info of a resource. Adapters
 * use `storageOf(ctx)` to reach the same Storage (and, in the agent, its connections and caches).
 */
import { ConfigError, PluginError } from '../errors/index.js'
import { createLinstorClient } from '../linstor/index.js'
import { parsePlacementPolicy } from '../placement/index.js'
import { createStorage } from '../storage/index.js'
import type { Storage } from '../storage/index.js'
import type { CallContext, Operation } from './dispatcher.js'

declare const __LINSTOR_VIRT_VERSION__: string | undefined

function version(): string {
  return typeof __LINSTOR_VIRT_VERSION__ === 'string' ? __LINSTOR_VIRT_VERSION__ : 'dev'
}

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

function resourceArg(args: Readonly<Record<string, unknown>>): string {
  const r = args['resource']
  if (typeof r !== 'string' || r === '') throw new PluginError('CALL_INVALID', 'arguments.resource: must be a resource name')
  return r
}

function nodeArg(args: Readonly<Record<string, unknown>>): string {
  const n = args['node']
  if (typeof n !== 'string' || n === '') throw new PluginError('CALL_INVALID', 'arguments.node: must be a node name')
  return n
}

/** Last capacity answers per policy, for status calls whose controller does not answer in time. */
const LAST_CAPACITY = 'capacity:last'

export function coreOperations(): Record<string, Operation> {
  return {
    ping: {
      kind: 'status',
      run: (_args, ctx) => Promise.resolve({ pong: true, version: version(), pid: process.pid, agent: ctx.services.longLived }),
    },
    capacity: {
      kind: 'status',
      async run(args, ctx) {
        const policy = parsePlacementPolicy(args['policy'] ?? {})
        const storage = storageOf(ctx)
        const last = ctx.services.shared(LAST_CAPACITY, () => new Map<string, unknown>())
        const key = JSON.stringify(policy)
        try {
          // Leave a little of the 2 s for the reply: a slow controller yields the last known answer.
          const maxAgeMs = typeof args['maxAgeMs'] === 'number' && args['maxAgeMs'] >= 0 ? { maxAgeMs: args['maxAgeMs'] } : {}
          const cap = await withTimeout(storage.capacity(policy, maxAgeMs), Math.max(50, ctx.remainingMs() - 150))
          last.set(key, cap)
          return { ...cap, stale: false }
        } catch (err) {
          const known = last.get(key)
          if (known !== undefined) {
            ctx.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'capacity from the last known answer')
            return { ...(known as object), stale: true }
          }
          throw err
        }
      },
    },
    info: { run: async (args, ctx) => (await storageOf(ctx).resource(resourceArg(args)).info()) ?? null },
    attach: { run: (args, ctx) => storageOf(ctx).resource(resourceArg(args)).attach(nodeArg(args)) },
    detach: { run: (args, ctx) => storageOf(ctx).resource(resourceArg(args)).detach(nodeArg(args)) },
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new PluginError('CALL_DEADLINE', `no answer within ${ms} ms`)), ms)
  })
  return Promise.race([p, t]).finally(() => clearTimeout(timer))
}
