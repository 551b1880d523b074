/**
 * Storms (issue 9): many VMs start at once across a cluster of hypervisors, then many live
 * migrations run at once, then every VM stops, all through the path Proxmox uses: the agent's
 * socket with the requests the Perl shim sends (config.node = the calling host), the Proxmox
 * adapter, the core, the emulator. QEMU opening and closing a disk is the emulator's
 * control.open/close (DRBD Primary/Secondary).
 *
 *   attach:         every VM's host activate_volume (round-robin over the hosts, so some hold a
 *                   replica, some a tie-breaker, most none and get a diskless client), then opens it;
 *   live migration: for each migrating VM, as qemu-server does: the target activate_volume while the
 *                   source runs (begins the migration: dual-primary for that pair), the target opens,
 *                   the source closes, the source deactivate_volume (completes it);
 *   detach:         every VM closes its disk and its host deactivate_volume.
 *
 * Reported per phase: wall time, platform calls/s, REST calls/s (the emulator's counters, reset
 * between phases), failures (rejected calls, refused opens, wrong device paths: must be 0), and per
 * operation min/p50/p99/max latency; at the end the leftovers in the emulator's state (diskless
 * clients, allow-two-primaries, Primary roles, migration records: must be 0). The disks are made
 * before the timed part (alloc_image, one at a time as under PVE's storage lock) and not measured.
 *
 * Usage: node build/bench/storm.bench.js [--vms 100] [--hosts 8] [--migrations 50] [--svg FILE] [--json FILE]
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { callAgent } from '../cli/agent/client.js'
import { startAgent } from '../cli/agent/server.js'
import { buildDispatcher } from '../cli/dispatcher.js'
import { ALLOW_TWO_PRIMARIES, AUX_MIGRATION } from '../core/lifecycle/index.js'
import { silentLogger } from '../core/log/index.js'
import { startEmulator } from '../emulator/index.js'
import type { EmulatorState, RunningEmulator } from '../emulator/index.js'
import { latencyChartSvg } from './chart.js'
import { profileCpu } from './cpu-profile.js'
import type { CpuSplit } from './cpu-profile.js'
import type { LatencySeries } from './chart.js'
import { percentile, round } from './stats.js'

export interface StormOptions {
  vms?: number
  hosts?: number
  migrations?: number
  /** Called before each phase starts (tests inject faults through it to see failures counted). */
  onPhase?: (phase: StormPhase['phase'], emu: RunningEmulator) => void
  /** Profile each phase's CPU (V8's sampling profiler, in this process; default true). */
  cpu?: boolean
}

/** What the calling host held of the volume just before the phase began. */
export type HostHeld = 'replica' | 'tie-breaker' | 'client' | 'nothing'

export interface StormOperation {
  phase: string
  operation: string
  /** Calls made (successful or not). */
  calls: number
  failures: number
  minMs: number
  p50Ms: number
  p99Ms: number
  maxMs: number
  /** How many calls found each kind of replica on the calling host. */
  held: Record<HostHeld, number>
}

export interface StormPhase {
  phase: 'attach' | 'live migration' | 'detach'
  /** Platform calls made in the phase (activate_volume / deactivate_volume). */
  operations: number
  wallS: number
  callsPerS: number
  restCalls: number
  restCallsPerS: number
  /** Rejected calls, refused opens and wrong device paths. */
  failures: number
  /** The distinct failure messages (at most 5), for the report. */
  errors: string[]
  ops: StormOperation[]
  /** Where the phase's CPU went (cpu-profile.ts), when profiled. */
  cpu?: CpuSplit
}

export interface StormLeftovers {
  /** "resource@node" of diskless clients (not tie-breakers) still present. */
  disklessClients: string[]
  /** Where allow-two-primaries is still set: "resource" (definition) or "resource:nodeA-nodeB". */
  allowTwoPrimaries: string[]
  /** "resource@node" still Primary. */
  primaries: string[]
  /** Resources still carrying a migration record. */
  migrationRecords: string[]
  total: number
}

