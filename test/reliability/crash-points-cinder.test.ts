/**
 * Cinder under the plugin process killed at every point (crash-points.ts): a volume from a snapshot,
 * a clone, attach and detach during a live migration; each converges by the platform's retry or the
 * doctor, with no leftover and the data's bytes intact.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CRASH_ROWS, crashRows } from './crash-points.js'

test('Cinder: killed before every write of create from snapshot, clone, and initialize/terminate during a live migration: the retry (or the doctor) converges, nothing is left, the bytes are intact', async (t) => {
  const { lines, failures } = await crashRows(CRASH_ROWS.filter((r) => r.adapter === 'cinder'))
  for (const l of lines) t.diagnostic(l)
  assert.deepEqual(failures, [])
})
