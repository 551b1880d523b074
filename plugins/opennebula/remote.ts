/**
 * Commands on hypervisor hosts over ssh, as the OpenNebula driver runs them from the front-end
 * (mkdir and symlinks, dd of image bytes, mkfs, tar of a VM directory, rm -rf). Names in those
 * commands come from users, so every word is quoted for the remote POSIX shell here, in one place.
 * Deliberately light (node built-ins and core/errors only): it loads in a short-lived process per
 * OpenNebula action, which is also why it spawns ssh itself instead of going through execa, and
 * loads node:child_process only when it runs a command.
 */
import type { Readable } from 'node:stream'
import { PluginError, isPluginError } from '../../core/errors/index.js'

/**
 * Words the shell reads literally wherever they stand. '=' is left out (a leading NAME=... word is
 * an assignment, not a command) and a leading '-' is quoted too, so a bare word is always plain.
 */
const BARE_WORD = /^[A-Za-z0-9_./:@%+,][A-Za-z0-9_./:@%+,-]*$/

/**
 * POSIX-shell quoting of one word: single quotes, with ' written as '\''; the empty string is ''.
 * Refuses NUL (no shell or argv can carry it). Plain words stay bare so logged commands stay readable.
 */
export function shellQuote(word: string): string {
  if (word.includes('\0')) throw new PluginError('ONE_DOCUMENT_INVALID', 'a command word contains a NUL character')
  if (BARE_WORD.test(word)) return word
  return `'${word.replaceAll("'", "'\\''")}'`
}

/** One command line from an argument array: each word quoted, joined by spaces. */
export function shellCommand(argv: readonly string[]): string {
  if (argv.length === 0) throw new PluginError('INTERNAL_ERROR', 'empty remote command')
  return argv.map(shellQuote).join(' ')
}

/** Several commands run in order, stopping at the first failure: joined with ' && '. */
export function shellSequence(commands: readonly (readonly string[])[]): string {
  if (commands.length === 0) throw new PluginError('INTERNAL_ERROR', 'empty remote command sequence')
  return commands.map(shellCommand).join(' && ')
}

const HOST_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,252}$/

/**
 * Checks a host name as OpenNebula registers it (letters, digits, '.', '-', '_'; no leading '-').
 * ssh reads its arguments before the host as options and 'user@' or 'ssh://' in it as more than a
 * name, so anything else is refused rather than passed on. Returns the host.
 */
export function checkHost(host: string): string {
  if (!HOST_NAME.test(host)) {
    throw new PluginError('ONE_DOCUMENT_INVALID', `not a host name: ${JSON.stringify(host.slice(0, 80))}`, { context: { host: host.slice(0, 80) } })
  }
  return host
}

export interface RemoteOptions {
  /** ssh executable (default 'ssh', found on PATH). */
  command?: string
  /** Extra ssh arguments placed before the host, e.g. ['-F', '/path/ssh_config']. */
  extraArgs?: readonly string[]
  /** Default deadline per command (ms), default 60_000. */
  timeoutMs?: number
}

export interface RunOptions {
  /**
   * Bytes fed to the remote command's stdin (a stream is piped; its errors fail the run). A stream
   * the command leaves unread is drained after a success and destroyed after a failure, so its
   * producer neither stalls nor keeps going.
   */
  input?: Buffer | string | Readable
  signal?: AbortSignal
  timeoutMs?: number
  /** Called with every stdout chunk when given (stdout is then not collected). */
  onStdout?: (chunk: Buffer) => void
  /**
   * Where stdout goes instead of being collected (e.g. a file write stream or another process's
   * stdin). It is ended when the output ends, and the run resolves once it has taken everything.
   */
  stdoutTo?: NodeJS.WritableStream
}

export interface RunResult {
  stdout: string
  stderr: string
}

/**
 * Never prompt (oned has no terminal to answer), give up on a dead host in seconds rather than
 * minutes, and never ask for a pty: one would rewrite '\n' in the binary streams of dd and tar.
 */
const DEFAULT_ARGS = ['-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', '-T'] as const
/** How long a command gets between SIGTERM and SIGKILL. */
const KILL_GRACE_MS = 2_000
/** stderr kept per command: enough for the last lines, bounded whatever the command prints. */
const STDERR_LIMIT = 64 * 1024

