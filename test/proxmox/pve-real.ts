/**
 * Proxmox VE's REAL storage library for tests: a cluster of PVE nodes, each a Debian perl process
 * that boots pve-storage, pve-common and pve-cluster's pure-Perl parts from
 * `<repo root>/../shared/upstream/pve/<8|9>` with the shared pve-harness
 * (`<repo root>/../shared/tools/pve-harness`, its README says what is stubbed: pmxcfs, the RPC
 * environment, librados, the PBS client), loads our plugin through PVE's own custom-plugin loader
 * (PVE_PLUGIN_LIB = plugins/proxmox/perl), and runs `PVE::Storage::<fn>($cfg, ...)` calls as the
 * API and qemu-server make them. The plugin forwards to a real linstor-virt agent on a unix socket
 * (in this process), which talks to an emulator. Every node shares one /etc/pve stand-in
 * (storage.cfg, the cluster locks), like the nodes of one cluster. Each node's PATH starts with
 * test/proxmox/bin, whose `pvesm` runs the real PVE::CLI::pvesm, so PVE::Storage::storage_migrate's
 * `pvesm export | pvesm import` pipeline runs the real CLI too. API and CLI handlers run in a node
 * with `call(node, 'PVE::API2::Storage::Config->create', [param])` (see pve-real.pl).
 *
 * @example
 * ```ts
 * const pve = await startPveReal(t, { version: 9 })
 * const volid = await pve.call('alpha', 'vdisk_alloc', [pve.storeid, 100, null, 'vm-100-disk-0', 4096])
 * await pve.call('bravo', 'activate_volumes', [[volid]], 'void')
 * await assert.rejects(pve.call('alpha', 'vdisk_free', ['lv:base-100-disk-0']), /still in use by linked clones/)
 * ```
 */
import { spawn } from 'node:child_process'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import type { TestContext } from 'node:test'
import { startAgent } from '../../cli/agent/server.js'
import { buildDispatcher } from '../../cli/dispatcher.js'
import type { LinstorClient } from '../../core/linstor/index.js'
import { silentLogger } from '../../core/log/index.js'
import type { EmulatorOptions, RunningEmulator } from '../../emulator/index.js'
import { clientFor, withEmulator } from '../emulator/helpers.js'
import { tempDir } from '../helpers/core.js'
import { repoRoot } from '../helpers/paths.js'

export type PveVersion = 8 | 9

/** The shared folder beside the repository (`<repo root>/../shared`). */
export function sharedDir(): string {
  return resolve(repoRoot(), '..', 'shared')
}

/** Where a Proxmox VE release's storage library sources are unpacked. */
export function pveSrc(version: PveVersion): string {
  return join(sharedDir(), 'upstream', 'pve', String(version))
}

export function harnessDir(): string {
  return join(sharedDir(), 'tools', 'pve-harness')
}

/** Why the real library cannot run here, or undefined when it can. */
export function pveRealMissing(version: PveVersion): string | undefined {
  for (const p of [join(pveSrc(version), 'pve-storage', 'src', 'PVE', 'Storage.pm'), join(harnessDir(), 'lib', 'PVEHarness.pm'), '/usr/bin/perl']) {
    if (!existsSync(p)) return `${p} is missing`
  }
  return undefined
}

/** What one call answered: `ok` false carries PVE's die text (or the failed task's status). */
export interface PveReply {
  ok: boolean
  result?: unknown
  error?: string
  warnings?: string[]
  workers?: { upid: string; type: string; status: string; exitcode: number }[]
}

export type PveContext = 'scalar' | 'list' | 'void'

export interface PveNode {
  name: string
  /** The harness's boot report: versions, APIVER, the plugins the real loader registered. */
  boot: Record<string, unknown>
  /** Calls PVE::Storage::<fn>($cfg, ...args) on this node; never rejects for a PVE error (see `ok`). */
  request(fn: string, args: unknown[], context?: PveContext): Promise<PveReply>
}

