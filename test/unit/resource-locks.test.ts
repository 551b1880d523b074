import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, utimesSync, writeFileSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import { pathToFileURL } from 'node:url'
import { isPluginError } from '../../core/errors/index.js'
import { ResourceLocks, lockFileName } from '../../core/lock/index.js'
import { repoRoot } from '../helpers/paths.js'

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const freshDir = (): string => mkdtempSync(join(tmpdir(), 'lv-locks-'))

/** Another process holding the lock of `name` for `holdMs`; resolves once it holds it. */
async function holdInChild(t: TestContext, dir: string, name: string, holdMs: number, journal?: string): Promise<{ child: ChildProcess; exited: Promise<unknown> }> {
  const mod = pathToFileURL(join(repoRoot(), 'build', 'core', 'lock', 'index.js')).href
  const note = (line: string): string => (journal === undefined ? '' : `(await import('node:fs')).appendFileSync(${JSON.stringify(journal)}, ${JSON.stringify(line + '\n')});`)
  const child = spawn(process.execPath, ['--input-type=module', '-e',
    `const { ResourceLocks } = await import(${JSON.stringify(mod)});
     await new ResourceLocks({ dir: ${JSON.stringify(dir)} }).withLock(${JSON.stringify(name)}, async () => {
       ${note('child holds')} process.stdout.write('held\\n'); await new Promise((r) => setTimeout(r, ${holdMs})); ${note('child releases')}
     })`], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.after(() => child.kill('SIGKILL'))
  // Listen for the exit now: the child may be gone before the test looks.
  const exited = once(child, 'exit')
  await once(child.stdout, 'data')
  return { child, exited }
}

test('operations on one resource run one after another; on different resources in parallel', async () => {
  const locks = new ResourceLocks({ dir: freshDir() })
  const events: string[] = []
  const op = (name: string, tag: string, ms: number) => locks.withLock(name, async () => {
    events.push(`${tag}+`)
    await sleep(ms)
    events.push(`${tag}-`)
    return tag
  })
  assert.deepEqual(await Promise.all([op('vm-1-disk-0', 'a', 60), op('VM-1-DISK-0', 'b', 10), op('vm-2-disk-0', 'c', 10)]), ['a', 'b', 'c'])
  // b (same resource, other case) waits for a; c (another resource) does not.
  assert.ok(events.indexOf('a-') < events.indexOf('b+'), events.join(' '))
  assert.ok(events.indexOf('c+') < events.indexOf('a-'), events.join(' '))
})

test('the lock is released when the operation fails, and the error passes through', async () => {
  const dir = freshDir()
  const locks = new ResourceLocks({ dir })
  await assert.rejects(locks.withLock('rsc1', () => Promise.reject(new Error('boom'))), /boom/)
  assert.equal(await locks.withLock('rsc1', () => Promise.resolve('again'), { waitMs: 100 }), 'again')
  assert.deepEqual(readdirSync(dir), [])
})

test('another process holding the lock makes us wait until it releases', async (t) => {
  const dir = freshDir()
  const journal = join(mkdtempSync(join(tmpdir(), 'lv-locks-journal-')), 'journal')
  const { exited } = await holdInChild(t, dir, 'rsc1', 400, journal)
  await new ResourceLocks({ dir }).withLock('RSC1', () => Promise.resolve(appendFileSync(journal, 'parent holds\n')))
  // Appended synchronously by each holder while it holds the lock: the order is the lock's order.
  assert.equal(readFileSync(journal, 'utf8'), 'child holds\nchild releases\nparent holds\n')
  await exited
})

test('a bounded wait ends with LOCK_TIMEOUT naming the holding process', async (t) => {
  const dir = freshDir()
  const { child } = await holdInChild(t, dir, 'rsc1', 5000)
  const err = await new ResourceLocks({ dir }).withLock('rsc1', () => Promise.resolve(), { waitMs: 200 }).then(() => undefined, (e: unknown) => e)
  assert.ok(isPluginError(err))
  assert.equal(err.code, 'LOCK_TIMEOUT')
  assert.match(err.message, new RegExp(`^resource rsc1 is busy: locked by process ${child.pid ?? -1} on `))
})

test('a lock left by a process that died is taken over at once; so is one left unreadable', async () => {
  const dir = freshDir()
  const dead = spawn(process.execPath, ['-e', '0'])
  await once(dead, 'exit')
  writeFileSync(join(dir, lockFileName('rsc1')), JSON.stringify({ pid: dead.pid, host: hostname(), since: 'then', name: 'rsc1' }))
  const locks = new ResourceLocks({ dir })
  // Taken over, not waited out: the dead holder's lock would otherwise end this wait in LOCK_TIMEOUT.
  await locks.withLock('rsc1', () => Promise.resolve(), { waitMs: 1000 })
  const half = join(dir, lockFileName('rsc2'))
  writeFileSync(half, '')
  const old = new Date(Date.now() - 60_000)
  utimesSync(half, old, old)
  await locks.withLock('rsc2', () => Promise.resolve(), { waitMs: 1000 })
  assert.deepEqual(readdirSync(dir), [])
})

test('lock files stay inside their folder whatever the name', () => {
  for (const name of ['../../etc/passwd', 'a;rm -rf /', '$(reboot)', 'vm 1\n', 'x'.repeat(300)]) {
    assert.match(lockFileName(name), /^[a-z0-9_-]{1,48}-[0-9a-f]{12}\.lock$/, JSON.stringify(name))
  }
  assert.equal(lockFileName('Rsc1'), lockFileName('rsc1'))
  assert.notEqual(lockFileName('a.b'), lockFileName('a_b'))
})

test('waiting behind an operation of the same process is bounded too, without breaking the order for later ones', async () => {
  const locks = new ResourceLocks({ dir: freshDir() })
  const events: string[] = []
  const slow = locks.withLock('rsc1', async () => {
    await sleep(300)
    events.push('slow done')
  })
  const impatient = locks.withLock('rsc1', () => Promise.resolve(events.push('impatient ran')), { waitMs: 50 })
  const patient = locks.withLock('rsc1', () => Promise.resolve(events.push('patient ran')), { waitMs: 2000 })
  await assert.rejects(impatient, (e: unknown) => isPluginError(e) && e.code === 'LOCK_TIMEOUT' && /earlier operation of this process/.test(e.message))
  await Promise.all([slow, patient])
  assert.deepEqual(events, ['slow done', 'patient ran'])
})
