/**
 * LINBIT's own clients as test oracles: python-linstor and the `linstor` command line, run in
 * place from `<repository root>/../shared/upstream/linstor/` (see that folder's README) with
 * Debian's /usr/bin/python3, standard library only, against an emulator on 127.0.0.1:0.
 * Nothing of them is copied into the project.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { execa } from 'execa'
import { repoRoot } from '../helpers/paths.js'

/** The unpacked upstream clients: python-linstor/ and linstor-client/. */
export function upstreamDir(): string {
  const dir = join(repoRoot(), '..', 'shared', 'upstream', 'linstor')
  assert.ok(existsSync(join(dir, 'python-linstor', 'linstor', 'linstorapi.py')), `python-linstor not found under ${dir} (see ../shared/upstream/README.md)`)
  assert.ok(existsSync(join(dir, 'linstor-client', 'linstor_client_main.py')), `linstor-client not found under ${dir}`)
  return dir
}

export const PYTHON = '/usr/bin/python3'

/** The environment the upstream code runs with: its own modules only, no byte-code written into ../shared. */
function pythonEnv(): NodeJS.ProcessEnv {
  const dir = upstreamDir()
  return {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: process.env['HOME'] ?? '/tmp',
    LANG: 'C.UTF-8',
    PYTHONPATH: `${join(dir, 'python-linstor')}:${join(dir, 'linstor-client')}`,
    PYTHONDONTWRITEBYTECODE: '1',
    PYTHONIOENCODING: 'utf-8',
  }
}

export interface Run {
  code: number
  stdout: string
  stderr: string
}

/** linstor:// URL of an emulator (python-linstor's own scheme: plain HTTP to the REST port). */
export function linstorUrl(httpUrl: string): string {
  return httpUrl.replace(/^http:\/\//, 'linstor://')
}

/** Runs one of the scripts in test/upstream/py with its arguments; stdout is the script's JSON answer. */
export async function runPythonScript(script: string, args: readonly string[], timeoutMs = 120_000): Promise<Run> {
  const r = await execa(PYTHON, [join(repoRoot(), 'test', 'upstream', 'py', script), ...args], { env: pythonEnv(), extendEnv: false, reject: false, timeout: timeoutMs, cwd: upstreamDir() })
  return { code: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr }
}

/** `linstor --controllers=<url> [--no-color] ARGS`, as an operator types it. */
export async function linstor(url: string, args: readonly string[], timeoutMs = 60_000): Promise<Run> {
  const main = join(upstreamDir(), 'linstor-client', 'linstor_client_main.py')
  const r = await execa(PYTHON, [main, '--no-color', '--disable-config', `--controllers=${linstorUrl(url)}`, ...args], { env: pythonEnv(), extendEnv: false, reject: false, timeout: timeoutMs, cwd: upstreamDir() })
  return { code: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr }
}

/**
 * The `linstor` command line run many times in one interpreter (test/upstream/py/cli_session.py):
 * the same arguments and the same code as `linstor()`, without an interpreter's start per command.
 * `close()` ends it.
 */
export interface LinstorSession {
  run(url: string, args: readonly string[], timeoutMs?: number): Promise<Run>
  close(): void
}

export function linstorSession(): LinstorSession {
  const child = spawn(PYTHON, [join(repoRoot(), 'test', 'upstream', 'py', 'cli_session.py')], { env: pythonEnv(), cwd: join(upstreamDir(), 'linstor-client'), stdio: ['pipe', 'pipe', 'pipe'] })
  const lines = createInterface({ input: child.stdout })
  const waiting: ((line: string) => void)[] = []
  let stderr = ''
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString('utf8')
  })
  lines.on('line', (line) => waiting.shift()?.(line))
  let queue: Promise<unknown> = Promise.resolve()
  const once = (url: string, args: readonly string[], timeoutMs: number): Promise<Run> =>
    new Promise<Run>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        reject(new Error(`linstor ${args.join(' ')}: no answer within ${timeoutMs} ms\n${stderr}`))
      }, timeoutMs)
      waiting.push((line) => {
        clearTimeout(timer)
        resolve(JSON.parse(line) as Run)
      })
      child.stdin.write(JSON.stringify(['--no-color', '--disable-config', `--controllers=${linstorUrl(url)}`, ...args]) + '\n')
    })
  return {
    run(url, args, timeoutMs = 60_000) {
      // One command at a time, in order, as an operator types them.
      const next = queue.then(() => once(url, args, timeoutMs))
      queue = next.catch(() => undefined)
      return next
    },
    close() {
      child.stdin.end()
      child.kill()
    },
  }
}

/** No Python traceback anywhere in a run's output. */
export function assertNoTraceback(r: Run, what: string): void {
  assert.doesNotMatch(`${r.stdout}\n${r.stderr}`, /Traceback \(most recent call last\)/, `${what} printed a traceback:\n${r.stdout}\n${r.stderr}`)
}
