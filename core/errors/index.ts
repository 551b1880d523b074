/** Public face of core/errors: the code catalogue and the base error classes. */
export { ERROR_CATALOGUE } from './catalogue.js'
export type { ErrorCode } from './catalogue.js'
export { PluginError, ConfigError, collectIssues, isPluginError } from './plugin-error.js'
export type { ErrorContext, PluginErrorOptions, ConfigIssue } from './plugin-error.js'
export { SETTING_IDS, settingIdOf, withFacts, factsOf, operatorMessage, inOperatorWords, linstorText, shortText, editDistance, nearestName } from './operator.js'
export type { SettingId, OperatorFacts, PlatformWords } from './operator.js'
