/**
 * Reading image sources for the OpenNebula datastore actions `stat` and `cp`, on the front-end.
 *
 * OpenNebula's own drivers pipe `downloader.sh` into `dd` on a bridge host and convert there. cp
 * here reads an image once: a local file that only this user or root can change is held open and
 * converted in place (openImage says why no copy is needed to pin the checked bytes); a download,
 * a compressed image or a file others could change goes through one file in STAGING_DIR, hashed
 * as the bytes arrive. The caller then writes the raw bytes straight onto the volume's device on
 * this host (`qemu-img convert -n`), or streams them to a host that has one (raw images as they
 * are, other formats through qemu-img writing to a private NBD export, nbd.ts). `stat` only reads
 * headers (a 64 KiB range of a URL, qemu-img info of a local file) because oned waits for it
 * during `oneimage create`.
 *
 * Kept free of heavy imports (node built-ins only): this module loads in a short-lived process per
 * driver action. Child processes run with argument arrays, a deadline and a kill on abort.
 */
import { spawn } from 'node:child_process'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import type { Hash } from 'node:crypto'
import { constants, createReadStream } from 'node:fs'
import { open, readlink, realpath, rm, stat } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { homedir } from 'node:os'
import { basename, dirname, isAbsolute, join, resolve } from 'node:path'
import { Readable, Transform } from 'node:stream'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import { createGunzip } from 'node:zlib'
import { PluginError, isPluginError } from '../../core/errors/index.js'
import { nbdStreamExport } from './nbd.js'

export interface SourcePolicy {
  /** DATASTORE/TEMPLATE/RESTRICTED_DIRS split on spaces (OpenNebula also always restricts /var/lib/one/, /etc/one/ and the user's $HOME/; checkSource adds those, like libfs.sh set_up_datastore). */
  restrictedDirs: readonly string[]
  /** SAFE_DIRS split on spaces: a path under a safe dir is allowed even if also under a restricted one. */
  safeDirs: readonly string[]
}

export type SourceKind = 'http' | 'file'

export interface StatOptions {
  signal?: AbortSignal
  /** Deadline for the whole measurement (default 5 minutes: a bzip2 file has to be decompressed to be measured). */
  timeoutMs?: number
  /** DATASTORE/TEMPLATE/NO_DECOMPRESS = yes: a compressed file is stored as is, so its size is the file's size. */
  noDecompress?: boolean
}

const MiB = 1024 * 1024
/** What stat reads of a source: enough for every header it understands (OpenNebula's fs_size reads as much). */
const HEAD_BYTES = 64 * 1024
/** Zero blocks of this size become holes in staged files (the same granularity as `qemu-img convert -S 4k`). */
const BLOCK = 4096
const ZERO_BLOCK = Buffer.alloc(BLOCK)
const INFO_TIMEOUT_MS = 60_000
const CONVERT_TIMEOUT_MS = 3_600_000
/** bzip2/xz run as long as the download feeds them; a stalled download ends by undici's body timeout first. */
const DECODE_TIMEOUT_MS = 12 * 3_600_000
const STAT_TIMEOUT_MS = 300_000
/** After SIGTERM a child gets this long before SIGKILL. */
const KILL_GRACE_MS = 5_000
const QEMU_IMG = 'qemu-img'
const MISSING_TOOL_HINT: Readonly<Record<string, string>> = {
  'qemu-img': 'install qemu-utils (Debian/Ubuntu) or qemu-img (RHEL/Alma)',
  bzip2: 'install bzip2, or set NO_DECOMPRESS=yes on the datastore',
  xz: 'install xz-utils (Debian/Ubuntu) or xz (RHEL/Alma), or set NO_DECOMPRESS=yes on the datastore',
}

// ---------------------------------------------------------------------------------------------
// Source classification and the restricted-directory policy

/** Control characters out (oned shows one line per message). */
function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x1f\x7f]+/g, ' ')
}

