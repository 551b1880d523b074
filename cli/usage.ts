/**
 * Every subcommand's usage, in one place and without imports: the top-level help lists them all,
 * `linstor-virt COMMAND --help` prints one without loading the command's module, and a wrong
 * option or argument is answered with the command's own usage (exit 2).
 */

/** The controller connection options of every controller-facing command (see connection.ts). */
export const CONNECTION_USAGE = '[--controllers LIST] [--token-file F] [--ca-file F] [--cert-file F --key-file F] [--timeout-ms N]'

export interface CommandHelp {
  summary: string
  /** Usage lines, each starting with `linstor-virt COMMAND`. */
  usage: string[]
}

export const HELP: Record<string, CommandHelp> = {
  version: { summary: 'print the linstor-virt version', usage: ['linstor-virt version'] },
  controller: {
    summary: 'ask the LINSTOR controller(s) for their version: checks controllers, TLS and token from this host',
    usage: [`linstor-virt controller version ${CONNECTION_USAGE} [--json]`],
  },
  doctor: {
    summary: 'find (and with --fix repair) what starts and stops left pending, leftover diskless clients, half-done migrations, missing replicas',
    usage: [`linstor-virt doctor [--fix] [--json] [--resource NAME]... [--unused-groups [--referenced-group NAME]...] ${CONNECTION_USAGE} [--lock-dir DIR] [--state-dir DIR]`],
  },
  sandbox: {
    summary: 'tell the founding story (or --story nvme: disaggregated NVMe-oF, dr: a DR replica through DRBD Proxy) against the emulator, checking every invariant',
    usage: ['linstor-virt sandbox [--story nvme|dr] [--keep] [--state DIR]'],
  },
  agent: {
    summary: 'the per-host agent serving the call protocol on a unix socket; `agent status` asks a running one',
    usage: [
      'linstor-virt agent [--config /etc/linstor-virt/agent.conf] [--socket PATH] [--controllers LIST] [--listen-tcp 127.0.0.1:PORT --tcp-token-file F]',
      '                   [--metrics-textfile PATH.prom [--metrics-interval S]] [--survey-interval S] [--exit-with-stdin]',
      'linstor-virt agent status [--socket PATH] [--json]',
    ],
  },
  status: {
    summary: 'the cluster as this host\'s platforms see it: each volume by its platform name, replicas by node, clients, migration windows, snapshots, doctor findings',
    usage: [
      'linstor-virt status [--platform proxmox|opennebula|cinder] [--storage ID | --datastore ID... | --backend NAME] [--vm ID]',
      `                    [--json] [--watch S] [--storage-cfg F] [--one-xml F] [--cinder-conf F] ${CONNECTION_USAGE}`,
    ],
  },
  call: {
    summary: 'one call-protocol request on stdin, its reply on stdout (what the shims run when no agent answers)',
    usage: ['linstor-virt call --stdin'],
  },
  install: {
    summary: 'install a platform plugin, the CLI and the agent unit on this host',
    usage: ['linstor-virt install proxmox|opennebula|cinder [--root DIR] [--no-services]'],
  },
  uninstall: {
    summary: 'remove what `install` put in place',
    usage: ['linstor-virt uninstall proxmox|opennebula|cinder [--root DIR] [--no-services]'],
  },
  emulator: {
    summary: 'run the LINSTOR controller emulator (tests, benchmarks, the sandbox)',
    usage: [
      'linstor-virt emulator [--listen HOST:PORT] [--cluster FILE.yaml] [--state DIR] [--token T]',
      '                      [--tls-cert F --tls-key F [--tls-ca F]] [--log-level L] [--version X.Y.Z]',
    ],
  },
}

/** `usage: ...` for one command, continuation lines indented. */
export function commandUsage(name: string): string {
  const h = HELP[name]
  if (h === undefined) return ''
  return h.usage.map((l, i) => (i === 0 ? `usage: ${l}` : `       ${l}`)).join('\n') + '\n'
}

/** The top-level help: every command with its summary and usage, and the global options. */
export function topUsage(): string {
  const lines = ['usage: linstor-virt <command> [options]', '       linstor-virt <command> --help    (one command\'s usage)', '       linstor-virt --version | -V | --help | -h', '', 'commands:']
  for (const [name, h] of Object.entries(HELP)) {
    lines.push(`  ${name.padEnd(10)} ${h.summary}`)
    for (const u of h.usage) lines.push(`             ${u}`)
  }
  return lines.join('\n') + '\n'
}

/** True when the arguments ask for help (`-h`/`--help` before any `--`). */
export function wantsHelp(args: readonly string[]): boolean {
  for (const a of args) {
    if (a === '--') return false
    if (a === '--help' || a === '-h') return true
  }
  return false
}

/** Node's parseArgs errors (unknown option, missing value, unexpected argument). */
export function isUsageError(err: unknown): err is Error {
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')
}

/** Writes `linstor-virt COMMAND: MESSAGE` and the command's usage to stderr; returns exit code 2. */
export function usageError(name: string, message: string): number {
  process.stderr.write(`linstor-virt ${name}: ${message}\n${commandUsage(name)}`)
  return 2
}
