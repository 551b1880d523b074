/**
 * Cinder's transport (issue 26): what one driver call costs through each path the Python driver
 * has, measured with the driver's own transport (plugins/openstack-cinder/python's CallClient, run
 * by Debian's python3) against the emulator, in one run:
 *
 *   host agent:    the agent's socket answers (production's normal path);
 *   private agent: no host agent; the driver starts `linstor-virt agent --exit-with-stdin` once as
 *                  its child and sends every call there (its first call includes that start);
 *   one-shot:      no host agent and linstor_virt_private_agent = False: `linstor-virt call --stdin`
 *                  per call, each paying a node start.
 *
 * The calls: `stats` (Cinder's periodic poll, from the capacity cache after the first) and
 * `ensure_export` of an existing volume (one definition listing). Runs are interleaved by path.
 * The figure that matters: private agent / host agent per call (no node start per call).
 *
 * Usage: node build/bench/cinder-transport.bench.js [--runs N]
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { callAgent } from '../cli/agent/client.js'
import { startAgent } from '../cli/agent/server.js'
import { buildDispatcher } from '../cli/dispatcher.js'
import { silentLogger } from '../core/log/index.js'
import { startEmulator } from '../emulator/index.js'
import { repoRoot } from '../test/helpers/paths.js'
import { median, round } from './stats.js'

export interface CinderTransportRow {
  path: 'host agent' | 'private agent' | 'one-shot'
  /** The first call of a fresh driver transport (the private agent's includes its start). */
  firstMs: number
  /** Median of every later call. */
  medianMs: number
  /** medianMs / the host agent's medianMs. */
  ratio: number
}

export interface CinderTransportResult {
  runs: number
  calls: string[]
  nodeFloorMs: number
  rows: CinderTransportRow[]
  /** Node starts the private-agent path made over all its calls (1: the child). */
  privateAgentStarts: number
}

/** Runs the driver's CallClient in python3: `runs` rounds of the calls; times in ms, and the child's pid per call. */
const DRIVER = `
import json, sys, time
from linstor_virt_cinder import client
cfg = json.loads(sys.argv[1])
c = client.CallClient(cfg['socket'], cfg['command'], cfg['private'])
times, pids = [], set()
for _ in range(cfg['runs']):
    for req in cfg['requests']:
        t0 = time.monotonic()
        reply = c.call(req, 60)
        times.append((time.monotonic() - t0) * 1000)
        if 'error' in reply:
            raise SystemExit('%s: %s' % (req['operation'], reply['error']['message']))
        if c.child_pid() is not None:
            pids.add(c.child_pid())
c.close()
print(json.dumps({'times': times, 'children': len(pids)}))
`

function python(cfg: Record<string, unknown>): Promise<{ times: number[]; children: number }> {
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/python3', ['-c', DRIVER, JSON.stringify(cfg)], { env: { ...process.env, PYTHONPATH: join(repoRoot(), 'plugins', 'openstack-cinder', 'python'), LINSTOR_VIRT_LOG_LEVEL: 'silent' }, maxBuffer: 1 << 20, timeout: 600_000 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`${err.message}\n${stderr}`))
      else resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { times: number[]; children: number })
    })
  })
}

function nodeFloor(runs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const xs: number[] = []
    const once = (): void => {
      const t0 = process.hrtime.bigint()
      execFile(process.execPath, ['-e', '0'], (err) => {
        if (err !== null) return reject(new Error(err.message))
        xs.push(Number(process.hrtime.bigint() - t0) / 1e6)
        if (xs.length < runs) once()
        else resolve(median(xs))
      })
    }
    once()
  })
}

