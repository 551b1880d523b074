#!/usr/bin/env node
// `npm run package`: the Debian packages of a built bundle, made with dpkg-deb into dist/deb/:
//   linstor-virt             the CLI and the host agent (/usr/lib/linstor-virt, /usr/bin/linstor-virt,
//                            the agent's systemd unit, /etc/default/linstor-virt-agent); Depends nodejs (>= 18.19)
//   linstor-virt-proxmox     the Perl module where PVE's loader looks; restarts the PVE daemons
//   linstor-virt-opennebula  the driver executables under /var/lib/one/remotes, owned by oneadmin
//   linstor-virt-cinder      the Python driver under /usr/lib/python3/dist-packages
// Package metadata and maintainer scripts live in packaging/debian/ (control, changelog, *.postinst,
// ...); the version is the bundle's (packaging/debian/changelog's newest entry, see scripts/build.mjs).
//
// Usage: node scripts/package.mjs [--build] [--dist=DIR] [--out=DIR] [--lint]
//   --build: bundle dist/ afresh first (npm run package does); without it an incomplete dist/ is built
//   --dist: the bundle to package (default dist/)
//   --out:  where the .deb files go (default dist/deb/)
//   --lint: run lintian on the result and fail on errors (lintian must be installed)
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, utimesSync, lutimesSync, writeFileSync, lstatSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { gzipSync } from 'node:zlib'
import { BUNDLE_STAMP, DEBIAN_CHANGELOG, changelogVersion, ensureDeps, root, run } from './lib.mjs'

const argv = process.argv.slice(2)
const option = (name) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
const debian = join(root, 'packaging', 'debian')
const LIB = 'usr/lib/linstor-virt'
const REMOTES = 'var/lib/one/remotes'
const UNIT_DIR = 'lib/systemd/system'
const NODE = '/usr/bin/node'

function fail(message) {
  process.stderr.write(`package: ${message}\n`)
  process.exit(1)
}

// --- inputs ---------------------------------------------------------------------------------------

ensureDeps()
const dist = option('dist') ?? join(root, 'dist')
if (option('dist') === undefined && (argv.includes('--build') || !existsSync(join(dist, BUNDLE_STAMP)))) {
  if (run(process.execPath, [join(root, 'scripts', 'build.mjs'), '--no-tsc']) !== 0) process.exit(1)
}
if (!existsSync(join(dist, BUNDLE_STAMP))) fail(`${dist} is not a complete bundle (no ${BUNDLE_STAMP}); run npm run build`)
for (const tool of ['dpkg-deb']) if (spawnSync(tool, ['--version'], { stdio: 'ignore' }).error) fail(`${tool} is missing (Debian's dpkg package)`)
const version = readFileSync(join(dist, BUNDLE_STAMP), 'utf8').trim()
if (!/^[0-9][A-Za-z0-9.+~-]*$/.test(version)) fail(`the bundle's version '${version}' is not a Debian version`)
const out = option('out') ?? join(dist, 'deb')

/** Imports a TypeScript module of the project by bundling it in memory (as scripts/build.mjs does). */
async function importTs(entry) {
  const esbuild = await import('esbuild')
  const r = await esbuild.build({ absWorkingDir: root, entryPoints: [entry], bundle: true, write: false, platform: 'node', format: 'esm', target: 'node20', logLevel: 'warning' })
  return import(`data:text/javascript;base64,${Buffer.from(r.outputFiles[0].text).toString('base64')}`)
}
// The texts `linstor-virt install` prints, so the packages print and keep the very same.
const texts = await importTs('cli/commands/install.ts')
const { HELP } = await importTs('cli/usage.ts')

/** packaging/debian/control: the source stanza and one stanza per binary package (deb822, no comments). */
function readControl() {
  const stanzas = readFileSync(join(debian, 'control'), 'utf8').trim().split(/\n\s*\n/)
  return stanzas.map((s) => {
    const fields = []
    for (const line of s.split('\n')) {
      if (/^\s/.test(line)) fields[fields.length - 1][1] += '\n' + line
      else {
        const i = line.indexOf(':')
        fields.push([line.slice(0, i), line.slice(i + 1).trim()])
      }
    }
    return fields
  })
}
const [sourceStanza, ...binaryStanzas] = readControl()
const source = Object.fromEntries(sourceStanza)