export interface StormResult {
  vms: number
  hosts: number
  migrations: number
  /** Creating the disks (not part of the storm). */
  setupS: number
  phases: StormPhase[]
  leftovers: StormLeftovers
  /** Sum of the phases' failures. */
  failures: number
}

const GIB_KIB = 1024 * 1024

function sameNode(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase()
}

/** What `host` holds of `rsc` in the emulator's state. */
function heldOn(state: EmulatorState, rsc: string, host: string): HostHeld {
  const rd = Object.values(state.resourceDefinitions).find((d) => sameNode(d.name, rsc))
  const r = rd === undefined ? undefined : Object.values(rd.resources).find((x) => sameNode(x.node, host))
  if (r === undefined) return 'nothing'
  return r.kind === 'diskful' ? 'replica' : r.kind === 'tiebreaker' ? 'tie-breaker' : 'client'
}

export function stormLeftovers(state: EmulatorState): StormLeftovers {
  const out: StormLeftovers = { disklessClients: [], allowTwoPrimaries: [], primaries: [], migrationRecords: [], total: 0 }
  for (const rd of Object.values(state.resourceDefinitions)) {
    for (const r of Object.values(rd.resources)) {
      if (r.kind === 'diskless') out.disklessClients.push(`${rd.name}@${r.node}`)
      if (r.role === 'Primary') out.primaries.push(`${rd.name}@${r.node}`)
    }
    if (rd.props[ALLOW_TWO_PRIMARIES] !== undefined) out.allowTwoPrimaries.push(rd.name)
    for (const c of Object.values(rd.connections)) if (c.props[ALLOW_TWO_PRIMARIES] !== undefined) out.allowTwoPrimaries.push(`${rd.name}:${c.nodeA}-${c.nodeB}`)
    if (rd.props[AUX_MIGRATION] !== undefined) out.migrationRecords.push(rd.name)
  }
  out.total = out.disklessClients.length + out.allowTwoPrimaries.length + out.primaries.length + out.migrationRecords.length
  return out
}

/** Latencies and outcomes of one phase, per operation name. */
class PhaseRecorder {
  readonly #samples = new Map<string, number[]>()
  readonly #failures = new Map<string, number>()
  readonly #held = new Map<string, Record<HostHeld, number>>()
  readonly errors = new Set<string>()
  failures = 0
  readonly phase: StormPhase['phase']

  constructor(phase: StormPhase['phase']) {
    this.phase = phase
  }

  #op(operation: string): void {
    if (!this.#samples.has(operation)) {
      this.#samples.set(operation, [])
      this.#failures.set(operation, 0)
      this.#held.set(operation, { replica: 0, 'tie-breaker': 0, client: 0, nothing: 0 })
    }
  }

  sample(operation: string, ms: number, held: HostHeld): void {
    this.#op(operation)
    this.#samples.get(operation)?.push(ms)
    const h = this.#held.get(operation)
    if (h !== undefined) h[held]++
  }

  fail(operation: string, message: string): void {
    this.#op(operation)
    this.#failures.set(operation, (this.#failures.get(operation) ?? 0) + 1)
    this.failures++
    this.errors.add(`${operation}: ${message}`)
  }

  calls(): number {
    let n = 0
    for (const xs of this.#samples.values()) n += xs.length
    return n
  }

  ops(): StormOperation[] {
    return [...this.#samples.entries()].map(([operation, xs]) => ({
      phase: this.phase,
      operation,
      calls: xs.length,
      failures: this.#failures.get(operation) ?? 0,
      minMs: round(xs.length === 0 ? 0 : Math.min(...xs)),
      p50Ms: round(percentile(xs, 50)),
      p99Ms: round(percentile(xs, 99)),
      maxMs: round(xs.length === 0 ? 0 : Math.max(...xs)),
      held: this.#held.get(operation) ?? { replica: 0, 'tie-breaker': 0, client: 0, nothing: 0 },
    }))
  }
}

interface Cluster {
  emu: RunningEmulator
  socketPath: string
  dir: string
  hosts: string[]
}

