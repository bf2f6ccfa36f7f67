import type { EntityManager } from '@mikro-orm/postgresql';
import type { RequestContext } from '../../server/context';
import { execBound } from '../../db/bound';
import { pgTimestamp } from '../../db/timestamps';
import { badInput } from '../../shared/errors';
import { PURPOSES } from '../../audit/purposes';
import { DATA_CATEGORIES, isDataCategory } from '../../privacy/categories';
import { clampToAuditWindow } from '../audit/audit-window';
import { DataRequestType } from '../dsr/dsr.entity';
import { actorSelect, summarySelect, type ActorReport } from './rollup';
import type {
  AccessSummaryReport, AccessSummaryRow, AuditChainStatus, DeniedAttemptRow, DeniedAttemptsReport, DisclosureRow, DisclosuresReport,
  OverdueRequestRow, PrivilegedAccessReport, PrivilegedAccessRow, RequestComplianceReport, RequestComplianceRow,
} from './report.types';

/**
 * The audit reports (DESIGN §8). Each reads the daily rollups for the whole UTC days of its range and
 * the access log itself for the rest: events not sealed yet (the rollups count events as they are
 * sealed) and the partial days at either end. Both halves are read in one statement, so one snapshot:
 * an event is counted in exactly one of them. Rows come in a total order (every grouping column, text
 * compared byte-wise), so a report over the same range gives the same rows every time.
 *
 * Who may read them is the permission layer's business (administrators and auditors of the tenant);
 * an auditor's token may limit the events it sees to a window, and every range is cut to it here.
 */

export const ACTOR_ROLES = ['ADMIN', 'INSTRUCTOR', 'STUDENT', 'AUDITOR', 'SERVICE', 'SYSTEM'] as const;

export interface ReportFilters {
  from?: Date | null;
  until?: Date | null;
  role?: string | null;
  category?: string | null;
  purpose?: string | null;
}

interface Checked {
  role: string | null;
  category: string | null;
  purpose: string | null;
}

function checkFilters(f: ReportFilters): Checked {
  const role = f.role ?? null;
  const category = f.category ?? null;
  const purpose = f.purpose ?? null;
  if (role !== null && !(ACTOR_ROLES as readonly string[]).includes(role)) {
    throw badInput(`Unknown role "${role}": use one of ${ACTOR_ROLES.join(', ')}.`, 'role');
  }
  if (category !== null && !isDataCategory(category)) throw badInput(`Unknown data category "${category}".`, 'category');
  if (purpose !== null && !Object.hasOwn(PURPOSES, purpose)) throw badInput(`Unknown purpose "${purpose}".`, 'purpose');
  return { role, category, purpose };
}

const DAY_MS = 86_400_000;
const floorDay = (d: Date) => new Date(Math.floor(d.getTime() / DAY_MS) * DAY_MS);
const ceilDay = (d: Date) => new Date(Math.ceil(d.getTime() / DAY_MS) * DAY_MS);
const isoDay = (d: Date) => d.toISOString().slice(0, 10);

/**
 * A range cut to the caller's window and split for the rollups: whole UTC days [firstDay, endDay) come
 * from the rollups, [lo, fullStart) and [fullEnd, hi) from the log. Open ends are ±infinity.
 */
interface Span {
  from: Date | null;
  until: Date | null;
  lo: string;
  hi: string;
  fullStart: string;
  fullEnd: string;
  firstDay: string;
  endDay: string;
}

function spanOf(ctx: RequestContext, from: Date | null | undefined, until: Date | null | undefined): Span {
  for (const [d, field] of [[from, 'from'], [until, 'until']] as const) {
    if (d && Number.isNaN(d.getTime())) throw badInput(`${field} is not a valid time.`, field);
  }
  const w = clampToAuditWindow(ctx, from, until);
  const lo = w.from ? w.from.toISOString() : '-infinity';
  const hi = w.until ? w.until.toISOString() : 'infinity';
  const start = w.from ? ceilDay(w.from) : null;
  const end = w.until ? floorDay(w.until) : null;
  if (start && end && start.getTime() >= end.getTime()) {
    // Not one whole day: everything comes from the log.
    return { from: w.from, until: w.until, lo, hi, fullStart: hi, fullEnd: hi, firstDay: '-infinity', endDay: '-infinity' };
  }
  return {
    from: w.from, until: w.until, lo, hi,
    fullStart: start ? start.toISOString() : '-infinity', fullEnd: end ? end.toISOString() : 'infinity',
    firstDay: start ? isoDay(start) : '-infinity', endDay: end ? isoDay(end) : 'infinity',
  };
}

