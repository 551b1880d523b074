/**
 * Proxmox operators' mistakes and the exact text they read (the message the shim dies with, or the
 * warning line it prints from the add/update hook), run against the emulator through the call
 * protocol. The table is also docs/proxmox.md's list of messages (test/helpers/words.ts).
 */
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import { buildDispatcher } from '../../cli/dispatcher.js'
import { silentLogger } from '../../core/log/index.js'
import { ServiceRegistry } from '../../core/protocol/index.js'
import type { RunningEmulator } from '../../emulator/index.js'
import { ALL_KEYS, KEYS } from '../../plugins/proxmox/settings.js'
import { withEmulator } from '../emulator/helpers.js'
import { tempDir } from '../helpers/core.js'
import { repoRoot } from '../helpers/paths.js'
import { checkDocsTable } from '../helpers/words.js'
import type { WordsCase } from '../helpers/words.js'

const GiB_KIB = 1024 * 1024
const DOWN = 'http://127.0.0.1:9'

interface Case extends WordsCase {
  scfg: Record<string, unknown>
  operation: string
  args?: Record<string, unknown>
  /** Extra config as the shim sends it (tokenFile: written to a file first). */
  token?: string
  /** The emulator asks for a bearer token. */
  tokenRequired?: boolean
  /** The shim prints these from check_config's warnings rather than dying. */
  warning?: boolean
  /** PVE's node name (default alpha, a LINSTOR node). */
  node?: string
  /** A call made first, on node alpha (e.g. the disk to activate). */
  before?: { operation: string; args: Record<string, unknown> }
}

const alloc = (sizeKib: number): Record<string, unknown> => ({ vmid: 100, sizeKib })

