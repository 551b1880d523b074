#!/usr/bin/env node
// Debian 12's own Node.js, for running the built bundle the way a host with Debian's `nodejs`
// package runs it: `apt-get download` of nodejs, libnode108 and whatever of their dependencies this
// machine lacks (Debian bookworm's packages), unpacked with `dpkg -x` into build/debian-node/.
// Nothing is installed system-wide. The tests use it (test/integration/node18.test.ts,
// packages.test.ts); by hand: `node scripts/debian-node.mjs` prints the folder, then
// `build/debian-node/bin/node dist/linstor-virt.js sandbox`.
//
// Debian builds node with acorn, cjs-module-lexer and undici taken from /usr/share/nodejs at fixed
// paths (its node-* packages). bin/node therefore runs node in a private mount namespace with the
// unpacked usr/share laid over /usr/share (a read-only overlay; needs root, as CI has), and with the
// unpacked shared libraries on LD_LIBRARY_PATH.
//
// Usage: node scripts/debian-node.mjs [--json]
// Output: the folder (or, with --json, {dir, node, version, debs}); exit 1 with a plain reason when
// this machine cannot fetch it (not root, no apt-get, no Debian 12 nodejs in apt's lists).
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync, chmodSync } from 'node:fs'
import { join } from 'node:path'
import { root } from './lib.mjs'

export const CACHE = join(root, 'build', 'debian-node')
const SUITE = /^bookworm(-updates|-security)?\//

class Unavailable extends Error {}

function cmd(command, args, opts = {}) {
  const r = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...opts })
  if (r.error) throw new Unavailable(`${command}: ${r.error.message}`)
  return r
}

function onPath(name) {
  return (process.env.PATH ?? '/usr/bin:/bin').split(':').some((d) => d !== '' && existsSync(join(d, name)))
}

const compare = (a, op, b) => cmd('dpkg', ['--compare-versions', a, op, b]).status === 0

/** Debian 12's nodejs versions in apt's lists (newest first); runs apt-get update once when there are none. */
function bookwormNodeVersion() {
  for (let attempt = 0; attempt < 2; attempt++) {
    const lines = cmd('apt-cache', ['madison', 'nodejs']).stdout.split('\n')
    const versions = []
    for (const line of lines) {
      const [, version, source] = line.split('|').map((s) => s.trim())
      if (version !== undefined && source !== undefined && SUITE.test(source.split(' ')[1] ?? '')) versions.push(version)
    }
    if (versions.length > 0) return versions.reduce((best, v) => (compare(v, 'gt', best) ? v : best))
    if (attempt === 0) cmd('apt-get', ['update', '-qq'], { stdio: 'inherit' })
  }
  throw new Unavailable("apt's package lists have no nodejs from Debian 12 (bookworm); this machine needs deb.debian.org's bookworm and bookworm-security in its apt sources")
}

/** The installed version of a package on this machine, or undefined. */
function installed(pkg) {
  const r = cmd('dpkg-query', ['-W', '-f', '${db:Status-Status} ${Version}', pkg])
  const [status, version] = r.stdout.trim().split(' ')
  return r.status === 0 && status === 'installed' ? version : undefined
}

/** "libc6 (>= 2.34), libnode108 (= 18.20.4+dfsg-1~deb12u3), a | b" as [{name, op, version}] (first alternatives). */
function parseDepends(field) {
  return field
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((alt) => {
      const m = /^([a-z0-9][a-z0-9+.-]*)(?::[a-z0-9-]+)?\s*(?:\(\s*(<<|<=|=|>=|>>)\s*([^)\s]+)\s*\))?/.exec(alt.split('|')[0].trim())
      if (m === null) throw new Error(`cannot read dependency '${alt}'`)
      return { name: m[1], op: m[2], version: m[3] }
    })
}

const OPS = { '<<': 'lt', '<=': 'le', '=': 'eq', '>=': 'ge', '>>': 'gt' }

/**
 * nodejs=version and its dependency closure, minus what this machine already has in a version that
 * satisfies the dependency: [name, version-or-undefined] to download.
 */
function packagesToFetch(version) {
  const want = new Map([['nodejs', version]])
  const queue = ['nodejs']
  while (queue.length > 0) {
    const name = queue.shift()
    const v = want.get(name)
    const show = cmd('apt-cache', ['show', v !== undefined ? `${name}=${v}` : name])
    if (show.status !== 0) throw new Unavailable(`apt-cache show ${name}${v !== undefined ? `=${v}` : ''}: ${show.stderr.trim()}`)
    const stanza = show.stdout.split('\n\n')[0]
    const depends = /^(?:Pre-)?Depends: (.*)$/gm
    for (const m of stanza.matchAll(depends)) {
      for (const dep of parseDepends(m[1])) {
        if (want.has(dep.name)) continue
        const have = installed(dep.name)
        if (have !== undefined && (dep.op === undefined || compare(have, OPS[dep.op], dep.version))) continue
        want.set(dep.name, dep.op === '=' ? dep.version : undefined)
        queue.push(dep.name)
      }
    }
  }
  return [...want]
}

