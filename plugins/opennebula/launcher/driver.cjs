// The one launcher behind every OpenNebula driver executable (remotes/tm/linstor/<action> and
// remotes/datastore/linstor/<action>, each a two-line script that requires this file). It stays
// thin: it reads argv and, for the actions that get one, stdin; sends one call-protocol request to
// the agent's socket, or runs it in this process from the bundled one-shot CLI when no agent
// answers; and prints the reply the way oned reads it: stdout for oned, INFO lines and one ERROR
// line plus the plain reason on stderr, exit code 0 or 1. Plain CommonJS: nothing to load first.
'use strict'
const fs = require('node:fs')
const http = require('node:http')
const path = require('node:path')

/** TM actions that get a document on stdin (migrate: base64 VM; backups: VM XML; monitor: base64 DS). */
const TM_STDIN = new Set(['premigrate', 'postmigrate', 'failmigrate', 'prebackup', 'prebackup_live', 'postbackup', 'postbackup_live', 'monitor'])
/** Actions that move data and may run long; the rest get minutes. */
const LONG = new Set(['cp', 'export', 'clone', 'cpds', 'prebackup', 'prebackup_live', 'snap_revert', 'snap_flatten', 'mv', 'restore'])
const LONG_MS = 12 * 3600 * 1000
const SHORT_MS = 10 * 60 * 1000
const QUICK = new Set(['monitor', 'stat'])
const QUICK_MS = 60 * 1000

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = []
    process.stdin.on('data', (c) => chunks.push(c))
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    process.stdin.on('error', reject)
  })
}

/** The folder of the bundled CLI: LINSTOR_VIRT_HOME, a built checkout's dist/, or the installed one. */
function home(here) {
  const candidates = [process.env.LINSTOR_VIRT_HOME, path.resolve(here, '..', '..', '..', '..', '..'), '/usr/lib/linstor-virt']
  for (const c of candidates) if (c && fs.existsSync(path.join(c, 'one-shot.js'))) return c
  throw new Error('the linstor-virt CLI is not installed (no one-shot.js in LINSTOR_VIRT_HOME or /usr/lib/linstor-virt)')
}

function callAgent(socketPath, body, timeoutMs) {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path: '/v1/call', method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, timeout: timeoutMs }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')))
        } catch (err) {
          reject(err)
        }
      })
    })
    req.on('timeout', () => req.destroy(new Error(`no reply from the agent within ${timeoutMs} ms`)))
    req.on('error', (err) => {
      err.unavailable = err.code === 'ENOENT' || err.code === 'ECONNREFUSED' || err.code === 'EACCES' || err.code === 'ENOTSOCK'
      reject(err)
    })
    req.end(body)
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
      reply = await require(path.join(home(here), 'one-shot.js')).callOnce(body, { startedAt: performance.timeOrigin })
    }
    const shown = render(reply, label)
    code = shown.code
    out = shown.out
    err = shown.err
  } catch (e) {
    const msg = oneLine(e && e.message ? e.message : e)
    err = `ERROR: ${label}: ${msg}\n${msg}\n`
  }
  process.stderr.write(err)
  process.stdout.write(out, () => process.exit(code))
}

module.exports = { main, render }
