/**
 * One platform name, one LINSTOR object (issue 19). LINSTOR compares resource and snapshot names
 * without regard to case; the platforms do not. Over generated platform names (case variants,
 * names too long for LINSTOR, names with characters LINSTOR refuses, unicode, the adopters'
 * spellings, snapshot names) and any order of creating and deleting them, through each adapter's
 * operations against the emulator:
 *
 * - a name whose LINSTOR object is free is made, and records its exact platform name;
 * - a name whose LINSTOR object belongs to another name is refused (NAME_COLLISION, naming both)
 *   and nothing changes: success is never returned for an object the call did not make;
 * - a delete removes the named object and nothing else, and an alias deletes nothing;
 * - at every step, every live platform name has its own LINSTOR object.
 *
 * Everything is checked against the emulator's state, not against the adapters' replies. The rule
 * for "the object of a name" is the documented one (docs/core.md): it records that platform name
 * exactly, or records none and LINSTOR spells it exactly as the name it maps to (adopted objects).
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import fc from 'fast-check'
import type { LinstorClient } from '../../core/linstor/index.js'
import { silentLogger } from '../../core/log/index.js'
import { ServiceRegistry } from '../../core/protocol/index.js'
import type { CallReply } from '../../core/protocol/index.js'
import { fitName, isLinstorName } from '../../core/volumes/index.js'
import { buildDispatcher } from '../../cli/dispatcher.js'
import { diskResource, imageResource, volatileResource } from '../../plugins/opennebula/names.js'
import { linstorSnapshotName, parseVolname, snapshotResource } from '../../plugins/proxmox/names.js'
import type { RunningEmulator } from '../../emulator/index.js'
import { clientFor, withEmulator } from '../emulator/helpers.js'
import { tempDir } from '../helpers/core.js'
import { actionData, datastoreXml } from '../opennebula/one.js'
import { dispatchClean, runs, show } from './arbitraries.js'

const PLATFORM_NAME = 'Aux/linstor-virt/platform-name'

interface Obj {
  /** As LINSTOR spells it. */
  name: string
  recorded?: string
}

interface Rd extends Obj {
  props: Record<string, string>
  snaps: Map<string, Obj>
}

type View = Map<string, Rd>

/** The emulator's resource definitions (and their snapshots) that `keep` selects, by lower-cased name. */
function viewOf(emu: RunningEmulator, keep: (name: string, props: Record<string, string>) => boolean): View {
  const out: View = new Map()
  for (const rd of Object.values(emu.state().resourceDefinitions)) {
    if (!keep(rd.name, rd.props)) continue
    const snaps = new Map<string, Obj>()
    for (const s of Object.values(rd.snapshots)) snaps.set(s.name.toLowerCase(), { name: s.name, ...(s.props[PLATFORM_NAME] !== undefined ? { recorded: s.props[PLATFORM_NAME] } : {}) })
    out.set(rd.name.toLowerCase(), { name: rd.name, props: { ...rd.props }, snaps, ...(rd.props[PLATFORM_NAME] !== undefined ? { recorded: rd.props[PLATFORM_NAME] } : {}) })
  }
  return out
}

/** The documented rule, written out again here (the oracle must not be the code under test). */
function isObjectOf(o: Obj, linstorName: string, platformName: string): boolean {
  return o.recorded !== undefined ? o.recorded === platformName : o.name === linstorName
}

function shape(v: View): string[] {
  return [...v.values()].map((r) => `${r.name}|${r.recorded ?? '-'}|${[...r.snaps.values()].map((s) => `${s.name}:${s.recorded ?? '-'}`).sort().join(',')}`).sort()
}

function assertUnchanged(before: View, after: View, what: string): void {
  assert.deepEqual(shape(after), shape(before), `${what}: LINSTOR changed although the call was refused or had nothing to do`)
}

/** `after` is `before` with at most `key` changed (added, removed, or its snapshots changed). */
function assertOthersUnchanged(before: View, after: View, key: string, what: string): void {
  const strip = (v: View): string[] => shape(new Map([...v].filter(([k]) => k !== key)))
  assert.deepEqual(strip(after), strip(before), `${what}: another LINSTOR object changed`)
}

function errorOf(reply: CallReply): { code: string; message: string } | undefined {
  return 'error' in reply ? reply.error : undefined
}

/** Outcomes the properties reached (each test asserts it exercised the paths it is about). */
const seen = new Map<string, number>()
let platform = ''
const saw = (what: string): void => void seen.set(`${platform} ${what}`, (seen.get(`${platform} ${what}`) ?? 0) + 1)

function assertSeen(kinds: readonly string[]): void {
  for (const k of kinds.map((x) => `${platform} ${x}`)) assert.ok((seen.get(k) ?? 0) > 0, `the property never reached "${k}" (${JSON.stringify([...seen])})`)
}

