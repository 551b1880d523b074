/**
 * Columns of the fault matrix (see fault-matrix.test.ts for the rows and the rules): a 500 answer
 * and a dropped connection, on the operation's n-th write, or on every request of an operation that
 * makes no write. In a file of their own: a test file has 180 s.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { DROP, HTTP_500, runColumn } from './faults.js'

for (const fault of [HTTP_500, DROP]) {
  test(`fault matrix: every operation × ${fault.name}`, async (t) => {
    const { lines, failures } = await runColumn(fault)
    for (const l of lines) t.diagnostic(l)
    assert.deepEqual(failures, [], failures.join('\n'))
  })
}