/**
 * The events of a span the rollups do not count, as three arms of a UNION ALL (each gets its own index
 * range): the partial day at the start, the partial day at the end (tenant and time index), and the
 * events not sealed yet inside the whole days (transaction id index). The exact test of "not sealed"
 * is the watermark in this statement's snapshot; `hint`, the watermark read just before, is a lower
 * bound of it (it only grows) that the planner can see, so it picks the transaction id index and reads
 * only the backlog, not the tenant's whole year.
 */
function rawUnion(select: (where: string) => string, tenantId: string, s: Span, hint: string): { sql: string; params: unknown[] } {
  const range = 'e.tenant_id = ?::uuid and e.occurred_at >= ?::timestamptz and e.occurred_at < ?::timestamptz';
  const unsealed = `e.txid >= ?::xid8 and e.txid >= (select sealed_below from audit_seal_state) and ${range}`;
  return {
    sql: [select(range), select(range), select(unsealed)].map((q) => `select * from (${q}) arm`).join(' union all '),
    params: [tenantId, s.lo, s.fullStart, tenantId, s.fullEnd, s.hi, hint, tenantId, s.fullStart, s.fullEnd],
  };
}

/** The seal watermark now: a lower bound of the one any later statement sees. */
async function watermarkHint(em: EntityManager): Promise<string> {
  const [row] = await execBound<{ below: string }>(em, 'select sealed_below::text as below from audit_seal_state', []);
  return row.below;
}

/** `and column = ?` for each filter given. */
function filterSql(pairs: [column: string, value: string | null][]): { sql: string; params: string[] } {
  const given = pairs.filter(([, v]) => v !== null) as [string, string][];
  return { sql: given.map(([c]) => ` and ${c} = ?`).join(''), params: given.map(([, v]) => v) };
}

const n = (v: string | number | null) => (v === null ? 0 : Number(v));
const C = 'collate "C"';

/** Access by day, actor role, category, purpose and access kind. */
export async function accessSummary(ctx: RequestContext, f: ReportFilters): Promise<AccessSummaryReport> {
  const { role, category, purpose } = checkFilters(f);
  const s = spanOf(ctx, f.from, f.until);
  // '' is the rollups' "no category" (events that touched no one); a category filter never matches it.
  const where = filterSql([['role', role], ['category', category], ['purpose', purpose]]);
  const raw = rawUnion(summarySelect, ctx.tenantId, s, await watermarkHint(ctx.em));
  const rows = await execBound<{ day: string; role: string; category: string; purpose: string; access_kind: string; events: string; subjects: string }>(ctx.em,
    `select to_char(day, 'YYYY-MM-DD') as day, role, category, purpose, access_kind, sum(events)::bigint as events, sum(subjects)::bigint as subjects
       from (select day, role, category, purpose, access_kind, events, subjects from report_daily_access
              where tenant_id = ?::uuid and day >= ?::date and day < ?::date
             union all
             select day, role, category, purpose, access_kind, events, subjects from (${raw.sql}) raw) r
      where true ${where.sql}
      group by day, role, category, purpose, access_kind
      order by day, role ${C}, category ${C}, purpose ${C}, access_kind ${C}`,
    [ctx.tenantId, s.firstDay, s.endDay, ...raw.params, ...where.params]);
  return {
    from: s.from, until: s.until,
    rows: rows.map((r): AccessSummaryRow => ({
      day: r.day, role: r.role, category: r.category || null, purpose: r.purpose, accessKind: r.access_kind, events: n(r.events), subjects: n(r.subjects),
    })),
  };
}

