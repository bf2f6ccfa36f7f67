import type { Command } from 'commander' with { 'resolution-mode': 'import' };
import { runMigrations } from '../../db/orm';
import { output, withDatabase, type CommonOptions } from '../runtime';

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('Apply pending database migrations and print their names (or "up to date").')
    .option('--json', 'print one JSON object: {"database", "applied": [names], "upToDate"}')
    .action(async (opts: CommonOptions) => {
      await withDatabase({ migrate: false }, async ({ db }) => {
        const applied = await runMigrations(db.owner);
        output(opts, { database: db.description, applied, upToDate: applied.length === 0 }, () =>
          applied.length
            ? [`Applied ${applied.length} migration${applied.length === 1 ? '' : 's'} to ${db.description}:`, ...applied.map((n) => `  ${n}`)].join('\n')
            : `The database is up to date (${db.description}): no pending migrations.`,
        );
      });
    });
}
