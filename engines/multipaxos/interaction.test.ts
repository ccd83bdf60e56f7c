/** Multi-Paxos scenarios in the interaction language (engines/interaction/README.md). */
import { interactionTests } from '../interaction/index.ts'
import { multipaxosEngine } from './index.ts'

interactionTests(multipaxosEngine, new URL('./testdata/interaction', import.meta.url).pathname)
