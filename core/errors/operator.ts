/**
 * Operators' words: one mechanism for every message about a setting.
 *
 * The core knows settings only by a neutral identity (SettingId: `resourceGroup`, `controllers`,
 * `tokenFile`, ...). Where it fails because of one, it attaches OperatorFacts to the error: which
 * setting, what is wrong, what to do, and the controller's own text. Each adapter has one
 * error-output place that calls `inOperatorWords(err, words)` with its PlatformWords, which name the
 * object and the key the operator wrote (`storage drbd1: linstor-resource-group 'nosuch'`,
 * `datastore 100: LINSTOR_RESOURCE_GROUP="nosuch"`, `volume type "gold": linstor:resource_group
 * "nosuch"`). The result is one line (where, cause, fix) and, on a second line, the controller's
 * (or the transport's) text, shortened; the full text stays in the error's cause for the debug log.
 */
import { ConfigError, PluginError, isPluginError } from './plugin-error.js'
import type { ConfigIssue, ErrorContext } from './plugin-error.js'

/** Every setting the core reads, by a name no platform uses: the adapters translate these. */
export const SETTING_IDS = [
  'controllers',
  'tokenFile',
  'caFile',
  'certFile',
  'keyFile',
  'localNode',
  'controllerVolumes',
  'resourceGroup',
  'placeCount',
  'storagePools',
  'disklessStoragePools',
  'replicasOnSame',
  'replicasOnDifferent',
  'xReplicasOnDifferent',
  'doNotPlaceWith',
  'doNotPlaceWithRegex',
  'layers',
  'providers',
  'disklessOnRemaining',
  'preferLocal',
  'exactSize',
  'drbdOptions',
] as const

/** The neutral identity of a setting. */
export type SettingId = (typeof SETTING_IDS)[number]

/** Spellings the core's own code uses in ConfigIssue.setting, and the setting each one is. */
const ALIASES: Readonly<Record<string, SettingId>> = {
  'tls.caFile': 'caFile',
  'tls.certFile': 'certFile',
  'tls.keyFile': 'keyFile',
  'tls.cert': 'certFile',
  'tls.key': 'keyFile',
  token_file: 'tokenFile',
}

/** The SettingId a core spelling stands for (undefined: a platform's own name, left as it is). */
export function settingIdOf(name: string): SettingId | undefined {
  if ((SETTING_IDS as readonly string[]).includes(name)) return name as SettingId
  return ALIASES[name]
}

/** What an operator needs to act on an error, in neutral words. */
export interface OperatorFacts {
  /** The setting at fault; absent when none is (the cluster lacks space, say). */
  setting?: SettingId
  /** The cause, as a clause that reads after the setting: "LINSTOR has no resource group of this name". */
  problem: string
  /** What to do about it. */
  fix?: string
  /** The controller's (or the transport's) own text, shown shortened on a second line. */
  detail?: string
}

/**
 * How one platform names what the operator configured. `where(setting)` is the lead of a message:
 * the object (storage, datastore, volume type, backend section) and, given a setting, the key the
 * operator wrote with its value or where its value came from when it is not set.
 */
export interface PlatformWords {
  where(setting?: SettingId): string
  /** The platform's own way to fix a setting, when it has one (e.g. the command that sets it); else the core's fix is used. */
  fix?(setting: SettingId): string | undefined
}

const FACTS = Symbol.for('linstor-virt.operator-facts')
const TRANSLATED = Symbol.for('linstor-virt.operator-words')

/** Attaches facts to an error and returns it (works on any PluginError, also across bundles). */
export function withFacts<E extends Error>(err: E, facts: OperatorFacts): E {
  Object.defineProperty(err, FACTS, { value: facts, enumerable: false, configurable: true })
  return err
}

/** A LINSTOR client error's text without the request line, and without the criteria dump of its Details. */
export function linstorText(message: string): string {
  const body = message.replace(/^LINSTOR [A-Z]+ \S+ failed: /, '')
  return body.replace(/ Details: [\s\S]*?(?= Error report: |; |$)/g, '')
}

/** One line of at most `max` characters (whitespace folded; an ellipsis where it was cut). */
export function shortText(text: string, max = 200): string {
  const one = text.replace(/\s+/g, ' ').trim()
  return one.length <= max ? one : `${one.slice(0, max - 1).trimEnd()}…`
}

