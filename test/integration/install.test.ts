/**
 * `linstor-virt install` and `uninstall` (proxmox, opennebula, cinder) into a scratch root, as an operator runs
 * them: the files land where PVE and systemd look, the installed CLI runs with no node_modules, the
 * installed Perl module compiles against the stand-in PVE modules, and uninstall removes it all.
 * Each scratch root has its usr/bin/node (this test's node), which install checks first: missing,
 * broken or too old, it installs nothing and says what to install.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { readAgentConf } from '../../cli/agent/policy.js'
import type { TestContext } from 'node:test'
import { tempDir } from '../helpers/core.js'
import { repoRoot } from '../helpers/paths.js'

const root = repoRoot()

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: { PATH: process.env['PATH'] ?? '' }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr })
    })
  })
}

/** A scratch root whose /usr/bin/node is this test's node (what the installed files will run). */
function scratchRoot(t: TestContext, prefix: string): string {
  const dest = tempDir(t, prefix)
  mkdirSync(join(dest, 'usr/bin'), { recursive: true })
  symlinkSync(process.execPath, join(dest, 'usr/bin/node'))
  return dest
}

test('install proxmox puts the bundle, the Perl module and the agent unit in place; uninstall removes them', async (t) => {
  const dest = scratchRoot(t, 'lv-install-')
  const bundle = join(root, 'dist', 'linstor-virt.js')
  const inst = await run(process.execPath, [bundle, 'install', 'proxmox', '--root', dest, '--no-services'])
  assert.equal(inst.code, 0, inst.stderr)
  assert.match(inst.stdout, /linstor: drbdstore\n\tcontent images,rootdir\n\tlinstor-controllers /)
  assert.match(inst.stdout, new RegExp(`^node: ${join(dest, 'usr/bin/node').replace(/[.+]/g, '\\$&')} ${process.version}$`, 'm'), 'names the node it checked')
  assert.equal(readFileSync(join(dest, 'usr/lib/linstor-virt/linstor-virt.js'), 'utf8').split('\n')[0], '#!/usr/bin/node', 'the installed command runs /usr/bin/node')
  const perl = join(dest, 'usr/share/perl5/PVE/Storage/Custom/LinstorVirtPlugin.pm')
  assert.equal(readFileSync(perl, 'utf8'), readFileSync(join(root, 'plugins/proxmox/perl/PVE/Storage/Custom/LinstorVirtPlugin.pm'), 'utf8'))
  assert.match(readFileSync(join(dest, 'etc/systemd/system/linstor-virt-agent.service'), 'utf8'), /Type=notify/)
  assert.equal(readlinkSync(join(dest, 'usr/bin/linstor-virt')), '/usr/lib/linstor-virt/linstor-virt.js')
  const version = await run(process.execPath, [join(dest, 'usr/lib/linstor-virt/linstor-virt.js'), 'version'])
  assert.match(version.stdout, /^linstor-virt \d/)
  const ping = await new Promise<string>((resolve) => {
    const child = execFile(process.execPath, [join(dest, 'usr/lib/linstor-virt/linstor-virt.js'), 'call', '--stdin'], (_e, out) => resolve(out))
    child.stdin?.end('{"v":1,"platform":"core","operation":"ping"}')
  })
  assert.match(ping, /"pong":true/)
  const compiled = await run('perl', ['-I', join(root, 'test/proxmox/lib'), '-c', perl])
  assert.equal(compiled.code, 0, compiled.stderr)
  assert.equal((await run(process.execPath, [bundle, 'install', 'proxmox', '--root', dest, '--no-services'])).code, 0, 'installing again works')

  const un = await run(process.execPath, [bundle, 'uninstall', 'proxmox', '--root', dest, '--no-services'])
  assert.equal(un.code, 0, un.stderr)
  for (const p of ['usr/lib/linstor-virt', 'usr/bin/linstor-virt', 'usr/share/perl5/PVE/Storage/Custom/LinstorVirtPlugin.pm', 'etc/systemd/system/linstor-virt-agent.service']) assert.ok(!existsSync(join(dest, p)), `${p} removed`)
  assert.equal((await run(process.execPath, [bundle, 'install', 'frobnicate', '--root', dest])).code, 2)
})

