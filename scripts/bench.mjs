#!/usr/bin/env node
// `npm run bench`: builds, runs every benchmark in bench/ and writes bench/results/latest.md and
// latest.json. Benchmarks never fail for being slow; they report ratios measured in one run.
// Env: BENCH_RUNS (default 30).
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ensureDeps, root, run } from './lib.mjs'

ensureDeps()
if (run(process.execPath, [join(root, 'scripts', 'build.mjs')]) !== 0) process.exit(1)
const { measureStartup, startupMarkdown } = await import(join(root, 'build', 'bench', 'startup.bench.js'))
const { measureCoreCalls, coreCallsMarkdown } = await import(join(root, 'build', 'bench', 'core-calls.bench.js'))
const { measureAgent, agentMarkdown } = await import(join(root, 'build', 'bench', 'agent.bench.js'))
const { measureStatus, statusMarkdown } = await import(join(root, 'build', 'bench', 'status.bench.js'))
const runs = Number(process.env.BENCH_RUNS ?? '30')
const startup = measureStartup(runs)
const coreCalls = await measureCoreCalls(Math.min(runs, 20))
const agent = await measureAgent(runs)
const status = [await measureStatus(1000), await measureStatus(10000)]
const results = { date: new Date().toISOString(), node: process.version, startup, coreCalls, agent, status }
const md = ['# linstor-virt benchmarks', '', `${results.date}, Node ${process.version}`, '', startupMarkdown(startup), '', coreCallsMarkdown(coreCalls), '', agentMarkdown(agent), '', statusMarkdown(status)].join('\n')
mkdirSync(join(root, 'bench', 'results'), { recursive: true })
writeFileSync(join(root, 'bench', 'results', 'latest.json'), JSON.stringify(results, null, 2) + '\n')
writeFileSync(join(root, 'bench', 'results', 'latest.md'), md)
process.stdout.write(md)
