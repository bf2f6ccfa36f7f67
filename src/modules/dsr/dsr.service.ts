import { randomUUID } from 'node:crypto';
import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { RequestContext } from '../../server/context';
import { AppError, ErrorCode, badInput, forbidden, notFound, parseId, requiredText } from '../../shared/errors';
import { requireMember } from '../user/user.service';
import { CURSOR, dateKey, pageRequest, toConnection, type ConnectionShape } from '../../shared/pagination';
import { enqueueJob } from '../../jobs/queue';
import { onUniqueViolation } from '../../db/constraints';
import {
  DataRequestStatus, DataRequestType, DataSubjectRequest, OPEN_STATUSES, TransitionActor, type StoredChange,
} from './dsr.entity';
import { loadPrivacySettings, type PrivacySettings } from './privacy-settings';
import { validateChanges } from './rectification';
import { activeHolds, erasurePlan, erasureRowCounts } from './erasure';
import { toActionKind, type ErasurePlan } from './erasure.types';
import { liftProcessingRestriction, restrictProcessing } from './restriction';
import { recordSystemAccess } from '../../audit/system-events';
import { revokeTokensOfUser } from '../token/token.service';
import type { DataRequestsArgs, FileDataRequestInput, MyDataRequestsArgs } from './dsr.types';

const DAY_MS = 86_400_000;
const S = DataRequestStatus;

/** The status changes a request may make; anything else is an INVALID_TRANSITION error. */
const ALLOWED: Record<DataRequestStatus, readonly DataRequestStatus[]> = {
  [S.SUBMITTED]: [S.APPROVED, S.REJECTED, S.CANCELLED],
  [S.APPROVED]: [S.IN_PROGRESS, S.FAILED],
  [S.IN_PROGRESS]: [S.COMPLETED, S.FAILED],
  [S.FAILED]: [S.APPROVED],
  [S.COMPLETED]: [S.EXPIRED],
  [S.REJECTED]: [],
  [S.CANCELLED]: [],
  [S.EXPIRED]: [],
};

/** The job that carries out an approved request. */
export const PROCESS_JOB = 'dsr.process';

export const invalidTransition = (from: DataRequestStatus, to: DataRequestStatus) => new AppError(ErrorCode.BAD_USER_INPUT,
  `A request that is ${from} cannot become ${to}.`, { reason: 'INVALID_TRANSITION', from, to });

/** Moves a request to a new status, keeping its history; throws INVALID_TRANSITION when the flow does not allow it. */
export function transition(req: DataSubjectRequest, to: DataRequestStatus, by: TransitionActor, now: Date): void {
  if (!ALLOWED[req.status].includes(to)) throw invalidTransition(req.status, to);
  req.status = to;
  req.history = [...req.history, { status: to, at: now.toISOString(), by }];
  req.updatedAt = now;
}

/** The access-log resource naming a request. */
export const requestResource = (req: DataSubjectRequest) => `DataSubjectRequest:${req.id}`;

/** Records a transition made by Custos itself (a policy or a job) on `em`'s transaction. */
export function recordSystemTransition(em: EntityManager, req: DataSubjectRequest, operation: `${string}.${string}`, requestId: string, now: Date) {
  return recordSystemAccess(em, {
    tenantId: req.tenantId, requestId, operation, kind: 'WRITE', purpose: 'data_subject_rights',
    subjects: [{ userId: req.subjectId, categories: ['user.data_request'] }], resources: [requestResource(req)], now,
  });
}

/**
 * Approves and enqueues the work (shared by administrators, the auto-approval policy and retries). An
 * approved erasure restricts the account at once — tokens revoked, sign-in refused, the person's rows
 * hidden from everyone but administrators — and its purge waits for the tenant's grace period.
 */
async function approve(em: EntityManager, req: DataSubjectRequest, by: TransitionActor, deciderId: string | null, now: Date, requestId: string): Promise<void> {
  transition(req, S.APPROVED, by, now);
  // The first approval is the decision; a retry after a failure keeps it.
  req.decidedAt ??= now;
  req.decidedBy ??= deciderId;
  req.failure = null;
  req.failedAt = null;
  if (req.type === DataRequestType.ERASURE && !req.purgeAfter) {
    const settings = await loadPrivacySettings(em, req.tenantId);
    req.purgeAfter = new Date(now.getTime() + settings.erasureGraceDays * DAY_MS);
    await restrictProcessing(em, req.tenantId, req.subjectId, 'ERASURE', req.id);
    await revokeTokensOfUser(em, req.tenantId, req.subjectId);
    await recordSystemAccess(em, {
      tenantId: req.tenantId, requestId, operation: 'User.suspendForErasure', kind: 'WRITE', purpose: 'data_subject_rights',
      subjects: [{ userId: req.subjectId, categories: ['user.account', 'user.credential'] }], resources: [requestResource(req)], now,
    });
  }
  await em.flush();
  const runAt = req.purgeAfter && req.purgeAfter > now ? req.purgeAfter : now;
  await enqueueJob(em, { tenantId: req.tenantId, kind: PROCESS_JOB, payload: { requestId: req.id }, dedupeKey: `${PROCESS_JOB}:${req.id}`, runAt });
}

