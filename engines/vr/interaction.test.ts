/** VR scenarios in the interaction language (engines/sim/interaction/README.md); golden files in testdata/interaction. */
import { interactionTests } from '../sim/interaction/index.ts'
import { vrEngine } from './index.ts'

interactionTests(vrEngine, new URL('./testdata/interaction', import.meta.url).pathname)
