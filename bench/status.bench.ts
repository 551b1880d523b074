/**
 * Status at scale (issue 5's target, issue 9's table): a storage whose resource group holds N
 * volumes on 100 nodes (declared in the emulator's cluster description, two replicas each), asked
 * for its status the way Proxmox asks every 10 s: proxmox.status over the agent's socket.
 *   cold: the first status of a running agent (resource group lookup, size query, pool totals);
 *   warm: the following calls (the capacity cache answers; target at most 2 ms).
 * Target for 10,000 volumes: at most 50 ms cold. list_images (one definition list) is measured too.
 * Cinder's get_volume_stats (cinder.stats, polled every 60 s per backend) runs over the same volumes,
 * tagged as Cinder's: cold is its first poll, warm the next ones within the capacity cache's age.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { callAgent } from '../cli/agent/client.js'
import { startAgent } from '../cli/agent/server.js'
import { buildDispatcher } from '../cli/dispatcher.js'
import { silentLogger } from '../core/log/index.js'
import { startEmulator } from '../emulator/index.js'
import { median, round } from './stats.js'

export interface StatusRow {
  volumes: number
  nodes: number
  emulatorStartS: number
  coldMs: number
  warmMedianMs: number
  listImagesMs: number
  listed: number
  cinderStatsColdMs: number
  cinderStatsWarmMedianMs: number
  /** Cinder's free_capacity_gb: proof the poll measured something. */
  cinderFreeGb: number
  oneMonitorColdMs: number
  oneMonitorWarmMedianMs: number
  /** The USED_MB/TOTAL_MB/FREE_MB lines OpenNebula's monitor printed: proof it measured. */
  oneMonitorLines: number
}

async function timed<T>(f: () => Promise<T>): Promise<[number, T]> {
  const t0 = process.hrtime.bigint()
  const v = await f()
  return [Number(process.hrtime.bigint() - t0) / 1e6, v]
}

const cdata = (v: string): string => `<![CDATA[${v}]]>`

/** The DS_DRIVER_ACTION_DATA oned sends to datastore/linstor/monitor, base64. */
function oneMonitorDocument(controllers: string): string {
  const attrs: Record<string, string> = { DS_MAD: 'linstor', TM_MAD: 'linstor', TYPE: 'IMAGE_DS', DISK_TYPE: 'BLOCK', LINSTOR_CONTROLLERS: controllers, LINSTOR_RESOURCE_GROUP: 'pve', BRIDGE_LIST: 'pve-000' }
  const template = Object.entries(attrs).map(([k, v]) => `<${k}>${cdata(v)}</${k}>`).join('')
  const ds = `<DATASTORE><ID>101</ID><NAME>linstor</NAME><DS_MAD>${cdata('linstor')}</DS_MAD><TM_MAD>${cdata('linstor')}</TM_MAD><BASE_PATH>${cdata('/var/lib/one//datastores/101')}</BASE_PATH><TYPE>0</TYPE><TEMPLATE>${template}</TEMPLATE></DATASTORE>`
  return Buffer.from(`<DS_DRIVER_ACTION_DATA>${ds}</DS_DRIVER_ACTION_DATA>`).toString('base64')
}

/**
 * One platform's status poll over a fresh agent (so its first poll is cold: no capacity cached),
 * after `load` (a call that asks LINSTOR nothing) has loaded the platform's operations, as the
 * platform's start-up does. Returns the cold time, the warm times and the last result.
 */
async function polls(dir: string, name: string, warmRuns: number, load: (call: Caller) => Promise<unknown>, poll: (call: Caller) => Promise<unknown>): Promise<{ coldMs: number; warm: number[]; last: unknown }> {
  const socketPath = join(dir, `${name}.sock`)
  const agent = await startAgent({ socketPath, dispatcher: buildDispatcher(silentLogger()), logger: silentLogger() })
  const call: Caller = async (platform, operation, args, config) => {
    const reply = await callAgent(socketPath, { v: 1, platform, operation, arguments: args, config })
    if ('error' in reply) throw new Error(`${platform}.${operation}: ${reply.error.message}`)
    return reply.result
  }
  try {
    await load(call)
    const [coldMs] = await timed(() => poll(call))
    const warm: number[] = []
    let last: unknown
    for (let i = 0; i < warmRuns; i++) {
      const [ms, r] = await timed(() => poll(call))
      warm.push(ms)
      last = r
    }
    return { coldMs, warm, last }
  } finally {
    await agent.close()
  }
}

type Caller = (platform: string, operation: string, args: Record<string, unknown>, config: Record<string, unknown>) => Promise<unknown>

