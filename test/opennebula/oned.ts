/**
 * oned's side of a VM's life, for the end-to-end tests: oned itself cannot run here, so this
 * stand-in writes the transfer lines oned writes for each VM event, in oned's order and with its
 * arguments (src/tm/TransferManager.cc at ../shared/reference/opennebula.md's commit: per-disk
 * lines with the image TM and the `.<system TM>` suffix first, then the VM directory's line with
 * the system datastore's TM), and runs them the way one_tm.rb does: one after the other, `ACTION`
 * lowercased, `tm/<tm>/<action>.<sys>` tried before `tm/<tm>/<action>`, the first failure stops the
 * transfer. The actions oned's VMM driver runs through the TM (context, pre/post/failmigrate,
 * backups) go through the same runner. stderr is read as DriverExecHelper reads it: lines matching
 * `^(ERROR|INFO|WARN|DEBUG):\s+` go to the VM log, the others make the failure reason.
 *
 * What runs for real: OpenNebula's own `ssh` TM scripts, `tm_common.sh` and `scripts_common.sh`
 * from ../shared/upstream/opennebula, in place, through a ONE_LOCATION tree of links to them; and
 * the built linstor driver. Stand-ins (test/opennebula/README.md): oned and its VMM (libvirt: what
 * deploy, save and migrate do to the VM directory), xpath.rb, datastore.conf, tm/shared's backup
 * scripts, the OpenNebula CLI and ssh. Every host, the front-end included, has its own
 * /var/lib/one (a mount namespace per command, see standins/bin/ssh).
 */
import { spawn } from 'node:child_process'
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { repoRoot } from '../helpers/paths.js'
import { REMOTES, vmXml } from './one.js'
import type { DiskSpec, OneFrontEnd, RunResult } from './one.js'

export const UPSTREAM = join(repoRoot(), '..', 'shared', 'upstream', 'opennebula', 'src')
const STANDINS = join(repoRoot(), 'test', 'opennebula', 'standins', 'one')
export const FRONT_END = 'one-fe'
export const DIR = (vmid: number): string => `/var/lib/one//datastores/0/${vmid}`

/** The system datastore's TM: OpenNebula's ssh driver (mixed mode) or linstor itself. */
export type SystemMode = 'ssh' | 'linstor'

/**
 * A file of the upstream tree: git stores OpenNebula's in-tree links (ssh/context ->
 * ../common/context) as small text files; follow them to the script they name.
 */
function upstreamFile(dir: string, name: string): string | undefined {
  const p = join(dir, name)
  if (!existsSync(p)) return undefined
  const st = statSync(p)
  if (st.size < 64) {
    const target = readFileSync(p, 'utf8').trim()
    if (/^[\w./-]+$/.test(target) && !target.includes('\n')) {
      const t = resolve(dir, target)
      return existsSync(t) ? t : undefined
    }
  }
  return p
}

/**
 * An OpenNebula self-contained install (ONE_LOCATION) made of links: lib/sh/scripts_common.sh,
 * var/remotes/tm/{tm_common.sh,ssh/*} to the upstream files, var/remotes/tm/linstor and
 * var/remotes/datastore/linstor to the built driver, and the stand-ins for what is not upstream.
 */
export function oneLocation(dir: string): string {
  const loc = join(dir, 'one')
  const link = (target: string, path: string): void => {
    mkdirSync(dirname(path), { recursive: true })
    symlinkSync(target, path)
  }
  link(join(UPSTREAM, 'mad', 'sh', 'scripts_common.sh'), join(loc, 'lib', 'sh', 'scripts_common.sh'))
  const remotes = join(loc, 'var', 'remotes')
  link(join(UPSTREAM, 'tm_mad', 'tm_common.sh'), join(remotes, 'tm', 'tm_common.sh'))
  const ssh = join(UPSTREAM, 'tm_mad', 'ssh')
  for (const name of readdirSync(ssh)) {
    const f = upstreamFile(ssh, name)
    // tm/ssh/{pre,post}backup(_live) name ../shared/..., which is not upstream here: stand-ins.
    const target = f ?? join(STANDINS, 'shared', name.replace(/^(pre|post)backup$/, '$1backup_live'))
    if (existsSync(target)) link(target, join(remotes, 'tm', 'ssh', name))
  }
  link(join(UPSTREAM, 'tm_mad', 'ssh', 'sshrc'), join(remotes, 'etc', 'tm', 'ssh', 'sshrc'))
  link(join(STANDINS, 'datastore.conf'), join(remotes, 'etc', 'datastore', 'datastore.conf'))
  link(join(STANDINS, 'xpath.rb'), join(remotes, 'datastore', 'xpath.rb'))
  link(join(REMOTES, 'tm', 'linstor'), join(remotes, 'tm', 'linstor'))
  link(join(REMOTES, 'datastore', 'linstor'), join(remotes, 'datastore', 'linstor'))
  return loc
}

