/**
 * Issue 28, finding 4 (the agent and the one-shot): memory per distinct storage configuration is
 * bounded (an evicting cache whose dropped LINSTOR clients are closed once no call uses them), and
 * the one-shot's stdin has a deadline.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import http from 'node:http'
import { join } from 'node:path'
import { test } from 'node:test'
import { callAgent } from '../../cli/agent/client.js'
import { startAgent } from '../../cli/agent/server.js'
import { buildDispatcher } from '../../cli/dispatcher.js'
import { silentLogger } from '../../core/log/index.js'
import { MAX_CACHED_CONFIGURATIONS, ServiceRegistry } from '../../core/protocol/index.js'
import { withEmulator } from '../emulator/helpers.js'
import { tempDir } from '../helpers/core.js'
import { repoRoot } from '../helpers/paths.js'

test('the services keep at most their bound of configurations: the least recently used go, each disposed once, not while a call uses it', () => {
  const disposed: string[] = []
  const r = new ServiceRegistry(true, { maxEvictable: 8 })
  const make = (k: string) => (): { k: string } => ({ k })
  const dispose = (v: { k: string }): void => {
    disposed.push(v.k)
  }
  // A call holds configuration c0 for its whole run.
  const held = r.lease()
  held.services.shared('c0', make('c0'), dispose, { evictable: true })
  for (let i = 1; i < 2000; i++) r.shared(`c${i}`, make(`c${i}`), dispose, { evictable: true })
  assert.ok(r.evictableSize <= 8, `${r.evictableSize} configurations kept`)
  assert.equal(disposed.length, 2000 - 8 - 1, 'every dropped one disposed, but the one a call still uses')
  assert.ok(!disposed.includes('c0'), 'not disposed while in use')
  held.release()
  assert.ok(disposed.includes('c0'), 'disposed when the call ends')
  assert.equal(new Set(disposed).size, disposed.length, 'each disposed once')
  // Recently used ones stay.
  r.shared('c1999', make('x'), dispose, { evictable: true })
  assert.ok(!disposed.includes('c1999'))
  // Values that are not evictable are never dropped.
  r.shared('health', make('health'), dispose)
  for (let i = 0; i < 100; i++) r.shared(`d${i}`, make(`d${i}`), dispose, { evictable: true })
  assert.ok(!disposed.includes('health'))
  r.close()
})

function health(socketPath: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    http.get({ socketPath, path: '/health' }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>))
    }).on('error', reject)
  })
}

test('the agent under 2,000 distinct configurations keeps at most its bound of them, and still answers', async (t) => {
  const emu = await withEmulator(t)
  const dir = tempDir(t, 'lv-agent-bounds-')
  const socketPath = join(dir, 'agent.sock')
  const agent = await startAgent({ socketPath, dispatcher: buildDispatcher(silentLogger()), logger: silentLogger(), metrics: false, pendingSweepMs: 0 })
  t.after(() => agent.close())
  const http1 = new http.Agent({ keepAlive: true, maxSockets: 8 })
  t.after(() => http1.destroy())
  const lockDir = join(dir, 'locks')
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < 2000) {
      const i = next++
      // Distinct only in a setting that changes nothing: each is still a configuration of its own.
      const reply = await callAgent(socketPath, { v: 1, platform: 'core', operation: 'info', arguments: { resource: 'vm-1-disk-0' }, config: { controllers: emu.url, lockDir, capacityMaxAgeMs: i } }, 30_000, http1)
      assert.ok('result' in reply, JSON.stringify(reply))
    }
  }
  await Promise.all(Array.from({ length: 8 }, worker))
  const h = await health(socketPath)
  assert.ok(typeof h['configurations'] === 'number' && h['configurations'] <= MAX_CACHED_CONFIGURATIONS, `the agent keeps ${String(h['configurations'])} configurations`)
})

test('the one-shot gives up on a stdin that is never closed: CALL_INVALID, and the process exits', async () => {
  const bundle = join(repoRoot(), 'dist', 'linstor-virt.js')
  const child = spawn(process.execPath, [bundle, 'call', '--stdin'], { env: { PATH: process.env['PATH'] ?? '', LINSTOR_VIRT_STDIN_DEADLINE_MS: '300', LINSTOR_VIRT_LOG_LEVEL: 'silent' }, stdio: ['pipe', 'pipe', 'pipe'] })
  // Half a request, and stdin stays open.
  child.stdin.write('{"v":1,"platform":"core",')
  let out = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (c: string) => (out += c))
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000)
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)))
  clearTimeout(killer)
  child.stdin.destroy()
  assert.equal(code, 0, `exited by itself with a reply (${out})`)
  const reply = JSON.parse(out.trim()) as { error?: { code: string; message: string } }
  assert.equal(reply.error?.code, 'CALL_INVALID')
  assert.match(reply.error?.message ?? '', /stdin within 300 ms/)
})
