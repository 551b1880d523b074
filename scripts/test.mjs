#!/usr/bin/env node
// The one test command (`npm test`, called by .ci/run): installs what is missing, builds, and runs
// every compiled test file with node:test while ESLint runs beside it.
// Usage: npm test [-- FILTER...]   FILTER: substrings of test file paths to run only those.
// Env: TEST_CONCURRENCY (default: os.availableParallelism(); files that mostly wait run two at a time beside them), TEST_TIMEOUT_MS (default 600000, per
// test file and per test), SKIP_LINT=1 (local runs only), TEST_TMPDIR (where the tests' scratch folder goes;
// default /dev/shm when it is a tmpfs with room, else the temporary folder).
import { spawn } from 'node:child_process'
import { chmodSync, createWriteStream, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, statfsSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { ensureDebianPackages, ensureDeps, root, run } from './lib.mjs'

ensureDeps()
// The Proxmox shim's tests run Debian's perl and prove (Test::More, JSON::PP ship with perl); the
// OpenNebula adapter's run qemu-img and talk to a real sshd through the OpenSSH client; the Cinder
// driver's run under Debian's own Cinder (Zed), always with /usr/bin/python3. Debian 12's own
// nodejs for the runtime's tests is fetched by the tests themselves (scripts/debian-node.mjs).
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
  // The Debian packages (npm run package) are built with dpkg-deb and checked with lintian.
  ['dpkg-deb', 'dpkg'],
  ['lintian', 'lintian'],
  // The real PVE storage library (../shared/upstream/pve, booted by ../shared/tools/pve-harness) for
  // the Proxmox hook tests: what its README lists for a bare Debian bookworm.
  ['/usr/lib/x86_64-linux-gnu/perl5/5.36/AE.pm', 'libanyevent-perl'],
  ['/usr/lib/x86_64-linux-gnu/perl5/5.36/Clone.pm', 'libclone-perl'],
  ['/usr/share/perl5/Devel/Cycle.pm', 'libdevel-cycle-perl'],
  ['/usr/share/perl5/File/chdir.pm', 'libfile-chdir-perl'],
  ['/usr/lib/x86_64-linux-gnu/perl5/5.36/Filesys/Df.pm', 'libfilesys-df-perl'],
  ['/usr/share/perl5/JSON.pm', 'libjson-perl'],
  ['/usr/lib/x86_64-linux-gnu/perl5/5.36/JSON/XS.pm', 'libjson-xs-perl'],
  ['/usr/lib/x86_64-linux-gnu/perl5/5.36/Linux/Inotify2.pm', 'liblinux-inotify2-perl'],
  ['/usr/lib/x86_64-linux-gnu/perl5/5.36/Net/DBus.pm', 'libnet-dbus-perl'],
  ['/usr/share/perl5/Net/IP.pm', 'libnet-ip-perl'],
  ['/usr/lib/x86_64-linux-gnu/perl5/5.36/NetAddr/IP.pm', 'libnetaddr-ip-perl'],
  ['/usr/lib/x86_64-linux-gnu/perl5/5.36/POSIX/strptime.pm', 'libposix-strptime-perl'],
  ['/usr/share/perl5/String/ShellQuote.pm', 'libstring-shellquote-perl'],
  ['/usr/share/perl5/Date/Format.pm', 'libtimedate-perl'],
  ['/usr/share/perl5/LWP.pm', 'libwww-perl'],
  ['/usr/lib/x86_64-linux-gnu/perl5/5.36/XML/LibXML.pm', 'libxml-libxml-perl'],
])

