import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { generateHistory } from '../check/generate.ts'
import { historyToJsonl } from '../check/history.ts'
import { parseHistoryText } from '../check/history-file.ts'
import { CliError, EXIT } from '../exit-codes.ts'

const bin = new URL('../../bin/consensus-bench.js', import.meta.url).pathname
const dir = mkdtempSync(join(tmpdir(), 'check-cli-'))
after(() => rmSync(dir, { recursive: true, force: true }))

function runCheck(...args: string[]) {
  const run = spawnSync(process.execPath, [bin, 'check', ...args], { encoding: 'utf8', timeout: 60_000 })
  return { status: run.status, stdout: run.stdout, stderr: run.stderr }
}

function writeHistory(name: string, text: string): string {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

describe('parseHistoryText', () => {
  const good = historyToJsonl(generateHistory({ seed: 1, clients: 2, keys: 2, ops: 5 }))
  it('reads what historyToJsonl wrote', () => {
    assert.equal(parseHistoryText(good, 'h.jsonl').length, 5)
  })
  const cases: Array<[string, string, RegExp]> = [
    ['not JSON', '{oops', /h\.jsonl line 6: JSON: not valid JSON/],
    [
      'a missing field',
      '{"client":"c","seq":1,"key":"k","op":"get","value":null,"invokeUs":1,"outcome":"ok"}',
      /line 6: completeUs/,
    ],
    [
      'an unknown op',
      '{"client":"c","seq":1,"key":"k","op":"cas","value":null,"invokeUs":1,"completeUs":2,"outcome":"ok"}',
      /line 6: op/,
    ],
    [
      'ok without completion',
      '{"client":"c","seq":1,"key":"k","op":"put","value":"v","invokeUs":1,"completeUs":null,"outcome":"ok"}',
      /line 6: completeUs: is null but outcome is 'ok'/,
    ],
    [
      'completion before invocation',
      '{"client":"c","seq":1,"key":"k","op":"put","value":"v","invokeUs":5,"completeUs":2,"outcome":"ok"}',
      /line 6: completeUs: 2 is before invokeUs 5/,
    ],
    [
      'an extra field',
      '{"client":"c","seq":1,"key":"k","op":"put","value":"v","invokeUs":1,"completeUs":2,"outcome":"ok","x":1}',
      /line 6: fields: Unrecognized key: "x"/,
    ],
  ]
  for (const [what, line, message] of cases) {
    it(`rejects ${what}, naming the line, the field and the fix`, () => {
      assert.throws(
        () => parseHistoryText(good + line + '\n', 'h.jsonl'),
        (err: unknown) =>
          err instanceof CliError &&
          err.exitCode === EXIT.invalidInput &&
          message.test(err.message) &&
          /fix: /.test(err.message),
      )
    })
  }
})

describe('consensus-bench check', () => {
  const history = generateHistory({ seed: 2, clients: 4, keys: 3, ops: 300 })
  it('exits 0 on a linearizable history', () => {
    const run = runCheck(writeHistory('good.jsonl', historyToJsonl(history)))
    assert.equal(run.status, EXIT.ok, run.stderr)
    assert.match(run.stdout, /verdict: linearizable/)
  })
  it('exits 3 on a violation and prints the failing key history; --json is machine-readable', () => {
    const lastGet = history.findLastIndex((o) => o.op === 'get' && o.outcome === 'ok')
    const bad = history.map((o, i) => (i === lastGet ? { ...o, value: 'never-written' } : o))
    const path = writeHistory('bad.jsonl', historyToJsonl(bad))
    const run = runCheck(path)
    assert.equal(run.status, EXIT.violation, run.stderr)
    assert.match(run.stdout, /verdict: violation/)
    assert.match(run.stdout, /never-written/)
    const json = runCheck(path, '--json')
    assert.equal(json.status, EXIT.violation)
    const parsed = JSON.parse(json.stdout)
    assert.equal(parsed.verdict, 'violation')
    assert.equal(parsed.violation.ops.length, 1)
  })
  it('exits 1 when the budget runs out', () => {
    const puts = Array.from({ length: 40 }, (_, i) => ({
      client: `p${i}`,
      seq: 0,
      key: 'x',
      op: 'put' as const,
      value: i % 2 === 0 ? 'a' : 'b',
      invokeUs: 0,
      completeUs: 100,
      outcome: 'ok' as const,
    }))
    const gets = ['a', 'b'].map((value, i) => ({
      ...puts[0]!,
      client: 'r',
      seq: i,
      op: 'get' as const,
      value,
      invokeUs: 200 + 20 * i,
      completeUs: 210 + 20 * i,
    }))
    const run = runCheck(writeHistory('hard.jsonl', historyToJsonl([...puts, ...gets])), '--budget-ms', '50')
    assert.equal(run.status, EXIT.thresholdFailed, run.stderr)
    assert.match(run.stdout, /verdict: unknown/)
  })
  it('exits 2 naming the file when it is missing or garbled', () => {
    const missing = runCheck(join(dir, 'nope.jsonl'))
    assert.equal(missing.status, EXIT.invalidInput)
    assert.match(missing.stderr, /nope\.jsonl: file: no such file/)
    const garbled = runCheck(writeHistory('garbled.jsonl', '{"client":\n'))
    assert.equal(garbled.status, EXIT.invalidInput)
    assert.match(garbled.stderr, /garbled\.jsonl line 1: JSON/)
  })
})
