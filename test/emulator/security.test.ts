import assert from 'node:assert/strict'
import fs from 'node:fs'
import { test } from 'node:test'
import { createLinstorClient, LinstorApiError } from '../../core/linstor/index.js'
import { fixture } from '../helpers/paths.js'
import { clientFor, raw, withEmulator } from './helpers.js'

test('bearer token: 401 with WWW-Authenticate and FAIL_ACC_DENIED_COMMAND; /health stays open', async (t) => {
  const emu = await withEmulator(t, { token: 's3cret' })
  const denied = await raw(emu, 'GET', '/v1/nodes')
  assert.equal(denied.status, 401)
  assert.equal(denied.headers['www-authenticate'], 'Bearer realm="linstor-controller"')
  assert.match(denied.text, /^\[\{"ret_code":-4611686018427387492,"message":"Unauthorized: token invalid or not provided"/)
  assert.equal((await raw(emu, 'GET', '/v1/nodes', undefined, { headers: { authorization: 'Bearer wrong' } })).status, 401)
  assert.equal((await raw(emu, 'GET', '/v1/nodes', undefined, { headers: { authorization: 'bearer s3cret' } })).status, 200)
  assert.equal((await raw(emu, 'GET', '/health')).status, 200)
})

test('the client authenticates with the token and reports a missing one as an API error', async (t) => {
  const emu = await withEmulator(t, { token: 's3cret' })
  const good = clientFor(t, emu, { token: 's3cret' })
  assert.equal((await good.nodes.list()).length, 4)
  const bad = clientFor(t, emu)
  await assert.rejects(bad.nodes.list(), (err: unknown) => err instanceof LinstorApiError && err.status === 401)
})

test('HTTPS with a server certificate, and mTLS requiring a client certificate', async (t) => {
  const key = fs.readFileSync(fixture('tls', 'server.key'))
  const cert = fs.readFileSync(fixture('tls', 'server.crt'))
  const ca = fs.readFileSync(fixture('tls', 'ca.crt'))
  const emu = await withEmulator(t, { tls: { key, cert } })
  assert.match(emu.url, /^https:\/\/127\.0\.0\.1:\d+$/)
  const r = await raw(emu, 'GET', '/v1/controller/version', undefined, { ca })
  assert.equal(r.status, 200)
  const c = createLinstorClient({ controllers: emu.url, env: {}, clientConfPaths: [], defaultTokenFile: '/nonexistent', tls: { ca }, retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 } })
  t.after(() => c.close())
  assert.equal((await c.controller.version()).rest_api_version, '1.28.0')

  const mtls = await withEmulator(t, { tls: { key, cert, ca, requestClientCert: true } })
  await assert.rejects(raw(mtls, 'GET', '/v1/nodes', undefined, { ca }))
  const withCert = await raw(mtls, 'GET', '/v1/nodes', undefined, { ca, cert: fs.readFileSync(fixture('tls', 'client.crt')), key: fs.readFileSync(fixture('tls', 'client.key')) })
  assert.equal(withCert.status, 200)
})

test('with HTTPS, an optional plain-HTTP listener redirects /v1 with 302 to the HTTPS port', async (t) => {
  const key = fs.readFileSync(fixture('tls', 'server.key'))
  const cert = fs.readFileSync(fixture('tls', 'server.crt'))
  const emu = await withEmulator(t, { tls: { key, cert }, httpRedirectPort: 0 })
  assert.match(emu.redirectUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+$/)
  const r = await raw(emu.redirectUrl ?? '', 'GET', '/v1/controller/version')
  assert.equal(r.status, 302)
  assert.equal(r.headers.location, `${emu.url}/v1/controller/version`)
  assert.equal((await raw(emu.redirectUrl ?? '', 'GET', '/health')).status, 200)
})
