import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { parse } from 'yaml'
import { REPO_ROOT } from '../launchers/local.ts'

function cli(args: string[], env: Record<string, string>) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'harness/cli.ts', ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, ...env },
  })
}

test('docker base-image: exit 4 with the install command when the docker client is missing', () => {
  const emptyPath = mkdtempSync(join(tmpdir(), 'cb-no-docker-'))
  try {
    const r = cli(['docker', 'base-image'], { PATH: emptyPath })
    assert.equal(r.status, 4, r.stderr)
    assert.match(
      r.stderr,
      /the docker client is not installed\n {2}fix: apt-get install -y docker.io docker-compose/,
    )
  } finally {
    rmSync(emptyPath, { recursive: true, force: true })
  }
})

test('docker base-image: exit 4 with the start command when dockerd does not answer', () => {
  const r = cli(['docker', 'base-image'], { DOCKER_HOST: 'unix:///nonexistent/docker.sock' })
  assert.equal(r.status, 4, r.stderr)
  assert.match(r.stderr, /dockerd is not running.*\n {2}fix: dockerd /)
})

test('docker compose-file: prints a compose file; an unknown engine exits 2 naming the flag', () => {
  const ok = cli(['docker', 'compose-file', '--engine', 'paxos', '--replicas', '5'], {})
  assert.equal(ok.status, 0, ok.stderr)
  const doc = parse(ok.stdout) as { services: Record<string, unknown> }
  assert.equal(Object.keys(doc.services).length, 11) // 5 replicas, 5 sidecars, the driver
  const bad = cli(['docker', 'compose-file', '--engine', 'nope'], {})
  assert.equal(bad.status, 2)
  assert.match(bad.stderr, /--engine: unknown engine 'nope'/)
})

test('run --launcher compose: exit 4 with the fix when dockerd does not answer; an unknown launcher exits 2', (t) => {
  // the failed run keeps its (incomplete) results directory: give it one of our own to remove
  const resultsRoot = mkdtempSync(join(tmpdir(), 'cb-docker-test-'))
  t.after(() => rmSync(resultsRoot, { recursive: true, force: true }))
  const r = cli(
    ['run', '--launcher', 'compose', '--engine', 'multipaxos', '--duration', '2s', '--results', resultsRoot],
    {
      DOCKER_HOST: 'unix:///nonexistent/docker.sock',
    },
  )
  assert.equal(r.status, 4, r.stderr)
  assert.match(r.stderr, /dockerd is not running/)
  const bad = cli(['run', '--launcher', 'k8s', '--engine', 'multipaxos'], {})
  assert.equal(bad.status, 2)
  assert.match(bad.stderr, /--launcher: 'k8s' is not a launcher\n {2}fix: use local or compose/)
})
