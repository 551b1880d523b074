/**
 * Issue 28, finding 2: two live migrations of one VM racing from different hosts, each with its
 * own agent and lock folder (no lock between them but LINSTOR itself). The VM runs on alpha;
 * charlie and delta both start a migration (an attach while alpha has the volume open). Every
 * interleaving is forced by delaying, in turn, each kind of request the protocol makes (each read
 * and each write, the first or the first two of it, whichever host sends it), with either host
 * starting first. Whatever the interleaving:
 * - each attach either begins the migration or fails with MIGRATION_CONFLICT (at most one begins);
 * - while it runs, allow-two-primaries is on for alpha and the winner only;
 * - once the winner's migration completed (the source stopped and detached), no connection has
 *   allow-two-primaries, no migration record or claim is left, and the doctor finds nothing;
 * - the loser, repeated after the winner, migrates from the winner's host and completes as well.
 * Then: allow-two-primaries that linstor-virt set and no open migration accounts for (left by an
 * older version's race, or a crash) is reported by the doctor and removed by --fix, while an
 * operator's own setting is left alone.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import { callAgent } from '../../cli/agent/client.js'
import { startAgent } from '../../cli/agent/server.js'
import { buildDispatcher } from '../../cli/dispatcher.js'
import { runDoctor } from '../../core/doctor/index.js'
import { ALLOW_TWO_PRIMARIES, AUX_MIGRATION } from '../../core/lifecycle/index.js'
import type { LinstorClient } from '../../core/linstor/index.js'
import { silentLogger } from '../../core/log/index.js'
import type { CallReply } from '../../core/protocol/index.js'
import type { Storage } from '../../core/storage/index.js'
import { GiB } from '../../core/volumes/index.js'
import type { RunningEmulator } from '../../emulator/index.js'
import { clientOf, storageOn, tempDir } from '../helpers/core.js'
import { withEmulator } from '../emulator/helpers.js'

const HOSTS = ['alpha', 'charlie', 'delta'] as const
type Host = (typeof HOSTS)[number]

interface Cluster {
  emu: RunningEmulator
  client: LinstorClient
  /** linstor-virt's core on the test's own client (setting volumes up, running the doctor). */
  storage: Storage
  /** Each host's agent socket and the config its shim sends. */
  call(host: Host, operation: 'attach' | 'detach', resource: string): Promise<CallReply>
}

async function cluster(t: TestContext): Promise<Cluster> {
  const emu = await withEmulator(t, { cloneDurationMs: 5 })
  const client = clientOf(t, emu)
  const dir = tempDir(t, 'lv-race-')
  const sockets = new Map<Host, string>()
  for (const host of HOSTS) {
    const socketPath = join(dir, host, 'agent.sock')
    const agent = await startAgent({ socketPath, dispatcher: buildDispatcher(silentLogger()), logger: silentLogger(), metrics: false, pendingSweepMs: 0 })
    t.after(() => agent.close())
    sockets.set(host, socketPath)
  }
  const configOf = (host: Host): Record<string, unknown> => ({
    controllers: emu.url,
    localNode: host,
    lockDir: join(dir, host, 'locks'),
    stateDir: join(dir, host, 'state'),
    deviceRoot: emu.deviceRoot(host),
  })
  return {
    emu,
    client,
    storage: storageOn(t, emu, client),
    call: (host, operation, resource) => callAgent(sockets.get(host) as string, { v: 1, platform: 'core', operation, arguments: { resource, node: host }, config: configOf(host), deadlineMs: 30_000 }, 40_000),
  }
}

/** Connections with allow-two-primaries (any value), as "a-b": value. */
async function a2p(client: LinstorClient, rsc: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const c of await client.resourceDefinitions.connections(rsc)) {
    const v = c.props[ALLOW_TWO_PRIMARIES]
    if (v !== undefined) out[[c.node_a, c.node_b].sort().join('-')] = v
  }
  return out
}

/** linstor-virt's own properties of the definition (record, claims, marks). */
async function ownProps(client: LinstorClient, rsc: string): Promise<string[]> {
  const rd = await client.resourceDefinitions.get(rsc)
  return Object.keys(rd?.props ?? {}).filter((k) => k.startsWith('Aux/linstor-virt/') && !['Aux/linstor-virt/created-by', 'Aux/linstor-virt/platform-name'].includes(k))
}

/** A volume with diskful replicas on alpha and bravo, the VM running on alpha. */
async function vmOnAlpha(c: Cluster, rsc: string): Promise<void> {
  await c.storage.resource(rsc).create({ volumes: [1 * GiB], policy: { placeCount: 1 }, preferNode: 'alpha' })
  await c.storage.resource(rsc).addReplica('bravo')
  const r = await c.call('alpha', 'attach', rsc)
  assert.ok('result' in r, JSON.stringify(r))
  c.emu.control.open('alpha', rsc)
}

