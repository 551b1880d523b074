/**
 * Cinder operators' mistakes and the exact text they read (the message of the Cinder exception the
 * shim raises, or the warning it logs at start-up), run against the emulator through the call
 * protocol with the config the Python shim sends (plugins/openstack-cinder/CONTRACT.md). The table
 * is also docs/cinder.md's list of messages (test/helpers/words.ts). The other LINSTOR drivers'
 * options that are honoured are checked for their effect at the end.
 */
import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import { buildDispatcher } from '../../cli/dispatcher.js'
import { silentLogger } from '../../core/log/index.js'
import { ServiceRegistry } from '../../core/protocol/index.js'
import type { CallReply } from '../../core/protocol/index.js'
import type { RunningEmulator } from '../../emulator/index.js'
import { clientFor, withEmulator } from '../emulator/helpers.js'
import { tempDir } from '../helpers/core.js'
import { checkDocsTable } from '../helpers/words.js'
import type { WordsCase } from '../helpers/words.js'

const VOLUME_ID = '6c3d5e1a-0f5b-4a55-9a3c-2f0e7c1d9b01'

interface Case extends WordsCase {
  /** Options as written in cinder.conf: in [lvm-1] unless given as [section, value]. */
  options?: Record<string, string | [string, string]>
  /** Typed config keys the shim sends besides (tokenFile, defaultResourceGroup...). */
  config?: Record<string, unknown>
  /** The volume's type extra specs (undefined: no type). */
  specs?: Record<string, string>
  sizeGib?: number
  operation: 'check' | 'create_volume'
  tokenRequired?: boolean
}