// Type-aware lint (no floating promises, no shell) is part of the test: CI enforces it. It runs
// beside the build and the tests (about half a minute of one core; it reads the sources, not the
// build, so it starts first and keeps the core tsc leaves idle busy); its verdict comes at the end.
let lint = Promise.resolve({ status: 0, output: '' })
if (process.env.SKIP_LINT !== '1') {
  process.stderr.write('test: lint (ESLint, type-aware) runs beside the tests; its result comes at the end (SKIP_LINT=1 skips it)\n')
  const eslint = spawn(process.execPath, [join(root, 'node_modules', 'eslint', 'bin', 'eslint.js'), '.'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  const out = []
  eslint.stdout.on('data', (c) => out.push(c))
  eslint.stderr.on('data', (c) => out.push(c))
  lint = new Promise((resolve) => eslint.on('close', (code) => resolve({ status: code ?? 1, output: Buffer.concat(out).toString('utf8') })))
}

if (run(process.execPath, [join(root, 'scripts', 'build.mjs')]) !== 0) process.exit(1)

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
// The files that take longest (waiting on deadlines, Python, dpkg, npm) start first, so that the
// short ones fill the cores around them instead of leaving one long file running alone at the end;
// longest first, as measured on a 2-core machine running the whole suite (scripts/test-lane.mjs
// keeps this order: node --test would sort the files by name).
const LONG_FIRST = ['reliability/stacks-matrix', 'integration/cinder-python', 'integration/packages', 'reliability/fault-matrix.test', 'integration/node18', 'integration/first-contact', 'property/protocol-depth', 'integration/bench-smoke', 'emulator/cluster-resources', 'integration/call-protocol', 'property/opennebula-input', 'integration/opennebula-e2e-linstor-migrate', 'integration/agent-bounds', 'integration/opennebula-e2e-linstor-data', 'integration/opennebula-e2e-linstor-stop', 'integration/opennebula-e2e.test', 'integration/proxmox-perl', 'upstream/linstor-cli', 'integration/opennebula-e2e-ssh-data', 'property/names-identity', 'reliability/fault-matrix-hung', 'proxmox/pve-real-names', 'integration/opennebula-e2e-ssh-migrate', 'integration/opennebula-e2e-ssh-stop', 'integration/opennebula-images', 'integration/opennebula-sshd', 'integration/proxmox-e2e-pve8-data', 'integration/proxmox-e2e-pve9-data', 'reliability/soak', 'reliability/fault-matrix-hosts', 'integration/cli.test', 'integration/proxmox-e2e-pve8-admin', 'integration/proxmox-e2e-pve9-admin', 'reliability/fault-matrix-requests', 'reliability/crash-points-opennebula', 'property/protocol-input', 'integration/install', 'integration/status', 'integration/bench-cinder-transport', 'security/trust-boundaries']
/** Where a file stands in a list of path fragments (-1: in none). */
const indexIn = (list, f) => list.findIndex((p) => relative(root, f).includes(p))
const rank = (f) => {
  const i = indexIn(LONG_FIRST, f)
  return i < 0 ? LONG_FIRST.length : i
}
const files = found
  .filter((f) => filters.length === 0 || indexIn(filters, f) >= 0)
  .sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0))
// Files that mostly wait (on a controller that never answers, a budget, a deadline the code sets
// itself, a peer process: measured at under half a core over their run) go to a lane of their own
// beside the cores' lanes, longest first: otherwise each holds one of the cores' places while the
// core idles. Measured on the 2-core machine from a fresh clone: with these 15 files two at a time
// the cores idle 8 % of the run (13 % with 8 files one at a time), and the lane ends well before
// the cores' lanes do.
const WAITING = ['reliability/stacks-matrix', 'reliability/fault-matrix-blackhole', 'reliability/fault-matrix-slow60', 'property/protocol-depth', 'reliability/fault-matrix.test', 'integration/proxmox-pve9-blackhole', 'integration/core-offline', 'integration/migration-race', 'integration/call-protocol', 'integration/bench-start-faults', 'integration/proxmox-perl', 'reliability/soak', 'integration/linstor-budget', 'integration/linstor-client', 'emulator/faults']
const waitRank = (f) => indexIn(WAITING, f)
// Two at a time: together they use about one core.
const WAITING_WIDTH = 2
const waiting = files.filter((f) => waitRank(f) >= 0).sort((a, b) => waitRank(a) - waitRank(b))
const working = files.filter((f) => waitRank(f) < 0)
if (files.length === 0) {
  process.stderr.write('test: no test files matched\n')
  process.exit(1)
}
const concurrency = process.env.TEST_CONCURRENCY ?? String(availableParallelism())
const timeout = process.env.TEST_TIMEOUT_MS ?? '600000'

