/**
 * Issue 28, finding 1: a caller of the agent can make it do only what that caller's platform
 * configuration allows, across real separate Unix users (docs/reliability.md, "Trust boundaries").
 *
 * The real agent (the bundle's `agent --config`, as root) serves: its owner-only socket (root),
 * a socket for a group, and the TCP listener. What callers of the last two may use comes from
 * files they cannot write: a storage.cfg with a `linstor:` section (and its token file under the
 * PVE private folder), a cinder.conf backend, and agent.conf's [allow]. Three callers:
 * - root, over the owner-only socket: obeyed as sent;
 * - a user in the socket's group, over the group socket and over TCP (it can read the TCP token
 *   file): controllers, token/certificate/key files and folders outside that configuration are
 *   refused with CALL_FORBIDDEN before anything is read, written or sent (the forged controller
 *   never sees a request, let alone a token), in the same words whether a file exists or not;
 *   OpenNebula calls are not served; what the configuration names works;
 * - a user outside it: no way in (EACCES on both sockets, 401 over TCP, and the TCP token file
 *   unreadable), and its one-shot runs with its own rights only (a root-only token file cannot be
 *   read, so no token goes anywhere; a folder it may not write is not made).
 * And a token file replaced (written aside, renamed) is picked up by the next call.
 * The users and group are created for the test and removed after it (CI runs as root).
 */
import assert from 'node:assert/strict'
import { execFile, execFileSync, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import type { CallReply } from '../../core/protocol/index.js'
import { withEmulator } from '../emulator/helpers.js'
import { tempDir } from '../helpers/core.js'
import { repoRoot } from '../helpers/paths.js'
import { startServer } from '../helpers/servers.js'
import type { ScriptedServer } from '../helpers/servers.js'

const isRoot = process.getuid?.() === 0
const bundle = join(repoRoot(), 'dist', 'linstor-virt.js')
const CINDER_DRIVER = 'linstor_virt_cinder.driver.LinstorVirtDriver'

interface Account {
  name: string
  uid: number
  gid: number
}

/** A group and two users (one in it, one not), removed after the test. */
function accounts(t: TestContext): { group: string; gid: number; member: Account; outsider: Account } {
  const tag = `${process.pid % 100000}`
  const group = `lvtsock${tag}`
  const member = `lvtin${tag}`
  const outsider = `lvtout${tag}`
  const quiet = { stdio: 'ignore' as const }
  for (const u of [member, outsider]) {
    try {
      execFileSync('userdel', [u], quiet)
    } catch {
      // not there
    }
  }
  try {
    execFileSync('groupdel', [group], quiet)
  } catch {
    // not there
  }
  execFileSync('groupadd', [group])
  t.after(() => {
    for (const u of [member, outsider]) {
      try {
        execFileSync('userdel', [u], quiet)
      } catch {
        // already gone
      }
    }
    try {
      execFileSync('groupdel', [group], quiet)
    } catch {
      // already gone
    }
  })
  execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', '--gid', group, member])
  execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', '--user-group', outsider])
  const id = (flag: string, user: string): number => Number(execFileSync('id', [flag, user], { encoding: 'utf8' }).trim())
  return {
    group,
    gid: id('-g', member),
    member: { name: member, uid: id('-u', member), gid: id('-g', member) },
    outsider: { name: outsider, uid: id('-u', outsider), gid: id('-g', outsider) },
  }
}

/** A controller that forwards to the emulator and records the Authorization header of each request. */
async function tap(t: TestContext, target: string): Promise<ScriptedServer> {
  return startServer(t, async (req, res) => {
    const r = await fetch(target + req.url, { method: req.method, ...(req.body !== '' ? { body: req.body } : {}), headers: { 'content-type': 'application/json' } })
    res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' })
    res.end(await r.text())
  })
}

const CLIENT = `
const http = require('node:http')
const [mode, target, tokenFile] = process.argv.slice(2)
let body = ''
process.stdin.on('data', (c) => (body += c))
process.stdin.on('end', () => {
  const headers = { 'content-type': 'application/json' }
  let token
  if (tokenFile) {
    try { token = require('node:fs').readFileSync(tokenFile, 'utf8').trim() } catch (e) { process.stdout.write('TOKEN-UNREADABLE:' + e.code); return }
    headers.authorization = 'Bearer ' + token
  }
  const opts = mode === 'unix' ? { socketPath: target, path: '/v1/call' } : { host: '127.0.0.1', port: Number(target), path: '/v1/call' }
  const req = http.request({ ...opts, method: 'POST', headers, timeout: 60000 }, (res) => {
    let out = ''
    res.on('data', (c) => (out += c))
    res.on('end', () => process.stdout.write(res.statusCode === 200 ? out : 'HTTP-' + res.statusCode))
  })
  req.on('error', (e) => process.stdout.write('CONNECT:' + e.code))
  req.end(body)
})`

interface Reply {
  /** The reply, or the transport's failure (CONNECT:EACCES, HTTP-401, TOKEN-UNREADABLE:EACCES). */
  reply?: CallReply
  failure?: string
}

function runAs(who: Account | undefined, file: string, args: string[], stdin: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [file, ...args], { ...(who !== undefined ? { uid: who.uid, gid: who.gid } : {}), cwd: '/', env: { PATH: '/usr/bin:/bin', ...env }, timeout: 90_000 }, (err, stdout, stderr) => {
      if (err !== null && stdout === '') reject(new Error(`${file} as ${who?.name ?? 'root'}: ${err.message} ${stderr}`))
      else resolve(stdout)
    })
    child.stdin?.end(stdin)
  })
}

