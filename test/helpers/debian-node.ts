/**
 * Debian 12's own Node.js (the `nodejs` package of bookworm, 18.20), fetched once by
 * scripts/debian-node.mjs with `apt-get download` and unpacked with `dpkg -x` into
 * build/debian-node/ (nothing installed system-wide), and ways to run the built bundle under it.
 */
import { execFile, execFileSync, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { repoRoot } from './paths.js'

export interface DebianNode {
  /** build/debian-node: the unpacked packages (usr/...), bin/node, debs/. */
  dir: string
  /** bin/node: runs Debian's node (see scripts/debian-node.mjs for why it is a wrapper). */
  node: string
  /** bin/: a folder whose `node` is Debian's, to put first on PATH for `#!/usr/bin/env node` scripts. */
  bin: string
  /** The Debian version of the nodejs package, e.g. 18.20.4+dfsg-1~deb12u3. */
  version: string
  /** The .deb files it came from (nodejs, libnode108, and what this machine lacked of their dependencies). */
  debs: string[]
}

let cached: DebianNode | undefined

/**
 * Fetches (first call on this machine) and returns Debian 12's node; throws with the script's own
 * reason when this machine cannot (not root, no apt-get, no bookworm package lists).
 */
export function debianNode(): DebianNode {
  if (cached !== undefined) return cached
  let out: string
  try {
    out = execFileSync(process.execPath, [join(repoRoot(), 'scripts', 'debian-node.mjs'), '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 })
  } catch (err) {
    const e = err as { stderr?: string; message: string }
    throw new Error(`Debian 12's nodejs is not available, so the runtime cannot be checked on it.\n${(e.stderr ?? '').trim() || e.message}`, { cause: err })
  }
  const info = JSON.parse(out) as Omit<DebianNode, 'bin'>
  cached = { ...info, bin: join(info.dir, 'bin') }
  return cached
}

export interface Run {
  code: number
  stdout: string
  stderr: string
}

/** Runs `cmd args` to its end (stdin given, env replaced when given); never rejects. */
export function runTo(cmd: string, args: string[], opts: { stdin?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024, ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}) }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1
      resolve({ code, stdout, stderr: err !== null && typeof err.code !== 'number' ? `${stderr}\n${err.message}` : stderr })
    })
    child.stdin?.end(opts.stdin ?? '')
  })
}

/**
 * Starts `node <bundle> agent --socket <socketPath>` under `node` and resolves once it says it
 * listens; the agent is stopped (SIGTERM) after the test.
 */
export function startBundleAgent(t: TestContext, node: string, bundle: string, socketPath: string, env: NodeJS.ProcessEnv = process.env): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(node, [bundle, 'agent', '--socket', socketPath], { env, stdio: ['ignore', 'ignore', 'pipe'] })
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    })
    let err = ''
    child.stderr?.setEncoding('utf8')
    child.stderr?.on('data', (c: string) => {
      err += c
      if (err.includes(`linstor-virt agent listening on ${socketPath}`)) resolve(child)
    })
    child.on('exit', (code) => reject(new Error(`the agent exited (${String(code)}) before listening:\n${err}`)))
  })
}
