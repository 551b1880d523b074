/**
 * Data path (issues 9 and 26): importing a qcow2 image through the OpenNebula datastore `cp`
 * action against plain `qemu-img convert -O raw` of the same file, measured in one run.
 *
 *   baseline:  `qemu-img convert -O raw <img.qcow2> <out.raw>`, the output on the same filesystem as
 *              the emulator's device files;
 *   ours:      the built executable dist/share/opennebula/remotes/datastore/linstor/cp run as oned
 *              runs it (image id in argv, the base64 driver action document on stdin), forwarded to
 *              a running agent (production's normal path), on a front-end that is a LINSTOR node
 *              without storage (one-fe, LINSTOR_FRONTEND_NODE): the image is held open, the volume
 *              created, a diskless client made on the front-end, `qemu-img convert -n` writes its
 *              device, the client is removed. Timed from spawn to exit.
 *   ours, ssh: the same on a front-end that is no LINSTOR node (LINSTOR_FRONTEND_NODE "-"): qemu-img
 *              writes into a private NBD export whose stream goes into `dd` on a diskful node
 *              (through the test suite's ssh stand-in, which runs it here, so without ssh's cipher).
 *
 * Throughput is the image's virtual size over wall time; the figure that matters is the ratio
 * ours / baseline (target at least 0.9, for the front-end that is a node: the ssh path moves every
 * byte through one more process and a pipe, and in production through ssh's cipher). Runs are
 * interleaved (baseline, ours, ours over ssh, baseline, ...) so machine noise hits all alike. The
 * test image (pseudo-random bytes, so neither zero nor compressible, converted to qcow2 by qemu-img)
 * is made before any timing; no MD5/SHA1 is given (one would be hashed alongside, at its own speed).
 *
 * Usage: node build/bench/datapath.bench.js [--size-mib N] [--runs N] [--warmups N] [--json FILE]
 */
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync, closeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { startAgent } from '../cli/agent/server.js'
import { buildDispatcher } from '../cli/dispatcher.js'
import { createLinstorClient } from '../core/linstor/index.js'
import { silentLogger } from '../core/log/index.js'
import { DEFAULT_CLUSTER } from '../emulator/cluster.js'
import { startEmulator } from '../emulator/index.js'
import { actionData, datastoreXml, frontEndEnv, REMOTES } from '../test/opennebula/one.js'
import { repoRoot } from '../test/helpers/paths.js'
import { median, round } from './stats.js'

const MiB = 1024 * 1024
/** The datastore whose front-end is the LINSTOR node one-fe, and the one whose front-end is none. */
const IMAGE_DS = 101
const IMAGE_DS_SSH = 102
const FRONT_END_NODE = 'one-fe'
const STANDINS = join(repoRoot(), 'test', 'opennebula', 'standins')

export interface DataPathOptions {
  /** Virtual size of the test image in MiB (default 1024). */
  sizeMiB?: number
  /** Interleaved pairs of runs (default 3). */
  runs?: number
  /** Untimed pairs before them (default 1). */
  warmups?: number
  /**
   * Called after each import, before its outputs are removed: the qcow2 source, the baseline's raw
   * output, and the emulator's device file of the imported volume (for checks; not timed).
   */
  onRun?: (files: { run: number; warmup: boolean; mode: 'front-end' | 'ssh'; qcow2: string; baselineRaw: string; device: string; resource: string; virtualBytes: number }) => void | Promise<void>
}