/** Facts for the errors whose code alone says which setting is at fault. */
function inferred(err: PluginError): OperatorFacts | undefined {
  switch (err.code) {
    case 'LINSTOR_UNAVAILABLE':
      return {
        setting: 'controllers',
        problem: 'no LINSTOR controller answered',
        fix: 'start the controller or correct the address (each must be reachable from this host)',
        // Which request found them down varies (reads run in parallel); the debug log has it.
        detail: err.message.replace(/^no LINSTOR controller reachable for [A-Z]+ \S+: /, 'tried '),
      }
    case 'LINSTOR_DEADLINE':
      return {
        setting: 'controllers',
        problem: 'the LINSTOR controller did not answer in time',
        fix: 'check the controller and its satellites (linstor node list), then repeat: the operation is safe to repeat',
        detail: err.message,
      }
    case 'LINSTOR_OUTCOME_UNKNOWN':
      return {
        setting: 'controllers',
        problem: 'the connection to the LINSTOR controller broke after the request was sent',
        fix: 'repeat the operation: it is safe to repeat',
        detail: err.message,
      }
    case 'LINSTOR_UNAUTHORIZED':
      return {
        setting: 'tokenFile',
        problem: 'the LINSTOR controller refused the request (not authorized)',
        fix: 'give the token the controller expects (and the client certificate, if it asks for one)',
        detail: `LINSTOR: ${linstorText(err.message)}`,
      }
    case 'LINSTOR_NOT_FOUND': {
      // A node the platform named (this host, or the host a volume is attached to) is not a LINSTOR node.
      const node = /\[FAIL_NOT_FOUND_NODE\]/.test(err.message) ? /Node '([^']+)' not found/.exec(err.message)?.[1] : undefined
      if (node === undefined) return undefined
      return {
        setting: 'localNode',
        problem: `LINSTOR has no node ${node}`,
        fix: 'add the host to LINSTOR as a satellite under that name, or map the platform\'s name to its LINSTOR node name',
        detail: `LINSTOR: ${linstorText(err.message)}`,
      }
    }
    case 'PLACEMENT_GROUP_MISSING': {
      const name = typeof err.context['resourceGroup'] === 'string' ? err.context['resourceGroup'] : '<name>'
      return {
        setting: 'resourceGroup',
        problem: 'LINSTOR has no resource group of this name',
        fix: `create it (linstor resource-group create ${name} --place-count 2) or name another`,
      }
    }
    default:
      return undefined
  }
}

/** The facts attached to an error, or those its code implies; undefined for anything else. */
export function factsOf(err: unknown): OperatorFacts | undefined {
  if (!isPluginError(err)) return undefined
  const attached = (err as unknown as Record<symbol, OperatorFacts | undefined>)[FACTS]
  return attached ?? inferred(err)
}

/** What to do about a file or address setting the core could not use, when the issue does not say. */
const DEFAULT_FIX: Partial<Record<SettingId, string>> = {
  tokenFile: 'put the controller\'s token in that file (readable by linstor-virt), or unset the setting',
  caFile: 'point it at a readable PEM file',
  certFile: 'point it at a readable PEM file',
  keyFile: 'point it at a readable PEM file',
  controllers: 'write each as linstor://host, linstor+ssl://host, http(s)://host:port or host[:port]',
}

/** The one line (and the detail line) for facts, in the platform's words. */
export function operatorMessage(facts: OperatorFacts, words: PlatformWords): string {
  const fix = (facts.setting !== undefined ? words.fix?.(facts.setting) : undefined) ?? facts.fix
  const line = `${words.where(facts.setting)}: ${facts.problem}${fix !== undefined && fix !== '' ? `; ${fix}` : ''}`
  return facts.detail !== undefined && facts.detail !== '' ? `${line}\n${shortText(facts.detail)}` : line
}

function issueLine(issue: ConfigIssue, words: PlatformWords): string | undefined {
  const id = settingIdOf(issue.setting)
  if (id === undefined) return undefined
  const fix = words.fix?.(id) ?? DEFAULT_FIX[id]
  return `${words.where(id)}: ${issue.problem}${fix !== undefined ? `; ${fix}` : ''}`
}

/**
 * The error as the operator should read it: errors about a setting are rewritten in the platform's
 * words (same code; the original is the cause), everything else is returned unchanged. Safe to
 * apply twice.
 */
export function inOperatorWords(err: unknown, words: PlatformWords): unknown {
  if (!isPluginError(err) || (err as unknown as Record<symbol, unknown>)[TRANSLATED] === true) return err
  let out: PluginError | undefined
  const facts = factsOf(err)
  if (facts !== undefined) {
    out = new PluginError(err.code, operatorMessage(facts, words), { cause: err, context: contextOf(err, facts) })
  } else if (err instanceof ConfigError || (err.code === 'CONFIG_INVALID' && Array.isArray((err as Partial<ConfigError>).issues))) {
    // One "<where>: <problem>" per bad setting: the core's names in the platform's words, the
    // adapter's own issues (which name the object and key already) as they are.
    const issues = (err as ConfigError).issues
    const text = issues.map((i) => issueLine(i, words) ?? `${i.setting}: ${i.problem}`).join('; ')
    out = new PluginError('CONFIG_INVALID', text, { cause: err, context: err.context })
  }
  if (out === undefined) return err
  Object.defineProperty(out, TRANSLATED, { value: true, enumerable: false })
  return out
}

function contextOf(err: PluginError, facts: OperatorFacts): ErrorContext {
  return { ...err.context, ...(facts.setting !== undefined ? { setting: facts.setting } : {}), ...(facts.detail !== undefined ? { detail: shortText(facts.detail, 1000) } : {}) }
}

/** Edit distance with adjacent transpositions (optimal string alignment), case-insensitive. */
export function editDistance(a: string, b: string): number {
  const x = a.toLowerCase()
  const y = b.toLowerCase()
  const d: number[][] = Array.from({ length: x.length + 1 }, (_, i) => Array.from({ length: y.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)))
  for (let i = 1; i <= x.length; i++) {
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1
      const row = d[i] as number[]
      const prev = d[i - 1] as number[]
      let v = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost)
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) v = Math.min(v, ((d[i - 2] as number[])[j - 2] as number) + 1)
      row[j] = v
    }
  }
  return (d[x.length] as number[])[y.length] as number
}

/**
 * The known name nearest to `name` (fewest edits; ties: the first in `known`), or undefined when
 * even the nearest needs more edits than a slip of the keyboard (a third of the name, at least 2).
 */
export function nearestName(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Infinity
  for (const k of known) {
    const dist = editDistance(name, k)
    if (dist < bestDistance) [best, bestDistance] = [k, dist]
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined
}
