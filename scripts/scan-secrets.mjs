#!/usr/bin/env node
// Scans captured output (the test suite's stdout/stderr, log files, a folder of them) for the
// secrets the tests use: the fixed tokens and passwords of test/ and their base64 forms, the
// committed TLS test keys, and the random S3cr3t-<kind>-<hex> values of test/security/. A hit means
// a secret reached output someone reads (a log line, an error message, a reply, a test report).
//
// Usage: node scripts/scan-secrets.mjs [--secret VALUE]... PATH...
//   PATH: files or folders (scanned recursively); '-' reads stdin.
//   --secret VALUE: one more exact string to look for (repeatable).
// Exit status: 0 nothing found, 1 hits (one line each: where, which secret, the line with every
// secret masked, so the report does not leak them again), 2 usage or read errors.
//
// Example (what CI could run):  npm test 2>&1 | tee build/test-output.log
//                               node scripts/scan-secrets.mjs build/test-output.log
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { root } from './lib.mjs'

/** Fixed test secrets, by the test that uses them (grep test/ for token, password, secret). */
const FIXED = {
  'proxmox-e2e token': 'tok-SECRET-pve',
  'call-protocol one-shot token': 'tok-SECRET-oneshot',
  'call-protocol agent TCP token': 'tok-SECRET-agent-tcp-0123',
  'cli token': 'tok-SECRET-123',
  'linstor-client good token': 'good-t0ken',
  'linstor-client bad token': 'bad-t0ken',
  'proxmox shim hook token': 'tok-ABC-123-secret',
  'opennebula-images Basic credentials': 'alice:secret',
  'validators password': 'hunter2',
  'log redaction token': 'T0KEN-',
  'log redaction password': 'PW-top',
  'log redaction secret': 'S3CRET',
}

/** Each secret also as base64 (an Authorization: Basic header, a token file dumped encoded). */
function withBase64(entries) {
  const out = []
  for (const [name, value] of entries) {
    out.push([name, value])
    if (value.length >= 8) out.push([`${name} (base64)`, Buffer.from(value).toString('base64').replace(/=+$/, '')])
  }
  return out
}

/** The committed TLS test keys: their first base64 line stands for the whole key. */
function fixtureKeys() {
  const dir = join(root, 'test', 'fixtures', 'tls')
  const out = []
  let names = []
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.key'))
  } catch {
    return out
  }
  for (const n of names) {
    const line = readFileSync(join(dir, n), 'utf8').split('\n').find((l) => /^[A-Za-z0-9+/=]{40,}$/.test(l))
    if (line !== undefined) out.push([`TLS test key ${n}`, line])
  }
  return out
}

/** The random secrets of test/security (S3cr3t-token-<16 hex> and the like). */
const RANDOM = /S3cr3t-[a-z]+-[0-9a-f]{16}/g

function usage(message) {
  process.stderr.write(`scan-secrets: ${message}\nusage: node scripts/scan-secrets.mjs [--secret VALUE]... PATH...\n`)
  process.exit(2)
}

const args = process.argv.slice(2)
const extra = []
const paths = []
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--secret') {
    const v = args[++i]
    if (v === undefined || v === '') usage('--secret needs a value')
    extra.push([`--secret #${extra.length + 1}`, v])
  } else if (args[i] === '--help' || args[i] === '-h') {
    usage('scans captured output for test secrets')
  } else {
    paths.push(args[i])
  }
}
if (paths.length === 0) usage('no file or folder given')

const secrets = [...withBase64([...Object.entries(FIXED), ...extra]), ...fixtureKeys()]

function mask(line) {
  let out = line.replace(RANDOM, '<S3cr3t-...>')
  for (const [name, value] of secrets) out = out.split(value).join(`<${name}>`)
  return out.length > 300 ? `${out.slice(0, 300)}...` : out
}

let hits = 0
let errors = 0

function scanText(where, text) {
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    const found = secrets.filter(([, value]) => line.includes(value)).map(([name]) => name)
    if (RANDOM.test(line)) found.push('a random test/security secret')
    RANDOM.lastIndex = 0
    for (const name of found) {
      hits++
      process.stdout.write(`${where}:${i + 1}: ${name}: ${mask(line)}\n`)
    }
  }
}

function scanPath(p) {
  let st
  try {
    st = statSync(p)
  } catch (e) {
    process.stderr.write(`scan-secrets: cannot read ${p}: ${e.code ?? e.message}\n`)
    errors++
    return
  }
  if (st.isDirectory()) {
    for (const n of readdirSync(p).sort()) scanPath(join(p, n))
    return
  }
  if (!st.isFile()) return
  scanText(p, readFileSync(p, 'utf8'))
}

for (const p of paths) {
  if (p === '-') scanText('<stdin>', readFileSync(0, 'utf8'))
  else scanPath(p)
}
if (hits > 0) process.stdout.write(`scan-secrets: ${hits} secret${hits === 1 ? '' : 's'} found in captured output\n`)
process.exit(errors > 0 ? 2 : hits > 0 ? 1 : 0)
