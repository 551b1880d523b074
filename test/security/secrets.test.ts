/**
 * Secrets (issue 10): bearer tokens, TLS private keys and passwords never appear in logs, error
 * messages, the agent's replies, the argv or the environment of child processes. Each adapter runs
 * representative operations through a real agent (its logger at debug level writing into a buffer)
 * and in this process, on the good path and on the failure paths: the right token, a wrong one
 * (401), a token file that is broken JSON, holds two tokens or is missing, a controller that is
 * down, TLS with a client key and with a key file that is no key, credentials written into a
 * controller URL, a password in an image URL, password-like options. Every secret is a distinctive
 * random string (S3cr3t-...), and everything captured is scanned for it (and for its base64).
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import { callAgent } from '../../cli/agent/client.js'
import { startAgent } from '../../cli/agent/server.js'
import { buildDispatcher } from '../../cli/dispatcher.js'
import { loadLogger } from '../../core/log/index.js'
import { ServiceRegistry } from '../../core/protocol/index.js'
import type { CallReply } from '../../core/protocol/index.js'
import { MiB } from '../../core/volumes/index.js'
import type { RunningEmulator } from '../../emulator/index.js'
import { withEmulator } from '../emulator/helpers.js'
import { allowing } from '../helpers/access.js'
import { tempDir } from '../helpers/core.js'
import { fixture, repoRoot } from '../helpers/paths.js'
import { closedPort, startServer } from '../helpers/servers.js'
import { actionData, datastoreXml } from '../opennebula/one.js'
import { refused, succeeded, successOrRefusal } from './hostile.js'
import { startRecording } from './observe.js'
import type { Recording } from './observe.js'

const BUNDLE = join(repoRoot(), 'dist', 'linstor-virt.js')
const STANDINS = join(repoRoot(), 'test', 'opennebula', 'standins')

const rnd = (): string => randomBytes(8).toString('hex')

/** The secrets of one test, each distinctive, and the text forms they could leak in. */
function secrets() {
  const s = {
    token: `S3cr3t-token-${rnd()}`,
    wrongToken: `S3cr3t-wrong-${rnd()}`,
    brokenToken: `S3cr3t-broken-${rnd()}`,
    twoTokens: `S3cr3t-two-${rnd()}`,
    fakeKey: `S3cr3t-key-${rnd()}`,
    password: `S3cr3t-pass-${rnd()}`,
    urlPassword: `S3cr3t-urlpass-${rnd()}`,
    agentToken: `S3cr3t-agent-${rnd()}`,
  }
  // The committed test client key: its first base64 line is as secret as the rest of it.
  const keyLine = readFileSync(fixture('tls', 'client.key'), 'utf8').split('\n')[1] ?? ''
  assert.ok(keyLine.length > 40)
  return {
    ...s,
    clientKey: keyLine,
    basic: Buffer.from(`alice:${s.urlPassword}`).toString('base64'),
    tokenB64: Buffer.from(s.token).toString('base64'),
  }
}

/** Everything a test captured, by where it came from. */
class Capture {
  readonly texts: { where: string; text: string }[] = []
  readonly #log: string[] = []
  readonly logStream = new Writable({
    write: (chunk: Buffer, _enc, cb) => {
      this.#log.push(chunk.toString('utf8'))
      cb()
    },
  })

  add(where: string, value: unknown): void {
    this.texts.push({ where, text: typeof value === 'string' ? value : JSON.stringify(value) })
  }

  logText(): string {
    return this.#log.join('')
  }

  children(rec: Recording): void {
    for (const c of rec.children) {
      this.add(`argv of ${c.file}`, [c.file, ...c.args].join(' '))
      this.add(`environment of ${c.file}`, c.env.join('\n'))
    }
  }

  /** Fails naming the secret and the place; also requires that something was captured at all. */
  assertClean(s: Secrets): void {
    const all = [...this.texts, { where: 'logs', text: this.logText() }]
    assert.ok(this.logText().includes('"level":20'), 'debug lines were logged (the scan is not over an empty log)')
    for (const { where, text } of all) {
      for (const [name, value] of Object.entries(s)) {
        const at = text.indexOf(value)
        // The report shows where, with the secret masked: a failing run must not print it either.
        assert.ok(at < 0, `the ${name} leaked into ${where}: ${text.slice(Math.max(0, at - 200), at + value.length + 100).replaceAll(value, `<${name}>`)}`)
      }
    }
  }
}

