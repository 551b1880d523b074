/**
 * `linstor-virt status` on the sandbox's cluster (golden text and JSON, in process and as the
 * bundled command), on one cluster serving all three platforms (storage.cfg, a datastore document,
 * cinder.conf) with a dead controller listed first, and when no controller answers. Set
 * UPDATE_GOLDEN=1 to rewrite the golden files after a deliberate change of the output.
 */
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { runStory } from '../../cli/sandbox/story.js'
import { buildReport, renderText } from '../../cli/status/report.js'
import type { StatusReport } from '../../cli/status/report.js'
import { findSources } from '../../cli/status/sources.js'
import { createLinstorClient } from '../../core/linstor/index.js'
import { createStorage } from '../../core/storage/index.js'
import { withEmulator } from '../emulator/helpers.js'
import { tempDir } from '../helpers/core.js'
import { fixture, repoRoot } from '../helpers/paths.js'
import { closedPort } from '../helpers/servers.js'

const bundle = join(repoRoot(), 'dist', 'linstor-virt.js')
const GIB_KIB = 1024 * 1024
/** No LS_CONTROLLERS, linstor-client.conf or default token file of this machine gets in. */
const clientEnv = { env: {}, clientConfPaths: [], defaultTokenFile: '/nonexistent/auth.json' }

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bundle, ...args], { env: { PATH: process.env['PATH'] ?? '', LINSTOR_VIRT_PVE_PRIV_DIR: '/nonexistent', ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr })
    })
  })
}

/** What differs from run to run: the emulator's port, the times a window opened, its age, the report's time. */
function normalise(text: string, url: string, dir: string): string {
  return text
    .replaceAll(url, 'http://127.0.0.1:PORT')
    .replaceAll(dir, 'DIR')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, 'TIME')
    .replace(/\(\d+ (s|min|h)\)/g, '(AGE)')
}

function golden(name: string, actual: string): void {
  const path = fixture('status', name)
  if (process.env['UPDATE_GOLDEN'] === '1') {
    // Written into the source tree (fixture() resolves there), reviewed with git diff.
    writeFileSync(path, actual)
    return
  }
  assert.equal(actual, readFileSync(path, 'utf8'), `${name} (UPDATE_GOLDEN=1 rewrites it after a deliberate change)`)
}

test('status on the sandbox\'s cluster: golden text and JSON, in process and as the bundled command', async (t) => {
  const story = await runStory({ out: () => undefined, keep: true })
  const emu = story.emulator
  assert.ok(emu !== undefined && story.ok)
  t.after(() => emu.close())
  // The story ends clean; leave what status is for: a live migration in flight (delta → charlie)
  // and a diskless client nobody uses (the clone on alpha).
  const client = createLinstorClient({ controllers: emu.url, ...clientEnv })
  t.after(() => client.close())
  const storage = createStorage({ client, lockDir: tempDir(t, 'lv-status-locks-'), localNode: 'charlie', deviceRoot: (n) => emu.deviceRoot(n) })
  await storage.resource('vm-100-disk-0').attach('charlie')
  emu.control.open('charlie', 'vm-100-disk-0')
  await storage.resource('vm-101-disk-0').attach('alpha')

  const dir = tempDir(t, 'lv-status-')
  const cfg = join(dir, 'storage.cfg')
  writeFileSync(cfg, `dir: local\n\tpath /var/lib/vz\n\tcontent iso\n\n# the sandbox's storage\nlinstor: sandbox\n\tcontent images,rootdir\n\tlinstor-controllers ${emu.url}\n\tlinstor-place-count 2\n`)

  const sources = await findSources({ storageCfg: cfg, env: { LINSTOR_VIRT_PVE_PRIV_DIR: '/nonexistent' }, node: 'alpha' })
  const report = await buildReport(sources, { defaults: {}, timeoutMs: 10_000, clientEnv })
  const volumes = report.storages[0]?.volumes ?? []
  assert.deepEqual(volumes.map((v) => [v.name, v.resource]), [['sandbox:vm-100-disk-0', 'vm-100-disk-0'], ['sandbox:vm-101-disk-0', 'vm-101-disk-0']])
  const disk = volumes[0]
  assert.deepEqual([disk?.migration?.from, disk?.migration?.to, disk?.inUse], ['delta', 'charlie', ['charlie', 'delta']])
  assert.deepEqual(disk?.snapshots, 1)
  assert.deepEqual(volumes[1]?.findings.map((f) => [f.kind, f.node]), [['unused-diskless', 'alpha']])
  assert.deepEqual(report.unread, [])

  const text = normalise(renderText(report), emu.url, dir)
  const json = normalise(JSON.stringify(report, null, 2) + '\n', emu.url, dir)
  golden('sandbox.txt', text)
  golden('sandbox.json', json)

  // The command a user runs: the same text, the same JSON (but for the time it was made), exit 0.
  const r = await cli(['status', '--storage-cfg', cfg])
  assert.deepEqual([r.code, r.stderr], [0, ''])
  assert.equal(normalise(r.stdout, emu.url, dir), text)
  const j = await cli(['status', '--storage-cfg', cfg, '--json'])
  assert.equal(j.code, 0)
  const fromCli = JSON.parse(j.stdout) as StatusReport
  assert.equal(normalise(JSON.stringify(fromCli, null, 2) + '\n', emu.url, dir), json)
  // --vm keeps the VM's own volumes.
  const vm = JSON.parse((await cli(['status', '--storage-cfg', cfg, '--json', '--vm', '101'])).stdout) as StatusReport
  assert.deepEqual(vm.storages[0]?.volumes.map((v) => v.name), ['sandbox:vm-101-disk-0'])
})

