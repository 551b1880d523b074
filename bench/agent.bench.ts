/**
 * The call protocol's speed targets (issue 5), measured in one run:
 * - a shim-to-agent round trip for a call that needs no controller (core.ping over the unix
 *   socket, a fresh connection per call as a shim makes): median, target at most 2 ms;
 * - `linstor-virt call --stdin` for the same call against bare `node -e 0`, interleaved: ratio of
 *   medians, target at most 1.3.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { callAgent } from '../cli/agent/client.js'
import { startAgent } from '../cli/agent/server.js'
import { buildDispatcher } from '../cli/dispatcher.js'
import { silentLogger } from '../core/log/index.js'
import { repoRoot } from '../test/helpers/paths.js'
import { median, round } from './stats.js'

export interface AgentResult {
  runs: number
  agentRoundTripMedianMs: number
  oneShotMedianMs: number
  nodeFloorMedianMs: number
  oneShotRatio: number
}


const PING = JSON.stringify({ v: 1, platform: 'core', operation: 'ping' })

export async function measureAgent(runs: number): Promise<AgentResult> {
  const dir = mkdtempSync(join(tmpdir(), 'lv-bench-agent-'))
  const socketPath = join(dir, 'agent.sock')
  const agent = await startAgent({ socketPath, dispatcher: buildDispatcher(silentLogger()), logger: silentLogger() })
  const rtt: number[] = []
  try {
    for (let i = 0; i < 20; i++) await callAgent(socketPath, PING)
    for (let i = 0; i < runs * 10; i++) {
      const t0 = process.hrtime.bigint()
      await callAgent(socketPath, PING)
      rtt.push(Number(process.hrtime.bigint() - t0) / 1e6)
    }
  } finally {
    await agent.close()
    rmSync(dir, { recursive: true, force: true })
  }
  const bundle = join(repoRoot(), 'dist', 'linstor-virt.js')
  const oneShot: number[] = []
  const floor: number[] = []
  execFileSync(process.execPath, [bundle, 'call', '--stdin'], { input: PING })
  for (let i = 0; i < runs; i++) {
    let t0 = process.hrtime.bigint()
    execFileSync(process.execPath, ['-e', '0'], { stdio: 'ignore' })
    floor.push(Number(process.hrtime.bigint() - t0) / 1e6)
    t0 = process.hrtime.bigint()
    execFileSync(process.execPath, [bundle, 'call', '--stdin'], { input: PING, stdio: ['pipe', 'ignore', 'ignore'] })
    oneShot.push(Number(process.hrtime.bigint() - t0) / 1e6)
  }
  return {
    runs,
    agentRoundTripMedianMs: round(median(rtt)),
    oneShotMedianMs: round(median(oneShot)),
    nodeFloorMedianMs: round(median(floor)),
    oneShotRatio: round(median(oneShot) / median(floor)),
  }
}

export function agentMarkdown(r: AgentResult): string {
  return [
    `## Call protocol (${r.runs} one-shot runs, ${r.runs * 10} agent round trips)`,
    '',
    '| measure | value | target |',
    '|---|---|---|',
    `| agent round trip, core.ping, median | ${r.agentRoundTripMedianMs} ms | ≤ 2 ms |`,
    `| linstor-virt call --stdin, core.ping, median | ${r.oneShotMedianMs} ms | |`,
    `| node -e 0, median | ${r.nodeFloorMedianMs} ms | |`,
    `| one-shot / node -e 0 | ${r.oneShotRatio} | ≤ 1.3 |`,
    '',
  ].join('\n')
}
