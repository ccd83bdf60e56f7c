/** EPaxos scenarios in the interaction language (engines/interaction/README.md). */
import { interactionTests } from '../interaction/index.ts'
import { epaxosEngine } from './index.ts'

interactionTests(epaxosEngine, new URL('./testdata/interaction', import.meta.url).pathname)
