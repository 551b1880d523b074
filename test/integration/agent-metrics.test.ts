/**
 * The agent's Prometheus metrics after a scripted set of calls, value by value: calls by outcome,
 * latency histogram counts, REST requests by controller with a dead one listed first (failed
 * tries, failovers, up/reachable), an activation without a controller, a migration window and the
 * doctor's findings from the cluster survey, the token rule over TCP, and the node_exporter textfile
 * replaced atomically on every write and removed when the agent stops.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { join } from 'node:path'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import { callAgent } from '../../cli/agent/client.js'
import { startAgent } from '../../cli/agent/server.js'
import type { AgentOptions, RunningAgent } from '../../cli/agent/server.js'
import { buildDispatcher } from '../../cli/dispatcher.js'
import { silentLogger } from '../../core/log/index.js'
import type { RunningEmulator } from '../../emulator/index.js'
import { withEmulator } from '../emulator/helpers.js'
import { allowing } from '../helpers/access.js'
import { tempDir } from '../helpers/core.js'
import { SCHEDULING_MARGIN_MS } from '../helpers/bounds.js'
import { repoRoot } from '../helpers/paths.js'
import { closedPort } from '../helpers/servers.js'

const GIB_KIB = 1024 * 1024
const TOKEN = 'metrics-test-token-0123456789'

async function cluster(t: TestContext): Promise<RunningEmulator> {
  const nodes = ['alpha', 'bravo', 'charlie'].map((name) => ({ name, pools: [{ name: 'DfltStorPool', provider_kind: 'LVM_THIN' as const, total_capacity_kib: 100 * GIB_KIB }] }))
  return withEmulator(t, {
    cluster: {
      nodes,
      resources: [
        { name: 'disk-a', volumes: [GIB_KIB], replicas: [{ node: 'alpha' }, { node: 'bravo' }] },
        { name: 'disk-b', volumes: [GIB_KIB], replicas: [{ node: 'alpha' }, { node: 'bravo' }] },
      ],
    },
  })
}

async function agentOn(t: TestContext, controllers: string, metrics: NonNullable<AgentOptions['metrics']>, tcp = false): Promise<RunningAgent> {
  const dir = tempDir(t, 'lv-metrics-')
  const agent = await startAgent({
    socketPath: join(dir, 'agent.sock'),
    controllers,
    dispatcher: buildDispatcher(silentLogger()),
    logger: silentLogger(),
    metrics,
    ...(tcp ? { tcp: { host: '127.0.0.1', port: 0, token: TOKEN, access: allowing({ controllers: [controllers] }) } } : {}),
  })
  t.after(() => agent.close())
  return agent
}

function get(opts: http.RequestOptions): Promise<{ status: number; type: string; text: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(opts, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), text: Buffer.concat(chunks).toString('utf8') }))
      })
      .on('error', reject)
  })
}

async function scrape(agent: RunningAgent): Promise<string> {
  const r = await get({ socketPath: agent.socketPath, path: '/metrics' })
  assert.equal(r.status, 200, r.text)
  return r.text
}

/** The value of a series (labels in any order); undefined when the series is absent. */
function value(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`)
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m === null || m[1] !== name) continue
    const have: string[] = (m[2] ?? '').match(/[a-zA-Z_]+="(?:[^"\\]|\\.)*"/g) ?? []
    if (have.length === want.length && want.every((w) => have.includes(w))) return Number(m[3])
  }
  return undefined
}

test('metrics after scripted calls: calls by outcome, latency counts, REST by controller with failover, an offline activation', async (t) => {
  const emu = await cluster(t)
  const dead = `http://127.0.0.1:${await closedPort()}`
  const agent = await agentOn(t, `${dead},${emu.url}`, { surveyIntervalMs: 0, probeAfterMs: 3_600_000 })
  const config = { lockDir: tempDir(t, 'lv-metrics-locks-'), localNode: 'alpha', deviceRoot: emu.deviceRoot('alpha') }
  const call = (platform: string, operation: string, args: Record<string, unknown> = {}) => callAgent(agent.socketPath, { v: 1, platform, operation, arguments: args, config })

  for (let i = 0; i < 3; i++) await call('core', 'ping')
  await call('core', 'info', { resource: 'disk-a' })
  await call('core', 'frob')
  await call('nosuch', 'ping')
  const missing = await call('core', 'attach', { resource: 'no-such-disk', node: 'alpha' })
  assert.ok('error' in missing && missing.error.code === 'RESOURCE_NOT_FOUND', JSON.stringify(missing))

  let m = await scrape(agent)
  assert.equal(value(m, 'linstor_virt_calls_total', { platform: 'core', operation: 'ping', outcome: 'ok' }), 3)
  assert.equal(value(m, 'linstor_virt_calls_total', { platform: 'core', operation: 'info', outcome: 'ok' }), 1)
  assert.equal(value(m, 'linstor_virt_calls_total', { platform: 'core', operation: 'unknown', outcome: 'UNKNOWN_OPERATION' }), 1)
  assert.equal(value(m, 'linstor_virt_calls_total', { platform: 'unknown', operation: 'unknown', outcome: 'UNKNOWN_OPERATION' }), 1)
  assert.equal(value(m, 'linstor_virt_calls_total', { platform: 'core', operation: 'attach', outcome: 'RESOURCE_NOT_FOUND' }), 1)
  assert.equal(value(m, 'linstor_virt_call_duration_seconds_count', { platform: 'core', operation: 'ping' }), 3)
  assert.equal(value(m, 'linstor_virt_call_duration_seconds_bucket', { platform: 'core', operation: 'ping', le: '+Inf' }), 3)
  // info and attach read the definition and the replicas: four GETs, all answered by the emulator.
  assert.equal(value(m, 'linstor_virt_linstor_requests_total', { controller: emu.url, method: 'GET', outcome: '2xx' }), 4)
  assert.equal(value(m, 'linstor_virt_linstor_request_duration_seconds_count', { controller: emu.url, method: 'GET' }), 4)
  // The dead controller was tried first (by each request that started before one had answered), then never again.
  const failed = value(m, 'linstor_virt_controller_failed_tries_total', { controller: dead, reason: 'connect' }) ?? 0
  assert.ok(failed >= 1 && failed <= 2, `dead controller tried ${failed} time(s)`)
  assert.equal(value(m, 'linstor_virt_controller_failovers_total', { controller: emu.url }), failed)
  assert.equal(value(m, 'linstor_virt_controller_up', { controller: dead }), 0)
  assert.equal(value(m, 'linstor_virt_controller_up', { controller: emu.url }), 1)
  assert.equal(value(m, 'linstor_virt_controller_reachable'), 1)
  assert.ok((value(m, 'linstor_virt_controller_last_answer_timestamp_seconds') ?? 0) > 0)
  assert.equal(value(m, 'linstor_virt_offline_activations_total', { reason: 'controller-unreachable' }), 0)

  // No controller at all: disk-a starts from alpha's local replica.
  await emu.stopListening()
  const offline = await call('core', 'attach', { resource: 'disk-a', node: 'alpha' })
  assert.ok('result' in offline, JSON.stringify(offline))
  m = await scrape(agent)
  assert.equal(value(m, 'linstor_virt_offline_activations_total', { reason: 'controller-unreachable' }), 1)
  assert.equal(value(m, 'linstor_virt_calls_total', { platform: 'core', operation: 'attach', outcome: 'ok' }), 1)
  assert.equal(value(m, 'linstor_virt_controller_reachable'), 0)
  assert.equal(value(m, 'linstor_virt_controller_up', { controller: emu.url }), 0)
  assert.ok((value(m, 'linstor_virt_linstor_requests_total', { controller: 'none', method: 'GET', outcome: 'LINSTOR_UNAVAILABLE' }) ?? 0) >= 1)
  await emu.startListening()
})

