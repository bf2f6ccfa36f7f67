import 'reflect-metadata';
import type { Command } from 'commander' with { 'resolution-mode': 'import' };
import { GraphQLError } from 'graphql';
import { DriverException } from '@mikro-orm/core';
import { ConfigError } from '../config/config';
import { AppError } from '../shared/errors';
import { CliError } from './runtime';
import { registerMigrate } from './commands/migrate';
import { registerBootstrap } from './commands/bootstrap';
import { registerSeed } from './commands/seed';
import { registerToken } from './commands/token';
import { registerAudit } from './commands/audit';
import { registerExport } from './commands/export';
import { registerJobs } from './commands/jobs';
import { registerImport } from './commands/import';

const EXIT_USAGE = 2;

/** The `custos` command line. Exit codes: 0 ok, 1 failed (bad input, unknown tenant...), 2 usage or configuration error. */
async function buildProgram(): Promise<Command> {
  // commander is published as ESM only; this file is CommonJS.
  const { Command } = await import('commander');
  const program = new Command('custos')
    .showSuggestionAfterError()
    .description('Administer a Custos installation: migrations, tenants, demo data and bearer tokens.\n' +
      'Uses DATABASE_URL, or the embedded PostgreSQL in CUSTOS_DATA_DIR (attaching to a running server\'s).')
    // Set before the subcommands are added: they inherit both.
    .exitOverride()
    .configureOutput({ outputError: (message, write) => write(`custos: ${message.replace(/^error: /, '')}`) });
  registerMigrate(program);
  registerBootstrap(program);
  registerSeed(program);
  registerToken(program);
  registerAudit(program);
  registerExport(program);
  registerJobs(program);
  registerImport(program);
  program.addHelpText('after', '\nExit codes: 0 success, 1 the command failed, 2 usage or configuration error.\n' +
    'Every command accepts --json: one JSON object on stdout (on failure: {"error": {"code", "message"}}).');
  return program;
}

interface Failure {
  exitCode: number;
  code: string;
  message: string;
}

function describe(err: unknown): Failure {
  if (err instanceof ConfigError) return { exitCode: 2, code: 'CONFIG', message: err.message };
  if (err instanceof CliError) return { exitCode: err.exitCode, code: err.code, message: err.message };
  if (err instanceof AppError || err instanceof GraphQLError) {
    return { exitCode: 1, code: String(err.extensions?.code ?? 'ERROR'), message: err.message };
  }
  if (err instanceof DriverException) {
    // The driver's message starts with the SQL and its values, and its detail quotes row data: neither is printed.
    const reason = err.message.split('\n')[0].split(' - ').pop();
    const constraint = (err as { constraint?: string }).constraint;
    return { exitCode: 1, code: 'DATABASE', message: `database error: ${reason}${constraint ? ` (constraint ${constraint})` : ''}` };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { exitCode: 1, code: 'INTERNAL', message: `unexpected error: ${message}` };
}

async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  let program: Command;
  try {
    program = await buildProgram();
    await program.parseAsync(argv, { from: 'node' });
    // A command that printed its result but did not succeed (an import refused for its errors) sets exitCode.
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    const commander = err as { code?: string; exitCode?: number };
    if (typeof commander.code === 'string' && commander.code.startsWith('commander.')) {
      // commander has already printed its message (or the help) on stderr.
      if (commander.exitCode === 0) return 0;
      if (json) process.stdout.write(`${JSON.stringify({ error: { code: 'USAGE', message: (err as Error).message.replace(/^error: /, '') } })}\n`);
      return EXIT_USAGE;
    }
    const failure = describe(err);
    process.stderr.write(`custos: ${failure.message}\n`);
    if (failure.code === 'INTERNAL' && err instanceof Error && /^(debug|trace)$/.test(process.env.LOG_LEVEL ?? '')) {
      process.stderr.write(`${err.stack}\n`);
    }
    if (json) process.stdout.write(`${JSON.stringify({ error: { code: failure.code, message: failure.message } })}\n`);
    return failure.exitCode;
  }
}

main(process.argv).then((code) => process.exit(code));
