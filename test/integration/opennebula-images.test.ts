/**
 * The OpenNebula datastore's image reader on real bytes: a 12 MiB raw disk with data in a few
 * places and holes elsewhere, its qcow2 made by the real qemu-img, served from local paths and by
 * an HTTP server in this process (with and without Range support), written onto a file standing
 * for the volume's device and streamed (through the NBD export for qcow2), compared by sha256;
 * what is held in place and what is copied first (and why: a swapped file must not reach
 * qemu-img); the source policy (RESTRICTED_DIRS/SAFE_DIRS, schemes, symlinks) and stat's sizes.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { chmodSync, closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, statSync, symlinkSync, writeFileSync, writeSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import { gzipSync } from 'node:zlib'
import { checkSource, openImage, statImage } from '../../plugins/opennebula/images.js'
import type { OpenedImage, SourcePolicy } from '../../plugins/opennebula/images.js'
import { tempDir } from '../helpers/core.js'
import { withinDeadline } from '../helpers/bounds.js'

const MiB = 1024 * 1024
const SIZE = 12 * MiB

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 60_000 }, (err, stdout, stderr) => (err === null ? resolve(stdout) : reject(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`))))
  })
}

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex')
const md5 = (file: string): string => createHash('md5').update(readFileSync(file)).digest('hex')
const sha1 = (file: string): string => createHash('sha1').update(readFileSync(file)).digest('hex')

interface Images {
  dir: string
  raw: string
  qcow2: string
  rawGz: string
  qcow2Gz: string
  rawSha: string
  staging: string
  /** Sources under `dir` are allowed: everything else is restricted. */
  policy: SourcePolicy
}

async function images(t: TestContext): Promise<Images> {
  const dir = tempDir(t, 'lv-one-img-')
  const raw = join(dir, 'disk.raw')
  const fd = openSync(raw, 'w')
  // A boot-sector-like start (not a compression magic by chance), data at unaligned offsets, a
  // full last block; everything else stays a hole.
  const pieces: [number, number][] = [
    [0, 64 * 1024],
    [3 * MiB + 123, 100_000],
    [8 * MiB, MiB],
    [SIZE - 4096, 4096],
  ]
  for (const [pos, len] of pieces) writeSync(fd, randomBytes(len), 0, len, pos)
  writeSync(fd, Buffer.from([0xeb, 0x63, 0x90, 0x00]), 0, 4, 0)
  ftruncateSync(fd, SIZE)
  closeSync(fd)
  const qcow2 = join(dir, 'disk.qcow2')
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow2])
  const rawGz = join(dir, 'disk.raw.gz')
  writeFileSync(rawGz, gzipSync(readFileSync(raw)))
  const qcow2Gz = join(dir, 'disk.qcow2.gz')
  writeFileSync(qcow2Gz, gzipSync(readFileSync(qcow2)))
  const staging = join(dir, 'staging')
  mkdirSync(staging)
  return { dir, raw, qcow2, rawGz, qcow2Gz, rawSha: sha256(raw), staging, policy: { restrictedDirs: ['/'], safeDirs: [dir] } }
}

interface Route {
  file?: string
  /** Answer Range requests with 206 (else ignore Range and send everything with 200). */
  ranges?: boolean
  /** Send the file, then zeros up to this many bytes (a large body to see a client stop early). */
  padTo?: number
  /** Omit Content-Length (chunked). */
  chunked?: boolean
  redirect?: string
  /** Require this user:password (Basic). */
  auth?: string
}

interface Served {
  path: string
  range: string | undefined
  status: number
  sent: number
  finished: boolean
  /** The response is over (finished or the client hung up). */
  closed: boolean
}

