/** Fast Paxos scenarios in the interaction language (engines/interaction/README.md). */
import { interactionTests } from '../interaction/index.ts'
import { fastpaxosEngine } from './index.ts'

interactionTests(fastpaxosEngine, new URL('./testdata/interaction', import.meta.url).pathname)
