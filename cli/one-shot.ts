/**
 * Entry of the one-shot bundle (dist/one-shot.js, CommonJS): `linstor-virt call --stdin` without
 * the ESM loader. Started by dist/linstor-virt.js (cli/bin.cjs) with argv [node, bin, 'call', ...].
 */
import { run } from './commands/call.js'

run(process.argv.slice(3)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    process.stderr.write(`linstor-virt: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exitCode = 1
  },
)