function assertCollision(reply: CallReply, names: readonly string[], what: string): void {
  saw(`${what.split(' ')[what.startsWith('VM ') ? 2 : 0] ?? ''} refused`)
  const e = errorOf(reply)
  assert.ok(e !== undefined, `${what}: succeeded, but the LINSTOR object belongs to another name`)
  assert.equal(e.code, 'NAME_COLLISION', `${what}: ${e.code} (${e.message}), expected NAME_COLLISION`)
  for (const n of names) assert.ok(e.message.includes(n), `${what}: the refusal does not name ${n}: ${e.message}`)
}

/** Every live platform name has its own object, and no two names share one. */
function assertInjective(live: ReadonlyMap<string, string>, view: View, what: string): void {
  const owners = new Map<string, string>()
  for (const [platformName, linstorName] of live) {
    const o = view.get(linstorName.toLowerCase())
    assert.ok(o !== undefined && isObjectOf(o, linstorName, platformName), `${what}: ${platformName} has lost its LINSTOR object ${linstorName}`)
    const other = owners.get(o.name.toLowerCase())
    assert.equal(other, undefined, `${what}: ${platformName} and ${other ?? ''} share the LINSTOR object ${o.name}`)
    owners.set(o.name.toLowerCase(), platformName)
  }
}

/** Removes what a run made (snapshots first), so runs do not fill the emulator's pools. */
async function cleanUp(client: LinstorClient, view: View): Promise<void> {
  for (const rd of view.values()) {
    for (const s of rd.snaps.values()) await client.snapshots.delete(rd.name, s.name).catch(() => undefined)
    await client.resourceDefinitions.delete(rd.name).catch(() => undefined)
  }
}

// ------------------------------------------------------------------------------------ Proxmox

const LONG_TAIL = 'state-before-upgrade-of-the-whole-cluster-2024'

/** Volnames of VM {v}: case variants, hashed names (too long, '.' in them), an adopted one, unicode. */
const PVE_NAMES = [
  'vm-{v}-disk-0', 'vm-{v}-DISK-0', 'vm-{v}-Disk-0', 'vm-{v}-disk-1', 'base-{v}-disk-0', 'base-{v}-DISK-0',
  `vm-{v}-${LONG_TAIL}`, `vm-{v}-${LONG_TAIL.toUpperCase()}`, 'vm-{v}-disk-0.raw', 'vm-{v}-DISK-0.raw',
  'vm-{v}-disk-0_a', 'vm-{v}-disk-7', 'vm-{v}-DISK-7', 'vm-{v}-dïsk-0', 'pm-{h}_{v}', 'pm-{h}_{w}',
]
const PVE_SNAPS = ['snap1', 'Snap1', 'SNAP1', 'a_b', 'A_b', 'before']

/**
 * The oracle for Proxmox: the documented rule, plus linstor-proxmox's volumes (recording nothing),
 * which are a volname's only with the VM id their Aux/pm/vmid holds.
 */
function isPveObjectOf(o: Rd, linstorName: string, volname: string): boolean {
  if (!isObjectOf(o, linstorName, volname)) return false
  if (o.recorded !== undefined || !/^pm-/.test(volname)) return true
  return `${o.name}_${o.props['Aux/pm/vmid'] ?? ''}` === volname
}

type PveStep = { kind: 'alloc' | 'free'; name: string } | { kind: 'snap' | 'delsnap'; name: string; snap: string }

const pveStep: fc.Arbitrary<PveStep> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('alloc' as const), name: fc.constantFrom(...PVE_NAMES) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('free' as const), name: fc.constantFrom(...PVE_NAMES) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('snap' as const), name: fc.constantFrom(...PVE_NAMES.slice(0, 4)), snap: fc.constantFrom(...PVE_SNAPS) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delsnap' as const), name: fc.constantFrom(...PVE_NAMES.slice(0, 4)), snap: fc.constantFrom(...PVE_SNAPS) }) },
)

const pvePlan: fc.Arbitrary<PveStep[]> = fc
  .tuple(fc.constantFrom(...PVE_NAMES.slice(0, 4)), fc.constantFrom(...PVE_SNAPS), fc.array(pveStep, { minLength: 2, maxLength: 9 }))
  .map(([name, snap, rest]): PveStep[] => [{ kind: 'alloc', name }, { kind: 'snap', name, snap }, ...rest])

