/**
 * The purity rule (DESIGN.md): files under engines/<protocol>/ import nothing from node:* and use no
 * Date, Math.random, setTimeout, setInterval, process or console. Tests and shared suites are exempt.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

export interface PurityViolation {
  readonly file: string
  readonly line: number
  readonly rule: string
  readonly text: string
}

const FORBIDDEN: ReadonlyArray<readonly [string, RegExp]> = [
  ['imports node:*', /from\s+['"]node:|import\(\s*['"]node:|require\(/],
  ['reads the clock (Date)', /\bDate\s*\.\s*now\b|\bnew\s+Date\b|\bperformance\s*\.\s*now\b/],
  ['uses its own randomness (Math.random)', /\bMath\s*\.\s*random\b|\bcrypto\s*\./],
  ['sets its own timers', /\bset(Timeout|Interval|Immediate)\s*\(|\bqueueMicrotask\s*\(/],
  ['touches the process', /\bprocess\s*\./],
  ['writes to the console', /\bconsole\s*\./],
]

function stripComments(source: string): string {
  // Keep line structure so line numbers stay right; strings are not parsed (a forbidden name inside a
  // string literal is reported too, which is the conservative side).
  return source.replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, ' ')).replace(/\/\/.*$/gm, '')
}

export function isExemptFromPurity(file: string): boolean {
  return /\.(test|case)\.ts$/.test(file) || file.includes('/testdata/')
}

/** Scans every .ts file under dir (recursively) and lists each forbidden use. */
export function checkPurity(dir: string): PurityViolation[] {
  const violations: PurityViolation[] = []
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (entry.name.endsWith('.ts') && !isExemptFromPurity(path)) {
        const lines = stripComments(readFileSync(path, 'utf8')).split('\n')
        lines.forEach((text, i) => {
          for (const [rule, pattern] of FORBIDDEN) {
            if (pattern.test(text)) violations.push({ file: path, line: i + 1, rule, text: text.trim() })
          }
        })
      }
    }
  }
  walk(dir)
  return violations
}
