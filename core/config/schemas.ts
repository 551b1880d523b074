/**
 * JSON Schemas of every configuration linstor-virt validates. They are compiled at build time by
 * scripts/gen-validators.mjs into validators.generated.cjs (no ajv compile at run time); add a
 * schema here, add it to SCHEMAS, run `node scripts/gen-validators.mjs` and declare the new
 * export in validators.generated.d.cts.
 *
 * Keep this file free of runtime imports other than type imports: the generator bundles it alone.
 * `description` texts are shown to operators: "must be <description>".
 */
import type { JSONSchemaType } from 'ajv'
import type { PlacementPolicy } from '../placement/policy-types.js'

// LINSTOR name rules (reference linstor-rest.md §1.1): first character a letter or '_', then
// letters, digits, '_' and '-', at least one letter; resource and resource-group names 2-48
// characters, storage-pool names 3-48. The lookahead asks for the letter.
const RESOURCE_NAME = '^(?=[^A-Za-z]*[A-Za-z])[A-Za-z_][A-Za-z0-9_-]{1,47}$'
const STORAGE_POOL_NAME = '^(?=[^A-Za-z]*[A-Za-z])[A-Za-z_][A-Za-z0-9_-]{2,47}$'
// A property key is a path of non-empty segments (the controller allows up to 256 characters).
const PROP_KEY = '^[A-Za-z0-9_.:-]+(?:/[A-Za-z0-9_.:-]+)*$'
// A replica selector: a node property key, optionally with "=value".
const PROP_SELECTOR = '^[A-Za-z0-9_.:-]+(?:/[A-Za-z0-9_.:-]+)*(?:=\\S.*)?$'

/** replicasOnSame and replicasOnDifferent: lists of node property selectors. */
function propSelectorList(): { type: 'array'; nullable: true; uniqueItems: true; items: { type: 'string'; maxLength: number; pattern: string; description: string } } {
  return {
    type: 'array',
    nullable: true,
    uniqueItems: true,
    items: { type: 'string', maxLength: 512, pattern: PROP_SELECTOR, description: 'a node property key such as "Aux/site", optionally with "=value"' },
  }
}
const DRBD_OPTION_KEY = '^DrbdOptions/[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*$'

const NAME_RULES = "letters, digits, '_' and '-', starting with a letter or '_'"

/** One schema per validator; `exportName` is the name of the compiled function in the generated module. */
export interface SchemaEntry {
  exportName: string
  /** A JSON Schema with an `$id` (typed with ajv's JSONSchemaType where it is declared). */
  schema: object
}

/** A placement policy (core/placement) as adapters hand it in; null counts as "not set". */
export const placementPolicySchema: JSONSchemaType<PlacementPolicy> = {
  $id: 'linstor-virt/placement-policy',
  title: 'placement policy',
  type: 'object',
  additionalProperties: false,
  properties: {
    resourceGroup: {
      type: 'string',
      nullable: true,
      pattern: RESOURCE_NAME,
      description: `a LINSTOR resource group name (2 to 48 characters: ${NAME_RULES})`,
    },
    placeCount: { type: 'integer', nullable: true, minimum: 1, maximum: 16 },
    storagePools: {
      type: 'array',
      nullable: true,
      uniqueItems: true,
      items: { type: 'string', pattern: STORAGE_POOL_NAME, description: `a storage pool name (3 to 48 characters: ${NAME_RULES})` },
    },
    disklessStoragePools: {
      type: 'array',
      nullable: true,
      uniqueItems: true,
      items: { type: 'string', pattern: STORAGE_POOL_NAME, description: `a storage pool name (3 to 48 characters: ${NAME_RULES})` },
    },
    replicasOnSame: propSelectorList(),
    replicasOnDifferent: propSelectorList(),
    xReplicasOnDifferent: {
      type: 'object',
      nullable: true,
      required: [],
      propertyNames: { maxLength: 256, pattern: PROP_KEY, description: 'a node property key such as "Aux/rack"' },
      additionalProperties: { type: 'integer', minimum: 1, maximum: 16 },
    },
    doNotPlaceWith: {
      type: 'array',
      nullable: true,
      uniqueItems: true,
      items: { type: 'string', pattern: RESOURCE_NAME, description: `a resource name (2 to 48 characters: ${NAME_RULES})` },
    },
    doNotPlaceWithRegex: { type: 'string', nullable: true, minLength: 1, maxLength: 1024 },
    layers: {
      type: 'array',
      nullable: true,
      uniqueItems: true,
      minItems: 1,
      items: { type: 'string', enum: ['drbd', 'luks', 'nvme', 'writecache', 'cache', 'storage'] },
    },
    providers: {
      type: 'array',
      nullable: true,
      uniqueItems: true,
      items: {
        type: 'string',
        enum: ['LVM', 'LVM_THIN', 'ZFS', 'ZFS_THIN', 'FILE', 'FILE_THIN', 'SPDK', 'EBS_TARGET', 'STORAGE_SPACES', 'STORAGE_SPACES_THIN', 'REMOTE_SPDK'],
      },
    },
    disklessOnRemaining: { type: 'boolean', nullable: true },
    preferLocal: { type: 'boolean', nullable: true },
    exactSize: { type: 'boolean', nullable: true },
    drbdOptions: {
      type: 'object',
      nullable: true,
      required: [],
      propertyNames: { maxLength: 256, pattern: DRBD_OPTION_KEY, description: 'a DRBD option key starting with "DrbdOptions/"' },
      additionalProperties: { type: 'string', minLength: 1, maxLength: 4096 },
    },
  },
}

/**
 * A request of the call protocol (core/protocol), version 1. `arguments` and `config` are checked
 * by the operation that reads them; `config` may carry secrets, so its values are never shown.
 */
export const callRequestSchema = {
  $id: 'linstor-virt/call-request',
  type: 'object',
  additionalProperties: false,
  required: ['v', 'platform', 'operation'],
  properties: {
    v: { type: 'integer', enum: [1], description: 'the protocol version 1' },
    platform: { type: 'string', pattern: '^[a-z][a-z0-9-]{0,63}$', description: 'a lower-case platform name' },
    operation: { type: 'string', pattern: '^[a-z][a-z0-9_.-]{0,127}$', description: 'a lower-case operation name' },
    arguments: { type: 'object', description: 'an object of arguments' },
    config: { type: 'object', writeOnly: true, description: 'an object of settings' },
    deadlineMs: { type: 'integer', minimum: 1, maximum: 86_400_000, description: 'a whole number of milliseconds from 1 to 86400000' },
    id: { type: 'string', maxLength: 128 },
  },
} as const

/** Every schema compiled into validators.generated.cjs, in a fixed order (the output is deterministic). */
export const SCHEMAS: readonly SchemaEntry[] = [
  { exportName: 'placementPolicy', schema: placementPolicySchema },
  { exportName: 'callRequest', schema: callRequestSchema },
]
