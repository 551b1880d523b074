/** Public face of core/log: the project's pino logger, on stderr, with secret redaction. */
export { createLogger, silentLogger, REDACT_PATHS } from './logger.js'
export type { Logger, LogLevel, LoggerOptions } from './logger.js'
