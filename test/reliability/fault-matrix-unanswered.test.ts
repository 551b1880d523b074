/**
 * The fault matrix's columns where no controller answers at all (issue 20): the only controller
 * accepts every connection and never answers, or answers a minute late. Rows and rules are those of
 * fault-matrix.test.ts (faults.ts): a VM start on a host with the volume's device and every stop
 * succeed within the controller budget plus a margin; a start without a device fails within its
 * deadline saying no controller answered and naming it; everything else fails with one clear error
 * within its deadline; and afterwards a re-run (or the doctor) converges: no leftover client, no
 * dual-primary, the bytes intact, nothing pending.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { UNANSWERED_FAULTS, runColumn } from './faults.js'

for (const fault of UNANSWERED_FAULTS) {
  test(`fault matrix: every operation × ${fault.name}`, async (t) => {
    const { lines, failures } = await runColumn(fault)
    for (const l of lines) t.diagnostic(l)
    assert.deepEqual(failures, [], failures.join('\n'))
  })
}
