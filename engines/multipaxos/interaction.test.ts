/** Multi-Paxos scenarios in the interaction language (engines/sim/interaction/README.md). */
import { interactionTests } from '../sim/interaction/index.ts'
import { multipaxosEngine } from './index.ts'

interactionTests(multipaxosEngine, new URL('./testdata/interaction', import.meta.url).pathname)
