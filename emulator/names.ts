/**
 * LINSTOR object names: case-insensitive identifiers that keep their display spelling
 * (GenericName keeps an upper-cased key next to the display value), and the name checks the
 * controller applies before creating an object.
 */

/** The lookup key of a name (LINSTOR compares names upper-cased). */
export function nameKey(name: string): string {
  return name.toUpperCase()
}

const NAME_CHARS = /^[A-Za-z_][A-Za-z0-9_-]*$/
const HAS_LETTER = /[A-Za-z]/

/**
 * Checks a resource / snapshot / resource-group / storage-pool name. Returns an error message or
 * undefined. The rules: first char a letter or `_`, then `[A-Za-z0-9_-]`, at least one letter,
 * length in bytes between min and max.
 */
export function checkName(kind: string, name: unknown, min: number, max: number): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return `The ${kind} name must not be empty.`
  const bytes = Buffer.byteLength(name, 'utf8')
  if (bytes < min) return `Invalid name '${name}': the ${kind} name must be at least ${min} characters long.`
  if (bytes > max) return `Invalid name '${name}': the ${kind} name must not be longer than ${max} characters.`
  if (!NAME_CHARS.test(name)) {
    return `Invalid name '${name}': the ${kind} name must start with a letter or '_' and contain only letters, digits, '_' and '-'.`
  }
  if (!HAS_LETTER.test(name)) return `Invalid name '${name}': the ${kind} name must contain at least one letter.`
  return undefined
}

export const checkResourceName = (n: unknown): string | undefined => checkName('resource', n, 2, 48)
export const checkSnapshotName = (n: unknown): string | undefined => checkName('snapshot', n, 2, 48)
export const checkResourceGroupName = (n: unknown): string | undefined => checkName('resource group', n, 2, 48)
export const checkStoragePoolName = (n: unknown): string | undefined => checkName('storage pool', n, 3, 48)

const HOST_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/

/** Node names follow hostname rules: dot-separated labels of letters, digits and inner dashes. */
export function checkNodeName(name: unknown): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return 'The node name must not be empty.'
  if (name.length < 2 || name.length > 253) return `Invalid node name '${name}': length must be 2 to 253 characters.`
  for (const label of name.split('.')) {
    if (!HOST_LABEL.test(label)) return `Invalid node name '${name}': not a valid hostname.`
  }
  return undefined
}

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/

/**
 * Derives a LINSTOR resource name from an external name (the controller's ExternalNameConverter
 * idea): a UUID becomes "LS_" + the upper-cased UUID, a valid name is kept, otherwise characters
 * that cannot appear in a name are replaced by '_' (and a leading digit or '-' gets a '_' prefix),
 * truncated to 48 bytes. `taken` resolves collisions by appending a counter.
 */
export function resourceNameFromExternal(external: string, taken: (key: string) => boolean): string {
  let base: string
  if (UUID_RE.test(external)) {
    base = `LS_${external.toUpperCase()}`
  } else if (checkResourceName(external) === undefined) {
    base = external
  } else {
    base = Array.from(external)
      .map((c) => (/[A-Za-z0-9_-]/.test(c) ? c : '_'))
      .join('')
    if (!/^[A-Za-z_]/.test(base)) base = `_${base}`
    if (!HAS_LETTER.test(base)) base = `LS${base}`
    if (base.length < 2) base = `${base}_`
  }
  base = base.slice(0, 48)
  let candidate = base
  for (let n = 1; taken(nameKey(candidate)) && n < 10000; n++) {
    const suffix = `_${n}`
    candidate = base.slice(0, 48 - suffix.length) + suffix
  }
  return candidate
}
