/**
 * Start-up cost against bare `node -e 0`, the floor for any Node process (issue 9, section 1).
 * Runs are interleaved (floor, then each command, then the floor again, ...) so machine noise hits
 * all alike; the figure that matters is the ratio of medians taken in this one run.
 *
 * Measured: the CLI's light commands; `linstor-virt call --stdin` for a call that needs no
 * controller (core.ping); and every OpenNebula driver executable (remotes/tm/linstor/<action> and
 * remotes/datastore/linstor/<action>, as oned starts them) for a call that needs no controller: no
 * arguments, so the action refuses with its usage error after parsing, the same way every action
 * starts. The executables run twice: with an agent listening (the normal path: the launcher sends
 * one request over the socket) and with none (the fallback: the call runs in the executable's
 * process from the bundled one-shot CLI). The agent runs in its own process so this one's clock
 * does not compete with it.
 *
 * Usage: node build/bench/startup.bench.js [--runs N] [--json FILE]
 */
import { execFile, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { repoRoot } from '../test/helpers/paths.js'
import { median, round } from './stats.js'

export interface StartupResult {
  runs: number
  medianMs: Record<string, number>
  ratioToFloor: Record<string, number>
}

export interface DriverStartupRow {
  executable: string
  agentMs: number
  agentRatio: number
  oneShotMs: number
  oneShotRatio: number
}

export interface DriverStartupResult {
  runs: number
  floorMs: number
  rows: DriverStartupRow[]
  /** Medians over all executables of the per-executable ratios. */
  agentRatioMedian: number
  oneShotRatioMedian: number
  agentRatioMax: number
  oneShotRatioMax: number
}

const PING = JSON.stringify({ v: 1, platform: 'core', operation: 'ping' })
const FLOOR = 'node -e 0'

interface Variant {
  args: string[]
  input?: string
  env?: NodeJS.ProcessEnv
}

/** One run of `node ...args`, timed from spawn to exit. */
function timedRun(v: Variant): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint()
    const child = execFile(process.execPath, v.args, { env: v.env ?? process.env, maxBuffer: 1 << 20 }, (err) => {
      // Driver executables refusing their (absent) arguments exit 1: that is the call measured.
      if (err !== null && typeof err.code !== 'number') reject(new Error(err.message))
      else resolve(Number(process.hrtime.bigint() - t0) / 1e6)
    })
    child.stdin?.end(v.input ?? '')
  })
}

/** Interleaved runs of every variant; medians per variant. */
async function interleave(variants: Record<string, Variant>, runs: number): Promise<Record<string, number>> {
  const times: Record<string, number[]> = {}
  for (const [name, v] of Object.entries(variants)) {
    times[name] = []
    await timedRun(v) // warm the file cache
  }
  for (let i = 0; i < runs; i++) {
    for (const [name, v] of Object.entries(variants)) times[name]?.push(await timedRun(v))
  }
  const out: Record<string, number> = {}
  for (const [name, xs] of Object.entries(times)) out[name] = median(xs)
  return out
}

export async function measureStartup(runs: number): Promise<StartupResult> {
  const bundle = join(repoRoot(), 'dist', 'linstor-virt.js')
  const med = await interleave(
    {
      [FLOOR]: { args: ['-e', '0'] },
      'linstor-virt version': { args: [bundle, 'version'] },
      'linstor-virt help': { args: [bundle, 'help'] },
      'linstor-virt call --stdin (core.ping)': { args: [bundle, 'call', '--stdin'], input: PING },
    },
    runs,
  )
  const floor = med[FLOOR] ?? 1
  const medianMs: Record<string, number> = {}
  const ratioToFloor: Record<string, number> = {}
  for (const [name, m] of Object.entries(med)) {
    medianMs[name] = round(m, 1)
    ratioToFloor[name] = round(m / floor)
  }
  return { runs, medianMs, ratioToFloor }
}

/** Every built OpenNebula driver executable, as `tm/<action>` and `datastore/<action>`. */
function driverExecutables(): { name: string; path: string; kind: 'tm' | 'datastore' }[] {
  const base = join(repoRoot(), 'dist', 'share', 'opennebula', 'remotes')
  const out: { name: string; path: string; kind: 'tm' | 'datastore' }[] = []
  for (const kind of ['tm', 'datastore'] as const) {
    const dir = join(base, kind, 'linstor')
    for (const f of readdirSync(dir).sort()) {
      if (f.endsWith('.cjs')) continue
      out.push({ name: `${kind}/${f}`, path: join(dir, f), kind })
    }
  }
  return out
}

async function startAgentProcess(socketPath: string): Promise<ChildProcess> {
  const bundle = join(repoRoot(), 'dist', 'linstor-virt.js')
  const child = spawn(process.execPath, [bundle, 'agent', '--socket', socketPath], { stdio: 'ignore', env: { ...process.env, LINSTOR_VIRT_LOG_LEVEL: 'silent' } })
  for (let i = 0; i < 200 && !existsSync(socketPath); i++) await new Promise((r) => setTimeout(r, 25))
  if (!existsSync(socketPath)) {
    child.kill()
    throw new Error('the agent did not create its socket within 5 s')
  }
  return child
}