test('proxmox: distinct volnames and snapshot names reach distinct LINSTOR objects or are refused naming both; a free or snapshot delete never removes another', async (t) => {
  platform = 'proxmox'
  const emu = await withEmulator(t, { cloneDurationMs: 5 })
  const client = clientFor(t, emu)
  const services = new ServiceRegistry(true)
  t.after(() => services.close())
  const dispatcher = buildDispatcher(silentLogger())
  const config = { storeid: 'lv', node: 'alpha', scfg: { 'linstor-controllers': emu.url, 'linstor-place-count': 2 }, lockDir: tempDir(t, 'lv-prop-names-'), deviceRoot: emu.deviceRoot('alpha') }
  const call = (operation: string, args: Record<string, unknown>): Promise<CallReply> => dispatchClean(dispatcher, services, { v: 1, platform: 'proxmox', operation, arguments: args, config, deadlineMs: 8000 }, `${operation}(${show(args)})`)
  let vmid = 4000
  let steps = 0
  await fc.assert(
    // Each run starts with a volume and a snapshot of it (so the snapshot paths are reached), then anything.
    fc.asyncProperty(pvePlan, async (plan) => {
      const v = (vmid += 2)
      const of = (n: string): string => n.replaceAll('{v}', String(v)).replaceAll('{w}', String(v + 1)).replaceAll('{h}', v.toString(16).padStart(8, '0'))
      const keep = (_: string, props: Record<string, string>): boolean => props['Aux/pm/vmid'] === String(v) || props['Aux/pm/vmid'] === String(v + 1)
      // A volume an earlier linstor-virt made (no platform-name property), spelled vm-<v>-disk-7,
      // and one of linstor-proxmox's, pm-<hex>, whose VM id is only in Aux/pm/vmid.
      await client.resourceDefinitions.create({ resource_definition: { name: of('vm-{v}-disk-7'), props: { 'Aux/pm/vmid': String(v) } } })
      await client.resourceDefinitions.create({ resource_definition: { name: of('pm-{h}'), props: { 'Aux/pm/vmid': String(v) } } })
      const live = new Map<string, string>([
        [of('vm-{v}-disk-7'), of('vm-{v}-disk-7')],
        [of('pm-{h}_{v}'), of('pm-{h}')],
      ])
      try {
        for (const step of plan) {
          steps++
          const name = of(step.name)
          const what = `VM ${v}: ${step.kind} ${name}${'snap' in step ? `@${step.snap}` : ''}`
          const parsed = parseVolname(name)
          const before = viewOf(emu, keep)
          if (parsed === undefined) {
            const reply = step.kind === 'alloc' ? await call('alloc_image', { vmid: v, name, sizeKib: 4096 }) : await call('free_image', { volname: name })
            assert.equal(errorOf(reply)?.code, 'CALL_INVALID', `${what}: a name PVE cannot have must be refused`)
            assertUnchanged(before, viewOf(emu, keep), what)
            continue
          }
          const key = parsed.resource.toLowerCase()
          const holder = before.get(key)
          const mine = holder !== undefined && isPveObjectOf(holder, parsed.resource, name)
          if (step.kind === 'alloc') {
            const reply = await call('alloc_image', { vmid: parsed.vmid, name, sizeKib: 4096 })
            const after = viewOf(emu, keep)
            if (holder !== undefined && !mine) {
              assertCollision(reply, [name, holder.recorded ?? holder.name], what)
              assertUnchanged(before, after, what)
            } else if (holder === undefined) {
              assert.deepEqual('result' in reply ? reply.result : reply, { volname: name }, `${what}: a free name must be allocated`)
              const made = after.get(key)
              assert.ok(made !== undefined && made.recorded === name, `${what}: the new resource ${parsed.resource} must record ${name}, has ${made?.recorded ?? 'nothing'}`)
              assertOthersUnchanged(before, after, key, what)
              live.set(name, parsed.resource)
              saw('alloc made')
            } else {
              // Its own volume again: the same one (or another shape, RESOURCE_CONFLICT), never another's.
              assert.ok(!('error' in reply) || reply.error.code === 'RESOURCE_CONFLICT', `${what}: ${JSON.stringify(reply)}`)
              assertOthersUnchanged(before, after, key, what)
            }
          } else if (step.kind === 'free') {
            const reply = await call('free_image', { volname: name })
            const after = viewOf(emu, keep)
            if (holder !== undefined && !mine) {
              assertCollision(reply, [name, holder.recorded ?? holder.name], what)
              assertUnchanged(before, after, what)
            } else {
              assert.ok(!('error' in reply), `${what}: ${JSON.stringify(reply)}`)
              assert.equal(after.get(key), undefined, `${what}: the volume is still there`)
              assertOthersUnchanged(before, after, key, what)
              if (holder !== undefined) saw('free freed')
              live.delete(name)
            }
          } else if (step.kind === 'snap' || step.kind === 'delsnap') {
            const snap = step.snap
            const reply = await call(step.kind === 'snap' ? 'volume_snapshot' : 'volume_snapshot_delete', { volname: name, snap })
            const after = viewOf(emu, keep)
            if (holder === undefined) {
              if (step.kind === 'snap') assert.equal(errorOf(reply)?.code, 'RESOURCE_NOT_FOUND', what)
              assertUnchanged(before, after, what)
              continue
            }
            if (!mine) {
              assertCollision(reply, [name], what)
              assertUnchanged(before, after, what)
              continue
            }
            const linstorSnap = linstorSnapshotName(parsed, snap)
            const had = holder.snaps.get(linstorSnap.toLowerCase())
            const ownSnap = had !== undefined && isObjectOf(had, linstorSnap, snap)
            assertOthersUnchanged(before, after, key, what)
            const now = after.get(key)?.snaps ?? new Map<string, Obj>()
            const others = (m: Map<string, Obj>): string[] => [...m].filter(([k]) => k !== linstorSnap.toLowerCase()).map(([, s]) => `${s.name}:${s.recorded ?? '-'}`).sort()
            assert.deepEqual(others(now), others(holder.snaps), `${what}: another snapshot changed`)
            if (had !== undefined && !ownSnap) {
              assertCollision(reply, [snap, had.recorded ?? had.name], what)
              assert.deepEqual(now.get(linstorSnap.toLowerCase()), had, `${what}: the other snapshot changed`)
            } else if (step.kind === 'snap') {
              assert.ok(!('error' in reply), `${what}: ${JSON.stringify(reply)}`)
              const s = now.get(linstorSnap.toLowerCase())
              assert.ok(s !== undefined && isObjectOf(s, linstorSnap, snap), `${what}: the snapshot does not record ${snap}`)
              saw('snap made')
            } else {
              assert.ok(!('error' in reply), `${what}: ${JSON.stringify(reply)}`)
              assert.equal(now.get(linstorSnap.toLowerCase()), undefined, `${what}: the snapshot is still there`)
              if (had !== undefined) saw('delsnap freed')
            }
          }
          assertInjective(live, viewOf(emu, keep), what)
        }
      } finally {
        await cleanUp(client, viewOf(emu, keep))
      }
    }),
    runs(40),
  )
  assert.ok(steps >= 100, `only ${steps} steps ran`)
  assertSeen(['alloc refused', 'free refused', 'snap refused', 'delsnap refused', 'alloc made', 'free freed', 'snap made', 'delsnap freed'])
})

