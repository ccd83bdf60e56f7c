/** EPaxos scenarios in the interaction language (engines/sim/interaction/README.md). */
import { interactionTests } from '../sim/interaction/index.ts'
import { epaxosEngine } from './index.ts'

interactionTests(epaxosEngine, new URL('./testdata/interaction', import.meta.url).pathname)
