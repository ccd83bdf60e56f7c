#!/usr/bin/env node
// Runs every *.test.ts under the project with node:test through tsx.
// Node 20's `--test` needs explicit file arguments when a loader is used, or it runs zero tests
// and exits 0; this script finds the files so that can never happen silently.
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join, relative } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const skipDirs = new Set(['node_modules', '.git'])
// the run output (results/ at the top, git-ignored) only: harness/results/ holds tests of its own
const skipPaths = new Set([join(root, 'results')])

function findTests(dir, out) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      const path = join(dir, entry.name)
      if (!skipDirs.has(entry.name) && !skipPaths.has(path) && !entry.name.startsWith('.'))
        findTests(path, out)
    } else if (entry.name.endsWith('.test.ts')) {
      out.push(relative(root, join(dir, entry.name)))
    }
  }
  return out
}

const filter = process.argv.slice(2)
const files = findTests(root, [])
  .filter((f) => filter.length === 0 || filter.some((pattern) => f.includes(pattern)))
  .sort()
if (files.length === 0) {
  console.error(`no test files matched ${filter.join(' ') || '**/*.test.ts'}`)
  process.exit(1)
}
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', ...files], {
  cwd: root,
  stdio: 'inherit',
})
process.exit(result.status ?? 1)
