/**
 * An OpenNebula front-end for the driver tests: the built driver executables (dist/share/opennebula
 * /remotes, as a built checkout has them) run the way oned runs them (argv, stdin, environment),
 * with stand-ins on PATH for onevm/onedatastore/oneimage (documents the test stores) and ssh (runs
 * the command here, each host with its own /var/lib/one), against the emulator. Documents are
 * written by the test in the shape of ../shared/reference/opennebula (see vmXml/datastoreXml).
 */
import { execFile } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import type { LinstorClient } from '../../core/linstor/index.js'
import type { EmulatorOptions, RunningEmulator } from '../../emulator/index.js'
import { clientFor, withEmulator } from '../emulator/helpers.js'
import { tempDir } from '../helpers/core.js'
import { repoRoot } from '../helpers/paths.js'

export const REMOTES = join(repoRoot(), 'dist', 'share', 'opennebula', 'remotes')
const STANDINS = join(repoRoot(), 'test', 'opennebula', 'standins')

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

export interface OneFrontEnd {
  emu: RunningEmulator
  client: LinstorClient
  dir: string
  /** The folder where host H's /var/lib/one lives: <hosts>/H/var/lib/one. */
  hostRoot(host: string): string
  /** Runs remotes/<kind>/linstor/<action> with argv (and stdin). */
  run(kind: 'tm' | 'datastore', action: string, argv: string[], opts?: { stdin?: string; env?: Record<string, string> }): Promise<RunResult>
  /** Same, failing the test on a non-zero exit. */
  ok(kind: 'tm' | 'datastore', action: string, argv: string[], opts?: { stdin?: string; env?: Record<string, string> }): Promise<RunResult>
  store(kind: 'vm' | 'datastore' | 'image', id: number | string, xml: string): void
  /** The calls the ssh stand-in saw (its log: host and command, each NUL-terminated). */
  sshLog(): { host: string; command: string }[]
  otherTmLog(): { action: string; argv: string[]; stdin: string }[]
  env: Record<string, string>
}

/**
 * The environment oned's driver executables get on this front-end: the stand-ins first on PATH,
 * their document folder and per-host roots, the emulator's device files, and the agent socket.
 */
export function frontEndEnv(emu: RunningEmulator, dir: string, db: string, hosts: string, agentSocket: string): Record<string, string> {
  return {
    PATH: `${join(STANDINS, 'bin')}:${process.env['PATH'] ?? '/usr/bin:/bin'}`,
    LV_ONE_DB: db,
    LV_ONE_HOSTS: hosts,
    LINSTOR_VIRT_DEVICE_ROOT: emu.deviceRoot('{node}'),
    LINSTOR_VIRT_LOCK_DIR: join(dir, 'locks'),
    LINSTOR_VIRT_ONE_REMOTES: join(STANDINS, 'remotes'),
    LINSTOR_VIRT_AGENT_SOCKET: agentSocket,
  }
}

export async function oneFrontEnd(t: TestContext, opts: { env?: Record<string, string>; emulator?: EmulatorOptions } = {}): Promise<OneFrontEnd> {
  const emu = await withEmulator(t, { cloneDurationMs: 20, ...opts.emulator })
  const client = clientFor(t, emu, { timeoutMs: 10_000 })
  const dir = tempDir(t, 'lv-one-')
  const db = join(dir, 'db')
  const hosts = join(dir, 'hosts')
  mkdirSync(db)
  mkdirSync(hosts)
  const env: Record<string, string> = { ...frontEndEnv(emu, dir, db, hosts, join(dir, 'no-agent.sock')), ...opts.env }
  const run = (kind: 'tm' | 'datastore', action: string, argv: string[], o: { stdin?: string; env?: Record<string, string> } = {}): Promise<RunResult> =>
    new Promise((resolve) => {
      const child = execFile(join(REMOTES, kind, 'linstor', action), argv, { env: { ...env, ...o.env }, timeout: 120_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1
        resolve({ code, stdout, stderr })
      })
      child.stdin?.end(o.stdin ?? '')
    })
  return {
    emu,
    client,
    dir,
    env,
    hostRoot: (host) => join(hosts, host, 'var', 'lib', 'one'),
    run,
    ok: async (kind, action, argv, o) => {
      const r = await run(kind, action, argv, o)
      if (r.code !== 0) throw new Error(`${kind}/linstor/${action} ${argv.join(' ')} exited ${r.code}: ${r.stderr}`)
      return r
    },
    store: (kind, id, xml) => writeFileSync(join(db, `${kind}-${id}.xml`), xml),
    sshLog: () => sshCalls(join(db, 'ssh.log')),
    otherTmLog: () => lines(join(db, 'other-tm.log')),
  }
}

