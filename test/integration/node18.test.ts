/**
 * The runtime on the distribution's own Node.js: the built bundle (dist/, what hosts run) under the
 * node of Debian 12's `nodejs` package (18.20, the oldest a supported host OS ships after Ubuntu
 * 24.04's 18.19), fetched with `apt-get download` and unpacked with `dpkg -x` into build/debian-node
 * by scripts/debian-node.mjs. Covered: the CLI itself, the call protocol over both transports (the
 * agent on its socket and the one-shot `call --stdin`, same replies), the sandbox story (emulator and
 * core in that process), and one platform call of each adapter through its own shim: Proxmox's Perl
 * module starting the one-shot CLI, an OpenNebula driver executable (`#!/usr/bin/env node`) with
 * Debian's node first on PATH, Cinder's Python transport talking to an agent run by Debian's node.
 * The tests' own process stays on the development Node (20).
 */
import assert from 'node:assert/strict'
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { before, test } from 'node:test'
import type { TestContext } from 'node:test'
import { callAgent } from '../../cli/agent/client.js'
import type { CallReply } from '../../core/protocol/index.js'
import { GiB, MiB } from '../../core/volumes/index.js'
import type { RunningEmulator } from '../../emulator/index.js'
import { actionData, datastoreXml, oneFrontEnd } from '../opennebula/one.js'
import { coreFixture, tempDir } from '../helpers/core.js'
import { debianNode, runTo, startBundleAgent } from '../helpers/debian-node.js'
import type { DebianNode } from '../helpers/debian-node.js'
import { repoRoot } from '../helpers/paths.js'
import { startPveReal } from '../proxmox/pve-real.js'

const root = repoRoot()
const bundle = join(root, 'dist', 'linstor-virt.js')
let deb: DebianNode

before(() => {
  deb = debianNode()
})

/** The environment of a host process, without the caller's linstor-virt settings. */
function hostEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...extra }
}

function comparable(r: CallReply): unknown {
  return JSON.parse(JSON.stringify(r, (k, v: unknown) => (['pid', 'agent', 'measuredAt'].includes(k) ? '*' : v)))
}

async function agentOn(t: TestContext): Promise<string> {
  const socket = join(tempDir(t, 'lv-n18-agent-'), 'agent.sock')
  await startBundleAgent(t, deb.node, bundle, socket, hostEnv({ LINSTOR_VIRT_LOG_LEVEL: 'warn' }))
  return socket
}

function configFor(emu: RunningEmulator, t: TestContext, node: string): Record<string, unknown> {
  return { controllers: emu.url, localNode: node, lockDir: tempDir(t, 'lv-n18-locks-'), deviceRoot: emu.deviceRoot(node) }
}

test("Debian 12's node runs the CLI: its version is 18.19 or later but below 20, and `version` prints the changelog's", async () => {
  const v = await runTo(deb.node, ['-p', 'process.versions.node'])
  assert.equal(v.code, 0, v.stderr)
  const [major, minor] = v.stdout.trim().split('.').map(Number)
  assert.ok(major === 18 && (minor ?? 0) >= 19, `Debian 12's node is ${v.stdout.trim()} (package ${deb.version})`)
  const changelog = /^linstor-virt \(([^)]+)\)/.exec(readFileSync(join(root, 'packaging', 'debian', 'changelog'), 'utf8'))?.[1]
  assert.deepEqual(await runTo(deb.node, [bundle, 'version'], { env: hostEnv() }), { code: 0, stdout: `linstor-virt ${changelog ?? '?'}\n`, stderr: '' })
  const help = await runTo(deb.node, [bundle, '--help'], { env: hostEnv() })
  assert.equal(help.code, 0, help.stderr)
  assert.match(help.stdout, /linstor-virt sandbox/)
})

