import { randomUUID } from 'node:crypto';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { DriverException } from '@mikro-orm/core';
import { bindTenant } from '../server/transaction-plugin';
import type { Logger } from '../shared/logger';
import type { SigningKey } from '../audit/checkpoint';
import type { LtiPlatform } from '../modules/lti/lti.key';

/**
 * Background work on PostgreSQL, safe with several instances:
 * - a job is enqueued on the caller's transaction, so it exists exactly when the change that needs it
 *   committed (an approval and its processing job commit together);
 * - a worker claims one due job at a time with FOR UPDATE SKIP LOCKED and a lease (two workers never
 *   hold the same job; a worker that dies loses its lease and the job is claimed again);
 * - the handler runs in one transaction bound to the job's tenant, on the same connection role as
 *   requests (row-level security isolates tenants; restricted people's rows stay visible to the
 *   system, which must still export, rectify or erase them), and the job is marked done inside that transaction: done
 *   work and its "done" mark commit together;
 * - a failure is retried with exponential backoff; after `max_attempts` the job is DEAD and its
 *   handler's `onDead` runs (a data-subject request becomes FAILED, retryable by an admin).
 * Handlers must be idempotent: a crash after the work but before the commit runs it again.
 */

export interface JobSpec {
  tenantId: string;
  kind: string;
  payload?: Record<string, unknown>;
  /** Not before this time (default: now). */
  runAt?: Date;
  /** While a pending job has this key, enqueueing another with it does nothing. */
  dedupeKey?: string;
  maxAttempts?: number;
}

export interface ClaimedJob {
  id: string;
  tenantId: string;
  kind: string;
  payload: Record<string, unknown>;
  /** 1 on the first run. */
  attempt: number;
  maxAttempts: number;
}

export interface JobRun {
  /** The job's transaction, bound to its tenant. */
  em: EntityManager;
  now: Date;
  log: Logger;
  /** Signs what jobs issue (erasure receipts, exports); null where no key was given. */
  signingKey: SigningKey | null;
  /** The LTI platform notices to tools are sent (and signed) as; null where none was given. */
  lti: LtiPlatform | null;
}

/**
 * What a run asks for next: nothing (done), or to run again at a time — the next step of long work
 * (each step commits on its own, so a crash loses at most the step in progress) or a postponement.
 */
export type JobOutcome = void | { again: Date };

export interface JobHandler {
  run(job: ClaimedJob, run: JobRun): Promise<JobOutcome>;
  /** After the last attempt failed, in a transaction of its own (e.g. record the failure where people see it). */
  onDead?(job: ClaimedJob, run: JobRun, error: string): Promise<void>;
}

export type JobHandlers = Readonly<Record<string, JobHandler>>;

/** Enqueues a job on `em`'s transaction. */
export async function enqueueJob(em: EntityManager, spec: JobSpec): Promise<void> {
  await em.execute(
    `insert into job (id, tenant_id, kind, payload, dedupe_key, run_at, max_attempts)
     values (?, ?, ?, ?::jsonb, ?, ?, ?)
     on conflict (dedupe_key) where finished_at is null and dedupe_key is not null do nothing`,
    [randomUUID(), spec.tenantId, spec.kind, JSON.stringify(spec.payload ?? {}), spec.dedupeKey ?? null,
      (spec.runAt ?? new Date()).toISOString(), spec.maxAttempts ?? 8],
  );
}

