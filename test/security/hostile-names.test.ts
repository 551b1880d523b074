/**
 * Hostile names from each platform (issue 10): names holding ; $( ) ` ' " newline .. / and spaces
 * go through every adapter's operations against the emulator, in this process (the dispatcher the
 * agent and the one-shot CLI use), while test/security/observe.ts records every child process and
 * every file-system path. Each operation must succeed or refuse with a catalogued project error;
 * no child may be a shell; the command lines the OpenNebula driver hands ssh must read as plain
 * words (checked by a parser, never by a shell); every path the code touches, and every path a
 * host command gets, must lie under the device roots, the VM-directory root or the test's folders;
 * and nothing a hostile name spells may ever run (the canary folder stays empty).
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import { buildDispatcher } from '../../cli/dispatcher.js'
import { silentLogger } from '../../core/log/index.js'
import { ServiceRegistry } from '../../core/protocol/index.js'
import type { CallReply } from '../../core/protocol/index.js'
import { MiB } from '../../core/volumes/index.js'
import { shellCommand } from '../../plugins/opennebula/remote.js'
import { withEmulator } from '../emulator/helpers.js'
import { tempDir } from '../helpers/core.js'
import { repoRoot } from '../helpers/paths.js'
import { actionData, datastoreXml, oneFrontEnd, vmXml } from '../opennebula/one.js'
import type { DiskSpec } from '../opennebula/one.js'
import { HOSTILE_SEGMENT, assertPlainPathUnder, checkRecording, hostileWords, refused, succeeded, successOrRefusal } from './hostile.js'
import type { RemoteCommand } from './hostile.js'
import { isUnder, record, startRecording } from './observe.js'
import { UnquotedError, splitCommandLine } from './shell-words.js'

/**
 * Read-only places whatever the names: the code itself (modules load as the operations need them)
 * and the fixed configuration the core reads (the default token file, LINSTOR's client config).
 */
const CONFIG_READS = [repoRoot(), '/var/lib/linstor.d', '/etc/linstor']

function dispatcherFor(t: TestContext): (platform: string, operation: string, args: Record<string, unknown>, config: Record<string, unknown>) => Promise<CallReply> {
  const dispatcher = buildDispatcher(silentLogger())
  const services = new ServiceRegistry(true)
  t.after(() => services.close())
  return (platform, operation, args, config) => dispatcher.dispatch({ v: 1, platform, operation, arguments: args, config, deadlineMs: 60_000 }, services)
}

test('the command-line reader used as the oracle: every word shellCommand quotes reads back unchanged, and unquoted syntax is caught', (t) => {
  const canary = tempDir(t, 'lv-canary-')
  for (const w of [...hostileWords(canary), HOSTILE_SEGMENT, '', "'", "it's", '-rf', 'a=b', '~', '*', '#x', '\\', 'ünï ✓']) {
    assert.deepEqual(splitCommandLine(shellCommand(['printf', '%s', w])), [['printf', '%s', w]], JSON.stringify(w))
  }
  for (const line of ['rm -f $(x)', 'rm a;b', 'echo `x`', 'a && b;c', "echo 'open", 'echo "x"', 'a\nb', 'a  b', 'a | b', 'a > b', 'echo ~', 'echo \\x', 'a=b c', 'echo *']) {
    assert.throws(() => splitCommandLine(line), UnquotedError, JSON.stringify(line))
  }
  assert.deepEqual(splitCommandLine("mkdir -p '/a b' && ln -sfn /dev/x '/a b/disk.0'"), [['mkdir', '-p', '/a b'], ['ln', '-sfn', '/dev/x', '/a b/disk.0']])
})