export interface DataPathResult {
  sizeMiB: number
  virtualBytes: number
  /** Bytes of the qcow2 file (close to the virtual size: the data is neither zero nor compressible). */
  qcow2Bytes: number
  runs: number
  warmups: number
  /** The folder holding the image, the baseline's output, STAGING_DIR and the emulator's device files. */
  dir: string
  filesystem: string
  /** How ours reached the driver: 'agent' when the running agent served every cp. */
  path: 'agent' | 'one-shot'
  baselineMs: number[]
  oursMs: number[]
  baselineMedianMs: number
  oursMedianMs: number
  baselineMiBps: number
  oursMiBps: number
  /** ours / baseline throughput (medians); target at least 0.9. */
  ratio: number
  /** The same import on a front-end that is no LINSTOR node: streamed through ssh into dd on a replica's host. */
  ssh: { oursMs: number[]; oursMedianMs: number; oursMiBps: number; ratio: number }
  /** Whether every imported volume held the same bytes as the baseline's raw output. */
  identical: boolean
  /** Whether every import on the front-end node went through a diskless client that was gone afterwards. */
  clientRemoved: boolean
}

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; stdin?: string } = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { env: opts.env ?? process.env, maxBuffer: 16 * MiB, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`${cmd} ${args.slice(0, 3).join(' ')} failed: ${err.message}\n${stderr}`))
      else resolve({ stdout, stderr })
    })
    // A command that exits without reading stdin (qemu-img, df) makes this write fail with EPIPE:
    // its exit status tells the outcome.
    child.stdin?.on('error', () => undefined)
    child.stdin?.end(opts.stdin ?? '')
  })
}

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint()
  await f()
  return Number(process.hrtime.bigint() - t0) / 1e6
}

/** sha256 of the first `length` bytes of a file. */
export async function sha256Of(file: string, length: number): Promise<string> {
  const h = createHash('sha256')
  if (length === 0) return h.digest('hex')
  for await (const chunk of createReadStream(file, { start: 0, end: length - 1, highWaterMark: 4 * MiB })) h.update(chunk as Buffer)
  return h.digest('hex')
}

/** The filesystem type of a folder (for the report); 'unknown' when df cannot tell. */
async function filesystemOf(dir: string): Promise<string> {
  try {
    const { stdout } = await run('df', ['--output=fstype', dir])
    return stdout.trim().split('\n').pop()?.trim() ?? 'unknown'
  } catch {
    return 'unknown'
  }
}

/** A qcow2 image of pseudo-random bytes, made with qemu-img from a raw file (removed afterwards). */
async function makeImage(dir: string, sizeMiB: number): Promise<string> {
  const raw = join(dir, 'source.raw')
  const qcow2 = join(dir, 'source.qcow2')
  const fd = openSync(raw, 'w')
  try {
    // Random blocks repeated 1 MiB apart would compress; each MiB is fresh.
    for (let i = 0; i < sizeMiB; i++) writeSync(fd, randomBytes(MiB))
  } finally {
    closeSync(fd)
  }
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow2])
  rmSync(raw)
  return qcow2
}

