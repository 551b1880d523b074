/** Path segments of REST calls: names are percent-encoded, and `.`/`..` never reach a URL. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isPluginError } from '../../core/errors/index.js'
import { seg } from '../../core/linstor/caller.js'

test('a path segment is percent-encoded, and . or .. is refused instead of climbing the URL', () => {
  assert.equal(seg('vm-100-disk-0'), 'vm-100-disk-0')
  assert.equal(seg('a/b?c#d e'), 'a%2Fb%3Fc%23d%20e')
  assert.equal(seg(0), '0')
  assert.equal(seg('...'), '...', 'three dots is a name like any other')
  for (const bad of ['.', '..']) {
    assert.throws(() => seg(bad), (err: unknown) => isPluginError(err) && err.code === 'CALL_INVALID' && err.message.includes(`'${bad}'`))
  }
})
