/**
 * The doctor: finds what the lifecycle should have left clean and, when asked, repairs what is safe.
 *
 * - unused-diskless: a diskless client that nobody uses (not Primary, not a tie-breaker, not part
 *   of a recorded migration, not wanted by a diskless-on-remaining policy). Fix: delete it (with
 *   keep_tiebreaker, so LINSTOR keeps it if quorum needs it). No data lives on a diskless client.
 * - migration-left: a migration record (so possibly dual-primary) left by a crash or a platform
 *   that never finished. Fix, only when at most one end is in use: finish it towards that end.
 * - under-replicated: fewer diskful replicas than the resource group's place count. Fix: autoplace,
 *   which only adds replicas.
 * - unreferenced: a resource linstor-virt created that no platform references (the adapters say
 *   which are referenced). Never fixed: deleting data is the operator's decision.
 * - unused-group: a resource group linstor-virt derived for a placement policy (LinstorVirt-<hash>)
 *   that no resource definition uses and no platform setting names (the adapters say which groups
 *   their settings name; without that list the check does not run). Fix: delete it (LINSTOR
 *   refuses while a definition uses it; a policy that needs it again makes it again).
 * - pending: what a start or stop on this host could not tell LINSTOR because no controller
 *   answered in time (a pending record in the host's state folder). Fix: settle it (remove the
 *   client nobody uses, end the migration, keep a tie-breaker the VM started from as a client).
 *   Fixed first, so the cluster is examined after.
 * - unused-initiator: an NVMe-oF initiator on a node that is neither the recorded host nor an end
 *   of a recorded migration (LINSTOR reports no use for NVMe; core/lifecycle/stacks.ts records
 *   the host). Fix: delete it (the data lives on the target).
 * - dr-unproxied: a disaster-recovery replica with a connection that does not run through DRBD
 *   Proxy (a crash between adding it and enabling the proxies, or a client made by hand). Fix:
 *   enable the proxy (protocol A on that connection).
 * - dual-primary-left: allow-two-primaries that linstor-virt switched on for a pair of nodes (its
 *   mark on the definition says so, and what it replaced) while no migration record accounts for
 *   it (two racing migrations of an older version, a record removed by hand). Fix: restore the
 *   connection's own value and remove the mark. An operator's own allow-two-primaries (no mark)
 *   is never reported.
 * - migration-left also reports a claim of a migration whose begin ended without turning it into
 *   a record (a crash in the few ms between the two writes). Fix: remove it (a claim holds nothing).
 *
 * The disaster-recovery replica never counts toward the local redundancy (under-replicated).
 *
 * Diskful data is never touched, and nothing is done to a controller VM's volumes.
 */
import type { Storage } from '../storage/index.js'
import { joins, readClaims, readDualPrimaryMarks, readMigrationRecord, writesUntil } from '../lifecycle/index.js'
import type { ResourceConnection, ResourceGroup } from '../linstor/index.js'
import { NvmeAttachments } from '../lifecycle/index.js'
import { GROUP_NAME_PREFIX, POLICY_PROP } from '../placement/index.js'
import { AUX_CREATED_BY, PROXY_FLAG, drReplicas, localDiskful, resourceInfoOf, sameNode, stackOf } from '../volumes/index.js'
import type { ResourceInfo } from '../volumes/index.js'

export type FindingKind = 'unused-diskless' | 'migration-left' | 'under-replicated' | 'unreferenced' | 'unused-group' | 'unused-initiator' | 'dr-unproxied' | 'dual-primary-left' | 'pending'

export interface Finding {
  kind: FindingKind
  resource: string
  node?: string
  detail: string
  /** The doctor may repair it with fix. */
  fixable: boolean
  /** Repaired in this run. */
  fixed?: boolean
  /** Why a repair failed. */
  error?: string
}

export interface DoctorOptions {
  fix?: boolean
  /** Names the platforms reference; when given, linstor-virt's own unreferenced resources are reported. */
  referenced?: ReadonlySet<string>
  /** Only look at these resources (default all). */
  resources?: readonly string[]
  /** Clock for the age of migration records (tests). */
  now?: () => Date
  /**
   * Resource groups the platforms' settings name (their own or the derived LinstorVirt-<hash> of
   * their policies); when given (and `resources` is not), linstor-virt's derived groups that no
   * definition uses and that are not in this set are reported as unused-group.
   */
  referencedGroups?: ReadonlySet<string>
}

