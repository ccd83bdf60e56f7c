import assert from 'node:assert/strict'
import { test } from 'node:test'
import { encodeFrame, FRAME_HEADER_BYTES, FrameDecoder, FrameError, helloFrame, isHello } from './frame.ts'

test('frames round-trip, whole or split at every byte', () => {
  const values = [
    helloFrame('r1'),
    { type: 'accept', slot: 7, cmd: { key: 'k', value: 'ü€' } },
    { type: 'x', n: null },
  ]
  const stream = Buffer.concat(values.map(encodeFrame))
  assert.deepEqual(
    new FrameDecoder().push(stream).map((f) => f.value),
    values,
  )
  const decoder = new FrameDecoder()
  const decoded: unknown[] = []
  for (let i = 0; i < stream.length; i++)
    decoded.push(...decoder.push(stream.subarray(i, i + 1)).map((f) => f.value))
  assert.deepEqual(decoded, values)
  assert.equal(decoder.pendingBytes, 0)
  assert.ok(isHello(decoded[0]))
  assert.ok(!isHello(decoded[1]))
})

test('frame sizes include the header', () => {
  const frame = encodeFrame({ type: 'p' })
  const [decoded] = new FrameDecoder().push(frame)
  assert.equal(decoded?.bytes, frame.length)
  assert.equal(frame.readUInt32BE(0), frame.length - FRAME_HEADER_BYTES)
})

test('a zero or oversize length prefix is a FrameError, and the decoder stays failed', () => {
  const huge = Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3])
  const decoder = new FrameDecoder(1024)
  assert.throws(() => decoder.push(huge), FrameError)
  assert.throws(() => decoder.push(encodeFrame({ type: 'ok' })), FrameError)
  assert.throws(() => new FrameDecoder().push(Buffer.from([0, 0, 0, 0])), /outside/)
  const justOver = Buffer.alloc(4)
  justOver.writeUInt32BE(1025)
  assert.throws(() => new FrameDecoder(1024).push(justOver), /1025/)
})

test('an undecodable payload is a FrameError', () => {
  const payload = Buffer.from([0x92, 0x01]) // an array of 2 with one element: truncated msgpack
  const frame = Buffer.alloc(4 + payload.length)
  frame.writeUInt32BE(payload.length)
  payload.copy(frame, 4)
  assert.throws(() => new FrameDecoder().push(frame), FrameError)
})

test('a large frame in many small chunks decodes once it is complete', () => {
  const value = {
    type: 'catchup',
    entries: Array.from({ length: 2000 }, (_, i) => ({ slot: i, v: 'x'.repeat(100) })),
  }
  const frame = encodeFrame(value)
  const decoder = new FrameDecoder()
  const decoded: unknown[] = []
  for (let i = 0; i < frame.length; i += 1000) {
    decoded.push(...decoder.push(frame.subarray(i, i + 1000)).map((f) => f.value))
    if (i + 1000 < frame.length) assert.equal(decoded.length, 0)
  }
  assert.deepEqual(decoded, [value])
  assert.equal(decoder.pendingBytes, 0)
})
