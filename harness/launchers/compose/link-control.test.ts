import assert from 'node:assert/strict'
import type { Server } from 'node:http'
import { test } from 'node:test'
import type { LinkShape, PartitionMode } from '../../../netem/shaper.ts'
import {
  controlAddress,
  ownedDirections,
  parseLinkCommand,
  serveLinkControl,
  sidecarLinkControl,
} from './link-control.ts'

/** A shaper that records what it was told, and fails on a link named `broken`. */
function recordingShaper(log: string[]) {
  const fail = (to: string) => {
    if (to === 'broken') throw new Error('tc: no such device')
  }
  return {
    partition: async (from: string, to: string, mode: PartitionMode) => {
      fail(to)
      log.push(`partition ${from}>${to} ${mode}`)
    },
    heal: async (from: string, to: string) => void log.push(`heal ${from}>${to}`),
    setLink: async (from: string, to: string, shape: LinkShape) =>
      void log.push(`setLink ${from}>${to} ${shape.delayMs}`),
  }
}

const shape: LinkShape = {
  delayMs: 130,
  jitterMs: 0,
  jitterDistribution: 'normal',
  lossRate: 0,
  bandwidthBytesPerSec: null,
}

test('link control: a command reaches the sidecars of both ends; each applies the directions its shaper holds', async () => {
  const atR0: string[] = []
  const atR1: string[] = []
  const servers: Server[] = []
  try {
    // r0 as a relay sidecar (both directions of its links), r1 as a kernel one (its egress only)
    servers.push(
      await serveLinkControl(
        '127.0.0.1',
        0,
        recordingShaper(atR0),
        ownedDirections([
          { from: 'r0', to: 'r1' },
          { from: 'r1', to: 'r0' },
          { from: 'r0', to: 'broken' },
        ]),
      ),
    )
    servers.push(
      await serveLinkControl(
        '127.0.0.1',
        0,
        recordingShaper(atR1),
        ownedDirections([{ from: 'r1', to: 'r0' }]),
      ),
    )
    // r2's sidecar shapes nothing (nothing to shape: no shaper at all)
    servers.push(await serveLinkControl('127.0.0.1', 0, null, new Set()))
    const control = sidecarLinkControl(
      new Map([
        ['r0', controlAddress(servers[0]!)],
        ['r1', controlAddress(servers[1]!)],
        ['r2', controlAddress(servers[2]!)],
        ['broken', controlAddress(servers[2]!)],
      ]),
    )
    try {
      await control.partition('r1', 'r0', 'hold')
      await control.setLink('r0', 'r1', shape)
      await control.heal('r1', 'r0')
      assert.deepEqual(atR0, ['partition r1>r0 hold', 'setLink r0>r1 130', 'heal r1>r0'])
      assert.deepEqual(atR1, ['partition r1>r0 hold', 'heal r1>r0'])
      // no sidecar holds r2 -> r0: the fault must not pass for done
      await assert.rejects(control.partition('r2', 'r0', 'reset'), /no sidecar shapes r2 -> r0 \(partition\)/)
      // a shaper's failure comes back with the sidecar's address
      await assert.rejects(
        control.partition('r0', 'broken', 'hold'),
        /the sidecar at 127\.0\.0\.1:\d+: partition: tc: no such device/,
      )
      await assert.rejects(control.heal('r0', 'r9'), /no sidecar for "r9"/)
    } finally {
      await control.close()
    }
  } finally {
    for (const s of servers) s.close()
  }
})

test('link command: bad fields are named', () => {
  assert.throws(
    () => parseLinkCommand({ op: 'cut', from: 'r0', to: 'r1' }),
    /op must be partition, heal or setLink/,
  )
  assert.throws(() => parseLinkCommand({ op: 'heal', from: 'r0' }), /to must be an endpoint id/)
  assert.throws(
    () => parseLinkCommand({ op: 'partition', from: 'r0', to: 'r1', mode: 'drop' }),
    /mode must be 'hold' or 'reset'/,
  )
  assert.throws(
    () => parseLinkCommand({ op: 'setLink', from: 'r0', to: 'r1', shape: { ...shape, delayMs: -1 } }),
    /setLink\(r0, r1\): shape\.delayMs/,
  )
  assert.deepEqual(parseLinkCommand({ op: 'heal', from: 'r0', to: 'r1' }), {
    op: 'heal',
    from: 'r0',
    to: 'r1',
  })
})