const ACTOR_COLUMNS = 'role, actor_kind, actor_pseudonym, credential_id, root_field, purpose, category, recipient, events, subjects, first_at, last_at';

/** One actor report's rows over a span: the rollup's whole days and the log's rest, in one union. */
async function actorRows(ctx: RequestContext, report: ActorReport, s: Span): Promise<{ sql: string; params: unknown[] }> {
  const raw = rawUnion((where) => actorSelect(report, where), ctx.tenantId, s, await watermarkHint(ctx.em));
  return {
    sql: `(select ${ACTOR_COLUMNS} from report_daily_actor
            where tenant_id = ?::uuid and report = ? and day >= ?::date and day < ?::date
           union all
           select ${ACTOR_COLUMNS} from (${raw.sql}) raw)`,
    params: [ctx.tenantId, report, s.firstDay, s.endDay, ...raw.params],
  };
}

interface ActorRow {
  actor_pseudonym: string | null;
  actor_kind: string;
  role: string;
  credential_id: string | null;
  root_field: string;
  purpose: string;
  category: string;
  recipient: string;
  recipient_name: string | null;
  events: string;
  subjects: string;
  first_at: string;
  last_at: string;
}

/** Denied attempts: who (pseudonym, kind, role, credential), what (operation), how often, first and last. */
export async function deniedAttempts(ctx: RequestContext, f: ReportFilters): Promise<DeniedAttemptsReport> {
  const { role, purpose } = checkFilters(f);
  const s = spanOf(ctx, f.from, f.until);
  const union = await actorRows(ctx, 'DENIED', s);
  const where = filterSql([['role', role], ['purpose', purpose]]);
  const rows = await execBound<ActorRow>(ctx.em,
    `select actor_pseudonym, actor_kind, role, credential_id, root_field, purpose,
            sum(events)::bigint as events, min(first_at) as first_at, max(last_at) as last_at
       from ${union.sql} r
      where true ${where.sql}
      group by actor_pseudonym, actor_kind, role, credential_id, root_field, purpose
      order by events desc, actor_pseudonym nulls last, actor_kind ${C}, role ${C}, credential_id ${C} nulls last, root_field ${C}, purpose ${C}`,
    [...union.params, ...where.params]);
  return {
    from: s.from, until: s.until,
    rows: rows.map((r): DeniedAttemptRow => ({
      actorPseudonym: r.actor_pseudonym, actorKind: r.actor_kind, role: r.role, credentialId: r.credential_id, operation: r.root_field,
      purpose: r.purpose, attempts: n(r.events), firstAt: pgTimestamp(r.first_at), lastAt: pgTimestamp(r.last_at),
    })),
  };
}

/**
 * Privileged access: administrators' reads that touched students' data, by administrator, credential,
 * operation, purpose and category. A subject counts as a student when their account's role is STUDENT
 * (see rollup.ts for when that is decided).
 */
export async function privilegedAccess(ctx: RequestContext, f: ReportFilters): Promise<PrivilegedAccessReport> {
  const { category, purpose } = checkFilters(f);
  const s = spanOf(ctx, f.from, f.until);
  const union = await actorRows(ctx, 'PRIVILEGED', s);
  const where = filterSql([['category', category], ['purpose', purpose]]);
  const rows = await execBound<ActorRow>(ctx.em,
    `select actor_pseudonym, credential_id, root_field, purpose, category,
            sum(events)::bigint as events, sum(subjects)::bigint as subjects, min(first_at) as first_at, max(last_at) as last_at
       from ${union.sql} r
      where true ${where.sql}
      group by actor_pseudonym, credential_id, root_field, purpose, category
      order by events desc, actor_pseudonym nulls last, credential_id ${C} nulls last, root_field ${C}, purpose ${C}, category ${C}`,
    [...union.params, ...where.params]);
  return {
    from: s.from, until: s.until,
    rows: rows.map((r): PrivilegedAccessRow => ({
      actorPseudonym: r.actor_pseudonym, credentialId: r.credential_id, operation: r.root_field, purpose: r.purpose, category: r.category,
      events: n(r.events), students: n(r.subjects), firstAt: pgTimestamp(r.first_at), lastAt: pgTimestamp(r.last_at),
    })),
  };
}

