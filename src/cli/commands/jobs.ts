import type { Command } from 'commander' with { 'resolution-mode': 'import' };
import { JobRunner } from '../../jobs/queue';
import { jobHandlers } from '../../jobs/handlers';
import { loadSigningKey } from '../../audit/signing-key';
import { publishSigningKey } from '../../audit/sealer';
import { loadLtiPlatform } from '../../modules/lti/lti.key';
import { output, wholeNumber, withDatabase, type CommonOptions } from '../runtime';

interface RunOptions extends CommonOptions {
  limit?: number;
}

export function registerJobs(program: Command): void {
  const jobs = program.command('jobs').description('Background jobs (data-subject requests and retention).');
  jobs
    .command('run')
    .description('Run every background job that is due now, once, then exit. Safe while servers run: each job is claimed\n' +
      'by one worker only (FOR UPDATE SKIP LOCKED). A failed job is retried later with backoff, like on a server.')
    .option('--limit <n>', 'run at most this many jobs', wholeNumber('--limit', 1, 1_000_000))
    .option('--json', 'print one JSON object: {"done", "retried", "dead"}')
    .action(async (opts: RunOptions) => {
      await withDatabase({ migrate: true, application: true }, async ({ db, log, config, em }) => {
        // Jobs sign what they issue (exports, erasure receipts) with the key the servers use.
        const signingKey = await loadSigningKey({ keyFile: config.auditSigningKeyFile, dataDir: config.dataDir });
        await publishSigningKey(em, signingKey);
        // Notices to tools are signed with the key tools already trust from the JWKS.
        const lti = await loadLtiPlatform(config);
        const runner = new JobRunner({ owner: db.owner, work: db.app!, handlers: jobHandlers, log, signingKey, lti });
        const summary = await runner.runDue(opts.limit);
        output(opts, summary, () =>
          `Ran ${summary.done + summary.retried + summary.dead} job(s): ${summary.done} done, ${summary.retried} to be retried, ${summary.dead} gave up.`);
      });
    });
}