test('install opennebula puts the driver executables under remotes and prints the oned.conf lines; they run from there with no node_modules', async (t) => {
  const dest = scratchRoot(t, 'lv-install-one-')
  const bundle = join(root, 'dist', 'linstor-virt.js')
  const inst = await run(process.execPath, [bundle, 'install', 'opennebula', '--root', dest])
  assert.equal(inst.code, 0, inst.stderr)
  assert.match(inst.stdout, /TM_MAD_CONF = \[\n\s+NAME = "linstor"/)
  assert.match(inst.stdout, /DS_MAD_CONF = \[/)
  assert.match(inst.stdout, /-s shared,ssh,ceph,fs_lvm,qcow2,vcenter,linstor/)
  const tm = join(dest, 'var/lib/one/remotes/tm/linstor')
  const ds = join(dest, 'var/lib/one/remotes/datastore/linstor')
  for (const a of ['clone', 'clone.ssh', 'ln', 'premigrate', 'postmigrate', 'failmigrate', 'mv', 'delete', 'monitor', 'prebackup_live']) assert.ok(existsSync(join(tm, a)), `tm/linstor/${a}`)
  for (const a of ['cp', 'mkfs', 'rm', 'monitor', 'stat', 'clone', 'export', 'snap_delete', 'snap_revert', 'snap_flatten']) assert.ok(existsSync(join(ds, a)), `datastore/linstor/${a}`)
  // The driver executables run /usr/bin/node, as on a host; here the scratch root's node runs them.
  for (const f of ['stat', 'cp']) assert.equal(readFileSync(join(ds, f), 'utf8').split('\n')[0], '#!/usr/bin/node')
  // Installed in a scratch root, the launcher finds the bundle through LINSTOR_VIRT_HOME (on a
  // host it is /usr/lib/linstor-virt). A bad document gives one ERROR line plus the reason, exit 1.
  const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
    const child = execFile(join(dest, 'usr/bin/node'), [join(ds, 'stat'), '3'], { env: { PATH: process.env['PATH'] ?? '', LINSTOR_VIRT_HOME: join(dest, 'usr/lib/linstor-virt'), LINSTOR_VIRT_AGENT_SOCKET: join(dest, 'none.sock') } }, (err, _out, stderr) =>
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stderr }),
    )
    child.stdin?.end('bm90IGEgZG9jdW1lbnQ=')
  })
  assert.equal(r.code, 1)
  assert.deepEqual(r.stderr.trim().split('\n'), ['ERROR: datastore/linstor/stat: not a well-formed XML document: ' + r.stderr.split('document: ')[1]?.split('\n')[0], r.stderr.trim().split('\n')[1]])
  assert.match(r.stderr, /^ERROR: datastore\/linstor\/stat: /)
  assert.equal((await run(process.execPath, [bundle, 'install', 'opennebula', '--root', dest])).code, 0, 'installing again works')
  const un = await run(process.execPath, [bundle, 'uninstall', 'opennebula', '--root', dest])
  assert.equal(un.code, 0, un.stderr)
  for (const p of [tm, ds, join(dest, 'usr/lib/linstor-virt')]) assert.ok(!existsSync(p), `${p} removed`)
})

test('install cinder puts the driver package where Debian\'s python finds it and prints a backend section; platforms share the bundle', async (t) => {
  const dest = scratchRoot(t, 'lv-install-cinder-')
  const bundle = join(root, 'dist', 'linstor-virt.js')
  const inst = await run(process.execPath, [bundle, 'install', 'cinder', '--root', dest, '--no-services'])
  assert.equal(inst.code, 0, inst.stderr)
  assert.match(inst.stdout, /\nvolume_driver = linstor_virt_cinder\.driver\.LinstorVirtDriver\n/)
  assert.match(inst.stdout, /openstack volume type create --property volume_backend_name=linstor-drbd linstor\n/)
  const pkg = join(dest, 'usr/lib/python3/dist-packages/linstor_virt_cinder')
  for (const f of ['__init__.py', 'driver.py']) assert.equal(readFileSync(join(pkg, f), 'utf8'), readFileSync(join(root, 'plugins/openstack-cinder/python/linstor_virt_cinder', f), 'utf8'))
  assert.match(readFileSync(join(dest, 'etc/systemd/system/linstor-virt-agent.service.d/cinder.conf'), 'utf8'), /^Group=cinder$/m)
  // The agent's configuration: the template, and a socket for the cinder group serving Cinder calls only.
  const conf = readAgentConf(join(dest, 'etc/linstor-virt/agent.conf'))
  assert.deepEqual(conf.files, [join(dest, 'etc/linstor-virt/agent.conf'), join(dest, 'etc/linstor-virt/agent.conf.d/cinder.conf')])
  assert.deepEqual(conf.sockets, [{ name: 'cinder', path: '/run/linstor-virt/cinder.sock', group: 'cinder', mode: 0o660, platforms: ['cinder'] }])
  assert.equal(conf.socket, undefined, 'the own socket stays the default /run/linstor-virt/agent.sock')
  // The driver's default socket is that one.
  assert.match(readFileSync(join(pkg, 'options.py'), 'utf8'), /default='\/run\/linstor-virt\/cinder\.sock'/)
  // The installed package imports under Debian's python with Debian's cinder, as cinder-volume loads it.
  const imported = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile('/usr/bin/python3', ['-c', 'import linstor_virt_cinder.driver as d; from cinder.interface import volume_driver as v; print(issubclass(d.LinstorVirtDriver, v.VolumeDriverCore))'], { env: { PATH: process.env['PATH'] ?? '', PYTHONPATH: join(dest, 'usr/lib/python3/dist-packages') }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : 1, stdout, stderr }),
    )
  })
  assert.equal(imported.code, 0, imported.stderr)
  assert.equal(imported.stdout.trim(), 'True')

  // With Proxmox installed too, removing one platform leaves what the other uses.
  assert.equal((await run(process.execPath, [bundle, 'install', 'proxmox', '--root', dest, '--no-services'])).code, 0)
  assert.equal((await run(process.execPath, [bundle, 'uninstall', 'cinder', '--root', dest, '--no-services'])).code, 0)
  assert.ok(!existsSync(pkg) && !existsSync(join(dest, 'etc/systemd/system/linstor-virt-agent.service.d/cinder.conf')))
  for (const p of ['usr/lib/linstor-virt/linstor-virt.js', 'etc/systemd/system/linstor-virt-agent.service']) assert.ok(existsSync(join(dest, p)), `${p} kept for Proxmox`)
  assert.equal((await run(process.execPath, [bundle, 'install', 'cinder', '--root', dest, '--no-services'])).code, 0)
  assert.equal((await run(process.execPath, [bundle, 'uninstall', 'proxmox', '--root', dest, '--no-services'])).code, 0)
  for (const p of ['usr/lib/linstor-virt/linstor-virt.js', 'etc/systemd/system/linstor-virt-agent.service']) assert.ok(existsSync(join(dest, p)), `${p} kept for Cinder`)
  assert.equal((await run(process.execPath, [bundle, 'uninstall', 'cinder', '--root', dest, '--no-services'])).code, 0)
  for (const p of ['usr/lib/linstor-virt', 'usr/bin/linstor-virt', 'etc/systemd/system/linstor-virt-agent.service', 'usr/lib/python3/dist-packages/linstor_virt_cinder', 'etc/linstor-virt']) assert.ok(!existsSync(join(dest, p)), `${p} removed`)
})

