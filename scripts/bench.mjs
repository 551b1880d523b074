#!/usr/bin/env node
// `npm run bench`: builds, runs every benchmark in bench/ against the emulator and writes
// bench/results/latest.md (the report), latest.json (every figure) and storm-latency.svg (the
// storm's latency chart). Benchmarks never fail for being slow; each figure states its comparison,
// measured in the same run.
// Usage: npm run bench [-- --only NAME,...]   NAME: startup, drivers, agent, cinder-transport, core-calls, round-trips,
//        status, status-command, storm, datapath, start-faults. Env: BENCH_RUNS (start-up runs, default 30),
//        BENCH_IMAGE_MIB (1024), BENCH_FAULT_RUNS (starts per cell of start-faults, default 3).
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { ensureDeps, root, run } from './lib.mjs'

const { values } = parseArgs({ options: { only: { type: 'string' } } })
const only = values.only === undefined ? undefined : new Set(values.only.split(','))
const want = (name) => only === undefined || only.has(name)

ensureDeps()
if (run(process.execPath, [join(root, 'scripts', 'build.mjs')]) !== 0) process.exit(1)
const load = (file) => import(join(root, 'build', 'bench', file))
const runs = Number(process.env.BENCH_RUNS ?? '30')
const results = { date: new Date().toISOString(), node: process.version }
const sections = []
const outDir = join(root, 'bench', 'results')
mkdirSync(outDir, { recursive: true })

/** Each section: its name, what it prints while running, and how it measures and reports. */
const SECTIONS = [
  ['startup', 'start-up', 'startup.bench.js', async (m) => ['startup', await m.measureStartup(runs), m.startupMarkdown]],
  ['drivers', 'OpenNebula driver start-up', 'startup.bench.js', async (m) => ['drivers', await m.measureDriverStartup(Math.max(3, Math.round(runs / 3))), m.driverStartupMarkdown]],
  ['agent', 'call protocol', 'agent.bench.js', async (m) => ['agent', await m.measureAgent(runs), m.agentMarkdown]],
  ['cinder-transport', 'Cinder driver transport (host agent, private agent, one-shot)', 'cinder-transport.bench.js', async (m) => ['cinderTransport', await m.measureCinderTransport(runs), m.cinderTransportMarkdown]],
  ['core-calls', 'REST calls per core operation', 'core-calls.bench.js', async (m) => ['coreCalls', await m.measureCoreCalls(Math.min(runs, 20)), m.coreCallsMarkdown]],
  ['round-trips', 'REST round trips per adapter operation', 'round-trips.bench.js', async (m) => ['roundTrips', await m.measureRoundTrips(), m.roundTripsMarkdown]],
  ['status', 'status at scale (1,000 and 10,000 volumes)', 'status.bench.js', async (m) => ['status', [await m.measureStatus(1000), await m.measureStatus(10000)], m.statusMarkdown]],
  ['status-command', 'linstor-virt status at scale (1,000 and 10,000 volumes)', 'status-command.bench.js', async (m) => ['statusCommand', [await m.measureStatusCommand(1000), await m.measureStatusCommand(10000)], m.statusCommandMarkdown]],
  [
    'storm',
    'storm (100 VMs, 8 hosts, 50 live migrations)',
    'storm.bench.js',
    async (m) => {
      const r = await m.measureStorm()
      writeFileSync(join(outDir, m.STORM_CHART), m.stormSvg(r))
      return ['storm', r, m.stormMarkdown]
    },
  ],
  ['datapath', 'data path (qcow2 import)', 'datapath.bench.js', async (m) => ['dataPath', await m.measureDataPath({ sizeMiB: Number(process.env.BENCH_IMAGE_MIB ?? '1024') }), m.dataPathMarkdown]],
  ['start-faults', 'VM start under controller faults', 'start-faults.bench.js', async (m) => ['startFaults', await m.measureStartFaults({ runs: Number(process.env.BENCH_FAULT_RUNS ?? '3') }), m.startFaultsMarkdown]],
]
for (const [name, label, file, measure] of SECTIONS) {
  if (!want(name)) continue
  process.stderr.write(`bench: ${label}...\n`)
  const [key, result, markdown] = await measure(await load(file))
  results[key] = result
  sections.push(markdown(result))
}

const md = ['# linstor-virt benchmarks', '', `${results.date}, Node ${process.version}, ${(await import('node:os')).cpus().length} CPUs. Against the emulator; ratios are taken within this one run.`, '', ...sections.map((s) => s.trimEnd() + '\n')].join('\n')
const suffix = only === undefined ? 'latest' : `partial-${[...only].join('-')}`
writeFileSync(join(outDir, `${suffix}.json`), JSON.stringify(results, null, 2) + '\n')
writeFileSync(join(outDir, `${suffix}.md`), md)
process.stdout.write(md)