/** Drops `user:password@` from a URL-like string, so messages never carry credentials; one line. */
function redact(text: string): string {
  return oneLine(text.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1'))
}

/**
 * Errors that explain the failures that follow them (a missing tool, a download that broke off):
 * when a decoder pipeline fails in several places at once, one of these is the message to show.
 */
const EXPLAINING = new WeakSet<object>()

function fetchFailed(message: string, path: string, cause?: unknown): PluginError {
  return new PluginError('IMAGE_FETCH_FAILED', oneLine(message), { context: { path: redact(path) }, ...(cause === undefined ? {} : { cause }) })
}

/**
 * realpath, also for paths that do not exist (like `readlink -m`): the existing part is resolved
 * and the rest appended, so a missing file inside a restricted dir is refused as restricted rather
 * than reported missing (which would let users probe for files there).
 */
async function resolveLoose(path: string): Promise<string> {
  try {
    return await realpath(path)
  } catch {
    const parent = dirname(path)
    if (parent === path) return path
    return join(await resolveLoose(parent), basename(path))
  }
}

function within(path: string, dir: string): boolean {
  return dir === '/' || path === dir || path.startsWith(`${dir}/`)
}

/** The restricted dirs OpenNebula adds to every datastore (libfs.sh set_up_datastore). */
function implicitRestrictedDirs(): string[] {
  const dirs = ['/var/lib/one/', '/etc/one/']
  const location = process.env['ONE_LOCATION']
  if (location !== undefined && location !== '') dirs.push(`${location}/var/`, `${location}/etc/`)
  // libfs appends "$HOME/"; a HOME of "/" becomes "//", which matches nothing there, so skip it.
  const home = process.env['HOME'] || homedir()
  if (home !== '' && resolve(home) !== '/') dirs.push(`${home}/`)
  return dirs
}

async function resolvedDirs(dirs: readonly string[]): Promise<string[]> {
  // Relative entries never matched in libfs (it compares against absolute real paths): ignore them.
  const usable = dirs.filter((d) => d !== '' && isAbsolute(d))
  return Promise.all(usable.map((d) => resolveLoose(resolve(d))))
}

/**
 * Classifies IMAGE/PATH: http:// and https:// URLs → 'http'; an absolute local path (or file://
 * URL) → 'file', resolved with realpath and checked against RESTRICTED_DIRS and SAFE_DIRS as
 * libfs.sh check_restricted does (safe dirs win), but by path components rather than by string
 * prefix. Other schemes OpenNebula's downloader reads (s3, ssh, rbd, lxd, restic, ...) are
 * refused: this driver runs them through nothing but Node's fetch and the local file system.
 */
export async function checkSource(path: string, policy: SourcePolicy): Promise<{ kind: SourceKind; location: string }> {
  const p = path.trim()
  if (p === '') throw new PluginError('IMAGE_SOURCE_UNSUPPORTED', 'the image has no PATH to import from', { context: { path: '' } })
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(p)?.[1]?.toLowerCase()
  const label = redact(p)
  if (scheme === 'http' || scheme === 'https') {
    let url: URL
    try {
      url = new URL(p)
    } catch {
      throw new PluginError('IMAGE_SOURCE_UNSUPPORTED', `image source ${label} is not a valid URL`, { context: { path: label } })
    }
    if (url.hostname === '') throw new PluginError('IMAGE_SOURCE_UNSUPPORTED', `image source ${label} names no host`, { context: { path: label } })
    return { kind: 'http', location: p }
  }
  let local: string
  if (scheme === 'file') {
    try {
      local = fileURLToPath(p)
    } catch {
      throw new PluginError('IMAGE_SOURCE_UNSUPPORTED', `image source ${label} is not a local file URL: use file:///absolute/path or the plain path`, { context: { path: label } })
    }
  } else if (scheme !== undefined) {
    throw new PluginError(
      'IMAGE_SOURCE_UNSUPPORTED',
      `image source scheme ${scheme}:// is not supported by the LINSTOR datastore: use an http:// or https:// URL or an absolute path on the front-end (or import the image into another datastore first)`,
      { context: { path: label, scheme } },
    )
  } else {
    local = p
  }
  if (!isAbsolute(local)) {
    throw new PluginError('IMAGE_SOURCE_UNSUPPORTED', `image path ${label} is relative: give an absolute path on the front-end or an http(s) URL`, { context: { path: label } })
  }
  const real = await resolveLoose(local)
  const [safe, restricted] = await Promise.all([resolvedDirs(policy.safeDirs), resolvedDirs([...implicitRestrictedDirs(), ...policy.restrictedDirs])])
  if (!safe.some((d) => within(real, d))) {
    const hit = restricted.find((d) => within(real, d))
    if (hit !== undefined) {
      const shown = real === local ? redact(local) : `${redact(local)} (resolves to ${redact(real)})`
      const where = safe.length > 0 ? `one of SAFE_DIRS (${safe.join(' ')})` : 'a directory listed in SAFE_DIRS'
      throw new PluginError(
        'IMAGE_SOURCE_RESTRICTED',
        `image path ${shown} is inside the restricted directory ${hit}: move the file under ${where}, or change RESTRICTED_DIRS/SAFE_DIRS of the datastore`,
        { context: { path: local, resolved: real, restrictedDir: hit } },
      )
    }
  }
  let info
  try {
    info = await stat(real)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' || code === 'ENOTDIR' ? 'does not exist' : `cannot be read (${code ?? String(e)})`
    throw fetchFailed(`image file ${redact(local)} ${why} on the front-end`, local, e)
  }
  if (!info.isFile() && !info.isBlockDevice()) throw fetchFailed(`image path ${redact(local)} is not a regular file`, local)
  return { kind: 'file', location: real }
}

// ---------------------------------------------------------------------------------------------
// Deadlines, aborts and child processes

/** One place that knows whether an operation was aborted by the caller or ran out of time. */
class Scope {
  readonly signal: AbortSignal
  readonly #outer: AbortSignal | undefined
  readonly #ctl = new AbortController()
  readonly #timeoutMs: number | undefined
  readonly #timer: NodeJS.Timeout | undefined
  readonly #onAbort = (): void => this.#ctl.abort(this.#outer?.reason)
  #timedOut = false

  constructor(outer: AbortSignal | undefined, timeoutMs?: number) {
    this.signal = this.#ctl.signal
    this.#outer = outer
    this.#timeoutMs = timeoutMs
    if (outer?.aborted === true) this.#ctl.abort(outer.reason)
    else outer?.addEventListener('abort', this.#onAbort, { once: true })
    if (timeoutMs !== undefined) {
      this.#timer = setTimeout(() => {
        this.#timedOut = true
        this.#ctl.abort(new Error('deadline'))
      }, timeoutMs)
    }
  }

  /** Throws ABORTED when the caller aborted (checked between steps). */
  check(what: string, path: string): void {
    if (this.signal.aborted) throw this.fail(undefined, what, path)
  }

  /** The error to throw: ABORTED, a deadline message, the PluginError raised, or IMAGE_FETCH_FAILED. */
  fail(err: unknown, what: string, path: string): PluginError {
    if (this.#outer?.aborted === true) return new PluginError('ABORTED', `${what} aborted`, { context: { path: redact(path) } })
    if (this.#timedOut) return fetchFailed(`${what} did not finish within ${duration(this.#timeoutMs ?? 0)}`, path, err)
    if (isPluginError(err)) return err
    return fetchFailed(`${what} failed: ${describe(err)}`, path, err)
  }

  dispose(): void {
    clearTimeout(this.#timer)
    this.#outer?.removeEventListener('abort', this.#onAbort)
  }
}

/** A single-line reason from an error, including the cause fetch hides behind "fetch failed". */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  const cause = err.cause
  const text = cause instanceof Error && cause.message !== '' ? `${err.message}: ${cause.message}` : err.message
  return text.replace(/\s+/g, ' ').trim()
}

function duration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : ms < 120_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`
}

function lastLine(text: string): string {
  const lines = text.split(/[\r\n]+/).map((l) => l.trim()).filter((l) => l !== '')
  return lines[lines.length - 1] ?? ''
}

interface Child {
  child: ChildProcessWithoutNullStreams
  /** Resolves with stderr on exit 0; rejects with a PluginError otherwise (missing tool, exit code, deadline, abort). */
  done: Promise<string>
}

/**
 * Starts a child with its own deadline; abort and deadline send SIGTERM, then SIGKILL. `what`
 * names the step in messages. stdout is left to the caller; stderr keeps its last 8 KiB. `fd`: a
 * file descriptor of ours the child gets as its fd 3 (PINNED_PATH names it there).
 */
function startChild(cmd: string, args: readonly string[], what: string, path: string, timeoutMs: number, signal: AbortSignal | undefined, fd?: number): Child {
  const child = spawn(cmd, args, { stdio: fd === undefined ? ['pipe', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe', fd] }) as ChildProcessWithoutNullStreams
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString('utf8')).slice(-8192)
  })
  // A child that exits before reading all its input (a decoder given a cut-off head) makes our
  // writes fail with EPIPE: its exit status reports that, the stream error must not crash us.
  child.stdin.on('error', () => undefined)
  let ended: 'deadline' | 'aborted' | undefined
  let killTimer: NodeJS.Timeout | undefined
  const stop = (why: 'deadline' | 'aborted'): void => {
    if (ended !== undefined || child.exitCode !== null || child.signalCode !== null) return
    ended = why
    child.kill('SIGTERM')
    killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS)
    killTimer.unref()
  }
  const deadline = setTimeout(() => stop('deadline'), timeoutMs)
  const onAbort = (): void => stop('aborted')
  if (signal?.aborted === true) onAbort()
  else signal?.addEventListener('abort', onAbort, { once: true })
  const done = new Promise<string>((resolvePromise, reject) => {
    let settled = false
    const finish = (err: PluginError | undefined): void => {
      if (settled) return
      settled = true
      clearTimeout(deadline)
      clearTimeout(killTimer)
      signal?.removeEventListener('abort', onAbort)
      if (err === undefined) resolvePromise(stderr)
      else reject(err)
    }
    child.on('error', (e: NodeJS.ErrnoException) => {
      // Only a failed spawn (no pid) ends the child here; a failed kill() is not an outcome.
      if (child.pid !== undefined) return
      const hint = MISSING_TOOL_HINT[cmd]
      const err =
        e.code === 'ENOENT'
          ? fetchFailed(`${cmd} is not installed on the front-end${hint === undefined ? '' : `: ${hint}`}`, path, e)
          : fetchFailed(`${what} could not start: ${e.message}`, path, e)
      EXPLAINING.add(err)
      finish(err)
    })
    child.on('close', (code, sig) => {
      if (ended === 'aborted') finish(new PluginError('ABORTED', `${what} aborted`, { context: { path: redact(path) } }))
      else if (ended === 'deadline') finish(fetchFailed(`${what} did not finish within ${duration(timeoutMs)}`, path))
      else if (code !== 0) finish(fetchFailed(`${what} failed: ${lastLine(stderr) || (sig !== null ? `killed by ${sig}` : `exit code ${String(code)}`)}`, path))
      else finish(undefined)
    })
  })
  return { child, done }
}

/** Runs a child to its end and returns its stdout (limited to 1 MiB; qemu-img info is far smaller). */
async function runChild(cmd: string, args: readonly string[], what: string, path: string, timeoutMs: number, signal: AbortSignal | undefined, onStdout?: (chunk: string) => void, fd?: number): Promise<string> {
  const { child, done } = startChild(cmd, args, what, path, timeoutMs, signal, fd)
  child.stdin.end()
  const parts: Buffer[] = []
  let size = 0
  child.stdout.on('data', (d: Buffer) => {
    if (size < MiB) parts.push(d)
    size += d.length
    onStdout?.(d.toString('utf8'))
  })
  await done
  return Buffer.concat(parts).toString('utf8')
}

// ---------------------------------------------------------------------------------------------
// qemu-img

interface QemuInfo {
  format: string
  virtualBytes: number
  json: Record<string, unknown>
}

/** `qemu-img info` of a file, or of an open file of ours (fd: then read through PINNED_PATH). */
async function qemuInfo(file: string, signal: AbortSignal | undefined, label = file, fd?: number): Promise<QemuInfo> {
  const out = await runChild(QEMU_IMG, ['info', '--output=json', fd === undefined ? file : PINNED_PATH], 'qemu-img info', label, INFO_TIMEOUT_MS, signal, undefined, fd)
  let json: unknown
  try {
    json = JSON.parse(out)
  } catch (e) {
    throw fetchFailed(`qemu-img info gave no JSON for ${redact(label)}`, label, e)
  }
  const rec = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>
  const format = rec['format']
  const size = rec['virtual-size']
  if (typeof format !== 'string' || typeof size !== 'number') throw fetchFailed(`qemu-img info could not tell the format and size of ${redact(label)}`, label)
  return { format, virtualBytes: size, json: rec }
}

/** `qemu-img info --output=json` of a local file: { format, virtualBytes }. Exported for other callers. */
export async function imageInfo(file: string, signal?: AbortSignal): Promise<{ format: string; virtualBytes: number }> {
  const { format, virtualBytes } = await qemuInfo(file, signal)
  return { format, virtualBytes }
}

/**
 * A reason to refuse an image that makes qemu-img read other files: a backing file, a qcow2
 * external data file, or VMDK extents elsewhere. A user could otherwise import any file the
 * front-end can read (`backing_file=/etc/one/oned.conf`) into a volume of theirs.
 */
function externalReference(info: QemuInfo, file: string): string | undefined {
  const backing = info.json['backing-filename'] ?? info.json['full-backing-filename']
  if (typeof backing === 'string') return `a backing file (${backing})`
  const specific = info.json['format-specific'] as { type?: unknown; data?: Record<string, unknown> } | undefined
  const data = specific?.data
  if (typeof data?.['data-file'] === 'string') return `an external data file (${data['data-file']})`
  const extents = data?.['extents']
  if (Array.isArray(extents)) {
    for (const e of extents as unknown[]) {
      const name = (e as { filename?: unknown }).filename
      if (typeof name === 'string' && resolve(dirname(file), name) !== file) return `an extent in another file (${name})`
    }
  }
  return undefined
}

// ---------------------------------------------------------------------------------------------
// Headers, compression and sparse files

type Compression = 'gzip' | 'bzip2' | 'xz'

const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])
const BZ_BLOCK = Buffer.from([0x31, 0x41, 0x59, 0x26, 0x53, 0x59])
const BZ_END = Buffer.from([0x17, 0x72, 0x45, 0x38, 0x50, 0x90])

/** Compression by magic bytes, as downloader.sh decides (not by file name). */
function compressionOf(head: Buffer): Compression | undefined {
  if (head.length >= 3 && head[0] === 0x1f && head[1] === 0x8b && head[2] === 8) return 'gzip'
  if (head.length >= 6 && head.subarray(0, 6).equals(XZ_MAGIC)) return 'xz'
  if (head.length >= 10 && head.toString('latin1', 0, 3) === 'BZh' && (head[3] ?? 0) >= 0x31 && (head[3] ?? 0) <= 0x39) {
    const marker = head.subarray(4, 10)
    if (marker.equals(BZ_BLOCK) || marker.equals(BZ_END)) return 'bzip2'
  }
  return undefined
}

/**
 * The virtual size written in an image header, for the formats whose header says it in the first
 * bytes: qcow2 (big-endian u64 at 24), VMDK sparse extents (sectors, little-endian u64 at 12), VDI
 * (little-endian u64 at 0x170) and dynamic VHD (the footer copy at 0, big-endian u64 at 48). VHDX
 * keeps it in a metadata region further in: such images count by their byte size.
 */
function headerVirtualSize(head: Buffer): number | undefined {
  if (head.length >= 32 && head.readUInt32BE(0) === 0x514649fb) return Number(head.readBigUInt64BE(24))
  if (head.length >= 20 && head.toString('latin1', 0, 4) === 'KDMV') return Number(head.readBigUInt64LE(12)) * 512
  if (head.length >= 0x178 && head.readUInt32LE(0x40) === 0xbeda107f) return Number(head.readBigUInt64LE(0x170))
  if (head.length >= 56 && head.toString('latin1', 0, 8) === 'conectix') return Number(head.readBigUInt64BE(48))
  return undefined
}

function toBuffer(chunk: Buffer | Uint8Array | string): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk
  if (typeof chunk === 'string') return Buffer.from(chunk)
  return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
}

/** Up to `max` bytes from the start of a stream; the rest is not read (the stream is closed). */
async function readUpTo(source: AsyncIterable<Buffer | Uint8Array>, max: number): Promise<Buffer> {
  const parts: Buffer[] = []
  let size = 0
  for await (const chunk of source) {
    const b = toBuffer(chunk)
    parts.push(b)
    size += b.length
    if (size >= max) break
  }
  return Buffer.concat(parts).subarray(0, max)
}

/**
 * The first HEAD_BYTES of the decompressed content; truncated input (a 64 KiB range of a URL) is
 * fine: whatever decodes before the cut counts.
 */
async function decodedHead(kind: Compression, source: AsyncIterable<Buffer>, path: string, signal: AbortSignal): Promise<Buffer> {
  if (kind === 'gzip') {
    const gunzip = createGunzip()
    const feeding = pipeline(source, gunzip).catch(() => undefined)
    const parts: Buffer[] = []
    let size = 0
    try {
      for await (const chunk of gunzip) {
        parts.push(chunk as Buffer)
        size += (chunk as Buffer).length
        if (size >= HEAD_BYTES) break
      }
    } catch {
      // truncated or corrupt: keep what decoded
    }
    gunzip.destroy()
    await feeding
    return Buffer.concat(parts).subarray(0, HEAD_BYTES)
  }
  const { child, done } = startChild(kind, ['-dc'], `${kind} -dc`, path, INFO_TIMEOUT_MS, signal)
  done.catch(() => undefined) // a cut-off input makes it fail; the bytes before it count
  const feeding = pipeline(Readable.from(source), child.stdin).catch(() => undefined)
  const head = await readUpTo(child.stdout, HEAD_BYTES)
  child.kill('SIGKILL')
  await Promise.all([feeding, done.catch(() => undefined)])
  // bzip2 decodes nothing before a whole block (up to 900 kB) is in: an empty head is no error here.
  return head
}

async function writeAll(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let off = 0
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off, position + off)
    off += bytesWritten
  }
}

function isZero(buf: Buffer, at: number): boolean {
  const end = Math.min(at + BLOCK, buf.length)
  return buf.subarray(at, end).equals(end - at === BLOCK ? ZERO_BLOCK : ZERO_BLOCK.subarray(0, end - at))
}

/** Writes `buf` at `at`, leaving 4 KiB blocks of zeros as holes and joining the rest into few writes. */
async function placeBlocks(fh: FileHandle, buf: Buffer, at: number): Promise<void> {
  let i = 0
  while (i < buf.length) {
    while (i < buf.length && isZero(buf, i)) i += BLOCK
    let j = i
    while (j < buf.length && !isZero(buf, j)) j += BLOCK
    if (j > i) await writeAll(fh, buf.subarray(i, Math.min(j, buf.length)), at + i)
    i = j
  }
}

/**
 * A stream into a new sparse file: the raw image ends up with holes where the source had zeros, as
 * `qemu-img convert -S 4k` would leave them, without a second pass. Returns the length written.
 */
async function writeSparse(source: AsyncIterable<Buffer | Uint8Array>, file: string, stagingDir: string): Promise<number> {
  let fh: FileHandle
  try {
    fh = await open(file, 'wx', 0o600)
  } catch (e) {
    throw stagingError(e, stagingDir, file)
  }
  let pos = 0
  let carry: Buffer | undefined
  try {
    for await (const chunk of source) {
      let buf = toBuffer(chunk)
      if (carry !== undefined) {
        buf = Buffer.concat([carry, buf])
        carry = undefined
      }
      const whole = buf.length - (buf.length % BLOCK)
      await placeBlocks(fh, buf.subarray(0, whole), pos)
      pos += whole
      if (whole < buf.length) carry = Buffer.from(buf.subarray(whole))
    }
    if (carry !== undefined) {
      await placeBlocks(fh, carry, pos)
      pos += carry.length
    }
    await fh.truncate(pos)
  } catch (e) {
    throw isPluginError(e) ? e : stagingError(e, stagingDir, file)
  } finally {
    await fh.close()
  }
  return pos
}

function stagingError(e: unknown, stagingDir: string, file: string): unknown {
  const code = (e as NodeJS.ErrnoException).code
  if (code === undefined) return e
  const why = code === 'ENOSPC' ? 'is full' : code === 'EACCES' || code === 'EPERM' ? 'is not writable' : `cannot be written (${code})`
  return new PluginError('IMAGE_FETCH_FAILED', `STAGING_DIR ${stagingDir} ${why}: free space or set STAGING_DIR of the datastore to a larger directory`, {
    context: { stagingDir, file },
    cause: e,
  })
}

/** Calls onProgress at most once per 5% or per second, and once more for the final count. */
function progress(cb: OpenImageOptions['onProgress'], phase: ImportPhase, total: number | undefined): (done: number, final?: boolean) => void {
  if (cb === undefined) return () => undefined
  let lastAt = 0
  let lastStep = -1
  let lastDone = -1
  return (done, final = false) => {
    const now = Date.now()
    const step = total !== undefined && total > 0 ? Math.floor((done * 20) / total) : -1
    if (done === lastDone || (!final && step <= lastStep && now - lastAt < 1000)) return
    lastAt = now
    lastStep = Math.max(step, lastStep)
    lastDone = done
    try {
      cb(done, total, phase)
    } catch {
      // progress is cosmetic: a failing reporter must not fail the import
    }
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP

interface HttpTarget {
  url: string
  headers: Record<string, string>
  label: string
}

/** fetch refuses URLs with credentials: move user:password into a Basic Authorization header. */
function httpTarget(location: string): HttpTarget {
  const url = new URL(location)
  const headers: Record<string, string> = {}
  if (url.username !== '' || url.password !== '') {
    const user = decodeURIComponent(url.username)
    const pass = decodeURIComponent(url.password)
    headers['authorization'] = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`
    url.username = ''
    url.password = ''
  }
  return { url: url.href, headers, label: url.href }
}

