/**
 * First contact, as a newcomer meets the project: a fresh copy of the repository (no node_modules,
 * no build/, no dist/) where `npm run sandbox` is the very first command, then `npm run emulator`;
 * and the bundled emulator (dist/, what a user runs) started with every shipped cluster file.
 */
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import { parse as parseYaml } from 'yaml'
import { tempDir } from '../helpers/core.js'
import { repoRoot } from '../helpers/paths.js'

const root = repoRoot()

interface Run {
  code: number
  stdout: string
  stderr: string
}

function run(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    // npm may take the locked packages from its cache first: the registry is the fallback.
    const env = { ...process.env, npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false' }
    execFile(cmd, args, { cwd, env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr })
    })
  })
}

/**
 * The repository as `git clone` gives it: every file git tracks or would track (uncommitted work
 * included, so a developer's run tests what they are about to commit), nothing it ignores.
 */
async function freshCopy(t: TestContext): Promise<string> {
  const listed = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], root, 60_000)
  assert.equal(listed.code, 0, listed.stderr)
  const to = join(tempDir(t, 'lv-fresh-'), 'linstor-virt')
  for (const file of listed.stdout.split('\0').filter((f) => f !== '')) {
    const from = join(root, file)
    if (!existsSync(from) || !lstatSync(from).isFile()) continue // deleted, not yet staged
    mkdirSync(dirname(join(to, file)), { recursive: true })
    copyFileSync(from, join(to, file))
  }
  for (const ignored of ['node_modules', 'build', 'dist']) assert.ok(!existsSync(join(to, ignored)), `${ignored} is not in a fresh clone`)
  return to
}

/** Starts a `linstor-virt emulator` command, waits for its `listening on URL` line; stopped after the test. */
async function startEmulatorCommand(t: TestContext, cmd: string, args: string[], cwd: string): Promise<string> {
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  t.after(() => {
    try {
      process.kill(-(child.pid ?? 0), 'SIGTERM')
    } catch {
      // already gone
    }
  })
  let out = ''
  let err = ''
  child.stderr.on('data', (c: Buffer) => (err += c.toString()))
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString()
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m?.[1] !== undefined) resolve(m[1])
    })
    child.on('exit', (code) => reject(new Error(`${cmd} ${args.join(' ')} exited ${String(code)} before listening:\n${out}\n${err}`)))
  })
}

async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url)
  assert.equal(res.status, 200, url)
  return res.json()
}

test('a fresh clone: `npm run sandbox` works the first time, then `npm run emulator`', async (t) => {
  const dir = await freshCopy(t)
  const sandbox = await run('npm', ['run', 'sandbox'], dir, 600_000)
  assert.equal(sandbox.code, 0, `npm run sandbox failed:\n${sandbox.stdout.slice(-4000)}\n${sandbox.stderr.slice(-4000)}`)
  assert.match(sandbox.stdout, /All \d+ steps held their invariants\./)
  // The bundle is whole: what `linstor-virt install` copies is there too.
  for (const f of ['linstor-virt.js', 'one-shot.js', 'share/opennebula/remotes/tm/linstor/ln', 'share/opennebula/remotes/datastore/linstor/cp', 'share/proxmox/LinstorVirtPlugin.pm', 'share/systemd/linstor-virt-agent.service', 'share/cinder/linstor_virt_cinder/driver.py']) {
    assert.ok(existsSync(join(dir, 'dist', f)), `dist/${f} after npm run sandbox`)
  }
  // The README's second form: the emulator alone (another port than its default, which may be taken).
  const url = await startEmulatorCommand(t, 'npm', ['run', 'emulator', '--', '--listen', '127.0.0.1:0'], dir)
  const nodes = (await getJson(`${url}/v1/nodes`)) as { name: string }[]
  assert.deepEqual(nodes.map((n) => n.name).sort(), ['alpha', 'bravo', 'charlie', 'delta'])
})

test('the bundled emulator starts with every shipped cluster file and shows its nodes', async (t) => {
  const bundle = join(root, 'dist', 'linstor-virt.js')
  const clusters = join(root, 'emulator', 'clusters')
  const files = readdirSync(clusters).filter((f) => f.endsWith('.yaml'))
  assert.ok(files.length >= 3, files.join(', '))
  for (const file of files) {
    const spec = parseYaml(readFileSync(join(clusters, file), 'utf8')) as { nodes: { name: string }[]; resources?: { name: string }[] }
    const url = await startEmulatorCommand(t, process.execPath, [bundle, 'emulator', '--cluster', join(clusters, file), '--listen', '127.0.0.1:0', '--state', tempDir(t, 'lv-emu-state-')], root)
    const nodes = (await getJson(`${url}/v1/nodes`)) as { name: string }[]
    assert.deepEqual(nodes.map((n) => n.name).sort(), spec.nodes.map((n) => n.name).sort(), file)
    const rds = (await getJson(`${url}/v1/resource-definitions`)) as { name: string }[]
    assert.deepEqual(rds.map((r) => r.name.toLowerCase()).sort(), (spec.resources ?? []).map((r) => r.name.toLowerCase()).sort(), file)
  }
})
