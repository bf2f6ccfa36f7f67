import { sign } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { SigningKey } from '../../audit/checkpoint';
import { recordSystemAccess, type SystemAccess } from '../../audit/system-events';
import { forgetActorKey } from '../../audit/store';
import { DATA_CATEGORIES, type DataCategory } from '../../privacy/categories';
import { queueRecipientNotices } from './notices';
import { ERASURE_POLICY, erasurePlanItems } from '../../privacy/erasure-policy';
import { privacyRegistry } from '../../privacy/registry';
import { buildBareSchema } from '../../schema/build';
import { DataRequestStatus, type DataSubjectRequest } from './dsr.entity';

/**
 * Erasure after the grace period, in steps. Each step runs in a transaction of its own that also
 * records it as done in the request's `progress`; a crash inside a step rolls that step back, a crash
 * between steps resumes at the next one. Either way the end state is that of an uninterrupted run.
 */
export const ERASURE_STEPS = ['start', 'notify', 'content', 'profile', 'requests', 'receipt', 'finish'] as const;
export type ErasureStep = (typeof ERASURE_STEPS)[number];

export interface ErasureProgress {
  done?: ErasureStep[];
  removed?: { posts?: number; comments?: number; reactions?: number; tokens?: number };
  /** Art. 19 notices queued for recipients. */
  notices?: number;
}

export const RECEIPT_FORMAT = 'custos.erasure-receipt.v1';
/** Held erasures are looked at again this often (a released hold also wakes them at once). */
export const HOLD_RECHECK_MS = 86_400_000;

/** The bytes a receipt's signature covers: the format line, then the receipt's JSON as stored. */
export const receiptSignedBytes = (body: string) => Buffer.from(`${RECEIPT_FORMAT}\n${body}`, 'utf8');

export interface StepContext {
  em: EntityManager;
  req: DataSubjectRequest;
  now: Date;
  runId: string;
  signingKey: SigningKey | null;
}

const ERASED_NAME = 'Erased member';

async function count(em: EntityManager, sql: string, params: unknown[]): Promise<number> {
  const [row] = await em.execute<{ n: string }[]>(sql, params);
  return Number(row.n);
}

function logStep(c: StepContext, operation: `${string}.${string}`, categories: DataCategory[]): SystemAccess {
  return {
    tenantId: c.req.tenantId, requestId: c.runId, operation, kind: 'WRITE', purpose: 'data_subject_rights',
    subjects: [{ userId: c.req.subjectId, categories }], resources: [`DataSubjectRequest:${c.req.id}`], now: c.now,
  };
}

/** Active legal holds on a person. */
export async function activeHolds(em: EntityManager, tenantId: string, userId: string): Promise<number> {
  return count(em, 'select count(*) as n from legal_hold where tenant_id = ? and user_id = ? and released_at is null', [tenantId, userId]);
}

/** The rows erasure would touch, by kind: the dry run's numbers. */
export async function erasureRowCounts(em: EntityManager, tenantId: string, userId: string) {
  const [r] = await em.execute<Record<string, string>[]>(
    `select (select count(*) from post where tenant_id = ? and author_id = ?) as posts,
            (select count(*) from comment where tenant_id = ? and author_id = ?) as comments,
            (select count(*) from reaction where tenant_id = ? and user_id = ?) as reactions,
            (select count(*) from enrollment where tenant_id = ? and user_id = ?) as enrollments,
            (select count(*) from enrollment where tenant_id = ? and user_id = ? and final_grade is not null) as grades,
            (select count(*) from api_token where tenant_id = ? and user_id = ?) as tokens,
            (select count(*) from data_subject_request where tenant_id = ? and subject_id = ?) as requests`,
    Array.from({ length: 7 }, () => [tenantId, userId]).flat());
  return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Number(v)])) as
    { posts: number; comments: number; reactions: number; enrollments: number; grades: number; tokens: number; requests: number };
}

/** The plan: every classified field with what erasure does to it, from the registry and the policy. */
export async function erasurePlan() {
  return erasurePlanItems(privacyRegistry(await buildBareSchema()));
}