export interface PveReal {
  version: PveVersion
  emu: RunningEmulator
  /** A LINSTOR client on the emulator, to look at what the calls did. */
  client: LinstorClient
  /** The storage id of the linstor section. */
  storeid: string
  /** The /etc/pve stand-in all nodes share. */
  etc: string
  /** The /etc/pve/priv stand-in (LINSTOR_VIRT_PVE_PRIV_DIR): the token is <priv>/storage/<storeid>.linstor-token. */
  priv: string
  /** A temporary folder of this cluster, removed after the test. */
  dir: string
  nodes: Record<string, PveNode>
  /**
   * Runs the real pvesm CLI as a pipeline, e.g. `pvesm export X raw+size -` on one node piped into
   * `pvesm import Y raw+size -` on another, as storage_migrate runs it (there through ssh).
   */
  pvesmPipe(steps: { node: string; args: string[] }[]): Promise<PipeResult>
  /** Calls PVE::Storage::<fn> on `node`: resolves to its result, rejects with PVE's die text. */
  call(node: string, fn: string, args: unknown[], context?: PveContext): Promise<unknown>
  /** The same, resolving to the whole reply (warnings, tasks) whether it failed or not. */
  request(node: string, fn: string, args: unknown[], context?: PveContext): Promise<PveReply>
  /** The warnings (Perl `warn`s) the calls made since the last look, "<node> <fn>: <text>"; taken out. */
  warnings(): string[]
  /**
   * Rewrites storage.cfg: the linstor section with these keys (none with null), then the extra
   * sections of the options, after the implicit local storage.
   */
  writeStorageCfg(scfg?: Record<string, string | number> | null): void
}

export interface PveRealOptions {
  version: PveVersion
  /** PVE node names, each also an emulator node (default alpha and bravo). */
  nodes?: string[]
  storeid?: string
  /** Keys of the linstor section besides the controller (default: place count 2); null: no linstor section. */
  scfg?: Record<string, string | number> | null
  emulator?: EmulatorOptions
  /** Seconds one call may take before the node is treated as hung (default 120). */
  callTimeoutS?: number
  /** storage.cfg text after the linstor section (other storages, e.g. a `dir:` one), or a function of the emulator's URL giving it. */
  extraSections?: string | ((emulatorUrl: string) => string)
  /** More environment of every node process (e.g. PVE_REAL_LOCK_WORK_LIMIT). */
  env?: Record<string, string>
}

/** A `linstor:` section of storage.cfg on the controller at `url` (content images,rootdir unless given). */
export function linstorSection(storeid: string, url: string, scfg: Record<string, string | number>): string {
  const keys = { 'linstor-controllers': url, content: 'images,rootdir', ...scfg }
  return `linstor: ${storeid}\n${Object.entries(keys)
    .map(([k, v]) => `\t${k} ${String(v)}\n`)
    .join('')}\n`
}

