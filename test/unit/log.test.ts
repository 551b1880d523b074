import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { createLogger, flushLogs, loadLogger, silentLogger } from '../../core/log/index.js'
import { repoRoot } from '../helpers/paths.js'

function sink(): { stream: Writable; lines: () => Record<string, unknown>[]; text: () => string } {
  const chunks: string[] = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString())
      cb()
    },
  })
  return { stream, text: () => chunks.join(''), lines: () => chunks.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) }
}

test('secrets are redacted from structured log fields', async () => {
  const s = sink()
  const log = await loadLogger({ level: 'debug', destination: s.stream, name: 'test' })
  log.info({
    token: 'T0KEN-top',
    password: 'PW-top',
    request: { headers: { authorization: 'Bearer T0KEN-hdr' }, token: 'T0KEN-nested' },
    headers: { authorization: 'Bearer T0KEN-h2' },
    tls: { key: '-----BEGIN PRIVATE KEY----- K3Y', cert: 'public-cert' },
    config: { linstor: { secret: 'S3CRET', token: 'T0KEN-cfg' } },
    resource: 'vm-100-disk-0',
  }, 'call')
  const out = s.text()
  for (const secret of ['T0KEN', 'PW-top', 'K3Y', 'S3CRET']) assert.ok(!out.includes(secret), `${secret} leaked: ${out}`)
  const [line] = s.lines()
  assert.equal(line?.['resource'], 'vm-100-disk-0')
  assert.equal((line?.['tls'] as Record<string, unknown>)['cert'], 'public-cert')
  assert.equal(line?.['name'], 'test')
  assert.equal(line?.['msg'], 'call')
})

test('the level defaults to warn and LINSTOR_VIRT_LOG_LEVEL overrides it', async () => {
  await loadLogger()
  const s = sink()
  const log = createLogger({ destination: s.stream })
  log.info('hidden')
  log.warn('shown')
  assert.deepEqual(s.lines().map((l) => l['msg']), ['shown'])
  const before = process.env['LINSTOR_VIRT_LOG_LEVEL']
  process.env['LINSTOR_VIRT_LOG_LEVEL'] = 'debug'
  try {
    const s2 = sink()
    createLogger({ destination: s2.stream }).debug('now shown')
    assert.deepEqual(s2.lines().map((l) => l['msg']), ['now shown'])
  } finally {
    if (before === undefined) delete process.env['LINSTOR_VIRT_LOG_LEVEL']
    else process.env['LINSTOR_VIRT_LOG_LEVEL'] = before
  }
})

test('a logger created before pino is loaded keeps its lines, in order, with their bindings, and writes them once loaded', () => {
  // A fresh process, so pino is certainly not loaded yet when the lines are logged.
  const logModule = join(repoRoot(), 'build', 'core', 'log', 'index.js')
  const script = `
    const { createLogger, flushLogs } = await import(${JSON.stringify(logModule)})
    const log = createLogger({ name: 'early', level: 'info' })
    log.debug('below the level')
    log.info('first')
    const child = log.child({ resource: 'vm-1-disk-0' })
    child.warn({ token: 'T0KEN-early' }, 'second')
    log.child({ a: 1 }).child({ b: 2 }).error('third')
    await flushLogs()
    process.stdout.write('flushed\\n')
    log.info('after')
    process.exit(0)
  `
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, LINSTOR_VIRT_LOG_LEVEL: '' } })
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout, 'flushed\n')
  const lines = r.stderr.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
  assert.deepEqual(lines.map((l) => l['msg']), ['first', 'second', 'third', 'after'])
  assert.equal(lines[1]?.['resource'], 'vm-1-disk-0')
  assert.equal(lines[1]?.['token'], '[redacted]')
  assert.equal(lines[2]?.['a'], 1)
  assert.equal(lines[2]?.['b'], 2)
  assert.ok(lines.every((l) => l['name'] === 'early'))
})

test('flushLogs resolves at once when nothing was logged, and the silent logger drops everything', async () => {
  await flushLogs()
  const s = silentLogger()
  s.error('dropped')
  assert.equal(s.child({ x: 1 }), s)
})
