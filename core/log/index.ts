/** Public face of core/log: the project's pino logger, on stderr, with secret redaction, pino loaded on first use. */
export { createLogger, loadLogger, flushLogs, silentLogger, REDACT_PATHS } from './logger.js'
export type { Logger, LogFn, LogLevel, LoggerOptions } from './logger.js'
