/**
 * Issue 28, finding 4 (the transport): a write is never sent twice unless it is known not to have
 * reached the controller, also over a kept-alive connection the controller resets after reading the
 * request; and replies are bounded by what LINSTOR can legitimately send, with a clear error past
 * the bound (the reply is not asked of the next controller, nor again).
 */
import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import { isPluginError } from '../../core/errors/index.js'
import { HttpLinstorTransport, MAX_READ_REPLY_BYTES, MAX_WRITE_REPLY_BYTES, parseControllerUrl } from '../../core/linstor/index.js'

/** A plain HTTP server on 127.0.0.1:0 that keeps connections alive; `handle` sees each request with its body. */
async function server(t: TestContext, handle: (req: http.IncomingMessage, body: string, res: http.ServerResponse, socket: Socket) => void): Promise<string> {
  const srv = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => handle(req, Buffer.concat(chunks).toString('utf8'), res, req.socket))
  })
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  t.after(() => {
    srv.closeAllConnections()
    srv.close()
  })
  return `http://127.0.0.1:${(srv.address() as AddressInfo).port}`
}

const OK = JSON.stringify([{ ret_code: 0, message: 'ok' }])

test('a POST whose kept-alive connection the controller resets after reading it is not sent again: LINSTOR_OUTCOME_UNKNOWN, the controller saw it once', async (t) => {
  const seen: string[] = []
  const url = await server(t, (req, _body, res, socket) => {
    seen.push(`${req.method} ${req.url ?? ''}`)
    // The controller read the request (and may have applied it), then the connection broke.
    if (req.method === 'POST') socket.resetAndDestroy()
    else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ version: '1.34.0', rest_api_version: '1.25.0' }))
  })
  const transport = new HttpLinstorTransport({ controllers: [parseControllerUrl(url)], keepAlive: true, retry: { maxAttempts: 5, baseDelayMs: 1, maxDelayMs: 5 } })
  t.after(() => transport.close())
  // A read first: its connection is kept alive, and would carry the next request.
  assert.equal((await transport.request({ method: 'GET', path: '/v1/controller/version' })).status, 200)
  await assert.rejects(transport.request({ method: 'POST', path: '/v1/resource-definitions', body: '{"resource_definition":{"name":"x1"}}' }), (e: unknown) => isPluginError(e) && e.code === 'LINSTOR_OUTCOME_UNKNOWN')
  assert.deepEqual(seen.filter((s) => s.startsWith('POST')), ['POST /v1/resource-definitions'], 'the controller got the POST exactly once')
})

test('a POST after a kept-alive read goes over a connection of its own (a stale kept-alive socket can never make its outcome unknown)', async (t) => {
  const sockets = new Map<string, Socket>()
  const url = await server(t, (req, _body, res, socket) => {
    sockets.set(`${req.method ?? ''}#${sockets.size}`, socket)
    res.writeHead(200, { 'content-type': 'application/json' }).end(req.method === 'GET' ? '{"version":"1.34.0"}' : OK)
  })
  const transport = new HttpLinstorTransport({ controllers: [parseControllerUrl(url)], keepAlive: true })
  t.after(() => transport.close())
  await transport.request({ method: 'GET', path: '/v1/controller/version' })
  await transport.request({ method: 'GET', path: '/v1/controller/version' })
  await transport.request({ method: 'POST', path: '/v1/resource-definitions', body: '{}' })
  await transport.request({ method: 'PUT', path: '/v1/resource-definitions/x1', body: '{}' })
  const [get1, get2, post, put] = [...sockets.values()]
  assert.equal(get1, get2, 'reads share a kept-alive connection')
  assert.notEqual(post, get2, 'the POST did not reuse it')
  assert.equal(put, get2, 'an idempotent write may reuse it')
})

test('a read reply past the bound fails at once with LINSTOR_REPLY_TOO_LARGE, naming the bound; the next controller is not asked, nor the same again', async (t) => {
  let asked = 0
  const huge = Buffer.alloc(1024 * 1024, 0x20)
  const big = await server(t, (_req, _body, res) => {
    asked++
    res.writeHead(200, { 'content-type': 'application/json' })
    res.write('[')
    // Streams past the bound; the client must stop reading.
    let sent = 0
    const more = (): void => {
      while (sent < 4 && res.write(huge)) sent++
      if (sent < 4) res.once('drain', more)
      else res.end(']')
    }
    more()
  })
  let otherAsked = 0
  const other = await server(t, (_req, _body, res) => {
    otherAsked++
    res.writeHead(200, { 'content-type': 'application/json' }).end('[]')
  })
  const transport = new HttpLinstorTransport({ controllers: [parseControllerUrl(big), parseControllerUrl(other)], maxResponseBytes: 2 * 1024 * 1024, retry: { maxAttempts: 5, baseDelayMs: 1, maxDelayMs: 5 } })
  t.after(() => transport.close())
  await assert.rejects(transport.request({ method: 'GET', path: '/v1/view/resources' }), (e: unknown) => {
    assert.ok(isPluginError(e), String(e))
    assert.equal(e.code, 'LINSTOR_REPLY_TOO_LARGE')
    assert.match(e.message, /GET \/v1\/view\/resources/)
    assert.match(e.message, /2 MiB/)
    return true
  })
  assert.equal(asked, 1, 'asked once')
  assert.equal(otherAsked, 0, 'the next controller was not asked the same thing')
})

test('the default bounds: reads fit a 10,000-volume view (about 62 MiB in the emulator), a write reply is a list of a few entries', () => {
  assert.ok(MAX_READ_REPLY_BYTES >= 2 * 62 * 1024 * 1024, `${MAX_READ_REPLY_BYTES}`)
  assert.ok(MAX_READ_REPLY_BYTES < 256 * 1024 * 1024, 'below the old 256 MiB')
  assert.ok(MAX_WRITE_REPLY_BYTES <= 8 * 1024 * 1024 && MAX_WRITE_REPLY_BYTES >= 1024 * 1024)
})

test('a write reply past its own bound is refused the same way (LINSTOR answers a write with a short list of entries)', async (t) => {
  const url = await server(t, (_req, _body, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end('[' + ' '.repeat(MAX_WRITE_REPLY_BYTES + 10) + ']')
  })
  const transport = new HttpLinstorTransport({ controllers: [parseControllerUrl(url)] })
  t.after(() => transport.close())
  await assert.rejects(transport.request({ method: 'PUT', path: '/v1/resource-definitions/x1', body: '{}' }), (e: unknown) => isPluginError(e) && e.code === 'LINSTOR_REPLY_TOO_LARGE')
})