interface Delay {
  label: string
  method: string
  /** Path regex, with RSC in place of the resource's name. */
  path: string
  count: number
}

/** Each read and write of the migration's begin, as the emulator sees them. */
const DELAYS: readonly Delay[] = [
  { label: 'GET view of the resource', method: 'GET', path: '/v1/view/resources\\?.*RSC', count: 1 },
  { label: 'GET view of the resource (twice)', method: 'GET', path: '/v1/view/resources\\?.*RSC', count: 2 },
  { label: 'GET definition', method: 'GET', path: '/v1/resource-definitions/RSC($|\\?)', count: 1 },
  { label: 'GET definitions list', method: 'GET', path: '/v1/resource-definitions\\?.*RSC', count: 1 },
  { label: 'GET connections', method: 'GET', path: '/v1/resource-definitions/RSC/resource-connections', count: 1 },
  { label: 'GET connections (twice)', method: 'GET', path: '/v1/resource-definitions/RSC/resource-connections', count: 2 },
  { label: 'GET group and controller properties', method: 'GET', path: '/v1/(resource-groups|controller/properties)', count: 1 },
  { label: 'PUT definition (claim or record)', method: 'PUT', path: '/v1/resource-definitions/RSC($|\\?)', count: 1 },
  { label: 'PUT definition (twice)', method: 'PUT', path: '/v1/resource-definitions/RSC($|\\?)', count: 2 },
  { label: 'POST make-available', method: 'POST', path: '/v1/resource-definitions/RSC/resources/[^/]+/make-available', count: 1 },
  { label: 'PUT connection', method: 'PUT', path: '/v1/resource-definitions/RSC/resource-connections/', count: 1 },
]

const DELAY_MS = 400

/** Checks the state once no migration is in progress: the VM on `host` only, nothing left. */
async function settled(c: Cluster, rsc: string, host: Host, context: string): Promise<void> {
  assert.deepEqual(await a2p(c.client, rsc), {}, `${context}: allow-two-primaries left on a connection`)
  assert.deepEqual(await ownProps(c.client, rsc), [], `${context}: a migration record, claim or mark left`)
  const primaries = Object.entries(c.emu.control.roles(rsc)).filter(([, r]) => r === 'Primary').map(([n]) => n)
  assert.deepEqual(primaries, [host], `${context}: Primary where the VM runs only`)
  const doctor = await runDoctor(c.storage, { resources: [rsc] })
  assert.deepEqual(doctor.findings.filter((f) => f.kind !== 'unused-diskless' || !['alpha', 'bravo'].includes(f.node ?? '')), [], `${context}: the doctor finds ${JSON.stringify(doctor.findings)}`)
}

/** The platform completes a migration to `to`: the target opens the device, the source stops and releases it. */
async function complete(c: Cluster, rsc: string, from: Host, to: Host, context: string): Promise<void> {
  c.emu.control.open(to, rsc)
  c.emu.control.close(from, rsc)
  const d = await c.call(from, 'detach', rsc)
  assert.ok('result' in d, `${context}: detach on ${from}: ${JSON.stringify(d)}`)
}

/** 'ok', 'conflict' (MIGRATION_CONFLICT), or the error's code and message. */
function outcome(r: CallReply): string {
  if ('result' in r) return 'ok'
  return r.error.code === 'MIGRATION_CONFLICT' ? 'conflict' : `${r.error.code}: ${r.error.message}`
}

