/**
 * Deadlines and budgets of the LINSTOR transport (issue 20): a read not answered by a controller
 * that accepts connections and never answers is also asked of the next one after a short hedge
 * delay; the deadline of the call (the request scope) caps every request, so its error names the
 * controllers before the call's own deadline; a budget nested in a call cuts its requests and
 * refuses its writes once over. Bounds are the code's own deadlines plus the scheduling margin of
 * test/helpers/bounds.ts, against clients whose own deadline (60 s) is far past them.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { LinstorUnavailableError, createLinstorClient, currentScopeDeadline, currentScopeSignal, runInRequestScope, withinBudget } from '../../core/linstor/index.js'
import type { LinstorClientOptions } from '../../core/linstor/index.js'
import { isPluginError } from '../../core/errors/index.js'
import { closedPort, replyRaw, startServer } from '../helpers/servers.js'
import { boundedBy } from '../helpers/bounds.js'

const client = (controllers: string, extra: Partial<LinstorClientOptions> = {}): ReturnType<typeof createLinstorClient> =>
  createLinstorClient({ controllers, env: {}, clientConfPaths: [], defaultTokenFile: '/nonexistent', callSignal: currentScopeSignal, callDeadline: currentScopeDeadline, ...extra })

/** Margin for timers and a busy machine's event loop beyond a deadline the code sets itself. */

test('a first controller that accepts and never answers: a read is also asked of the second after the hedge delay, and answered', async (t) => {
  const hung = await startServer(t, () => undefined)
  const good = await startServer(t, (_req, res) => replyRaw(res, 200, '[]'))
  const c = client(`${hung.url},${good.url}`, { timeoutMs: 60_000 })
  t.after(() => c.close())
  // The hedge delay (1 s at most) before the second is asked, not the first's share of the 60 s.
  assert.deepEqual(await boundedBy(1000, 'a hedged read', () => c.nodes.list()), [])
  assert.equal(hung.requests.length, 1)
  assert.equal(good.requests.length, 1)
  // The one that answered is asked first from now on.
  await c.nodes.list()
  assert.equal(hung.requests.length, 1)
})

test('a first controller that is only slow still answers a read; the second refusing changes nothing', async (t) => {
  const slow = await startServer(t, (_req, res) => {
    setTimeout(() => replyRaw(res, 200, '[]'), 1500)
  })
  const refused = await closedPort()
  const c = client(`${slow.url},http://127.0.0.1:${refused}`, { timeoutMs: 10_000 })
  t.after(() => c.close())
  assert.deepEqual(await c.nodes.list(), [])
  assert.equal(slow.requests.length, 1, 'asked once, and waited for')
})

test('a write is never sent twice: a hung first controller makes it wait for its deadline (LINSTOR_DEADLINE)', async (t) => {
  const hung = await startServer(t, () => undefined)
  const good = await startServer(t, (_req, res) => replyRaw(res, 201, '[]'))
  const c = client(`${hung.url},${good.url}`, { timeoutMs: 600, retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 } })
  t.after(() => c.close())
  const err = await c.resourceDefinitions.create({ resource_definition: { name: 'r1' } }).then(() => undefined, (e: unknown) => e)
  assert.ok(err instanceof LinstorUnavailableError, String(err))
  assert.equal(err.code, 'LINSTOR_DEADLINE')
  assert.equal(good.requests.length, 0, 'the POST went to one controller only')
})

test("the call's deadline caps every request: the error names the controllers before the call is over", async (t) => {
  const hung = await startServer(t, () => undefined)
  const c = client(hung.url, { timeoutMs: 60_000 })
  t.after(() => c.close())
  const ctl = new AbortController()
  const deadline = Date.now() + 500
  // Within the call's 500 ms, not the 60 s of the client.
  const err = await boundedBy(500, 'a read in a call with 500 ms left', () => runInRequestScope({ signal: ctl.signal, deadline }, () => c.nodes.list()).then(() => undefined, (e: unknown) => e))
  assert.ok(err instanceof LinstorUnavailableError, String(err))
  assert.equal(err.code, 'LINSTOR_DEADLINE')
  assert.match(err.message, new RegExp(`${hung.url.replace(/[.]/g, '\\.')} \\(no answer before the deadline\\)`))
  // No time left at all: nothing is sent, and the controllers are still named.
  const late = await runInRequestScope({ signal: ctl.signal, deadline: Date.now() - 1 }, () => c.nodes.list()).then(() => undefined, (e: unknown) => e)
  assert.ok(late instanceof LinstorUnavailableError)
  assert.equal(late.code, 'LINSTOR_DEADLINE')
  assert.match(late.message, /not asked: the call had no time left/)
  assert.equal(hung.requests.length, 1)
})

test('a budget inside a call: its requests end with it, and it refuses writes afterwards; the call goes on', async (t) => {
  const hung = await startServer(t, (req, res) => {
    if (req.url.startsWith('/v1/nodes')) return // never answered
    replyRaw(res, 200, '[]')
  })
  const c = client(hung.url, { timeoutMs: 60_000 })
  t.after(() => c.close())
  const call = new AbortController()
  await runInRequestScope({ signal: call.signal, deadline: Date.now() + 30_000 }, async () => {
    const err = await boundedBy(300, 'a read in a 300 ms budget', () => withinBudget(300, () => c.nodes.list()).then(() => undefined, (e: unknown) => e))
    assert.ok(isPluginError(err) && err.code === 'LINSTOR_DEADLINE', String(err))
    // A write started in a budget that is over is refused, not sent.
    let late: Promise<unknown> | undefined
    await withinBudget(50, async () => {
      late = new Promise((r) => setTimeout(r, 150)).then(() => c.resourceDefinitions.create({ resource_definition: { name: 'late' } }))
      await late
    }).catch(() => undefined)
    const refused = await (late as Promise<unknown>).then(() => undefined, (e: unknown) => e)
    assert.ok(isPluginError(refused) && refused.code === 'ABORTED', String(refused))
    assert.equal(hung.requests.filter((r) => r.method === 'POST').length, 0)
    // The call itself still has its time: a read outside the budget is answered.
    assert.deepEqual(await c.resourceGroups.list(), [])
  })
})
