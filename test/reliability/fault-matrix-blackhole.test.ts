/**
 * A column of the fault matrix of issue 20: the only controller accepts every connection and request and never answers (the emulator's
 * black hole: a hung controller JVM, a half-dead controller VM). Rows and rules are those of
 * fault-matrix.test.ts (faults.ts): a VM start on a host with the volume's device and every stop
 * succeed within the controller budget (plus the healthy call's own time and a margin); a start
 * without a device fails within its deadline saying no controller answered and naming it;
 * everything else fails with one clear error within its deadline; and afterwards a re-run (or the
 * doctor) converges: no leftover client, no dual-primary, the bytes intact, nothing pending.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CONTROLLER_BLACK_HOLE, runColumn } from './faults.js'

test(`fault matrix: every operation × ${CONTROLLER_BLACK_HOLE.name}`, async (t) => {
  const { lines, failures } = await runColumn(CONTROLLER_BLACK_HOLE)
  for (const l of lines) t.diagnostic(l)
  assert.deepEqual(failures, [], failures.join('\n'))
})
