/**
 * The OpenNebula adapter's remote commands against a real OpenSSH server and client: hostile names
 * arrive intact through ssh and the remote login shell, image bytes stream in and out unchanged, and
 * failures, dead hosts and hung commands become the errors the driver reports to oned.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { basename, join } from 'node:path'
import { PassThrough } from 'node:stream'
import { test } from 'node:test'
import { isPluginError } from '../../core/errors/index.js'
import { remoteFromEnv, shellCommand, shellSequence } from '../../plugins/opennebula/remote.js'
import { tempDir } from '../helpers/core.js'
import { startSshd } from '../opennebula/sshd.js'

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex')

test('remote commands through a real sshd', async (t) => {
  const sshd = await startSshd(t, ['node2', 'node3'], { deadHosts: ['dead1'] })
  const remote = remoteFromEnv(sshd.env)
  const base = tempDir(t, 'lv-one-remote-')
  const marker = join(base, 'injected')

  await t.test('a directory and a symlink with hostile names are made exactly, and nothing else runs', async () => {
    // No '/' in a file name: these injection attempts would run in the remote home directory.
    const dir = join(base, `vm 42 'q' "dq" $(touch lv-injected-1) \`touch lv-injected-2\`\nline`)
    const target = join('/dev/drbd/by-res', `img $(touch ${marker}-3); touch ${marker}-4 'x'`, '0')
    const link = join(dir, `disk.0 && touch lv-injected-5 | $HOME *`)
    await remote.run('node2', shellSequence([['mkdir', '-p', dir], ['ln', '-sfn', target, link]]))
    assert.deepEqual(readdirSync(base), [basename(dir)])
    assert.deepEqual(readdirSync(dir), [basename(link)])
    assert.equal(readlinkSync(link), target)
    // Again (ln -sfn replaces the link), and the other alias sees the same host.
    await remote.run('node3', shellSequence([['mkdir', '-p', dir], ['ln', '-sfn', target, link]]))
    assert.deepEqual(readdirSync(dir), [basename(link)])
    assert.ok(!readdirSync(base).some((n) => n.startsWith('injected')), 'no injected command ran')
    for (const n of [1, 2, 5]) assert.ok(!existsSync(join(homedir(), `lv-injected-${n}`)), 'no injected command ran in the home directory')
  })

  await t.test('words that look like ssh options after the host stay words of the remote command', async () => {
    const r = await remote.exec('node2', ['printf', '%s\\n', '-oProxyCommand=touch x', '-V', '--', "it's"])
    assert.equal(r.stdout, "-oProxyCommand=touch x\n-V\n--\nit's\n")
    // After '--' a command line starting with '-' is not an ssh option (ssh -V would print its
    // version and succeed); the remote shell gets it and refuses it as its own option.
    await assert.rejects(remote.run('node2', '-V'), (e) => isPluginError(e) && e.code === 'REMOTE_FAILED')
    // shellCommand quotes a leading '-', so such a word reaches the shell as a command name.
    await assert.rejects(remote.exec('node2', ['-V']), (e) => isPluginError(e) && e.code === 'REMOTE_FAILED' && /exit 127/.test(e.message))
  })

  const data = randomBytes(5 * 1024 * 1024)
  const image = join(base, 'image file.raw')

  await t.test('5 MiB piped into dd arrive unchanged, from a buffer and from a stream', async () => {
    await remote.exec('node2', ['dd', `of=${image}`, 'bs=1M', 'conv=notrunc', 'status=none'], { input: data })
    assert.equal(sha256(readFileSync(image)), sha256(data))

    const src = join(base, 'source.raw')
    writeFileSync(src, data)
    const copy = join(base, 'copy of image.raw')
    await remote.exec('node3', ['dd', `of=${copy}`, 'bs=1M', 'conv=notrunc', 'status=none'], { input: createReadStream(src) })
    assert.equal(sha256(readFileSync(copy)), sha256(data))
  })

  await t.test('stdout is collected, streamed to a callback, or written to a stream', async () => {
    const text = join(base, 'notes ünïcødé.txt')
    writeFileSync(text, 'line one\nzwei ✓\n')
    assert.equal((await remote.exec('node2', ['cat', text])).stdout, 'line one\nzwei ✓\n')

    const chunks: Buffer[] = []
    const r = await remote.exec('node2', ['cat', image], { onStdout: (c) => chunks.push(c) })
    assert.equal(r.stdout, '')
    assert.equal(sha256(Buffer.concat(chunks)), sha256(data))

    const out = join(base, 'streamed.raw')
    await remote.exec('node3', ['cat', image], { stdoutTo: createWriteStream(out) })
    assert.equal(sha256(readFileSync(out)), sha256(data))
  })

  await t.test('a directory tars out of one host and into another', async () => {
    const from = join(base, 'vm dir src')
    const to = join(base, 'vm dir dst')
    mkdirSync(join(from, 'sub'), { recursive: true })
    writeFileSync(join(from, 'sub', "context 'x'.iso"), data.subarray(0, 100_000))
    mkdirSync(to)
    const pipe = new PassThrough()
    await Promise.all([
      remote.run('node2', shellCommand(['tar', '-C', from, '-cf', '-', '.']), { stdoutTo: pipe }),
      remote.run('node3', shellCommand(['tar', '-C', to, '-xf', '-']), { input: pipe }),
    ])
    assert.equal(sha256(readFileSync(join(to, 'sub', "context 'x'.iso"))), sha256(data.subarray(0, 100_000)))
  })

  await t.test('a failing command is REMOTE_FAILED naming the command and its stderr line', async () => {
    const missing = join(base, 'no such dir', 'disk.3')
    await assert.rejects(remote.exec('node2', ['ls', missing]), (e) => {
      assert.ok(isPluginError(e))
      assert.equal(e.code, 'REMOTE_FAILED')
      assert.match(e.message, /^node2: ls failed \(exit 2\): .*No such file or directory/)
      assert.deepEqual(e.context, { host: 'node2', exitCode: 2 })
      return true
    })
  })

  await t.test('a host nobody answers for is HOST_UNREACHABLE', async () => {
    await assert.rejects(remote.exec('dead1', ['true']), (e) => {
      assert.ok(isPluginError(e))
      assert.equal(e.code, 'HOST_UNREACHABLE')
      assert.match(e.message, /^dead1: .*Connection refused/)
      return true
    })
  })

  await t.test('a command past its deadline is killed and rejected', async () => {
    // The message comes from the code's own deadline (the sleep would have ended with success).
    // Short enough that the remote sleep (which outlives the killed client) is gone when sshd stops.
    await assert.rejects(remote.exec('node2', ['sleep', '4'], { timeoutMs: 700 }), (e) => {
      assert.ok(isPluginError(e))
      assert.equal(e.code, 'REMOTE_FAILED')
      assert.equal(e.message, 'node2: no answer within 700 ms')
      return true
    })
  })

  assert.ok(!existsSync(join(base, 'x')), 'no ProxyCommand ran')
})