test('proxmox: snapshot views are named injectively (a pair never shares its view with another pair, in any case)', () => {
  const part = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{1,12}$/)
  fc.assert(
    fc.property(part, part, part, part, (r1, s1, r2, s2) => {
      fc.pre(r1 !== r2 || s1 !== s2)
      // Two resources LINSTOR holds at once never differ only in case: the pairs are distinct resources, or one resource with two snapshots.
      fc.pre(r1.toLowerCase() !== r2.toLowerCase() || r1 === r2)
      fc.pre(r1 !== r2 || s1.toLowerCase() !== s2.toLowerCase() || s1 !== s2)
      const a = snapshotResource(r1, s1)
      const b = snapshotResource(r2, s2)
      assert.ok(isLinstorName(a) && isLinstorName(b))
      assert.notEqual(a.toLowerCase(), b.toLowerCase(), `${r1}@${s1} and ${r2}@${s2} share the view ${a}`)
    }),
    runs(3000),
  )
})

// ------------------------------------------------------------------------------------ OpenNebula

test('opennebula: names of images, VM disks, volatile disks and temporary resources are injective (case aside only for equal sources)', () => {
  const source = fc.oneof(fc.integer({ min: 0, max: 99999 }).map(imageResource), fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{1,46}$/))
  const id = fc.integer({ min: 0, max: 99999 })
  fc.assert(
    fc.property(fc.tuple(source, id, id), fc.tuple(source, id, id), ([s1, v1, d1], [s2, v2, d2]) => {
      fc.pre(s1 !== s2 || v1 !== v2 || d1 !== d2)
      const a = diskResource(s1, v1, d1)
      const b = diskResource(s2, v2, d2)
      assert.notEqual(a, b)
      if (s1.toLowerCase() !== s2.toLowerCase()) assert.notEqual(a.toLowerCase(), b.toLowerCase(), `${a} and ${b} are one LINSTOR name`)
      assert.notEqual(volatileResource(v1, d1) === volatileResource(v2, d2), v1 !== v2 || d1 !== d2)
      for (const tag of ['-bk', '-rv']) {
        const ta = fitName('', a, tag)
        const tb = fitName('', b, tag)
        assert.ok(isLinstorName(ta) && ta.length <= 48, ta)
        assert.notEqual(ta.toLowerCase(), tb.toLowerCase(), `temporary ${ta} of ${a} is also the one of ${b}`)
      }
    }),
    runs(3000),
  )
})

type OneStep = { kind: 'mkfs'; id: number } | { kind: 'rm' | 'snapdel'; source: string } | { kind: 'clone'; source: string; id: number }

