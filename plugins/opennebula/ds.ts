/**
 * The datastore driver (DS_MAD linstor): one operation per action, with the driver action document
 * taken in any of the three ways OpenNebula 6.0 to 7.x pass it. Images are LINSTOR resources named
 * OpenNebula-Image-<id>, always raw block devices (qcow2 and other formats are converted on import).
 */
import { hostname } from 'node:os'
import { PluginError } from '../../core/errors/index.js'
import { statusAnswer } from '../../core/protocol/index.js'
import type { Storage } from '../../core/storage/index.js'
import { MiB } from '../../core/volumes/index.js'
import type { ResourceInfo } from '../../core/volumes/index.js'
import type { OneCall, DriverResult } from './call.js'
import type { ImportPhase } from './images.js'
import { AUX_DS_ID, AUX_IMAGE_ID, MAX_SIZE_MIB, checkResourceName, imageResource, intArgument, snapshotName } from './names.js'
import { mkfsCommand, shellCommand } from './remote.js'
import { revertToSnapshot } from './revert.js'
import type { OneSettings } from './settings.js'
import { parseDocument } from './xml.js'
import type { XmlElement } from './xml.js'

type Action = (call: OneCall) => Promise<DriverResult>

/**
 * The DS_DRIVER_ACTION_DATA document and the id: `action <base64> <id>` (up to 6.6), `action - <id>`
 * (6.6.2+ with --stdin), or `action <id>` with the document on stdin (6.8 and later).
 */
export function actionDocument(call: OneCall): { doc: XmlElement; id: string } {
  const [a0, a1] = call.argv
  let b64: string | undefined
  let id: string | undefined
  if (call.argv.length >= 2 && a0 !== '-') [b64, id] = [a0, a1]
  else if (a0 === '-') [b64, id] = [call.stdin, a1]
  else [b64, id] = [call.stdin, a0]
  if (b64 === undefined || b64.trim() === '') throw new PluginError('ONE_DOCUMENT_INVALID', 'no driver action document (neither in the arguments nor on stdin)')
  return { doc: parseDocument(b64, 'DS_DRIVER_ACTION_DATA'), id: id ?? '' }
}

interface DsEnv {
  doc: XmlElement
  id: string
  image: XmlElement | undefined
  settings: OneSettings
  storage: Storage
}

async function dsEnv(call: OneCall): Promise<DsEnv> {
  const { doc, id } = actionDocument(call)
  const ds = doc.first('DATASTORE')
  if (ds === undefined) throw new PluginError('ONE_DOCUMENT_INVALID', 'the driver action document has no DATASTORE')
  const settings = call.settingsOf(ds)
  return { doc, id, image: doc.first('IMAGE'), settings, storage: await call.storage(settings) }
}

function imageOf(e: DsEnv): XmlElement {
  if (e.image === undefined) throw new PluginError('ONE_DOCUMENT_INVALID', 'the driver action document has no IMAGE')
  return e.image
}

function sourceOf(e: DsEnv): string {
  const s = imageOf(e).value('SOURCE')
  if (s === undefined) throw new PluginError('ONE_DOCUMENT_INVALID', 'IMAGE/SOURCE is empty')
  return checkResourceName(s, 'image SOURCE')
}

function imageIdOf(e: DsEnv): string {
  return String(intArgument(imageOf(e).get('ID'), 'IMAGE/ID'))
}

/** A host that holds a diskful replica (one of BRIDGE_LIST when it can), to run dd/mkfs on. */
async function writerHost(e: DsEnv, resource: string): Promise<string> {
  const info = await e.storage.resource(resource).info()
  const diskful = (info?.replicas ?? []).filter((r) => r.kind === 'diskful' && r.dr !== true).map((r) => r.node)
  const bridge = new Set(e.settings.bridgeList.map((h) => h.toLowerCase()))
  const host = diskful.find((n) => bridge.has(n.toLowerCase())) ?? diskful[0]
  if (host === undefined) throw new PluginError('RESOURCE_NOT_FOUND', `${resource} has no diskful replica to write through`)
  return host
}

/** A diskful replica's node to write through (a BRIDGE_LIST host first) and the device there, by the stack. */
async function writer(call: OneCall, e: DsEnv, resource: string): Promise<{ host: string; device: string }> {
  const info = await e.storage.resource(resource).info()
  // Never through a disaster-recovery replica: it is behind the WAN.
  const diskful = (info?.replicas ?? []).filter((r) => r.kind === 'diskful' && r.dr !== true).map((r) => r.node)
  const bridge = new Set(e.settings.bridgeList.map((h) => h.toLowerCase()))
  const host = diskful.find((n) => bridge.has(n.toLowerCase())) ?? diskful[0]
  if (host === undefined || info === undefined) throw new PluginError('RESOURCE_NOT_FOUND', `${resource} has no diskful replica to write through`)
  return { host, device: call.deviceOn(host, info) }
}