async function serve(t: TestContext, routes: Record<string, Route>): Promise<{ base: string; log: Served[] }> {
  const log: Served[] = []
  const server = http.createServer((req, res) => {
    const entry: Served = { path: req.url ?? '', range: req.headers.range, status: 0, sent: 0, finished: false, closed: false }
    log.push(entry)
    res.on('close', () => {
      entry.closed = true
      entry.finished = res.writableFinished
    })
    const route = routes[entry.path]
    const answer = (status: number, headers: Record<string, string | number> = {}): void => {
      entry.status = status
      res.writeHead(status, headers)
    }
    if (route === undefined) {
      answer(404, { 'content-type': 'text/plain' })
      res.end('not here')
      return
    }
    if (route.auth !== undefined && req.headers.authorization !== `Basic ${Buffer.from(route.auth).toString('base64')}`) {
      answer(401, { 'www-authenticate': 'Basic realm="images"' })
      res.end()
      return
    }
    if (route.redirect !== undefined) {
      answer(302, { location: route.redirect })
      res.end()
      return
    }
    const data = readFileSync(route.file ?? '')
    const total = route.padTo ?? data.length
    const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '')
    if (route.ranges === true && m !== null) {
      let start = m[1] === '' ? total - Number(m[2]) : Number(m[1])
      let end = m[1] === '' || m[2] === '' ? total - 1 : Math.min(Number(m[2]), total - 1)
      start = Math.max(0, start)
      if (start >= total) {
        answer(416, { 'content-range': `bytes */${total}` })
        res.end()
        return
      }
      end = Math.max(start, end)
      const part = data.subarray(start, end + 1)
      answer(206, { 'content-range': `bytes ${start}-${end}/${total}`, 'content-length': part.length, 'accept-ranges': 'bytes' })
      entry.sent = part.length
      res.end(part)
      return
    }
    answer(200, route.chunked === true ? {} : { 'content-length': total })
    if (route.padTo === undefined) {
      entry.sent = data.length
      res.end(data)
      return
    }
    // Stream the padded body with back-pressure, counting what actually left.
    let offset = 0
    const pump = (): void => {
      while (offset < total) {
        const len = Math.min(64 * 1024, total - offset)
        const chunk = offset < data.length ? data.subarray(offset, offset + len) : Buffer.alloc(len)
        offset += chunk.length
        entry.sent = offset
        if (!res.write(chunk)) {
          res.once('drain', pump)
          return
        }
      }
      res.end()
    }
    pump()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => {
    server.closeAllConnections()
    server.close()
  })
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, log }
}

async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<Error> {
  try {
    await p
  } catch (e) {
    assert.ok(e instanceof Error)
    assert.equal((e as { code?: string }).code, code, e.message)
    if (message !== undefined) assert.match(e.message, message)
    assert.ok(!e.message.includes('\n'), 'single-line message')
    return e
  }
  assert.fail(`expected ${code}`)
}

function assertSameRaw(file: string, img: Images): void {
  assert.equal(statSync(file).size, SIZE)
  assert.equal(sha256(file), img.rawSha)
}

/** A file standing for a volume's device: SIZE bytes of 0xaa (so that zeros left unwritten show). */
function device(img: Images, name = 'device.raw'): string {
  const file = join(img.dir, name)
  writeFileSync(file, Buffer.alloc(SIZE, 0xaa))
  return file
}

/** What streamTo hands its sink, collected; the sink also checks it gets a stream and reads all of it. */
async function streamed(image: OpenedImage): Promise<Buffer> {
  let out = Buffer.alloc(0)
  await image.streamTo(async (input) => {
    const parts: Buffer[] = []
    for await (const chunk of input) parts.push(chunk as Buffer)
    out = Buffer.concat(parts)
  })
  return out
}

const sha256Of = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

test('openImage holds a local qcow2 it alone can change and converts it in place: onto a device and as a stream, the same raw bytes, nothing staged', async (t) => {
  const img = await images(t)
  const image = await openImage(img.qcow2, img.policy, { stagingDir: img.staging })
  assert.equal(image.sourceFormat, 'qcow2')
  assert.equal(image.virtualBytes, SIZE)
  assert.equal(image.staged, 'none')
  const dev = device(img)
  await image.writeTo(dev)
  assertSameRaw(dev, img)
  // The stream goes through qemu-img writing to the private NBD export: the same bytes, in order.
  assert.equal(sha256Of(await streamed(image)), img.rawSha)
  assert.deepEqual(readdirSync(img.staging), [], 'nothing was copied into STAGING_DIR')
  await image.close()
  await image.close()

  // A raw source: straight from the file, also given as a file:// URL.
  const raw = await openImage(`file://${img.raw}`, img.policy, { stagingDir: img.staging })
  assert.equal(raw.sourceFormat, 'raw')
  assert.equal(raw.staged, 'none')
  const dev2 = device(img, 'device2.raw')
  await raw.writeTo(dev2)
  assertSameRaw(dev2, img)
  assert.equal(sha256Of(await streamed(raw)), img.rawSha)
  await raw.close()
  // No STAGING_DIR is needed for a file used in place.
  const noStaging = await openImage(img.qcow2, img.policy, { stagingDir: join(img.dir, 'absent') })
  assert.equal(noStaging.staged, 'none')
  await noStaging.close()
})

