/**
 * Issue 20 in the core: a controller that never answers never stops a VM from starting or stopping
 * on a host that has the volume's device. Starts use the device once the controller budget passes,
 * stops succeed, and what LINSTOR was not told is a pending record in the host's state folder that
 * the next call on the volume, Storage.settlePending (the agent's sweep) and the doctor finish once
 * a controller answers. Without a device, a start fails within its deadline naming the controllers.
 * Bounds are the code's own budget or deadline plus the scheduling margin of test/helpers/bounds.ts,
 * against a controller that never answers (or a client whose own deadline is 60 s).
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import { callAgent } from '../../cli/agent/client.js'
import { startAgent } from '../../cli/agent/server.js'
import { buildDispatcher } from '../../cli/dispatcher.js'
import { runDoctor } from '../../core/doctor/index.js'
import { DEFAULT_CONTROLLER_BUDGET_MS } from '../../core/ha/index.js'
import { createLinstorClient, currentScopeDeadline, currentScopeSignal } from '../../core/linstor/index.js'
import { silentLogger } from '../../core/log/index.js'
import { Dispatcher, ServiceRegistry, coreOperations } from '../../core/protocol/index.js'
import type { CallReply } from '../../core/protocol/index.js'
import type { Storage, StorageOptions } from '../../core/storage/index.js'
import { GiB } from '../../core/volumes/index.js'
import type { RunningEmulator } from '../../emulator/index.js'
import { clientFor, withEmulator } from '../emulator/helpers.js'
import { roles, storageOn, tempDir, writeCalls } from '../helpers/core.js'
import { repoRoot } from '../helpers/paths.js'
import { startServer } from '../helpers/servers.js'
import { boundedBy } from '../helpers/bounds.js'

const BUDGET = DEFAULT_CONTROLLER_BUDGET_MS
const NODES = ['alpha', 'bravo', 'charlie', 'delta']

interface Fixture {
  emu: RunningEmulator
  /** A fault-free client for setup and checks. */
  check: ReturnType<typeof clientFor>
  /** A host's Storage whose client follows the call scope (as the call protocol's does). */
  host: (extra?: Partial<StorageOptions>, controllers?: string) => Storage
  lockDir: string
}

async function fixture(t: TestContext): Promise<Fixture> {
  const emu = await withEmulator(t, { cloneDurationMs: 50 })
  const check = clientFor(t, emu, { timeoutMs: 10_000 })
  const lockDir = tempDir(t, 'lv-offline-')
  const host = (extra: Partial<StorageOptions> = {}, controllers = emu.url): Storage => {
    // The default 60 s per call: a start or stop that waited on the controller would take that long,
    // far past the budget plus the scheduling margin the tests allow.
    const client = createLinstorClient({ controllers, env: {}, clientConfPaths: [], defaultTokenFile: '/nonexistent', timeoutMs: 60_000, connectTimeoutMs: 500, callSignal: currentScopeSignal, callDeadline: currentScopeDeadline })
    t.after(() => client.close())
    return storageOn(t, emu, client, { lockDir, ...extra })
  }
  return { emu, check, host, lockDir }
}

async function placed(f: Fixture, name: string): Promise<{ diskful: string[]; spare: string[]; tiebreaker: string | undefined }> {
  const s = f.host()
  const info = await s.resource(name).create({ volumes: [1 * GiB], policy: { placeCount: 2 } })
  const diskful = info.replicas.filter((r) => r.kind === 'diskful').map((r) => r.node)
  const tiebreaker = info.replicas.find((r) => r.kind === 'tiebreaker')?.node
  return { diskful, spare: NODES.filter((n) => !info.replicas.some((r) => r.node === n)), tiebreaker }
}

test('a start on a host with its replica while the controller black-holes: its device within the budget, no write, nothing pending', async (t) => {
  const f = await fixture(t)
  const { diskful } = await placed(f, 'bh-start')
  const node = diskful[0] as string
  const s = f.host()
  await s.resource('bh-start').info() // the host has read it once: it knows its replica is diskful
  f.emu.control.faults.blackhole()
  f.emu.resetCounters()
  const a = await boundedBy(BUDGET, 'a start with the device while the controller black-holes', () => s.resource('bh-start').attach(node))
  assert.equal(a.offline, 'controller-unreachable')
  assert.equal(a.volumes[0]?.devicePath, `${f.emu.deviceRoot(node)}/dev/drbd/by-res/bh-start/0`)
  assert.deepEqual(writeCalls(f.emu), {}, 'nothing written')
  assert.deepEqual(s.pending(), [], 'a diskful replica needs nothing from LINSTOR')
  f.emu.control.faults.reset()
})

