import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { ConfigError } from '../../core/errors/index.js'
import { parseControllerList, parseControllerUrl, readTokenFile, resolveControllers } from '../../core/linstor/index.js'

test('controller address forms and default ports', () => {
  assert.deepEqual(parseControllerUrl('linstor://ctrl'), { protocol: 'http', host: 'ctrl', port: 3370, url: 'http://ctrl:3370', upgradable: true })
  assert.equal(parseControllerUrl('http://ctrl').upgradable, undefined)
  assert.equal(parseControllerUrl('ctrl').upgradable, true)
  assert.equal(parseControllerUrl('linstor+ssl://ctrl').url, 'https://ctrl:3371')
  assert.equal(parseControllerUrl('LINSTOR+SSL://ctrl:4000').url, 'https://ctrl:4000')
  assert.equal(parseControllerUrl('http://10.0.0.1').url, 'http://10.0.0.1:3370')
  assert.equal(parseControllerUrl('https://10.0.0.1').url, 'https://10.0.0.1:3371')
  assert.equal(parseControllerUrl('ctrl:3999').url, 'http://ctrl:3999')
  assert.equal(parseControllerUrl(' 10.1.1.1 ').url, 'http://10.1.1.1:3370')
  const v6 = parseControllerUrl('linstor://[fd00::1]:3370')
  assert.equal(v6.host, 'fd00::1')
  assert.equal(v6.url, 'http://[fd00::1]:3370')
  assert.equal(parseControllerUrl('[::1]').url, 'http://[::1]:3370')
})

test('bad controller addresses are configuration errors naming the setting', () => {
  for (const bad of ['ftp://x', 'http://user:pw@x', 'http://x/v1', 'http://', 'linstor://x:99999']) {
    assert.throws(() => parseControllerUrl(bad, 'controllers'), (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e))
      assert.equal(e.code, 'CONFIG_INVALID')
      assert.match(e.message, /^invalid configuration: controllers: /)
      assert.doesNotMatch(e.message, /pw/)
      return true
    })
  }
  assert.throws(() => parseControllerList(' , '), /no controller address given/)
})

test('lists are comma separated, order kept, duplicates dropped', () => {
  const l = parseControllerList('linstor://a, b:3370 ,http://a:3370,linstor+ssl://c')
  assert.deepEqual(l.map((e) => e.url), ['http://a:3370', 'http://b:3370', 'https://c:3371'])
})

test('resolution order: platform config, LS_CONTROLLERS, linstor-client.conf, localhost', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lv-conf-'))
  const conf = join(dir, 'linstor-client.conf')
  writeFileSync(conf, '# LINSTOR client\n[global]\ncontrollers = linstor://conf-a,linstor://conf-b\n\n[other]\nx=1\n')
  const env = { LS_CONTROLLERS: 'env-a,env-b' }
  const paths = [join(dir, 'missing.conf'), conf]
  const pick = (r: ReturnType<typeof resolveControllers>): [string, string[]] => [r.source, r.endpoints.map((e) => e.host)]
  assert.deepEqual(pick(resolveControllers({ configured: 'cfg-a', env, clientConfPaths: paths })), ['config', ['cfg-a']])
  assert.deepEqual(pick(resolveControllers({ configured: ['x', 'y'], env, clientConfPaths: paths })), ['config', ['x', 'y']])
  assert.deepEqual(pick(resolveControllers({ configured: '', env, clientConfPaths: paths })), ['LS_CONTROLLERS', ['env-a', 'env-b']])
  assert.deepEqual(pick(resolveControllers({ env: {}, clientConfPaths: paths })), ['linstor-client.conf', ['conf-a', 'conf-b']])
  assert.deepEqual(pick(resolveControllers({ env: {}, clientConfPaths: [join(dir, 'missing.conf')] })), ['default', ['localhost']])
  writeFileSync(conf, '[global]\n# no controllers line\n')
  assert.deepEqual(pick(resolveControllers({ env: {}, clientConfPaths: paths })), ['default', ['localhost']])
})

test('token files: JSON {"token"} or plain text; errors name the file, never the content', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lv-token-'))
  const json = join(dir, 'auth.json')
  writeFileSync(json, '{"token": "s3cr3t-json"}\n')
  assert.equal(readTokenFile(json), 's3cr3t-json')
  const plain = join(dir, 'token')
  writeFileSync(plain, 's3cr3t-plain\n')
  assert.equal(readTokenFile(plain), 's3cr3t-plain')
  const bad = join(dir, 'bad.json')
  writeFileSync(bad, '{"tok": "s3cr3t-bad"}')
  assert.throws(() => readTokenFile(bad), (e: unknown) => e instanceof ConfigError && /has no "token"/.test(e.message) && !e.message.includes('s3cr3t'))
  const twoWords = join(dir, 'two')
  writeFileSync(twoWords, 's3cr3t one two')
  assert.throws(() => readTokenFile(twoWords), (e: unknown) => e instanceof ConfigError && !e.message.includes('s3cr3t'))
  assert.throws(() => readTokenFile(join(dir, 'absent')), /cannot read token file .*absent \(ENOENT\)/)
})
