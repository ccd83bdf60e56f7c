import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Rng } from '../../engines/core/runtime/rng.ts'
import { POLL_SHARE_MAX, type Schedulable, Scheduler } from './scheduler.ts'

class Item implements Schedulable {
  heapIndex = -1
  ranAtMs = -1
  constructor(
    readonly name: number,
    public dueMs: number,
    private readonly log: Item[],
  ) {}
  run(nowMs: number): boolean {
    this.ranAtMs = nowMs
    this.log.push(this)
    return false
  }
}

describe('scheduler', () => {
  for (const [wake, spinMs] of [
    ['worker', 0.2],
    ['worker', 0],
    ['timer', 1],
    ['timer', 0],
  ] as const) {
    test(`runs items in due order and never early (${wake} wake, spinMs ${spinMs})`, async () => {
      const scheduler = new Scheduler(spinMs, wake)
      const rng = new Rng(2)
      const log: Item[] = []
      const start = performance.now()
      const items = Array.from({ length: 200 }, (_, i) => new Item(i, start + rng.between(0, 40), log))
      for (const item of items) scheduler.schedule(item)
      const dropped = items[7]!
      scheduler.unschedule(dropped)
      await new Promise((r) => setTimeout(r, 60))
      while (log.length < items.length - 1) await new Promise((r) => setTimeout(r, 20))
      assert.equal(log.includes(dropped), false, 'an unscheduled item ran')
      for (let i = 1; i < log.length; i++)
        assert.ok(log[i]!.dueMs >= log[i - 1]!.dueMs - 0.02, `item ${log[i]!.name} ran before an earlier one`)
      for (const item of log) assert.ok(item.ranAtMs >= item.dueMs - 0.02, `item ${item.name} ran early`)
      assert.equal(scheduler.size, 0)
      scheduler.stop()
    })
  }

  test('dense deliveries cannot make it poll more than its share of the time', async () => {
    const scheduler = new Scheduler(1, 'worker')
    await scheduler.ready
    const log: Item[] = []
    // an item due every 0.2 ms for 400 ms: with 1 ms of polling ahead, it would poll all the time
    const start = performance.now()
    const items = Array.from({ length: 2000 }, (_, i) => new Item(i, start + 5 + i * 0.2, log))
    for (const item of items) scheduler.schedule(item)
    while (log.length < items.length) await new Promise((r) => setTimeout(r, 20))
    assert.ok(scheduler.pollShare <= POLL_SHARE_MAX + 0.1, `polled ${scheduler.pollShare} of the time`)
    for (const item of log) assert.ok(item.ranAtMs >= item.dueMs - 0.02, `item ${item.name} ran early`)
    scheduler.stop()
  })

  test('re-keying an item moves it', async () => {
    const scheduler = new Scheduler(1)
    await scheduler.ready
    const log: Item[] = []
    const now = performance.now()
    const a = new Item(0, now + 5, log)
    const b = new Item(1, now + 10, log)
    scheduler.schedule(a)
    scheduler.schedule(b)
    a.dueMs = now + 15
    scheduler.schedule(a)
    while (log.length < 2) await new Promise((r) => setTimeout(r, 20))
    assert.deepEqual(
      log.map((i) => i.name),
      [1, 0],
    )
    scheduler.stop()
  })
})
