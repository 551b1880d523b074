import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import { createLogger } from '../../core/log/index.js'

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

test('secrets are redacted from structured log fields', () => {
  const s = sink()
  const log = createLogger({ level: 'debug', destination: s.stream, name: 'test' })
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

test('the level defaults to warn and LINSTOR_VIRT_LOG_LEVEL overrides it', () => {
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
