/**
 * Public face of core/config: JSON Schemas of the project's configuration and their validators,
 * compiled at build time (scripts/gen-validators.mjs → validators.generated.cjs), with errors
 * turned into ConfigError issues that name the operator's own settings.
 */
export { validate, configIssues, describeErrors, settingName } from './validate.js'
export type { ValidateOptions, ValidatorName } from './validate.js'
export { SCHEMAS, placementPolicySchema, callRequestSchema } from './schemas.js'
export type { SchemaEntry } from './schemas.js'
