/**
 * REST calls per core operation, counted by the emulator (reads = GET, writes = everything else),
 * with the targets of the core issue: attach where a replica exists writes nothing, attach
 * elsewhere writes one make-available, detach writes at most one delete. Also the median wall time
 * of each operation over `runs` repetitions against the in-process emulator on loopback.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLinstorClient } from '../core/linstor/index.js'
import { createStorage } from '../core/storage/index.js'
import type { Storage } from '../core/storage/index.js'
import { GiB } from '../core/volumes/index.js'
import { startEmulator } from '../emulator/index.js'
import type { RunningEmulator } from '../emulator/index.js'
import { median, round } from './stats.js'

export interface CallRow {
  operation: string
  reads: number
  writes: number
  writeCalls: Record<string, number>
  target?: string
  met?: boolean
  medianMs: number
}

function count(emu: RunningEmulator): { reads: number; writes: number; writeCalls: Record<string, number> } {
  let reads = 0
  let writes = 0
  const writeCalls: Record<string, number> = {}
  for (const [k, v] of Object.entries(emu.counters())) {
    if (k.startsWith('GET ')) reads += v
    else {
      writes += v
      writeCalls[k] = v
    }
  }
  return { reads, writes, writeCalls }
}


export async function measureCoreCalls(runs = 10): Promise<CallRow[]> {
  const emu = await startEmulator({ logLevel: 'silent', listen: { host: '127.0.0.1', port: 0 } })
  const lockDir = mkdtempSync(join(tmpdir(), 'lv-bench-locks-'))
  const client = createLinstorClient({ controllers: emu.url, env: {}, clientConfPaths: [], defaultTokenFile: '/nonexistent', keepAlive: true })
  const storage: Storage = createStorage({ client, lockDir, localNode: 'alpha', deviceRoot: (n) => emu.deviceRoot(n) })
  const rows: CallRow[] = []
  const ops: { operation: string; target?: [string, (c: ReturnType<typeof count>) => boolean]; setup?: (i: number) => Promise<void>; op: (i: number) => Promise<unknown> }[] = [
    { operation: 'create 1 GiB, 2 replicas (spawn + place)', op: (i) => storage.resource(`b-${i}`).create({ volumes: [1 * GiB], policy: { placeCount: 2 } }) },
    {
      operation: 'attach where a replica exists',
      target: ['no write', (c) => c.writes === 0],
      op: async (i) => {
        const info = await storage.resource(`b-${i}`).info()
        emu.resetCounters()
        return storage.resource(`b-${i}`).attach(info?.replicas.find((r) => r.kind === 'diskful')?.node ?? '')
      },
    },
    {
      operation: 'attach elsewhere (diskless client)',
      target: ['one make-available', (c) => c.writes === 1 && Object.keys(c.writeCalls)[0]?.endsWith('/make-available') === true],
      op: async (i) => {
        const info = await storage.resource(`b-${i}`).info()
        const free = ['alpha', 'bravo', 'charlie', 'delta'].find((n) => !info?.replicas.some((r) => r.node === n)) ?? ''
        emu.resetCounters()
        return storage.resource(`b-${i}`).attach(free)
      },
    },
    {
      operation: 'detach a diskless client',
      target: ['at most one delete', (c) => c.writes <= 1],
      op: async (i) => {
        const info = await storage.resource(`b-${i}`).info()
        const client = info?.replicas.find((r) => r.kind === 'diskless')?.node ?? ''
        emu.resetCounters()
        return storage.resource(`b-${i}`).detach(client)
      },
    },
    { operation: 'grow by 1 GiB', op: (i) => storage.resource(`b-${i}`).grow(0, { byBytes: 1 * GiB }) },
    {
      operation: 'live migration begin (attach while in use elsewhere)',
      op: async (i) => {
        const info = await storage.resource(`b-${i}`).info()
        const src = info?.replicas.find((r) => r.kind === 'diskful')?.node ?? ''
        emu.control.open(src, `b-${i}`)
        const dst = ['alpha', 'bravo', 'charlie', 'delta'].find((n) => !info?.replicas.some((r) => r.node === n && r.kind === 'diskful')) ?? ''
        emu.resetCounters()
        const a = await storage.resource(`b-${i}`).attach(dst)
        emu.control.open(dst, `b-${i}`)
        emu.control.close(src, `b-${i}`)
        return a
      },
    },
    {
      operation: 'live migration end (detach the source)',
      op: async (i) => {
        const info = await storage.resource(`b-${i}`).info()
        const src = info?.replicas.find((r) => r.kind === 'diskful' && r.inUse === false)?.node ?? ''
        emu.resetCounters()
        return storage.resource(`b-${i}`).detach(src)
      },
    },
  ]
  try {
    for (const o of ops) {
      const times: number[] = []
      let last = { reads: 0, writes: 0, writeCalls: {} as Record<string, number> }
      for (let i = 0; i < runs; i++) {
        emu.resetCounters()
        const t0 = performance.now()
        await o.op(i)
        times.push(performance.now() - t0)
        last = count(emu)
      }
      const row: CallRow = { operation: o.operation, ...last, medianMs: round(median(times), 1) }
      if (o.target !== undefined) {
        row.target = o.target[0]
        row.met = o.target[1](last)
      }
      rows.push(row)
    }
  } finally {
    client.close()
    await emu.close()
    rmSync(lockDir, { recursive: true, force: true })
  }
  return rows
}

export function coreCallsMarkdown(rows: readonly CallRow[]): string {
  const lines = [
    '## REST calls per core operation (emulator counters)',
    '',
    '| operation | reads | writes | write calls | target | met | median ms |',
    '|---|---|---|---|---|---|---|',
  ]
  for (const r of rows) {
    const calls = Object.entries(r.writeCalls).map(([k, v]) => `${v}× ${k}`).join('<br>')
    lines.push(`| ${r.operation} | ${r.reads} | ${r.writes} | ${calls} | ${r.target ?? ''} | ${r.met === undefined ? '' : r.met ? 'yes' : '**no**'} | ${r.medianMs} |`)
  }
  return lines.join('\n') + '\n'
}
