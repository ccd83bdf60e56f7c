/**
 * A driver child process (load.ts forks it when a run asks for several drivers). Over the IPC channel:
 * it says {type:'ready'}, receives {type:'run', spec}, reports {type:'progress', completed} about four
 * times a second, and answers {type:'result', result}; {type:'stop'} stops issuing new commands.
 * It exits when the parent goes away, so an interrupted harness leaves no driver behind.
 */

import { runDriver } from './driver.ts'
import type { DriverSpec } from './driver-spec.ts'

type ParentMessage = { type: 'run'; spec: DriverSpec } | { type: 'stop' }

const send = (message: unknown) =>
  new Promise<void>((resolve, reject) =>
    process.send?.(message, undefined, {}, (err) => (err ? reject(err) : resolve())),
  )

if (process.send === undefined) {
  process.stderr.write(
    'workloads/driver-main.ts is a driver child process: load.ts forks it with an IPC channel\n',
  )
  process.exit(2)
}

const stop = new AbortController()
let completed = 0
let reported = 0
process.on('disconnect', () => process.exit(1))
process.on('message', (message: ParentMessage) => {
  if (message.type === 'stop') {
    stop.abort()
    return
  }
  const ticker = setInterval(() => {
    if (completed !== reported) {
      void send({ type: 'progress', completed: completed - reported })
      reported = completed
    }
  }, 250)
  runDriver(message.spec, { signal: stop.signal, onComplete: () => completed++ })
    .then(async (result) => {
      clearInterval(ticker)
      await send({ type: 'result', result })
      process.disconnect()
    })
    .catch((err: unknown) => {
      process.stderr.write(`driver ${message.spec.driverIndex}: ${(err as Error).stack ?? String(err)}\n`)
      process.exit(1)
    })
})
void send({ type: 'ready' })
