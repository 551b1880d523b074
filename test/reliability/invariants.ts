/**
 * The one invariant checker of the reliability tests (fault matrix and soak): given the emulator
 * and what the platforms and the hypervisor should have left, the list of violations. It reads the
 * emulator's state in-process (never over REST), so it answers while faults are still injected.
 *
 * Invariants (issue 10, docs/lifecycle.md "Never left behind"):
 * - no diskless client nobody uses: a diskless replica that is not a tie-breaker lives only on a
 *   node where the VM runs (DRBD Primary), on an end of a migration in progress, or where the
 *   platform has activated the volume for a VM about to start (`clients`);
 * - allow-two-primaries only on the connection of a migration in progress (core's migration record
 *   names the pair), never on a definition, a resource group or the controller; a migration record
 *   only while the platform's migration is in progress;
 * - as many diskful replicas as the policy asks for (the resource group's place count);
 * - DRBD Primary exactly where the VM runs;
 * - every byte written before a fault still there (read back from a replica's device file), and
 *   where a disk says so (issue 28's crash tests) the SHA-256 of its first bytes;
 * - with `exhaustive`, no resource the platforms do not know of (a half-made clone, a leftover);
 * - with `dr` (issue 24), the disaster-recovery replica there, every connection to it through DRBD
 *   Proxy with protocol A and no other connection with either, and not counted as a replica of
 *   the policy. For stacks without a DRBD device the bytes are read from the volume's data.
 */
import { createHash } from 'node:crypto'
import { closeSync, openSync, readSync } from 'node:fs'
import type { EmulatorState, RunningEmulator } from '../../emulator/index.js'

export const ALLOW_TWO_PRIMARIES = 'DrbdOptions/Net/allow-two-primaries'
export const MIGRATION_RECORD = 'Aux/linstor-virt/migration'
const PROXY_FLAG = 'LOCAL_DRBD_PROXY'
const PROTOCOL = 'DrbdOptions/Net/protocol'

export interface WrittenBytes {
  offset: number
  bytes: Buffer
}

export interface VolumeChecksum {
  bytes: number
  sha256: string
}

export interface ExpectedResource {
  /** LINSTOR resource name (case-insensitive). */
  name: string
  /** Diskful replicas the policy asks for; default: the resource group's place count (2 when unset). */
  placeCount?: number
  /** Nodes where the VM holds the volume open (DRBD Primary). */
  running: readonly string[]
  /** A live migration the platform has begun and not yet ended. */
  migration?: { from: string; to: string }
  /** Nodes where the platform activated the volume for a VM that is about to start there. */
  clients?: readonly string[]
  /** Bytes written to volume 0 before the fault. */
  data?: readonly WrittenBytes[]
  /** SHA-256 of volume 0's first `bytes` bytes (a clone's, an import's, a revert's: what they must hold). */
  checksum?: VolumeChecksum
  /** Volume 0 at least this large (bytes). */
  minSizeBytes?: number
  /** Snapshots that must exist (LINSTOR names). */
  snapshots?: readonly string[]
  /**
   * Nodes of disaster-recovery replicas (issue 24): not counted in placeCount; every connection
   * to one goes through DRBD Proxy with protocol A, and no other connection has either.
   */
  dr?: readonly string[]
}

export interface Expected {
  resources: readonly ExpectedResource[]
  /** Names that must not exist (deleted volumes). */
  absent?: readonly string[]
  /** Every resource in LINSTOR must be one of `resources`. */
  exhaustive?: boolean
}

const key = (s: string): string => s.toLowerCase()
const isYes = (v: string | undefined): boolean => v !== undefined && ['yes', 'true'].includes(v.toLowerCase())

type Rd = EmulatorState['resourceDefinitions'][string]

function findRd(state: EmulatorState, name: string): Rd | undefined {
  return Object.values(state.resourceDefinitions).find((rd) => key(rd.name) === key(name))
}

function placeCountOf(state: EmulatorState, rd: Rd): number {
  const rg = Object.values(state.resourceGroups).find((g) => key(g.name) === key(rd.resourceGroup))
  return rg?.selectFilter.place_count ?? 2
}

