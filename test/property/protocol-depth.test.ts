/**
 * Issue 28, finding 3: a request whose `config` nests 200,000 levels was answered INTERNAL_ERROR
 * (Maximum call stack size exceeded) while the same nesting in `arguments` was refused properly.
 * Every field of every platform's request, nested at any depth (a few levels, the limit, just past
 * it, 200,000), and any value at any depth of a platform's own configuration, gets a reply with the
 * protocol's own codes: never INTERNAL_ERROR, never a JavaScript error's text; through the
 * dispatcher, the one-shot entry and the agent's socket.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import fc from 'fast-check'
import { callAgent } from '../../cli/agent/client.js'
import { startAgent } from '../../cli/agent/server.js'
import { callOnce } from '../../cli/commands/call.js'
import { buildDispatcher } from '../../cli/dispatcher.js'
import { silentLogger } from '../../core/log/index.js'
import { MAX_NESTING, ServiceRegistry } from '../../core/protocol/index.js'
import { tempDir } from '../helpers/core.js'
import { pool } from '../helpers/pool.js'
import { anyValue, assertCleanReply, assertErrorReply, runs, show } from './arbitraries.js'

process.env['LS_CONTROLLERS'] = 'http://127.0.0.1:9'
process.env['LINSTOR_VIRT_LOG_LEVEL'] = 'silent'

/** A JSON text of `depth` nested objects {"k":{"k":...}} around `leaf`, built without recursion (the same key at every level, as a replacer list keeps it). */
function nestedText(depth: number, key = 'k', leaf = '1'): string {
  return `{"${key}":`.repeat(depth) + leaf + '}'.repeat(depth)
}

/** The same nesting as a list [[[...]]]. */
function nestedList(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth)
}

/** Operations of every platform, with arguments that pass their own checks (so the config is read). */
const PLATFORM_OPS: readonly [string, string, string][] = [
  ['core', 'info', '{"resource":"vm-1-disk-0"}'],
  ['core', 'attach', '{"resource":"vm-1-disk-0","node":"alpha"}'],
  ['core', 'capacity', '{"policy":{}}'],
  ['proxmox', 'status', '{}'],
  ['proxmox', 'alloc_image', '{"vmid":100,"size":4096}'],
  ['cinder', 'create_volume', '{"volume":{"id":"5d2a1a38-8f1e-4f5b-9a34-6b1e0b0c1d2e","size":1}}'],
  ['cinder', 'stats', '{}'],
  ['opennebula', 'tm.ln', '{"argv":["one:/var/lib/one/datastores/1/abc","alpha:/var/lib/one/datastores/0/7/disk.0","7","1"]}'],
]

/** Each field that takes an object, with where the deep value goes (a key the platform reads). */
const FIELDS: readonly { field: 'arguments' | 'config'; key: string }[] = [
  { field: 'config', key: 'controllers' },
  { field: 'config', key: 'scfg' },
  { field: 'config', key: 'options' },
  { field: 'config', key: 'nodeMap' },
  { field: 'config', key: 'lockDir' },
  { field: 'config', key: 'unknown' },
  { field: 'arguments', key: 'resource' },
  { field: 'arguments', key: 'volume' },
  { field: 'arguments', key: 'argv' },
]

function requestText(platform: string, operation: string, args: string, field: 'arguments' | 'config', key: string, deep: string): string {
  const other = field === 'config' ? `"arguments":${args}` : '"config":{"lockDir":"/nonexistent-lv"}'
  return `{"v":1,"platform":"${platform}","operation":"${operation}","deadlineMs":3000,${other},"${field}":{"${key}":${deep}}}`
}

