// The one launcher behind every OpenNebula driver executable (remotes/tm/linstor/<action> and
// remotes/datastore/linstor/<action>, each a two-line script that requires this file). It stays
// thin: it reads argv and, for the actions that get one, stdin; sends one call-protocol request to
// the agent's socket, or runs it in this process from the bundled one-shot CLI when no agent
// answers; and prints the reply the way oned reads it: stdout for oned, INFO lines and one ERROR
// line plus the plain reason on stderr, exit code 0 or 1. Plain CommonJS: nothing to load first.
// It starts at node's own speed: node:net with the one HTTP/1.1 request it sends written here (not
// node:http), stdin and the output through file descriptors (not process.stdin/stdout streams),
// the one-shot bundle through V8's code cache (dist/code-cache.js).
'use strict'
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')

/** TM actions that get a document on stdin (migrate: base64 VM; backups: VM XML; monitor: base64 DS). */
const TM_STDIN = new Set(['premigrate', 'postmigrate', 'failmigrate', 'prebackup', 'prebackup_live', 'postbackup', 'postbackup_live', 'monitor'])
/** Actions that move data and may run long; the rest get minutes. */
const LONG = new Set(['cp', 'export', 'clone', 'cpds', 'prebackup', 'prebackup_live', 'snap_revert', 'snap_flatten', 'mv', 'restore'])
const LONG_MS = 12 * 3600 * 1000
const SHORT_MS = 10 * 60 * 1000
const QUICK = new Set(['monitor', 'stat'])
const QUICK_MS = 60 * 1000

/** All of stdin: read from fd 0 directly (a pipe from oned), else as a stream (a non-blocking fd). */
function readStdin() {
  try {
    return Promise.resolve(fs.readFileSync(0).toString('utf8'))
  } catch (err) {
    if (err.code !== 'EAGAIN' && err.code !== 'EWOULDBLOCK') return Promise.reject(err)
  }
  return new Promise((resolve, reject) => {
    const chunks = []
    process.stdin.on('data', (c) => chunks.push(c))
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    process.stdin.on('error', reject)
  })
}

/** Writes all of `text` to a file descriptor (1 or 2), waiting out a non-blocking pipe that is full. */
function writeFd(fd, text) {
  const buf = Buffer.from(text, 'utf8')
  let off = 0
  while (off < buf.length) {
    try {
      off += fs.writeSync(fd, buf, off, buf.length - off)
    } catch (err) {
      if (err.code !== 'EAGAIN') throw err
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5)
    }
  }
}

/** The folder of the bundled CLI: LINSTOR_VIRT_HOME, a built checkout's dist/, or the installed one. */
function home(here) {
  const candidates = [process.env.LINSTOR_VIRT_HOME, path.resolve(here, '..', '..', '..', '..', '..'), '/usr/lib/linstor-virt']
  for (const c of candidates) if (c && fs.existsSync(path.join(c, 'one-shot.js'))) return c
  throw new Error('the linstor-virt CLI is not installed (no one-shot.js in LINSTOR_VIRT_HOME or /usr/lib/linstor-virt)')
}

/**
 * The body of an HTTP/1.1 response once `raw` holds all of it (status line, headers, then
 * Content-Length bytes), else undefined; `ended`: the agent closed, so what came is all there is.
 */
function responseBody(raw, ended) {
  const end = raw.indexOf('\r\n\r\n')
  if (end < 0) {
    if (ended) throw new Error(`the agent closed the connection after ${raw.length} bytes and no complete HTTP response`)
    return undefined
  }
  if (!/^HTTP\/1\.[01] [0-9]{3} /.test(raw.toString('latin1', 0, 13))) throw new Error('the agent sent no HTTP response')
  const head = raw.toString('latin1', 0, end)
  if (/\r\ntransfer-encoding:/i.test(head)) throw new Error('the agent sent a chunked response (this launcher reads Content-Length replies)')
  const m = /\r\ncontent-length:\s*([0-9]+)/i.exec(head)
  const body = raw.subarray(end + 4)
  if (m === null) return ended ? body : undefined
  const n = Number(m[1])
  if (body.length >= n) return body.subarray(0, n)
  if (ended) throw new Error(`the agent's reply ended after ${body.length} of ${n} bytes`)
  return undefined
}

/**
 * POST /v1/call over the agent's unix socket: one request, Connection: close, the reply parsed as
 * soon as all of it came. The socket is not half-closed after the request: Node's HTTP server
 * drops a request whose client half-closes while the call still runs.
 */
function callAgent(socketPath, body, timeoutMs) {
  return new Promise((resolve, reject) => {
    const payload = Buffer.from(body, 'utf8')
    const chunks = []
    let connected = false
    let done = false
    const finish = (err, value) => {
      if (done) return
      done = true
      sock.destroy()
      if (err) reject(err)
      else resolve(value)
    }
    const check = (ended) => {
      try {
        const b = responseBody(Buffer.concat(chunks), ended)
        if (b !== undefined) finish(undefined, JSON.parse(b.toString('utf8')))
      } catch (err) {
        finish(err)
      }
    }
    const sock = net.connect(socketPath)
    sock.setTimeout(timeoutMs, () => finish(new Error(`no reply from the agent within ${timeoutMs} ms`)))
    sock.on('connect', () => {
      connected = true
      sock.write(Buffer.concat([Buffer.from(`POST /v1/call HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${payload.length}\r\nConnection: close\r\n\r\n`, 'latin1'), payload]))
    })
    sock.on('data', (c) => {
      chunks.push(c)
      check(false)
    })
    sock.on('end', () => check(true))
    sock.on('close', () => check(true))
    sock.on('error', (err) => {
      // Nothing was sent: the call can run here instead.
      err.unavailable = !connected && (err.code === 'ENOENT' || err.code === 'ECONNREFUSED' || err.code === 'EACCES' || err.code === 'ENOTSOCK')
      finish(err)
    })
  })
}

