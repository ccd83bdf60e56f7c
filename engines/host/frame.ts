/**
 * Peer wire format: a stream of frames, each a u32 big-endian payload length then the payload, a
 * msgpack value (msgpackr, plain maps as objects, no records extension so any decoder can read it).
 * The first frame on a connection is a hello naming the sender; every later frame is an engine message.
 */
import { Packr } from 'msgpackr'

/** A frame larger than this is malformed: it closes the connection (no peer sends one legitimately). */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024
export const FRAME_HEADER_BYTES = 4

const packr = new Packr({ useRecords: false, mapsAsObjects: true })

export function encodeValue(value: unknown): Buffer {
  return packr.pack(value)
}

export function decodeValue(bytes: Uint8Array): unknown {
  return packr.unpack(bytes)
}

export function encodeFrame(value: unknown): Buffer {
  const payload = encodeValue(value)
  if (payload.length > MAX_FRAME_BYTES) {
    throw new RangeError(`frame of ${payload.length} bytes is over the ${MAX_FRAME_BYTES}-byte limit`)
  }
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length)
  frame.writeUInt32BE(payload.length, 0)
  payload.copy(frame, FRAME_HEADER_BYTES)
  return frame
}

export class FrameError extends Error {
  readonly code = 'ERR_BAD_FRAME'
  constructor(message: string) {
    super(message)
    this.name = 'FrameError'
  }
}

export interface HelloFrame {
  readonly hello: string
}

export function helloFrame(from: string): HelloFrame {
  return { hello: from }
}

export function isHello(value: unknown): value is HelloFrame {
  return typeof value === 'object' && value !== null && typeof (value as HelloFrame).hello === 'string'
}

/**
 * Splits a byte stream into decoded frames. Throws FrameError on a zero or oversize length or an
 * undecodable payload; after that the decoder is unusable and the connection must be closed.
 */
export class FrameDecoder {
  /** received bytes not yet decoded, kept as chunks so a large frame is copied once, not per chunk */
  private chunks: Buffer[] = []
  private bufferedBytes = 0
  /** bytes needed before parsing can make progress: a header, or a header and its payload */
  private neededBytes = FRAME_HEADER_BYTES
  private failed = false

  constructor(private readonly maxFrameBytes = MAX_FRAME_BYTES) {}

  /** Feeds bytes; returns each complete frame's decoded value and its size on the wire. */
  push(chunk: Buffer): Array<{ value: unknown; bytes: number }> {
    if (this.failed) throw new FrameError('decoder already failed')
    this.chunks.push(chunk)
    this.bufferedBytes += chunk.length
    if (this.bufferedBytes < this.neededBytes) return []
    const buffer = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.bufferedBytes)
    const frames: Array<{ value: unknown; bytes: number }> = []
    let offset = 0
    this.neededBytes = FRAME_HEADER_BYTES
    while (buffer.length - offset >= FRAME_HEADER_BYTES) {
      const length = buffer.readUInt32BE(offset)
      if (length === 0 || length > this.maxFrameBytes) {
        this.failed = true
        throw new FrameError(`frame length ${length} outside 1..${this.maxFrameBytes}`)
      }
      const end = offset + FRAME_HEADER_BYTES + length
      if (buffer.length < end) {
        this.neededBytes = FRAME_HEADER_BYTES + length
        break
      }
      let value: unknown
      try {
        value = decodeValue(buffer.subarray(offset + FRAME_HEADER_BYTES, end))
      } catch (err) {
        this.failed = true
        throw new FrameError(`undecodable frame: ${(err as Error).message}`)
      }
      frames.push({ value, bytes: FRAME_HEADER_BYTES + length })
      offset = end
    }
    // Copy the tail so a retained subarray does not pin a large earlier chunk.
    const rest = buffer.length - offset
    this.chunks = rest === 0 ? [] : [offset === 0 ? buffer : Buffer.from(buffer.subarray(offset))]
    this.bufferedBytes = rest
    return frames
  }

  /** Bytes of an incomplete frame waiting for more input. */
  get pendingBytes(): number {
    return this.bufferedBytes
  }
}
