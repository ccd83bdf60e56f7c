import assert from 'node:assert/strict'
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from 'node:net'
import { test } from 'node:test'
import { Agent } from 'undici'
import type { HistoryOp } from './check/history.ts'
import { fetchJson, HttpStatusError } from './launchers/http-json.ts'
import type { ReplicaHandle } from './launchers/types.ts'
import {
  bottleneck,
  committedBetween,
  idleCpu,
  NodeCostMeter,
  nodeCost,
  nodeCostFields,
  type ScrapeAnswer,
  type ScrapeRound,
  scrapeReplicas,
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

/** a round in which every replica answered at once (`answeredUs` overrides per replica); null: no answer */
function round(
  atUs: number,
  replicas: Record<string, Counts | null>,
  answeredUs: Record<string, number> = {},
): ScrapeRound {
  const answer = (id: string, c: Counts | null): ScrapeAnswer =>
    c === null
      ? { state: 'missing', reason: 'timeout after 5000 ms' }
      : { state: 'ok', scrape: scrape(c), answeredUs: answeredUs[id] ?? atUs }
  return { atUs, replicas: new Map(Object.entries(replicas).map(([id, c]) => [id, answer(id, c)])) }
}

const fixed = (ops: number) => () => ops
const round2 = (x: number) => Math.round(x * 100) / 100

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
  const cost = nodeCost(start, end, fixed(40))
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
    ops: 40,
    answeredAfterMs: { start: 0, end: 0 },
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
    fixed(100),
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
  const cost = nodeCost(start, end, fixed(10))
  assert.deepEqual(Object.keys(cost.nodes), ['r0'])
  assert.deepEqual(cost.missing, ['r1', 'r2', 'r3'])
  assert.deepEqual(cost.missingReasons, {
    r1: 'restarted in the window (uptime 9000 ms, then 800 ms)',
    r2: 'timeout after 5000 ms at the window start',
    r3: 'timeout after 5000 ms at the window end',
  })
  assert.equal(cost.bottleneckNode, null, 'a missing replica may be the bottleneck: unknown')
})

