/**
 * The Debian packages for real: `npm run package` (scripts/package.mjs) builds the four packages of
 * the bundle, and of an older build of the same tree; dpkg installs the older ones into an
 * isolated root, upgrades them to the current ones, removes and purges them, running every
 * maintainer script. lintian reports no errors on them.
 *
 * The root (test/packages/in-root.sh) is this Debian machine seen through overlays, in a mount
 * namespace of its own: its own dpkg database and files start as this machine's, every change stays
 * in the test's folder. `dpkg --root` installs there and chroots into it for the maintainer scripts,
 * which thus run with Debian's real deb-systemd-helper, deb-systemd-invoke, invoke-rc.d, py3compile
 * and getent. That is the lighter way to a real dpkg run: a debootstrap'd chroot costs minutes of a
 * 2-core machine on every fresh clone (CI), this costs seconds. What cannot run there has stand-ins
 * that say so: systemctl (test/packages/standin/systemctl; it really starts the agent from its unit
 * with the root's node), and stand-in packages for what the platforms' own packages provide:
 * PVE's daemons (as "libpve-storage-perl", which linstor-virt-proxmox depends on), OpenNebula (the
 * oneadmin user and /var/lib/one/remotes) and cinder-volume (the cinder group, the daemon). nodejs
 * is Debian 12's own package, installed by dpkg from the .debs scripts/debian-node.mjs fetched.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import type { Stats } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, test } from 'node:test'
import { debianNode, runTo } from '../helpers/debian-node.js'
import type { DebianNode, Run } from '../helpers/debian-node.js'
import { repoRoot } from '../helpers/paths.js'

const root = repoRoot()
const PACKAGES = ['linstor-virt', 'linstor-virt-proxmox', 'linstor-virt-opennebula', 'linstor-virt-cinder']
const PERL_MODULE = 'usr/share/perl5/PVE/Storage/Custom/LinstorVirtPlugin.pm'
const UNIT = 'lib/systemd/system/linstor-virt-agent.service'
const CINDER_DROPIN = 'etc/systemd/system/linstor-virt-agent.service.d/cinder.conf'
const changelogVersion = /^linstor-virt \(([^)]+)\)/.exec(readFileSync(join(root, 'packaging/debian/changelog'), 'utf8'))?.[1] ?? '?'
const previousVersion = `${changelogVersion}~prev1`

let deb: DebianNode
let state = ''
let rootDir = ''
const debs: { previous: string[]; current: string[] } = { previous: [], current: [] }

function ok(r: Run, what: string): Run {
  assert.equal(r.code, 0, `${what} exited ${r.code}:\n${r.stdout}\n${r.stderr}`)
  return r
}

/** Runs a command inside the root's mount namespace (LV_ROOT is the root). */
function inRoot(args: string[], stdin?: string): Promise<Run> {
  return runTo(join(root, 'test/packages/in-root.sh'), [state, ...args], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' }, timeoutMs: 300_000, ...(stdin !== undefined ? { stdin } : {}) })
}

/** dpkg acting on the root (dpkg chroots into it for the maintainer scripts). */
function dpkg(...args: string[]): Promise<Run> {
  return inRoot(['sh', '-c', 'exec dpkg --root="$LV_ROOT" --force-unsafe-io --path-include="*" "$@"', 'dpkg', ...args])
}

function chroot(...args: string[]): Promise<Run> {
  return inRoot(['sh', '-c', 'exec chroot "$LV_ROOT" "$@"', 'chroot', ...args])
}

/** The stand-in systemctl's log: what the maintainer scripts started, restarted, stopped. */
function serviceLog(): string[] {
  const f = join(rootDir, 'run/standin/systemctl.log')
  return existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter((l) => l !== '') : []
}

/**
 * The maintainer scripts said nothing on stderr (an error of invoke-rc.d, a missing command, a
 * stand-in asked for what it does not emulate), beyond what dpkg and man-db say on every run.
 */
function quiet(r: Run, what: string): void {
  const benign = [/^Not building database; man-db\/auto-update is not 'true'\.$/, /^dpkg: warning: ignoring request to remove linstor-virt-\S+ which isn't installed$/]
  const said = r.stderr.split('\n').filter((l) => l.trim() !== '' && !benign.some((b) => b.test(l)))
  assert.deepEqual(said, [], `${what}: stderr of dpkg and the maintainer scripts`)
  assert.deepEqual(serviceLog().filter((l) => l.startsWith('UNEMULATED')), [], `${what}: the stand-in systemctl was asked for what it does not emulate`)
}

/** Log lines added by `work`. */
async function logged(work: () => Promise<unknown>): Promise<string[]> {
  const before = serviceLog().length
  await work()
  return serviceLog().slice(before)
}

/** Builds a stand-in .deb from files and maintainer scripts. */
function standinDeb(out: string, control: Record<string, string>, files: Record<string, [string, number]>, scripts: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(state, 'standin-'))
  for (const [p, [content, mode]] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true })
    writeFileSync(join(dir, p), content)
    chmodSync(join(dir, p), mode)
  }
  mkdirSync(join(dir, 'DEBIAN'))
  const fields = { Architecture: 'all', Maintainer: 'linstor-virt tests <tests@invalid>', Priority: 'optional', Section: 'misc', ...control }
  writeFileSync(join(dir, 'DEBIAN/control'), Object.entries(fields).map(([k, v]) => `${k}: ${v}`).join('\n') + '\n')
  for (const [kind, text] of Object.entries(scripts)) {
    writeFileSync(join(dir, 'DEBIAN', kind), text)
    chmodSync(join(dir, 'DEBIAN', kind), 0o755)
  }
  const file = join(out, `${control['Package'] ?? 'x'}.deb`)
  execFileSync('dpkg-deb', ['--root-owner-group', '--build', dir, file], { stdio: ['ignore', 'ignore', 'pipe'] })
  return file
}