export async function measureDataPath(opts: DataPathOptions = {}): Promise<DataPathResult> {
  const sizeMiB = opts.sizeMiB ?? 1024
  const runs = opts.runs ?? 3
  const warmups = opts.warmups ?? 1
  // One filesystem for everything: tmpfs when there is one (the box has the memory), so neither
  // side pays for a disk the other does not touch.
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir()
  const dir = mkdtempSync(join(base, 'lv-bench-datapath-'))
  const saved = { LINSTOR_VIRT_SSH: process.env['LINSTOR_VIRT_SSH'], LV_ONE_DB: process.env['LV_ONE_DB'], LV_ONE_HOSTS: process.env['LV_ONE_HOSTS'] }
  const cleanups: (() => Promise<void> | void)[] = []
  try {
    const db = join(dir, 'db')
    const hosts = join(dir, 'hosts')
    const staging = join(dir, 'staging')
    const out = join(dir, 'out')
    for (const d of [db, hosts, staging, out]) mkdirSync(d)
    const qcow2 = await makeImage(dir, sizeMiB)
    const virtualBytes = sizeMiB * MiB

    const cluster = { nodes: [...DEFAULT_CLUSTER.nodes, { name: FRONT_END_NODE, address: '10.0.0.9' }] }
    const emu = await startEmulator({ logLevel: 'silent', listen: { host: '127.0.0.1', port: 0 }, stateDir: join(dir, 'emulator'), cluster })
    cleanups.push(() => emu.close())
    const client = createLinstorClient({ controllers: emu.url, env: {}, clientConfPaths: [], defaultTokenFile: '/nonexistent/linstor-auth.json', keepAlive: false })
    cleanups.push(() => client.close())

    // The agent runs in this process: the commands it starts on hosts (dd) go through the ssh
    // stand-in, which it finds through its own environment, as a real agent finds ssh.
    process.env['LINSTOR_VIRT_SSH'] = join(STANDINS, 'bin', 'ssh')
    process.env['LV_ONE_DB'] = db
    process.env['LV_ONE_HOSTS'] = hosts
    const socketPath = join(dir, 'agent.sock')
    const dispatcher = buildDispatcher(silentLogger())
    // Counts the cp calls the agent served (the launcher falls back to one-shot when it finds none).
    let served = 0
    const dispatch = dispatcher.dispatch.bind(dispatcher)
    dispatcher.dispatch = (raw, services) => {
      if (typeof raw === 'object' && raw !== null && (raw as Record<string, unknown>)['operation'] === 'ds.cp') served += 1
      return dispatch(raw, services)
    }
    const agent = await startAgent({ socketPath, dispatcher, logger: silentLogger() })
    cleanups.push(() => agent.close())

    const ds = (id: number, frontEnd: string): string => {
      const xml = datastoreXml(id, { LINSTOR_CONTROLLERS: emu.url, LINSTOR_PLACE_COUNT: '2', BRIDGE_LIST: 'alpha bravo', RESTRICTED_DIRS: '/', SAFE_DIRS: dir, STAGING_DIR: staging, LINSTOR_FRONTEND_NODE: frontEnd })
      writeFileSync(join(db, `datastore-${id}.xml`), xml)
      return xml
    }
    const dsXml = { 'front-end': ds(IMAGE_DS, FRONT_END_NODE), ssh: ds(IMAGE_DS_SSH, '-') }
    const env: NodeJS.ProcessEnv = frontEndEnv(emu, dir, db, hosts, socketPath)
    const cp = join(REMOTES, 'datastore', 'linstor', 'cp')
    const rm = join(REMOTES, 'datastore', 'linstor', 'rm')
    const doc = (mode: 'front-end' | 'ssh', id: number, extra: Record<string, string>): string => actionData({ ID: String(id), SIZE: String(sizeMiB), TYPE: '0', ...extra }, dsXml[mode])

    const baselineMs: number[] = []
    const oursMs: number[] = []
    const sshMs: number[] = []
    let identical = true
    let clientRemoved = true
    let cps = 0
    /** One import through cp, timed; checks and clean-up after it, not timed. */
    const ours = async (mode: 'front-end' | 'ssh', i: number, warmup: boolean, rawOut: string): Promise<number> => {
      const id = (mode === 'ssh' ? 200 : 100) + i
      const resource = `OpenNebula-Image-${id}`
      const stdin = doc(mode, id, { PATH: qcow2 })
      let reply = { stdout: '', stderr: '' }
      const o = await timed(async () => (reply = await run(cp, [String(id)], { env, stdin })))
      cps += 1
      if (reply.stdout.trim() !== `${resource} raw`) throw new Error(`cp printed ${JSON.stringify(reply.stdout)}: ${reply.stderr}`)
      const where = mode === 'ssh' ? /writing \S+ through / : new RegExp(`writing \\S+ on this front-end \\(${FRONT_END_NODE}, through a diskless client\\)`)
      if (!where.test(reply.stderr)) throw new Error(`cp did not write the way this run measures (${mode}): ${reply.stderr}`)
      const rows = await client.view.resources({ resources: [resource] })
      if (rows.some((r) => r.node_name === FRONT_END_NODE)) clientRemoved = false
      const node = rows.find((r) => !r.flags.includes('DRBD_DISKLESS'))?.node_name
      if (node === undefined) throw new Error(`${resource} has no diskful replica`)
      const device = join(emu.deviceRoot(node), 'dev', 'drbd', 'by-res', resource, '0')
      if ((await sha256Of(device, virtualBytes)) !== (await sha256Of(rawOut, virtualBytes))) identical = false
      await opts.onRun?.({ run: i, warmup, mode, qcow2, baselineRaw: rawOut, device, resource, virtualBytes })
      await run(rm, [String(id)], { env, stdin: doc(mode, id, { SOURCE: resource }) })
      return o
    }
    /** One round: the baseline, ours on the front-end node, ours over ssh. */
    const pair = async (i: number, warmup: boolean): Promise<void> => {
      const rawOut = join(out, `run-${i}.raw`)
      const b = await timed(() => run('qemu-img', ['convert', '-O', 'raw', qcow2, rawOut]))
      const o = await ours('front-end', i, warmup, rawOut)
      const s = await ours('ssh', i, warmup, rawOut)
      if (!warmup) {
        baselineMs.push(b)
        oursMs.push(o)
        sshMs.push(s)
      }
      rmSync(rawOut, { force: true })
    }
    // Untimed warm-up pairs first: the page cache holds the source, the agent has loaded the
    // OpenNebula driver (a running agent in production has), both paths have run once.
    for (let i = 0; i < warmups; i++) await pair(runs + i, true)
    for (let i = 0; i < runs; i++) await pair(i, false)
    const bMed = median(baselineMs)
    const oMed = median(oursMs)
    const sMed = median(sshMs)
    const mibps = (ms: number): number => round(sizeMiB / (ms / 1000), 1)
    return {
      sizeMiB,
      virtualBytes,
      qcow2Bytes: statSync(qcow2).size,
      runs,
      warmups,
      dir: base,
      filesystem: await filesystemOf(dir),
      path: served === cps && cps > 0 ? 'agent' : 'one-shot',
      baselineMs: baselineMs.map((x) => round(x, 1)),
      oursMs: oursMs.map((x) => round(x, 1)),
      baselineMedianMs: round(bMed, 1),
      oursMedianMs: round(oMed, 1),
      baselineMiBps: mibps(bMed),
      oursMiBps: mibps(oMed),
      ratio: round(bMed / oMed, 2),
      ssh: { oursMs: sshMs.map((x) => round(x, 1)), oursMedianMs: round(sMed, 1), oursMiBps: mibps(sMed), ratio: round(bMed / sMed, 2) },
      identical,
      clientRemoved,
    }
  } finally {
    for (const c of cleanups.reverse()) await c()
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
    rmSync(dir, { recursive: true, force: true })
  }
}

