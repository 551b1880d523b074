/**
 * Where a benchmark's CPU goes when the emulator and linstor-virt share one Node process: V8's
 * sampling profiler (node:inspector, in this process) runs while `body` runs, and each sample is
 * given to the first of these found on its stack, innermost frame first:
 *
 *   emulator:     a frame of build/emulator/ (the controller's stand-in);
 *   linstor-virt: a frame of build/core/, build/plugins/ or build/cli/ (adapter, core, agent);
 *   harness:      a frame of build/bench/ or build/test/ (the callers);
 *   other:        none of them: Node's own work that no frame of ours is on the stack of (HTTP
 *                 parsing of both sides' sockets, timers, garbage collection), and program time.
 *
 * Idle samples are not CPU. The process's CPU time (process.cpuUsage, every thread) is split by the
 * shares of the other samples. "other" is shared: linstor-virt's part of it is between nothing and all.
 */
import { Session } from 'node:inspector/promises'

export interface CpuSplit {
  /** The process's CPU time (ms) split by the shares of the non-idle samples. */
  emulatorMs: number
  linstorVirtMs: number
  harnessMs: number
  otherMs: number
  /** process.cpuUsage() over the same time (user + system, all threads), ms. */
  processMs: number
}

interface ProfileNode {
  id: number
  callFrame: { url: string; functionName: string }
  children?: number[]
}

interface Profile {
  nodes: ProfileNode[]
  samples?: number[]
  timeDeltas?: number[]
}

type Owner = 'emulator' | 'linstorVirt' | 'harness' | 'other' | 'idle'

function ownerOfUrl(url: string): Owner | undefined {
  if (url.includes('/build/emulator/')) return 'emulator'
  if (url.includes('/build/core/') || url.includes('/build/plugins/') || url.includes('/build/cli/')) return 'linstorVirt'
  if (url.includes('/build/bench/') || url.includes('/build/test/')) return 'harness'
  return undefined
}

/** Each node's owner: its own frame's, else its caller's (the innermost frame of ours decides). */
function owners(profile: Profile): Map<number, Owner> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const out = new Map<number, Owner>()
  const resolve = (id: number): Owner => {
    const known = out.get(id)
    if (known !== undefined) return known
    const chain: number[] = []
    let cur: number | undefined = id
    let found: Owner = 'other'
    while (cur !== undefined) {
      const done = out.get(cur)
      if (done !== undefined) {
        found = done
        break
      }
      const node = byId.get(cur)
      if (node?.callFrame.functionName === '(idle)') {
        found = 'idle'
        chain.push(cur)
        break
      }
      const own = node === undefined ? undefined : ownerOfUrl(node.callFrame.url)
      chain.push(cur)
      if (own !== undefined) {
        found = own
        break
      }
      cur = parent.get(cur)
    }
    // Nodes between the sample and the frame that decided take its owner.
    for (const c of chain) out.set(c, found)
    return found
  }
  for (const n of profile.nodes) resolve(n.id)
  return out
}

export async function profileCpu<T>(body: () => Promise<T>, intervalUs = 500): Promise<[T, CpuSplit]> {
  const session = new Session()
  session.connect()
  try {
    await session.post('Profiler.enable')
    await session.post('Profiler.setSamplingInterval', { interval: intervalUs })
    await session.post('Profiler.start')
    const cpu0 = process.cpuUsage()
    let result: { ok: true; value: T } | { ok: false; error: unknown }
    try {
      result = { ok: true, value: await body() }
    } catch (error) {
      result = { ok: false, error }
    }
    const cpu = process.cpuUsage(cpu0)
    const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: Profile }
    if (!result.ok) throw result.error
    const out = result.value
    const own = owners(profile)
    const processMs = (cpu.user + cpu.system) / 1000
    const w = { emulator: 0, linstorVirt: 0, harness: 0, other: 0 }
    const samples = profile.samples ?? []
    const deltas = profile.timeDeltas ?? []
    // A sample stands for the gap to the next one (the last one's: the interval). Those gaps are
    // wall time of this thread, descheduled time included on a busy machine: they give the shares,
    // and the process's CPU time is split by them.
    for (let i = 0; i < samples.length; i++) {
      const o = own.get(samples[i] as number) ?? 'other'
      if (o !== 'idle') w[o] += deltas[i + 1] ?? intervalUs
    }
    const busy = w.emulator + w.linstorVirt + w.harness + w.other
    const part = (x: number): number => (busy === 0 ? 0 : (processMs * x) / busy)
    const split: CpuSplit = { emulatorMs: part(w.emulator), linstorVirtMs: part(w.linstorVirt), harnessMs: part(w.harness), otherMs: part(w.other), processMs }
    return [out, split]
  } finally {
    await session.post('Profiler.disable').catch(() => undefined)
    session.disconnect()
  }
}