/** A line of the VM log (what oned keeps from stderr). */
export interface LogLine {
  severity: 'ERROR' | 'INFO' | 'WARN' | 'DEBUG'
  text: string
  action: string
}

export class TransferFailed extends Error {
  readonly line: string
  readonly reason: string
  constructor(line: string, reason: string) {
    super(`${line}: ${reason}`)
    this.line = line
    this.reason = reason
  }
}

/** What DriverExecHelper#get_info_from_execution makes of stderr. */
export function readStderr(stderr: string): { log: { severity: LogLine['severity']; text: string }[]; reason: string } {
  const log: { severity: LogLine['severity']; text: string }[] = []
  const other: string[] = []
  for (const l of stderr.split('\n')) {
    if (l === '') continue
    const m = /^(ERROR|INFO|WARN|DEBUG):\s+(.*)$/.exec(l)
    if (m !== null) log.push({ severity: m[1] as LogLine['severity'], text: m[2] ?? '' })
    else other.push(l)
  }
  return { log, reason: other.join(' ') || '-' }
}

export interface VmSpec {
  vmid: number
  imageDs: number
  disks: DiskSpec[]
}

/**
 * One VM as oned drives it on a front-end (`one`), in one of the two system datastore modes. The
 * VM document (`onevm show -x`) is rewritten before each event as oned would have it (history,
 * LCM state).
 */
export class Oned {
  readonly log: LogLine[] = []
  readonly hosts: string[] = []
  lcmState = 3
  readonly #loc: string
  readonly #env: Record<string, string>

  readonly one: OneFrontEnd
  readonly mode: SystemMode
  readonly vm: VmSpec

  constructor(one: OneFrontEnd, mode: SystemMode, vm: VmSpec) {
    this.one = one
    this.mode = mode
    this.vm = vm
    this.#loc = oneLocation(one.dir)
    this.#env = {
      ...one.env,
      ONE_LOCATION: this.#loc,
      // oned passes <DATASTORE_LOCATION>/<ds>/<vm>: /var/lib/one/datastores here, on every host.
      DS_DIR: '/var/lib/one/datastores',
      LV_ONE_MOUNT_NS: '1',
      // scripts_common.sh puts /bin:/sbin:/usr/bin first on PATH; SSH= and SSH_FWD= choose the ssh.
      SSH: join(STANDINS, '..', 'bin', 'ssh'),
      SSH_FWD: `${join(STANDINS, '..', 'bin', 'ssh')} -o ForwardAgent=yes -o ControlMaster=no -o ControlPath=none`,
      // ...and the linstor driver, run by those scripts (migrate_other) with their PATH, its own.
      LINSTOR_VIRT_SSH: join(STANDINS, '..', 'bin', 'ssh'),
      LINSTOR_VIRT_ONE_REMOTES: join(this.#loc, 'var', 'remotes'),
    }
    mkdirSync(this.hostDir(FRONT_END), { recursive: true })
  }

  get vmid(): number {
    return this.vm.vmid
  }

  /** The system datastore's TM name, and the suffix image-disk actions get in mixed mode. */
  get vmTm(): string {
    return this.mode
  }

  get suffix(): string {
    return this.mode === 'ssh' ? '.ssh' : ''
  }

  /** <host>'s /var/lib/one. */
  hostDir(host: string): string {
    return this.one.hostRoot(host)
  }

  /** The VM directory on <host> as this machine sees it. */
  vmDir(host: string): string {
    return join(this.hostDir(host), 'datastores', '0', String(this.vmid))
  }

  get host(): string {
    const h = this.hosts[this.hosts.length - 1]
    if (h === undefined) throw new Error('the VM has no history yet')
    return h
  }

  /** `onevm show -x` from now on. */
  store(): void {
    this.one.store('vm', this.vmid, this.xml())
  }

  xml(): string {
    return vmXml(this.vmid, this.vm.disks, this.hosts, 0, this.mode, { lcmState: this.lcmState })
  }

