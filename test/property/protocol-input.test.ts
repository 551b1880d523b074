/**
 * The call protocol under arbitrary input, over every way in: parseCallRequest, the dispatcher,
 * the one-shot entry (callOnce, the text `linstor-virt call --stdin` reads) and the agent on a unix
 * socket. Any body gets one reply: a result, or an error with a catalogued code (never
 * INTERNAL_ERROR) whose message names each bad field and never shows config values; the correlation
 * id comes back when there was one; nothing hangs; the agent keeps serving.
 */
import assert from 'node:assert/strict'
import http from 'node:http'
import { join } from 'node:path'
import { test } from 'node:test'
import fc from 'fast-check'
import { callAgent } from '../../cli/agent/client.js'
import { startAgent } from '../../cli/agent/server.js'
import { callOnce } from '../../cli/commands/call.js'
import { buildDispatcher } from '../../cli/dispatcher.js'
import { silentLogger } from '../../core/log/index.js'
import { MAX_REQUEST_BYTES, ServiceRegistry, parseCallRequest } from '../../core/protocol/index.js'
import type { CallReply } from '../../core/protocol/index.js'
import { withEmulator } from '../emulator/helpers.js'
import { tempDir } from '../helpers/core.js'
import { anyString, anyValue, assertCleanReply, assertErrorReply, dispatchClean, looseRecord, nonString, outcome, runs, show, within } from './arbitraries.js'

// Nothing may fall back to a controller on this machine: a config without controllers gets a closed port.
process.env['LS_CONTROLLERS'] = 'http://127.0.0.1:9'
// callOnce logs through the CLI's logger: keep the test output clean.
process.env['LINSTOR_VIRT_LOG_LEVEL'] = 'silent'

const REQUEST_KEYS = ['v', 'platform', 'operation', 'arguments', 'config', 'deadlineMs', 'id']
const SECRET = 'tok-SECRET-4711'

/** For each request field, values the protocol refuses. */
const BAD_FIELD: Record<string, fc.Arbitrary<unknown>> = {
  v: fc.oneof(fc.constantFrom(0, 2, '1', 1.5, null, true, [1], -1, 1e21), fc.integer().filter((n) => n !== 1)),
  platform: fc.oneof(nonString, fc.constantFrom('', 'Core', 'core proxmox', '1core', 'a'.repeat(65), 'core\n', 'prox_mox', '-core')),
  operation: fc.oneof(nonString, fc.constantFrom('', 'Ping', 'ping!', '_ping', 'a'.repeat(129), 'ping\0', 'tm clone')),
  arguments: fc.constantFrom(null, [], 'resource=x', 5, true, [{ resource: 'x' }]),
  config: fc.constantFrom(null, [SECRET], SECRET, 4711, true),
  deadlineMs: fc.oneof(fc.constantFrom(0, -1, 1.5, 86_400_001, '100', NaN, Infinity, null, true, [100], 2 ** 53), fc.integer({ max: 0 }), fc.integer({ min: 86_400_001 })),
  id: fc.oneof(fc.constantFrom(5, null, true, [], {}, 'x'.repeat(129))),
}

test('parseCallRequest: any value is a request or CALL_INVALID; one bad field in a valid request is named, and config values are never shown', () => {
  fc.assert(
    fc.property(fc.oneof(anyValue, looseRecord(REQUEST_KEYS)), (raw) => {
      const o = outcome(() => parseCallRequest(raw), `request ${show(raw)}`)
      if (o.ok) {
        assert.equal(o.value.v, 1)
        assert.match(o.value.platform, /^[a-z][a-z0-9-]{0,63}$/)
        assert.match(o.value.operation, /^[a-z][a-z0-9_.-]{0,127}$/)
      } else assert.equal(o.error.code, 'CALL_INVALID')
    }),
    runs(2000),
  )
  const field = fc.constantFrom(...Object.keys(BAD_FIELD)).chain((f) => fc.tuple(fc.constant(f), BAD_FIELD[f] as fc.Arbitrary<unknown>))
  fc.assert(
    fc.property(field, fc.option(fc.constantFrom('extra', 'V', '__proto__x'), { nil: undefined }), ([name, bad], extra) => {
      const raw: Record<string, unknown> = { v: 1, platform: 'core', operation: 'ping', arguments: {}, config: { token: SECRET }, deadlineMs: 1000, id: 'c-1', [name]: bad }
      if (extra !== undefined) raw[extra] = SECRET
      const o = outcome(() => parseCallRequest(raw), `${name}=${show(bad)}`)
      assert.ok(!o.ok, `${name} = ${show(bad)} was accepted`)
      assert.equal(o.error.code, 'CALL_INVALID')
      assert.ok(o.error.message.includes(name), `${name} = ${show(bad)}: ${o.error.message}`)
      if (extra !== undefined) assert.ok(o.error.message.includes(extra), o.error.message)
      if (name === 'config') assert.ok(!o.error.message.includes('SECRET') && !o.error.message.includes('4711'), o.error.message)
    }),
    runs(2000),
  )
})

