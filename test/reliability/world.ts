/**
 * A small world for the reliability tests (fault matrix and soak): one emulator, the three adapters'
 * operations behind one dispatcher with long-lived services (as in the per-host agent), a model of
 * the hypervisors (which node holds which volume open) and of each disk, and one function per
 * lifecycle step of each platform. A step is what the platform does around one call: the
 * hypervisor's part before it (a VM stops or has moved away), the call, and the hypervisor's part
 * once the call succeeded (a VM starts, an incoming migration opens the device).
 *
 * Two test seams, both outside the production code:
 * - the services wrap the LINSTOR transport of every Storage that storageOf builds, so a test can
 *   see each REST call before it is sent (to arm an emulator fault on the n-th write, or to "kill
 *   the process" before it with CrashingTransport);
 * - the dispatcher's operations are wrapped to know which are still running: an operation past its
 *   deadline keeps running in the agent (its reply has gone; it sends no more writes, but a write
 *   already sent still lands), a retry may run beside it, and the tests wait for it before they
 *   judge the state.
 *
 * OpenNebula's actions read documents through `onevm`/`onedatastore` and reach hosts through `ssh`:
 * the stand-ins of test/opennebula/standins are put first on this process's PATH, with one shared
 * document folder (each world uses its own datastore and VM ids in it).
 */
import { createHash, randomBytes } from 'node:crypto'
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { createServer } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { runDoctor } from '../../core/doctor/index.js'
import type { DoctorReport } from '../../core/doctor/index.js'
import { createLinstorClient } from '../../core/linstor/index.js'
import type { LinstorClient, LinstorRequest, LinstorResponse, LinstorTransport } from '../../core/linstor/index.js'
import { silentLogger } from '../../core/log/index.js'
import { Dispatcher, ServiceRegistry, coreOperations } from '../../core/protocol/index.js'
import type { CallServices, Operation } from '../../core/protocol/index.js'
import { Storage, createStorage } from '../../core/storage/index.js'
import { GiB, MiB } from '../../core/volumes/index.js'
import { startEmulator } from '../../emulator/index.js'
import type { ClusterSpec, RunningEmulator } from '../../emulator/index.js'
import { openNebulaOperations } from '../../plugins/opennebula/index.js'
import { cinderOperations } from '../../plugins/openstack-cinder/index.js'
import { proxmoxOperations } from '../../plugins/proxmox/index.js'
import { repoRoot } from '../helpers/paths.js'
import { blackHole } from '../helpers/servers.js'
import { actionData, datastoreXml, vmXml } from '../opennebula/one.js'
import { devicePath, sha256Of, volumeDataPath } from './invariants.js'
import type { Expected, ExpectedResource, VolumeChecksum, WrittenBytes } from './invariants.js'

export type Adapter = 'proxmox' | 'opennebula' | 'cinder'
export const ADAPTERS: readonly Adapter[] = ['proxmox', 'opennebula', 'cinder']
export const NODES: readonly string[] = ['alpha', 'bravo', 'charlie', 'delta']

export interface CallSpec {
  platform: Adapter | 'core'
  operation: string
  arguments: Record<string, unknown>
  config: Record<string, unknown>
}

export interface CallOutcome {
  ok: boolean
  result?: unknown
  code?: string
  message?: string
  /** Wall time until the reply. */
  ms: number
}

// ------------------------------------------------------------------ services and dispatcher seams

export type Send = (req: LinstorRequest) => Promise<LinstorResponse>
/** Sees every REST call of the adapters' Storages before it is sent. */
export type Interceptor = (req: LinstorRequest, send: Send) => Promise<LinstorResponse>

/** The agent's services, with the LINSTOR transport of each Storage passing through `interceptor`. */
export class WorldServices implements CallServices {
  readonly longLived = true
  interceptor: Interceptor | undefined
  #registry = new ServiceRegistry(true)

  shared<T>(key: string, make: () => T, dispose?: (value: T) => void): T {
    return this.#registry.shared(
      key,
      () => {
        const value = make()
        if (value instanceof Storage) this.#wrap(value.client.transport)
        return value
      },
      dispose,
    )
  }

  #wrap(t: LinstorTransport): void {
    const send: Send = t.request.bind(t)
    t.request = (req) => (this.interceptor === undefined ? send(req) : this.interceptor(req, send))
  }

  /** The agent process restarts: connections, caches and remembered controllers are gone. */
  restart(): void {
    this.#registry.close()
    this.#registry = new ServiceRegistry(true)
  }

  close(): void {
    this.#registry.close()
  }
}

function tracked(ops: Record<string, Operation>, pending: Set<Promise<unknown>>): Record<string, Operation> {
  return Object.fromEntries(
    Object.entries(ops).map(([name, op]): [string, Operation] => [
      name,
      {
        ...(op.kind !== undefined ? { kind: op.kind } : {}),
        run: (args, ctx) => {
          const p = op.run(args, ctx)
          pending.add(p)
          const done = (): void => {
            pending.delete(p)
          }
          void p.then(done, done)
          return p
        },
      },
    ]),
  )
}

// ------------------------------------------------------------------ OpenNebula front-end (per process)

interface OneHome {
  db: string
  hosts: string
  remotes: string
}

let oneHome: OneHome | undefined

