import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { ERROR_CATALOGUE, PluginError, isPluginError } from '../../core/errors/index.js'
import { repoRoot } from '../helpers/paths.js'

test('docs/errors.md documents every code of the catalogue, and no other', () => {
  const doc = readFileSync(join(repoRoot(), 'docs', 'errors.md'), 'utf8')
  const documented = new Set([...doc.matchAll(/^## `([A-Z_]+)`/gm)].map((m) => m[1]))
  assert.deepEqual([...documented].sort(), Object.keys(ERROR_CATALOGUE).sort())
})

test('PluginError carries code, cause and context, and serialises without a stack', () => {
  const cause = new Error('inner')
  const e = new PluginError('LINSTOR_UNAVAILABLE', 'no controller', { cause, context: { resource: 'vm-1-disk-0' } })
  assert.equal(e.code, 'LINSTOR_UNAVAILABLE')
  assert.equal(e.cause, cause)
  assert.ok(isPluginError(e))
  assert.ok(!isPluginError(new Error('plain')))
  assert.deepEqual(JSON.parse(JSON.stringify(e)), { code: 'LINSTOR_UNAVAILABLE', message: 'no controller', details: { resource: 'vm-1-disk-0' } })
})