type Secrets = ReturnType<typeof secrets>

interface Kit {
  s: Secrets
  cap: Capture
  dir: string
  emu: RunningEmulator
  files: { token: string; wrong: string; broken: string; two: string; missing: string; fakeKey: string }
  /** One request through the agent's socket; the reply is captured. */
  viaAgent: (platform: string, operation: string, args: Record<string, unknown>, config: Record<string, unknown>) => Promise<CallReply>
  /** One request through the dispatcher in this process (with the same logger); the reply is captured. */
  inProcess: (platform: string, operation: string, args: Record<string, unknown>, config: Record<string, unknown>) => Promise<CallReply>
  rec: Recording & { close(): void }
}

async function kit(t: TestContext): Promise<Kit> {
  const s = secrets()
  const before = process.env['LINSTOR_VIRT_LOG_LEVEL']
  delete process.env['LINSTOR_VIRT_LOG_LEVEL']
  t.after(() => {
    if (before !== undefined) process.env['LINSTOR_VIRT_LOG_LEVEL'] = before
  })
  const emu = await withEmulator(t, { token: s.token, cloneDurationMs: 20 })
  const dir = tempDir(t, 'lv-secrets-')
  const file = (name: string, text: string): string => {
    const p = join(dir, name)
    writeFileSync(p, text, { mode: 0o600 })
    return p
  }
  const files = {
    token: file('auth.json', JSON.stringify({ token: s.token })),
    wrong: file('wrong-token', `${s.wrongToken}\n`),
    broken: file('broken.json', `{"token": "${s.brokenToken}",`),
    two: file('two-tokens', `${s.twoTokens}-a\n${s.twoTokens}-b\n`),
    missing: join(dir, 'no-such-token-file'),
    fakeKey: file('fake.key', `-----BEGIN PRIVATE KEY-----\n${s.fakeKey}\n-----END PRIVATE KEY-----\n`),
  }
  const cap = new Capture()
  const logger = await loadLogger({ level: 'debug', destination: cap.logStream, name: 'secrets-test' })
  const dispatcher = buildDispatcher(logger)
  const agent = await startAgent({ socketPath: join(dir, 'agent.sock'), dispatcher, logger })
  t.after(() => agent.close())
  const services = new ServiceRegistry(true)
  t.after(() => services.close())
  const rec = startRecording()
  t.after(() => rec.close())
  return {
    s,
    cap,
    dir,
    emu,
    files,
    rec,
    viaAgent: async (platform, operation, args, config) => {
      const r = await callAgent(agent.socketPath, { v: 1, platform, operation, arguments: args, config, deadlineMs: 20_000 })
      cap.add(`agent reply to ${platform}.${operation}`, r)
      return r
    },
    inProcess: async (platform, operation, args, config) => {
      const r = await dispatcher.dispatch({ v: 1, platform, operation, arguments: args, config, deadlineMs: 20_000 }, services)
      cap.add(`reply to ${platform}.${operation}`, r)
      return r
    },
  }
}

/** A TLS emulator that wants a client certificate and the token, and the core settings to reach it. */
async function tlsEmulator(t: TestContext, k: Kit): Promise<{ url: string; tls: Record<string, string> }> {
  const emu = await withEmulator(t, {
    token: k.s.token,
    tls: { key: readFileSync(fixture('tls', 'server.key')), cert: readFileSync(fixture('tls', 'server.crt')), ca: readFileSync(fixture('tls', 'ca.crt')), requestClientCert: true },
  })
  return { url: emu.url, tls: { caFile: fixture('tls', 'ca.crt'), certFile: fixture('tls', 'client.crt'), keyFile: fixture('tls', 'client.key') } }
}

/**
 * A failed call, whatever its code: a key file that is no key comes back as INTERNAL_ERROR with
 * OpenSSL's message today (not a catalogued refusal); only what the reply carries matters here.
 */
function failed(reply: CallReply, what: string): void {
  assert.ok('error' in reply, `${what}: should fail`)
}

