/**
 * Issue 20 through the real Proxmox VE 9 storage library (pve-storage, pve-common and pve-cluster
 * sources booted by ../shared/tools/pve-harness, the shim loaded by PVE's own custom-plugin
 * loader): with the controller accepting connections and never answering, or answering 60 s late,
 * `activate_volumes` on a node holding a diskful replica gives the device within the controller
 * budget, `deactivate_volumes` of a node's diskless client succeeds (the removal kept as pending,
 * done once the controller answers), and `storage_info` answers within its 2 s from the last known
 * numbers. Through the agent and through one-shot processes. Bounds are the code's own budget or
 * status deadline plus a generous margin (the failure this reproduces took 60 s).
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import { startAgent } from '../../cli/agent/server.js'
import { buildDispatcher } from '../../cli/dispatcher.js'
import { DEFAULT_CONTROLLER_BUDGET_MS } from '../../core/ha/index.js'
import { silentLogger } from '../../core/log/index.js'
import { GiB } from '../../core/volumes/index.js'
import { withEmulator } from '../emulator/helpers.js'
import { storageOn, tempDir } from '../helpers/core.js'
import { clientFor } from '../emulator/helpers.js'
import { repoRoot } from '../helpers/paths.js'
import { assertWithinDeadline } from '../helpers/bounds.js'

const root = repoRoot()
const HARNESS = resolve(root, '..', 'shared', 'tools', 'pve-harness')
const PVE9 = resolve(root, '..', 'shared', 'upstream', 'pve', '9')
/** The shim's deadline for status (storage_info calls activate_storage and status). */
const STATUS_DEADLINE_MS = 2_000

/** Runs PVE::Storage entry points in one process of node `node`; one JSON line per step. */
const DRIVER = `
use strict; use warnings;
use lib "$ENV{LV_HARNESS}/lib";
use PVEHarness; use JSON::PP; use Time::HiRes ();
PVEHarness::set_node($ENV{LV_NODE});
PVEHarness::boot();
PVEHarness::write_storage_cfg($ENV{LV_SECTION});
my $volid = $ENV{LV_VOLID};
my @out;
for my $step (split /,/, $ENV{LV_STEPS}) {
  my $cfg = PVE::Storage::config();
  my $t0 = Time::HiRes::time();
  my $r = eval {
    if ($step eq 'activate') { PVE::Storage::activate_volumes($cfg, [$volid]); scalar PVE::Storage::path($cfg, $volid) }
    elsif ($step eq 'deactivate') { PVE::Storage::deactivate_volumes($cfg, [$volid]); 'done' }
    elsif ($step eq 'status') { my $i = PVE::Storage::storage_info($cfg, undef); $i->{drbd} }
    else { die "unknown step $step\\n" }
  };
  my $err = $@;
  push @out, { step => $step, ms => int((Time::HiRes::time() - $t0) * 1000), ok => ($err ? JSON::PP::false : JSON::PP::true), error => "$err", result => $r };
}
print JSON::PP->new->canonical->encode(\\@out), "\\n";
`

interface Step {
  step: string
  ms: number
  ok: boolean
  error: string
  result: unknown
}

function pve(node: string, steps: string[], env: Record<string, string>): Promise<Step[]> {
  return new Promise((done, reject) => {
    execFile('perl', ['-e', DRIVER], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LV_NODE: node, LV_STEPS: steps.join(','), PVE_SRC: PVE9, PVE_PLUGIN_LIB: join(root, 'plugins', 'proxmox', 'perl'), LV_HARNESS: HARNESS, ...env }, timeout: 180_000 }, (err, stdout, stderr) => {
      if (err !== null) return reject(new Error(`${err.message}\n${stderr}`))
      done(JSON.parse(stdout.trim().split('\n').pop() ?? '[]') as Step[])
    })
  })
}

