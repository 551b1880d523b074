/**
 * The OpenNebula adapter's remote commands without a network: quoting checked by running the quoted
 * words through real local shells (the remote login shell is sh, dash or bash), host-name checks,
 * and the ssh argument layout and exit-status mapping against a stand-in ssh script.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { isPluginError } from '../../core/errors/index.js'
import { Remote, checkHost, remoteFromEnv, shellCommand, shellQuote, shellSequence } from '../../plugins/opennebula/remote.js'
import { tempDir } from '../helpers/core.js'
import { withinDeadline } from '../helpers/bounds.js'

/** POSIX shells present here: the remote login shell is one of these. */
const SHELLS = ['/bin/sh', '/bin/dash', '/bin/bash'].filter((s) => existsSync(s))

function sh(shell: string, commandLine: string, cwd?: string): { status: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync(shell, ['-c', commandLine], { ...(cwd === undefined ? {} : { cwd }) })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString('utf8') }
}

function hostileWords(marker: string): string[] {
  return [
    `$(touch ${marker}-1)`,
    `\`touch ${marker}-2\``,
    `; touch ${marker}-3`,
    `&& touch ${marker}-4`,
    `| touch ${marker}-5`,
    `'; touch ${marker}-6; '`,
    `"; touch ${marker}-7; "`,
    `\n touch ${marker}-8`,
    "'",
    "''",
    '"',
    '\\',
    '\\\'',
    'a\nb',
    '\t',
    ';',
    '&&',
    '|',
    '*',
    '?',
    '~',
    '~root',
    '-rf',
    '-',
    '--',
    'with spaces  and  more',
    ' leading and trailing ',
    'ünïcødé 💾 диск',
    '$HOME',
    '${HOME}',
    '',
    '!',
    '!!',
    '#comment',
    'a=b',
    'PATH=/nowhere',
    '{a,b}',
    '[ab]',
    '<in',
    '>out',
    '2>&1',
    '%1',
    'of=/dev/drbd/by-res/OpenNebula-Image-7/0',
    '/var/lib/one//datastores/0/42/disk.1',
    'node2:/var/lib/one/datastores/0/42',
  ]
}

test('every hostile word reaches the command byte for byte, in every local POSIX shell, and runs nothing', (t) => {
  const dir = tempDir(t, 'lv-quote-')
  const marker = join(dir, 'injected')
  assert.ok(SHELLS.length > 0)
  for (const shell of SHELLS) {
    for (const word of hostileWords(marker)) {
      const r = sh(shell, `printf '%s' ${shellQuote(word)}`, dir)
      assert.equal(r.status, 0, `${shell} ${JSON.stringify(word)}: ${r.stderr}`)
      assert.equal(r.stdout.toString('utf8'), word, `${shell} ${JSON.stringify(word)}`)
    }
    // All at once, as one command line: the word count and order are kept too.
    const words = hostileWords(marker)
    const r = sh(shell, shellCommand(['printf', '%s\\0', ...words]), dir)
    assert.equal(r.status, 0, r.stderr)
    assert.deepEqual(r.stdout.toString('utf8').split('\0').slice(0, -1), words, shell)
  }
  assert.deepEqual(readdirSync(dir), [], 'nothing was created by the injection attempts')
})

test('quoting: single quotes with \'\\\'\' for a quote, \'\' for empty, plain words bare', () => {
  assert.equal(shellQuote("it's"), "'it'\\''s'")
  assert.equal(shellQuote(''), "''")
  assert.equal(shellQuote('node2:/var/lib/one/datastores/0/42'), 'node2:/var/lib/one/datastores/0/42')
  assert.equal(shellQuote('disk.0'), 'disk.0')
  assert.equal(shellQuote('-rf'), "'-rf'")
  assert.equal(shellQuote('$HOME'), "'$HOME'")
  assert.equal(shellCommand(['ln', '-sfn', '/dev/drbd/by-res/r 1/0', 'disk.0']), "ln '-sfn' '/dev/drbd/by-res/r 1/0' disk.0")
})

test('a NAME=value first word is a command name, not an assignment', (t) => {
  const dir = tempDir(t, 'lv-assign-')
  for (const shell of SHELLS) {
    const r = sh(shell, `${shellCommand(['PATH=/nowhere'])} || echo not-run`, dir)
    assert.match(r.stdout.toString('utf8'), /not-run/, shell)
  }
})

test('NUL is refused', () => {
  assert.throws(() => shellQuote('a\0b'), (e) => isPluginError(e) && e.code === 'ONE_DOCUMENT_INVALID')
  assert.throws(() => shellCommand(['echo', '\0']), (e) => isPluginError(e) && e.code === 'ONE_DOCUMENT_INVALID')
})

test('shellSequence stops at the first failing command', (t) => {
  const dir = tempDir(t, 'lv-seq-')
  const cmd = shellSequence([
    ['touch', join(dir, 'first file')],
    ['false'],
    ['touch', join(dir, 'never')],
  ])
  assert.match(cmd, / && /)
  for (const shell of SHELLS) {
    assert.notEqual(sh(shell, cmd).status, 0)
    assert.deepEqual(readdirSync(dir), ['first file'])
  }
  const ok = sh('/bin/sh', shellSequence([['mkdir', '-p', join(dir, 'a b/c')], ['touch', join(dir, 'a b/c/d')]]))
  assert.equal(ok.status, 0, ok.stderr)
  assert.ok(existsSync(join(dir, 'a b/c/d')))
})