test('proxmox and core: hostile volume names, snapshot names, storage ids, node names and handles are refused or kept as data; every device path stays under the device root', async (t) => {
  const emu = await withEmulator(t, { cloneDurationMs: 20 })
  const dir = tempDir(t, 'lv-hostile-pve-')
  const canary = join(dir, 'canary')
  mkdirSync(canary)
  const call = dispatcherFor(t)
  const root = emu.deviceRoot('alpha')
  const words = hostileWords(canary)
  const cfg = (storeid = 'drbd', node = 'alpha'): Record<string, unknown> => ({
    storeid,
    node,
    scfg: { 'linstor-controllers': emu.url, 'linstor-place-count': 2 },
    deviceRoot: root,
    lockDir: join(dir, 'locks'),
  })
  const pve = (op: string, args: Record<string, unknown>, config = cfg()): Promise<CallReply> => call('proxmox', op, args, config)
  const pathOk = (p: unknown, what: string): void => {
    assert.equal(typeof p, 'string', what)
    assertPlainPathUnder(p as string, [`${root}/dev/drbd/by-res`], what)
  }

  const rec = await record(async () => {
    // A storage id full of hostile words is only ever a label.
    const hostileStore = `st ${words[0] ?? ''}${words[1] ?? ''}`
    const made = succeeded<{ volname: string }>(await pve('alloc_image', { vmid: 100, fmt: 'raw', name: null, sizeKib: 4096 }, cfg(hostileStore)), 'alloc under a hostile storage id')
    assert.equal(made.volname, 'vm-100-disk-0')
    const listed = succeeded<{ volid: string }[]>(await pve('list_images', { vmid: 100, vollist: null }, cfg(hostileStore)), 'list_images')
    assert.deepEqual(listed.map((v) => v.volid), [`${hostileStore}:vm-100-disk-0`])
    // Odd but valid PVE names (dots, plus, '..' inside) map to a hashed LINSTOR name.
    const odd = succeeded<{ volname: string }>(await pve('alloc_image', { vmid: 100, fmt: 'raw', name: 'vm-100-a..b+c', sizeKib: 4096 }), 'an odd valid name')
    assert.equal(odd.volname, 'vm-100-a..b+c')
    pathOk(succeeded<{ path: string }>(await pve('activate_volume', { volname: odd.volname, snapname: null }), 'activate').path, 'activate_volume path')
    const exp = succeeded<{ path: string; handle: string }>(await pve('volume_export_begin', { volname: odd.volname, snapname: null }), 'export begin')
    pathOk(exp.path, 'export path')
    succeeded(await pve('volume_export_end', { volname: odd.volname, handle: exp.handle }), 'export end')

    for (const w of words) {
      const bad = `vm-100-${w}`
      for (const [op, args] of [
        ['alloc_image', { vmid: 100, fmt: 'raw', name: bad, sizeKib: 4096 }],
        ['alloc_image', { vmid: `100${w}`, fmt: 'raw', name: null, sizeKib: 4096 }],
        ['activate_volume', { volname: bad, snapname: null }],
        ['free_image', { volname: bad, isBase: false }],
        ['volume_size_info', { volname: bad }],
        ['volume_resize', { volname: bad, sizeBytes: 8 * MiB, running: 0 }],
        ['volume_import_begin', { volname: bad, size: MiB, allowRename: 0 }],
        ['volume_snapshot', { volname: 'vm-100-disk-0', snap: w }],
        ['activate_volume', { volname: 'vm-100-disk-0', snapname: w }],
        ['clone_image', { volname: 'vm-100-disk-0', vmid: 101, snap: w }],
        ['rename_volume', { volname: 'vm-100-disk-0', targetVmid: 101, targetVolname: `vm-101-${w}` }],
      ] as const) {
        refused(await pve(op, args), `${op} ${JSON.stringify(w)}`, 'CALL_INVALID')
      }
      // A handle is the shim's echo of what begin gave out: a forged one must not reach a path.
      successOrRefusal(await pve('volume_export_end', { volname: 'vm-100-disk-0', handle: JSON.stringify({ resource: w, view: w }) }), `forged handle ${JSON.stringify(w)}`)
      successOrRefusal(await pve('volume_import_end', { volname: 'vm-100-disk-0', handle: JSON.stringify({ resource: w }), ok: 0 }), `forged import handle ${JSON.stringify(w)}`)
      // A hostile PVE node name: the node is only a LINSTOR node name in REST calls.
      successOrRefusal(await pve('activate_volume', { volname: 'vm-100-disk-0', snapname: null }, cfg('drbd', w)), `node ${JSON.stringify(w)}`)
      // The core platform's resource argument, with the controller answering.
      successOrRefusal(await call('core', 'attach', { resource: w, node: 'alpha' }, { controllers: emu.url, localNode: 'alpha', deviceRoot: root, lockDir: join(dir, 'locks') }), `core.attach ${JSON.stringify(w)}`)
    }
    assert.ok(existsSync(join(root, 'dev', 'drbd', 'by-res', 'vm-100-disk-0', '0')), 'the volumes are still there')

    // Without a controller, attach starts from a local device: a name must not climb out of the root
    // to a file that looks like one.
    const outside = join(dir, 'outside', 'evil')
    mkdirSync(outside, { recursive: true })
    writeFileSync(join(outside, '0'), 'not a device')
    await emu.stopListening()
    try {
      const climb = `${'../'.repeat(24)}${outside.slice(1)}`
      const r = await call('core', 'attach', { resource: climb, node: 'alpha' }, { controllers: emu.url, localNode: 'alpha', deviceRoot: root, lockDir: join(dir, 'locks') })
      refused(r, 'core.attach climbing out of the device root while the controller is down')
      // A real volume still starts from its local replica.
      pathOk(succeeded<{ path: string }>(await pve('activate_volume', { volname: 'vm-100-disk-0', snapname: null }), 'offline activate').path, 'offline activate path')
    } finally {
      await emu.startListening()
    }
  })
  checkRecording(rec, { roots: [dir, emu.stateDir], readRoots: CONFIG_READS, programs: ['cp'], canary }, 'proxmox')
  // The emulator's own copies (clones) are the only children, with paths in its state.
  for (const c of rec.children) assert.ok(c.args.every((a) => !a.startsWith('/') || isUnder(a, [emu.stateDir])))
})

