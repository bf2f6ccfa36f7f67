import type { Command } from 'commander' with { 'resolution-mode': 'import' };
import { importRosterAsSystem } from '../../modules/roster/roster.service';
import { resultView } from '../../modules/roster/roster.resolver';
import { openRosterPath } from '../../modules/roster/source';
import { CliError, findTenant, output, table, withDatabase, type CommonOptions } from '../runtime';

interface ImportOptions extends CommonOptions {
  tenant: string;
  dryRun?: boolean;
  importValidRows?: boolean;
}

const EXIT_HELP = `
Exit codes: 0 imported (or, with --dry-run, nothing wrong found); 1 nothing written because of errors (listed
with file, line and code), or the command failed; 2 usage error. With --import-valid-rows, rows with errors
are left out and the rest is imported (exit 0, the errors still listed).`;

export function registerImport(program: Command): void {
  const imports = program.command('import').description('Import data from other systems.');
  imports
    .command('oneroster <path>')
    .description('Import a OneRoster 1.1 CSV set (a folder or a ZIP: manifest, orgs, users, courses, classes, enrollments) into a\n' +
      'tenant. Idempotent by sourcedId: importing the same files again changes nothing. Writes are access events (purpose sis.sync).')
    .requiredOption('--tenant <slug>', 'the tenant to import into')
    .option('--dry-run', 'print what would change (created / updated / deactivated per entity), write nothing')
    .option('--import-valid-rows', 'import the valid rows even when some rows have errors')
    .option('--json', 'print the result as one JSON object')
    .addHelpText('after', EXIT_HELP)
    .action(async (target: string, opts: ImportOptions) => {
      const source = await openRosterPath(target).catch((err: unknown) => {
        throw new CliError(`Cannot read ${target}: ${err instanceof Error ? err.message : String(err)}`, 1, 'BAD_USER_INPUT');
      });
      const result = await withDatabase({ migrate: true, application: true }, async ({ db, em, config }) => {
        const tenant = await findTenant(em, opts.tenant);
        return importRosterAsSystem(db.app!, tenant.id, source, {
          dryRun: opts.dryRun === true, importValidRows: opts.importValidRows === true, limits: { maxFileBytes: config.importMaxFileBytes },
        });
      });
      const view = resultView(result);
      output(opts, view, () => {
        const lines = [
          `${result.dryRun ? 'Dry run of' : 'Import of'} ${result.source}: ${result.applied ? `applied (import ${result.importId})` : 'nothing written'}.`,
          '',
          table(['entity', 'created', 'updated', 'deactivated', 'unchanged', 'skipped'],
            view.diff.map((d) => [d.entity, String(d.created), String(d.updated), String(d.deactivated), String(d.unchanged), String(d.skipped)])),
        ];
        if (result.errorCount) {
          lines.push('', `${result.errorCount} error(s)${result.errorCount > result.errors.length ? ` (first ${result.errors.length})` : ''}:`);
          for (const e of result.errors) lines.push(`  ${e.file}${e.line !== null ? `:${e.line}` : ''}  ${e.code}  ${e.message}`);
        }
        if (result.skippedCount) {
          lines.push('', `${result.skippedCount} row(s) skipped on purpose:`);
          for (const s of result.skipped.slice(0, 20)) lines.push(`  ${s.file}:${s.line}  ${s.sourcedId}  ${s.reason}`);
          if (result.skippedCount > 20) lines.push(`  … (--json lists up to ${result.skipped.length})`);
        }
        if (result.ignoredFiles.length) {
          lines.push('', 'Ignored files:');
          for (const f of result.ignoredFiles) lines.push(`  ${f.name}: ${f.reason}`);
        }
        return lines.join('\n');
      });
      if (!result.applied && result.errorCount > 0) process.exitCode = 1;
    });
}
