/**
 * LINSTOR names and the identity of the objects linstor-virt makes.
 *
 * LINSTOR compares resource and snapshot names without regard to case (it keeps the spelling it
 * was given for display) and limits them to 48 characters; the platforms do neither. So a
 * platform name maps to a LINSTOR name, and every object linstor-virt makes records the exact
 * platform name it was made for (AUX_PLATFORM_NAME). Before anything is written or deleted, the
 * object LINSTOR finds under the mapped name is checked to be the one the platform named:
 *
 * - it records a platform name: that must be the platform's name, exactly (case included);
 * - it records none (made by LINBIT's plugins, by hand, or by linstor-virt before the property
 *   existed): LINSTOR must spell it exactly as the mapped name, case included (its canonical name).
 *
 * Anything else is NAME_COLLISION, naming both names; nothing is created, changed or deleted.
 */
import { createHash } from 'node:crypto'
import { PluginError } from '../errors/index.js'
import type { Props } from '../linstor/index.js'

/**
 * LINSTOR's rule for resource, snapshot and resource-group names (2-48 characters, a letter or '_'
 * first, then letters, digits, '_' and '-', and at least one letter: the controller refuses '__').
 */
const LINSTOR_NAME = /^(?=[^A-Za-z]*[A-Za-z])[A-Za-z_][A-Za-z0-9_-]{1,47}$/

/** LINSTOR's longest resource or snapshot name. */
export const LINSTOR_NAME_MAX = 48

/** True for a name LINSTOR accepts for a resource, snapshot or resource group. */
export function isLinstorName(name: string): boolean {
  return LINSTOR_NAME.test(name)
}

/**
 * The exact platform name of a resource or snapshot linstor-virt made (a Proxmox volname, an
 * OpenNebula image SOURCE or disk name, a Cinder volume-<name_id>), on the resource definition or
 * the snapshot definition. One key for every platform.
 */
export const AUX_PLATFORM_NAME = 'Aux/linstor-virt/platform-name'

/** The first `hexDigits` hex digits of sha256(text), lower case: a stable, case-free fingerprint. */
export function nameHash(text: string, hexDigits = 32): string {
  return createHash('sha256').update(text, 'utf8').digest('hex').slice(0, hexDigits)
}

/**
 * `prefix + name + suffix` when that fits LINSTOR's 48 characters; otherwise the name is cut and
 * 16 hex digits of sha256(name) take the place of the cut, so two different names never shorten to
 * the same result (up to a 64-bit hash collision, which the identity check still catches).
 */
export function fitName(prefix: string, name: string, suffix = ''): string {
  const whole = `${prefix}${name}${suffix}`
  if (whole.length <= LINSTOR_NAME_MAX) return whole
  const hash = nameHash(name, 16)
  const room = LINSTOR_NAME_MAX - prefix.length - suffix.length - hash.length - 1
  return `${prefix}${name.slice(0, Math.max(0, room))}-${hash}${suffix}`
}

/** What a LINSTOR resource or snapshot is, as the identity check sees it. */
export interface NamedObject {
  /** The name as LINSTOR spells it. */
  name: string
  props: Props
}

/** The platform name an object records, or undefined (adopted, or made before the property existed). */
export function recordedName(o: NamedObject): string | undefined {
  return o.props[AUX_PLATFORM_NAME]
}

export interface IdentityExpectation {
  /** The platform's exact name of the object (default: the LINSTOR name it maps to). */
  platformName?: string
  /** How messages call the object, e.g. "volume", "image", "snapshot" (default: "resource"). */
  noun?: string
  /**
   * The platform name an object that records none implies by its own properties, when the
   * platform's older plugin kept one (linstor-proxmox: the VM id in Aux/pm/vmid); undefined: none.
   */
  impliedName?: (found: NamedObject) => string | undefined
  /**
   * The caller names the object by its LINSTOR spelling, not by a platform's name (the "core"
   * platform's calls, diagnostics): it must be spelled exactly so, whichever platform name it records.
   */
  byLinstorName?: boolean
}

/**
 * True when `found` (looked up by `linstorName`) is the object of `platformName`: it records that
 * name exactly; or it records none, LINSTOR spells it exactly `linstorName`, and what its own
 * properties imply (when anything) is `platformName`.
 */
export function isIdentical(found: NamedObject, linstorName: string, platformName: string, impliedName?: IdentityExpectation['impliedName']): boolean {
  const recorded = recordedName(found)
  if (recorded !== undefined) return recorded === platformName
  if (found.name !== linstorName) return false
  const implied = impliedName?.(found)
  return implied === undefined || implied === platformName
}

/**
 * Refuses (NAME_COLLISION) when `found` is not the object of `platformName`; the message names the
 * platform name asked for and the name the object belongs to.
 */
export function assertIdentity(kind: 'resource' | 'snapshot', found: NamedObject, linstorName: string, expect: IdentityExpectation = {}, owner?: string): void {
  const platformName = expect.platformName ?? linstorName
  if (expect.byLinstorName === true ? found.name === linstorName : isIdentical(found, linstorName, platformName, expect.impliedName)) return
  const recorded = recordedName(found)
  const implied = recorded === undefined && found.name === linstorName ? expect.impliedName?.(found) : undefined
  const holder = expect.byLinstorName === true ? found.name : (recorded ?? implied ?? found.name)
  const noun = expect.noun ?? kind
  const where = kind === 'snapshot' && owner !== undefined ? ` of ${owner}` : ''
  const why = expect.byLinstorName !== true && (recorded !== undefined || implied !== undefined) ? `belongs to ${holder}` : `is spelled ${found.name}, not ${linstorName}: another object`
  throw new PluginError(
    'NAME_COLLISION',
    `${noun} ${platformName} cannot be used: LINSTOR ${kind} ${found.name}${where} ${why} (LINSTOR compares names without regard to case); nothing was changed`,
    { context: { [kind]: found.name, wanted: platformName, holder } },
  )
}
