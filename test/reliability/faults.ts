/**
 * The faults the emulator (and the test harness around the agent) can inject, as injectors with
 * one interface, and the fault matrix's operation rows.
 *
 * Faults (issue 10): every controller down (the emulator stops listening); the first controller
 * black-holing connections with a second, healthy one; the controller answering after 5 s; a 500
 * answer; the connection dropped mid-request; the hypervisor node offline (LINSTOR sees it offline,
 * ssh does not reach it); the plugin process killed between two REST calls of one operation
 * (CrashingTransport: the n-th write is never sent, nor anything after it, and the agent restarts).
 * "500" and "drop" hit the operation's n-th write (a mid-operation request, armed on the emulator
 * the moment the adapter sends it), so part of the operation has happened when it fails.
 *
 * Issue 20 adds: the only controller accepting and never answering (the emulator's black hole),
 * every answer 60 s late, the first of two controllers accepting and never answering; rows for the
 * start and stop of a VM on a host holding a replica (no write: "500" and "drop" hit every request);
 * and the rules of RowKind for starts and stops (runStep).
 */
import { pool } from '../helpers/pool.js'
import { ERROR_CATALOGUE } from '../../core/errors/index.js'
import { DEFAULT_CONTROLLER_BUDGET_MS } from '../../core/ha/index.js'
import type { LinstorRequest } from '../../core/linstor/index.js'
import { CrashingTransport } from '../helpers/core.js'
import { checkInvariants } from './invariants.js'
import { World, expectedOf, stepLabel } from './world.js'
import type { Adapter, CallOutcome, Disk, Interceptor, Send, Step } from './world.js'
import { SCHEDULING_MARGIN_MS } from '../helpers/bounds.js'

/**
 * Deadline of a call in the matrix and the soak (the slow-controller fault uses its own): the
 * platforms' own order of magnitude, so that a busy 2-core machine never turns a healthy call into
 * a CALL_DEADLINE. Faults that must end a call early do it through their own deadline.
 */
export const DEADLINE_MS = 60_000
/** How much later than its deadline a reply may come: timer and event-loop lag of a busy test machine, not the plugin. */
export const DEADLINE_SLACK_MS = SCHEDULING_MARGIN_MS
/**
 * Starting or stopping a VM on a host that has what it needs waits on the controller at most the
 * core's budget (issue 20): the reply may come the scheduling margin later than the budget plus
 * what the same call takes healthy (the platform's own work), and that is still well before the
 * call's deadline (DEADLINE_MS), which is what the code would wait for without the budget.
 */
export const BUDGET_MS = DEFAULT_CONTROLLER_BUDGET_MS
export const BUDGET_SLACK_MS = SCHEDULING_MARGIN_MS
/** The platform's retry after a fault is not what a cell measures. */
export const RERUN_DEADLINE_MS = DEADLINE_MS
/**
 * The deadline, in the columns where no controller ever answers, of the operations that need the
 * controller (they fail at it, clearly): shorter than DEADLINE_MS so the column does not take an
 * hour. Starts on hosts with the device and stops keep DEADLINE_MS: their bound must stay below it.
 */
export const UNANSWERED_DEADLINE_MS = 12_000

export interface Injected {
  /** Takes the fault away again (the controller is back, the node is up, the agent restarted). */
  clear(): Promise<void>
  /** Whether the fault actually hit the operation (a targeted write may never come). */
  fired(): boolean
  /** What exactly was hit, for the report. */
  detail(): string
}

