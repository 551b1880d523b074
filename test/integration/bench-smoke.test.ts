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
