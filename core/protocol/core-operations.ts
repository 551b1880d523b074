/**
 * The operations every platform shares, registered as platform "core": a health ping that needs
 * no controller, capacity for a policy (status-type: answers within 2 s, from the last known value
 * when the controller does not answer in time), and attach / detach / info of a resource. Adapters
 * use `storageOf(ctx)` to reach the same Storage (and, in the agent, its connections and caches).
 */
import { PluginError } from '../errors/index.js'
import type { Storage } from '../storage/index.js'
import { withDeadline } from './dispatcher.js'
import type { CallContext, Operation } from './dispatcher.js'
import type { StorageOfOptions } from './storage-of.js'

/** The call's Storage, loading the LINSTOR client and the core only when an operation needs them. */
export async function storageOf(ctx: CallContext, options?: StorageOfOptions): Promise<Storage> {
  return (await import('./storage-of.js')).storageOf(ctx, options)
}

declare const __LINSTOR_VIRT_VERSION__: string | undefined

function version(): string {
  return typeof __LINSTOR_VIRT_VERSION__ === 'string' ? __LINSTOR_VIRT_VERSION__ : 'dev'
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
        const { parsePlacementPolicy } = await import('../placement/index.js')
        const policy = parsePlacementPolicy(args['policy'] ?? {})
        const storage = await storageOf(ctx)
        const last = ctx.services.shared(LAST_CAPACITY, () => new Map<string, unknown>())
        const key = JSON.stringify(policy)
        try {
          // Leave a little of the 2 s for the reply: a slow controller yields the last known answer.
          const budget = Math.max(50, ctx.remainingMs() - 150)
          const maxAgeMs = typeof args['maxAgeMs'] === 'number' && args['maxAgeMs'] >= 0 ? { maxAgeMs: args['maxAgeMs'] } : {}
          const cap = await withDeadline(storage.capacity(policy, maxAgeMs), budget, () => new PluginError('CALL_DEADLINE', `no capacity answer within ${budget} ms`))
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
    // By LINSTOR name: the resource spelled exactly so, whichever platform's volume it is.
    info: { run: async (args, ctx) => (await (await storageOf(ctx)).resource(resourceArg(args), { byLinstorName: true }).info()) ?? null },
    attach: { run: async (args, ctx) => (await storageOf(ctx)).resource(resourceArg(args), { byLinstorName: true }).attach(nodeArg(args)) },
    detach: { run: async (args, ctx) => (await storageOf(ctx)).resource(resourceArg(args), { byLinstorName: true }).detach(nodeArg(args)) },
  }
}