/** Delay before the next attempt: 5 s, 10 s, 20 s … at most an hour, with ±20 % jitter so retries spread out. */
export function backoffMs(attempt: number): number {
  const base = Math.min(5_000 * 2 ** Math.max(0, attempt - 1), 3_600_000);
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

/** What is kept of an error: never the SQL or its values (driver messages quote both). */
export function describeJobError(err: unknown): string {
  if (err instanceof DriverException) {
    const reason = err.message.split('\n')[0].split(' - ').pop() ?? 'database error';
    const constraint = (err as { constraint?: string }).constraint;
    return `database error: ${reason}${constraint ? ` (constraint ${constraint})` : ''}`.slice(0, 500);
  }
  return (err instanceof Error ? err.message : String(err)).slice(0, 500);
}

export interface RunSummary {
  done: number;
  retried: number;
  dead: number;
}

/** Stops `runDue` from looping forever on a job that keeps asking to run again right away. */
const MAX_RUNS_PER_DRAIN = 100_000;

export interface JobRunnerOptions {
  /** Claims across tenants (the owner connection; the job table is tenant-isolated for the application role). */
  owner: MikroORM;
  /** Runs handlers (the application connection, so row-level security binds them). */
  work: MikroORM;
  handlers: JobHandlers;
  log: Logger;
  signingKey?: SigningKey | null;
  lti?: LtiPlatform | null;
  leaseMs?: number;
  /** For tests: what "now" is when claiming. */
  now?: () => Date;
}

interface JobRow {
  id: string;
  tenant_id: string;
  kind: string;
  payload: Record<string, unknown>;
  attempts: number;
  max_attempts: number;
}

/** Claims and runs due jobs; `start` polls, `runDue` drains once (the CLI's `custos jobs run`). */
export class JobRunner {
  readonly workerId = `worker-${randomUUID()}`;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(private readonly opts: JobRunnerOptions) {}

  private get now(): Date {
    return this.opts.now?.() ?? new Date();
  }

  /** Claims the next due job, or null. */
  async claim(): Promise<ClaimedJob | null> {
    const leaseMs = this.opts.leaseMs ?? 5 * 60_000;
    const now = this.now;
    const rows = await this.opts.owner.em.fork().getConnection().execute<JobRow[]>(
      `update job j set attempts = j.attempts + 1, locked_by = ?, locked_until = ?::timestamptz + make_interval(secs => ?)
        where j.id = (select id from job
                       where finished_at is null and run_at <= ?::timestamptz and (locked_until is null or locked_until < ?::timestamptz)
                       order by run_at, id
                       for update skip locked
                       limit 1)
        returning j.id, j.tenant_id, j.kind, j.payload, j.attempts, j.max_attempts`,
      [this.workerId, now.toISOString(), leaseMs / 1000, now.toISOString(), now.toISOString()],
    );
    const r = rows[0];
    return r ? { id: r.id, tenantId: r.tenant_id, kind: r.kind, payload: r.payload, attempt: r.attempts, maxAttempts: r.max_attempts } : null;
  }

  private async inTenant<T>(tenantId: string, fn: (em: EntityManager) => Promise<T>): Promise<T> {
    return this.opts.work.em.fork().transactional(async (em) => {
      await bindTenant(em, tenantId, { userId: null, privileged: true });
      return fn(em);
    });
  }

  private run(em: EntityManager, log: Logger): JobRun {
    return { em, now: this.now, log, signingKey: this.opts.signingKey ?? null, lti: this.opts.lti ?? null };
  }

  /** Runs one claimed job to its next state: done, continued (its next step is due), retried later, or dead. */
  async execute(job: ClaimedJob): Promise<'done' | 'continued' | 'retried' | 'dead'> {
    const handler = this.opts.handlers[job.kind];
    const log = this.opts.log.child({ job: job.id, kind: job.kind, attempt: job.attempt });
    const finish = (em: EntityManager, outcome: 'DONE' | 'DEAD', error: string | null) => em.execute(
      `update job set finished_at = now(), outcome = ?, locked_by = null, locked_until = null, last_error = coalesce(?, last_error)
        where id = ? and locked_by = ?`, [outcome, error, job.id, this.workerId]);
    let error: string;
    if (!handler) {
      error = `no handler for jobs of kind ${job.kind}`;
    } else if (job.attempt > job.maxAttempts) {
      error = 'gave up: the job was interrupted on its last attempt';
    } else {
      try {
        return await this.inTenant(job.tenantId, async (em) => {
          const outcome = await handler.run(job, this.run(em, log));
          if (outcome) {
            // A step done: the next one gets a full set of attempts.
            await em.execute('update job set run_at = ?::timestamptz, attempts = 0, locked_by = null, locked_until = null where id = ? and locked_by = ?',
              [outcome.again.toISOString(), job.id, this.workerId]);
            return 'continued' as const;
          }
          await finish(em, 'DONE', null);
          return 'done' as const;
        });
      } catch (err) {
        error = describeJobError(err);
        log.warn({ error }, 'job failed');
      }
    }
    if (handler && job.attempt < job.maxAttempts) {
      await this.opts.owner.em.fork().getConnection().execute(
        `update job set run_at = ?::timestamptz, last_error = ?, locked_by = null, locked_until = null where id = ? and locked_by = ?`,
        [new Date(this.now.getTime() + backoffMs(job.attempt)).toISOString(), error, job.id, this.workerId],
      );
      return 'retried';
    }
    await this.inTenant(job.tenantId, async (em) => {
      await handler?.onDead?.(job, this.run(em, log), error);
      await finish(em, 'DEAD', error);
    });
    log.error({ error }, 'job gave up after its last attempt');
    return 'dead';
  }

  /** Runs due jobs until none is due (or `limit` ran). */
  async runDue(limit = Number.POSITIVE_INFINITY): Promise<RunSummary> {
    const summary: RunSummary = { done: 0, retried: 0, dead: 0 };
    for (let n = 0; n < Math.min(limit, MAX_RUNS_PER_DRAIN) && !this.stopped; n++) {
      const job = await this.claim();
      if (!job) break;
      const result = await this.execute(job);
      if (result !== 'continued') summary[result]++;
    }
    return summary;
  }

  start(intervalMs: number): void {
    const tick = () => {
      if (this.stopped) return;
      this.running = this.runDue()
        .catch((err) => this.opts.log.error({ err }, 'running background jobs failed; retrying next round'))
        .finally(() => { if (!this.stopped) this.timer = setTimeout(tick, intervalMs); });
    };
    this.timer = setTimeout(tick, 0);
  }

  /** Stops after the job in progress, if any. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
