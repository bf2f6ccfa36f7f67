// Runs the export job once in a process of its own, as `custos jobs run` or a server instance would,
// so its wall time and peak RSS are the export's and not the seeding's. Started by export.ts with
// fork(); reads the database URL and the signing key from the environment, answers with process.send.
import 'reflect-metadata';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { connectDatabase } from '../src/db/database';
import { signingKeyFromPem } from '../src/audit/checkpoint';
import { JobRunner, type RunSummary } from '../src/jobs/queue';
import { jobHandlers } from '../src/jobs/handlers';
import { buildBareSchema } from '../src/schema/build';
import { benchConfig } from './support';

export interface ExportWorkerResult {
  summary: RunSummary;
  wallSeconds: number;
  /** Resident memory once connected and the schema built, before the job ran. */
  rssBeforeBytes: number;
  /** The process's peak resident memory over its life (getrusage), which the job's run sets. */
  peakRssBytes: number;
  /** Highest RSS sampled while the job ran. */
  sampledPeakRssBytes: number;
}

const SAMPLE_MS = 5;

async function main(): Promise<ExportWorkerResult> {
  const url = process.env.EXPORT_BENCH_DATABASE_URL;
  const pem = process.env.EXPORT_BENCH_SIGNING_KEY;
  if (!url || !pem) throw new Error('EXPORT_BENCH_DATABASE_URL and EXPORT_BENCH_SIGNING_KEY must be set');
  const log = pino({ level: 'silent' });
  const database = await connectDatabase(url, benchConfig({ CUSTOS_DB_POOL_MAX: '2' }), log, { migrate: false });
  try {
    // A running instance has built its schema long before; the export reads the classification registry from it.
    await buildBareSchema();
    const runner = new JobRunner({
      owner: database.owner, work: database.app!, handlers: jobHandlers, log, signingKey: signingKeyFromPem(pem),
    });
    const rssBeforeBytes = process.memoryUsage.rss();
    let sampled = rssBeforeBytes;
    const sampler = setInterval(() => { sampled = Math.max(sampled, process.memoryUsage.rss()); }, SAMPLE_MS);
    const t = performance.now();
    let summary: RunSummary;
    try {
      summary = await runner.runDue();
    } finally {
      clearInterval(sampler);
    }
    const wallSeconds = (performance.now() - t) / 1000;
    return {
      summary, wallSeconds, rssBeforeBytes, peakRssBytes: process.resourceUsage().maxRSS * 1024,
      sampledPeakRssBytes: Math.max(sampled, process.memoryUsage.rss()),
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
