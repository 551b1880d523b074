/**
 * Operations declared by name that load their code on the first call: an adapter registers its
 * names with the dispatcher cheaply, and a one-shot call of another platform (or a ping) never
 * loads that adapter's modules.
 */
import type { Operation } from './dispatcher.js'

/**
 * @param platform used in the error when a declared name has no implementation (a test per adapter
 *   keeps the declared names equal to the implementation, so this is a bug guard).
 * @param kinds operation name → kind ('status' operations get the short status deadline).
 * @param load imports the adapter's operations; called once, on the first call of any of them.
 */
export function lazyOperations(platform: string, kinds: Readonly<Record<string, 'status' | 'action'>>, load: () => Promise<Record<string, Operation>>): Record<string, Operation> {
  let loaded: Promise<Record<string, Operation>> | undefined
  return Object.fromEntries(
    Object.entries(kinds).map(([name, kind]): [string, Operation] => [
      name,
      {
        kind,
        run: async (args, ctx) => {
          const op = (await (loaded ??= load()))[name]
          if (op === undefined) throw new Error(`${platform} operation ${name} is declared but not implemented`)
          return op.run(args, ctx)
        },
      },
    ]),
  )
}