const standinUnit = (what: string, exec: string): [string, number] => [`# STAND-IN unit of the package test: ${what}\n[Unit]\nDescription=stand-in ${what}\n\n[Service]\nType=oneshot\nExecStart=${exec}\n\n[Install]\nWantedBy=multi-user.target\n`, 0o644]
const enableAndStart = (units: string[]): string => `#!/bin/sh\nset -e\nfor u in ${units.join(' ')}; do deb-systemd-helper enable "$u"; systemctl start "$u"; done\n`

/** Every path under the root's overlay upper folders, with what it is (a whiteout hides a file of the machine). */
function changes(): Map<string, string> {
  const found = new Map<string, string>()
  const describe = (st: Stats): string => (st.isCharacterDevice() && st.rdev === 0 ? 'whiteout' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link' : `file ${st.mode.toString(8)} ${st.uid}:${st.gid}`)
  const walk = (base: string, rel: string): void => {
    for (const name of readdirSync(join(base, rel))) {
      const p = rel === '' ? name : `${rel}/${name}`
      const st = lstatSync(join(base, p))
      found.set(p, describe(st))
      if (st.isDirectory()) walk(base, p)
    }
  }
  for (const top of readdirSync(join(state, 'upper'))) {
    found.set(top, 'dir')
    walk(join(state, 'upper'), top)
  }
  return found
}

/** Package bookkeeping and caches that change with any dpkg run, not leftovers of a package. */
const BOOKKEEPING = /^var\/(lib\/dpkg|log|cache)(\/|$)/

before(async () => {
  deb = debianNode()
  state = mkdtempSync(join(tmpdir(), 'lv-pkgroot-'))
  rootDir = join(state, 'root')
  // The root: this machine's merged-/usr links, and run/ and tmp/ of its own. /run/systemd/system
  // says "systemd runs here" to the maintainer scripts, as on every PVE, OpenNebula or Cinder host.
  mkdirSync(join(rootDir, 'run/systemd/system'), { recursive: true })
  mkdirSync(join(rootDir, 'run/standin/active'), { recursive: true })
  writeFileSync(join(rootDir, 'run/standin/active/sysinit.target'), '')
  mkdirSync(join(rootDir, 'tmp'), { mode: 0o1777 })
  chmodSync(join(rootDir, 'tmp'), 0o1777)
  for (const d of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    let link: string | undefined
    try {
      link = readlinkSync(`/${d}`)
    } catch {
      link = undefined
    }
    if (link !== undefined) symlinkSync(link, join(rootDir, d))
  }
  // The stand-in systemctl shadows whatever this machine has; a Docker-style policy-rc.d that
  // forbids every restart does not belong to a host that runs its services. man-db's index is not
  // under test (lintian checks the manual page) and its trigger costs seconds per dpkg run.
  mkdirSync(join(state, 'upper/usr/bin'), { recursive: true })
  writeFileSync(join(state, 'upper/usr/bin/systemctl'), readFileSync(join(root, 'test/packages/standin/systemctl')))
  chmodSync(join(state, 'upper/usr/bin/systemctl'), 0o755)
  ok(await inRoot(['sh', '-c', 'rm -f "$LV_ROOT/usr/sbin/policy-rc.d" "$LV_ROOT/var/lib/man-db/auto-update"']), 'preparing the root')

  // The packages: the current bundle (dist/), and an older build of this tree to upgrade from.
  const prevDist = join(state, 'prev-dist')
  ok(await runTo(process.execPath, [join(root, 'scripts/build.mjs'), '--no-tsc', `--out=${prevDist}`, `--version=${previousVersion}`], { timeoutMs: 300_000 }), 'building the previous bundle')
  ok(await runTo(process.execPath, [join(root, 'scripts/package.mjs'), `--dist=${prevDist}`, `--out=${join(state, 'deb-previous')}`]), 'packaging the previous build')
  ok(await runTo(process.execPath, [join(root, 'scripts/package.mjs'), `--out=${join(state, 'deb-current')}`]), 'npm run package')
  for (const [which, dir] of [['previous', 'deb-previous'], ['current', 'deb-current']] as const) debs[which] = PACKAGES.map((p) => join(state, dir, `${p}_${which === 'previous' ? previousVersion : changelogVersion}_all.deb`))

  // What the platforms' own packages would have put on the host, as stand-ins.
  const standins = join(state, 'standin-debs')
  mkdirSync(standins)
  const pveDaemon = '#!/bin/sh\n# STAND-IN: reports the storage plugins a PVE daemon would load when it starts.\necho "$1 loads:" $(cd /usr/share/perl5/PVE/Storage/Custom 2>/dev/null && ls)\n'
  const pveDaemons = ['pvedaemon', 'pveproxy', 'pvestatd', 'pvescheduler']
  const stand = [
    standinDeb(
      standins,
      { Package: 'libpve-storage-perl', Version: '8.3.0-1~standin', Description: 'STAND-IN of the package test for PVE\'s storage library and daemons\n Oneshot units named like pve-manager\'s daemons that report the storage plugins they would load.' },
      { 'usr/lib/lv-standin/pve-daemon': [pveDaemon, 0o755], ...Object.fromEntries(pveDaemons.map((d) => [`lib/systemd/system/${d}.service`, standinUnit(d, `/usr/lib/lv-standin/pve-daemon ${d}`)])) },
      { postinst: enableAndStart(pveDaemons.map((d) => `${d}.service`)) },
    ),
    standinDeb(
      standins,
      { Package: 'opennebula', Version: '7.0.0-1~standin', Description: 'STAND-IN of the package test for OpenNebula\n The oneadmin user and the remotes folder with a driver of its own.' },
      { 'var/lib/one/remotes/VERSION': ['7.0.0\n', 0o644], 'var/lib/one/remotes/tm/ssh/ln': ['#!/bin/sh\n# STAND-IN\nexit 0\n', 0o755], 'var/lib/one/remotes/datastore/fs/cp': ['#!/bin/sh\n# STAND-IN\nexit 0\n', 0o755] },
      { preinst: '#!/bin/sh\nset -e\ngetent group oneadmin >/dev/null || groupadd --system oneadmin\ngetent passwd oneadmin >/dev/null || useradd --system -g oneadmin -d /var/lib/one -s /bin/sh oneadmin\n', postinst: '#!/bin/sh\nset -e\nchown -R oneadmin:oneadmin /var/lib/one\n' },
    ),
    standinDeb(
      standins,
      { Package: 'cinder-volume', Version: '2:21.3.1-1~standin', Description: 'STAND-IN of the package test for cinder-volume\n The cinder user and group and a oneshot unit reporting whether the driver is there.' },
      { 'usr/lib/lv-standin/cinder-volume': ['#!/bin/sh\n# STAND-IN: reports whether cinder-volume would find linstor-virt\'s driver.\ntest -f /usr/lib/python3/dist-packages/linstor_virt_cinder/driver.py && echo "driver present" || echo "driver absent"\n', 0o755], 'lib/systemd/system/cinder-volume.service': standinUnit('cinder-volume', '/usr/lib/lv-standin/cinder-volume') },
      { preinst: '#!/bin/sh\nset -e\ngetent group cinder >/dev/null || groupadd --system cinder\ngetent passwd cinder >/dev/null || useradd --system -g cinder -d /var/lib/cinder -s /usr/sbin/nologin cinder\n', postinst: enableAndStart(['cinder-volume.service']) },
    ),
  ]
  // Debian 12's nodejs (and what this machine lacks of its dependencies), then the stand-ins. A
  // nodejs of another origin on this machine (NodeSource's provides nodejs-legacy, which Debian's
  // libnode108 conflicts with) goes first, as apt would replace it.
  const installed = await dpkg('--status', 'nodejs')
  if (/^Status: install ok installed$/m.test(installed.stdout) && !installed.stdout.includes(`\nVersion: ${deb.version}\n`)) ok(await dpkg('--remove', '--force-depends', 'nodejs'), 'removing the machine\'s own nodejs from the root')
  ok(await dpkg('-i', ...deb.debs), "installing Debian 12's nodejs into the root")
  ok(await dpkg('-i', ...stand), 'installing the stand-ins')
})

after(() => {
  // LV_KEEP_PKGROOT=1 keeps the root's folder for a look (its path is in the test's diagnostics).
  if (state !== '' && process.env['LV_KEEP_PKGROOT'] !== '1') rmSync(state, { recursive: true, force: true })
})

test('npm run package builds the four packages: versions, dependencies, files where PVE, oned and Cinder look, no lintian errors', async () => {
  const fields = async (file: string, ...names: string[]): Promise<string[]> => ok(await runTo('dpkg-deb', ['--field', file, ...names]), `dpkg-deb --field ${file}`).stdout.trim().split('\n')
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }
  assert.equal(changelogVersion.replace(/[~+-].*$/, ''), pkg.version, 'packaging/debian/changelog and package.json name the same release')
  const [base, pve, one, cinder] = debs.current as [string, string, string, string]
  assert.deepEqual(await fields(base, 'Package', 'Version', 'Depends'), ['Package: linstor-virt', `Version: ${changelogVersion}`, 'Depends: nodejs (>= 18.19)'])
  assert.deepEqual(await fields(pve, 'Depends'), [`linstor-virt (= ${changelogVersion}), libpve-storage-perl`])
  assert.match((await fields(cinder, 'Depends'))[0] ?? '', new RegExp(`^linstor-virt \\(= ${changelogVersion.replace(/[.+~]/g, '\\$&')}\\), python3-cinder`))
  assert.match((await fields(one, 'Depends'))[0] ?? '', /^linstor-virt \(= .*\), nodejs \(>= 18\.19\)$/)
  const contents = async (file: string): Promise<string> => ok(await runTo('dpkg-deb', ['--contents', file]), 'dpkg-deb --contents').stdout
  assert.match(await contents(base), /\.\/usr\/bin\/linstor-virt -> \.\.\/lib\/linstor-virt\/linstor-virt\.js/)
  assert.match(await contents(base), /\.\/lib\/systemd\/system\/linstor-virt-agent\.service/)
  assert.match(await contents(pve), /\.\/usr\/share\/perl5\/PVE\/Storage\/Custom\/LinstorVirtPlugin\.pm/)
  assert.match(await contents(one), /\.\/var\/lib\/one\/remotes\/tm\/linstor\/premigrate/)
  assert.match(await contents(cinder), /\.\/usr\/lib\/python3\/dist-packages\/linstor_virt_cinder\/driver\.py/)
  assert.equal(ok(await runTo('dpkg-deb', ['--info', base, 'conffiles']), 'conffiles').stdout, '/etc/default/linstor-virt-agent\n/etc/linstor-virt/agent.conf\n')
  assert.equal(ok(await runTo('dpkg-deb', ['--info', cinder, 'conffiles']), 'conffiles').stdout, '/etc/linstor-virt/agent.conf.d/cinder.conf\n')
  const lint = await runTo('lintian', ['--fail-on', 'error', ...debs.current], { timeoutMs: 300_000 })
  assert.ok(!/^E: /m.test(lint.stdout), `lintian reports errors:\n${lint.stdout}`)
  assert.equal(lint.code, 0, `lintian (is it installed? npm test installs it):\n${lint.stdout}\n${lint.stderr}`)
})