/**
 * Each OpenNebula driver executable with and without an agent, against `node -e 0`.
 * `only` limits the executables (the smoke test runs a few).
 */
export async function measureDriverStartup(runs: number, only?: (name: string) => boolean): Promise<DriverStartupResult> {
  const dir = mkdtempSync(join(tmpdir(), 'lv-bench-drivers-'))
  const socketPath = join(dir, 'agent.sock')
  const agent = await startAgentProcess(socketPath)
  const exes = driverExecutables().filter((e) => only === undefined || only(e.name))
  const env = (sock: string): NodeJS.ProcessEnv => ({ ...process.env, LINSTOR_VIRT_AGENT_SOCKET: sock, LINSTOR_VIRT_LOCK_DIR: join(dir, 'locks') })
  const variants: Record<string, Variant> = { [FLOOR]: { args: ['-e', '0'] } }
  for (const e of exes) {
    variants[`agent ${e.name}`] = { args: [e.path], env: env(socketPath) }
    variants[`one-shot ${e.name}`] = { args: [e.path], env: env(join(dir, 'no-agent.sock')) }
  }
  let med: Record<string, number>
  try {
    med = await interleave(variants, runs)
  } finally {
    agent.kill()
    rmSync(dir, { recursive: true, force: true })
  }
  const floor = med[FLOOR] ?? 1
  const rows = exes.map((e): DriverStartupRow => {
    const a = med[`agent ${e.name}`] ?? 0
    const o = med[`one-shot ${e.name}`] ?? 0
    return { executable: e.name, agentMs: round(a, 1), agentRatio: round(a / floor), oneShotMs: round(o, 1), oneShotRatio: round(o / floor) }
  })
  return {
    runs,
    floorMs: round(floor, 1),
    rows,
    agentRatioMedian: round(median(rows.map((r) => r.agentRatio))),
    oneShotRatioMedian: round(median(rows.map((r) => r.oneShotRatio))),
    agentRatioMax: round(Math.max(...rows.map((r) => r.agentRatio))),
    oneShotRatioMax: round(Math.max(...rows.map((r) => r.oneShotRatio))),
  }
}

export function startupMarkdown(r: StartupResult): string {
  const rows = Object.keys(r.medianMs).map((n) => `| ${n} | ${r.medianMs[n]} | ${r.ratioToFloor[n]} | ${n === FLOOR ? '' : '≤ 1.3'} |`)
  return [`## Start-up (${r.runs} interleaved runs, median wall time)`, '', `| command | median ms | ratio to ${FLOOR} | target |`, '|---|---|---|---|', ...rows, ''].join('\n')
}

export function driverStartupMarkdown(r: DriverStartupResult): string {
  const rows = r.rows.map((x) => `| ${x.executable} | ${x.agentMs} | ${x.agentRatio} | ${x.oneShotMs} | ${x.oneShotRatio} |`)
  return [
    `## OpenNebula driver executables: start-up (${r.runs} interleaved runs, median wall time; ${FLOOR}: ${r.floorMs} ms)`,
    '',
    'Each executable as oned starts it, for a call that needs no controller (no arguments: the action refuses with its usage error).',
    `With an agent listening (the normal path) the median ratio over all executables is **${r.agentRatioMedian}** (largest ${r.agentRatioMax}; target ≤ 1.3);`,
    `without one (the call runs in the executable from the one-shot bundle, through V8's code cache) it is **${r.oneShotRatioMedian}** (largest ${r.oneShotRatioMax}; target ≤ 1.3).`,
    '',
    '| measure | target | now |',
    '|---|---|---|',
    `| with an agent, median / largest ratio to ${FLOOR} | ≤ 1.3 | ${r.agentRatioMedian} / ${r.agentRatioMax} |`,
    `| no agent, median / largest ratio to ${FLOOR} | ≤ 1.3 | ${r.oneShotRatioMedian} / ${r.oneShotRatioMax} |`,
    '',
    `| executable | with agent, ms | ratio to ${FLOOR} | no agent (one-shot), ms | ratio to ${FLOOR} |`,
    '|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n')
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '')
if (isMain) {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '30' }, json: { type: 'string' } } })
  const result = await measureStartup(Number(values.runs))
  const drivers = await measureDriverStartup(Math.max(1, Math.round(Number(values.runs) / 2)))
  process.stdout.write(startupMarkdown(result) + '\n' + driverStartupMarkdown(drivers))
  if (values.json !== undefined) {
    mkdirSync(dirname(values.json), { recursive: true })
    writeFileSync(values.json, JSON.stringify({ startup: result, drivers }, null, 2) + '\n')
  }
}
