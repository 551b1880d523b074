/**
 * OpenNebula operators' mistakes and the exact lines oned shows (the driver's stderr as the launcher
 * prints it: WARN/INFO lines, one ERROR line and the plain reason), run against the emulator
 * through the call protocol and the launcher's own rendering. The table is also
 * docs/opennebula.md's list of messages (test/helpers/words.ts).
 */
import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import { buildDispatcher } from '../../cli/dispatcher.js'
import { silentLogger } from '../../core/log/index.js'
import { ServiceRegistry } from '../../core/protocol/index.js'
import type { CallReply } from '../../core/protocol/index.js'
import { withEmulator } from '../emulator/helpers.js'
import { tempDir } from '../helpers/core.js'
import { repoRoot } from '../helpers/paths.js'
import { checkDocsTable } from '../helpers/words.js'
import type { WordsCase } from '../helpers/words.js'
import { actionData, datastoreXml } from '../opennebula/one.js'

const launcher = createRequire(import.meta.url)(join(repoRoot(), 'plugins/opennebula/launcher/driver.cjs')) as {
  render(reply: CallReply, label: string): { code: number; out: string; err: string }
}

interface Case extends WordsCase {
  attrs: Record<string, string>
  /** The image's SIZE in MiB (mkfs of an empty raw datablock). */
  sizeMiB?: number
  tokenRequired?: boolean
}

