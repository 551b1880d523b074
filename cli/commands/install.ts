/**
 * `linstor-virt install cinder [--root DIR] [--no-services]` puts the bundled CLI and the agent's
 * unit in place, the Python driver package where Debian's cinder imports it from
 * (/usr/lib/python3/dist-packages/linstor_virt_cinder), a socket of the agent for the cinder group
 * (/etc/linstor-virt/agent.conf.d/cinder.conf) and a unit drop-in making the agent's group cinder;
 * then prints a cinder.conf backend section and `openstack volume type` commands. Every install
 * also puts the agent's configuration template at /etc/linstor-virt/agent.conf when there is none.
 *
 * `linstor-virt install opennebula [--root DIR]` puts the bundled CLI in place and the driver
 * executables under /var/lib/one/remotes/{tm,datastore}/linstor/, then prints the oned.conf lines.
 *
 * `linstor-virt install proxmox [--root DIR] [--no-services]` and `linstor-virt uninstall proxmox ...`:
 * puts the bundled CLI under /usr/lib/linstor-virt (with /usr/bin/linstor-virt pointing at it), the
 * Perl module where PVE's loader looks (/usr/share/perl5/PVE/Storage/Custom/), and the agent's
 * systemd unit; then (on the real root, unless --no-services) reloads systemd, starts the agent and
 * restarts the PVE daemons that load storage plugins. Prints the storage.cfg lines to add.
 * Uninstall removes exactly those files. Everything is safe to repeat.
 *
 * This is the way for hosts without the Debian packages (`npm run package`, README). Like them, what
 * it installs runs /usr/bin/node: the agent's unit, the Perl module's one-shot fallback, and the
 * installed commands (their #! line is rewritten to it). Before installing anything it checks that
 * node (under --root, <root>/usr/bin/node) and its version (>= 18.19), and says what to install.
 */
import { execFile } from 'node:child_process'
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { usageError } from '../usage.js'

const LIB = 'usr/lib/linstor-virt'
const BIN = 'usr/bin/linstor-virt'
const PERL = 'usr/share/perl5/PVE/Storage/Custom/LinstorVirtPlugin.pm'
const UNIT = 'etc/systemd/system/linstor-virt-agent.service'
const PVE_DAEMONS = ['pvedaemon', 'pveproxy', 'pvestatd', 'pvescheduler']
const ONE_REMOTES = 'var/lib/one/remotes'
const ONE_DIRS = ['tm/linstor', 'datastore/linstor']
const CINDER_PKG = 'usr/lib/python3/dist-packages/linstor_virt_cinder'
const CINDER_DROPIN = 'etc/systemd/system/linstor-virt-agent.service.d/cinder.conf'
/** The agent's own configuration (what callers of its group sockets and TCP listener may do), and cinder's socket. */
const AGENT_CONF = 'etc/linstor-virt/agent.conf'
const CINDER_AGENT_CONF = 'etc/linstor-virt/agent.conf.d/cinder.conf'
/** The node everything installed runs, as the packages' Depends: nodejs (>= 18.19) provides it. */
const NODE = 'usr/bin/node'
/** The oldest Node.js the bundle runs on (scripts/build.mjs targets it): Ubuntu 24.04's 18.19.1. */
export const MIN_NODE: readonly [number, number] = [18, 19]
const NODE_ADVICE =
  "Install the distribution's nodejs package (apt install nodejs: Debian 12 has 18.20, Ubuntu 24.04 18.19, " +
  'Debian 13 20.19), or on older releases a newer nodejs from NodeSource; on a host that has the Debian ' +
  'packages of linstor-virt, install those instead (apt install linstor-virt-proxmox, -opennebula or -cinder).'

