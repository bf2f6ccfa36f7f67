import type { EntityManager } from '@mikro-orm/postgresql';
import type { EventRecord } from '../../audit/leaf';
import { execBound, pgArray } from '../../db/bound';
import { pgTimestamp } from '../../db/timestamps';

/**
 * The daily rollups the reports read (see Migration20261125600000_reports), and the one definition of
 * how events are counted in them. The same SELECTs aggregate sealed events into the rollups (the
 * sealer, in its own transaction) and the events the rollups do not hold yet at report time (unsealed
 * ones, and the partial days at the ends of a range), so both halves of a report count alike.
 *
 * Each SELECT takes the events matching `where` (a condition on `e`, an access_event). Days are UTC.
 * A subject is a student when their account's role is STUDENT when the events are counted: at sealing
 * time for the rollups (normally seconds after the access), at report time for the rest. Subjects
 * erased by then have no account left and are not counted as students.
 */

export type ActorReport = 'DENIED' | 'PRIVILEGED' | 'DISCLOSED';

const DAY = `(e.occurred_at at time zone 'UTC')::date`;
const ROLE = 'coalesce(e.actor_role, e.actor_kind)';

/** Categories touched by an event: one row per category, with how many of its subjects it touched in it. */
const categoriesOf = (studentsOnly: boolean) => `
  select c.category, count(*) as n
    from access_event_subject s
    ${studentsOnly ? `join subject_key k on k.tenant_id = s.tenant_id and k.pseudonym = s.pseudonym
    join app_user u on u.tenant_id = k.tenant_id and u.id = k.user_id and u.role = 'STUDENT'` : ''}
    cross join unnest(s.categories) as c(category)
   where s.event_id = e.id and s.tenant_id = e.tenant_id
   group by c.category`;

/**
 * The access summary's rows: events by day, kind, role, purpose and category touched (one row per
 * category an event touched; '' for an event that touched no one), and (event, subject) pairs.
 */
export const summarySelect = (where: string) => `
  select e.tenant_id, ${DAY} as day, e.access_kind, ${ROLE} as role, e.purpose, coalesce(t.category, '') as category,
         count(*)::bigint as events, coalesce(sum(t.n), 0)::bigint as subjects
    from access_event e
    left join lateral (${categoriesOf(false)}) t on true
   where ${where}
   group by 1, 2, 3, 4, 5, 6`;

const ACTOR_COLUMNS = 'tenant_id, report, day, role, actor_kind, actor_pseudonym, credential_id, root_field, purpose, category, recipient';

/** Rows of one actor report from the events matching `where`. */
export function actorSelect(report: ActorReport, where: string): string {
  const grouped = 'group by 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11';
  switch (report) {
    case 'DENIED':
      return `
  select e.tenant_id, 'DENIED'::text as report, ${DAY} as day, ${ROLE} as role, e.actor_kind, e.actor_pseudonym, e.credential_id,
         e.root_field, e.purpose, ''::text as category, ''::text as recipient,
         count(*)::bigint as events, 0::bigint as subjects, min(e.occurred_at) as first_at, max(e.occurred_at) as last_at
    from access_event e
   where e.access_kind = 'DENY' and ${where}
   ${grouped}`;
    case 'PRIVILEGED':
      return `
  select e.tenant_id, 'PRIVILEGED'::text as report, ${DAY} as day, ${ROLE} as role, e.actor_kind, e.actor_pseudonym, e.credential_id,
         e.root_field, e.purpose, t.category, ''::text as recipient,
         count(*)::bigint as events, sum(t.n)::bigint as subjects, min(e.occurred_at) as first_at, max(e.occurred_at) as last_at
    from access_event e
    join lateral (${categoriesOf(true)}) t on true
   where e.access_kind = 'READ' and e.actor_role = 'ADMIN' and ${where}
   ${grouped}`;
    case 'DISCLOSED':
      // By recipient and category, not by actor: who launched a tool is in the summary and the log.
      return `
  select e.tenant_id, 'DISCLOSED'::text as report, ${DAY} as day, ${ROLE} as role, e.actor_kind, null::uuid as actor_pseudonym,
         null::text as credential_id, e.root_field, e.purpose, t.category, coalesce(r.recipient, '') as recipient,
         count(*)::bigint as events, sum(t.n)::bigint as subjects, min(e.occurred_at) as first_at, max(e.occurred_at) as last_at
    from access_event e
    left join lateral (select x from unnest(e.resources) as x where x like 'LtiTool:%' order by x limit 1) as r(recipient) on true
    join lateral (${categoriesOf(false)}) t on true
   where e.access_kind = 'DISCLOSE' and ${where}
   ${grouped}`;
  }
}

