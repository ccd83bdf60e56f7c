/** VR scenarios in the interaction language (engines/interaction/README.md); golden files in testdata/interaction. */
import { interactionTests } from '../interaction/index.ts'
import { vrEngine } from './index.ts'

interactionTests(vrEngine, new URL('./testdata/interaction', import.meta.url).pathname)
