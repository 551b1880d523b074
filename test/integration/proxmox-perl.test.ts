/**
 * The Proxmox shim's own Perl tests (test/proxmox/t, run by prove against the PVE stand-ins in
 * test/proxmox/lib and a fake agent), and a `perl -c` of the shim with the stand-ins, so the Perl
 * side is part of `npm test`. Needs perl and prove (core Perl only, no CPAN modules).
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'node:test'
import { repoRoot } from '../helpers/paths.js'

const root = repoRoot()
const libs = ['-I', join(root, 'test', 'proxmox', 'lib'), '-I', join(root, 'plugins', 'proxmox', 'perl')]
const shim = join(root, 'plugins', 'proxmox', 'perl', 'PVE', 'Storage', 'Custom', 'LinstorVirtPlugin.pm')

interface Run {
  code: number
  stdout: string
  stderr: string
}

/** The environment without settings of the shim or the stand-ins that the caller may have set. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('LINSTOR_VIRT_') && !k.startsWith('LV_')) env[k] = v
  }
  return env
}

function run(cmd: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: root, env: cleanEnv(), timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1
      resolve({ code, stdout, stderr: err !== null && typeof err.code !== 'number' ? `${stderr}\n${err.message}` : stderr })
    })
  })
}

test('perl -c accepts the shim with the PVE stand-ins', async () => {
  const r = await run('perl', [...libs, '-c', shim])
  assert.equal(r.code, 0, `perl -c failed:\n${r.stderr}`)
  assert.match(r.stderr, /syntax OK/)
})

test('prove: the Perl tests of the Proxmox shim pass', async () => {
  const r = await run('prove', [...libs, '-r', join('test', 'proxmox', 't')])
  assert.equal(r.code, 0, `prove failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`)
  assert.match(r.stdout, /^Result: PASS$/m, `${r.stdout}\n${r.stderr}`)
})