/** The request the Perl shim sends for `method` on PVE node `host`. */
function shimRequest(c: Cluster, host: string, operation: string, args: Record<string, unknown>): unknown {
  return {
    v: 1,
    platform: 'proxmox',
    operation,
    deadlineMs: 60_000,
    arguments: args,
    config: {
      storeid: 'drbdstore',
      node: host,
      scfg: { 'linstor-controllers': c.emu.url, 'linstor-resource-group': 'pve', content: 'images,rootdir' },
      deviceRoot: c.emu.deviceRoot(host),
      lockDir: join(c.dir, 'locks'),
    },
  }
}

/** One shim call; resolves to [ms, result] or rejects with the error reply's message. */
async function shimCall(c: Cluster, host: string, operation: string, args: Record<string, unknown>): Promise<[number, unknown]> {
  const t0 = process.hrtime.bigint()
  const reply = await callAgent(c.socketPath, shimRequest(c, host, operation, args))
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  if ('error' in reply) throw Object.assign(new Error(reply.error.message), { ms })
  return [ms, reply.result]
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function elapsedMs(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && typeof (err as { ms?: unknown }).ms === 'number' ? (err as { ms: number }).ms : undefined
}

/**
 * Times one platform call as `operation`; a rejected call counts as a failure (its latency is
 * still a sample: the platform waited that long). Returns whether it succeeded.
 */
async function timedCall(c: Cluster, rec: PhaseRecorder, operation: string, held: HostHeld, host: string, method: string, rsc: string): Promise<boolean> {
  const args = method === 'activate_volume' ? { volname: rsc, snapname: null, hints: {} } : { volname: rsc, snapname: null }
  try {
    const [ms, result] = await shimCall(c, host, method, args)
    rec.sample(operation, ms, held)
    if (method === 'activate_volume') {
      const want = `${c.emu.deviceRoot(host)}/dev/drbd/by-res/${rsc}/0`
      const got = (result as { path?: unknown } | null)?.path
      if (got !== want) {
        rec.fail(operation, `${rsc} on ${host}: device path ${String(got)}, expected ${want}`)
        return false
      }
    }
    return true
  } catch (err) {
    const ms = elapsedMs(err)
    if (ms !== undefined) rec.sample(operation, ms, held)
    rec.fail(operation, `${rsc} on ${host}: ${message(err)}`)
    return false
  }
}

/** The hypervisor opens or closes the disk; a refusal counts as a failure of `operation`. */
function hypervisor(c: Cluster, rec: PhaseRecorder, operation: string, what: 'open' | 'close', host: string, rsc: string): boolean {
  try {
    if (what === 'open') c.emu.control.open(host, rsc)
    else c.emu.control.close(host, rsc)
    return true
  } catch (err) {
    rec.fail(operation, `${rsc}: QEMU could not ${what} it on ${host}: ${message(err)}`)
    return false
  }
}

function sum(counters: Record<string, number>): number {
  return Object.values(counters).reduce((a, b) => a + b, 0)
}

/** Runs one timed phase; `body` gets the recorder and a copy of the state from just before it. */
async function phase(c: Cluster, name: StormPhase['phase'], body: (rec: PhaseRecorder, before: EmulatorState) => Promise<void>, opts: StormOptions): Promise<StormPhase> {
  const rec = new PhaseRecorder(name)
  opts.onPhase?.(name, c.emu)
  const before = structuredClone(c.emu.state())
  c.emu.resetCounters()
  const t0 = process.hrtime.bigint()
  let cpu: CpuSplit | undefined
  if (opts.cpu === false) await body(rec, before)
  else [, cpu] = await profileCpu(() => body(rec, before))
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9
  const restCalls = sum(c.emu.counters())
  const operations = rec.calls()
  return {
    phase: name,
    operations,
    wallS: round(wallS, 3),
    callsPerS: round(operations / wallS, 1),
    restCalls,
    restCallsPerS: round(restCalls / wallS, 1),
    failures: rec.failures,
    errors: [...rec.errors].slice(0, 5),
    ops: rec.ops(),
    ...(cpu === undefined ? {} : { cpu: roundCpu(cpu) }),
  }
}

function roundCpu(c: CpuSplit): CpuSplit {
  return { emulatorMs: round(c.emulatorMs), linstorVirtMs: round(c.linstorVirtMs), harnessMs: round(c.harnessMs), otherMs: round(c.otherMs), processMs: round(c.processMs) }
}

export async function measureStorm(opts: StormOptions = {}): Promise<StormResult> {
  const vms = opts.vms ?? 100
  const hostCount = opts.hosts ?? 8
  const migrations = opts.migrations ?? 50
  if (!Number.isInteger(vms) || vms < 1) throw new Error(`vms must be a whole number >= 1, not ${vms}`)
  if (!Number.isInteger(hostCount) || hostCount < 2) throw new Error(`hosts must be a whole number >= 2 (two replicas, and a migration needs a second host), not ${hostCount}`)
  if (!Number.isInteger(migrations) || migrations < 0 || migrations > vms) throw new Error(`migrations must be a whole number from 0 to ${vms}, not ${migrations}`)

  // The emulator writes its state on every change: tmpfs when there is one.
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir()
  const dir = mkdtempSync(join(base, 'lv-bench-storm-'))
  const hosts = Array.from({ length: hostCount }, (_, i) => `pve-${i + 1}`)
  const emu = await startEmulator({
    logLevel: 'silent',
    listen: { host: '127.0.0.1', port: 0 },
    stateDir: join(dir, 'state'),
    seed: 9,
    cluster: {
      nodes: hosts.map((name) => ({ name, pools: [{ name: 'DfltStorPool', provider_kind: 'LVM_THIN' as const, total_capacity_kib: 1024 * GIB_KIB }] })),
      resource_groups: [{ name: 'pve', select_filter: { place_count: 2 } }],
    },
  })
  const socketPath = join(dir, 'agent.sock')
  let agent: Awaited<ReturnType<typeof startAgent>> | undefined
  try {
    agent = await startAgent({ socketPath, dispatcher: buildDispatcher(silentLogger()), logger: silentLogger() })
    const c: Cluster = { emu, socketPath, dir, hosts }
    const host = (i: number): string => hosts[((i % hostCount) + hostCount) % hostCount] as string

    // The disks, one at a time (alloc_image runs under PVE's cluster-wide storage lock), each made
    // on the node its VM starts on or a third or two thirds of the cluster further: alloc_image puts
    // one replica on the node that makes the disk, so the starts find a mix of local replicas,
    // tie-breakers and nothing (a new diskless client).
    const t0 = Date.now()
    const disks: string[] = []
    const step = Math.max(1, Math.round(hostCount / 3))
    for (let i = 0; i < vms; i++) {
      const allocFrom = host(i + (i % 3) * step)
      const [, result] = await shimCall(c, allocFrom, 'alloc_image', { vmid: 100 + i, fmt: 'raw', name: null, sizeKib: 4 * GIB_KIB })
      disks.push((result as { volname: string }).volname)
    }
    const setupS = (Date.now() - t0) / 1000

    // Where each VM runs (undefined: not running).
    const runsOn: (string | undefined)[] = disks.map(() => undefined)

    const attach = await phase(c, 'attach', async (rec, state) => {
      await Promise.all(
        disks.map(async (rsc, i) => {
          const h = host(i)
          if (!(await timedCall(c, rec, 'activate', heldOn(state, rsc, h), h, 'activate_volume', rsc))) return
          if (hypervisor(c, rec, 'activate', 'open', h, rsc)) runsOn[i] = h
        }),
      )
    }, opts)

    const migration = await phase(c, 'live migration', async (rec, state) => {
      const moving = disks.map((_, i) => i).filter((i) => runsOn[i] !== undefined).slice(0, migrations)
      if (moving.length < migrations) {
        // VMs that failed to start cannot migrate: each missing one is a failure of the storm.
        for (let k = moving.length; k < migrations; k++) rec.fail('migrate-activate', 'no running VM left to migrate (its start failed)')
      }
      await Promise.all(
        moving.map(async (i) => {
          const rsc = disks[i] as string
          const from = runsOn[i] as string
          // Any other host: the next one, then further, so replica, tie-breaker and bare hosts all appear as targets.
          const to = host(hosts.indexOf(from) + 1 + (i % (hostCount - 1)))
          // qm start --migratedfrom on the target: activate while the source still runs.
          if (!(await timedCall(c, rec, 'migrate-activate', heldOn(state, rsc, to), to, 'activate_volume', rsc))) {
            // qemu-server's start rollback: the target deactivates again; the VM stays on the source.
            await timedCall(c, rec, 'migrate-abort', heldOn(emu.state(), rsc, to), to, 'deactivate_volume', rsc)
            return
          }
          // The hand-over: the target QEMU opens (both Primary), the source QEMU stops.
          if (!hypervisor(c, rec, 'migrate-activate', 'open', to, rsc)) {
            await timedCall(c, rec, 'migrate-abort', heldOn(emu.state(), rsc, to), to, 'deactivate_volume', rsc)
            return
          }
          hypervisor(c, rec, 'migrate-deactivate', 'close', from, rsc)
          runsOn[i] = to
          // The source's cleanup after the move: deactivate completes the migration.
          await timedCall(c, rec, 'migrate-deactivate', heldOn(state, rsc, from), from, 'deactivate_volume', rsc)
        }),
      )
    }, opts)

    const detach = await phase(c, 'detach', async (rec, state) => {
      await Promise.all(
        disks.map(async (rsc, i) => {
          const h = runsOn[i]
          if (h === undefined) return
          if (!hypervisor(c, rec, 'deactivate', 'close', h, rsc)) return
          runsOn[i] = undefined
          await timedCall(c, rec, 'deactivate', heldOn(state, rsc, h), h, 'deactivate_volume', rsc)
        }),
      )
    }, opts)

    const phases = [attach, migration, detach]
    return {
      vms,
      hosts: hostCount,
      migrations,
      setupS: round(setupS),
      phases,
      leftovers: stormLeftovers(emu.state()),
      failures: phases.reduce((a, p) => a + p.failures, 0),
    }
  } finally {
    await agent?.close()
    await emu.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The chart's file name, next to the report. */
export const STORM_CHART = 'storm-latency.svg'

function heldText(h: Record<HostHeld, number>): string {
  const parts: string[] = []
  if (h.replica > 0) parts.push(`${h.replica} replica`)
  if (h['tie-breaker'] > 0) parts.push(`${h['tie-breaker']} tie-breaker`)
  if (h.client > 0) parts.push(`${h.client} diskless client`)
  if (h.nothing > 0) parts.push(`${h.nothing} nothing`)
  return parts.join(', ')
}

export function stormMarkdown(r: StormResult): string {
  const lines = [
    `## Storm (${r.vms} VMs on ${r.hosts} hosts, ${r.migrations} live migrations)`,
    '',
    `All at once through the agent socket, with the Perl shim's requests (Proxmox adapter, core, emulator). The ${r.vms} disks (2 replicas each) were made beforehand with alloc_image in ${r.setupS} s, not measured. "calls/s" counts platform calls (activate_volume, deactivate_volume), "REST calls/s" the controller's requests. A call's latency includes waiting behind the rest of its phase: the emulator, the agent and the callers share one Node process.`,
    '',
    '| phase | operations | wall s | calls/s | REST calls | REST calls/s | failures |',
    '|---|---|---|---|---|---|---|',
  ]
  for (const p of r.phases) lines.push(`| ${p.phase} | ${p.operations} | ${p.wallS} | ${p.callsPerS} | ${p.restCalls} | ${p.restCallsPerS} | ${p.failures} |`)
  if (r.phases.some((p) => p.cpu !== undefined)) {
    lines.push(
      '',
      "Where each phase's CPU went (V8's sampling profiler in this one process, bench/cpu-profile.ts): the process's CPU time is split by the shares of the non-idle samples, and a sample belongs to the innermost frame of the emulator, of linstor-virt (core, plugins, agent) or of the bench's callers on its stack; \"other\" is Node's own work with none of them on the stack (HTTP parsing of both sides, sockets, timers, garbage collection), so linstor-virt's CPU per platform call lies between its own samples and its own plus all of \"other\".",
      '',
      '| phase | process CPU ms | emulator ms | linstor-virt ms | callers ms | other ms | emulator share | linstor-virt CPU per platform call, ms |',
      '|---|---|---|---|---|---|---|---|',
    )
    for (const p of r.phases) {
      const c = p.cpu
      if (c === undefined) continue
      const sampled = c.emulatorMs + c.linstorVirtMs + c.harnessMs + c.otherMs
      const perCall = (ms: number): number => round(p.operations === 0 ? 0 : ms / p.operations, 2)
      lines.push(`| ${p.phase} | ${c.processMs} | ${c.emulatorMs} | ${c.linstorVirtMs} | ${c.harnessMs} | ${c.otherMs} | ${sampled === 0 ? 0 : Math.round((100 * c.emulatorMs) / sampled)}% | ${perCall(c.linstorVirtMs)} to ${perCall(c.linstorVirtMs + c.otherMs)} |`)
    }
  }
  for (const p of r.phases) {
    lines.push('', `### ${p.phase}`, '', '| phase | operation | calls | failures | p50 ms | p99 ms | max ms | the calling host held |', '|---|---|---|---|---|---|---|---|')
    for (const o of p.ops) lines.push(`| ${p.phase} | ${o.operation} | ${o.calls} | ${o.failures} | ${o.p50Ms} | ${o.p99Ms} | ${o.maxMs} | ${heldText(o.held)} |`)
    if (p.errors.length > 0) {
      lines.push('', 'Failures:')
      for (const e of p.errors) lines.push(`- ${e}`)
    }
  }
  const l = r.leftovers
  lines.push(
    '',
    `Failures (must be 0): ${r.failures}. Leftovers (must be 0): ${l.total} (diskless clients ${l.disklessClients.length}, allow-two-primaries ${l.allowTwoPrimaries.length}, Primary ${l.primaries.length}, migration records ${l.migrationRecords.length}).`,
  )
  if (l.total > 0) lines.push('', `Left over: ${[...l.disklessClients, ...l.allowTwoPrimaries, ...l.primaries, ...l.migrationRecords].slice(0, 10).join(', ')}${l.total > 10 ? ', ...' : ''}`)
  lines.push('', `Latency per operation: [${STORM_CHART}](${STORM_CHART})`, '')
  return lines.join('\n')
}

/** The storm's per-operation latency chart (standalone SVG). */
export function stormSvg(r: StormResult): string {
  const series: LatencySeries[] = r.phases.flatMap((p) => p.ops.map((o) => ({ label: `${p.phase}: ${o.operation}`, count: o.calls, minMs: o.minMs, p50Ms: o.p50Ms, p99Ms: o.p99Ms, maxMs: o.maxMs })))
  return latencyChartSvg(series, {
    title: `Storm latency per operation (${r.vms} VMs, ${r.hosts} hosts, ${r.migrations} live migrations)`,
    subtitle: `all calls of a phase at once; failures ${r.failures}, leftovers ${r.leftovers.total}`,
  })
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '')
if (isMain) {
  const { values } = parseArgs({
    options: {
      vms: { type: 'string', default: '100' },
      hosts: { type: 'string', default: '8' },
      migrations: { type: 'string', default: '50' },
      svg: { type: 'string' },
      json: { type: 'string' },
    },
  })
  const result = await measureStorm({ vms: Number(values.vms), hosts: Number(values.hosts), migrations: Number(values.migrations) })
  process.stdout.write(stormMarkdown(result))
  for (const [file, text] of [
    [values.svg, stormSvg(result)],
    [values.json, JSON.stringify(result, null, 2) + '\n'],
  ] as const) {
    if (file === undefined) continue
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, text)
  }
}
