/**
 * The call protocol over both transports: the agent on a unix socket and the one-shot
 * `linstor-virt call --stdin` give the same replies for the same requests (one table, run over
 * both); the agent survives bad JSON, oversized bodies, unknown operations and slow clients; shims
 * fall back to one-shot when the socket is absent; status calls keep their 2 s deadline with a
 * black-holing or slow controller.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import { callAgent, callOneShot, callWithFallback } from '../../cli/agent/client.js'
import { startAgent } from '../../cli/agent/server.js'
import { buildDispatcher } from '../../cli/dispatcher.js'
import { silentLogger } from '../../core/log/index.js'
import type { CallReply } from '../../core/protocol/index.js'
import { GiB } from '../../core/volumes/index.js'
import type { RunningEmulator } from '../../emulator/index.js'
import { withEmulator } from '../emulator/helpers.js'
import { allowing } from '../helpers/access.js'
import { coreFixture, tempDir } from '../helpers/core.js'
import { repoRoot } from '../helpers/paths.js'
import { blackHole } from '../helpers/servers.js'
import { boundedBy } from '../helpers/bounds.js'

const bundle = join(repoRoot(), 'dist', 'linstor-virt.js')

async function agentOn(t: TestContext, controllers?: string, clientTimeoutMs?: number): Promise<string> {
  const socketPath = join(tempDir(t, 'lv-agent-'), 'agent.sock')
  const agent = await startAgent({ socketPath, dispatcher: buildDispatcher(silentLogger()), logger: silentLogger(), ...(controllers !== undefined ? { controllers } : {}), ...(clientTimeoutMs !== undefined ? { clientTimeoutMs } : {}) })
  t.after(() => agent.close())
  return socketPath
}

/** Fields that differ by process or by time, blanked for comparison. */
function comparable(r: CallReply): unknown {
  return JSON.parse(JSON.stringify(r, (k, v: unknown) => (['pid', 'agent', 'measuredAt', 'version'].includes(k) ? '*' : v)))
}

function configFor(emu: RunningEmulator, t: TestContext, node: string): Record<string, unknown> {
  return { controllers: emu.url, localNode: node, lockDir: tempDir(t, 'lv-call-locks-'), deviceRoot: emu.deviceRoot(node) }
}

test('both transports give the same replies for the same requests', async (t) => {
  const { emu, storage } = await coreFixture(t)
  await storage.resource('shared-disk').create({ volumes: [1 * GiB], policy: { placeCount: 2 } })
  const socket = await agentOn(t)
  const config = configFor(emu, t, 'delta')
  const table: [string, unknown, (r: CallReply) => void][] = [
    ['ping', { v: 1, platform: 'core', operation: 'ping', id: 'p1' }, (r) => assert.deepEqual(comparable(r), { v: 1, id: 'p1', result: { pong: true, version: '*', pid: '*', agent: '*' } })],
    ['unknown operation', { v: 1, platform: 'core', operation: 'nope' }, (r) => assert.ok('error' in r && r.error.code === 'UNKNOWN_OPERATION' && /core has attach/.test(r.error.message))],
    ['unknown platform', { v: 1, platform: 'vmware', operation: 'status' }, (r) => assert.ok('error' in r && r.error.code === 'UNKNOWN_OPERATION' && /known platforms: cinder, core, opennebula, proxmox$/.test(r.error.message))],
    ['invalid fields', { v: 1, platform: 'core', operation: 'ping', deadlineMs: -1, extra: true }, (r) => assert.ok('error' in r && r.error.code === 'CALL_INVALID' && /deadlineMs/.test(r.error.message) && /extra/.test(r.error.message))],
    ['not JSON', '{"v":1,', (r) => assert.ok('error' in r && r.error.code === 'CALL_INVALID' && /not valid JSON/.test(r.error.message))],
    ['info', { v: 1, platform: 'core', operation: 'info', arguments: { resource: 'shared-disk' }, config }, (r) => assert.ok('result' in r && (r.result as { name: string }).name === 'shared-disk')],
    ['info of nothing', { v: 1, platform: 'core', operation: 'info', arguments: { resource: 'no-such' }, config }, (r) => assert.deepEqual(r, { v: 1, result: null })],
    ['attach', { v: 1, platform: 'core', operation: 'attach', arguments: { resource: 'shared-disk', node: 'delta' }, config }, (r) => assert.ok('result' in r && (r.result as { volumes: { devicePath: string }[] }).volumes[0]?.devicePath === emu.deviceRoot('delta') + '/dev/drbd/by-res/shared-disk/0')],
    ['detach', { v: 1, platform: 'core', operation: 'detach', arguments: { resource: 'shared-disk', node: 'delta' }, config }, (r) => assert.ok('result' in r)],
    ['bad argument', { v: 1, platform: 'core', operation: 'attach', arguments: { node: 'delta' }, config }, (r) => assert.ok('error' in r && r.error.code === 'CALL_INVALID' && /arguments.resource/.test(r.error.message))],
    ['capacity', { v: 1, platform: 'core', operation: 'capacity', arguments: { policy: { placeCount: 2 } }, config }, (r) => assert.ok('result' in r && (r.result as { capacityBytes: number }).capacityBytes === 200 * GiB)],
    ['bad policy', { v: 1, platform: 'core', operation: 'capacity', arguments: { policy: { placeCount: 99 } }, config }, (r) => assert.ok('error' in r && r.error.code === 'CONFIG_INVALID' && /placeCount/.test(r.error.message))],
  ]
  // The whole table over one transport, then over the other: attach then detach leaves the state
  // as it found it, so both runs see the same cluster.
  const viaAgent: CallReply[] = []
  for (const [, request] of table) viaAgent.push(await callAgent(socket, request))
  const viaOneShot: CallReply[] = []
  for (const [, request] of table) viaOneShot.push(await callOneShot(bundle, request))
  table.forEach(([name, , check], i) => {
    const a = viaAgent[i] as CallReply
    check(a)
    assert.deepEqual(comparable(viaOneShot[i] as CallReply), comparable(a), name)
  })
})