export const PROXMOX_CASES: Case[] = [
  {
    mistake: '`linstor-resource-group` names a group LINSTOR does not have',
    when: 'add storage, and every disk allocation',
    scfg: { [KEYS.resourceGroup]: 'nosuch' },
    operation: 'alloc_image',
    args: alloc(GiB_KIB),
    message: "storage drbd1: linstor-resource-group 'nosuch': LINSTOR has no resource group of this name; create it (linstor resource-group create nosuch --place-count 2) or name another",
  },
  {
    mistake: '`linstor-place-count` above the number of nodes',
    when: 'disk allocation',
    scfg: { [KEYS.placeCount]: 5 },
    operation: 'alloc_image',
    args: alloc(GiB_KIB),
    message: "storage drbd1: linstor-place-count '5': 5 replicas of 1 GiB asked, but only 4 online nodes have a matching pool (alpha, bravo, charlie, delta); ask for at most 4 replicas, or add nodes with matching pools\nLINSTOR: Not enough available nodes [FAIL_NOT_ENOUGH_NODES]",
  },
  {
    mistake: 'a disk larger than the pools can hold',
    when: 'disk allocation',
    scfg: {},
    operation: 'alloc_image',
    args: alloc(4096 * GiB_KIB),
    message: "storage drbd1: 2 replicas of 4 TiB do not fit: the largest volume with 2 replicas that fits now is 2.0 TiB (most free: alpha 100 GiB in DfltStorPool (LVM_THIN), bravo 100 GiB in DfltStorPool (LVM_THIN), charlie 100 GiB in DfltStorPool (LVM_THIN)); ask for a smaller volume, or free or add space in those pools\nLINSTOR: Not enough available nodes [FAIL_NOT_ENOUGH_NODES]",
  },
  {
    mistake: '`linstor-storage-pools` names a pool no node has',
    when: 'disk allocation',
    scfg: { [KEYS.storagePools]: 'nosuchpool' },
    operation: 'alloc_image',
    args: alloc(GiB_KIB),
    message: "storage drbd1: linstor-storage-pools 'nosuchpool': 2 replicas of 1 GiB in pool nosuchpool asked, but no online node has a matching storage pool; check the pool names (linstor storage-pool list) and that their nodes are online\nLINSTOR: Not enough available nodes [FAIL_NOT_ENOUGH_NODES]",
  },
  {
    mistake: 'the resource group places more replicas than there are nodes',
    when: 'disk allocation',
    scfg: { [KEYS.resourceGroup]: 'five' },
    operation: 'alloc_image',
    args: alloc(GiB_KIB),
    message: "storage drbd1: linstor-resource-group 'five': 5 replicas of 1 GiB (its place count is 5) asked, but only 4 online nodes have a matching pool (alpha, bravo, charlie, delta); lower the group's place count to 4 (linstor resource-group modify five --place-count 4), or add nodes with matching pools\nLINSTOR: Not enough available nodes [FAIL_NOT_ENOUGH_NODES]",
  },
  {
    mistake: '`linstor-controllers` points where no controller answers',
    when: 'disk allocation (status shows the storage inactive)',
    scfg: { [KEYS.controllers]: DOWN },
    operation: 'alloc_image',
    args: alloc(GiB_KIB),
    message: "storage drbd1: linstor-controllers 'http://127.0.0.1:9': no LINSTOR controller answered; start the controller or correct the address (each must be reachable from this host)\ntried http://127.0.0.1:9 (connection refused, 3 tries)",
  },
  {
    mistake: 'the controller wants a token and `linstor-token` is not set',
    when: 'any action that asks LINSTOR',
    scfg: {},
    tokenRequired: true,
    operation: 'alloc_image',
    args: alloc(GiB_KIB),
    message: "storage drbd1: linstor-token (not set): the LINSTOR controller refused the request (not authorized); store the controller's token: pvesm set drbd1 --linstor-token <token>\nLINSTOR: Unauthorized: token invalid or not provided [FAIL_ACC_DENIED_COMMAND]",
  },
  {
    mistake: 'the stored token file holds no token',
    when: 'any action that asks LINSTOR',
    scfg: {},
    token: '{}',
    operation: 'alloc_image',
    args: alloc(GiB_KIB),
    message: "storage drbd1: linstor-token (kept in /etc/pve/priv/storage/drbd1.linstor-token): token file /etc/pve/priv/storage/drbd1.linstor-token has no \"token\" string; store the controller's token: pvesm set drbd1 --linstor-token <token>",
  },
  {
    mistake: "PVE's node name is not the node's LINSTOR name (registered by FQDN), no `linstor-node-map`",
    when: 'VM start on that node (disk activation)',
    scfg: {},
    node: 'pve9',
    before: { operation: 'alloc_image', args: alloc(GiB_KIB) },
    operation: 'activate_volume',
    args: { volname: 'vm-100-disk-0' },
    message: "storage drbd1: PVE node pve9 as LINSTOR node pve9 (linstor-node-map and linstor-search-domain not set): LINSTOR has no node pve9; add this node to LINSTOR under that name, or map it: pvesm set drbd1 --linstor-node-map pve9=<linstor-node> (or --linstor-search-domain <domain>)\nLINSTOR: Node 'pve9' not found. [FAIL_NOT_FOUND_NODE]",
  },
  {
    mistake: '`linstor-place-count 0`',
    when: 'add or change storage, every action',
    scfg: { [KEYS.placeCount]: 0 },
    operation: 'alloc_image',
    args: alloc(GiB_KIB),
    message: "storage drbd1: linstor-place-count: must be a whole number from 1 to 16",
  },
  {
    mistake: '`linstor-resource-group` together with `linstor-place-count`',
    when: 'add or change storage, every action',
    scfg: { [KEYS.resourceGroup]: 'pve', [KEYS.placeCount]: 3 },
    operation: 'alloc_image',
    args: alloc(GiB_KIB),
    message: "storage drbd1: linstor-resource-group: places volumes by itself: leave linstor-place-count, linstor-storage-pools and linstor-replicas-on-different unset, or drop linstor-resource-group",
  },
  {
    mistake: '`linstor-node-map` entry without `=`',
    when: 'add or change storage, every action',
    scfg: { [KEYS.nodeMap]: 'pve1' },
    operation: 'alloc_image',
    args: alloc(GiB_KIB),
    message: "storage drbd1: linstor-node-map: 'pve1' is not pve-node=linstor-node (e.g. pve1=pve1.example.org)",
  },
  {
    mistake: 'a misspelt key in storage.cfg (`linstor-resouce-group`), which PVE drops',
    when: 'warning on `pvesm set` (the add/update hook)',
    scfg: {},
    operation: 'check_config',
    args: { hook: 'update', sensitive: {}, dropped: ['linstor-resouce-group'] },
    warning: true,
    message: "linstor-virt: WARNING: storage drbd1: linstor-resouce-group is not an option of a linstor storage and was dropped from storage.cfg, so it has no effect; did you mean linstor-resource-group?",
  },
  {
    mistake: "linstor-proxmox's `resourcegroup` kept in a linstor section",
    when: 'warning on `pvesm set` (the add/update hook)',
    scfg: {},
    operation: 'check_config',
    args: { hook: 'update', sensitive: {}, dropped: ['resourcegroup', 'controller'] },
    warning: true,
    message: "linstor-virt: WARNING: storage drbd1: resourcegroup is not an option of a linstor storage and was dropped from storage.cfg, so it has no effect; it is linstor-proxmox's option (type drbd): use linstor-resource-group\nlinstor-virt: WARNING: storage drbd1: controller is not an option of a linstor storage and was dropped from storage.cfg, so it has no effect; it is linstor-proxmox's option (type drbd): use linstor-controllers",
  },
]