test('fast and slow path events are summed over replicas', () => {
  const start = round(0, { r0: { fast: 10, slow: 1 }, r1: { fast: 0, slow: 0 } })
  const end = round(1_000_000, {
    r0: { uptimeMs: 11_000, fast: 40, slow: 3 },
    r1: { uptimeMs: 11_000, fast: 5 },
  })
  const cost = nodeCost(start, end, fixed(37))
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
    ops: 1,
    answeredAfterMs: { start: 0, end: 0 },
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
  const empty = nodeCost(
    round(0, { r0: {} }),
    round(1_000_000, { r0: { uptimeMs: 11_000, cpuUs: 5 } }),
    fixed(0),
  )
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

/** a replica handle whose /metrics counts up with every scrape; its uptime runs on `nowUs` */
function fakeReplica(
  id: string,
  cpuUsPerScrape: number,
  nowUs: () => number,
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
      return scrape({ uptimeMs: 10_000 + Math.round(nowUs() / 1000), cpuUs: handle.scrapes * cpuUsPerScrape })
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
  // uptime is whole milliseconds: a command 5 ms before the first scrape is clearly outside
  const cost = await meter.finish([ok, ok, op(firstUs - 5000, 'ok')])
  assert.ok(cost !== null)
  assert.equal(cost.ops, 2)
  // timers may fire up to a millisecond early on the performance clock
  assert.ok(
    cost.windowStartUs >= 29_000 && cost.windowEndUs >= 79_000,
    `${cost.windowStartUs} ${cost.windowEndUs}`,
  )
  assert.equal(cost.nodes.r0!.cpuUsPerOp, 1500)
  assert.equal(cost.bottleneckNode, 'r0')

  const early = [fakeReplica('r0', 10, nowUs), fakeReplica('r1', 10, nowUs)]
  const cut = new NodeCostMeter(early, nowUs)
  cut.schedule(nowUs() + 10_000, nowUs() + 60_000_000)
  await new Promise((resolve) => setTimeout(resolve, 40))
  const t = performance.now()
  const cutCost = await cut.finish([])
  assert.ok(performance.now() - t < 1000, 'finish does not wait for a window end the load never reached')
  assert.ok(cutCost !== null && cutCost.ops === 0)

  // idle measured first: the figures carry the CPU above it (each fake scrape adds 10 us)
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

test("a late answer counts the commands over the replica's own interval, from its uptime, not the round's", () => {
  // one ok command every 10 ms from 0 to 5 s; every replica spends 100 us of CPU per command it saw
  const history = Array.from({ length: 501 }, (_, k) => op(k * 10_000, 'ok'))
  const opsBetween = (fromUs: number, toUs: number) => committedBetween(history, fromUs, toUs)
  // every replica started at -4 s on the cell clock (uptime 5000 ms at 1 s)
  const start = round(
    1_000_000,
    {
      r0: { uptimeMs: 5000 },
      r1: { uptimeMs: 5000 },
      r2: { uptimeMs: 6200 }, // busy: read its counters 1.2 s into the round, answered then
      r3: { uptimeMs: 5000 },
    },
    { r2: 2_200_000 },
  )
  const end = round(
    3_000_000,
    {
      r0: { uptimeMs: 7000, cpuUs: 201 * 100 },
      r1: { uptimeMs: 8500, cpuUs: 351 * 100 }, // busy: read its counters 1.5 s late, answered then
      r2: { uptimeMs: 7000, cpuUs: 81 * 100 },
      r3: { uptimeMs: 7000, cpuUs: 201 * 100 }, // read on time; the answer took 1.5 s to arrive
    },
    { r1: 4_500_000, r3: 4_500_000 },
  )
  const cost = nodeCost(start, end, opsBetween)
  assert.equal(cost.ops, 201, 'the rounds began at 1 s and 3 s')
  // [1 s, 4.5 s] for r1, [2.2 s, 3 s] for r2, [1 s, 3 s] for r3: the earlier prompt answer places it
  assert.deepEqual(
    Object.values(cost.nodes).map((n) => n.ops),
    [201, 351, 81, 201],
  )
  for (const [id, n] of Object.entries(cost.nodes)) assert.equal(n.cpuUsPerOp, 100, id)
  assert.deepEqual(cost.nodes.r1!.answeredAfterMs, { start: 0, end: 1500 })
  assert.deepEqual(cost.nodes.r2!.answeredAfterMs, { start: 1200, end: 0 })
})

/** a handle on a real HTTP endpoint, through the launchers' own request code */
function httpReplica(id: string, url: string, agent: Agent, running = true): ReplicaHandle {
  return {
    id,
    peerAddress: '',
    clientAddress: url.slice('http://'.length),
    clientUrl: url,
    pid: () => (running ? 1 : null),
    running: () => running,
    kill: async () => {},
    restart: async () => {},
    health: async () => null,
    metrics: (timeoutMs = 1000) => fetchJson(agent, url, '/metrics', timeoutMs),
  }
}

async function listening(server: HttpServer | NetServer): Promise<string> {
  await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', resolveListen))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

test('a replica answering /metrics after 1.5 s is in the figures; one that never answers is missing with its reason, within the deadline', async () => {
  const t0 = performance.now()
  const nowUs = () => Math.round((performance.now() - t0) * 1000)
  const sockets: Socket[] = []
  // a busy replica: reads its counters (uptime on the same clock as the test) 1.5 s after each request
  const readAtUs: number[] = []
  let busyCpuUs = 0
  const busy = createHttpServer((_req, res) => {
    setTimeout(() => {
      readAtUs.push(nowUs())
      busyCpuUs += 7000
      res.end(JSON.stringify(scrape({ uptimeMs: 60_000 + Math.round(nowUs() / 1000), cpuUs: busyCpuUs })))
    }, 1500)
  })
  // a stopped one: accepts the connection, never answers
  const stopped = createNetServer((socket) => sockets.push(socket))
  // a dead one: nothing listens on its port any more
  const gone = createNetServer()
  const [busyUrl, stoppedUrl, goneUrl] = await Promise.all([
    listening(busy),
    listening(stopped),
    listening(gone),
  ])
  await new Promise((resolveClose) => gone.close(resolveClose))
  const agent = new Agent()
  try {
    const replicas = [
      fakeReplica('r0', 1000, nowUs),
      httpReplica('r1', busyUrl, agent),
      httpReplica('r2', stoppedUrl, agent),
      httpReplica('r3', goneUrl, agent),
      httpReplica('r4', goneUrl, agent, false),
    ]
    const policy = { deadlineMs: 4000, attempts: 3, retryPauseMs: 50 }
    const oneRound = performance.now()
    const round1 = await scrapeReplicas(replicas, nowUs, policy)
    const roundMs = performance.now() - oneRound
    // the deadline bounds the round: a timed-out request is not sent again (that would take 8 s)
    assert.ok(roundMs >= 3900 && roundMs < policy.deadlineMs * 1.5, `round took ${roundMs} ms`)
    assert.equal(round1.replicas.get('r1')!.state, 'ok', 'the busy replica answered within the deadline')

    const meter = new NodeCostMeter(replicas, nowUs, policy)
    const windowUs = nowUs()
    meter.schedule(windowUs, windowUs + 1_000_000)
    // one ok command per ms for 8 s after the window opens, two per ms after its first second: the
    // busy replica's interval (its counters were read 1.5 s late) holds about twice the nominal window's
    const history: HistoryOp[] = []
    for (let us = windowUs; us < windowUs + 8_000_000; us += 1000) {
      history.push(op(us, 'ok'))
      if (us >= windowUs + 1_000_000) history.push(op(us + 500, 'ok'))
    }
    await new Promise((resolveWait) => setTimeout(resolveWait, 1100))
    const finishing = performance.now()
    const cost = await meter.finish(history)
    const waitedMs = performance.now() - finishing
    assert.ok(waitedMs < policy.deadlineMs * 1.5, `finish waited ${waitedMs} ms`)
    assert.ok(cost !== null)
    assert.deepEqual(Object.keys(cost.nodes), ['r0', 'r1'])
    const r1 = cost.nodes.r1!
    assert.ok(r1.answeredAfterMs.start >= 1500 && r1.answeredAfterMs.end >= 1500, JSON.stringify(r1))
    const [readStartUs, readEndUs] = readAtUs.slice(-2) as [number, number]
    const own = committedBetween(history, readStartUs, readEndUs)
    assert.ok(
      Math.abs(r1.ops - own) <= own * 0.1,
      `r1 ops ${r1.ops}, read over ${own}, the window ${cost.ops}`,
    )
    assert.ok(r1.ops > cost.ops * 1.5, `r1 ops ${r1.ops} against ${cost.ops} in the nominal window`)
    assert.equal(r1.cpuUsPerOp, round2(7000 / r1.ops))
    assert.deepEqual(cost.missing, ['r2', 'r3', 'r4'])
    assert.deepEqual(cost.missingReasons, {
      r2: 'timeout after 4000 ms at both edges',
      r3: 'connection refused (3 attempts) at both edges',
      r4: 'not running at both edges',
    })
    assert.equal(cost.bottleneckNode, null, 'a replica is missing: the bottleneck is unknown')
  } finally {
    for (const socket of sockets) socket.destroy()
    await agent.close()
    await Promise.all([
      new Promise((resolveClose) => busy.close(resolveClose)),
      new Promise((resolveClose) => stopped.close(resolveClose)),
    ])
  }
})

test('an early failure is asked again (up to 3 times); a handle with no /metrics of ours is not', async () => {
  const t0 = performance.now()
  const nowUs = () => Math.round((performance.now() - t0) * 1000)
  const flaky = fakeReplica('r0', 10, nowUs)
  let failures = 0
  const answer = flaky.metrics
  flaky.metrics = async () => {
    if (failures++ < 2) throw new HttpStatusError(503)
    return answer()
  }
  const broken = {
    ...fakeReplica('r1', 10, nowUs),
    metrics: async () => Promise.reject(new HttpStatusError(500)),
  }
  const external = { ...fakeReplica('r2', 10, nowUs), metrics: async () => null }
  const policy = { deadlineMs: 2000, attempts: 3, retryPauseMs: 10 }
  const round = await scrapeReplicas([flaky, broken, external], nowUs, policy)
  assert.equal(round.replicas.get('r0')!.state, 'ok', 'answered at the third request')
  assert.equal(failures, 3)
  assert.deepEqual(round.replicas.get('r1'), { state: 'missing', reason: 'HTTP 500 (3 attempts)' })
  assert.deepEqual(round.replicas.get('r2'), { state: 'missing', reason: 'no /metrics of ours' })
})