export function dataPathMarkdown(r: DataPathResult): string {
  return [
    `### Data path: ${r.sizeMiB} MiB qcow2 import (${r.runs} interleaved runs after ${r.warmups} untimed, median wall time)`,
    '',
    `Image: ${r.sizeMiB} MiB virtual of pseudo-random data, ${round(r.qcow2Bytes / MiB, 1)} MiB as qcow2. ` +
      `Source, baseline output, STAGING_DIR and the emulator's device files all on ${r.dir} (${r.filesystem}); ` +
      `ours ran through the ${r.path === 'agent' ? 'agent' : 'one-shot CLI'}: on a front-end that is a LINSTOR node (${FRONT_END_NODE}, without storage) qemu-img converts onto the volume's device there, ` +
      `through a diskless client made for the copy (${r.clientRemoved ? 'removed after each' : 'NOT always removed'}); on one that is none, qemu-img's stream goes to dd on a replica's host through the ssh stand-in (no cipher). ` +
      `Imported bytes ${r.identical ? 'equal' : 'DIFFER from'} the baseline's.`,
    '',
    '| path | median ms | MiB/s | ratio to baseline | target |',
    '|---|---|---|---|---|',
    `| baseline: qemu-img convert -O raw | ${r.baselineMedianMs} | ${r.baselineMiBps} | 1 | |`,
    `| ours: datastore/linstor/cp (${r.path}), front-end is a LINSTOR node | ${r.oursMedianMs} | ${r.oursMiBps} | ${r.ratio} | ≥ 0.9 |`,
    `| ours: datastore/linstor/cp (${r.path}), front-end is none: stream into dd over ssh | ${r.ssh.oursMedianMs} | ${r.ssh.oursMiBps} | ${r.ssh.ratio} | (one more copy in a pipe) |`,
    '',
  ].join('\n')
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '')
if (isMain) {
  const { values } = parseArgs({ options: { 'size-mib': { type: 'string', default: '1024' }, runs: { type: 'string', default: '3' }, warmups: { type: 'string', default: '1' }, json: { type: 'string' } } })
  const result = await measureDataPath({ sizeMiB: Number(values['size-mib']), runs: Number(values.runs), warmups: Number(values.warmups) })
  process.stdout.write(dataPathMarkdown(result))
  if (values.json !== undefined) {
    mkdirSync(dirname(values.json), { recursive: true })
    writeFileSync(values.json, JSON.stringify(result, null, 2) + '\n')
  }
}
