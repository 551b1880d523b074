/**
 * The soak engine (issue 10): random lifecycle operations of the three adapters against one
 * emulator, through the dispatcher with the agent's long-lived services, some of them under a
 * random fault, checking the invariants after every step. Seeded: the same seed makes the same
 * choices (timings may still differ). `npm run soak -- --ops N [--seed S]` runs it
 * (scripts/soak.mjs); `npm test` runs a short fixed-seed one (soak.test.ts).
 *
 * Each disk follows its platform's life: created, attached where a VM starts, live-migrated
 * (begin, then end or abort), moved cold (OpenNebula), stopped, snapshotted, grown, deleted. A
 * faulted step is converged the way the platform would: it retries, or (for steps a platform may
 * abandon: attach, detach, migration steps, a create that it then deletes) it gives up and the
 * doctor cleans up.
 */
import { BLACK_HOLE, CONTROLLERS_DOWN, DROP, HTTP_500, NODE_OFFLINE, PROCESS_KILLED, runStep, slowController } from './faults.js'
import type { Fault, StepResult } from './faults.js'
import { ADAPTERS, NODES, World } from './world.js'
import type { Adapter, Disk, Step } from './world.js'

/** A late controller for the soak: the same fault as the matrix's 5 s one, scaled down so a long soak stays short. */
export const SLOW_SOAK: Fault = slowController('controller answers late', 1_200, 700)

export const SOAK_FAULTS: readonly Fault[] = [CONTROLLERS_DOWN, BLACK_HOLE, SLOW_SOAK, HTTP_500, DROP, NODE_OFFLINE, PROCESS_KILLED]

export interface SoakOptions {
  ops: number
  seed: number
  /** Share of steps run under a fault (default 0.35). */
  faultRate?: number
  /** Live disks per adapter at most (default 3). */
  disksPerAdapter?: number
  /** Called after every step. */
  onStep?: (n: number, result: StepResult) => void
}

export interface SoakReport {
  operations: number
  faults: number
  violations: number
  /** Steps per adapter. */
  perAdapter: Record<Adapter, number>
  /** Faults that hit, per kind. */
  perFault: Record<string, number>
  /** Steps converged by giving up and running the doctor. */
  doctorRuns: number
  /** Every problem and violation, with its step. */
  issues: string[]
  summary: string
}

