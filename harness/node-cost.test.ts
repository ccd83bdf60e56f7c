import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { HistoryOp } from './check/history.ts'
import type { ReplicaHandle } from './launchers/types.ts'
import {
  bottleneck,
  committedBetween,
  idleCpu,
  NodeCostMeter,
  nodeCost,
  nodeCostFields,
  type ScrapeRound,
} from './node-cost.ts'

interface Counts {
  uptimeMs?: number
  cpuUs?: number
  sent?: Record<string, [number, number]>
  received?: Record<string, [number, number]>
  self?: Record<string, number>
  fast?: number
  slow?: number
  requests?: number
  fsyncs?: number
}

function scrape(c: Counts) {
  const counters = (m: Record<string, [number, number]> = {}) =>
    Object.fromEntries(Object.entries(m).map(([k, [count, bytes]]) => [k, { count, bytes }]))
  return {
    uptimeMs: c.uptimeMs ?? 10_000,
    cpuUs: { total: c.cpuUs ?? 0 },
    messages: { sent: counters(c.sent), received: counters(c.received), self: c.self ?? {} },
    events: { 'fast-path': c.fast ?? 0, 'slow-path': c.slow ?? 0 },
    requests: { received: c.requests ?? 0 },
    storage: { fsyncs: c.fsyncs ?? 0 },
  }
}

function op(completeUs: number | null, outcome: HistoryOp['outcome']): HistoryOp {
  return { client: 'c', seq: 1, key: 'k', op: 'put', value: 'v', invokeUs: 0, completeUs, outcome }
}

function round(atUs: number, replicas: Record<string, Counts | null>): ScrapeRound {
  return {
    atUs,
    replicas: new Map(Object.entries(replicas).map(([id, c]) => [id, c === null ? null : scrape(c)])),
  }
}

test('per-op figures are deltas over the window divided by the committed commands; self messages do not count', () => {
  const start = round(1_000_000, {
    r0: {
      uptimeMs: 5000,
      cpuUs: 1000,
      sent: { accept: [10, 400] },
      received: { accepted: [5, 100] },
      fsyncs: 3,
    },
    r1: { uptimeMs: 5000, cpuUs: 500, sent: { accepted: [5, 100] }, received: { accept: [5, 200] } },
  })
  const end = round(3_000_000, {
    r0: {
      uptimeMs: 7000,
      cpuUs: 21_000,
      // 100 accepts went out, 40 of them to itself (0 bytes; it received those 40 too, and answered
      // itself 40 accepted); 100 accepted came in, 40 of them from itself: 60 + 60 on the network
      sent: { accept: [110, 2800], accepted: [40, 0] },
      received: { accepted: [105, 1300], accept: [40, 0] },
      self: { accept: 40, accepted: 40 },
      fsyncs: 23,
      requests: 7,
    },
    r1: { uptimeMs: 7000, cpuUs: 5500, sent: { accepted: [65, 1300] }, received: { accept: [65, 2600] } },
  })
  const cost = nodeCost(start, end, 40)
  assert.deepEqual(cost.nodes.r0, {
    msgsPerOp: 3, // (100 - 40 + 100 - 40) / 40
    msgsSentPerOp: 1.5,
    msgsReceivedPerOp: 1.5,
    bytesPerOp: 90, // (2400 + 1200) / 40
    cpuUsPerOp: 500,
    idleCpuUsPerSec: null,
    cpuUsPerOpAboveIdle: null,
    fsyncsPerOp: 0.5,
    requests: 7,
  })
  assert.equal(cost.nodes.r1!.msgsPerOp, 3)
  assert.equal(cost.nodes.r1!.cpuUsPerOp, 125)
  assert.equal(cost.bottleneckNode, 'r0')
  assert.equal(cost.bottleneckBy, 'cpu')
  assert.equal(cost.fastPath, null, 'no fast/slow path events: null, not 0')
  assert.deepEqual([cost.windowStartUs, cost.windowEndUs, cost.ops], [1_000_000, 3_000_000, 40])
  assert.equal(cost.idleWindowMs, null)
})