async function httpGet(target: HttpTarget, signal: AbortSignal, range?: string): Promise<Response> {
  let res: Response
  try {
    // The bytes as stored, for the checksums and for offsets (fetch adds identity itself with Range).
    const headers = range === undefined ? { ...target.headers, 'accept-encoding': 'identity' } : { ...target.headers, range }
    res = await fetch(target.url, { headers, redirect: 'follow', signal })
  } catch (e) {
    if (signal.aborted) throw e
    throw fetchFailed(`cannot download ${target.label}: ${describe(e)}`, target.label, e)
  }
  const ok = (res.status >= 200 && res.status < 300) || (range !== undefined && res.status === 416)
  if (!ok) {
    await res.body?.cancel().catch(() => undefined)
    throw new PluginError('IMAGE_FETCH_FAILED', `HTTP ${res.status}${res.statusText === '' ? '' : ` ${res.statusText}`} from ${target.label}`, {
      context: { path: target.label, status: res.status },
    })
  }
  return res
}

/** The body's bytes only when Content-Length counts them (no content coding undici undoes). */
function contentLength(res: Response): number | undefined {
  const coding = res.headers.get('content-encoding')
  if (coding !== null && coding.toLowerCase() !== 'identity') return undefined
  const n = Number(res.headers.get('content-length') ?? NaN)
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined
}

