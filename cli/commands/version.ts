declare const __LINSTOR_VIRT_VERSION__: string | undefined

/** The version baked in by the bundler; 'dev' when running tsc output directly. */
export const version: string = typeof __LINSTOR_VIRT_VERSION__ === 'string' ? __LINSTOR_VIRT_VERSION__ : 'dev'

export function run(_args: string[]): Promise<number> {
  process.stdout.write(`linstor-virt ${version}\n`)
  return Promise.resolve(0)
}