export const ONE_CASES: Case[] = [
  {
    mistake: '`LINSTOR_RESOURCE_GROUP` names a group LINSTOR does not have',
    when: 'every action of the datastore (here: a new image)',
    attrs: { LINSTOR_RESOURCE_GROUP: 'nosuch' },
    message: "ERROR: datastore/linstor/mkfs: datastore 100: LINSTOR_RESOURCE_GROUP=\"nosuch\": LINSTOR has no resource group of this name; create it (linstor resource-group create nosuch --place-count 2) or name another\ndatastore 100: LINSTOR_RESOURCE_GROUP=\"nosuch\": LINSTOR has no resource group of this name; create it (linstor resource-group create nosuch --place-count 2) or name another",
  },
  {
    mistake: 'a misspelt attribute: `LINSTOR_RESOURCE_GRUOP="one"`',
    when: 'WARN on every action of the datastore (the image is made with the default placement)',
    attrs: { LINSTOR_RESOURCE_GRUOP: 'one' },
    message: "WARN: datastore/linstor/mkfs: datastore 100: LINSTOR_RESOURCE_GRUOP is not an attribute linstor-virt reads, so it has no effect; did you mean LINSTOR_RESOURCE_GROUP?",
  },
  {
    mistake: 'the same typo on an action that fails for another reason',
    when: 'the WARN line comes before the ERROR',
    attrs: { LINSTOR_RESOURCE_GRUOP: 'one', LINSTOR_PLACE_COUNT: '5' },
    message: "WARN: datastore/linstor/mkfs: datastore 100: LINSTOR_RESOURCE_GRUOP is not an attribute linstor-virt reads, so it has no effect; did you mean LINSTOR_RESOURCE_GROUP?\nINFO: datastore/linstor/mkfs: LINSTOR: Not enough available nodes [FAIL_NOT_ENOUGH_NODES]\nERROR: datastore/linstor/mkfs: datastore 100: LINSTOR_PLACE_COUNT=\"5\": 5 replicas of 1 GiB asked, but only 4 online nodes have a matching pool (alpha, bravo, charlie, delta); ask for at most 4 replicas, or add nodes with matching pools\ndatastore 100: LINSTOR_PLACE_COUNT=\"5\": 5 replicas of 1 GiB asked, but only 4 online nodes have a matching pool (alpha, bravo, charlie, delta); ask for at most 4 replicas, or add nodes with matching pools",
  },
  {
    mistake: '`LINSTOR_CONTROLLERS` points where no controller answers',
    when: 'every action that asks LINSTOR',
    attrs: { LINSTOR_CONTROLLERS: 'http://127.0.0.1:9' },
    message: "INFO: datastore/linstor/mkfs: tried http://127.0.0.1:9 (connection refused, 3 tries)\nERROR: datastore/linstor/mkfs: datastore 100: LINSTOR_CONTROLLERS=\"http://127.0.0.1:9\": no LINSTOR controller answered; start the controller or correct the address (each must be reachable from this host)\ndatastore 100: LINSTOR_CONTROLLERS=\"http://127.0.0.1:9\": no LINSTOR controller answered; start the controller or correct the address (each must be reachable from this host)",
  },
  {
    mistake: '`LINSTOR_TOKEN_FILE=/nonexistent`',
    when: 'every action that asks LINSTOR',
    attrs: { LINSTOR_TOKEN_FILE: '/nonexistent' },
    message: "ERROR: datastore/linstor/mkfs: datastore 100: LINSTOR_TOKEN_FILE=\"/nonexistent\": cannot read token file /nonexistent (ENOENT); put the controller's token in that file (readable by oneadmin), or correct LINSTOR_TOKEN_FILE (onedatastore update 100)\ndatastore 100: LINSTOR_TOKEN_FILE=\"/nonexistent\": cannot read token file /nonexistent (ENOENT); put the controller's token in that file (readable by oneadmin), or correct LINSTOR_TOKEN_FILE (onedatastore update 100)",
  },
  {
    mistake: 'the controller wants a token and `LINSTOR_TOKEN_FILE` is not set',
    when: 'every action that asks LINSTOR',
    attrs: {},
    tokenRequired: true,
    message: "INFO: datastore/linstor/mkfs: LINSTOR: Unauthorized: token invalid or not provided [FAIL_ACC_DENIED_COMMAND]\nERROR: datastore/linstor/mkfs: datastore 100: LINSTOR_TOKEN_FILE (not set): the LINSTOR controller refused the request (not authorized); set LINSTOR_TOKEN_FILE to a file holding the controller's token (onedatastore update 100)\ndatastore 100: LINSTOR_TOKEN_FILE (not set): the LINSTOR controller refused the request (not authorized); set LINSTOR_TOKEN_FILE to a file holding the controller's token (onedatastore update 100)",
  },
  {
    mistake: '`LINSTOR_PLACE_COUNT` above the number of nodes',
    when: 'new images and VM disks',
    attrs: { LINSTOR_PLACE_COUNT: '5' },
    message: "INFO: datastore/linstor/mkfs: LINSTOR: Not enough available nodes [FAIL_NOT_ENOUGH_NODES]\nERROR: datastore/linstor/mkfs: datastore 100: LINSTOR_PLACE_COUNT=\"5\": 5 replicas of 1 GiB asked, but only 4 online nodes have a matching pool (alpha, bravo, charlie, delta); ask for at most 4 replicas, or add nodes with matching pools\ndatastore 100: LINSTOR_PLACE_COUNT=\"5\": 5 replicas of 1 GiB asked, but only 4 online nodes have a matching pool (alpha, bravo, charlie, delta); ask for at most 4 replicas, or add nodes with matching pools",
  },
  {
    mistake: 'an image larger than the pools can hold',
    when: 'new images and VM disks',
    attrs: {},
    sizeMiB: 8 * 1024 * 1024,
    message: "INFO: datastore/linstor/mkfs: LINSTOR: Not enough available nodes [FAIL_NOT_ENOUGH_NODES]\nERROR: datastore/linstor/mkfs: datastore 100: 2 replicas of 8 TiB do not fit: the largest volume with 2 replicas that fits now is 2.0 TiB (most free: alpha 100 GiB in DfltStorPool (LVM_THIN), bravo 100 GiB in DfltStorPool (LVM_THIN), charlie 100 GiB in DfltStorPool (LVM_THIN)); ask for a smaller volume, or free or add space in those pools\ndatastore 100: 2 replicas of 8 TiB do not fit: the largest volume with 2 replicas that fits now is 2.0 TiB (most free: alpha 100 GiB in DfltStorPool (LVM_THIN), bravo 100 GiB in DfltStorPool (LVM_THIN), charlie 100 GiB in DfltStorPool (LVM_THIN)); ask for a smaller volume, or free or add space in those pools",
  },
  {
    mistake: '`LINSTOR_PLACE_COUNT="two"`',
    when: 'every action of the datastore',
    attrs: { LINSTOR_PLACE_COUNT: 'two' },
    message: "ERROR: datastore/linstor/mkfs: datastore 100: LINSTOR_PLACE_COUNT: must be a whole number from 1 to 16, got 'two'\ndatastore 100: LINSTOR_PLACE_COUNT: must be a whole number from 1 to 16, got 'two'",
  },
  {
    mistake: "addon-linstor's `LINSTOR_AUTO_PLACE` beside `LINSTOR_RESOURCE_GROUP`",
    when: 'WARN on every action of the datastore',
    attrs: { LINSTOR_RESOURCE_GROUP: 'one', LINSTOR_AUTO_PLACE: '3' },
    message: "WARN: datastore/linstor/mkfs: datastore 100: LINSTOR_AUTO_PLACE has no effect: resource group one (LINSTOR_RESOURCE_GROUP) places the volumes; remove it",
  },
  {
    mistake: "addon-linstor's `LINSTOR_DEPLOYMENT_NODES`",
    when: 'WARN on every action of the datastore',
    attrs: { LINSTOR_DEPLOYMENT_NODES: 'alpha bravo' },
    message: "WARN: datastore/linstor/mkfs: datastore 100: LINSTOR_DEPLOYMENT_NODES is not an attribute linstor-virt reads, so it has no effect; addon-linstor's fixed node list is not used: LINSTOR places the replicas (LINSTOR_PLACE_COUNT, LINSTOR_STORAGE_POOLS, LINSTOR_REPLICAS_ON_SAME with a node property)",
  },
]

