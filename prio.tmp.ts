import { setPriority } from 'node:os'
import { calibrateNetwork } from './netem/calibrate.ts'
import { calibrateTopology, calibrationText } from './netem/calibration.ts'
import { type RelayNetwork, relayShaper } from './netem/relay/index.ts'
import type { Shaper } from './netem/shaper.ts'
import { loadTopology } from './netem/topology.ts'

const prio = Number(process.argv[2] ?? 0)
if (prio !== 0) setPriority(0, prio)
const shaper: Shaper = {
  kind: 'relay',
  apply: async (spec) => {
    const n = (await relayShaper.apply(spec)) as RelayNetwork
    if (prio !== 0) setPriority(n.pid, prio)
    return n
  },
}
const t = await calibrateTopology(loadTopology('epaxos-5'), shaper, calibrateNetwork, 100)
console.log(
  calibrationText(t).split('\n').slice(-2).join(' '),
  'mean err',
  (t.links.reduce((a, l) => a + l.errorMs, 0) / t.links.length).toFixed(2),
)