async function scenario(t: TestContext, via: 'agent' | 'one-shot', fault: 'blackhole' | 'delay 60 s'): Promise<void> {
  const emu = await withEmulator(t, { cloneDurationMs: 50 })
  const dir = tempDir(t, 'lv-pve9-')
  const lockDir = join(dir, 'locks')
  // The disk of VM 9100, two diskful replicas and a diskless client on a third node (a VM ran there).
  const check = clientFor(t, emu, { timeoutMs: 10_000 })
  const storage = storageOn(t, emu, check, { lockDir })
  const info = await storage.resource('vm-9100-disk-0').create({ volumes: [1 * GiB], policy: { placeCount: 2 }, props: { 'Aux/pm/vmid': '9100' } })
  const diskful = info.replicas.find((r) => r.kind === 'diskful')?.node as string
  const client = ['alpha', 'bravo', 'charlie', 'delta'].find((n) => !info.replicas.some((r) => r.node === n)) as string
  assert.equal((await storage.resource('vm-9100-disk-0').attach(client)).created, true)
  mkdirSync(join(dir, 'priv'), { mode: 0o700 })
  const env: Record<string, string> = {
    LV_SECTION: `linstor: drbd\n\tlinstor-controllers ${emu.url}\n\tlinstor-place-count 2\n\tlinstor-status-cache 0\n\tcontent images\n`,
    LV_VOLID: 'drbd:vm-9100-disk-0',
    LINSTOR_VIRT_LOCK_DIR: lockDir,
    LINSTOR_VIRT_PVE_PRIV_DIR: join(dir, 'priv'),
    LINSTOR_VIRT_NODE: process.execPath,
    LINSTOR_VIRT_CLI: join(root, 'dist', 'linstor-virt.js'),
    LINSTOR_VIRT_LOG_LEVEL: 'silent',
    LINSTOR_VIRT_AGENT_SOCKET: join(dir, 'agent.sock'),
  }
  if (via === 'agent') {
    process.env['LINSTOR_VIRT_LOCK_DIR'] = lockDir
    const agent = await startAgent({ socketPath: env['LINSTOR_VIRT_AGENT_SOCKET'] as string, dispatcher: buildDispatcher(silentLogger()), logger: silentLogger(), pendingSweepMs: 0 })
    t.after(() => agent.close())
  }
  const on = (node: string): Record<string, string> => ({ ...env, LINSTOR_VIRT_DEVICE_ROOT: emu.deviceRoot(node) })

  // Healthy first: the status numbers become the last known ones.
  const [healthy] = await pve(diskful, ['status'], on(diskful))
  assert.equal(healthy?.ok, true, healthy?.error)
  const known = healthy?.result as { active: number; total: number }
  assert.equal(known.active, 1)

  if (fault === 'blackhole') emu.control.faults.blackhole()
  else emu.control.faults.delay(60_000)
  try {
    const [status, activate, deactivate] = await pve(diskful, ['status', 'activate', 'deactivate'], on(diskful))
    assert.equal(status?.ok, true, status?.error)
    assert.deepEqual({ active: (status?.result as { active: number }).active, total: (status?.result as { total: number }).total }, { active: 1, total: known.total }, 'the last known numbers')
    assertWithinDeadline(status?.ms ?? 0, STATUS_DEADLINE_MS, 'storage_info')
    assert.equal(activate?.ok, true, activate?.error)
    assert.equal(activate?.result, `${emu.deviceRoot(diskful)}/dev/drbd/by-res/vm-9100-disk-0/0`)
    assertWithinDeadline(activate?.ms ?? 0, DEFAULT_CONTROLLER_BUDGET_MS, 'activate_volumes')
    assert.equal(deactivate?.ok, true, deactivate?.error)
    assertWithinDeadline(deactivate?.ms ?? 0, DEFAULT_CONTROLLER_BUDGET_MS, 'deactivate_volumes')
    // The node with the diskless client stops its VM: deactivation succeeds, the removal is pending.
    const [stop] = await pve(client, ['deactivate'], on(client))
    assert.equal(stop?.ok, true, stop?.error)
    assertWithinDeadline(stop?.ms ?? 0, DEFAULT_CONTROLLER_BUDGET_MS, 'deactivate_volumes on the client node')
  } finally {
    emu.control.faults.reset()
  }
  assert.ok((await storage.resource('vm-9100-disk-0').info())?.replicas.some((r) => r.node === client), 'the client is still there while nothing settled it')
  // Both stops are pending (the one of the diskful node may have ended a migration: settling it finds nothing to do).
  assert.deepEqual(storage.pending().map((r) => [r.node, r.intent]).sort(), [[client, 'detach'], [diskful, 'detach']].sort())
  // The controller answers again: the doctor (or the next call, or the agent) finishes them.
  assert.equal((await storage.settlePending()).settled.length, 2)
  assert.equal((await storage.resource('vm-9100-disk-0').info())?.replicas.some((r) => r.node === client), false, 'the client is gone')
}

test('the PVE 9 sources and the harness are where the tests run them from', () => {
  assert.ok(existsSync(join(HARNESS, 'lib', 'PVEHarness.pm')), HARNESS)
  assert.ok(existsSync(join(PVE9, 'pve-storage', 'src', 'PVE', 'Storage.pm')), PVE9)
})

test('PVE 9: a black-holed controller, one-shot: VMs start and stop within the budget, status answers from the last numbers', async (t) => {
  await scenario(t, 'one-shot', 'blackhole')
})

test('PVE 9: every answer 60 s late (the issue\'s measurement), through the agent: the same', async (t) => {
  await scenario(t, 'agent', 'delay 60 s')
})
