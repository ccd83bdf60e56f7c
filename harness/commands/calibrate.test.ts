import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'

function cli(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'harness/cli.ts', 'calibrate', ...args], {
    encoding: 'utf8',
    timeout: 120_000,
  })
}

describe('calibrate command', () => {
  it('--json prints exactly {topology, shaper, links[{from, to, targetRttMs, measuredRttMsP50, measuredRttMsP99, errorMs}]}', () => {
    const dir = mkdtempSync(join(tmpdir(), 'calibrate-test-'))
    try {
      const file = join(dir, 'two.yaml')
      writeFileSync(
        file,
        'name: two\ndescription: d\nsource: s\nsites: [{ name: A }, { name: B }]\nlinks: [{ between: [A, B], rttMs: 10 }]\n',
      )
      const r = cli('--topology', file, '--probes', '20', '--json')
      // 0 all within tolerance, 1 some link off it (a loaded machine): the JSON is printed either way
      assert.ok(
        r.status === 0 || (r.status === 1 && /off tolerance/.test(r.stderr)),
        `${r.status}: ${r.stderr}`,
      )
      const out = JSON.parse(r.stdout) as {
        topology: string
        shaper: string
        links: Array<Record<string, unknown>>
      }
      assert.deepEqual(Object.keys(out), ['topology', 'shaper', 'links'])
      assert.equal(out.topology, 'two')
      assert.equal(out.shaper, 'relay')
      assert.deepEqual(
        out.links.map((l) => [l.from, l.to, l.targetRttMs]),
        [
          ['A', 'B', 10],
          ['B', 'A', 10],
        ],
      )
      for (const l of out.links) {
        assert.deepEqual(Object.keys(l), [
          'from',
          'to',
          'targetRttMs',
          'measuredRttMsP50',
          'measuredRttMsP99',
          'errorMs',
        ])
        // the relay really delays: nothing comes back faster than the configured RTT
        assert.ok((l.measuredRttMsP50 as number) >= 9.5, `p50 ${l.measuredRttMsP50}`)
        assert.ok((l.measuredRttMsP99 as number) >= (l.measuredRttMsP50 as number))
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('exits 2 for an unknown topology or a bad probe count', () => {
    const r = cli('--topology', 'nowhere-9')
    assert.equal(r.status, 2)
    assert.match(r.stderr, /no such built-in topology[\s\S]*epaxos-3/)
    assert.equal(cli('--topology', 'epaxos-3', '--probes', '0').status, 2)
  })
})
