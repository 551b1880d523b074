/**
 * Start-up cost of the bundled CLI against bare `node -e 0`, the floor for any Node process.
 * Runs are interleaved (floor, light command, heavier command, ...) so machine noise hits all
 * alike; the figure that matters is the ratio of medians taken in this one run.
 *
 * Usage: node build/bench/startup.bench.js [--runs N] [--json FILE]
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { repoRoot } from '../test/helpers/paths.js'
import { median, round } from './stats.js'

export interface StartupResult {
  runs: number
  medianMs: Record<string, number>
  ratioToFloor: Record<string, number>
}


export function measureStartup(runs: number): StartupResult {
  const bundle = join(repoRoot(), 'dist', 'linstor-virt.js')
  const variants: Record<string, string[]> = {
    'node -e 0': ['-e', '0'],
    'linstor-virt version': [bundle, 'version'],
    'linstor-virt help': [bundle, 'help'],
  }
  const times: Record<string, number[]> = {}
  for (const name of Object.keys(variants)) times[name] = []
  // Warm the file cache first.
  for (const args of Object.values(variants)) execFileSync(process.execPath, args, { stdio: 'ignore' })
  for (let i = 0; i < runs; i++) {
    for (const [name, args] of Object.entries(variants)) {
      const t0 = process.hrtime.bigint()
      execFileSync(process.execPath, args, { stdio: 'ignore' })
      times[name]?.push(Number(process.hrtime.bigint() - t0) / 1e6)
    }
  }
  const medianMs: Record<string, number> = {}
  for (const [name, xs] of Object.entries(times)) medianMs[name] = round(median(xs), 1)
  const floor = medianMs['node -e 0'] ?? 1
  const ratioToFloor: Record<string, number> = {}
  for (const [name, m] of Object.entries(medianMs)) ratioToFloor[name] = Math.round((m / floor) * 100) / 100
  return { runs, medianMs, ratioToFloor }
}

export function startupMarkdown(r: StartupResult): string {
  const rows = Object.keys(r.medianMs).map((n) => `| ${n} | ${r.medianMs[n]} | ${r.ratioToFloor[n]} |`)
  return [`### Start-up (${r.runs} interleaved runs, median wall time)`, '', '| command | median ms | ratio to node -e 0 |', '|---|---|---|', ...rows, ''].join('\n')
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '')
if (isMain) {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '30' }, json: { type: 'string' } } })
  const result = measureStartup(Number(values.runs))
  process.stdout.write(startupMarkdown(result))
  if (values.json !== undefined) {
    mkdirSync(dirname(values.json), { recursive: true })
    writeFileSync(values.json, JSON.stringify(result, null, 2) + '\n')
  }
}
