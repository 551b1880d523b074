/** What every lazily loaded subcommand module exports. */
export interface CommandModule {
  /** Runs the subcommand with its own arguments; resolves to the process exit code. */
  run(args: string[]): Promise<number>
}