/** Disclosures by recipient (a tool, named from lti_tool) and category. */
export async function disclosures(ctx: RequestContext, f: ReportFilters): Promise<DisclosuresReport> {
  const { role, category, purpose } = checkFilters(f);
  const s = spanOf(ctx, f.from, f.until);
  const union = await actorRows(ctx, 'DISCLOSED', s);
  const where = filterSql([['r.role', role], ['r.category', category], ['r.purpose', purpose]]);
  const rows = await execBound<ActorRow>(ctx.em,
    `select r.recipient, t.name as recipient_name, r.category,
            sum(r.events)::bigint as events, sum(r.subjects)::bigint as subjects, min(r.first_at) as first_at, max(r.last_at) as last_at
       from ${union.sql} r
       left join lti_tool t on t.tenant_id = ?::uuid and r.recipient = 'LtiTool:' || t.id::text
      where true ${where.sql}
      group by r.recipient, t.name, r.category
      order by r.recipient ${C}, r.category ${C}`,
    [...union.params, ctx.tenantId, ...where.params]);
  return {
    from: s.from, until: s.until,
    rows: rows.map((r): DisclosureRow => ({
      recipient: r.recipient, recipientName: r.recipient_name, category: r.category, events: n(r.events), subjects: n(r.subjects),
      firstAt: pgTimestamp(r.first_at), lastAt: pgTimestamp(r.last_at),
    })),
  };
}

const STATUS_COLUMNS = {
  submitted: 'SUBMITTED', approved: 'APPROVED', inProgress: 'IN_PROGRESS', completed: 'COMPLETED', rejected: 'REJECTED',
  cancelled: 'CANCELLED', failed: 'FAILED', expired: 'EXPIRED',
} as const;
const TYPES = Object.values(DataRequestType) as string[];

/**
 * Requests filed in the range: counts by type and status, completion on time, median and 90th
 * percentile of days to complete, and the requests open and past due at `asOf` (the range's end, or
 * now if it ends later). A request is open from filing until completed, cancelled or rejected.
 */
export async function requestCompliance(ctx: RequestContext, f: ReportFilters, now = new Date()): Promise<RequestComplianceReport> {
  const s = spanOf(ctx, f.from, f.until);
  const asOf = s.until && s.until.getTime() < now.getTime() ? s.until : now;
  const requests = `
    with r as (
      select id, type, status, filed_at, due_at, completed_at,
             coalesce(completed_at, cancelled_at, case when status = 'REJECTED' then decided_at end) as closed_at
        from data_subject_request
       where tenant_id = ?::uuid and filed_at >= ?::timestamptz and filed_at < ?::timestamptz
    ), done as (select r.*, completed_at is not null and completed_at <= ?::timestamptz as completed_by from r)`;
  const params = [ctx.tenantId, s.lo, s.hi, asOf.toISOString()];
  const overdueWhere = `filed_at <= ?::timestamptz and (closed_at is null or closed_at > ?::timestamptz) and due_at < ?::timestamptz`;
  const asOfParams = [asOf.toISOString(), asOf.toISOString(), asOf.toISOString()];
  const days = 'extract(epoch from completed_at - filed_at)::float8 / 86400';
  const counted = await execBound<Record<string, string | number | null>>(ctx.em,
    `${requests}
     select type, count(*) as filed,
            ${Object.entries(STATUS_COLUMNS).map(([k, v]) => `count(*) filter (where status = '${v}') as "${k}"`).join(', ')},
            count(*) filter (where completed_by and completed_at <= due_at) as on_time,
            count(*) filter (where completed_by and completed_at > due_at) as late,
            percentile_cont(0.5) within group (order by ${days}) filter (where completed_by) as median,
            percentile_cont(0.9) within group (order by ${days}) filter (where completed_by) as p90,
            count(*) filter (where ${overdueWhere}) as overdue
       from done group by grouping sets ((type), ())`,
    [...params, ...asOfParams]);
  const byType = new Map(counted.map((r) => [r.type as string | null, r]));
  const row = (type: string | null): RequestComplianceRow => {
    const r = byType.get(type) ?? {};
    const onTime = n((r.on_time as string) ?? null);
    const late = n((r.late as string) ?? null);
    const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
    return {
      type, filed: n((r.filed as string) ?? null),
      ...(Object.fromEntries(Object.keys(STATUS_COLUMNS).map((k) => [k, n((r[k] as string) ?? null)])) as Record<keyof typeof STATUS_COLUMNS, number>),
      completedOnTime: onTime, completedLate: late, onTimeShare: onTime + late ? onTime / (onTime + late) : null,
      medianDaysToComplete: num(r.median), p90DaysToComplete: num(r.p90), overdue: n((r.overdue as string) ?? null),
    };
  };
  const overdue = await execBound<{ id: string; type: string; status: string; filed_at: string; due_at: string; days: number }>(ctx.em,
    `${requests}
     select id, type, status, filed_at, due_at, extract(epoch from ?::timestamptz - due_at)::float8 / 86400 as days
       from done where ${overdueWhere}
      order by due_at, id`,
    [...params, asOf.toISOString(), ...asOfParams]);
  return {
    from: s.from, until: s.until, asOf,
    rows: [...TYPES.map(row), row(null)],
    overdue: overdue.map((r): OverdueRequestRow => ({
      requestId: r.id, type: r.type, status: r.status, filedAt: pgTimestamp(r.filed_at), dueAt: pgTimestamp(r.due_at), daysOverdue: Number(r.days),
    })),
  };
}

