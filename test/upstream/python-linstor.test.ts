/**
 * python-linstor against the emulator: the high-level `linstor.Resource` story its documentation
 * tells, and the low-level MultiLinstor calls that cover linstor-virt's own client.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { startEmulator } from '../../emulator/index.js'
import type { RunningEmulator } from '../../emulator/index.js'
import { assertNoTraceback, linstorUrl, runPythonScript } from './upstream.js'

async function emulator(t: { after: (f: () => Promise<void>) => void }, version?: string): Promise<RunningEmulator> {
  const emu = await startEmulator({ logLevel: 'silent', listen: { host: '127.0.0.1', port: 0 }, ...(version !== undefined ? { version } : {}) })
  t.after(() => emu.close())
  return emu
}

test('the high-level API: Resource, Volume("10 GB"), redundancy 2, autoplace, grow, activate/device_path/deactivate, snapshots, toggles, delete', async (t) => {
  const emu = await emulator(t)
  const r = await runPythonScript('highlevel_story.py', [linstorUrl(emu.url)])
  assertNoTraceback(r, 'highlevel_story.py')
  assert.equal(r.code, 0, r.stderr)
  const out = JSON.parse(r.stdout) as Record<string, unknown>
  assert.equal((out['diskful_after_autoplace'] as string[]).length, 2)
  // Volume("10 GB") is 10^10 bytes; python-linstor rounds it to whole KiB on the way in.
  assert.equal(out['size_after_create'], Math.ceil(10_000_000_000 / 1024) * 1024)
  assert.equal(out['size_after_grow'], (out['size_after_create']) + 10 * 1024 ** 3)
  assert.ok((out['unassigned_before_activate'] as string[]).length >= 1)
  assert.equal(out['activated_diskless'], true)
  assert.match(String(out['device_path']), /^\/dev\/drbd\d+$/)
  assert.equal(out['device_path'], `/dev/drbd${String(out['minor'])}`)
  assert.equal(out['assigned_after_deactivate'], false)
  assert.equal(out['restored_size'], out['size_after_grow'])
  assert.deepEqual(out['restored_diskful'], out['diskful_after_autoplace'])
  assert.equal(out['toggled_diskless'], true)
  assert.equal(out['toggled_diskful'], true)
  assert.equal(out['diskful_after_node_delete'], false)
  assert.equal(out['exists_after_delete'], false)
  assert.deepEqual(emu.state().resourceDefinitions, {})
})

test('the low-level MultiLinstor calls linstor-virt makes, with a dead first controller', async (t) => {
  const emu = await emulator(t)
  const r = await runPythonScript('lowlevel_calls.py', [`linstor://127.0.0.1:1,${linstorUrl(emu.url)}`])
  assertNoTraceback(r, 'lowlevel_calls.py')
  assert.equal(r.code, 0, r.stderr)
  const out = JSON.parse(r.stdout) as Record<string, unknown>
  const calls = Object.entries(out).filter((e): e is [string, { ok: boolean; errors: string[] }] => typeof e[1] === 'object' && e[1] !== null && 'ok' in e[1])
  const failed = calls.filter(([name, v]) => !v.ok && name !== 'rg_delete_in_use').map(([name, v]) => `${name}: ${v.errors.join('; ')}`)
  assert.deepEqual(failed, [])
  assert.deepEqual((out['rg_delete_in_use'] as { errors: string[] }).errors, ["Cannot delete resource group 'lv-rg' because it has existing resource definitions."])
  assert.equal(out['rest_api_version'], '1.28.0')
  assert.deepEqual(out['nodes'], ['alpha', 'bravo', 'charlie', 'delta'])
  assert.equal(out['qsi_spawn_nodes'], 3)
  assert.deepEqual(out['device_paths'], ['/dev/drbd1000'])
  assert.deepEqual(out['snapshots_after_rollback'], out['snapshots'])
  assert.equal(out['clone_complete'], true)
  assert.equal(out['ctrl_prop_value'], 'x')
  const charlie = (out['resources'] as Array<[string, string[]]>).find(([n]) => n === 'charlie')
  assert.deepEqual(charlie?.[1], ['DISKLESS', 'DRBD_DISKLESS'])
})
