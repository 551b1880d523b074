/**
 * `linstor-virt sandbox [--story nvme|dr] [--keep] [--state DIR]`: the founding story against the
 * emulator (see cli/sandbox/story.ts), or with --story one of the others (cli/sandbox/stories.ts:
 * disaggregated NVMe-oF, a disaster-recovery replica through DRBD Proxy). Exits 0 only when every
 * invariant held; --keep leaves the emulator running until Ctrl-C.
 */
import { parseArgs } from 'node:util'
import { runStory } from '../sandbox/story.js'
import type { StoryOptions } from '../sandbox/story.js'
import { STORIES, runNamedStory } from '../sandbox/stories.js'
import type { StoryName } from '../sandbox/stories.js'
import { commandUsage } from '../usage.js'

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { keep: { type: 'boolean', default: false }, state: { type: 'string' }, story: { type: 'string' } } })
  const story = values.story
  if (story !== undefined && !(STORIES as readonly string[]).includes(story)) {
    process.stderr.write(`linstor-virt sandbox: no story "${story}" (there are: ${STORIES.join(', ')}; without --story the founding story)\n${commandUsage('sandbox')}`)
    return 2
  }
  const opts: StoryOptions = {
    out: (line) => process.stdout.write(line + '\n'),
    keep: values.keep,
    ...(values.state !== undefined ? { stateDir: values.state } : {}),
  }
  const result = story === undefined ? await runStory(opts) : await runNamedStory(story as StoryName, opts)
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
