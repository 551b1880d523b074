// Shared by the npm scripts: the repository root, running a command, installing dependencies.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const root = join(dirname(fileURLToPath(import.meta.url)), '..')

/** Runs a command with inherited stdio in the repository root; returns its exit status. */
export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts })
  if (r.error) throw r.error
  return r.status ?? 1
}

/** A fresh clone has no node_modules: install exactly the locked versions. */
export function ensureDeps() {
  if (existsSync(join(root, 'node_modules', '.package-lock.json'))) return
  process.stderr.write('node_modules missing, running npm ci\n')
  if (run('npm', ['ci', '--no-audit', '--no-fund']) !== 0) process.exit(1)
}
