/** Ios scenarios in the interaction language (engines/interaction/README.md). */
import { interactionTests } from '../interaction/index.ts'
import { iosEngine } from './index.ts'

interactionTests(iosEngine, new URL('./testdata/interaction', import.meta.url).pathname)
