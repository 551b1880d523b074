/**
 * `linstor-virt sandbox [--keep] [--state DIR]`: the founding story against the emulator (see
 * cli/sandbox/story.ts). Exits 0 only when every invariant held; --keep leaves the emulator running
 * until Ctrl-C.
 */
import { parseArgs } from 'node:util'
import { runStory } from '../sandbox/story.js'

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { keep: { type: 'boolean', default: false }, state: { type: 'string' } } })
  const result = await runStory({
    out: (line) => process.stdout.write(line + '\n'),
    keep: values.keep,
    ...(values.state !== undefined ? { stateDir: values.state } : {}),
  })
  const emu = result.emulator
  if (emu !== undefined) {
    process.stdout.write(`\nThe emulator keeps running on ${emu.url} (state in ${emu.stateDir}); Ctrl-C stops it.\n`)
    await new Promise<void>((resolve) => {
      for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve())
    })
    await emu.close()
  }
  return result.ok ? 0 : 1
}