/** The first word of a command line, unquoted and without its directory, for messages. */
function commandName(commandLine: string): string {
  const m = /^\s*(?:'([^']*)'|([^\s'"&|;]+))/.exec(commandLine)
  const word = m?.[1] ?? m?.[2] ?? 'command'
  return word.slice(word.lastIndexOf('/') + 1).slice(0, 60) || 'command'
}

/** The last non-empty line of a command's stderr. */
function lastLine(stderr: string): string {
  const lines = stderr.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '')
  return (lines.at(-1) ?? '').slice(0, 500)
}

/** A refused argument as a rejection: callers of a promise-returning method see no synchronous throws. */
function rejected(e: unknown): Promise<never> {
  return Promise.reject(e instanceof Error ? e : new Error(String(e)))
}

/** Runs commands on hosts through the OpenSSH client; one ssh process per command. */
export class Remote {
  readonly #command: string
  readonly #extraArgs: readonly string[]
  readonly #timeoutMs: number

  constructor(options: RemoteOptions = {}) {
    this.#command = options.command ?? 'ssh'
    this.#extraArgs = [...(options.extraArgs ?? [])]
    this.#timeoutMs = options.timeoutMs ?? 60_000
  }

  /**
   * Runs `commandLine` (a string built with shellCommand/shellSequence) on `host`: spawns
   * [command, ...defaultArgs, ...extraArgs, '--', host, commandLine]. The '--' ends ssh's option
   * parsing for good (without it ssh reads options after the host too); the host is checked first.
   * The remote login shell must be a POSIX shell (sh, dash, bash), as oneadmin's is.
   */
  run(host: string, commandLine: string, options: RunOptions = {}): Promise<RunResult> {
    try {
      checkHost(host)
    } catch (e) {
      return rejected(e)
    }
    return this.#spawn(host, commandLine, options)
  }

  /** Convenience: run(host, shellCommand(argv), options). */
  exec(host: string, argv: readonly string[], options?: RunOptions): Promise<RunResult> {
    let commandLine: string
    try {
      commandLine = shellCommand(argv)
    } catch (e) {
      return rejected(e)
    }
    return this.run(host, commandLine, options)
  }

