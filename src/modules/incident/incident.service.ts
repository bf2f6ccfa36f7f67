import { randomUUID } from 'node:crypto';
import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { RequestContext } from '../../server/context';
import { readsAuditTrailAs } from '../../auth/permissions';
import { execBound, pgArray } from '../../db/bound';
import { AppError, ErrorCode, badInput, forbidden, notFound, parseId, requiredText, isUuid } from '../../shared/errors';
import { CURSOR, dateKey, pageRequest, toConnection, type ConnectionShape, type PageArgs } from '../../shared/pagination';
import { pgTimestamp } from '../../db/timestamps';
import { clampToAuditWindow } from '../audit/audit-window';
import { revokeToken, revokeTokensOfUser } from '../token/token.service';
import { Incident, IncidentAction, IncidentStatus } from './incident.entity';
import {
  NotificationKind, type AuthorityNotificationInput, type IncidentAffectedSubject, type IncidentImpact, type IncidentNotification,
  type IncidentsArgs, type OpenIncidentInput, type SubjectNotificationInput, type UpdateIncidentInput,
} from './incident.types';

const HOUR_MS = 3_600_000;
/** Art. 33(1): the supervisory authority is told within 72 hours of becoming aware of a breach. */
export const AUTHORITY_DEADLINE_HOURS = 72;
/** Clocks differ a little; a detection time this far ahead of ours is still "now". */
const CLOCK_SKEW_MS = 60_000;
/** Resources listed by name in an impact (all are counted). */
const LISTED_RESOURCES = 1000;
/** An identity-provider token as the access log records it (see src/auth/oidc.ts). */
const JWT_CREDENTIAL = /^jwt:[0-9a-f]{32}$/;

/** Who is suspected, as the access log can be searched for it. */
export type Suspect = { credentialId: string } | { pseudonym: string };

export const suspectOf = (i: Incident): Suspect =>
  (i.suspectPseudonym ? { pseudonym: i.suspectPseudonym } : { credentialId: i.suspectCredentialId! });

/** The access-log resource naming an incident. */
export const incidentResource = (i: Incident) => `Incident:${i.id}`;

const incidentClosed = () => new AppError(ErrorCode.BAD_USER_INPUT, 'This incident is closed; its record can no longer change.', { reason: 'INCIDENT_CLOSED' });

/** Open, past its authority deadline, with neither a notification of the authority nor a recorded reason. */
export function isOverdue(i: Incident, now = new Date()): boolean {
  return !i.authorityNotifiedAt && !i.delayReason && i.authorityDueAt.getTime() < now.getTime();
}

function checkWindow(from: Date, until: Date): void {
  for (const [d, field] of [[from, 'windowFrom'], [until, 'windowUntil']] as const) {
    if (Number.isNaN(d.getTime())) throw badInput(`${field} must be a valid time.`, field);
  }
  if (from.getTime() >= until.getTime()) throw badInput('The window must start before it ends.', 'windowFrom');
}

function checkPast(d: Date, field: string, now: Date): void {
  if (Number.isNaN(d.getTime())) throw badInput(`${field} must be a valid time.`, field);
  if (d.getTime() > now.getTime() + CLOCK_SKEW_MS) throw badInput(`${field} cannot be in the future.`, field);
}

const optionalText = (raw: string | null | undefined, field: string, max: number): string | null =>
  (raw == null || raw.trim() === '' ? null : requiredText(raw, field, max));

interface ResolvedSuspect {
  credentialId: string | null;
  pseudonym: string | null;
  /** The member behind the suspect, when there is one (a member, or a member's token). */
  userId: string | null;
}

/**
 * Checks the suspect and finds it in the log's terms: a member becomes their pseudonym; an API token
 * must be one of the tenant's; a `jwt:` digest must have been used in the tenant (there is no table of
 * them, so the log is the only evidence it exists).
 */