export interface Fault {
  name: string
  /** The call's deadline under this fault (default DEADLINE_MS). */
  deadlineMs?: number
  /** The operation must succeed despite the fault (failover). */
  mustSucceed?: boolean
  /** The plugin process dies: its reply, if any, is not a platform's to read. */
  killsProcess?: boolean
  /** Uses state shared by every world of the process (ssh's dead hosts): run alone. */
  exclusive?: (adapter: Adapter) => boolean
  /** The controller is the trouble (down, black-holed, slow, failing): starts with the device and stops must succeed within the budget. */
  controller?: boolean
  /** No controller answers at all within the call: a start without a device must say so, naming the controllers. */
  unanswered?: boolean
  /** Hits a write (the process dies before it): rows whose operation makes none do not apply. */
  needsWrite?: boolean
  /**
   * Hits the operation's n-th write: the call under it gets the harness's generous controller
   * budget too, so that on a busy machine a healthy controller's slowness never keeps the
   * operation from reaching that write (the budget is what the other columns are about).
   */
  targetsWrite?: boolean
  /**
   * @param write 1-based index of the operation's write request to hit (500, drop, crash).
   */
  inject(w: World, step: Step, write: number): Promise<Injected>
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

const missed = (write: number): string => `missed: the operation made fewer than ${write} writes`

const always = (detail: string): Pick<Injected, 'fired' | 'detail'> => ({ fired: () => true, detail: () => detail })

/**
 * Calls `arm` with the operation's n-th write request just before it is sent; with `write` 0 (an
 * operation that makes no write: a start or stop on a host holding the volume) `every` arms the
 * fault for every request at once.
 */
function onWrite(w: World, write: number, arm: (req: LinstorRequest) => void, every?: () => void): { fired: () => boolean; hit: () => string } {
  if (write === 0 && every !== undefined) {
    every()
    return { fired: () => true, hit: () => 'every request' }
  }
  let writes = 0
  let hit: string | undefined
  const interceptor: Interceptor = (req: LinstorRequest, send: Send) => {
    if (req.method !== 'GET' && ++writes === write) {
      hit = `${req.method} ${req.path}`
      arm(req)
    }
    return send(req)
  }
  w.services.interceptor = interceptor
  return { fired: () => hit !== undefined, hit: () => hit ?? '' }
}

export const CONTROLLERS_DOWN: Fault = {
  name: 'controllers down',
  controller: true,
  unanswered: true,
  async inject(w) {
    await w.emu.stopListening()
    return { ...always('the only controller is not listening'), clear: () => w.emu.startListening() }
  },
}

export const BLACK_HOLE: Fault = {
  name: 'first controller black-holed',
  mustSucceed: true,
  controller: true,
  async inject(w) {
    const hole = await w.blackHole()
    w.setControllers([hole, w.emu.url])
    return {
      ...always('connections to the first controller hang; the second answers'),
      clear: () => {
        w.setControllers([w.emu.url])
        return Promise.resolve()
      },
    }
  },
}

/** A controller that answers every request `delayMs` late, against a shorter call deadline: the expected outcome is a clear timeout. */
export function slowController(name: string, delayMs: number, deadlineMs: number): Fault {
  return {
    name,
    deadlineMs,
    controller: true,
    unanswered: delayMs >= deadlineMs,
    inject(w) {
      w.emu.control.faults.delay(delayMs)
      return Promise.resolve({
        ...always(`every request answered ${delayMs / 1000} s late`),
        clear: () => {
          w.emu.control.faults.reset()
          return Promise.resolve()
        },
      })
    },
  }
}

export const SLOW_5S: Fault = slowController('controller answers after 5 s', 5_000, 1_500)
/** Every answer a minute late (the emulator's longest delay), against the matrix's 10 s deadline. */
export const SLOW_60S: Fault = slowController('controller answers after 60 s', 60_000, UNANSWERED_DEADLINE_MS)

/** The only controller accepts every connection and request and never answers (a hung JVM, a half-dead controller VM). */
export const CONTROLLER_BLACK_HOLE: Fault = {
  name: 'controller black-holed (accepts, never answers)',
  deadlineMs: UNANSWERED_DEADLINE_MS,
  controller: true,
  unanswered: true,
  inject(w) {
    w.emu.control.faults.blackhole()
    return Promise.resolve({
      ...always('every request accepted and never answered'),
      clear: () => {
        w.emu.control.faults.reset()
        return Promise.resolve()
      },
    })
  },
}

/** The first of two controllers accepts connections and never answers; the second is healthy. */
export const FIRST_HUNG: Fault = {
  name: 'first controller accepts and never answers',
  mustSucceed: true,
  controller: true,
  async inject(w) {
    const hung = await w.hungController()
    w.setControllers([hung, w.emu.url])
    return {
      ...always('requests to the first controller are never answered; the second answers'),
      clear: () => {
        w.setControllers([w.emu.url])
        return Promise.resolve()
      },
    }
  },
}

export const HTTP_500: Fault = {
  name: '500 answer',
  controller: true,
  targetsWrite: true,
  inject(w, _step, write) {
    const t = onWrite(w, write, (req) => w.emu.control.faults.error(500, { count: 1, method: req.method, path: `^${escapeRegex(req.path)}(\\?|$)` }), () => w.emu.control.faults.error(500))
    return Promise.resolve({
      fired: t.fired,
      detail: () => (t.fired() ? `500 to ${t.hit()}` : missed(write)),
      clear: () => {
        w.services.interceptor = undefined
        w.emu.control.faults.reset()
        return Promise.resolve()
      },
    })
  },
}

export const DROP: Fault = {
  name: 'connection dropped mid-request',
  controller: true,
  targetsWrite: true,
  inject(w, _step, write) {
    const t = onWrite(w, write, (req) => w.emu.control.faults.drop({ count: 1, method: req.method, path: `^${escapeRegex(req.path)}(\\?|$)` }), () => w.emu.control.faults.drop())
    return Promise.resolve({
      fired: t.fired,
      detail: () => (t.fired() ? `connection of ${t.hit()} dropped` : missed(write)),
      clear: () => {
        w.services.interceptor = undefined
        w.emu.control.faults.reset()
        return Promise.resolve()
      },
    })
  },
}

export const NODE_OFFLINE: Fault = {
  name: 'hypervisor node offline',
  exclusive: (adapter) => adapter === 'opennebula',
  inject(w, step) {
    w.setNodeDown(step.node, true)
    return Promise.resolve({
      ...always(`${step.node} is down`),
      clear: () => {
        w.setNodeDown(step.node, false)
        return Promise.resolve()
      },
    })
  },
}

/** The agent (or one-shot process) dies right before the operation's n-th write; then it starts again. */
export const PROCESS_KILLED: Fault = {
  name: 'plugin process killed between two REST calls',
  killsProcess: true,
  needsWrite: true,
  targetsWrite: true,
  inject(w, _step, write) {
    const crashing = new WeakMap<Send, CrashingTransport>()
    let died: string | undefined
    w.services.interceptor = (req, send) => {
      let t = crashing.get(send)
      if (t === undefined) {
        t = new CrashingTransport({ request: send, close: () => undefined }, write - 1)
        crashing.set(send, t)
      }
      return t.request(req).catch((err: unknown) => {
        if (died === undefined && req.method !== 'GET') died = `${req.method} ${req.path}`
        throw err
      })
    }
    return Promise.resolve({
      fired: () => died !== undefined,
      detail: () => (died === undefined ? missed(write) : `died before ${died}`),
      clear: () => {
        w.services.interceptor = undefined
        w.services.restart()
        return Promise.resolve()
      },
    })
  },
}

/**
 * Every column of the matrix. A test file has 180 s, so the columns are spread over files:
 * fault-matrix.test.ts (down, first black-holed, 5 s), fault-matrix-requests.test.ts (500, drop),
 * fault-matrix-hosts.test.ts (node offline, process killed), and one file each for the columns of issue 20, whose cells may
 * wait for their whole deadline: fault-matrix-blackhole.test.ts, fault-matrix-slow60.test.ts,
 * fault-matrix-hung.test.ts.
 */
export const FAULTS: readonly Fault[] = [CONTROLLERS_DOWN, BLACK_HOLE, SLOW_5S, HTTP_500, DROP, NODE_OFFLINE, PROCESS_KILLED, CONTROLLER_BLACK_HOLE, SLOW_60S, FIRST_HUNG]

// ------------------------------------------------------------------ one step under one fault

export interface StepResult {
  label: string
  fault: string
  /** The first call's outcome (under the fault). */
  outcome: CallOutcome
  detail: string
  /** The fault hit the operation (a targeted write may never come: the operation had fewer writes). */
  hit: boolean
  convergedBy: 'rerun' | 'doctor' | 'not converged'
  /** What went wrong besides the invariants: late reply, unclear error, no convergence, the doctor disagreeing. */
  problems: string[]
  violations: string[]
  /** `<adapter> <operation> × <fault>: <ok|error CODE> in N ms; converged by <rerun|doctor>; violations V` */
  line: string
}

function isClear(code: string | undefined): boolean {
  return code !== undefined && code !== 'INTERNAL_ERROR' && Object.hasOwn(ERROR_CATALOGUE, code)
}

/** Doctor findings that the expected state does not explain (a migration in progress is one it reports). */
async function doctorDisagrees(w: World, disks: readonly Disk[]): Promise<string[]> {
  const migrating = new Set(disks.filter((d) => d.exists && d.migration !== undefined).map((d) => d.resource.toLowerCase()))
  const report = await w.doctor(false)
  return report.findings
    .filter((f) => !(f.kind === 'migration-left' && migrating.has(f.resource.toLowerCase())))
    .map((f) => `doctor finds ${f.kind} on ${f.resource}${f.node !== undefined ? ` (${f.node})` : ''}: ${f.detail}`)
}

/** The hypervisor's part after a successful call; DRBD refusing it (no dual-primary for a migration, ...) is a problem. */
function afterStep(step: Step, problems: string[]): void {
  try {
    step.after()
  } catch (err) {
    problems.push(`the hypervisor's part after the call fails: ${err instanceof Error ? err.message : String(err)}`)
  }
}

/**
 * What a row's operation is for issue 20: a VM start on a host that has the volume's device
 * ('start-local'), a start on a host without one ('start'), a stop or the end of a migration
 * window ('stop'), or anything else.
 */
export type RowKind = 'start-local' | 'start' | 'stop' | 'other'

export interface RunOptions {
  /** 1-based index of the write the 500, drop and crash faults hit (default 1); 0: every request. */
  write?: number
  kind?: RowKind
  /**
   * After a failure: 'rerun' (default) repeats the step, and runs the doctor when that does not
   * converge; 'give-up' is a platform that does not retry: its own clean-up step, if any, then the
   * doctor with fix (only for steps that allow it, see Step.giveUp).
   */
  converge?: 'rerun' | 'give-up'
}

/**
 * Runs one platform step with a fault injected (or none), clears the fault, and converges: the
 * platform retries at once (the timed-out call may still be running in the agent), and when that
 * does not converge the doctor runs with fix; or the platform gives up and the doctor cleans up.
 * Then the invariants over `disks`, and the doctor must find nothing the model does not explain.
 * Without a fault the step must simply succeed.
 */
export async function runStep(w: World, disks: readonly Disk[], step: Step, fault: Fault | undefined, options: RunOptions = {}): Promise<StepResult> {
  const write = options.write ?? 1
  const label = stepLabel(step)
  const problems: string[] = []
  if (fault === undefined) {
    step.before()
    const outcome = await w.call(step.spec(), DEADLINE_MS)
    if (outcome.ok) afterStep(step, problems)
    else problems.push(`failed without a fault: ${outcome.code ?? ''} ${outcome.message ?? ''}`)
    const violations = checkInvariants(w.emu, expectedOf(disks))
    const line = `${label} × no fault: ${outcome.ok ? 'ok' : `error ${outcome.code ?? '?'}`} in ${outcome.ms} ms; violations ${violations.length}`
    return { label, fault: 'none', outcome, detail: '', hit: false, convergedBy: 'rerun', problems, violations, line }
  }
  for (const d of disks) if (d.exists && d.data.length < 8) w.writePattern(d)
  step.before()
  if (fault === NODE_OFFLINE) {
    const busy = disks.filter((d) => d.running.includes(step.node)).map((d) => d.resource)
    if (busy.length > 0) throw new Error(`harness: ${step.node} runs ${busy.join(', ')}; taking it down would kill those VMs`)
  }
  // Starts with the device and stops keep the platforms' deadline where no controller answers at
  // all: a call that waited for the controller would take that long, far more than their bound.
  const budgetedRow = options.kind === 'start-local' || options.kind === 'stop'
  const deadline = budgetedRow && fault.unanswered === true && (fault.deadlineMs ?? DEADLINE_MS) >= UNANSWERED_DEADLINE_MS ? DEADLINE_MS : fault.deadlineMs ?? DEADLINE_MS
  const injected = await fault.inject(w, step, write)
  let outcome: CallOutcome
  try {
    const call = (): Promise<CallOutcome> => w.call(step.spec(), deadline)
    outcome = fault.targetsWrite === true && write > 0 ? await call() : await w.underFault(call)
  } finally {
    await injected.clear()
  }
  if (outcome.ms > deadline + DEADLINE_SLACK_MS) problems.push(`replied after ${outcome.ms} ms, deadline ${deadline} ms`)
  const kind = options.kind ?? 'other'
  // OpenNebula's actions also run the CLI and ssh around the controller's part: they need more than
  // the 1.5 s deadline of the 5 s column, where only their clear error is checked.
  const room = step.adapter !== 'opennebula' || deadline >= UNANSWERED_DEADLINE_MS
  const budgeted = fault.controller === true && room && (kind === 'start-local' || kind === 'stop')
  const what = kind === 'stop' ? 'a stop' : 'a start on a host with the device'
  if (budgeted && !outcome.ok) {
    // Issue 20: never waits on the controller past the budget; succeeds from what the host has.
    problems.push(`${what} must succeed despite the fault: ${outcome.code ?? '?'} ${outcome.message ?? ''}`)
  }
  /**
   * The bound of a budgeted start or stop: the controller budget, plus what the same call takes
   * right after with a healthy controller (the platform's own work: OpenNebula's CLI and ssh on a
   * busy machine), plus a margin. A call that waited on the controller would take the deadline.
   */
  const checkBound = (healthyMs: number): void => {
    const bound = Math.min(deadline, BUDGET_MS) + healthyMs + BUDGET_SLACK_MS
    if (budgeted && outcome.ms > bound) problems.push(`${what} replied after ${outcome.ms} ms; the controller budget is ${BUDGET_MS} ms, the healthy call took ${healthyMs} ms (+${BUDGET_SLACK_MS} ms margin)`)
  }
  // The transport ends a request shortly before the call's deadline (core/protocol REPLY_MARGIN_MS),
  // so its error names the controllers: with the 5 s column's 1.5 s deadline a busy machine's timer
  // lag may let the call's own deadline win; the named failure is checked where the deadline is longer.
  if (fault.unanswered === true && room && deadline >= 5_000 && kind === 'start') {
    // No device and no controller: a clear failure that says no controller answered and names them.
    if (outcome.ok) problems.push('a start without a device succeeded although no controller answered')
    else {
      const message = outcome.message ?? ''
      if (!/no LINSTOR controller answered|no answer from the LINSTOR controller|no LINSTOR controller reachable/.test(message)) problems.push(`the failure does not say no controller answered: ${message}`)
      for (const c of w.controllers) if (!message.includes(c)) problems.push(`the failure does not name the controller ${c}: ${message}`)
    }
  }
  if (!fault.killsProcess && !outcome.ok && !isClear(outcome.code)) problems.push(`no clear error: ${outcome.code ?? '?'} ${outcome.message ?? ''}`)
  if (fault.mustSucceed === true && !outcome.ok) problems.push(`must succeed despite the fault: ${outcome.code ?? '?'} ${outcome.message ?? ''}`)

  const failed = !outcome.ok || fault.killsProcess === true
  if (options.converge === 'give-up' && failed && step.giveUp !== undefined) {
    // The doctor runs later, when the agent has finished what it still works on.
    await w.quiesce()
    const cleanup = step.giveUp()
    if (cleanup !== undefined) {
      cleanup.before()
      const c = await w.call(cleanup.spec(), DEADLINE_MS)
      if (c.ok) cleanup.after()
      else problems.push(`the platform's clean-up ${stepLabel(cleanup)} fails: ${c.code ?? '?'} ${c.message ?? ''}`)
    }
    await w.doctor(true)
    const violations = checkInvariants(w.emu, expectedOf(disks))
    if (violations.length === 0) problems.push(...(await doctorDisagrees(w, disks)))
    const line = `${label} × ${fault.name}: ${outcome.ok ? 'ok' : `error ${outcome.code ?? '?'}`} in ${outcome.ms} ms; given up, converged by doctor; violations ${violations.length}${problems.length > 0 ? `; problems ${problems.length}` : ''} [${injected.detail()}]`
    return { label, fault: fault.name, outcome, detail: injected.detail(), hit: injected.fired(), convergedBy: 'doctor', problems, violations, line }
  }

  // The platform retries at once: a call past its deadline may still be running in the agent.
  let convergedBy: StepResult['convergedBy'] = 'rerun'
  let again = await w.call(step.spec(), RERUN_DEADLINE_MS)
  await w.quiesce()
  if (!again.ok) {
    convergedBy = 'doctor'
    await w.doctor(true)
    again = await w.call(step.spec(), RERUN_DEADLINE_MS)
  }
  checkBound(again.ms)
  let violations: string[]
  if (!again.ok) {
    convergedBy = 'not converged'
    problems.push(`re-running fails: ${again.code ?? '?'} ${again.message ?? ''}`)
    violations = checkInvariants(w.emu, expectedOf(disks))
  } else {
    afterStep(step, problems)
    violations = checkInvariants(w.emu, expectedOf(disks))
    if (violations.length > 0 && convergedBy === 'rerun') {
      convergedBy = 'doctor'
      await w.doctor(true)
      violations = checkInvariants(w.emu, expectedOf(disks))
    }
  }
  if (violations.length === 0 && again.ok) problems.push(...(await doctorDisagrees(w, disks)))
  const first = fault.killsProcess === true && injected.fired() ? 'killed' : outcome.ok ? 'ok' : `error ${outcome.code ?? '?'}`
  const line = `${label} × ${fault.name}: ${first} in ${outcome.ms} ms; converged by ${convergedBy}; violations ${violations.length}${problems.length > 0 ? `; problems ${problems.length}` : ''} [${injected.detail()}]`
  return { label, fault: fault.name, outcome, detail: injected.detail(), hit: injected.fired(), convergedBy, problems, violations, line }
}

// ------------------------------------------------------------------ the matrix's operation rows

export interface Prepared {
  /** Every disk of the world (the invariants look at all of them). */
  disks: Disk[]
  /** The operation under the fault. */
  step: Step
}

export interface Row {
  adapter: Adapter
  /** What the operation is for issue 20 (default 'other'). */
  kind?: RowKind
  /** Sets the world up without faults, up to the state the operation starts from. */
  prepare(w: World): Promise<Prepared>
  /**
   * Which write request the 500, drop and crash faults hit (1-based): one that leaves the operation
   * half done where it has several (create: after the spawn, before the replicas; migration begin:
   * after the record, or after the record and the client; migration end: after dual-primary is off and the client is gone, before the
   * record goes), else its only write; 0 when the operation makes no write (a start or stop on a
   * host holding a diskful replica): the 500 and drop faults then hit every request.
   */
  write: number
}

const other = (nodes: readonly string[], not: string): string => nodes.find((n) => n !== not) ?? not

/** A Proxmox volume, allocated on alpha, with the VM running on a node without a replica. */
async function pveRunning(w: World): Promise<{ d: Disk; host: string }> {
  const d = w.newDisk('proxmox')
  await w.perform(w.pveAlloc(d, 'alpha'))
  const host = w.spare(d.resource)[0] ?? 'delta'
  await w.perform(w.pveActivate(d, host))
  return { d, host }
}

async function cinderRunning(w: World): Promise<{ d: Disk; host: string }> {
  const d = w.newDisk('cinder')
  await w.perform(w.cinderCreate(d))
  const host = w.spare(d.resource)[0] ?? 'delta'
  await w.perform(w.cinderAttach(d, host))
  return { d, host }
}

export async function oneImage(w: World): Promise<Disk> {
  const d = w.newDisk('opennebula')
  await w.perform(w.oneMkfs(d))
  return d
}

/** A persistent image running on a host without a replica. */
export async function oneRunning(w: World): Promise<{ d: Disk; host: string }> {
  const d = await oneImage(w)
  const host = w.spare(d.resource)[0] ?? 'delta'
  await w.perform(w.oneLn(d, host))
  return { d, host }
}

/** The operations under every fault; fault-matrix.test.ts says which and why the others are equivalent. */
export const ROWS: readonly Row[] = [
  // ---------------------------------------------------------------- Proxmox
  {
    adapter: 'proxmox',
    write: 4,
    prepare: (w) => {
      const d = w.newDisk('proxmox')
      return Promise.resolve({ disks: [d], step: w.pveAlloc(d, 'alpha') })
    },
  },
  {
    kind: 'start',
    adapter: 'proxmox',
    write: 1,
    async prepare(w) {
      const d = w.newDisk('proxmox')
      await w.perform(w.pveAlloc(d, 'alpha'))
      return { disks: [d], step: w.pveActivate(d, w.spare(d.resource)[0] ?? 'delta') }
    },
  },
  {
    adapter: 'proxmox',
    write: 3,
    async prepare(w) {
      const { d, host } = await pveRunning(w)
      return { disks: [d], step: w.pveActivate(d, other(w.spare(d.resource), host)) }
    },
  },
  {
    kind: 'stop',
    adapter: 'proxmox',
    write: 3,
    async prepare(w) {
      const { d, host } = await pveRunning(w)
      const to = other(w.spare(d.resource), host)
      await w.perform(w.pveActivate(d, to))
      return { disks: [d], step: w.pveDeactivate(d, host) }
    },
  },
  {
    kind: 'stop',
    adapter: 'proxmox',
    write: 1,
    async prepare(w) {
      const { d, host } = await pveRunning(w)
      return { disks: [d], step: w.pveDeactivate(d, host) }
    },
  },
  {
    adapter: 'proxmox',
    write: 1,
    async prepare(w) {
      const { d, host } = await pveRunning(w)
      return { disks: [d], step: w.pveSnapshot(d, other(w.diskful(d.resource), host), 'before_upgrade') }
    },
  },
  {
    adapter: 'proxmox',
    write: 1,
    async prepare(w) {
      const { d, host } = await pveRunning(w)
      return { disks: [d], step: w.pveResize(d, other(w.diskful(d.resource), host), 8 * 1024 * 1024) }
    },
  },
  {
    adapter: 'proxmox',
    write: 2,
    async prepare(w) {
      const { d, host } = await pveRunning(w)
      await w.perform(w.pveSnapshot(d, host, 'old'))
      await w.perform(w.pveDeactivate(d, host))
      return { disks: [d], step: w.pveFree(d, w.diskful(d.resource)[0] ?? 'alpha') }
    },
  },
  // ---------------------------------------------------------------- OpenNebula
  {
    kind: 'start',
    adapter: 'opennebula',
    write: 1,
    async prepare(w) {
      const d = await oneImage(w)
      return { disks: [d], step: w.oneLn(d, w.spare(d.resource)[0] ?? 'delta') }
    },
  },
  {
    adapter: 'opennebula',
    write: 2,
    async prepare(w) {
      // Resume on another host (and recovery: the fault "node offline" takes the old host down).
      const { d, host } = await oneRunning(w)
      return { disks: [d], step: w.oneMv(d, host, other(w.spare(d.resource), host)) }
    },
  },
  {
    kind: 'stop',
    adapter: 'opennebula',
    write: 1,
    async prepare(w) {
      const { d, host } = await oneRunning(w)
      return { disks: [d], step: w.oneDelete(d, host) }
    },
  },
  {
    adapter: 'opennebula',
    write: 2,
    async prepare(w) {
      const { d, host } = await oneRunning(w)
      return { disks: [d], step: w.onePremigrate(d, host, other(w.spare(d.resource), host)) }
    },
  },
  {
    kind: 'stop',
    adapter: 'opennebula',
    write: 2,
    async prepare(w) {
      const { d, host } = await oneRunning(w)
      const to = other(w.spare(d.resource), host)
      await w.perform(w.onePremigrate(d, host, to))
      return { disks: [d], step: w.onePostmigrate(d, host, to) }
    },
  },
  // ---------------------------------------------------------------- Cinder
  {
    adapter: 'cinder',
    write: 4,
    prepare: (w) => {
      const d = w.newDisk('cinder')
      return Promise.resolve({ disks: [d], step: w.cinderCreate(d) })
    },
  },
  {
    kind: 'start',
    adapter: 'cinder',
    write: 1,
    async prepare(w) {
      const d = w.newDisk('cinder')
      await w.perform(w.cinderCreate(d))
      return { disks: [d], step: w.cinderAttach(d, w.spare(d.resource)[0] ?? 'delta') }
    },
  },
  {
    adapter: 'cinder',
    write: 2,
    async prepare(w) {
      const { d, host } = await cinderRunning(w)
      return { disks: [d], step: w.cinderAttach(d, other(w.spare(d.resource), host)) }
    },
  },
  {
    kind: 'stop',
    adapter: 'cinder',
    write: 3,
    async prepare(w) {
      const { d, host } = await cinderRunning(w)
      await w.perform(w.cinderAttach(d, other(w.spare(d.resource), host)))
      return { disks: [d], step: w.cinderDetach(d, host) }
    },
  },
  {
    kind: 'stop',
    adapter: 'cinder',
    write: 1,
    async prepare(w) {
      const { d, host } = await cinderRunning(w)
      return { disks: [d], step: w.cinderDetach(d, host) }
    },
  },
  {
    adapter: 'cinder',
    write: 1,
    async prepare(w) {
      const { d } = await cinderRunning(w)
      return { disks: [d], step: w.cinderExtend(d, w.diskful(d.resource)[0] ?? 'alpha', 2) }
    },
  },
  {
    adapter: 'cinder',
    write: 1,
    async prepare(w) {
      const d = w.newDisk('cinder')
      await w.perform(w.cinderCreate(d))
      return { disks: [d], step: w.cinderDelete(d, w.diskful(d.resource)[0] ?? 'alpha') }
    },
  },
  // ---------------------------------------------------------------- issue 20: start and stop where the host holds a replica
  {
    kind: 'start-local',
    adapter: 'proxmox',
    write: 0,
    async prepare(w) {
      const d = w.newDisk('proxmox')
      await w.perform(w.pveAlloc(d, 'alpha'))
      return { disks: [d], step: w.pveActivate(d, w.diskful(d.resource)[0] ?? 'alpha') }
    },
  },
  {
    kind: 'stop',
    adapter: 'proxmox',
    write: 0,
    async prepare(w) {
      const d = w.newDisk('proxmox')
      await w.perform(w.pveAlloc(d, 'alpha'))
      const host = w.diskful(d.resource)[0] ?? 'alpha'
      await w.perform(w.pveActivate(d, host))
      return { disks: [d], step: w.pveDeactivate(d, host) }
    },
  },
  {
    kind: 'start-local',
    adapter: 'opennebula',
    write: 0,
    async prepare(w) {
      const d = await oneImage(w)
      return { disks: [d], step: w.oneLn(d, w.diskful(d.resource)[0] ?? 'alpha') }
    },
  },
  {
    kind: 'stop',
    adapter: 'opennebula',
    write: 0,
    async prepare(w) {
      const d = await oneImage(w)
      const host = w.diskful(d.resource)[0] ?? 'alpha'
      await w.perform(w.oneLn(d, host))
      return { disks: [d], step: w.oneDelete(d, host) }
    },
  },
  {
    kind: 'start-local',
    adapter: 'cinder',
    write: 0,
    async prepare(w) {
      const d = w.newDisk('cinder')
      await w.perform(w.cinderCreate(d))
      return { disks: [d], step: w.cinderAttach(d, w.diskful(d.resource)[0] ?? 'alpha') }
    },
  },
  {
    kind: 'stop',
    adapter: 'cinder',
    write: 0,
    async prepare(w) {
      const d = w.newDisk('cinder')
      await w.perform(w.cinderCreate(d))
      const host = w.diskful(d.resource)[0] ?? 'alpha'
      await w.perform(w.cinderAttach(d, host))
      return { disks: [d], step: w.cinderDetach(d, host) }
    },
  },
]

// ------------------------------------------------------------------ one column of the matrix

/** Cells of one column run side by side (each has its own emulator); slow faults are mostly waiting. */
function concurrencyOf(fault: Fault): number {
  // Every cell shares this process with the others (emulators, agents' services, stand-ins), and
  // npm test runs up to four files at once, several of them matrix files: the columns whose cells
  // mostly wait run a few more at once, but never so many that the machine is what a bound measures.
  return fault.unanswered === true ? 6 : 4
}

async function cell(row: Row, fault: Fault): Promise<StepResult> {
  const w = await World.create()
  try {
    const { disks, step } = await row.prepare(w)
    return await runStep(w, disks, step, fault, { write: row.write, ...(row.kind !== undefined ? { kind: row.kind } : {}) })
  } finally {
    await w.close()
  }
}

/** Every operation row under one fault: one summary line per cell, and what went wrong. */
export async function runColumn(fault: Fault): Promise<{ lines: string[]; failures: string[] }> {
  // A fault that hits a write does not apply to an operation that makes none.
  const rows = ROWS.filter((row) => fault.needsWrite !== true || row.write > 0)
  // Cells that use state shared by the whole process (ssh's dead hosts) run one at a time, after the others.
  const alone = rows.filter((row) => fault.exclusive?.(row.adapter) === true)
  const together = rows.filter((row) => !alone.includes(row))
  const results = [
    ...(await pool(together.map((row) => () => cell(row, fault)), concurrencyOf(fault))),
    ...(await pool(alone.map((row) => () => cell(row, fault)), 1)),
  ]
  const failures: string[] = []
  for (const r of results) {
    if (!r.hit) failures.push(`${r.label} × ${r.fault}: the fault did not hit the operation (${r.detail})`)
    for (const p of [...r.problems, ...r.violations]) failures.push(`${r.label} × ${r.fault}: ${p}`)
  }
  return { lines: results.map((r) => r.line), failures }
}

export { pool }
