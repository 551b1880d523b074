import assert from 'node:assert/strict'
import { test } from 'node:test'
import { checkNodeName, checkResourceName, checkStoragePoolName, nameKey, resourceNameFromExternal } from '../../emulator/names.js'

test('resource names: 2-48 bytes, letter or _ first, [A-Za-z0-9_-], at least one letter', () => {
  assert.equal(checkResourceName('vm-100-disk-0'), undefined)
  assert.equal(checkResourceName('_x'), undefined)
  assert.match(checkResourceName('9lives') ?? '', /must start with a letter/)
  assert.match(checkResourceName('_-') ?? '', /at least one letter/)
  assert.match(checkResourceName('a') ?? '', /at least 2/)
  assert.match(checkResourceName('a'.repeat(49)) ?? '', /not be longer than 48/)
  assert.match(checkStoragePoolName('ab') ?? '', /at least 3/)
})

test('node names follow hostname rules', () => {
  assert.equal(checkNodeName('node-1.example.com'), undefined)
  assert.notEqual(checkNodeName('-bad'), undefined)
  assert.notEqual(checkNodeName('bad_name'), undefined)
  assert.notEqual(checkNodeName('a..b'), undefined)
})

test('external names become LINSTOR names; collisions get a counter', () => {
  const none = (): boolean => false
  assert.equal(resourceNameFromExternal('0F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F9'.toLowerCase(), none), 'LS_0F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F9')
  assert.equal(resourceNameFromExternal('volume-1', none), 'volume-1')
  assert.equal(resourceNameFromExternal('my disk/1', none), 'my_disk_1')
  assert.equal(resourceNameFromExternal('123', none), 'LS_123')
  const taken = new Set([nameKey('my_disk_1')])
  assert.equal(resourceNameFromExternal('my disk/1', (k) => taken.has(k)), 'my_disk_1_1')
  assert.ok(resourceNameFromExternal('x'.repeat(100), none).length <= 48)
})
