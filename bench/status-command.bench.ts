/**
 * `linstor-virt status` at scale: a Proxmox storage whose resource group holds N volumes on 100
 * nodes (two replicas each, every hundredth with a snapshot and a diskless client
 * nobody uses, declared in the emulator's cluster description as bench/status.bench.ts does), read
 * the way an operator reads it:
 *   command: the bundled CLI, `linstor-virt status --storage-cfg F` (text and --json), as a process
 *            from start to exit (median of 3);
 *   report:  the same work in process (sources, four GETs, assembly), median of 5;
 *   survey:  the agent's metrics survey (three GETs and the doctor's examination), median of 5.
 * Target for 10,000 volumes: the command within 3 s ("a few seconds").
 */
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildReport } from '../cli/status/report.js'
import { findSources } from '../cli/status/sources.js'
import { figuresOf, readCluster, surveyOf } from '../cli/status/survey.js'
import { createLinstorClient } from '../core/linstor/index.js'
import { startEmulator } from '../emulator/index.js'
import { median, round } from './stats.js'

export interface StatusCommandRow {
  volumes: number
  nodes: number
  commandTextMs: number
  commandJsonMs: number
  /** Bytes the text report printed: proof it listed the volumes. */
  textBytes: number
  reportMs: number
  /** Volumes the report listed and findings it marked: proof it measured something. */
  listed: number
  findings: number
  surveyMs: number
  /** The four GETs alone (the controller's answer, its transfer and parse), and the assembly alone. */
  readMs: number
  assembleMs: number
  /** Bytes of the largest reply (GET /v1/view/resources). */
  viewBytes: number
}

async function timed<T>(f: () => Promise<T>): Promise<[number, T]> {
  const t0 = process.hrtime.bigint()
  const v = await f()
  return [Number(process.hrtime.bigint() - t0) / 1e6, v]
}

function run(bundle: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [bundle, ...args], { env: { PATH: process.env['PATH'] ?? '', LINSTOR_VIRT_PVE_PRIV_DIR: '/nonexistent' }, maxBuffer: 512 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`status failed (exit ${String(err.code)}): ${stderr}${stdout.slice(stdout.indexOf('not read'))}`))
      else resolve(stdout)
    })
  })
}

