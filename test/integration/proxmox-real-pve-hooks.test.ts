/**
 * The shim's add/update hooks inside the real Proxmox VE storage library (PVE 9 and PVE 8, from
 * ../shared/upstream/pve, booted by ../shared/tools/pve-harness): `pvesm set`'s API code
 * (PVE::API2::Storage::Config->update) runs the hook with what the real storage.cfg parser kept.
 * A key PVE dropped while parsing (a typo, linstor-proxmox's option) is warned about by the hook,
 * naming the key it is nearest to; a missing resource group stops the change in storage.cfg's words.
 * The agent is the real one (in-process) against the emulator.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import { startAgent } from '../../cli/agent/server.js'
import { buildDispatcher } from '../../cli/dispatcher.js'
import { silentLogger } from '../../core/log/index.js'
import { withEmulator } from '../emulator/helpers.js'
import { tempDir } from '../helpers/core.js'
import { repoRoot } from '../helpers/paths.js'

const root = repoRoot()
const SHARED = resolve(root, '..', 'shared')
const HARNESS = join(SHARED, 'tools', 'pve-harness', 'lib')

const SCRIPT = String.raw`
use strict;
use warnings;
use JSON::PP;
use PVEHarness;
PVEHarness::boot();
open(my $fh, '>', "$ENV{PVE_HARNESS_ETC}/storage.cfg") or die "storage.cfg: $!";
print $fh $ENV{LV_SECTION};
close($fh);
my @warnings;
my $params = decode_json($ENV{LV_PARAMS});
my $ok = eval {
    local $SIG{__WARN__} = sub { push @warnings, $_[0] };
    require PVE::API2::Storage::Config;
    PVE::API2::Storage::Config->update({ storage => 'lv', %$params });
    1;
};
my $error = $ok ? undef : "$@";
open($fh, '<', "$ENV{PVE_HARNESS_ETC}/storage.cfg") or die;
my $cfg = do { local $/; <$fh> };
print JSON::PP->new->canonical->encode({ warnings => [grep { m/linstor-virt/ } @warnings], error => $error, cfg => $cfg }), "\n";
`

interface Outcome {
  warnings: string[]
  error: string | null
  cfg: string
}

async function update(t: TestContext, pve: '8' | '9', section: string, params: Record<string, unknown>): Promise<Outcome> {
  const emu = await withEmulator(t)
  const dir = tempDir(t, `lv-realpve${pve}-`)
  for (const d of ['etc', 'priv', 'locks']) mkdirSync(join(dir, d))
  const socketPath = join(dir, 'agent.sock')
  process.env['LINSTOR_VIRT_LOCK_DIR'] = join(dir, 'locks')
  const agent = await startAgent({ socketPath, dispatcher: buildDispatcher(silentLogger()), logger: silentLogger() })
  t.after(() => agent.close())
  const script = join(dir, 'update.pl')
  writeFileSync(script, SCRIPT)
  const env = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    PVE_SRC: join(SHARED, 'upstream', 'pve', pve),
    PVE_PLUGIN_LIB: join(root, 'plugins', 'proxmox', 'perl'),
    PVE_HARNESS_ETC: join(dir, 'etc'),
    PVE_NODE: 'alpha',
    LINSTOR_VIRT_AGENT_SOCKET: socketPath,
    LINSTOR_VIRT_PVE_PRIV_DIR: join(dir, 'priv'),
    LV_SECTION: section.replaceAll('{url}', emu.url),
    LV_PARAMS: JSON.stringify(params),
  }
  return new Promise((done, fail) => {
    execFile('perl', ['-I', HARNESS, script], { env, timeout: 120_000 }, (err, stdout, stderr) => {
      if (err !== null) return fail(new Error(`perl failed: ${err.message}\n${stderr}`))
      try {
        done(JSON.parse(stdout.trim().split('\n').pop() ?? '') as Outcome)
      } catch {
        fail(new Error(`no JSON from the harness:\n${stdout}\n${stderr}`))
      }
    })
  })
}

const SECTION = 'linstor: lv\n\tcontent images\n\tlinstor-controllers {url}\n\tlinstor-place-count 2\n\tlinstor-resouce-group pve-ssd\n\tresourcegroup pve-ssd\n'

for (const pve of ['9', '8'] as const) {
  test(`PVE ${pve}: pvesm set warns about keys the real parser dropped, naming the nearest key, and goes ahead`, async (t) => {
    assert.ok(existsSync(join(SHARED, 'upstream', 'pve', pve, 'pve-storage')), 'the PVE sources are unpacked in ../shared/upstream/pve')
    const out = await update(t, pve, SECTION, { 'linstor-place-count': 3 })
    assert.equal(out.error, null)
    assert.deepEqual(out.warnings, [
      'linstor-virt: WARNING: storage lv: linstor-resouce-group is not an option of a linstor storage and was dropped from storage.cfg, so it has no effect; did you mean linstor-resource-group?\n',
      "linstor-virt: WARNING: storage lv: resourcegroup is not an option of a linstor storage and was dropped from storage.cfg, so it has no effect; it is linstor-proxmox's option (type drbd): use linstor-resource-group\n",
    ])
    assert.match(out.cfg, /\tlinstor-place-count 3\n/, 'the change was written')
  })

  test(`PVE ${pve}: pvesm set naming a resource group LINSTOR lacks is refused in storage.cfg's words`, async (t) => {
    const out = await update(t, pve, 'linstor: lv\n\tcontent images\n\tlinstor-controllers {url}\n', { 'linstor-resource-group': 'nosuch' })
    assert.match(out.error ?? '', /storage lv: linstor-resource-group 'nosuch': LINSTOR has no resource group of this name; create it \(linstor resource-group create nosuch --place-count 2\) or name another/)
    assert.doesNotMatch(out.cfg, /linstor-resource-group/, 'storage.cfg unchanged')
  })
}

test('the harness is the real PVE library, not the stand-ins of test/proxmox/lib', () => {
  const loader = readFileSync(join(HARNESS, 'PVEHarness.pm'), 'utf8')
  assert.match(loader, /pve-storage/)
})