async function seed(emu: RunningEmulator): Promise<void> {
  const c = await fetch(`${emu.url}/v1/resource-groups`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'five', select_filter: { place_count: 5 } }) })
  assert.ok(c.ok, `seed: ${c.status}`)
}

/** What the operator reads for one case: the shim's die text, or its warning lines. */
async function run(t: TestContext, c: Case, dir: string): Promise<string> {
  const emu = await withEmulator(t, c.tokenRequired === true ? { token: 'secret-token' } : {})
  if (c.tokenRequired !== true) await seed(emu)
  const config: Record<string, unknown> = { storeid: 'drbd1', node: c.node ?? 'alpha', scfg: { [KEYS.controllers]: emu.url, content: 'images,rootdir', ...c.scfg } }
  if (c.token !== undefined) {
    const file = join(dir, 'drbd1.linstor-token')
    writeFileSync(file, c.token)
    config['tokenFile'] = file
  }
  const services = new ServiceRegistry(false)
  t.after(() => services.close())
  if (c.before !== undefined) {
    const first = await buildDispatcher(silentLogger()).dispatch({ v: 1, platform: 'proxmox', operation: c.before.operation, arguments: c.before.args, config: { ...config, node: 'alpha' } }, services)
    assert.ok('result' in first, JSON.stringify(first))
  }
  const reply = await buildDispatcher(silentLogger()).dispatch({ v: 1, platform: 'proxmox', operation: c.operation, arguments: c.args ?? {}, config }, services)
  const text = (s: string): string => s.replaceAll(dir, '/etc/pve/priv/storage').replaceAll(emu.url, 'http://ctrl:3370')
  if ('error' in reply) return text(reply.error.message)
  assert.equal(c.warning, true, `${c.mistake}: no error (${JSON.stringify(reply.result)})`)
  const warnings = (reply.result as { warnings?: string[] }).warnings ?? []
  // The shim prints each as its own line (plugins/proxmox/perl: _check_config).
  return text(warnings.map((w) => `linstor-virt: WARNING: ${w}`).join('\n'))
}

test('Proxmox: each mistake gives the exact message of the table', async (t) => {
  const dir = tempDir(t, 'lv-words-pve-')
  mkdirSync(join(dir, 'locks'))
  process.env['LINSTOR_VIRT_LOCK_DIR'] = join(dir, 'locks')
  const wrong: string[] = []
  for (const c of PROXMOX_CASES) {
    const message = await run(t, c, dir)
    if (message !== c.message) wrong.push(`${c.mistake}\n  want: ${JSON.stringify(c.message)}\n  got:  ${JSON.stringify(message)}`)
  }
  assert.deepEqual(wrong, [], `messages differ from the table:\n${wrong.join('\n')}`)
})

test('docs/proxmox.md lists these messages (generated from the table above)', () => {
  checkDocsTable('proxmox.md', 'proxmox', PROXMOX_CASES)
})

test('docs/proxmox.md and the shim agree on every key, and on what linstor-controllers falls back to', () => {
  const pm = readFileSync(join(repoRoot(), 'plugins/proxmox/perl/PVE/Storage/Custom/LinstorVirtPlugin.pm'), 'utf8')
  const declared = [...pm.matchAll(/^ {8}'(linstor-[a-z-]+)' => \{/gm)].map((m) => m[1]).sort()
  assert.deepEqual(declared, [...ALL_KEYS].sort(), 'the shim declares exactly the keys the TypeScript side knows')
  const doc = readFileSync(join(repoRoot(), 'docs/proxmox.md'), 'utf8')
  const firstCells = [...doc.matchAll(/^\| (`linstor-[^|]*) \|/gm)].map((m) => m[1] ?? '')
  const documented = new Set(firstCells.flatMap((c) => [...c.matchAll(/`(linstor-[a-z-]+)`/g)].map((m) => m[1] as string)))
  assert.deepEqual([...documented].sort(), declared, 'docs/proxmox.md documents every key')
  // The description PVE shows (pvesm help, GUI) says what the doc's table says.
  const description = /'linstor-controllers' => \{\s*description => ((?:"[^"]*"\s*\.?\s*)+),/.exec(pm)?.[1]?.match(/"([^"]*)"/g)?.map((s) => s.slice(1, -1)).join('') ?? ''
  const row = /^\| `linstor-controllers` \| (.*) \| (.*) \|$/m.exec(doc)
  assert.ok(row !== null, 'docs/proxmox.md has a linstor-controllers row')
  const docText = `${row[1] ?? ''} Unset: ${row[2] ?? ''}`.replace(/`/g, '')
  assert.equal(docText, description, 'docs/proxmox.md says what the linstor-controllers description says')
})