/** The datastore's LINSTOR_DR_NODE / LINSTOR_DR_SITE: a new image gets its disaster-recovery replica (its proxies completed when a repeated action finds it). */
async function drOf(e: DsEnv, resource: string, _info: ResourceInfo): Promise<void> {
  if (e.settings.dr !== undefined) await e.storage.resource(resource).syncDr(e.settings.dr)
}

function props(e: DsEnv, imageId: string): Record<string, string> {
  return { [AUX_IMAGE_ID]: imageId, [AUX_DS_ID]: e.settings.dsId }
}

/**
 * The front-end's LINSTOR node, where cp can write the volume's device itself: LINSTOR_FRONTEND_NODE,
 * else this host's name (or its first label) when LINSTOR has a node of that name; undefined when
 * the front-end is none ('-', or no such node).
 */
async function frontEndNode(call: OneCall, e: DsEnv): Promise<string | undefined> {
  const set = e.settings.frontEndNode
  if (set === null) return undefined
  if (set !== undefined) return set
  const full = hostname()
  for (const name of new Set([full, full.split('.')[0] ?? full])) {
    if (name !== '' && (await call.isNode(e.storage, name))) return name
  }
  return undefined
}

/**
 * cp: the image read once and written once. Fetched or held open (images.ts openImage), then, on a
 * front-end that is a LINSTOR node, converted straight onto the volume's device here (a diskless
 * client for the copy when the front-end holds no replica); elsewhere streamed as raw bytes into
 * `dd` on the host of a replica. Prints "SOURCE raw".
 */
const cp: Action = async (call) => {
  const e = await dsEnv(call)
  const img = imageOf(e)
  const imageId = imageIdOf(e)
  const resource = imageResource(imageId)
  const path = img.value('PATH')
  if (path === undefined) throw new PluginError('ONE_DOCUMENT_INVALID', 'IMAGE/PATH is empty: nothing to import')
  const md5 = img.value('TEMPLATE/MD5')
  const sha1 = img.value('TEMPLATE/SHA1')
  const VERB: Readonly<Record<ImportPhase, string>> = { download: 'downloading', copy: 'copying', convert: 'writing' }
  // The image reader (zlib, streams, qemu-img, the NBD export) loads for the actions that read images.
  const { openImage } = await import('./images.js')
  const last: Partial<Record<ImportPhase, number>> = {}
  const h = e.storage.resource(resource)
  // What needs no image meanwhile: whether the volume exists, where to write it.
  const asked = Promise.all([h.exists(), frontEndNode(call, e)])
  asked.catch(() => undefined)
  const image = await openImage(
    path,
    { restrictedDirs: e.settings.restrictedDirs, safeDirs: e.settings.safeDirs },
    {
      stagingDir: e.settings.stagingDir,
      noDecompress: e.settings.noDecompress,
      ...(md5 !== undefined ? { md5 } : {}),
      ...(sha1 !== undefined ? { sha1 } : {}),
      signal: call.ctx.signal,
      onProgress: (done, total, phase) => {
        if (total === undefined || total === 0) return
        const pct = Math.floor((done * 100) / total / 25) * 25
        if (pct > (last[phase] ?? -1)) {
          last[phase] = pct
          call.info(`${VERB[phase]} ${resource}: ${pct}%`)
        }
      },
    },
  )
  let created = false
  try {
    call.info(`image is ${image.sourceFormat}, ${Math.ceil(image.virtualBytes / MiB)} MiB${image.sourceFormat !== 'raw' ? ' (converted to raw)' : ''}`)
    const sizeMiB = Math.max(1, Math.ceil(image.virtualBytes / MiB))
    const [exists, here] = await asked
    created = !exists
    const info = await h.create({ volumes: [sizeMiB * MiB], policy: e.settings.policy, props: props(e, imageId) })
    await drOf(e, resource, info)
    if (here !== undefined) {
      const a = await h.attach(here)
      let copied = false
      try {
        call.info(`writing ${resource} on this front-end (${here}${a.created ? ', through a diskless client' : ''})`)
        await image.writeTo(call.attachedDevice(here, a))
        copied = true
      } finally {
        // The client made for the copy goes (a replica the front-end holds stays); after a failed
        // copy the volume is deleted below, client and all.
        const released = h.detach(here)
        if (copied) await released
        else await released.catch(() => undefined)
      }
    } else {
      const { host, device } = await writer(call, e, resource)
      call.info(`writing ${resource} through ${host}`)
      // notrunc: a block device ignores truncation, the emulator's device files do not.
      await image.streamTo((input) => call.remote.run(host, shellCommand(['dd', `of=${device}`, 'bs=4M', 'conv=notrunc,fsync', 'status=none']), { input, signal: call.ctx.signal, timeoutMs: call.ctx.remainingMs() }))
    }
  } catch (err) {
    if (created) await h.delete({ snapshots: true }).catch(() => undefined)
    throw err
  } finally {
    await image.close()
  }
  return call.result(`${resource} raw\n`)
}