function parsed(out: string): Reply {
  const text = out.trim().split('\n').pop() ?? ''
  return text.startsWith('{') ? { reply: JSON.parse(text) as CallReply } : { failure: text }
}

function codeOf(r: Reply): string {
  if (r.failure !== undefined) return r.failure
  const reply = r.reply as CallReply
  return 'result' in reply ? 'ok' : reply.error.code
}

test(isRoot ? 'the agent obeys each caller only as far as its platform configuration allows: root, a user in the socket group, a user outside it; socket and TCP' : 'trust boundaries across Unix users (skipped: needs root to create users)', { skip: !isRoot }, async (t) => {
  const ids = accounts(t)
  const base = tempDir(t, 'lv-trust-')
  chmodSync(base, 0o755)
  const emu = await withEmulator(t)
  const good = await tap(t, emu.url)
  const evil = await startServer(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end('[]')
  })
  const path = (...p: string[]): string => join(base, ...p)
  const write = (file: string, text: string, mode = 0o644, gid = 0): void => {
    mkdirSync(join(file, '..'), { recursive: true })
    writeFileSync(file, text)
    chownSync(file, 0, gid)
    chmodSync(file, mode)
  }
  // Secrets: root-only, except the TCP token and cinder's token (its group may read them).
  mkdirSync(path('tokens'), { mode: 0o755 })
  write(path('tokens', 'core-token'), 'tok-CORE-0123456789\n', 0o600)
  write(path('tokens', 'default-token'), 'tok-DEFAULT-0123456789\n', 0o600)
  write(path('tokens', 'cinder-token'), 'tok-CINDER-0123456789\n', 0o640, ids.gid)
  write(path('tokens', 'secret'), 'tok-SECRET-0123456789\n', 0o600)
  write(path('tcp-token'), 'tcp-token-0123456789abcdef\n', 0o640, ids.gid)
  write(path('priv', 'storage', 'pvestore.linstor-token'), 'tok-PVE-0123456789\n', 0o600)
  chmodSync(path('priv'), 0o700)
  // Folders: one allowed, one not, and a link from the allowed one to elsewhere.
  mkdirSync(path('allowed'), { mode: 0o755 })
  mkdirSync(path('elsewhere'), { mode: 0o755 })
  symlinkSync(path('elsewhere'), path('allowed', 'link'))
  mkdirSync(path('cinder-state'), { mode: 0o770 })
  chownSync(path('cinder-state'), 0, ids.gid)
  write(path('storage.cfg'), `dir: local\n\tpath /var/lib/vz\n\nlinstor: pvestore\n\tcontent images\n\tlinstor-controllers ${good.url}\n`)
  write(path('cinder.conf'), `[DEFAULT]\nstate_path = ${path('cinder-state')}\nenabled_backends = lv1\n\n[lv1]\nvolume_driver = ${CINDER_DRIVER}\nlinstor_uris = ${good.url}\nlinstor_virt_token_file = ${path('tokens', 'cinder-token')}\n`, 0o640, ids.gid)
  write(
    path('agent.conf'),
    [
      '[agent]',
      `socket = ${path('run', 'agent.sock')}`,
      '[socket test]',
      `path = ${path('run', 'group.sock')}`,
      `group = ${ids.group}`,
      'mode = 0660',
      'platforms = core, proxmox, cinder, opennebula',
      '[tcp]',
      'listen = 127.0.0.1:0',
      `token-file = ${path('tcp-token')}`,
      '[allow]',
      `controllers = ${good.url}`,
      `token-file = ${path('tokens', 'core-token')}`,
      `folders = ${path('allowed')}`,
      '[platforms]',
      `storage-cfg = ${path('storage.cfg')}`,
      `pve-priv = ${path('priv')}`,
      `cinder-conf = ${path('cinder.conf')}`,
      '',
    ].join('\n'),
  )
  write(path('client.js'), CLIENT)
  const agent: ChildProcess = spawn(process.execPath, [bundle, 'agent', '--config', path('agent.conf')], {
    env: { PATH: process.env['PATH'] ?? '', LINSTOR_VIRT_LOG_LEVEL: 'warn', LS_BEARER_TOKEN_FILE: path('tokens', 'default-token'), LS_CONTROLLERS: good.url },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  t.after(() => {
    if (agent.exitCode === null) agent.kill('SIGTERM')
  })
  const tcpPort = await new Promise<number>((resolve, reject) => {
    let err = ''
    agent.stderr?.setEncoding('utf8')
    agent.stderr?.on('data', (c: string) => {
      err += c
      const m = /listening on .* and 127\.0\.0\.1:(\d+)/.exec(err)
      if (m !== null) resolve(Number(m[1]))
    })
    agent.on('exit', (code) => reject(new Error(`the agent exited (${String(code)}):\n${err}`)))
  })

  const socket = path('run', 'agent.sock')
  const groupSocket = path('run', 'group.sock')
  const call = async (who: Account | undefined, via: 'owner' | 'group' | 'tcp', request: Record<string, unknown>): Promise<Reply> => {
    const args = via === 'tcp' ? ['tcp', String(tcpPort), path('tcp-token')] : ['unix', via === 'owner' ? socket : groupSocket]
    return parsed(await runAs(who, path('client.js'), args, JSON.stringify({ v: 1, deadlineMs: 30_000, ...request })))
  }
  const core = (config: Record<string, unknown>): Record<string, unknown> => ({ platform: 'core', operation: 'info', arguments: { resource: 'vm-1-disk-0' }, config })
  const allowedCore = { controllers: good.url, tokenFile: path('tokens', 'core-token'), lockDir: path('allowed', 'locks'), stateDir: path('allowed', 'state') }
  const bearer = (s: ScriptedServer): string[] => s.requests.map((r) => String(r.headers['authorization'] ?? ''))

  // ---------------------------------------------------------------- a user in the socket's group
  for (const via of ['group', 'tcp'] as const) {
    const who = ids.member
    const evilBefore = evil.requests.length
    // A controller no configuration names: refused before anything is sent, token or not.
    for (const config of [{ controllers: evil.url }, { controllers: evil.url, tokenFile: path('tokens', 'secret') }, { controllers: [good.url, evil.url], tokenFile: path('tokens', 'core-token') }]) {
      const r = await call(who, via, core(config))
      assert.equal(codeOf(r), 'CALL_FORBIDDEN', `${via}: ${JSON.stringify(config)}: ${JSON.stringify(r)}`)
    }
    assert.equal(evil.requests.length, evilBefore, `${via}: the forged controller was never contacted`)
    // A named controller with a file it was not named with: the same words whether the file exists or not.
    const secret = await call(who, via, core({ controllers: good.url, tokenFile: path('tokens', 'secret') }))
    const absent = await call(who, via, core({ controllers: good.url, tokenFile: path('tokens', 'no-such-file') }))
    const pvesToken = await call(who, via, core({ controllers: good.url, tokenFile: path('priv', 'storage', 'pvestore.linstor-token') }))
    for (const r of [secret, absent, pvesToken]) assert.equal(codeOf(r), 'CALL_FORBIDDEN', JSON.stringify(r))
    const text = (r: Reply): string => (r.reply !== undefined && 'error' in r.reply ? r.reply.error.message : '')
    assert.equal(text(secret), text(absent), 'a file that exists and one that does not are refused in the same words')
    assert.ok(!text(secret).includes('secret') && !text(secret).includes('ENOENT') && !text(secret).includes('EACCES'), text(secret))
    for (const k of ['caFile', 'certFile', 'keyFile']) {
      assert.equal(codeOf(await call(who, via, core({ ...allowedCore, [k]: path('tokens', 'secret') }))), 'CALL_FORBIDDEN', k)
    }
    // Folders outside what is allowed, also through a link inside an allowed one: refused, nothing made.
    for (const [key, dir] of [['lockDir', path('evil-locks')], ['stateDir', path('evil-state')], ['lockDir', path('allowed', 'link', 'locks')], ['lockDir', 'relative/locks'], ['deviceRoot', path('allowed')]] as const) {
      const r = await call(who, via, core({ ...allowedCore, [key]: dir }))
      assert.equal(codeOf(r), 'CALL_FORBIDDEN', `${via} ${key}=${dir}: ${JSON.stringify(r)}`)
    }
    assert.ok(!existsSync(path('evil-locks')) && !existsSync(path('evil-state')) && !existsSync(path('elsewhere', 'locks')), 'no folder made where refused')
    // OpenNebula's actions run the front-end's commands: not served here.
    const one = await call(who, via, { platform: 'opennebula', operation: 'tm.ln', arguments: { argv: ['a', 'b', '1', '1'] }, config: { remotes: path('evil') } })
    assert.equal(codeOf(one), 'CALL_FORBIDDEN')
    // What the configuration names works, and the token named with it is the one sent.
    const seen = good.requests.length
    const ok = await call(who, via, core(allowedCore))
    assert.equal(codeOf(ok), 'ok', JSON.stringify(ok))
    assert.ok(bearer(good).slice(seen).every((a) => a === 'Bearer tok-CORE-0123456789') && good.requests.length > seen, JSON.stringify(bearer(good).slice(seen)))
    // Proxmox: its storage.cfg section, with that section's token file; a forged section is refused.
    const pve = (scfg: Record<string, unknown>, tokenFile = path('priv', 'storage', 'pvestore.linstor-token')): Record<string, unknown> => ({
      platform: 'proxmox',
      operation: 'status',
      arguments: {},
      config: { storeid: 'pvestore', node: 'alpha', scfg: { content: 'images', 'linstor-status-cache': 0, ...scfg }, tokenFile, lockDir: path('allowed', 'locks'), stateDir: path('allowed', 'state') },
    })
    const seenPve = good.requests.length
    const pveOk = await call(who, via, pve({ 'linstor-controllers': good.url }))
    assert.equal(codeOf(pveOk), 'ok', JSON.stringify(pveOk))
    assert.ok(bearer(good).slice(seenPve).includes('Bearer tok-PVE-0123456789'), 'the section\'s own token')
    assert.equal(codeOf(await call(who, via, pve({ 'linstor-controllers': evil.url }))), 'CALL_FORBIDDEN')
    assert.equal(codeOf(await call(who, via, pve({ 'linstor-controllers': good.url }, path('tokens', 'cinder-token')))), 'CALL_FORBIDDEN', 'a Cinder backend\'s token is not for Proxmox calls')
    // Cinder: its cinder.conf backend, with its token and the lock folder under cinder's state_path.
    const cinder = (extra: Record<string, unknown>): Record<string, unknown> => ({
      platform: 'cinder',
      operation: 'stats',
      arguments: {},
      config: { backend: 'lv1', controllers: [good.url], cinderHost: 'alpha', nodeMap: {}, tokenFile: path('tokens', 'cinder-token'), lockDir: path('cinder-state', 'linstor-virt', 'locks'), stateDir: path('allowed', 'state'), ...extra },
    })
    assert.equal(codeOf(await call(who, via, cinder({}))), 'ok')
    assert.equal(codeOf(await call(who, via, cinder({ lockDir: path('evil-locks') }))), 'CALL_FORBIDDEN')
    assert.equal(codeOf(await call(who, via, cinder({ controllers: [evil.url] }))), 'CALL_FORBIDDEN')
    assert.equal(evil.requests.length, evilBefore, `${via}: the forged controller was never contacted`)
  }

  // ---------------------------------------------------------------- a user outside the group
  const out = ids.outsider
  assert.equal((await call(out, 'group', core(allowedCore))).failure, 'CONNECT:EACCES', 'no way into the group socket')
  assert.equal((await call(out, 'owner', core(allowedCore))).failure, 'CONNECT:EACCES', 'no way into the owner-only socket')
  assert.equal((await call(out, 'tcp', core(allowedCore))).failure, 'TOKEN-UNREADABLE:EACCES', 'the TCP token file is not the outsider\'s to read')
  const noToken = parsed(await runAs(out, path('client.js'), ['tcp', String(tcpPort), ''], JSON.stringify({ v: 1, ...core(allowedCore) })))
  assert.equal(noToken.failure, 'HTTP-401', 'and without it the TCP listener refuses')
  assert.equal((await call(ids.member, 'owner', core(allowedCore))).failure, 'CONNECT:EACCES', 'the owner-only socket is root\'s alone')
  // Its one-shot runs with its own rights: a root-only token file cannot be read, so nothing is sent.
  const evilBefore = evil.requests.length
  for (const config of [{ controllers: evil.url, tokenFile: path('tokens', 'secret') }, { controllers: good.url, tokenFile: path('tokens', 'core-token') }]) {
    const r = parsed(await runAs(out, bundle, ['call', '--stdin'], JSON.stringify({ v: 1, ...core({ ...config, lockDir: path('outsider-locks') }) }), { LINSTOR_VIRT_LOG_LEVEL: 'silent' }))
    assert.equal(codeOf(r), 'CONFIG_INVALID', JSON.stringify(r))
  }
  assert.equal(evil.requests.length, evilBefore, 'the one-shot of a user who cannot read the token sends nothing')
  const locks = parsed(await runAs(out, bundle, ['call', '--stdin'], JSON.stringify({ v: 1, platform: 'core', operation: 'attach', arguments: { resource: 'vm-1-disk-0', node: 'alpha' }, config: { controllers: good.url, lockDir: path('priv', 'outsider-locks') } }), { LINSTOR_VIRT_LOG_LEVEL: 'silent' }))
  assert.notEqual(codeOf(locks), 'ok')
  assert.ok(!existsSync(path('priv', 'outsider-locks')), 'no folder made where the outsider may not write')

  // ---------------------------------------------------------------- root, over the owner-only socket
  // Root could do what a request asks without the agent: obeyed as sent, folders outside the allow-list too.
  const rootCall = await call(undefined, 'owner', core({ ...allowedCore, lockDir: path('root-locks') }))
  assert.equal(codeOf(rootCall), 'ok', JSON.stringify(rootCall))
  assert.equal(codeOf(await call(ids.member, 'group', core({ ...allowedCore, lockDir: path('root-locks') }))), 'CALL_FORBIDDEN', 'the same request over the group socket is refused')

  // ---------------------------------------------------------------- a replaced token file is picked up
  const seen = good.requests.length
  writeFileSync(path('tokens', 'core-token.new'), 'tok-CORE-REPLACED-0123\n', { mode: 0o600 })
  renameSync(path('tokens', 'core-token.new'), path('tokens', 'core-token'))
  assert.equal(codeOf(await call(ids.member, 'group', core(allowedCore))), 'ok')
  assert.ok(bearer(good).slice(seen).length > 0 && bearer(good).slice(seen).every((a) => a === 'Bearer tok-CORE-REPLACED-0123'), JSON.stringify(bearer(good).slice(seen)))
  // The default token never went anywhere but where the configuration sends it.
  assert.ok(!bearer(evil).some((a) => a !== ''), JSON.stringify(bearer(evil)))
})