/** The whole resource's size from `Content-Range: bytes a-b/N` (or `bytes *\/N` of a 416). */
function rangeTotal(res: Response): number | undefined {
  const m = /^bytes\s+(?:\d+-\d+|\*)\/(\d+)\s*$/i.exec(res.headers.get('content-range') ?? '')
  return m === null ? undefined : Number(m[1])
}

async function readBody(res: Response, max: number): Promise<Buffer> {
  if (res.body === null) return Buffer.alloc(0)
  const reader = (res.body as WebReadableStream<Uint8Array>).getReader()
  const parts: Buffer[] = []
  let size = 0
  try {
    while (size < max) {
      const { done, value } = await reader.read()
      if (done) break
      const b = toBuffer(value)
      parts.push(b)
      size += b.length
    }
  } finally {
    // A server that ignored Range sends the whole image: stop it here.
    await reader.cancel().catch(() => undefined)
  }
  return Buffer.concat(parts).subarray(0, max)
}

/** The first `HEAD_BYTES` of a URL and the size of the whole resource, when the server says it. */
async function httpHead(target: HttpTarget, signal: AbortSignal): Promise<{ head: Buffer; total: number | undefined; ranges: boolean }> {
  const res = await httpGet(target, signal, `bytes=0-${HEAD_BYTES - 1}`)
  if (res.status === 416) {
    await res.body?.cancel().catch(() => undefined)
    return { head: Buffer.alloc(0), total: rangeTotal(res) ?? 0, ranges: true }
  }
  const ranges = res.status === 206
  const total = ranges ? rangeTotal(res) : contentLength(res)
  return { head: await readBody(res, HEAD_BYTES), total, ranges }
}