/**
 * The tests' scratch folder (their TMPDIR), removed at the end with whatever a test left there.
 * On a RAM-backed tmpfs when the machine has one with room and without noexec (/dev/shm on
 * Debian): the tests make and remove some hundred thousand small files and folders (emulator
 * state, device links, lock and host-state folders), and on the 2-core machine's ext4 that cost
 * about 25 s of system time a run. Else under the usual temporary folder. TEST_TMPDIR chooses.
 */
function scratchDir() {
  if (process.env.TEST_TMPDIR) return mkdtempSync(join(process.env.TEST_TMPDIR, 'lv-test-'))
  try {
    const shm = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')).find((f) => f[1] === '/dev/shm')
    if (shm !== undefined && shm[2] === 'tmpfs' && !(shm[3] ?? '').split(',').includes('noexec')) {
      const { bavail, bsize } = statfsSync('/dev/shm')
      if (bavail * bsize >= 2 * 1024 ** 3) return mkdtempSync('/dev/shm/lv-test-')
    }
  } catch {
    // no /proc/mounts or /dev/shm: the usual temporary folder
  }
  return mkdtempSync(join(tmpdir(), 'lv-test-'))
}
const scratch = scratchDir()
// Like /tmp: a test may hand a folder in it to another user (the doctor run as nobody).
chmodSync(scratch, 0o1777)
// The suite's whole output (every test's report, diagnostics and failure messages) is kept in
// build/test-output.log and scanned for the secrets the tests use: a token or password that
// reaches a log line, an error message or a reply shows up here and fails the run.
const logFile = join(root, 'build', 'test-output.log')
const log = createWriteStream(logFile)
process.stderr.write(`test: ${files.length} test files (scratch folder ${scratch}), ${concurrency} at a time${waiting.length > 0 ? ` (and ${waiting.length} that mostly wait, ${WAITING_WIDTH} at a time beside them)` : ''}\n`)
/**
 * One lane: node:test over `list` in that order, `n` files at a time (scripts/test-lane.mjs; the
 * spec report on stdout, and on stderr the subtest that was running when a file timed out), its
 * report passed through line by line (two lanes never mix a line).
 */
function lane(list, n) {
  if (list.length === 0) return Promise.resolve(0)
  // The emulators of the test worlds skip fsync (docs/emulator.md): their state outlives a killed
  // emulator without it, and thousands of worlds would otherwise wait on a shared disk.
  const env = { ...process.env, LINSTOR_EMU_FSYNC: process.env.LINSTOR_EMU_FSYNC ?? '0', TMPDIR: scratch }
  const child = spawn(process.execPath, [join(root, 'scripts', 'test-lane.mjs'), String(n), timeout, ...list], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
  const pass = (stream, out) => {
    let rest = ''
    // Decoded as a stream: a character split between two chunks (✔, ✖) stays whole.
    stream.setEncoding('utf8')
    stream.on('data', (c) => {
      const text = rest + c
      const end = text.lastIndexOf('\n') + 1
      rest = text.slice(end)
      if (end > 0) {
        out.write(text.slice(0, end))
        log.write(text.slice(0, end))
      }
    })
    stream.on('end', () => {
      if (rest !== '') {
        out.write(rest + '\n')
        log.write(rest + '\n')
      }
    })
  }
  pass(child.stdout, process.stdout)
  pass(child.stderr, process.stderr)
  return new Promise((resolve) => child.on('close', (code) => resolve(code ?? 1)))
}
const statuses = await Promise.all([lane(working, concurrency), lane(waiting, WAITING_WIDTH)])
const status = statuses.find((s) => s !== 0) ?? 0
try {
  rmSync(scratch, { recursive: true, force: true })
} catch (err) {
  process.stderr.write(`test: could not remove the tests' scratch folder ${scratch}: ${err.message}\n`)
}
await new Promise((resolve) => log.end(resolve))
const scan = run(process.execPath, [join(root, 'scripts', 'scan-secrets.mjs'), logFile])
if (scan !== 0) process.stderr.write(`test: secrets found in the suite's output (${relative(root, logFile)}), see above\n`)
const linted = await lint
if (linted.status !== 0) process.stderr.write(`${linted.output}test: lint failed\n`)
else if (process.env.SKIP_LINT !== '1') process.stderr.write('test: lint passed\n')
process.exit(status !== 0 ? status : scan !== 0 ? scan : linted.status)
