/**
 * The fault matrix's rows for the layer stacks and the DR replica (issue 24): each row of
 * STACK_ROWS (test/reliability/stacks.ts: NVMe-oF create, attach, migration begin and end on each
 * platform; the DR replica made with a volume on each platform and a new client's proxy; a LUKS
 * create) under every fault of faults.ts, each cell in a world of its own on the disaggregated
 * cluster, judged as fault-matrix.test.ts judges its cells: a clear error or success within the
 * deadline, convergence by a re-run or the doctor, and the invariants, which for these worlds also
 * cover initiators (no initiator where no VM runs outside a migration window) and the DR replica
 * (present, behind DRBD Proxy with protocol A on its connections only, not counted as a local
 * replica).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { FAULTS, pool, runStep } from './faults.js'
import type { Fault, StepResult } from './faults.js'
import { STACK_ROWS, stackWorld } from './stacks.js'
import type { StackRow } from './stacks.js'

async function cell(row: StackRow, fault: Fault): Promise<StepResult> {
  const w = await stackWorld(row.stack)
  try {
    const { disks, step } = await row.prepare(w)
    const r = await runStep(w, disks, step, fault, { write: row.write })
    return { ...r, label: `${row.stack}: ${r.label}`, line: `${row.stack}: ${r.line}` }
  } finally {
    await w.close()
  }
}

for (const fault of FAULTS) {
  test(`stacks fault matrix: every stack operation × ${fault.name}`, async (t) => {
    const alone = STACK_ROWS.filter((row) => fault.exclusive?.(row.adapter) === true)
    const together = STACK_ROWS.filter((row) => !alone.includes(row))
    const wide = fault.deadlineMs !== undefined || fault.mustSucceed === true ? STACK_ROWS.length : 6
    const results = [...(await pool(together.map((row) => () => cell(row, fault)), wide)), ...(await pool(alone.map((row) => () => cell(row, fault)), 1))]
    const failures: string[] = []
    for (const r of results) {
      t.diagnostic(r.line)
      if (!r.hit) failures.push(`${r.label} × ${r.fault}: the fault did not hit the operation (${r.detail})`)
      for (const p of [...r.problems, ...r.violations]) failures.push(`${r.label} × ${r.fault}: ${p}`)
    }
    assert.deepEqual(failures, [], failures.join('\n'))
  })
}