/** mkfs: an empty datablock (formatted when FS is set), or only the name for save_as. */
const mkfs: Action = async (call) => {
  const e = await dsEnv(call)
  const img = imageOf(e)
  const imageId = imageIdOf(e)
  const resource = imageResource(imageId)
  const format = img.value('FORMAT') ?? 'raw'
  if (format === 'save_as') return call.result(`${resource}\n`)
  const sizeMiB = intArgument(img.get('SIZE'), 'IMAGE/SIZE (MiB)', 1, MAX_SIZE_MIB)
  const h = e.storage.resource(resource)
  const existed = await h.exists()
  await drOf(e, resource, await h.create({ volumes: [sizeMiB * MiB], policy: e.settings.policy, props: props(e, imageId) }))
  if (format !== 'raw') call.info(`LINSTOR images are block devices: ${format} is stored as raw`)
  const fs = img.value('FS') ?? img.value('FSTYPE')
  if (fs !== undefined && fs !== 'raw' && !existed) {
    const { host, device } = await writer(call, e, resource)
    call.info(`mkfs -t ${fs} on ${resource} through ${host}`)
    await call.remote.exec(host, mkfsCommand(fs, device), { signal: call.ctx.signal })
  }
  return call.result(`${resource}\n`)
}

/** rm: the image and its snapshots. A protected (controller VM) or used image is refused by the core. */
const rm: Action = async (call) => {
  const e = await dsEnv(call)
  const resource = sourceOf(e)
  const gone = !(await e.storage.resource(resource).delete({ snapshots: true }))
  call.info(gone ? `${resource} was already gone` : `deleted ${resource}`)
  return call.result()
}

/** USED_MB / TOTAL_MB / FREE_MB of the datastore's placement: what one more volume can use. */
/**
 * The three monitoring lines within 2 s whatever the controller does: LINSTOR's figures, else the
 * last known ones (kept across the one process per action in the host's state folder), with a
 * warning saying how old they are, else zeros (nothing new is placed on a datastore no controller
 * answers for). oned reads only these three keys, so "stale" can only be said in the warning.
 */
export async function monitorLines(call: OneCall): Promise<string> {
  const e = await dsEnv(call)
  const a = await statusAnswer(call.ctx, e.storage, `one-monitor:${e.settings.dsId}`, async () => {
    const c = await e.storage.capacity(e.settings.policy)
    const total = Math.floor(c.capacityBytes / MiB)
    return { total, free: Math.min(total, Math.floor(c.availableBytes / MiB)) }
  })
  const why = a.stale ? (a.error instanceof Error ? a.error.message : String(a.error)) : ''
  if (a.value === undefined) call.warn(`no LINSTOR controller answered in time (${why}); reporting no capacity`)
  else if (a.stale) call.warn(`no LINSTOR controller answered in time (${why}); the figures are the last known ones, from ${new Date(a.at).toISOString()}`)
  const { total, free } = a.value ?? { total: 0, free: 0 }
  return `USED_MB=${total - free}\nTOTAL_MB=${total}\nFREE_MB=${free}\n`
}

const monitor: Action = async (call) => call.result(await monitorLines(call))

/** stat: the virtual size in MiB, quickly (it runs while `oneimage create` waits). */
const stat: Action = async (call) => {
  const e = await dsEnv(call)
  const path = imageOf(e).value('PATH')
  if (path === undefined) throw new PluginError('ONE_DOCUMENT_INVALID', 'IMAGE/PATH is empty')
  const { statImage } = await import('./images.js')
  const mib = await statImage(path, { restrictedDirs: e.settings.restrictedDirs, safeDirs: e.settings.safeDirs }, { signal: call.ctx.signal })
  return call.result(`${mib}\n`)
}

