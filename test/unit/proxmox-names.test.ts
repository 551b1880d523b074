/**
 * The volume-name rules of the Proxmox adapter, checked against the same vectors the Perl shim's
 * tests use (test/fixtures/proxmox/volnames.json): parse_volname in Perl and the operations in
 * TypeScript must agree on every name, or a path would point at another resource.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { AUX_PLATFORM_NAME } from '../../core/volumes/index.js'
import { VOLNAME_PROP, linstorSnapshotName, parseVolname, pveSnapshotName, snapshotResource, volnameOf } from '../../plugins/proxmox/names.js'
import { repoRoot } from '../helpers/paths.js'

interface Vector {
  volname: string
  valid: boolean
  vmid?: number
  isBase?: boolean
  name?: string
  basename?: string | null
  basevmid?: number | null
  resource?: string
  snapshots?: { snap: string; resource: string }[]
}

const vectors = JSON.parse(readFileSync(join(repoRoot(), 'test/fixtures/proxmox/volnames.json'), 'utf8')) as Vector[]

test('every vector: valid or not, VM id, base flag, resource name and snapshot-view names as the shim computes them', () => {
  assert.ok(vectors.length >= 20 && vectors.some((v) => !v.valid) && vectors.some((v) => v.resource?.startsWith('lv-') === true))
  for (const v of vectors) {
    const p = parseVolname(v.volname)
    if (!v.valid) {
      assert.equal(p, undefined, `${v.volname} must be refused`)
      continue
    }
    assert.ok(p !== undefined, `${v.volname} must be accepted`)
    assert.equal(p.vmid, v.vmid, v.volname)
    assert.equal(p.isBase, v.isBase, v.volname)
    assert.equal(p.name, v.name, v.volname)
    assert.equal(p.base?.volname ?? null, v.basename, v.volname)
    assert.equal(p.base?.vmid ?? null, v.basevmid, v.volname)
    assert.equal(p.resource, v.resource, v.volname)
    for (const s of v.snapshots ?? []) assert.equal(snapshotResource(p.resource, s.snap), s.resource, `${v.volname}@${s.snap}`)
  }
})

test('a volname maps back from its resource: pm- names through Aux/pm/vmid, hashed names through the recorded volname', () => {
  assert.equal(volnameOf('pm-1a2b3c4d', { 'Aux/pm/vmid': '105' }), 'pm-1a2b3c4d_105')
  assert.equal(volnameOf('pm-1a2b3c4d', {}), undefined, 'a pm- resource without its VM id is not listed')
  assert.equal(volnameOf('vm-100-disk-0', {}), 'vm-100-disk-0')
  const long = 'vm-100-state-' + 'x'.repeat(40)
  const rsc = parseVolname(long)?.resource ?? ''
  assert.match(rsc, /^lv-[0-9a-f]{32}$/)
  assert.equal(volnameOf(rsc, { [VOLNAME_PROP]: long }), long)
  assert.equal(volnameOf('snap_vm-100-disk-0_vzdump', {}), undefined, 'snapshot views are not volumes')
  assert.equal(volnameOf('lvs-00e6856be363cc4f35d21068ff7d086b', { [AUX_PLATFORM_NAME]: 'vm-100-disk-0_a@b' }), undefined, 'hashed snapshot views are not volumes')
  assert.equal(volnameOf('vm-101-disk-0', { [AUX_PLATFORM_NAME]: 'base-100-disk-0/vm-101-disk-0' }), 'base-100-disk-0/vm-101-disk-0', 'a linked clone is listed with its base prefix')
  assert.equal(volnameOf('vm-101-disk-0', { [AUX_PLATFORM_NAME]: 'vm-102-disk-0' }), undefined, 'a recorded volname of another resource is not this one')
  assert.equal(volnameOf('OpenNebula-Image-3', {}), undefined, "other platforms' resources are not listed")
})

test("linstor-proxmox's snapshot names are kept for its volumes; ours use the Proxmox name", () => {
  const pm = parseVolname('pm-1a2b3c4d_105')
  const ours = parseVolname('vm-1-disk-0')
  assert.ok(pm !== undefined && ours !== undefined)
  assert.equal(linstorSnapshotName(pm, 'before'), 'snap_pm-1a2b3c4d_before')
  assert.equal(pveSnapshotName(pm, 'snap_pm-1a2b3c4d_before'), 'before')
  assert.equal(pveSnapshotName(pm, 'unrelated'), undefined)
  assert.equal(linstorSnapshotName(ours, 'before'), 'before')
  assert.equal(pveSnapshotName(ours, 'before'), 'before')
})

test('snapshot views are named injectively: no two (volume, snapshot) pairs share a view name, in any case', () => {
  const pairs: [string, string][] = []
  for (const v of vectors) if (v.valid && v.resource !== undefined) for (const s of v.snapshots ?? []) pairs.push([v.resource, s.snap])
  pairs.push(['vm-1-disk-0', 'a_b'], ['vm-1-disk-0_a', 'b'], ['vm-1-disk-0', 'Snap1'], ['vm-1-disk-0', 'snap1'], ['VM-1-disk-0', 'snap1'])
  const seen = new Map<string, string>()
  for (const [r, s] of pairs) {
    const key = snapshotResource(r, s).toLowerCase()
    const other = seen.get(key)
    assert.ok(other === undefined || other === `${r}@${s}`, `${r}@${s} and ${other ?? ''} share the view ${key}`)
    seen.set(key, `${r}@${s}`)
  }
})
