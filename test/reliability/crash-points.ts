/**
 * Issue 28: the plugin process killed at every point of an operation that copies data or moves a
 * VM (OpenNebula's image import, clone, live migration and snapshot revert; Cinder's volume from a
 * snapshot, clone, and attach/detach during a live migration), then the platform's retry (and the
 * doctor where that does not converge), checking the invariants: no leftover client, dual-primary
 * or migration record, the replicas asked for, and the data's bytes (a clone's and an import's
 * checked against their source). The same machinery as the fault matrix's Proxmox cells
 * (faults.ts PROCESS_KILLED: the process dies right before its n-th write, the agent restarts):
 * here every n, from the first write to the last, instead of one. Besides the bytes the tests
 * wrote, each disk's first 8 MiB (an OpenNebula image whole) must hash as before the call, or as
 * its source did (a clone, an import, a volume from a snapshot, a revert).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PROCESS_KILLED, oneImage, oneRunning, runStep } from './faults.js'
import type { Prepared, StepResult } from './faults.js'
import { World } from './world.js'
import type { Adapter, Disk } from './world.js'

export interface CrashRow {
  adapter: Adapter
  name: string
  prepare(w: World): Promise<Prepared>
}

const other = (nodes: readonly string[], not: string): string => nodes.find((n) => n !== not) ?? not

async function cinderVolume(w: World): Promise<Disk> {
  const d = w.newDisk('cinder')
  await w.perform(w.cinderCreate(d))
  w.writePattern(d)
  return d
}

/** Where the images imported by a world's rows come from: the datastore's SAFE_DIRS. */
export const IMPORT_DIR = mkdtempSync(join(tmpdir(), 'lv-crash-import-'))
process.on('exit', () => rmSync(IMPORT_DIR, { recursive: true, force: true }))

export const CRASH_ROWS: readonly CrashRow[] = [
  // ---------------------------------------------------------------- OpenNebula
  {
    adapter: 'opennebula',
    name: 'image import (ds cp)',
    prepare: (w) => {
      const d = w.newDisk('opennebula')
      return Promise.resolve({ disks: [d], step: w.oneCp(d, join(IMPORT_DIR, `w${w.id}-image-${d.imageId}.raw`)) })
    },
  },
  {
    adapter: 'opennebula',
    name: 'clone (tm clone)',
    async prepare(w) {
      const src = await oneImage(w)
      w.writePattern(src)
      const d = w.oneCloneDisk(src)
      return { disks: [src, d], step: w.oneClone(src, d, w.spare(src.resource)[0] ?? 'delta') }
    },
  },
  {
    adapter: 'opennebula',
    name: 'live migration begin (tm premigrate)',
    async prepare(w) {
      const { d, host } = await oneRunning(w)
      return { disks: [d], step: w.onePremigrate(d, host, other(w.spare(d.resource), host)) }
    },
  },
  {
    adapter: 'opennebula',
    name: 'live migration end (tm postmigrate)',
    async prepare(w) {
      const { d, host } = await oneRunning(w)
      const to = other(w.spare(d.resource), host)
      await w.perform(w.onePremigrate(d, host, to))
      return { disks: [d], step: w.onePostmigrate(d, host, to) }
    },
  },
  {
    adapter: 'opennebula',
    name: 'snapshot revert (tm snap_revert)',
    async prepare(w) {
      // Deployed on a host holding a replica and powered off there (the disk stays linked), as
      // oned reverts a disk snapshot. (On a host without one, the powered-off VM's diskless client
      // is what the doctor calls unused: see the report of issue 28, not this row's subject.)
      const d = await oneImage(w)
      const host = w.diskful(d.resource)[0] ?? 'alpha'
      await w.perform(w.oneLn(d, host))
      w.vmClose(host, d)
      w.writePattern(d)
      await w.perform(w.oneSnapCreate(d, host, 0))
      const atSnapshot = World.dataOf(d)
      const sum = w.checksumNow(d)
      w.writePattern(d)
      return { disks: [d], step: w.oneSnapRevert(d, host, 0, atSnapshot, sum) }
    },
  },
  // ---------------------------------------------------------------- Cinder
  {
    adapter: 'cinder',
    name: 'volume from a snapshot (create_volume_from_snapshot)',
    async prepare(w) {
      const src = await cinderVolume(w)
      const snapId = `5a${String(w.id).padStart(6, '0')}-0000-4000-8000-000000000001`
      await w.perform(w.cinderSnapshot(src, w.frontEnd, snapId))
      const atSnapshot = World.dataOf(src)
      const sum = w.checksumNow(src)
      const d = w.newDisk('cinder')
      return { disks: [src, d], step: w.cinderFromSnapshot(d, src, snapId, atSnapshot, sum) }
    },
  },
  {
    adapter: 'cinder',
    name: 'clone (create_cloned_volume)',
    async prepare(w) {
      const src = await cinderVolume(w)
      const d = w.newDisk('cinder')
      return { disks: [src, d], step: w.cinderClone(d, src) }
    },
  },
  {
    adapter: 'cinder',
    name: 'attach during a live migration (initialize_connection)',
    async prepare(w) {
      const d = await cinderVolume(w)
      const host = w.spare(d.resource)[0] ?? 'delta'
      await w.perform(w.cinderAttach(d, host))
      return { disks: [d], step: w.cinderAttach(d, other(w.spare(d.resource), host)) }
    },
  },
  {
    adapter: 'cinder',
    name: 'detach ending a live migration (terminate_connection)',
    async prepare(w) {
      const d = await cinderVolume(w)
      const host = w.spare(d.resource)[0] ?? 'delta'
      await w.perform(w.cinderAttach(d, host))
      await w.perform(w.cinderAttach(d, other(w.spare(d.resource), host)))
      return { disks: [d], step: w.cinderDetach(d, host) }
    },
  },
]