/** Runs the bundled CLI with debug logs; stdout and stderr are captured. */
function cli(k: Kit, args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  assert.ok(existsSync(BUNDLE), `${BUNDLE} is missing: run npm run build first`)
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BUNDLE, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, LINSTOR_VIRT_LOG_LEVEL: 'debug' } }, (err, stdout, stderr) => {
      k.cap.add(`stdout of linstor-virt ${args.join(' ')}`, stdout)
      k.cap.add(`stderr of linstor-virt ${args.join(' ')}`, stderr)
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr })
    })
    child.stdin?.end(stdin ?? '')
  })
}

test('proxmox: the token, the TLS client key and URL credentials stay out of logs, replies and children, on good and failing calls', async (t) => {
  const k = await kit(t)
  const scfg = { 'linstor-controllers': k.emu.url, 'linstor-place-count': 2 }
  const cfg = (extra: Record<string, unknown> = {}, sc: Record<string, unknown> = scfg): Record<string, unknown> => ({ storeid: 'drbd', node: 'alpha', scfg: sc, deviceRoot: k.emu.deviceRoot('alpha'), lockDir: join(k.dir, 'locks'), tokenFile: k.files.token, ...extra })
  const pve = (op: string, args: Record<string, unknown>, config = cfg()): Promise<CallReply> => k.viaAgent('proxmox', op, args, config)

  // Good path: every call authenticated by the token file.
  assert.equal(succeeded<{ active: boolean }>(await pve('status', {}), 'status').active, true)
  const { volname } = succeeded<{ volname: string }>(await pve('alloc_image', { vmid: 100, fmt: 'raw', name: null, sizeKib: 4096 }), 'alloc')
  succeeded(await pve('activate_volume', { volname, snapname: null }), 'activate')
  succeeded(await pve('volume_snapshot', { volname, snap: 'before' }), 'snapshot')
  succeeded(await pve('deactivate_volume', { volname, snapname: null }), 'deactivate')
  // The shim hands the token over once, at `pvesm add`: it is never echoed, also when the call is refused.
  succeeded(await pve('check_config', { hook: 'add', sensitive: { token: k.s.token } }), 'check_config')
  refused(await pve('check_config', { hook: k.s.token, sensitive: { token: k.s.token } }), 'check_config with a bad hook', 'CALL_INVALID')

  // Failing tokens: wrong (401), broken JSON, two tokens, missing file.
  const wrong = await pve('status', {}, cfg({ tokenFile: k.files.wrong }))
  assert.equal(succeeded<{ active: boolean }>(wrong, 'status, wrong token').active, false, 'a refused token makes the storage inactive')
  refused(await pve('alloc_image', { vmid: 101, fmt: 'raw', name: null, sizeKib: 4096 }, cfg({ tokenFile: k.files.wrong })), 'alloc, wrong token', 'LINSTOR_UNAUTHORIZED')
  for (const f of [k.files.broken, k.files.two, k.files.missing]) refused(await pve('alloc_image', { vmid: 101, fmt: 'raw', name: null, sizeKib: 4096 }, cfg({ tokenFile: f })), `alloc with token file ${f}`)
  // Credentials written into the controller URL, in several wrong shapes.
  for (const url of [`linstor://admin:${k.s.password}@127.0.0.1`, `ftp://admin:${k.s.password}@127.0.0.1`, `linstor://admin:${k.s.password}@[::1`, `http://admin:${k.s.password}@127.0.0.1:1/x`]) {
    refused(await pve('alloc_image', { vmid: 101, fmt: 'raw', name: null, sizeKib: 4096 }, cfg({}, { ...scfg, 'linstor-controllers': url })), `controller URL ${url.replace(k.s.password, '***')}`)
    successOrRefusal(await pve('status', {}, cfg({}, { ...scfg, 'linstor-controllers': url })), 'status with credentials in the URL')
  }
  // TLS: a client key that works, and a key file that is no key.
  const tls = await tlsEmulator(t, k)
  const tlsScfg = { ...scfg, 'linstor-controllers': tls.url, 'linstor-ca': tls.tls['caFile'], 'linstor-cert': tls.tls['certFile'] }
  assert.equal(succeeded<{ active: boolean }>(await pve('status', {}, cfg({}, { ...tlsScfg, 'linstor-key': tls.tls['keyFile'] })), 'status over mTLS').active, true)
  failed(await pve('alloc_image', { vmid: 102, fmt: 'raw', name: null, sizeKib: 4096 }, cfg({}, { ...tlsScfg, 'linstor-key': k.files.fakeKey })), 'a key file that is no key')
  // The controller down: inactive, and a clear refusal.
  await k.emu.stopListening()
  try {
    assert.equal(succeeded<{ active: boolean }>(await pve('status', {}, cfg({ tokenFile: k.files.token, lockDir: join(k.dir, 'locks2') })), 'status, controller down').active, false)
    refused(await pve('alloc_image', { vmid: 103, fmt: 'raw', name: null, sizeKib: 4096 }), 'alloc, controller down', 'LINSTOR_UNAVAILABLE')
  } finally {
    await k.emu.startListening()
  }
  k.rec.close()
  k.cap.children(k.rec)
  k.cap.assertClean(k.s)
})

