/**
 * What every OpenNebula driver action shares: its arguments as oned passed them, the documents it
 * reads back through OpenNebula's CLI (`onevm show -x`, `onedatastore show -x`), the Storage of a
 * datastore, the hosts' device paths, ssh, and the INFO lines it reports. One per call.
 */
import { PluginError, inOperatorWords, isPluginError } from '../../core/errors/index.js'
import type { PlatformWords } from '../../core/errors/index.js'
import { isControllerTrouble } from '../../core/ha/index.js'
import { withinBudget } from '../../core/linstor/index.js'
import { storageOf } from '../../core/protocol/index.js'
import type { CallContext } from '../../core/protocol/index.js'
import type { Storage } from '../../core/storage/index.js'
import { replicaOn, stableDevicePath, stackName, stackOf } from '../../core/volumes/index.js'
import type { ResourceInfo } from '../../core/volumes/index.js'
import type { Attachment } from '../../core/lifecycle/index.js'
import { parseDocument, parseXml } from './xml.js'
import type { XmlElement } from './xml.js'
import { oneSettings, oneWords, unknownAttributeWarnings } from './settings.js'
import type { CallEnvironment, OneSettings } from './settings.js'
import { remoteFromEnv } from './remote.js'
import type { Remote } from './remote.js'

/** What the launcher sends (arguments of the call request). */
export interface DriverArguments {
  /** argv after the executable, exactly as oned passed it. */
  argv: string[]
  /** stdin, when the action reads it (DS actions, pre/post/failmigrate, backups, tm monitor). */
  stdin?: string
}

/** The reply's result: stdout for oned, and INFO/WARN lines for the VM log. */
export interface DriverResult {
  stdout: string
  messages: string[]
}

const CLI_TIMEOUT_MS = 30_000

/** Runs one OpenNebula CLI command and returns its stdout (front-end, as oneadmin). */
async function runCli(cmd: string, args: string[], signal: AbortSignal): Promise<string> {
  // Loaded when used: an action that stops at its arguments starts without it.
  const { spawn } = await import('node:child_process')
  return new Promise((resolve, reject) => {
    // The deadline as a signal of our own: spawn's `timeout` keeps its timer (and the process) alive
    // for its whole length when the command does not exist.
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], signal: AbortSignal.any([signal, AbortSignal.timeout(CLI_TIMEOUT_MS)]) })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (c: Buffer) => out.push(c))
    child.stderr.on('data', (c: Buffer) => err.push(c))
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(new PluginError('ONE_CLI_FAILED', e.code === 'ENOENT' ? `${cmd} is not installed or not on PATH` : `${cmd} ${args.join(' ')}: ${e.message}`))
    })
    child.on('close', (code) => {
      if (code === 0) return resolve(Buffer.concat(out).toString('utf8'))
      const last = Buffer.concat(err).toString('utf8').trim().split('\n').pop() ?? ''
      reject(new PluginError('ONE_CLI_FAILED', `${cmd} ${args.join(' ')} failed${code === null ? ' (killed)' : ` (exit ${code})`}${last !== '' ? `: ${last}` : ''}`))
    })
  })
}

export class OneCall {
  readonly ctx: CallContext
  readonly argv: string[]
  readonly stdin: string | undefined
  readonly env: CallEnvironment
  readonly messages: string[] = []
  #remote: Remote | undefined
  readonly #docs = new Map<string, Promise<XmlElement>>()
  readonly #nodes = new Map<Storage, Promise<Set<string> | undefined>>()
  /** A controller gave no usable answer within a budget in this action: later steps do not wait on it again. */
  #unanswered = false
  /** The words of the datastore whose settings were read last (errors are put in them). */
  #words: PlatformWords | undefined
  /** Datastores whose template was checked for attributes nobody reads (once per call each). */
  readonly #checked = new Set<string>()

  constructor(ctx: CallContext, args: Readonly<Record<string, unknown>>) {
    this.ctx = ctx
    const argv = args['argv']
    if (!Array.isArray(argv) || !argv.every((a) => typeof a === 'string')) throw new PluginError('CALL_INVALID', 'arguments.argv: must be a list of strings')
    this.argv = argv
    const stdin = args['stdin']
    this.stdin = typeof stdin === 'string' ? stdin : undefined
    const c = ctx.config
    this.env = {
      ...(typeof c['deviceRoot'] === 'string' ? { deviceRoot: c['deviceRoot'] } : {}),
      ...(typeof c['lockDir'] === 'string' && c['lockDir'] !== '' ? { lockDir: c['lockDir'] } : {}),
      ...(typeof c['stateDir'] === 'string' && c['stateDir'] !== '' ? { stateDir: c['stateDir'] } : {}),
      ...(typeof c['controllerBudgetMs'] === 'number' ? { controllerBudgetMs: c['controllerBudgetMs'] } : {}),
    }
  }