test('a held file is the inode that was checked: replacing the path after opening changes nothing that is imported', async (t) => {
  const img = await images(t)
  const src = join(img.dir, 'swap.qcow2')
  writeFileSync(src, readFileSync(img.qcow2))
  const image = await openImage(src, img.policy, { stagingDir: img.staging })
  assert.equal(image.staged, 'none')
  // Another image takes the name: a qcow2 whose data lives in an external data file (the secret).
  const secret = join(img.dir, 'secret.raw')
  writeFileSync(secret, Buffer.alloc(SIZE, 0x5e))
  const evil = join(img.dir, 'evil.qcow2')
  await run('qemu-img', ['create', '-f', 'qcow2', '-o', `data_file=${join(img.dir, 'data.raw')},data_file_raw=on`, evil, String(SIZE)])
  await run('qemu-img', ['amend', '-f', 'qcow2', '-o', `data_file=${secret}`, evil])
  renameSync(evil, src)
  const dev = device(img)
  await image.writeTo(dev)
  assertSameRaw(dev, img)
  await image.close()
})

test('a qcow2 others can write is copied first (a swap between check and use must not reach qemu-img); a raw one is streamed as it is', async (t) => {
  const img = await images(t)
  const shared = join(img.dir, 'shared.qcow2')
  writeFileSync(shared, readFileSync(img.qcow2))
  chmodSync(shared, 0o666)
  const sums = { md5: md5(shared), sha1: sha1(shared) }
  const image = await openImage(shared, img.policy, { stagingDir: img.staging, ...sums })
  assert.equal(image.staged, 'copy')
  assert.equal(readdirSync(img.staging).length, 1, 'the private copy')
  // The shared file now names an external data file: the copy taken before is what is imported.
  const secret = join(img.dir, 'secret.raw')
  writeFileSync(secret, Buffer.alloc(SIZE, 0x5e))
  await run('qemu-img', ['create', '-f', 'qcow2', '-o', `data_file=${join(img.dir, 'data.raw')},data_file_raw=on`, shared, String(SIZE)])
  await run('qemu-img', ['amend', '-f', 'qcow2', '-o', `data_file=${secret}`, shared])
  const dev = device(img)
  await image.writeTo(dev)
  assertSameRaw(dev, img)
  await image.close()
  assert.deepEqual(readdirSync(img.staging), [])

  // Group-writable counts as well; raw images never go through qemu-img as anything but raw.
  const groupRaw = join(img.dir, 'group.raw')
  writeFileSync(groupRaw, readFileSync(img.raw))
  chmodSync(groupRaw, 0o664)
  const raw = await openImage(groupRaw, img.policy, { stagingDir: img.staging, md5: md5(img.raw) })
  assert.equal(raw.staged, 'none')
  assert.equal(sha256Of(await streamed(raw)), img.rawSha)
  await raw.close()
})