test('racing live migrations of one VM from two hosts, every interleaving forced: at most one begins, the loser fails cleanly and completes after the winner, nothing is left', async (t) => {
  const c = await cluster(t)
  let n = 0
  const cases: { delay: Delay | undefined; first: Host }[] = [{ delay: undefined, first: 'charlie' }]
  for (const delay of DELAYS) for (const first of ['charlie', 'delta'] as const) cases.push({ delay, first })
  const wins = { charlie: 0, delta: 0, none: 0 }
  for (const { delay, first } of cases) {
    const rsc = `race${++n}`
    const context = `${delay?.label ?? 'no delay'}, ${first} first`
    await vmOnAlpha(c, rsc)
    c.emu.control.faults.reset()
    if (delay !== undefined) c.emu.control.faults.delay(DELAY_MS, { method: delay.method, path: delay.path.replaceAll('RSC', rsc), count: delay.count })
    const second: Host = first === 'charlie' ? 'delta' : 'charlie'
    const a = c.call(first, 'attach', rsc)
    await new Promise((r) => setTimeout(r, 30))
    const b = c.call(second, 'attach', rsc)
    const results = { [first]: outcome(await a), [second]: outcome(await b) } as Record<'charlie' | 'delta', string>
    c.emu.control.faults.reset()
    for (const [h, o] of Object.entries(results)) assert.ok(o === 'ok' || o === 'conflict', `${context}: ${h} ${o}`)
    const winners = (['charlie', 'delta'] as const).filter((h) => results[h] === 'ok')
    assert.ok(winners.length <= 1, `${context}: both migrations began: ${JSON.stringify(results)}`)
    const winner = winners[0]
    if (winner === undefined) {
      wins.none++
      // Nobody moved: the VM stays on alpha, and nothing of either attempt is left.
      await settled(c, rsc, 'alpha', `${context}, both refused`)
      continue
    }
    wins[winner]++
    const loser: Host = winner === 'charlie' ? 'delta' : 'charlie'
    assert.deepEqual(Object.keys(await a2p(c.client, rsc)), [['alpha', winner].sort().join('-')], `${context}: dual-primary for alpha and the winner only`)
    await complete(c, rsc, 'alpha', winner, context)
    await settled(c, rsc, winner, `${context}, after ${winner}'s migration`)
    // The loser's platform tries again, after the winner: a migration from the winner's host.
    const again = await c.call(loser, 'attach', rsc)
    assert.ok('result' in again, `${context}: ${loser} after the winner: ${JSON.stringify(again)}`)
    await complete(c, rsc, winner, loser, `${context}, then ${loser}`)
    await settled(c, rsc, loser, `${context}, after ${loser}'s migration too`)
  }
  t.diagnostic(`winners: ${JSON.stringify(wins)} over ${cases.length} interleavings`)
})

test('three hosts racing at once: at most one begins, nothing is left once it completed', async (t) => {
  const c = await cluster(t)
  const storage = c.storage
  await storage.resource('tri').create({ volumes: [1 * GiB], policy: { placeCount: 1 }, preferNode: 'bravo' })
  await storage.resource('tri').addReplica('delta')
  // The VM runs on bravo (no agent there: its platform attached through LINSTOR directly).
  c.emu.control.open('bravo', 'tri')
  const replies = await Promise.all(HOSTS.map((h) => c.call(h, 'attach', 'tri')))
  const results = replies.map(outcome)
  for (const o of results) assert.ok(o === 'ok' || o === 'conflict', o)
  const winners = HOSTS.filter((_, i) => results[i] === 'ok')
  assert.ok(winners.length <= 1, JSON.stringify(results))
  const winner = winners[0]
  if (winner !== undefined) {
    c.emu.control.open(winner, 'tri')
    c.emu.control.close('bravo', 'tri')
    await storage.resource('tri').detach('bravo')
  }
  assert.deepEqual(await a2p(c.client, 'tri'), {})
  assert.deepEqual(await ownProps(c.client, 'tri'), [])
})

test('allow-two-primaries linstor-virt set and no open migration accounts for: the doctor reports it and --fix removes it; an operator\'s own is left alone', async (t) => {
  const c = await cluster(t)
  await vmOnAlpha(c, 'left')
  // A migration to charlie begins, and its record is lost (as an older version's race lost it).
  const r = await c.call('charlie', 'attach', 'left')
  assert.ok('result' in r, JSON.stringify(r))
  await c.client.resourceDefinitions.modify('left', { delete_props: [AUX_MIGRATION] })
  // An operator allows two primaries on another pair on their own.
  await c.client.resourceDefinitions.modifyConnection('left', 'alpha', 'bravo', { override_props: { [ALLOW_TWO_PRIMARIES]: 'yes' } })
  const storage = c.storage
  const report = await runDoctor(storage, { resources: ['left'] })
  const found = report.findings.filter((f) => f.kind === 'dual-primary-left')
  assert.equal(found.length, 1, JSON.stringify(report.findings))
  assert.match(found[0]?.detail ?? '', /alpha.*charlie|charlie.*alpha/)
  const fixed = await runDoctor(storage, { resources: ['left'], fix: true })
  assert.ok(fixed.findings.find((f) => f.kind === 'dual-primary-left')?.fixed === true, JSON.stringify(fixed.findings))
  assert.deepEqual(await a2p(c.client, 'left'), { 'alpha-bravo': 'yes' }, 'only the operator\'s own setting is left')
  assert.deepEqual((await runDoctor(storage, { resources: ['left'] })).findings.filter((f) => f.kind === 'dual-primary-left'), [])
})
