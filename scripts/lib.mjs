// Shared by the npm scripts: the repository root, running a command, installing dependencies.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, isAbsolute, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const root = join(dirname(fileURLToPath(import.meta.url)), '..')

/** The last file `scripts/build.mjs` writes into dist/: a bundle without it is incomplete. */
export const BUNDLE_STAMP = '.bundle-complete'

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

/**
 * Debian packages the tests use (real parts where users use real parts): installed with apt-get
 * when a command is missing and this runs as root; otherwise a notice says what to install.
 * `needs`: [command, package] pairs; a command given as an absolute path (daemons in /usr/sbin,
 * which is not on every PATH) is looked for at that path.
 */
export function ensureDebianPackages(needs) {
  const onPath = (cmd) => (process.env.PATH ?? '').split(':').some((d) => d !== '' && existsSync(join(d, cmd)))
  const present = (cmd) => (isAbsolute(cmd) ? existsSync(cmd) : onPath(cmd))
  const missing = needs.filter(([cmd]) => !present(cmd)).map(([, pkg]) => pkg)
  if (missing.length === 0) return
  const pkgs = [...new Set(missing)]
  if (process.getuid?.() === 0 && onPath('apt-get')) {
    process.stderr.write(`test: installing ${pkgs.join(' ')}\n`)
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit' })
    const r = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
    if (r.status !== 0) process.stderr.write(`test: apt-get install ${pkgs.join(' ')} failed\n`)
  } else {
    process.stderr.write(`test: please install ${pkgs.join(' ')} (the tests that need them will fail)\n`)
  }
}

/** packaging/debian/changelog: the project's version, Debian style (`linstor-virt version` prints it). */
export const DEBIAN_CHANGELOG = join(root, 'packaging', 'debian', 'changelog')

/** The version of the newest entry of packaging/debian/changelog (its first line). */
export function changelogVersion(file = DEBIAN_CHANGELOG) {
  const first = readFileSync(file, 'utf8').split('\n', 1)[0] ?? ''
  const m = /^linstor-virt \(([0-9][A-Za-z0-9.+~:-]*)\) [a-z-]+; urgency=[a-z]+$/.exec(first)
  if (m === null) throw new Error(`${file}: the first line is not a changelog entry header: '${first}'`)
  return m[1]
}
