/**
 * The sandbox's other stories (`linstor-virt sandbox --story nvme|dr`), told against the emulator's
 * disaggregated cluster (DISAGGREGATED_CLUSTER = emulator/clusters/disaggregated.yaml) with the real core, checking
 * invariants after every step as the founding story does (story.ts):
 *
 * - nvme: disaggregated NVMe-oF. A volume's data on a storage node without DRBD (an NVMe-oF
 *   target), a VM on a compute node without DRBD reaching it through an NVMe initiator, a live
 *   migration to the other compute node with two initiators for the window only and never
 *   dual-primary, the VM stopped, a storage-only disk refused on another node, a leftover
 *   initiator found and removed by the doctor, the data checksum through the fabric.
 * - dr: a disaster-recovery replica. A running VM's DRBD volume extended to the DR site through
 *   DRBD Proxy (protocol A on those connections only), proxy compression and memory limit set,
 *   a burst of writes larger than the proxy's buffer (DRBD pulls ahead: Ahead/Behind), the WAN
 *   catching up (SyncSource/SyncTarget with done %, then Established), the data checksum on the
 *   DR node, the doctor, and the DR replica removed again.
 *
 * The emulator's clock is virtual in the dr story: the story lets WAN time pass explicitly, so
 * what it shows does not depend on how fast the machine is.
 */
import { createHash, randomBytes } from 'node:crypto'
import { runDoctor } from '../../core/doctor/index.js'
import { isPluginError } from '../../core/errors/index.js'
import { ALLOW_TWO_PRIMARIES, AUX_ATTACHED, AUX_MIGRATION } from '../../core/lifecycle/index.js'
import { createLinstorClient } from '../../core/linstor/index.js'
import type { LinstorClient } from '../../core/linstor/index.js'
import { createStorage } from '../../core/storage/index.js'
import type { Storage } from '../../core/storage/index.js'
import { GiB, MiB } from '../../core/volumes/index.js'
import type { ResourceInfo } from '../../core/volumes/index.js'
import { DISAGGREGATED_CLUSTER, startEmulator } from '../../emulator/index.js'
import type { RunningEmulator } from '../../emulator/index.js'
import { readRange, writeAt } from './device-io.js'
import type { StoryOptions, StoryResult } from './story.js'

export const STORIES = ['nvme', 'dr'] as const
export type StoryName = (typeof STORIES)[number]

const PROTOCOL = 'DrbdOptions/Net/protocol'
const PROXY_FLAG = 'LOCAL_DRBD_PROXY'

interface Ctx {
  emu: RunningEmulator
  storage: Storage
  client: LinstorClient
  problems: string[]
}

function check(ctx: Ctx, ok: boolean, what: string): void {
  if (!ok) ctx.problems.push(what)
}

function sha(path: string, offsets: readonly number[]): string {
  const h = createHash('sha256')
  for (const off of offsets) h.update(readRange(path, off, MiB))
  return h.digest('hex').slice(0, 16)
}

/** Runs the steps of a story: numbered titles, the table after each, the invariants' verdict. */
class Teller {
  readonly result: StoryResult = { ok: true, steps: [] }
  #n = 0
  readonly ctx: Ctx
  readonly out: (line: string) => void
  readonly table: () => Promise<string[]>
  constructor(ctx: Ctx, out: (line: string) => void, table: () => Promise<string[]>) {
    this.ctx = ctx
    this.out = out
    this.table = table
  }

  async step(title: string, body: () => Promise<void>): Promise<void> {
    this.#n++
    this.out('')
    this.out(`${this.#n}. ${title}`)
    this.ctx.problems = []
    try {
      await body()
    } catch (err) {
      this.ctx.problems.push(`failed: ${isPluginError(err) ? `${err.code}: ` : ''}${err instanceof Error ? err.message : String(err)}`)
    }
    for (const line of await this.table().catch(() => ['  (table unavailable)'])) this.out(line)
    for (const p of this.ctx.problems) this.out(`  ✗ ${p}`)
    if (this.ctx.problems.length === 0) this.out('  ✓ invariants hold')
    this.result.steps.push({ title, ok: this.ctx.problems.length === 0, problems: [...this.ctx.problems] })
  }

  finish(): StoryResult {
    this.result.ok = this.result.steps.every((s) => s.ok)
    this.out('')
    this.out(this.result.ok ? `All ${this.result.steps.length} steps held their invariants.` : `Invariants broken in: ${this.result.steps.filter((s) => !s.ok).map((s) => s.title).join('; ')}`)
    return this.result
  }
}

