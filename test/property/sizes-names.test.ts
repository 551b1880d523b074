/**
 * Sizes and names, over every value a platform or operator can hand in: the core's byte/KiB rules
 * and their round trips, each platform's size syntax (Proxmox KiB/bytes, Cinder whole GiB,
 * OpenNebula MiB strings), LINSTOR's name rule against the emulator's model of the controller's
 * check, and each adapter's mapping of its names onto LINSTOR names (valid, reversible where the
 * adapter reads names back, and never two inputs on one name where the mapping claims otherwise).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { ConfigError } from '../../core/errors/index.js'
import { GiB, KiB, MiB, TiB, bytesToKib, formatBytes, isLinstorName, kibToBytes } from '../../core/volumes/index.js'
import { checkResourceName as emulatorCheckResourceName } from '../../emulator/names.js'
import { MAX_SIZE_MIB, backupSnapshotName, diskResource, imageResource, intArgument, parseLocation, parseSystemPath, snapshotName, volatileResource } from '../../plugins/opennebula/names.js'
import { newSnapshotName, newVolumeName, snapshotArg, snapshotCandidates, volumeArg, volumeCandidates } from '../../plugins/openstack-cinder/objects.js'
import { VMID_PROP, VOLNAME_PROP, linstorSnapshotName, parseVolname, pveSnapshotName, snapshotResource, validSnapshotName, volnameOf } from '../../plugins/proxmox/names.js'
import { DIGITS, LETTERS, absurdlyLarge, anyString, anyValue, assertRefused, linstorName, oddNumber, outcome, runs, show, stringOf } from './arbitraries.js'

// ------------------------------------------------------------------------------- core sizes

test('bytesToKib: a positive safe whole number of bytes becomes the fewest KiB that hold it; anything else is CONFIG_INVALID naming the setting', () => {
  const bytes = fc.oneof(oddNumber, fc.maxSafeNat(), absurdlyLarge, fc.integer({ min: -(2 ** 40), max: 0 }), fc.double({ min: -1e20, max: 1e20 }))
  fc.assert(
    fc.property(bytes, fc.constantFrom('size', 'volumes[0]', 'linstor:size'), (b, setting) => {
      const o = outcome(() => bytesToKib(b, setting), `bytesToKib(${b})`)
      if (Number.isSafeInteger(b) && b > 0) {
        assert.ok(o.ok, `bytesToKib(${b}) refused a valid size`)
        assert.ok(Number.isSafeInteger(o.value) && o.value >= 1)
        assert.ok(o.value * KiB >= b && (o.value - 1) * KiB < b, `${b} bytes → ${o.value} KiB`)
      } else {
        assert.ok(!o.ok, `bytesToKib(${b}) accepted an invalid size`)
        assert.ok(o.error instanceof ConfigError && o.error.code === 'CONFIG_INVALID')
        assert.deepEqual(o.error.issues.map((i) => i.setting), [setting])
        assert.ok(o.error.message.includes(setting), o.error.message)
      }
    }),
    runs(3000),
  )
})

test('kibToBytes and bytesToKib are inverse on whole KiB, and a byte count never shrinks through the pair', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: Math.floor(Number.MAX_SAFE_INTEGER / KiB) }), (kib) => {
      assert.equal(bytesToKib(kibToBytes(kib)), kib)
    }),
    runs(2000),
  )
  fc.assert(
    fc.property(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (b) => {
      const back = kibToBytes(bytesToKib(b))
      assert.ok(back >= b && back - b < KiB, `${b} → ${back}`)
    }),
    runs(2000),
  )
})

test('formatBytes reads back to within its one decimal of the size, in the largest unit that fits', () => {
  const units: Record<string, number> = { B: 1, KiB, MiB, GiB, TiB }
  fc.assert(
    fc.property(fc.oneof(fc.maxSafeNat(), fc.integer({ min: 0, max: 4 * GiB }), fc.constantFrom(0, 1, 1023, 1024, MiB - 1, GiB, TiB, 1024 * TiB)), (b) => {
      const text = formatBytes(b)
      const m = /^([0-9]+(?:\.[0-9])?) (B|KiB|MiB|GiB|TiB)$/.exec(text)
      assert.ok(m !== null, `formatBytes(${b}) = ${JSON.stringify(text)}`)
      const unit = units[m[2] as string] as number
      assert.ok(Math.abs(Number(m[1]) * unit - b) <= 0.05 * unit + 1e-6 * b, `${text} is not ${b} bytes`)
      if (unit !== TiB) assert.ok(b < unit * 1024, `${text}: a larger unit fits ${b}`)
    }),
    runs(2000),
  )
})

// ------------------------------------------------------------------------------- LINSTOR names

test("isLinstorName agrees with the controller's name check (the emulator's model of it) on every string", () => {
  const nameish = fc.string({ unit: fc.constantFrom('a', 'Z', 'q', '_', '-', '0', '7', '.', ' ', 'é', '/'), minLength: 0, maxLength: 52 })
  fc.assert(
    fc.property(fc.oneof(nameish, anyString, linstorName), (name) => {
      assert.equal(isLinstorName(name), emulatorCheckResourceName(name) === undefined, `isLinstorName(${JSON.stringify(name)}) vs LINSTOR: ${emulatorCheckResourceName(name) ?? 'accepted'}`)
    }),
    runs(4000),
  )
})

// ------------------------------------------------------------------------------- Proxmox

const vmidText = fc.integer({ min: 1, max: 999_999_999 }).map(String)
const pveVolname = fc.oneof(
  fc.tuple(fc.constantFrom('vm', 'base'), vmidText, fc.constantFrom(...LETTERS, ...DIGITS), stringOf(`${LETTERS}${DIGITS}_.+-`, 0, 60)).map(([k, id, a, rest]) => `${k}-${id}-${a}${rest}`),
  fc.stringMatching(/^(vm|base)-[1-9][0-9]{0,3}-disk-[0-9]{1,3}$/),
  fc.stringMatching(/^subvol-[1-9][0-9]{0,8}-disk-[0-9]{1,4}$/),
)
const pmVolname = fc.stringMatching(/^pm-[0-9a-f]{8}_[1-9][0-9]{0,8}$/)
const pveSnapshot = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{1,39}$/)

test('Proxmox: any string is a volume of this storage (VM id, base flag, a valid LINSTOR resource) or none; every well-formed volname is one', () => {
  fc.assert(
    fc.property(fc.oneof(anyString, pveVolname, pmVolname, pveVolname.map((v) => v.toUpperCase()), pveVolname.map((v) => `${v}\n`)), (volname) => {
      const v = parseVolname(volname)
      if (v === undefined) return
      assert.equal(v.volname, volname)
      assert.ok(Number.isSafeInteger(v.vmid) && v.vmid >= 1 && v.vmid <= 999_999_999, `vmid ${v.vmid}`)
      assert.equal(v.isBase, volname.startsWith('base-'))
      assert.ok(isLinstorName(v.resource), `${volname} → ${v.resource}`)
      assert.equal(v.origin, volname.startsWith('pm-') ? 'pm' : 'pve')
    }),
    runs(3000),
  )
  fc.assert(
    fc.property(fc.oneof(pveVolname, pmVolname), (volname) => {
      assert.ok(parseVolname(volname) !== undefined, `${volname} refused`)
    }),
    runs(1000),
  )
})

test('Proxmox: distinct volnames never share a resource (names kept as they are or hashed into lv-...), and each maps back from its resource', () => {
  fc.assert(
    fc.property(fc.uniqueArray(pveVolname, { minLength: 2, maxLength: 25 }), (volnames) => {
      const byResource = new Map<string, string>()
      for (const volname of volnames) {
        const v = parseVolname(volname)
        assert.ok(v !== undefined)
        const other = byResource.get(v.resource)
        assert.equal(other, undefined, `${volname} and ${other ?? ''} both map to ${v.resource}`)
        byResource.set(v.resource, volname)
        // list_images reads the volname back from the resource (and the recorded volname for hashed ones).
        assert.equal(volnameOf(v.resource, v.resource !== volname ? { [VOLNAME_PROP]: volname } : {}), volname)
      }
    }),
    runs(400),
  )
  fc.assert(
    fc.property(pmVolname, (volname) => {
      const v = parseVolname(volname)
      assert.ok(v !== undefined && v.origin === 'pm')
      assert.equal(volnameOf(v.resource, { [VMID_PROP]: String(v.vmid) }), volname)
    }),
    runs(300),
  )
})

test('Proxmox: snapshot names map to valid LINSTOR snapshot and view names, and back', () => {
  fc.assert(
    fc.property(fc.oneof(pveVolname, pmVolname), pveSnapshot, (volname, snap) => {
      const v = parseVolname(volname)
      assert.ok(v !== undefined && validSnapshotName(snap))
      const linstor = linstorSnapshotName(v, snap)
      assert.ok(isLinstorName(linstor), `${volname}@${snap} → snapshot ${linstor}`)
      assert.equal(pveSnapshotName(v, linstor), snap)
      assert.ok(isLinstorName(snapshotResource(v.resource, snap)), `${volname}@${snap} → view ${snapshotResource(v.resource, snap)}`)
    }),
    runs(1500),
  )
  fc.assert(
    fc.property(anyString, (snap) => {
      if (validSnapshotName(snap)) assert.match(snap, /^[A-Za-z][A-Za-z0-9_-]{1,39}$/)
    }),
    runs(1000),
  )
})

// ------------------------------------------------------------------------------- Cinder

const cinderId = fc.oneof({ weight: 3, arbitrary: fc.uuid() }, fc.tuple(fc.constantFrom(...LETTERS, ...DIGITS), stringOf(`${LETTERS}${DIGITS}-`, 0, 70)).map(([a, b]) => a + b))

function cinderVolume(): fc.Arbitrary<Record<string, unknown>> {
  return fc.record(
    {
      id: cinderId,
      name_id: fc.option(cinderId, { nil: null }),
      size: fc.integer({ min: 0, max: 1024 * 1024 }),
      provider_id: fc.option(fc.oneof(linstorName, anyString), { nil: null }),
      volume_type: fc.constant(null),
    },
    { requiredKeys: ['id', 'size'] },
  )
}

test('Cinder: every volume and snapshot the driver accepts gets a valid LINSTOR name for a new resource, which it finds again', () => {
  fc.assert(
    fc.property(cinderVolume(), (raw) => {
      const o = outcome(() => volumeArg(raw), 'volumeArg')
      if (!o.ok) {
        assert.equal(o.error.code, 'CALL_INVALID')
        assert.match(o.error.message, /arguments\.volume\.(id|name_id|provider_id)/)
        return
      }
      const name = newVolumeName(o.value)
      assert.ok(isLinstorName(name), `volume ${JSON.stringify(raw)} → ${name}`)
      const candidates = volumeCandidates(o.value)
      assert.ok(candidates.includes(name), `${name} is not among ${candidates.join(', ')}`)
      assert.ok(candidates.every(isLinstorName))
      assert.equal(new Set(candidates.map((c) => c.toLowerCase())).size, candidates.length)
    }),
    runs(2000),
  )
  fc.assert(
    fc.property(cinderId, cinderVolume(), fc.integer({ min: 0, max: 1024 * 1024 }), (id, volume, size) => {
      const o = outcome(() => snapshotArg({ id, volume_size: size, volume }), 'snapshotArg')
      if (!o.ok) {
        assert.equal(o.error.code, 'CALL_INVALID')
        assert.match(o.error.message, /arguments\.snapshot\.(id|volume\.)/)
        return
      }
      const name = newSnapshotName(o.value)
      assert.ok(isLinstorName(name), `snapshot ${id} → ${name}`)
      assert.ok(snapshotCandidates(o.value).includes(name))
    }),
    runs(1500),
  )
})

test('Cinder: sizes are whole GiB from 0 to 1048576; anything else is CALL_INVALID naming the field', () => {
  fc.assert(
    fc.property(fc.oneof(anyValue, oddNumber, absurdlyLarge, fc.integer({ min: -10, max: 2 * 1024 * 1024 })), (size) => {
      const volume = { id: '6f1c0d9e-5a1b-4c2d-9e8f-0a1b2c3d4e5f', size }
      const ok = typeof size === 'number' && Number.isSafeInteger(size) && size >= 0 && size <= 1024 * 1024
      if (ok) assert.equal(volumeArg(volume).size, size)
      else assertRefused(() => volumeArg(volume), 'CALL_INVALID', ['arguments.volume.size'], `size ${show(size)}`)
      const snapshot = { id: '0a1b2c3d-5a1b-4c2d-9e8f-6f1c0d9e4e5f', volume_size: size, volume: { ...volume, size: 1 } }
      if (ok) assert.equal(snapshotArg(snapshot).volumeSize, size)
      else assertRefused(() => snapshotArg(snapshot), 'CALL_INVALID', ['arguments.snapshot.volume_size'], `volume_size ${show(size)}`)
    }),
    runs(1500),
  )
})

// ------------------------------------------------------------------------------- OpenNebula

test('OpenNebula: a whole-number argument is read exactly or refused naming what it is', () => {
  fc.assert(
    fc.property(fc.oneof(anyString, fc.integer().map(String), fc.stringMatching(/^-?[0-9]{1,25}$/), absurdlyLarge.map((n) => n.toFixed(0))), fc.integer({ min: -1, max: 1 }), (text, min) => {
      const o = outcome(() => intArgument(text, 'disk id', min), `intArgument(${JSON.stringify(text)})`)
      if (o.ok) {
        assert.match(text, /^-?[0-9]+$/)
        assert.ok(Number.isSafeInteger(o.value) && o.value >= min && o.value === Number(text))
      } else {
        assert.equal(o.error.code, 'ONE_DOCUMENT_INVALID')
        assert.ok(o.error.message.startsWith('disk id must be a whole number'), o.error.message)
      }
    }),
    runs(3000),
  )
})

test('OpenNebula: sizes in MiB are refused up front when their bytes would not be exact, naming the argument', () => {
  const maxMiB = MAX_SIZE_MIB
  assert.equal(maxMiB, Math.floor(Number.MAX_SAFE_INTEGER / MiB))
  fc.assert(
    fc.property(fc.oneof(fc.integer({ min: 1, max: maxMiB }), fc.integer({ min: maxMiB + 1, max: Number.MAX_SAFE_INTEGER }), absurdlyLarge), (n) => {
      const text = n.toFixed(0)
      const o = outcome(() => intArgument(text, 'size (MiB)', 1, MAX_SIZE_MIB))
      if (n <= maxMiB) {
        assert.ok(o.ok && Number.isSafeInteger(o.value * MiB), `${text} MiB refused`)
      } else {
        assert.ok(!o.ok && o.error.code === 'ONE_DOCUMENT_INVALID' && o.error.message.includes('size (MiB)'), `${text} MiB accepted`)
        assert.ok(o.error.message.includes(String(maxMiB)), o.error.message)
      }
    }),
    runs(1500),
  )
})

test("OpenNebula: addon-linstor's names are valid LINSTOR names, and a VM disk's clone name reads back into its parts", () => {
  const id = fc.nat({ max: 10 ** 9 })
  fc.assert(
    fc.property(id, id, id, (image, vm, disk) => {
      for (const n of [imageResource(image), volatileResource(vm, disk), snapshotName(disk), backupSnapshotName(vm, disk)]) assert.ok(isLinstorName(n), n)
    }),
    runs(1000),
  )
  fc.assert(
    fc.property(linstorName, id, id, (source, vm, disk) => {
      const name = diskResource(source, vm, disk)
      const m = /^(.+)-vm([0-9]+)-disk([0-9]+)$/.exec(name)
      assert.ok(m !== null)
      assert.deepEqual([m[1], Number(m[2]), Number(m[3])], [source, vm, disk])
    }),
    runs(1000),
  )
})

test('OpenNebula: host:path arguments split at the first colon and join back; system paths read back their datastore, VM and disk', () => {
  fc.assert(
    fc.property(anyString, (arg) => {
      const l = parseLocation(arg)
      if (l.host === undefined) assert.equal(l.path, arg)
      else {
        assert.ok(!l.host.includes(':'))
        assert.equal(`${l.host}:${l.path}`, arg)
      }
    }),
    runs(2000),
  )
  const slashes = fc.constantFrom('/', '//', '///')
  fc.assert(
    fc.property(fc.stringMatching(/^(\/[a-z]{1,8}){0,4}$/), slashes, fc.nat(), slashes, fc.nat(), fc.option(fc.nat({ max: 1000 }), { nil: undefined }), (root, s1, ds, s2, vm, disk) => {
      const path = `${root}${s1}${ds}${s2}${vm}${disk !== undefined ? `/disk.${disk}` : ''}`
      const sp = parseSystemPath(path)
      assert.equal(sp.dsId, String(ds))
      assert.equal(sp.vmid, String(vm))
      assert.equal(sp.diskId, disk)
      assert.ok(!sp.dir.includes('//') && sp.dir.endsWith(`/${ds}/${vm}`), sp.dir)
    }),
    runs(1000),
  )
  fc.assert(
    fc.property(fc.oneof(anyString, anyString.map((s) => `/var/lib/one//datastores/${s}`)), (path) => {
      const o = outcome(() => parseSystemPath(path), `parseSystemPath(${JSON.stringify(path)})`)
      if (o.ok) assert.ok(/^[0-9]+$/.test(o.value.vmid) && /^[0-9]+$/.test(o.value.dsId))
      else {
        assert.equal(o.error.code, 'ONE_DOCUMENT_INVALID')
        assert.ok(o.error.message.includes(`'${path}'`), o.error.message)
      }
    }),
    runs(2000),
  )
})
