/** Exit codes are part of the CLI contract (DESIGN.md, "CLI and exit codes"). */
export const EXIT = {
  ok: 0,
  /** a threshold or gate failed, or a simulation found safety/liveness failures */
  thresholdFailed: 1,
  /** invalid input or config: the message names the file, the field and the fix */
  invalidInput: 2,
  /** a correctness violation (linearizability) */
  violation: 3,
  /** a missing environment piece (Docker, root, chromium), with the command that installs it */
  missingEnvironment: 4,
} as const

/** An error the CLI turns into a message and an exit code, with no stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message)
    this.name = 'CliError'
  }
}

/** Invalid input: say which file (or flag), which field, and how to fix it. */
export function invalidInput(where: string, field: string, problem: string, fix: string): CliError {
  return new CliError(`${where}: ${field}: ${problem}\n  fix: ${fix}`, EXIT.invalidInput)
}