export interface DoctorReport {
  checked: number
  findings: Finding[]
  /** Resources asked for by name (`resources`) that LINSTOR does not have. */
  missing: string[]
  /** No finding left unrepaired and nothing asked for missing. */
  healthy: boolean
}

const DEFAULT_PLACE_COUNT = 2
/** An NVMe-oF migration record older than this is settled towards its target (NVMe reports no use to go by). */
export const NVME_MIGRATION_GRACE_MS = 10 * 60_000

/**
 * The findings for one resource (pure: no I/O, nothing repaired), as runDoctor makes them; `status`
 * shows them beside each volume. `protectedVolume`: a controller VM's volume (nothing fixable).
 * `seen.conns`: the resource's connections, read by runDoctor only for resources with a
 * disaster-recovery replica (without them dr-unproxied is not judged); `seen.now`: the clock for
 * the age of NVMe-oF migration records.
 */
export function examineResource(info: ResourceInfo, group: ResourceGroup | undefined, opts: Pick<DoctorOptions, 'referenced'> = {}, protectedVolume = false, seen: { conns?: readonly ResourceConnection[]; now?: Date } = {}): Finding[] {
  const conns = seen.conns
  const now = seen.now ?? new Date()
  const out: Finding[] = []
  const record = readMigrationRecord(info.props)
  const fixable = !protectedVolume
  const nvme = stackOf(info.layers) === 'nvme'
  if (record !== undefined) {
    const busy = info.replicas.filter((r) => r.inUse === true).map((r) => r.node)
    const age = now.getTime() - Date.parse(record.since)
    const old = !Number.isFinite(age) || age >= NVME_MIGRATION_GRACE_MS
    out.push({
      kind: 'migration-left',
      resource: info.name,
      detail: nvme
        ? `NVMe-oF migration ${record.from || '?'} → ${record.to || '?'} recorded since ${record.since || 'unknown'}; NVMe reports no use, ${old ? 'settled towards ' + (record.to || '?') : `left alone for ${NVME_MIGRATION_GRACE_MS / 60_000} minutes`}`
        : `migration ${record.from || '?'} → ${record.to || '?'} recorded since ${record.since || 'unknown'}${record.set ? ', allow-two-primaries on for that pair' : ''}; in use on ${busy.join(', ') || 'no node'}`,
      fixable: fixable && (nvme ? old : busy.length <= 1),
    })
  }
  // Claims of migrations whose begin ended (past its time) without a record: left by a crash.
  for (const c of readClaims(info.props).filter((x) => now.getTime() >= writesUntil(x))) {
    out.push({ kind: 'migration-left', resource: info.name, detail: `claim of a migration ${c.from || '?'} → ${c.to || '?'} made at ${c.since || 'an unknown time'} whose begin never finished; it holds nothing`, fixable })
  }
  // allow-two-primaries linstor-virt set for a pair that no migration record accounts for.
  for (const m of readDualPrimaryMarks(info.props)) {
    if (record !== undefined && joins(record, m.nodes[0], m.nodes[1])) continue
    out.push({
      kind: 'dual-primary-left',
      resource: info.name,
      node: `${m.nodes[0]},${m.nodes[1]}`,
      detail: `allow-two-primaries that linstor-virt set on the connection ${m.nodes[0]} - ${m.nodes[1]}${m.since !== '' ? ` at ${m.since}` : ''} and no migration accounts for (it was ${m.previous === undefined ? 'unset' : `'${m.previous}'`} before)`,
      fixable,
    })
  }
  if (nvme) {
    for (const r of NvmeAttachments.leftovers(info)) {
      out.push({ kind: 'unused-initiator', resource: info.name, node: r.node, detail: `NVMe-oF initiator on ${r.node}, where no attach is recorded`, fixable })
    }
  }
  const seenConns = conns ?? []
  for (const d of conns === undefined ? [] : drReplicas(info)) {
    const missing = info.replicas.filter(
      (r) => r.dr !== true && !seenConns.some((c) => c.flags.includes(PROXY_FLAG) && ((sameNode(c.node_a, r.node) && sameNode(c.node_b, d.node)) || (sameNode(c.node_a, d.node) && sameNode(c.node_b, r.node)))),
    )
    if (missing.length > 0) {
      out.push({ kind: 'dr-unproxied', resource: info.name, node: d.node, detail: `disaster-recovery replica on ${d.node} has no DRBD Proxy towards ${missing.map((r) => r.node).join(', ')}`, fixable })
    }
  }
  const onRemaining = group?.select_filter.diskless_on_remaining === true
  for (const r of info.replicas) {
    if (r.kind !== 'diskless' || r.inUse !== false || onRemaining) continue
    if (record !== undefined && [record.from, record.to].some((n) => n.toLowerCase() === r.node.toLowerCase())) continue
    out.push({ kind: 'unused-diskless', resource: info.name, node: r.node, detail: `diskless client on ${r.node} is not in use`, fixable })
  }
  const want = group?.select_filter.place_count ?? DEFAULT_PLACE_COUNT
  // The disaster-recovery replica is no local redundancy.
  const have = localDiskful(info).length
  if (have < want && info.volumes.length > 0) {
    const dr = drReplicas(info).length
    out.push({ kind: 'under-replicated', resource: info.name, detail: `${have} diskful replica(s)${dr > 0 ? ` besides the disaster-recovery one` : ''}, the group ${info.resourceGroup ?? '(none)'} asks for ${want}`, fixable })
  }
  if (opts.referenced !== undefined && info.props[AUX_CREATED_BY] !== undefined && !opts.referenced.has(info.name) && !protectedVolume) {
    out.push({ kind: 'unreferenced', resource: info.name, detail: 'created by linstor-virt but referenced by no platform volume', fixable: false })
  }
  return out
}

