/**
 * Benchmarks are not tests: this only proves the data-path benchmark still runs, at a tiny size,
 * and that what it times is a real import (both paths leave the image's bytes where they should).
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { test } from 'node:test'
import { gzipSync } from 'node:zlib'
import { dataPathMarkdown, measureDataPath } from '../../bench/datapath.bench.js'

const MiB = 1024 * 1024

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex')
}

test('the data-path benchmark imports a qcow2 through the agent (on a front-end node and over ssh) and qemu-img alike: same bytes, positive throughput, one markdown row each', async () => {
  const seen: { run: number; warmup: boolean; mode: string; resource: string }[] = []
  const sshBefore = process.env['LINSTOR_VIRT_SSH']
  const r = await measureDataPath({
    sizeMiB: 8,
    runs: 1,
    onRun: ({ run, warmup, mode, qcow2, baselineRaw, device, resource, virtualBytes }) => {
      seen.push({ run, warmup, mode, resource })
      assert.equal(virtualBytes, 8 * MiB)
      const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', qcow2], { encoding: 'utf8' })) as { format: string; 'virtual-size': number }
      assert.equal(info.format, 'qcow2')
      assert.equal(info['virtual-size'], virtualBytes)
      const raw = readFileSync(baselineRaw)
      assert.equal(raw.length, virtualBytes, 'the baseline wrote the whole virtual size')
      // Pseudo-random data: no zero 4 KiB block, and it does not shrink under gzip.
      for (let at = 0; at < raw.length; at += 4096) assert.ok(!raw.subarray(at, at + 4096).equals(Buffer.alloc(4096)), `a zero block at ${at}`)
      assert.ok(gzipSync(raw, { level: 1 }).length > raw.length * 0.99, 'incompressible')
      const stored = readFileSync(device)
      assert.ok(stored.length >= virtualBytes, 'the volume is at least the image size')
      assert.equal(sha256(stored.subarray(0, virtualBytes)), sha256(raw), `${resource} holds the bytes qemu-img converted`)
    },
  })
  assert.deepEqual(seen.map((s) => [s.warmup, s.mode]), [[true, 'front-end'], [true, 'ssh'], [false, 'front-end'], [false, 'ssh']], 'one untimed round, then the timed one')
  assert.equal(new Set(seen.map((s) => s.resource)).size, 4, 'each import is a new image')
  assert.equal(r.path, 'agent', 'the agent served every cp')
  assert.equal(r.identical, true)
  assert.equal(r.clientRemoved, true, 'the front-end node keeps no client')
  assert.equal(r.sizeMiB, 8)
  assert.equal(r.virtualBytes, 8 * MiB)
  assert.ok(r.qcow2Bytes >= 8 * MiB, 'the image is not compressible or sparse')
  assert.equal(r.baselineMs.length, 1)
  assert.equal(r.oursMs.length, 1)
  assert.equal(r.ssh.oursMs.length, 1)
  for (const v of [r.baselineMedianMs, r.oursMedianMs, r.baselineMiBps, r.oursMiBps, r.ratio, r.ssh.oursMedianMs, r.ssh.oursMiBps, r.ssh.ratio]) assert.ok(v > 0, JSON.stringify(r))
  assert.ok(Math.abs(r.baselineMiBps - 8 / (r.baselineMedianMs / 1000)) < 0.1 + r.baselineMiBps * 0.01, 'throughput is the virtual size over wall time')
  assert.ok(Math.abs(r.ratio - r.baselineMedianMs / r.oursMedianMs) < 0.01)
  assert.equal(process.env['LINSTOR_VIRT_SSH'], sshBefore, 'the environment is restored')
  assert.equal(existsSync(r.dir) && r.filesystem !== '', true)
  const md = dataPathMarkdown(r)
  assert.match(md, /^### Data path: 8 MiB qcow2 import \(1 interleaved runs after 1 untimed, median wall time\)$/m)
  assert.match(md, /^\| baseline: qemu-img convert -O raw \| [\d.]+ \| [\d.]+ \| 1 \| \|$/m)
  assert.match(md, /^\| ours: datastore\/linstor\/cp \(agent\), front-end is a LINSTOR node \| [\d.]+ \| [\d.]+ \| [\d.]+ \| ≥ 0\.9 \|$/m)
  assert.match(md, /^\| ours: datastore\/linstor\/cp \(agent\), front-end is none: stream into dd over ssh \| [\d.]+ \| [\d.]+ \| [\d.]+ \| /m)
  assert.match(md, /all on \S+ \(\S+\)/, 'states the filesystem both outputs were on')
  assert.match(md, /Imported bytes equal the baseline's/)
})