test("the call protocol under Debian 12's node: the agent and the one-shot CLI give the same replies", async (t) => {
  const { emu, storage } = await coreFixture(t)
  await storage.resource('shared-disk').create({ volumes: [1 * GiB], policy: { placeCount: 2 } })
  const socket = await agentOn(t)
  const config = configFor(emu, t, 'delta')
  const table: [string, unknown, (r: CallReply) => void][] = [
    ['ping', { v: 1, platform: 'core', operation: 'ping', id: 'p1' }, (r) => assert.ok('result' in r && (r.result as { pong: boolean }).pong)],
    ['bad request', { v: 1, platform: 'core', operation: 'ping', deadlineMs: -1 }, (r) => assert.ok('error' in r && r.error.code === 'CALL_INVALID')],
    ['info', { v: 1, platform: 'core', operation: 'info', arguments: { resource: 'shared-disk' }, config }, (r) => assert.ok('result' in r && (r.result as { name: string }).name === 'shared-disk')],
    ['attach', { v: 1, platform: 'core', operation: 'attach', arguments: { resource: 'shared-disk', node: 'delta' }, config }, (r) => assert.ok('result' in r && (r.result as { volumes: { devicePath: string }[] }).volumes[0]?.devicePath === emu.deviceRoot('delta') + '/dev/drbd/by-res/shared-disk/0')],
    ['detach', { v: 1, platform: 'core', operation: 'detach', arguments: { resource: 'shared-disk', node: 'delta' }, config }, (r) => assert.ok('result' in r)],
    ['capacity', { v: 1, platform: 'core', operation: 'capacity', arguments: { policy: { placeCount: 2 } }, config }, (r) => assert.ok('result' in r && (r.result as { capacityBytes: number }).capacityBytes === 200 * GiB)],
  ]
  const viaAgent: CallReply[] = []
  for (const [, request] of table) viaAgent.push(await callAgent(socket, request))
  const viaOneShot: CallReply[] = []
  for (const [name, request] of table) {
    const r = await runTo(deb.node, [bundle, 'call', '--stdin'], { stdin: JSON.stringify(request), env: hostEnv() })
    const last = r.stdout.trim().split('\n').pop() ?? ''
    assert.ok(last.startsWith('{'), `${name}: one-shot reply line (exit ${r.code}): ${r.stdout}\n${r.stderr}`)
    viaOneShot.push(JSON.parse(last) as CallReply)
  }
  table.forEach(([name, , check], i) => {
    const a = viaAgent[i] as CallReply
    check(a)
    assert.deepEqual(comparable(viaOneShot[i] as CallReply), comparable(a), name)
  })
  const pong = viaAgent[0] as { result: { agent: boolean; version: string } }
  assert.equal(pong.result.agent, true, 'the socket is served by the agent')
})