test('a stop while the controller black-holes succeeds within the budget; the next call on the volume removes the client', async (t) => {
  const f = await fixture(t)
  const { spare, diskful } = await placed(f, 'bh-stop')
  const host = spare[0] as string
  const next = diskful[0] as string
  const s = f.host()
  assert.equal((await s.resource('bh-stop').attach(host)).created, true)
  f.emu.control.faults.blackhole()
  const d = await boundedBy(BUDGET, 'a stop while the controller black-holes', () => s.resource('bh-stop').detach(host))
  assert.equal(d.kept, 'controller-unreachable')
  assert.equal(d.pending, true)
  assert.deepEqual(s.pending().map((r) => [r.resource, r.node, r.intent]), [['bh-stop', host, 'detach']])
  f.emu.control.faults.reset()
  // The controller is back: the next start of the volume (on a host with its replica) settles the pending stop.
  assert.equal((await s.resource('bh-stop').attach(next)).role, 'diskful')
  const r = await roles(s, 'bh-stop')
  assert.equal(r[host], undefined, `the client on ${host} is gone: ${JSON.stringify(r)}`)
  assert.deepEqual(s.pending(), [])
})

test('doctor --fix settles what stops left pending, and finds nothing else', async (t) => {
  const f = await fixture(t)
  const { spare } = await placed(f, 'bh-doc')
  const host = spare[0] as string
  const s = f.host()
  await s.resource('bh-doc').attach(host)
  await f.emu.stopListening() // refused this time
  assert.equal((await s.resource('bh-doc').detach(host)).pending, true)
  await f.emu.startListening()
  const look = await runDoctor(s)
  assert.deepEqual(look.findings.map((x) => [x.kind, x.resource, x.node]), [['pending', 'bh-doc', host], ['unused-diskless', 'bh-doc', host]])
  assert.equal(look.healthy, false)
  const fix = await runDoctor(s, { fix: true })
  assert.deepEqual(fix.findings.map((x) => [x.kind, x.fixed]), [['pending', true]], JSON.stringify(fix.findings))
  assert.equal(fix.healthy, true)
  assert.equal((await roles(s, 'bh-doc'))[host], undefined)
  assert.equal((await runDoctor(s)).findings.length, 0)
})

test('a tie-breaker a VM started from while no controller answered becomes a wanted client once one does', async (t) => {
  const f = await fixture(t)
  const { tiebreaker } = await placed(f, 'bh-tb')
  assert.ok(tiebreaker !== undefined, 'the emulator placed a tie-breaker')
  const s = f.host()
  await s.resource('bh-tb').info()
  f.emu.control.faults.delay(60_000)
  const a = await s.resource('bh-tb').attach(tiebreaker)
  assert.equal(a.offline, 'controller-unreachable')
  assert.equal(a.pending, true)
  f.emu.control.faults.reset()
  const r = await s.settlePending()
  assert.deepEqual(r.settled.map((x) => [x.node, x.intent]), [[tiebreaker, 'attach']])
  assert.equal((await roles(s, 'bh-tb'))[tiebreaker], 'd', 'a diskless client LINSTOR keeps')
})

test('the first of two controllers accepts and never answers: a start with the device is answered by the second, online, within the budget', async (t) => {
  const f = await fixture(t)
  const { diskful } = await placed(f, 'bh-first')
  const hung = await startServer(t, () => undefined)
  const s = f.host({}, `${hung.url},${f.emu.url}`)
  const a = await boundedBy(BUDGET, 'a start with the first controller hung', () => s.resource('bh-first').attach(diskful[0] as string))
  assert.equal(a.offline, undefined, 'LINSTOR answered (the second controller)')
  assert.equal(a.role, 'diskful')
  assert.ok(hung.requests.length > 0, 'the first controller was asked')
})

test('a start whose resource lock is held by a call waiting on the controller uses the device within the budget', async (t) => {
  const f = await fixture(t)
  const { diskful } = await placed(f, 'bh-lock')
  const s = f.host()
  let release!: () => void
  const held = s.withLock('bh-lock', () => new Promise<void>((r) => (release = r)))
  const a = await boundedBy(BUDGET, 'a start while its lock is held', () => s.resource('bh-lock').attach(diskful[0] as string))
  assert.equal(a.offline, 'controller-unreachable')
  release()
  await held
})

