import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { parseTopologyYaml } from '../../netem/topology.ts'
import { listTopologies } from './topologies.ts'

function cli(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'harness/cli.ts', 'topologies', ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  })
}

describe('topologies command', () => {
  it('lists every built-in with a symmetric RTT matrix', () => {
    const all = listTopologies()
    const e3 = all.find((t) => t.name === 'epaxos-3')!
    assert.equal(e3.rttMs.CA!.EU, 156)
    assert.equal(e3.rttMs.EU!.CA, 156)
    assert.equal(e3.rttMs.VA!.VA, 0)
    for (const t of all) assert.ok(t.source.length > 0, `${t.name} names its source`)
  })

  it('prints JSON and a table from the CLI', () => {
    const json = cli('--json')
    assert.equal(json.status, 0, json.stderr)
    const parsed = JSON.parse(json.stdout) as Array<{ name: string }>
    assert.ok(parsed.some((t) => t.name === 'epaxos-5'))
    const text = cli()
    assert.equal(text.status, 0, text.stderr)
    assert.match(text.stdout, /epaxos-3: .*\n.*sites: CA \(aws:us-west-1\)/)
  })

  it('import writes a loadable topology, and an unknown region exits 2 listing the known ones', () => {
    const dir = mkdtempSync(join(tmpdir(), 'topo-import-'))
    try {
      const out = join(dir, 't.yaml')
      const ok = cli(
        'import',
        '--provider',
        'aws',
        '--regions',
        'us-west-1,eu-west-1',
        '--names',
        'CA,EU',
        '--name',
        'two',
        '--out',
        out,
      )
      assert.equal(ok.status, 0, ok.stderr)
      const t = parseTopologyYaml(readFileSync(out, 'utf8'), out)
      assert.equal(t.name, 'two')
      assert.ok(t.rttMs('CA', 'EU') > 100 && t.rttMs('CA', 'EU') < 200)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
    const bad = cli('import', '--provider', 'aws', '--regions', 'us-west-1,atlantis-1')
    assert.equal(bad.status, 2)
    assert.match(bad.stderr, /--regions: unknown aws region 'atlantis-1'/)
    assert.match(bad.stderr, /ap-northeast-1/)
    const badName = cli('import', '--provider', 'gcp', '--regions', 'us-west1,us-east4', '--names', 'A,1x')
    assert.equal(badName.status, 2)
    assert.match(badName.stderr, /--names/)
  })
})
