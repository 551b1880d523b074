import type { ErrorCode } from './catalogue.js'

/** Structured context that travels with an error (resource, node, platform action...). */
export type ErrorContext = Readonly<Record<string, string | number | boolean | undefined>>

export interface PluginErrorOptions {
  cause?: unknown
  context?: ErrorContext
}

/**
 * The base of every error linstor-virt throws on purpose. `code` comes from the catalogue;
 * `context` is structured data for logs and for the platform reply (never secrets).
 */
export class PluginError extends Error {
  readonly code: ErrorCode
  readonly context: ErrorContext

  constructor(code: ErrorCode, message: string, options: PluginErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'PluginError'
    this.code = code
    this.context = options.context ?? {}
  }

  /** A plain object for protocols and logs: code, message and details (context). */
  toJSON(): { code: ErrorCode; message: string; details: ErrorContext } {
    return { code: this.code, message: this.message, details: this.context }
  }
}

/** One configuration problem: where (a dotted path or setting name) and what is wrong. */
export interface ConfigIssue {
  setting: string
  problem: string
}

/** Invalid configuration; the message names every bad setting. */
export class ConfigError extends PluginError {
  readonly issues: readonly ConfigIssue[]

  constructor(issues: readonly ConfigIssue[], options: PluginErrorOptions = {}) {
    const text = issues.map((i) => `${i.setting}: ${i.problem}`).join('; ')
    super('CONFIG_INVALID', `invalid configuration: ${text}`, options)
    this.name = 'ConfigError'
    this.issues = issues
  }
}

/**
 * Runs a check that reports bad settings by throwing ConfigError, adding its issues to `issues`
 * instead, so a caller can name every bad setting at once. Any other error goes on.
 */
export function collectIssues<T>(issues: ConfigIssue[], check: () => T): T | undefined {
  try {
    return check()
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    issues.push(...err.issues)
    return undefined
  }
}

/** True for errors thrown by linstor-virt on purpose (works across bundles: checks the shape). */
export function isPluginError(err: unknown): err is PluginError {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'string' && 'context' in err
}