test('nesting in every field of every platform, at every depth up to 200,000 levels: CALL_INVALID past the limit, a clean reply below it (one-shot entry and dispatcher)', async () => {
  const depths = [1, 5, MAX_NESTING - 3, MAX_NESTING + 1, 1000, 200_000]
  const cases: (() => Promise<void>)[] = []
  for (const [platform, operation, args] of PLATFORM_OPS) {
    for (const { field, key } of FIELDS) {
      for (const depth of depths) {
        for (const shape of ['object', 'list'] as const) {
          cases.push(async () => {
            const deep = shape === 'object' ? nestedText(depth, key) : nestedList(depth)
            const text = requestText(platform, operation, args, field, key, deep)
            const context = `${platform}.${operation} ${field}.${key} nested ${depth} (${shape})`
            const reply = await callOnce(text)
            assertCleanReply(reply, context)
            if (depth + 2 > MAX_NESTING) assertErrorReply(reply, 'CALL_INVALID', [field, `${MAX_NESTING} levels`], context)
          })
        }
      }
    }
  }
  // The calls below the limit mostly wait on the refused controller's retries: several at once.
  await pool(cases, 16)
  // The nesting of the request itself, outside any field, too.
  const top = await callOnce(`{"v":1,"platform":"core","operation":"ping","x":${nestedText(200_000, 'x')}}`)
  assertErrorReply(top, 'CALL_INVALID', [], 'an unknown field nested 200,000 levels')
})

test('the agent answers a config nested 200,000 levels with CALL_INVALID and keeps serving', async (t) => {
  const socketPath = join(tempDir(t, 'lv-depth-agent-'), 'agent.sock')
  const agent = await startAgent({ socketPath, dispatcher: buildDispatcher(silentLogger()), logger: silentLogger(), controllers: 'http://127.0.0.1:9' })
  t.after(() => agent.close())
  for (const [platform, operation, args] of PLATFORM_OPS) {
    for (const field of ['config', 'arguments'] as const) {
      // {"x":{"x":... 200,000 levels (1.2 MB) is past the agent's size limit: "x":[[[...]]] is not.
      const reply = await callAgent(socketPath, requestText(platform, operation, args, field, 'x', nestedList(200_000)), 10_000)
      assertErrorReply(reply, 'CALL_INVALID', [field, `${MAX_NESTING} levels`], `agent ${platform}.${operation} ${field}`)
    }
  }
  const ping = await callAgent(socketPath, { v: 1, platform: 'core', operation: 'ping' })
  assert.ok('result' in ping, 'the agent keeps serving')
})

test('any value at any depth of any field the platforms read: a clean reply with a catalogued code', async () => {
  const dispatcher = buildDispatcher(silentLogger())
  // A value put at a path of keys (1 to 8 deep) below config or arguments.
  const keyName = fc.constantFrom('controllers', 'scfg', 'options', 'nodeMap', 'lockDir', 'stateDir', 'tokenFile', 'deviceRoot', 'linstor-controllers', 'linstor-place-count', 'value', 'section', 'resource', 'volume', 'argv', 'size', 'id', '0', '__proto__', 'constructor')
  const placed = fc.record({
    op: fc.constantFrom(...PLATFORM_OPS.map(([p, o]) => [p, o] as const)),
    field: fc.constantFrom('config' as const, 'arguments' as const),
    path: fc.array(keyName, { minLength: 1, maxLength: 8 }),
    value: anyValue,
  })
  // Each run is a batch of up to fifteen placements dispatched at once (each mostly waits on the refused
  // controller's retries); a failing batch still shrinks to its failing placement.
  const check = async ({ op: [platform, operation], field, path, value }: { op: readonly [string, string]; field: 'config' | 'arguments'; path: string[]; value: unknown }): Promise<void> => {
    const root: Record<string, unknown> = {}
    let at = root
    for (const [i, k] of path.entries()) {
      if (i === path.length - 1) Object.defineProperty(at, k, { value, enumerable: true, configurable: true, writable: true })
      else {
        const next: Record<string, unknown> = {}
        Object.defineProperty(at, k, { value: next, enumerable: true, configurable: true, writable: true })
        at = next
      }
    }
    const request = { v: 1, platform, operation, deadlineMs: 3000, arguments: {}, config: { lockDir: '/nonexistent-lv' }, [field]: root }
    const services = new ServiceRegistry(false)
    try {
      assertCleanReply(await dispatcher.dispatch(JSON.parse(JSON.stringify(request)), services), `${platform}.${operation} ${field}.${path.join('.')} = ${show(value)}`)
    } finally {
      services.close()
    }
  }
  await fc.assert(
    fc.asyncProperty(fc.array(placed, { minLength: 1, maxLength: 15 }), async (batch) => {
      await Promise.all(batch.map(check))
    }),
    runs(40),
  )
})
