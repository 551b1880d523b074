import { pino } from 'pino'
import type { DestinationStream, Logger as PinoLogger } from 'pino'

export type Logger = PinoLogger
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'

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

const LEVELS: ReadonlySet<string> = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])

/**
 * Creates the project's logger: JSON lines on stderr (stdout belongs to the platform protocols),
 * synchronous, with secrets redacted.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const envLevel = process.env['LINSTOR_VIRT_LOG_LEVEL']
  const level = envLevel !== undefined && LEVELS.has(envLevel) ? envLevel : (options.level ?? 'warn')
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

/** A logger that drops everything (for library callers that pass none). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}
