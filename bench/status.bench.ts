/**
 * Status at scale (issue 5's target, issue 9's table): a storage whose resource group holds N
 * volumes on 100 nodes (declared in the emulator's cluster description, two replicas each), asked
 * for its status the way Proxmox asks every 10 s: proxmox.status over the agent's socket.
 *   cold: the first status of a running agent (resource group lookup, size query, pool totals);
 *   warm: the following calls (the capacity cache answers; target at most 2 ms).
 * Target for 10,000 volumes: at most 50 ms cold. list_images (one definition list) is measured too.
 * Cinder's get_volume_stats (cinder.stats, polled every 60 s per backend) runs over the same volumes,
 * tagged as Cinder's: cold is its first poll, warm the next ones within the capacity cache's age
 * (the definition listing for provisioned capacity and the volume count is made on every poll).
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
  cinderTotalVolumes: number
}



async function timed<T>(f: () => Promise<T>): Promise<[number, T]> {
  const t0 = process.hrtime.bigint()
  const v = await f()
  return [Number(process.hrtime.bigint() - t0) / 1e6, v]
}

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
  const socketPath = join(dir, 'agent.sock')
  const agent = await startAgent({ socketPath, dispatcher: buildDispatcher(silentLogger()), logger: silentLogger() })
  const config = { storeid: 'drbdstore', node: 'pve-000', scfg: { 'linstor-controllers': emu.url, 'linstor-resource-group': 'pve' }, lockDir: join(dir, 'locks') }
  const cinderConfig = { backend: 'lv-1', controllers: [emu.url], defaultResourceGroup: 'pve', cinderHost: 'pve-000', lockDir: join(dir, 'locks') }
  const call = async (operation: string, args: Record<string, unknown> = {}, platform = 'proxmox'): Promise<unknown> => {
    const reply = await callAgent(socketPath, { v: 1, platform, operation, arguments: args, config: platform === 'cinder' ? cinderConfig : config })
    if ('error' in reply) throw new Error(`${operation}: ${reply.error.message}`)
    return reply.result
  }
  try {
    // "Cold" is the agent's capacity cache, not the processes: a running controller and a running
    // agent (its proxmox operations loaded by an activate_storage, which asks LINSTOR nothing).
    await fetch(`${emu.url}/v1/controller/version`)
    await fetch(`${emu.url}/v1/resource-groups`)
    await call('activate_storage')
    const [coldMs, cold] = await timed(() => call('status'))
    if ((cold as { active?: boolean }).active !== true) throw new Error(`status is not active: ${JSON.stringify(cold)}`)
    const warm: number[] = []
    for (let i = 0; i < warmRuns; i++) warm.push((await timed(() => call('status')))[0])
    const [listImagesMs, list] = await timed(() => call('list_images', { vmid: null, vollist: null }))
    await call('check', {}, 'cinder') // loads the cinder operations, as cinder-volume's start-up does
    const [cinderStatsColdMs, stats] = await timed(() => call('stats', {}, 'cinder'))
    const cinderWarm: number[] = []
    for (let i = 0; i < Math.min(warmRuns, 10); i++) cinderWarm.push((await timed(() => call('stats', {}, 'cinder')))[0])
    return {
      volumes,
      nodes: nodeCount,
      emulatorStartS: round(emulatorStartS),
      coldMs: round(coldMs),
      warmMedianMs: round(median(warm)),
      listImagesMs: round(listImagesMs),
      listed: (list as unknown[]).length,
      cinderStatsColdMs: round(cinderStatsColdMs),
      cinderStatsWarmMedianMs: round(median(cinderWarm)),
      cinderTotalVolumes: Number((stats as { total_volumes?: number }).total_volumes),
    }
  } finally {
    await agent.close()
    await emu.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

export function statusMarkdown(rows: StatusRow[]): string {
  const lines = [
    '## Status at scale (proxmox.status and cinder.stats over the agent socket)',
    '',
    '| volumes | nodes | status cold | status warm (median) | list_images | cinder stats cold | cinder stats warm (median) | target (status) |',
    '|---|---|---|---|---|---|---|---|',
  ]
  for (const r of rows) {
    lines.push(`| ${r.volumes} | ${r.nodes} | ${r.coldMs} ms | ${r.warmMedianMs} ms | ${r.listImagesMs} ms (${r.listed} listed) | ${r.cinderStatsColdMs} ms | ${r.cinderStatsWarmMedianMs} ms (${r.cinderTotalVolumes} volumes) | ${r.volumes >= 10_000 ? '≤ 50 ms cold, ≤ 2 ms warm' : ''} |`)
  }
  const [a, b] = [rows[0], rows[rows.length - 1]]
  if (a !== undefined && b !== undefined && b.volumes > a.volumes) {
    lines.push('', `Growth from ${a.volumes} to ${b.volumes} volumes (${b.volumes / a.volumes}x): status cold ${round(b.coldMs / a.coldMs)}x, list_images ${round(b.listImagesMs / a.listImagesMs)}x, cinder stats cold ${round(b.cinderStatsColdMs / a.cinderStatsColdMs)}x.`)
  }
  return lines.join('\n')
}
