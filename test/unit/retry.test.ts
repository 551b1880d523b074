import assert from 'node:assert/strict'
import { test } from 'node:test'
import { DEFAULT_RETRY_POLICY, parseRetryAfter, retryDelay } from '../../core/linstor/index.js'
import type { RetryInput } from '../../core/linstor/index.js'

const policy = { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 1000 }
const input = (over: Partial<RetryInput>): RetryInput => ({
  attempt: 1, idempotent: true, failure: { kind: 'connect' }, remainingMs: 60_000, random: 0.5, ...over,
})

test('connect failures are retried for any request: nothing was sent', () => {
  assert.equal(retryDelay(policy, input({ idempotent: false })), 75)
  assert.equal(retryDelay(policy, input({ idempotent: true })), 75)
})

test('a broken connection after sending is retried only for idempotent requests', () => {
  assert.equal(retryDelay(policy, input({ idempotent: false, failure: { kind: 'transport' } })), undefined)
  assert.equal(retryDelay(policy, input({ idempotent: true, failure: { kind: 'transport' } })), 75)
})

test('LINSTOR reply lists are answers, never retried; gateway errors are, for idempotent requests', () => {
  assert.equal(retryDelay(policy, input({ failure: { kind: 'status', status: 500, linstorReply: true } })), undefined)
  assert.equal(retryDelay(policy, input({ failure: { kind: 'status', status: 503, linstorReply: false } })), 75)
  assert.equal(retryDelay(policy, input({ idempotent: false, failure: { kind: 'status', status: 503, linstorReply: false } })), undefined)
  assert.equal(retryDelay(policy, input({ failure: { kind: 'status', status: 404, linstorReply: false } })), undefined)
})

test('back-off doubles, is capped, and jitter stays within [half, full]', () => {
  assert.equal(retryDelay(policy, input({ attempt: 1, random: 0 })), 50)
  assert.equal(retryDelay(policy, input({ attempt: 2, random: 0 })), 100)
  assert.equal(retryDelay(policy, input({ attempt: 3, random: 0.999999 })), 400)
  assert.equal(retryDelay({ ...policy, maxAttempts: 10 }, input({ attempt: 8, random: 0.999999 })), 1000)
  for (let r = 0; r < 1; r += 0.1) {
    const d = retryDelay(policy, input({ attempt: 2, random: r })) ?? -1
    assert.ok(d >= 100 && d <= 200, `delay ${d}`)
  }
})

test('no retry after the last attempt or past the deadline', () => {
  assert.equal(retryDelay(policy, input({ attempt: 4 })), undefined)
  assert.equal(retryDelay(policy, input({ remainingMs: 60 })), undefined)
  assert.equal(DEFAULT_RETRY_POLICY.maxAttempts, 3)
})

test('Retry-After is honoured when within the cap, refused beyond it', () => {
  assert.equal(retryDelay(policy, input({ failure: { kind: 'status', status: 503, linstorReply: false, retryAfterMs: 800 } })), 800)
  assert.equal(retryDelay(policy, input({ failure: { kind: 'status', status: 503, linstorReply: false, retryAfterMs: 5000 } })), undefined)
  assert.equal(parseRetryAfter('2', 0), 2000)
  assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4000), 6000)
  assert.equal(parseRetryAfter('soon', 0), undefined)
})