const STEPS: Record<ErasureStep, (c: StepContext, progress: ErasureProgress) => Promise<void>> = {
  /** Nothing to do here beyond the status: the hold check happens before any step. */
  async start() {},

  /** Art. 19: every integration that received any of the person's data is owed a notice (found while the pseudonym still links). */
  async notify(c, progress) {
    progress.notices = await queueRecipientNotices(c.em, {
      tenantId: c.req.tenantId, requestId: c.req.id, subjectId: c.req.subjectId, reason: 'ERASURE',
      categories: Object.keys(DATA_CATEGORIES) as DataCategory[], before: c.now,
    });
  },

  /** Posts, comments and reactions: deleted (replies in the person's threads go with them). */
  async content(c, progress) {
    const { tenantId, subjectId } = c.req;
    const removed = await c.em.execute<{ reactions: string; comments: string; posts: string }[]>(
      `with r as (delete from reaction where tenant_id = ? and user_id = ? returning 1),
            c as (delete from comment where tenant_id = ? and author_id = ? returning 1),
            p as (delete from post where tenant_id = ? and author_id = ? returning 1)
       select (select count(*) from r) as reactions, (select count(*) from c) as comments, (select count(*) from p) as posts`,
      [tenantId, subjectId, tenantId, subjectId, tenantId, subjectId]);
    progress.removed = {
      ...progress.removed, reactions: Number(removed[0].reactions), comments: Number(removed[0].comments), posts: Number(removed[0].posts),
    };
    await recordSystemAccess(c.em, logStep(c, 'User.eraseContent', ['user.behavior.reaction', 'user.content.private']));
  },

  /** The profile: names and email scrubbed, student number and picture removed, tokens' labels removed. */
  async profile(c, progress) {
    const { tenantId, subjectId } = c.req;
    await c.em.execute(
      `update app_user set given_name = ?, family_name = ?, display_name = ?, email = 'erased-' || id || '@erased.invalid',
              student_number = null, avatar_url = null, status = 'DEACTIVATED', deactivated_at = coalesce(deactivated_at, ?),
              erased_at = coalesce(erased_at, ?), updated_at = ?
        where tenant_id = ? and id = ?`,
      [ERASED_NAME, ERASED_NAME, ERASED_NAME, c.now, c.now, c.now, tenantId, subjectId]);
    const tokens = await c.em.execute<{ id: string }[]>(
      `update api_token set label = 'erased', revoked_at = coalesce(revoked_at, ?) where tenant_id = ? and user_id = ? returning id`,
      [c.now, tenantId, subjectId]);
    progress.removed = { ...progress.removed, tokens: tokens.length };
    await recordSystemAccess(c.em, logStep(c, 'User.eraseProfile',
      ['user.name', 'user.contact.email', 'user.unique_id.student_number', 'user.content.self_image', 'user.credential']));
  },

  /** The person's requests stay as proof of handling; their notes and corrected values go. */
  async requests(c) {
    await c.em.execute(
      `update data_subject_request
          set note = null, extension_reason = null,
              changes = case when changes is null then null
                        else (select jsonb_agg(jsonb_build_object('field', ch->>'field', 'before', null, 'after', null)) from jsonb_array_elements(changes) ch) end
        where tenant_id = ? and subject_id = ?`, [c.req.tenantId, c.req.subjectId]);
    c.req.note = null;
    c.req.changes = c.req.changes?.map((ch) => ({ field: ch.field, before: null, after: null })) ?? null;
    await recordSystemAccess(c.em, logStep(c, 'DataSubjectRequest.scrub', ['user.data_request']));
  },

  /** The signed deletion receipt: what was done, under which policy, and when; nothing about who. */
  async receipt(c, progress) {
    if (!c.signingKey) throw new Error('no signing key is configured for erasure receipts');
    const body = JSON.stringify({
      format: RECEIPT_FORMAT,
      tenantId: c.req.tenantId,
      requestId: c.req.id,
      filedAt: c.req.filedAt.toISOString(),
      approvedAt: c.req.decidedAt?.toISOString() ?? null,
      erasedAt: c.now.toISOString(),
      policy: Object.entries(ERASURE_POLICY).map(([category, rule]) => ({ category, action: rule.action, legalBasis: rule.legalBasis })),
      removed: { posts: 0, comments: 0, reactions: 0, tokens: 0, ...progress.removed },
      recipientsNotified: progress.notices ?? 0,
      keyId: c.signingKey.keyId,
    });
    await c.em.execute(
      `insert into erasure_receipt (request_id, tenant_id, body, key_id, signature) values (?, ?, ?, ?, decode(?, 'base64'))
       on conflict (request_id) do nothing`,
      [c.req.id, c.req.tenantId, body, c.signingKey.keyId, sign(null, receiptSignedBytes(body), c.signingKey.privateKey).toString('base64')]);
  },

  /**
   * Done: the request completes (its event still names the person), then the pseudonym link and the
   * person's key are deleted — the log keeps every event, verifiable, but nothing links them to anyone.
   * The account stays restricted (reason ERASURE): no sign-in, and only administrators see the shell.
   */
  async finish(c) {
    await c.em.execute('delete from subject_key where tenant_id = ? and user_id = ?', [c.req.tenantId, c.req.subjectId]);
    forgetActorKey(c.req.tenantId, c.req.subjectId);
  },
};

export interface ErasureHooks {
  /** Called after a step's work, before its transaction commits (tests make it throw to simulate a crash there). */
  afterStep?(step: ErasureStep): void | Promise<void>;
}

/**
 * Runs the next erasure step of an approved request (the caller holds the request's row lock). Returns
 * when to run again, or null when the erasure is complete.
 */
export async function runNextErasureStep(c: StepContext, transition: (to: DataRequestStatus) => Promise<void>, hooks: ErasureHooks = {}):
  Promise<Date | null> {
  const progress = { ...(c.req.progress as ErasureProgress) };
  const done = new Set(progress.done ?? []);
  const step = ERASURE_STEPS.find((s) => !done.has(s));
  if (!step) return null;
  if (step === 'start') {
    // A legal hold blocks the purge (Art. 17(3)(e)); the request waits, recording since when.
    if (await activeHolds(c.em, c.req.tenantId, c.req.subjectId) > 0) {
      c.req.heldSince ??= c.now;
      c.req.updatedAt = c.now;
      await c.em.flush();
      return new Date(c.now.getTime() + HOLD_RECHECK_MS);
    }
    c.req.heldSince = null;
    if (c.req.status === DataRequestStatus.APPROVED) await transition(DataRequestStatus.IN_PROGRESS);
  }
  if (step === 'finish') await transition(DataRequestStatus.COMPLETED);
  await STEPS[step](c, progress);
  progress.done = [...ERASURE_STEPS.filter((s) => done.has(s) || s === step)];
  c.req.progress = progress as Record<string, unknown>;
  c.req.updatedAt = c.now;
  await c.em.flush();
  await hooks.afterStep?.(step);
  return step === 'finish' ? null : c.now;
}
