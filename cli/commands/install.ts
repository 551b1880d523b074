/**
 * `linstor-virt install proxmox [--root DIR] [--no-services]` and `linstor-virt uninstall proxmox ...`:
 * puts the bundled CLI under /usr/lib/linstor-virt (with /usr/bin/linstor-virt pointing at it), the
 * Perl module where PVE's loader looks (/usr/share/perl5/PVE/Storage/Custom/), and the agent's
 * systemd unit; then (on the real root, unless --no-services) reloads systemd, starts the agent and
 * restarts the PVE daemons that load storage plugins. Prints the storage.cfg lines to add.
 * Uninstall removes exactly those files. Everything is safe to repeat.
 */
import { execFile } from 'node:child_process'
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, rmSync, symlinkSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const LIB = 'usr/lib/linstor-virt'
const BIN = 'usr/bin/linstor-virt'
const PERL = 'usr/share/perl5/PVE/Storage/Custom/LinstorVirtPlugin.pm'
const UNIT = 'etc/systemd/system/linstor-virt-agent.service'
const PVE_DAEMONS = ['pvedaemon', 'pveproxy', 'pvestatd', 'pvescheduler']

const STORAGE_CFG = `Add a storage to /etc/pve/storage.cfg (a blank line before and after it), for example:

linstor: drbdstore
\tcontent images,rootdir
\tlinstor-controllers linstor://10.0.0.1,linstor://10.0.0.2
\tlinstor-resource-group pve-ssd

or, without a resource group of your own, let linstor-virt derive one:

linstor: drbdstore
\tcontent images,rootdir
\tlinstor-controllers linstor://10.0.0.1
\tlinstor-place-count 2
\tlinstor-storage-pools ssd

A token goes in with \`pvesm set drbdstore --linstor-token <token>\` (kept in /etc/pve/priv/storage/).
`

/** The folder holding the running bundle (dist/): this chunk lives in dist/chunks/. */
function distDir(): string {
  const here = dirname(fileURLToPath(import.meta.url))
  return existsSync(join(here, 'linstor-virt.js')) ? here : dirname(here)
}

function exec(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 60_000 }, (err, _stdout, stderr) => {
      if (err !== null) process.stderr.write(`linstor-virt: ${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}\n`)
      resolve()
    })
  })
}

function usage(): number {
  process.stderr.write('usage: linstor-virt install proxmox [--root DIR] [--no-services]\n       linstor-virt uninstall proxmox [--root DIR] [--no-services]\n')
  return 2
}

async function install(root: string, services: boolean): Promise<number> {
  const dist = distDir()
  const perl = join(dist, 'share', 'proxmox', 'LinstorVirtPlugin.pm')
  if (!existsSync(perl)) {
    process.stderr.write(`linstor-virt: ${perl} is missing: run this from a built bundle (npm run build)\n`)
    return 1
  }
  const lib = join(root, LIB)
  mkdirSync(lib, { recursive: true })
  for (const entry of readdirSync(dist)) cpSync(join(dist, entry), join(lib, entry), { recursive: true, force: true })
  chmodSync(join(lib, 'linstor-virt.js'), 0o755)
  const bin = join(root, BIN)
  mkdirSync(dirname(bin), { recursive: true })
  if (existsSync(bin) || isLink(bin)) rmSync(bin)
  symlinkSync(`/${LIB}/linstor-virt.js`, bin)
  mkdirSync(dirname(join(root, PERL)), { recursive: true })
  cpSync(perl, join(root, PERL))
  mkdirSync(dirname(join(root, UNIT)), { recursive: true })
  cpSync(join(dist, 'share', 'systemd', 'linstor-virt-agent.service'), join(root, UNIT))
  process.stdout.write(`installed: /${LIB}/, /${BIN}, /${PERL}, /${UNIT}\n`)
  if (services && root === '/') {
    await exec('systemctl', ['daemon-reload'])
    await exec('systemctl', ['enable', '--now', 'linstor-virt-agent.service'])
    await exec('systemctl', ['try-restart', ...PVE_DAEMONS.map((d) => `${d}.service`)])
    process.stdout.write(`started linstor-virt-agent; restarted ${PVE_DAEMONS.join(', ')} so they load the plugin\n`)
  }
  process.stdout.write('\n' + STORAGE_CFG)
  return 0
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink()
  } catch {
    return false
  }
}

async function uninstall(root: string, services: boolean): Promise<number> {
  if (services && root === '/') await exec('systemctl', ['disable', '--now', 'linstor-virt-agent.service'])
  for (const p of [PERL, UNIT, BIN]) rmSync(join(root, p), { force: true })
  rmSync(join(root, LIB), { recursive: true, force: true })
  if (services && root === '/') {
    await exec('systemctl', ['daemon-reload'])
    await exec('systemctl', ['try-restart', ...PVE_DAEMONS.map((d) => `${d}.service`)])
  }
  process.stdout.write(`removed: /${LIB}/, /${BIN}, /${PERL}, /${UNIT}\nYour volumes stay in LINSTOR; remove the linstor: sections from /etc/pve/storage.cfg yourself.\n`)
  return 0
}

export async function runInstall(args: string[], remove: boolean): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { root: { type: 'string', default: '/' }, 'no-services': { type: 'boolean', default: false } } })
  if (positionals.length !== 1 || positionals[0] !== 'proxmox') return usage()
  const root = values.root
  const services = !values['no-services']
  return remove ? uninstall(root, services) : install(root, services)
}

export function run(args: string[]): Promise<number> {
  return runInstall(args, false)
}
