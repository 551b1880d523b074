/**
 * OpenNebula under the plugin process killed at every point (crash-points.ts): image import, clone,
 * live migration begin and end, snapshot revert; each converges by the platform's retry or the
 * doctor, with no leftover and the data's bytes intact.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CRASH_ROWS, crashRows } from './crash-points.js'

test('OpenNebula: killed before every write of image import, clone, premigrate, postmigrate and snapshot revert: the retry (or the doctor) converges, nothing is left, the bytes are intact', async (t) => {
  const { lines, failures } = await crashRows(CRASH_ROWS.filter((r) => r.adapter === 'opennebula'))
  for (const l of lines) t.diagnostic(l)
  assert.deepEqual(failures, [])
})