export async function measureCinderTransport(runs: number): Promise<CinderTransportResult> {
  const dir = mkdtempSync(join(tmpdir(), 'lv-bench-cinder-'))
  const emu = await startEmulator({ logLevel: 'silent', listen: { host: '127.0.0.1', port: 0 }, stateDir: join(dir, 'state') })
  const socketPath = join(dir, 'agent.sock')
  const agent = await startAgent({ socketPath, dispatcher: buildDispatcher(silentLogger()), logger: silentLogger() })
  const config = { backend: 'lv-1', controllers: [emu.url], cinderHost: 'alpha', lockDir: join(dir, 'locks'), deviceRoot: join(dir, '{node}') }
  const V = 'aaaaaaaa-0000-4000-8000-0000000000c1'
  const volume = { id: V, name_id: V, size: 1, multiattach: false, status: 'available', volume_type: { id: 't1', name: 'two', extra_specs: { volume_backend_name: 'lv-1' } }, attachments: [] }
  const request = (operation: string, args: Record<string, unknown> = {}): Record<string, unknown> => ({ v: 1, platform: 'cinder', operation, arguments: args, config, deadlineMs: 60_000 })
  const requests = [request('stats'), request('ensure_export', { volume })]
  const command = [process.execPath, join(repoRoot(), 'dist', 'linstor-virt.js')]
  try {
    for (const r of [request('check'), request('stats'), request('create_volume', { volume })]) {
      const reply = await callAgent(socketPath, r)
      if ('error' in reply) throw new Error(`${String(r['operation'])}: ${reply.error.message}`)
    }
    const paths = {
      'host agent': { socket: socketPath, command, private: true },
      'private agent': { socket: join(dir, 'none.sock'), command, private: true },
      'one-shot': { socket: join(dir, 'none.sock'), command, private: false },
    } as const
    const times: Record<string, number[]> = { 'host agent': [], 'private agent': [], 'one-shot': [] }
    const firsts: Record<string, number[]> = { 'host agent': [], 'private agent': [], 'one-shot': [] }
    let privateAgentStarts = 0
    // Rounds of a fresh driver transport per path, interleaved.
    const rounds = 3
    for (let i = 0; i < rounds; i++) {
      for (const [name, p] of Object.entries(paths)) {
        const r = await python({ ...p, requests, runs: Math.max(1, Math.ceil(runs / rounds)) })
        firsts[name]?.push(r.times[0] ?? 0)
        times[name]?.push(...r.times.slice(1))
        if (name === 'private agent') privateAgentStarts += r.children
      }
    }
    const hostMed = median(times['host agent'] ?? [])
    const rows = (Object.keys(paths) as CinderTransportRow['path'][]).map((path): CinderTransportRow => ({
      path,
      firstMs: round(median(firsts[path] ?? []), 1),
      medianMs: round(median(times[path] ?? []), 1),
      ratio: round(median(times[path] ?? []) / hostMed, 2),
    }))
    return { runs, calls: ['stats', 'ensure_export'], nodeFloorMs: round(await nodeFloor(10), 1), rows, privateAgentStarts: privateAgentStarts / rounds }
  } finally {
    await agent.close()
    await emu.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

export function cinderTransportMarkdown(r: CinderTransportResult): string {
  const target = (p: CinderTransportRow['path']): string => (p === 'private agent' ? 'no node start per call' : p === 'one-shot' ? '(a node start per call)' : '')
  return [
    `## Cinder driver transport (the driver's own CallClient under python3; calls: ${r.calls.join(', ')}; node -e 0: ${r.nodeFloorMs} ms)`,
    '',
    `Without the host agent the driver starts one private agent as its child (${r.privateAgentStarts} node start per driver life here) and keeps it; the one-shot path (linstor_virt_private_agent = False) starts node per call.`,
    'The host agent here runs in the benchmark\'s own process, long warmed up; the private agent is a fresh process whose code is still being compiled over these few calls.',
    '',
    '| path | first call, ms | later calls, median ms | ratio to host agent | target |',
    '|---|---|---|---|---|',
    ...r.rows.map((x) => `| ${x.path} | ${x.firstMs} | ${x.medianMs} | ${x.ratio} | ${target(x.path)} |`),
    '',
  ].join('\n')
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '')
if (isMain) {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '30' } } })
  process.stdout.write(cinderTransportMarkdown(await measureCinderTransport(Number(values.runs))))
}
