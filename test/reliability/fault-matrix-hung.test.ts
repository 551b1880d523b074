/**
 * A column of the fault matrix of issue 20: the first of two controllers accepts connections and never answers, the second is healthy:
 * every operation must succeed through the second. Rows and rules are those of
 * fault-matrix.test.ts (faults.ts): a VM start on a host with the volume's device and every stop
 * succeed within the controller budget (plus the healthy call's own time and a margin); a start
 * without a device fails within its deadline saying no controller answered and naming it;
 * everything else fails with one clear error within its deadline; and afterwards a re-run (or the
 * doctor) converges: no leftover client, no dual-primary, the bytes intact, nothing pending.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { FIRST_HUNG, runColumn } from './faults.js'

test(`fault matrix: every operation × ${FIRST_HUNG.name}`, async (t) => {
  const { lines, failures } = await runColumn(FIRST_HUNG)
  for (const l of lines) t.diagnostic(l)
  assert.deepEqual(failures, [], failures.join('\n'))
})
