#!/usr/bin/env node
/**
 * The one `linstor-virt` command. Subcommands are loaded lazily with import() (knex's loader map),
 * so a light subcommand never pays for express, ajv, yaml or execa: with esbuild's code splitting
 * each heavy dependency lives in its own chunk that only its users load.
 *
 * A subcommand module exports `run(args)`, returning the process exit code. stdout belongs to the
 * subcommand's protocol; logs go to stderr.
 */
import type { CommandModule } from './command.js'
import { HELP, commandUsage, isUsageError, topUsage, usageError, wantsHelp } from './usage.js'

const commands: Record<string, () => Promise<CommandModule>> = {
  version: () => import('./commands/version.js'),
  controller: () => import('./commands/controller.js'),
  agent: () => import('./commands/agent.js'),
  call: () => import('./commands/call.js'),
  doctor: () => import('./commands/doctor.js'),
  status: () => import('./commands/status.js'),
  sandbox: () => import('./commands/sandbox.js'),
  install: () => import('./commands/install.js'),
  uninstall: () => import('./commands/uninstall.js'),
  emulator: () => import('../emulator/cli.js'),
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined) {
    process.stderr.write(topUsage())
    return 2
  }
  if (name === '--help' || name === '-h') {
    process.stdout.write(topUsage())
    return 0
  }
  if (name === 'help') {
    const about = rest[0]
    if (about === undefined) process.stdout.write(topUsage())
    else if (Object.hasOwn(HELP, about)) process.stdout.write(`${commandUsage(about)}\n${HELP[about]?.summary ?? ''}\n`)
    else {
      process.stderr.write(`linstor-virt: unknown command '${about}'\n` + topUsage())
      return 2
    }
    return 0
  }
  if (name === '--version' || name === '-V') return main(['version'])
  const load = Object.hasOwn(commands, name) ? commands[name] : undefined
  if (load === undefined) {
    process.stderr.write(`linstor-virt: unknown ${name.startsWith('-') ? 'option' : 'command'} '${name}'\n` + topUsage())
    return 2
  }
  if (wantsHelp(rest)) {
    process.stdout.write(commandUsage(name))
    return 0
  }
  const mod = await load()
  try {
    return await mod.run(rest)
  } catch (err) {
    // parseArgs: an unknown option, a missing value, an argument the command does not take.
    if (isUsageError(err)) return usageError(name, err.message)
    throw err
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err)
    process.stderr.write(`linstor-virt: ${message}\n`)
    process.exitCode = 1
  },
)