test('the agent answers bad JSON, oversized bodies and slow clients with clear errors and keeps serving', async (t) => {
  const socket = await agentOn(t, undefined, 300)
  const ping = { v: 1, platform: 'core', operation: 'ping' }
  const bad = await callAgent(socket, '{not json')
  assert.ok('error' in bad && bad.error.code === 'CALL_INVALID' && /not valid JSON/.test(bad.error.message))
  const big = await callAgent(socket, JSON.stringify({ ...ping, arguments: { blob: 'x'.repeat(1_200_000) } }))
  assert.ok('error' in big && big.error.code === 'CALL_INVALID' && /larger than 1048576 bytes/.test(big.error.message))

  // A client that never finishes its request is cut by the server; others are served meanwhile.
  const slow = net.connect(socket)
  await new Promise((r) => slow.once('connect', r))
  slow.write('POST /v1/call HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"v":1')
  const closed = new Promise<void>((r) => slow.once('close', () => r()))
  slow.on('error', () => undefined)
  assert.ok('result' in (await callAgent(socket, ping)))
  await closed
  assert.ok('result' in (await callAgent(socket, ping)))
})

test('shims fall back to one-shot when the socket is absent', async (t) => {
  const dir = tempDir(t, 'lv-nosock-')
  const r = await callWithFallback(join(dir, 'agent.sock'), bundle, { v: 1, platform: 'core', operation: 'ping' })
  assert.equal(r.via, 'one-shot')
  assert.ok('result' in r.reply && (r.reply.result as { agent: boolean }).agent === false)
  const socket = await agentOn(t)
  const a = await callWithFallback(socket, bundle, { v: 1, platform: 'core', operation: 'ping' })
  assert.equal(a.via, 'agent')
  assert.ok('result' in a.reply && (a.reply.result as { agent: boolean }).agent === true)
})

test('status calls keep their 2 s deadline when the controller black-holes, over both transports', async (t) => {
  const hole = await blackHole(t)
  const socket = await agentOn(t)
  const request = { v: 1, platform: 'core', operation: 'capacity', arguments: { policy: { placeCount: 2 } }, config: { controllers: hole.url, lockDir: tempDir(t, 'lv-bh-') } }
  for (const [how, call] of [['agent', () => callAgent(socket, request)], ['one-shot', () => callOneShot(bundle, request)]] as const) {
    // The hole never answers: only the call's own 2 s status deadline can end it.
    const r = await boundedBy(2000, `capacity over the ${how} with a black-holing controller`, call)
    assert.ok('error' in r && ['CALL_DEADLINE', 'LINSTOR_UNAVAILABLE', 'LINSTOR_DEADLINE'].includes(r.error.code), JSON.stringify(r))
  }
})