export async function measureStatus(volumes: number, nodeCount = 100, warmRuns = 50): Promise<StatusRow> {
  // The emulator writes a file per replica: tmpfs when there is one keeps the start short.
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir()
  const dir = mkdtempSync(join(base, 'lv-bench-status-'))
  const GIB_KIB = 1024 * 1024
  const nodes = Array.from({ length: nodeCount }, (_, i) => ({
    name: `pve-${String(i).padStart(3, '0')}`,
    pools: [{ name: 'DfltStorPool', provider_kind: 'LVM_THIN' as const, total_capacity_kib: 100 * 1024 * GIB_KIB }],
  }))
  const resources = Array.from({ length: volumes }, (_, i) => ({
    name: `vm-${1000 + i}-disk-0`,
    resource_group: 'pve',
    props: { 'Aux/pm/vmid': String(1000 + i), 'Aux/cinder/volume-id': `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` },
    volumes: [GIB_KIB],
    replicas: [{ node: nodes[(2 * i) % nodeCount]?.name ?? '' }, { node: nodes[(2 * i + 1) % nodeCount]?.name ?? '' }],
  }))
  const t0 = Date.now()
  const emu = await startEmulator({
    logLevel: 'silent',
    listen: { host: '127.0.0.1', port: 0 },
    stateDir: join(dir, 'state'),
    cluster: { nodes, resource_groups: [{ name: 'pve', select_filter: { place_count: 2 } }], resources },
  })
  const emulatorStartS = (Date.now() - t0) / 1000
  const pve = { storeid: 'drbdstore', node: 'pve-000', scfg: { 'linstor-controllers': emu.url, 'linstor-resource-group': 'pve' }, lockDir: join(dir, 'locks') }
  const cinder = { backend: 'lv-1', controllers: [emu.url], defaultResourceGroup: 'pve', cinderHost: 'pve-000', lockDir: join(dir, 'locks') }
  const one = { remotes: dir, lockDir: join(dir, 'locks') }
  const monitorDoc = oneMonitorDocument(emu.url)
  try {
    // "Cold" is the agent's capacity cache, not the processes: a running controller and a running
    // agent with the platform's operations loaded by a call that asks LINSTOR nothing.
    // The emulator runs in this process: its first answers pay for its own start (JIT, the
    // garbage of building 10,000 resources), which a controller that has been up does not.
    for (let i = 0; i < 3; i++) {
      await fetch(`${emu.url}/v1/controller/version`).then((r) => r.text())
      await fetch(`${emu.url}/v1/resource-groups/pve`).then((r) => r.text())
      await fetch(`${emu.url}/v1/view/storage-pools`).then((r) => r.text())
      await fetch(`${emu.url}/v1/resource-groups/pve/query-size-info`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }).then((r) => r.text())
    }
    let listImagesMs = 0
    let listed = 0
    const p = await polls(dir, 'pve', warmRuns, (call) => call('proxmox', 'activate_storage', {}, pve), (call) => call('proxmox', 'status', {}, pve))
    if ((p.last as { active?: boolean }).active !== true) throw new Error(`status is not active: ${JSON.stringify(p.last)}`)
    await polls(dir, 'pve-list', 0, () => Promise.resolve(undefined), async (call) => {
      const [ms, list] = await timed(() => call('proxmox', 'list_images', { vmid: null, vollist: null }, pve))
      listImagesMs = ms
      listed = (list as unknown[]).length
    })
    // cinder-volume's start-up calls check (it asks for the nodes, not the capacity).
    const c = await polls(dir, 'cinder', Math.min(warmRuns, 10), (call) => call('cinder', 'check', {}, cinder), (call) => call('cinder', 'stats', {}, cinder))
    // The monitor runs with the DS document on stdin; ds.stat with no arguments loads the operations and fails before any REST call.
    const o = await polls(
      dir,
      'one',
      Math.min(warmRuns, 10),
      (call) => call('opennebula', 'ds.stat', { argv: [] }, one).catch(() => undefined),
      (call) => call('opennebula', 'ds.monitor', { argv: ['101'], stdin: monitorDoc }, one),
    )
    return {
      volumes,
      nodes: nodeCount,
      emulatorStartS: round(emulatorStartS),
      coldMs: round(p.coldMs),
      warmMedianMs: round(median(p.warm)),
      listImagesMs: round(listImagesMs),
      listed,
      cinderStatsColdMs: round(c.coldMs),
      cinderStatsWarmMedianMs: round(median(c.warm)),
      cinderFreeGb: Number((c.last as { free_capacity_gb?: number }).free_capacity_gb),
      oneMonitorColdMs: round(o.coldMs),
      oneMonitorWarmMedianMs: round(median(o.warm)),
      oneMonitorLines: String((o.last as { stdout?: string }).stdout ?? '').split('\n').filter((l) => /^(USED|TOTAL|FREE)_MB=\d+$/.test(l)).length,
    }
  } finally {
    await emu.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

export function statusMarkdown(rows: StatusRow[]): string {
  const lines = [
    '## Status at scale (over the agent socket)',
    '',
    'Proxmox `status` (every 10 s per node), Cinder `get_volume_stats` (every 60 s) and OpenNebula\'s datastore `monitor`, each on a fresh agent: cold is its first poll (nothing cached), warm the following ones (the capacity cache answers within its 10 s). `list_images` lists every volume of the storage.',
    '',
    '| volumes | nodes | status cold | status warm (median) | list_images | cinder stats cold | cinder stats warm (median) | ONE monitor cold | ONE monitor warm (median) | target |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ]
  for (const r of rows) {
    lines.push(`| ${r.volumes} | ${r.nodes} | ${r.coldMs} ms | ${r.warmMedianMs} ms | ${r.listImagesMs} ms (${r.listed} listed) | ${r.cinderStatsColdMs} ms | ${r.cinderStatsWarmMedianMs} ms | ${r.oneMonitorColdMs} ms | ${r.oneMonitorWarmMedianMs} ms | ${r.volumes >= 10_000 ? '≤ 50 ms cold, ≤ 2 ms warm' : ''} |`)
  }
  const [a, b] = [rows[0], rows[rows.length - 1]]
  if (a !== undefined && b !== undefined && b.volumes > a.volumes) {
    lines.push('', `Growth from ${a.volumes} to ${b.volumes} volumes (${b.volumes / a.volumes}x): status cold ${round(b.coldMs / a.coldMs)}x, list_images ${round(b.listImagesMs / a.listImagesMs)}x, cinder stats cold ${round(b.cinderStatsColdMs / a.cinderStatsColdMs)}x, ONE monitor cold ${round(b.oneMonitorColdMs / a.oneMonitorColdMs)}x.`)
  }
  return lines.join('\n')
}
