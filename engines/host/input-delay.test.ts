import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseReplicaConfig, ReplicaConfigError } from './config.ts'
import { InputDelay } from './input-delay.ts'
import { startReplica } from './replica.ts'
import { clusterConfigs, kv, tempDir } from './testdata/cluster.ts'
import { sequencerEngine } from './testdata/sequencer-engine.ts'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

test('a zero delay delivers at once; a delay holds inputs, in arrival order, until their time', async () => {
  const order: number[] = []
  const none = new InputDelay(0)
  none.push(() => order.push(0))
  assert.deepEqual(order, [0], 'no delay: synchronous, as without the knob')

  let now = 1000
  const delay = new InputDelay(20, () => now)
  delay.push(() => order.push(1))
  now += 5
  delay.push(() => order.push(2))
  assert.equal(delay.held, 2)
  await sleep(30) // real timers fire; the fake clock has not reached the first due time
  assert.deepEqual(order, [0], 'nothing before its due time')
  now += 15 // the first is due, the second 5 ms later
  await sleep(30)
  assert.deepEqual(order, [0, 1])
  now += 5
  await sleep(30)
  assert.deepEqual(order, [0, 1, 2])
  assert.equal(delay.held, 0)
  delay.close()
})

test('close drops held inputs; a negative or infinite delay is refused', async () => {
  const seen: string[] = []
  const delay = new InputDelay(5)
  delay.push(() => seen.push('late'))
  delay.close()
  delay.push(() => seen.push('after close'))
  await sleep(20)
  assert.deepEqual(seen, [])
  assert.throws(() => new InputDelay(-1), RangeError)
  assert.throws(() => new InputDelay(Number.POSITIVE_INFINITY), RangeError)
})

test('the replica config takes processingDelayMs (absent: none) and refuses a negative one, naming it', () => {
  const base = {
    id: 'r0',
    engine: 'multipaxos',
    nodes: [{ id: 'r0', peerAddress: '127.0.0.1:7101' }],
    listen: { peer: '127.0.0.1:7101', client: '127.0.0.1:8101' },
    storage: { kind: 'memory' },
  }
  assert.equal(parseReplicaConfig(base).processingDelayMs, undefined)
  assert.equal(parseReplicaConfig({ ...base, processingDelayMs: 5 }).processingDelayMs, 5)
  assert.throws(
    () => parseReplicaConfig({ ...base, processingDelayMs: -1 }, 'r0.json'),
    (err: unknown) =>
      err instanceof ReplicaConfigError && err.field === 'processingDelayMs' && /like 5/.test(err.fix),
  )
})

test('a replica with processingDelayMs answers a put at least 3 delays later (request, and both message hops)', async (t) => {
  const quiet = { engineOverride: sequencerEngine, log: () => {} }
  const timePut = async (delayMs: number, seq: number): Promise<number> => {
    const configs = await clusterConfigs(3, tempDir(t), { storage: 'memory' })
    const replicas = await Promise.all(
      configs.map((c) => startReplica({ ...c, processingDelayMs: delayMs }, quiet)),
    )
    try {
      // a follower: the command goes r1 -> sequencer r0 -> everyone -> acks, each hop held delayMs
      const started = performance.now()
      const res = await kv(replicas[1]!.clientAddress, 'put', 'k', { client: 'c', seq }, 'v')
      assert.equal(res.status, 200)
      return performance.now() - started
    } finally {
      await Promise.all(replicas.map((r) => r.close()))
    }
  }
  // 200 ms: the bound for the plain put stays far above what a loaded CI host adds (216 ms seen at load 10)
  const delayMs = 200
  const plain = await timePut(0, 1)
  const delayed = await timePut(delayMs, 2)
  assert.ok(
    delayed >= 3 * delayMs,
    `delayed put took ${delayed.toFixed(1)} ms, expected >= ${3 * delayMs} ms`,
  )
  // without the knob the same put is faster than that bound: the bound measures the knob, not the host
  assert.ok(plain < 3 * delayMs, `plain put took ${plain.toFixed(1)} ms`)
})
