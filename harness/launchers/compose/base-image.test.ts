import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseLdd } from './base-image.ts'

test('parseLdd keeps resolved libraries and the loader, and skips the vdso', () => {
  const out = [
    '\tlinux-vdso.so.1 (0x00007ffd)',
    '\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f8b)',
    '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f8b)',
    '\t/lib64/ld-linux-x86-64.so.2 (0x00007f8b)',
    '\tlibmissing.so.1 => not found',
  ].join('\n')
  assert.deepEqual(parseLdd(out), [
    '/lib/x86_64-linux-gnu/libstdc++.so.6',
    '/lib/x86_64-linux-gnu/libc.so.6',
    '/lib64/ld-linux-x86-64.so.2',
  ])
})