const validConfigFor = (url: string, lockDir: string): fc.Arbitrary<Record<string, unknown>> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constant({ controllers: url, lockDir, localNode: 'alpha' }) },
    looseRecord(['lockDir', 'localNode', 'deviceRoot', 'capacityMaxAgeMs', 'controllerVolumes', 'tokenFile']).map((c) => ({ ...c, controllers: url })),
    fc.constant({ lockDir }),
  )

test('the dispatcher: any body, any platform and operation, any arguments: one clean reply, within its deadline, with the id it was given', async (t) => {
  const emu = await withEmulator(t, { cloneDurationMs: 5 })
  const lockDir = tempDir(t, 'lv-prop-proto-')
  const services = new ServiceRegistry(true)
  t.after(() => services.close())
  const dispatcher = buildDispatcher(silentLogger())
  const known = dispatcher.operations()
  const platform = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...Object.keys(known)) }, fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/))
  const request = fc.oneof(
    anyValue,
    looseRecord(REQUEST_KEYS),
    fc
      .tuple(platform, validConfigFor(emu.url, lockDir), fc.oneof(fc.dictionary(fc.constantFrom('resource', 'node', 'policy', 'maxAgeMs', 'argv', 'volume', 'volname'), anyValue, { maxKeys: 3 }), fc.constantFrom({ resource: 'r1', node: 'alpha' }, { policy: { placeCount: 2 } }, { policy: { placeCount: 'x' } })), fc.option(anyString, { nil: undefined }), fc.option(fc.integer({ min: 1, max: 3000 }), { nil: undefined }))
      .chain(([p, config, args, id, deadlineMs]) =>
        fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...(known[p] ?? ['ping'])) }, fc.stringMatching(/^[a-z][a-z0-9_.-]{0,12}$/)).map((operation) => ({
          v: 1,
          platform: p,
          operation,
          arguments: args,
          config,
          ...(id !== undefined ? { id } : {}),
          ...(deadlineMs !== undefined ? { deadlineMs } : {}),
        })),
      ),
  )
  await fc.assert(
    fc.asyncProperty(request, async (raw) => {
      const reply = await dispatchClean(dispatcher, services, raw, `request ${show(raw)}`, 6000)
      const id = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as Record<string, unknown>)['id'] : undefined
      if (typeof id === 'string') assert.equal(reply.id, id)
      else assert.ok(!('id' in reply), `an id came back that was not sent: ${JSON.stringify(reply)}`)
      if ('error' in reply && reply.error.code === 'UNKNOWN_OPERATION') {
        const r = raw as { platform: string; operation: string }
        assert.ok(reply.error.message.startsWith(`unknown operation ${r.platform}.${r.operation}`), reply.error.message)
      }
    }),
    runs(300),
  )
})

test('the one-shot entry: any text on stdin gets one clean reply line', async () => {
  const text = fc.oneof(
    anyString,
    fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
    fc.constantFrom('{"v":1,"platform":"core","operation":"ping"}', '{"v":1,"platform":"core","operation":"ping"', '\ufeff{"v":1}', '{"v":1,"platform":"core","operation":"ping","id":"x"}{}', 'null', '[]', '{"__proto__":{"v":1}}', '{"v":1,"platform":"core","operation":"ping","config":null}'),
    fc.tuple(fc.constant('{"v":1,"platform":"core","operation":"ping","arguments":{}}'), fc.nat()).map(([s, n]) => s.slice(0, n % s.length)),
  )
  await fc.assert(
    fc.asyncProperty(text, async (t) => {
      const reply = await within(callOnce(t), 6000, `callOnce ${JSON.stringify(t.slice(0, 60))}`)
      assertCleanReply(reply, `callOnce ${JSON.stringify(t.slice(0, 60))}`)
      assert.ok(!JSON.stringify(reply).includes('\n'), 'the reply is not one line')
    }),
    runs(300),
  )
})

