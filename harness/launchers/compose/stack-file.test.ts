import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { parse } from 'yaml'
import { replicaConfigSchema } from '../../../engines/host/config.ts'
import { type StackSpec, stackDocument, stackYaml } from './stack-file.ts'

const shape = {
  delayMs: 42.5,
  jitterMs: 0,
  jitterDistribution: 'normal',
  lossRate: 0,
  bandwidthBytesPerSec: null,
} as const
const spec: StackSpec = {
  engine: 'multipaxos',
  engineConfig: {},
  replicas: 3,
  seed: 1,
  storage: 'file',
  image: 'registry.lab/consensus-bench:1',
  shaper: 'kernel',
  links: [
    { from: 'r0', to: 'r1', shape },
    { from: 'r1', to: 'r0', shape },
  ],
  sites: { r0: 'CA', r1: 'VA', r2: 'EU' },
  driver: { durationMs: 20_000, clientsPerSite: 4, conflict: 0.1, readRatio: 0.5 },
}

interface StackService {
  image: string
  environment: Record<string, string>
  cap_add?: string[]
  network_mode?: string
  deploy: {
    endpoint_mode?: string
    placement: { constraints: string[] }
    restart_policy: { condition: string }
  }
}

test('stack file: one service per replica pinned to its site, shaping in the replica, dnsrr names', () => {
  const doc = parse(stackYaml(spec, 'lab1')) as {
    version: string
    services: Record<string, StackService>
    networks: Record<string, unknown>
  }
  assert.equal(doc.version, '3.8')
  assert.deepEqual(Object.keys(doc.services).sort(), ['driver', 'r0', 'r1', 'r2'])
  for (const [id, site] of Object.entries(spec.sites)) {
    const s = doc.services[id]!
    assert.deepEqual(s.deploy.placement.constraints, [`node.labels.cb.site == ${site}`])
    assert.equal(s.deploy.endpoint_mode, 'dnsrr')
    assert.equal(s.deploy.restart_policy.condition, 'none')
    assert.deepEqual(s.cap_add, ['NET_ADMIN'])
    assert.equal(s.network_mode, undefined, 'swarm has no shared namespaces')
    assert.equal(s.image, spec.image)
    const config = replicaConfigSchema.parse(JSON.parse(s.environment.CB_REPLICA_CONFIG!))
    assert.deepEqual(
      config.nodes.map((n) => n.peerAddress),
      ['r0:7000', 'r1:7000', 'r2:7000'],
    )
    assert.equal(config.listen.peer, `${id}:7000`)
  }
  assert.deepEqual(JSON.parse(doc.services.r0!.environment.CB_SHAPER_SPEC!).links, [{ to: 'r1', shape }])
  assert.deepEqual(JSON.parse(doc.services.r2!.environment.CB_SHAPER_SPEC!).links, [])
  assert.deepEqual(doc.networks.bench, { driver: 'overlay', internal: true, attachable: true })
  assert.deepEqual(doc.services.driver!.deploy.placement.constraints, ['node.role == manager'])
})

test('stack file: a replica without a site is refused by name', () => {
  assert.throws(
    () => stackDocument({ ...spec, sites: { r0: 'CA', r1: 'VA' } }),
    /sites: replica r2 has no site/,
  )
})

const compose = spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status === 0
test('docker-compose accepts the stack file (format 3.8)', {
  skip: compose ? false : 'docker-compose is not installed',
}, () => {
  const dir = mkdtempSync(join(tmpdir(), 'cb-stack-test-'))
  try {
    writeFileSync(join(dir, 'stack.yaml'), stackYaml(spec))
    const resolved = parse(
      execFileSync('docker-compose', ['-f', join(dir, 'stack.yaml'), 'config'], {
        cwd: dir,
        encoding: 'utf8',
      }),
    ) as { services: Record<string, StackService> }
    assert.deepEqual(resolved.services.r1!.deploy.placement.constraints, ['node.labels.cb.site == VA'])
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
