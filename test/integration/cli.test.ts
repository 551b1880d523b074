/**
 * The bundled CLI (dist/linstor-virt.js), run as a host runs it: stdout is the protocol, stderr the
 * diagnostics, and the bundle needs only node (no node_modules).
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { HELP, commandUsage } from '../../cli/usage.js'
import { withEmulator } from '../emulator/helpers.js'
import { repoRoot } from '../helpers/paths.js'
import { closedPort, replyRaw, startServer } from '../helpers/servers.js'

const root = repoRoot()
const bundle = join(root, 'dist', 'linstor-virt.js')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string> }

interface Run {
  code: number
  stdout: string
  stderr: string
}

function run(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [script, ...args], { env: { PATH: process.env['PATH'] ?? '', ...env }, timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1
      resolve({ code, stdout, stderr })
    })
  })
}

test('package.json declares the bundle as the linstor-virt bin', () => {
  assert.equal(pkg.bin['linstor-virt'], 'dist/linstor-virt.js')
  assert.match(readFileSync(bundle, 'utf8'), /^#!\/usr\/bin\/env node\n/)
})

test('version prints the package version; help and unknown commands', async () => {
  assert.deepEqual(await run(bundle, ['version']), { code: 0, stdout: `linstor-virt ${pkg.version}\n`, stderr: '' })
  assert.equal((await run(bundle, ['--version'])).stdout, `linstor-virt ${pkg.version}\n`)
  const help = await run(bundle, ['help'])
  assert.equal(help.code, 0)
  assert.match(help.stdout, /^usage: linstor-virt <command>/)
  assert.match(help.stdout, /controller/)
  assert.match(help.stdout, /emulator/)
  const none = await run(bundle, [])
  assert.equal(none.code, 2)
  const unknown = await run(bundle, ['frobnicate'])
  assert.equal(unknown.code, 2)
  assert.equal(unknown.stdout, '')
  assert.match(unknown.stderr, /^linstor-virt: unknown command 'frobnicate'/)
})

test('controller version asks the configured controller; LS_CONTROLLERS is honoured', async (t) => {
  const srv = await startServer(t, (_req, res) => replyRaw(res, 200, '{"version":"1.34.0","git_hash":"x","build_time":"y","rest_api_version":"1.28.0"}'))
  const direct = await run(bundle, ['controller', 'version', '--controllers', srv.url])
  assert.deepEqual(direct, { code: 0, stdout: 'LINSTOR 1.34.0 (REST API 1.28.0)\n', stderr: '' })
  const viaEnv = await run(bundle, ['controller', 'version', '--json'], { LS_CONTROLLERS: srv.url })
  assert.equal(viaEnv.code, 0)
  assert.deepEqual(JSON.parse(viaEnv.stdout), { version: '1.34.0', git_hash: 'x', build_time: 'y', rest_api_version: '1.28.0' })
  assert.equal(srv.requests[1]?.url, '/v1/controller/version')
})

test('controller version with no controller up: exit 1, one clear line on stderr, nothing on stdout', async () => {
  const port = await closedPort()
  const r = await run(bundle, ['controller', 'version', '--controllers', `linstor://127.0.0.1:${port}`, '--timeout-ms', '3000'])
  assert.equal(r.code, 1)
  assert.equal(r.stdout, '')
  assert.equal(r.stderr, `linstor-virt: no LINSTOR controller reachable for GET /v1/controller/version: http://127.0.0.1:${port} (connection refused, 3 tries)\n`)
  const bad = await run(bundle, ['controller', 'version', '--controllers', 'ftp://x'])
  assert.equal(bad.code, 1)
  assert.match(bad.stderr, /^linstor-virt: invalid configuration: controllers: unsupported scheme 'ftp:'/)
  const badTimeout = await run(bundle, ['controller', 'version', '--timeout-ms', 'soon'])
  assert.equal(badTimeout.code, 2)
})

test('the bundle runs from a copy with no node_modules anywhere near it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lv-dist-'))
  cpSync(join(root, 'dist'), join(dir, 'dist'), { recursive: true })
  const copy = join(dir, 'dist', 'linstor-virt.js')
  assert.deepEqual(await run(copy, ['version']), { code: 0, stdout: `linstor-virt ${pkg.version}\n`, stderr: '' })
  const srv = await startServer(t, (_req, res) => replyRaw(res, 200, '{"version":"1.33.3","rest_api_version":"1.27.0"}'))
  const r = await run(copy, ['controller', 'version', '--controllers', srv.url])
  assert.equal(r.stdout, 'LINSTOR 1.33.3 (REST API 1.27.0)\n')
})

test('with debug logging, stdout still carries only the answer, logs are JSON on stderr, and the token is in neither', async (t) => {
  const srv = await startServer(t, (req, res) => replyRaw(res, req.headers['authorization'] === 'Bearer tok-SECRET-123' ? 200 : 401, '{"version":"1.34.0","rest_api_version":"1.28.0"}'))
  const dir = mkdtempSync(join(tmpdir(), 'lv-cli-tok-'))
  const tokenFile = join(dir, 'auth.json')
  writeFileSync(tokenFile, '{"token":"tok-SECRET-123"}')
  const r = await run(bundle, ['controller', 'version', '--controllers', srv.url, '--token-file', tokenFile], { LINSTOR_VIRT_LOG_LEVEL: 'trace' })
  assert.equal(r.code, 0)
  assert.equal(r.stdout, 'LINSTOR 1.34.0 (REST API 1.28.0)\n')
  const lines = r.stderr.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
  assert.ok(lines.some((l) => l['msg'] === 'linstor call' && l['path'] === '/v1/controller/version'))
  assert.ok(!r.stderr.includes('SECRET') && !r.stdout.includes('SECRET'))
})

test("the README's emulator command starts the emulator, serves LINSTOR clients and stops on SIGTERM", async (t) => {
  const { spawn } = await import('node:child_process')
  const child = spawn(process.execPath, [join(root, 'scripts', 'run-cli.mjs'), 'emulator', '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.after(() => child.kill('SIGKILL'))
  const line = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString()
      if (out.includes('\n')) resolve(out)
    })
    child.on('exit', () => reject(new Error(`exited before listening: ${out}`)))
  })
  const m = /^listening on (http:\/\/127\.0\.0\.1:\d+)\n$/.exec(line)
  assert.ok(m !== null, line)
  const r = await run(bundle, ['controller', 'version', '--controllers', m[1] ?? ''])
  assert.equal(r.stdout, 'LINSTOR 1.34.0 (REST API 1.28.0)\n')
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  child.kill('SIGTERM')
  assert.equal(await exited, 0)
})

test('every subcommand answers --help and -h with its usage (exit 0); the top-level help lists every subcommand and option', async () => {
  const top = await run(bundle, ['--help'])
  assert.equal(top.code, 0)
  for (const [name, h] of Object.entries(HELP)) {
    assert.ok(top.stdout.includes(`  ${name} `), `the top-level help lists ${name}`)
    for (const u of h.usage) assert.ok(top.stdout.includes(u), `the top-level help shows ${u}`)
    for (const flag of ['--help', '-h']) {
      const r = await run(bundle, [name, flag])
      assert.deepEqual([r.code, r.stdout, r.stderr], [0, commandUsage(name), ''], `${name} ${flag}`)
    }
  }
  // Every subcommand and every option the code accepts is in the help: read the option tables.
  const sources = ['cli/commands/agent.ts', 'cli/commands/call.ts', 'cli/commands/doctor.ts', 'cli/commands/sandbox.ts', 'cli/commands/install.ts', 'cli/commands/controller.ts', 'cli/commands/status.ts', 'cli/connection.ts', 'emulator/cli.ts']
  for (const src of sources) {
    const text = readFileSync(join(root, src), 'utf8')
    for (const m of text.matchAll(/^\s+'?([a-z][a-z-]*)'?: \{ type: '(?:string|boolean)'/gm)) {
      assert.ok(top.stdout.includes(`--${m[1] ?? ''}`), `--${m[1] ?? ''} (${src}) is in the top-level help`)
    }
  }
  assert.deepEqual((await run(bundle, ['help', 'doctor'])).stdout.split('\n')[0], commandUsage('doctor').split('\n')[0])
})

test('an unknown subcommand, option, argument or platform says which and exits 2', async () => {
  const cases: [string[], RegExp][] = [
    [['frobnicate'], /^linstor-virt: unknown command 'frobnicate'/],
    [['--frobnicate'], /^linstor-virt: unknown option '--frobnicate'/],
    [['help', 'frobnicate'], /^linstor-virt: unknown command 'frobnicate'/],
    [['version', 'extra'], /^linstor-virt version: unexpected argument 'extra'/],
    [['controller'], /^linstor-virt controller: which subcommand\? \(version\)/],
    [['controller', 'versions'], /^linstor-virt controller: unknown subcommand 'versions'/],
    [['controller', 'version', '--bogus'], /^linstor-virt controller: Unknown option '--bogus'/],
    [['doctor', '--bogus'], /^linstor-virt doctor: Unknown option '--bogus'/],
    [['doctor', 'extra'], /^linstor-virt doctor: Unexpected argument 'extra'/],
    [['agent', 'stats'], /^linstor-virt agent: unknown subcommand 'stats' \(status\)/],
    [['agent', '--sock', 'x'], /^linstor-virt agent: Unknown option '--sock'/],
    [['sandbox', '--kep'], /^linstor-virt sandbox: Unknown option '--kep'/],
    [['install'], /^linstor-virt install: which platform\? \(proxmox, opennebula or cinder\)/],
    [['install', 'vmware'], /^linstor-virt install: unknown platform 'vmware' \(proxmox, opennebula or cinder\)/],
    [['uninstall', 'vmware'], /^linstor-virt uninstall: unknown platform 'vmware'/],
    [['install', 'proxmox', '--rot', '/x'], /^linstor-virt install: Unknown option '--rot'/],
    [['call'], /^linstor-virt call: the request comes on stdin: --stdin is required/],
    [['call', '--stdn'], /^linstor-virt call: Unknown option '--stdn'/],
    [['emulator', '--clusters', 'x'], /^linstor-virt emulator: Unknown option '--clusters'/],
  ]
  for (const [args, message] of cases) {
    const r = await run(bundle, args)
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
    assert.equal(r.stdout, '', args.join(' '))
    assert.match(r.stderr, message, args.join(' '))
  }
})

test('doctor: a read-only check needs no lock directory (as a user who cannot make one); a resource LINSTOR does not have is named, exit 1', async (t) => {
  const emu = await withEmulator(t)
  const asNobody = process.getuid?.() === 0
  // Root can write anywhere: run as nobody, with the default lock directory out of its reach.
  const cmd = asNobody ? ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, bundle] : [process.execPath, bundle]
  const doctor = (args: string[]): Promise<Run> => new Promise((resolve) => {
    execFile(cmd[0] ?? '', [...cmd.slice(1), 'doctor', '--controllers', emu.url, ...args], { env: { PATH: process.env['PATH'] ?? '' }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr })
    })
  })
  const clean = await doctor([])
  assert.deepEqual([clean.code, clean.stdout, clean.stderr], [0, '0 resource(s) checked, 0 finding(s)\n', ''])
  const missing = await doctor(['--resource', 'nosuch'])
  assert.equal(missing.code, 1, missing.stderr)
  assert.equal(missing.stdout, '0 resource(s) checked, 0 finding(s)\n  not-found        nosuch: LINSTOR has no resource of this name\n')
  const json = await doctor(['--resource', 'nosuch', '--json'])
  assert.equal(json.code, 1)
  assert.deepEqual((JSON.parse(json.stdout) as { missing: string[] }).missing, ['nosuch'])
})
