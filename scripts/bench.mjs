#!/usr/bin/env node
// `npm run bench`: builds, runs every benchmark in bench/ against the emulator and writes
// bench/results/latest.md (the report), latest.json (every figure) and storm-latency.svg (the
// storm's latency chart). Benchmarks never fail for being slow; each figure states its comparison,
// measured in the same run.
// Usage: npm run bench [-- --only NAME,...]   NAME: startup, drivers, agent, core-calls, round-trips,
//        status, storm, datapath. Env: BENCH_RUNS (start-up runs, default 30), BENCH_IMAGE_MIB (1024).
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
const step = (name) => process.stderr.write(`bench: ${name}...\n`)

if (want('startup')) {
  step('start-up')
  const m = await load('startup.bench.js')
  results.startup = await m.measureStartup(runs)
  sections.push(m.startupMarkdown(results.startup))
}
if (want('drivers')) {
  step('OpenNebula driver start-up')
  const m = await load('startup.bench.js')
  results.drivers = await m.measureDriverStartup(Math.max(3, Math.round(runs / 3)))
  sections.push(m.driverStartupMarkdown(results.drivers))
}
if (want('agent')) {
  step('call protocol')
  const m = await load('agent.bench.js')
  results.agent = await m.measureAgent(runs)
  sections.push(m.agentMarkdown(results.agent))
}
if (want('core-calls')) {
  step('REST calls per core operation')
  const m = await load('core-calls.bench.js')
  results.coreCalls = await m.measureCoreCalls(Math.min(runs, 20))
  sections.push(m.coreCallsMarkdown(results.coreCalls))
}
if (want('round-trips')) {
  step('REST round trips per adapter operation')
  const m = await load('round-trips.bench.js')
  results.roundTrips = await m.measureRoundTrips()
  sections.push(m.roundTripsMarkdown(results.roundTrips))
}
if (want('status')) {
  step('status at scale (1,000 and 10,000 volumes)')
  const m = await load('status.bench.js')
  results.status = [await m.measureStatus(1000), await m.measureStatus(10000)]
  sections.push(m.statusMarkdown(results.status))
}
if (want('storm')) {
  step('storm (100 VMs, 8 hosts, 50 live migrations)')
  const m = await load('storm.bench.js')
  results.storm = await m.measureStorm()
  writeFileSync(join(outDir, m.STORM_CHART), m.stormSvg(results.storm))
  sections.push(m.stormMarkdown(results.storm))
}
if (want('datapath')) {
  step('data path (qcow2 import)')
  const m = await load('datapath.bench.js')
  results.dataPath = await m.measureDataPath({ sizeMiB: Number(process.env.BENCH_IMAGE_MIB ?? '1024') })
  sections.push(m.dataPathMarkdown(results.dataPath))
}

const md = ['# linstor-virt benchmarks', '', `${results.date}, Node ${process.version}, ${(await import('node:os')).cpus().length} CPUs. Against the emulator; ratios are taken within this one run.`, '', ...sections.map((s) => s.trimEnd() + '\n')].join('\n')
const suffix = only === undefined ? 'latest' : `partial-${[...only].join('-')}`
writeFileSync(join(outDir, `${suffix}.json`), JSON.stringify(results, null, 2) + '\n')
writeFileSync(join(outDir, `${suffix}.md`), md)
process.stdout.write(md)
