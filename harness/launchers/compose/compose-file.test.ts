import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { parse } from 'yaml'
import { replicaConfigSchema } from '../../../engines/host/config.ts'
import { REPO_ROOT } from '../local.ts'
import {
  COMPOSE_BASE_IMAGE_ARG,
  type ComposeSpec,
  ComposeSpecError,
  composeDocument,
  composeYaml,
  subnetPrefix,
} from './compose-file.ts'
import { defaultComposeYaml } from './defaults.ts'
import { sidecarProbeTargets } from './sidecar.ts'

const shape = {
  delayMs: 40,
  jitterMs: 0,
  jitterDistribution: 'normal',
  lossRate: 0,
  bandwidthBytesPerSec: null,
} as const

const spec: ComposeSpec = {
  engine: 'multipaxos',
  engineConfig: { batching: true },
  replicas: 3,
  seed: 7,
  storage: 'file',
  subnet: '172.30.9.0/24',
  code: { kind: 'mount', image: 'consensus-bench/base:node20', repoRoot: '/src', nodeModulesRealPath: '/nm' },
  shaper: 'kernel',
  links: [{ from: 'r0', to: 'r1', shape }],
}

type Service = Record<string, unknown> & { environment: Record<string, string> }

test('compose document: a replica and a shaper sidecar per replica, sharing the sidecar namespace', () => {
  const doc = parse(composeYaml(spec, 'run1')) as {
    services: Record<string, Service>
    networks: Record<string, unknown>
  }
  assert.deepEqual(Object.keys(doc.services).sort(), ['r0', 'r0-net', 'r1', 'r1-net', 'r2', 'r2-net'])
  const addresses = new Set<string>()
  for (const id of ['r0', 'r1', 'r2']) {
    const replica = doc.services[id]!
    const net = doc.services[`${id}-net`]!
    assert.equal(replica.network_mode, `service:${id}-net`)
    assert.deepEqual(replica.depends_on, { [`${id}-net`]: { condition: 'service_healthy' } })
    assert.deepEqual(net.cap_add, ['NET_ADMIN'])
    assert.equal(replica.cap_add, undefined, 'the replica itself gets no NET_ADMIN')
    const address = (net.networks as { bench: { ipv4_address: string } }).bench.ipv4_address
    addresses.add(address)
    // the config in the environment is a valid engines/host config listening on the sidecar's address
    const config = replicaConfigSchema.parse(JSON.parse(replica.environment.CB_REPLICA_CONFIG!))
    assert.equal(config.id, id)
    assert.equal(config.listen.peer, `${address}:7000`)
    assert.deepEqual(config.engineConfig, { batching: true })
    assert.equal(config.nodes.length, 3)
    assert.deepEqual(replica.volumes, ['/src:/app:ro', '/nm:/nm:ro'])
    // compose's escape for a literal $: the shell, not compose, expands the config variable
    assert.match((replica.command as string[])[2]!, /"\$\$CB_REPLICA_CONFIG"/)
  }
  assert.equal(addresses.size, 3)
  assert.deepEqual(doc.networks.bench, {
    driver: 'bridge',
    internal: true,
    ipam: { config: [{ subnet: '172.30.9.0/24' }] },
  })
  const r0 = JSON.parse(doc.services['r0-net']!.environment.CB_SHAPER_SPEC!)
  assert.deepEqual(r0.links, [{ to: 'r1', shape }])
  assert.equal(JSON.parse(doc.services['r1-net']!.environment.CB_SHAPER_SPEC!).links.length, 0)
  assert.equal(doc.services.driver, undefined)
})

test('compose document: bad input is refused with the field named', () => {
  assert.throws(() => subnetPrefix('10.0.0.0/16'), /subnet: '10.0.0.0\/16' is not an IPv4 \/24/)
  assert.throws(() => composeDocument({ ...spec, replicas: 0 }), ComposeSpecError)
  assert.throws(
    () => composeDocument({ ...spec, shaper: 'none' }),
    /shaper: 'none' but r0 has 1 shaped links/,
  )
  assert.throws(
    () => composeDocument({ ...spec, links: [{ from: 'r0', to: 'r7', shape }] }),
    /links: r0 -> r7 names a replica outside r0..r2/,
  )
})

test('the committed compose.yaml is the generated default (3 multipaxos replicas and a driver)', () => {
  const committed = readFileSync(join(REPO_ROOT, 'compose.yaml'), 'utf8')
  assert.equal(committed, defaultComposeYaml({ engine: 'multipaxos', replicas: 3, seed: 1 }))
  const doc = parse(committed) as { services: Record<string, Service> }
  assert.ok(doc.services.driver)
  assert.deepEqual(doc.services.driver.depends_on, ['r0', 'r1', 'r2'])
  assert.deepEqual((doc.services.r0 as { build?: { args?: unknown } }).build?.args, {
    BASE_IMAGE: COMPOSE_BASE_IMAGE_ARG,
  })
})

const compose = spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status === 0
test('docker-compose v1 accepts the generated files', {
  skip: compose ? false : 'docker-compose is not installed',
}, () => {
  const dir = mkdtempSync(join(tmpdir(), 'cb-compose-test-'))
  try {
    for (const [name, text] of [
      ['generated.yaml', composeYaml(spec, 'run1')],
      ['default.yaml', defaultComposeYaml({ engine: 'paxos', replicas: 5, seed: 1 })],
    ] as const) {
      writeFileSync(join(dir, name), text)
      const out = execFileSync('docker-compose', ['-f', join(dir, name), 'config'], {
        cwd: dir,
        encoding: 'utf8',
      })
      const resolved = parse(out) as { services: Record<string, Service> }
      assert.ok(Object.keys(resolved.services).length >= 6, `${name}: ${Object.keys(resolved.services)}`)
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('calibration: each sidecar with shaped links probes them before its replica starts; none without', () => {
  const both = [
    { from: 'r0', to: 'r1', shape },
    { from: 'r1', to: 'r0', shape: { ...shape, delayMs: 10 } },
  ]
  const doc = composeDocument({ ...spec, shaper: 'relay', links: both, calibrationProbes: 50 }, 'run1') as {
    services: Record<string, Service>
  }
  const sidecar = (id: string) => JSON.parse(doc.services[`${id}-net`]!.environment.CB_SHAPER_SPEC!)
  assert.deepEqual(sidecar('r0').calibrate, { probesPerLink: 50 })
  assert.deepEqual(sidecar('r1').calibrate, { probesPerLink: 50 })
  assert.equal(sidecar('r2').calibrate, undefined, 'r2 has no shaped link to calibrate')
  // the probe targets: r0 -> r1 crosses 40 ms there and 10 ms back, through the address given
  assert.deepEqual(
    sidecarProbeTargets(sidecar('r0'), (to) => `relay-for-${to}`),
    [{ from: 'r0', to: 'r1', address: 'relay-for-r1', targetRttMs: 50 }],
  )
  const plain = composeDocument({ ...spec, shaper: 'relay', links: both }, 'run1') as {
    services: Record<string, Service>
  }
  assert.equal(JSON.parse(plain.services['r0-net']!.environment.CB_SHAPER_SPEC!).calibrate, undefined)
})
