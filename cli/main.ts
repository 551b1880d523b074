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

const commands: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  version: { summary: 'print the linstor-virt version', load: () => import('./commands/version.js') },
  controller: {
    summary: 'talk to the LINSTOR controller(s): `controller version`',
    load: () => import('./commands/controller.js'),
  },
  agent: {
    summary: 'the per-host agent on a unix socket (--socket, --controllers); `agent status`',
    load: () => import('./commands/agent.js'),
  },
  call: {
    summary: 'one call-protocol request on stdin, its reply on stdout (--stdin)',
    load: () => import('./commands/call.js'),
  },
  doctor: {
    summary: 'find (and with --fix repair) leftover diskless clients, half-done migrations, missing replicas',
    load: () => import('./commands/doctor.js'),
  },
  sandbox: {
    summary: 'tell the founding story against the emulator, checking every invariant (--keep)',
    load: () => import('./commands/sandbox.js'),
  },
  install: {
    summary: 'install a platform plugin, the CLI and the agent unit: `install proxmox|opennebula|cinder [--root DIR] [--no-services]`',
    load: () => import('./commands/install.js'),
  },
  uninstall: {
    summary: 'remove what `install` put in place: `uninstall proxmox|opennebula|cinder [--root DIR]`',
    load: () => import('./commands/uninstall.js'),
  },
  emulator: {
    summary: 'run the LINSTOR controller emulator (--listen, --cluster, --state)',
    load: () => import('../emulator/cli.js'),
  },
}

function usage(): string {
  const lines = ['usage: linstor-virt <command> [options]', '', 'commands:']
  for (const [name, c] of Object.entries(commands)) lines.push(`  ${name.padEnd(12)} ${c.summary}`)
  return lines.join('\n') + '\n'
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(usage())
    return name === undefined ? 2 : 0
  }
  if (name === '--version' || name === '-V') return main(['version'])
  const entry = Object.hasOwn(commands, name) ? commands[name] : undefined
  if (entry === undefined) {
    process.stderr.write(`linstor-virt: unknown command '${name}'\n` + usage())
    return 2
  }
  const mod = await entry.load()
  return mod.run(rest)
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