export const CINDER_CASES: Case[] = [
  {
    mistake: 'a volume type\'s `linstor:resource_group` names a group LINSTOR does not have',
    when: 'create volume (the volume goes to error)',
    specs: { 'linstor:resource_group': 'nosuch' },
    operation: 'create_volume',
    message: "volume type \"gold\": linstor:resource_group \"nosuch\": LINSTOR has no resource group of this name; create it (linstor resource-group create nosuch --place-count 2) or name another",
  },
  {
    mistake: '`linstor_default_resource_group_name` names a group LINSTOR does not have',
    when: 'start-up: the backend is refused (VolumeDriverException)',
    config: { defaultResourceGroup: 'nosuch' },
    options: { linstor_default_resource_group_name: 'nosuch' },
    operation: 'check',
    message: "[lvm-1] linstor_default_resource_group_name = nosuch: LINSTOR has no resource group of this name; create it (linstor resource-group create nosuch --place-count 2) or name another",
  },
  {
    mistake: '`linstor:redundancy` above the number of nodes',
    when: 'create volume',
    specs: { 'linstor:redundancy': '5' },
    operation: 'create_volume',
    message: "volume type \"gold\": linstor:redundancy \"5\": 5 replicas of 1 GiB asked, but only 4 online nodes have a matching pool (alpha, bravo, charlie, delta); ask for at most 4 replicas, or add nodes with matching pools\nLINSTOR: Not enough available nodes [FAIL_NOT_ENOUGH_NODES]",
  },
  {
    mistake: 'a volume larger than the pools can hold',
    when: 'create volume',
    sizeGib: 8192,
    operation: 'create_volume',
    message: "backend lvm-1: 2 replicas of 8 TiB do not fit: the largest volume with 2 replicas that fits now is 2.0 TiB (most free: alpha 100 GiB in DfltStorPool (LVM_THIN), bravo 100 GiB in DfltStorPool (LVM_THIN), charlie 100 GiB in DfltStorPool (LVM_THIN)); ask for a smaller volume, or free or add space in those pools\nLINSTOR: Not enough available nodes [FAIL_NOT_ENOUGH_NODES]",
  },
  {
    mistake: '`linstor_uris` points where no controller answers',
    when: 'create volume (at start-up: a warning, the backend reports itself down)',
    config: { controllers: ['http://127.0.0.1:9'] },
    options: { linstor_uris: 'http://127.0.0.1:9' },
    operation: 'create_volume',
    message: "[lvm-1] linstor_uris = http://127.0.0.1:9: no LINSTOR controller answered; start the controller or correct the address (each must be reachable from this host)\ntried http://127.0.0.1:9 (connection refused, 3 tries)",
  },
  {
    mistake: '`linstor_virt_token_file = /nonexistent`',
    when: 'every call that asks LINSTOR',
    config: { tokenFile: '/nonexistent' },
    options: { linstor_virt_token_file: '/nonexistent' },
    operation: 'create_volume',
    message: "[lvm-1] linstor_virt_token_file = /nonexistent: cannot read token file /nonexistent (ENOENT); put the controller's token in that file (readable by the cinder user and the agent), or correct linstor_virt_token_file in [lvm-1]",
  },
  {
    mistake: 'the controller wants a token and `linstor_virt_token_file` is not set',
    when: 'every call that asks LINSTOR',
    tokenRequired: true,
    operation: 'create_volume',
    message: "[lvm-1] linstor_virt_token_file (not set): the LINSTOR controller refused the request (not authorized); set linstor_virt_token_file in [lvm-1] to a file holding the controller's token\nLINSTOR: Unauthorized: token invalid or not provided [FAIL_ACC_DENIED_COMMAND]",
  },
  {
    mistake: 'a misspelt extra spec: `linstor:redudancy`',
    when: 'create volume (InvalidVolumeType)',
    specs: { 'linstor:redudancy': '3' },
    operation: 'create_volume',
    message: "volume type \"gold\": linstor:redudancy is not a linstor-virt extra spec (did you mean linstor:redundancy?)",
  },
  {
    mistake: '`linstor_timeout = abc`',
    when: 'start-up: the backend is refused',
    options: { linstor_timeout: 'abc' },
    operation: 'check',
    message: "[lvm-1] linstor_timeout = abc: must be a whole number of seconds of at least 1",
  },
  {
    mistake: 'a misspelt option: `linstor_default_resource_grup_name`',
    when: 'start-up: the backend is refused',
    options: { linstor_default_resource_grup_name: 'cinder' },
    operation: 'check',
    message: "[lvm-1] linstor_default_resource_grup_name = cinder: not an option of linstor-virt; did you mean linstor_default_resource_group_name?",
  },
  {
    mistake: "LINBIT's / the in-tree driver's `linstor_default_storage_pool_name` names a pool no node has",
    when: 'create volume (the option is honoured: the pool of volumes whose type names none)',
    options: { linstor_default_storage_pool_name: 'nosuchpool' },
    operation: 'create_volume',
    message: "[lvm-1] linstor_default_storage_pool_name = nosuchpool: 2 replicas of 1 GiB in pool nosuchpool asked, but no online node has a matching storage pool; check the pool names (linstor storage-pool list) and that their nodes are online\nLINSTOR: Not enough available nodes [FAIL_NOT_ENOUGH_NODES]",
  },
  {
    mistake: "the in-tree driver's `linstor_autoplace_count = 0` (a replica on every node)",
    when: 'start-up: the backend is refused',
    options: { linstor_autoplace_count: '0' },
    operation: 'check',
    message: "[lvm-1] linstor_autoplace_count = 0: 0 (a replica on every node) is not offered; set a replica count from 1 to 16 here, or linstor:redundancy (with linstor:diskless_on_remaining) on the volume types",
  },
  {
    mistake: "the in-tree driver's `linstor_volume_downsize_factor`",
    when: 'start-up: the backend is refused',
    options: { linstor_volume_downsize_factor: '4096' },
    operation: 'check',
    message: "[lvm-1] linstor_volume_downsize_factor = 4096: not used: volumes are made exactly the size Cinder asks for; remove it",
  },
  {
    mistake: "the in-tree driver's `linstor_default_volume_group_name`",
    when: 'start-up: the backend is refused',
    options: { linstor_default_volume_group_name: 'drbd-vg' },
    operation: 'check',
    message: "[lvm-1] linstor_default_volume_group_name = drbd-vg: not used: linstor-virt never creates storage pools; create them (linstor storage-pool create) and name them in linstor_default_storage_pool_name or the linstor:storage_pool extra spec",
  },
  {
    mistake: "the in-tree driver's `linstor_default_blocksize`",
    when: 'start-up: the backend is refused',
    options: { linstor_default_blocksize: '4096' },
    operation: 'check',
    message: "[lvm-1] linstor_default_blocksize = 4096: not used: image copies use Cinder's volume_dd_blocksize; set that instead",
  },
  {
    mistake: "the in-tree driver's `linstor_controller_diskless`",
    when: 'start-up: the backend is refused',
    options: { linstor_controller_diskless: 'True' },
    operation: 'check',
    message: "[lvm-1] linstor_controller_diskless = True: not used: the Cinder host gets a diskless client only while it copies data (image copies, backups); remove it",
  },
  {
    mistake: "LINBIT's `linstor_direct = False` (iSCSI)",
    when: 'start-up: the backend is refused',
    options: { linstor_direct: 'False' },
    operation: 'check',
    message: "[lvm-1] linstor_direct = False: not offered: volumes are always attached as local DRBD devices (no iSCSI); set True or remove it",
  },
  {
    mistake: "LINBIT's `dd_blocksize`",
    when: 'start-up: the backend is refused',
    options: { dd_blocksize: '1M' },
    operation: 'check',
    message: "[lvm-1] dd_blocksize = 1M: not used: image copies use Cinder's volume_dd_blocksize; set that instead",
  },
  {
    mistake: "LINBIT's `linstor_force_udev = False` in `[backend_defaults]` (shared with other backends)",
    when: 'start-up: a warning (cinder-volume log), the backend starts',
    options: { linstor_force_udev: ['backend_defaults', 'False'] },
    operation: 'check',
    message: "linstor-virt: [backend_defaults] linstor_force_udev = False: not offered: the device path is always /dev/drbd/by-res/<resource>/0; set True or remove it (ignored by backend lvm-1)",
  },
]