export const CINDER_CONF = `Then, in /etc/cinder/cinder.conf (restart cinder-volume afterwards):

[DEFAULT]
# add the section's name to your list
enabled_backends = linstor-drbd

[linstor-drbd]
volume_driver = linstor_virt_cinder.driver.LinstorVirtDriver
volume_backend_name = linstor-drbd
linstor_uris = linstor://10.0.0.10,linstor://10.0.0.11
# An existing LINSTOR resource group for volumes whose type names none (unset: 2 replicas in a
# group linstor-virt keeps itself):
# linstor_default_resource_group_name = cinder
# When nova's host names (CONF.host) differ from the LINSTOR node names:
# linstor_virt_node_map = compute-1.example.org:compute-1,compute-2.example.org:compute-2
# TLS to the controllers:
# linstor_trusted_ca = /etc/linstor/ca.pem
# linstor_client_cert = /etc/linstor/client.pem
# linstor_client_key = /etc/linstor/client.key

And volume types that place volumes (extra specs as in LINBIT's driver):

openstack volume type create --property volume_backend_name=linstor-drbd linstor
openstack volume type create --property volume_backend_name=linstor-drbd \\
    --property linstor:redundancy=3 --property linstor:storage_pool=ssd linstor-3-ssd
openstack volume type set --property linstor:property:DrbdOptions:Net:protocol=C linstor-3-ssd

Check it: openstack volume service list (cinder-volume at <host>@linstor-drbd is up), cinder get-pools --detail.
`

export const ONED_CONF = `Then, in /etc/one/oned.conf (restart opennebula afterwards):

1. Add linstor to the -d list of TM_MAD, and to both -d and -s of DATASTORE_MAD, e.g.
     TM_MAD = [ EXECUTABLE = "one_tm", ARGUMENTS = "-t 15 -d dummy,lvm,shared,fs_lvm,qcow2,ssh,ceph,dev,vcenter,iscsi_libvirt,linstor" ]
     DATASTORE_MAD = [ EXECUTABLE = "one_datastore",
         ARGUMENTS = "-t 15 -d dummy,fs,lvm,ceph,dev,iscsi_libvirt,vcenter,restic,rsync,linstor -s shared,ssh,ceph,fs_lvm,qcow2,vcenter,linstor" ]

2. Add these sections:
     TM_MAD_CONF = [
         NAME = "linstor", LN_TARGET = "NONE", CLONE_TARGET = "SELF", SHARED = "YES",
         ALLOW_ORPHANS = "yes", DS_MIGRATE = "YES", DRIVER = "raw",
         TM_MAD_SYSTEM = "ssh,shared",
         LN_TARGET_SSH = "NONE", CLONE_TARGET_SSH = "SELF", DISK_TYPE_SSH = "BLOCK",
         LN_TARGET_SHARED = "NONE", CLONE_TARGET_SHARED = "SELF", DISK_TYPE_SHARED = "BLOCK" ]
     DS_MAD_CONF = [
         NAME = "linstor", REQUIRED_ATTRS = "BRIDGE_LIST", PERSISTENT_ONLY = "NO",
         MARKETPLACE_ACTIONS = "export" ]

3. For disk snapshots of running VMs, add kvm-linstor to LIVE_DISK_SNAPSHOTS in
   /var/lib/one/remotes/etc/vmm/kvm/vmmrc (or vmm_execrc), then run: onehost sync --force

4. Create the datastores (see the README's OpenNebula section), for example:
     cat > ds.tmpl <<EOT
     NAME = linstor-images
     DS_MAD = linstor
     TM_MAD = linstor
     DISK_TYPE = BLOCK
     BRIDGE_LIST = "node1 node2 node3"
     LINSTOR_CONTROLLERS = "linstor://10.0.0.10,linstor://10.0.0.11"
     LINSTOR_RESOURCE_GROUP = "one"
     COMPATIBLE_SYS_DS = "0"
     EOT
     onedatastore create ds.tmpl
`

export const STORAGE_CFG = `Add a storage to /etc/pve/storage.cfg (a blank line before and after it), for example:

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

/** Why a built bundle's share/ is missing: the packaged CLI has none (the packages are the way there). */
function missing(path: string): string {
  const packaged = distDir() === `/${LIB}`
  return packaged
    ? `linstor-virt: ${path} is missing: this is the CLI of the Debian package; install the platform's package instead (apt install linstor-virt-proxmox, linstor-virt-opennebula or linstor-virt-cinder)\n`
    : `linstor-virt: ${path} is missing: run this from a built bundle (npm run build)\n`
}

