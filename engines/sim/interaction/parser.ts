/**
 * The scenario file parser. A file is a sequence of commands; each is one line, then `----`, then its
 * expected output up to the next blank line (or the end of the file). `#` lines between commands are
 * comments. Arguments are positional words or `key=value`; a value may be a JSON object or array with
 * spaces inside (`config={"a": 1}`), or a double-quoted JSON string (`"two words"`).
 *
 * Every error names `file:line`, the problem and the fix (InteractionError).
 */

export class InteractionError extends Error {
  readonly code = 'ERR_INTERACTION'
  constructor(
    readonly file: string,
    readonly line: number,
    problem: string,
    readonly fix: string,
  ) {
    super(`${file}:${line}: ${problem} (fix: ${fix})`)
    this.name = 'InteractionError'
  }
}

export interface ScriptCommand {
  readonly name: string
  readonly positional: readonly string[]
  readonly args: ReadonlyMap<string, string>
  /** 1-based line of the command in its file */
  readonly line: number
  readonly text: string
  /** the expected output lines, or null when the command has no `----` line yet */
  readonly expected: readonly string[] | null
  /** 0-based [start, end) of the expected output lines in the file; start = end when empty or absent */
  readonly outputStart: number
  readonly outputEnd: number
}

export interface Script {
  readonly file: string
  readonly lines: readonly string[]
  readonly commands: readonly ScriptCommand[]
}

export const SEPARATOR = '----'
const KEY = /^[a-z][a-z0-9-]*$/i
/** bound on one command line's tokens: a scenario line is short; a runaway line is a broken file */
const MAX_TOKENS = 64

/** Splits a command line into words; `{...}`, `[...]` and `"..."` may contain spaces. */
export function tokenize(text: string, file: string, line: number): string[] {
  const tokens: string[] = []
  let i = 0
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i]!)) i++
    if (i >= text.length) break
    let depth = 0
    let inString = false
    const start = i
    for (; i < text.length; i++) {
      const c = text[i]!
      if (inString) {
        if (c === '\\') i++
        else if (c === '"') inString = false
      } else if (c === '"') inString = true
      else if (c === '{' || c === '[') depth++
      else if (c === '}' || c === ']') depth--
      else if (depth === 0 && /\s/.test(c)) break
    }
    if (inString || depth !== 0)
      throw new InteractionError(
        file,
        line,
        `unterminated ${inString ? 'string' : 'JSON value'} in '${text.slice(start)}'`,
        'close every quote, brace and bracket on the same line',
      )
    tokens.push(text.slice(start, i))
    if (tokens.length > MAX_TOKENS)
      throw new InteractionError(file, line, `more than ${MAX_TOKENS} words`, 'split the command')
  }
  return tokens
}

function unquote(token: string, file: string, line: number): string {
  if (!token.startsWith('"')) return token
  try {
    return JSON.parse(token) as string
  } catch {
    throw new InteractionError(
      file,
      line,
      `bad quoted string ${token}`,
      'use a JSON string: "like \\"this\\""',
    )
  }
}

function parseCommandLine(
  text: string,
  file: string,
  line: number,
): Pick<ScriptCommand, 'name' | 'positional' | 'args'> {
  const [name, ...rest] = tokenize(text, file, line)
  if (name === undefined) throw new InteractionError(file, line, 'empty command', 'remove the line')
  const positional: string[] = []
  const args = new Map<string, string>()
  for (const token of rest) {
    const eq = token.indexOf('=')
    const key = eq > 0 ? token.slice(0, eq) : ''
    if (eq > 0 && KEY.test(key) && !token.startsWith('"')) {
      if (args.has(key))
        throw new InteractionError(file, line, `argument '${key}' given twice`, `keep one ${key}=...`)
      args.set(key, unquote(token.slice(eq + 1), file, line))
    } else {
      positional.push(unquote(token, file, line))
    }
  }
  return { name, positional, args }
}

/** Parses a scenario file's text; `file` is only used in error messages. */
export function parseScript(text: string, file: string): Script {
  const lines = text.split('\n')
  // a trailing newline is not an extra empty line
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop()
  const commands: ScriptCommand[] = []
  let i = 0
  while (i < lines.length) {
    const raw = lines[i]!
    const trimmed = raw.trim()
    if (trimmed === '' || trimmed.startsWith('#')) {
      i++
      continue
    }
    if (trimmed === SEPARATOR)
      throw new InteractionError(
        file,
        i + 1,
        `'${SEPARATOR}' with no command on the line above`,
        'put the command on the line before it, or delete this line and the output under it',
      )
    const parsed = parseCommandLine(trimmed, file, i + 1)
    if (lines[i + 1]?.trim() === SEPARATOR) {
      let end = i + 2
      while (end < lines.length && lines[end]!.trim() !== '') end++
      commands.push({
        ...parsed,
        line: i + 1,
        text: trimmed,
        expected: lines.slice(i + 2, end).map((l) => l.trimEnd()),
        outputStart: i + 2,
        outputEnd: end,
      })
      i = end
    } else {
      commands.push({
        ...parsed,
        line: i + 1,
        text: trimmed,
        expected: null,
        outputStart: i + 1,
        outputEnd: i + 1,
      })
      i++
    }
  }
  return { file, lines, commands }
}

/**
 * The file's text with each command's expected output replaced by `outputs[i]` (REWRITE=1): comments,
 * blank lines and command lines are kept as written.
 */
export function rewriteScript(script: Script, outputs: readonly (readonly string[])[]): string {
  const lines = [...script.lines]
  for (let c = script.commands.length - 1; c >= 0; c--) {
    const cmd = script.commands[c]!
    const output = outputs[c]
    if (output === undefined) continue
    if (cmd.expected !== null) {
      lines.splice(cmd.outputStart, cmd.outputEnd - cmd.outputStart, ...output)
    } else {
      const next = lines[cmd.outputStart]
      const gap = next === undefined || next.trim() === '' ? [] : ['']
      lines.splice(cmd.outputStart, 0, SEPARATOR, ...output, ...gap)
    }
  }
  return `${lines.join('\n')}\n`
}
