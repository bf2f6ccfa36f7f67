import { Writable } from 'node:stream';
import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Checkpoint, SigningKey } from '../../../audit/checkpoint';
import { checkpointFromRow, loadNodeHashes } from '../../../audit/sealer';
import { multiProof, multiProofIds } from '../../../audit/multiproof';
import type { Hash } from '../../../audit/merkle';
import { recordSystemAccess } from '../../../audit/system-events';
import { execBound } from '../../../db/bound';
import { pgTimestamp } from '../../../db/timestamps';
import { enqueueJob, type ClaimedJob, type JobHandlers, type JobOutcome, type JobRun } from '../../../jobs/queue';
import { privacyRegistry } from '../../../privacy/registry';
import { buildBareSchema } from '../../../schema/build';
import { DataRequestStatus, DataSubjectRequest, TransitionActor } from '../dsr.entity';
import { recordSystemTransition, requestResource, transition } from '../dsr.service';
import { COMPLAINT_NOTICE } from '../dsr.resolver';
import { loadPrivacySettings } from '../privacy-settings';
import { writeExportPackage, type ExportLeafInput } from './package';
import { EXPORT_CATEGORIES, exportFiles, loadSummary, scanLeaves, type ExportSource } from './build';

/**
 * Carrying out an approved ACCESS request, and expiring its download link.
 *
 * The access history in an export is proven against a signed checkpoint, so only sealed events can be
 * listed. The job therefore waits (runs again a few seconds later) until every event about the person
 * up to the approval is sealed, then exports exactly the person's events sealed under the latest
 * checkpoint. The ZIP is streamed into `data_export_chunk` in the job's transaction: the chunks, the
 * export's row, its access event and the COMPLETED transition commit together or not at all.
 */
export const EXPIRE_EXPORT_JOB = 'dsr.expire_export';
/** How soon to look again while the approval's events are not sealed yet (the sealer runs every second by default). */
export const SEAL_WAIT_STEP_MS = 2_000;
/** After this long without the events sealed the run fails (and is retried with backoff, then FAILED): is the sealer running? */
export const SEAL_WAIT_LIMIT_MS = 15 * 60_000;
/** Stored piece of the ZIP. */
export const CHUNK_BYTES = 1024 * 1024;
/** Merkle nodes read per statement for the proof: each is an index lookup; a batch's rows are garbage as soon as copied. */
const NODE_BATCH = 10_000;
/** While waiting, only the person's newest events up to the approval are looked at (the full check is the export's own pass). */
const RECENT_EVENTS = 500;
const DAY_MS = 86_400_000;
const S = DataRequestStatus;

export interface AccessRequestRun {
  /** The job's transaction; the caller holds the request's row lock. */
  em: EntityManager;
  req: DataSubjectRequest;
  now: Date;
  /** Groups the run's access events (job id and attempt). */
  runId: string;
  signingKey: SigningKey | null;
}

/** Writes what streams in as ~1 MB rows of data_export_chunk, on the job's transaction. */
class ChunkWriter extends Writable {
  chunks = 0;
  private parts: Buffer[] = [];
  private size = 0;

  constructor(private readonly em: EntityManager, private readonly tenantId: string, private readonly requestId: string) {
    super();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.parts.push(chunk);
    this.size += chunk.length;
    if (this.size < CHUNK_BYTES) return callback();
    this.store().then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.store().then(() => callback(), callback);
  }

  private async store(): Promise<void> {
    if (this.size === 0) return;
    const data = Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    await execBound(this.em, 'insert into data_export_chunk (request_id, seq, tenant_id, data) values (?, ?, ?, ?)',
      [this.requestId, this.chunks++, this.tenantId, data]);
  }
}

/** When the request was (last) approved: the access history must be sealed up to here. */
function approvedAt(req: DataSubjectRequest): Date {
  const approvals = req.history.filter((h) => h.status === S.APPROVED);
  return approvals.length ? new Date(approvals[approvals.length - 1].at) : req.decidedAt ?? req.filedAt;
}