  async #spawn(host: string, commandLine: string, options: RunOptions): Promise<RunResult> {
    const [{ spawn }, { pipeline }] = await Promise.all([import('node:child_process'), import('node:stream/promises')])
    const name = commandName(commandLine)
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs
    const { input, signal, onStdout, stdoutTo } = options
    const args = [...DEFAULT_ARGS, ...this.#extraArgs, '--', host, commandLine]
    const fail = (message: string, extra: Record<string, string | number> = {}, cause?: unknown): PluginError =>
      new PluginError('REMOTE_FAILED', `${host}: ${message}`, { context: { host, ...extra }, ...(cause === undefined ? {} : { cause }) })

    if (signal?.aborted === true) return Promise.reject(fail(`${name} cancelled`, {}, signal.reason))

    return new Promise<RunResult>((resolve, reject) => {
      const inputStream = input !== undefined && typeof input !== 'string' && !Buffer.isBuffer(input) ? input : undefined
      // stdin is a pipe even without input: ended at once, the remote command reads end-of-file.
      const child = spawn(this.#command, args, { stdio: ['pipe', 'pipe', 'pipe'] })
      const out: Buffer[] = []
      let err = ''
      let settled = false
      /** Why the run ended early (deadline, abort, broken input or output); reported once ssh is gone. */
      let stopped: Error | undefined
      let deadline: NodeJS.Timeout | undefined
      let killTimer: NodeJS.Timeout | undefined
      let stdoutDone: Promise<void> = Promise.resolve()

      const finish = (error: Error | undefined, result?: RunResult): void => {
        if (settled) return
        settled = true
        clearTimeout(deadline)
        clearTimeout(killTimer)
        signal?.removeEventListener('abort', onAbort)
        if (inputStream !== undefined) {
          inputStream.unpipe(child.stdin)
          if (error === undefined) inputStream.resume()
          else inputStream.destroy()
        }
        if (error !== undefined) reject(error)
        else resolve(result as RunResult)
      }
      /** Ends the run early: SIGTERM, SIGKILL after a grace period; settles when ssh is gone. */
      const stop = (why: Error): void => {
        if (stopped !== undefined || settled) return
        stopped = why
        if (child.exitCode !== null || child.signalCode !== null) return finish(why)
        child.kill('SIGTERM')
        killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS)
      }
      const onAbort = (): void => stop(fail(`${name} cancelled`, {}, signal?.reason))

      if (Number.isFinite(timeoutMs) && timeoutMs > 0) {
        deadline = setTimeout(() => stop(fail(`no answer within ${timeoutMs} ms`, { timeoutMs })), timeoutMs)
      }
      signal?.addEventListener('abort', onAbort, { once: true })

      child.on('error', (e) => finish(fail(`cannot run ${this.#command}: ${e.message}`, {}, e)))

      // The command may exit without reading everything (EPIPE): its exit status tells the outcome.
      child.stdin.on('error', () => undefined)
      if (inputStream !== undefined) {
        inputStream.on('error', (e) => stop(isPluginError(e) ? e : fail(`input for ${name} failed: ${e.message}`, {}, e)))
        inputStream.pipe(child.stdin)
      } else if (input !== undefined) {
        child.stdin.end(input)
      } else {
        child.stdin.end()
      }

      child.stderr.on('data', (chunk: Buffer) => {
        err += chunk.toString('utf8')
        if (err.length > STDERR_LIMIT) err = err.slice(-STDERR_LIMIT)
      })
      if (stdoutTo !== undefined) {
        stdoutDone = pipeline(child.stdout, stdoutTo).catch((e: unknown) => {
          const why = e instanceof Error ? e : new Error(String(e))
          stop(fail(`output of ${name} could not be written: ${why.message}`, {}, why))
        })
      } else if (onStdout !== undefined) {
        child.stdout.on('data', (chunk: Buffer) => {
          try {
            onStdout(chunk)
          } catch (e) {
            stop(e instanceof Error ? e : new Error(String(e)))
          }
        })
      } else {
        child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
      }

      // Once stopped, ssh's exit is the end: a process it left behind may hold the pipes open.
      child.on('exit', () => {
        if (stopped === undefined) return
        child.stdout.destroy()
        child.stderr.destroy()
        finish(stopped)
      })
      child.on('close', (code, sig) => {
        clearTimeout(killTimer)
        void stdoutDone.then(() => {
          if (stopped !== undefined) return finish(stopped)
          if (code === 0) return finish(undefined, { stdout: Buffer.concat(out).toString('utf8'), stderr: err })
          const line = lastLine(err)
          if (code === 255) {
            return finish(new PluginError('HOST_UNREACHABLE', `${host}: ${line || 'ssh failed (exit 255)'}`, { context: { host, exitCode: 255 } }))
          }
          const status = code === null ? `signal ${sig ?? '?'}` : `exit ${code}`
          finish(fail(`${name} failed (${status})${line === '' ? '' : `: ${line}`}`, { exitCode: code ?? -1 }))
        })
      })
    })
  }
}

/**
 * Remote built from the environment: LINSTOR_VIRT_SSH (the ssh executable, default 'ssh') and
 * LINSTOR_VIRT_SSH_CONFIG (a file passed as -F, for a key or port other than oneadmin's defaults).
 */
export function remoteFromEnv(env: NodeJS.ProcessEnv = process.env): Remote {
  const command = env['LINSTOR_VIRT_SSH']
  const config = env['LINSTOR_VIRT_SSH_CONFIG']
  return new Remote({
    ...(command !== undefined && command !== '' ? { command } : {}),
    ...(config !== undefined && config !== '' ? { extraArgs: ['-F', config] } : {}),
  })
}

/**
 * mkfs of a filesystem type over whatever the device held, as OpenNebula's mkfs_command does (ext*
 * need -F, xfs and btrfs -f to write over an old signature). The type comes from users: checked.
 */
export function mkfsCommand(fs: string, device: string): string[] {
  if (!/^[a-z0-9]+$/.test(fs)) throw new PluginError('ONE_DOCUMENT_INVALID', `'${fs}' is not a filesystem type`)
  const force = fs.startsWith('ext') ? ['-F'] : fs === 'xfs' || fs === 'btrfs' ? ['-f'] : []
  return ['mkfs', '-t', fs, ...force, device]
}