test('opennebula: an image SOURCE reaches only its own resource: aliases in another case, too long or unicode are refused and never delete or copy another image', async (t) => {
  platform = 'opennebula'
  const emu = await withEmulator(t, { cloneDurationMs: 5 })
  const client = clientFor(t, emu)
  const services = new ServiceRegistry(true)
  t.after(() => services.close())
  const dispatcher = buildDispatcher(silentLogger())
  const dir = tempDir(t, 'lv-prop-one-names-')
  const config = { deviceRoot: join(dir, 'hosts', '{node}'), lockDir: join(dir, 'locks'), remotes: join(dir, 'remotes') }
  const ds = datastoreXml(100, { LINSTOR_CONTROLLERS: emu.url, LINSTOR_PLACE_COUNT: '2', BRIDGE_LIST: 'alpha bravo' })
  const send = (operation: string, image: Record<string, string>, id: string): Promise<CallReply> =>
    dispatchClean(dispatcher, services, { v: 1, platform: 'opennebula', operation, arguments: { argv: [actionData(image, ds), id] }, config, deadlineMs: 8000 }, `${operation} ${show(image)}`, 12_000)
  let base = 500
  let steps = 0
  // SOURCE spellings of image {i} (and {j}): as made, in other cases, as addon-linstor adopted ones are spelled, too long, unicode.
  const SOURCES = ['OpenNebula-Image-{i}', 'opennebula-image-{i}', 'OPENNEBULA-IMAGE-{i}', 'OpenNebula-Image-{j}', 'opennebula-image-{j}', 'OpenNebula-Image-{i}-vm1-disk0', `OpenNebula-Image-{i}-${'x'.repeat(40)}`, 'OpenNebula-Imäge-{i}']
  const step: fc.Arbitrary<OneStep> = fc.oneof(
    fc.record({ kind: fc.constant('mkfs' as const), id: fc.constantFrom(0, 1) }),
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('rm' as const), source: fc.constantFrom(...SOURCES) }) },
    fc.record({ kind: fc.constant('snapdel' as const), source: fc.constantFrom(...SOURCES) }),
    fc.record({ kind: fc.constant('clone' as const), source: fc.constantFrom(...SOURCES), id: fc.constantFrom(2, 3) }),
  )
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 2, maxLength: 8 }), async (plan) => {
      const b = (base += 10)
      const ids = [b, b + 1, b + 2, b + 3]
      const of = (s: string): string => s.replaceAll('{i}', String(b)).replaceAll('{j}', String(b + 1))
      const mine = new Set(ids.map((i) => imageResource(i).toLowerCase()).concat([of('OpenNebula-Image-{i}-vm1-disk0').toLowerCase()]))
      const keep = (name: string): boolean => mine.has(name.toLowerCase())
      // Image {j} as a hand-made or addon-linstor resource spelled in lower case, without the property.
      await client.resourceDefinitions.create({ resource_definition: { name: of('opennebula-image-{j}') } })
      await client.volumeDefinitions.create(of('opennebula-image-{j}'), { volume_definition: { size_kib: 4096, volume_number: 0 } })
      await client.snapshots.create(of('opennebula-image-{j}'), { name: 'OpenNebula-Snap-0' }).catch(() => undefined)
      const live = new Map<string, string>([[of('opennebula-image-{j}'), of('opennebula-image-{j}')]])
      try {
        for (const s of plan) {
          steps++
          const before = viewOf(emu, keep)
          if (s.kind === 'mkfs') {
            const id = ids[s.id] as number
            const name = imageResource(id)
            const holder = before.get(name.toLowerCase())
            const reply = await send('ds.mkfs', { ID: String(id), SIZE: '4', FORMAT: 'raw' }, String(id))
            const after = viewOf(emu, keep)
            const what = `mkfs image ${id}`
            if (holder !== undefined && !isObjectOf(holder, name, name)) {
              assertCollision(reply, [name, holder.name], what)
              assertUnchanged(before, after, what)
            } else {
              assert.ok(!('error' in reply), `${what}: ${JSON.stringify(reply)}`)
              const made = after.get(name.toLowerCase())
              assert.ok(made !== undefined && isObjectOf(made, name, name), `${what}: ${name} is not there as itself`)
              if (holder === undefined) assert.equal(made.recorded, name, `${what}: the new image records its name`)
              assertOthersUnchanged(before, after, name.toLowerCase(), what)
              live.set(name, name)
            }
            continue
          }
          const source = of(s.source)
          const what = `${s.kind} SOURCE ${source}`
          const valid = isLinstorName(source)
          const holder = valid ? before.get(source.toLowerCase()) : undefined
          const own = holder !== undefined && isObjectOf(holder, source, source)
          if (s.kind === 'rm' || s.kind === 'snapdel') {
            const reply = s.kind === 'rm' ? await send('ds.rm', { ID: String(b), SOURCE: source }, String(b)) : await send('ds.snap_delete', { ID: String(b), SOURCE: source, TARGET_SNAPSHOT: '0' }, String(b))
            const after = viewOf(emu, keep)
            if (!valid) {
              assert.equal(errorOf(reply)?.code, 'ONE_DOCUMENT_INVALID', `${what}: ${JSON.stringify(reply)}`)
              assertUnchanged(before, after, what)
            } else if (holder !== undefined && !own) {
              assertCollision(reply, [source, holder.name], what)
              assertUnchanged(before, after, what)
            } else {
              assert.ok(!('error' in reply), `${what}: ${JSON.stringify(reply)}`)
              assertOthersUnchanged(before, after, source.toLowerCase(), what)
              if (s.kind === 'rm') {
                assert.equal(after.get(source.toLowerCase()), undefined, `${what}: still there`)
                if (holder !== undefined) saw('rm deleted')
                live.delete(source)
              } else {
                assert.equal(after.get(source.toLowerCase())?.snaps.get('opennebula-snap-0'), undefined, `${what}: the snapshot is still there`)
              }
            }
          } else if (s.kind === 'clone') {
            const id = ids[s.id] as number
            const target = imageResource(id)
            const reply = await send('ds.clone', { ID: String(id), PATH: source, SIZE: '4' }, String(id))
            const after = viewOf(emu, keep)
            const existing = before.get(target.toLowerCase())
            if (!valid) {
              assert.equal(errorOf(reply)?.code, 'ONE_DOCUMENT_INVALID', `${what}: ${JSON.stringify(reply)}`)
              assertUnchanged(before, after, what)
            } else if (existing !== undefined) {
              // The target exists: the repeat returns it unless it is another's.
              if (!isObjectOf(existing, target, target)) assertCollision(reply, [target], what)
              assertOthersUnchanged(before, after, target.toLowerCase(), what)
            } else if (holder === undefined) {
              assert.equal(errorOf(reply)?.code, 'RESOURCE_NOT_FOUND', `${what}: ${JSON.stringify(reply)}`)
              assertUnchanged(before, after, what)
            } else if (!own) {
              assertCollision(reply, [source, holder.name], what)
              assertUnchanged(before, after, what)
            } else {
              assert.ok(!('error' in reply), `${what}: ${JSON.stringify(reply)}`)
              assert.equal(after.get(target.toLowerCase())?.recorded, target, `${what}: the clone records its own name, not its source's`)
              saw('clone made')
              assertOthersUnchanged(before, after, target.toLowerCase(), what)
              live.set(target, target)
            }
          }
          assertInjective(live, viewOf(emu, keep), what)
        }
      } finally {
        await cleanUp(client, viewOf(emu, keep))
      }
    }),
    runs(30),
  )
  assert.ok(steps >= 80, `only ${steps} steps ran`)
  assertSeen(['mkfs refused', 'rm refused', 'snapdel refused', 'clone refused', 'rm deleted', 'clone made'])
})

