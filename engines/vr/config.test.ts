import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ConfigError } from '../core/engine.ts'
import { parseVrConfig, VR_DEFAULTS } from './config.ts'

describe('vr config', () => {
  it('fills defaults and keeps given fields', () => {
    assert.deepEqual(parseVrConfig(undefined), VR_DEFAULTS)
    assert.equal(parseVrConfig({ initialView: 2, persistence: 'volatile' }).persistence, 'volatile')
  })

  it('rejects unknown, out-of-range and inconsistent fields, naming the field and the fix', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ viewChangeTimeoutMs: 1 }, /^vr\.viewChangeTimeoutMs: unknown config field .*viewChangeTimeoutMsMin/],
      [
        { viewChangeTimeoutMsMin: 900, viewChangeTimeoutMsMax: 800 },
        /^vr\.viewChangeTimeoutMsMin: .*must not exceed/,
      ],
      [{ commitIntervalMs: 600 }, /^vr\.commitIntervalMs: .*below viewChangeTimeoutMsMin/],
      [{ persistence: 'disk' }, /^vr\.persistence: /],
      [{ maxInflightOps: 0 }, /^vr\.maxInflightOps: /],
      [{ initialView: -1 }, /^vr\.initialView: /],
      [[], /^vr: config must be an object/],
    ]
    for (const [raw, pattern] of cases) {
      assert.throws(
        () => parseVrConfig(raw),
        (err: unknown) => err instanceof ConfigError && pattern.test(err.message),
        JSON.stringify(raw),
      )
    }
  })
})
