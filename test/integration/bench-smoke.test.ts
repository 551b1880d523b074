/** Benchmarks are not tests: this only proves each still runs, at the smallest size. */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { measureStartup, startupMarkdown } from '../../bench/startup.bench.js'
import { repoRoot } from '../helpers/paths.js'

test('the start-up benchmark runs and reports a median and a ratio per command', async () => {
  const r = await measureStartup(1)
  assert.deepEqual(Object.keys(r.medianMs), ['node -e 0', 'linstor-virt version', 'linstor-virt help', 'linstor-virt call --stdin (core.ping)'])
  for (const v of Object.values(r.medianMs)) assert.ok(v > 0)
  assert.equal(r.ratioToFloor['node -e 0'], 1)
  assert.match(startupMarkdown(r), /\| linstor-virt version \| [\d.]+ \| [\d.]+ \| ≤ 1\.3 \|/)
})

test('the driver start-up benchmark times OpenNebula executables with and without an agent', async () => {
  const { measureDriverStartup, driverStartupMarkdown } = await import('../../bench/startup.bench.js')
  const r = await measureDriverStartup(1, (n) => n === 'tm/ln' || n === 'datastore/stat')
  assert.deepEqual(r.rows.map((x) => x.executable), ['tm/ln', 'datastore/stat'])
  for (const x of r.rows) assert.ok(x.agentMs > 0 && x.oneShotMs > 0 && x.agentRatio > 0 && x.oneShotRatio > 0, JSON.stringify(x))
  assert.match(driverStartupMarkdown(r), /\| tm\/ln \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \|/)
})

test('the round-trips benchmark counts every step of each adapter against a stated minimum, with a reason when above', async () => {
  const { measureRoundTrips, roundTripsMarkdown, MINIMA, PEER_FLOWS, flowFigures } = await import('../../bench/round-trips.bench.js')
  const rows = await measureRoundTrips()
  // Issue 26: no flow makes more REST calls than the peer's equivalent (fixed reference figures).
  for (const f of PEER_FLOWS) {
    const x = flowFigures(rows, f)
    assert.deepEqual(x.missing, [], `${f.adapter} ${f.flow}: every step measured`)
    assert.ok(x.ours <= f.peerCalls, `${f.adapter} ${f.flow}: ${x.ours} REST calls, more than ${f.peer}'s ${f.peerCalls}`)
  }
  for (const adapter of ['proxmox', 'opennebula', 'cinder']) assert.ok(rows.filter((r) => r.adapter === adapter).length >= 10, adapter)
  for (const r of rows) {
    assert.ok(MINIMA[`${r.adapter} ${r.operation}`] !== undefined, `a minimum is stated for ${r.adapter} ${r.operation}`)
    assert.ok(r.reads + r.writes >= r.minimum, `${r.adapter} ${r.operation}: ${r.reads + r.writes} calls, below the stated minimum ${r.minimum}: the minimum is wrong`)
    if (r.reads + r.writes > r.minimum) assert.ok(r.reason !== undefined && r.reason.length > 0, `${r.adapter} ${r.operation} is above its minimum without a reason`)
  }
  // The call-count targets of the core issue, seen through the adapters.
  const row = (a: string, o: string) => rows.find((r) => r.adapter === a && r.operation === o)
  assert.equal(row('proxmox', 'activate_volume (replica here)')?.writes, 0)
  assert.equal(row('proxmox', 'status (again)')?.reads, 0, 'a warm status asks LINSTOR nothing')
  assert.deepEqual(Object.keys(row('cinder', 'initialize_connection (diskless client)')?.calls ?? {}).filter((k) => !k.startsWith('GET ')), ['POST /v1/resource-definitions/{resource}/resources/{node}/make-available'])
  assert.match(roundTripsMarkdown(rows), /\| tm\/ln \(persistent image, diskless client\) \| \d+/)
  // Issue 21: a rollback to an older snapshot is one LINSTOR call where the controller can (1.31+).
  const rollback = ['POST /v1/resource-definitions/{resource}/snapshot-rollback/{snapshot}']
  assert.deepEqual(Object.keys(row('proxmox', 'volume_snapshot_rollback (older snapshot)')?.calls ?? {}).filter((k) => !k.startsWith('GET ')), rollback)
  assert.deepEqual(Object.keys(row('opennebula', 'tm/snap_revert (disk 1, the older snapshot)')?.calls ?? {}).filter((k) => !k.startsWith('GET ')), rollback)
  assert.equal(row('opennebula', 'tm/snap_revert (disk 1, the older snapshot)')?.writes, 1)
})

test('the core-calls benchmark runs and the call-count targets hold', async () => {
  const { measureCoreCalls, coreCallsMarkdown } = await import('../../bench/core-calls.bench.js')
  const rows = await measureCoreCalls(2)
  assert.equal(rows.length, 7)
  for (const r of rows.filter((x) => x.target !== undefined)) assert.equal(r.met, true, JSON.stringify(r))
  assert.match(coreCallsMarkdown(rows), /\| attach elsewhere \(diskless client\) \| \d+ \| 1 \|/)
})

test('the call-protocol benchmark runs and reports the round trip and the one-shot ratio', async () => {
  const { measureAgent, agentMarkdown } = await import('../../bench/agent.bench.js')
  const r = await measureAgent(1)
  assert.ok(r.agentRoundTripMedianMs > 0 && r.oneShotMedianMs > 0 && r.nodeFloorMedianMs > 0)
  assert.match(agentMarkdown(r), /\| one-shot \/ node -e 0 \| [\d.]+ \| ≤ 1\.3 \|/)
})

test('the status-at-scale benchmark runs at a tiny size and lists every volume', async () => {
  const { measureStatus, statusMarkdown } = await import('../../bench/status.bench.js')
  const rows = [await measureStatus(20, 4, 3), await measureStatus(40, 4, 3)]
  assert.equal(rows[1]?.listed, 40)
  for (const r of rows) assert.ok(r.coldMs > 0 && r.warmMedianMs > 0 && r.cinderStatsColdMs > 0 && r.cinderStatsWarmMedianMs > 0)
  for (const r of rows) assert.ok(r.cinderFreeGb > 0, 'cinder stats report free space')
  assert.match(statusMarkdown(rows), /\| 40 \| 4 \| [\d.]+ ms \| [\d.]+ ms \| [\d.]+ ms \(40 listed\) \| [\d.]+ ms \| [\d.]+ ms \|/)
  assert.match(statusMarkdown(rows), /Growth from 20 to 40 volumes/)
})

test('the status-command benchmark runs at a tiny size: every volume listed, the forgotten clients marked', async () => {
  const { measureStatusCommand, statusCommandMarkdown } = await import('../../bench/status-command.bench.js')
  const r = await measureStatusCommand(200, 4, join(repoRoot(), 'dist', 'linstor-virt.js'))
  assert.deepEqual([r.listed, r.findings], [200, 2])
  assert.ok(r.textBytes > 200 * 40, 'the text lists every volume')
  assert.match(statusCommandMarkdown([r]), /^\| 200 \| 4 \| [\d.]+ ms/m)
})