function sshCalls(file: string): { host: string; command: string }[] {
  if (!existsSync(file)) return []
  const fields = readFileSync(file, 'utf8').split('\0')
  const calls: { host: string; command: string }[] = []
  for (let i = 0; i + 1 < fields.length; i += 2) calls.push({ host: fields[i] ?? '', command: fields[i + 1] ?? '' })
  return calls
}

function lines<T>(file: string): T[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as T)
}

const cdata = (v: string): string => `<![CDATA[${v}]]>`

function template(attrs: Record<string, string>): string {
  return Object.keys(attrs)
    .sort()
    .map((k) => `<${k}>${cdata(attrs[k] ?? '')}</${k}>`)
    .join('')
}

/** A <DATASTORE> as `onedatastore show -x` prints it (TM_MAD_CONF attributes included). */
export function datastoreXml(id: number, attrs: Record<string, string>, opts: { type?: 0 | 1; tmMad?: string; dsMad?: string; name?: string } = {}): string {
  const type = opts.type ?? 0
  const tm = opts.tmMad ?? 'linstor'
  const base = {
    ALLOW_ORPHANS: 'yes',
    CLONE_TARGET: 'SELF',
    DISK_TYPE: 'BLOCK',
    LN_TARGET: 'NONE',
    TM_MAD: tm,
    TYPE: type === 1 ? 'SYSTEM_DS' : 'IMAGE_DS',
    ...(type === 0 ? { DS_MAD: opts.dsMad ?? 'linstor', TM_MAD_SYSTEM: 'ssh,shared' } : { SHARED: 'YES' }),
    ...attrs,
  }
  return (
    `<DATASTORE><ID>${id}</ID><UID>0</UID><GID>0</GID><UNAME>oneadmin</UNAME><GNAME>oneadmin</GNAME><NAME>${opts.name ?? `ds-${id}`}</NAME>` +
    `<DS_MAD>${cdata(type === 0 ? (opts.dsMad ?? 'linstor') : '-')}</DS_MAD><TM_MAD>${cdata(tm)}</TM_MAD>` +
    `<BASE_PATH>${cdata(`/var/lib/one//datastores/${id}`)}</BASE_PATH><TYPE>${type}</TYPE><DISK_TYPE>2</DISK_TYPE><STATE>0</STATE>` +
    `<CLUSTERS><ID>0</ID></CLUSTERS><TOTAL_MB>0</TOTAL_MB><FREE_MB>0</FREE_MB><USED_MB>0</USED_MB><IMAGES/>` +
    `<TEMPLATE>${template(base)}</TEMPLATE></DATASTORE>`
  )
}

export interface DiskSpec {
  id: number
  /** Image disks: the image id (SOURCE OpenNebula-Image-<id>) and whether it is cloned (CLONE=YES). */
  image?: number
  clone?: boolean
  persistent?: boolean
  cdrom?: boolean
  /** Volatile disks: swap or fs. */
  volatile?: 'swap' | 'fs'
  fs?: string
  sizeMiB: number
  dsId: number
  tmMad?: string
}