test('one cluster, three platforms: each storage\'s volumes by their platform names; the dead controller tried first is named', async (t) => {
  const nodes = ['n1', 'n2', 'n3'].map((name) => ({ name, pools: [{ name: 'DfltStorPool', provider_kind: 'LVM_THIN' as const, total_capacity_kib: 100 * GIB_KIB }] }))
  const uuid = '6a0e8b1c-1111-4222-8333-0123456789ab'
  const emu = await withEmulator(t, {
    cluster: {
      nodes,
      resource_groups: [{ name: 'other' }, { name: 'pve', select_filter: { place_count: 2 } }, { name: 'one', select_filter: { place_count: 2 } }, { name: 'cinder', select_filter: { place_count: 2 } }],
      resources: [
        { name: 'vm-200-disk-0', resource_group: 'pve', props: { 'Aux/pm/vmid': '200' }, volumes: [GIB_KIB], replicas: [{ node: 'n1' }, { node: 'n2' }, { node: 'n3', diskless: true }] },
        { name: 'vm-300-disk-1', resource_group: 'other', volumes: [GIB_KIB], replicas: [{ node: 'n1' }] },
        { name: 'OpenNebula-Image-7', resource_group: 'one', props: { 'Aux/one/DS_ID': '101', 'Aux/one/IMAGE_ID': '7' }, volumes: [2 * GIB_KIB], replicas: [{ node: 'n2' }, { node: 'n3' }] },
        { name: 'OpenNebula-Image-7-vm42-disk0', resource_group: 'one', props: { 'Aux/one/DS_ID': '101', 'Aux/one/VM_ID': '42', 'Aux/one/DISK_ID': '0' }, volumes: [2 * GIB_KIB], replicas: [{ node: 'n1' }, { node: 'n2' }] },
        { name: 'OpenNebula-Image-8', resource_group: 'one', volumes: [GIB_KIB], replicas: [{ node: 'n1' }, { node: 'n3' }] },
        { name: `CV_${uuid}`, resource_group: 'cinder', props: { 'Aux/cinder/volume-id': uuid }, volumes: [3 * GIB_KIB], replicas: [{ node: 'n1' }, { node: 'n3' }] },
      ],
    },
  })
  const dead = `http://127.0.0.1:${await closedPort()}`
  const dir = tempDir(t, 'lv-status3-')
  const cfg = join(dir, 'storage.cfg')
  writeFileSync(cfg, `linstor: pve-drbd\n\tlinstor-controllers ${dead},${emu.url}\n\tlinstor-resource-group pve\n`)
  const one = join(dir, 'datastores.xml')
  const attrs = (extra: string): string => `<TEMPLATE><DS_MAD><![CDATA[linstor]]></DS_MAD><TM_MAD><![CDATA[linstor]]></TM_MAD><LINSTOR_CONTROLLERS><![CDATA[${dead},${emu.url}]]></LINSTOR_CONTROLLERS>${extra}</TEMPLATE>`
  writeFileSync(one, `<DATASTORE_POOL><DATASTORE><ID>101</ID><NAME>linstor-images</NAME><TYPE>0</TYPE><DS_MAD>linstor</DS_MAD><TM_MAD>linstor</TM_MAD>${attrs('<LINSTOR_RESOURCE_GROUP><![CDATA[one]]></LINSTOR_RESOURCE_GROUP>')}</DATASTORE><DATASTORE><ID>1</ID><NAME>default</NAME><TYPE>0</TYPE><DS_MAD>fs</DS_MAD><TM_MAD>ssh</TM_MAD><TEMPLATE/></DATASTORE></DATASTORE_POOL>`)
  const conf = join(dir, 'cinder.conf')
  writeFileSync(conf, `[DEFAULT]\nenabled_backends = linstor-drbd,lvm\n\n[backend_defaults]\nlinstor_uris = ${dead},${emu.url}\n\n[linstor-drbd]\nvolume_driver = linstor_virt_cinder.driver.LinstorVirtDriver\nvolume_backend_name = drbd\n\n[lvm]\nvolume_driver = cinder.volume.drivers.lvm.LVMVolumeDriver\n\n[unused]\nvolume_driver = linstor_virt_cinder.driver.LinstorVirtDriver\n`)
  const r = await cli(['status', '--storage-cfg', cfg, '--one-xml', one, '--cinder-conf', conf, '--json'])
  assert.equal(r.code, 0, r.stdout + r.stderr)
  const report = JSON.parse(r.stdout) as StatusReport
  const names = Object.fromEntries(report.storages.map((s) => [s.label, s.volumes.map((v) => `${v.name}=${v.resource}${v.note !== undefined ? ` (${v.note})` : ''}`)]))
  assert.deepEqual(names, {
    'proxmox storage pve-drbd': ['pve-drbd:vm-200-disk-0=vm-200-disk-0'],
    'opennebula datastore 101 (linstor-images)': ['image 7=OpenNebula-Image-7', 'image 8=OpenNebula-Image-8', 'VM 42 disk 0=OpenNebula-Image-7-vm42-disk0 (clone of OpenNebula-Image-7)'],
    'cinder backend linstor-drbd (volume_backend_name drbd)': [`volume ${uuid}=CV_${uuid}`],
  })
  // One connection (the same controllers everywhere): the dead one tried, the emulator answering.
  assert.equal(report.connections.length, 1)
  assert.deepEqual(report.connections[0]?.controllers, [{ url: dead, outcome: 'no connection' }, { url: emu.url, outcome: 'answered' }])
  assert.equal(report.connections[0]?.answering, emu.url)
  const pve = report.storages.find((s) => s.platform === 'proxmox')?.volumes[0]
  assert.deepEqual([pve?.clients, pve?.replicas.map((x) => `${x.node}:${x.kind}:${x.role}`)], [['n3'], ['n1:diskful:Secondary', 'n2:diskful:Secondary', 'n3:diskless:Secondary']])
  assert.deepEqual(pve?.findings.map((f) => `${f.kind} ${f.node ?? ''}`), ['unused-diskless n3'])

  // Text: the tables and the controllers line.
  const text = await cli(['status', '--storage-cfg', cfg, '--one-xml', one, '--cinder-conf', conf])
  assert.match(text.stdout, new RegExp(`^controllers tried: ${dead} no connection, ${emu.url} answered; the one answering: ${emu.url} \\(LINSTOR `, 'm'))
  assert.match(text.stdout, /^ {2}pve-drbd:vm-200-disk-0 +vm-200-disk-0 +1 GiB +DRBD,STORAGE +0 +n1 +diskful +UpToDate +Secondary$/m)
  assert.match(text.stdout, /^ {4}✗ unused-diskless on n3: diskless client on n3 is not in use \(doctor --fix repairs it\)$/m)

  // Filters: one platform, one storage; a datastore the document lacks is said.
  const onlyOne = JSON.parse((await cli(['status', '--platform', 'opennebula', '--one-xml', one, '--json'])).stdout) as StatusReport
  assert.deepEqual(onlyOne.storages.map((s) => s.platform), ['opennebula'])
  const vm = JSON.parse((await cli(['status', '--one-xml', one, '--datastore', '101', '--vm', '42', '--json'])).stdout) as StatusReport
  assert.deepEqual(vm.storages.flatMap((s) => s.volumes.map((v) => v.name)), ['VM 42 disk 0'])
  const missing = await cli(['status', '--one-xml', one, '--datastore', '102'])
  assert.equal(missing.code, 1)
  assert.match(missing.stdout, /not read:\n {2}- opennebula: .*datastores\.xml has no linstor datastore 102/)
})

