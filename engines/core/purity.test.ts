import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { checkPurity } from './runtime/purity.ts'

test('the core itself (outside runtime/) obeys the purity rule', () => {
  const core = new URL('.', import.meta.url).pathname
  const violations = checkPurity(core).filter((v) => !v.file.includes('/runtime/'))
  assert.deepEqual(violations, [])
})

test('the purity check finds each forbidden use and ignores comments and tests', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cb-purity-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(
    join(dir, 'bad.ts'),
    [
      "import { readFileSync } from 'node:fs'",
      'const t = Date.now()',
      'const r = Math.random()',
      'setTimeout(() => {}, 1)',
      'console.log(process.env)',
      '// Date.now() in a comment is fine',
    ].join('\n'),
  )
  writeFileSync(join(dir, 'bad.test.ts'), 'const t = Date.now()\n')
  const rules = checkPurity(dir).map((v) => `${v.line}:${v.rule}`)
  assert.deepEqual(rules, [
    '1:imports node:*',
    '2:reads the clock (Date)',
    '3:uses its own randomness (Math.random)',
    '4:sets its own timers',
    '5:touches the process',
    '5:writes to the console',
  ])
})
