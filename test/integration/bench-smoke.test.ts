/** Benchmarks are not tests: this only proves each still runs, at the smallest size. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { measureStartup, startupMarkdown } from '../../bench/startup.bench.js'

test('the start-up benchmark runs and reports a median and a ratio per command', () => {
  const r = measureStartup(1)
  assert.deepEqual(Object.keys(r.medianMs), ['node -e 0', 'linstor-virt version', 'linstor-virt help'])
  for (const v of Object.values(r.medianMs)) assert.ok(v > 0)
  assert.equal(r.ratioToFloor['node -e 0'], 1)
  assert.match(startupMarkdown(r), /\| linstor-virt version \| [\d.]+ \| [\d.]+ \|/)
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
  assert.deepEqual(rows.map((r) => r.cinderTotalVolumes), [20, 40], 'cinder stats count the volumes tagged as Cinder\'s')
  assert.match(statusMarkdown(rows), /\| 40 \| 4 \| [\d.]+ ms \| [\d.]+ ms \| [\d.]+ ms \(40 listed\) \| [\d.]+ ms \| [\d.]+ ms \(40 volumes\) \|/)
  assert.match(statusMarkdown(rows), /Growth from 20 to 40 volumes/)
})
