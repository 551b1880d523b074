/**
 * The Cinder transport benchmark at its smallest size: it still runs, and the private-agent path
 * starts node once for the driver's life, whatever the number of calls (bench/cinder-transport).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { cinderTransportMarkdown, measureCinderTransport } from '../../bench/cinder-transport.bench.js'

test('the Cinder transport benchmark times the three paths; the private agent is one node start per driver life', async () => {
  const r = await measureCinderTransport(2)
  assert.deepEqual(r.rows.map((x) => x.path), ['host agent', 'private agent', 'one-shot'])
  for (const x of r.rows) assert.ok(x.firstMs > 0 && x.medianMs > 0 && x.ratio > 0, JSON.stringify(x))
  assert.equal(r.privateAgentStarts, 1)
  assert.match(cinderTransportMarkdown(r), /\| private agent \| [\d.]+ \| [\d.]+ \| [\d.]+ \| no node start per call \|/)
})