/**
 * The uncompressed size of a gzip file of `total` bytes from its trailer (ISIZE, the size mod
 * 2^32), fetched with a suffix range. ISIZE is taken up to the first value not below the
 * compressed size, since deflate never shrinks data by more than its few bytes of framing: exact
 * below 4 GiB, and too small by a multiple of 4 GiB for an image that compresses by more than
 * 4 GiB (a multi-member file only reports its last member).
 */
async function gzipTrailerSize(target: HttpTarget, total: number, signal: AbortSignal): Promise<number | undefined> {
  const res = await httpGet(target, signal, 'bytes=-8')
  if (res.status !== 206) {
    await res.body?.cancel().catch(() => undefined)
    return undefined
  }
  const tail = await readBody(res, 8)
  if (tail.length !== 8) return undefined
  const isize = tail.readUInt32LE(4)
  const floor = total - 64 - Math.ceil(total / 16384) * 5
  const wraps = isize >= floor ? 0 : Math.ceil((floor - isize) / 2 ** 32)
  return isize + wraps * 2 ** 32
}

// ---------------------------------------------------------------------------------------------
// stat

async function countBytes(source: AsyncIterable<Buffer | Uint8Array>): Promise<number> {
  let n = 0
  for await (const chunk of source) n += chunk.length
  return n
}

/** The exact decompressed length: xz keeps it in its index; gzip and bzip2 must be decoded. */
async function decompressedSize(kind: Compression, file: string, signal: AbortSignal): Promise<number> {
  if (kind === 'xz') {
    const out = await runChild('xz', ['--robot', '--list', file], 'xz --list', file, INFO_TIMEOUT_MS, signal)
    const totals = out.split('\n').find((l) => l.startsWith('totals\t'))?.split('\t')
    const n = Number(totals?.[4])
    if (Number.isSafeInteger(n)) return n
  }
  if (kind === 'gzip') {
    const gunzip = createGunzip({ chunkSize: MiB })
    const [, n] = await Promise.all([pipeline(createReadStream(file, { highWaterMark: MiB, signal }), gunzip, { signal }), countBytes(gunzip)])
    return n
  }
  const { child, done } = startChild(kind, ['-dc', file], `${kind} -dc`, file, STAT_TIMEOUT_MS, signal)
  child.stdin.end()
  const [n] = await Promise.all([countBytes(child.stdout), done])
  return n
}

async function statLocal(file: string, noDecompress: boolean, signal: AbortSignal): Promise<number> {
  const fh = await open(file, 'r')
  let head: Buffer
  try {
    const buf = Buffer.alloc(HEAD_BYTES)
    const { bytesRead } = await fh.read(buf, 0, HEAD_BYTES, 0)
    head = buf.subarray(0, bytesRead)
  } finally {
    await fh.close()
  }
  const kind = noDecompress ? undefined : compressionOf(head)
  if (kind === undefined) return (await qemuInfo(file, signal)).virtualBytes
  const inner = await decodedHead(kind, createReadStream(file, { highWaterMark: HEAD_BYTES, signal }), file, signal)
  return headerVirtualSize(inner) ?? (await decompressedSize(kind, file, signal))
}

async function statHttp(location: string, noDecompress: boolean, signal: AbortSignal): Promise<number> {
  const target = httpTarget(location)
  const { head, total, ranges } = await httpHead(target, signal)
  const kind = noDecompress ? undefined : compressionOf(head)
  if (kind === undefined) {
    const size = headerVirtualSize(head) ?? total
    if (size === undefined) throw fetchFailed(`cannot tell the size of ${target.label}: the server sent neither Content-Range nor Content-Length`, target.label)
    return size
  }
  const inner = await decodedHead(kind, Readable.from([head]), target.label, signal)
  const fromHeader = headerVirtualSize(inner)
  if (fromHeader !== undefined) return fromHeader
  if (total === undefined) throw fetchFailed(`cannot tell the size of ${target.label}: the server sent neither Content-Range nor Content-Length`, target.label)
  if (kind === 'gzip' && ranges) {
    const size = await gzipTrailerSize(target, total, signal)
    if (size !== undefined) return size
  }
  // bzip2/xz (or gzip from a server without ranges) do not say their decoded size up front: the
  // compressed size is a lower bound, which is what OpenNebula's own fs_size reports for URLs.
  return total
}

/**
 * Virtual size in MiB (rounded up), like OpenNebula's fs_size, read from headers so that
 * `oneimage create` does not wait for a download: local files via `qemu-img info`; URLs via a
 * 64 KiB range (a server ignoring Range is cut off after 64 KiB) whose header gives the virtual
 * size of qcow2, VMDK, VDI and VHD images, else the Content-Range/Content-Length total.
 * Compressed sources: an image header inside counts first; else local gzip and bzip2 are decoded
 * and counted (exact, at decompression speed), xz reads its index; a gzip URL reads its trailer
 * (exact below 4 GiB, see gzipTrailerSize); bzip2/xz URLs report the compressed size, a lower
 * bound. cp reads the real image, so size volumes by OpenedImage.virtualBytes, not by this.
 */
export async function statImage(path: string, policy: SourcePolicy, options: StatOptions = {}): Promise<number> {
  const source = await checkSource(path, policy)
  const scope = new Scope(options.signal, options.timeoutMs ?? STAT_TIMEOUT_MS)
  const noDecompress = options.noDecompress === true
  try {
    scope.check(`reading the size of ${redact(path)}`, path)
    const bytes = source.kind === 'file' ? await statLocal(source.location, noDecompress, scope.signal) : await statHttp(source.location, noDecompress, scope.signal)
    return Math.ceil(bytes / MiB)
  } catch (e) {
    throw scope.fail(e, `reading the size of ${redact(path)}`, path)
  } finally {
    scope.dispose()
  }
}

// ---------------------------------------------------------------------------------------------
// cp: opening an image for import

const HEX = { md5: /^[0-9a-f]{32}$/, sha1: /^[0-9a-f]{40}$/ } as const

interface Checksum {
  name: 'md5' | 'sha1'
  want: string
  hash: Hash
}

function wantedChecksums(options: OpenImageOptions, path: string): Checksum[] {
  const out: Checksum[] = []
  for (const name of ['md5', 'sha1'] as const) {
    const want = options[name]?.trim().toLowerCase()
    if (want === undefined || want === '') continue
    if (!HEX[name].test(want)) {
      throw new PluginError('IMAGE_CHECKSUM_MISMATCH', `${name.toUpperCase()} "${oneLine(options[name] ?? '')}" of image ${redact(path)} is not a hex ${name.toUpperCase()} checksum`, {
        context: { path: redact(path) },
      })
    }
    out.push({ name, want, hash: createHash(name) })
  }
  return out
}

/** Throws IMAGE_CHECKSUM_MISMATCH for the first checksum the hashed bytes do not have. */
function verify(sums: readonly Checksum[], label: string): void {
  for (const s of sums) {
    const got = s.hash.digest('hex')
    if (got !== s.want) {
      throw new PluginError('IMAGE_CHECKSUM_MISMATCH', `${s.name.toUpperCase()} of ${label} is ${got}, the image template says ${s.want}: nothing was imported`, {
        context: { path: label, algorithm: s.name, expected: s.want, actual: got },
      })
    }
  }
}

