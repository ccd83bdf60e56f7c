/**
 * `consensus-bench serve`: the dashboard of every run under a results root, on 127.0.0.1 only.
 * A thin layer over startServer (dashboards/serve.ts): prints the URL, stops cleanly on SIGINT/SIGTERM.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Command } from 'commander'
import { startServer } from '../../dashboards/serve.ts'
import { invalidInput } from '../exit-codes.ts'
import { REPO_ROOT } from '../launchers/local.ts'

export function register(program: Command): void {
  program
    .command('serve')
    .description('serve a browsable index of every run, their reports and charts, on 127.0.0.1')
    .option('--results <dir>', 'the results root to list (default: results/)')
    .option('--port <n>', 'TCP port on 127.0.0.1; 0 picks a free one', '0')
    .action(async (flags: { results?: string; port: string }) => {
      const resultsRoot = flags.results ?? join(REPO_ROOT, 'results')
      if (!existsSync(resultsRoot))
        throw invalidInput(
          'serve',
          '--results',
          `no directory ${resultsRoot}`,
          'give the directory runs were written to',
        )
      const port = Number(flags.port)
      if (flags.port.trim() === '' || !Number.isInteger(port) || port < 0 || port > 65535)
        throw invalidInput(
          'serve',
          '--port',
          `'${flags.port}' is not a port`,
          'give a whole number 0..65535 (0 = any free port)',
        )
      let server: Awaited<ReturnType<typeof startServer>>
      try {
        server = await startServer({ resultsRoot, port })
      } catch (err: unknown) {
        if ((err as { code?: unknown }).code === 'EADDRINUSE')
          throw invalidInput(
            'serve',
            '--port',
            `port ${port} is in use on 127.0.0.1`,
            'choose another port, or 0',
          )
        throw err
      }
      process.stdout.write(`serving ${resultsRoot} at ${server.url} (Ctrl-C to stop)\n`)
      await new Promise<void>((done) => {
        const stop = (signal: NodeJS.Signals) => {
          process.stderr.write(`${signal}: stopping the server\n`)
          void server.close().then(done)
        }
        process.once('SIGINT', stop)
        process.once('SIGTERM', stop)
      })
    })
}
