/**
 * The smallest NBD server qemu-img can write to, turning its writes into one byte stream: what lets
 * `qemu-img convert` put a qcow2 (or any other format) as raw bytes into a pipe, such as the stdin
 * of `ssh host dd of=<device>`, in one pass. qemu-img cannot write raw to a pipe itself (it writes
 * at offsets), and a qcow2 cannot be read from a pipe (it is read at offsets too); an NBD export
 * is a disk it can write to, and `qemu-img convert` without -W writes in order, one request at a
 * time, so the export only ever has to append.
 *
 * One export, one client, over a unix socket in a folder only this user can enter. The protocol:
 * fixed newstyle negotiation (NBD_OPT_GO / NBD_OPT_INFO / NBD_OPT_EXPORT_NAME; every other option
 * is answered "unsupported", so the client uses simple replies), then WRITE, WRITE_ZEROES, FLUSH
 * and DISC. A write behind what was already streamed, a read, or anything else is refused; a gap
 * ahead (a range qemu-img skipped) is streamed as zeros, and so is the rest up to the export's
 * size at the end. See https://github.com/NetworkBlockDevice/nbd/blob/master/doc/proto.md.
 *
 * Node built-ins only: it is loaded by the image import of a short-lived driver process.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import type { Server, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const NBDMAGIC = 0x4e42444d41474943n
const IHAVEOPT = 0x49484156454f5054n
const OPT_REPLY_MAGIC = 0x0003e889045565a9n
const REQUEST_MAGIC = 0x25609513
const SIMPLE_REPLY_MAGIC = 0x67446698

const FLAG_FIXED_NEWSTYLE = 1
const FLAG_NO_ZEROES = 2

const OPT_EXPORT_NAME = 1
const OPT_ABORT = 2
const OPT_INFO = 6
const OPT_GO = 7

const REP_ACK = 1
const REP_INFO = 3
const REP_ERR_UNSUP = 0x80000001
const REP_ERR_INVALID = 0x80000003

const INFO_EXPORT = 0

/** Transmission flags: the export takes flushes and write-zeroes, nothing else (no trim, no multi-conn). */
const TX_FLAGS = 1 /* HAS_FLAGS */ | 4 /* SEND_FLUSH */ | 64 /* SEND_WRITE_ZEROES */

const CMD_READ = 0
const CMD_WRITE = 1
const CMD_DISC = 2
const CMD_FLUSH = 3
const CMD_WRITE_ZEROES = 6

const EPERM = 1
const EINVAL = 22

/** The largest request payload taken (qemu sends at most 32 MiB). */
const MAX_PAYLOAD = 64 * 1024 * 1024
const ZEROS = Buffer.alloc(1024 * 1024)
const EMPTY = Buffer.alloc(0)

export class NbdError extends Error {}

/** Exact reads from a socket's chunks, without copying what can be passed on as it came. */
class Reader {
  readonly #it: AsyncIterator<Buffer>
  #buf: Buffer = EMPTY

  constructor(socket: Socket) {
    this.#it = (socket as AsyncIterable<Buffer>)[Symbol.asyncIterator]()
  }

  async #more(what: string): Promise<void> {
    const r = await this.#it.next()
    if (r.done === true) throw new NbdError(`the NBD client hung up during ${what}`)
    this.#buf = this.#buf.length === 0 ? r.value : Buffer.concat([this.#buf, r.value])
  }

  /** Exactly n bytes. */
  async need(n: number, what: string): Promise<Buffer> {
    while (this.#buf.length < n) await this.#more(what)
    const out = this.#buf.subarray(0, n)
    this.#buf = this.#buf.subarray(n)
    return out
  }

  /** Between 1 and max bytes: what is buffered, else the next chunk. */
  async some(max: number, what: string): Promise<Buffer> {
    if (this.#buf.length === 0) await this.#more(what)
    const out = this.#buf.subarray(0, max)
    this.#buf = this.#buf.subarray(out.length)
    return out
  }

  /** Whether the client has hung up (after a DISC nothing more comes). */
  async ended(): Promise<boolean> {
    if (this.#buf.length > 0) return false
    const r = await this.#it.next()
    if (r.done === true) return true
    this.#buf = r.value
    return false
  }

  close(): void {
    void this.#it.return?.()
  }
}

function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8)
  b.writeBigUInt64BE(n)
  return b
}