function configOf(emu: RunningEmulator, c: Case, dir: string): Record<string, unknown> {
  const options = Object.fromEntries(
    Object.entries(c.options ?? {}).map(([name, v]) => [name, Array.isArray(v) ? { value: v[1], section: v[0] } : { value: v, section: 'backend' }]),
  )
  return { backend: 'lvm-1', controllers: [emu.url], cinderHost: 'alpha', nodeMap: {}, reservedPercentage: 0, maxOverSubscriptionRatio: '20.0', driverVersion: '1.0.0', lockDir: dir, options, ...(c.config ?? {}) }
}

function volume(c: Case): Record<string, unknown> {
  return {
    id: VOLUME_ID, name_id: VOLUME_ID, name: `volume-${VOLUME_ID}`, size: c.sizeGib ?? 1, provider_id: null, multiattach: false, host: null, status: 'creating',
    volume_type: c.specs === undefined ? null : { id: 'type-1', name: 'gold', extra_specs: c.specs },
    attachments: [],
  }
}

async function call(t: TestContext, emu: RunningEmulator, operation: string, args: Record<string, unknown>, config: Record<string, unknown>): Promise<CallReply> {
  const services = new ServiceRegistry(false)
  t.after(() => services.close())
  return buildDispatcher(silentLogger()).dispatch({ v: 1, platform: 'cinder', operation, arguments: args, config }, services)
}

async function run(t: TestContext, c: Case, dir: string): Promise<string> {
  const emu = await withEmulator(t, c.tokenRequired === true ? { token: 'secret-token' } : {})
  const reply = await call(t, emu, c.operation, c.operation === 'check' ? {} : { volume: volume(c) }, configOf(emu, c, dir))
  if ('error' in reply) return reply.error.message
  const warnings = (reply.result as { warnings?: string[] } | null)?.warnings ?? []
  // The shim logs each start-up warning as "linstor-virt: <warning>" (driver.check_for_setup_error).
  assert.ok(warnings.length > 0, `${c.mistake}: no error and no warning`)
  return warnings.map((w) => `linstor-virt: ${w}`).join('\n')
}

test('Cinder: each mistake gives the exact message of the table', async (t) => {
  const dir = tempDir(t, 'lv-words-cinder-')
  mkdirSync(join(dir, 'locks'))
  const wrong: string[] = []
  for (const c of CINDER_CASES) {
    const message = await run(t, c, join(dir, 'locks'))
    if (message !== c.message) wrong.push(`${c.mistake}\n  want: ${JSON.stringify(c.message)}\n  got:  ${JSON.stringify(message)}`)
  }
  assert.deepEqual(wrong, [], `messages differ from the table:\n${wrong.join('\n')}`)
})

test('docs/cinder.md lists these messages (generated from the table above)', () => {
  checkDocsTable('cinder.md', 'cinder', CINDER_CASES)
})

test('the other drivers\' pool and replica count options are honoured with their meaning; a type\'s own specs win', async (t) => {
  const dir = tempDir(t, 'lv-words-cinder-')
  const emu = await withEmulator(t)
  const client = clientFor(t, emu)
  const config = configOf(emu, { mistake: '', when: '', message: '', operation: 'check', options: { linstor_default_storage_pool_name: 'DfltStorPool', linstor_autoplace_count: '3' } }, dir)
  const ok = await call(t, emu, 'check', {}, config)
  assert.ok('result' in ok, JSON.stringify(ok))
  const replicasOf = async (name: string): Promise<{ node: string; pool: string | undefined }[]> =>
    (await client.view.resources({ resources: [name] })).filter((r) => !r.flags.includes('DISKLESS')).map((r) => ({ node: r.node_name, pool: r.props['StorPoolName'] }))

  const plain = { ...volume({ mistake: '', when: '', message: '', operation: 'create_volume' }), id: VOLUME_ID, name_id: VOLUME_ID }
  const made = await call(t, emu, 'create_volume', { volume: plain }, config)
  assert.ok('result' in made, JSON.stringify(made))
  const replicas = await replicasOf(`CV_${VOLUME_ID}`)
  assert.equal(replicas.length, 3, 'linstor_autoplace_count = 3: three replicas')
  assert.ok(replicas.every((r) => r.pool === 'DfltStorPool'), JSON.stringify(replicas))

  const other = '0b5a0f7e-1111-4a55-9a3c-2f0e7c1d9b02'
  const typed = { ...plain, id: other, name_id: other, volume_type: { id: 't', name: 'two', extra_specs: { 'linstor:redundancy': '2' } } }
  const made2 = await call(t, emu, 'create_volume', { volume: typed }, config)
  assert.ok('result' in made2, JSON.stringify(made2))
  assert.equal((await replicasOf(`CV_${other}`)).length, 2, 'the type\'s linstor:redundancy wins over the backend option')
})