async function latestCheckpoint(em: EntityManager, tenantId: string): Promise<Checkpoint | null> {
  const [row] = await em.execute('select * from audit_checkpoint where tenant_id = ? order by tree_size desc limit 1', [tenantId]);
  return row ? checkpointFromRow(row as Parameters<typeof checkpointFromRow>[0]) : null;
}

/**
 * Whether one of the person's newest events up to `until` is not yet sealed under the checkpoint of
 * `treeSize`: cheap, and what a just-approved request meets. Older stragglers (a long transaction) are
 * caught by the export's own pass over the history.
 */
async function recentlyUnsealed(em: EntityManager, tenantId: string, pseudonym: string, until: Date, treeSize: number): Promise<boolean> {
  const [row] = await execBound<{ waiting: boolean }>(em,
    `select exists (select 1 from (select s.event_id from access_event_subject s
                                    where s.tenant_id = ? and s.pseudonym = ? and s.occurred_at <= ?::timestamptz
                                    order by s.occurred_at desc, s.event_id desc limit ?) r
                     where not exists (select 1 from audit_leaf l where l.event_id = r.event_id and l.leaf_index < ?)) as waiting`,
    [tenantId, pseudonym, until.toISOString(), RECENT_EVENTS, treeSize]);
  return row.waiting;
}

/** The multiproof of the leaves, its stored nodes read in batches (each statement may read the tenant's tree). */
async function proofOf(em: EntityManager, tenantId: string, leaves: ExportLeafInput[], treeSize: number): Promise<Hash[]> {
  if (leaves.length === 0) return [];
  const indexes = leaves.map((l) => l.leafIndex).sort((a, b) => a - b);
  const ids = multiProofIds(indexes, treeSize);
  // In the ids' order, which is the order multiProof reads them: no lookup table keyed by node.
  const hashes: Hash[] = [];
  for (let i = 0; i < ids.length; i += NODE_BATCH) {
    for (const hash of await loadNodeHashes(em, tenantId, ids.slice(i, i + NODE_BATCH))) hashes.push(hash);
  }
  return multiProof(indexes, treeSize, { hashes });
}

/**
 * Runs the next step of an approved ACCESS request: APPROVED → IN_PROGRESS, then (once the history is
 * sealed) the export, COMPLETED, and the job that expires its link. Returns when to run again while waiting.
 */
