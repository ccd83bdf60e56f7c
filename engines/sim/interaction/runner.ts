/**
 * Runs scenario files against an engine and compares each command's output with the expected output
 * under it (golden files). With REWRITE=1 in the environment the file is rewritten with the actual
 * output instead, and the run passes.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import type { EngineModule } from '../../core/engine.ts'
import { EngineFailure, LimitReached } from './cluster.ts'
import { checkArguments, Session } from './commands.ts'
import { InteractionError, parseScript, rewriteScript, type Script, type ScriptCommand } from './parser.ts'

// biome-ignore lint/suspicious/noExplicitAny: any engine
type AnyEngineModule = EngineModule<any, any>

export interface InteractionRunOptions {
  /** rewrite the file with the actual output; default: the REWRITE environment variable is '1' */
  readonly rewrite?: boolean
}

export interface InteractionResult {
  readonly file: string
  readonly commands: number
  /** true when the file was rewritten (and differed) */
  readonly rewritten: boolean
}

/**
 * Parses a script, checks every command's arguments, then runs the commands one by one, pushing each
 * output into `outputs` (so a caller sees what ran before a failure) and passing it to `check` before
 * the next command runs. Throws InteractionError.
 */
export function runScript(
  module: AnyEngineModule,
  text: string,
  file: string,
  outputs: string[][] = [],
  check: (cmd: ScriptCommand, output: readonly string[]) => void = () => {},
): { script: Script; outputs: string[][] } {
  const script = parseScript(text, file)
  for (const cmd of script.commands) checkArguments(cmd, file)
  const session = new Session(module, file)
  for (const cmd of script.commands) {
    const output = runOne(session, cmd, file)
    outputs.push(output)
    check(cmd, output)
  }
  return { script, outputs }
}

/** The fix to suggest for each kind of error a command can raise. */
function fixFor(err: unknown): string | null {
  if (err instanceof EngineFailure)
    return 'this is an engine bug (a handler threw or an invariant failed); the lines above show how it got there'
  if (err instanceof LimitReached)
    return 'deliver fewer messages per command (deliver-msgs, count=) to find the loop, or raise stabilize max='
  if (err instanceof RangeError) return 'see engines/sim/interaction/README.md'
  return null
}

function runOne(session: Session, cmd: ScriptCommand, file: string): string[] {
  try {
    return session.run(cmd)
  } catch (err) {
    if (err instanceof InteractionError) throw err
    const fix = fixFor(err)
    if (fix === null) throw err
    throw new InteractionError(file, cmd.line, `'${cmd.text}': ${(err as Error).message}`, fix)
  }
}

/**
 * Runs one scenario file. Compare mode: throws an InteractionError at the first command whose output
 * differs from the expected output (with both, and how to accept the new output). Rewrite mode: writes
 * the actual output into the file.
 */
export function runInteractionFile(
  module: AnyEngineModule,
  path: string,
  options: InteractionRunOptions = {},
): InteractionResult {
  const rewrite = options.rewrite ?? process.env.REWRITE === '1'
  const text = readFileSync(path, 'utf8')
  if (rewrite) {
    const outputs: string[][] = []
    try {
      runScript(module, text, path, outputs)
    } finally {
      // keep what ran, so the failing command's context is visible in the file
      const next = rewriteScript(parseScript(text, path), outputs)
      if (next !== text) writeFileSync(path, next)
    }
    const rewritten = rewriteScript(parseScript(text, path), outputs) !== text
    return { file: path, commands: outputs.length, rewritten }
  }
  const { script } = runScript(module, text, path, [], (cmd, actual) => {
    if (cmd.expected === null)
      throw new InteractionError(
        path,
        cmd.line,
        `'${cmd.text}' has no '----' line and no expected output`,
        `run REWRITE=1 npm test -- ${path} to fill it in, then review the diff`,
      )
    if (actual.join('\n') !== cmd.expected.join('\n'))
      throw new InteractionError(
        path,
        cmd.line,
        `output of '${cmd.text}' differs\n${diffLines(cmd.expected, actual)}\n`,
        `if the new output is right, run REWRITE=1 npm test -- ${path} and review the diff`,
      )
  })
  return { file: path, commands: script.commands.length, rewritten: false }
}

/** A minimal line diff: common prefix and suffix kept as context, the middle as - and + lines. */
export function diffLines(expected: readonly string[], actual: readonly string[]): string {
  let start = 0
  while (start < expected.length && start < actual.length && expected[start] === actual[start]) start++
  let endE = expected.length
  let endA = actual.length
  while (endE > start && endA > start && expected[endE - 1] === actual[endA - 1]) {
    endE--
    endA--
  }
  const context = (lines: readonly string[]): string[] => lines.map((l) => `  ${l}`)
  return [
    '--- expected',
    '+++ actual',
    ...context(expected.slice(Math.max(0, start - 3), start)),
    ...expected.slice(start, endE).map((l) => `- ${l}`),
    ...actual.slice(start, endA).map((l) => `+ ${l}`),
    ...context(expected.slice(endE, endE + 3)),
  ].join('\n')
}

/** Declares one node:test per `*.txt` file in dir (sorted), inside a describe named after the engine. */
export function interactionTests(module: AnyEngineModule, dir: string): void {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.txt'))
    .sort()
  describe(`interaction: ${module.name}`, () => {
    if (files.length === 0)
      test(`no .txt scenarios in ${dir}`, () => assert(false, `add a scenario file to ${dir}`))
    for (const f of files) test(f, () => void runInteractionFile(module, join(dir, f)))
  })
}

function assert(ok: boolean, message: string): void {
  if (!ok) throw new Error(message)
}