export async function measureStatusCommand(volumes: number, nodeCount = 100, bundle = join(process.cwd(), 'dist', 'linstor-virt.js')): Promise<StatusCommandRow> {
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir()
  const dir = mkdtempSync(join(base, 'lv-bench-status-cmd-'))
  const GIB_KIB = 1024 * 1024
  const nodes = Array.from({ length: nodeCount }, (_, i) => ({
    name: `pve-${String(i).padStart(3, '0')}`,
    pools: [{ name: 'DfltStorPool', provider_kind: 'LVM_THIN' as const, total_capacity_kib: 100 * 1024 * GIB_KIB }],
  }))
  const node = (i: number): string => nodes[i % nodeCount]?.name ?? ''
  const resources = Array.from({ length: volumes }, (_, i) => ({
    name: `vm-${1000 + i}-disk-0`,
    resource_group: 'pve',
    props: { 'Aux/pm/vmid': String(1000 + i) },
    volumes: [GIB_KIB],
    replicas: [{ node: node(2 * i) }, { node: node(2 * i + 1) }, ...(i % 100 === 0 ? [{ node: node(2 * i + 2), diskless: true }] : [])],
  }))
  const emu = await startEmulator({
    logLevel: 'silent',
    listen: { host: '127.0.0.1', port: 0 },
    stateDir: join(dir, 'state'),
    cluster: { nodes, resource_groups: [{ name: 'pve', select_filter: { place_count: 2 } }], resources },
  })
  const cfg = join(dir, 'storage.cfg')
  writeFileSync(cfg, `linstor: drbdstore\n\tlinstor-controllers ${emu.url}\n\tlinstor-resource-group pve\n`)
  const client = createLinstorClient({ controllers: emu.url, env: {}, clientConfPaths: [], defaultTokenFile: '/nonexistent', timeoutMs: 120_000 })
  try {
    // Snapshots of every hundredth volume, through the REST API (the cluster description has none;
    // the emulator saves its whole state after each, which is what limits their number here).
    for (let i = 0; i < volumes; i += 100) await client.snapshots.create(`vm-${1000 + i}-disk-0`, { name: 'daily' })
    // The emulator's own first answers pay for its start (JIT); a controller that has been up does not.
    await readCluster(client, { timeoutMs: 120_000 })
    const reportRuns: number[] = []
    let listed = 0
    let findings = 0
    for (let i = 0; i < 5; i++) {
      const [ms, r] = await timed(async () => buildReport(await findSources({ storageCfg: cfg, env: {}, node: 'pve-000' }), { defaults: {}, timeoutMs: 120_000, clientEnv: { env: {}, clientConfPaths: [], defaultTokenFile: '/nonexistent' } }))
      reportRuns.push(ms)
      listed = r.storages[0]?.volumes.length ?? 0
      findings = r.storages[0]?.volumes.reduce((n, v) => n + v.findings.length, 0) ?? 0
      if (r.unread.length > 0) throw new Error(`status could not read: ${r.unread.join('; ')}`)
    }
    const surveyRuns: number[] = []
    for (let i = 0; i < 5; i++) {
      const [ms] = await timed(async () => figuresOf(surveyOf(await readCluster(client, { snapshots: false, timeoutMs: 120_000 })), new Date()))
      surveyRuns.push(ms)
    }
    const readRuns: number[] = []
    const assembleRuns: number[] = []
    for (let i = 0; i < 5; i++) {
      const [r, read] = await timed(() => readCluster(client, { timeoutMs: 120_000 }))
      readRuns.push(r)
      const [a] = await timed(() => Promise.resolve(surveyOf(read)))
      assembleRuns.push(a)
    }
    const viewBytes = Buffer.byteLength(await (await fetch(`${emu.url}/v1/view/resources`)).text())
    const textRuns: number[] = []
    const jsonRuns: number[] = []
    let textBytes = 0
    for (let i = 0; i < 3; i++) {
      const [t, text] = await timed(() => run(bundle, ['status', '--storage-cfg', cfg, '--timeout-ms', '60000']))
      textRuns.push(t)
      textBytes = Buffer.byteLength(text)
      const [j] = await timed(() => run(bundle, ['status', '--storage-cfg', cfg, '--json', '--timeout-ms', '60000']))
      jsonRuns.push(j)
    }
    return {
      volumes,
      nodes: nodeCount,
      commandTextMs: round(median(textRuns)),
      commandJsonMs: round(median(jsonRuns)),
      textBytes,
      reportMs: round(median(reportRuns)),
      listed,
      findings,
      surveyMs: round(median(surveyRuns)),
      readMs: round(median(readRuns)),
      assembleMs: round(median(assembleRuns)),
      viewBytes,
    }
  } finally {
    client.close()
    await emu.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

export function statusCommandMarkdown(rows: StatusCommandRow[]): string {
  const lines = [
    '## `linstor-virt status` at scale',
    '',
    'One Proxmox storage whose resource group holds every volume (two replicas each on 100 nodes; every hundredth volume with a snapshot and a diskless client nobody uses, which status marks as the doctor would). command: the bundled CLI from start to exit (median of 3); report: the same work in process (median of 5); survey: what the agent reads for its metrics (median of 5). The four GETs are mostly the emulator writing its answer (GET /v1/view/resources is 2.6 KiB per replica, written by its lossless JSON writer); the assembly is linstor-virt\'s own part.',
    '',
    '| volumes | nodes | command (text) | command (--json) | report in process | of which: the four GETs | of which: assembly | view/resources reply | listed | findings marked | agent survey | target |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ]
  for (const r of rows) {
    lines.push(`| ${r.volumes} | ${r.nodes} | ${r.commandTextMs} ms (${Math.round(r.textBytes / 1024)} KiB) | ${r.commandJsonMs} ms | ${r.reportMs} ms | ${r.readMs} ms | ${r.assembleMs} ms | ${Math.round(r.viewBytes / 1024 / 1024)} MiB | ${r.listed} | ${r.findings} | ${r.surveyMs} ms | ${r.volumes >= 10_000 ? 'command ≤ 3 s' : ''} |`)
  }
  return lines.join('\n')
}