test('the cluster survey: an open migration window and the doctor\'s findings, then none; /metrics over TCP needs the token', async (t) => {
  const emu = await cluster(t)
  const agent = await agentOn(t, emu.url, { surveyIntervalMs: 1 }, true)
  const config = { lockDir: tempDir(t, 'lv-metrics-locks-'), localNode: 'charlie' }
  const call = (operation: string, args: Record<string, unknown>) => callAgent(agent.socketPath, { v: 1, platform: 'core', operation, arguments: args, config })

  let m = await scrape(agent)
  assert.deepEqual([value(m, 'linstor_virt_migration_windows_open'), value(m, 'linstor_virt_survey_resources'), value(m, 'linstor_virt_survey_success')], [0, 2, 1])
  assert.equal(value(m, 'linstor_virt_doctor_findings', { kind: 'migration-left' }), 0)

  // disk-a runs on bravo; charlie attaching it opens a migration window.
  emu.control.open('bravo', 'disk-a')
  const a = await call('attach', { resource: 'disk-a', node: 'charlie' })
  assert.ok('result' in a, JSON.stringify(a))
  m = await scrape(agent)
  assert.equal(value(m, 'linstor_virt_migration_windows_open'), 1)
  assert.ok((value(m, 'linstor_virt_migration_window_open_seconds', { resource: 'disk-a', from: 'bravo', to: 'charlie' }) ?? -1) >= 0)
  assert.equal(value(m, 'linstor_virt_doctor_findings', { kind: 'migration-left' }), 1)
  assert.equal(value(m, 'linstor_virt_diskless_clients'), 1)
  // And disk-b gets a client on charlie that nobody uses.
  await call('attach', { resource: 'disk-b', node: 'charlie' })
  m = await scrape(agent)
  assert.equal(value(m, 'linstor_virt_doctor_findings', { kind: 'unused-diskless' }), 1)
  assert.equal(value(m, 'linstor_virt_diskless_clients'), 2)

  // The VM moves: charlie opens, bravo closes and detaches; the window closes.
  emu.control.open('charlie', 'disk-a')
  emu.control.close('bravo', 'disk-a')
  const d = await call('detach', { resource: 'disk-a', node: 'bravo' })
  assert.ok('result' in d, JSON.stringify(d))
  await call('detach', { resource: 'disk-b', node: 'charlie' })
  m = await scrape(agent)
  assert.equal(value(m, 'linstor_virt_migration_windows_open'), 0)
  assert.equal(value(m, 'linstor_virt_migration_window_open_seconds', { resource: 'disk-a', from: 'bravo', to: 'charlie' }), undefined)
  assert.deepEqual([value(m, 'linstor_virt_doctor_findings', { kind: 'migration-left' }), value(m, 'linstor_virt_doctor_findings', { kind: 'unused-diskless' })], [0, 0])

  // Over TCP: the token rule of every path.
  const port = agent.tcpPort ?? 0
  const denied = await get({ host: '127.0.0.1', port, path: '/metrics' })
  assert.equal(denied.status, 401)
  assert.doesNotMatch(denied.text, /linstor_virt_/)
  const ok = await get({ host: '127.0.0.1', port, path: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } })
  assert.equal(ok.status, 200)
  assert.match(ok.type, /^text\/plain; version=0\.0\.4/)
  assert.equal(value(ok.text, 'linstor_virt_migration_windows_open'), 0)
})

