/**
 * The operations every platform shares, registered as platform "core": a health ping that needs
 * no controller, capacity for a policy (status-type: answers within 2 s, from the last known value
 * when the controller does not answer in time), attach / detach / info of a resource, and
 * settle_pending (what starts and stops left pending while no controller answered). Adapters
 * use `storageOf(ctx)` to reach the same Storage (and, in the agent, its connections and caches).
 */
import { PluginError } from '../errors/index.js'
import type { Storage } from '../storage/index.js'
import type { CallContext, Operation } from './dispatcher.js'
import type { StatusAnswer } from './status.js'
import type { StorageOfOptions } from './storage-of.js'

/** The call's Storage, loading the LINSTOR client and the core only when an operation needs them. */
export async function storageOf(ctx: CallContext, options?: StorageOfOptions): Promise<Storage> {
  return (await import('./storage-of.js')).storageOf(ctx, options)
}

/**
 * A status-type answer within the call's time: fresh, else the storage's last known one marked
 * stale (kept across one-shot calls), else nothing (see status.ts). Loaded on first use, like storageOf.
 */
export async function statusAnswer<T>(ctx: CallContext, storage: Storage, name: string, fetch: () => Promise<T>): Promise<StatusAnswer<T>> {
  return (await import('./status.js')).statusAnswer(ctx, storage, name, fetch)
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

function drTargetArg(args: Readonly<Record<string, unknown>>): { node?: string; site?: string; siteKey?: string; storagePool?: string } {
  const out: { node?: string; site?: string; siteKey?: string; storagePool?: string } = {}
  for (const k of ['node', 'site', 'siteKey', 'storagePool'] as const) {
    const v = args[k]
    if (v === undefined) continue
    if (typeof v !== 'string' || v === '') throw new PluginError('CALL_INVALID', `arguments.${k}: must be a non-empty string`)
    out[k] = v
  }
  if ((out.node === undefined) === (out.site === undefined)) throw new PluginError('CALL_INVALID', 'arguments: name the disaster-recovery node (node) or its site (site), one of the two')
  return out
}

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
        const maxAgeMs = typeof args['maxAgeMs'] === 'number' && args['maxAgeMs'] >= 0 ? { maxAgeMs: args['maxAgeMs'] } : {}
        // Within the 2 s: the controller's answer, else the last known one (also across one-shot calls), else the error.
        const a = await statusAnswer(ctx, storage, `capacity:${JSON.stringify(policy)}`, () => storage.capacity(policy, maxAgeMs))
        if (a.value === undefined) throw a.error
        return { ...a.value, stale: a.stale }
      },
    },
    // The agent's sweep (and anyone) settles what starts and stops left pending while no controller answered.
    settle_pending: {
      async run(_args, ctx) {
        const r = await (await storageOf(ctx)).settlePending()
        return {
          settled: r.settled.map((x) => ({ resource: x.resource, node: x.node, intent: x.intent })),
          left: r.left.map((x) => ({ resource: x.record.resource, node: x.record.node, intent: x.record.intent, ...(x.error !== undefined ? { error: x.error } : {}) })),
        }
      },
    },
    // By LINSTOR name: the resource spelled exactly so, whichever platform's volume it is.
    info: { run: async (args, ctx) => (await (await storageOf(ctx)).resource(resourceArg(args), { byLinstorName: true }).info()) ?? null },
    attach: { run: async (args, ctx) => (await storageOf(ctx)).resource(resourceArg(args), { byLinstorName: true }).attach(nodeArg(args)) },
    detach: { run: async (args, ctx) => (await storageOf(ctx)).resource(resourceArg(args), { byLinstorName: true }).detach(nodeArg(args)) },
    // A disaster-recovery replica behind DRBD Proxy: arguments.node, or arguments.site (+ siteKey).
    drAdd: { run: async (args, ctx) => (await storageOf(ctx)).resource(resourceArg(args), { byLinstorName: true }).addDrReplica(drTargetArg(args)) },
    drRemove: {
      run: async (args, ctx) => {
        const node = args['node']
        if (node !== undefined && (typeof node !== 'string' || node === '')) throw new PluginError('CALL_INVALID', 'arguments.node: must be a node name when given')
        return (await (await storageOf(ctx)).resource(resourceArg(args), { byLinstorName: true }).removeDrReplica(node)) ?? null
      },
    },
  }
}
