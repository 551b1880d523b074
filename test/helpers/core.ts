/**
 * Fixtures for the core's scenario tests: an emulator, a client and a Storage wired to it (device
 * roots pointing at the emulator's per-node folders, a lock folder per "host"), and a transport that
 * "crashes" the process after a given number of writes.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import type { LinstorClient, LinstorRequest, LinstorResponse, LinstorTransport } from '../../core/linstor/index.js'
import { createStorage } from '../../core/storage/index.js'
import type { Storage, StorageOptions } from '../../core/storage/index.js'
import type { EmulatorOptions, RunningEmulator } from '../../emulator/index.js'
import { clientFor, withEmulator } from '../emulator/helpers.js'

export interface CoreFixture {
  emu: RunningEmulator
  client: LinstorClient
  storage: Storage
  /** Another Storage on the same emulator, as a second host would have (own lock folder). */
  host: (localNode: string, extra?: Partial<StorageOptions>) => Storage
}

export function tempDir(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export function clientOf(t: TestContext, emu: RunningEmulator, transport?: LinstorTransport, timeoutMs?: number): LinstorClient {
  return clientFor(t, emu, { connectTimeoutMs: 500, ...(timeoutMs !== undefined ? { timeoutMs } : {}), ...(transport !== undefined ? { transport } : {}) })
}

export function storageOn(t: TestContext, emu: RunningEmulator, client: LinstorClient, extra: Partial<StorageOptions> = {}): Storage {
  return createStorage({
    client,
    lockDir: tempDir(t, 'lv-locks-'),
    localNode: 'alpha',
    deviceRoot: (node) => emu.deviceRoot(node),
    pollMs: 20,
    ...extra,
  })
}

export async function coreFixture(t: TestContext, emuOptions: EmulatorOptions = {}, extra: Partial<StorageOptions> = {}): Promise<CoreFixture> {
  const emu = await withEmulator(t, { cloneDurationMs: 50, ...emuOptions })
  const client = clientOf(t, emu)
  return {
    emu,
    client,
    storage: storageOn(t, emu, client, extra),
    host: (localNode, more = {}) => storageOn(t, emu, clientOf(t, emu), { localNode, ...extra, ...more }),
  }
}

/** Thrown by CrashingTransport in place of the write it refuses: the process "died" before sending it. */
export class SimulatedCrash extends Error {}

/** Passes every read, and the first `writes` writes; the next write throws SimulatedCrash. */
export class CrashingTransport implements LinstorTransport {
  readonly #inner: LinstorTransport
  #left: number
  readonly sent: string[] = []

  constructor(inner: LinstorTransport, writes: number) {
    this.#inner = inner
    this.#left = writes
  }

  request(req: LinstorRequest): Promise<LinstorResponse> {
    if (req.method !== 'GET') {
      if (this.#left <= 0) return Promise.reject(new SimulatedCrash(`crash before ${req.method} ${req.path}`))
      this.#left--
      this.sent.push(`${req.method} ${req.path}`)
    }
    return this.#inner.request(req)
  }

  close(): void {
    this.#inner.close()
  }
}

/** Writes (non-GET calls) in the emulator's counters. */
export function writeCalls(emu: RunningEmulator): Record<string, number> {
  return Object.fromEntries(Object.entries(emu.counters()).filter(([k]) => !k.startsWith('GET ') && !k.includes('/x-emulator')))
}

/** node → role summary of a resource, for compact assertions: "D" diskful, "d" diskless, "T" tie-breaker; "*" Primary. */
export async function roles(storage: Storage, name: string): Promise<Record<string, string>> {
  const info = await storage.resource(name).info()
  const out: Record<string, string> = {}
  for (const r of info?.replicas ?? []) out[r.node] = (r.kind === 'diskful' ? 'D' : r.kind === 'diskless' ? 'd' : 'T') + (r.inUse === true ? '*' : '')
  return out
}
