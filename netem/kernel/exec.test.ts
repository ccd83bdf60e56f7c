/** The command runner's guards and errors, with harmless commands (no root, no network). */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import type { KernelCommand } from './commands.ts'
import { KernelCommandError, run, runAll, runCommands } from './exec.ts'

const dir = mkdtempSync(join(tmpdir(), 'cb-exec-test-'))
after(() => rmSync(dir, { recursive: true, force: true }))
const log = join(dir, 'log')
const append = (word: string): string[] => ['sh', '-c', `echo ${word} >> "$0"`, log]
const ran = () => readFileSync(log, 'utf8').trim().split('\n')

test('guards decide whether a command runs', async () => {
  const commands: KernelCommand[] = [
    { argv: append('plain') },
    { argv: append('unless-true'), guard: { kind: 'unless-succeeds', argv: ['true'] } },
    { argv: append('unless-false'), guard: { kind: 'unless-succeeds', argv: ['false'] } },
    { argv: append('only-if-true'), guard: { kind: 'only-if-succeeds', argv: ['true'] } },
    { argv: append('only-if-false'), guard: { kind: 'only-if-succeeds', argv: ['false'] } },
    {
      argv: append('output-has'),
      guard: { kind: 'only-if-output-includes', argv: ['echo', 'qdisc htb 1: root'], text: 'htb 1:' },
    },
    {
      argv: append('output-lacks'),
      guard: { kind: 'only-if-output-includes', argv: ['echo', 'qdisc noqueue 0: root'], text: 'htb 1:' },
    },
  ]
  await runCommands(commands)
  assert.deepEqual(ran(), ['plain', 'unless-false', 'only-if-true', 'output-has'])
})

test('a failure names the command and carries its stderr, and stops the list', async () => {
  rmSync(log, { force: true })
  const failing: KernelCommand = { argv: ['sh', '-c', 'echo "RTNETLINK answers: File exists" >&2; exit 2'] }
  await assert.rejects(runCommands([failing, { argv: append('after') }]), (e: unknown) => {
    assert.ok(e instanceof KernelCommandError)
    assert.match(
      e.message,
      /`sh -c echo "RTNETLINK answers: File exists" >&2; exit 2` failed \(exit 2\): RTNETLINK answers: File exists/,
    )
    return true
  })
  assert.throws(() => readFileSync(log), /ENOENT/, 'nothing after the failure ran')
})

test('runAll goes on after failures and returns them (cleanup goes as far as it can)', async () => {
  rmSync(log, { force: true })
  const failures = await runAll([
    { argv: ['false'] },
    { argv: append('still') },
    { argv: ['no-such-binary-cb'] },
  ])
  assert.deepEqual(ran(), ['still'])
  assert.equal(failures.length, 2)
  assert.equal(failures[1]!.result.code, 127, 'a missing binary reads as exit 127')
  assert.equal((await run(['no-such-binary-cb'])).code, 127)
})
