/**
 * `linstor-virt sandbox --story nvme|dr` (cli/sandbox/stories.ts): the disaggregated NVMe-oF story
 * and the disaster-recovery story hold their invariants in every step, as printed; the bundled
 * command tells them with exit 0 and refuses an unknown story; the cluster they run on is the one
 * in emulator/clusters/disaggregated.yaml.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'node:test'
import { runNamedStory } from '../../cli/sandbox/stories.js'
import { DISAGGREGATED_CLUSTER, loadClusterFile, parseClusterSpec } from '../../emulator/index.js'
import { repoRoot } from '../helpers/paths.js'

const bundle = join(repoRoot(), 'dist', 'linstor-virt.js')

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bundle, ...args], { env: { PATH: process.env['PATH'] ?? '' }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr })
    })
  })
}

test('the cluster of the stories is emulator/clusters/disaggregated.yaml', async () => {
  assert.deepEqual(await loadClusterFile(join(repoRoot(), 'emulator', 'clusters', 'disaggregated.yaml')), parseClusterSpec(DISAGGREGATED_CLUSTER))
})

test('the NVMe-oF story: a target on a storage node, an initiator per VM host, two for a migration window, no DRBD role; every step holds', async () => {
  const lines: string[] = []
  const result = await runNamedStory('nvme', { out: (l) => lines.push(l) })
  const text = lines.join('\n')
  assert.deepEqual(result.steps.filter((s) => !s.ok), [], text)
  assert.equal(result.steps.length, 7)
  assert.match(text, /stor-1 +NVMe target \(data\) +\/dev\/nvme_vg\/vm-200-disk-0_00000/)
  assert.match(text, /compute-1 +NVMe initiator +\/dev\/nvme0n1/)
  assert.match(text, /during the window: initiators on compute-1 and compute-2/)
  assert.match(text, /compute-1: detach → initiator removed; migration completed/)
  assert.match(text, /NOT_SHARED: resource vm-200-disk-1 has the layer stack STORAGE \(storage only\)/)
  assert.match(text, /unused-initiator vm-200-disk-0 on compute-1/)
})

test('the DR story: extend to the DR site through DRBD Proxy (protocol A there only), pull ahead, catch up, checksum, remove; every step holds', async () => {
  const lines: string[] = []
  const result = await runNamedStory('dr', { out: (l) => lines.push(l) })
  const text = lines.join('\n')
  assert.deepEqual(result.steps.filter((s) => !s.ok), [], text)
  assert.equal(result.steps.length, 8)
  assert.match(text, /hv-1↔dr-1: DRBD Proxy, protocol A/)
  assert.match(text, /dr-1 +DR \(proxy\) +Outdated +Secondary +Ahead/)
  assert.match(text, /Ahead → SyncSource \d+% → .*Established/)
  assert.match(text, /attach on dr-1: DR_REPLICA/)
})

test('linstor-virt sandbox --story: tells a named story (exit 0); an unknown one is a usage error (exit 2)', async () => {
  const r = await cli(['sandbox', '--story', 'nvme'])
  assert.equal(r.code, 0, r.stdout + r.stderr)
  assert.match(r.stdout, /All 7 steps held their invariants\./)
  const bad = await cli(['sandbox', '--story', 'moon'])
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /no story "moon" \(there are: nvme, dr/)
  assert.match(bad.stderr, /usage: linstor-virt sandbox \[--story nvme\|dr\]/)
})