async function run(t: TestContext, c: Case, n: number): Promise<string> {
  const emu = await withEmulator(t, c.tokenRequired === true ? { token: 'secret-token' } : {})
  if (c.tokenRequired !== true) {
    const r = await fetch(`${emu.url}/v1/resource-groups`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'one', select_filter: { place_count: 2 } }) })
    assert.ok(r.ok)
  }
  const ds = datastoreXml(100, { LINSTOR_CONTROLLERS: emu.url, BRIDGE_LIST: 'alpha', ...c.attrs })
  const stdin = actionData({ ID: String(20 + n), FORMAT: 'raw', SIZE: String(c.sizeMiB ?? 1024), TYPE: '2' }, ds)
  const services = new ServiceRegistry(false)
  t.after(() => services.close())
  const reply = await buildDispatcher(silentLogger()).dispatch({ v: 1, platform: 'opennebula', operation: 'ds.mkfs', arguments: { argv: [String(20 + n)], stdin }, config: {} }, services)
  return launcher.render(reply, 'datastore/linstor/mkfs').err.trimEnd().replaceAll(emu.url, 'http://ctrl:3370')
}

test('OpenNebula: each mistake gives the exact lines of the table', async (t) => {
  const dir = tempDir(t, 'lv-words-one-')
  mkdirSync(join(dir, 'locks'))
  process.env['LINSTOR_VIRT_LOCK_DIR'] = join(dir, 'locks')
  const wrong: string[] = []
  for (const [n, c] of ONE_CASES.entries()) {
    const message = await run(t, c, n)
    if (message !== c.message) wrong.push(`${c.mistake}\n  want: ${JSON.stringify(c.message)}\n  got:  ${JSON.stringify(message)}`)
  }
  assert.deepEqual(wrong, [], `messages differ from the table:\n${wrong.join('\n')}`)
})

test('docs/opennebula.md lists these messages (generated from the table above)', () => {
  checkDocsTable('opennebula.md', 'opennebula', ONE_CASES)
})