const VOL = 'bbbbbbbb-0000-4000-8000-000000000001'
const VOL2 = 'bbbbbbbb-0000-4000-8000-000000000002'
const SNAP = 'cccccccc-0000-4000-8000-000000000001'

test('cinder: hostile display names, ids, snapshot names, types, manage references and connector hosts are refused or kept as data; device paths stay under the device root', async (t) => {
  const emu = await withEmulator(t, { cloneDurationMs: 20 })
  const dir = tempDir(t, 'lv-hostile-cinder-')
  const canary = join(dir, 'canary')
  mkdirSync(canary)
  const call = dispatcherFor(t)
  const words = hostileWords(canary)
  const base = { backend: 'lv-1', controllers: [emu.url], cinderHost: 'ctl', nodeMap: { ctl: 'alpha' }, lockDir: join(dir, 'locks'), deviceRoot: join(dir, 'dev', '{node}') }
  const cinder = (op: string, args: Record<string, unknown>, config: Record<string, unknown> = {}): Promise<CallReply> => call('cinder', op, args, { ...base, ...config })
  const volume = (id: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    id,
    name_id: id,
    size: 1,
    multiattach: false,
    status: 'available',
    volume_type: { id: 't1', name: 'two', extra_specs: { 'linstor:redundancy': '2' } },
    attachments: [],
    ...extra,
  })

  const rec = await record(async () => {
    // Display names, type names and property values are data: the volume is CV_<id> whatever they say.
    const label = words.join(' ')
    succeeded(await cinder('create_volume', { volume: volume(VOL, { name: label, display_name: label, volume_type: { id: 't2', name: label, extra_specs: { 'linstor:redundancy': '2', 'linstor:property:Aux:note': label } } }) }), 'create with hostile labels')
    succeeded(await cinder('create_snapshot', { snapshot: { id: SNAP, name: label, display_name: label, volume_size: 1, volume: volume(VOL) } }), 'snapshot with a hostile name')
    const conn = succeeded<{ connection_info: { data: { device_path: string } } }>(await cinder('initialize_connection', { volume: volume(VOL), connector: { host: 'ctl', initiator: label } }), 'attach')
    assertPlainPathUnder(conn.connection_info.data.device_path, [join(dir, 'dev', 'alpha', 'dev', 'drbd', 'by-res')], 'device_path')
    succeeded(await cinder('terminate_connection', { volume: volume(VOL), connector: { host: 'ctl' } }), 'detach')

    for (const w of words) {
      const what = JSON.stringify(w)
      refused(await cinder('create_volume', { volume: volume(w) }), `volume id ${what}`, 'CALL_INVALID')
      refused(await cinder('create_volume', { volume: volume(VOL2, { name_id: w }) }), `name_id ${what}`, 'CALL_INVALID')
      refused(await cinder('delete_volume', { volume: volume(VOL, { provider_id: w }) }), `provider_id ${what}`, 'CALL_INVALID')
      refused(await cinder('create_snapshot', { snapshot: { id: w, volume_size: 1, volume: volume(VOL) } }), `snapshot id ${what}`, 'CALL_INVALID')
      refused(await cinder('delete_snapshot', { snapshot: { id: SNAP, provider_id: w, volume_size: 1, volume: volume(VOL) } }), `snapshot provider_id ${what}`, 'CALL_INVALID')
      refused(await cinder('manage_existing', { volume: volume(VOL2), ref: { 'source-name': w } }), `manage ref ${what}`, 'MANAGE_REF_INVALID')
      refused(await cinder('manage_existing_get_size', { volume: volume(VOL2), ref: { 'source-id': w } }), `manage ref id ${what}`, 'MANAGE_REF_INVALID')
      refused(await cinder('initialize_connection', { volume: volume(VOL), connector: { host: w } }), `connector host ${what}`)
      successOrRefusal(await cinder('terminate_connection', { volume: volume(VOL), connector: { host: w } }), `detach from host ${what}`)
      successOrRefusal(await cinder('initialize_connection', { volume: volume(VOL, { attachments: [{ id: 'a1', attached_host: w, attach_status: 'attached' }] }), connector: { host: 'ctl' } }), `migration from host ${what}`)
      refused(await cinder('create_volume', { volume: volume(VOL2, { volume_type: { name: 'x', extra_specs: { 'linstor:storage_pool': w } } }) }), `storage pool ${what}`)
      refused(await cinder('create_volume', { volume: volume(VOL2, { volume_type: { name: 'x', extra_specs: { [`linstor:property:${w}`]: 'v' } } }) }), `property key ${what}`)
      refused(await cinder('stats', {}, { nodeMap: { ctl: w } }), `node map to ${what}`, 'CONFIG_INVALID')
    }
    // The volume is intact and nothing else was made.
    const names = (await (await fetch(`${emu.url}/v1/resource-definitions`)).json()) as { name: string }[]
    assert.deepEqual(names.map((r) => r.name).sort(), [`CV_${VOL}`])
  })
  checkRecording(rec, { roots: [dir, emu.stateDir], readRoots: CONFIG_READS, programs: ['cp'], canary }, 'cinder')
})

