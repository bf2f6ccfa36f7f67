import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { ClaimedJob, JobHandlers, JobOutcome, JobRun } from '../../jobs/queue';
import { recordSystemAccess } from '../../audit/system-events';
import { DataRequestStatus, DataRequestType, DataSubjectRequest, TransitionActor } from './dsr.entity';
import { PROCESS_JOB, recordSystemTransition, requestResource, transition } from './dsr.service';
import { applyChanges, categoriesOf, RectificationRefused } from './rectification';
import { restrictProcessing } from './restriction';
import { queueRecipientNotices } from './notices';
import { runNextErasureStep, type ErasureHooks } from './erasure';
import { processAccessRequest } from './export/job';

const S = DataRequestStatus;
const runId = (job: ClaimedJob) => `job:${job.id}:${job.attempt}`;

async function lockRequest(em: EntityManager, job: ClaimedJob): Promise<DataSubjectRequest | null> {
  const requestId = String(job.payload.requestId ?? '');
  return em.findOne(DataSubjectRequest, { id: requestId, tenantId: job.tenantId }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
}

/** Marks the request FAILED with a reason people can read (an administrator may retry it). */
async function fail(em: EntityManager, req: DataSubjectRequest, job: ClaimedJob, reason: string, now: Date): Promise<void> {
  transition(req, S.FAILED, TransitionActor.SYSTEM, now);
  req.failedAt = now;
  req.failure = reason;
  await em.flush();
  await recordSystemTransition(em, req, 'DataSubjectRequest.fail', runId(job), now);
}

/** RECTIFICATION: apply the corrected values, keeping the old ones in the request record. */
async function rectify(em: EntityManager, req: DataSubjectRequest, job: ClaimedJob, now: Date): Promise<void> {
  const applied = await applyChanges(em, req.tenantId, req.subjectId, req.changes ?? [], now);
  req.changes = applied;
  await queueRecipientNotices(em, {
    tenantId: req.tenantId, requestId: req.id, subjectId: req.subjectId, reason: 'RECTIFICATION', categories: categoriesOf(applied), before: now,
  });
  await recordSystemAccess(em, {
    tenantId: req.tenantId, requestId: runId(job), operation: 'User.rectify', kind: 'WRITE', purpose: 'data_subject_rights',
    subjects: [{ userId: req.subjectId, categories: categoriesOf(applied) }], resources: [requestResource(req)], now,
  });
}

/** RESTRICTION: from now on only the person and administrators see the person's rows. */
async function restrict(em: EntityManager, req: DataSubjectRequest, job: ClaimedJob, now: Date): Promise<void> {
  await restrictProcessing(em, req.tenantId, req.subjectId, 'REQUEST', req.id);
  await recordSystemAccess(em, {
    tenantId: req.tenantId, requestId: runId(job), operation: 'User.restrictProcessing', kind: 'WRITE', purpose: 'data_subject_rights',
    subjects: [{ userId: req.subjectId, categories: ['user.account'] }], resources: [requestResource(req)], now,
  });
}

/** Types carried out in one transaction (erasure runs in steps, below). */
const PROCESSORS: Record<Exclude<DataRequestType, DataRequestType.ERASURE | DataRequestType.ACCESS>, (em: EntityManager, req: DataSubjectRequest, job: ClaimedJob, now: Date) => Promise<void>> = {
  [DataRequestType.RECTIFICATION]: rectify,
  [DataRequestType.RESTRICTION]: restrict,
};

/** ERASURE: one step per run, each committed with its progress; runs again until the last step. */
async function eraseStep(req: DataSubjectRequest, job: ClaimedJob, { em, now, signingKey }: JobRun, hooks: ErasureHooks): Promise<JobOutcome> {
  const operations: Partial<Record<DataRequestStatus, `${string}.${string}`>> = {
    [S.IN_PROGRESS]: 'DataSubjectRequest.start', [S.COMPLETED]: 'DataSubjectRequest.complete',
  };
  const next = await runNextErasureStep({ em, req, now, runId: runId(job), signingKey }, async (to) => {
    transition(req, to, TransitionActor.SYSTEM, now);
    if (to === S.IN_PROGRESS) { req.startedAt ??= now; req.attempts += 1; }
    if (to === S.COMPLETED) req.completedAt = now;
    await em.flush();
    await recordSystemTransition(em, req, operations[to]!, runId(job), now);
  }, hooks);
  return next ? { again: next } : undefined;
}

/**
 * Carries out an approved request. Idempotent: a request that is no longer APPROVED or IN_PROGRESS
 * (done, cancelled, already failed) is left as it is, so a job that runs twice changes nothing twice.
 */
async function processRequest(job: ClaimedJob, run: JobRun, hooks: ErasureHooks): Promise<JobOutcome> {
  const { em, now } = run;
  const req = await lockRequest(em, job);
  if (!req || (req.status !== S.APPROVED && req.status !== S.IN_PROGRESS)) return;
  const type = req.type;
  if (type === DataRequestType.ERASURE) return eraseStep(req, job, run, hooks);
  if (type === DataRequestType.ACCESS) return processAccessRequest({ em, req, now, runId: runId(job), signingKey: run.signingKey });
  if (req.status === S.APPROVED) {
    transition(req, S.IN_PROGRESS, TransitionActor.SYSTEM, now);
    req.startedAt ??= now;
    req.attempts += 1;
    await em.flush();
    await recordSystemTransition(em, req, 'DataSubjectRequest.start', runId(job), now);
  }
  try {
    await em.transactional((inner) => PROCESSORS[type](inner, req, job, now));
  } catch (err) {
    // A request that cannot be done as asked fails now; anything else is retried by the queue.
    if (err instanceof RectificationRefused) {
      await fail(em, req, job, err.message, now);
      return;
    }
    throw err;
  }
  transition(req, S.COMPLETED, TransitionActor.SYSTEM, now);
  req.completedAt = now;
  await em.flush();
  await recordSystemTransition(em, req, 'DataSubjectRequest.complete', runId(job), now);
}

/** The data-subject request jobs; `hooks` lets tests interrupt an erasure between its steps. */
export function makeDsrJobs(hooks: ErasureHooks = {}): JobHandlers {
  return {
    [PROCESS_JOB]: {
      run: (job, run) => processRequest(job, run, hooks),
      async onDead(job, { em, now }, error) {
        const req = await lockRequest(em, job);
        if (req && (req.status === S.APPROVED || req.status === S.IN_PROGRESS)) await fail(em, req, job, `processing failed: ${error}`, now);
      },
    },
  };
}

export const dsrJobs: JobHandlers = makeDsrJobs();