test('idle CPU: a rate per replica from two idle scrapes; CPU per op above it subtracts that rate over the window', () => {
  // 500 ms idle: r0 used 4000 us (8000 us/s), r1 1000 us (2000 us/s), r2 restarted (no figure)
  const idle = idleCpu(
    round(0, { r0: { uptimeMs: 3000, cpuUs: 10_000 }, r1: { uptimeMs: 3000, cpuUs: 0 }, r2: {} }),
    round(500_000, {
      r0: { uptimeMs: 3500, cpuUs: 14_000 },
      r1: { uptimeMs: 3500, cpuUs: 1000 },
      r2: { uptimeMs: 100 },
    }),
  )
  assert.equal(idle.windowMs, 500)
  assert.deepEqual(
    [...idle.usPerSec],
    [
      ['r0', 8000],
      ['r1', 2000],
      ['r2', null],
    ],
  )
  // a 2 s window, 100 commands: r0 used 66 000 us, 16 000 of them idle; r1 used 3000, below its idle 4000
  const cost = nodeCost(
    round(1_000_000, { r0: { cpuUs: 20_000 }, r1: { cpuUs: 1000 }, r2: { uptimeMs: 5000 } }),
    round(3_000_000, {
      r0: { uptimeMs: 12_000, cpuUs: 86_000 },
      r1: { uptimeMs: 12_000, cpuUs: 4000 },
      r2: { uptimeMs: 7000, cpuUs: 900 },
    }),
    100,
    idle,
  )
  assert.equal(cost.idleWindowMs, 500)
  assert.deepEqual(
    [cost.nodes.r0!.cpuUsPerOp, cost.nodes.r0!.idleCpuUsPerSec, cost.nodes.r0!.cpuUsPerOpAboveIdle],
    [660, 8000, 500],
  )
  assert.equal(cost.nodes.r1!.cpuUsPerOp, 30)
  assert.equal(cost.nodes.r1!.cpuUsPerOpAboveIdle, 0, 'noise below the idle rate is 0, never negative')
  assert.deepEqual([cost.nodes.r2!.cpuUsPerOp, cost.nodes.r2!.cpuUsPerOpAboveIdle], [9, null])
})

test('a replica that restarted, stopped answering, or has no usable /metrics is missing, not zero', () => {
  const start = round(0, { r0: { uptimeMs: 9000 }, r1: { uptimeMs: 9000 }, r2: null, r3: { uptimeMs: 9000 } })
  const end = round(4_000_000, {
    r0: { uptimeMs: 13_000 },
    r1: { uptimeMs: 800 }, // restarted: every counter began again
    r2: { uptimeMs: 13_000 },
    r3: null,
  })
  const cost = nodeCost(start, end, 10)
  assert.deepEqual(Object.keys(cost.nodes), ['r0'])
  assert.deepEqual(cost.missing, ['r1', 'r2', 'r3'])
  assert.equal(cost.bottleneckNode, null, 'a missing replica may be the bottleneck: unknown')
})

test('fast and slow path events are summed over replicas', () => {
  const start = round(0, { r0: { fast: 10, slow: 1 }, r1: { fast: 0, slow: 0 } })
  const end = round(1_000_000, {
    r0: { uptimeMs: 11_000, fast: 40, slow: 3 },
    r1: { uptimeMs: 11_000, fast: 5 },
  })
  const cost = nodeCost(start, end, 37)
  assert.equal(cost.fastPath, 35)
  assert.equal(cost.slowPath, 2)
})

test('the bottleneck is the most CPU per op, or the most messages per op when CPU is within 10%', () => {
  const node = (cpuUsPerOp: number, msgsPerOp: number) => ({
    msgsPerOp,
    msgsSentPerOp: 0,
    msgsReceivedPerOp: 0,
    bytesPerOp: 0,
    cpuUsPerOp,
    idleCpuUsPerSec: null,
    cpuUsPerOpAboveIdle: null,
    fsyncsPerOp: 0,
    requests: 0,
  })
  assert.deepEqual(bottleneck({ r0: node(100, 3), r1: node(150, 3), r2: node(90, 3) }), {
    node: 'r1',
    by: 'cpu',
  })
  assert.deepEqual(bottleneck({ r0: node(100, 3), r1: node(105, 3), r2: node(90, 12) }), {
    node: 'r2',
    by: 'messages',
  })
  assert.deepEqual(bottleneck({}), { node: null, by: null })
  // no commands in the window: nothing to divide by, so no bottleneck either
  const empty = nodeCost(round(0, { r0: {} }), round(1_000_000, { r0: { uptimeMs: 11_000, cpuUs: 5 } }), 0)
  assert.equal(empty.bottleneckNode, null)
  assert.equal(empty.nodes.r0!.cpuUsPerOp, 0)
})