test('cinder: the token, password-like options and URL credentials stay out of logs, replies and children, on good and failing calls', async (t) => {
  const k = await kit(t)
  const base = {
    backend: 'lv-1',
    controllers: [k.emu.url],
    cinderHost: 'ctl',
    nodeMap: { ctl: 'alpha' },
    lockDir: join(k.dir, 'locks'),
    deviceRoot: join(k.dir, 'dev', '{node}'),
    tokenFile: k.files.token,
    // Options a cinder.conf section may carry that look like secrets: never ours to print.
    password: k.s.password,
    san_password: k.s.password,
    linstor_password: k.s.password,
  }
  const cinder = (op: string, args: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<CallReply> => k.viaAgent('cinder', op, args, { ...base, ...extra })
  const vol = (id: string): Record<string, unknown> => ({ id, name_id: id, size: 1, multiattach: false, status: 'available', volume_type: { name: 'two', extra_specs: { 'linstor:redundancy': '2' } }, attachments: [] })
  const V = 'dddddddd-0000-4000-8000-000000000001'

  assert.deepEqual(succeeded<{ warnings: string[] }>(await cinder('check', {}), 'check').warnings, [])
  succeeded(await cinder('stats', {}), 'stats')
  succeeded(await cinder('create_volume', { volume: vol(V) }), 'create')
  succeeded(await cinder('initialize_connection', { volume: vol(V), connector: { host: 'ctl', password: k.s.password } }), 'attach')
  succeeded(await cinder('terminate_connection', { volume: vol(V), connector: { host: 'ctl' } }), 'detach')

  const wrong = succeeded<{ warnings: string[] }>(await cinder('check', {}, { tokenFile: k.files.wrong }), 'check with a wrong token')
  assert.equal(wrong.warnings.length, 1, 'the refused token is reported as a warning')
  refused(await cinder('stats', {}, { tokenFile: k.files.wrong }), 'stats, wrong token', 'LINSTOR_UNAUTHORIZED')
  for (const f of [k.files.broken, k.files.two, k.files.missing]) refused(await cinder('create_volume', { volume: vol(V) }, { tokenFile: f }), `create with token file ${f}`)
  refused(await cinder('stats', {}, { tokenFile: 'relative/token', keyFile: k.s.password, certFile: '/c.pem' }), 'bad paths', 'CONFIG_INVALID')
  for (const url of [`linstor://admin:${k.s.password}@127.0.0.1`, `ftp://admin:${k.s.password}@127.0.0.1`, `https://admin:${k.s.password}@[::1`]) {
    refused(await cinder('stats', {}, { controllers: [url] }), 'credentials in a controller URL')
  }
  await k.emu.stopListening()
  try {
    assert.equal(succeeded<{ warnings: string[] }>(await cinder('check', {}, { lockDir: join(k.dir, 'l2') }), 'check, controller down').warnings.length, 1)
    refused(await cinder('delete_volume', { volume: vol(V) }), 'delete, controller down', 'LINSTOR_UNAVAILABLE')
  } finally {
    await k.emu.startListening()
  }
  const tls = await tlsEmulator(t, k)
  succeeded(await cinder('stats', {}, { controllers: [tls.url], ...tls.tls }), 'stats over mTLS')
  failed(await cinder('stats', {}, { controllers: [tls.url], ...tls.tls, keyFile: k.files.fakeKey }), 'a key file that is no key')
  k.rec.close()
  k.cap.children(k.rec)
  k.cap.assertClean(k.s)
})

test('opennebula: the token and the password of an image URL stay out of logs, replies, INFO lines and children, on good and failing imports', async (t) => {
  const k = await kit(t)
  // The DS actions run here with ssh and the OpenNebula CLI stand-ins on PATH.
  const db = join(k.dir, 'db')
  const hosts = join(k.dir, 'hosts')
  mkdirSync(db)
  mkdirSync(hosts)
  const saved = { PATH: process.env['PATH'], LV_ONE_DB: process.env['LV_ONE_DB'], LV_ONE_HOSTS: process.env['LV_ONE_HOSTS'] }
  Object.assign(process.env, { PATH: `${join(STANDINS, 'bin')}:${process.env['PATH'] ?? ''}`, LV_ONE_DB: db, LV_ONE_HOSTS: hosts })
  t.after(() => {
    for (const [key, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[key]
      else process.env[key] = v
    }
  })
  const config = { remotes: join(STANDINS, 'remotes'), deviceRoot: k.emu.deviceRoot('{node}'), lockDir: join(k.dir, 'locks') }
  const dsXml = (attrs: Record<string, string>): string =>
    datastoreXml(101, { LINSTOR_CONTROLLERS: k.emu.url, LINSTOR_PLACE_COUNT: '2', BRIDGE_LIST: 'alpha bravo', LINSTOR_TOKEN_FILE: k.files.token, RESTRICTED_DIRS: '/', SAFE_DIRS: k.dir, STAGING_DIR: k.dir, ...attrs })
  const ds = (action: string, id: string, image: Record<string, string> | undefined, attrs: Record<string, string> = {}, via: 'agent' | 'here' = 'agent'): Promise<CallReply> =>
    (via === 'agent' ? k.viaAgent : k.inProcess)('opennebula', `ds.${action}`, { argv: [id], stdin: actionData(image, dsXml(attrs)) }, config)

  // An image server that wants Basic credentials.
  const image = Buffer.alloc(2 * MiB)
  randomBytes(4096).copy(image)
  const auth = `Basic ${k.s.basic}`
  const srv = await startServer(t, (req, res) => {
    if (req.headers.authorization !== auth) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="images"' })
      res.end('denied')
      return
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': image.length })
    res.end(image)
  })
  const url = (password: string, base = srv.url): string => `${base.replace('://', `://alice:${password}@`)}/disk.raw`

  assert.match(succeeded<{ stdout: string }>(await ds('monitor', '101', undefined), 'monitor').stdout, /^USED_MB=/)
  assert.equal(succeeded<{ stdout: string }>(await ds('stat', '7', { ID: '7', PATH: url(k.s.urlPassword), SIZE: '2', TYPE: '0' }), 'stat of a URL with a password').stdout.trim(), '2')
  const cp = succeeded<{ stdout: string; messages: string[] }>(await ds('cp', '7', { ID: '7', PATH: url(k.s.urlPassword), SIZE: '2', TYPE: '0' }, {}, 'here'), 'cp of a URL with a password')
  assert.equal(cp.stdout.trim(), 'OpenNebula-Image-7 raw')
  assert.ok(cp.messages.length > 0, 'INFO lines were reported (and are scanned)')
  assert.ok(srv.requests.some((r) => r.headers.authorization === auth), 'the password went only into the Authorization header')
  // Failing imports: a wrong password (401), a server that is gone, a URL that is no URL.
  refused(await ds('cp', '8', { ID: '8', PATH: url(k.s.wrongToken), SIZE: '2', TYPE: '0' }, {}, 'here'), 'cp with a wrong password', 'IMAGE_FETCH_FAILED')
  refused(await ds('stat', '8', { ID: '8', PATH: url(k.s.urlPassword, `http://127.0.0.1:${await closedPort()}`), SIZE: '2', TYPE: '0' }), 'stat from a closed port', 'IMAGE_FETCH_FAILED')
  refused(await ds('cp', '8', { ID: '8', PATH: `http://alice:${k.s.urlPassword}@[bad/disk.raw`, SIZE: '2', TYPE: '0' }), 'a URL that is no URL')
  refused(await ds('cp', '8', { ID: '8', PATH: `s3://alice:${k.s.urlPassword}@bucket/disk.raw`, SIZE: '2', TYPE: '0' }), 'an unsupported scheme with credentials', 'IMAGE_SOURCE_UNSUPPORTED')
  // Failing tokens and controllers.
  refused(await ds('monitor', '101', undefined, { LINSTOR_TOKEN_FILE: k.files.wrong }), 'monitor, wrong token', 'LINSTOR_UNAUTHORIZED')
  refused(await ds('monitor', '101', undefined, { LINSTOR_TOKEN_FILE: k.files.broken }), 'monitor, broken token file')
  for (const controllers of [`linstor://oneadmin:${k.s.password}@127.0.0.1`, `ftp://oneadmin:${k.s.password}@127.0.0.1`]) {
    refused(await ds('monitor', '101', undefined, { LINSTOR_CONTROLLERS: controllers }), 'monitor, credentials in the URL', 'CONFIG_INVALID')
  }
  failed(await ds('monitor', '101', undefined, { LINSTOR_KEY_FILE: k.files.fakeKey, LINSTOR_CERT_FILE: fixture('tls', 'client.crt'), LINSTOR_CONTROLLERS: k.emu.url.replace('http:', 'https:') }), 'monitor, a key file that is no key')
  k.rec.close()
  k.cap.children(k.rec)
  // Children ran (qemu-img, ssh for dd) and their argv and environment are part of the scan.
  assert.ok(k.rec.children.some((c) => c.file === 'qemu-img') && k.rec.children.some((c) => c.file === 'ssh'))
  k.cap.assertClean(k.s)
})

test('the agent TCP listener, the one-shot CLI and controller version: tokens stay out of replies and output', async (t) => {
  const k = await kit(t)
  const dispatcherLog = await loadLogger({ level: 'debug', destination: k.cap.logStream, name: 'agent-tcp' })
  const agent = await startAgent({ socketPath: join(k.dir, 'tcp.sock'), dispatcher: buildDispatcher(dispatcherLog), logger: dispatcherLog, tcp: { host: '127.0.0.1', port: 0, token: k.s.agentToken, access: allowing({ controllers: [k.emu.url], tokenFile: k.files.token }) } })
  t.after(() => agent.close())
  const body = JSON.stringify({ v: 1, platform: 'core', operation: 'capacity', arguments: { policy: { placeCount: 2 } }, config: { controllers: k.emu.url, tokenFile: k.files.token } })
  for (const authorization of [undefined, `Bearer ${k.s.wrongToken}`, `Bearer ${k.s.agentToken.slice(0, -1)}x`]) {
    const r = await fetch(`http://127.0.0.1:${agent.tcpPort ?? 0}/v1/call`, { method: 'POST', body, headers: authorization === undefined ? {} : { authorization } })
    assert.equal(r.status, 401)
    k.cap.add('agent TCP reply', await r.text())
  }
  const ok = await fetch(`http://127.0.0.1:${agent.tcpPort ?? 0}/v1/call`, { method: 'POST', body, headers: { authorization: `Bearer ${k.s.agentToken}` } })
  const okText = await ok.text()
  k.cap.add('agent TCP reply', okText)
  assert.ok('result' in (JSON.parse(okText) as CallReply), okText)

  // One-shot calls (what the shims run when no agent answers), with debug logs on stderr.
  const request = (tokenFile: string): string => JSON.stringify({ v: 1, platform: 'core', operation: 'capacity', arguments: { policy: { placeCount: 2 } }, config: { controllers: k.emu.url, tokenFile } })
  assert.equal((await cli(k, ['call', '--stdin'], request(k.files.token))).code, 0)
  for (const f of [k.files.wrong, k.files.broken, k.files.two]) {
    const r = await cli(k, ['call', '--stdin'], request(f))
    assert.ok('error' in (JSON.parse(r.stdout) as CallReply), r.stdout)
  }
  const withCredentials = JSON.stringify({ v: 1, platform: 'core', operation: 'info', arguments: { resource: 'vm-1-disk-0' }, config: { controllers: `ftp://admin:${k.s.password}@127.0.0.1` } })
  assert.ok('error' in (JSON.parse((await cli(k, ['call', '--stdin'], withCredentials)).stdout) as CallReply))
  assert.equal((await cli(k, ['controller', 'version', '--controllers', k.emu.url, '--token-file', k.files.token])).code, 0)
  for (const f of [k.files.wrong, k.files.broken]) assert.notEqual((await cli(k, ['controller', 'version', '--controllers', k.emu.url, '--token-file', f])).code, 0)
  k.rec.close()
  k.cap.children(k.rec)
  assert.ok(k.rec.children.length >= 8, 'the CLI children were recorded')
  k.cap.assertClean(k.s)
})