  /** The n-th argument (0-based), or an error naming it. */
  arg(n: number, what: string): string {
    const v = this.argv[n]
    if (v === undefined || v === '') throw new PluginError('ONE_DOCUMENT_INVALID', `missing argument ${n + 1} (${what})`)
    return v
  }

  info(text: string): void {
    this.messages.push(`INFO: ${text}`)
  }

  /** A warning for the VM log: `WARN:`, the only spelling oned's DriverExecHelper keeps (^(ERROR|INFO|WARN|DEBUG):\s+). */
  warn(text: string): void {
    this.messages.push(`WARN: ${text}`)
    this.ctx.logger.warn(text)
  }

  get remote(): Remote {
    this.#remote ??= remoteFromEnv(process.env)
    return this.#remote
  }

  /** The remotes folder of OpenNebula (other TM drivers live in <remotes>/tm/<name>/). */
  get remotesDir(): string {
    const r = this.ctx.config['remotes']
    if (typeof r === 'string' && r !== '') return r
    const loc = process.env['ONE_LOCATION']
    return loc !== undefined && loc !== '' ? `${loc}/var/remotes` : '/var/lib/one/remotes'
  }

  /** `onevm show -x ID` (or the datastore/image equivalent), parsed, once per call. */
  show(kind: 'vm' | 'datastore' | 'image', id: string): Promise<XmlElement> {
    const key = `${kind}:${id}`
    let doc = this.#docs.get(key)
    if (doc === undefined) {
      if (!/^[0-9]+$/.test(id)) throw new PluginError('ONE_DOCUMENT_INVALID', `'${id}' is not a ${kind} id`)
      const root = kind === 'vm' ? 'VM' : kind === 'datastore' ? 'DATASTORE' : 'IMAGE'
      doc = runCli(`one${kind}`, ['show', '-x', id], this.ctx.signal).then((xml) => parseXml(xml, root))
      this.#docs.set(key, doc)
    }
    return doc
  }

  /** The VM document from stdin (base64, migrate/backup actions) or else from onevm. */
  vmFromStdin(vmid: string): Promise<XmlElement> {
    if (this.stdin !== undefined && this.stdin.trim() !== '') {
      const vm = parseDocument(this.stdin, 'VM')
      this.#docs.set(`vm:${vmid}`, Promise.resolve(vm))
      return Promise.resolve(vm)
    }
    return this.show('vm', vmid)
  }

  /** stdin as a document's text: oned sends base64 for migrate actions and plain XML for backups. */
  stdinText(): string {
    const t = (this.stdin ?? '').trim()
    return t === '' || t.startsWith('<') ? t : Buffer.from(t, 'base64').toString('utf8')
  }

  /**
   * The datastore's settings. Attributes that have no effect (unknown LINSTOR_* ones, old ones a
   * resource group overrides) become WARN lines on every action, also when the settings are bad.
   */
  settingsOf(ds: XmlElement): OneSettings {
    const id = ds.get('ID') ?? ''
    const first = !this.#checked.has(id)
    this.#checked.add(id)
    if (first) for (const w of unknownAttributeWarnings(ds)) this.warn(w)
    this.#words = oneWords(ds)
    const s = oneSettings(ds, this.env)
    if (first) {
      for (const w of s.warnings) this.warn(w)
      for (const n of s.notes) this.info(n)
    }
    return s
  }

  /**
   * The error this action ends with, as oned's operator should read it: about a setting, in the
   * words of the datastore read last (core/errors inOperatorWords); with the call's INFO/WARN lines
   * in details.messages, so the launcher prints them before the ERROR line.
   */
  failure(err: unknown): PluginError {
    const said = this.#words !== undefined ? inOperatorWords(err, this.#words) : err
    if (said !== err) this.ctx.logger.debug({ err: err instanceof Error ? err.message : String(err) }, 'error put in the datastore\'s words')
    const base = isPluginError(said) ? said : new PluginError('INTERNAL_ERROR', said instanceof Error ? said.message : String(said), { cause: said })
    if (this.messages.length === 0) return base
    return new PluginError(base.code, base.message, { cause: base.cause ?? base, context: { ...base.context, messages: this.messages.join('\n') } })
  }