const isOpen = (status: DataRequestStatus) => OPEN_STATUSES.includes(status);

/** A request the caller may see: their own, or any of the tenant's for an administrator. Others: NOT_FOUND. */
async function findVisible(ctx: RequestContext, rawId: string, lock = false): Promise<DataSubjectRequest> {
  const id = parseId(rawId);
  const req = await ctx.em.findOne(DataSubjectRequest, { id, tenantId: ctx.tenantId },
    lock ? { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true } : {});
  if (!req || (!ctx.access.isAdmin && req.subjectId !== ctx.access.userId)) throw notFound('Data request');
  return req;
}

/** A new SUBMITTED request, due the tenant's response window from now. */
function submitted(em: EntityManager, settings: PrivacySettings, now: Date, r: {
  tenantId: string; subjectId: string; type: DataRequestType; filedBy: string | null; by: TransitionActor; note: string | null; changes: StoredChange[] | null;
}): DataSubjectRequest {
  return em.create(DataSubjectRequest, {
    id: randomUUID(), tenantId: r.tenantId, subjectId: r.subjectId, type: r.type, status: S.SUBMITTED, filedBy: r.filedBy,
    filedOnBehalf: r.by !== TransitionActor.SUBJECT, note: r.note, changes: r.changes, filedAt: now,
    dueAt: new Date(now.getTime() + settings.responseWindowDays * DAY_MS),
    history: [{ status: S.SUBMITTED, at: now.toISOString(), by: r.by }], updatedAt: now,
  });
}

/**
 * Files a request: for the caller, or (administrators) on a member's behalf. One open request per type
 * and person. The due date follows the tenant's response window; types the tenant auto-approves are
 * approved at once by the policy (its own access event, actor SYSTEM).
 */
export async function fileRequest(ctx: RequestContext, input: FileDataRequestInput): Promise<DataSubjectRequest> {
  const callerId = ctx.access.userId;
  const subjectId = input.subjectId ? parseId(input.subjectId, 'subjectId') : callerId;
  const onBehalf = subjectId !== callerId;
  if (onBehalf && !ctx.access.isAdmin) throw forbidden('Only an administrator may file a request on someone else\'s behalf.');
  const changes: StoredChange[] | null = input.type === DataRequestType.RECTIFICATION ? validateChanges(input.changes) : null;
  if (input.type !== DataRequestType.RECTIFICATION && input.changes?.length) {
    throw badInput('Only a rectification lists changes.', 'changes');
  }
  return ctx.em.transactional(async (em) => {
    await requireMember(em, ctx.tenantId, subjectId);
    const [open] = await em.execute<{ id: string }[]>(
      'select id from data_subject_request where tenant_id = ? and subject_id = ? and type = ? and status = any(?::text[]) for update',
      [ctx.tenantId, subjectId, input.type, `{${OPEN_STATUSES.join(',')}}`]);
    if (open) throw openRequestExists(open.id);
    const settings = await loadPrivacySettings(em, ctx.tenantId);
    const now = new Date();
    const req = submitted(em, settings, now, {
      tenantId: ctx.tenantId, subjectId, type: input.type, filedBy: callerId, by: onBehalf ? TransitionActor.ADMIN : TransitionActor.SUBJECT,
      note: input.note?.trim() || null, changes,
    });
    // Two filings racing past the check above: the partial unique index keeps one.
    await onUniqueViolation(() => em.flush(), { data_subject_request_one_open: () => openRequestExists(null) });
    ctx.audit.wrote([subjectId], ['user.data_request']);
    if (settings.autoApprove.includes(input.type)) {
      await approve(em, req, TransitionActor.SYSTEM, null, now, ctx.requestId);
      await recordSystemTransition(em, req, 'DataSubjectRequest.autoApprove', ctx.requestId, now);
    }
    return req;
  });
}