/** The stand-ins' document folder and hosts, and PATH with the stand-ins first (once per process). */
function oneFrontEnd(): OneHome {
  if (oneHome !== undefined) return oneHome
  const dir = mkdtempSync(join(tmpdir(), 'lv-rel-one-'))
  const standins = join(repoRoot(), 'test', 'opennebula', 'standins')
  const home = { db: join(dir, 'db'), hosts: join(dir, 'hosts'), remotes: join(standins, 'remotes') }
  mkdirSync(home.db)
  mkdirSync(home.hosts)
  writeFileSync(join(home.db, `datastore-0.xml`), datastoreXml(0, {}, { type: 1, tmMad: 'ssh', name: 'system' }))
  process.env['PATH'] = `${join(standins, 'bin')}:${process.env['PATH'] ?? '/usr/bin:/bin'}`
  process.env['LV_ONE_DB'] = home.db
  process.env['LV_ONE_HOSTS'] = home.hosts
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
  oneHome = home
  return home
}

/** Hosts the ssh stand-in treats as down (shared by every world of this process). */
function setHostDown(host: string, down: boolean): void {
  const file = join(oneFrontEnd().db, 'dead-hosts')
  const now = existsSync(file) ? readFileSync(file, 'utf8').split(/\s+/).filter((h) => h !== '') : []
  const next = down ? [...new Set([...now, host])] : now.filter((h) => h !== host)
  writeFileSync(file, next.join('\n') + '\n')
}

let worlds = 0

// ------------------------------------------------------------------ the disk model

/** One VM disk as its platform and the hypervisor see it. */
export interface Disk {
  adapter: Adapter
  /** The LINSTOR resource. */
  resource: string
  exists: boolean
  /** Nodes where the VM holds the volume open. */
  running: string[]
  /** A live migration the platform has begun and not ended. */
  migration?: { from: string; to: string }
  data: WrittenBytes[]
  minSizeBytes: number
  snapshots: string[]
  /** Proxmox: VM id and volname; OpenNebula: VM id; Cinder: unused. */
  vmid: number
  volname: string
  /** Cinder: the volume id and the hosts Cinder lists as attached. */
  volumeId: string
  attached: string[]
  /** OpenNebula: image id, disk id, and the hosts of the VM's history. */
  imageId: number
  diskId: number
  history: string[]
  /** Diskful replicas besides the DR one (default 2); stack worlds set it (WorldOptions.placeCount). */
  placeCount?: number
  /** Nodes of the disaster-recovery replica the platform keeps (WorldOptions.dr). */
  dr?: string[]
  /** OpenNebula: the VM's private copy of an image (CLONE=YES, not persistent), made by tm clone. */
  oneClone?: boolean
  /** What volume 0's first bytes must hash to (set by the crash tests and the steps that copy data). */
  checksum?: VolumeChecksum
}

export interface Step {
  adapter: Adapter
  operation: string
  /** What makes this step special (e.g. "migration begin"), for reports. */
  variant?: string
  /** The node the operation acts on: the "hypervisor node" of the node-offline fault. */
  node: string
  /** The hypervisor's part before the call. */
  before(): void
  spec(): CallSpec
  /** Model update and the hypervisor's part once the call succeeded. */
  after(): void
  /**
   * The platform gives up after a failed call (no retry; the doctor is left to clean up): the
   * model update for that, and the platform's own clean-up step if it makes one (a failed create
   * is deleted). Absent: the platform retries this step until it succeeds.
   */
  giveUp?(): Step | undefined
}

export function stepLabel(s: Step): string {
  return `${s.adapter} ${s.operation}${s.variant !== undefined ? ` (${s.variant})` : ''}`
}

/** What the invariants expect of these disks. */
export function expectedOf(disks: readonly Disk[]): Expected {
  const resources: ExpectedResource[] = disks
    .filter((d) => d.exists)
    .map((d) => ({
      name: d.resource,
      placeCount: d.placeCount ?? 2,
      ...(d.dr !== undefined ? { dr: d.dr } : {}),
      running: d.running,
      ...(d.migration !== undefined ? { migration: d.migration } : {}),
      data: d.data,
      ...(d.checksum !== undefined ? { checksum: d.checksum } : {}),
      minSizeBytes: d.minSizeBytes,
      snapshots: d.snapshots,
    }))
  return { resources, absent: disks.filter((d) => !d.exists).map((d) => d.resource), exhaustive: true }
}

/** Settings without the keys an option set to '' (a stack world taking a default away). */
function withoutEmpty<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== ''))
}

const DIR = (vmid: number): string => `/var/lib/one//datastores/0/${vmid}`
const CINDER_TYPE = { id: 't1', name: 'two', extra_specs: { volume_backend_name: 'lv-1', 'linstor:redundancy': '2' } }
const ONE_IMAGE_MIB = 8
/** How much of a volume the crash tests hash: an OpenNebula image whole, a Cinder volume's first 8 MiB (where its patterns are). */
const CHECKSUM_BYTES = 8 * MiB
const PVE_SIZE_KIB = 4096

// ------------------------------------------------------------------ the world

export interface WorldOptions {
  /** Seed of the emulator's uuids and secrets. */
  seed?: number
  /**
   * Layer stacks and DR (issue 24): another cluster, its hypervisor nodes (spare() picks from
   * them; default NODES), the node standing for Cinder's and OpenNebula's front-end (default
   * alpha), and platform settings added to (or replacing) the defaults: storage.cfg keys, Cinder
   * extra specs, datastore attributes ('' removes a default). placeCount and dr are what the
   * invariants then expect.
   */
  cluster?: ClusterSpec
  nodes?: readonly string[]
  frontEnd?: string
  pve?: Record<string, unknown>
  cinderSpecs?: Record<string, string>
  one?: Record<string, string>
  placeCount?: number
  dr?: string
}