  async settings(dsId: string): Promise<OneSettings> {
    return this.settingsOf(await this.show('datastore', dsId))
  }

  storage(settings: OneSettings): Promise<Storage> {
    const vms = settings.controllerVms
    return storageOf(this.ctx, {
      config: settings.core,
      // VM-private resources carry the VM id in their name; persistent images are checked by the actions.
      controllerVm: { match: (rsc) => vms.size > 0 && vms.has(Number(/-vm([0-9]+)-disk[0-9]+$/.exec(rsc)?.[1] ?? NaN)) },
    })
  }

  /** The device of a resource's volume 0 as `host` sees it. */
  device(host: string, resource: string): string {
    const root = (this.env.deviceRoot ?? '').replaceAll('{node}', host)
    return `${root}${stableDevicePath(resource, 0)}`
  }

  /**
   * The device of volume 0 as `host` sees it, by the stack: DRBD's by-res path; for NVMe-oF and
   * storage-only volumes the device LINSTOR reports on that host (an initiator's namespace, or the
   * backing volume where the data is).
   */
  deviceOn(host: string, info: { name: string; layers: ResourceInfo['layers']; replicas: ResourceInfo['replicas'] }): string {
    if (stackOf(info.layers) === 'drbd') return this.device(host, info.name)
    const v = replicaOn(info as ResourceInfo, host)?.volumes.find((x) => x.number === 0)
    const dev = v?.device ?? v?.storageDevice
    if (dev === undefined) throw new PluginError('RESOURCE_NOT_FOUND', `${info.name} (layer stack ${stackName(info.layers)}) has no device on ${host}`, { context: { resource: info.name, node: host } })
    return `${(this.env.deviceRoot ?? '').replaceAll('{node}', host)}${dev}`
  }

  /** The device an attachment gives `host`: DRBD's by-res path, else the device LINSTOR reports there. */
  attachedDevice(host: string, a: Attachment): string {
    const dev = a.volumes.find((v) => v.number === 0)?.device
    if (a.stack === undefined || a.stack === 'drbd' || dev === undefined) return this.device(host, a.resource)
    return `${(this.env.deviceRoot ?? '').replaceAll('{node}', host)}${dev}`
  }

  /**
   * Until when (epoch ms) a step of this action that starts or stops a VM waits on LINSTOR: the
   * core's budget from now, or no time at all once a controller gave no usable answer within one
   * in this action (so a black-holed controller costs an action one budget, not one per step).
   */
  controllerUntil(storage: Storage): number {
    return Date.now() + (this.#unanswered ? 0 : storage.attachments.budgetMs())
  }

  /** No controller answered a step within its budget: the following steps do not wait again. */
  controllerUnanswered(): void {
    this.#unanswered = true
  }

  /**
   * Whether `host` has the volume's device (volume 0), looked for over ssh: the probe the core uses
   * when no controller answers in time, since the front-end cannot see the hosts' devices.
   */
  readonly probe = async (host: string, resource: string): Promise<number[]> => {
    const r = await this.remote.exec(host, ['test', '-e', this.device(host, resource)], { signal: this.ctx.signal, timeoutMs: 10_000 }).then(
      () => true,
      (err: unknown) => {
        // test's exit 1 is "not there"; ssh failing (exit 255) is not knowing.
        if (err instanceof PluginError && err.code === 'REMOTE_FAILED') return false
        throw err
      },
    )
    return r ? [0] : []
  }

  /**
   * Whether `host` is a LINSTOR node (a front-end usually is not). When no controller answers
   * within the action's budget, a host is taken for one: starting from its device (the probe) or
   * keeping its stop as pending is then what can be done.
   */
  async isNode(storage: Storage, host: string): Promise<boolean> {
    let names = this.#nodes.get(storage)
    if (names === undefined) {
      names = withinBudget(this.controllerUntil(storage) - Date.now(), () => storage.client.nodes.list()).then(
        (ns) => new Set(ns.map((n) => n.name.toLowerCase())),
        (err: unknown) => {
          if (!isControllerTrouble(err)) throw err
          this.controllerUnanswered()
          this.warn(`no LINSTOR controller answered in time (${err instanceof Error ? err.message : String(err)}): ${host} is taken to be a LINSTOR node`)
          return undefined
        },
      )
      this.#nodes.set(storage, names)
    }
    const set = await names
    return set === undefined || set.has(host.toLowerCase())
  }

  result(stdout = ''): DriverResult {
    return { stdout, messages: this.messages }
  }
}