export async function processAccessRequest(c: AccessRequestRun): Promise<JobOutcome> {
  const { em, req, now, runId } = c;
  const move = async (to: DataRequestStatus, operation: `${string}.${string}`) => {
    transition(req, to, TransitionActor.SYSTEM, now);
    await em.flush();
    await recordSystemTransition(em, req, operation, runId, now);
  };
  if (req.status === S.APPROVED) {
    req.startedAt ??= now;
    req.attempts += 1;
    await move(S.IN_PROGRESS, 'DataSubjectRequest.start');
  }
  if (!c.signingKey) throw new Error('no signing key is configured for exports');

  const [key] = await em.execute<{ pseudonym: string }[]>('select pseudonym from subject_key where tenant_id = ? and user_id = ?',
    [req.tenantId, req.subjectId]);
  const pseudonym = key?.pseudonym ?? null;
  const checkpoint = await latestCheckpoint(em, req.tenantId);
  const cutoff = approvedAt(req);
  const wait = (): JobOutcome => {
    if (now.getTime() - cutoff.getTime() > SEAL_WAIT_LIMIT_MS) {
      throw new Error(`the access log has not been sealed up to this request's approval for ${SEAL_WAIT_LIMIT_MS / 60_000} minutes; ` +
        'is the sealer running?');
    }
    return { again: new Date(now.getTime() + SEAL_WAIT_STEP_MS) };
  };
  if (!checkpoint || (pseudonym && await recentlyUnsealed(em, req.tenantId, pseudonym, cutoff, checkpoint.treeSize))) return wait();

  const leaves = await scanLeaves({ em, tenantId: req.tenantId, pseudonym, checkpoint }, cutoff);
  if (!leaves) return wait();
  const proof = await proofOf(em, req.tenantId, leaves, checkpoint.treeSize);

  const settings = await loadPrivacySettings(em, req.tenantId);
  const expiresAt = new Date(now.getTime() + settings.exportLinkDays * DAY_MS);
  const source: ExportSource = {
    em, tenantId: req.tenantId, subjectId: req.subjectId, pseudonym, requestId: req.id, createdAt: now, expiresAt, checkpoint,
    listed: new Set(leaves.map((l) => l.eventId)), settings, registry: privacyRegistry(await buildBareSchema()),
  };
  const summary = await loadSummary(source);
  const out = new ChunkWriter(em, req.tenantId, req.id);
  await execBound(em, 'delete from data_export_chunk where tenant_id = ? and request_id = ?', [req.tenantId, req.id]);
  const written = await writeExportPackage(out, {
    tenantId: req.tenantId, subjectPseudonym: pseudonym ?? undefined, requestId: req.id, createdAt: now,
    files: exportFiles(source, summary, COMPLAINT_NOTICE), checkpoint, leaves, proof, signingKey: c.signingKey,
  });
  await execBound(em,
    `insert into data_export (request_id, tenant_id, bytes, sha256, chunks, events, tree_size, key_id, created_at, expires_at)
     values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [req.id, req.tenantId, written.bytes, written.sha256, out.chunks, leaves.length, checkpoint.treeSize, c.signingKey.keyId,
      now.toISOString(), expiresAt.toISOString()]);
  // Reading everything about the person to build the file is itself an access.
  await recordSystemAccess(em, {
    tenantId: req.tenantId, requestId: runId, operation: 'Export.build', kind: 'READ', purpose: 'data_subject_rights',
    subjects: [{ userId: req.subjectId, categories: EXPORT_CATEGORIES }], resources: [requestResource(req)], now,
  });
  req.completedAt = now;
  await move(S.COMPLETED, 'DataSubjectRequest.complete');
  await enqueueJob(em, {
    tenantId: req.tenantId, kind: EXPIRE_EXPORT_JOB, payload: { requestId: req.id }, runAt: expiresAt,
    dedupeKey: `${EXPIRE_EXPORT_JOB}:${req.id}`,
  });
}

/**
 * When the link expires: the file's chunks are deleted and the request becomes EXPIRED. Idempotent; a
 * run before the expiry (a clock moved, a job run by hand) only reschedules itself.
 */
async function expireExport(job: ClaimedJob, { em, now }: JobRun): Promise<JobOutcome> {
  const requestId = String(job.payload.requestId ?? '');
  const req = await em.findOne(DataSubjectRequest, { id: requestId, tenantId: job.tenantId },
    { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
  if (!req) return;
  const [row] = await em.execute<{ expires_at: string; deleted_at: string | null }[]>(
    'select expires_at, deleted_at from data_export where tenant_id = ? and request_id = ? for update', [job.tenantId, requestId]);
  if (!row || row.deleted_at) return;
  const expiresAt = pgTimestamp(row.expires_at);
  if (expiresAt.getTime() > now.getTime()) return { again: expiresAt };
  await em.execute('delete from data_export_chunk where tenant_id = ? and request_id = ?', [job.tenantId, requestId]);
  await em.execute('update data_export set deleted_at = ? where tenant_id = ? and request_id = ?', [now, job.tenantId, requestId]);
  if (req.status === S.COMPLETED) {
    transition(req, S.EXPIRED, TransitionActor.SYSTEM, now);
    await em.flush();
    await recordSystemTransition(em, req, 'DataSubjectRequest.expire', `job:${job.id}:${job.attempt}`, now);
  }
}

export const exportJobs: JobHandlers = {
  [EXPIRE_EXPORT_JOB]: { run: expireExport },
};