async function setUp(opts: StoryOptions, clock?: () => Date): Promise<Ctx> {
  const emu = await startEmulator({
    cluster: DISAGGREGATED_CLUSTER,
    logLevel: 'silent',
    listen: { host: '127.0.0.1', port: 0 },
    ...(clock !== undefined ? { clock } : {}),
    ...(opts.stateDir !== undefined ? { stateDir: opts.stateDir } : {}),
  })
  const client = createLinstorClient({ controllers: emu.url, env: {}, clientConfPaths: [], defaultTokenFile: '/nonexistent', timeoutMs: 30_000, connectTimeoutMs: 1000 })
  const storage = createStorage({ client, lockDir: emu.stateDir + '/locks', localNode: 'hv-1', deviceRoot: (n) => emu.deviceRoot(n), pollMs: 50 })
  return { emu, storage, client, problems: [] }
}

async function tearDown(ctx: Ctx, opts: StoryOptions, result: StoryResult): Promise<void> {
  ctx.client.close()
  if (opts.keep === true) result.emulator = ctx.emu
  else await ctx.emu.close()
}

/** No allow-two-primaries anywhere and no migration record. */
async function noMigrationTrace(ctx: Ctx, info: ResourceInfo): Promise<void> {
  check(ctx, info.props[AUX_MIGRATION] === undefined, 'no migration left recorded')
  check(ctx, info.props[ALLOW_TWO_PRIMARIES] === undefined, 'allow-two-primaries not set on the definition')
  const conns = await ctx.client.resourceDefinitions.connections(info.name)
  check(ctx, !conns.some((c) => c.props[ALLOW_TWO_PRIMARIES] !== undefined), 'allow-two-primaries not on any connection')
}

// ---------------------------------------------------------------------------------------------
// nvme: disaggregated NVMe-oF

const NVME_DISK = 'vm-200-disk-0'
const SCRATCH = 'vm-200-disk-1'
const NVME_NODES = ['stor-1', 'stor-2', 'compute-1', 'compute-2']
const NVME_AT = [0, 3 * GiB]