/** A <VM> as `onevm show -x` prints it; `hosts` is the history, oldest first; LCM_STATE 3 (RUNNING) unless given. */
export function vmXml(id: number, disks: DiskSpec[], hosts: string[], systemDs = 0, systemTm = 'ssh', opts: { lcmState?: number } = {}): string {
  const disk = (d: DiskSpec): string => {
    const a: Record<string, string> = {
      CLUSTER_ID: '0',
      DATASTORE_ID: String(d.dsId),
      DEV_PREFIX: 'vd',
      DISK_ID: String(d.id),
      DISK_TYPE: d.volatile !== undefined ? 'FILE' : 'BLOCK',
      DRIVER: 'raw',
      FORMAT: 'raw',
      SIZE: String(d.sizeMiB),
      TARGET: `vd${String.fromCharCode(97 + d.id)}`,
      TM_MAD: d.tmMad ?? 'linstor',
    }
    if (d.image !== undefined) {
      Object.assign(a, {
        CLONE: d.clone === true ? 'YES' : 'NO',
        IMAGE: `image-${d.image}`,
        IMAGE_ID: String(d.image),
        ORIGINAL_SIZE: String(d.sizeMiB),
        READONLY: d.cdrom === true ? 'YES' : 'NO',
        SAVE: d.persistent === true ? 'YES' : 'NO',
        SOURCE: `OpenNebula-Image-${d.image}`,
        TM_MAD_SYSTEM: systemTm,
        TYPE: d.cdrom === true ? 'CDROM' : 'BLOCK',
        ...(d.persistent === true ? { PERSISTENT: 'YES' } : {}),
      })
    } else {
      Object.assign(a, { TYPE: d.volatile ?? 'fs', ...(d.fs !== undefined ? { FS: d.fs } : {}) })
    }
    return `<DISK>${template(a)}</DISK>`
  }
  const history = hosts
    .map((h, i) => `<HISTORY><OID>${id}</OID><SEQ>${i}</SEQ><HOSTNAME>${h}</HOSTNAME><HID>${i}</HID><CID>0</CID><DS_ID>${systemDs}</DS_ID><TM_MAD>${cdata(systemTm)}</TM_MAD><VM_MAD>${cdata('kvm')}</VM_MAD></HISTORY>`)
    .join('')
  return (
    `<VM><ID>${id}</ID><UID>0</UID><GID>0</GID><UNAME>oneadmin</UNAME><GNAME>oneadmin</GNAME><NAME>vm-${id}</NAME><STATE>3</STATE><LCM_STATE>${opts.lcmState ?? 3}</LCM_STATE>` +
    `<TEMPLATE>${disks.map(disk).join('')}<TM_MAD_SYSTEM>${cdata(systemTm)}</TM_MAD_SYSTEM><VMID>${cdata(String(id))}</VMID></TEMPLATE>` +
    `<USER_TEMPLATE/><HISTORY_RECORDS>${history}</HISTORY_RECORDS><BACKUPS><BACKUP_CONFIG/><BACKUP_IDS/></BACKUPS></VM>`
  )
}

/** A DS_DRIVER_ACTION_DATA document, base64 as oned sends it. */
export function actionData(image: Record<string, string> | undefined, datastore: string, extra = ''): string {
  const img =
    image === undefined
      ? ''
      : `<IMAGE>${Object.entries(image)
          .map(([k, v]) => (k === 'TEMPLATE' || k === 'SNAPSHOTS' ? `<${k}>${v}</${k}>` : `<${k}>${/^[A-Z_]+$/.test(k) && /^-?[0-9]+$/.test(v) ? v : cdata(v)}</${k}>`))
          .join('')}</IMAGE>`
  return Buffer.from(`<DS_DRIVER_ACTION_DATA>${img}${datastore}${extra}</DS_DRIVER_ACTION_DATA>`).toString('base64')
}