/** At most this many writes per operation are tried (an operation making more is a finding of its own). */
const MAX_WRITES = 16

/** One row: killed before each of its writes in turn, each in a world of its own; every cell's result. */
export async function crashEveryWrite(row: CrashRow): Promise<StepResult[]> {
  const out: StepResult[] = []
  for (let write = 1; write <= MAX_WRITES; write++) {
    const w = await World.create({ one: { SAFE_DIRS: IMPORT_DIR } })
    try {
      const { disks, step } = await row.prepare(w)
      // Right before the call, every disk's first bytes are hashed: a disk the operation does not
      // write must hash the same after it; the steps that copy data set what their copy must hash to.
      const before = step.before.bind(step)
      step.before = () => {
        before()
        for (const d of disks) if (d.exists) d.checksum = w.checksumNow(d)
      }
      const r = await runStep(w, disks, step, PROCESS_KILLED, { write })
      // Past the operation's last write the kill never comes: every point was tried.
      if (!r.hit) return out
      out.push(r)
    } finally {
      await w.close()
    }
  }
  throw new Error(`${row.name}: more than ${MAX_WRITES} writes`)
}

/** Runs rows side by side (each cell has its own emulator); every cell's line and what went wrong. */
export async function crashRows(rows: readonly CrashRow[], concurrency = 3): Promise<{ lines: string[]; failures: string[] }> {
  const results: StepResult[][] = new Array<StepResult[]>(rows.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < rows.length) {
      const i = next++
      results[i] = await crashEveryWrite(rows[i] as CrashRow)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, rows.length) }, () => worker()))
  const lines: string[] = []
  const failures: string[] = []
  for (const [i, cells] of results.entries()) {
    if (cells.length === 0) failures.push(`${rows[i]?.name ?? '?'}: the operation made no write to die before`)
    for (const r of cells) {
      lines.push(r.line)
      for (const p of [...r.problems, ...r.violations]) failures.push(`${r.label} × ${r.detail}: ${p}`)
    }
  }
  return { lines, failures }
}
