#!/usr/bin/env node
// Regenerates the TLS test fixtures in test/fixtures/tls/ (a CA, a server certificate for
// 127.0.0.1/localhost and a client certificate, valid for 100 years). Test-only keys: never use
// them for anything else. Needs openssl. Usage: node scripts/make-test-certs.mjs
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures', 'tls')
const tmp = mkdtempSync(join(tmpdir(), 'lv-certs-'))
const ssl = (...args) => execFileSync('openssl', args, { cwd: out, stdio: ['ignore', 'ignore', 'inherit'] })
const days = '36500'
try {
  ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt',
    '-days', days, '-subj', '/CN=linstor-virt test CA')
  for (const [name, cn, ext] of [
    ['server', 'localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'],
    ['client', 'linstor-virt test client', 'extendedKeyUsage=clientAuth\n'],
  ]) {
    const extFile = join(tmp, `${name}.ext`)
    writeFileSync(extFile, ext)
    ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', join(tmp, `${name}.csr`), '-subj', `/CN=${cn}`)
    ssl('x509', '-req', '-in', join(tmp, `${name}.csr`), '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', days, '-extfile', extFile)
  }
  // A second, unrelated CA: a server certificate it signed must be refused.
  ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'other-ca.key', '-out', 'other-ca.crt',
    '-days', days, '-subj', '/CN=unrelated CA')
  rmSync(join(out, 'ca.srl'), { force: true })
} finally {
  rmSync(tmp, { recursive: true, force: true })
}
