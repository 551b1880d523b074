/**
 * The LINSTOR client against real HTTP servers on 127.0.0.1: reply parsing, error mapping,
 * request shapes, failover, deadlines. Replies are written verbatim (exact 64-bit ret_codes).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { LinstorApiError, LinstorUnavailableError, RC, createLinstorClient, createdName, isDisklessPool } from '../../core/linstor/index.js'
import type { LinstorClientOptions } from '../../core/linstor/index.js'
import { blackHole, closedPort, replyRaw, startServer } from '../helpers/servers.js'
import { boundedBy } from '../helpers/bounds.js'

const noRetry = { maxAttempts: 1, baseDelayMs: 10, maxDelayMs: 10 }
const client = (controllers: string, extra: Partial<LinstorClientOptions> = {}): ReturnType<typeof createLinstorClient> => {
  const c = createLinstorClient({ controllers, env: {}, clientConfPaths: [], defaultTokenFile: '/nonexistent', ...extra })
  return c
}

test('a created reply is returned with exact ret_codes; success entries are not errors', async (t) => {
  const srv = await startServer(t, (_req, res) => replyRaw(res, 201,
    '[{"ret_code":20447233,"message":"New resource definition \'rsc1\' created.","details":"Resource definition \'rsc1\' UUID is: 1","obj_refs":{"RscDfn":"rsc1","UUID":"1"},"created_at":"2026-11-24T00:00:00.000+00:00"}]'))
  const c = client(srv.url)
  t.after(() => c.close())
  const entries = await c.resourceDefinitions.create({ resource_definition: { name: 'rsc1' } })
  assert.equal(entries[0]?.ret_code, 20447233n)
  assert.equal(createdName(entries), 'rsc1')
  assert.deepEqual(entries[0]?.error_report_ids, [])
  const req = srv.requests[0]
  assert.equal(req?.method, 'POST')
  assert.equal(req?.url, '/v1/resource-definitions')
  assert.equal(req?.headers['content-type'], 'application/json')
  assert.deepEqual(JSON.parse(req?.body ?? ''), { resource_definition: { name: 'rsc1' } })
})

test('FAIL_EXISTS_RSC_DFN (500) becomes a LinstorApiError keeping the exact code and the whole list', async (t) => {
  const srv = await startServer(t, (_req, res) => replyRaw(res, 500,
    '[{"ret_code":-4611686018406940171,"message":"A resource definition with the name \'rsc1\' already exists","cause":"c1","correction":"pick another name","details":"d1","error_report_ids":["ABC-000-1"],"obj_refs":{"RscDfn":"rsc1"}}]'))
  const c = client(srv.url)
  t.after(() => c.close())
  const err = await c.resourceDefinitions.create({ resource_definition: { name: 'rsc1' } }).then(() => undefined, (e: unknown) => e)
  assert.ok(err instanceof LinstorApiError)
  assert.equal(err.code, 'LINSTOR_API_ERROR')
  assert.equal(err.status, 500)
  assert.equal(err.entries[0]?.ret_code, -4611686018406940171n)
  assert.ok(err.has(RC.FAIL_EXISTS_RSC_DFN))
  assert.ok(!err.has(RC.FAIL_EXISTS_RSC))
  assert.deepEqual(err.reportIds, ['ABC-000-1'])
  assert.equal(err.message,
    "LINSTOR POST /v1/resource-definitions failed: A resource definition with the name 'rsc1' already exists [FAIL_EXISTS_RSC_DFN] Cause: c1 Correction: pick another name Details: d1 Error report: ABC-000-1")
})

test('an error entry fails the call even with a 2xx status; warnings and infos do not', async (t) => {
  let reply = ''
  const srv = await startServer(t, (_req, res) => replyRaw(res, 200, reply))
  const c = client(srv.url)
  t.after(() => c.close())
  reply = '[{"ret_code":53739522,"message":"ok"},{"ret_code":-4611686018373647387,"message":"Resource \'x\' is still in use."}]'
  await assert.rejects(c.resources.delete('x', 'n1'), (e: unknown) => e instanceof LinstorApiError && e.has(RC.FAIL_IN_USE) && e.status === 200)
  // WARN_NOT_FOUND on delete of a missing object: success (deletes are idempotent).
  reply = '[{"ret_code":-9223372036801033288,"message":"Resource \'x\' on node \'n1\' not found."}]'
  const entries = await c.resources.delete('x', 'n1')
  assert.equal(entries[0]?.ret_code, -9223372036801033288n)
  // INFO_RSC_ALREADY_EXISTS on create: success.
  reply = '[{"ret_code":4611686018447583000,"message":"A resource \'x\' on node \'n1\' already exists."}]'
  assert.equal((await c.resources.create('x', 'n1'))[0]?.ret_code, 4611686018447583000n)
})

test('single-object GETs: 404 with a not-found entry is undefined, a 404 for an unknown path is an error', async (t) => {
  const srv = await startServer(t, (req, res) => {
    if (req.url === '/v1/nodes/ghost') {
      replyRaw(res, 404, '[{"ret_code":-4611686018423193300,"message":"Node \'ghost\' not found."}]')
    } else if (req.url === '/v1/nodes/alpha') {
      replyRaw(res, 200, '{"name":"alpha","type":"SATELLITE","connection_status":"ONLINE","net_interfaces":[{"name":"default","address":"10.0.0.1","satellite_port":3366}]}')
    } else {
      replyRaw(res, 404, `[{"ret_code":-4611686018427386906,"message":"Path '${req.url}' not found on server."}]`)
    }
  })
  const c = client(srv.url)
  t.after(() => c.close())
  assert.equal(await c.nodes.get('ghost'), undefined)
  const alpha = await c.nodes.get('alpha')
  // Omitted empty fields read as empty.
  assert.deepEqual(alpha?.flags, [])
  assert.deepEqual(alpha?.props, {})
  assert.equal(alpha?.net_interfaces[0]?.address, '10.0.0.1')
  await assert.rejects(c.resourceGroups.get('x'), (e: unknown) => e instanceof LinstorApiError && e.code === 'LINSTOR_API_ERROR' && e.status === 404)
})

test('list queries send repeated keys; view replies are read with defaults and exact capacities', async (t) => {
  const srv = await startServer(t, (req, res) => {
    if (req.url.startsWith('/v1/view/storage-pools')) {
      replyRaw(res, 200, '[{"storage_pool_name":"DfltDisklessStorPool","node_name":"alpha","provider_kind":"DISKLESS","static_traits":{"SupportsSnapshots":"false"},"free_capacity":9223372036854775807,"total_capacity":9223372036854775807},' +
        '{"storage_pool_name":"thin","node_name":"alpha","provider_kind":"LVM_THIN","free_capacity":104857600,"total_capacity":209715200,"free_space_mgr_name":"alpha;thin"}]')
    } else {
      replyRaw(res, 200, '[{"name":"rsc1","node_name":"alpha","flags":["DISKLESS","DRBD_DISKLESS"],"state":{"in_use":true},"volumes":[{"volume_number":0,"storage_pool_name":"DfltDisklessStorPool","device_path":"/dev/drbd1000","state":{"disk_state":"Diskless"}}]}]')
    }
  })
  const c = client(srv.url)
  t.after(() => c.close())
  const rows = await c.view.resources({ nodes: ['alpha', 'bravo'], resources: ['rsc1'], props: ['Aux/pm/vmid=100'] })
  assert.equal(srv.requests[0]?.url, '/v1/view/resources?nodes=alpha&nodes=bravo&resources=rsc1&props=Aux%2Fpm%2Fvmid%3D100')
  assert.deepEqual(rows[0]?.flags, ['DISKLESS', 'DRBD_DISKLESS'])
  assert.equal(rows[0]?.state?.in_use, true)
  assert.equal(rows[0]?.volumes[0]?.device_path, '/dev/drbd1000')
  assert.deepEqual(rows[0]?.props, {})
  const pools = await c.storagePools.list({ nodes: ['alpha'] })
  assert.equal(srv.requests[1]?.url, '/v1/view/storage-pools?nodes=alpha')
  assert.ok(isDisklessPool(pools[0] ?? { provider_kind: '' }))
  // Long.MAX_VALUE read as the nearest double (2^63): far beyond any real capacity.
  assert.equal(pools[0]?.free_capacity, 2 ** 63)
  assert.equal(pools[1]?.free_capacity, 104857600)
  assert.equal(pools[1]?.free_space_mgr_name, 'alpha;thin')
})

test('names are percent-encoded in paths and bodies keep their shape', async (t) => {
  const srv = await startServer(t, (_req, res) => replyRaw(res, 200, '[]'))
  const c = client(srv.url)
  t.after(() => c.close())
  await c.resources.makeAvailable('vm 1/..', 'n1', { diskful: false })
  await c.resources.delete('rsc1', 'n1', { keepTiebreaker: true })
  await c.resources.toggleDisk('rsc1', 'n1', { operation: 'INTO_DRBD_DISKLESS' })
  await c.resources.autoplace('rsc1', { select_filter: { place_count: 2, storage_pool_list: ['thin'] }, diskless_on_remaining: false })
  await c.volumeDefinitions.modify('rsc1', 0, { size_kib: 20971520 })
  assert.deepEqual(srv.requests.map((r) => `${r.method} ${r.url} ${r.body}`), [
    'POST /v1/resource-definitions/vm%201%2F../resources/n1/make-available {"diskful":false}',
    'DELETE /v1/resource-definitions/rsc1/resources/n1?keep_tiebreaker=true ',
    'PUT /v1/resource-definitions/rsc1/resources/n1/toggle-disk {"operation":"INTO_DRBD_DISKLESS"}',
    'POST /v1/resource-definitions/rsc1/autoplace {"select_filter":{"place_count":2,"storage_pool_list":["thin"]},"diskless_on_remaining":false}',
    'PUT /v1/resource-definitions/rsc1/volume-definitions/0 {"size_kib":20971520}',
  ])
})

test('clone: started reply, 500 with messages is an error, status polling', async (t) => {
  let fail = false
  const srv = await startServer(t, (req, res) => {
    if (req.method === 'GET') {
      replyRaw(res, 200, '{"status":"COMPLETE"}')
      return
    }
    replyRaw(res, fail ? 500 : 201, JSON.stringify({
      location: '/v1/resource-definitions/src/clone/dst', source_name: 'src', clone_name: 'dst',
      messages: [{ ret_code: fail ? -1 : 20447233, message: fail ? 'clone failed' : 'ok' }],
    }).replace('"ret_code":-1', '"ret_code":-4611686018406940171'))
  })
  const c = client(srv.url)
  t.after(() => c.close())
  const started = await c.resourceDefinitions.clone('src', { name: 'dst' })
  assert.equal(started.clone_name, 'dst')
  assert.equal(await c.resourceDefinitions.cloneStatus('src', 'dst'), 'COMPLETE')
  fail = true
  await assert.rejects(c.resourceDefinitions.clone('src', { name: 'dst' }), (e: unknown) => e instanceof LinstorApiError && e.has(RC.FAIL_EXISTS_RSC_DFN) && e.status === 500)
})

test('non-LINSTOR error pages and unparsable success bodies are reported as such', async (t) => {
  let status = 502
  let body = '<html>Bad Gateway</html>'
  const srv = await startServer(t, (_req, res) => {
    res.writeHead(status, { 'content-type': 'text/html' })
    res.end(body)
  })
  const c = client(srv.url, { retry: noRetry })
  t.after(() => c.close())
  await assert.rejects(c.nodes.list(), (e: unknown) => (e as { code?: string }).code === 'LINSTOR_HTTP_ERROR' && /HTTP 502: <html>Bad Gateway<\/html>/.test((e as Error).message))
  status = 200
  body = 'not json'
  await assert.rejects(c.nodes.list(), (e: unknown) => (e as { code?: string }).code === 'LINSTOR_BAD_REPLY')
  body = '[{"name": 5}]'
  await assert.rejects(c.nodes.list(), /nodes\[0\]\.name is not a string/)
})

test('a bearer token is sent as Authorization and a 401 becomes LINSTOR_UNAUTHORIZED without the token in the message', async (t) => {
  const srv = await startServer(t, (req, res) => {
    if (req.headers['authorization'] === 'Bearer good-t0ken') replyRaw(res, 200, '{"version":"1.34.0","rest_api_version":"1.28.0"}')
    else replyRaw(res, 401, '[{"ret_code":-4611686018427387492,"message":"Unauthorized: token invalid or not provided"}]', { 'www-authenticate': 'Bearer realm="linstor-controller"' })
  })
  const good = client(srv.url, { token: 'good-t0ken' })
  t.after(() => good.close())
  assert.equal((await good.controller.version()).rest_api_version, '1.28.0')
  const bad = client(srv.url, { token: 'bad-t0ken' })
  t.after(() => bad.close())
  const err = await bad.controller.version().then(() => undefined, (e: unknown) => e)
  assert.ok(err instanceof LinstorApiError)
  assert.equal(err.code, 'LINSTOR_UNAUTHORIZED')
  assert.ok(!JSON.stringify({ m: err.message, c: err.context }).includes('t0ken'))
})

test('failover: a refusing first controller is skipped and the good one is tried first next time', async (t) => {
  const dead = await closedPort()
  const srv = await startServer(t, (_req, res) => replyRaw(res, 200, '{"version":"1.34.0","rest_api_version":"1.28.0"}'))
  const c = client(`linstor://127.0.0.1:${dead},${srv.url}`)
  t.after(() => c.close())
  assert.equal((await c.controller.version()).version, '1.34.0')
  assert.deepEqual((c.transport as unknown as { order: string[] }).order, [srv.url, `http://127.0.0.1:${dead}`])
  await c.controller.version()
  assert.equal(srv.requests.length, 2)
})

test('failover: a black-holing first controller costs one connect timeout, then the second answers', async (t) => {
  const hole = await blackHole(t)
  const srv = await startServer(t, (_req, res) => replyRaw(res, 200, '[]'))
  const c = client(`${hole.url},${srv.url}`, { connectTimeoutMs: 300, timeoutMs: 5000 })
  t.after(() => c.close())
  // A non-idempotent POST: moving on is safe because nothing reached the black hole.
  await boundedBy(5000, 'create with a black-holing first controller', () => c.resourceDefinitions.create({ resource_definition: { name: 'rsc1' } }))
  assert.equal(srv.requests.length, 1)
  // The black hole was tried first and is now remembered as the one to try last.
  assert.deepEqual((c.transport as unknown as { order: string[] }).order, [srv.url, hole.url])
})

test('all controllers down: one clear error within the deadline, naming each controller', async (t) => {
  const hole = await blackHole(t)
  const dead = await closedPort()
  const c = client(`${hole.url},linstor://127.0.0.1:${dead}`, { connectTimeoutMs: 200, timeoutMs: 1500, retry: { maxAttempts: 10, baseDelayMs: 50, maxDelayMs: 100 } })
  t.after(() => c.close())
  const err = await boundedBy(1500, 'a list with every controller down', () => c.nodes.list().then(() => undefined, (e: unknown) => e))
  assert.ok(err instanceof LinstorUnavailableError, String(err))
  assert.equal(err.code, 'LINSTOR_UNAVAILABLE')
  assert.match(err.message, new RegExp(`no LINSTOR controller reachable for GET /v1/nodes: ${hole.url.replace(/[.]/g, '\\.')} \\((connect timeout after \\d+ ms|deadline passed while connecting), \\d+ tries\\), http://127\\.0\\.0\\.1:${dead} \\(connection refused, \\d+ tries\\)$`))
  assert.ok(err.attempts.every((a) => !a.sent))
})

test('a controller that accepts but never answers hits the call deadline', async (t) => {
  const srv = await startServer(t, () => undefined)
  const c = client(srv.url, { timeoutMs: 400 })
  t.after(() => c.close())
  await assert.rejects(boundedBy(400, 'a list from a controller that never answers', () => c.nodes.list()), (e: unknown) => e instanceof LinstorUnavailableError && e.code === 'LINSTOR_DEADLINE')
})

test('a connection dropped mid-request: idempotent calls go on to the next controller, others report an unknown outcome', async (t) => {
  const dropping = await startServer(t, (_req, res) => {
    res.socket?.destroy()
  })
  const good = await startServer(t, (_req, res) => replyRaw(res, 200, '[]'))
  const c = client(`${dropping.url},${good.url}`)
  t.after(() => c.close())
  assert.deepEqual(await c.nodes.list(), [])
  assert.equal(dropping.requests.length, 1)
  assert.equal(good.requests.length, 1)
  const only = client(dropping.url)
  t.after(() => only.close())
  const err = await only.resourceDefinitions.create({ resource_definition: { name: 'x' } }).then(() => undefined, (e: unknown) => e)
  assert.ok(err instanceof LinstorUnavailableError)
  assert.equal(err.code, 'LINSTOR_OUTCOME_UNKNOWN')
  assert.equal(dropping.requests.length, 2, 'the POST was sent exactly once')
})

test('gateway errors are retried with back-off for idempotent requests only', async (t) => {
  let n = 0
  const srv = await startServer(t, (req, res) => {
    n++
    if (n < 3) {
      res.writeHead(503)
      res.end('busy')
    } else replyRaw(res, 200, '[]')
  })
  const c = client(srv.url, { retry: { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 50 } })
  t.after(() => c.close())
  assert.deepEqual(await c.nodes.list(), [])
  assert.equal(srv.requests.length, 3)
  n = 0
  await assert.rejects(c.resourceDefinitions.create({ resource_definition: { name: 'x' } }), (e: unknown) => (e as { code?: string }).code === 'LINSTOR_HTTP_ERROR')
  assert.equal(srv.requests.length, 4, 'a POST is not retried')
})

test('an abort signal stops a call at once', async (t) => {
  const srv = await startServer(t, () => undefined)
  const c = client(srv.url)
  t.after(() => c.close())
  const ac = new AbortController()
  setTimeout(() => ac.abort(), 100)
  await assert.rejects(c.nodes.list({}, { signal: ac.signal }), (e: unknown) => (e as { code?: string }).code === 'ABORTED')
})

test('keep-alive reuses one connection across calls; without it each call connects anew', async (t) => {
  const srv = await startServer(t, (_req, res) => replyRaw(res, 200, '[]'))
  const kept = client(srv.url, { keepAlive: true })
  t.after(() => kept.close())
  for (let i = 0; i < 3; i++) await kept.nodes.list()
  assert.equal(srv.connections(), 1)
  const fresh = client(srv.url)
  t.after(() => fresh.close())
  for (let i = 0; i < 2; i++) await fresh.nodes.list()
  assert.equal(srv.connections(), 3)
})