test('install checks the node the installed files will run, and without a fitting one installs nothing and says what to install', async (t) => {
  const bundle = join(root, 'dist', 'linstor-virt.js')
  const fake = (dest: string, script: string): void => {
    mkdirSync(join(dest, 'usr/bin'), { recursive: true })
    writeFileSync(join(dest, 'usr/bin/node'), script)
    chmodSync(join(dest, 'usr/bin/node'), 0o755)
  }
  const cases: [string, (dest: string) => void, RegExp][] = [
    ['missing', () => undefined, /there is no .*\/usr\/bin\/node: .*Node\.js 18\.19 or later/],
    ['too old', (d) => fake(d, '#!/bin/sh\necho v16.20.2\n'), /\/usr\/bin\/node is Node\.js v16\.20\.2; linstor-virt needs 18\.19 or later/],
    ['18.18 is too old too', (d) => fake(d, '#!/bin/sh\necho v18.18.2\n'), /is Node\.js v18\.18\.2; linstor-virt needs 18\.19/],
    ['does not run', (d) => fake(d, '#!/bin/sh\necho "libnode.so.108: cannot open shared object file" >&2\nexit 127\n'), /\/usr\/bin\/node does not run \(libnode\.so\.108: cannot open shared object file\)/],
  ]
  for (const [what, prepare, message] of cases) {
    for (const platform of ['proxmox', 'opennebula', 'cinder']) {
      const dest = tempDir(t, 'lv-install-nonode-')
      prepare(dest)
      const r = await run(process.execPath, [bundle, 'install', platform, '--root', dest, '--no-services'])
      assert.equal(r.code, 1, `${what}, ${platform}: ${r.stdout}${r.stderr}`)
      assert.match(r.stderr, message, `${what}, ${platform}`)
      assert.match(r.stderr, /apt install nodejs: Debian 12 has 18\.20, Ubuntu 24\.04 18\.19/, `${what}, ${platform}: says what to install`)
      assert.deepEqual(readdirSync(dest).filter((e) => e !== 'usr'), [], `${what}, ${platform}: nothing installed`)
      assert.ok(!existsSync(join(dest, 'usr/lib')), `${what}, ${platform}: no bundle`)
    }
  }
  // 18.19 itself is enough.
  const dest = tempDir(t, 'lv-install-1819-')
  fake(dest, '#!/bin/sh\necho v18.19.1\n')
  const ok = await run(process.execPath, [bundle, 'install', 'opennebula', '--root', dest])
  assert.equal(ok.code, 0, ok.stderr)
  assert.match(ok.stdout, /^node: .*\/usr\/bin\/node v18\.19\.1$/m)
})