export class World {
  readonly id: number
  readonly emu: RunningEmulator
  readonly dir: string
  readonly lockDir: string
  /** A fault-free client and Storage for setup, inspection and the doctor. */
  readonly client: LinstorClient
  readonly storage: Storage
  readonly services = new WorldServices()
  readonly dispatcher: Dispatcher
  readonly #pending = new Set<Promise<unknown>>()
  #controllers: string[]
  readonly #cleanups: (() => unknown)[] = []
  #blackHole: Promise<string> | undefined
  #hung: Promise<string> | undefined
  /** The call under a fault runs with the core's controller budget; the harness's own steps wait longer (see underFault). */
  #faulted = false
  #vmids = 0
  #names = 0
  readonly options: WorldOptions
  /** The hypervisor nodes (WorldOptions.nodes, default NODES). */
  readonly nodes: readonly string[]
  /** The node standing for the front-end / Cinder's volume service (default alpha). */
  readonly frontEnd: string

  private constructor(emu: RunningEmulator, id: number, options: WorldOptions = {}) {
    this.id = id
    this.emu = emu
    this.options = options
    this.nodes = options.nodes ?? NODES
    this.frontEnd = options.frontEnd ?? 'alpha'
    this.dir = mkdtempSync(join(tmpdir(), 'lv-rel-'))
    this.lockDir = join(this.dir, 'locks')
    this.#controllers = [emu.url]
    this.client = createLinstorClient({ controllers: emu.url, env: {}, clientConfPaths: [], defaultTokenFile: '/nonexistent', retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 } })
    this.storage = createStorage({ client: this.client, lockDir: this.lockDir, localNode: 'alpha', deviceRoot: (node) => emu.deviceRoot(node), pollMs: 20 })
    const logger = silentLogger()
    this.dispatcher = new Dispatcher({ logger })
      .register('core', tracked(coreOperations(), this.#pending))
      .register('proxmox', tracked(proxmoxOperations(), this.#pending))
      .register('opennebula', tracked(openNebulaOperations(), this.#pending))
      .register('cinder', tracked(cinderOperations(), this.#pending))
    this.#writeDatastore()
  }

  static async create(options: WorldOptions = {}): Promise<World> {
    oneFrontEnd()
    const id = ++worlds
    const emu = await startEmulator({ logLevel: 'silent', cloneDurationMs: 20, ...(options.seed !== undefined ? { seed: options.seed } : {}), ...(options.cluster !== undefined ? { cluster: options.cluster } : {}) })
    return new World(emu, id, options)
  }

  // -------------------------------------------------------------- calls

  /** One call through the dispatcher, as the agent runs it. */
  async call(spec: CallSpec, deadlineMs: number): Promise<CallOutcome> {
    const started = performance.now()
    const reply = await this.dispatcher.dispatch({ v: 1, platform: spec.platform, operation: spec.operation, arguments: spec.arguments, config: spec.config, deadlineMs }, this.services)
    const ms = Math.round(performance.now() - started)
    if ('error' in reply) return { ok: false, code: reply.error.code, message: reply.error.message, ms }
    return { ok: true, result: reply.result, ms }
  }

  /**
   * Runs the call under a fault with the core's own controller budget (issue 20). Every other call
   * of the harness (set-up steps, re-runs, clean-ups) gets a generous budget instead: on a busy
   * machine running many worlds, a healthy controller may take longer than the 1.5 s budget, and a
   * set-up step that started from a local device instead of, say, beginning a live migration,
   * would not set up what the cell is about.
   */
  async underFault<T>(fn: () => Promise<T>): Promise<T> {
    this.#faulted = true
    try {
      return await fn()
    } finally {
      this.#faulted = false
    }
  }

  /** The controller budget the platforms' configurations carry now. */
  #budget(): Record<string, number> {
    return this.#faulted ? {} : { controllerBudgetMs: 15_000 }
  }

  /** Waits until no operation is running any more (those past their deadline included). */
  async quiesce(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending])
  }

  /** A step without faults: it must succeed. */
  async perform(step: Step, deadlineMs = 20_000): Promise<void> {
    step.before()
    const r = await this.call(step.spec(), deadlineMs)
    if (!r.ok) throw new Error(`${stepLabel(step)} failed without a fault: ${r.code ?? ''} ${r.message ?? ''}`)
    step.after()
  }

  doctor(fix: boolean): Promise<DoctorReport> {
    return runDoctor(this.storage, { fix })
  }

  // -------------------------------------------------------------- controllers (black-hole fault)

  get controllers(): readonly string[] {
    return this.#controllers
  }

  /** The controller list every platform is configured with from now on. */
  setControllers(urls: readonly string[]): void {
    this.#controllers = [...urls]
    this.#writeDatastore()
  }

  /**
   * A controller that accepts connections and reads requests but never answers (a hung JVM): one
   * per world, closed with it.
   */
  hungController(): Promise<string> {
    this.#hung ??= new Promise<string>((resolve, reject) => {
      const sockets = new Set<Socket>()
      const server = createServer((s) => {
        sockets.add(s)
        s.on('error', () => undefined)
        s.on('close', () => sockets.delete(s))
        s.resume()
      })
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => {
        this.#cleanups.push(() => new Promise<void>((done) => {
          for (const s of sockets) s.destroy()
          server.close(() => done())
        }))
        resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
      })
    })
    return this.#hung
  }

  /** A listener that black-holes connections (one per world, closed with it). */
  blackHole(): Promise<string> {
    this.#blackHole ??= blackHole({ after: (fn: () => unknown) => void this.#cleanups.push(fn) } as unknown as TestContext).then((bh) => bh.url)
    return this.#blackHole
  }

  /** The node is down: LINSTOR sees it offline (its Primaries are lost) and ssh does not reach it. */
  setNodeDown(node: string, down: boolean): void {
    this.emu.control.setOnline(node, !down)
    setHostDown(node, down)
  }

  // -------------------------------------------------------------- the hypervisor

  /** The hypervisor opens the volume on `node` (a VM starts there): DRBD Primary. */
  vmOpen(node: string, d: Disk): void {
    this.emu.control.open(node, d.resource)
    if (!d.running.includes(node)) d.running.push(node)
  }

  /** The VM has left `node`: the device is closed there. */
  vmClose(node: string, d: Disk): void {
    this.emu.control.close(node, d.resource)
    d.running = d.running.filter((n) => n !== node)
  }

  /** Writes 4 KiB of random bytes into volume 0 through a replica's device file and remembers them. */
  writePattern(d: Disk): void {
    const rd = Object.values(this.emu.state().resourceDefinitions).find((x) => x.name.toLowerCase() === d.resource.toLowerCase())
    const node = Object.values(rd?.resources ?? {}).find((r) => r.kind === 'diskful')?.node
    if (node === undefined) throw new Error(`${d.resource} has no diskful replica to write through`)
    const bytes = randomBytes(4096)
    const offset = 512 * 1024 + d.data.length * 4096
    // Stacks without DRBD have no by-res device: the volume's bytes as the emulator keeps them.
    const drbd = devicePath(this.emu, node, d.resource)
    const fd = openSync(existsSync(drbd) ? drbd : volumeDataPath(this.emu, d.resource), 'r+')
    try {
      writeSync(fd, bytes, 0, bytes.length, offset)
    } finally {
      closeSync(fd)
    }
    d.data.push({ offset, bytes })
  }

  /** SHA-256 of volume 0's first bytes (at most CHECKSUM_BYTES) as a diskful replica's device file holds them now. */
  checksumNow(d: Disk): VolumeChecksum {
    const node = this.diskful(d.resource)[0]
    if (node === undefined) throw new Error(`${d.resource} has no diskful replica to read`)
    const bytes = Math.min(CHECKSUM_BYTES, d.minSizeBytes)
    const drbd = devicePath(this.emu, node, d.resource)
    const sha256 = sha256Of(existsSync(drbd) ? drbd : volumeDataPath(this.emu, d.resource), bytes)
    if (sha256 === undefined) throw new Error(`${d.resource}: volume 0 unreadable on ${node}`)
    return { bytes, sha256 }
  }

  /** Nodes holding a diskful replica of the resource, sorted. */
  diskful(rsc: string): string[] {
    const rd = Object.values(this.emu.state().resourceDefinitions).find((x) => x.name.toLowerCase() === rsc.toLowerCase())
    return Object.values(rd?.resources ?? {}).filter((r) => r.kind === 'diskful').map((r) => r.node).sort()
  }

  /** Nodes without a diskful replica: first one with no replica at all, then a tie-breaker's. */
  spare(rsc: string): string[] {
    const rd = Object.values(this.emu.state().resourceDefinitions).find((x) => x.name.toLowerCase() === rsc.toLowerCase())
    const kind = (n: string): string | undefined => Object.values(rd?.resources ?? {}).find((r) => r.node === n)?.kind
    const free = this.nodes.filter((n) => kind(n) !== 'diskful')
    return [...free.filter((n) => kind(n) === undefined), ...free.filter((n) => kind(n) !== undefined)]
  }

  // -------------------------------------------------------------- disks

  newDisk(adapter: Adapter): Disk {
    const n = ++this.#names
    const vmid = this.id * 1000 + ++this.#vmids
    const volumeId = `${(0x10000000 + this.id).toString(16)}-0000-4000-8000-${n.toString(16).padStart(12, '0')}`
    const resource = adapter === 'proxmox' ? `vm-${vmid}-disk-0` : adapter === 'cinder' ? `CV_${volumeId}` : `OpenNebula-Image-${n}`
    return {
      adapter,
      resource,
      exists: false,
      running: [],
      data: [],
      minSizeBytes: 0,
      snapshots: [],
      vmid,
      volname: `vm-${vmid}-disk-0`,
      volumeId,
      attached: [],
      imageId: n,
      diskId: 1,
      history: [],
      ...(this.options.placeCount !== undefined ? { placeCount: this.options.placeCount } : {}),
      ...(this.options.dr !== undefined ? { dr: [this.options.dr] } : {}),
    }
  }

  // -------------------------------------------------------------- platform configurations

  pveConfig(node: string): Record<string, unknown> {
    return {
      storeid: 'drbdstore',
      node,
      scfg: withoutEmpty({ 'linstor-controllers': this.#controllers.join(','), 'linstor-place-count': 2, content: 'images,rootdir', ...this.options.pve }),
      deviceRoot: this.emu.deviceRoot(node),
      lockDir: this.lockDir,
      ...this.#budget(),
    }
  }

  cinderConfig(): Record<string, unknown> {
    return { backend: 'lv-1', controllers: [...this.#controllers], cinderHost: 'ctl', nodeMap: { ctl: this.frontEnd }, lockDir: this.lockDir, deviceRoot: this.emu.deviceRoot('{node}'), ...this.#budget() }
  }

  oneConfig(): Record<string, unknown> {
    return { remotes: oneFrontEnd().remotes, deviceRoot: this.emu.deviceRoot('{node}'), lockDir: this.lockDir, ...this.#budget() }
  }

  /** This world's image datastore id in the shared document folder. */
  get dsId(): number {
    return 100 + this.id
  }

  #datastoreXml(): string {
    return datastoreXml(this.dsId, withoutEmpty({ LINSTOR_CONTROLLERS: this.#controllers.join(','), LINSTOR_PLACE_COUNT: '2', BRIDGE_LIST: 'alpha bravo', ...this.options.one }))
  }

  #writeDatastore(): void {
    writeFileSync(join(oneFrontEnd().db, `datastore-${this.dsId}.xml`), this.#datastoreXml())
  }

  #vmXml(d: Disk): string {
    const kind = d.oneClone === true ? { clone: true } : { persistent: true }
    return vmXml(d.vmid, [{ id: d.diskId, image: d.imageId, ...kind, sizeMiB: ONE_IMAGE_MIB, dsId: this.dsId }], d.history.length > 0 ? d.history : [this.frontEnd])
  }

  #storeVm(d: Disk): void {
    writeFileSync(join(oneFrontEnd().db, `vm-${d.vmid}.xml`), this.#vmXml(d))
  }

  // -------------------------------------------------------------- Proxmox steps

  #pve(node: string, operation: string, args: Record<string, unknown>): CallSpec {
    return { platform: 'proxmox', operation, arguments: args, config: this.pveConfig(node) }
  }

  pveAlloc(d: Disk, node: string): Step {
    return {
      adapter: 'proxmox', operation: 'alloc_image', node,
      before: () => undefined,
      spec: () => this.#pve(node, 'alloc_image', { vmid: d.vmid, fmt: 'raw', name: d.volname, sizeKib: PVE_SIZE_KIB }),
      after: () => {
        d.exists = true
        d.minSizeBytes = PVE_SIZE_KIB * 1024
      },
      giveUp: () => this.pveFree(d, node),
    }
  }

  /** activate_volume on `node`; the VM then starts there (a live migration when it runs elsewhere). */
  pveActivate(d: Disk, node: string): Step {
    const from = d.running.find((n) => n !== node)
    return {
      adapter: 'proxmox', operation: 'activate_volume', node, ...(from !== undefined ? { variant: 'migration begin' } : {}),
      before: () => undefined,
      spec: () => this.#pve(node, 'activate_volume', { volname: d.volname, snapname: null, hints: null }),
      after: () => {
        this.vmOpen(node, d)
        if (from !== undefined) d.migration = { from, to: node }
      },
      // The VM does not start (or the migration is aborted): as before.
      giveUp: () => undefined,
    }
  }

  /** The VM has left `node` (stopped, or moved on): deactivate_volume there. */
  pveDeactivate(d: Disk, node: string): Step {
    const ending = d.migration !== undefined && [d.migration.from, d.migration.to].includes(node)
    return {
      adapter: 'proxmox', operation: 'deactivate_volume', node, ...(ending ? { variant: 'migration end' } : {}),
      before: () => this.vmClose(node, d),
      spec: () => this.#pve(node, 'deactivate_volume', { volname: d.volname, snapname: null }),
      after: () => {
        if (ending) delete d.migration
      },
      // The VM has left the node either way; a migration it ended is over for the platform.
      giveUp: () => {
        if (ending) delete d.migration
        return undefined
      },
    }
  }

  pveSnapshot(d: Disk, node: string, snap: string): Step {
    return {
      adapter: 'proxmox', operation: 'volume_snapshot', node,
      before: () => undefined,
      spec: () => this.#pve(node, 'volume_snapshot', { volname: d.volname, snap }),
      after: () => {
        if (!d.snapshots.includes(snap)) d.snapshots.push(snap)
      },
    }
  }

  pveResize(d: Disk, node: string, bytes: number): Step {
    return {
      adapter: 'proxmox', operation: 'volume_resize', node,
      before: () => undefined,
      spec: () => this.#pve(node, 'volume_resize', { volname: d.volname, sizeBytes: bytes, running: d.running.length > 0 ? 1 : 0 }),
      after: () => {
        d.minSizeBytes = Math.max(d.minSizeBytes, bytes)
      },
    }
  }

  pveFree(d: Disk, node: string): Step {
    return {
      adapter: 'proxmox', operation: 'free_image', node,
      before: () => undefined,
      spec: () => this.#pve(node, 'free_image', { volname: d.volname, isBase: 0 }),
      after: () => {
        d.exists = false
        d.snapshots = []
        d.data = []
      },
    }
  }

  // -------------------------------------------------------------- Cinder steps

  #volume(d: Disk, attached: readonly string[] = d.attached): Record<string, unknown> {
    return {
      id: d.volumeId,
      name_id: d.volumeId,
      size: Math.max(1, Math.ceil(d.minSizeBytes / GiB)),
      multiattach: false,
      status: attached.length > 0 ? 'in-use' : 'available',
      volume_type: this.options.cinderSpecs === undefined ? CINDER_TYPE : { ...CINDER_TYPE, extra_specs: withoutEmpty({ ...CINDER_TYPE.extra_specs, ...this.options.cinderSpecs }) },
      attachments: attached.map((h) => ({ id: `att-${h}`, attached_host: h, attach_status: 'attached', instance_uuid: 'inst-1' })),
    }
  }

  #cinder(operation: string, args: Record<string, unknown>): CallSpec {
    return { platform: 'cinder', operation, arguments: args, config: this.cinderConfig() }
  }

  cinderCreate(d: Disk): Step {
    return {
      adapter: 'cinder', operation: 'create_volume', node: this.frontEnd,
      before: () => undefined,
      spec: () => this.#cinder('create_volume', { volume: { ...this.#volume(d), size: 1 } }),
      after: () => {
        d.exists = true
        d.minSizeBytes = Math.max(d.minSizeBytes, GiB)
      },
      // Cinder marks the volume 'error'; the user deletes it.
      giveUp: () => this.cinderDelete(d, this.frontEnd),
    }
  }

  /** initialize_connection for an instance on `host`; a second host while one is attached is Nova's live migration. */
  cinderAttach(d: Disk, host: string): Step {
    const from = d.attached.find((h) => h !== host)
    const attached = [...d.attached]
    return {
      adapter: 'cinder', operation: 'initialize_connection', node: host, ...(from !== undefined ? { variant: 'migration begin' } : {}),
      before: () => undefined,
      spec: () => this.#cinder('initialize_connection', { volume: this.#volume(d, attached), connector: { host } }),
      after: () => {
        this.vmOpen(host, d)
        if (!d.attached.includes(host)) d.attached.push(host)
        if (from !== undefined) d.migration = { from, to: host }
      },
      giveUp: () => undefined,
    }
  }

  /** The instance has left `host`: terminate_connection there. */
  cinderDetach(d: Disk, host: string): Step {
    const ending = d.migration !== undefined && [d.migration.from, d.migration.to].includes(host)
    const attached = [...d.attached]
    return {
      adapter: 'cinder', operation: 'terminate_connection', node: host, ...(ending ? { variant: 'migration end' } : {}),
      before: () => this.vmClose(host, d),
      spec: () => this.#cinder('terminate_connection', { volume: this.#volume(d, attached), connector: { host } }),
      after: () => {
        d.attached = d.attached.filter((h) => h !== host)
        if (ending) delete d.migration
      },
      giveUp: () => {
        d.attached = d.attached.filter((h) => h !== host)
        if (ending) delete d.migration
        return undefined
      },
    }
  }

  cinderExtend(d: Disk, node: string, gib: number): Step {
    return {
      adapter: 'cinder', operation: 'extend_volume', node,
      before: () => undefined,
      spec: () => this.#cinder('extend_volume', { volume: this.#volume(d), newSizeGib: gib }),
      after: () => {
        d.minSizeBytes = Math.max(d.minSizeBytes, gib * GiB)
      },
    }
  }

  cinderSnapshot(d: Disk, node: string, snapId: string): Step {
    return {
      adapter: 'cinder', operation: 'create_snapshot', node,
      before: () => undefined,
      spec: () => this.#cinder('create_snapshot', { snapshot: { id: snapId, name: `snap-${snapId}`, volume_size: Math.ceil(d.minSizeBytes / GiB), provider_id: null, volume: this.#volume(d) } }),
      after: () => {
        if (!d.snapshots.includes(`SN_${snapId}`)) d.snapshots.push(`SN_${snapId}`)
      },
    }
  }

  cinderDeleteSnapshot(d: Disk, node: string, snapId: string): Step {
    return {
      adapter: 'cinder', operation: 'delete_snapshot', node,
      before: () => undefined,
      spec: () => this.#cinder('delete_snapshot', { snapshot: { id: snapId, name: `snap-${snapId}`, volume_size: Math.ceil(d.minSizeBytes / GiB), provider_id: null, volume: this.#volume(d) } }),
      after: () => {
        d.snapshots = d.snapshots.filter((s) => s !== `SN_${snapId}`)
      },
    }
  }

  cinderDelete(d: Disk, node: string): Step {
    return {
      adapter: 'cinder', operation: 'delete_volume', node,
      before: () => undefined,
      spec: () => this.#cinder('delete_volume', { volume: this.#volume(d) }),
      after: () => {
        d.exists = false
        d.snapshots = []
        d.data = []
      },
    }
  }

  // -------------------------------------------------------------- OpenNebula steps

  #one(operation: string, argv: string[], stdin?: string): CallSpec {
    return { platform: 'opennebula', operation, arguments: { argv, ...(stdin !== undefined ? { stdin } : {}) }, config: this.oneConfig() }
  }

  /** ds mkfs of an empty raw datablock: the persistent image behind the VM's disk. */
  oneMkfs(d: Disk): Step {
    return {
      adapter: 'opennebula', operation: 'ds.mkfs', node: this.frontEnd,
      before: () => undefined,
      spec: () => this.#one('ds.mkfs', [String(d.imageId)], actionData({ ID: String(d.imageId), FORMAT: 'raw', SIZE: String(ONE_IMAGE_MIB), TYPE: '2' }, this.#datastoreXml())),
      after: () => {
        d.exists = true
        d.minSizeBytes = ONE_IMAGE_MIB * MiB
      },
      giveUp: () => this.oneRm(d),
    }
  }

  /** tm ln: the VM is deployed on `host` with the image as its persistent disk; then it starts. */
  oneLn(d: Disk, host: string): Step {
    return {
      adapter: 'opennebula', operation: 'tm.ln', node: host,
      before: () => {
        d.history = [host]
        this.#storeVm(d)
      },
      spec: () => this.#one('tm.ln', [`one-fe:${d.resource}`, `${host}:${DIR(d.vmid)}/disk.${d.diskId}`, String(d.vmid), String(this.dsId)]),
      after: () => this.vmOpen(host, d),
      giveUp: () => undefined,
    }
  }

  /** tm mv: the VM was stopped on `from` and resumes on `to` (cold migration, recovery); acts on `from`'s leftovers. */
  oneMv(d: Disk, from: string, to: string): Step {
    return {
      adapter: 'opennebula', operation: 'tm.mv', node: from,
      before: () => {
        this.vmClose(from, d)
        d.history = [...d.history, to]
        this.#storeVm(d)
      },
      spec: () => this.#one('tm.mv', [`${from}:${DIR(d.vmid)}/disk.${d.diskId}`, `${to}:${DIR(d.vmid)}/disk.${d.diskId}`, String(d.vmid), String(this.dsId)]),
      after: () => this.vmOpen(to, d),
      // The VM stays stopped.
      giveUp: () => undefined,
    }
  }

  /** tm delete of the disk on `host` after the VM stopped there (the persistent image stays). */
  oneDelete(d: Disk, host: string): Step {
    return {
      adapter: 'opennebula', operation: 'tm.delete', node: host,
      before: () => this.vmClose(host, d),
      spec: () => this.#one('tm.delete', [`${host}:${DIR(d.vmid)}/disk.${d.diskId}`, String(d.vmid), String(this.dsId)]),
      after: () => undefined,
      giveUp: () => undefined,
    }
  }

  #migrate(action: 'premigrate' | 'postmigrate', d: Disk, from: string, to: string): CallSpec {
    // As ssh's premigrate calls the image datastores' TMs: the caller as 6th argument, the VM on stdin.
    return this.#one(`tm.${action}`, [from, to, DIR(d.vmid), String(d.vmid), '0', 'ssh'], Buffer.from(this.#vmXml(d)).toString('base64'))
  }

  onePremigrate(d: Disk, from: string, to: string): Step {
    return {
      adapter: 'opennebula', operation: 'tm.premigrate', node: to,
      before: () => undefined,
      spec: () => this.#migrate('premigrate', d, from, to),
      after: () => {
        this.vmOpen(to, d)
        d.migration = { from, to }
      },
      giveUp: () => undefined,
    }
  }

  /** The VM runs on `to` now and has left `from`: tm postmigrate. */
  onePostmigrate(d: Disk, from: string, to: string): Step {
    return {
      adapter: 'opennebula', operation: 'tm.postmigrate', node: from,
      before: () => this.vmClose(from, d),
      spec: () => this.#migrate('postmigrate', d, from, to),
      after: () => {
        delete d.migration
        d.history = [...d.history, to]
        this.#storeVm(d)
      },
      giveUp: () => {
        delete d.migration
        return undefined
      },
    }
  }

  /** The migration failed: the VM stays on `from` and has left `to`; tm failmigrate. */
  oneFailmigrate(d: Disk, from: string, to: string): Step {
    return {
      adapter: 'opennebula', operation: 'tm.failmigrate', node: to, variant: 'migration abort',
      before: () => this.vmClose(to, d),
      spec: () => this.#one('tm.failmigrate', [from, to, DIR(d.vmid), String(d.vmid), '0', 'ssh'], Buffer.from(this.#vmXml(d)).toString('base64')),
      after: () => {
        delete d.migration
      },
      giveUp: () => {
        delete d.migration
        return undefined
      },
    }
  }

  /** ds rm of the image (no VM uses it). */
  oneRm(d: Disk): Step {
    return {
      adapter: 'opennebula', operation: 'ds.rm', node: this.frontEnd,
      before: () => undefined,
      spec: () => this.#one('ds.rm', [String(d.imageId)], actionData({ ID: String(d.imageId), SOURCE: d.resource, FORMAT: 'raw', SIZE: String(ONE_IMAGE_MIB), TYPE: '2' }, this.#datastoreXml())),
      after: () => {
        d.exists = false
        d.snapshots = []
        d.data = []
      },
    }
  }

  // -------------------------------------------------------------- data-copying steps (issue 28's crash points)

  /** The bytes a disk holds now, as a copy (what a clone, a snapshot or a revert carries). */
  static dataOf(d: Disk): WrittenBytes[] {
    return d.data.map((w) => ({ offset: w.offset, bytes: Buffer.from(w.bytes) }))
  }

  /** ds cp of a raw file of ONE_IMAGE_MIB MiB with random bytes at both ends (`file` lies in the datastore's SAFE_DIRS). */
  oneCp(d: Disk, file: string): Step {
    const head = randomBytes(64 * 1024)
    const tail = randomBytes(64 * 1024)
    const size = ONE_IMAGE_MIB * MiB
    let sum: VolumeChecksum | undefined
    return {
      adapter: 'opennebula', operation: 'ds.cp', node: this.frontEnd, variant: 'image import',
      before: () => {
        const raw = Buffer.alloc(size)
        head.copy(raw, 0)
        tail.copy(raw, size - tail.length)
        writeFileSync(file, raw)
        sum = { bytes: Math.min(CHECKSUM_BYTES, size), sha256: createHash('sha256').update(raw.subarray(0, CHECKSUM_BYTES)).digest('hex') }
      },
      spec: () => this.#one('ds.cp', [String(d.imageId)], actionData({ ID: String(d.imageId), PATH: file, SIZE: String(ONE_IMAGE_MIB), TYPE: '0' }, this.#datastoreXml())),
      after: () => {
        d.exists = true
        d.minSizeBytes = size
        d.data = [{ offset: 0, bytes: head }, { offset: size - tail.length, bytes: tail }]
        if (sum !== undefined) d.checksum = sum
      },
      giveUp: () => this.oneRm(d),
    }
  }

  /** The disk a VM gets from tm clone of image `src` (OpenNebula-Image-<id>-vm<vmid>-disk<id>). */
  oneCloneDisk(src: Disk): Disk {
    const d = this.newDisk('opennebula')
    d.imageId = src.imageId
    d.oneClone = true
    d.resource = `${src.resource}-vm${d.vmid}-disk${d.diskId}`
    return d
  }

  /** tm clone: the VM's private copy of image `src` on `host` (d from oneCloneDisk); the VM then starts there. */
  oneClone(src: Disk, d: Disk, host: string): Step {
    return {
      adapter: 'opennebula', operation: 'tm.clone', node: host,
      before: () => {
        d.history = [host]
        this.#storeVm(d)
      },
      spec: () => this.#one('tm.clone', [`one-fe:${src.resource}`, `${host}:${DIR(d.vmid)}/disk.${d.diskId}`, String(d.vmid), String(this.dsId)]),
      after: () => {
        d.exists = true
        d.minSizeBytes = src.minSizeBytes
        d.data = World.dataOf(src)
        d.checksum = this.checksumNow(src)
        this.vmOpen(host, d)
      },
      giveUp: () => undefined,
    }
  }

  /** tm snap_create of disk snapshot `snapId` (the VM is powered off on `host`). */
  oneSnapCreate(d: Disk, host: string, snapId: number): Step {
    return {
      adapter: 'opennebula', operation: 'tm.snap_create', node: host,
      before: () => undefined,
      spec: () => this.#one('tm.snap_create', [`${host}:${DIR(d.vmid)}/disk.${d.diskId}`, String(snapId), String(d.vmid), String(this.dsId)]),
      after: () => {
        if (!d.snapshots.includes(`OpenNebula-Snap-${snapId}`)) d.snapshots.push(`OpenNebula-Snap-${snapId}`)
      },
    }
  }

  /** tm snap_revert to snapshot `snapId`, whose bytes were `atSnapshot` (the VM is powered off on `host`). */
  oneSnapRevert(d: Disk, host: string, snapId: number, atSnapshot: readonly WrittenBytes[], sumAtSnapshot: VolumeChecksum): Step {
    return {
      adapter: 'opennebula', operation: 'tm.snap_revert', node: host,
      before: () => undefined,
      spec: () => this.#one('tm.snap_revert', [`${host}:${DIR(d.vmid)}/disk.${d.diskId}`, String(snapId), String(d.vmid), String(this.dsId)]),
      after: () => {
        d.data = atSnapshot.map((w) => ({ offset: w.offset, bytes: Buffer.from(w.bytes) }))
        d.checksum = sumAtSnapshot
      },
    }
  }

  /** Cinder create_volume_from_snapshot: `d` made from snapshot `snapId` of `src`, whose bytes were `atSnapshot`. */
  cinderFromSnapshot(d: Disk, src: Disk, snapId: string, atSnapshot: readonly WrittenBytes[], sumAtSnapshot: VolumeChecksum): Step {
    return {
      adapter: 'cinder', operation: 'create_volume_from_snapshot', node: this.frontEnd,
      before: () => undefined,
      spec: () => this.#cinder('create_volume_from_snapshot', {
        volume: { ...this.#volume(d), size: Math.max(1, Math.ceil(src.minSizeBytes / GiB)) },
        snapshot: { id: snapId, name: `snap-${snapId}`, volume_size: Math.ceil(src.minSizeBytes / GiB), provider_id: null, volume: this.#volume(src) },
      }),
      after: () => {
        d.exists = true
        d.minSizeBytes = Math.max(d.minSizeBytes, src.minSizeBytes)
        d.data = atSnapshot.map((w) => ({ offset: w.offset, bytes: Buffer.from(w.bytes) }))
        d.checksum = sumAtSnapshot
      },
      giveUp: () => this.cinderDelete(d, this.frontEnd),
    }
  }

  /** Cinder create_cloned_volume: `d` a copy of `src` as it is now. */
  cinderClone(d: Disk, src: Disk): Step {
    return {
      adapter: 'cinder', operation: 'create_cloned_volume', node: this.frontEnd,
      before: () => undefined,
      spec: () => this.#cinder('create_cloned_volume', { volume: { ...this.#volume(d), size: Math.max(1, Math.ceil(src.minSizeBytes / GiB)) }, source: this.#volume(src) }),
      after: () => {
        d.exists = true
        d.minSizeBytes = Math.max(d.minSizeBytes, src.minSizeBytes)
        d.data = World.dataOf(src)
        d.checksum = this.checksumNow(src)
      },
      giveUp: () => this.cinderDelete(d, this.frontEnd),
    }
  }

  // -------------------------------------------------------------- end

  async close(): Promise<void> {
    await this.quiesce()
    for (const fn of this.#cleanups.splice(0)) await fn()
    this.services.close()
    this.client.close()
    await this.emu.close()
    rmSync(this.dir, { recursive: true, force: true })
    rmSync(join(oneFrontEnd().db, `datastore-${this.dsId}.xml`), { force: true })
  }
}