/**
 * The first error of a pipeline: stream.pipeline reports the AbortError it destroys the other
 * stages with rather than a sink's ENOSPC, so stages note their own failure here.
 */
interface FirstError {
  error?: unknown
}

/** Counts and hashes the bytes as they arrive; read errors become one IMAGE_FETCH_FAILED naming the source. */
async function* measured(
  source: AsyncIterable<Buffer | Uint8Array>,
  hashes: readonly Hash[],
  report: (n: number, final?: boolean) => void,
  label: string,
  signal: AbortSignal,
  seen: FirstError,
): AsyncGenerator<Buffer> {
  let n = 0
  try {
    for await (const chunk of source) {
      const b = toBuffer(chunk)
      for (const h of hashes) h.update(b)
      n += b.length
      report(n)
      yield b
    }
  } catch (e) {
    if (signal.aborted || isPluginError(e)) throw e
    const err = fetchFailed(`reading ${label} failed after ${n} bytes: ${describe(e)}`, label, e)
    EXPLAINING.add(err)
    seen.error ??= err
    throw err
  }
  report(n, true)
}

/** The first chunks of a stream, at least `min` bytes when it has them, and the whole stream again. */
async function peek(source: AsyncIterable<Buffer>, min: number): Promise<{ head: Buffer; all: AsyncIterable<Buffer> }> {
  const it = source[Symbol.asyncIterator]()
  const first: Buffer[] = []
  let size = 0
  let ended = false
  while (size < min) {
    const r = await it.next()
    if (r.done === true) {
      ended = true
      break
    }
    first.push(r.value)
    size += r.value.length
  }
  async function* all(): AsyncGenerator<Buffer> {
    try {
      yield* first
      while (!ended) {
        const r = await it.next()
        if (r.done === true) return
        yield r.value
      }
    } finally {
      if (!ended) await it.return?.()
    }
  }
  return { head: Buffer.concat(first), all: all() }
}

/** Pipes `input` through `bzip2 -dc`/`xz -dc` into the sparse writer; the most telling error wins. */
async function decodeWithTool(kind: 'bzip2' | 'xz', input: AsyncIterable<Buffer>, file: string, stagingDir: string, label: string, signal: AbortSignal): Promise<void> {
  const { child, done } = startChild(kind, ['-dc'], `decompressing ${label} (${kind})`, label, DECODE_TIMEOUT_MS, signal)
  // Either side failing stops the decoder, and drops its unread output so that it can close.
  const halt = (e: unknown): never => {
    child.kill('SIGKILL')
    child.stdout.destroy()
    throw e
  }
  const [fed, written, exited] = await Promise.allSettled([
    pipeline(Readable.from(input), child.stdin).catch(halt),
    writeSparse(child.stdout, file, stagingDir).catch(halt),
    done,
  ])
  // A missing tool or a broken-off download explains the rest (a decoder that saw a cut-off
  // stream, an EPIPE); a failed write explains the decoder we killed for it.
  const reasons = [exited, fed, written].filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown)
  const first = reasons.find((e) => typeof e === 'object' && e !== null && EXPLAINING.has(e)) ?? (written.status === 'rejected' ? (written.reason as unknown) : undefined) ?? reasons[0]
  if (first !== undefined) throw first instanceof Error ? first : new Error(describe(first))
}

/**
 * Writes `body` (a download, or an open file's bytes) into a new sparse file in STAGING_DIR,
 * decompressing gzip/bzip2/xz by magic bytes unless noDecompress; `sums` are fed the bytes as
 * read (before decompression) and checked at the end.
 */
async function stageBytes(
  body: AsyncIterable<Buffer | Uint8Array>,
  total: number | undefined,
  file: string,
  options: OpenImageOptions,
  sums: readonly Checksum[],
  phase: 'download' | 'copy',
  label: string,
  signal: AbortSignal,
): Promise<void> {
  const report = progress(options.onProgress, phase, total)
  const seen: FirstError = {}
  const bytes = measured(body, sums.map((s) => s.hash), report, label, signal, seen)
  const { head, all } = await peek(bytes, 10)
  const kind = options.noDecompress === true ? undefined : compressionOf(head)
  if (kind === 'gzip') {
    try {
      const sink = async (decoded: AsyncIterable<Buffer>): Promise<void> => {
        await writeSparse(decoded, file, options.stagingDir).catch((e: unknown) => {
          seen.error ??= e
          throw e
        })
      }
      await pipeline(all, createGunzip({ chunkSize: 256 * 1024 }), sink, { signal })
    } catch (e) {
      if (signal.aborted) throw e
      const first = seen.error ?? e
      if (isPluginError(first)) throw first
      throw fetchFailed(`decompressing ${label} (gzip) failed: ${describe(first)}`, label, first)
    }
  } else if (kind !== undefined) {
    await decodeWithTool(kind, all, file, options.stagingDir, label, signal)
  } else {
    await writeSparse(all, file, options.stagingDir)
  }
  verify(sums, label)
}

/** Formats that are already the bytes of the disk. qemu-img says raw for ISOs; OpenNebula may call them iso. */
const RAW_FORMATS = new Set(['raw', 'iso'])
/**
 * The formats qemu-img may open from an image file here (as the format driver over the file):
 * every disk image format qemu-img info reports for a plain file. Anything else (luks, which would
 * want a key, or a protocol driver) is refused.
 */
const IMAGE_FORMATS = new Set(['raw', 'qcow2', 'qcow', 'qed', 'vmdk', 'vdi', 'vhdx', 'vpc', 'parallels', 'dmg', 'cloop', 'bochs'])
/** Where qemu-img finds the image we opened: its fd 3, which startChild gives it. */
const PINNED_PATH = '/proc/self/fd/3'

/**
 * Whether the bytes of an open file can change only by this user or root: a regular file (or
 * block device) owned by one of them and writable by neither group nor others (with POSIX ACLs
 * the group bits are the mask, so a named user with write access shows there too). Such a file,
 * held open, is as good as a private copy: nobody who could not already read everything this
 * user reads can swap its contents between the check and the conversion.
 */
function pinned(st: { uid: number; mode: number }, euid: number): boolean {
  return (st.uid === euid || st.uid === 0) && (st.mode & 0o022) === 0
}

/**
 * The file an fd of ours refers to, by /proc (a path swapped for a symlink between the check and
 * the open would lead elsewhere). undefined when /proc cannot tell.
 */
async function openedPath(fd: number): Promise<string | undefined> {
  try {
    return await readlink(`/proc/self/fd/${fd}`)
  } catch {
    return undefined
  }
}

async function checkStagingDir(stagingDir: string, label: string): Promise<void> {
  let dirInfo
  try {
    dirInfo = await stat(stagingDir)
  } catch {
    dirInfo = undefined
  }
  if (dirInfo?.isDirectory() !== true) {
    throw new PluginError('IMAGE_FETCH_FAILED', `STAGING_DIR ${stagingDir} does not exist or is not a directory on the front-end: create it or set STAGING_DIR of the datastore`, {
      context: { stagingDir, path: label },
    })
  }
}