function optionReply(option: number, type: number, data: Buffer = EMPTY): Buffer {
  const head = Buffer.alloc(20)
  head.writeBigUInt64BE(OPT_REPLY_MAGIC, 0)
  head.writeUInt32BE(option, 8)
  head.writeUInt32BE(type, 12)
  head.writeUInt32BE(data.length, 16)
  return Buffer.concat([head, data])
}

function simpleReply(error: number, cookie: Buffer): Buffer {
  const b = Buffer.alloc(16)
  b.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0)
  b.writeUInt32BE(error, 4)
  cookie.copy(b, 8)
  return b
}

function write(socket: Socket, data: Buffer): void {
  if (!socket.destroyed) socket.write(data)
}

/** Negotiation up to the start of transmission; false when the client gave up (NBD_OPT_ABORT). */
async function negotiate(socket: Socket, r: Reader, size: number): Promise<boolean> {
  write(socket, Buffer.concat([u64(NBDMAGIC), u64(IHAVEOPT), Buffer.from([0, FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES])]))
  const clientFlags = (await r.need(4, 'negotiation')).readUInt32BE(0)
  if ((clientFlags & FLAG_FIXED_NEWSTYLE) === 0) throw new NbdError('the NBD client does not speak fixed newstyle')
  const noZeroes = (clientFlags & FLAG_NO_ZEROES) !== 0
  for (;;) {
    const head = await r.need(16, 'negotiation')
    if (head.readBigUInt64BE(0) !== IHAVEOPT) throw new NbdError('bad NBD option magic')
    const option = head.readUInt32BE(8)
    const length = head.readUInt32BE(12)
    if (length > 65536) throw new NbdError(`NBD option ${option} is too long (${length} bytes)`)
    const data = length > 0 ? await r.need(length, 'negotiation') : EMPTY
    if (option === OPT_EXPORT_NAME) {
      // No reply on error is possible here: the export is the only one, whatever its name.
      const info = Buffer.alloc(10)
      info.writeBigUInt64BE(BigInt(size), 0)
      info.writeUInt16BE(TX_FLAGS, 8)
      write(socket, noZeroes ? info : Buffer.concat([info, Buffer.alloc(124)]))
      return true
    }
    if (option === OPT_GO || option === OPT_INFO) {
      if (data.length < 6 || data.readUInt32BE(0) + 6 > data.length) {
        write(socket, optionReply(option, REP_ERR_INVALID))
        continue
      }
      const info = Buffer.alloc(12)
      info.writeUInt16BE(INFO_EXPORT, 0)
      info.writeBigUInt64BE(BigInt(size), 2)
      info.writeUInt16BE(TX_FLAGS, 10)
      write(socket, Buffer.concat([optionReply(option, REP_INFO, info), optionReply(option, REP_ACK)]))
      if (option === OPT_GO) return true
      continue
    }
    if (option === OPT_ABORT) {
      write(socket, optionReply(option, REP_ACK))
      return false
    }
    // Structured replies, meta contexts, extended headers, TLS, listing: not offered.
    write(socket, optionReply(option, REP_ERR_UNSUP))
  }
}

/**
 * The bytes the client writes, in order, as chunks: the payload of each write as it arrives, zeros
 * for write-zeroes and gaps, zeros up to `size` after the client's disconnect. A request the
 * stream cannot take (a read, a write behind the stream's end, past the export) is answered with
 * an error and ends the stream with an NbdError, as does a client hanging up without NBD_CMD_DISC.
 */