/** The folder holding the running bundle (dist/): this chunk lives in dist/chunks/. */
function distDir(): string {
  const here = dirname(fileURLToPath(import.meta.url))
  return existsSync(join(here, 'linstor-virt.js')) ? here : dirname(here)
}

/** The version `node --version` prints, e.g. v18.20.4; rejects with what went wrong. */
function nodeVersion(node: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(node, ['--version'], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(stderr.trim() || err.message))
      else resolve(stdout.trim())
    })
  })
}

/**
 * Checks the node the installed files will run (<root>/usr/bin/node): present, runnable, new enough.
 * Prints what it found; on a problem, says plainly what to install and returns false.
 */
async function checkNode(root: string): Promise<boolean> {
  const node = join(root, NODE)
  const shown = root === '/' ? `/${NODE}` : node
  if (!existsSync(node)) {
    process.stderr.write(`linstor-virt: there is no ${shown}: the agent's unit, the platform plugins and the installed commands run /${NODE}, Node.js ${MIN_NODE.join('.')} or later.\n${NODE_ADVICE}\n`)
    return false
  }
  let version: string
  try {
    version = await nodeVersion(node)
  } catch (err) {
    process.stderr.write(`linstor-virt: ${shown} does not run (${err instanceof Error ? err.message : String(err)}); the installed files need it, Node.js ${MIN_NODE.join('.')} or later.\n${NODE_ADVICE}\n`)
    return false
  }
  const m = /^v(\d+)\.(\d+)\.\d+/.exec(version)
  const [major, minor] = m === null ? [0, 0] : [Number(m[1]), Number(m[2])]
  if (major < MIN_NODE[0] || (major === MIN_NODE[0] && minor < MIN_NODE[1])) {
    process.stderr.write(`linstor-virt: ${shown} is Node.js ${version || '(no version)'}; linstor-virt needs ${MIN_NODE.join('.')} or later.\n${NODE_ADVICE}\n`)
    return false
  }
  process.stdout.write(`node: ${shown} ${version}\n`)
  return true
}

/** Makes an installed script run /usr/bin/node (the #! line of the bundle is /usr/bin/env node). */
function useSystemNode(file: string): void {
  const text = readFileSync(file, 'utf8')
  if (text.startsWith('#!')) writeFileSync(file, `#!/${NODE}\n${text.slice(text.indexOf('\n') + 1)}`)
}

function exec(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 60_000 }, (err, _stdout, stderr) => {
      if (err !== null) process.stderr.write(`linstor-virt: ${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}\n`)
      resolve()
    })
  })
}

/** The agent's configuration template, unless the administrator has one already (it is theirs). */
function installAgentConf(root: string, dist: string): void {
  const to = join(root, AGENT_CONF)
  if (existsSync(to)) return
  mkdirSync(dirname(to), { recursive: true, mode: 0o755 })
  cpSync(join(dist, 'share', 'agent', 'agent.conf'), to)
  chmodSync(to, 0o644)
}

/** The bundled CLI under /usr/lib/linstor-virt and /usr/bin/linstor-virt (shared by every platform). */
function installBundle(root: string, dist: string): void {
  const lib = join(root, LIB)
  mkdirSync(lib, { recursive: true })
  // dist/deb holds the Debian packages (npm run package), not part of the installed bundle.
  for (const entry of readdirSync(dist)) if (entry !== 'deb') cpSync(join(dist, entry), join(lib, entry), { recursive: true, force: true })
  installAgentConf(root, dist)
  useSystemNode(join(lib, 'linstor-virt.js'))
  chmodSync(join(lib, 'linstor-virt.js'), 0o755)
  const bin = join(root, BIN)
  mkdirSync(dirname(bin), { recursive: true })
  if (existsSync(bin) || isLink(bin)) rmSync(bin)
  symlinkSync(`/${LIB}/linstor-virt.js`, bin)
}

