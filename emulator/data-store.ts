/**
 * Volume data of the emulated satellites.
 *
 * One sparse file per volume definition holds the bytes every replica sees (DRBD keeps replicas
 * identical, so one copy is the faithful model). Each node that has a replica, diskless ones
 * included, gets hard links to it at
 *   STATE/nodes/<node>/dev/drbd/by-res/<resource>/<volume number>
 *   STATE/nodes/<node>/dev/drbd<minor>
 * so tools pointed at STATE/nodes/<node> as a device-root prefix read and write real bytes.
 * Snapshots are sparse copies under STATE/snapshots/.
 */
import fs from 'node:fs'
import path from 'node:path'
import { execaSync } from 'execa'

const CHUNK = 1024 * 1024
const ZERO = Buffer.alloc(CHUNK)

/** True when a chunk holds only zero bytes (memcmp against a zero buffer, fast). */
function isZero(chunk: Buffer): boolean {
  return chunk.equals(ZERO.subarray(0, chunk.length))
}

/**
 * Copies a whole file over `dst` (same inode when it exists) with coreutils cp, which finds the
 * data with SEEK_DATA/SEEK_HOLE: a 20 GiB volume with a few MiB written copies in milliseconds,
 * where reading every hole takes tens of seconds. False when cp is unavailable or failed.
 */
function cpSparse(src: string, dst: string): boolean {
  try {
    return execaSync('cp', ['--sparse=always', '--', src, dst], { reject: false, timeout: 600_000 }).exitCode === 0
  } catch {
    return false
  }
}

/** Copies the first `size` bytes, skipping all-zero chunks so the destination stays sparse. */
function copyNonZero(inFd: number, outFd: number, size: number): void {
  const buf = Buffer.alloc(CHUNK)
  for (let pos = 0; pos < size; pos += CHUNK) {
    const n = fs.readSync(inFd, buf, 0, Math.min(CHUNK, size - pos), pos)
    if (n === 0) break
    const chunk = buf.subarray(0, n)
    if (!isZero(chunk)) fs.writeSync(outFd, chunk, 0, n, pos)
  }
}

/** How long a thin volume's measured allocation is reused (a satellite's report interval, shortened). */
export const ALLOCATION_REPORT_MS = 1000

export class DataStore {
  readonly root: string

  constructor(stateDir: string) {
    this.root = stateDir
    fs.mkdirSync(path.join(stateDir, 'data'), { recursive: true })
    fs.mkdirSync(path.join(stateDir, 'nodes'), { recursive: true })
  }

  /** The device-root prefix of a node. */
  nodeRoot(node: string): string {
    return path.join(this.root, 'nodes', node)
  }

  dataFile(rscKey: string, vlmNr: number): string {
    return path.join(this.root, 'data', rscKey, String(vlmNr))
  }

  byResPath(node: string, rsc: string, vlmNr: number): string {
    return path.join(this.nodeRoot(node), 'dev', 'drbd', 'by-res', rsc, String(vlmNr))
  }

  minorPath(node: string, minor: number): string {
    return path.join(this.nodeRoot(node), 'dev', `drbd${minor}`)
  }

  snapshotFile(rscKey: string, snapKey: string, vlmNr: number): string {
    return path.join(this.root, 'snapshots', rscKey, snapKey, String(vlmNr))
  }

  /** Creates (or resizes) the sparse data file of a volume definition. */
  ensureVolume(rscKey: string, vlmNr: number, sizeKib: number): void {
    this.#forget(rscKey, vlmNr)
    const file = this.dataFile(rscKey, vlmNr)
    // Optimistic: the folder usually exists; creating it only on ENOENT keeps bulk seeding (tens
    // of thousands of calls) from paying a mkdir for each.
    let fd: number
    try {
      fd = fs.openSync(file, 'a')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      fs.mkdirSync(path.dirname(file), { recursive: true })
      fd = fs.openSync(file, 'a')
    }
    try {
      fs.ftruncateSync(fd, sizeKib * 1024)
    } finally {
      fs.closeSync(fd)
    }
  }

  resizeVolume(rscKey: string, vlmNr: number, sizeKib: number): void {
    this.#forget(rscKey, vlmNr)
    this.ensureVolume(rscKey, vlmNr, sizeKib)
  }