test('install the previous build, upgrade to the current one, remove and purge: maintainer scripts, services, files, nothing left', async (t) => {
  const baseline = changes()

  await t.test('install: the agent starts under Debian 12\'s node, the PVE daemons load the plugin, cinder gets the socket, oned\'s lines are printed', async () => {
    let out: Run | undefined
    const log = await logged(async () => (out = ok(await dpkg('-i', ...debs.previous), 'dpkg -i (previous build)')))
    quiet(out as Run, 'install')
    const agent = log.find((l) => l.startsWith('start linstor-virt-agent.service'))
    assert.ok(agent !== undefined, log.join('\n'))
    assert.match(agent, /listening on \/run\/linstor-virt\/agent\.sock/)
    assert.match(agent, new RegExp(`"version":"${previousVersion.replace(/[.+~]/g, '\\$&')}"`), 'the agent answers a ping with the previous version')
    for (const d of ['pvedaemon', 'pveproxy', 'pvestatd', 'pvescheduler']) assert.ok(log.some((l) => l.startsWith(`restart ${d}.service: ${d} loads: LinstorVirtPlugin.pm`)), `${d} restarted after the plugin was in place:\n${log.join('\n')}`)
    assert.ok(log.some((l) => l.startsWith('try-restart linstor-virt-agent.service: group=cinder ')), `the agent restarted with the cinder group:\n${log.join('\n')}`)
    assert.ok(log.some((l) => /^try-restart linstor-virt-agent\.service: .*listening on \/run\/linstor-virt\/agent\.sock and \/run\/linstor-virt\/cinder\.sock/.test(l)), `the agent opened cinder's socket (agent.conf.d/cinder.conf):\n${log.join('\n')}`)
    assert.ok(log.some((l) => l === 'try-restart cinder-volume.service: driver present '), `cinder-volume restarted with the driver there:\n${log.join('\n')}`)
    assert.match(out?.stdout ?? '', /TM_MAD_CONF = \[/, 'oned.conf lines printed at the first installation')
    assert.match(out?.stdout ?? '', /volume_driver = linstor_virt_cinder\.driver\.LinstorVirtDriver/, 'cinder.conf lines printed')
    assert.ok(lstatSync(join(state, 'upper/etc/systemd/system/multi-user.target.wants/linstor-virt-agent.service')).isSymbolicLink(), 'the agent is enabled')
  })

  // An administrator sets the controllers; the upgrade must keep that.
  ok(await chroot('sh', '-c', 'echo LS_CONTROLLERS=linstor://10.0.0.9 >>/etc/default/linstor-virt-agent'), 'editing the conffile')

  await t.test('upgrade: the agent restarts on the new code, the conffile keeps the administrator\'s line, no file of the old build is left', async () => {
    let out: Run | undefined
    const log = await logged(async () => (out = ok(await dpkg('-i', ...debs.current), 'dpkg -i (upgrade)')))
    quiet(out as Run, 'upgrade')
    const agent = log.find((l) => l.startsWith('restart linstor-virt-agent.service'))
    assert.ok(agent !== undefined, log.join('\n'))
    assert.match(agent, new RegExp(`"version":"${changelogVersion.replace(/[.+~]/g, '\\$&')}"`), 'the agent answers with the new version')
    assert.doesNotMatch(out?.stdout ?? '', /TM_MAD_CONF/, 'an upgrade does not print the oned.conf lines again')
    assert.match(readFileSync(join(state, 'upper/etc/default/linstor-virt-agent'), 'utf8'), /^LS_CONTROLLERS=linstor:\/\/10\.0\.0\.9$/m)
    const shipped = ok(await runTo('dpkg-deb', ['--contents', debs.current[0] ?? '']), 'contents').stdout.split('\n').map((l) => /\.\/usr\/lib\/linstor-virt\/chunks\/(\S+)$/.exec(l)?.[1]).filter((f): f is string => f !== undefined && f !== '')
    assert.deepEqual(readdirSync(join(state, 'upper/usr/lib/linstor-virt/chunks')).sort(), shipped.sort(), 'exactly the new build\'s chunks')
    const status = ok(await dpkg('-l', ...PACKAGES), 'dpkg -l').stdout
    for (const p of PACKAGES) assert.match(status, new RegExp(`^ii  ${p} +${changelogVersion.replace(/[.+~]/g, '\\$&')} `, 'm'))
  })

  await t.test('installed: the CLI runs with Debian 12\'s node, the unit, the Perl module, the drivers and the Python package are where the platforms look', async () => {
    assert.deepEqual(ok(await chroot('/usr/bin/linstor-virt', 'version'), 'linstor-virt version').stdout, `linstor-virt ${changelogVersion}\n`)
    assert.equal(ok(await chroot('/usr/bin/node', '--version'), 'node --version').stdout.trim(), `v${deb.version.split(/[+~-]/)[0] ?? ''}`)
    const unit = readFileSync(join(state, 'upper/usr', UNIT), 'utf8')
    assert.match(unit, /^ExecStart=\/usr\/bin\/node \/usr\/lib\/linstor-virt\/linstor-virt\.js agent /m)
    assert.match(readFileSync(join(state, 'upper', CINDER_DROPIN), 'utf8'), /^Group=cinder$/m)
    // PVE loads every module in PVE/Storage/Custom: the installed one compiles (stand-in PVE modules).
    const perl = await runTo('perl', ['-I', join(root, 'test/proxmox/lib'), '-c', join(state, 'upper', PERL_MODULE)])
    assert.equal(perl.code, 0, perl.stderr)
    // oned runs the drivers as oneadmin: they belong to oneadmin and run under Debian's node.
    const passwd = ok(await chroot('getent', 'passwd', 'oneadmin'), 'getent').stdout.split(':')
    const ds = join(state, 'upper/var/lib/one/remotes/datastore/linstor')
    for (const f of ['stat', 'cp', 'linstor-virt-driver.cjs']) assert.equal(lstatSync(join(ds, f)).uid, Number(passwd[2]), `${f} belongs to oneadmin`)
    assert.equal(lstatSync(ds).uid, Number(passwd[2]), 'the driver folder belongs to oneadmin')
    assert.equal(readFileSync(join(ds, 'stat'), 'utf8').split('\n')[0], '#!/usr/bin/node')
    const stat = await chroot('runuser', '-u', 'oneadmin', '--', '/var/lib/one/remotes/datastore/linstor/stat', '3')
    assert.equal(stat.code, 1)
    assert.match(stat.stderr, /^ERROR: datastore\/linstor\/stat: /, `the driver runs as oneadmin and answers oned's way:\n${stat.stderr}`)
    // cinder-volume imports the driver from dist-packages with Debian's python and cinder.
    const py = await chroot('python3', '-c', 'import linstor_virt_cinder.driver as d; from cinder.interface import volume_driver as v; print(issubclass(d.LinstorVirtDriver, v.VolumeDriverCore), d.__file__)')
    assert.equal(py.code, 0, py.stderr)
    assert.equal(py.stdout.trim(), 'True /usr/lib/python3/dist-packages/linstor_virt_cinder/driver.py')
    // The packaged CLI has no platform files of its own: its install command points to the packages.
    const inst = await chroot('/usr/bin/linstor-virt', 'install', 'proxmox', '--no-services')
    assert.equal(inst.code, 1)
    assert.match(inst.stderr, /this is the CLI of the Debian package; install the platform's package instead \(apt install linstor-virt-proxmox/)
    // cinder-volume's user reaches the agent on its group's socket, not on root's; oneadmin on neither.
    // The agent runs only within a session of the root (each session's end stops it): started here,
    // then each user pings each socket in the same session.
    const ping = 'const r = require("http").request({ socketPath: process.argv[1], path: "/v1/call", method: "POST" }, (res) => { let b = ""; res.on("data", (c) => (b += c)); res.on("end", () => console.log(b)) }); r.on("error", (e) => console.log(e.code)); r.end(JSON.stringify({ v: 1, platform: "core", operation: "ping" }))'
    const pairs = [['cinder', 'cinder.sock'], ['cinder', 'agent.sock'], ['oneadmin', 'cinder.sock'], ['oneadmin', 'agent.sock']] as const
    const script = `systemctl start linstor-virt-agent.service || exit 1\nfor a in ${pairs.map(([u, s]) => `"${u} /run/linstor-virt/${s}"`).join(' ')}; do set -- $a; echo "$1 $2 $(runuser -u "$1" -- /usr/bin/node -e "$PING" "$2")"; done`
    const pinged = ok(await chroot('env', `PING=${ping}`, 'sh', '-c', script), 'pings as cinder and oneadmin').stdout.trim().split('\n')
    const as = (user: string, socket: string): string => pinged.find((l) => l.startsWith(`${user} /run/linstor-virt/${socket} `))?.slice(`${user} /run/linstor-virt/${socket} `.length) ?? `no line for ${user} ${socket}: ${pinged.join(' | ')}`
    // The agent answers there, and serves that socket only Cinder's calls (agent.conf.d/cinder.conf): a core ping is refused by the agent itself.
    assert.match(as('cinder', 'cinder.sock'), /^\{"v":1,"error":\{"code":"CALL_FORBIDDEN","message":"core calls are not served over the socket \/run\/linstor-virt\/cinder\.sock"/)
    assert.equal(as('cinder', 'agent.sock'), 'EACCES')
    assert.equal(as('oneadmin', 'cinder.sock'), 'EACCES')
    assert.equal(as('oneadmin', 'agent.sock'), 'EACCES')
    // dpkg's own check of the files: only the administrator's conffile differs.
    assert.equal(ok(await dpkg('--verify', ...PACKAGES), 'dpkg --verify').stdout.trim().replace(/^\S+\s+c\s+/, ''), '/etc/default/linstor-virt-agent')
  })

  await t.test('remove: the agent stops, the PVE daemons restart without the plugin, the cinder drop-in goes, the conffile stays', async () => {
    const log = await logged(async () => quiet(ok(await dpkg('-r', ...PACKAGES), 'dpkg -r'), 'remove'))
    assert.ok(log.includes('stop linstor-virt-agent.service'), log.join('\n'))
    for (const d of ['pvedaemon', 'pveproxy', 'pvestatd', 'pvescheduler']) assert.ok(log.includes(`restart ${d}.service: ${d} loads: `), `${d} restarted without the plugin:\n${log.join('\n')}`)
    for (const p of ['usr/lib/linstor-virt', PERL_MODULE, 'usr/lib/python3/dist-packages/linstor_virt_cinder', 'var/lib/one/remotes/tm/linstor', CINDER_DROPIN]) assert.ok(!existsSync(join(state, 'upper', p)), `${p} removed`)
    assert.ok(existsSync(join(state, 'upper/etc/default/linstor-virt-agent')), 'remove keeps the conffile')
    assert.ok(existsSync(join(state, 'upper/var/lib/one/remotes/tm/ssh/ln')), 'OpenNebula\'s own drivers stay')
  })

  await t.test('purge: nothing of the packages is left in the root', async () => {
    quiet(ok(await dpkg('-P', ...PACKAGES), 'dpkg -P'), 'purge')
    const listed = await dpkg('-l', ...PACKAGES)
    assert.doesNotMatch(listed.stdout, /^[a-z]{2}\s+linstor-virt/m, 'dpkg knows none of them')
    const now = changes()
    const left: string[] = []
    for (const [p, what] of now) {
      if (BOOKKEEPING.test(p) || baseline.get(p) === what) continue
      // A folder of this machine that overlayfs copied up while a package wrote inside it is no change.
      if (what === 'dir' && existsSync(`/${p}`)) continue
      left.push(`${p} (${what})`)
    }
    for (const [p, what] of baseline) if (!BOOKKEEPING.test(p) && !now.has(p) && what !== 'dir') left.push(`${p} gone (${what})`)
    assert.deepEqual(left, [])
  })
})