test('status says what it could not read: no controller answers, a file is missing; exit 1', async (t) => {
  const dead = `http://127.0.0.1:${await closedPort()}`
  const dir = tempDir(t, 'lv-status-dead-')
  const cfg = join(dir, 'storage.cfg')
  writeFileSync(cfg, `linstor: gone\n\tlinstor-controllers ${dead}\n\tlinstor-place-count 2\n\nlinstor: 9bad\n\tlinstor-place-count 2\n`)
  const r = await cli(['status', '--storage-cfg', cfg, '--cinder-conf', join(dir, 'missing.conf'), '--timeout-ms', '3000'])
  assert.equal(r.code, 1)
  assert.match(r.stdout, new RegExp(`^controllers tried: ${dead} no connection; no controller answered$`, 'm'))
  assert.match(r.stdout, /^proxmox storage gone, resource group \S+: 0 volumes/m)
  assert.match(r.stdout, /not read:\n(.*\n)* {2}- proxmox: .*storage\.cfg line 5: '9bad' is not a storage id; section skipped/)
  assert.match(r.stdout, / {2}- proxmox storage gone: resource definitions: .*connection refused/)
  assert.match(r.stdout, / {2}- cinder: cannot read .*missing\.conf: ENOENT/)
  // Usage errors: exit 2, naming the option.
  const bad = await cli(['status', '--platform', 'vmware'])
  assert.deepEqual([bad.code, bad.stderr.split('\n')[0]], [2, "linstor-virt status: unknown platform 'vmware' (proxmox, opennebula, cinder)"])
  const both = await cli(['status', '--storage', 'a', '--backend', 'b'])
  assert.equal(both.code, 2)
})