async function installOpenNebula(root: string): Promise<number> {
  const dist = distDir()
  const remotes = join(dist, 'share', 'opennebula', 'remotes')
  if (!existsSync(remotes)) {
    process.stderr.write(missing(remotes))
    return 1
  }
  if (!(await checkNode(root))) return 1
  installBundle(root, dist)
  for (const d of ONE_DIRS) {
    const to = join(root, ONE_REMOTES, d)
    rmSync(to, { recursive: true, force: true })
    mkdirSync(to, { recursive: true })
    cpSync(join(remotes, d), to, { recursive: true })
    for (const f of readdirSync(to)) {
      if (!f.endsWith('.cjs')) useSystemNode(join(to, f))
      chmodSync(join(to, f), f.endsWith('.cjs') ? 0o644 : 0o755)
    }
  }
  process.stdout.write(`installed: /${LIB}/, /${BIN}, ${ONE_DIRS.map((d) => `/${ONE_REMOTES}/${d}/`).join(', ')}\n`)
  process.stdout.write('The driver files must belong to oneadmin: chown -R oneadmin:oneadmin ' + ONE_DIRS.map((d) => `/${ONE_REMOTES}/${d}`).join(' ') + '\n\n')
  process.stdout.write(ONED_CONF)
  return 0
}

/** Removes the bundle (and the agent's unit) once no platform's files are left that use it. */
function removeBundleIfUnused(root: string): void {
  if (existsSync(join(root, PERL)) || existsSync(join(root, CINDER_PKG)) || ONE_DIRS.some((d) => existsSync(join(root, ONE_REMOTES, d)))) return
  rmSync(join(root, BIN), { force: true })
  rmSync(join(root, LIB), { recursive: true, force: true })
  // The agent's configuration goes with the agent, unless the administrator changed it.
  const conf = join(root, AGENT_CONF)
  const template = join(distDir(), 'share', 'agent', 'agent.conf')
  if (existsSync(conf) && existsSync(template) && readFileSync(conf, 'utf8') === readFileSync(template, 'utf8')) rmSync(conf)
  for (const d of [join(root, AGENT_CONF + '.d'), dirname(join(root, AGENT_CONF))]) {
    try {
      if (readdirSync(d).length === 0) rmSync(d, { recursive: true })
    } catch {
      // not there
    }
  }
}

function uninstallOpenNebula(root: string): Promise<number> {
  for (const d of ONE_DIRS) rmSync(join(root, ONE_REMOTES, d), { recursive: true, force: true })
  removeBundleIfUnused(root)
  process.stdout.write(`removed: ${ONE_DIRS.map((d) => `/${ONE_REMOTES}/${d}/`).join(', ')}\nYour images stay in LINSTOR; remove linstor from oned.conf yourself.\n`)
  return Promise.resolve(0)
}

async function installCinder(root: string, services: boolean): Promise<number> {
  const dist = distDir()
  const pkg = join(dist, 'share', 'cinder', 'linstor_virt_cinder')
  if (!existsSync(join(pkg, 'driver.py'))) {
    process.stderr.write(missing(pkg))
    return 1
  }
  if (!(await checkNode(root))) return 1
  installBundle(root, dist)
  const to = join(root, CINDER_PKG)
  rmSync(to, { recursive: true, force: true })
  mkdirSync(dirname(to), { recursive: true })
  cpSync(pkg, to, { recursive: true })
  for (const f of readdirSync(to)) chmodSync(join(to, f), 0o644)
  mkdirSync(dirname(join(root, UNIT)), { recursive: true })
  cpSync(join(dist, 'share', 'systemd', 'linstor-virt-agent.service'), join(root, UNIT))
  // cinder-volume runs as the cinder user: a socket of the agent for its group (what its calls may
  // use comes from cinder.conf's backends), and the agent's group, so the lock folders it makes
  // under cinder's state_path are the one-shot fallback's (user cinder) too.
  mkdirSync(dirname(join(root, CINDER_DROPIN)), { recursive: true })
  writeFileSync(join(root, CINDER_DROPIN), '# Written by linstor-virt install cinder: the lock folders the agent makes are the cinder group\'s too.\n[Service]\nGroup=cinder\n')
  mkdirSync(dirname(join(root, CINDER_AGENT_CONF)), { recursive: true, mode: 0o755 })
  cpSync(join(dist, 'share', 'agent', 'cinder.conf'), join(root, CINDER_AGENT_CONF))
  chmodSync(join(root, CINDER_AGENT_CONF), 0o644)
  process.stdout.write(`installed: /${LIB}/, /${BIN}, /${CINDER_PKG}/, /${UNIT}, /${CINDER_DROPIN}, /${CINDER_AGENT_CONF}\n`)
  if (services && root === '/') {
    await exec('systemctl', ['daemon-reload'])
    await exec('systemctl', ['enable', '--now', 'linstor-virt-agent.service'])
    await exec('systemctl', ['try-restart', 'linstor-virt-agent.service', 'cinder-volume.service'])
    process.stdout.write('started linstor-virt-agent; restarted cinder-volume (if it ran) so it can load the driver\n')
  }
  process.stdout.write('\n' + CINDER_CONF)
  return 0
}