/** Starts one node process and waits for its boot report. */
async function startNode(t: TestContext, name: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<PveNode> {
  const child: ChildProcessWithoutNullStreams = spawn('/usr/bin/perl', [join(repoRoot(), 'test', 'proxmox', 'pve-real.pl')], { env, stdio: ['pipe', 'pipe', 'pipe'] })
  const stderr: string[] = []
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (c: string) => {
    stderr.push(c)
    if (stderr.length > 400) stderr.splice(0, stderr.length - 400)
  })
  const waiting = new Map<number, (r: PveReply & { id: number }) => void>()
  let exited: string | undefined
  const lines = createInterface({ input: child.stdout })
  lines.on('line', (line) => {
    let reply: PveReply & { id: number }
    try {
      reply = JSON.parse(line) as PveReply & { id: number }
    } catch {
      stderr.push(`(stdout) ${line}\n`)
      return
    }
    // Perl answers 1 and 0.
    reply.ok = (reply.ok as unknown) === true || (reply.ok as unknown) === 1
    waiting.get(reply.id)?.(reply)
    waiting.delete(reply.id)
  })
  child.on('exit', (code, signal) => {
    exited = `node ${name} exited (${signal ?? `code ${String(code)}`}); its stderr ends:\n${stderr.join('').slice(-4000)}`
    for (const [id, done] of waiting) done({ id, ok: false, error: exited })
    waiting.clear()
  })
  t.after(async () => {
    if (exited !== undefined) return
    const gone = new Promise<void>((r) => child.once('exit', () => r()))
    child.stdin.end()
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await gone
    clearTimeout(timer)
  })
  let next = 1
  const send = (id: number, body: object | undefined): Promise<PveReply & { id: number }> =>
    new Promise((resolveReply) => {
      if (exited !== undefined) return resolveReply({ id, ok: false, error: exited })
      const timer = setTimeout(() => {
        waiting.delete(id)
        resolveReply({ id, ok: false, error: `no reply from node ${name} within ${timeoutMs} ms; its stderr ends:\n${stderr.join('').slice(-4000)}` })
        child.kill('SIGKILL')
      }, timeoutMs)
      waiting.set(id, (r) => {
        clearTimeout(timer)
        resolveReply(r)
      })
      if (body !== undefined) child.stdin.write(`${JSON.stringify(body)}\n`)
    })
  const boot = await send(0, undefined)
  if (!boot.ok) throw new Error(`PVE node ${name} did not boot: ${boot.error ?? ''}\n${stderr.join('').slice(-4000)}`)
  return {
    name,
    boot: boot.result as Record<string, unknown>,
    request: async (fn, args, context = 'scalar') => {
      const id = next++
      const { id: _id, ...reply } = await send(id, { id, fn, args, context })
      void _id
      return reply
    },
  }
}

/**
 * An emulator, a real agent in this process on a unix socket, and one real-PVE process per node
 * with the linstor storage configured in storage.cfg. Everything is stopped after the test.
 */