/** The changelog as shipped: an entry for a version the changelog does not have yet comes first. */
function changelogText() {
  const text = readFileSync(DEBIAN_CHANGELOG, 'utf8')
  if (changelogVersion() === version) return text
  const trailer = /^ -- .*$/m.exec(text)?.[0] ?? ` -- ${source.Maintainer}  Thu, 01 Jan 1970 00:00:00 +0000`
  return `linstor-virt (${version}) UNRELEASED; urgency=medium\n\n  * Built from a development tree.\n\n${trailer}\n\n${text}`
}
const changelog = changelogText()
/** Every file's time: the newest changelog entry's date (reproducible packages). */
const epoch = Math.floor(Date.parse(/^ -- .*>  (.*)$/m.exec(changelog)?.[1] ?? '1970-01-01T00:00:00Z') / 1000)

// --- what goes into each package ------------------------------------------------------------------

/** A staged package: files by path (relative to /), with mode and content or a source file. */
class Stage {
  constructor(name) {
    this.name = name
    this.dir = join(work, name)
    mkdirSync(this.dir, { recursive: true })
  }
  file(path, content, mode = 0o644) {
    const to = join(this.dir, path)
    mkdirSync(dirname(to), { recursive: true })
    writeFileSync(to, content)
    chmodSync(to, mode)
  }
  copy(path, from, mode = 0o644) {
    this.file(path, readFileSync(from), mode)
  }
  link(path, target) {
    const to = join(this.dir, path)
    mkdirSync(dirname(to), { recursive: true })
    symlinkSync(target, to)
  }
  /** The docs every package has: copyright and the changelog. */
  docs(copyright) {
    this.file(`usr/share/doc/${this.name}/copyright`, copyright)
    this.file(`usr/share/doc/${this.name}/changelog.gz`, gzipSync(changelog, { level: 9 }))
  }
  script(kind, text) {
    this.file(`DEBIAN/${kind}`, text, 0o755)
  }
}

const work = mkdtempSync(join(tmpdir(), 'lv-package-'))
process.on('exit', () => rmSync(work, { recursive: true, force: true }))

