/** Classic Paxos scenarios in the interaction language (engines/sim/interaction/README.md). */
import { interactionTests } from '../sim/interaction/index.ts'
import { paxosEngine } from './index.ts'

interactionTests(paxosEngine, new URL('./testdata/interaction', import.meta.url).pathname)
