// Runs one OneRoster import in a process of its own, as `custos import oneroster` would, so its wall
// time and peak RSS are the import's. Started by import.ts with fork(); answers with process.send.
import 'reflect-metadata';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { connectDatabase } from '../src/db/database';
import { importRosterAsSystem } from '../src/modules/roster/roster.service';
import { openRosterPath } from '../src/modules/roster/source';
import type { RosterImportResult } from '../src/modules/roster/import';
import { benchConfig } from './support';

export interface ImportWorkerResult {
  wallSeconds: number;
  rssBeforeBytes: number;
  /** The process's peak resident memory over its life (getrusage), which the import sets. */
  peakRssBytes: number;
  applied: boolean;
  errorCount: number;
  diff: RosterImportResult['diff'];
}

async function main(): Promise<ImportWorkerResult> {
  const url = process.env.IMPORT_BENCH_DATABASE_URL;
  const tenantId = process.env.IMPORT_BENCH_TENANT;
  const dir = process.env.IMPORT_BENCH_DIR;
  if (!url || !tenantId || !dir) throw new Error('IMPORT_BENCH_DATABASE_URL, IMPORT_BENCH_TENANT and IMPORT_BENCH_DIR must be set');
  const database = await connectDatabase(url, benchConfig({ CUSTOS_DB_POOL_MAX: '2' }), pino({ level: 'silent' }), { migrate: false });
  try {
    const rssBeforeBytes = process.memoryUsage.rss();
    const t = performance.now();
    const result = await importRosterAsSystem(database.app!, tenantId, await openRosterPath(dir), { dryRun: false, importValidRows: false });
    return {
      wallSeconds: (performance.now() - t) / 1000, rssBeforeBytes, peakRssBytes: process.resourceUsage().maxRSS * 1024,
      applied: result.applied, errorCount: result.errorCount, diff: result.diff,
    };
  } finally {
    await database.close();
  }
}

const answer = (message: unknown, code: number) => process.send!(message, undefined, {}, () => process.exit(code));
main().then(
  (result) => answer({ ok: true, result }, 0),
  (err: unknown) => answer({ ok: false, error: err instanceof Error ? err.stack ?? err.message : String(err) }, 1),
);
