#!/usr/bin/env node
// Runs the bundled CLI from a checkout: installs dependencies if missing, rebuilds the bundle when
// it is incomplete or any input is newer than it (esbuild only, a few seconds), then runs
// `linstor-virt ARGS...` with signals passed through.
// Usage: node scripts/run-cli.mjs emulator --listen 127.0.0.1:3370
import { spawn } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { BUNDLE_STAMP, ensureDeps, root, run } from './lib.mjs'

/** Newest modification time of any file under dir (0 when it does not exist). */
function newest(dir) {
  let entries
  try {
    entries = readdirSync(dir, { withFileTypes: true })
  } catch {
    return 0
  }
  let t = 0
  for (const entry of entries) {
    if (entry.name === '__pycache__') continue
    const p = join(dir, entry.name)
    t = Math.max(t, entry.isDirectory() ? newest(p) : statSync(p).mtimeMs)
  }
  return t
}

/** The bundle is current when the build finished (its stamp is there) after every input changed. */
function bundleIsCurrent() {
  let built
  try {
    built = statSync(join(root, 'dist', BUNDLE_STAMP)).mtimeMs
  } catch {
    return false
  }
  const inputs = ['core', 'cli', 'emulator', 'plugins', 'packaging'].map((d) => newest(join(root, d)))
  const files = ['package-lock.json', 'package.json', join('scripts', 'build.mjs')].map((f) => statSync(join(root, f)).mtimeMs)
  return Math.max(...inputs, ...files) <= built
}

ensureDeps()
if (!bundleIsCurrent() && run(process.execPath, [join(root, 'scripts', 'build.mjs'), '--no-tsc']) !== 0) process.exit(1)
const child = spawn(process.execPath, [join(root, 'dist', 'linstor-virt.js'), ...process.argv.slice(2)], { stdio: 'inherit' })
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig))
child.on('exit', (code, signal) => process.exit(code ?? (signal === null ? 1 : 0)))
