/**
 * The fault matrix's column where the first of two controllers accepts connections and never
 * answers (a hung controller before a healthy one, issue 20): every operation must succeed through
 * the second, starts and stops on hosts with the device within the controller budget plus a
 * margin, and converge as in fault-matrix.test.ts.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { FIRST_HUNG, runColumn } from './faults.js'

test(`fault matrix: every operation × ${FIRST_HUNG.name}`, async (t) => {
  const { lines, failures } = await runColumn(FIRST_HUNG)
  for (const l of lines) t.diagnostic(l)
  assert.deepEqual(failures, [], failures.join('\n'))
})