test('no device on the host: the start fails before the call deadline, saying no controller answered and naming it', async (t) => {
  const f = await fixture(t)
  const { spare } = await placed(f, 'bh-none')
  const dispatcher = new Dispatcher({ logger: silentLogger() }).register('core', coreOperations())
  const services = new ServiceRegistry(true)
  t.after(() => services.close())
  f.emu.control.faults.blackhole()
  const reply = await boundedBy(3000, 'a start with no device, the controller black-holed', () =>
    dispatcher.dispatch({ v: 1, platform: 'core', operation: 'attach', arguments: { resource: 'bh-none', node: spare[0] }, config: { controllers: f.emu.url, lockDir: f.lockDir, deviceRoot: f.emu.deviceRoot(spare[0] as string), localNode: spare[0] }, deadlineMs: 3000 }, services),
  )
  assert.ok('error' in reply, JSON.stringify(reply))
  assert.equal(reply.error.code, 'LINSTOR_DEADLINE', reply.error.message)
  assert.match(reply.error.message, new RegExp(`^no LINSTOR controller answered, and bh-none has no device on ${spare[0] ?? ''} to start from: .*${f.emu.url.replace(/[.]/g, '\\.')} \\(no answer before the deadline\\)`))
  f.emu.control.faults.reset()
})

test("the agent's sweep settles a stop left pending once the controller answers again", async (t) => {
  const f = await fixture(t)
  const { spare } = await placed(f, 'bh-sweep')
  const host = spare[0] as string
  const socketPath = join(tempDir(t, 'lv-agent-'), 'agent.sock')
  const agent = await startAgent({ socketPath, dispatcher: buildDispatcher(silentLogger()), logger: silentLogger(), pendingSweepMs: 100 })
  t.after(() => agent.close())
  const config = { controllers: f.emu.url, lockDir: f.lockDir, localNode: host, deviceRoot: f.emu.deviceRoot(host) }
  const call = (operation: string): Promise<CallReply> => callAgent(socketPath, { v: 1, platform: 'core', operation, arguments: { resource: 'bh-sweep', node: host }, config, deadlineMs: 10_000 })
  assert.ok('result' in (await call('attach')))
  f.emu.control.faults.blackhole()
  const d = await call('detach')
  assert.ok('result' in d && (d.result as { pending?: boolean }).pending === true, JSON.stringify(d))
  f.emu.control.faults.reset()
  // The sweep runs every 100 ms: the client goes without any further call (bounded wait).
  let left: string | undefined = 'd'
  for (let i = 0; i < 100 && left !== undefined; i++) {
    await new Promise((r) => setTimeout(r, 100))
    const rows = await f.check.view.resources({ resources: ['bh-sweep'] })
    left = rows.find((r) => r.node_name === host)?.node_name
  }
  assert.equal(left, undefined, `the agent removed the client on ${host}`)
})

test('one-shot status answers from the last known numbers on disk (stale) while the controller black-holes, else inactive', async (t) => {
  const f = await fixture(t)
  await placed(f, 'bh-status')
  const bundle = join(repoRoot(), 'dist', 'linstor-virt.js')
  // Each one-shot bounded by the status deadline it is given (2000 ms).
  const status = (lockDir: string): Promise<{ reply: { result?: Record<string, unknown>; error?: unknown } }> =>
    boundedBy(2000, 'one-shot status', () => new Promise((resolve, reject) => {
      const child = execFile(process.execPath, [bundle, 'call', '--stdin'], { env: { ...process.env, LINSTOR_VIRT_LOG_LEVEL: 'silent' } }, (err, stdout) => {
        if (err !== null) return reject(new Error(err.message))
        resolve({ reply: JSON.parse(stdout) as { result?: Record<string, unknown> } })
      })
      child.stdin?.end(JSON.stringify({ v: 1, platform: 'proxmox', operation: 'status', arguments: {}, config: { storeid: 'drbd', node: 'alpha', scfg: { 'linstor-controllers': f.emu.url, 'linstor-place-count': 2, 'linstor-status-cache': 0 }, lockDir }, deadlineMs: 2000 }))
    }))
  const fresh = await status(f.lockDir)
  assert.equal(fresh.reply.result?.['active'], true, JSON.stringify(fresh.reply))
  assert.equal(fresh.reply.result?.['stale'], undefined)
  f.emu.control.faults.blackhole()
  const stale = await status(f.lockDir)
  assert.equal(stale.reply.result?.['stale'], true, JSON.stringify(stale.reply))
  assert.equal(stale.reply.result?.['total'], fresh.reply.result?.['total'])
  assert.equal(stale.reply.result?.['active'], true)
  // Another host (state folder) never had an answer: inactive.
  const none = await status(tempDir(t, 'lv-nostate-'))
  assert.equal(none.reply.result?.['active'], false, JSON.stringify(none.reply))
  f.emu.control.faults.reset()
})
