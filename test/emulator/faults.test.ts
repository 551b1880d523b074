import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MAX_DELAY_MS } from '../../emulator/faults.js'
import { withinDeadline } from '../helpers/bounds.js'
import { clientFor, control, raw, withEmulator } from './helpers.js'

test('counters by method and path template; reset', async (t) => {
  const emu = await withEmulator(t)
  await raw(emu, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'r1' } })
  await raw(emu, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'r2' } })
  await raw(emu, 'POST', '/v1/resource-definitions/r1/autoplace', { select_filter: {} })
  await raw(emu, 'GET', '/v1/nodes/alpha')
  await raw(emu, 'GET', '/health')
  await control(emu, 'GET', '/state')
  const c = JSON.parse((await control(emu, 'GET', '/counters')).text) as { total: number; calls: Record<string, number> }
  assert.deepEqual(c.calls, {
    'GET /health': 1,
    'GET /v1/nodes/{node}': 1,
    'POST /v1/resource-definitions': 2,
    'POST /v1/resource-definitions/{resource}/autoplace': 1,
  })
  assert.equal(c.total, 5)
  assert.deepEqual(emu.counters(), c.calls)
  await control(emu, 'POST', '/counters/reset')
  assert.deepEqual(JSON.parse((await control(emu, 'GET', '/counters')).text), { total: 0, calls: {} })
})

test('answer 500 for the next N requests matching a path, then normal again', async (t) => {
  const emu = await withEmulator(t)
  assert.equal((await control(emu, 'POST', '/faults/error', { count: 2, path: '^/v1/nodes' })).status, 200)
  assert.equal((await raw(emu, 'GET', '/v1/resource-groups')).status, 200)
  const a = await raw(emu, 'GET', '/v1/nodes')
  assert.equal(a.status, 500)
  assert.match(a.text, /^\[\{"ret_code":-4611686018427386906,/)
  assert.equal((await raw(emu, 'GET', '/v1/nodes')).status, 500)
  assert.equal((await raw(emu, 'GET', '/v1/nodes')).status, 200)
})

test('delay: the next request is answered slowly, the one after it at once', async (t) => {
  const emu = await withEmulator(t)
  // The delay is the longest there is (60 s): far past anything a busy machine adds.
  await control(emu, 'POST', '/faults/delay', { ms: MAX_DELAY_MS, count: 1 })
  const pending = raw(emu, 'GET', '/v1/controller/version')
  const first = await Promise.race([pending.then(() => 'answered'), new Promise((r) => setTimeout(() => r('still waiting'), 1000))])
  assert.equal(first, 'still waiting', 'the delayed request is not answered after 1 s')
  // The fault was used up by the first request: the next is answered long before the 60 s delay.
  assert.equal((await withinDeadline(raw(emu, 'GET', '/v1/controller/version'), 0, 'the request after the delayed one')).status, 200)
  await emu.close()
  await pending.catch(() => undefined)
})

test('drop: the connection is destroyed without an answer', async (t) => {
  const emu = await withEmulator(t)
  await control(emu, 'POST', '/faults/drop', { count: 1 })
  await assert.rejects(raw(emu, 'GET', '/v1/nodes'), /socket hang up|ECONNRESET/)
  assert.equal((await raw(emu, 'GET', '/v1/nodes')).status, 200)
})

test('the client surfaces an injected 500 and a dropped connection as errors', async (t) => {
  const emu = await withEmulator(t)
  const c = clientFor(t, emu)
  await control(emu, 'POST', '/faults/error', { count: 1 })
  await assert.rejects(c.nodes.list())
  await control(emu, 'POST', '/faults/drop', { count: 1 })
  await assert.rejects(c.nodes.list())
  assert.equal((await c.nodes.list()).length, 4)
})

/** Polls until `probe` settles the way `want` says (bounded: 50 tries, 50 ms apart). */
async function until(probe: () => Promise<unknown>, want: 'refused' | 'up'): Promise<void> {
  for (let i = 0; i < 50; i++) {
    try {
      await probe()
      if (want === 'up') return
    } catch (err) {
      if (want === 'refused' && /ECONNREFUSED/.test(String(err))) return
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`listener never became ${want}`)
}

test('stop listening: connections are refused, then it listens again on the same port', async (t) => {
  const emu = await withEmulator(t)
  const url = emu.url
  assert.equal((await control(emu, 'POST', '/faults/stop-listening', { for_ms: 1000 })).status, 200)
  await until(() => raw(url, 'GET', '/health'), 'refused')
  await until(() => raw(url, 'GET', '/health'), 'up')
  assert.equal((await raw(url, 'GET', '/health')).status, 200)
  await emu.stopListening()
  await assert.rejects(raw(url, 'GET', '/health'), /ECONNREFUSED/)
  await emu.startListening()
  assert.equal(emu.url, url)
  assert.equal((await raw(url, 'GET', '/health')).status, 200)
})

test('faults reset; control endpoints themselves are never faulted; bad parameters are refused', async (t) => {
  const emu = await withEmulator(t)
  await control(emu, 'POST', '/faults/error', {})
  assert.equal((await raw(emu, 'GET', '/v1/nodes')).status, 500)
  assert.equal((await control(emu, 'GET', '/faults')).status, 200)
  await control(emu, 'DELETE', '/faults')
  assert.equal((await raw(emu, 'GET', '/v1/nodes')).status, 200)
  assert.equal((await control(emu, 'POST', '/faults/delay', { ms: 120_000 })).status, 400)
  assert.equal((await control(emu, 'POST', '/faults/error', { status: 200 })).status, 400)
})

/** The number of requests a black hole holds, once it is not 0 (bounded: 100 polls, 20 ms apart). */
async function heldRequests(emu: Parameters<typeof control>[0]): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const n = (JSON.parse((await control(emu, 'GET', '/faults')).text) as { held: number }).held
    if (n > 0) return n
    await new Promise((r) => setTimeout(r, 20))
  }
  return 0
}

test('black hole: matching requests are accepted and never answered until a reset closes them; others are served', async (t) => {
  const emu = await withEmulator(t)
  assert.equal((await control(emu, 'POST', '/faults/blackhole', { path: '^/v1/nodes' })).status, 200)
  // Held: the request arrives (counted) and stays without an answer while other paths are served.
  const held = raw(emu, 'GET', '/v1/nodes')
  const settled = held.then(() => 'answered', (e: unknown) => `failed: ${String(e)}`)
  assert.equal(await heldRequests(emu), 1, 'one request held')
  assert.equal((await raw(emu, 'GET', '/v1/resource-groups')).status, 200)
  assert.equal(emu.counters()['GET /v1/nodes'], 1)
  // The reset closes the held connection: the client sees it end without a reply.
  await control(emu, 'POST', '/faults/reset')
  assert.match(await settled, /^failed: .*(socket hang up|ECONNRESET)/)
  assert.equal((await raw(emu, 'GET', '/v1/nodes')).status, 200)
  // In-process control, limited to a count.
  emu.control.faults.blackhole({ count: 1, method: 'GET', path: '^/v1/controller/version' })
  const first = raw(emu, 'GET', '/v1/controller/version').then(() => 'answered', () => 'closed')
  assert.equal(await heldRequests(emu), 1)
  assert.equal((await raw(emu, 'GET', '/v1/controller/version')).status, 200, 'the second one is served')
  emu.control.faults.reset()
  assert.equal(await first, 'closed')
})
