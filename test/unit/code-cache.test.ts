/**
 * cli/code-cache.cjs (dist/code-cache.js): the one-shot bundle loaded through V8's code cache. Each
 * load runs in a process of its own (the cache is written at the process's exit), on a small
 * CommonJS bundle in a temporary folder, and once on the real one-shot bundle.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, copyFileSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { tempDir } from '../helpers/core.js'
import { repoRoot } from '../helpers/paths.js'

const loader = join(repoRoot(), 'cli', 'code-cache.cjs')

/** Loads `file` in a fresh node and returns what the loader said and what the bundle exported. */
function load(file: string, cacheDir: string | undefined, env: NodeJS.ProcessEnv = {}): { cache: string; value: unknown } {
  const opts = cacheDir === undefined ? '{}' : JSON.stringify({ cacheDir })
  const script = `const r = require(${JSON.stringify(loader)}).loadBundle(${JSON.stringify(file)}, ${opts}); process.stdout.write(JSON.stringify({ cache: r.cache, value: r.exports.value() }))`
  const env0: NodeJS.ProcessEnv = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env }
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: env0 })
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout) as { cache: string; value: unknown }
}

function bundle(dir: string, body = 'exports.value = () => require("node:path").basename(__filename) + ":" + [1, 2, 3].map((x) => x * 2).join(",")'): string {
  const file = join(dir, 'bundle.js')
  writeFileSync(file, `'use strict'\n${body}\n`)
  return file
}

const cacheFiles = (dir: string): string[] => readdirSync(dir).filter((f) => f.endsWith('.v8'))

test('the first load writes the cache (0644, at exit), the next one uses it, the exports are the same', (t) => {
  const dir = tempDir(t, 'lv-code-cache-')
  const cache = join(dir, 'cache')
  mkdirSync(cache)
  const file = bundle(dir)
  const first = load(file, cache)
  assert.deepEqual(first, { cache: 'none', value: 'bundle.js:2,4,6' })
  const files = cacheFiles(cache)
  assert.equal(files.length, 1)
  assert.match(files[0] ?? '', new RegExp(`^bundle\\.js-${process.version.replace(/\./g, '\\.')}-[0-9a-f]{8}\\.v8$`))
  assert.equal(statSync(join(cache, files[0] ?? '')).mode & 0o777, 0o644)
  assert.deepEqual(load(file, cache), { cache: 'used', value: 'bundle.js:2,4,6' })
  assert.deepEqual(cacheFiles(cache), files, 'a used cache is not rewritten')
})

test('a cache others may write is not used; a cache V8 rejects is replaced; the bundle runs either way', (t) => {
  const dir = tempDir(t, 'lv-code-cache-')
  const cache = join(dir, 'cache')
  mkdirSync(cache)
  const file = bundle(dir)
  load(file, cache)
  const [name] = cacheFiles(cache)
  const path = join(cache, name ?? '')
  chmodSync(path, 0o666)
  assert.equal(load(file, cache).cache, 'none', 'a world-writable cache file is ignored')
  // That run wrote a good one again (0644).
  assert.equal(statSync(path).mode & 0o777, 0o644)
  writeFileSync(path, Buffer.alloc(4096, 7))
  chmodSync(path, 0o644)
  assert.deepEqual(load(file, cache), { cache: 'rejected', value: 'bundle.js:2,4,6' })
  assert.equal(load(file, cache).cache, 'used', 'the rejected cache was rewritten')
})

test('a changed bundle never meets the old cache, and the old one is removed', (t) => {
  const dir = tempDir(t, 'lv-code-cache-')
  const cache = join(dir, 'cache')
  mkdirSync(cache)
  const file = bundle(dir)
  load(file, cache)
  const before = cacheFiles(cache)
  // Same length, other code: only the name (inode, size, time) tells them apart.
  const other = bundle(join(dir), 'exports.value = () => require("node:path").basename(__filename) + ":" + [1, 2, 3].map((x) => x * 3).join(",")')
  assert.equal(other, file)
  assert.deepEqual(load(file, cache), { cache: 'none', value: 'bundle.js:3,6,9' })
  const after = cacheFiles(cache)
  assert.equal(after.length, 1)
  assert.notDeepEqual(after, before)
})