test('openImage over http: qcow2 with progress, gzip-compressed raw, redirects and basic auth', async (t) => {
  const img = await images(t)
  const { base } = await serve(t, {
    '/disk.qcow2': { file: img.qcow2, ranges: true },
    '/disk.raw.gz': { file: img.rawGz },
    '/moved': { redirect: '/disk.qcow2' },
    '/private/disk.qcow2': { file: img.qcow2, auth: 'alice:s3cr@t' },
  })
  const calls: [number, number | undefined, string][] = []
  const image = await openImage(`${base}/disk.qcow2`, img.policy, { stagingDir: img.staging, onProgress: (done, total, phase) => calls.push([done, total, phase]) })
  assert.equal(image.sourceFormat, 'qcow2')
  assert.equal(image.virtualBytes, SIZE)
  assert.equal(image.staged, 'download')
  assert.equal(readdirSync(img.staging).length, 1, 'the download')
  const dev = device(img)
  await image.writeTo(dev)
  assertSameRaw(dev, img)
  await image.close()
  assert.deepEqual(readdirSync(img.staging), [])

  const downloads = calls.filter((c) => c[2] === 'download')
  const qcowSize = statSync(img.qcow2).size
  assert.ok(downloads.length >= 2 && downloads.length <= 25, `throttled download progress (${downloads.length} calls)`)
  for (let i = 1; i < downloads.length; i++) assert.ok((downloads[i]?.[0] ?? 0) > (downloads[i - 1]?.[0] ?? 0), 'download progress increases')
  assert.deepEqual(downloads[downloads.length - 1], [qcowSize, qcowSize, 'download'])
  const converts = calls.filter((c) => c[2] === 'convert')
  assert.ok(converts.length >= 1, 'convert progress reported')
  for (let i = 1; i < converts.length; i++) assert.ok((converts[i]?.[0] ?? 0) > (converts[i - 1]?.[0] ?? 0), 'convert progress increases')
  assert.deepEqual(converts[converts.length - 1], [SIZE, SIZE, 'convert'])

  const gz = await openImage(`${base}/disk.raw.gz`, img.policy, { stagingDir: img.staging })
  assert.equal(gz.sourceFormat, 'raw')
  assert.equal(gz.staged, 'download')
  assert.ok(statSync(join(img.staging, readdirSync(img.staging)[0] ?? '')).blocks * 512 < 6 * MiB, 'the decompressed raw file is sparse')
  assert.equal(sha256Of(await streamed(gz)), img.rawSha)
  await gz.close()

  for (const url of [`${base}/moved`, `${base.replace('http://', 'http://alice:s3cr%40t@')}/private/disk.qcow2`]) {
    const got = await openImage(url, img.policy, { stagingDir: img.staging })
    assert.equal(sha256Of(await streamed(got)), img.rawSha)
    await got.close()
  }
  assert.deepEqual(readdirSync(img.staging), [])
})

test('md5/sha1: checked on the downloaded bytes before anything is written, and on the bytes of a file used in place as it is imported', async (t) => {
  const img = await images(t)
  const { base } = await serve(t, { '/disk.raw.gz': { file: img.rawGz }, '/disk.qcow2': { file: img.qcow2 } })
  const ok = await openImage(`${base}/disk.raw.gz`, img.policy, { stagingDir: img.staging, md5: md5(img.rawGz).toUpperCase(), sha1: sha1(img.rawGz) })
  assert.equal(sha256Of(await streamed(ok)), img.rawSha)
  await ok.close()
  const local = await openImage(img.qcow2, img.policy, { stagingDir: img.staging, md5: md5(img.qcow2), sha1: sha1(img.qcow2) })
  const dev = device(img)
  await local.writeTo(dev)
  assertSameRaw(dev, img)
  assert.equal(sha256Of(await streamed(local)), img.rawSha)
  await local.close()

  const err = await rejectsWith(openImage(`${base}/disk.qcow2`, img.policy, { stagingDir: img.staging, md5: md5(img.raw) }), 'IMAGE_CHECKSUM_MISMATCH', /MD5/)
  assert.match(err.message, new RegExp(md5(img.qcow2)))
  assert.deepEqual(readdirSync(img.staging), [])
  await rejectsWith(openImage(img.rawGz, img.policy, { stagingDir: img.staging, sha1: sha1(img.raw) }), 'IMAGE_CHECKSUM_MISMATCH', /SHA1/)
  await rejectsWith(openImage(img.qcow2, img.policy, { stagingDir: img.staging, md5: 'not-hex' }), 'IMAGE_CHECKSUM_MISMATCH', /not a hex MD5/)
  // A file used in place: the mismatch is found while it is imported (the caller removes the volume).
  const wrong = await openImage(img.qcow2, img.policy, { stagingDir: img.staging, md5: md5(img.raw) })
  await rejectsWith(wrong.writeTo(device(img, 'device2.raw')), 'IMAGE_CHECKSUM_MISMATCH', /MD5 .* the image template says/)
  await rejectsWith(wrong.streamTo(async (input) => {
    for await (const _ of input) void _
  }), 'IMAGE_CHECKSUM_MISMATCH', /MD5/)
  await wrong.close()
  const wrongRaw = await openImage(img.raw, img.policy, { stagingDir: img.staging, sha1: sha1(img.qcow2) })
  await rejectsWith(streamed(wrongRaw), 'IMAGE_CHECKSUM_MISMATCH', /SHA1/)
  await wrongRaw.close()
  assert.deepEqual(readdirSync(img.staging), [])
})