function oneLine(s) {
  return String(s).replace(/\s*\n\s*/g, ' ').trim()
}

/** One line for oned: INFO/WARN/ERROR/DEBUG kept (DriverExecHelper keeps only ^(ERROR|INFO|WARN|DEBUG):\s+), anything else INFO. */
function logLine(m, label) {
  const sev = /^(INFO|WARN|WARNING|ERROR|DEBUG):\s*/.exec(m)
  return sev ? `${sev[1] === 'WARNING' ? 'WARN' : sev[1]}: ${label}: ${oneLine(m.slice(sev[0].length))}\n` : `INFO: ${label}: ${oneLine(m)}\n`
}

/**
 * A call-protocol reply as oned reads it: { code, out (stdout), err (stderr) }. A result's messages
 * become INFO/WARN lines. An error prints the lines the call collected (details.messages), the
 * message's further lines (LINSTOR's own text) as INFO, then one ERROR line and the plain reason.
 */
function render(reply, label) {
  if (reply && reply.error) {
    const lines = String(reply.error.message || 'failed').split('\n').map(oneLine).filter((l) => l !== '')
    const head = lines[0] || 'failed'
    const details = reply.error.details || {}
    let err = ''
    for (const m of String(details.messages || '').split('\n').filter((l) => l !== '')) err += logLine(m, label)
    for (const more of lines.slice(1)) err += `INFO: ${label}: ${more}\n`
    err += `ERROR: ${label}: ${head}\n${head}\n`
    return { code: 1, out: '', err }
  }
  const result = (reply && reply.result) || {}
  let err = ''
  for (const m of result.messages || []) err += logLine(m, label)
  return { code: 0, out: result.stdout || '', err }
}

async function main(file) {
  const action = path.basename(file).replace(/\.(ssh|shared)$/, '')
  const here = path.dirname(file)
  const kind = path.basename(path.dirname(here)) === 'datastore' ? 'ds' : 'tm'
  const label = `${kind === 'ds' ? 'datastore' : 'tm'}/linstor/${action}`
  let code = 1
  let out = ''
  let err = ''
  try {
    const argv = process.argv.slice(2)
    const wantsStdin = kind === 'ds' ? !(argv.length >= 2 && argv[0] !== '-') : TM_STDIN.has(action)
    const stdin = wantsStdin ? await readStdin() : undefined
    const deadlineMs = LONG.has(action) ? LONG_MS : QUICK.has(action) ? QUICK_MS : SHORT_MS
    const config = { remotes: process.env.LINSTOR_VIRT_ONE_REMOTES || path.resolve(here, '..', '..') }
    if (process.env.LINSTOR_VIRT_DEVICE_ROOT !== undefined) config.deviceRoot = process.env.LINSTOR_VIRT_DEVICE_ROOT
    if (process.env.LINSTOR_VIRT_LOCK_DIR) config.lockDir = process.env.LINSTOR_VIRT_LOCK_DIR
    const request = { v: 1, platform: 'opennebula', operation: `${kind}.${action}`, arguments: { argv, ...(stdin !== undefined ? { stdin } : {}) }, config, deadlineMs }
    const body = JSON.stringify(request)
    let reply
    try {
      reply = await callAgent(process.env.LINSTOR_VIRT_AGENT_SOCKET || '/run/linstor-virt/agent.sock', body, deadlineMs + 5000)
      // A socket that does not serve OpenNebula calls (one for a group: they run commands of the
      // front-end) ran nothing: the call runs here, with oneadmin's own rights.
      if (reply && reply.error && reply.error.code === 'CALL_FORBIDDEN' && reply.error.details && reply.error.details.notServed === true) {
        const e = new Error('not served by the agent')
        e.unavailable = true
        throw e
      }
    } catch (e) {
      if (!e.unavailable) throw e
      // No agent: run the call here. Its log lines would become oned's error reason, so they are
      // off unless asked for; the reply's messages carry what the user needs.
      if (process.env.LINSTOR_VIRT_LOG_LEVEL === undefined) process.env.LINSTOR_VIRT_LOG_LEVEL = 'silent'
      const dir = home(here)
      const cached = path.join(dir, 'code-cache.js')
      const oneShot = fs.existsSync(cached) ? require(cached).loadBundle(path.join(dir, 'one-shot.js')).exports : require(path.join(dir, 'one-shot.js'))
      reply = await oneShot.callOnce(body, { startedAt: performance.timeOrigin })
    }
    const shown = render(reply, label)
    code = shown.code
    out = shown.out
    err = shown.err
  } catch (e) {
    const msg = oneLine(e && e.message ? e.message : e)
    err = `ERROR: ${label}: ${msg}\n${msg}\n`
  }
  try {
    writeFd(2, err)
    writeFd(1, out)
  } catch {
    // oned stopped reading: the exit code still says what happened
  }
  process.exit(code)
}

module.exports = { main, render }
