/**
 * Understandability proxies from an engine's sources (engines/<name>/*.ts, tests and testdata left out):
 * lines of code without comments and blank lines, message kinds (the `type: '...'` literals of its
 * messages.ts), timer kinds (distinct names given to ctx.setTimer), and branches (if, case, ?:, loops).
 * Proxies of size and moving parts, not of how people read it: the claims table says so.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Proxies } from './types.ts'

/** The source without comments (block and line), string contents kept (they may hold message types). */
export function stripComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1')
}

export function proxiesOfSources(files: ReadonlyArray<{ name: string; text: string }>): Proxies {
  let linesOfCode = 0
  let branches = 0
  const messageKinds = new Set<string>()
  const timerKinds = new Set<string>()
  for (const file of files) {
    const code = stripComments(file.text)
    linesOfCode += code.split('\n').filter((l) => l.trim() !== '').length
    branches += (code.match(/\bif\s*\(|\bcase\b[^:]*:|\s\?\s|\bwhile\s*\(|\bfor\s*\(/g) ?? []).length
    if (/messages\.ts$/.test(file.name))
      for (const m of code.matchAll(/\btype\s*:\s*'([^']+)'/g)) messageKinds.add(m[1]!)
    for (const m of code.matchAll(/setTimer\(\s*([^,\s]+)/g)) timerKinds.add(m[1]!)
  }
  return { linesOfCode, messageKinds: messageKinds.size, timerKinds: timerKinds.size, branches }
}

/** The proxies of engines/<engine>/ (null when the directory is not there). */
export function engineProxies(enginesDir: string, engine: string): Proxies | null {
  const dir = join(enginesDir, engine)
  if (!existsSync(dir)) return null
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.endsWith('.case.ts'))
    .map((f) => ({ name: f, text: readFileSync(join(dir, f), 'utf8') }))
  return files.length === 0 ? null : proxiesOfSources(files)
}