async function uninstallCinder(root: string, services: boolean): Promise<number> {
  rmSync(join(root, CINDER_PKG), { recursive: true, force: true })
  rmSync(join(root, CINDER_DROPIN), { force: true })
  rmSync(join(root, CINDER_AGENT_CONF), { force: true })
  if (!existsSync(join(root, PERL))) {
    if (services && root === '/') await exec('systemctl', ['disable', '--now', 'linstor-virt-agent.service'])
    rmSync(join(root, UNIT), { force: true })
  }
  removeBundleIfUnused(root)
  if (services && root === '/') await exec('systemctl', ['daemon-reload'])
  process.stdout.write(`removed: /${CINDER_PKG}/, /${CINDER_DROPIN}, /${CINDER_AGENT_CONF}\nYour volumes stay in LINSTOR; remove the backend section from cinder.conf yourself.\n`)
  return 0
}

async function install(root: string, services: boolean): Promise<number> {
  const dist = distDir()
  const perl = join(dist, 'share', 'proxmox', 'LinstorVirtPlugin.pm')
  if (!existsSync(perl)) {
    process.stderr.write(missing(perl))
    return 1
  }
  if (!(await checkNode(root))) return 1
  installBundle(root, dist)
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
  rmSync(join(root, PERL), { force: true })
  // The unit and the bundle stay while another platform's files on this host still use them.
  if (!existsSync(join(root, CINDER_PKG))) rmSync(join(root, UNIT), { force: true })
  removeBundleIfUnused(root)
  if (services && root === '/') {
    await exec('systemctl', ['daemon-reload'])
    await exec('systemctl', ['try-restart', ...PVE_DAEMONS.map((d) => `${d}.service`)])
  }
  process.stdout.write(`removed: /${LIB}/, /${BIN}, /${PERL}, /${UNIT}\nYour volumes stay in LINSTOR; remove the linstor: sections from /etc/pve/storage.cfg yourself.\n`)
  return 0
}

export async function runInstall(args: string[], remove: boolean): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { root: { type: 'string', default: '/' }, 'no-services': { type: 'boolean', default: false } } })
  const platform = positionals[0]
  const name = remove ? 'uninstall' : 'install'
  if (platform === undefined) return usageError(name, 'which platform? (proxmox, opennebula or cinder)')
  if (platform !== 'proxmox' && platform !== 'opennebula' && platform !== 'cinder') return usageError(name, `unknown platform '${platform}' (proxmox, opennebula or cinder)`)
  if (positionals.length > 1) return usageError(name, `unexpected argument '${positionals[1] ?? ''}'`)
  const root = values.root
  const services = !values['no-services']
  if (platform === 'opennebula') return remove ? uninstallOpenNebula(root) : installOpenNebula(root)
  if (platform === 'cinder') return remove ? uninstallCinder(root, services) : installCinder(root, services)
  return remove ? uninstall(root, services) : install(root, services)
}

export function run(args: string[]): Promise<number> {
  return runInstall(args, false)
}