  /** Deletes a volume's data and every node's links to it. */
  removeVolume(rscKey: string, vlmNr: number): void {
    this.#forget(rscKey, vlmNr)
    fs.rmSync(this.dataFile(rscKey, vlmNr), { force: true })
  }

  removeResourceData(rscKey: string): void {
    this.#forget(rscKey)
    fs.rmSync(path.join(this.root, 'data', rscKey), { recursive: true, force: true })
    fs.rmSync(path.join(this.root, 'snapshots', rscKey), { recursive: true, force: true })
  }

  /** Links a replica's DRBD device files on a node (idempotent: an existing link is replaced). */
  linkReplica(node: string, rsc: string, rscKey: string, vlmNr: number, minor: number): void {
    this.linkPaths(node, rscKey, vlmNr, [`dev/drbd/by-res/${rsc}/${vlmNr}`, `dev/drbd${minor}`])
  }

  /**
   * Links the volume's data file at each path under the node's device root (relative paths such
   * as `dev/drbd1000`, `dev/nvme0n1`, `dev/mapper/Linstor-Crypt-r_00000`); idempotent.
   */
  linkPaths(node: string, rscKey: string, vlmNr: number, relPaths: readonly string[]): void {
    const src = this.dataFile(rscKey, vlmNr)
    if (!fs.existsSync(src)) return
    for (const rel of relPaths) {
      const dst = path.join(this.nodeRoot(node), rel)
      // Try the link first and repair only what is in the way (a missing folder, an old link):
      // one system call in the common case instead of four matters when seeding many replicas.
      try {
        fs.linkSync(src, dst)
        continue
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code
        if (code === 'ENOENT') fs.mkdirSync(path.dirname(dst), { recursive: true })
        else if (code === 'EEXIST') fs.rmSync(dst, { force: true })
        else throw err
      }
      fs.linkSync(src, dst)
    }
  }

  unlinkReplica(node: string, rsc: string, vlmNr: number, minor: number): void {
    this.unlinkPaths(node, [`dev/drbd/by-res/${rsc}/${vlmNr}`, `dev/drbd${minor}`])
  }

  /** Removes device files (relative to the node's device root) and the folders they leave empty below dev/. */
  unlinkPaths(node: string, relPaths: readonly string[]): void {
    const root = this.nodeRoot(node)
    const stop = path.join(root, 'dev')
    for (const rel of relPaths) {
      const file = path.join(root, rel)
      fs.rmSync(file, { force: true })
      let dir = path.dirname(file)
      while (dir !== stop && dir.startsWith(root + path.sep)) {
        try {
          if (fs.readdirSync(dir).length !== 0) break
          fs.rmdirSync(dir)
        } catch {
          break
        }
        dir = path.dirname(dir)
      }
    }
  }

  /** KiB actually allocated by the data file (what a thin pool would have used). */
  /**
   * KiB a thin volume has allocated (its data file's blocks). Remembered for ALLOCATION_REPORT_MS:
   * a satellite reports pool usage periodically rather than on every query, and a size query over
   * thousands of thin volumes would otherwise stat each file every time. Writes, resizes and
   * removals through this store forget the remembered value at once; bytes written to the device
   * files from outside show within ALLOCATION_REPORT_MS.
   */
  allocatedKib(rscKey: string, vlmNr: number): number {
    const key = `${rscKey}/${vlmNr}`
    const now = Date.now()
    const hit = this.#allocated.get(key)
    if (hit !== undefined && now - hit.at < ALLOCATION_REPORT_MS) return hit.kib
    const st = fs.statSync(this.dataFile(rscKey, vlmNr), { throwIfNoEntry: false })
    const kib = st === undefined ? 0 : Math.min(Math.ceil((st.blocks * 512) / 1024), Math.ceil(st.size / 1024))
    this.#allocated.set(key, { kib, at: now })
    return kib
  }

  readonly #allocated = new Map<string, { kib: number; at: number }>()

  /** Changes whenever data written through this store may have changed an allocation. */
  get generation(): number {
    return this.#generation
  }

  #generation = 0

  #forget(rscKey: string, vlmNr?: number): void {
    this.#generation++
    if (vlmNr !== undefined) {
      this.#allocated.delete(`${rscKey}/${vlmNr}`)
      return
    }
    for (const k of this.#allocated.keys()) if (k.startsWith(`${rscKey}/`)) this.#allocated.delete(k)
  }

