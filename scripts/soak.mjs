#!/usr/bin/env node
// `npm run soak -- --ops N [--seed S]`: builds (tsc into build/; the soak needs no bundle), then runs
// the soak engine (test/reliability/soak.ts): N random lifecycle steps across the Proxmox, OpenNebula
// and Cinder adapters against the emulator, with random faults, the invariants checked after every
// step. Progress goes to stderr; the last line on stdout is `operations: N, faults: F, violations: V`.
// Exit code 0 only when V is 0. Without --seed a random seed is used and printed, to repeat a run.
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ensureDeps, root, run } from './lib.mjs'

function usage(message) {
  process.stderr.write(`soak: ${message}\nusage: npm run soak -- --ops N [--seed S]\n`)
  process.exit(2)
}

const argv = process.argv.slice(2)
let ops = 1000
let seed = Math.floor(Math.random() * 2 ** 31)
for (let i = 0; i < argv.length; i++) {
  const value = () => {
    const v = argv[++i]
    if (v === undefined || !/^[0-9]+$/.test(v)) usage(`${argv[i - 1]} needs a whole number`)
    return Number(v)
  }
  if (argv[i] === '--ops') ops = value()
  else if (argv[i] === '--seed') seed = value()
  else usage(`unknown argument ${argv[i]}`)
}
if (ops < 1) usage('--ops must be at least 1')

ensureDeps()
if (run(process.execPath, [join(root, 'scripts', 'build.mjs'), '--no-bundle']) !== 0) process.exit(1)
const { runSoak } = await import(pathToFileURL(join(root, 'build', 'test', 'reliability', 'soak.js')).href)

process.stderr.write(`soak: ${ops} operations, seed ${seed}\n`)
const started = Date.now()
const report = await runSoak({
  ops,
  seed,
  onStep: (n, result) => {
    const bad = result.problems.length + result.violations.length > 0
    process.stderr.write(`[${n}/${ops}] ${result.line}${bad ? '  <-- VIOLATION' : ''}\n`)
  },
})
process.stderr.write(`soak: ${Math.round((Date.now() - started) / 1000)} s; steps per adapter ${JSON.stringify(report.perAdapter)}; faults ${JSON.stringify(report.perFault)}; given up and cleaned by the doctor ${report.doctorRuns}; seed ${seed}\n`)
for (const issue of report.issues) process.stderr.write(`soak: ${issue}\n`)
process.stdout.write(`${report.summary}\n`)
// Worlds leave nothing running, but a stray handle must not keep a finished soak alive.
process.exit(report.violations === 0 ? 0 : 1)