test('the agent answers status from the last known value when the controller turns slow', async (t) => {
  const { emu } = await coreFixture(t)
  const socket = await agentOn(t)
  const request = { v: 1, platform: 'core', operation: 'capacity', arguments: { policy: { placeCount: 2 }, maxAgeMs: 0 }, config: configFor(emu, t, 'alpha') }
  const fresh = await callAgent(socket, request)
  assert.ok('result' in fresh && (fresh.result as { stale: boolean }).stale === false)
  // 60 s: no fresh answer can come within the 2 s status deadline plus any scheduling margin.
  emu.control.faults.delay(60_000)
  const stale = await boundedBy(2000, 'capacity with a slow controller', () => callAgent(socket, request))
  assert.ok('result' in stale && (stale.result as { stale: boolean; capacityBytes: number }).stale === true && (stale.result as { capacityBytes: number }).capacityBytes === 200 * GiB, JSON.stringify(stale))
  emu.control.faults.reset()
})

test('one-shot with debug logging: stdout carries exactly the reply line, stderr the JSON log lines, and no token anywhere', async (t) => {
  const emu = await withEmulator(t, { token: 'tok-SECRET-oneshot' })
  const dir = tempDir(t, 'lv-call-token-')
  const tokenFile = join(dir, 'auth.json')
  writeFileSync(tokenFile, '{"token":"tok-SECRET-oneshot"}')
  const request = { v: 1, platform: 'core', operation: 'capacity', arguments: { policy: { placeCount: 2 } }, config: { ...configFor(emu, t, 'alpha'), tokenFile } }
  // Asynchronously: the emulator runs in this process and must keep answering.
  const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(process.execPath, [bundle, 'call', '--stdin'], { encoding: 'utf8', env: { ...process.env, LINSTOR_VIRT_LOG_LEVEL: 'trace' } }, (err, stdout, stderr) => resolve({ status: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr }))
    child.stdin?.end(JSON.stringify(request))
  })
  assert.equal(r.status, 0, r.stderr)
  const out = r.stdout.split('\n')
  assert.equal(out.length, 2)
  assert.equal(out[1], '')
  const reply = JSON.parse(out[0] as string) as CallReply
  assert.ok('result' in reply, JSON.stringify(reply))
  const lines = r.stderr.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
  assert.ok(lines.some((l) => l['msg'] === 'linstor call'), r.stderr)
  assert.ok(!r.stdout.includes('SECRET') && !r.stderr.includes('SECRET'))
})

test('a TCP listener only when asked: loopback only, and every request needs the bearer token', async (t) => {
  const dir = tempDir(t, 'lv-agent-tcp-')
  const token = 'tok-SECRET-agent-tcp-0123'
  await assert.rejects(startAgent({ socketPath: join(dir, 'a.sock'), dispatcher: buildDispatcher(silentLogger()), logger: silentLogger(), tcp: { host: '0.0.0.0', port: 0, token, access: allowing({ controllers: [] }) } }), /loopback addresses only/)
  await assert.rejects(startAgent({ socketPath: join(dir, 'b.sock'), dispatcher: buildDispatcher(silentLogger()), logger: silentLogger(), tcp: { host: '127.0.0.1', port: 0, token: 'short', access: allowing({ controllers: [] }) } }), /at least 16 characters/)
  const agent = await startAgent({ socketPath: join(dir, 'c.sock'), dispatcher: buildDispatcher(silentLogger()), logger: silentLogger(), tcp: { host: '127.0.0.1', port: 0, token, access: allowing({ controllers: [] }) } })
  t.after(() => agent.close())
  const url = `http://127.0.0.1:${agent.tcpPort ?? 0}/v1/call`
  const body = JSON.stringify({ v: 1, platform: 'core', operation: 'ping' })
  const none = await fetch(url, { method: 'POST', body })
  assert.equal(none.status, 401)
  const text = await none.text()
  assert.match(text, /needs its bearer token/)
  assert.ok(!text.includes('SECRET'))
  assert.equal((await fetch(url, { method: 'POST', body, headers: { authorization: 'Bearer wrong-token-of-same-size!!' } })).status, 401)
  const ok = await fetch(url, { method: 'POST', body, headers: { authorization: `Bearer ${token}` } })
  assert.equal(ok.status, 200)
  assert.equal(((await ok.json()) as { result: { pong: boolean } }).result.pong, true)
  // The owner-only unix socket needs no token: its file mode is the access control.
  const viaSocket = await callAgent(join(dir, 'c.sock'), body)
  assert.ok('result' in viaSocket)
})
