/**
 * A short soak with a fixed seed (the long one is `npm run soak -- --ops 1000`): random lifecycle
 * steps of all three adapters, a third of them under a random fault, the invariants after every
 * step. It must end without a violation, with faults that actually hit, steps of every adapter, and
 * both ways of converging (the platform retrying, and giving up with the doctor cleaning up).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { runSoak } from './soak.js'

test('a fixed-seed soak across the three adapters with random faults ends with 0 violations', async (t) => {
  const report = await runSoak({ ops: 60, seed: 20240610 })
  t.diagnostic(report.summary)
  t.diagnostic(`steps per adapter ${JSON.stringify(report.perAdapter)}; faults ${JSON.stringify(report.perFault)}; given up and cleaned by the doctor ${report.doctorRuns}`)
  assert.deepEqual(report.issues, [], report.issues.join('\n'))
  assert.equal(report.violations, 0)
  assert.match(report.summary, /^operations: 60, faults: [1-9][0-9]*, violations: 0$/)
  assert.ok(report.faults >= 10, `faults were injected (${report.faults})`)
  assert.ok(Object.keys(report.perFault).length >= 5, `several kinds of fault hit: ${Object.keys(report.perFault).join(', ')}`)
  for (const [adapter, n] of Object.entries(report.perAdapter)) assert.ok(n >= 10, `${adapter} ran ${n} steps`)
  assert.ok(report.doctorRuns >= 1, 'a platform gave up at least once and the doctor converged')
})
