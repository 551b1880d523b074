/** The client over HTTPS: CA verification, client certificates (mTLS), and configuration errors. */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { ConfigError } from '../../core/errors/index.js'
import { LinstorUnavailableError, createLinstorClient } from '../../core/linstor/index.js'
import { fixture } from '../helpers/paths.js'
import { replyRaw, startServer } from '../helpers/servers.js'

const pem = (name: string): Buffer => readFileSync(fixture('tls', name))
const version = '{"version":"1.34.0","git_hash":"abc","build_time":"2026-06-02T00:00:00+00:00","rest_api_version":"1.28.0"}'
const base = { env: {}, clientConfPaths: [], defaultTokenFile: '/nonexistent', retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 } }

test('linstor+ssl:// verifies the controller with the configured CA file', async (t) => {
  const srv = await startServer(t, (_req, res) => replyRaw(res, 200, version), { key: pem('server.key'), cert: pem('server.crt') })
  const c = createLinstorClient({ ...base, controllers: `linstor+ssl://127.0.0.1:${srv.port}`, tls: { caFile: fixture('tls', 'ca.crt') } })
  t.after(() => c.close())
  assert.equal((await c.controller.version()).rest_api_version, '1.28.0')
})

test('a controller certificate from another CA is refused with a clear reason', async (t) => {
  const srv = await startServer(t, (_req, res) => replyRaw(res, 200, version), { key: pem('server.key'), cert: pem('server.crt') })
  const c = createLinstorClient({ ...base, controllers: `https://127.0.0.1:${srv.port}`, tls: { ca: pem('other-ca.crt') } })
  t.after(() => c.close())
  const err = await c.controller.version().then(() => undefined, (e: unknown) => e)
  assert.ok(err instanceof LinstorUnavailableError, String(err))
  assert.match(err.message, /certificate/i)
  assert.equal(srv.requests.length, 0, 'nothing was sent to an unverified controller')
})

test('mTLS: the client certificate is presented; without it the controller refuses', async (t) => {
  const srv = await startServer(t, (_req, res) => replyRaw(res, 200, version), {
    key: pem('server.key'), cert: pem('server.crt'), ca: pem('ca.crt'), requestCert: true,
  })
  const withCert = createLinstorClient({
    ...base,
    controllers: `https://127.0.0.1:${srv.port}`,
    tls: { caFile: fixture('tls', 'ca.crt'), certFile: fixture('tls', 'client.crt'), keyFile: fixture('tls', 'client.key') },
  })
  t.after(() => withCert.close())
  await withCert.controller.version()
  assert.equal(srv.requests[0]?.clientCertSubject, 'linstor-virt test client')
  const without = createLinstorClient({ ...base, controllers: `https://127.0.0.1:${srv.port}`, tls: { caFile: fixture('tls', 'ca.crt') }, timeoutMs: 3000 })
  t.after(() => without.close())
  await assert.rejects(without.controller.version(), (e: unknown) => e instanceof LinstorUnavailableError)
  assert.equal(srv.requests.length, 1)
})

test('a client certificate without its key (or a missing file) is a configuration error', () => {
  assert.throws(
    () => createLinstorClient({ ...base, controllers: 'linstor+ssl://ctrl', tls: { certFile: fixture('tls', 'client.crt') } }),
    (e: unknown) => e instanceof ConfigError && e.issues[0]?.setting === 'tls.key',
  )
  assert.throws(
    () => createLinstorClient({ ...base, controllers: 'linstor+ssl://ctrl', tls: { caFile: '/nonexistent/ca.crt' } }),
    (e: unknown) => e instanceof ConfigError && /tls\.caFile: cannot read \/nonexistent\/ca\.crt \(ENOENT\)/.test(e.message),
  )
})

test('the token comes from LS_BEARER_TOKEN_FILE or the default auth.json when none is configured', async (t) => {
  const srv = await startServer(t, (req, res) => replyRaw(res, 200, req.headers['authorization'] === undefined ? '{"version":"none","rest_api_version":"1.28.0"}' : `{"version":"${req.headers['authorization']}","rest_api_version":"1.28.0"}`))
  const dir = mkdtempSync(join(tmpdir(), 'lv-tok-'))
  writeFileSync(join(dir, 'env-token'), 'from-env\n')
  writeFileSync(join(dir, 'auth.json'), '{"token":"from-default"}')
  const viaEnv = createLinstorClient({ ...base, controllers: srv.url, env: { LS_BEARER_TOKEN_FILE: join(dir, 'env-token') } })
  const viaDefault = createLinstorClient({ ...base, controllers: srv.url, defaultTokenFile: join(dir, 'auth.json') })
  const none = createLinstorClient({ ...base, controllers: srv.url })
  t.after(() => {
    for (const c of [viaEnv, viaDefault, none]) c.close()
  })
  assert.equal((await viaEnv.controller.version()).version, 'Bearer from-env')
  assert.equal((await viaDefault.controller.version()).version, 'Bearer from-default')
  assert.equal((await none.controller.version()).version, 'none')
})

test('linstor:// follows the controller redirect from HTTP to its HTTPS port once, and stays on HTTPS', async (t) => {
  const tls = await startServer(t, (_req, res) => replyRaw(res, 200, version), { key: pem('server.key'), cert: pem('server.crt') })
  const plain = await startServer(t, (req, res) => {
    res.writeHead(302, { location: `https://127.0.0.1:${tls.port}${req.url}` })
    res.end()
  })
  const c = createLinstorClient({ ...base, controllers: `linstor://127.0.0.1:${plain.port}`, tls: { caFile: fixture('tls', 'ca.crt') } })
  t.after(() => c.close())
  assert.equal((await c.controller.version()).version, '1.34.0')
  assert.equal((await c.controller.version()).version, '1.34.0')
  assert.equal(plain.requests.length, 1)
  assert.equal(tls.requests.length, 2)
  // http:// is taken literally: a redirect is not followed, it is an HTTP error.
  const literal = createLinstorClient({ ...base, controllers: `http://127.0.0.1:${plain.port}` })
  t.after(() => literal.close())
  await assert.rejects(literal.controller.version(), (e: unknown) => (e as { code?: string }).code === 'LINSTOR_HTTP_ERROR' && /HTTP 302/.test((e as Error).message))
})
