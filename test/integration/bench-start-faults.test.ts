/**
 * The start-under-faults benchmark (bench/start-faults.bench.ts) still runs, at the smallest size.
 * In a file of its own: its world puts OpenNebula's stand-ins first on this process's PATH.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'

test('the start-under-faults benchmark runs: a device path per platform, healthy and with the controller black-holed', async () => {
  const { measureStartFaults, startFaultsMarkdown } = await import('../../bench/start-faults.bench.js')
  const r = await measureStartFaults({ runs: 1, faults: ['healthy', 'black-holed (accepts, never answers)'] })
  assert.equal(r.cells.length, 8)
  for (const c of r.cells) assert.equal(c.ok, 1, `${c.path} × ${c.fault}: ${c.error ?? ''}`)
  const md = startFaultsMarkdown(r)
  assert.match(md, /^\| fault \| Proxmox \(agent\) \| Proxmox \(one-shot\) \| OpenNebula \(agent\) \| Cinder \(agent\) \|$/m)
  assert.match(md, /^\| black-holed \(accepts, never answers\) \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \|$/m)
})
