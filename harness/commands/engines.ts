/** `consensus-bench engines`: the registered engines, their leadership kind and description. */
import Table from 'cli-table3'
import type { Command } from 'commander'
import { engineNames, getEngine } from '../../engines/registry.ts'

export interface EngineListing {
  name: string
  leadership: string
  description: string
}

export function listEngines(): EngineListing[] {
  return engineNames().map((name) => {
    const engine = getEngine(name)
    return { name, leadership: engine.leadership, description: engine.description }
  })
}

export function register(program: Command): void {
  program
    .command('engines')
    .description('list the engines this build can run')
    .option('--json', 'print the list as JSON')
    .action((flags: { json?: boolean }) => {
      const engines = listEngines()
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(engines, null, 2)}\n`)
        return
      }
      const table = new Table({
        head: ['engine', 'leadership', 'description'],
        style: { head: [], border: [] },
      })
      for (const e of engines) table.push([e.name, e.leadership, e.description])
      process.stdout.write(`${table.toString()}\n`)
    })
}
