/**
 * The `linstor` command line against the emulator: the commands an operator types from the LINSTOR
 * user guide and the platform guides, their `-m` JSON forms and the error cases, with the exit
 * codes linstor-client defines (linstor_client/consts.py ExitCode: 0 OK, 2 ARGPARSE_ERROR,
 * 10 API_ERROR, 20 CONNECTION_ERROR). No command may end in a Python traceback.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import { startEmulator } from '../../emulator/index.js'
import type { RunningEmulator } from '../../emulator/index.js'
import { assertNoTraceback, linstor, linstorSession } from './upstream.js'
import type { Run } from './upstream.js'

const OK = 0
const ARGPARSE_ERROR = 2
const API_ERROR = 10
const CONNECTION_ERROR = 20

async function emulator(t: TestContext): Promise<RunningEmulator> {
  const emu = await startEmulator({ logLevel: 'silent', listen: { host: '127.0.0.1', port: 0 } })
  t.after(() => emu.close())
  return emu
}

/**
 * The CLI against `emu`: with `t`, every command in one interpreter of its own (linstorSession);
 * without, each command a process of its own, where the exit code itself is what is checked.
 */
function cli(emu: RunningEmulator, t?: TestContext): { run: (...args: string[]) => Promise<Run>; ok: (...args: string[]) => Promise<string>; fails: (code: number, ...args: string[]) => Promise<string>; json: (...args: string[]) => Promise<unknown> } {
  const session = t === undefined ? undefined : linstorSession()
  if (session !== undefined) t?.after(() => session.close())
  const run = async (...args: string[]): Promise<Run> => {
    const r = session !== undefined ? await session.run(emu.url, args) : await linstor(emu.url, args)
    assertNoTraceback(r, `linstor ${args.join(' ')}`)
    return r
  }
  return {
    run,
    ok: async (...args) => {
      const r = await run(...args)
      assert.equal(r.code, OK, `linstor ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`)
      return r.stdout
    },
    fails: async (code, ...args) => {
      const r = await run(...args)
      assert.equal(r.code, code, `linstor ${args.join(' ')} exited ${r.code}, not ${code}:\n${r.stdout}\n${r.stderr}`)
      return `${r.stdout}\n${r.stderr}`
    },
    json: async (...args) => {
      const r = await run('-m', ...args)
      assert.equal(r.code, OK, `linstor -m ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`)
      return JSON.parse(r.stdout) as unknown
    },
  }
}

interface RscRow {
  node_name: string
  flags?: string[]
}

/** `linstor -m resource list -r NAME` → node names of the diskful replicas. */
async function diskfulOf(c: ReturnType<typeof cli>, rsc: string): Promise<string[]> {
  const out = (await c.json('resource', 'list', '-r', rsc)) as RscRow[][]
  return (out[0] ?? []).filter((r) => !(r.flags ?? []).includes('DRBD_DISKLESS')).map((r) => r.node_name).sort()
}

test('nodes and storage pools: create, list (table and -m), properties', async (t) => {
  const c = cli(await emulator(t), t)
  await c.ok('node', 'create', 'echo', '10.0.0.5')
  assert.match(await c.ok('node', 'list'), /\| echo +\| SATELLITE +\| 10\.0\.0\.5:3366 \(PLAIN\)/)
  const nodes = (await c.json('node', 'list')) as Array<Array<{ name: string }>>
  assert.deepEqual(nodes[0]?.map((n) => n.name), ['alpha', 'bravo', 'charlie', 'delta', 'echo'])
  await c.ok('node', 'set-property', 'alpha', 'Aux/site', 'east')
  assert.match(await c.ok('node', 'list-properties', 'alpha'), /Aux\/site +\| east/)
  await c.ok('storage-pool', 'create', 'lvmthin', 'echo', 'thin2', 'vg/thin')
  await c.ok('storage-pool', 'create', 'zfs', 'echo', 'tank1', 'tank')
  assert.match(await c.ok('storage-pool', 'list'), /\| thin2 +\| echo +\| LVM_THIN/)
  const pools = (await c.json('storage-pool', 'list', '-n', 'echo')) as Array<Array<{ storage_pool_name: string }>>
  assert.deepEqual(pools[0]?.map((p) => p.storage_pool_name).sort(), ['DfltDisklessStorPool', 'tank1', 'thin2'])
  await c.ok('storage-pool', 'delete', 'echo', 'tank1')
  assert.doesNotMatch(await c.ok('storage-pool', 'list'), /tank1/)
})

