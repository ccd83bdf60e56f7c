/** Fast Paxos scenarios in the interaction language (engines/sim/interaction/README.md). */
import { interactionTests } from '../sim/interaction/index.ts'
import { fastpaxosEngine } from './index.ts'

interactionTests(fastpaxosEngine, new URL('./testdata/interaction', import.meta.url).pathname)