/**
 * The tenant's sealed log: its latest checkpoint, what is not sealed yet and for how long (the sealing
 * lag), and the last `custos audit verify` of it. Only the caller's tenant: no view spans tenants.
 */
export async function auditChainStatus(ctx: RequestContext): Promise<AuditChainStatus> {
  return chainStatusOf(ctx.em, ctx.tenantId);
}

export async function chainStatusOf(em: EntityManager, tenantId: string): Promise<AuditChainStatus> {
  const [row] = await execBound<{
    tree_size: string | null; checkpoint_at: string | null; root: Buffer | null; key_id: string | null;
    unsealed: string; oldest: string | null; lag: number | null;
    verified_at: string | null; ok: boolean | null; root_cause: string | null; failures: number | null; verified_size: string | null;
  }>(em,
    `select c.tree_size, c.created_at as checkpoint_at, c.root, c.key_id, u.unsealed, u.oldest,
            extract(epoch from clock_timestamp() - u.oldest)::float8 as lag,
            v.verified_at, v.ok, v.root_cause, v.failures, v.tree_size as verified_size
       from (select 1) as one
       left join lateral (select tree_size, created_at, root, key_id from audit_checkpoint
                           where tenant_id = ?::uuid order by tree_size desc limit 1) c on true
       cross join lateral (select count(*) as unsealed, min(occurred_at) as oldest from access_event
                            where tenant_id = ?::uuid and txid >= (select sealed_below from audit_seal_state)) u
       left join lateral (select verified_at, ok, root_cause, failures, tree_size from audit_verification
                           where tenant_id = ?::uuid order by verified_at desc, id desc limit 1) v on true`,
    [tenantId, tenantId, tenantId]);
  return {
    treeSize: row.tree_size === null ? null : Number(row.tree_size),
    checkpointAt: row.checkpoint_at ? pgTimestamp(row.checkpoint_at) : null,
    root: row.root ? row.root.toString('hex') : null,
    keyId: row.key_id,
    unsealedEvents: Number(row.unsealed),
    oldestUnsealedAt: row.oldest ? pgTimestamp(row.oldest) : null,
    sealingLagSeconds: row.lag === null ? 0 : Math.max(0, Number(row.lag)),
    lastVerifiedAt: row.verified_at ? pgTimestamp(row.verified_at) : null,
    lastVerificationOk: row.ok,
    lastVerificationRootCause: row.root_cause,
    lastVerificationFailures: row.failures,
    lastVerifiedTreeSize: row.verified_size === null ? null : Number(row.verified_size),
  };
}
