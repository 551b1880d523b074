/**
 * Entry of the one-shot bundle (dist/one-shot.js, CommonJS): `linstor-virt call --stdin` without
 * the ESM loader. dist/linstor-virt.js (cli/bin.cjs) calls `main()` for `call`; the OpenNebula
 * driver launcher calls `callOnce()` in its own process when no agent answers.
 */
import { callOnce, run } from './commands/call.js'

export { callOnce }

export function main(): void {
  run(process.argv.slice(3)).then(
    (code) => {
      process.exitCode = code
    },
    (err: unknown) => {
      process.stderr.write(`linstor-virt: ${err instanceof Error ? err.message : String(err)}\n`)
      process.exitCode = 1
    },
  )
}