  /** Runs one driver executable on the front-end (its own /var/lib/one), as one_tm.rb does. */
  exec(exe: string, argv: string[], stdin = ''): Promise<RunResult> {
    const fe = this.hostDir(FRONT_END)
    return new Promise((resolvePromise) => {
      const child = spawn('unshare', ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c', 'mount --bind "$0" /var/lib/one && exec "$@"', fe, exe, ...argv], {
        env: this.#env,
        stdio: ['pipe', 'pipe', 'pipe'],
      })
      const out: Buffer[] = []
      const err: Buffer[] = []
      child.stdout.on('data', (c: Buffer) => out.push(c))
      child.stderr.on('data', (c: Buffer) => err.push(c))
      const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
      child.on('close', (code) => {
        clearTimeout(timer)
        resolvePromise({ code: code ?? 255, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') })
      })
      child.stdin.on('error', () => undefined)
      child.stdin.end(stdin)
    })
  }

  /** One transfer line `ACTION[.SYS] tm args...` (or a VMM-issued TM action), as one_tm.rb runs it. */
  async action(line: string, stdin = ''): Promise<RunResult> {
    const [verb = '', tm = '', ...argv] = line.split(' ')
    const action = verb.toLowerCase()
    const dir = join(this.#loc, 'var', 'remotes', 'tm', tm)
    const exe = [join(dir, action), join(dir, action.replace(/\.[a-z]+$/, ''))].find((p) => existsSync(p))
    if (exe === undefined) throw new TransferFailed(line, `tm/${tm}/${action} does not exist`)
    const r = await this.exec(exe, argv, stdin)
    if (process.env['LV_ONED_TRACE'] === '1') process.stderr.write(`oned: ${line} -> ${r.code}\n${r.stderr}`)
    const { log, reason } = readStderr(r.stderr)
    for (const l of log) this.log.push({ ...l, action })
    if (r.code !== 0) throw new TransferFailed(line, reason)
    return r
  }

  /** A transfer file: lines in order, the first failure stops it. */
  async transfer(lines: string[]): Promise<void> {
    for (const l of lines) await this.action(l)
  }

  #diskLine(verb: string, d: DiskSpec, from: string, to: string, carried: { suffix: string }): string {
    // TransferManager.cc keeps tm_mad_system across the loop: a volatile disk after an image disk
    // gets the image disk's suffix (one_tm.rb then falls back to the action without it).
    if (d.image !== undefined) carried.suffix = this.suffix
    const tm = d.volatile !== undefined ? this.vmTm : (d.tmMad ?? 'linstor')
    const ds = d.volatile !== undefined ? 0 : d.dsId
    return [`${verb}${carried.suffix}`, tm, `${from}:${DIR(this.vmid)}/disk.${d.id}`, `${to}:${DIR(this.vmid)}/disk.${d.id}`, String(this.vmid), String(ds)].join(' ')
  }

  /** PROLOG (deploy): CLONE/LN per image disk, MKSWAP/MKIMAGE for volatile ones with the system TM. */
  async prolog(host: string): Promise<void> {
    this.hosts.push(host)
    this.lcmState = 3
    this.store()
    const lines: string[] = []
    for (const d of this.vm.disks) {
      const at = `${host}:${DIR(this.vmid)}/disk.${d.id}`
      if (d.volatile === 'swap') lines.push(`MKSWAP ${this.vmTm} ${d.sizeMiB} ${at} ${this.vmid} 0`)
      else if (d.volatile === 'fs') lines.push(`MKIMAGE ${this.vmTm} ${d.sizeMiB} raw ${at} ${this.vmid} 0`)
      else lines.push(`${d.clone === true ? 'CLONE' : 'LN'}${this.suffix} ${d.tmMad ?? 'linstor'} ${FRONT_END}:OpenNebula-Image-${d.image ?? 0} ${at} ${this.vmid} ${d.dsId}`)
    }
    await this.transfer(lines)
  }

  /** VMM deploy/restore: the context ISO through the system TM, then libvirt opens the disks. */
  async boot(host: string, opts: { checkpoint?: boolean } = {}): Promise<void> {
    const ctx = join(this.hostDir(FRONT_END), 'vms', String(this.vmid), 'context.sh')
    mkdirSync(dirname(ctx), { recursive: true })
    writeFileSync(ctx, `HOSTNAME='vm-${this.vmid}'\n`)
    const ctxId = Math.max(...this.vm.disks.map((d) => d.id)) + 1
    await this.action(`CONTEXT ${this.vmTm} /var/lib/one/vms/${this.vmid}/context.sh ${host}:${DIR(this.vmid)}/disk.${ctxId} ${this.vmid} 0`)
    // libvirt: every disk of the domain must be there, on this host.
    const dir = this.vmDir(host)
    for (const d of this.vm.disks) {
      const p = join(dir, `disk.${d.id}`)
      const rsc = this.resourceOf(d)
      if (rsc !== undefined) {
        const want = `${this.one.emu.deviceRoot(host)}/dev/drbd/by-res/${rsc}/0`
        let got: string | undefined
        try {
          got = readlinkSync(p)
        } catch {
          got = undefined
        }
        if (got === undefined || !existsSync(p)) throw new Error(`${host}: disk.${d.id} is missing (${p})`)
        if (got !== want) throw new Error(`${host}: disk.${d.id} points at ${got}, not at this host's ${rsc}`)
      } else if (!existsSync(p)) {
        throw new Error(`${host}: disk.${d.id} is missing (${p})`)
      }
    }
    if (!existsSync(join(dir, `disk.${ctxId}`))) throw new Error(`${host}: the context ISO disk.${ctxId} is missing`)
    if (opts.checkpoint === true && !existsSync(join(dir, 'checkpoint'))) throw new Error(`${host}: the checkpoint is missing`)
    for (const rsc of this.resources()) this.one.emu.control.open(host, rsc)
  }

  /** deploy = PROLOG + VMM deploy. */
  async deploy(host: string): Promise<void> {
    await this.prolog(host)
    await this.boot(host)
  }

  /** The LINSTOR resource behind a disk (undefined: a file of the ssh system datastore). */
  resourceOf(d: DiskSpec): string | undefined {
    if (d.volatile !== undefined) return this.mode === 'linstor' ? `OpenNebula-Volatile-vm${this.vmid}-disk${d.id}` : undefined
    const src = `OpenNebula-Image-${d.image ?? 0}`
    return d.clone === true ? `${src}-vm${this.vmid}-disk${d.id}` : src
  }

  resources(): string[] {
    return this.vm.disks.map((d) => this.resourceOf(d)).filter((r): r is string => r !== undefined)
  }

  /** The guest stops (poweroff, shutdown before an epilog): libvirt closes the disks. */
  shutdown(host = this.host): void {
    for (const rsc of this.resources()) this.one.emu.control.close(host, rsc)
  }

  /** EPILOG (terminate): MVDS for SAVE=YES disks, DELETE for the others, then DELETE of the directory. */
  async terminate(): Promise<string[]> {
    const host = this.host
    this.shutdown(host)
    this.lcmState = 11 // EPILOG
    this.store()
    const lines: string[] = []
    for (const d of this.vm.disks) {
      // epilog_transfer_command: each disk with its own TM_MAD_SYSTEM (volatile disks have none).
      const at = `${host}:${DIR(this.vmid)}/disk.${d.id}`
      if (d.volatile !== undefined) lines.push(`DELETE ${this.vmTm} ${at} ${this.vmid} 0`)
      else if (d.persistent === true) lines.push(`MVDS${this.suffix} ${d.tmMad ?? 'linstor'} ${at} OpenNebula-Image-${d.image ?? 0} ${this.vmid} ${d.dsId}`)
      else lines.push(`DELETE${this.suffix} ${d.tmMad ?? 'linstor'} ${at} ${this.vmid} ${d.dsId}`)
    }
    lines.push(`DELETE ${this.vmTm} ${host}:${DIR(this.vmid)} ${this.vmid} 0`)
    await this.transfer(lines)
    return lines
  }

  /** The MV lines of EPILOG_STOP, PROLOG_RESUME and PROLOG_MIGR: per disk, then the directory. */
  #moveLines(from: string, to: string): string[] {
    const carried = { suffix: '' }
    const lines = this.vm.disks.map((d) => this.#diskLine('MV', d, from, to, carried))
    lines.push(`MV ${this.vmTm} ${from}:${DIR(this.vmid)} ${to}:${DIR(this.vmid)} ${this.vmid} 0`)
    return lines
  }

  /** stop (VMM save writes the checkpoint, then EPILOG_STOP to the front-end); undeploy is the same transfer without it. */
  async stop(opts: { undeploy?: boolean } = {}): Promise<void> {
    const host = this.host
    if (opts.undeploy !== true) writeFileSync(join(this.vmDir(host), 'checkpoint'), `memory of vm ${this.vmid}`)
    this.shutdown(host)
    this.lcmState = 10 // EPILOG_STOP
    this.store()
    await this.transfer(this.#moveLines(host, FRONT_END))
  }

  /** resume on `host` (PROLOG_RESUME from the front-end, then VMM restore/deploy). */
  async resume(host: string, opts: { undeploy?: boolean } = {}): Promise<void> {
    this.hosts.push(host)
    this.lcmState = 9 // PROLOG_RESUME
    this.store()
    await this.transfer(this.#moveLines(FRONT_END, host))
    this.lcmState = 3
    this.store()
    await this.boot(host, { checkpoint: opts.undeploy !== true })
  }

  /** Recovery from a dead host (PROLOG_MIGRATE_UNKNOWN, LCM 60): MV dead -> new, then deploy. */
  async recover(to: string): Promise<void> {
    const from = this.host
    this.hosts.push(to)
    this.lcmState = 60
    this.store()
    await this.transfer(this.#moveLines(from, to))
    this.lcmState = 3
    this.store()
    await this.boot(to)
  }

  /** Cold migration (poweroff migrate, PROLOG_MIGR), then deploy on the new host. */
  async coldMigrate(to: string): Promise<void> {
    const from = this.host
    this.shutdown(from)
    this.hosts.push(to)
    this.lcmState = 8 // PROLOG_MIGRATE
    this.store()
    await this.transfer(this.#moveLines(from, to))
    this.lcmState = 3
    this.store()
    await this.boot(to)
  }

  #migrateArgs(action: string, from: string, to: string): string {
    return `${action} ${this.vmTm} ${from} ${to} ${DIR(this.vmid)} ${this.vmid} 0`
  }

  /**
   * Live migration as the VMM runs it: PREMIGRATE (system TM), then the migration itself, then
   * POSTMIGRATE; `fail` makes the step after PREMIGRATE fail (a network driver's pre action, so
   * libvirt never runs) and FAILMIGRATE follows. The VM document (history) is oned's at each step.
   */
  async liveMigrate(to: string, opts: { fail?: boolean } = {}): Promise<void> {
    const from = this.host
    this.hosts.push(to)
    this.lcmState = 4 // MIGRATE
    this.store()
    const stdin = Buffer.from(this.xml()).toString('base64')
    await this.action(this.#migrateArgs('PREMIGRATE', from, to), stdin)
    if (opts.fail === true) {
      await this.action(this.#migrateArgs('FAILMIGRATE', from, to), stdin)
      // oned puts the VM back on the source: a new history record for it.
      this.hosts.push(from)
      this.lcmState = 3
      this.store()
      return
    }
    if (this.mode === 'ssh') this.#libvirtCopy(from, to)
    for (const rsc of this.resources()) {
      this.one.emu.control.open(to, rsc)
      this.one.emu.control.close(from, rsc)
    }
    await this.action(this.#migrateArgs('POSTMIGRATE', from, to), stdin)
    this.lcmState = 3
    this.store()
  }

  /**
   * kvm/migrate with a non-shared system datastore (stand-in for the VMM driver): the directory
   * made on the target, files copied (--copy-storage-all and tar of raw files), disk links that
   * the target lacks made with the source's target.
   */
  #libvirtCopy(from: string, to: string): void {
    const src = this.vmDir(from)
    const dst = this.vmDir(to)
    mkdirSync(dst, { recursive: true })
    for (const name of readdirSync(src)) {
      const s = join(src, name)
      const d = join(dst, name)
      const st = lstatSync(s)
      if (st.isSymbolicLink()) {
        if (!existsSync(d) && !isLink(d)) symlinkSync(readlinkSync(s), d)
      } else if (st.isFile()) copyFileSync(s, d)
    }
  }

  /** VMM backup: PREBACKUP_LIVE and POSTBACKUP_LIVE with the system TM, VM XML on stdin. */
  async backup(diskIds: number[], step: 'pre' | 'post'): Promise<void> {
    const action = step === 'pre' ? 'PREBACKUP_LIVE' : 'POSTBACKUP_LIVE'
    await this.action(`${action} ${this.vmTm} ${this.host}:${DIR(this.vmid)} ${diskIds.join(':')} one-${this.vmid} - ${this.vmid} 0`, this.xml())
  }
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink()
  } catch {
    return false
  }
}

/**
 * Every symlink under each host's system datastore folders (the front-end's included), with
 * whether it resolves on this machine (where every host's devices are).
 */
export function vmDirLinks(one: OneFrontEnd, hosts: string[]): { host: string; path: string; target: string; resolves: boolean }[] {
  const out: { host: string; path: string; target: string; resolves: boolean }[] = []
  const walk = (host: string, dir: string): void => {
    let names: string[]
    try {
      names = readdirSync(dir)
    } catch {
      return
    }
    for (const n of names) {
      const p = join(dir, n)
      const st = lstatSync(p)
      if (st.isSymbolicLink()) out.push({ host, path: p, target: readlinkSync(p), resolves: existsSync(p) })
      else if (st.isDirectory()) walk(host, p)
    }
  }
  for (const h of hosts) walk(h, join(one.hostRoot(h), 'datastores'))
  return out
}