test('resource groups with --place-count: create, modify, spawn, query-size-info (the README advice works)', async (t) => {
  const c = cli(await emulator(t), t)
  await c.ok('resource-group', 'create', 'pve-ssd', '--place-count', '2', '--storage-pool', 'DfltStorPool')
  await c.ok('resource-group', 'modify', 'pve-ssd', '--place-count', '3')
  assert.match(await c.ok('resource-group', 'list'), /pve-ssd +\| PlaceCount: 3/)
  await c.ok('volume-group', 'create', 'pve-ssd')
  await c.ok('resource-group', 'spawn', 'pve-ssd', 'vm-100-disk-0', '2G')
  assert.equal((await diskfulOf(c, 'vm-100-disk-0')).length, 3)
  await c.ok('resource-group', 'spawn', 'pve-ssd', 'vm-101-disk-0', '2G', '--place-count', '2')
  assert.equal((await diskfulOf(c, 'vm-101-disk-0')).length, 2)
  const three = (await c.json('resource-group', 'query-size-info', 'pve-ssd', '--place-count', '3')) as { space_info: { next_spawn_result: unknown[] } }
  assert.equal(three.space_info.next_spawn_result.length, 3)
  const two = (await c.json('resource-group', 'query-size-info', 'pve-ssd', '--place-count', '2')) as { space_info: { next_spawn_result: unknown[] } }
  assert.equal(two.space_info.next_spawn_result.length, 2)
  assert.match(await c.ok('resource-group', 'query-size-info', 'pve-ssd'), /MaxVolumeSize/)
  await c.ok('resource-group', 'set-property', 'pve-ssd', 'Aux/owner', 'ops')
  await c.ok('resource-group', 'drbd-options', 'pve-ssd', '--quorum', 'majority')
  assert.match(await c.ok('resource-group', 'list-properties', 'pve-ssd'), /DrbdOptions\/Resource\/quorum +\| majority/)
  // More replicas than nodes: the answer carries the error, the client exits with API_ERROR.
  assert.match(await c.fails(API_ERROR, 'resource-group', 'query-size-info', 'pve-ssd', '--place-count', '5'), /Not enough available nodes/)
})

test('definitions and resources: rd/vd create, resource create on a node, --auto-place, --diskless, list, list-volumes, toggle-disk, delete', async (t) => {
  const c = cli(await emulator(t), t)
  await c.ok('resource-definition', 'create', 'data1')
  await c.ok('resource-definition', 'set-property', 'data1', 'Aux/app', 'db')
  await c.ok('volume-definition', 'create', 'data1', '1G')
  await c.ok('volume-definition', 'set-size', 'data1', '0', '2G')
  assert.match(await c.ok('volume-definition', 'list'), /data1 +\| 0 +\| 1000 +\| 2 GiB/)
  await c.ok('resource', 'create', 'alpha', 'data1')
  await c.ok('resource', 'create', 'data1', '--auto-place', '2')
  assert.deepEqual(await diskfulOf(c, 'data1'), ['alpha', 'bravo'])
  await c.ok('resource', 'create', 'delta', 'data1', '--diskless')
  const list = await c.ok('resource', 'list')
  assert.match(list, /data1 +\| delta +\| DRBD,STORAGE +\| Unused +\| Ok +\| Diskless/)
  assert.match(await c.ok('resource', 'list-volumes', '-r', 'data1'), /\/dev\/drbd1000/)
  await c.ok('resource', 'toggle-disk', 'delta', 'data1', '--default-storage-pool')
  assert.deepEqual(await diskfulOf(c, 'data1'), ['alpha', 'bravo', 'delta'])
  await c.ok('resource', 'toggle-disk', 'delta', 'data1', '--diskless')
  await c.ok('resource', 'delete', 'delta', 'data1')
  const rds = (await c.json('resource-definition', 'list')) as Array<Array<{ name: string; props?: Record<string, string> }>>
  assert.equal(rds[0]?.find((r) => r.name === 'data1')?.props?.['Aux/app'], 'db')
  await c.ok('resource-definition', 'delete', 'data1')
  assert.deepEqual((await c.json('resource-definition', 'list')), [[]])
})