test('LINSTOR_VIRT_CODE_CACHE=off loads without a cache; a missing folder is no error', (t) => {
  const dir = tempDir(t, 'lv-code-cache-')
  const file = bundle(dir)
  assert.deepEqual(load(file, undefined, { LINSTOR_VIRT_CODE_CACHE: 'off' }), { cache: 'off', value: 'bundle.js:2,4,6' })
  assert.deepEqual(readdirSync(dir), ['bundle.js'])
  assert.deepEqual(load(file, join(dir, 'missing')), { cache: 'none', value: 'bundle.js:2,4,6' })
})

test('the one-shot bundle through the cache answers a call, and its cache is used the second time', (t) => {
  const dir = tempDir(t, 'lv-code-cache-')
  const cache = join(dir, 'cache')
  mkdirSync(cache)
  // A copy, so that the build's own cache folder is left alone.
  const dist = join(repoRoot(), 'dist')
  copyFileSync(join(dist, 'one-shot.js'), join(dir, 'one-shot.js'))
  const run = (): { cache: string; reply: { result?: { pong?: boolean } } } => {
    const script = `const r = require(${JSON.stringify(loader)}).loadBundle(${JSON.stringify(join(dir, 'one-shot.js'))}, { cacheDir: ${JSON.stringify(cache)} }); r.exports.callOnce('{"v":1,"platform":"core","operation":"ping"}').then((reply) => process.stdout.write(JSON.stringify({ cache: r.cache, reply })))`
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LINSTOR_VIRT_LOG_LEVEL: 'silent' } })
    assert.equal(r.status, 0, r.stderr)
    return JSON.parse(r.stdout) as { cache: string; reply: { result?: { pong?: boolean } } }
  }
  const first = run()
  assert.equal(first.cache, 'none')
  assert.equal(first.reply.result?.pong, true)
  const second = run()
  assert.equal(second.cache, 'used')
  assert.equal(second.reply.result?.pong, true)
})

test('the one-shot bundle has no import() left: vm.Script, which runs it, has no loader for one', () => {
  const text = readFileSync(join(repoRoot(), 'dist', 'one-shot.js'), 'utf8')
  // JSDoc type references ({import('./x.js').T}) are comments, not calls.
  const calls = [...text.matchAll(/(?<![{\w$.])import\(\s*["'`]/g)].map((m) => text.slice(m.index, m.index + 40))
  assert.deepEqual(calls, [])
})

test('`node code-cache.js BUNDLE` makes the cache from the shims\' first calls; the next load of the bundle uses it', (t) => {
  const dir = tempDir(t, 'lv-code-cache-')
  copyFileSync(join(repoRoot(), 'dist', 'one-shot.js'), join(dir, 'one-shot.js'))
  mkdirSync(join(dir, 'code-cache'))
  const r = spawnSync(process.execPath, [loader, join(dir, 'one-shot.js')], { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' } })
  assert.equal(r.status, 0, r.stderr)
  assert.equal(cacheFiles(join(dir, 'code-cache')).length, 1)
  const script = `const r = require(${JSON.stringify(loader)}).loadBundle(${JSON.stringify(join(dir, 'one-shot.js'))}); r.exports.callOnce('{"v":1,"platform":"core","operation":"ping"}').then((reply) => process.stdout.write(JSON.stringify({ cache: r.cache, pong: reply.result.pong })))`
  // From a file: `node -e` counts among node's own arguments, which a cache's name carries.
  writeFileSync(join(dir, 'load.cjs'), script)
  const used = spawnSync(process.execPath, [join(dir, 'load.cjs')], { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LINSTOR_VIRT_LOG_LEVEL: 'silent' } })
  assert.equal(used.status, 0, used.stderr)
  assert.deepEqual(JSON.parse(used.stdout), { cache: 'used', pong: true })
})
