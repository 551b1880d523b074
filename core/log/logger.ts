/**
 * The project's logger: pino JSON lines on stderr (stdout belongs to the platform protocols),
 * synchronous, with secrets redacted.
 *
 * pino is loaded on first use, not at import: a one-shot `linstor-virt call` that logs nothing
 * never pays for it (about 6 ms of a 50 ms process start, measured by bench/agent). Until pino is
 * loaded, lines at an enabled level wait in a queue and are written, in order and with their own
 * bindings, as soon as it is; `flushLogs()` waits for that before a process exits on purpose.
 * Long-running services call `loadLogger()` to have pino loaded before their first line.
 */
import type { DestinationStream, Logger as PinoLogger, pino as pinoFn } from 'pino'

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'

/** A log call: `log.info('text')` or `log.info({ field }, 'text')`. */
export interface LogFn {
  (msg: string): void
  (obj: object, msg?: string): void
}

/** What linstor-virt's code uses of a logger (pino's Logger satisfies it). */
export interface Logger {
  fatal: LogFn
  error: LogFn
  warn: LogFn
  info: LogFn
  debug: LogFn
  trace: LogFn
  child(bindings: Record<string, unknown>): Logger
}

/**
 * Paths whose values are replaced before a line is written. Fixed here, never taken from input.
 * Secrets must also never be put into messages: redaction only works on structured fields.
 */
export const REDACT_PATHS: readonly string[] = [
  'token',
  'password',
  'secret',
  'passphrase',
  'authorization',
  '*.token',
  '*.password',
  '*.secret',
  '*.passphrase',
  '*.authorization',
  '*.bearerToken',
  'headers.authorization',
  '*.headers.authorization',
  'tls.key',
  '*.tls.key',
  'config.*.secret',
  'config.*.token',
  'config.*.password',
]

export interface LoggerOptions {
  /** Default 'warn' (CLIs); the emulator and the agent use 'info'. LINSTOR_VIRT_LOG_LEVEL overrides. */
  level?: LogLevel
  /** Bound as `name` on every line. */
  name?: string
  /** Where lines go; default fd 2 written synchronously (a short-lived process must not lose its last lines). */
  destination?: DestinationStream
}

const ORDER: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']
type Method = Exclude<LogLevel, 'silent'>

function levelOf(options: LoggerOptions): LogLevel {
  const env = process.env['LINSTOR_VIRT_LOG_LEVEL']
  return env !== undefined && (ORDER as readonly string[]).includes(env) ? (env as LogLevel) : (options.level ?? 'warn')
}

type PinoFactory = typeof pinoFn
let pinoModule: PinoFactory | undefined
let pinoLoading: Promise<PinoFactory> | undefined
const pending = new Set<Root>()

function loadPino(): Promise<PinoFactory> {
  const loading =
    pinoLoading ??
    // `default` is pino's module.exports both under Node and in the esbuild bundle (where a
    // dynamic import of a CommonJS module carries no named exports).
    import('pino').then((m) => {
      pinoModule = m.default
      for (const root of pending) root.drain()
      pending.clear()
      return m.default
    })
  pinoLoading = loading
  return loading
}

function makePino(pino: PinoFactory, options: LoggerOptions, level: LogLevel): PinoLogger {
  const destination = options.destination ?? pino.destination({ fd: 2, sync: true })
  return pino(
    {
      level,
      base: options.name === undefined ? { pid: process.pid } : { pid: process.pid, name: options.name },
      redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
    },
    destination,
  )
}

interface Queued {
  node: Deferred
  method: Method
  args: [unknown, string | undefined]
}

/** One createLogger() call: its options, its pino once loaded, and the lines waiting for it. */
class Root {
  real: PinoLogger | undefined
  readonly queue: Queued[] = []
  readonly options: LoggerOptions
  readonly level: LogLevel
  constructor(options: LoggerOptions, level: LogLevel) {
    this.options = options
    this.level = level
  }
  enabled(method: Method): boolean {
    return ORDER.indexOf(method) >= ORDER.indexOf(this.level)
  }
  drain(): void {
    if (pinoModule === undefined) return
    this.real ??= makePino(pinoModule, this.options, this.level)
    for (const q of this.queue.splice(0)) write(q.node.resolve(), q.method, q.args)
  }
}

function write(target: Logger, method: Method, args: [unknown, string | undefined]): void {
  const [first, msg] = args
  if (typeof first === 'string') target[method](first)
  else target[method](first as object, msg)
}

/** A logger (or child) whose pino is created when pino has loaded. */
class Deferred implements Logger {
  #resolved: Logger | undefined
  readonly root: Root
  readonly parent: Deferred | undefined
  readonly bindings: Record<string, unknown> | undefined
  constructor(root: Root, parent: Deferred | undefined, bindings: Record<string, unknown> | undefined) {
    this.root = root
    this.parent = parent
    this.bindings = bindings
  }
  resolve(): Logger {
    if (this.#resolved !== undefined) return this.#resolved
    const base: Logger = this.parent === undefined ? (this.root.real as PinoLogger) : this.parent.resolve()
    this.#resolved = this.bindings === undefined ? base : base.child(this.bindings)
    return this.#resolved
  }
  #log(method: Method, args: [unknown, string | undefined]): void {
    if (!this.root.enabled(method)) return
    if (pinoModule !== undefined) {
      this.root.drain()
      write(this.resolve(), method, args)
      return
    }
    this.root.queue.push({ node: this, method, args })
    pending.add(this.root)
    loadPino().catch((err: unknown) => process.stderr.write(`linstor-virt: logging unavailable: ${String(err)}\n`))
  }
  fatal: LogFn = (a: unknown, m?: string) => this.#log('fatal', [a, m])
  error: LogFn = (a: unknown, m?: string) => this.#log('error', [a, m])
  warn: LogFn = (a: unknown, m?: string) => this.#log('warn', [a, m])
  info: LogFn = (a: unknown, m?: string) => this.#log('info', [a, m])
  debug: LogFn = (a: unknown, m?: string) => this.#log('debug', [a, m])
  trace: LogFn = (a: unknown, m?: string) => this.#log('trace', [a, m])
  child(bindings: Record<string, unknown>): Logger {
    return new Deferred(this.root, this, bindings)
  }
}

/**
 * Creates a logger at once; pino is loaded when the first line at an enabled level is logged
 * (already loaded: the line is written synchronously).
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = levelOf(options)
  if (pinoModule !== undefined) return makePino(pinoModule, options, level)
  return new Deferred(new Root(options, level), undefined, undefined)
}

/** Loads pino first, then creates the logger: every line is written synchronously. */
export async function loadLogger(options: LoggerOptions = {}): Promise<Logger> {
  await loadPino()
  return createLogger(options)
}

/** Resolves when every line logged so far has been written (pino loaded if any was logged). */
export async function flushLogs(): Promise<void> {
  if (pinoLoading !== undefined) await pinoLoading
}

const noop: LogFn = () => undefined
const SILENT: Logger = { fatal: noop, error: noop, warn: noop, info: noop, debug: noop, trace: noop, child: () => SILENT }

/** A logger that drops everything (for library callers that pass none). */
export function silentLogger(): Logger {
  return SILENT
}