test('HTTP errors and unreachable servers fail with IMAGE_FETCH_FAILED, without credentials in the message', async (t) => {
  const img = await images(t)
  const { base } = await serve(t, { '/private/disk.qcow2': { file: img.qcow2, auth: 'alice:secret' } })
  const err = await rejectsWith(openImage(`${base.replace('http://', 'http://bob:hunter2@')}/missing.qcow2`, img.policy, { stagingDir: img.staging }), 'IMAGE_FETCH_FAILED', /HTTP 404/)
  assert.ok(!err.message.includes('hunter2') && !err.message.includes('bob'), err.message)
  assert.match(err.message, /missing\.qcow2/)
  await rejectsWith(openImage(`${base}/private/disk.qcow2`, img.policy, { stagingDir: img.staging }), 'IMAGE_FETCH_FAILED', /HTTP 401/)
  await rejectsWith(statImage(`${base}/missing.qcow2`, img.policy), 'IMAGE_FETCH_FAILED', /HTTP 404/)
  // A port nobody listens on: take one from a closed server.
  const probe = http.createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const port = (probe.address() as AddressInfo).port
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  await rejectsWith(openImage(`http://127.0.0.1:${port}/x.qcow2`, img.policy, { stagingDir: img.staging }), 'IMAGE_FETCH_FAILED', /ECONNREFUSED/)
  assert.deepEqual(readdirSync(img.staging), [])
})