/** Examines the cluster (three GETs) and, with fix, repairs each fixable finding under its resource's lock. */
export async function runDoctor(storage: Storage, opts: DoctorOptions = {}): Promise<DoctorReport> {
  const c = storage.client
  const names = opts.resources
  const wanted = (resource: string): boolean => names === undefined || names.some((n) => n.toLowerCase() === resource.toLowerCase())
  // What this host could not tell LINSTOR: settled first (with fix), so what the cluster shows after is current.
  const pendingFindings: Finding[] = []
  for (const record of storage.pending().filter((r) => wanted(r.resource))) {
    const f: Finding = {
      kind: 'pending',
      resource: record.resource,
      node: record.node,
      detail: `${record.intent === 'detach' ? 'stopped' : 'started'} on ${record.node} at ${record.since} while no controller answered (${record.reason}); ${record.intent === 'detach' ? 'its client and any migration it ended' : 'keeping a tie-breaker it started from as a client'} still to be told to LINSTOR`,
      fixable: !storage.guard.isProtected(record.resource),
    }
    if (opts.fix === true && f.fixable) {
      try {
        f.fixed = (await storage.withLock(record.resource, () => storage.attachments.settle(record))) === 'settled'
        if (!f.fixed) f.error = 'no controller gave a usable answer yet'
      } catch (err) {
        f.fixed = false
        f.error = err instanceof Error ? err.message : String(err)
      }
    }
    pendingFindings.push(f)
  }
  const [rds, rows, groups] = await Promise.all([
    c.resourceDefinitions.list({ withVolumeDefinitions: true, ...(names !== undefined ? { resourceDefinitions: names } : {}) }),
    c.view.resources(names !== undefined ? { resources: names } : {}),
    c.resourceGroups.list(),
  ])
  const byGroup = new Map(groups.map((g) => [g.name.toLowerCase(), g]))
  const findings: Finding[] = [...pendingFindings]
  const now = opts.now?.() ?? new Date()
  for (const rd of rds) {
    const info = resourceInfoOf(rd, rows.filter((r) => r.name.toLowerCase() === rd.name.toLowerCase()))
    const group = byGroup.get((info.resourceGroup ?? 'DfltRscGrp').toLowerCase())
    // Only resources with a disaster-recovery replica need their connections read.
    const conns = drReplicas(info).length > 0 ? await c.resourceDefinitions.connections(info.name) : undefined
    findings.push(...examineResource(info, group, opts, storage.guard.isProtected(info.name), { ...(conns !== undefined ? { conns } : {}), now }))
  }
  if (opts.fix === true) {
    for (const f of findings.filter((x) => x.fixable && x.kind !== 'pending')) {
      try {
        f.fixed = await storage.withLock(f.resource, () => repair(storage, f))
      } catch (err) {
        f.fixed = false
        f.error = err instanceof Error ? err.message : String(err)
      }
    }
  }
  if (opts.referencedGroups !== undefined && names === undefined) {
    findings.push(...unusedGroups(groups, rds.map((rd) => rd.resource_group_name ?? 'DfltRscGrp'), opts.referencedGroups))
    if (opts.fix === true) {
      for (const f of findings.filter((x) => x.kind === 'unused-group' && x.fixed === undefined)) {
        try {
          f.fixed = await storage.withLock(f.resource, () => repair(storage, f))
        } catch (err) {
          f.fixed = false
          f.error = err instanceof Error ? err.message : String(err)
        }
      }
    }
  }
  const known = new Set(rds.map((rd) => rd.name.toLowerCase()))
  const missing = (names ?? []).filter((n) => !known.has(n.toLowerCase()))
  return { checked: rds.length, findings, missing, healthy: missing.length === 0 && findings.every((f) => f.fixed === true) }
}

