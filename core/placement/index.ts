/**
 * Public face of core/placement: the placement policy every platform adapter fills from its own
 * configuration, the LINSTOR resource group each policy spawns from, and capacity per policy.
 * See docs/placement.md.
 *
 * @example
 * const policy = parsePlacementPolicy({ placeCount: 3, storagePools: ['ssd'] })
 * const groups = new ResourceGroups({ client })
 * const group = await groups.ensure(policy) // 'LinstorVirt-1a2b3c4d5e6f'
 * await client.resourceGroups.spawn(group, { resource_definition_name: 'vm-100-disk-0', volume_sizes: [10 * 1024 * 1024] })
 */
export { LAYERS, PROVIDERS } from './policy-types.js'
export type { PlacementPolicy, Layer, Provider } from './policy-types.js'
export {
  parsePlacementPolicy, policyKey, policyGroupName, selectFilterOf, layerListOf, spawnOverrides, definitionPropsOf,
  DEFAULT_PLACE_COUNT, GROUP_NAME_PREFIX,
} from './policy.js'
export type { ParsePolicyOptions } from './policy.js'
export { ResourceGroups, mergeFilters, POLICY_PROP, DERIVED_GROUP_DESCRIPTION, DEFAULT_GROUP_MAX_AGE_MS } from './resource-groups.js'
export type { ResourceGroupsOptions, ResolvedGroup } from './resource-groups.js'
export { CapacityCache, DEFAULT_CAPACITY_MAX_AGE_MS } from './capacity.js'
export type { Capacity, CapacityCacheOptions } from './capacity.js'
export { explainPlacementFailure, placementFacts, isPlacementFailure, filterWords, kibText } from './explain.js'
export type { PlacementAsk } from './explain.js'
