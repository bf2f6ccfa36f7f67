import { Arg, Ctx, Mutation, Resolver } from 'type-graphql';
import type { RequestContext } from '../../server/context';
import { badInput } from '../../shared/errors';
import type { RosterImportResult } from './import';
import { importRosterForRequest } from './roster.service';
import { ImportRosterInput, RosterImportResultType } from './roster.types';
import { openRosterZipBuffer, rosterFromFiles, type RosterSource } from './source';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The result as GraphQL shows it: lists where the service has maps. */
export function resultView(r: RosterImportResult): RosterImportResultType {
  return {
    importId: r.importId, applied: r.applied, dryRun: r.dryRun,
    files: Object.entries(r.rows).map(([file, rows]) => ({ file, rows })),
    diff: Object.entries(r.diff).map(([entity, d]) => ({ entity, ...d })),
    errors: r.errors, errorCount: r.errorCount, skipped: r.skipped, skippedCount: r.skippedCount, ignoredFiles: r.ignoredFiles,
  };
}

@Resolver()
export class RosterResolver {
  @Mutation(() => RosterImportResultType, {
    description: 'Imports a OneRoster 1.1 CSV set from the student information system (SERVICE credentials with roster:import). ' +
      'Idempotent by sourcedId; with dryRun, returns the changes and writes nothing.',
  })
  async importRoster(@Arg('input', () => ImportRosterInput) input: ImportRosterInput, @Ctx() ctx: RequestContext): Promise<RosterImportResultType> {
    let source: RosterSource;
    if ((input.files == null) === (input.zipBase64 == null)) throw badInput('Send either files or zipBase64, not both and not neither.', 'input');
    if (input.files) {
      const names = new Set<string>();
      for (const f of input.files) {
        if (!/^[A-Za-z0-9._-]{1,100}$/.test(f.name)) throw badInput(`"${f.name.slice(0, 100)}" is not a file name.`, 'files');
        if (names.has(f.name)) throw badInput(`${f.name} is sent twice.`, 'files');
        names.add(f.name);
      }
      source = rosterFromFiles(input.files, 'graphql');
    } else {
      const text = input.zipBase64!.replace(/\s+/g, '');
      if (!BASE64.test(text)) throw badInput('zipBase64 is not base64.', 'zipBase64');
      try {
        source = await openRosterZipBuffer(Buffer.from(text, 'base64'), 'graphql (zip)');
      } catch {
        throw badInput('zipBase64 is not a ZIP file.', 'zipBase64');
      }
    }
    const result = await importRosterForRequest(ctx, source, {
      dryRun: input.dryRun, importValidRows: input.importValidRows, limits: { maxFileBytes: ctx.config.importMaxFileBytes },
    });
    return resultView(result);
  }
}