test('status --watch reports again every S seconds (a JSON line each) until SIGTERM', async (t) => {
  const emu = await withEmulator(t)
  const dir = tempDir(t, 'lv-status-watch-')
  const cfg = join(dir, 'storage.cfg')
  writeFileSync(cfg, `linstor: ww\n\tlinstor-controllers ${emu.url}\n\tlinstor-place-count 2\n`)
  const child = spawn(process.execPath, [bundle, 'status', '--storage-cfg', cfg, '--json', '--watch', '1'], { env: { PATH: process.env['PATH'] ?? '', LINSTOR_VIRT_PVE_PRIV_DIR: '/nonexistent' }, stdio: ['ignore', 'pipe', 'pipe'] })
  t.after(() => child.kill('SIGKILL'))
  const lines: string[] = []
  let buffered = ''
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      buffered += c.toString('utf8')
      const parts = buffered.split('\n')
      buffered = parts.pop() ?? ''
      lines.push(...parts)
      if (lines.length >= 2) resolve()
    })
    child.on('exit', () => reject(new Error(`exited early: ${lines.join('\n')}`)))
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  child.kill('SIGTERM')
  assert.equal(await exited, 0)
  const reports = lines.slice(0, 2).map((l) => JSON.parse(l) as StatusReport)
  assert.deepEqual(reports.map((r) => r.storages[0]?.label), ['proxmox storage ww', 'proxmox storage ww'])
  assert.ok(reports[0] !== undefined && reports[1] !== undefined && reports[1].at > reports[0].at, 'two reports, one after the other')
})