/** A #!/usr/bin/node script: the node of Debian's nodejs package, which linstor-virt depends on. */
function withNodeShebang(text) {
  return text.replace(/^#!.*\n/, `#!${NODE}\n`)
}

const OURS = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: linstor-virt
Upstream-Contact: ${source.Maintainer}

Files: *
Copyright: ${new Date(epoch * 1000).getUTCFullYear()} the linstor-virt authors
License: Apache-2.0
 Licensed under the Apache License, Version 2.0 (the "License"); you may not
 use this file except in compliance with the License. You may obtain a copy of
 the License at http://www.apache.org/licenses/LICENSE-2.0
 .
 Unless required by applicable law or agreed to in writing, software
 distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
 WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
 License for the specific language governing permissions and limitations under
 the License.
 .
 On Debian systems, the complete text of the Apache License, Version 2.0 can be
 found in "/usr/share/common-licenses/Apache-2.0".
`

/**
 * The npm packages esbuild put into the bundle (from the source maps' file lists), each with its
 * version, licence and licence text, for the copyright file of the package that ships the bundle.
 */
function bundledPackages() {
  const names = new Set()
  const maps = [join(dist, 'one-shot.js.map'), join(dist, 'main.mjs.map'), ...readdirSync(join(dist, 'chunks')).filter((f) => f.endsWith('.map')).map((f) => join(dist, 'chunks', f))]
  for (const map of maps) {
    if (!existsSync(map)) continue
    for (const s of JSON.parse(readFileSync(map, 'utf8')).sources) {
      const i = s.lastIndexOf('node_modules/')
      if (i < 0) continue
      const parts = s.slice(i + 'node_modules/'.length).split('/')
      names.add(parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0])
    }
  }
  return [...names].sort().map((name) => {
    const dir = join(root, 'node_modules', name)
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
    const licenceFile = readdirSync(dir).find((f) => /^licen[cs]e(\.(md|txt))?$/i.test(f))
    return { name, version: pkg.version, license: pkg.license ?? 'see its licence text', text: licenceFile !== undefined ? readFileSync(join(dir, licenceFile), 'utf8').trim() : undefined }
  })
}

function bundleCopyright() {
  const pkgs = bundledPackages()
  const licences = [...new Set(pkgs.map((p) => p.license))].filter((l) => l !== 'Apache-2.0').sort()
  const parts = [OURS]
  parts.push(`Files: ${LIB}/main.mjs ${LIB}/one-shot.js ${LIB}/chunks/*`)
  parts.push('Copyright: the linstor-virt authors, and the authors of the npm packages listed below')
  parts.push(`License: Apache-2.0 and ${licences.join(' and ')}`)
  parts.push('Comment: esbuild bundled these npm packages into these files; each is under its own')
  parts.push(' licence, quoted here as the package ships it.')
  for (const p of pkgs) {
    parts.push(' .', ` ${p.name} ${p.version} (${p.license})`, ' .')
    // Apache-2.0 is in every Debian system's common-licenses; policy wants it referred to there.
    const text = p.license === 'Apache-2.0' ? 'Apache License, Version 2.0: /usr/share/common-licenses/Apache-2.0' : (p.text ?? `The ${p.license} licence (the package ships no licence file).`)
    for (const line of text.split('\n')) parts.push(line.trim() === '' ? ' .' : ` ${line.trimEnd()}`)
  }
  for (const l of licences) parts.push('', `License: ${l}`, ' The text of each package under this licence is quoted, as it ships it, in the', ' Comment of the paragraph above.')
  return parts.join('\n') + '\n'
}

/** roff for `man 1 linstor-virt`, from the same help the CLI prints. */
function manPage() {
  const esc = (s) => s.replace(/\\/g, '\\e').replace(/-/g, '\\-').replace(/^([.'])/, '\\&$1')
  const date = new Date(epoch * 1000).toISOString().slice(0, 10)
  const lines = [
    `.TH LINSTOR\\-VIRT 1 "${date}" "linstor\\-virt ${esc(version)}" "linstor-virt"`,
    '.SH NAME',
    'linstor\\-virt \\- LINSTOR/DRBD storage for Proxmox VE, OpenNebula and OpenStack Cinder',
    '.SH SYNOPSIS',
    '.B linstor\\-virt',
    '.I command',
    '.RI [ options ]',
    '.SH DESCRIPTION',
    'One command for the host side of linstor\\-virt: the agent the platform plugins talk to, the',
    'one\\-shot call they run when no agent answers, checks of the controllers, the doctor, and the',
    'emulator and sandbox. Each command prints its usage with \\fB\\-\\-help\\fR.',
    '.SH COMMANDS',
  ]
  for (const [name, h] of Object.entries(HELP)) {
    lines.push('.TP', `.B ${esc(name)}`, esc(h.summary) + '.')
    for (const u of h.usage) lines.push('.br', esc(u.trim()))
  }
  lines.push(
    '.SH FILES',
    '.TP',
    '.I /etc/default/linstor\\-virt\\-agent',
    'Environment of the agent (controllers, log level).',
    '.TP',
    '.I /etc/linstor\\-virt/agent.conf',
    'What callers of the agent\'s group sockets and TCP listener may make it do (and agent.conf.d/*.conf).',
    '.TP',
    '.I /run/linstor\\-virt/agent.sock',
    'The agent\'s socket, root\'s alone.',
    '.SH ENVIRONMENT',
    '.TP',
    '.B LS_CONTROLLERS',
    'Controllers when a command or call names none, before /etc/linstor/linstor\\-client.conf.',
    '.TP',
    '.B LINSTOR_VIRT_LOG_LEVEL',
    'Detail of the JSON log lines on standard error.',
    '.SH SEE ALSO',
    '/usr/share/doc/linstor\\-virt/',
  )
  return lines.join('\n') + '\n'
}

/** Replaces @NAME@ in a maintainer script; the value must not end the here-document it sits in. */
function fill(text, values) {
  return text.replace(/@([A-Z_]+)@/g, (m, key) => {
    const v = values[key]
    if (v === undefined) fail(`packaging/debian: no value for ${m}`)
    if (/^(ONED_CONF|CINDER_CONF)$/m.test(v)) fail(`${key} contains its here-document's end marker`)
    return v.replace(/\n+$/, '')
  })
}

function scripts(stage, values = {}) {
  for (const kind of ['preinst', 'postinst', 'prerm', 'postrm']) {
    const file = join(debian, `${stage.name}.${kind}`)
    if (existsSync(file)) stage.script(kind, fill(readFileSync(file, 'utf8'), values))
  }
}

// linstor-virt: the bundle (no source maps, no platform shims: those are the other packages').
const base = new Stage('linstor-virt')
for (const entry of ['linstor-virt.js', 'main.mjs', 'one-shot.js', 'code-cache.js', 'package.json']) {
  const text = readFileSync(join(dist, entry), 'utf8')
  // Only the command is run directly; the modules it loads carry no #! line of their own.
  base.file(`${LIB}/${entry}`, entry === 'linstor-virt.js' ? withNodeShebang(text) : text.replace(/^#!.*\n/, ''), entry === 'linstor-virt.js' ? 0o755 : 0o644)
}
for (const f of readdirSync(join(dist, 'chunks'))) if (f.endsWith('.mjs')) base.copy(`${LIB}/chunks/${f}`, join(dist, 'chunks', f))
base.link('usr/bin/linstor-virt', `../lib/linstor-virt/linstor-virt.js`)
// The one-shot bundle's V8 code cache (dist/code-cache.js): written by root (postinst warms it), read by everyone.
base.link(`${LIB}/code-cache`, '/var/cache/linstor-virt')
base.copy(`${UNIT_DIR}/linstor-virt-agent.service`, join(dist, 'share', 'systemd', 'linstor-virt-agent.service'))
base.copy('etc/default/linstor-virt-agent', join(debian, 'linstor-virt.default'))
base.copy('etc/linstor-virt/agent.conf', join(debian, 'linstor-virt.agent.conf'))
base.file('usr/share/man/man1/linstor-virt.1.gz', gzipSync(manPage(), { level: 9 }))
base.docs(bundleCopyright())
base.file('DEBIAN/conffiles', '/etc/default/linstor-virt-agent\n/etc/linstor-virt/agent.conf\n')
// The code cache is node's own: remade (postinst triggered) when nodejs replaces /usr/bin/node.
base.file('DEBIAN/triggers', 'interest-noawait /usr/bin/node\n')
scripts(base)

// linstor-virt-proxmox: the Perl module.
const pve = new Stage('linstor-virt-proxmox')
pve.copy('usr/share/perl5/PVE/Storage/Custom/LinstorVirtPlugin.pm', join(dist, 'share', 'proxmox', 'LinstorVirtPlugin.pm'))
pve.file('usr/share/doc/linstor-virt-proxmox/storage.cfg.txt', texts.STORAGE_CFG)
pve.docs(OURS)
scripts(pve)

// linstor-virt-opennebula: the driver executables (run by Debian's node) and their launcher.
const one = new Stage('linstor-virt-opennebula')
const remotes = []
for (const kind of ['tm', 'datastore']) {
  const from = join(dist, 'share', 'opennebula', 'remotes', kind, 'linstor')
  remotes.push(`${kind}/linstor`)
  for (const f of readdirSync(from).sort()) {
    const executable = !f.endsWith('.cjs')
    const text = readFileSync(join(from, f), 'utf8')
    one.file(`${REMOTES}/${kind}/linstor/${f}`, executable ? withNodeShebang(text) : text, executable ? 0o755 : 0o644)
    remotes.push(`${kind}/linstor/${f}`)
  }
}
one.file('usr/share/doc/linstor-virt-opennebula/oned.conf.txt', texts.ONED_CONF)
one.docs(OURS)
scripts(one, { REMOTES_FILES: remotes.join(' '), ONED_CONF: texts.ONED_CONF })

// linstor-virt-cinder: the Python driver package.
const cinder = new Stage('linstor-virt-cinder')
const py = join(dist, 'share', 'cinder', 'linstor_virt_cinder')
for (const f of readdirSync(py).sort()) if (f.endsWith('.py')) cinder.copy(`usr/lib/python3/dist-packages/linstor_virt_cinder/${f}`, join(py, f))
cinder.file('usr/share/doc/linstor-virt-cinder/cinder.conf.txt', texts.CINDER_CONF)
// cinder-volume's socket to the agent (what its calls may use: cinder.conf's backends).
cinder.copy('etc/linstor-virt/agent.conf.d/cinder.conf', join(debian, 'linstor-virt-cinder.agent.conf'))
cinder.file('DEBIAN/conffiles', '/etc/linstor-virt/agent.conf.d/cinder.conf\n')
cinder.docs(OURS)
scripts(cinder, { CINDER_CONF: texts.CINDER_CONF })

// --- control files and dpkg-deb -------------------------------------------------------------------

function walk(dir, at = '') {
  const found = []
  for (const name of readdirSync(join(dir, at)).sort()) {
    const rel = at === '' ? name : `${at}/${name}`
    const st = lstatSync(join(dir, rel))
    found.push({ rel, st })
    if (st.isDirectory()) found.push(...walk(dir, rel))
  }
  return found
}

mkdirSync(out, { recursive: true })
for (const old of readdirSync(out)) if (old.endsWith('.deb')) rmSync(join(out, old))
const built = []
for (const stanza of binaryStanzas) {
  const fields = Object.fromEntries(stanza)
  const stage = { 'linstor-virt': base, 'linstor-virt-proxmox': pve, 'linstor-virt-opennebula': one, 'linstor-virt-cinder': cinder }[fields.Package]
  if (stage === undefined) fail(`packaging/debian/control names a package this script does not build: ${fields.Package}`)
  const entries = walk(stage.dir).filter((e) => !e.rel.startsWith('DEBIAN'))
  const md5 = entries.filter((e) => e.st.isFile()).map((e) => `${createHash('md5').update(readFileSync(join(stage.dir, e.rel))).digest('hex')}  ${e.rel}`)
  stage.file('DEBIAN/md5sums', md5.join('\n') + '\n')
  // Installed-Size: KiB, one per directory and symlink, files rounded up (as dpkg-gencontrol counts).
  const kib = entries.reduce((n, e) => n + (e.st.isFile() ? Math.ceil(e.st.size / 1024) : 1), 0)
  const control = [
    ['Package', fields.Package],
    ...(fields.Package !== source.Source ? [['Source', source.Source]] : []),
    ['Version', version],
    ['Architecture', fields.Architecture],
    ['Maintainer', source.Maintainer],
    ['Installed-Size', String(kib)],
    ...['Depends', 'Recommends', 'Suggests', 'Enhances'].filter((k) => fields[k] !== undefined).map((k) => [k, fields[k].replace(/\$\{binary:Version\}/g, version)]),
    ['Section', fields.Section ?? source.Section],
    ['Priority', fields.Priority ?? source.Priority],
    ['Description', fields.Description],
  ]
  stage.file('DEBIAN/control', control.map(([k, v]) => `${k}: ${v}`).join('\n') + '\n')
  for (const e of walk(stage.dir)) {
    if (e.st.isDirectory()) chmodSync(join(stage.dir, e.rel), 0o755)
    if (e.st.isSymbolicLink()) lutimesSync(join(stage.dir, e.rel), epoch, epoch)
    else utimesSync(join(stage.dir, e.rel), epoch, epoch)
  }
  utimesSync(stage.dir, epoch, epoch)
  const deb = join(out, `${fields.Package}_${version.replace(/^\d+:/, '')}_${fields.Architecture}.deb`)
  const r = spawnSync('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', stage.dir, deb], { encoding: 'utf8', env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) } })
  if (r.status !== 0) fail(`dpkg-deb --build ${fields.Package}: ${r.stderr.trim()}`)
  built.push(deb)
}
for (const deb of built) process.stdout.write(`${relative(process.cwd(), deb)} (${Math.round(statSync(deb).size / 1024)} KiB)\n`)

if (argv.includes('--lint')) {
  const r = spawnSync('lintian', ['--fail-on', 'error', '--info', ...built], { stdio: 'inherit' })
  if (r.error) fail('lintian is not installed (apt-get install lintian)')
  if (r.status !== 0) fail('lintian reports errors')
}