/** Reads `length` bytes at `offset` of a file; undefined when it cannot be read. */
function readAt(path: string, offset: number, length: number): Buffer | undefined {
  let fd: number | undefined
  try {
    fd = openSync(path, 'r')
    const buf = Buffer.alloc(length)
    const n = readSync(fd, buf, 0, length, offset)
    return buf.subarray(0, n)
  } catch {
    return undefined
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

/** SHA-256 of the first `bytes` bytes of a file (short when the file is); undefined when it cannot be read. */
export function sha256Of(path: string, bytes: number): string | undefined {
  let fd: number | undefined
  try {
    fd = openSync(path, 'r')
    const hash = createHash('sha256')
    const buf = Buffer.alloc(Math.min(bytes, 1024 * 1024))
    let at = 0
    while (at < bytes) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, bytes - at), at)
      if (n === 0) break
      hash.update(buf.subarray(0, n))
      at += n
    }
    return hash.digest('hex')
  } catch {
    return undefined
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

/** Volume 0's bytes as the emulator keeps them (every replica's device file is a link to it): for stacks without a DRBD device. */
export function volumeDataPath(emu: RunningEmulator, rsc: string): string {
  return `${emu.stateDir}/data/${rsc.toUpperCase()}/0`
}

/** The device file of volume 0 of `rsc` as `node` sees it (the emulator's per-node folder). */
export function devicePath(emu: RunningEmulator, node: string, rsc: string): string {
  return `${emu.deviceRoot(node)}/dev/drbd/by-res/${rsc}/0`
}

/** Every violation of the invariants, as one line each ("<resource>: <what>"); empty when all hold. */
export function checkInvariants(emu: RunningEmulator, expected: Expected): string[] {
  const state = emu.state()
  const out: string[] = []
  const byName = new Map(expected.resources.map((r) => [key(r.name), r]))

  // Dual-primary above the connections is never ours to set.
  if (isYes(state.controllerProps[ALLOW_TWO_PRIMARIES])) out.push('controller: allow-two-primaries is on')
  for (const rg of Object.values(state.resourceGroups)) {
    if (rg.props[ALLOW_TWO_PRIMARIES] !== undefined) out.push(`resource group ${rg.name}: allow-two-primaries is set`)
  }

  for (const name of expected.absent ?? []) {
    if (findRd(state, name) !== undefined) out.push(`${name}: still exists, should be deleted`)
  }

  for (const rd of Object.values(state.resourceDefinitions)) {
    const exp = byName.get(key(rd.name))
    if (exp === undefined) {
      if (expected.exhaustive === true && !(expected.absent ?? []).some((a) => key(a) === key(rd.name))) out.push(`${rd.name}: exists, but no platform knows of it`)
      continue
    }
    const reps = Object.values(rd.resources)
    const running = new Set(exp.running.map(key))
    const ends = exp.migration !== undefined ? new Set([key(exp.migration.from), key(exp.migration.to)]) : new Set<string>()
    const clients = new Set((exp.clients ?? []).map(key))

    // Primary exactly where the VM runs.
    const primaries = reps.filter((r) => r.role === 'Primary').map((r) => r.node)
    for (const p of primaries) if (!running.has(key(p))) out.push(`${rd.name}: Primary on ${p}, where no VM runs`)
    for (const n of exp.running) if (!primaries.some((p) => key(p) === key(n))) out.push(`${rd.name}: the VM runs on ${n} but it is not Primary there`)

    // No unused diskless client.
    for (const r of reps) {
      if (r.kind !== 'diskless') continue
      if (running.has(key(r.node)) || ends.has(key(r.node)) || clients.has(key(r.node))) continue
      out.push(`${rd.name}: unused diskless client on ${r.node}`)
    }

    // Migration record and dual-primary only while a migration is in progress, for its pair only.
    const record = rd.props[MIGRATION_RECORD]
    if (record !== undefined && exp.migration === undefined) out.push(`${rd.name}: migration record left (${record})`)
    if (record === undefined && exp.migration !== undefined) out.push(`${rd.name}: migration ${exp.migration.from} → ${exp.migration.to} in progress but not recorded`)
    if (rd.props[ALLOW_TWO_PRIMARIES] !== undefined) out.push(`${rd.name}: allow-two-primaries set on the definition`)
    for (const c of Object.values(rd.connections)) {
      if (!isYes(c.props[ALLOW_TWO_PRIMARIES])) continue
      const pair = new Set([key(c.nodeA), key(c.nodeB)])
      const ok = exp.migration !== undefined && pair.has(key(exp.migration.from)) && pair.has(key(exp.migration.to))
      if (!ok) out.push(`${rd.name}: allow-two-primaries on ${c.nodeA}-${c.nodeB} outside a migration in progress`)
    }

    // Replicas per policy (a DR replica is not local redundancy).
    const want = exp.placeCount ?? placeCountOf(state, rd)
    const dr = new Set((exp.dr ?? []).map(key))
    const diskful = reps.filter((r) => r.kind === 'diskful')
    const local = diskful.filter((r) => !dr.has(key(r.node)))
    if (local.length !== want) out.push(`${rd.name}: ${local.length} diskful replica(s)${dr.size > 0 ? ' besides the DR one' : ''}, the policy asks for ${want}`)

    // DR: its replica there, through DRBD Proxy with protocol A on its connections only.
    for (const n of exp.dr ?? []) {
      if (!diskful.some((r) => key(r.node) === key(n))) out.push(`${rd.name}: no disaster-recovery replica on ${n}`)
    }
    for (const r of reps) {
      for (const n of exp.dr ?? []) {
        if (key(r.node) === key(n)) continue
        const c = Object.values(rd.connections).find((x) => new Set([key(x.nodeA), key(x.nodeB)]).has(key(r.node)) && new Set([key(x.nodeA), key(x.nodeB)]).has(key(n)))
        if (c?.flags?.includes(PROXY_FLAG) !== true || c.props[PROTOCOL] !== 'A') out.push(`${rd.name}: ${r.node}-${n} is not through DRBD Proxy with protocol A`)
      }
    }
    for (const c of Object.values(rd.connections)) {
      if (dr.has(key(c.nodeA)) || dr.has(key(c.nodeB))) continue
      if (c.flags?.includes(PROXY_FLAG) === true || c.props[PROTOCOL] === 'A') out.push(`${rd.name}: ${c.nodeA}-${c.nodeB} (no DR node) has DRBD Proxy or protocol A`)
    }

    // Size and snapshots the operation made.
    const vd0 = Object.values(rd.volumeDefinitions).find((v) => v.volumeNumber === 0)
    if (exp.minSizeBytes !== undefined && (vd0 === undefined || vd0.sizeKib * 1024 < exp.minSizeBytes)) {
      out.push(`${rd.name}: volume 0 is ${vd0 === undefined ? 'missing' : `${vd0.sizeKib} KiB`}, expected at least ${exp.minSizeBytes / 1024} KiB`)
    }
    for (const s of exp.snapshots ?? []) {
      if (!Object.values(rd.snapshots).some((x) => key(x.name) === key(s))) out.push(`${rd.name}: snapshot ${s} missing`)
    }

    // Bytes written before the fault, read back through a replica's device file.
    const reader = diskful[0] ?? reps[0]
    for (const w of exp.data ?? []) {
      const got = reader === undefined ? undefined : (readAt(devicePath(emu, reader.node, rd.name), w.offset, w.bytes.length) ?? readAt(volumeDataPath(emu, rd.name), w.offset, w.bytes.length))
      if (got === undefined || !got.equals(w.bytes)) out.push(`${rd.name}: ${w.bytes.length} bytes written at ${w.offset} before the fault are ${got === undefined ? 'unreadable' : 'different'}`)
    }
    if (exp.checksum !== undefined) {
      const { bytes, sha256 } = exp.checksum
      const got = reader === undefined ? undefined : (sha256Of(devicePath(emu, reader.node, rd.name), bytes) ?? sha256Of(volumeDataPath(emu, rd.name), bytes))
      if (got !== sha256) out.push(`${rd.name}: the first ${bytes} bytes ${got === undefined ? 'are unreadable' : `have sha256 ${got.slice(0, 16)}…, expected ${sha256.slice(0, 16)}…`}`)
    }
  }
  for (const exp of expected.resources) {
    if (findRd(state, exp.name) === undefined) out.push(`${exp.name}: missing`)
  }
  return out
}
