/**
 * The regenerate-and-diff guard: the committed core/config/validators.generated.cjs is exactly what
 * scripts/gen-validators.mjs makes from core/config/schemas.ts (as fastify's test:validator:integrity).
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { execa } from 'execa'
import { configIssues, describeErrors, validate } from '../../core/config/index.js'
import { ConfigError } from '../../core/errors/index.js'
import { repoRoot } from '../helpers/paths.js'

test('validators.generated.cjs is up to date with schemas.ts', async () => {
  const root = repoRoot()
  const r = await execa(process.execPath, [join(root, 'scripts', 'gen-validators.mjs'), '--check'], { cwd: root, reject: false, timeout: 60_000 })
  assert.equal(r.exitCode, 0, `${r.stderr}${r.stdout}`)
})

test('the generated validators load from the compiled output and report through ConfigError', () => {
  const input = { placeCount: 3 }
  assert.equal(validate('placementPolicy', input), input)
  assert.deepEqual(configIssues('placementPolicy', { placeCount: 3 }), [])
  assert.throws(
    () => validate('placementPolicy', { placeCount: 0, storagePools: ['x'] }, { settingNames: { placeCount: 'redundancy' }, prefix: 'pve: ' }),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.issues.length === 2 &&
      e.issues[0]?.setting === 'pve: redundancy' &&
      e.issues[1]?.setting === 'pve: storagePools',
  )
})

test('describeErrors: nested positions get a path, writeOnly values are never shown', () => {
  const schema = {
    title: 'call',
    type: 'object',
    properties: {
      volumes: { type: 'array', items: { type: 'object', properties: { size: { type: 'integer', minimum: 1 } } } },
      password: { type: 'string', minLength: 8, writeOnly: true },
    },
  }
  const data = { volumes: [{ size: 0 }], password: 'hunter2' }
  const issues = describeErrors(
    schema,
    [
      { instancePath: '/volumes/0/size', schemaPath: '#/properties/volumes/items/properties/size/minimum', keyword: 'minimum', params: { limit: 1 } },
      { instancePath: '/password', schemaPath: '#/properties/password/minLength', keyword: 'minLength', params: { limit: 8 } },
      { instancePath: '', schemaPath: '#/required', keyword: 'required', params: { missingProperty: 'name' } },
    ],
    data,
    { settingNames: { volumes: 'disks' } },
  )
  assert.deepEqual(issues, [
    { setting: 'disks', problem: 'at [0].size must be an integer of at least 1 (got 0)' },
    { setting: 'password', problem: 'must be a string of at least 8 characters' },
    { setting: 'name', problem: 'must be set' },
  ])
  assert.ok(!JSON.stringify(issues).includes('hunter2'))
})
