/**
 * Columns of the fault matrix (see fault-matrix.test.ts for the rows and the rules): the
 * hypervisor node offline (LINSTOR sees it offline, ssh does not reach it), and the plugin process
 * killed between two REST calls of an operation (then started again). In a file of their own: a
 * test file has 180 s.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { NODE_OFFLINE, PROCESS_KILLED, runColumn } from './faults.js'

for (const fault of [NODE_OFFLINE, PROCESS_KILLED]) {
  test(`fault matrix: every operation × ${fault.name}`, async (t) => {
    const { lines, failures } = await runColumn(fault)
    for (const l of lines) t.diagnostic(l)
    assert.deepEqual(failures, [], failures.join('\n'))
  })
}