function wrapperScript(dir, libDir, overlay) {
  const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`
  const run = `LD_LIBRARY_PATH=${q(libDir)}\${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec ${q(join(dir, 'usr', 'bin', 'node'))} "$@"`
  if (!overlay) return `#!/bin/sh\n# Debian 12's node, unpacked by scripts/debian-node.mjs.\n${run}\n`
  return `#!/bin/sh
# Debian 12's node, unpacked by scripts/debian-node.mjs. It reads acorn, cjs-module-lexer and undici
# from /usr/share/nodejs: in a private mount namespace, the unpacked usr/share lies over /usr/share.
# Processes it starts stay in that namespace (LV_DEBIAN_NODE_NS says so), so they need no second one.
if [ "$LV_DEBIAN_NODE_NS" = 1 ]; then
  ${run}
fi
export LV_DEBIAN_NODE_NS=1
exec unshare --mount --propagation private -- /bin/sh -c 'mount -t overlay lv-debian-node -o lowerdir="$1":/usr/share /usr/share || exit 70; shift; exec "$0" "$@"' "$0" ${q(join(dir, 'usr', 'share'))} "$@"
`
}

/** Fetches and unpacks (once; the folder is the cache) and returns {dir, node, version, debs}. */
export function debianNode() {
  if (process.getuid?.() !== 0) throw new Unavailable('not running as root: Debian 12\'s node runs in a mount namespace of its own (mount needs root; CI runs as root)')
  const ready = join(CACHE, 'ready.json')
  if (existsSync(ready)) return JSON.parse(readFileSync(ready, 'utf8'))
  for (const tool of ['apt-get', 'apt-cache', 'dpkg', 'dpkg-deb', 'dpkg-query', 'unshare', 'mount']) {
    if (!onPath(tool) && !existsSync(join('/usr/sbin', tool)) && !existsSync(join('/sbin', tool))) throw new Unavailable(`${tool} is not on this machine: fetching Debian 12's nodejs needs Debian's apt and dpkg (and util-linux)`)
  }
  const version = bookwormNodeVersion()
  const fetch = packagesToFetch(version)
  mkdirSync(join(root, 'build'), { recursive: true })
  const tmp = mkdtempSync(join(root, 'build', 'debian-node.tmp-'))
  try {
    const debsDir = join(tmp, 'debs')
    mkdirSync(debsDir)
    const dl = cmd('apt-get', ['download', '-q', ...fetch.map(([n, v]) => (v !== undefined ? `${n}=${v}` : n))], { cwd: debsDir })
    if (dl.status !== 0) throw new Unavailable(`apt-get download failed:\n${dl.stderr.trim()}`)
    const debs = readdirSync(debsDir).filter((f) => f.endsWith('.deb')).sort()
    for (const deb of debs) {
      const x = cmd('dpkg', ['-x', join(debsDir, deb), tmp])
      if (x.status !== 0) throw new Error(`dpkg -x ${deb}: ${x.stderr.trim()}`)
    }
    const libnode = readdirSync(join(tmp, 'usr', 'lib'), { recursive: true }).find((p) => /(^|\/)libnode\.so\.\d+$/.test(String(p)))
    if (libnode === undefined) throw new Error('no libnode.so in the unpacked packages')
    const final = CACHE
    const libDir = join(final, 'usr', 'lib', String(libnode).split('/').slice(0, -1).join('/'))
    mkdirSync(join(tmp, 'bin'))
    writeFileSync(join(tmp, 'bin', 'node'), wrapperScript(final, libDir, existsSync(join(tmp, 'usr', 'share', 'nodejs'))))
    chmodSync(join(tmp, 'bin', 'node'), 0o755)
    const info = { dir: final, node: join(final, 'bin', 'node'), version, debs: debs.map((d) => join(final, 'debs', d)) }
    writeFileSync(join(tmp, 'ready.json'), JSON.stringify(info, null, 2) + '\n')
    try {
      renameSync(tmp, final)
    } catch (err) {
      // Another process finished first (the tests fetch in parallel): use its folder.
      if (!existsSync(ready)) throw err
      rmSync(tmp, { recursive: true, force: true })
      return JSON.parse(readFileSync(ready, 'utf8'))
    }
    const check = cmd(info.node, ['-p', 'process.version'])
    if (check.status !== 0 || !/^v\d+\.\d+\.\d+$/.test(check.stdout.trim())) {
      rmSync(final, { recursive: true, force: true })
      throw new Error(`the unpacked node does not run (this machine must let root make mount namespaces and overlayfs mounts): ${check.stderr.trim() || check.stdout.trim()}`)
    }
    return info
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  try {
    const info = debianNode()
    process.stdout.write(process.argv.includes('--json') ? JSON.stringify(info) + '\n' : info.dir + '\n')
  } catch (err) {
    process.stderr.write(`debian-node: ${err instanceof Unavailable ? 'cannot fetch Debian 12\'s nodejs: ' : ''}${err.message}\n`)
    process.exit(1)
  }
}