/** clone: image CLONING_ID (SOURCE in IMAGE/PATH) into a new image, with LINSTOR's clone where it can. */
const clone: Action = async (call) => {
  const e = await dsEnv(call)
  const img = imageOf(e)
  const source = checkResourceName(img.value('PATH') ?? '', 'SOURCE of the image to clone')
  const target = imageResource(imageIdOf(e))
  const h = e.storage.resource(target)
  if (!(await h.exists())) {
    call.info(`cloning ${source} into ${target}`)
    await drOf(e, target, await e.storage.resource(source).cloneTo(target, { props: props(e, imageIdOf(e)) }))
  }
  const size = img.value('SIZE')
  const have = (await h.info())?.volumes[0]?.sizeBytes ?? 0
  if (size !== undefined && /^[0-9]+$/.test(size) && Number(size) * MiB > have) await h.grow(0, { toBytes: Number(size) * MiB })
  return call.result(`${target} raw\n`)
}

/** export: the image's bytes in a staging file on a host, for the marketplace to fetch and then remove. */
const exportImage: Action = async (call) => {
  const e = await dsEnv(call)
  const resource = sourceOf(e)
  const appId = String(intArgument(e.id, 'marketplace app id'))
  const host = await writerHost(e, resource)
  const file = `${e.settings.stagingDir.replace(/\/+$/, '')}/${resource}-${appId}.raw`
  call.info(`exporting ${resource} into ${host}:${file}`)
  await call.remote.exec(host, ['dd', `if=${call.device(host, resource)}`, `of=${file}`, 'bs=4M', 'conv=sparse', 'status=none'], { signal: call.ctx.signal, timeoutMs: call.ctx.remainingMs() })
  const sum = (await call.remote.exec(host, ['md5sum', file], { signal: call.ctx.signal })).stdout.trim().split(/\s+/)[0] ?? ''
  const info = await e.storage.resource(resource).info()
  const sizeMiB = Math.ceil((info?.volumes[0]?.sizeBytes ?? 0) / MiB)
  const cdata = (s: string): string => `<![CDATA[${s.replaceAll(']]>', ']]]]><![CDATA[>')}]]>`
  const dispose = shellCommand(['ssh', host, shellCommand(['rm', '-f', file])])
  const xml =
    '<IMPORT_INFO>' +
    `<IMPORT_SOURCE>${cdata(`ssh://${host}:${file}`)}</IMPORT_SOURCE>` +
    `<MD5>${cdata(sum)}</MD5>` +
    `<SIZE>${cdata(String(sizeMiB))}</SIZE>` +
    `<FORMAT>${cdata('raw')}</FORMAT>` +
    `<DISPOSE>${cdata('YES')}</DISPOSE>` +
    `<DISPOSE_CMD>${cdata(dispose)}</DISPOSE_CMD>` +
    '</IMPORT_INFO>'
  return call.result(xml + '\n')
}

function targetSnapshot(e: DsEnv): string {
  return snapshotName(intArgument(imageOf(e).get('TARGET_SNAPSHOT'), 'IMAGE/TARGET_SNAPSHOT'))
}

const snapDelete: Action = async (call) => {
  const e = await dsEnv(call)
  await e.storage.resource(sourceOf(e)).deleteSnapshot(targetSnapshot(e))
  return call.result()
}

const snapRevert: Action = async (call) => {
  const e = await dsEnv(call)
  await revertToSnapshot(call, e.storage, sourceOf(e), targetSnapshot(e))
  return call.result()
}

/** snap_flatten: the image becomes that snapshot's data and keeps no snapshots. */
const snapFlatten: Action = async (call) => {
  const e = await dsEnv(call)
  const resource = sourceOf(e)
  await revertToSnapshot(call, e.storage, resource, targetSnapshot(e))
  const h = e.storage.resource(resource)
  for (const s of await h.snapshots()) if (s.name.startsWith('OpenNebula-Snap-')) await h.deleteSnapshot(s.name)
  call.info(`${resource} flattened`)
  return call.result()
}

export const DS_ACTIONS: Readonly<Record<string, Action>> = {
  cp,
  mkfs,
  rm,
  monitor,
  stat,
  clone,
  export: exportImage,
  snap_delete: snapDelete,
  snap_revert: snapRevert,
  snap_flatten: snapFlatten,
}