/**
 * Files and approves an erasure on the institution's policy rather than anyone's request (inactive
 * accounts): actor SYSTEM, then the ordinary erasure (restriction now, purge after the grace period,
 * legal holds respected). Returns null when the person already has an open or completed erasure.
 */
export async function fileErasureByPolicy(em: EntityManager, tenantId: string, subjectId: string, note: string, now: Date, runId: string):
  Promise<DataSubjectRequest | null> {
  const [existing] = await em.execute(
    `select 1 from data_subject_request where tenant_id = ? and subject_id = ? and type = 'ERASURE' and status = any(?::text[])`,
    [tenantId, subjectId, `{${[...OPEN_STATUSES, S.COMPLETED].join(',')}}`]);
  if (existing) return null;
  const settings = await loadPrivacySettings(em, tenantId);
  const req = submitted(em, settings, now, { tenantId, subjectId, type: DataRequestType.ERASURE, filedBy: null, by: TransitionActor.SYSTEM, note, changes: null });
  await em.flush();
  await recordSystemTransition(em, req, 'DataSubjectRequest.fileByPolicy', runId, now);
  await approve(em, req, TransitionActor.SYSTEM, null, now, runId);
  await recordSystemTransition(em, req, 'DataSubjectRequest.autoApprove', runId, now);
  return req;
}

const openRequestExists = (id: string | null) => new AppError(ErrorCode.BAD_USER_INPUT,
  'This person already has an open request of this type; it must be decided or cancelled first.',
  { reason: 'OPEN_REQUEST_EXISTS', field: 'type', ...(id ? { openRequestId: id } : {}) });

/** Runs one administrator or subject transition under a row lock, and records it. */
async function decide(ctx: RequestContext, rawId: string, change: (req: DataSubjectRequest, em: EntityManager, now: Date) => Promise<void> | void) {
  return ctx.em.transactional(async (em) => {
    const req = await findVisible(ctx, rawId, true);
    const now = new Date();
    await change(req, em, now);
    await em.flush();
    ctx.audit.wrote([req.subjectId], ['user.data_request']);
    return req;
  });
}

export function approveRequest(ctx: RequestContext, rawId: string) {
  ctx.access.requireAdmin();
  return decide(ctx, rawId, (req, em, now) => approve(em, req, TransitionActor.ADMIN, ctx.access.userId, now, ctx.requestId));
}

export function rejectRequest(ctx: RequestContext, rawId: string, reason: string) {
  ctx.access.requireAdmin();
  const why = requiredText(reason, 'reason');
  return decide(ctx, rawId, (req, _em, now) => {
    transition(req, S.REJECTED, TransitionActor.ADMIN, now);
    req.rejectionReason = why;
    req.decidedAt = now;
    req.decidedBy = ctx.access.userId;
  });
}

/** The person withdraws their request before it is decided. */
export function cancelRequest(ctx: RequestContext, rawId: string) {
  return decide(ctx, rawId, (req, _em, now) => {
    if (req.subjectId !== ctx.access.userId) throw forbidden('Only the person a request is about may cancel it; an administrator rejects it instead.');
    transition(req, S.CANCELLED, TransitionActor.SUBJECT, now);
    req.cancelledAt = now;
  });
}

/** One extension of up to 60 days, with a reason, asked for inside the first response window (GDPR Art. 12(3)). */
export function extendRequest(ctx: RequestContext, rawId: string, days: number, reason: string) {
  ctx.access.requireAdmin();
  if (!Number.isInteger(days) || days < 1 || days > 60) throw badInput('An extension is 1 to 60 days.', 'days');
  const why = requiredText(reason, 'reason');
  return decide(ctx, rawId, (req, _em, now) => {
    if (!isOpen(req.status)) throw new AppError(ErrorCode.BAD_USER_INPUT, `A ${req.status} request is no longer open.`, { reason: 'INVALID_TRANSITION', from: req.status });
    if (req.extendedAt) throw new AppError(ErrorCode.BAD_USER_INPUT, 'This request was already extended once.', { reason: 'ALREADY_EXTENDED' });
    if (now.getTime() > req.dueAt.getTime()) {
      throw new AppError(ErrorCode.BAD_USER_INPUT, 'An extension must be decided inside the first response window, which has passed.', { reason: 'WINDOW_PASSED' });
    }
    req.extendedAt = now;
    req.extensionDays = days;
    req.extensionReason = why;
    req.dueAt = new Date(req.dueAt.getTime() + days * DAY_MS);
    req.updatedAt = now;
  });
}