/** Hashes an open file's first `length` bytes (a read of its own, from the page cache as a rule). */
async function hashOpenFile(fh: FileHandle, length: number, sums: readonly Checksum[], signal: AbortSignal): Promise<void> {
  const buf = Buffer.allocUnsafe(4 * MiB)
  let pos = 0
  while (pos < length) {
    if (signal.aborted) throw new Error('aborted')
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, length - pos), pos)
    if (bytesRead === 0) break
    for (const s of sums) s.hash.update(buf.subarray(0, bytesRead))
    pos += bytesRead
  }
}

export type ImportPhase = 'download' | 'copy' | 'convert'

export interface OpenImageOptions {
  /** Where a download, a decompressed image or a private copy is kept while importing. */
  stagingDir: string
  /** IMAGE/TEMPLATE/MD5 and SHA1: hex checksums of the bytes as fetched (before decompression), as downloader.sh checks them. */
  md5?: string
  sha1?: string
  /** DATASTORE/TEMPLATE/NO_DECOMPRESS = yes: keep gzip/bzip2/xz as is. */
  noDecompress?: boolean
  signal?: AbortSignal
  /**
   * Progress: bytes so far and the total when known. 'download' and 'copy' count the source's
   * bytes into STAGING_DIR, 'convert' the image's raw bytes written. At most ~once per 5% or per second.
   */
  onProgress?: (done: number, total: number | undefined, phase: ImportPhase) => void
}

/**
 * How the image's bytes were held for the import: 'none' (the source file itself, held open: only
 * this user or root can change it, see `pinned`), 'download' (an http(s) source), 'decompress'
 * (a compressed source), 'copy' (a local file someone else could change while it is read).
 */
export type StagedAs = 'none' | 'download' | 'decompress' | 'copy'

export interface OpenedImage {
  /** The format qemu-img found in the source (raw, qcow2, vmdk, vdi, vhdx, ...): what the image was. */
  sourceFormat: string
  /** The disk's size in bytes (the virtual size). */
  virtualBytes: number
  staged: StagedAs
  /**
   * Writes the image as raw bytes onto a device of this host (or a file at least virtualBytes
   * long) in one pass: `qemu-img convert -n` of the held file with the format given and backing
   * files off. Checksums not checked yet are computed on a read of the same held file alongside.
   */
  writeTo(device: string): Promise<void>
  /**
   * Streams the image's raw bytes (exactly virtualBytes) into `sink`, e.g. the stdin of dd on
   * another host: a raw image straight from the held file, any other format through qemu-img
   * writing to a private NBD export (nbd.ts) that turns its writes into the stream.
   */
  streamTo(sink: (input: Readable) => Promise<unknown>): Promise<void>
  /** Closes the file and removes every staging file; safe to call twice. */
  close(): Promise<void>
}

/** qemu-img's name of the held file, opened with the format given and backing files off. */
function heldSource(format: string): string {
  return `json:${JSON.stringify({ driver: format, backing: null, file: { driver: 'file', filename: PINNED_PATH } })}`
}

/** Progress lines of `qemu-img convert -p`: "    (12.34/100%)". */
const PERCENT = /\((\d+(?:\.\d+)?)\/100%\)/g

/**
 * Opens IMAGE/PATH for import without copying it when it can: an http(s) URL is downloaded into
 * STAGING_DIR (redirects followed, non-2xx an error) and a compressed source (gzip by zlib,
 * bzip2 and xz by their CLIs, by magic bytes unless noDecompress) decompressed there, with the
 * md5/sha1 checked on the bytes as they arrive; a local file allowed by checkSource is held open
 * and used in place when only this user or root can change it (`pinned`), and copied into
 * STAGING_DIR first (checksums on the way) otherwise, unless it is raw. `qemu-img info` of the
 * held file then decides the format; images that would make qemu-img read other files (backing
 * files, external data files, VMDK extents) are refused.
 *
 * Why a held file needs no copy: what qemu-img reads later is the very inode checked here (through
 * /proc/self/fd, never the path again), nobody else can change its bytes, and the conversion gives
 * qemu-img the format and turns backing files off. Turning backing files off alone would not do:
 * a qcow2 can also name an external data file, which qemu-img opens whatever it is told, so a file
 * others can write (a swap between check and use) is copied, as are downloads and decompressions,
 * and a raw image is never given to qemu-img as anything but raw.
 */