test('the textfile is replaced (never rewritten in place) on each write, never seen half written, and removed when the agent stops', async (t) => {
  const emu = await cluster(t)
  const dir = tempDir(t, 'lv-textfile-')
  const path = join(dir, 'linstor_virt.prom')
  writeFileSync(join(dir, 'other.prom'), 'other_metric 1\n')
  const agent = await agentOn(t, emu.url, { textfile: path, textfileIntervalMs: 20, surveyIntervalMs: 0 })
  const textfile = agent.textfile
  assert.ok(textfile !== undefined)
  const inodes: number[] = []
  const reads: string[] = []
  let writes = 0
  let reading = true
  // A reader as node_exporter is one: whenever it looks, a whole file.
  const reader = (async () => {
    while (reading) {
      try {
        reads.push(readFileSync(path, 'utf8'))
      } catch {
        // not written yet
      }
      await new Promise((resolve) => setImmediate(resolve))
    }
  })()
  while (writes < 6) {
    await textfile.written()
    writes++
    inodes.push(statSync(path).ino)
  }
  reading = false
  await reader
  // Each write is a new file renamed into place: the file at the path changes with every write
  // (the file system may hand a freed inode number out again, so only neighbours must differ).
  inodes.slice(1).forEach((ino, i) => assert.notEqual(ino, inodes[i], `write ${i + 2} replaced the file (inodes ${inodes.join(', ')})`))
  assert.ok(reads.length > 0)
  for (const text of reads) {
    assert.ok(text.endsWith('\n'))
    assert.match(text, /^# TYPE linstor_virt_survey_duration_seconds gauge$/m, 'the last metric is there: the file is whole')
    for (const line of text.split('\n').filter((l) => l !== '')) assert.match(line, /^(# (HELP|TYPE) \S+ .*|[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? \S+)$/)
  }
  // The temporary file is not one node_exporter would read (it reads *.prom only).
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.prom')).sort(), ['linstor_virt.prom', 'other.prom'])
  await agent.close()
  assert.deepEqual(readdirSync(dir), ['other.prom'])
})

test('the bundled agent serves /metrics and writes the textfile (prom-client loaded from its own chunk)', async (t) => {
  const emu = await cluster(t)
  const dir = tempDir(t, 'lv-bundled-metrics-')
  const socket = join(dir, 'agent.sock')
  const prom = join(dir, 'linstor_virt.prom')
  const bundle = join(repoRoot(), 'dist', 'linstor-virt.js')
  const child = spawn(process.execPath, [bundle, 'agent', '--socket', socket, '--controllers', emu.url, '--metrics-textfile', prom, '--metrics-interval', '1', '--survey-interval', '0'], { env: { PATH: process.env['PATH'] ?? '' }, stdio: ['ignore', 'ignore', 'pipe'] })
  t.after(() => child.kill('SIGKILL'))
  let stderr = ''
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString('utf8')
      if (stderr.includes('linstor-virt agent listening on')) resolve()
    })
    child.on('exit', () => reject(new Error(`the agent exited: ${stderr}`)))
  })
  await callAgent(socket, { v: 1, platform: 'core', operation: 'ping', arguments: {}, config: {} })
  const m = await get({ socketPath: socket, path: '/metrics' })
  assert.equal(m.status, 200, m.text)
  assert.equal(value(m.text, 'linstor_virt_calls_total', { platform: 'core', operation: 'ping', outcome: 'ok' }), 1)
  assert.equal(value(m.text, 'linstor_virt_controller_reachable'), 1, 'an idle agent probes its controllers on a scrape')
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  // Written at start and every second; wait for it (bounded: the interval plus the scheduling margin).
  for (let waited = 0; !existsSync(prom) && waited < 1000 + SCHEDULING_MARGIN_MS; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50))
  assert.match(readFileSync(prom, 'utf8'), /^# TYPE linstor_virt_calls_total counter$/m)
  child.kill('SIGTERM')
  assert.equal(await exited, 0)
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.prom')), [], 'the textfile goes with the agent')
})