/** mulberry32: a small, fast, well-spread 32-bit PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

class Soak {
  readonly #w: World
  readonly #rnd: () => number
  readonly #max: number
  readonly disks: Disk[] = []
  #snaps = 0

  constructor(w: World, rnd: () => number, max: number) {
    this.#w = w
    this.#rnd = rnd
    this.#max = max
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.#rnd() * items.length)] as T
  }

  chance(p: number): boolean {
    return this.#rnd() < p
  }

  #hostFor(d: Disk): string {
    return this.pick(NODES.filter((n) => !d.running.includes(n)))
  }

  /** The next step of some disk of `adapter` (a new disk when there is room and a coin says so). */
  next(adapter: Adapter): Step {
    const live = this.disks.filter((d) => d.adapter === adapter && d.exists)
    if (live.length === 0 || (live.length < this.#max && this.chance(0.15))) {
      const d = this.#w.newDisk(adapter)
      this.disks.push(d)
      return this.#create(d)
    }
    return this.#stepOf(this.pick(live))
  }

  #create(d: Disk): Step {
    const w = this.#w
    return d.adapter === 'proxmox' ? w.pveAlloc(d, this.pick(NODES)) : d.adapter === 'cinder' ? w.cinderCreate(d) : w.oneMkfs(d)
  }

  #stepOf(d: Disk): Step {
    const w = this.#w
    const choices: (() => Step)[] = []
    const host = d.running[0]
    const snap = (): string => `s${++this.#snaps}`
    if (d.migration !== undefined) {
      const { from, to } = d.migration
      if (d.adapter === 'proxmox') choices.push(() => w.pveDeactivate(d, from), () => w.pveDeactivate(d, from), () => w.pveDeactivate(d, to))
      if (d.adapter === 'cinder') choices.push(() => w.cinderDetach(d, from), () => w.cinderDetach(d, from), () => w.cinderDetach(d, to))
      if (d.adapter === 'opennebula') choices.push(() => w.onePostmigrate(d, from, to), () => w.onePostmigrate(d, from, to), () => w.oneFailmigrate(d, from, to))
    } else if (host !== undefined) {
      const to = this.#hostFor(d)
      if (d.adapter === 'proxmox') {
        choices.push(() => w.pveActivate(d, to), () => w.pveDeactivate(d, host), () => w.pveSnapshot(d, host, snap()), () => w.pveResize(d, host, d.minSizeBytes + 4 * 1024 * 1024))
      }
      if (d.adapter === 'cinder') choices.push(() => w.cinderAttach(d, to), () => w.cinderDetach(d, host), () => w.cinderSnapshot(d, host, snap()))
      if (d.adapter === 'opennebula') choices.push(() => w.onePremigrate(d, host, to), () => w.oneMv(d, host, to), () => w.oneDelete(d, host))
    } else {
      const node = this.pick(NODES)
      if (d.adapter === 'proxmox') {
        choices.push(() => w.pveActivate(d, node), () => w.pveActivate(d, node), () => w.pveSnapshot(d, node, snap()), () => w.pveResize(d, node, d.minSizeBytes + 4 * 1024 * 1024), () => w.pveFree(d, node))
      }
      if (d.adapter === 'cinder') {
        const doomed = d.snapshots[0]
        choices.push(() => w.cinderAttach(d, node), () => w.cinderAttach(d, node), () => w.cinderExtend(d, node, Math.ceil(d.minSizeBytes / 1024 ** 3) + 1))
        // Cinder deletes a volume's snapshots before the volume.
        choices.push(doomed !== undefined ? () => w.cinderDeleteSnapshot(d, node, doomed.replace(/^SN_/, '')) : () => w.cinderDelete(d, node))
      }
      if (d.adapter === 'opennebula') choices.push(() => w.oneLn(d, node), () => w.oneLn(d, node), () => w.oneRm(d))
    }
    return this.pick(choices)()
  }

  /** A fault for this step, or undefined; node-offline only when no VM runs on the node. */
  fault(step: Step, rate: number): Fault | undefined {
    if (!this.chance(rate)) return undefined
    const f = this.pick(SOAK_FAULTS)
    if (f === NODE_OFFLINE && this.disks.some((d) => d.running.includes(step.node))) return undefined
    return f
  }
}

function count<K extends string>(into: Record<K, number>, k: K): void {
  into[k] = (into[k] ?? 0) + 1
}

/** Runs the soak and reports; never throws for a violation (they are counted), only for a broken harness. */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const rnd = prng(options.seed)
  const w = await World.create({ seed: options.seed })
  const soak = new Soak(w, rnd, options.disksPerAdapter ?? 3)
  const perAdapter: Record<Adapter, number> = { proxmox: 0, opennebula: 0, cinder: 0 }
  const perFault: Record<string, number> = {}
  const issues: string[] = []
  let faults = 0
  let doctorRuns = 0
  try {
    for (let n = 1; n <= options.ops; n++) {
      const adapter = soak.pick(ADAPTERS)
      const step = soak.next(adapter)
      // Disks that are gone stay in the model (they must stay gone), a few at most.
      const disks = soak.disks.filter((d) => d.exists || soak.disks.indexOf(d) >= soak.disks.length - 12)
      const fault = soak.fault(step, options.faultRate ?? 0.35)
      const converge = fault !== undefined && step.giveUp !== undefined && soak.chance(0.4) ? 'give-up' : 'rerun'
      // A fault aimed at a write the step does not make misses; it is not counted.
      const result = await runStep(w, disks, step, fault, { write: 1 + Math.floor(rnd() * 2), converge })
      count(perAdapter, adapter)
      if (fault !== undefined && result.hit) {
        faults++
        count(perFault, fault.name)
      }
      if (result.convergedBy === 'doctor') doctorRuns++
      for (const p of [...result.problems, ...result.violations]) issues.push(`step ${n}: ${result.line}: ${p}`)
      options.onStep?.(n, result)
    }
  } finally {
    await w.close()
  }
  const summary = `operations: ${options.ops}, faults: ${faults}, violations: ${issues.length}`
  return { operations: options.ops, faults, violations: issues.length, perAdapter, perFault, doctorRuns, issues, summary }
}