  write(rscKey: string, vlmNr: number, offset: number, data: Buffer): void {
    this.#forget(rscKey, vlmNr)
    const fd = fs.openSync(this.dataFile(rscKey, vlmNr), 'r+')
    try {
      let done = 0
      while (done < data.length) done += fs.writeSync(fd, data, done, data.length - done, offset + done)
    } finally {
      fs.closeSync(fd)
    }
  }

  read(rscKey: string, vlmNr: number, offset: number, length: number): Buffer {
    const fd = fs.openSync(this.dataFile(rscKey, vlmNr), 'r')
    try {
      const buf = Buffer.alloc(length)
      let done = 0
      while (done < length) {
        const n = fs.readSync(fd, buf, done, length - done, offset + done)
        if (n === 0) break
        done += n
      }
      return buf.subarray(0, done)
    } finally {
      fs.closeSync(fd)
    }
  }

  /** Copies a file keeping holes: zero chunks are skipped and the size set by truncation. */
  static sparseCopy(src: string, dst: string, sizeBytes?: number): void {
    fs.mkdirSync(path.dirname(dst), { recursive: true })
    const tmp = `${dst}.tmp-${process.pid}`
    if (cpSparse(src, tmp)) {
      if (sizeBytes !== undefined) fs.truncateSync(tmp, sizeBytes)
      fs.renameSync(tmp, dst)
      return
    }
    const inFd = fs.openSync(src, 'r')
    const outFd = fs.openSync(tmp, 'w')
    try {
      const size = fs.fstatSync(inFd).size
      copyNonZero(inFd, outFd, size)
      fs.ftruncateSync(outFd, sizeBytes ?? size)
    } finally {
      fs.closeSync(inFd)
      fs.closeSync(outFd)
    }
    fs.renameSync(tmp, dst)
  }

  /**
   * Replaces the content of a volume's data file in place (same inode, so every node's hard link
   * sees the new bytes).
   */
  static sparseOverwrite(src: string, dst: string, sizeBytes: number): void {
    if (cpSparse(src, dst)) {
      fs.truncateSync(dst, sizeBytes)
      return
    }
    const inFd = fs.openSync(src, 'r')
    const outFd = fs.openSync(dst, 'r+')
    try {
      fs.ftruncateSync(outFd, 0)
      const size = Math.min(fs.fstatSync(inFd).size, sizeBytes)
      copyNonZero(inFd, outFd, size)
      fs.ftruncateSync(outFd, sizeBytes)
    } finally {
      fs.closeSync(inFd)
      fs.closeSync(outFd)
    }
  }

  snapshot(rscKey: string, snapKey: string, vlmNr: number): void {
    const src = this.dataFile(rscKey, vlmNr)
    if (fs.existsSync(src)) DataStore.sparseCopy(src, this.snapshotFile(rscKey, snapKey, vlmNr))
  }

  removeSnapshot(rscKey: string, snapKey: string): void {
    fs.rmSync(path.join(this.root, 'snapshots', rscKey, snapKey), { recursive: true, force: true })
  }

  /** Fills a volume of another (or the same) resource from a snapshot. */
  restoreInto(srcRscKey: string, snapKey: string, vlmNr: number, dstRscKey: string, dstVlmNr: number, sizeKib: number): void {
    this.#forget(dstRscKey, dstVlmNr)
    const snap = this.snapshotFile(srcRscKey, snapKey, vlmNr)
    const dst = this.dataFile(dstRscKey, dstVlmNr)
    if (!fs.existsSync(dst)) this.ensureVolume(dstRscKey, dstVlmNr, sizeKib)
    if (fs.existsSync(snap)) DataStore.sparseOverwrite(snap, dst, sizeKib * 1024)
  }

  /** Copies a live volume into another resource's volume (clone). */
  copyVolume(srcRscKey: string, vlmNr: number, dstRscKey: string, sizeKib: number): void {
    this.#forget(dstRscKey, vlmNr)
    const src = this.dataFile(srcRscKey, vlmNr)
    const dst = this.dataFile(dstRscKey, vlmNr)
    if (!fs.existsSync(dst)) this.ensureVolume(dstRscKey, vlmNr, sizeKib)
    if (fs.existsSync(src)) DataStore.sparseOverwrite(src, dst, sizeKib * 1024)
  }
}
