/**
 * The README's main command and the doctor, as a user runs them: the sandbox story (in process,
 * step by step, and as the bundled `linstor-virt sandbox` with its exit code), and `linstor-virt
 * doctor` finding and repairing a leftover diskless client.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'node:test'
import { runStory } from '../../cli/sandbox/story.js'
import { GiB } from '../../core/volumes/index.js'
import { coreFixture, roles, tempDir } from '../helpers/core.js'
import { repoRoot } from '../helpers/paths.js'

const bundle = join(repoRoot(), 'dist', 'linstor-virt.js')

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bundle, ...args], { env: { PATH: process.env['PATH'] ?? '' }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr })
    })
  })
}

test('the sandbox story: every step holds its invariants', async () => {
  const lines: string[] = []
  const result = await runStory({ out: (l) => lines.push(l) })
  const text = lines.join('\n')
  assert.deepEqual(result.steps.filter((s) => !s.ok), [], text)
  assert.equal(result.steps.length, 10)
  assert.ok(result.ok)
  // The story's key facts, as printed.
  assert.match(text, /replicas on bravo and delta/)
  assert.match(text, /charlie +diskless client +Diskless +Primary/)
  assert.match(text, /charlie: detach → diskless client removed/)
  assert.match(text, /attach on delta answered in \d+ ms from controller-unreachable/)
  assert.match(text, /0 finding\(s\)/)
})

test('linstor-virt sandbox exits 0 and prints the tables', async () => {
  const r = await cli(['sandbox'])
  assert.equal(r.code, 0, r.stdout + r.stderr)
  assert.match(r.stdout, /All 10 steps held their invariants\./)
  assert.match(r.stdout, / node +replica +disk +role/)
})

test('linstor-virt doctor reports a leftover diskless client, --fix removes it, and a clean cluster exits 0', async (t) => {
  const { storage, emu } = await coreFixture(t)
  const info = await storage.resource('leftover').create({ volumes: [1 * GiB], policy: { placeCount: 2 } })
  const free = ['alpha', 'bravo', 'charlie', 'delta'].find((n) => !info.replicas.some((r) => r.node === n)) ?? ''
  await storage.resource('leftover').attach(free) // a platform activated it and never deactivated
  const common = ['--controllers', emu.url, '--lock-dir', tempDir(t, 'lv-doctor-')]

  const found = await cli(['doctor', '--json', ...common])
  assert.equal(found.code, 1, found.stderr)
  const report = JSON.parse(found.stdout) as { findings: { kind: string; node?: string; fixable: boolean }[] }
  assert.deepEqual(report.findings.map((f) => [f.kind, f.node, f.fixable]), [['unused-diskless', free, true]])

  const fixed = await cli(['doctor', '--fix', ...common])
  assert.equal(fixed.code, 0, fixed.stdout + fixed.stderr)
  assert.match(fixed.stdout, /unused-diskless +leftover on \w+: .*\[fixed\]/)
  assert.notEqual((await roles(storage, 'leftover'))[free], 'd')

  const clean = await cli(['doctor', ...common])
  assert.deepEqual([clean.code, clean.stdout], [0, '1 resource(s) checked, 0 finding(s)\n'])
  assert.equal((await cli(['doctor', '--bogus'])).code, 2)
})