async function resolveSuspect(em: EntityManager, tenantId: string, input: OpenIncidentInput['suspect']): Promise<ResolvedSuspect> {
  const credential = input.credentialId?.trim() || null;
  const user = input.userId ?? null;
  if ((credential === null) === (user === null)) throw badInput('Name exactly one suspect: a credentialId or a userId.', 'suspect');
  if (user !== null) {
    const userId = parseId(user, 'suspect.userId');
    const [key] = await em.execute<{ pseudonym: string }[]>('select pseudonym from subject_key where tenant_id = ? and user_id = ?', [tenantId, userId]);
    if (key) return { credentialId: null, pseudonym: key.pseudonym, userId };
    const [member] = await em.execute('select 1 from app_user where tenant_id = ? and id = ?', [tenantId, userId]);
    if (!member) throw notFound('User');
    throw new AppError(ErrorCode.BAD_USER_INPUT, 'This member has been erased: nothing links them to the access log any more. Name the credential instead.',
      { reason: 'SUSPECT_ERASED', field: 'suspect.userId' });
  }
  if (isUuid(credential!)) {
    const id = credential!.toLowerCase();
    const [token] = await em.execute<{ user_id: string | null }[]>('select user_id from api_token where tenant_id = ? and id = ?', [tenantId, id]);
    if (!token) throw notFound('Token');
    return { credentialId: id, pseudonym: null, userId: token.user_id };
  }
  if (!JWT_CREDENTIAL.test(credential!)) {
    throw badInput('credentialId must be a token id or a `jwt:` credential id as the access log records it.', 'suspect.credentialId');
  }
  const [used] = await em.execute('select 1 from access_event where tenant_id = ? and credential_id = ? limit 1', [tenantId, credential]);
  if (!used) throw badInput('No access event of this institution was made with that credential.', 'suspect.credentialId');
  return { credentialId: credential, pseudonym: null, userId: null };
}

/** The member behind an incident's suspect (a member, or the member a suspected token signs in as); null when none or erased. */
export async function suspectUserId(em: EntityManager, i: Incident): Promise<string | null> {
  if (i.suspectPseudonym) {
    const [key] = await em.execute<{ user_id: string }[]>('select user_id from subject_key where tenant_id = ? and pseudonym = ?', [i.tenantId, i.suspectPseudonym]);
    return key?.user_id ?? null;
  }
  if (!isUuid(i.suspectCredentialId!)) return null;
  const [token] = await em.execute<{ user_id: string | null }[]>('select user_id from api_token where tenant_id = ? and id = ?', [i.tenantId, i.suspectCredentialId]);
  return token?.user_id ?? null;
}

function remember(i: Incident, action: IncidentAction, by: string, now: Date): void {
  i.history = [...i.history, { action, at: now.toISOString(), by }];
  i.updatedAt = now;
}

/**
 * Opens an incident (administrators). The authority deadline is fixed at detection plus 72 hours.
 * Naming a member (or a member's token) as the suspect writes a record about them: an access event
 * about that member's credential use, naming the incident.
 */
export async function openIncident(ctx: RequestContext, input: OpenIncidentInput): Promise<Incident> {
  ctx.access.requireAdmin();
  const now = new Date();
  const description = requiredText(input.description, 'description', 4000);
  checkPast(input.detectedAt, 'detectedAt', now);
  checkWindow(input.windowFrom, input.windowUntil);
  return ctx.em.transactional(async (em) => {
    const suspect = await resolveSuspect(em, ctx.tenantId, input.suspect);
    const incident = em.create(Incident, {
      id: randomUUID(), tenantId: ctx.tenantId, status: IncidentStatus.OPEN, description, detectedAt: input.detectedAt,
      authorityDueAt: new Date(input.detectedAt.getTime() + AUTHORITY_DEADLINE_HOURS * HOUR_MS),
      suspectCredentialId: suspect.credentialId, suspectPseudonym: suspect.pseudonym, windowFrom: input.windowFrom, windowUntil: input.windowUntil,
      openedAt: now, openedBy: ctx.access.userId, history: [{ action: IncidentAction.OPENED, at: now.toISOString(), by: ctx.access.userId }], updatedAt: now,
    });
    await em.flush();
    ctx.audit.addressed(incidentResource(incident));
    if (suspect.userId) ctx.audit.wrote([suspect.userId], ['user.credential']);
    return incident;
  });
}