const STANDINS = join(repoRoot(), 'test', 'opennebula', 'standins')
const IMAGE_DS = 101

test('opennebula: hostile host:path arguments, VM directories, image paths, staging folders and names are quoted for the remote shell, refused when they climb, and stay under the roots', async (t) => {
  const one = await oneFrontEnd(t)
  const canary = join(one.dir, 'canary')
  mkdirSync(canary)
  // The stand-in ssh runs host commands here, in the working directory: the canary.
  const cwd = process.cwd()
  process.chdir(canary)
  const saved = { ...process.env }
  Object.assign(process.env, { PATH: one.env['PATH'], LV_ONE_DB: one.env['LV_ONE_DB'], LV_ONE_HOSTS: one.env['LV_ONE_HOSTS'] })
  delete process.env['LINSTOR_VIRT_SSH']
  delete process.env['LINSTOR_VIRT_SSH_CONFIG']
  t.after(() => {
    process.chdir(cwd)
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k]
    Object.assign(process.env, saved)
  })
  const call = dispatcherFor(t)
  const config = { remotes: join(STANDINS, 'remotes'), deviceRoot: one.emu.deviceRoot('{node}'), lockDir: join(one.dir, 'locks') }
  const tm = (action: string, argv: string[], stdin?: string): Promise<CallReply> => call('opennebula', `tm.${action}`, { argv, ...(stdin !== undefined ? { stdin } : {}) }, config)
  const ds = (action: string, argv: string[], stdin?: string): Promise<CallReply> => call('opennebula', `ds.${action}`, { argv, ...(stdin !== undefined ? { stdin } : {}) }, config)
  const words = hostileWords(canary)

  // An image datastore staging in a folder with a hostile name, and a linstor system datastore.
  const staging = join(one.dir, `staging ${HOSTILE_SEGMENT}`)
  mkdirSync(staging)
  const linstorAttrs = { LINSTOR_CONTROLLERS: one.emu.url, LINSTOR_PLACE_COUNT: '2', BRIDGE_LIST: `alpha bravo ${words[1] ?? ''}` }
  one.store('datastore', IMAGE_DS, datastoreXml(IMAGE_DS, { ...linstorAttrs, RESTRICTED_DIRS: '/', SAFE_DIRS: one.dir, STAGING_DIR: staging }, { name: `images ${HOSTILE_SEGMENT}` }))
  one.store('datastore', 0, datastoreXml(0, linstorAttrs, { type: 1, tmMad: 'linstor', name: 'system' }))
  const dsXml = readFileSync(join(one.env['LV_ONE_DB'] ?? '', `datastore-${IMAGE_DS}.xml`), 'utf8')

  // An image file in a folder with a hostile name, named hostilely too.
  const images = join(one.dir, `images ${HOSTILE_SEGMENT}`)
  mkdirSync(images)
  const imageFile = join(images, `disk ${HOSTILE_SEGMENT}.raw`)
  const bytes = Buffer.alloc(4 * MiB)
  randomBytes(4096).copy(bytes, 0)
  writeFileSync(imageFile, bytes)
  symlinkSync('/etc/passwd', join(images, 'link.raw'))
  // A folder a climbing VM path would reach, with something in it that must survive.
  const victim = join(one.dir, 'victim', '0', '42')
  mkdirSync(victim, { recursive: true })
  writeFileSync(join(victim, 'keep'), 'keep')

  const VMDIR = `/var/lib/one//datastores/${HOSTILE_SEGMENT}/0/42`
  const VMDIR2 = `/var/lib/one//datastores/other ${HOSTILE_SEGMENT}/0/42`
  const climb = `/var/lib/one//datastores/${'../'.repeat(24)}${victim.slice(1)}`
  const disks: DiskSpec[] = [
    { id: 0, image: 7, clone: true, sizeMiB: 8, dsId: IMAGE_DS },
    { id: 2, volatile: 'swap', sizeMiB: 4, dsId: 0 },
  ]
  one.store('vm', 42, vmXml(42, disks, ['alpha'], 0, 'linstor'))
  // VMs whose documents name a hostile SOURCE, and a hostile TM driver for a disk.
  one.store('vm', 43, vmXml(43, [{ id: 0, image: 77, clone: true, sizeMiB: 8, dsId: IMAGE_DS }], ['alpha']).replace('OpenNebula-Image-77', words[1] ?? ''))
  one.store('vm', 44, vmXml(44, [{ id: 0, image: 7, persistent: true, sizeMiB: 8, dsId: IMAGE_DS }, { id: 1, image: 9, sizeMiB: 8, dsId: 100, tmMad: '../../../../bin/sh' }], ['alpha']))

  const rec = startRecording()
  t.after(() => rec.close())
  try {
    // Datastore: import, stat and export through hostile paths; climbing and linked sources refused.
    const doc = (id: string, attrs: Record<string, string>): string => actionData({ ID: id, SIZE: '4', TYPE: '0', ...attrs }, dsXml)
    assert.equal(succeeded<{ stdout: string }>(await ds('stat', ['7'], doc('7', { PATH: imageFile })), 'stat').stdout.trim(), '4')
    assert.equal(succeeded<{ stdout: string }>(await ds('cp', ['7'], doc('7', { PATH: imageFile })), 'cp').stdout.trim(), 'OpenNebula-Image-7 raw')
    assert.equal(succeeded<{ stdout: string }>(await ds('cp', ['9'], doc('9', { PATH: `${images}/../${images.slice(one.dir.length + 1)}/disk ${HOSTILE_SEGMENT}.raw` })), 'cp through ..').stdout.trim(), 'OpenNebula-Image-9 raw')
    refused(await ds('cp', ['10'], doc('10', { PATH: `${images}/${'../'.repeat(24)}etc/passwd` })), 'cp climbing to /etc/passwd', 'IMAGE_SOURCE_RESTRICTED')
    refused(await ds('cp', ['10'], doc('10', { PATH: join(images, 'link.raw') })), 'cp through a link to /etc/passwd', 'IMAGE_SOURCE_RESTRICTED')
    for (const [i, w] of words.entries()) {
      refused(await ds('cp', [`7${w}`], doc(`7${w}`, { PATH: imageFile })), `image id ${JSON.stringify(w)}`)
      refused(await ds('mkfs', [String(20 + i)], doc(String(20 + i), { FS: w, SIZE: '4' })), `mkfs type ${JSON.stringify(w)}`)
      refused(await ds('rm', ['12'], doc('12', { SOURCE: w })), `rm SOURCE ${JSON.stringify(w)}`)
      refused(await ds('clone', ['12'], doc('12', { PATH: w })), `clone source ${JSON.stringify(w)}`)
    }
    const exported = succeeded<{ stdout: string }>(await ds('export', ['5'], doc('7', { SOURCE: 'OpenNebula-Image-7' })), 'export').stdout
    const dispose = /<DISPOSE_CMD><!\[CDATA\[(.*?)\]\]><\/DISPOSE_CMD>/s.exec(exported)?.[1] ?? ''
    // The dispose command oned runs later: ssh <host> '<rm -f file>', both levels plain words.
    const [[ssh, host, inner] = []] = splitCommandLine(dispose)
    assert.equal(ssh, 'ssh')
    assert.match(host ?? '', /^(alpha|bravo)$/)
    const [rmWords] = splitCommandLine(inner ?? '')
    assert.deepEqual(rmWords?.slice(0, 2), ['rm', '-f'])
    assertPlainPathUnder(rmWords?.[2] ?? '', [staging], 'the exported file')
    assert.ok(existsSync(rmWords?.[2] ?? ''), 'the export is in the staging folder')

    // Transfer manager: deploy into a VM directory with a hostile name, use it, move it, remove it.
    const A = 'alpha'
    succeeded(await tm('clone', ['one-fe:OpenNebula-Image-7', `${A}:${VMDIR}/disk.0`, '42', String(IMAGE_DS)]), 'clone')
    const hostDir = join(one.hostRoot(A), 'datastores', HOSTILE_SEGMENT, '0', '42')
    assert.equal(readlinkSync(join(hostDir, 'disk.0')), `${one.emu.deviceRoot(A)}/dev/drbd/by-res/OpenNebula-Image-7-vm42-disk0/0`)
    succeeded(await tm('mkswap', ['4', `${A}:${VMDIR}/disk.2`, '42', '0']), 'mkswap')
    const ctx = [`/var/lib/one/vms/42/context ${words[0] ?? ''}.sh`, `${A}:${VMDIR}/disk.3`, '42', '0']
    succeeded(await tm('context', ctx), 'context')
    assert.deepEqual(one.otherTmLog().at(-1)?.argv, ctx, 'the other driver got the words as they were')
    succeeded(await tm('snap_create', [`${A}:${VMDIR}/disk.0`, '0', '42', String(IMAGE_DS)]), 'snap_create')
    const vmDoc = readFileSync(join(one.env['LV_ONE_DB'] ?? '', 'vm-42.xml'), 'utf8')
    succeeded(await tm('prebackup', [`${A}:${VMDIR}`, '0', 'deploy-0', '-', '42', '0'], vmDoc), 'prebackup')
    assert.ok(existsSync(join(hostDir, 'backup', 'disk.0.0')), 'the backup file is in the hostile VM directory')
    succeeded(await tm('postbackup', [`${A}:${VMDIR}`, '0', 'deploy-0', '-', '42', '0'], vmDoc), 'postbackup')
    succeeded(await tm('mv', [`${A}:${VMDIR}`, `bravo:${VMDIR2}`, '42', '0']), 'mv of the VM directory')
    const hostDir2 = join(one.hostRoot('bravo'), 'datastores', `other ${HOSTILE_SEGMENT}`, '0', '42')
    assert.equal(readlinkSync(join(hostDir2, 'disk.0')), `${one.emu.deviceRoot('bravo')}/dev/drbd/by-res/OpenNebula-Image-7-vm42-disk0/0`)
    assert.equal(existsSync(hostDir), false, 'the old VM directory is gone')

    // Climbing VM paths, host names that are not host names, relative paths, hostile SOURCE and TM names.
    refused(await tm('clone', ['one-fe:OpenNebula-Image-7', `${A}:${climb}/disk.0`, '42', String(IMAGE_DS)]), 'clone into a climbing path', 'ONE_DOCUMENT_INVALID')
    refused(await tm('delete', [`${A}:${climb}`, '42', '0']), 'rm -rf of a climbing path', 'ONE_DOCUMENT_INVALID')
    refused(await tm('delete', [`${A}:${climb}/disk.0`, '42', String(IMAGE_DS)]), 'rm of a climbing path', 'ONE_DOCUMENT_INVALID')
    refused(await tm('mv', [`bravo:${VMDIR2}`, `${A}:${climb}`, '42', '0']), 'mv to a climbing path', 'ONE_DOCUMENT_INVALID')
    refused(await tm('delete', [`${A}:./var/lib/one/datastores/0/42`, '42', '0']), 'a relative path', 'ONE_DOCUMENT_INVALID')
    refused(await tm('delete', [`-oProxyCommand=touch ${canary}/proxy:${VMDIR2}`, '42', '0']), 'an ssh option as host', 'ONE_DOCUMENT_INVALID')
    for (const w of words) {
      const what = JSON.stringify(w)
      refused(await tm('delete', [`${w}:${VMDIR2}`, '42', '0']), `host ${what}`, 'ONE_DOCUMENT_INVALID')
      refused(await tm('snap_create', [`bravo:${VMDIR2}/disk.0`, w, '42', String(IMAGE_DS)]), `snapshot id ${what}`)
      refused(await tm('mkswap', [w, `bravo:${VMDIR2}/disk.2`, '42', '0']), `size ${what}`)
      refused(await tm('clone', ['one-fe:OpenNebula-Image-7', `bravo:${VMDIR2}/disk.0`, `42${w}`, String(IMAGE_DS)]), `VM id ${what}`)
    }
    refused(await tm('clone', [`one-fe:${words[1] ?? ''}`, `${A}:/var/lib/one//datastores/0/43/disk.0`, '43', String(IMAGE_DS)]), 'a hostile SOURCE')
    refused(await tm('ln', ['one-fe:x', `${A}:/var/lib/one//datastores/0/43/disk.0`, '43', String(IMAGE_DS)]), 'a hostile SOURCE in the VM document')
    const vm44 = Buffer.from(readFileSync(join(one.env['LV_ONE_DB'] ?? '', 'vm-44.xml'))).toString('base64')
    refused(await tm('failmigrate', [A, 'bravo', '/var/lib/one//datastores/0/44', '44', '0'], vm44), 'a TM driver name that climbs', 'ONE_DOCUMENT_INVALID')
    assert.equal(readFileSync(join(victim, 'keep'), 'utf8'), 'keep', 'the climbed-to folder is untouched')

    // Leave: the disk and the directory go.
    succeeded(await tm('delete', [`bravo:${VMDIR2}/disk.0`, '42', String(IMAGE_DS)]), 'delete the disk')
    succeeded(await tm('delete', [`bravo:${VMDIR2}`, '42', '0']), 'delete the VM directory')
    assert.equal(existsSync(hostDir2), false)
  } finally {
    rec.close()
  }
  const remote: RemoteCommand[] = checkRecording(
    rec,
    {
      roots: [one.dir, one.emu.stateDir],
      readRoots: CONFIG_READS,
      // Only looked up (realpath): RESTRICTED_DIRS '/', the folders OpenNebula always restricts
      // (/var/lib/one, /etc/one, $HOME) and the parents of those missing here, and /etc/passwd,
      // where the refused sources lead.
      statOnly: ['/', '/var/lib', '/var/lib/one', '/etc', '/etc/one', homedir(), '/etc/passwd'],
      remoteRoots: ['/var/lib/one/datastores', one.emu.stateDir, staging],
      programs: ['ssh', 'onevm', 'onedatastore', 'oneimage', 'qemu-img', 'cp', join(STANDINS, 'remotes', 'tm', 'ssh', 'context')],
      // The other TM driver gets oned's argv as it was (checked above), not paths of ours.
      verbatim: [join(STANDINS, 'remotes', 'tm', 'ssh', 'context')],
      canary,
    },
    'opennebula',
  )
  // Not vacuous: the hostile folder names reached the hosts as data, in every kind of command.
  const carrying = remote.flatMap((r) => r.commands).filter((words) => words.some((w) => w.includes(HOSTILE_SEGMENT)))
  assert.deepEqual([...new Set(carrying.map((c) => c[0]))].sort(), ['dd', 'ln', 'md5sum', 'mkdir', 'qemu-img', 'rm', 'tar'])
  assert.ok(remote.some((r) => r.commands.some((c) => c.includes(`of=${staging}/OpenNebula-Image-7-5.raw`))))
})
