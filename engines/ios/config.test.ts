import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConfigError } from '../core/engine.ts'
import { IOS_DEFAULTS, parseIosConfig } from './config.ts'

test('ios config: the deadline ceilings default above their floors, and a ceiling below its floor is an error naming it', () => {
  const cfg = parseIosConfig({})
  assert.deepEqual(cfg, IOS_DEFAULTS)
  assert.ok(
    cfg.retransmitMsMax >= cfg.retransmitMs && cfg.coordinatorTimeoutMsMax >= cfg.coordinatorTimeoutMs,
  )
  assert.throws(
    () => parseIosConfig({ retransmitMs: 500, retransmitMsMax: 400 }),
    (err: unknown) => err instanceof ConfigError && err.field === 'ios.retransmitMsMax',
  )
  assert.throws(
    () => parseIosConfig({ coordinatorTimeoutMsMax: 100 }),
    (err: unknown) => err instanceof ConfigError && err.field === 'ios.coordinatorTimeoutMsMax',
  )
})