test('committedBetween counts ok commands completed inside the window, edges included', () => {
  const history = [
    op(99, 'ok'),
    op(100, 'ok'),
    op(150, 'ok'),
    op(150, 'fail'),
    op(null, 'unknown'),
    op(200, 'ok'),
    op(201, 'ok'),
  ]
  assert.equal(committedBetween(history, 100, 200), 3)
})

test('nodeCostFields: no window gives empty nodes and null figures', () => {
  assert.deepEqual(nodeCostFields(null, 'r0'), {
    nodes: {},
    bottleneckNode: null,
    fastPath: null,
    slowPath: null,
    nodeCost: null,
  })
})

/** a replica handle whose /metrics counts up with every scrape */
function fakeReplica(
  id: string,
  cpuUsPerScrape: number,
  nowUs: () => number = () => 0,
): ReplicaHandle & { scrapes: number; scrapedAtUs: number[] } {
  const handle = {
    id,
    peerAddress: '',
    clientAddress: '',
    clientUrl: '',
    scrapes: 0,
    scrapedAtUs: [] as number[],
    pid: () => 1,
    running: () => true,
    kill: async () => {},
    restart: async () => {},
    health: async () => null,
    metrics: async () => {
      handle.scrapes++
      handle.scrapedAtUs.push(nowUs())
      return scrape({ uptimeMs: 10_000 + handle.scrapes * 1000, cpuUs: handle.scrapes * cpuUsPerScrape })
    },
  }
  return handle
}

test('the meter scrapes at the window edges, and at once when the load ends before the window does', async () => {
  const t0 = performance.now()
  const nowUs = () => Math.round((performance.now() - t0) * 1000)
  const replicas = [fakeReplica('r0', 3000, nowUs), fakeReplica('r1', 1000, nowUs)]
  const meter = new NodeCostMeter(replicas, nowUs)
  meter.schedule(30_000, 80_000)
  await new Promise((resolve) => setTimeout(resolve, 150))
  assert.deepEqual(
    replicas.map((r) => r.scrapes),
    [2, 2],
  )
  // inside the window whenever the timers actually fired (a loaded machine fires them late)
  const [firstUs, secondUs] = replicas[0]!.scrapedAtUs as [number, number]
  const ok = op(Math.round((firstUs + secondUs) / 2), 'ok')
  const cost = await meter.finish([ok, ok, op(firstUs - 1000, 'ok')])
  assert.ok(cost !== null)
  assert.equal(cost.ops, 2)
  // timers may fire up to a millisecond early on the performance clock
  assert.ok(
    cost.windowStartUs >= 29_000 && cost.windowEndUs >= 79_000,
    `${cost.windowStartUs} ${cost.windowEndUs}`,
  )
  assert.equal(cost.nodes.r0!.cpuUsPerOp, 1500)
  assert.equal(cost.bottleneckNode, 'r0')

  const early = [fakeReplica('r0', 10), fakeReplica('r1', 10)]
  const cut = new NodeCostMeter(early, nowUs)
  cut.schedule(nowUs() + 10_000, nowUs() + 60_000_000)
  await new Promise((resolve) => setTimeout(resolve, 40))
  const t = performance.now()
  const cutCost = await cut.finish([])
  assert.ok(performance.now() - t < 1000, 'finish does not wait for a window end the load never reached')
  assert.ok(cutCost !== null && cutCost.ops === 0)

  // idle measured first: the figures carry the CPU above it (each fake scrape adds 10 us and 1 s uptime)
  const idleFirst = new NodeCostMeter(early, nowUs)
  const idle = await idleFirst.measureIdle(20)
  assert.ok(idle.windowMs >= 15, `${idle.windowMs} ms`)
  assert.ok(idle.usPerSec.get('r0')! > 0)
  idleFirst.schedule(nowUs(), nowUs() + 60_000_000)
  await new Promise((resolve) => setTimeout(resolve, 20))
  const withIdle = await idleFirst.finish([])
  assert.ok(withIdle !== null && withIdle.idleWindowMs === idle.windowMs)
  assert.ok(withIdle.nodes.r0!.idleCpuUsPerSec === idle.usPerSec.get('r0'))

  const never = new NodeCostMeter(early, nowUs)
  never.schedule(nowUs() + 60_000_000, nowUs() + 120_000_000)
  assert.equal(await never.finish([]), null, 'a load that ended during warm-up has no window')
  assert.equal(await new NodeCostMeter(early, nowUs).finish([]), null, 'a load that never started has none')
})