test('checkHost accepts OpenNebula host names and refuses anything ssh could read as more', () => {
  for (const ok of ['node2', 'node-2.example.com', '10.0.0.1', 'hv_01', 'N']) assert.equal(checkHost(ok), ok)
  for (const bad of ['-oProxyCommand=x', 'a b', 'a;b', '', 'root@node2', 'ssh://node2', 'node2:22', '$(x)', 'a\nb', '.'.repeat(300)]) {
    assert.throws(() => checkHost(bad), (e) => isPluginError(e) && e.code === 'ONE_DOCUMENT_INVALID', JSON.stringify(bad))
  }
})

/** A stand-in ssh: prints its arguments, one per line, then acts on the command line it got. */
function fakeSsh(dir: string): string {
  const file = join(dir, 'fake-ssh')
  writeFileSync(
    file,
    [
      '#!/bin/sh',
      `printf '%s\\n' "$@" > ${shellQuote(join(dir, 'argv'))}`,
      'for last; do :; done',
      'exec /bin/sh -c "$last"',
      '',
    ].join('\n'),
  )
  chmodSync(file, 0o755)
  return file
}

test('Remote spawns ssh with batch options, extra arguments, -- and the host, and maps exit statuses', async (t) => {
  const dir = tempDir(t, 'lv-fakessh-')
  const remote = new Remote({ command: fakeSsh(dir), extraArgs: ['-F', '/etc/x y'] })
  const r = await remote.exec('node2', ['printf', '%s|', 'a b', "it's"])
  assert.equal(r.stdout, "a b|it's|")
  assert.deepEqual(readFileSync(join(dir, 'argv'), 'utf8').split('\n').slice(0, -1), [
    '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', '-T', '-F', '/etc/x y', '--', 'node2', "printf '%s|' 'a b' 'it'\\''s'",
  ])

  const input = await remote.exec('node2', ['cat'], { input: 'fed through stdin' })
  assert.equal(input.stdout, 'fed through stdin')

  await assert.rejects(remote.run('node2', shellSequence([['echo', 'working'], ['sh', '-c', 'echo first >&2; echo "dd: /dev/x: No space left" >&2; exit 3']])), (e) => {
    assert.ok(isPluginError(e))
    assert.equal(e.code, 'REMOTE_FAILED')
    assert.equal(e.message, 'node2: echo failed (exit 3): dd: /dev/x: No space left')
    assert.deepEqual(e.context, { host: 'node2', exitCode: 3 })
    return true
  })
  await assert.rejects(remote.run('node3', "echo 'ssh: connect to host node3 port 22: Connection refused' >&2; exit 255"), (e) => {
    assert.ok(isPluginError(e))
    assert.equal(e.code, 'HOST_UNREACHABLE')
    assert.equal(e.message, 'node3: ssh: connect to host node3 port 22: Connection refused')
    return true
  })
  await assert.rejects(remote.exec('-oProxyCommand=x', ['true']), (e) => isPluginError(e) && e.code === 'ONE_DOCUMENT_INVALID')
})

test('Remote kills a command past its deadline or when aborted', async (t) => {
  const remote = new Remote({ command: fakeSsh(tempDir(t, 'lv-fakessh-')) })
  // The messages come from the deadline and the abort; withinDeadline fails if the 30 s sleep ran out instead.
  await assert.rejects(withinDeadline(remote.exec('node2', ['sleep', '30'], { timeoutMs: 200 }), 200, 'exec past its deadline'), (e) => {
    assert.ok(isPluginError(e))
    assert.equal(e.code, 'REMOTE_FAILED')
    assert.equal(e.message, 'node2: no answer within 200 ms')
    return true
  })
  const ac = new AbortController()
  setTimeout(() => ac.abort(), 100)
  await assert.rejects(withinDeadline(remote.exec('node2', ['sleep', '30'], { signal: ac.signal }), 100, 'aborted exec'), (e) => isPluginError(e) && e.code === 'REMOTE_FAILED' && /sleep cancelled/.test(e.message))
})

test('a missing ssh executable is a clear REMOTE_FAILED', async () => {
  await assert.rejects(new Remote({ command: '/nonexistent/ssh' }).exec('node2', ['true']), (e) => isPluginError(e) && e.code === 'REMOTE_FAILED' && /cannot run \/nonexistent\/ssh/.test(e.message))
})

test('remoteFromEnv takes the ssh executable and config file from the environment', async (t) => {
  const dir = tempDir(t, 'lv-fakessh-')
  const remote = remoteFromEnv({ LINSTOR_VIRT_SSH: fakeSsh(dir), LINSTOR_VIRT_SSH_CONFIG: '/cfg/ssh_config' })
  await remote.exec('node2', ['true'])
  const argv = readFileSync(join(dir, 'argv'), 'utf8').split('\n')
  assert.deepEqual(argv.slice(5, 9), ['-F', '/cfg/ssh_config', '--', 'node2'])
})