/** Changes an open incident under a row lock, remembering who did what. */
async function change(ctx: RequestContext, rawId: string, action: IncidentAction,
  apply: (i: Incident, em: EntityManager, now: Date) => Promise<void> | void): Promise<Incident> {
  ctx.access.requireAdmin();
  const id = parseId(rawId);
  return ctx.em.transactional(async (em) => {
    const incident = await em.findOne(Incident, { id, tenantId: ctx.tenantId }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
    if (!incident) throw notFound('Incident');
    if (incident.status !== IncidentStatus.OPEN) throw incidentClosed();
    const now = new Date();
    await apply(incident, em, now);
    remember(incident, action, ctx.access.userId, now);
    await em.flush();
    ctx.audit.addressed(incidentResource(incident));
    return incident;
  });
}

/** Corrects an open incident's description or window (the impact follows the window). */
export function updateIncident(ctx: RequestContext, rawId: string, input: UpdateIncidentInput): Promise<Incident> {
  return change(ctx, rawId, IncidentAction.UPDATED, (i) => {
    if (input.description != null) i.description = requiredText(input.description, 'description', 4000);
    const from = input.windowFrom ?? i.windowFrom;
    const until = input.windowUntil ?? i.windowUntil;
    checkWindow(from, until);
    i.windowFrom = from;
    i.windowUntil = until;
  });
}

async function insertNotification(em: EntityManager, ctx: RequestContext, i: Incident, n: {
  kind: NotificationKind; notifiedAt: Date; recipient: string; method: string; reference: string | null; subjectCount: number | null;
}): Promise<void> {
  await em.execute(
    `insert into incident_notification (id, tenant_id, incident_id, kind, notified_at, recipient, method, reference, subject_count, recorded_by, recorded_at)
     values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now())`,
    [randomUUID(), ctx.tenantId, i.id, n.kind, n.notifiedAt, n.recipient, n.method, n.reference, n.subjectCount, ctx.access.userId]);
}

/**
 * Records that the supervisory authority was told. Told after the deadline, the notification must
 * give the reasons for the delay (Art. 33(1)): one recorded before, or `delayReason` now.
 */
export function recordAuthorityNotification(ctx: RequestContext, rawId: string, input: AuthorityNotificationInput): Promise<Incident> {
  const authority = requiredText(input.authority, 'authority', 200);
  const method = requiredText(input.method, 'method', 200);
  const reference = optionalText(input.reference, 'reference', 200);
  const delayReason = optionalText(input.delayReason, 'delayReason', 4000);
  return change(ctx, rawId, IncidentAction.AUTHORITY_NOTIFIED, async (i, em, now) => {
    checkPast(input.notifiedAt, 'notifiedAt', now);
    const late = input.notifiedAt.getTime() > i.authorityDueAt.getTime();
    if (late && !i.delayReason && !delayReason) {
      throw new AppError(ErrorCode.BAD_USER_INPUT, 'The authority was told after the 72-hour deadline: give the reasons for the delay (Art. 33(1)).',
        { reason: 'DELAY_REASON_REQUIRED', field: 'delayReason' });
    }
    if (delayReason && !i.delayReason) {
      i.delayReason = delayReason;
      i.delayRecordedAt = now;
    }
    if (!i.authorityNotifiedAt || input.notifiedAt < i.authorityNotifiedAt) i.authorityNotifiedAt = input.notifiedAt;
    await insertNotification(em, ctx, i, { kind: NotificationKind.AUTHORITY, notifiedAt: input.notifiedAt, recipient: authority, method, reference, subjectCount: null });
  });
}

/** Records that the people affected were told (Art. 34): how many, when, how. */
export function recordSubjectNotification(ctx: RequestContext, rawId: string, input: SubjectNotificationInput): Promise<Incident> {
  const recipients = requiredText(input.recipients, 'recipients', 200);
  const method = requiredText(input.method, 'method', 200);
  const reference = optionalText(input.reference, 'reference', 200);
  if (!Number.isInteger(input.subjectCount) || input.subjectCount < 0) throw badInput('subjectCount must be a whole number ≥ 0.', 'subjectCount');
  return change(ctx, rawId, IncidentAction.SUBJECTS_NOTIFIED, async (i, em, now) => {
    checkPast(input.notifiedAt, 'notifiedAt', now);
    await insertNotification(em, ctx, i, {
      kind: NotificationKind.SUBJECTS, notifiedAt: input.notifiedAt, recipient: recipients, method, reference, subjectCount: input.subjectCount,
    });
  });
}

/**
 * Records why the authority is told late, or why it need not be told (the breach is unlikely to result
 * in a risk, Art. 33(1)). Either way the incident is no longer overdue. Recorded once.
 */
export function recordNotificationDelay(ctx: RequestContext, rawId: string, rawReason: string): Promise<Incident> {
  const reason = requiredText(rawReason, 'reason', 4000);
  return change(ctx, rawId, IncidentAction.DELAY_RECORDED, (i, _em, now) => {
    if (i.delayReason) throw new AppError(ErrorCode.BAD_USER_INPUT, 'A reason for the delay is already recorded.', { reason: 'ALREADY_RECORDED', field: 'reason' });
    i.delayReason = reason;
    i.delayRecordedAt = now;
  });
}

/**
 * Revokes the suspect's credentials with the token module's own revocation: the suspected token, or
 * every token of the suspected member. An identity-provider token cannot be revoked here (its issuer
 * does that; deactivating the member stops it being accepted). Recorded on the incident, and as an
 * access event about the member whose credentials they were.
 */
export function revokeIncidentCredential(ctx: RequestContext, rawId: string): Promise<Incident> {
  return change(ctx, rawId, IncidentAction.CREDENTIAL_REVOKED, async (i, em, now) => {
    const owner = await suspectUserId(em, i);
    let revoked = 0;
    if (i.suspectPseudonym) {
      if (owner) revoked = await revokeTokensOfUser(em, ctx.tenantId, owner);
    } else if (isUuid(i.suspectCredentialId!)) {
      const already = (await em.execute('select 1 from api_token where tenant_id = ? and id = ? and revoked_at is not null', [ctx.tenantId, i.suspectCredentialId])).length > 0;
      await revokeToken(em, ctx.tenantId, i.suspectCredentialId!);
      revoked = already ? 0 : 1;
    } else {
      throw new AppError(ErrorCode.BAD_USER_INPUT,
        'An identity-provider token cannot be revoked here: ask its issuer, or deactivate the member so it is no longer accepted.', { reason: 'NOT_REVOCABLE' });
    }
    i.credentialRevokedAt = now;
    i.revokedTokenCount = (i.revokedTokenCount ?? 0) + revoked;
    if (owner) ctx.audit.wrote([owner], ['user.credential']);
  });
}

/** Closes an incident with a summary of its effects and the remedial action taken; it stays on record. */
export function closeIncident(ctx: RequestContext, rawId: string, rawSummary: string): Promise<Incident> {
  const summary = requiredText(rawSummary, 'summary', 4000);
  return change(ctx, rawId, IncidentAction.CLOSED, (i, _em, now) => {
    i.status = IncidentStatus.CLOSED;
    i.closedAt = now;
    i.closingSummary = summary;
  });
}

/** Incidents are an audit surface: administrators and external auditors read them, nobody else. */
function requireAuditSurface(ctx: RequestContext): void {
  if (!ctx.principal || !readsAuditTrailAs(ctx.principal)) throw forbidden('Only administrators and auditors see incidents.');
}

/** Administrators and auditors: one incident of the tenant. */
export async function getIncident(ctx: RequestContext, rawId: string): Promise<Incident> {
  requireAuditSurface(ctx);
  const incident = await ctx.em.findOne(Incident, { id: parseId(rawId), tenantId: ctx.tenantId });
  if (!incident) throw notFound('Incident');
  return incident;
}

/** Administrators and auditors: the tenant's incidents, newest first. */
export async function listIncidents(ctx: RequestContext, args: IncidentsArgs): Promise<ConnectionShape<Incident>> {
  requireAuditSurface(ctx);
  const { first, after } = pageRequest(args, ctx.config, CURSOR.byTime);
  const where = ['i.tenant_id = ?'];
  const params: unknown[] = [ctx.tenantId];
  if (args.status) {
    where.push('i.status = ?');
    params.push(args.status);
  }
  const overdue = 'i.authority_notified_at is null and i.delay_reason is null and i.authority_due_at < now()';
  if (args.overdue === true) where.push(overdue);
  if (args.overdue === false) where.push(`not (${overdue})`);
  if (after) {
    where.push('(i.opened_at, i.id) < (?::timestamptz, ?::uuid)');
    params.push(...after);
  }
  const rows = await ctx.em.execute<Record<string, unknown>[]>(
    `select i.* from incident i where ${where.join(' and ')} order by i.opened_at desc, i.id desc limit ?`, [...params, first + 1]);
  return toConnection(rows.map((r) => ctx.em.map(Incident, r as never)), first, (i) => [dateKey(i.openedAt), i.id]);
}

interface NotificationRow {
  id: string; incident_id: string; kind: NotificationKind; notified_at: string; recipient: string; method: string; reference: string | null;
  subject_count: number | null; recorded_at: string;
}

/** The notifications of several incidents, each list in the order given; one statement (the request's loader batches a page). */
export async function notificationsOfIncidents(em: EntityManager, tenantId: string, ids: readonly string[]):
  Promise<Map<string, IncidentNotification[]>> {
  const rows = await execBound<NotificationRow>(em,
    `select id, incident_id, kind, notified_at, recipient, method, reference, subject_count, recorded_at
       from incident_notification where tenant_id = ? and incident_id = any(?::uuid[]) order by notified_at, recorded_at, id`,
    [tenantId, pgArray(ids)]);
  const byIncident = new Map<string, IncidentNotification[]>();
  for (const r of rows) {
    let list = byIncident.get(r.incident_id);
    if (!list) byIncident.set(r.incident_id, (list = []));
    list.push({
      id: r.id, kind: r.kind, notifiedAt: pgTimestamp(r.notified_at), recipient: r.recipient, method: r.method, reference: r.reference,
      subjectCount: r.subject_count, recordedAt: pgTimestamp(r.recorded_at),
    });
  }
  return byIncident;
}

/** The member behind each incident's suspect (see `suspectUserId`), for a page of incidents in one statement. */
export async function suspectUsersOfIncidents(em: EntityManager, tenantId: string, ids: readonly string[]): Promise<Map<string, string>> {
  const rows = await execBound<{ id: string; user_id: string }>(em,
    `select i.id, coalesce(k.user_id, t.user_id) as user_id
       from incident i
       left join subject_key k on k.tenant_id = i.tenant_id and k.pseudonym = i.suspect_pseudonym
       left join api_token t on i.suspect_pseudonym is null and t.tenant_id = i.tenant_id and t.id::text = i.suspect_credential_id
      where i.tenant_id = ? and i.id = any(?::uuid[]) and coalesce(k.user_id, t.user_id) is not null`, [tenantId, pgArray(ids)]);
  return new Map(rows.map((r) => [r.id, r.user_id]));
}

// ---------------------------------------------------------------------------------------------
// Impact, from the access log
// ---------------------------------------------------------------------------------------------

/** The suspect's events in [from, until): one index range scan on (tenant, credential or actor, time). */
function suspectEvents(suspect: Suspect): string {
  const who = 'credentialId' in suspect ? 'e.credential_id = ?' : 'e.actor_pseudonym = ?::uuid';
  return `select e.id, e.tenant_id, e.access_kind, e.resources from access_event e
           where e.tenant_id = ?::uuid and ${who} and e.occurred_at >= ?::timestamptz and e.occurred_at < ?::timestamptz`;
}

/**
 * The subjects of one of those events, through the (event_id) index. `offset 0` keeps the planner from
 * turning this into a hash join over the tenant's whole subject table: with 1,000,000 events in the
 * tenant that scan alone took 2 s, where 50,000 index lookups take a fraction of it.
 */
const subjectsOf = (ev: string) =>
  `select s.pseudonym, s.event_id, s.occurred_at, s.categories from access_event_subject s
    where s.event_id = ${ev}.id and s.tenant_id = ${ev}.tenant_id offset 0`;

const suspectParams = (tenantId: string, suspect: Suspect, from: Date, until: Date) =>
  [tenantId, 'credentialId' in suspect ? suspect.credentialId : suspect.pseudonym, from.toISOString(), until.toISOString()];

export interface ImpactFigures {
  eventCount: number;
  eventsByKind: { kind: string; events: number }[];
  deniedAttempts: number;
  subjectCount: number;
  erasedSubjectCount: number;
  categories: { category: string; subjects: number }[];
  resourceCount: number;
  resourcesByType: { type: string; count: number }[];
  resources: string[];
}

/** The impact statement and its parameters (the benchmark EXPLAINs it). */
export function impactQuery(tenantId: string, suspect: Suspect, from: Date, until: Date): { sql: string; params: unknown[] } {
  return {
    sql: `with ev as materialized (${suspectEvents(suspect)}),
            hits as materialized (
              select s.pseudonym, s.categories from ev cross join lateral (${subjectsOf('ev')}) as s where ev.access_kind <> 'DENY'),
            people as materialized (select distinct pseudonym from hits),
            res as materialized (select distinct r from ev cross join unnest(ev.resources) as r where ev.access_kind <> 'DENY')
       select (select count(*) from ev where access_kind <> 'DENY')::int as events,
              (select count(*) from ev where access_kind = 'DENY')::int as denied,
              (select coalesce(json_agg(json_build_object('kind', k, 'events', n) order by k), '[]')
                 from (select access_kind as k, count(*)::int as n from ev where access_kind <> 'DENY' group by 1) x) as by_kind,
              (select count(*) from people)::int as subjects,
              (select count(*) from people p where not exists (select 1 from subject_key k where k.tenant_id = ?::uuid and k.pseudonym = p.pseudonym))::int as erased,
              (select coalesce(json_agg(json_build_object('category', c, 'subjects', n) order by c), '[]')
                 from (select c, count(distinct h.pseudonym)::int as n from hits h cross join unnest(h.categories) as c group by c) x) as categories,
              (select count(*) from res)::int as resource_count,
              (select coalesce(json_agg(json_build_object('type', t, 'count', n) order by t), '[]')
                 from (select split_part(r, ':', 1) as t, count(*)::int as n from res group by 1) x) as by_type,
              (select array_agg(r order by r) from (select r from res order by r limit ${LISTED_RESOURCES}) x) as resources`,
    params: [...suspectParams(tenantId, suspect, from, until), tenantId],
  };
}

/**
 * What a suspect touched in [from, until), in one statement: its READ, WRITE and DISCLOSE events
 * (a DENY accessed nothing: counted apart), the distinct people those events name (erased people
 * included: their pseudonyms stay in the log), the categories per person, and the objects named.
 * Works on any EntityManager bound to the tenant (the benchmark times it directly).
 */
export async function computeImpact(em: EntityManager, tenantId: string, suspect: Suspect, from: Date, until: Date): Promise<ImpactFigures> {
  const q = impactQuery(tenantId, suspect, from, until);
  const [row] = await em.execute<{
    events: number; denied: number; by_kind: { kind: string; events: number }[]; subjects: number; erased: number;
    categories: { category: string; subjects: number }[]; resource_count: number; by_type: { type: string; count: number }[]; resources: string[] | null;
  }[]>(q.sql, q.params);
  return {
    eventCount: row.events, eventsByKind: row.by_kind, deniedAttempts: row.denied, subjectCount: row.subjects, erasedSubjectCount: row.erased,
    categories: row.categories, resourceCount: row.resource_count, resourcesByType: row.by_type, resources: row.resources ?? [],
  };
}

/** The window an impact covers for this caller: the incident's, narrowed to an auditor's own window. */
function impactWindow(ctx: RequestContext, i: Incident): { from: Date; until: Date; clamped: boolean } {
  const w = clampToAuditWindow(ctx, i.windowFrom, i.windowUntil);
  const from = w.from ?? i.windowFrom;
  const until = w.until ?? i.windowUntil;
  return { from, until, clamped: from.getTime() !== i.windowFrom.getTime() || until.getTime() !== i.windowUntil.getTime() };
}

/** An incident's impact for the caller (auditors: within their window). */
export async function impactOf(ctx: RequestContext, i: Incident): Promise<IncidentImpact> {
  const w = impactWindow(ctx, i);
  const f = w.from.getTime() < w.until.getTime() ? await computeImpact(ctx.em, ctx.tenantId, suspectOf(i), w.from, w.until) : null;
  const figures: ImpactFigures = f ?? {
    eventCount: 0, eventsByKind: [], deniedAttempts: 0, subjectCount: 0, erasedSubjectCount: 0, categories: [], resourceCount: 0, resourcesByType: [], resources: [],
  };
  const note = figures.erasedSubjectCount > 0
    ? `${figures.erasedSubjectCount} of the ${figures.subjectCount} people affected have been erased since: they are counted, but nothing links their pseudonyms to anyone any more, so they cannot be listed by name.`
    : null;
  return { ...figures, ...w, note };
}

interface SubjectRow { pseudonym: string; categories: string[]; events: number; first_at: string; last_at: string; user_id: string | null; erased: boolean }

/**
 * Up to `limit` people a suspect touched in [from, until), by pseudonym after `after`, with the
 * categories and times per person. `named`: also the member behind each pseudonym (administrators).
 */
export async function affectedSubjectsPage(em: EntityManager, tenantId: string, suspect: Suspect, from: Date, until: Date, limit: number,
  after: string | null, named: boolean): Promise<IncidentAffectedSubject[]> {
  const rows = await em.execute<SubjectRow[]>(
    `with ev as materialized (${suspectEvents(suspect)}),
          page as (
            select s.pseudonym, count(distinct s.event_id)::int as events, min(s.occurred_at) as first_at, max(s.occurred_at) as last_at,
                   array_agg(distinct c order by c) as categories
              from ev cross join lateral (${subjectsOf('ev')}) as s cross join unnest(s.categories) as c
             where ev.access_kind <> 'DENY' ${after ? 'and s.pseudonym > ?::uuid' : ''}
             group by s.pseudonym order by s.pseudonym limit ?)
     select p.pseudonym, p.events, p.first_at, p.last_at, p.categories,
            ${named ? 'k.user_id' : 'null::uuid as user_id'}, k.pseudonym is null as erased
       from page p left join subject_key k on k.tenant_id = ?::uuid and k.pseudonym = p.pseudonym
      order by p.pseudonym`,
    [...suspectParams(tenantId, suspect, from, until), ...(after ? [after] : []), limit, tenantId]);
  return rows.map((r) => ({
    pseudonym: r.pseudonym, userId: r.user_id, erased: r.erased, categories: r.categories, eventCount: r.events,
    firstAccessAt: pgTimestamp(r.first_at), lastAccessAt: pgTimestamp(r.last_at),
  }));
}

/**
 * The people an incident's suspect touched, by pseudonym. Administrators get the member behind each
 * (for `person`); auditors never have it looked up, and see pseudonyms only.
 */
export async function affectedSubjects(ctx: RequestContext, i: Incident, args: PageArgs): Promise<ConnectionShape<IncidentAffectedSubject>> {
  const { first, after } = pageRequest(args, ctx.config, CURSOR.byId);
  const w = impactWindow(ctx, i);
  const subjects = w.from.getTime() >= w.until.getTime() ? []
    : await affectedSubjectsPage(ctx.em, ctx.tenantId, suspectOf(i), w.from, w.until, first + 1, after ? String(after[0]) : null, ctx.access.isAdmin);
  return toConnection(subjects, first, (s) => [s.pseudonym]);
}