export async function openImage(path: string, policy: SourcePolicy, options: OpenImageOptions): Promise<OpenedImage> {
  const label = redact(path.trim())
  const source = await checkSource(path, policy)
  const scope = new Scope(options.signal)
  const files: string[] = []
  let fh: FileHandle | undefined
  const closeAll = async (): Promise<void> => {
    const h = fh
    fh = undefined
    await h?.close().catch(() => undefined)
    await Promise.all(files.map((f) => rm(f, { force: true })))
  }
  const stagingFile = async (suffix: string): Promise<string> => {
    await checkStagingDir(options.stagingDir, label)
    const f = join(options.stagingDir, `linstor-virt-${randomBytes(8).toString('hex')}.${suffix}`)
    files.push(f)
    return f
  }
  try {
    let staged: StagedAs = 'none'
    /** Checksums still to compute: those of a file used in place, on its bytes as imported. */
    let pending: Checksum[] = []
    let mayChange = false
    if (source.kind === 'http') {
      const sums = wantedChecksums(options, label)
      const file = await stagingFile('download')
      const target = httpTarget(source.location)
      const res = await httpGet(target, scope.signal)
      const body = res.body === null ? Readable.from([]) : (Readable.fromWeb(res.body as WebReadableStream<Uint8Array>, { highWaterMark: MiB }) as AsyncIterable<Buffer>)
      await stageBytes(body, contentLength(res), file, options, sums, 'download', label, scope.signal)
      fh = await open(file, 'r')
      staged = 'download'
    } else {
      const sums = wantedChecksums(options, label)
      let src: FileHandle
      try {
        src = await open(source.location, constants.O_RDONLY | constants.O_NOFOLLOW)
      } catch (e) {
        throw fetchFailed(`image file ${label} cannot be read (${(e as NodeJS.ErrnoException).code ?? describe(e)}) on the front-end`, label, e)
      }
      fh = src
      const where = await openedPath(src.fd)
      if (where !== undefined && where !== source.location) throw fetchFailed(`image file ${label} changed while it was being opened: try again`, label)
      const st = await src.stat()
      if (!st.isFile() && !st.isBlockDevice()) throw fetchFailed(`image path ${label} is not a regular file`, label)
      const head = Buffer.alloc(HEAD_BYTES)
      const { bytesRead } = await src.read(head, 0, HEAD_BYTES, 0)
      const kind = options.noDecompress === true ? undefined : compressionOf(head.subarray(0, bytesRead))
      if (kind !== undefined) {
        const file = await stagingFile('raw')
        const body = src.createReadStream({ start: 0, highWaterMark: MiB, autoClose: false, signal: scope.signal }) as AsyncIterable<Buffer>
        await stageBytes(body, st.size > 0 ? st.size : undefined, file, options, sums, 'download', label, scope.signal)
        await src.close()
        fh = await open(file, 'r')
        staged = 'decompress'
      } else {
        pending = sums
        mayChange = !pinned(st, process.geteuid?.() ?? -1)
      }
    }
    scope.check(`importing ${label}`, path)
    if ((await fh.stat()).size === 0) throw fetchFailed(`image ${label} is empty (0 bytes)`, label)
    let info = await qemuInfo(PINNED_PATH, scope.signal, label, fh.fd)
    if (mayChange && !RAW_FORMATS.has(info.format)) {
      // Others can write this file: the bytes qemu-img reads must be ones they can no longer change.
      const file = await stagingFile('copy')
      const size = (await fh.stat()).size
      const body = fh.createReadStream({ start: 0, highWaterMark: MiB, autoClose: false, signal: scope.signal }) as AsyncIterable<Buffer>
      await stageBytes(body, size > 0 ? size : undefined, file, { ...options, noDecompress: true }, pending, 'copy', label, scope.signal)
      await fh.close()
      fh = await open(file, 'r')
      staged = 'copy'
      pending = []
      info = await qemuInfo(PINNED_PATH, scope.signal, label, fh.fd)
    }
    const external = externalReference(info, PINNED_PATH)
    if (external !== undefined) {
      throw fetchFailed(`image ${label} (${info.format}) refers to ${external}, which the LINSTOR datastore does not follow: flatten it into a standalone image first (qemu-img convert -O qcow2)`, label)
    }
    const format = RAW_FORMATS.has(info.format) ? 'raw' : info.format
    if (!IMAGE_FORMATS.has(format)) throw fetchFailed(`image ${label} is ${info.format}, which the LINSTOR datastore does not import: convert it to raw or qcow2 first`, label)
    const held = fh
    const heldStat = await held.stat()
    const sourceBytes = heldStat.size
    // qemu rounds a raw file's size up to whole sectors; the image is the file's bytes.
    const virtualBytes = format === 'raw' && heldStat.isFile() ? sourceBytes : info.virtualBytes
    /** Checksums of a file used in place: computed anew on each import's read of it. */
    const wanted = pending.map((c) => ({ name: c.name, want: c.want }))
    scope.dispose()

    /** Runs the write with the call's signal, the pending checksums alongside; the import's error on failure. */
    const importing = async (what: string, write: (signal: AbortSignal) => Promise<void>): Promise<void> => {
      const s = new Scope(options.signal)
      const sums: Checksum[] = wanted.map((c) => ({ ...c, hash: createHash(c.name) }))
      try {
        if (sums.length === 0) {
          await write(s.signal)
        } else {
          // Hashing reads the held file once more (from the page cache as a rule) while the
          // conversion runs: a mismatch fails the import, whose volume the caller then removes.
          const ctl = new AbortController()
          const stop = (): void => ctl.abort()
          s.signal.addEventListener('abort', stop, { once: true })
          const [w, h] = await Promise.allSettled([write(s.signal).catch((e: unknown) => {
            ctl.abort()
            throw e
          }), hashOpenFile(held, sourceBytes, sums, ctl.signal)])
          s.signal.removeEventListener('abort', stop)
          if (w.status === 'rejected') throw w.reason
          if (h.status === 'rejected') throw h.reason
          verify(sums, label)
        }
      } catch (e) {
        throw s.fail(e, `${what} ${label}`, path)
      } finally {
        s.dispose()
      }
    }

    const onConvertOutput = (report: (done: number) => void) => (text: string): void => {
      const last = [...text.matchAll(PERCENT)].pop()
      if (last !== undefined) report(Math.round((Number(last[1]) / 100) * virtualBytes))
    }

    return {
      sourceFormat: info.format,
      virtualBytes,
      staged,
      writeTo: (device) =>
        importing('importing', async (signal) => {
          const report = progress(options.onProgress, 'convert', virtualBytes)
          let block = false
          try {
            block = (await stat(device)).isBlockDevice()
          } catch {
            // qemu-img says what is wrong with it
          }
          // O_DIRECT onto a block device: no second copy in the page cache of a host that is
          // itself a hypervisor. Files (the emulator's devices) may live where O_DIRECT is refused.
          const cache = block ? ['-t', 'none'] : []
          // -W: writes in any order, several at once (a new volume has nothing to keep in order).
          await runChild(QEMU_IMG, ['convert', '-n', '-W', '-p', ...cache, '-O', 'raw', heldSource(format), device], `writing ${label} onto ${device}`, label, CONVERT_TIMEOUT_MS, signal, onConvertOutput(report), held.fd)
          report(virtualBytes, true)
        }),
      streamTo: (sink) =>
        importing('importing', async (signal) => {
          const report = progress(options.onProgress, 'convert', virtualBytes)
          if (format === 'raw') {
            let n = 0
            const counted = new Transform({
              transform(chunk: Buffer, _enc, cb) {
                n += chunk.length
                report(n)
                cb(null, chunk)
              },
            })
            const input = held.createReadStream({ start: 0, end: virtualBytes - 1, highWaterMark: 4 * MiB, autoClose: false, signal })
            input.on('error', (e) => counted.destroy(e))
            await sink(input.pipe(counted))
            if (n !== virtualBytes) throw fetchFailed(`reading ${label} ended after ${n} of ${virtualBytes} bytes`, label)
            report(n, true)
            return
          }
          await streamConverted(format, virtualBytes, held.fd, sink, label, signal, onConvertOutput(report))
          report(virtualBytes, true)
        }),
      close: closeAll,
    }
  } catch (e) {
    await closeAll()
    throw scope.fail(e, `importing ${label}`, path)
  } finally {
    scope.dispose()
  }
}

/**
 * qemu-img converting the held file (fd) as raw bytes into `sink`, through a private NBD export:
 * qemu-img writes in order (no -W), so the export passes its writes on as one stream. Whichever
 * side fails first stops the other; qemu-img's own error explains more than a broken stream.
 */
async function streamConverted(format: string, virtualBytes: number, fd: number, sink: (input: Readable) => Promise<unknown>, label: string, signal: AbortSignal, onOutput: (text: string) => void): Promise<void> {
  const ctl = new AbortController()
  const stop = (): void => ctl.abort()
  signal.addEventListener('abort', stop, { once: true })
  let exited!: (v: unknown) => void
  const childExited = new Promise((resolve) => (exited = resolve))
  const exp = await nbdStreamExport(virtualBytes, childExited)
  try {
    const converting = runChild(QEMU_IMG, ['convert', '-n', '-p', '-O', 'raw', heldSource(format), exp.uri], `converting ${label} from ${format} to raw`, label, CONVERT_TIMEOUT_MS, ctl.signal, onOutput, fd)
    converting.then(exited, exited)
    const input = Readable.from(exp.bytes, { objectMode: false, highWaterMark: 4 * MiB })
    let first: 'convert' | 'sink' | undefined
    const [c, s] = await Promise.allSettled([
      converting.catch((e: unknown) => {
        first ??= 'convert'
        input.destroy(e instanceof Error ? e : new Error(String(e)))
        throw e
      }),
      sink(input).catch((e: unknown) => {
        first ??= 'sink'
        ctl.abort()
        throw e
      }),
    ])
    if (c.status === 'rejected' && (first === 'convert' || s.status === 'fulfilled')) throw c.reason
    if (s.status === 'rejected') throw s.reason
  } finally {
    signal.removeEventListener('abort', stop)
    await exp.close()
  }
}