async function runNvme(opts: StoryOptions): Promise<StoryResult> {
  const out = opts.out
  const ctx = await setUp(opts)
  const { emu, storage } = ctx
  const disk = storage.resource(NVME_DISK)
  const link = (node: string): string => emu.deviceRoot(node) + `/dev/linstor-virt/by-res/${NVME_DISK}/0`
  let target = ''
  let backing = ''
  let original = ''

  const table = async (): Promise<string[]> => {
    const info = await disk.info()
    const lines = [`  ${'node'.padEnd(10)} ${'replica'.padEnd(20)} device`]
    for (const node of NVME_NODES) {
      const r = info?.replicas.find((x) => x.node === node)
      const kind = r === undefined ? '-' : r.nvmeInitiator === true ? 'NVMe initiator' : r.kind === 'diskful' ? 'NVMe target (data)' : r.kind
      lines.push(`  ${node.padEnd(10)} ${kind.padEnd(20)} ${r?.volumes[0]?.device ?? r?.volumes[0]?.storageDevice ?? ''}`)
    }
    if (info !== undefined) lines.push(`  layers ${info.layers.join(',')}; attached on ${info.props[AUX_ATTACHED] ?? 'no node'}`)
    return lines
  }
  /** Between steps: one target on a storage node, initiators exactly on `on`, no DRBD, no Primary, no migration trace. */
  const steady = async (on: readonly string[]): Promise<void> => {
    const info = await disk.info()
    check(ctx, info !== undefined, `${NVME_DISK} exists`)
    if (info === undefined) return
    check(ctx, !info.layers.includes('DRBD'), 'no DRBD in the stack')
    const data = info.replicas.filter((r) => r.kind === 'diskful')
    check(ctx, data.length === 1 && data[0]?.node.startsWith('stor-') === true, `one target, on a storage node (is: ${data.map((r) => r.node).join(', ') || 'none'})`)
    const initiators = info.replicas.filter((r) => r.nvmeInitiator === true).map((r) => r.node).sort()
    check(ctx, JSON.stringify(initiators) === JSON.stringify([...on].sort()), `initiators on ${on.join(', ') || 'no node'} only (is: ${initiators.join(', ') || 'none'})`)
    check(ctx, Object.values(emu.control.roles(NVME_DISK)).every((r) => r !== 'Primary'), 'no DRBD role anywhere')
    check(ctx, info.props[AUX_ATTACHED] === (on.length === 1 ? on[0] : undefined), `recorded as attached on ${on[0] ?? 'no node'}`)
    await noMigrationTrace(ctx, info)
  }

  const teller = new Teller(ctx, out, table)
  out(`LINSTOR controller emulator on ${emu.url}: storage nodes stor-1, stor-2 (NVMe-oF targets, no DRBD), compute nodes compute-1, compute-2 (no DRBD, no disks)`)
  try {
    await teller.step('Create a 4 GiB volume with the layer stack nvme,storage', async () => {
      const info = await disk.create({ volumes: [4 * GiB], policy: { layers: ['nvme', 'storage'], storagePools: ['nvmepool'] } })
      const t = info.replicas.find((r) => r.kind === 'diskful')
      target = t?.node ?? ''
      backing = t?.volumes[0]?.storageDevice ?? ''
      out(`  spawned from ${info.resourceGroup ?? '?'}; the data lives on ${target} (${backing}), one replica: NVMe-oF has no replication of its own`)
      check(ctx, target.startsWith('stor-'), 'the target is on a storage node')
      await steady([])
    })

    await teller.step('Start the VM on compute-1: an NVMe initiator, the VM writes', async () => {
      const a = await disk.attach('compute-1')
      out(`  compute-1: ${a.created ? 'initiator created' : 'initiator found'}, ${a.volumes[0]?.device ?? '?'} → linked at ${(a.volumes[0]?.devicePath ?? '').replace(emu.deviceRoot('compute-1'), '')}`)
      check(ctx, a.stack === 'nvme' && a.created, 'a new NVMe initiator')
      for (const off of NVME_AT) writeAt(link('compute-1'), off, randomBytes(MiB))
      original = sha(link('compute-1'), NVME_AT)
      out(`  wrote ${NVME_AT.length} MiB through the fabric, checksum ${original}`)
      check(ctx, sha(emu.deviceRoot(target) + backing, NVME_AT) === original, `the bytes are on ${target}'s backing volume`)
      await steady(['compute-1'])
    })

    await teller.step('Live-migrate compute-1 → compute-2: two initiators for the window, never dual-primary', async () => {
      const a = await disk.attach('compute-2')
      out(`  compute-2: attach → ${a.created ? 'initiator created' : 'initiator found'}; migration ${a.migration?.from ?? '?'} → ${a.migration?.to ?? '?'} begun`)
      const during = await disk.info()
      const both = during?.replicas.filter((r) => r.nvmeInitiator === true).map((r) => r.node).sort() ?? []
      out(`  during the window: initiators on ${both.join(' and ')}; no DRBD, so nothing like allow-two-primaries`)
      check(ctx, JSON.stringify(both) === JSON.stringify(['compute-1', 'compute-2']), 'both hosts hold an initiator during the window')
      check(ctx, sha(link('compute-2'), NVME_AT) === original, 'compute-2 reads the same data')
      const conns = await ctx.client.resourceDefinitions.connections(NVME_DISK)
      check(ctx, !conns.some((c) => c.props[ALLOW_TWO_PRIMARIES] !== undefined), 'no allow-two-primaries during the window')
      const d = await disk.detach('compute-1')
      out(`  compute-1: detach → ${d.removed ? 'initiator removed' : `kept (${d.kept ?? ''})`}; migration ${d.migration?.outcome ?? 'n/a'}`)
      check(ctx, d.migration?.outcome === 'completed', 'the migration completed')
      await steady(['compute-2'])
    })

    await teller.step('Stop the VM on compute-2', async () => {
      const d = await disk.detach('compute-2')
      out(`  compute-2: detach → ${d.removed ? 'initiator removed' : `kept (${d.kept ?? ''})`}`)
      await steady([])
    })

    await teller.step('A storage-only scratch disk on hv-1: compute-1 cannot reach it (refused up front, naming the stack)', async () => {
      const scratch = storage.resource(SCRATCH)
      await scratch.create({ volumes: [GiB], policy: { layers: ['storage'], storagePools: ['hvpool'] }, preferNode: 'hv-1' })
      emu.resetCounters()
      try {
        await scratch.attach('compute-1')
        check(ctx, false, 'attach on compute-1 refused')
      } catch (err) {
        out(`  compute-1: ${isPluginError(err) ? err.code : 'error'}: ${err instanceof Error ? err.message : String(err)}`)
        check(ctx, isPluginError(err) && err.code === 'NOT_SHARED', 'refused with NOT_SHARED')
      }
      const writes = Object.entries(emu.counters()).filter(([k]) => !k.startsWith('GET ')).length
      check(ctx, writes === 0, 'nothing was written for the refused attach')
      const here = await scratch.attach('hv-1')
      out(`  hv-1 (where the data is): ${here.volumes[0]?.device ?? '?'}`)
      await scratch.detach('hv-1')
      await scratch.delete()
      await steady([])
    })

    await teller.step('A leftover initiator (a host died between two steps): the doctor finds it and removes it', async () => {
      await ctx.client.resources.create(NVME_DISK, 'compute-1', { resource: { flags: ['NVME_INITIATOR'] } })
      const report = await runDoctor(storage, { fix: true })
      for (const f of report.findings) out(`  - ${f.kind} ${f.resource}${f.node !== undefined ? ' on ' + f.node : ''}: ${f.detail}${f.fixed === true ? ' (fixed)' : ''}`)
      check(ctx, report.findings.length === 1 && report.findings[0]?.kind === 'unused-initiator' && report.findings[0]?.fixed === true, 'one unused initiator, fixed')
      check(ctx, (await runDoctor(storage)).findings.length === 0, 'nothing left over afterwards')
      await steady([])
    })

    await teller.step('Verify the data checksum on the target', async () => {
      const sum = sha(emu.deviceRoot(target) + backing, NVME_AT)
      out(`  ${target}: ${sum}`)
      check(ctx, sum === original, `${target} holds the data written over the fabric`)
      await steady([])
    })
  } finally {
    await tearDown(ctx, opts, teller.result)
  }
  return teller.finish()
}

