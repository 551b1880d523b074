/**
 * Placement failures in operators' terms (core/placement/explain.ts), the derived group a failed
 * create made (released, or reused), and the doctor's unused derived groups.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { runDoctor } from '../../core/doctor/index.js'
import { factsOf, isPluginError } from '../../core/errors/index.js'
import { GROUP_NAME_PREFIX, policyGroupName } from '../../core/placement/index.js'
import { GiB, TiB } from '../../core/volumes/index.js'
import { coreFixture } from '../helpers/core.js'

async function derivedGroups(client: { resourceGroups: { list(): Promise<{ name: string }[]> } }): Promise<string[]> {
  return (await client.resourceGroups.list()).map((g) => g.name).filter((n) => n.startsWith(GROUP_NAME_PREFIX)).sort()
}

test('too few nodes and too big read differently, each saying what was asked and what the cluster offers', async (t) => {
  const { storage } = await coreFixture(t)
  const few = await storage.resource('few').create({ volumes: [1 * GiB], policy: { placeCount: 5 } }).then(() => undefined, (e: unknown) => e)
  assert.ok(isPluginError(few) && few.code === 'PLACEMENT_FAILED', String(few))
  const fewFacts = factsOf(few)
  assert.equal(fewFacts?.setting, 'placeCount')
  assert.match(fewFacts?.problem ?? '', /^5 replicas of 1 GiB asked, but only 4 online nodes have a matching pool \(alpha, bravo, charlie, delta\)$/)
  assert.match(fewFacts?.fix ?? '', /at most 4 replicas/)
  assert.match(fewFacts?.detail ?? '', /^LINSTOR: Not enough available nodes \[FAIL_NOT_ENOUGH_NODES\]$/, 'LINSTOR\'s text, without its criteria dump')

  const big = await storage.resource('big').create({ volumes: [8 * TiB], policy: { placeCount: 2 } }).then(() => undefined, (e: unknown) => e)
  assert.ok(isPluginError(big) && big.code === 'PLACEMENT_FAILED', String(big))
  const bigFacts = factsOf(big)
  assert.equal(bigFacts?.setting, undefined, 'no setting is at fault: the size is')
  assert.match(bigFacts?.problem ?? '', /^2 replicas of 8 TiB do not fit: the largest volume with 2 replicas that fits now is [0-9.]+ TiB \(most free: \w+ 100 GiB in DfltStorPool \(LVM_THIN\)/)

  const pools = await storage.resource('pools').create({ volumes: [1 * GiB], policy: { placeCount: 2, storagePools: ['nosuch'] } }).then(() => undefined, (e: unknown) => e)
  assert.equal(factsOf(pools)?.setting, 'storagePools')
  assert.match(factsOf(pools)?.problem ?? '', /in pool nosuch asked, but no online node has a matching storage pool/)

  const spread = await storage.resource('spread').create({ volumes: [1 * GiB], policy: { placeCount: 3, replicasOnSame: ['Aux/site=nowhere'] } }).then(() => undefined, (e: unknown) => e)
  assert.match(factsOf(spread)?.problem ?? '', /\(replicas on the same Aux\/site=nowhere\) asked/, 'the filters asked for are named')
  for (const name of ['few', 'big', 'pools', 'spread']) assert.equal(await storage.resource(name).exists(), false, `${name}: nothing left`)
})

test('a failed create leaves no derived group behind; one in use stays; a retry that succeeds keeps its group', async (t) => {
  const { storage, client } = await coreFixture(t)
  const before = await derivedGroups(client)
  for (let i = 0; i < 3; i++) {
    await assert.rejects(storage.resource(`try-${i}`).create({ volumes: [1 * GiB], policy: { placeCount: 5 + i } }), { code: 'PLACEMENT_FAILED' })
  }
  assert.deepEqual(await derivedGroups(client), before, 'no LinstorVirt-<hash> group left by the failed tries')

  // A group that holds a volume is not released by another create's failure under it.
  const policy = { placeCount: 2 }
  await storage.resource('kept').create({ volumes: [1 * GiB], policy })
  await assert.rejects(storage.resource('huge').create({ volumes: [8 * TiB], policy }), { code: 'PLACEMENT_FAILED' })
  assert.ok((await derivedGroups(client)).includes(policyGroupName(policy)), 'the group in use stays')

  // The same policy, now placeable: its group is made again and kept.
  const three = { placeCount: 3 }
  await assert.rejects(storage.resource('xx').create({ volumes: [8 * TiB], policy: three }), { code: 'PLACEMENT_FAILED' })
  assert.ok(!(await derivedGroups(client)).includes(policyGroupName(three)))
  await storage.resource('xx').create({ volumes: [1 * GiB], policy: three })
  assert.ok((await derivedGroups(client)).includes(policyGroupName(three)))
})

test('the doctor reports derived groups no volume uses and no platform setting names, and removes them with fix', async (t) => {
  const { storage, client } = await coreFixture(t)
  await storage.resource('used').create({ volumes: [1 * GiB], policy: { placeCount: 2 } })
  // Groups as a status call (capacity) makes them: one a setting names, one nobody does any more.
  await storage.capacity({ placeCount: 3 })
  await storage.capacity({ placeCount: 1 })
  const named = policyGroupName({ placeCount: 3 })
  const orphan = policyGroupName({ placeCount: 1 })

  assert.deepEqual((await runDoctor(storage)).findings, [], 'without the platforms\' list the check does not run')
  const report = await runDoctor(storage, { referencedGroups: new Set([named.toLowerCase()]) })
  assert.deepEqual(report.findings.map((f) => [f.kind, f.resource, f.fixable]), [['unused-group', orphan, true]])
  assert.match(report.findings[0]?.detail ?? '', /no volume uses it and no platform setting names it/)
  assert.equal(report.healthy, false)

  const fixed = await runDoctor(storage, { referencedGroups: new Set([named]), fix: true })
  assert.equal(fixed.findings[0]?.fixed, true)
  assert.equal(fixed.healthy, true)
  const left = await derivedGroups(client)
  assert.ok(!left.includes(orphan) && left.includes(named) && left.includes(policyGroupName({ placeCount: 2 })), left.join(' '))
  // The policy still works: its group is made again on next use.
  await storage.resource('again').create({ volumes: [1 * GiB], policy: { placeCount: 1 } })
})