/** Derived groups (prefix and policy property) that no definition uses and no setting names. */
function unusedGroups(groups: readonly ResourceGroup[], used: readonly string[], referenced: ReadonlySet<string>): Finding[] {
  const inUse = new Set(used.map((g) => g.toLowerCase()))
  const named = new Set([...referenced].map((g) => g.toLowerCase()))
  return groups
    .filter((g) => g.name.toLowerCase().startsWith(GROUP_NAME_PREFIX.toLowerCase()) && g.props[POLICY_PROP] !== undefined)
    .filter((g) => !inUse.has(g.name.toLowerCase()) && !named.has(g.name.toLowerCase()))
    .map((g) => ({
      kind: 'unused-group' as const,
      resource: g.name,
      detail: `resource group linstor-virt made for placement policy ${g.props[POLICY_PROP] ?? ''}; no volume uses it and no platform setting names it`,
      fixable: true,
    }))
}

async function repair(storage: Storage, f: Finding): Promise<boolean> {
  switch (f.kind) {
    case 'migration-left':
      return storage.attachments.settleMigration(f.resource)
    case 'dual-primary-left': {
      const [a, b] = (f.node ?? '').split(',')
      return a !== undefined && b !== undefined && storage.attachments.clearDualPrimary(f.resource, a, b)
    }
    case 'unused-diskless': {
      // Re-check under the lock: the client may have been put to use meanwhile.
      const d = await storage.attachments.detach(f.resource, f.node ?? '', { budgetMs: Number.POSITIVE_INFINITY })
      return d.removed
    }
    case 'under-replicated': {
      const info = await storage.volumes.info(f.resource)
      if (info === undefined) return false
      const dr = drReplicas(info)
      if (dr.length === 0) {
        await storage.client.resources.autoplace(info.name, { select_filter: {} })
        return true
      }
      // LINSTOR counts the DR replica as placed: ask for the missing local ones explicitly.
      const group = info.resourceGroup === undefined ? undefined : await storage.client.resourceGroups.get(info.resourceGroup)
      const missing = (group?.select_filter.place_count ?? DEFAULT_PLACE_COUNT) - localDiskful(info).length
      if (missing <= 0) return true
      await storage.client.resources.autoplace(info.name, { select_filter: { additional_place_count: missing } })
      return true
    }
    case 'unused-initiator': {
      // Re-check under the lock: an attach may have recorded it meanwhile.
      const info = await storage.volumes.info(f.resource)
      const r = info === undefined ? undefined : NvmeAttachments.leftovers(info).find((x) => sameNode(x.node, f.node ?? ''))
      if (info === undefined || r === undefined) return false
      await storage.client.resources.delete(info.name, r.node)
      return true
    }
    case 'dr-unproxied': {
      const info = await storage.volumes.info(f.resource)
      if (info === undefined) return false
      await storage.dr.ensureProxies(info)
      return true
    }
    case 'unreferenced':
    case 'pending':
      return false
    case 'unused-group':
      // LINSTOR refuses (FAIL_EXISTS_RSC_DFN) if a volume was made in it meanwhile: then it stays.
      await storage.client.resourceGroups.delete(f.resource)
      storage.groups.invalidate()
      return true
  }
}
