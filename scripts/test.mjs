#!/usr/bin/env node
// The one test command (`npm test`, called by .ci/run): installs what is missing, builds, and runs
// every compiled test file with node:test.
// Usage: npm test [-- FILTER...]   FILTER: substrings of test file paths to run only those.
// Env: TEST_CONCURRENCY (default 4), TEST_TIMEOUT_MS (default 180000 per test), SKIP_LINT=1 (local runs only).
import { spawn } from 'node:child_process'
import { createWriteStream, readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { ensureDebianPackages, ensureDeps, root, run } from './lib.mjs'

ensureDeps()
// The Proxmox shim's tests run Debian's perl and prove (Test::More, JSON::PP ship with perl); the
// OpenNebula adapter's run qemu-img and talk to a real sshd through the OpenSSH client; the Cinder
// driver's run under Debian's own Cinder (Zed), always with /usr/bin/python3.
ensureDebianPackages([
  ['perl', 'perl'],
  ['prove', 'perl'],
  ['qemu-img', 'qemu-utils'],
  ['ssh', 'openssh-client'],
  ['ssh-keygen', 'openssh-client'],
  ['/usr/sbin/sshd', 'openssh-server'],
  ['/usr/bin/python3', 'python3'],
  ['/usr/lib/python3/dist-packages/cinder/volume/driver.py', 'python3-cinder'],
  ['/usr/lib/python3/dist-packages/os_brick/__init__.py', 'python3-os-brick'],
  // OpenNebula's own tm/common/context (run in place by the OpenNebula e2e tests) builds the ISO with it.
  ['xorriso', 'xorriso'],
])

if (run(process.execPath, [join(root, 'scripts', 'build.mjs')]) !== 0) process.exit(1)

// Type-aware lint (no floating promises, no shell) is part of the test: CI enforces it.
if (process.env.SKIP_LINT !== '1') {
  const eslint = join(root, 'node_modules', 'eslint', 'bin', 'eslint.js')
  if (run(process.execPath, [eslint, '.']) !== 0) {
    process.stderr.write('test: lint failed\n')
    process.exit(1)
  }
}

const found = []
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules') continue
    const p = join(dir, name)
    if (statSync(p).isDirectory()) walk(p)
    else if (name.endsWith('.test.js')) found.push(p)
  }
}
walk(join(root, 'build'))
const filters = process.argv.slice(2)
const files = found
  .filter((f) => filters.length === 0 || filters.some((s) => relative(root, f).includes(s)))
  .sort()
if (files.length === 0) {
  process.stderr.write('test: no test files matched\n')
  process.exit(1)
}
const concurrency = process.env.TEST_CONCURRENCY ?? '4'
const timeout = process.env.TEST_TIMEOUT_MS ?? '180000'
// The suite's whole output (every test's report, diagnostics and failure messages) is kept in
// build/test-output.log and scanned for the secrets the tests use: a token or password that
// reaches a log line, an error message or a reply shows up here and fails the run.
const logFile = join(root, 'build', 'test-output.log')
const log = createWriteStream(logFile)
const child = spawn(process.execPath, ['--test', `--test-concurrency=${concurrency}`, `--test-timeout=${timeout}`, '--test-reporter=spec', ...files], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
child.stdout.on('data', (c) => {
  process.stdout.write(c)
  log.write(c)
})
child.stderr.on('data', (c) => {
  process.stderr.write(c)
  log.write(c)
})
const status = await new Promise((resolve) => child.on('close', (code) => resolve(code ?? 1)))
await new Promise((resolve) => log.end(resolve))
const scan = run(process.execPath, [join(root, 'scripts', 'scan-secrets.mjs'), logFile])
if (scan !== 0) process.stderr.write(`test: secrets found in the suite's output (${relative(root, logFile)}), see above\n`)
process.exit(status !== 0 ? status : scan)
