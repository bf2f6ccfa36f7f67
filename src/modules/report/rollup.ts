import type { EntityManager } from '@mikro-orm/postgresql';

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
   where s.event_id = e.id
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

/**
 * Adds the events matching `where` (with `params`) to the rollups. The sealer calls it for the events
 * it seals, in the same transaction, so each event is counted once, exactly when it is sealed; the
 * caller must be able to read every tenant's rows (the owner).
 */
export async function rollUp(em: EntityManager, where: string, params: unknown[]): Promise<void> {
  await em.execute(`
    insert into report_daily_access (tenant_id, day, access_kind, role, purpose, category, events, subjects)
    ${summarySelect(where)}
    on conflict (tenant_id, day, role, purpose, category, access_kind) do update
      set events = report_daily_access.events + excluded.events, subjects = report_daily_access.subjects + excluded.subjects`, params);
  for (const report of ACTOR_REPORTS) {
    await em.execute(`
      insert into report_daily_actor (${ACTOR_COLUMNS}, events, subjects, first_at, last_at)
      ${actorSelect(report, where)}
      on conflict on constraint report_daily_actor_key do update
        set events = report_daily_actor.events + excluded.events, subjects = report_daily_actor.subjects + excluded.subjects,
            first_at = least(report_daily_actor.first_at, excluded.first_at), last_at = greatest(report_daily_actor.last_at, excluded.last_at)`,
    params);
  }
}

/** Adds the events of transactions in [from, below) to the rollups: what one sealing round seals. */
export function rollUpSealed(em: EntityManager, from: string, below: string): Promise<void> {
  return rollUp(em, 'e.txid >= ?::xid8 and e.txid < ?::xid8', [from, below]);
}