test('snapshots: create, list, rollback to an older one (newer kept), restore into a new resource, delete', async (t) => {
  const emu = await emulator(t)
  const c = cli(emu, t)
  await c.ok('resource-definition', 'create', 'vm1')
  await c.ok('volume-definition', 'create', 'vm1', '64M')
  await c.ok('resource', 'create', 'vm1', '--auto-place', '2')
  const [node] = await diskfulOf(c, 'vm1')
  emu.control.open(node ?? '', 'vm1')
  emu.control.write(node ?? '', 'vm1', 0, 0, Buffer.from('one'))
  emu.control.close(node ?? '', 'vm1')
  await c.ok('snapshot', 'create', 'vm1', 's1')
  emu.control.open(node ?? '', 'vm1')
  emu.control.write(node ?? '', 'vm1', 0, 0, Buffer.from('two'))
  emu.control.close(node ?? '', 'vm1')
  await c.ok('snapshot', 'create', 'vm1', 's2')
  assert.match(await c.ok('snapshot', 'list'), /vm1 +\| s1 +\|[^\n]+Successful/)
  await c.ok('snapshot', 'rollback', 'vm1', 's1')
  const snaps = (await c.json('snapshot', 'list')) as Array<Array<{ name: string }>>
  assert.deepEqual(snaps[0]?.map((s) => s.name).sort(), ['s1', 's2'])
  emu.control.open(node ?? '', 'vm1')
  assert.equal(emu.control.read(node ?? '', 'vm1', 0, 0, 3).toString(), 'one')
  emu.control.close(node ?? '', 'vm1')
  await c.ok('resource-definition', 'create', 'vm1-copy')
  await c.ok('snapshot', 'volume-definition', 'restore', '--from-resource', 'vm1', '--from-snapshot', 's2', '--to-resource', 'vm1-copy')
  await c.ok('snapshot', 'resource', 'restore', '--from-resource', 'vm1', '--from-snapshot', 's2', '--to-resource', 'vm1-copy')
  assert.equal((await diskfulOf(c, 'vm1-copy')).length, 2)
  await c.ok('snapshot', 'delete', 'vm1', 's2')
  await c.ok('snapshot', 'delete', 'vm1', 's1')
  assert.deepEqual(((await c.json('snapshot', 'list')) as unknown[][])[0], [])
})

test('controller, error reports, physical storage, space reporting', async (t) => {
  const c = cli(await emulator(t), t)
  assert.match(await c.ok('controller', 'version'), /1\.34\.0/)
  await c.ok('controller', 'set-property', 'Aux/cluster', 'lab')
  assert.match(await c.ok('controller', 'list-properties'), /Aux\/cluster +\| lab/)
  assert.match(await c.ok('error-reports', 'list'), /Id +\| Datetime +\| Node +\| Exception/)
  // A body the controller cannot read files an error report; the list shows it.
  const bad = await c.fails(API_ERROR, 'resource-group', 'create', 'rg-bad', '--place-count', 'two')
  assert.match(bad, /Unable to parse input json\./)
  assert.match(await c.ok('error-reports', 'list'), /\| [0-9A-F]{8}-00000-000000 \|[^\n]+InvalidFormatException/)
  assert.match(await c.ok('physical-storage', 'list'), /Size +\| Rotational +\| Nodes/)
  assert.match(await c.ok('space-reporting', 'query'), /The SpaceTracking service is not installed\./)
})

test('the error cases exit as linstor-client defines: 10 for controller errors, 2 for usage, 20 without a controller', async (t) => {
  const emu = await emulator(t)
  const c = cli(emu)
  await c.ok('resource-definition', 'create', 'r1')
  await c.ok('volume-definition', 'create', 'r1', '1G')
  await c.ok('resource', 'create', 'r1', '--auto-place', '2')
  assert.match(await c.fails(API_ERROR, 'resource-definition', 'create', 'r1'), /A resource definition with the name 'r1' already exists/)
  assert.match(await c.fails(API_ERROR, 'resource', 'create', 'zulu', 'r1'), /Node 'zulu' not found/)
  assert.match(await c.fails(API_ERROR, 'resource-group', 'spawn', 'nosuch', 'x', '1G'), /Resource group 'nosuch' not found/)
  assert.match(await c.fails(API_ERROR, 'volume-definition', 'set-size', 'r1', '0', '512M'), /Volumes can only grow in size/)
  assert.match(await c.fails(API_ERROR, 'snapshot', 'rollback', 'r1', 'nosuch'), /not found/)
  assert.match(await c.fails(API_ERROR, 'resource-group', 'create', 'BAD/NAME'), /Invalid name 'BAD\/NAME'/)
  assert.match(await c.ok('resource-definition', 'delete', 'nosuch'), /Resource definition 'nosuch' not found/)
  await c.fails(ARGPARSE_ERROR, 'resource', 'create')
  const down = await linstor('http://127.0.0.1:1', ['node', 'list'])
  assertNoTraceback(down, 'linstor node list (no controller)')
  assert.equal(down.code, CONNECTION_ERROR)
  // The -m forms of a failing command print the reply as JSON.
  const failed = await c.run('-m', 'resource-definition', 'create', 'r1')
  const reply = JSON.parse(failed.stdout) as Array<{ ret_code: number; message: string }>
  assert.equal(reply[0]?.message, "A resource definition with the name 'r1' already exists")
})
