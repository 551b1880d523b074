/**
 * A real OpenSSH server for the OpenNebula adapter's tests: the driver talks to hypervisor hosts
 * through the ssh client, so its quoting, streams and error mapping are checked against the real
 * pair rather than a stand-in. The server listens on 127.0.0.1 only, accepts one throw-away key, and
 * a client ssh_config maps host aliases (node2, node3, ...) onto it.
 */
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { userInfo } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { tempDir } from '../helpers/core.js'

export const SSHD = '/usr/sbin/sshd'

export interface SshdOptions {
  /** Aliases that point at a port nobody listens on (connection refused), for unreachable hosts. */
  deadHosts?: readonly string[]
}

export interface RunningSshd {
  port: number
  /** The client ssh_config (pass as `ssh -F`). */
  configFile: string
  /** What remoteFromEnv needs to use this server. */
  env: Record<string, string>
}

/** A port free right now on 127.0.0.1 (sshd refuses Port 0, so one is picked for it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      srv.close(() => (typeof addr === 'object' && addr !== null ? resolve(addr.port) : reject(new Error('no port'))))
    })
  })
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port })
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

function keygen(file: string): void {
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'linstor-virt-test', '-f', file], { encoding: 'utf8' })
  if (r.error !== undefined) throw new Error(`ssh-keygen could not run (install openssh-client): ${r.error.message}`)
  if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`)
}

/** Starts sshd on `port`; resolves once it accepts connections, undefined when it exited first (e.g. port taken). */
async function launch(dir: string, port: number, log: string): Promise<ChildProcess | undefined> {
  const config = join(dir, 'sshd_config')
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_key')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      'StrictModes no',
      'UsePAM no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      'PermitRootLogin yes',
      // Tests run several commands at once; the default (10:30:100) would drop some handshakes.
      'MaxStartups 100',
      'LogLevel INFO',
      '',
    ].join('\n'),
  )
  const fd = openSync(log, 'a')
  // stderr goes to a file, not a pipe: session processes sshd forks would otherwise hold the pipe open.
  const child = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', fd, fd] })
  closeSync(fd)
  let exited = false
  child.once('exit', () => (exited = true))
  child.once('error', () => (exited = true))
  const until = Date.now() + 10_000
  while (Date.now() < until) {
    if (exited) return undefined
    if (await canConnect(port)) return child
    await new Promise((r) => setTimeout(r, 50))
  }
  child.kill('SIGKILL')
  throw new Error(`sshd did not accept connections on port ${port} within 10 s:\n${readFileSync(log, 'utf8')}`)
}

/**
 * Starts sshd for this test (stopped in t.after) and writes a client ssh_config in which every name
 * of `hosts` is an alias of it, logged in as the current user with a fresh key and no host-key
 * checks. Fails with a clear message when openssh-server is not installed.
 */
export async function startSshd(t: TestContext, hosts: readonly string[], options: SshdOptions = {}): Promise<RunningSshd> {
  if (!existsSync(SSHD)) throw new Error(`${SSHD} is missing: install the Debian package openssh-server (npm test does when run as root)`)
  const dir = tempDir(t, 'lv-sshd-')
  keygen(join(dir, 'host_key'))
  keygen(join(dir, 'client_key'))
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_key.pub')), { mode: 0o600 })
  // The privilege-separation directory; Debian creates it from the service unit, which is not used here.
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 })

  const log = join(dir, 'sshd.log')
  let child: ChildProcess | undefined
  let port = 0
  // The free port may be taken again before sshd binds it: try a few.
  for (let attempt = 0; attempt < 3 && child === undefined; attempt++) {
    port = await freePort()
    child = await launch(dir, port, log)
  }
  if (child === undefined) throw new Error(`sshd did not start:\n${readFileSync(log, 'utf8')}`)
  const running = child
  t.after(async () => {
    if (running.exitCode !== null || running.signalCode !== null) return
    const gone = new Promise((r) => running.once('exit', r))
    running.kill('SIGTERM')
    const timer = setTimeout(() => running.kill('SIGKILL'), 2_000)
    await gone
    clearTimeout(timer)
  })

  const client = (names: readonly string[], p: number): string[] => [
    `Host ${names.join(' ')}`,
    '  HostName 127.0.0.1',
    `  Port ${p}`,
    `  User ${userInfo().username}`,
    `  IdentityFile ${join(dir, 'client_key')}`,
    '  IdentitiesOnly yes',
    '  StrictHostKeyChecking no',
    '  UserKnownHostsFile /dev/null',
    '  GlobalKnownHostsFile /dev/null',
    '  LogLevel ERROR',
    '',
  ]
  const lines = hosts.length > 0 ? client(hosts, port) : []
  if (options.deadHosts !== undefined && options.deadHosts.length > 0) lines.push(...client(options.deadHosts, await freePort()))
  const configFile = join(dir, 'ssh_config')
  writeFileSync(configFile, lines.join('\n'))
  return { port, configFile, env: { LINSTOR_VIRT_SSH_CONFIG: configFile } }
}