async function* transmission(socket: Socket, r: Reader, size: number): AsyncGenerator<Buffer> {
  let pos = 0
  function* zeros(to: number): Generator<Buffer> {
    while (pos < to) {
      const n = Math.min(ZEROS.length, to - pos)
      pos += n
      yield ZEROS.subarray(0, n)
    }
  }
  for (;;) {
    const h = await r.need(28, 'a request')
    if (h.readUInt32BE(0) !== REQUEST_MAGIC) throw new NbdError('bad NBD request magic')
    const type = h.readUInt16BE(6)
    const cookie = h.subarray(8, 16)
    const offset = Number(h.readBigUInt64BE(16))
    const length = h.readUInt32BE(24)
    if (type === CMD_DISC) {
      yield* zeros(size)
      if (!(await r.ended())) throw new NbdError('the NBD client sent more after disconnecting')
      return
    }
    if (type === CMD_FLUSH) {
      // Durability is the sink's (dd conv=fsync at the end); everything written so far has left.
      write(socket, simpleReply(0, cookie))
      continue
    }
    const refuse = (why: string, errno: number): NbdError => {
      write(socket, simpleReply(errno, cookie))
      return new NbdError(why)
    }
    if (type !== CMD_WRITE && type !== CMD_WRITE_ZEROES) {
      // A payload never follows these (READ, TRIM, CACHE, BLOCK_STATUS): refuse and stop.
      throw refuse(`NBD command ${type === CMD_READ ? 'READ' : type} is not supported by a streaming export`, EINVAL)
    }
    if (type === CMD_WRITE && length > MAX_PAYLOAD) throw refuse(`an NBD write of ${length} bytes is larger than ${MAX_PAYLOAD}`, EINVAL)
    if (offset < pos) {
      if (type === CMD_WRITE && length > 0) await r.need(length, 'a refused write')
      throw refuse(`an NBD write at ${offset} is behind the stream (at ${pos}): qemu-img must write in order`, EINVAL)
    }
    if (offset + length > size) {
      if (type === CMD_WRITE && length > 0) await r.need(length, 'a refused write')
      throw refuse(`an NBD write of ${length} bytes at ${offset} is past the end of the export (${size} bytes)`, EPERM)
    }
    yield* zeros(offset)
    if (type === CMD_WRITE_ZEROES) {
      yield* zeros(offset + length)
    } else {
      let left = length
      while (left > 0) {
        const chunk = await r.some(left, 'a write')
        left -= chunk.length
        pos += chunk.length
        yield chunk
      }
    }
    // The bytes have been taken by the consumer: the write is done as far as the client can tell.
    write(socket, simpleReply(0, cookie))
  }
}

export interface NbdStreamExport {
  /** The URI to give qemu-img as its target (`nbd+unix:///?socket=...`). */
  uri: string
  /**
   * The stream of what the client writes (exactly `size` bytes when it disconnects cleanly). It
   * waits for the client's connection first; rejects through the iterator on protocol errors.
   */
  bytes: AsyncGenerator<Buffer>
  /** Stops listening, drops the connection and removes the socket's folder; safe to call twice. */
  close(): Promise<void>
}

/**
 * Listens on a unix socket in a new private folder (0700, under the system's temporary folder) for
 * one NBD client, exporting a disk of `size` bytes whose writes come out of `bytes`. `connected`
 * is raced against the first connection, so a client that fails before connecting (qemu-img
 * refusing its source) ends the wait with its own error.
 */
export async function nbdStreamExport(size: number, connected: Promise<unknown>): Promise<NbdStreamExport> {
  // A unix socket's path has at most 107 bytes: an unusual TMPDIR falls back to /tmp.
  const base = /^[A-Za-z0-9/._-]{1,64}$/.test(tmpdir()) ? tmpdir() : '/tmp'
  const dir = await mkdtemp(join(base, 'lv-nbd-'))
  const path = join(dir, 'export.sock')
  let socket: Socket | undefined
  let server: Server | undefined
  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    socket?.destroy()
    await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())))
    await rm(dir, { recursive: true, force: true })
  }
  try {
    const first = new Promise<Socket>((resolve, reject) => {
      server = createServer({ pauseOnConnect: true }, (s) => {
        // One client: later connections are not the qemu-img this export was made for.
        if (socket !== undefined) {
          s.destroy()
          return
        }
        socket = s
        // Stop listening; the folder (and its socket) goes with close().
        server?.close()
        resolve(s)
      })
      server.on('error', reject)
      server.listen(path)
    })
    await new Promise<void>((resolve, reject) => {
      server?.once('listening', resolve)
      first.catch(reject)
    })
    const bytes = async function* (): AsyncGenerator<Buffer> {
      const s = await Promise.race([first, connected.then(() => Promise.reject(new NbdError('the NBD client ended without connecting')))])
      // Write errors (the client gone) end the reads as well; the reads report them.
      s.on('error', () => undefined)
      const r = new Reader(s)
      try {
        if (!(await negotiate(s, r, size))) throw new NbdError('the NBD client aborted the negotiation')
        yield* transmission(s, r, size)
      } finally {
        r.close()
      }
    }
    // mkdtemp's name has nothing a URI would need to escape (letters, digits, '/', '-', '.').
    return { uri: `nbd+unix:///?socket=${path}`, bytes: bytes(), close }
  } catch (e) {
    await close()
    throw e
  }
}
