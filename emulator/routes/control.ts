/**
 * Emulator-only control endpoints under /x-emulator/ (a prefix LINSTOR never uses): play the
 * hypervisor (open/close volumes, read/write bytes), take nodes offline, inject faults, read and
 * reset call counters, dump the state. Answers are plain JSON; errors are {error: message}.
 */
import express from 'express'
import type { Request, Response, Router } from 'express'
import type { Emu } from '../context.js'
import type { Counters, Faults, FaultSpec } from '../faults.js'
import type { RawBodyRequest } from '../http-kit.js'
import { param, queryString } from '../http-kit.js'
import { SatelliteError, closeReplica, openReplica, readVolume, setNodeOnline, writeVolume } from '../satellites.js'
import { replicas } from '../model.js'
import { nameKey } from '../names.js'
import type { SatelliteFault } from '../rollback.js'
import { proxyStatus } from '../proxy.js'

/** Largest read the control endpoint serves in one call. */
export const MAX_IO_BYTES = 64 * 1024 * 1024

export interface ControlHooks {
  faults: Faults
  counters: Counters
  /** Closes the listener (dropping open connections) and re-opens it after `ms`. */
  stopListening: (ms: number) => void
}

function ok(res: Response, body: unknown = { ok: true }): void {
  res.status(200).json(body)
}

function fail(res: Response, status: number, message: string): void {
  res.status(status).json({ error: message })
}

function body(req: Request): Record<string, unknown> {
  const raw = (req as RawBodyRequest).rawBody
  if (raw === undefined || raw.length === 0) return {}
  const v = JSON.parse(raw.toString('utf8')) as unknown
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {}
}

function faultSpec(b: Record<string, unknown>): FaultSpec {
  const spec: FaultSpec = {}
  if (typeof b['count'] === 'number') spec.count = b['count']
  if (typeof b['path'] === 'string') spec.path = b['path']
  if (typeof b['method'] === 'string') spec.method = b['method']
  return spec
}