test('source policy: restricted and safe dirs by real path, OpenNebula own dirs, unsupported schemes', async (t) => {
  const img = await images(t)
  const elsewhere = tempDir(t, 'lv-one-safe-')
  // RESTRICTED_DIRS "/" with SAFE_DIRS elsewhere: the image dir is off limits.
  const strict: SourcePolicy = { restrictedDirs: ['/'], safeDirs: [elsewhere] }
  const err = await rejectsWith(openImage(img.qcow2, strict, { stagingDir: img.staging }), 'IMAGE_SOURCE_RESTRICTED', /restricted directory \//)
  assert.match(err.message, new RegExp(elsewhere))
  await rejectsWith(statImage(img.qcow2, strict), 'IMAGE_SOURCE_RESTRICTED')

  // OpenNebula's own dirs stay restricted with RESTRICTED_DIRS empty, existing file or not.
  const open: SourcePolicy = { restrictedDirs: [], safeDirs: [] }
  await rejectsWith(checkSource('/var/lib/one/datastores/1/abc', open), 'IMAGE_SOURCE_RESTRICTED', /\/var\/lib\/one/)
  await rejectsWith(checkSource('file:///etc/one/oned.conf', open), 'IMAGE_SOURCE_RESTRICTED', /\/etc\/one/)
  await rejectsWith(checkSource('/var/lib/one/../one/.one/one_auth', open), 'IMAGE_SOURCE_RESTRICTED')
  const home = process.env['HOME']
  if (home !== undefined && home !== '/' && home !== '') await rejectsWith(checkSource(join(home, '.ssh', 'id_rsa'), open), 'IMAGE_SOURCE_RESTRICTED')
  if (home === undefined || !img.qcow2.startsWith(`${home}/`)) assert.deepEqual(await checkSource(img.qcow2, open), { kind: 'file', location: img.qcow2 })

  // A symlink in a safe dir pointing into a restricted one is judged by where it leads.
  const secret = tempDir(t, 'lv-one-secret-')
  writeFileSync(join(secret, 'disk.img'), 'secret')
  symlinkSync(join(secret, 'disk.img'), join(elsewhere, 'link.img'))
  const linked = await rejectsWith(checkSource(join(elsewhere, 'link.img'), { restrictedDirs: [secret], safeDirs: [elsewhere] }), 'IMAGE_SOURCE_RESTRICTED', /resolves to/)
  assert.match(linked.message, new RegExp(secret))
  // A safe dir inside a restricted one wins, as in libfs.
  assert.equal((await checkSource(img.qcow2, { restrictedDirs: ['/'], safeDirs: [`${img.dir}/`] })).kind, 'file')

  await rejectsWith(checkSource('s3://bucket/disk.qcow2', open), 'IMAGE_SOURCE_UNSUPPORTED', /s3:\/\/.*http/)
  await rejectsWith(checkSource('ssh://alice:pw@host:/srv/disk.qcow2', open), 'IMAGE_SOURCE_UNSUPPORTED', /ssh:\/\//)
  for (const path of ['rbd://pool/img', 'docker://alpine', 'restic://x', 'lxd://y']) await rejectsWith(checkSource(path, open), 'IMAGE_SOURCE_UNSUPPORTED')
  await rejectsWith(checkSource('images/disk.qcow2', open), 'IMAGE_SOURCE_UNSUPPORTED', /relative/)
  await rejectsWith(checkSource('file://otherhost/disk.qcow2', open), 'IMAGE_SOURCE_UNSUPPORTED')
  await rejectsWith(checkSource(join(img.dir, 'nope.qcow2'), img.policy), 'IMAGE_FETCH_FAILED', /does not exist/)
  await rejectsWith(checkSource(img.dir, img.policy), 'IMAGE_FETCH_FAILED', /not a regular file/)
  assert.deepEqual(await checkSource('https://example.com/a.qcow2', open), { kind: 'http', location: 'https://example.com/a.qcow2' })
})

test('statImage reads sizes from headers: local files, ranged and unranged http, compressed sources', async (t) => {
  const img = await images(t)
  const big = 512 * MiB
  const { base, log } = await serve(t, {
    '/disk.qcow2': { file: img.qcow2, ranges: true },
    '/norange/disk.qcow2': { file: img.qcow2, padTo: big },
    '/disk.raw': { file: img.raw, ranges: true },
    '/norange/disk.raw': { file: img.raw },
    '/chunked/disk.raw': { file: img.raw, chunked: true },
    '/disk.raw.gz': { file: img.rawGz, ranges: true },
    '/disk.qcow2.gz': { file: img.qcow2Gz },
  })
  assert.equal(await statImage(img.qcow2, img.policy), 12)
  assert.equal(await statImage(img.raw, img.policy), 12)
  assert.equal(await statImage(img.rawGz, img.policy), 12)
  assert.equal(await statImage(img.qcow2Gz, img.policy), 12)
  assert.equal(await statImage(img.rawGz, img.policy, { noDecompress: true }), Math.ceil(statSync(img.rawGz).size / MiB))

  assert.equal(await statImage(`${base}/disk.qcow2`, img.policy), 12)
  assert.equal(log.at(-1)?.status, 206)
  assert.equal(log.at(-1)?.range, 'bytes=0-65535')

  // A server ignoring Range: the 512 MiB body is cut off after the header.
  assert.equal(await statImage(`${base}/norange/disk.qcow2`, img.policy), 12)
  const unranged = log.at(-1)
  // The server sees the hang-up a moment after the client: wait for it (bounded), then count bytes.
  await withinDeadline((async () => {
    while (unranged?.closed === false) await new Promise((resolve) => setTimeout(resolve, 20))
  })(), 0, 'the server seeing the client hang up')
  assert.equal(unranged?.status, 200)
  assert.equal(unranged?.finished, false, 'the client hung up early')
  assert.ok((unranged?.sent ?? big) < 64 * MiB, `server sent only ${unranged?.sent} bytes`)

  assert.equal(await statImage(`${base}/disk.raw`, img.policy), 12) // Content-Range total
  assert.equal(await statImage(`${base}/norange/disk.raw`, img.policy), 12) // Content-Length
  assert.equal(await statImage(`${base}/disk.raw.gz`, img.policy), 12) // gzip trailer (ISIZE)
  assert.equal(await statImage(`${base}/disk.qcow2.gz`, img.policy), 12) // qcow2 header inside gzip
  await rejectsWith(statImage(`${base}/chunked/disk.raw`, img.policy), 'IMAGE_FETCH_FAILED', /Content-Length/)
})

test('bzip2 and xz are decompressed through their tools; NO_DECOMPRESS keeps the bytes', async (t) => {
  const img = await images(t)
  await run('bzip2', ['-k', img.raw])
  await run('xz', ['-k', '-0', img.qcow2])
  const bz = await openImage(`${img.raw}.bz2`, img.policy, { stagingDir: img.staging, md5: md5(`${img.raw}.bz2`) })
  assert.equal(bz.sourceFormat, 'raw')
  assert.equal(bz.staged, 'decompress')
  assert.equal(sha256Of(await streamed(bz)), img.rawSha)
  await bz.close()
  const xz = await openImage(`${img.qcow2}.xz`, img.policy, { stagingDir: img.staging })
  assert.equal(xz.sourceFormat, 'qcow2')
  const dev = device(img)
  await xz.writeTo(dev)
  assertSameRaw(dev, img)
  await xz.close()
  assert.equal(await statImage(`${img.raw}.bz2`, img.policy), 12)
  assert.equal(await statImage(`${img.qcow2}.xz`, img.policy), 12)

  const kept = await openImage(img.rawGz, img.policy, { stagingDir: img.staging, noDecompress: true })
  assert.equal(kept.sourceFormat, 'raw')
  assert.equal(kept.staged, 'none')
  assert.equal(sha256Of(await streamed(kept)), sha256(img.rawGz))
  await kept.close()

  // A truncated compressed file fails cleanly.
  writeFileSync(join(img.dir, 'cut.raw.xz'), readFileSync(`${img.qcow2}.xz`).subarray(0, 2000))
  await rejectsWith(openImage(join(img.dir, 'cut.raw.xz'), img.policy, { stagingDir: img.staging }), 'IMAGE_FETCH_FAILED', /xz/)
  writeFileSync(join(img.dir, 'cut.raw.gz'), readFileSync(img.rawGz).subarray(0, 20_000))
  await rejectsWith(openImage(join(img.dir, 'cut.raw.gz'), img.policy, { stagingDir: img.staging }), 'IMAGE_FETCH_FAILED', /gzip/)
  assert.deepEqual(readdirSync(img.staging), [])
})

test('images that make qemu-img read other files, a missing STAGING_DIR where one is needed and an abort are refused cleanly', async (t) => {
  const img = await images(t)
  const overlay = join(img.dir, 'overlay.qcow2')
  await run('qemu-img', ['create', '-f', 'qcow2', '-F', 'raw', '-b', img.raw, overlay])
  await rejectsWith(openImage(overlay, img.policy, { stagingDir: img.staging }), 'IMAGE_FETCH_FAILED', /backing file/)
  writeFileSync(join(img.dir, 'descriptor.vmdk'), `# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\nRW 24576 FLAT "${img.raw}" 0\n`)
  await rejectsWith(openImage(join(img.dir, 'descriptor.vmdk'), img.policy, { stagingDir: img.staging }), 'IMAGE_FETCH_FAILED', /extent in another file/)
  const dataFile = join(img.dir, 'datafile.qcow2')
  await run('qemu-img', ['create', '-f', 'qcow2', '-o', `data_file=${join(img.dir, 'data.raw')}`, dataFile, String(SIZE)])
  await rejectsWith(openImage(dataFile, img.policy, { stagingDir: img.staging }), 'IMAGE_FETCH_FAILED', /external data file/)
  // A monolithic sparse VMDK is its own extent: imported.
  const vmdk = join(img.dir, 'disk.vmdk')
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', img.raw, vmdk])
  const v = await openImage(vmdk, img.policy, { stagingDir: img.staging })
  assert.equal(v.sourceFormat, 'vmdk')
  assert.equal(sha256Of(await streamed(v)), img.rawSha)
  await v.close()
  assert.deepEqual(readdirSync(img.staging), [])

  await rejectsWith(openImage(img.qcow2Gz, img.policy, { stagingDir: join(img.dir, 'absent') }), 'IMAGE_FETCH_FAILED', /STAGING_DIR .*absent/)

  const ctl = new AbortController()
  ctl.abort()
  await rejectsWith(openImage(img.qcow2, img.policy, { stagingDir: img.staging, signal: ctl.signal }), 'ABORTED')
  await rejectsWith(statImage(img.qcow2, img.policy, { signal: ctl.signal }), 'ABORTED')
  const later = new AbortController()
  const pending = openImage(img.qcow2Gz, img.policy, { stagingDir: img.staging, signal: later.signal, onProgress: () => later.abort() })
  await rejectsWith(pending, 'ABORTED')
  assert.deepEqual(readdirSync(img.staging), [])
  // An abort during the conversion stops qemu-img (and the stream's NBD export).
  const during = new AbortController()
  const held = await openImage(img.qcow2, img.policy, { stagingDir: img.staging, signal: during.signal })
  await rejectsWith(held.streamTo(async (input) => {
    for await (const _ of input) during.abort()
  }), 'ABORTED')
  await held.close()
})
