/** Ios scenarios in the interaction language (engines/sim/interaction/README.md). */
import { interactionTests } from '../sim/interaction/index.ts'
import { iosEngine } from './index.ts'

interactionTests(iosEngine, new URL('./testdata/interaction', import.meta.url).pathname)