const ACTOR_REPORTS: ActorReport[] = ['DENIED', 'PRIVILEGED', 'DISCLOSED'];

const ADD_ACCESS = `
    on conflict (tenant_id, day, role, purpose, category, access_kind) do update
      set events = report_daily_access.events + excluded.events, subjects = report_daily_access.subjects + excluded.subjects`;

/** Adds the actor reports' rows of the events matching `where` (with `params`) to report_daily_actor. */
async function rollUpActors(em: EntityManager, where: string, params: unknown[], reports = ACTOR_REPORTS): Promise<void> {
  for (const report of reports) {
    await execBound(em, `
      insert into report_daily_actor (${ACTOR_COLUMNS}, events, subjects, first_at, last_at)
      ${actorSelect(report, where)}
      on conflict on constraint report_daily_actor_key do update
        set events = report_daily_actor.events + excluded.events, subjects = report_daily_actor.subjects + excluded.subjects,
            first_at = least(report_daily_actor.first_at, excluded.first_at), last_at = greatest(report_daily_actor.last_at, excluded.last_at)`,
    params);
  }
}

/**
 * Adds the events matching `where` (with `params`) to the rollups, read from the log (rebuilding them,
 * or catching up); the caller must be able to read every tenant's rows (the owner).
 */
export async function rollUp(em: EntityManager, where: string, params: unknown[]): Promise<void> {
  await execBound(em, `
    insert into report_daily_access (tenant_id, day, access_kind, role, purpose, category, events, subjects)
    ${summarySelect(where)} ${ADD_ACCESS}`, params);
  await rollUpActors(em, where, params);
}

/** What the sealer holds of each event it seals: enough to count it in the access summary. */
export type SealedEvent = Pick<EventRecord, 'id' | 'tenant_id' | 'occurred_at' | 'access_kind' | 'actor_role' | 'actor_kind' | 'purpose' | 'subjects'>;

/**
 * The access summary's rows of events already in memory, counted exactly as `summarySelect` counts
 * them in SQL: per event, one row per category its subjects were touched in (with how many), or one
 * row of category '' when it touched no one. (A test rebuilds the rollups from the log and compares.)
 */
export function summaryRowsOf(events: readonly SealedEvent[]) {
  const rows = new Map<string, { tenant_id: string; day: string; access_kind: string; role: string; purpose: string; category: string;
    events: number; subjects: number }>();
  for (const e of events) {
    const day = pgTimestamp(e.occurred_at).toISOString().slice(0, 10);
    const role = e.actor_role ?? e.actor_kind;
    const perCategory = new Map<string, number>();
    for (const [, categories] of e.subjects) for (const c of categories) perCategory.set(c, (perCategory.get(c) ?? 0) + 1);
    if (perCategory.size === 0) perCategory.set('', 0);
    for (const [category, n] of perCategory) {
      const key = `${e.tenant_id}|${day}|${e.access_kind}|${role}|${e.purpose}|${category}`;
      const row = rows.get(key);
      if (row) {
        row.events++;
        row.subjects += n;
      } else {
        rows.set(key, { tenant_id: e.tenant_id, day, access_kind: e.access_kind, role, purpose: e.purpose, category, events: 1, subjects: n });
      }
    }
  }
  return [...rows.values()];
}

/**
 * Adds one sealing round's events, which the sealer holds in memory with their subjects, to the
 * rollups, in the sealer's transaction. The access summary is counted from memory (re-reading every
 * subject row cost a fifth of a round); the actor reports, which concern few events, from the log.
 */
export async function rollUpSealed(em: EntityManager, events: readonly SealedEvent[]): Promise<void> {
  const rows = summaryRowsOf(events);
  if (rows.length) {
    await execBound(em, `
      insert into report_daily_access (tenant_id, day, access_kind, role, purpose, category, events, subjects)
      select tenant_id, day, access_kind, role, purpose, category, events, subjects
        from json_to_recordset(?::json) as x(tenant_id uuid, day date, access_kind text, role text, purpose text, category text,
                                             events bigint, subjects bigint) ${ADD_ACCESS}`, [JSON.stringify(rows)]);
  }
  // The actor reports concern few of a round's events: each reads just its own, by id (none: no statement).
  const matching: Record<ActorReport, (e: SealedEvent) => boolean> = {
    DENIED: (e) => e.access_kind === 'DENY',
    PRIVILEGED: (e) => e.access_kind === 'READ' && e.actor_role === 'ADMIN',
    DISCLOSED: (e) => e.access_kind === 'DISCLOSE',
  };
  for (const report of ACTOR_REPORTS) {
    const ids = events.filter(matching[report]).map((e) => e.id);
    if (ids.length) await rollUpActors(em, 'e.id = any(?::uuid[])', [pgArray(ids)], [report]);
  }
}