export async function startPveReal(t: TestContext, o: PveRealOptions): Promise<PveReal> {
  const missing = pveRealMissing(o.version)
  if (missing !== undefined) throw new Error(`the real Proxmox VE ${o.version} storage library cannot run: ${missing}`)
  const emu = await withEmulator(t, { cloneDurationMs: 50, ...(o.emulator ?? {}) })
  const client = clientFor(t, emu, { timeoutMs: 10_000, ...(o.emulator?.token !== undefined ? { token: o.emulator.token } : {}) })
  const dir = tempDir(t, 'lv-pve-real-')
  // The agent's per-resource locks, in this cluster's folder (its agent reads this when it first
  // builds a storage; the clusters of one file run one after the other).
  process.env['LINSTOR_VIRT_LOCK_DIR'] = join(dir, 'locks')
  const etc = join(dir, 'etc')
  const priv = join(dir, 'priv')
  mkdirSync(etc)
  mkdirSync(priv, { mode: 0o700 })
  const socketPath = join(dir, 'agent.sock')
  const agent = await startAgent({ socketPath, dispatcher: buildDispatcher(silentLogger()), logger: silentLogger() })
  t.after(() => agent.close())
  const storeid = o.storeid ?? 'lv'
  const writeStorageCfg = (scfg: Record<string, string | number> | null = o.scfg === undefined ? { 'linstor-place-count': 2 } : o.scfg): void => {
    writeFileSync(join(etc, 'storage.cfg'), `${scfg === null ? '' : linstorSection(storeid, emu.url, scfg)}${typeof o.extraSections === 'function' ? o.extraSections(emu.url) : (o.extraSections ?? '')}`)
  }
  writeStorageCfg()
  const names = o.nodes ?? ['alpha', 'bravo']
  for (const n of names) mkdirSync(join(etc, 'nodes', n), { recursive: true })
  const timeoutMs = (o.callTimeoutS ?? 120) * 1000
  const nodes: Record<string, PveNode> = {}
  const envOf = (n: string): NodeJS.ProcessEnv => ({
    PATH: `${join(repoRoot(), 'test', 'proxmox', 'bin')}:${process.env['PATH'] ?? '/usr/bin:/bin'}`,
    LANG: 'C',
    PVE_SRC: pveSrc(o.version),
    PVE_HARNESS: harnessDir(),
    PVE_PLUGIN_LIB: join(repoRoot(), 'plugins', 'proxmox', 'perl'),
    PVE_HARNESS_ETC: etc,
    PVE_NODE: n,
    LINSTOR_VIRT_AGENT_SOCKET: socketPath,
    LINSTOR_VIRT_DEVICE_ROOT: emu.deviceRoot(n),
    LINSTOR_VIRT_PVE_PRIV_DIR: priv,
    ...(o.env ?? {}),
  })
  await Promise.all(
    names.map(async (n) => {
      nodes[n] = await startNode(t, n, envOf(n), timeoutMs)
    }),
  )
  const warnings: string[] = []
  const seen = (n: string, fn: string, r: PveReply): PveReply => {
    for (const w of r.warnings ?? []) warnings.push(`${n} ${fn}: ${w}`)
    return r
  }
  const nodeOf = (n: string): PveNode => {
    const node = nodes[n]
    if (node === undefined) throw new Error(`no PVE node ${n} (nodes: ${names.join(', ')})`)
    return node
  }
  return {
    version: o.version,
    emu,
    client,
    storeid,
    etc,
    priv,
    dir,
    nodes,
    request: async (n, fn, args, context) => seen(n, fn, await nodeOf(n).request(fn, args, context)),
    call: async (n, fn, args, context) => {
      const r = seen(n, fn, await nodeOf(n).request(fn, args, context))
      if (!r.ok) throw new Error(r.error ?? `${fn} failed`)
      return r.result
    },
    warnings: () => warnings.splice(0),
    writeStorageCfg,
    pvesmPipe: (steps) => pvesmPipe(steps.map((s) => ({ args: s.args, env: envOf(nodeOf(s.node).name) })), timeoutMs),
  }
}

/** What a pipeline of pvesm commands did: each one's exit status and stderr, and the last one's stdout. */
export interface PipeResult {
  codes: (number | null)[]
  stdout: string
  stderr: string[]
}

/**
 * Runs the real `pvesm` (test/proxmox/bin/pvesm) once per step, each as its node, the stdout of
 * each piped into the stdin of the next, without a shell.
 */
function pvesmPipe(steps: { args: string[]; env: NodeJS.ProcessEnv }[], timeoutMs: number): Promise<PipeResult> {
  const bin = join(repoRoot(), 'test', 'proxmox', 'bin', 'pvesm')
  return new Promise((resolvePipe) => {
    const children = steps.map((s) => spawn('/usr/bin/perl', [bin, ...s.args], { env: s.env, stdio: ['pipe', 'pipe', 'pipe'] }))
    const stderr = children.map(() => '')
    const codes: (number | null)[] = children.map(() => null)
    let stdout = ''
    let open = children.length
    const timer = setTimeout(() => children.forEach((c) => c.kill('SIGKILL')), timeoutMs)
    children.forEach((c, i) => {
      c.stderr.setEncoding('utf8')
      c.stderr.on('data', (d: string) => (stderr[i] += d))
      const next = children[i + 1]
      if (next !== undefined) c.stdout.pipe(next.stdin)
      else {
        c.stdout.setEncoding('utf8')
        c.stdout.on('data', (d: string) => (stdout += d))
      }
      if (i === 0) c.stdin.end()
      // A reader that died early must not kill the writer with EPIPE here.
      c.stdin.on('error', () => undefined)
      c.on('close', (code) => {
        codes[i] = code
        if (--open === 0) {
          clearTimeout(timer)
          resolvePipe({ codes, stdout, stderr })
        }
      })
    })
  })
}
