/**
 * LINSTOR's rule for resource, snapshot and resource-group names (2-48 characters, a letter or '_'
 * first, then letters, digits, '_' and '-', and at least one letter: the controller refuses '__').
 */
const LINSTOR_NAME = /^(?=[^A-Za-z]*[A-Za-z])[A-Za-z_][A-Za-z0-9_-]{1,47}$/

/** True for a name LINSTOR accepts for a resource, snapshot or resource group. */
export function isLinstorName(name: string): boolean {
  return LINSTOR_NAME.test(name)
}