// ---------------------------------------------------------------------------------------------
// dr: a disaster-recovery replica through DRBD Proxy

const DR_DISK = 'vm-300-disk-0'
const DR_NODES = ['hv-1', 'hv-2', 'hv-3', 'dr-1']
const BURST_MIB = 96
const MEMLIMIT = 16 * MiB

async function runDr(opts: StoryOptions): Promise<StoryResult> {
  const out = opts.out
  let clockMs = Date.now()
  const ctx = await setUp(opts, () => new Date(clockMs))
  const { emu, storage } = ctx
  const disk = storage.resource(DR_DISK)
  const dev = (node: string): string => emu.deviceRoot(node) + `/dev/drbd/by-res/${DR_DISK}/0`
  const firstData = randomBytes(MiB)
  let vmHost = ''
  let drNode = ''

  const table = async (): Promise<string[]> => {
    const info = await disk.info()
    const roles = emu.control.roles(DR_DISK)
    const primary = Object.entries(roles).find(([, r]) => r === 'Primary')?.[0]
    const lines = [`  ${'node'.padEnd(6)} ${'replica'.padEnd(12)} ${'disk'.padEnd(12)} ${'role'.padEnd(10)} from the Primary`]
    for (const node of DR_NODES) {
      const r = info?.replicas.find((x) => x.node === node)
      const kind = r === undefined ? '-' : r.dr === true ? 'DR (proxy)' : r.kind
      const rep = primary === undefined || r === undefined || node === primary ? undefined : info?.replicas.find((x) => x.node === primary)?.volumes[0]?.replication?.[node]
      const repText = rep === undefined ? '' : `${rep.state ?? '?'}${rep.done !== undefined && rep.done < 100 ? ` ${rep.done}%` : ''}`
      lines.push(`  ${node.padEnd(6)} ${kind.padEnd(12)} ${(r?.volumes[0]?.diskState ?? '').padEnd(12)} ${(r === undefined ? '' : (roles[node] ?? '')).padEnd(10)} ${repText}`)
    }
    for (const p of emu.control.proxy(DR_DISK)) {
      if (p.backlog_kib > 0) lines.push(`  proxy ${p.node_a}↔${p.node_b}: ${Math.ceil(p.backlog_kib / 1024)} MiB buffered towards ${p.to} (${p.state}), ${p.rate_kib_per_s / 1024} MiB/s on the WAN`)
    }
    return lines
  }
  /** Between steps: the VM's host is the only Primary, two local replicas, DR as expected with protocol A on its connections only. */
  const steady = async (withDr: boolean): Promise<void> => {
    const info = await disk.info()
    check(ctx, info !== undefined, `${DR_DISK} exists`)
    if (info === undefined) return
    const primaries = Object.entries(emu.control.roles(DR_DISK)).filter(([, r]) => r === 'Primary').map(([n]) => n)
    check(ctx, JSON.stringify(primaries) === JSON.stringify([vmHost]), `Primary on ${vmHost} only (is: ${primaries.join(', ') || 'none'})`)
    const local = info.replicas.filter((r) => r.kind === 'diskful' && r.dr !== true)
    check(ctx, local.length === 2, `two local diskful replicas (is: ${local.length})`)
    const dr = info.replicas.filter((r) => r.dr === true).map((r) => r.node)
    check(ctx, JSON.stringify(dr) === JSON.stringify(withDr ? [drNode] : []), withDr ? `the DR replica on ${drNode}` : 'no DR replica')
    const conns = await ctx.client.resourceDefinitions.connections(DR_DISK)
    for (const r of info.replicas) {
      if (r.dr === true) continue
      for (const d of dr) {
        const c = conns.find((x) => [x.node_a, x.node_b].sort().join() === [r.node, d].sort().join())
        check(ctx, c?.flags.includes(PROXY_FLAG) === true && c.props[PROTOCOL] === 'A', `${r.node}↔${d}: DRBD Proxy with protocol A`)
      }
    }
    const drSet = new Set(dr)
    const stray = conns.filter((c) => !drSet.has(c.node_a) && !drSet.has(c.node_b) && (c.props[PROTOCOL] !== undefined || c.flags.includes(PROXY_FLAG)))
    check(ctx, stray.length === 0, `local connections keep the group's protocol, no proxy (found on ${stray.map((c) => `${c.node_a}↔${c.node_b}`).join(', ')})`)
    check(ctx, info.replicas.every((r) => r.kind !== 'diskless' || r.inUse === true), 'no unused diskless client')
    await noMigrationTrace(ctx, info)
  }

  const teller = new Teller(ctx, out, table)
  out(`LINSTOR controller emulator on ${emu.url}: hypervisors hv-1..hv-3 (main site), dr-1 (Aux/site=dr) behind an 8 MiB/s WAN link through DRBD Proxy`)
  try {
    await teller.step('A VM runs on hv-1 with a 10 GiB volume, two local replicas (protocol C)', async () => {
      const info = await disk.create({ volumes: [10 * GiB], policy: { layers: ['drbd', 'storage'], storagePools: ['hvpool'], placeCount: 2 }, preferNode: 'hv-1' })
      out(`  replicas on ${info.replicas.filter((r) => r.kind === 'diskful').map((r) => r.node).join(' and ')}`)
      const a = await disk.attach('hv-1')
      vmHost = 'hv-1'
      emu.control.open('hv-1', DR_DISK)
      emu.control.write('hv-1', DR_DISK, 0, 0, firstData)
      check(ctx, a.role === 'diskful', 'hv-1 uses its own replica')
      await steady(false)
    })

    await teller.step('Extend the running VM\'s volume to the DR site (Aux/site=dr) through DRBD Proxy', async () => {
      const info = await disk.addDrReplica({ site: 'dr' })
      drNode = info.replicas.find((r) => r.dr === true)?.node ?? ''
      const conns = await ctx.client.resourceDefinitions.connections(DR_DISK)
      for (const c of conns.filter((x) => x.flags.includes(PROXY_FLAG))) out(`  ${c.node_a}↔${c.node_b}: DRBD Proxy, protocol ${c.props[PROTOCOL] ?? '?'}`)
      check(ctx, drNode === 'dr-1', 'the DR replica goes to dr-1')
      check(ctx, readRange(dev(drNode), 0, MiB).equals(firstData), 'the DR replica holds what was written before it existed')
      await steady(true)
    })

    await teller.step('Proxy options: lz4 compression, a 16 MiB memory limit', async () => {
      await ctx.client.resourceDefinitions.drbdProxyModify(DR_DISK, { compression_type: 'lz4', override_props: { 'DrbdOptions/Proxy/memlimit': String(MEMLIMIT) } })
      const [p] = emu.control.proxy(DR_DISK)
      out(`  the proxy now sends ${(p?.rate_kib_per_s ?? 0) / 1024} MiB/s of data over the 8 MiB/s link and buffers up to ${(p?.memlimit_kib ?? 0) / 1024} MiB`)
      const rd = (await ctx.client.resourceDefinitions.list()).find((r) => r.name === DR_DISK)
      check(ctx, rd?.props['DrbdProxy/CompressionType'] === 'lz4' && rd.props['DrbdOptions/Proxy/memlimit'] === String(MEMLIMIT), 'the options are on the resource definition')
      await steady(true)
    })

    await teller.step(`The VM writes ${BURST_MIB} MiB at once: more than the proxy buffers, DRBD pulls ahead of the DR replica`, async () => {
      const chunk = randomBytes(4 * MiB)
      for (let off = MiB; off < MiB + BURST_MIB * MiB; off += chunk.length) emu.control.write(vmHost, DR_DISK, 0, off, chunk)
      const info = await disk.info()
      const towardsDr = info?.replicas.find((r) => r.node === vmHost)?.volumes[0]?.replication?.[drNode]?.state
      const towardsLocal = info?.replicas.find((r) => r.node === vmHost)?.volumes[0]?.replication
      out(`  ${vmHost} → ${drNode}: ${towardsDr ?? '?'}; the local peer stays in sync (protocol C)`)
      check(ctx, towardsDr === 'Ahead', `${vmHost} is Ahead of ${drNode}`)
      check(ctx, Object.entries(towardsLocal ?? {}).every(([peer, r]) => peer === drNode || r.state === 'Established'), 'local peers Established')
      await steady(true)
    })

    await teller.step('The WAN catches up: a resync, then Established', async () => {
      const seen: string[] = []
      for (let i = 0; i < 80; i++) {
        clockMs += 250
        const info = await disk.info()
        const rep = info?.replicas.find((r) => r.node === vmHost)?.volumes[0]?.replication?.[drNode]
        const text = `${rep?.state ?? '?'}${rep?.done !== undefined && rep.done < 100 ? ` ${rep.done}%` : ''}`
        if (seen[seen.length - 1] !== text) seen.push(text)
        if (rep?.state === 'Established') break
      }
      out(`  a quarter second of WAN after another: ${seen.join(' → ')}`)
      check(ctx, seen.some((s) => s.startsWith('SyncSource')) && seen[seen.length - 1] === 'Established', 'a resync, then Established')
      await steady(true)
    })

    await teller.step('The DR replica holds the data', async () => {
      const offsets = [0, MiB, MiB + (BURST_MIB - 1) * MiB]
      const there = sha(dev(drNode), offsets)
      const here = sha(dev(vmHost), offsets)
      out(`  ${vmHost}: ${here}   ${drNode}: ${there}`)
      check(ctx, there === here, `${drNode} reads what ${vmHost} wrote`)
      try {
        await disk.attach(drNode)
        check(ctx, false, 'the DR node is refused as an attach target')
      } catch (err) {
        out(`  attach on ${drNode}: ${isPluginError(err) ? err.code : 'error'} (never a VM host, never a migration target)`)
        check(ctx, isPluginError(err) && err.code === 'DR_REPLICA', 'refused with DR_REPLICA')
      }
      await steady(true)
    })

    await teller.step('Run the doctor: the DR replica is no local redundancy, and nothing is missing', async () => {
      const report = await runDoctor(storage)
      out(`  ${report.checked} resource(s) checked, ${report.findings.length} finding(s)`)
      for (const f of report.findings) out(`  - ${f.kind} ${f.resource}${f.node !== undefined ? ' on ' + f.node : ''}: ${f.detail}`)
      check(ctx, report.findings.length === 0, 'nothing to report')
      await steady(true)
    })

    await teller.step('Remove the DR replica: proxies off, then the replica', async () => {
      const info = await disk.removeDrReplica()
      out(`  replicas now on ${info?.replicas.map((r) => r.node).join(', ') ?? '?'}`)
      const conns = await ctx.client.resourceDefinitions.connections(DR_DISK)
      check(ctx, !conns.some((c) => c.node_a === drNode || c.node_b === drNode), `no connection to ${drNode} left`)
      check(ctx, readRange(dev(vmHost), 0, MiB).equals(firstData), 'the VM still reads its data')
      await steady(false)
    })
  } finally {
    await tearDown(ctx, opts, teller.result)
  }
  return teller.finish()
}

/** Tells the named story. */
export async function runNamedStory(name: StoryName, opts: StoryOptions): Promise<StoryResult> {
  return name === 'nvme' ? runNvme(opts) : runDr(opts)
}