/** One raw HTTP request to the agent's socket: status and parsed body (bounded in time). */
function rawCall(socketPath: string, method: string, path: string, body: Buffer | undefined, headers: Record<string, string>): Promise<{ status: number; reply: CallReply }> {
  return within(
    new Promise((resolve, reject) => {
      const req = http.request({ socketPath, method, path, headers: { connection: 'close', ...headers, ...(body !== undefined ? { 'content-length': String(body.length) } : {}) } }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, reply: JSON.parse(Buffer.concat(chunks).toString('utf8')) as CallReply })
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)))
          }
        })
      })
      req.on('error', reject)
      req.end(body)
    }),
    5000,
    `${method} ${path}`,
  )
}

test('the agent on a unix socket: any body, path, method or content type gets a clean reply, config of the wrong type is refused also when the agent adds its controllers, and it keeps serving', async (t) => {
  const socketPath = join(tempDir(t, 'lv-prop-agent-'), 'agent.sock')
  const agent = await startAgent({ socketPath, dispatcher: buildDispatcher(silentLogger()), logger: silentLogger(), controllers: 'http://127.0.0.1:9', clientTimeoutMs: 2000 })
  t.after(() => agent.close())
  const body = fc.oneof(
    anyString,
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
    looseRecord(REQUEST_KEYS).map((r) => JSON.stringify(r)),
    fc.constantFrom('{"v":1,"platform":"core","operation":"ping","id":"a"}', '{"v":1,"platform":"core","operation":"ping"', '', ' ', '{"v":1,"platform":"core","operation":"ping","config":[]}'),
    fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('latin1')),
  )
  await fc.assert(
    fc.asyncProperty(body, async (b) => {
      const reply = await within(callAgent(socketPath, b, 5000), 6000, `agent ${JSON.stringify(b.slice(0, 60))}`)
      assertCleanReply(reply, `agent ${JSON.stringify(b.slice(0, 60))}`)
    }),
    runs(200),
  )
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(null, [], [1], 5, 'x', true), async (config) => {
      const reply = await within(callAgent(socketPath, { v: 1, platform: 'core', operation: 'ping', config }, 5000), 6000, `config ${show(config)}`)
      assertErrorReply(reply, 'CALL_INVALID', ['config'], `config ${show(config)}`)
    }),
    runs(30),
  )
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
      fc.oneof(fc.constantFrom('/v1/call', '/v1/call/', '/v1/CALL', '/', '/health/x', '/v1/call?x=1', '/%2e%2e/etc'), fc.webPath().map((p) => `/${p.replace(/^\/+/, '')}`)),
      fc.constantFrom('application/json', 'text/plain', 'application/json; charset=latin1', 'application/x-www-form-urlencoded', ''),
      fc.oneof(fc.constant(undefined), anyString.map((s) => Buffer.from(s)), fc.constant(Buffer.from('{"v":1,"platform":"core","operation":"ping"}'))),
      async (method, path, type, b) => {
        // GET /health answers with its own document (it waits on the controller's version): left to the agent tests.
        fc.pre(!(method === 'GET' && path === '/health'))
        const { status, reply } = await rawCall(socketPath, method, path, b, type === '' ? {} : { 'content-type': type })
        assertCleanReply(reply, `${method} ${path} (${status})`)
        if ('result' in reply) assert.ok(method === 'POST' && path.startsWith('/v1/call'), `${method} ${path} ran a call`)
      },
    ),
    runs(120),
  )
  const big = await within(callAgent(socketPath, JSON.stringify({ v: 1, platform: 'core', operation: 'ping', arguments: { blob: 'x'.repeat(MAX_REQUEST_BYTES) } }), 5000), 6000, 'oversized body')
  assertErrorReply(big, 'CALL_INVALID', [`larger than ${MAX_REQUEST_BYTES} bytes`], 'oversized body')
  const ping = await callAgent(socketPath, { v: 1, platform: 'core', operation: 'ping' }, 5000)
  assert.ok('result' in ping, 'the agent stopped serving')
})
