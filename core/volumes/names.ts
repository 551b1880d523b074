/** LINSTOR's rule for resource, snapshot and resource-group names (2-48 characters). */
const LINSTOR_NAME = /^[A-Za-z_][A-Za-z0-9_-]{1,47}$/

/** True for a name LINSTOR accepts for a resource, snapshot or resource group. */
export function isLinstorName(name: string): boolean {
  return LINSTOR_NAME.test(name)
}