// ------------------------------------------------------------------------------------ Cinder

type CinderStep = { kind: 'create' | 'delete'; id: string } | { kind: 'snap' | 'delsnap'; id: string; snap: string } | { kind: 'manage'; id: string; ref: string }

test('cinder: volume and snapshot ids that differ only in case, and adopted CV_/volume- resources, never share a LINSTOR object; a delete never removes another', async (t) => {
  platform = 'cinder'
  const emu = await withEmulator(t, { cloneDurationMs: 5 })
  const client = clientFor(t, emu)
  const services = new ServiceRegistry(true)
  t.after(() => services.close())
  const dispatcher = buildDispatcher(silentLogger())
  const dir = tempDir(t, 'lv-prop-cinder-names-')
  const config = { backend: 'lvb', controllers: [emu.url], cinderHost: 'ctl', nodeMap: { ctl: 'alpha' }, lockDir: `${dir}/locks`, deviceRoot: `${dir}/{node}` }
  const call = (operation: string, args: Record<string, unknown>): Promise<CallReply> => dispatchClean(dispatcher, services, { v: 1, platform: 'cinder', operation, arguments: args, config, deadlineMs: 8000 }, `cinder.${operation}(${show(args)})`)
  const providers = new Map<string, string>()
  const volume = (id: string): Record<string, unknown> => ({ id, name_id: null, size: 1, status: 'creating', volume_type: null, attachments: [], provider_id: providers.get(id) ?? null })
  let run = 0
  let steps = 0
  const ID_TEMPLATES = ['{r}aaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee', '{r}AAAAAA-bbbb-4ccc-8ddd-eeeeeeeeeeee', '{r}aaaaaa-BBBB-4ccc-8ddd-EEEEEEEEEEEE', '{r}aaaaaa-bbbb-4ccc-8ddd-ffffffffffff', '{r}aaaaaa-cccc-4ccc-8ddd-000000000000', '{r}AAAAAA-cccc-4ccc-8ddd-000000000000']
  const SNAP_TEMPLATES = ['{r}5555ab-0000-4000-8000-00000000000a', '{r}5555AB-0000-4000-8000-00000000000A', '{r}5555ab-0000-4000-8000-00000000000b']
  // Volumes that adopt an existing resource (cinder manage), by a reference in any case.
  const MANAGE_IDS = ['{r}dddddd-0000-4000-8000-00000000000d', '{r}DDDDDD-0000-4000-8000-00000000000D']
  const REFS = ['Legacy-{r}', 'legacy-{r}', 'LEGACY-{r}']
  const step: fc.Arbitrary<CinderStep> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('create' as const), id: fc.constantFrom(...ID_TEMPLATES) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), id: fc.constantFrom(...ID_TEMPLATES) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('snap' as const), id: fc.constantFrom(...ID_TEMPLATES.slice(0, 3)), snap: fc.constantFrom(...SNAP_TEMPLATES) }) },
    fc.record({ kind: fc.constant('delsnap' as const), id: fc.constantFrom(...ID_TEMPLATES.slice(0, 3)), snap: fc.constantFrom(...SNAP_TEMPLATES) }),
    fc.record({ kind: fc.constant('manage' as const), id: fc.constantFrom(...MANAGE_IDS), ref: fc.constantFrom(...REFS) }),
    fc.record({ kind: fc.constant('delete' as const), id: fc.constantFrom(...MANAGE_IDS) }),
  )
  // Each run starts with a volume and a snapshot of it (so the snapshot paths are reached), then anything.
  const plan: fc.Arbitrary<CinderStep[]> = fc
    .tuple(fc.constantFrom(...ID_TEMPLATES.slice(0, 3)), fc.constantFrom(...SNAP_TEMPLATES), fc.array(step, { minLength: 2, maxLength: 8 }))
    .map(([id, snap, rest]): CinderStep[] => [{ kind: 'create', id }, { kind: 'snap', id, snap }, ...rest])
  await fc.assert(
    fc.asyncProperty(plan, async (plan) => {
      const r = (++run).toString(16).padStart(2, '0')
      const of = (s: string): string => s.replaceAll('{r}', r)
      const keep = (name: string): boolean => name.toLowerCase().startsWith(`cv_${r}`) || name.toLowerCase().startsWith(`volume-${r}`) || name.toLowerCase() === `legacy-${r}`
      providers.clear()
      // LINBIT's v2 driver named volumes volume-<id>: one adopted as it is (no property, no Cinder id).
      const adopted = of('{r}aaaaaa-cccc-4ccc-8ddd-000000000000')
      await client.resourceDefinitions.create({ resource_definition: { name: `volume-${adopted}` } })
      await client.volumeDefinitions.create(`volume-${adopted}`, { volume_definition: { size_kib: 1024 * 1024, volume_number: 0 } })
      // A resource made by hand, for cinder manage.
      await client.resourceDefinitions.create({ resource_definition: { name: `Legacy-${r}` } })
      await client.volumeDefinitions.create(`Legacy-${r}`, { volume_definition: { size_kib: 1024 * 1024, volume_number: 0 } })
      const live = new Map<string, string>([[`volume-${adopted}`, `volume-${adopted}`]])
      /** The object a volume id finds, by the candidates' order (provider_id, CV_<id>, then volume-<id>). */
      const found = (view: View, id: string): { linstorName: string; rd: Rd } | undefined => {
        const provider = providers.get(id)
        for (const n of [...(provider !== undefined ? [provider] : []), `CV_${id}`, `volume-${id}`]) {
          const rd = view.get(n.toLowerCase())
          if (rd !== undefined && isObjectOf(rd, n, `volume-${id}`) && (rd.props['Aux/cinder/volume-id'] ?? id) === id) return { linstorName: n, rd }
        }
        return undefined
      }
      try {
        for (const s of plan) {
          steps++
          const id = of(s.id)
          const what = `${s.kind} ${id}${'snap' in s ? ` snapshot ${of(s.snap)}` : ''}`
          const before = viewOf(emu, keep)
          const key = `cv_${id}`.toLowerCase()
          const holder = before.get(key)
          const own = found(before, id)
          if (s.kind === 'manage') {
            const ref = of(s.ref)
            const rd = before.get(ref.toLowerCase())
            const reply = await call('manage_existing', { volume: volume(id), ref: { 'source-name': ref } })
            const after = viewOf(emu, keep)
            const owner = rd?.props['Aux/cinder/volume-id']
            if (rd === undefined || (owner !== undefined && owner !== id) || (rd.recorded !== undefined && rd.recorded !== `volume-${id}`)) {
              assert.equal(errorOf(reply)?.code, 'MANAGE_REF_INVALID', `${what} ${ref}: ${JSON.stringify(reply)}`)
              assertUnchanged(before, after, what)
              if (rd !== undefined) saw('manage refused')
            } else {
              assert.deepEqual('result' in reply ? reply.result : reply, { model_update: { provider_id: rd.name } }, `${what} ${ref}: the provider_id is LINSTOR's spelling`)
              assert.equal(after.get(ref.toLowerCase())?.recorded, `volume-${id}`, `${what}: the adopted resource records the volume`)
              assertOthersUnchanged(before, after, ref.toLowerCase(), what)
              providers.set(id, rd.name)
              live.set(`volume-${id}`, rd.name)
              saw('manage made')
            }
          } else if (s.kind === 'create') {
            const reply = await call('create_volume', { volume: volume(id) })
            const after = viewOf(emu, keep)
            if (holder !== undefined && !isObjectOf(holder, `CV_${id}`, `volume-${id}`)) {
              assertCollision(reply, [`volume-${id}`, holder.recorded ?? holder.name], what)
              assertUnchanged(before, after, what)
            } else {
              assert.ok(!('error' in reply), `${what}: ${JSON.stringify(reply)}`)
              assert.equal(after.get(key)?.recorded, `volume-${id}`, `${what}: CV_${id} records the volume's name`)
              saw('create made')
              assertOthersUnchanged(before, after, key, what)
              live.set(`volume-${id}`, `CV_${id}`)
            }
          } else if (s.kind === 'delete') {
            const reply = await call('delete_volume', { volume: volume(id) })
            const after = viewOf(emu, keep)
            if (own !== undefined && own.rd.snaps.size > 0) {
              // Cinder deletes a volume's snapshots first (VolumeIsBusy otherwise).
              assert.equal(errorOf(reply)?.code, 'HAS_SNAPSHOTS', `${what}: ${JSON.stringify(reply)}`)
              assertUnchanged(before, after, what)
              continue
            }
            assert.ok(!('error' in reply), `${what}: ${JSON.stringify(reply)}`)
            if (own === undefined) {
              assertUnchanged(before, after, `${what} (nothing of this volume exists; another's is left alone)`)
              if (holder !== undefined || before.has(`volume-${id}`.toLowerCase())) saw('delete left another alone')
            } else {
              assert.equal(after.get(own.linstorName.toLowerCase()), undefined, `${what}: still there`)
              saw(own.linstorName === providers.get(id) ? 'delete managed' : 'delete deleted')
              assertOthersUnchanged(before, after, own.linstorName.toLowerCase(), what)
              live.delete(own.rd.recorded ?? own.linstorName)
              if (own.linstorName === providers.get(id)) providers.delete(id)
            }
          } else if (s.kind === 'snap' || s.kind === 'delsnap') {
            const snapId = of(s.snap)
            const snapshot = { id: snapId, volume_size: 1, volume: volume(id) }
            const reply = await call(s.kind === 'snap' ? 'create_snapshot' : 'delete_snapshot', { snapshot })
            const after = viewOf(emu, keep)
            if (own === undefined) {
              if (s.kind === 'snap') assert.ok(['RESOURCE_NOT_FOUND', 'NAME_COLLISION'].includes(errorOf(reply)?.code ?? ''), `${what}: ${JSON.stringify(reply)}`)
              assertUnchanged(before, after, what)
              continue
            }
            const rkey = own.linstorName.toLowerCase()
            assertOthersUnchanged(before, after, rkey, what)
            const had = own.rd.snaps.get(`sn_${snapId}`.toLowerCase())
            const ownSnap = had !== undefined && isObjectOf(had, `SN_${snapId}`, `snapshot-${snapId}`)
            const now = after.get(rkey)?.snaps ?? new Map<string, Obj>()
            if (had !== undefined && !ownSnap) {
              if (s.kind === 'snap') assertCollision(reply, [`snapshot-${snapId}`, had.recorded ?? had.name], what)
              else assert.ok(!('error' in reply), `${what}: ${JSON.stringify(reply)}`)
              assert.deepEqual(shape(after), shape(before), `${what}: another snapshot changed`)
            } else if (s.kind === 'snap') {
              assert.ok(!('error' in reply), `${what}: ${JSON.stringify(reply)}`)
              assert.equal(now.get(`sn_${snapId}`.toLowerCase())?.recorded, `snapshot-${snapId}`, `${what}: the snapshot records its name`)
              saw('snap made')
            } else {
              assert.ok(!('error' in reply), `${what}: ${JSON.stringify(reply)}`)
              assert.equal(now.get(`sn_${snapId}`.toLowerCase()), undefined, `${what}: the snapshot is still there`)
            }
          }
          assertInjective(live, viewOf(emu, keep), what)
        }
      } finally {
        await cleanUp(client, viewOf(emu, keep))
      }
    }),
    runs(30),
  )
  assert.ok(steps >= 80, `only ${steps} steps ran`)
  assertSeen(['create refused', 'snap refused', 'create made', 'snap made', 'delete deleted', 'delete left another alone', 'manage made', 'manage refused', 'delete managed'])
})
