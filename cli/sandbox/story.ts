/**
 * The founding story, told against the emulator with the real core: a 10 GiB disk with two
 * replicas, a VM on bravo writing data, live migrations bravo → charlie → bravo → charlie → delta,
 * a grow to 20 GiB, a snapshot and a clone, a full controller outage survived from the local
 * replica, the doctor, and the data checksum. After every step the invariants are checked and a
 * node-by-role table is printed. `npm run sandbox` runs it; a test runs it too.
 */
import { createHash, randomBytes } from 'node:crypto'
import { statSync } from 'node:fs'
import { runDoctor } from '../../core/doctor/index.js'
import { createLinstorClient } from '../../core/linstor/index.js'
import type { LinstorClient } from '../../core/linstor/index.js'
import { ALLOW_TWO_PRIMARIES, AUX_MIGRATION } from '../../core/lifecycle/index.js'
import { createStorage } from '../../core/storage/index.js'
import type { Storage } from '../../core/storage/index.js'
import { GiB, MiB, formatBytes } from '../../core/volumes/index.js'
import type { ClusterSpec, RunningEmulator } from '../../emulator/index.js'
import { startEmulator } from '../../emulator/index.js'
import { NODE_TABLE_COLUMNS, renderTable, replicaLabel } from '../table.js'
import { readRange } from './device-io.js'

/** The default four nodes, each with a 100 GiB thin pool, filled to different levels by other data. */
export const SANDBOX_CLUSTER: ClusterSpec = {
  nodes: [
    ['alpha', 60],
    ['bravo', 90],
    ['charlie', 40],
    ['delta', 80],
  ].map(([name, freeGiB], i) => ({
    name: String(name),
    address: `10.0.0.${i + 1}`,
    pools: [
      {
        name: 'DfltStorPool',
        provider_kind: 'LVM_THIN',
        total_capacity_kib: 100 * 1024 * 1024,
        free_capacity_kib: Number(freeGiB) * 1024 * 1024,
        props: { 'StorDriver/LvmVg': 'linstor_vg', 'StorDriver/ThinPool': 'thinpool', 'StorDriver/StorPoolName': 'linstor_vg/thinpool' },
      },
    ],
  })),
}

const DISK = 'vm-100-disk-0'
const CLONE = 'vm-101-disk-0'
const NODES = ['alpha', 'bravo', 'charlie', 'delta']
const DATA_AT = [0, 7 * GiB] // offsets the "VM" writes to (one MiB each)

export interface StoryOptions {
  out: (line: string) => void
  stateDir?: string
  /** Leave the emulator running at the end (the caller closes it). */
  keep?: boolean
}

export interface StoryResult {
  ok: boolean
  steps: { title: string; ok: boolean; problems: string[] }[]
  emulator?: RunningEmulator
}

interface Ctx {
  emu: RunningEmulator
  storage: Storage
  client: LinstorClient
  data: Buffer[]
  problems: string[]
}

function check(ctx: Ctx, ok: boolean, what: string): void {
  if (!ok) ctx.problems.push(what)
}

function deviceFile(emu: RunningEmulator, node: string, rsc: string): string {
  return emu.deviceRoot(node) + `/dev/drbd/by-res/${rsc}/0`
}

function checksum(emu: RunningEmulator, node: string, rsc: string): string {
  const h = createHash('sha256')
  for (const off of DATA_AT) h.update(readRange(deviceFile(emu, node, rsc), off, MiB))
  return h.digest('hex').slice(0, 16)
}

/** The node-by-role table printed after each step (the same renderer as `linstor-virt status`). */
async function table(ctx: Ctx, rsc: string): Promise<string[]> {
  const info = await ctx.storage.resource(rsc).info()
  const roles = ctx.emu.control.roles(rsc)
  const rows = NODES.map((node) => {
    const r = info?.replicas.find((x) => x.node === node)
    return [node, r === undefined ? '-' : replicaLabel(r.kind), r?.volumes[0]?.diskState ?? '', r === undefined ? '' : (roles[node] ?? '')]
  })
  return renderTable(NODE_TABLE_COLUMNS, rows)
}

/** Invariants that hold between steps: no migration trace, no dual-primary, no unused diskless client. */
async function steadyState(ctx: Ctx, rsc: string, primary: string | undefined): Promise<void> {
  const info = await ctx.storage.resource(rsc).info()
  check(ctx, info !== undefined, `${rsc} exists`)
  if (info === undefined) return
  const roles = ctx.emu.control.roles(rsc)
  const primaries = Object.entries(roles).filter(([, r]) => r === 'Primary').map(([n]) => n)
  check(ctx, JSON.stringify(primaries) === JSON.stringify(primary === undefined ? [] : [primary]), `Primary on ${primary ?? 'no node'} only (is: ${primaries.join(', ') || 'none'})`)
  check(ctx, info.props[AUX_MIGRATION] === undefined, 'no migration left recorded')
  check(ctx, info.props[ALLOW_TWO_PRIMARIES] === undefined, 'allow-two-primaries not set on the definition')
  const conns = await ctx.client.resourceDefinitions.connections(rsc)
  check(ctx, !conns.some((c) => c.props[ALLOW_TWO_PRIMARIES] !== undefined), 'allow-two-primaries not left on any connection')
  const idle = info.replicas.filter((r) => r.kind === 'diskless' && r.inUse !== true)
  check(ctx, idle.length === 0, `no unused diskless client (found on ${idle.map((r) => r.node).join(', ')})`)
  check(ctx, info.replicas.filter((r) => r.kind === 'diskful').length === 2, 'two diskful replicas')
}

