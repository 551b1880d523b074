import { usageError } from '../usage.js'

declare const __LINSTOR_VIRT_VERSION__: string | undefined

/**
 * The version baked in by the bundler: the newest entry of packaging/debian/changelog, which the
 * Debian packages carry too (scripts/build.mjs); 'dev' when running tsc output directly.
 */
export const version: string = typeof __LINSTOR_VIRT_VERSION__ === 'string' ? __LINSTOR_VIRT_VERSION__ : 'dev'

export function run(args: string[]): Promise<number> {
  if (args.length > 0) return Promise.resolve(usageError('version', `unexpected argument '${args[0] ?? ''}'`))
  process.stdout.write(`linstor-virt ${version}\n`)
  return Promise.resolve(0)
}
