#!/usr/bin/env node
// Runs the bundled CLI from a checkout: installs dependencies if missing, rebuilds the bundle
// (esbuild only, about a second), then runs `linstor-virt ARGS...` with signals passed through.
// Usage: node scripts/run-cli.mjs emulator --listen 127.0.0.1:3370
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { ensureDeps, root, run } from './lib.mjs'

ensureDeps()
if (run(process.execPath, [join(root, 'scripts', 'build.mjs'), '--no-tsc']) !== 0) process.exit(1)
const child = spawn(process.execPath, [join(root, 'dist', 'linstor-virt.js'), ...process.argv.slice(2)], { stdio: 'inherit' })
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig))
child.on('exit', (code, signal) => process.exit(code ?? (signal === null ? 1 : 0)))
