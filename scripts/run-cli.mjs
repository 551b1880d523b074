#!/usr/bin/env node
// Runs the bundled CLI from a checkout: installs dependencies if missing, rebuilds the bundle when
// a source file is newer than it (esbuild only, about a second), then runs `linstor-virt ARGS...`
// with signals passed through. Usage: node scripts/run-cli.mjs emulator --listen 127.0.0.1:3370
import { spawn } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { ensureDeps, root, run } from './lib.mjs'

function newestSource(dir) {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name)
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(p))
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs)
  }
  return newest
}

function bundleIsCurrent() {
  let built
  try {
    built = statSync(join(root, 'dist', 'linstor-virt.js')).mtimeMs
  } catch {
    return false
  }
  const sources = ['core', 'cli', 'emulator', 'plugins'].map((d) => {
    try {
      return newestSource(join(root, d))
    } catch {
      return 0
    }
  })
  return Math.max(statSync(join(root, 'package-lock.json')).mtimeMs, ...sources) <= built
}

ensureDeps()
if (!bundleIsCurrent() && run(process.execPath, [join(root, 'scripts', 'build.mjs'), '--no-tsc']) !== 0) process.exit(1)
const child = spawn(process.execPath, [join(root, 'dist', 'linstor-virt.js'), ...process.argv.slice(2)], { stdio: 'inherit' })
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig))
child.on('exit', (code, signal) => process.exit(code ?? (signal === null ? 1 : 0)))