test("the sandbox story runs under Debian 12's node and every step holds its invariants", async (t) => {
  const r = await runTo(deb.node, [bundle, 'sandbox', '--state', tempDir(t, 'lv-n18-sandbox-')], { env: hostEnv(), timeoutMs: 300_000 })
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`)
  assert.match(r.stdout, /All \d+ steps held their invariants\./)
  assert.doesNotMatch(r.stdout, /✗/)
})

test("Proxmox: inside PVE 9's real storage library, the Perl module's one-shot fallback runs the CLI with Debian 12's node (vdisk_alloc, storage_info)", async (t) => {
  const dir = tempDir(t, 'lv-n18-pve-')
  // No agent answers on this socket: every call goes through `node linstor-virt.js call --stdin`.
  const p = await startPveReal(t, {
    version: 9,
    nodes: ['alpha'],
    env: { LINSTOR_VIRT_AGENT_SOCKET: join(dir, 'no-agent.sock'), LINSTOR_VIRT_NODE: deb.node, LINSTOR_VIRT_CLI: bundle, LINSTOR_VIRT_LOCK_DIR: join(dir, 'locks') },
  })
  assert.equal(await p.call('alpha', 'vdisk_alloc', [p.storeid, 100, 'raw', null, 4 * 1024]), `${p.storeid}:vm-100-disk-0`)
  const info = (await p.call('alpha', 'storage_info', ['images'])) as Record<string, { active: number; total: number }>
  assert.equal(info[p.storeid]?.active, 1)
  assert.ok((info[p.storeid]?.total ?? 0) >= 100 * GiB)
  assert.equal((await p.client.resourceDefinitions.get('vm-100-disk-0'))?.props['Aux/pm/vmid'], '100')
})

test("OpenNebula: a driver executable (#!/usr/bin/env node) run by Debian 12's node imports an image, in-process and through that node's agent", async (t) => {
  const one = await oneFrontEnd(t)
  const ds = datastoreXml(101, { LINSTOR_CONTROLLERS: one.emu.url, LINSTOR_PLACE_COUNT: '2', BRIDGE_LIST: 'alpha bravo', RESTRICTED_DIRS: '/', SAFE_DIRS: one.dir })
  one.store('datastore', 101, ds)
  const env = { PATH: `${deb.bin}:${one.env['PATH'] ?? ''}` }
  const which = await runTo('/usr/bin/env', ['node', '-p', 'process.execPath'], { env: { ...process.env, ...env } })
  assert.equal(which.stdout.trim(), join(deb.dir, 'usr', 'bin', 'node'), 'env finds Debian\'s node first')
  const image = Buffer.alloc(4 * MiB, 7)
  const file = join(one.dir, 'image.raw')
  writeFileSync(file, image)
  const cp = await one.ok('datastore', 'cp', ['12'], { stdin: actionData({ ID: '12', PATH: file, SIZE: '4', TYPE: '0' }, ds), env })
  assert.equal(cp.stdout.trim(), 'OpenNebula-Image-12 raw')
  const socket = await agentOn(t)
  const m = await one.ok('datastore', 'monitor', ['101'], { stdin: actionData(undefined, ds), env: { ...env, LINSTOR_VIRT_AGENT_SOCKET: socket } })
  assert.match(m.stdout, /^USED_MB=[0-9]+\nTOTAL_MB=[0-9]+\nFREE_MB=[0-9]+\n$/)
})

test("Cinder: the Python driver's transport reaches an agent run by Debian 12's node, and falls back to the one-shot CLI under it", async (t) => {
  const { emu, client } = await coreFixture(t)
  const dir = tempDir(t, 'lv-n18-cinder-')
  const socket = await agentOn(t)
  const config = { backend: 'lv-1', controllers: [emu.url], cinderHost: 'ctl', nodeMap: { ctl: 'alpha' }, lockDir: join(dir, 'locks'), deviceRoot: join(dir, '{node}') }
  const volume = (id: string): Record<string, unknown> => ({ id, name_id: id, size: 1, multiattach: false, status: 'creating', volume_type: { id: 't1', name: 'two', extra_specs: { volume_backend_name: 'lv-1', 'linstor:redundancy': '2' } }, attachments: [] })
  const script = 'import json, sys\nfrom linstor_virt_cinder.client import CallClient\nc = CallClient(sys.argv[1], json.loads(sys.argv[2]))\nprint(json.dumps(c.call(json.loads(sys.stdin.read()), 60)))\n'
  const call = async (sock: string, operation: string, args: Record<string, unknown>): Promise<Record<string, unknown>> => {
    const request = { v: 1, platform: 'cinder', operation, arguments: args, config, deadlineMs: 30_000 }
    const r = await runTo('/usr/bin/python3', ['-c', script, sock, JSON.stringify([deb.node, bundle])], { stdin: JSON.stringify(request), env: hostEnv({ PYTHONPATH: join(root, 'plugins/openstack-cinder/python') }) })
    assert.equal(r.code, 0, r.stderr)
    const reply = JSON.parse(r.stdout) as { result?: Record<string, unknown>; error?: { code: string; message: string } }
    assert.equal(reply.error, undefined, `${operation}: ${JSON.stringify(reply.error)}`)
    return reply.result ?? {}
  }
  await call(socket, 'create_volume', { volume: volume('aaaaaaaa-0000-4000-8000-000000000018') })
  await call(join(dir, 'no-agent.sock'), 'create_volume', { volume: volume('aaaaaaaa-0000-4000-8000-000000000019') })
  const names = (await client.resourceDefinitions.list()).map((rd) => rd.name).sort()
  assert.equal(names.length, 2, names.join(' '))
  const stats = await call(socket, 'stats', {})
  assert.equal(stats['volume_backend_name'], 'lv-1')
})

test('the runtime code uses no API newer than Node 18.19 (what esbuild cannot lower)', () => {
  // esbuild lowers syntax to node18.19 (scripts/build.mjs) but not library calls: these are the
  // Node 20+ and ES2023+ library APIs a change could bring in. The bundle is checked by running it
  // above; this catches them in the source of code paths the tests above do not reach.
  const newer: [RegExp, string][] = [
    [/\.(toSorted|toReversed|toSpliced)\(/, 'Array change-by-copy (Node 20)'],
    [/\.with\(\s*-?\d/, 'Array.prototype.with (Node 20)'],
    [/\b(Object|Map)\.groupBy\(/, 'groupBy (Node 21)'],
    [/Promise\.withResolvers\(/, 'Promise.withResolvers (Node 22)'],
    [/Array\.fromAsync\(/, 'Array.fromAsync (Node 22)'],
    [/import\.meta\.(dirname|filename)\b/, 'import.meta.dirname/filename (Node 20.11)'],
    [/\b(isWellFormed|toWellFormed)\(/, 'String well-formedness (Node 20)'],
    [/\bstyleText\b|\bloadEnvFile\b|\bgetBuiltinModule\b|\bgetCallSite\b/, 'util/process API of Node 20.12+'],
    [/\bfs(\/promises)?\b.*\bglob(Sync)?\(|\bglobSync\(/, 'fs.glob (Node 22)'],
    [/\bmodule\.register\(|\bnavigator\./, 'Node 20.6+/21 globals'],
    [/\.(union|intersection|symmetricDifference|isSubsetOf|isSupersetOf|isDisjointFrom)\(/, 'Set methods (Node 22)'],
    [/new RegExp\([^)]*['"][a-z]*v[a-z]*['"]\)/, 'RegExp v flag (Node 20)'],
    [/\bfs\.openAsBlob\b|\bcrypto\.hash\(/, 'Node 20+/21.7 API'],
  ]
  const found: string[] = []
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name)
      if (statSync(p).isDirectory()) {
        if (name !== 'python' && name !== 'perl') walk(p)
      } else if (/\.(ts|cjs|mjs|js)$/.test(name) && !name.endsWith('.d.ts') && !name.includes('.generated.')) {
        readFileSync(p, 'utf8')
          .split('\n')
          .forEach((line, i) => {
            for (const [re, what] of newer) if (re.test(line) && !/^\s*(\/\/|\*)/.test(line)) found.push(`${relative(root, p)}:${i + 1}: ${what}: ${line.trim()}`)
          })
      }
    }
  }
  for (const d of ['core', 'cli', 'plugins', 'emulator']) walk(join(root, d))
  assert.deepEqual(found, [])
})
