/**
 * The OpenNebula driver end to end: image import, oned's reading of the driver's stderr, a real
 * sshd, the agent. The VM scenarios are in opennebula-e2e-<mode>-<group>.test.ts (see
 * test/opennebula/scenarios.ts). Every VM scenario (deploy, live migration both ways, a failed
 * live migration, stop/undeploy and resume elsewhere, cold migration, recovery from a dead host,
 * snapshots, save-as, resize, backup, terminate) runs as oned runs it (test/opennebula/oned.ts:
 * TransferManager.cc's transfer lines, run like one_tm.rb), in both system datastore modes: mixed
 * mode (TM_MAD_SYSTEM=ssh), where OpenNebula's own ssh TM scripts from ../shared/upstream/opennebula
 * do the system datastore's part, and linstor as the system datastore's TM. The built executables
 * under dist/share/opennebula/remotes run against the emulator; stand-ins only for what cannot run
 * here (test/opennebula/README.md). After each step: no unused diskless client, no dual-primary,
 * no migration record, the bytes still there, and every host's VM directory (the front-end's too)
 * holds only links that resolve.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { MiB } from '../../core/volumes/index.js'
import { DEFAULT_CLUSTER } from '../../emulator/cluster.js'
import { actionData, vmXml } from '../opennebula/one.js'
import { startSshd } from '../opennebula/sshd.js'
import { DIR, readStderr } from '../opennebula/oned.js'
import { DATA, IMAGE_DS, VM, bytesOf, deployed, diskfulNodes, disks, hostWithout, importImage, invariants, setup, sha } from '../opennebula/scenarios.js'
import { startAgent } from '../../cli/agent/server.js'
import { buildDispatcher } from '../../cli/dispatcher.js'
import { silentLogger } from '../../core/log/index.js'

test('image import: stat and cp of a qcow2 made by qemu-img, in all three argument forms, converted to raw with the same bytes', async (t) => {
  const one = await setup(t)
  const raw = Buffer.alloc(20 * MiB)
  randomBytes(1 * MiB).copy(raw, 3 * MiB)
  const rawFile = join(one.dir, 'src.raw')
  const qcow = join(one.dir, 'src.qcow2')
  writeFileSync(rawFile, raw)
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', rawFile, qcow])
  const ds = readFileSync(join(one.env['LV_ONE_DB'] ?? '', `datastore-${IMAGE_DS}.xml`), 'utf8')
  const doc = actionData({ ID: '12', PATH: qcow, SIZE: '20', TYPE: '0' }, ds)
  // 7.x: id in argv, document on stdin; 6.6.2+: '-' then the id; up to 6.6: base64 in argv.
  assert.equal((await one.ok('datastore', 'stat', ['1'], { stdin: doc })).stdout.trim(), '20')
  assert.equal((await one.ok('datastore', 'stat', ['-', '1'], { stdin: doc })).stdout.trim(), '20')
  assert.equal((await one.ok('datastore', 'stat', [doc, '1'])).stdout.trim(), '20')
  const r = await one.ok('datastore', 'cp', ['12'], { stdin: doc })
  assert.equal(r.stdout.trim(), 'OpenNebula-Image-12 raw')
  assert.match(r.stderr, /^INFO: datastore\/linstor\/cp: image is qcow2, 20 MiB \(converted to raw\)$/m)
  assert.match(r.stderr, /writing OpenNebula-Image-12: 100%/)
  const nodes = await diskfulNodes(one, 'OpenNebula-Image-12')
  assert.equal(nodes.length, 2)
  const stored = bytesOf(one, nodes[0] ?? '', 'OpenNebula-Image-12', 20 * MiB)
  assert.equal(sha(stored), sha(raw), 'the volume holds the image bytes')
  // An empty datablock with a filesystem: mkfs runs on a node with a replica, on the real device file.
  const mk = await one.ok('datastore', 'mkfs', ['14'], { stdin: actionData({ ID: '14', FORMAT: 'raw', FS: 'ext4', SIZE: '8', TYPE: '2' }, ds) })
  assert.equal(mk.stdout.trim(), 'OpenNebula-Image-14')
  const fsNode = (await diskfulNodes(one, 'OpenNebula-Image-14'))[0] ?? ''
  assert.equal(bytesOf(one, fsNode, 'OpenNebula-Image-14', 1082).readUInt16LE(1080), 0xef53, 'an ext4 superblock')
  // Monitoring of the image datastore: three lines, integers.
  const m = await one.ok('datastore', 'monitor', [String(IMAGE_DS)], { stdin: actionData(undefined, ds) })
  assert.match(m.stdout, /^USED_MB=[0-9]+\nTOTAL_MB=[0-9]+\nFREE_MB=[0-9]+\n$/)
  // A restricted source is refused with one clear line, and nothing is created.
  const bad = await one.run('datastore', 'cp', ['13'], { stdin: actionData({ ID: '13', PATH: '/etc/passwd', SIZE: '1', TYPE: '0' }, ds) })
  assert.equal(bad.code, 1)
  const lines = bad.stderr.trim().split('\n')
  assert.equal(lines.length, 2, bad.stderr)
  assert.match(lines[0] ?? '', /^ERROR: datastore\/linstor\/cp: /)
  assert.doesNotMatch(bad.stderr, /\n\s+at /, 'no stack trace')
  assert.equal(await one.client.resourceDefinitions.get('OpenNebula-Image-13'), undefined)
})

test('image import on a front-end that is a LINSTOR node: converted straight onto the device there, through a diskless client made for the copy and removed after it', async (t) => {
  // The front-end is a satellite without storage (one-fe): it gets a client for the copy.
  const one = await setup(t, { LINSTOR_FRONTEND_NODE: 'one-fe' }, { cluster: { nodes: [...DEFAULT_CLUSTER.nodes, { name: 'one-fe', address: '10.0.0.9' }] } })
  const raw = Buffer.alloc(20 * MiB)
  randomBytes(1 * MiB).copy(raw, 3 * MiB)
  randomBytes(4096).copy(raw, raw.length - 4096)
  const rawFile = join(one.dir, 'src.raw')
  const qcow = join(one.dir, 'src.qcow2')
  writeFileSync(rawFile, raw)
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', rawFile, qcow])
  const ds = readFileSync(join(one.env['LV_ONE_DB'] ?? '', `datastore-${IMAGE_DS}.xml`), 'utf8')
  const sshLog = join(one.env['LV_ONE_DB'] ?? '', 'ssh.log')
  const r = await one.ok('datastore', 'cp', ['15'], { stdin: actionData({ ID: '15', PATH: qcow, SIZE: '20', TYPE: '0' }, ds) })
  assert.equal(r.stdout.trim(), 'OpenNebula-Image-15 raw')
  assert.match(r.stderr, /^INFO: datastore\/linstor\/cp: image is qcow2, 20 MiB \(converted to raw\)$/m)
  assert.match(r.stderr, /writing OpenNebula-Image-15 on this front-end \(one-fe, through a diskless client\)/)
  assert.match(r.stderr, /writing OpenNebula-Image-15: 100%/)
  assert.ok(!existsSync(sshLog) || !readFileSync(sshLog, 'utf8').includes('OpenNebula-Image-15'), 'no ssh to any host for the copy')
  const view = await one.client.view.resources({ resources: ['OpenNebula-Image-15'] })
  assert.deepEqual(view.filter((v) => v.node_name === 'one-fe'), [], 'the client on one-fe is gone again')
  const nodes = await diskfulNodes(one, 'OpenNebula-Image-15')
  assert.equal(nodes.length, 2)
  for (const n of nodes) assert.equal(sha(bytesOf(one, n, 'OpenNebula-Image-15', 20 * MiB)), sha(raw), `the bytes on ${n}`)
  await invariants(one, 'OpenNebula-Image-15', [])

  // A failed import (the checksum of the template is not the file's) leaves neither volume nor client.
  const bad = await one.run('datastore', 'cp', ['16'], { stdin: actionData({ ID: '16', PATH: qcow, SIZE: '20', TYPE: '0', TEMPLATE: '<MD5>0123456789abcdef0123456789abcdef</MD5>' }, ds) })
  assert.equal(bad.code, 1, bad.stderr)
  assert.match(bad.stderr, /^ERROR: datastore\/linstor\/cp: MD5 of .* the image template says 0123456789abcdef0123456789abcdef: nothing was imported$/m)
  assert.equal(await one.client.resourceDefinitions.get('OpenNebula-Image-16'), undefined)
})

test('WARN, not WARNING: every severity line the driver prints is one oned keeps (DriverExecHelper: ^(ERROR|INFO|WARN|DEBUG):\\s+)', async (t) => {
  const one = await setup(t)
  await importImage(one, 9, 16)
  const host = await hostWithout(one, DATA)
  one.store('vm', VM, vmXml(VM, disks, [host]))
  await one.ok('tm', 'ln.ssh', [`one-fe:${DATA}`, `${host}:${DIR(VM)}/disk.1`, String(VM), String(IMAGE_DS)])
  writeFileSync(join(one.env['LV_ONE_DB'] ?? '', 'dead-hosts'), host)
  const to = await hostWithout(one, DATA, [host])
  one.store('vm', VM, vmXml(VM, disks, [host, to], 0, 'ssh', { lcmState: 60 }))
  const r = await one.ok('tm', 'mv.ssh', [`${host}:${DIR(VM)}/disk.1`, `${to}:${DIR(VM)}/disk.1`, String(VM), String(IMAGE_DS)])
  const severity = r.stderr.split('\n').filter((l) => /^[A-Z]+:/.test(l))
  assert.ok(severity.length > 0, r.stderr)
  for (const l of severity) assert.match(l, /^(ERROR|INFO|WARN|DEBUG):\s+/, 'a line oned reads as a log line')
  assert.ok(readStderr(r.stderr).log.some((l) => l.severity === 'WARN' && /unreachable/.test(l.text)), `the unreachable host is a WARN line: ${r.stderr}`)
})

test('through a real OpenSSH server: ln and delete link a disk into a VM directory whose path needs quoting', async (t) => {
  const one = await setup(t)
  await importImage(one, 9, 16)
  const host = await hostWithout(one, 'OpenNebula-Image-9')
  const sshd = await startSshd(t, [host])
  // A real sshd runs the commands on this machine: the VM directory is a scratch path with a quote,
  // a space and a would-be command substitution in it.
  const base = join(one.dir, "it's a $(touch pwned) dir")
  const dir = `${base}/datastores/0/${VM}`
  one.store('vm', VM, vmXml(VM, disks, [host]))
  const env = { ...sshd.env, LINSTOR_VIRT_SSH: '/usr/bin/ssh' }
  const before = one.sshLog().length
  await one.ok('tm', 'ln', [`one-fe:OpenNebula-Image-9`, `${host}:${dir}/disk.1`, String(VM), String(IMAGE_DS)], { env })
  assert.equal(readlinkSync(`${dir}/disk.1`), `${one.emu.deviceRoot(host)}/dev/drbd/by-res/OpenNebula-Image-9/0`)
  assert.equal(existsSync(join(one.dir, 'pwned')), false, 'nothing ran that the path spelled')
  assert.equal(one.sshLog().length, before, 'the stand-in ssh was not used')
  await one.ok('tm', 'delete', [`${host}:${dir}/disk.1`, String(VM), String(IMAGE_DS)], { env })
  assert.equal(existsSync(`${dir}/disk.1`), false)
  await invariants(one, 'OpenNebula-Image-9', [])
})

test('through the agent when it runs: the executable forwards over its socket and prints the same answer', async (t) => {
  const one = await setup(t)
  const socketPath = join(one.dir, 'agent.sock')
  let calls = 0
  const dispatcher = buildDispatcher(silentLogger())
  const agent = await startAgent({ socketPath, dispatcher: { dispatch: (raw: unknown, services: never) => ((calls += 1), dispatcher.dispatch(raw, services)) } as never, logger: silentLogger() })
  t.after(() => agent.close())
  const ds = readFileSync(join(one.env['LV_ONE_DB'] ?? '', `datastore-${IMAGE_DS}.xml`), 'utf8')
  const direct = await one.ok('datastore', 'monitor', [String(IMAGE_DS)], { stdin: actionData(undefined, ds) })
  assert.equal(calls, 0)
  const viaAgent = await one.ok('datastore', 'monitor', [String(IMAGE_DS)], { stdin: actionData(undefined, ds), env: { LINSTOR_VIRT_AGENT_SOCKET: socketPath } })
  assert.equal(calls, 1, 'the agent served the call')
  assert.equal(viaAgent.stdout.split('\n')[1], direct.stdout.split('\n')[1], 'same TOTAL_MB')
})

test('through the agent, a reply that comes late (the call still running after the request was sent) reaches oned whole', async (t) => {
  // The launcher speaks HTTP/1.1 over the socket itself; it must keep the connection open until
  // the whole reply came (Node's HTTP server drops a request whose client half-closed meanwhile).
  const one = await setup(t)
  const socketPath = join(one.dir, 'agent.sock')
  let calls = 0
  const dispatcher = buildDispatcher(silentLogger())
  const slow = async (raw: unknown, services: never): Promise<unknown> => {
    calls += 1
    await new Promise((r) => setTimeout(r, 300))
    return dispatcher.dispatch(raw, services)
  }
  const agent = await startAgent({ socketPath, dispatcher: { dispatch: slow } as never, logger: silentLogger() })
  t.after(() => agent.close())
  const ds = readFileSync(join(one.env['LV_ONE_DB'] ?? '', `datastore-${IMAGE_DS}.xml`), 'utf8')
  const viaAgent = await one.ok('datastore', 'monitor', [String(IMAGE_DS)], { stdin: actionData(undefined, ds), env: { LINSTOR_VIRT_AGENT_SOCKET: socketPath } })
  assert.equal(calls, 1, 'the agent served the call')
  assert.match(viaAgent.stdout, /^USED_MB=[0-9]+\nTOTAL_MB=[0-9]+\nFREE_MB=[0-9]+/)
})

test('disk snapshots on LINSTOR 1.29: revert to an older snapshot restores into a temporary resource and copies the bytes back, keeping the newer one', async (t) => {
  const { one, oned, host } = await deployed(t, 'ssh', { avoid: DATA, emulator: { version: '1.29.0' } })
  const dev = `${one.emu.deviceRoot(host)}/dev/drbd/by-res/${DATA}/0`
  const write = (fill: number): void => {
    const b = readFileSync(dev)
    Buffer.alloc(MiB, fill).copy(b, 0)
    writeFileSync(dev, b)
  }
  const disk1 = `${host}:${DIR(VM)}/disk.1`
  write(0xa1)
  await oned.action(`SNAP_CREATE_LIVE${oned.suffix} linstor ${disk1} 0 ${VM} ${IMAGE_DS}`)
  write(0xb2)
  await oned.action(`SNAP_CREATE_LIVE${oned.suffix} linstor ${disk1} 1 ${VM} ${IMAGE_DS}`)
  write(0xc3)
  oned.shutdown() // poweroff
  one.emu.resetCounters()
  const r = await one.ok('tm', 'snap_revert.ssh', [disk1, '0', String(VM), String(IMAGE_DS)])
  t.diagnostic(`REST calls of the restore-and-copy revert: ${Object.values(one.emu.counters()).reduce((a, b) => a + b, 0)}`)
  assert.match(r.stderr, /keeping the newer OpenNebula-Snap-1/)
  assert.equal(readFileSync(dev)[0], 0xa1, 'the disk holds snapshot 0')
  assert.deepEqual((await one.client.snapshots.list(DATA)).map((s) => s.name).sort(), ['OpenNebula-Snap-0', 'OpenNebula-Snap-1'])
  assert.ok(!(await one.client.resourceDefinitions.list()).some((d) => d.name.endsWith('-rv')), 'no temporary resource left')
})