function vmOpen(ctx: Ctx, node: string): void {
  ctx.emu.control.open(node, DISK)
}

function vmClose(ctx: Ctx, node: string): void {
  ctx.emu.control.close(node, DISK)
}

/** A live migration as a hypervisor does it: target attaches and opens, source closes and detaches. */
async function migrate(ctx: Ctx, from: string, to: string, out: (l: string) => void): Promise<void> {
  const disk = ctx.storage.resource(DISK)
  const a = await disk.attach(to)
  out(`  ${to}: attach → ${a.role}${a.created ? ' (new client)' : ''}, ${a.volumes[0]?.devicePath.replace(ctx.emu.deviceRoot(to), '')}; dual-primary for ${from}↔${to} only while moving`)
  vmOpen(ctx, to)
  vmClose(ctx, from)
  const d = await disk.detach(from)
  out(`  ${from}: detach → ${d.removed ? 'diskless client removed' : `kept (${d.kept ?? ''})`}; migration ${d.migration?.outcome ?? 'n/a'}`)
}

export async function runStory(opts: StoryOptions): Promise<StoryResult> {
  const out = opts.out
  const emu = await startEmulator({ cluster: SANDBOX_CLUSTER, logLevel: 'silent', listen: { host: '127.0.0.1', port: 0 }, cloneDurationMs: 200, ...(opts.stateDir !== undefined ? { stateDir: opts.stateDir } : {}) })
  const mkClient = (timeoutMs: number): LinstorClient =>
    createLinstorClient({ controllers: emu.url, env: {}, clientConfPaths: [], defaultTokenFile: '/nonexistent', timeoutMs, connectTimeoutMs: 1000 })
  const client = mkClient(30_000)
  const lockDir = emu.stateDir + '/locks'
  const storage = createStorage({ client, lockDir, localNode: 'alpha', deviceRoot: (n) => emu.deviceRoot(n), pollMs: 50 })
  const ctx: Ctx = { emu, storage, client, data: DATA_AT.map(() => randomBytes(MiB)), problems: [] }
  const result: StoryResult = { ok: true, steps: [] }
  let n = 0
  let original = ''

  const step = async (title: string, body: () => Promise<void>, show: string = DISK): Promise<void> => {
    n++
    out('')
    out(`${n}. ${title}`)
    ctx.problems = []
    try {
      await body()
    } catch (err) {
      ctx.problems.push(`failed: ${err instanceof Error ? err.message : String(err)}`)
    }
    for (const line of await table(ctx, show).catch(() => ['  (table unavailable)'])) out(line)
    for (const p of ctx.problems) out(`  ✗ ${p}`)
    if (ctx.problems.length === 0) out('  ✓ invariants hold')
    result.steps.push({ title, ok: ctx.problems.length === 0, problems: [...ctx.problems] })
  }

  out(`LINSTOR controller emulator on ${emu.url}; nodes ${NODES.join(', ')} (free: alpha 60, bravo 90, charlie 40, delta 80 GiB)`)
  try {
    await step('Create a 10 GiB volume with redundancy 2', async () => {
      const info = await storage.resource(DISK).create({ volumes: [10 * GiB], policy: { placeCount: 2 } })
      const diskful = info.replicas.filter((r) => r.kind === 'diskful').map((r) => r.node)
      out(`  spawned from resource group ${info.resourceGroup ?? '?'}; replicas on ${diskful.join(' and ')}`)
      check(ctx, JSON.stringify(diskful) === JSON.stringify(['bravo', 'delta']), 'replicas on the two nodes with most free space (bravo, delta)')
      await steadyState(ctx, DISK, undefined)
    })

    await step('Run the VM on bravo and write data', async () => {
      const a = await storage.resource(DISK).attach('bravo')
      vmOpen(ctx, 'bravo')
      DATA_AT.forEach((off, i) => emu.control.write('bravo', DISK, 0, off, ctx.data[i] as Buffer))
      original = checksum(emu, 'bravo', DISK)
      out(`  bravo uses its own replica (${a.role}); wrote ${DATA_AT.length} MiB, checksum ${original}`)
      check(ctx, a.role === 'diskful' && !a.created, 'the local replica is used as is')
      await steadyState(ctx, DISK, 'bravo')
    })

    await step('Live-migrate bravo → charlie', async () => {
      await migrate(ctx, 'bravo', 'charlie', out)
      const info = await storage.resource(DISK).info()
      check(ctx, info?.replicas.find((r) => r.node === 'charlie')?.kind === 'diskless', 'charlie is a diskless client')
      check(ctx, emu.control.roles(DISK)['charlie'] === 'Primary', 'charlie is Primary')
      check(ctx, checksum(emu, 'charlie', DISK) === original, 'charlie reads the same data')
      await steadyState(ctx, DISK, 'charlie')
    })

    await step('Migrate back charlie → bravo', async () => {
      await migrate(ctx, 'charlie', 'bravo', out)
      const info = await storage.resource(DISK).info()
      check(ctx, info?.replicas.find((r) => r.node === 'charlie')?.kind !== 'diskless', "charlie's diskless client is gone")
      await steadyState(ctx, DISK, 'bravo')
    })

    await step('Migrate bravo → charlie, then charlie → delta (delta holds a replica)', async () => {
      await migrate(ctx, 'bravo', 'charlie', out)
      await migrate(ctx, 'charlie', 'delta', out)
      const info = await storage.resource(DISK).info()
      check(ctx, info?.replicas.find((r) => r.node === 'delta')?.kind === 'diskful', 'delta runs the VM on its own replica')
      check(ctx, info?.replicas.find((r) => r.node === 'charlie')?.kind !== 'diskless', "charlie's diskless client is gone")
      await steadyState(ctx, DISK, 'delta')
    })

    await step('Grow to 20 GiB while the VM runs', async () => {
      const v = await storage.resource(DISK).grow(0, { toBytes: 20 * GiB })
      out(`  volume 0 is now ${formatBytes(v.sizeBytes)} on every replica`)
      check(ctx, v.sizeBytes === 20 * GiB, 'size is 20 GiB')
      for (const node of ['bravo', 'delta']) check(ctx, statSync(deviceFile(emu, node, DISK)).size >= 20 * GiB, `${node}'s device has 20 GiB`)
      check(ctx, checksum(emu, 'delta', DISK) === original, 'data unchanged by the grow')
      await steadyState(ctx, DISK, 'delta')
    })

    await step(
      'Snapshot and clone',
      async () => {
        const s = await storage.resource(DISK).createSnapshot('before-upgrade')
        out(`  snapshot ${s.name} on ${s.nodes.join(', ')}`)
        const c = await storage.resource(DISK).cloneTo(CLONE, { snapshot: s.name })
        const node = c.replicas.find((r) => r.kind === 'diskful')?.node ?? ''
        out(`  clone ${CLONE} restored from it on ${c.replicas.filter((r) => r.kind === 'diskful').map((r) => r.node).join(', ')}`)
        check(ctx, checksum(emu, node, CLONE) === original, 'the clone holds the same data')
        await steadyState(ctx, DISK, 'delta')
      },
      CLONE,
    )

    await step('Stop the controller; start the VM again from its local replica on delta', async () => {
      vmClose(ctx, 'delta')
      await storage.resource(DISK).detach('delta')
      await emu.stopListening()
      const offline = createStorage({ client: mkClient(3000), lockDir, localNode: 'delta', deviceRoot: (n) => emu.deviceRoot(n) })
      const started = Date.now()
      const a = await offline.resource(DISK).attach('delta')
      out(`  controller down; attach on delta answered in ${Date.now() - started} ms from ${a.offline ?? 'LINSTOR'}`)
      check(ctx, a.offline === 'controller-unreachable', 'attached without a controller')
      vmOpen(ctx, 'delta')
      check(ctx, checksum(emu, 'delta', DISK) === original, 'the VM sees its data')
      await emu.startListening()
      out('  controller back')
      await steadyState(ctx, DISK, 'delta')
    })

    await step('Run the doctor', async () => {
      const report = await runDoctor(storage)
      out(`  ${report.checked} resources checked, ${report.findings.length} finding(s)`)
      for (const f of report.findings) out(`  - ${f.kind} ${f.resource}${f.node !== undefined ? ' on ' + f.node : ''}: ${f.detail}`)
      check(ctx, report.findings.length === 0, 'nothing left over')
    })

    await step('Verify the data checksum on every replica', async () => {
      for (const node of ['bravo', 'delta']) {
        const sum = checksum(emu, node, DISK)
        out(`  ${node}: ${sum}`)
        check(ctx, sum === original, `${node} holds the data written on bravo`)
      }
      await steadyState(ctx, DISK, 'delta')
    })
  } finally {
    client.close()
    if (opts.keep === true) result.emulator = emu
    else await emu.close()
  }
  result.ok = result.steps.every((s) => s.ok)
  out('')
  out(result.ok ? `All ${result.steps.length} steps held their invariants.` : `Invariants broken in: ${result.steps.filter((s) => !s.ok).map((s) => s.title).join('; ')}`)
  return result
}
