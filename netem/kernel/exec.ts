/**
 * Runs generated command lists (argv, no shell), one after the other, honouring each command's guard.
 * A failure stops the list with an error that names the command and carries its stderr.
 */
import { execFile } from 'node:child_process'
import { formatCommand, type KernelCommand } from './commands.ts'

/** tc and iptables answer in milliseconds; this only catches a hung xtables lock */
const COMMAND_TIMEOUT_MS = 30_000

export interface CommandResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

export class KernelCommandError extends Error {
  override readonly name = 'KernelCommandError'
  constructor(
    readonly command: string,
    readonly result: CommandResult,
  ) {
    super(
      `kernel shaper: \`${command}\` failed (exit ${result.code}): ${result.stderr.trim() || result.stdout.trim() || 'no output'}`,
    )
  }
}

/** Runs one argv and reports how it ended; it never throws for a non-zero exit. */
export function run(argv: readonly string[]): Promise<CommandResult> {
  const [file, ...args] = argv
  if (!file) throw new Error('kernel shaper: empty command')
  return new Promise((resolve) => {
    execFile(file, args, { timeout: COMMAND_TIMEOUT_MS, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (!error) return resolve({ code: 0, stdout, stderr })
      // a missing binary has a string code (ENOENT) and no exit status
      const code = typeof error.code === 'number' ? error.code : 127
      resolve({ code, stdout, stderr: stderr || error.message })
    })
  })
}

/** Whether the guard lets the command run. */
async function guardAllows(command: KernelCommand): Promise<boolean> {
  const guard = command.guard
  if (!guard) return true
  const result = await run(guard.argv)
  switch (guard.kind) {
    case 'unless-succeeds':
      return result.code !== 0
    case 'only-if-succeeds':
      return result.code === 0
    case 'only-if-output-includes':
      return result.code === 0 && result.stdout.includes(guard.text)
  }
}

/** Runs the list in order; throws KernelCommandError at the first failure. */
export async function runCommands(commands: readonly KernelCommand[]): Promise<void> {
  for (const command of commands) {
    if (!(await guardAllows(command))) continue
    const result = await run(command.argv)
    if (result.code !== 0) throw new KernelCommandError(formatCommand(command), result)
  }
}

/** Runs every command even when some fail (cleanup must go as far as it can); returns the failures. */
export async function runAll(commands: readonly KernelCommand[]): Promise<KernelCommandError[]> {
  const failures: KernelCommandError[] = []
  for (const command of commands) {
    try {
      await runCommands([command])
    } catch (error) {
      if (error instanceof KernelCommandError) failures.push(error)
      else throw error
    }
  }
  return failures
}