/** A FAILED request is approved again; its work resumes where it stopped. */
export function retryRequest(ctx: RequestContext, rawId: string) {
  ctx.access.requireAdmin();
  return decide(ctx, rawId, (req, em, now) => approve(em, req, TransitionActor.ADMIN, ctx.access.userId, now, ctx.requestId));
}

/** Lifts a restriction in force (administrators; Art. 18(3): the person sees when and why on their request). */
export function liftRestriction(ctx: RequestContext, rawId: string, reason: string) {
  ctx.access.requireAdmin();
  const why = requiredText(reason, 'reason');
  return decide(ctx, rawId, async (req, em, now) => {
    if (req.type !== DataRequestType.RESTRICTION || req.status !== S.COMPLETED || req.liftedAt) {
      throw new AppError(ErrorCode.BAD_USER_INPUT, 'Only a restriction in force can be lifted.', { reason: 'NOT_IN_FORCE' });
    }
    await liftProcessingRestriction(em, req.tenantId, req.subjectId, 'REQUEST');
    req.liftedAt = now;
    req.liftReason = why;
    req.updatedAt = now;
  });
}

export async function getRequest(ctx: RequestContext, rawId: string): Promise<DataSubjectRequest> {
  return findVisible(ctx, rawId);
}

async function page(ctx: RequestContext, where: string[], params: unknown[], args: MyDataRequestsArgs): Promise<ConnectionShape<DataSubjectRequest>> {
  const { first, after } = pageRequest(args, ctx.config, CURSOR.byTime);
  if (after) {
    where.push('(r.filed_at, r.id) < (?::timestamptz, ?::uuid)');
    params.push(...after);
  }
  const rows = await ctx.em.execute<Record<string, unknown>[]>(
    `select r.* from data_subject_request r where ${where.join(' and ')} order by r.filed_at desc, r.id desc limit ?`, [...params, first + 1]);
  return toConnection(rows.map((r) => ctx.em.map(DataSubjectRequest, r)), first, (r) => [dateKey(r.filedAt), r.id]);
}

/** The caller's own requests, newest first. */
export function listMyRequests(ctx: RequestContext, args: MyDataRequestsArgs) {
  return page(ctx, ['r.tenant_id = ?', 'r.subject_id = ?'], [ctx.tenantId, ctx.access.userId], args);
}

/** The tenant's requests (administrators), newest first, filtered by status, type, person or overdue. */
export function listRequests(ctx: RequestContext, args: DataRequestsArgs) {
  ctx.access.requireAdmin();
  const where = ['r.tenant_id = ?'];
  const params: unknown[] = [ctx.tenantId];
  if (args.status) { where.push('r.status = ?'); params.push(args.status); }
  if (args.type) { where.push('r.type = ?'); params.push(args.type); }
  if (args.subjectId) { where.push('r.subject_id = ?'); params.push(parseId(args.subjectId, 'subjectId')); }
  if (args.overdue != null) {
    where.push(`(r.status = any(?::text[]) and r.due_at < now()) = ?`);
    params.push(`{${OPEN_STATUSES.join(',')}}`, args.overdue);
  }
  return page(ctx, where, params, args);
}

/** The dry run of erasing a member: the caller's own, or any member's for an administrator. Changes nothing. */
export async function erasurePlanFor(ctx: RequestContext, rawSubjectId: string | null): Promise<ErasurePlan> {
  const userId = rawSubjectId ? parseId(rawSubjectId, 'subjectId') : ctx.access.userId;
  if (userId !== ctx.access.userId && !ctx.access.isAdmin) throw forbidden('Only an administrator may see another member\'s erasure plan.');
  await requireMember(ctx.em, ctx.tenantId, userId);
  const entries = await erasurePlan();
  const rows = await erasureRowCounts(ctx.em, ctx.tenantId, userId);
  const settings = await loadPrivacySettings(ctx.em, ctx.tenantId);
  return {
    userId,
    entries: entries.map((e) => ({ coordinate: e.coordinate, category: e.category, action: toActionKind(e.rule.action), effect: e.rule.effect, legalBasis: e.rule.legalBasis })),
    rows: { userId, ...rows },
    activeLegalHolds: await activeHolds(ctx.em, ctx.tenantId, userId),
    graceDays: settings.erasureGraceDays,
  };
}

/** Open and past its due date. */
export const isOverdue = (req: DataSubjectRequest, now = new Date()) => isOpen(req.status) && req.dueAt.getTime() < now.getTime();