export function controlRouter(emu: Emu, hooks: ControlHooks): Router {
  const r = express.Router()
  const guard = (fn: (req: Request, res: Response) => void) => (req: Request, res: Response) => {
    try {
      fn(req, res)
    } catch (err) {
      if (err instanceof SatelliteError) fail(res, err.status, err.message)
      else fail(res, 400, err instanceof Error ? err.message : String(err))
    }
  }

  r.get('/state', guard((_req, res) => ok(res, emu.state)))

  r.get(
    '/roles/:resource',
    guard((req, res) => {
      const rd = emu.state.resourceDefinitions[nameKey(param(req, 'resource'))]
      if (rd === undefined) return fail(res, 404, `resource '${param(req, 'resource')}' does not exist`)
      ok(res, Object.fromEntries(replicas(rd).map((x) => [x.node, x.role])))
    }),
  )

  for (const action of ['online', 'offline'] as const) {
    r.post(
      `/nodes/:node/${action}`,
      guard((req, res) => {
        if (!emu.change(() => setNodeOnline(emu, param(req, 'node'), action === 'online'))) return fail(res, 404, `node '${param(req, 'node')}' does not exist`)
        ok(res)
      }),
    )
  }

  r.post(
    '/nodes/:node/resources/:resource/open',
    guard((req, res) => {
      const x = emu.change(() => openReplica(emu, param(req, 'resource'), param(req, 'node')))
      ok(res, { node: x.node, role: x.role })
    }),
  )

  r.post(
    '/nodes/:node/resources/:resource/close',
    guard((req, res) => {
      const x = emu.change(() => closeReplica(emu, param(req, 'resource'), param(req, 'node')))
      ok(res, { node: x.node, role: x.role })
    }),
  )

  r.put(
    '/nodes/:node/resources/:resource/volumes/:volume/data',
    guard((req, res) => {
      const data = (req as RawBodyRequest).rawBody ?? Buffer.alloc(0)
      const offset = Number(queryString(req, 'offset') ?? 0)
      emu.change(() => writeVolume(emu, param(req, 'resource'), param(req, 'node'), Number(param(req, 'volume')), offset, data))
      ok(res, { written: data.length })
    }),
  )

  r.get(
    '/nodes/:node/resources/:resource/volumes/:volume/data',
    guard((req, res) => {
      const offset = Number(queryString(req, 'offset') ?? 0)
      const length = Number(queryString(req, 'length') ?? 0)
      if (!Number.isInteger(length) || length < 0 || length > MAX_IO_BYTES) return fail(res, 400, `length must be 0..${MAX_IO_BYTES}`)
      const buf = readVolume(emu, param(req, 'resource'), param(req, 'node'), Number(param(req, 'volume')), offset, length)
      res.status(200).setHeader('Content-Type', 'application/octet-stream')
      res.end(buf)
    }),
  )

  // The controller process restarted: it forgets the decrypted master key (EmulatorControl.lockMasterKey).
  r.post(
    '/encryption/lock',
    guard((_req, res) => {
      emu.masterKeyEntered = false
      ok(res)
    }),
  )

  r.get(
    '/proxy/:resource',
    guard((req, res) => {
      const rd = emu.state.resourceDefinitions[nameKey(param(req, 'resource'))]
      if (rd === undefined) return fail(res, 404, `resource '${param(req, 'resource')}' does not exist`)
      ok(res, proxyStatus(emu, rd))
    }),
  )

  r.get('/faults', guard((_req, res) => ok(res, hooks.faults.describe())))
  r.post(
    '/faults/delay',
    guard((req, res) => {
      const b = body(req)
      hooks.faults.addDelay(Number(b['ms']), faultSpec(b))
      ok(res)
    }),
  )
  r.post(
    '/faults/error',
    guard((req, res) => {
      const b = body(req)
      hooks.faults.addError(typeof b['status'] === 'number' ? b['status'] : 500, faultSpec(b))
      ok(res)
    }),
  )
  r.post(
    '/faults/drop',
    guard((req, res) => {
      hooks.faults.addDrop(faultSpec(body(req)))
      ok(res)
    }),
  )
  r.post(
    '/faults/blackhole',
    guard((req, res) => {
      hooks.faults.addBlackhole(faultSpec(body(req)))
      ok(res)
    }),
  )
  r.post(
    '/faults/stop-listening',
    guard((req, res) => {
      const ms = Number(body(req)['for_ms'] ?? 1000)
      if (!Number.isFinite(ms) || ms < 0 || ms > 60_000) return fail(res, 400, 'for_ms must be 0..60000')
      res.on('finish', () => hooks.stopListening(ms))
      ok(res)
    }),
  )
  // Satellite-side failures (rollback.ts): the satellite on `node` (any when absent) fails the
  // next `count` (all when absent) operations of the kind: a safety snapshot, a resource delete
  // or a snapshot restore run by a snapshot rollback.
  r.get('/faults/satellite', guard((_req, res) => ok(res, emu.satelliteFaults ?? [])))
  r.post(
    '/faults/satellite',
    guard((req, res) => {
      const b = body(req)
      const op = b['operation']
      if (op !== 'snapshot' && op !== 'delete' && op !== 'restore') return fail(res, 400, 'operation must be snapshot, delete or restore')
      const f: SatelliteFault = { operation: op }
      if (typeof b['node'] === 'string') f.node = b['node']
      if (typeof b['count'] === 'number' && b['count'] > 0) f.count = b['count']
      ;(emu.satelliteFaults ??= []).push(f)
      ok(res)
    }),
  )
  const resetFaults = guard((_req, res) => {
    hooks.faults.reset()
    emu.satelliteFaults = []
    ok(res)
  })
  r.post('/faults/reset', resetFaults)
  r.delete('/faults', resetFaults)

  r.get('/counters', guard((_req, res) => ok(res, { total: hooks.counters.total(), calls: hooks.counters.toJson() })))
  const resetCounters = guard((_req, res) => {
    hooks.counters.reset()
    ok(res)
  })
  r.post('/counters/reset', resetCounters)
  r.delete('/counters', resetCounters)

  r.use((req, res) => fail(res, 404, `unknown control endpoint ${req.method} ${req.originalUrl}`))
  return r
}
