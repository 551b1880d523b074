#!/usr/bin/env node
// One lane of `npm test` (scripts/test.mjs): runs the given test files with node:test, at most
// CONCURRENCY at a time, **in the order given**. `node --test FILE...` sorts its files by name, so
// the runner's longest-first order would be lost; run() keeps it. Reports as `node --test` with
// the spec reporter on stdout, and on stderr the subtest that was running when a file timed out
// (scripts/test-watch-reporter.mjs). Exits 1 when a test failed.
// Usage: node scripts/test-lane.mjs CONCURRENCY TIMEOUT_MS FILE...
import { PassThrough } from 'node:stream'
import { run } from 'node:test'
import { spec } from 'node:test/reporters'
import watch from './test-watch-reporter.mjs'

const [concurrency, timeout, ...files] = process.argv.slice(2)
const stream = run({ files, concurrency: Number(concurrency), timeout: Number(timeout) })
stream.on('test:fail', () => {
  process.exitCode = 1
})
const toSpec = new PassThrough({ objectMode: true })
const toWatch = new PassThrough({ objectMode: true })
stream.pipe(toSpec)
stream.pipe(toWatch)
toSpec.compose(spec).pipe(process.stdout)
toWatch.compose(watch).pipe(process.stderr)
