// The incident-impact benchmark: a large access log (one busy tenant among many), a suspected credential
// that made a known share of the tenant's events and touched a known set of people, and the time the
// impact statement takes over the whole year, as the server runs it (application role, row-level security).
import pg from 'pg';
import type { MikroORM } from '@mikro-orm/postgresql';
import { createTenant } from '../src/modules/tenant/tenant.service';
import { bindTenant } from '../src/server/transaction-plugin';
import { affectedSubjectsPage, computeImpact, impactQuery, type Suspect } from '../src/modules/incident/incident.service';
import { envNumber, median, percentile } from './support';

export const INCIDENT_TARGETS = {
  /** The impact of one incident (people, categories, records), in seconds. */
  impactSeconds: 2,
};

export interface IncidentSettings {
  /** Events in the incident's tenant. */
  tenantEvents: number;
  /** Events across all tenants (the incident's included). */
  totalEvents: number;
  /** Other tenants sharing the log. */
  otherTenants: number;
  /** The suspect makes one in `every` of the tenant's events. */
  every: number;
  /** Members of the tenant; the suspect touches the first `reach` of them. */
  people: number;
  reach: number;
  /** Timed runs. */
  samples: number;
}

export function readIncidentSettings(): IncidentSettings {
  const s = {
    tenantEvents: envNumber('BENCH_INCIDENT_EVENTS', 1_000_000, { integer: true }),
    totalEvents: envNumber('BENCH_INCIDENT_TOTAL_EVENTS', 10_000_000, { integer: true }),
    otherTenants: envNumber('BENCH_INCIDENT_TENANTS', 9, { integer: true }),
    every: envNumber('BENCH_INCIDENT_EVERY', 20, { integer: true }),
    people: envNumber('BENCH_INCIDENT_PEOPLE', 20_000, { integer: true }),
    reach: envNumber('BENCH_INCIDENT_REACH', 5_000, { integer: true }),
    samples: envNumber('BENCH_INCIDENT_SAMPLES', 5, { integer: true }),
  };
  if (s.totalEvents < s.tenantEvents) throw new Error('BENCH_INCIDENT_TOTAL_EVENTS must be at least BENCH_INCIDENT_EVENTS');
  if (s.reach > s.people || s.reach < 2) throw new Error('BENCH_INCIDENT_REACH must be between 2 and BENCH_INCIDENT_PEOPLE');
  if (Math.floor(s.tenantEvents / s.every) * 2 < s.reach) throw new Error('the suspect makes too few events to reach BENCH_INCIDENT_REACH people');
  return s;
}

export interface IncidentResults {
  settings: IncidentSettings;
  seedSeconds: number;
  suspectEvents: number;
  impactMs: { median: number; p95: number; max: number; samples: number[] };
  firstPageMs: number;
  plan: string[];
}

export interface IncidentContext {
  owner: MikroORM;
  app: MikroORM;
  ownerUrl: string;
  settings: IncidentSettings;
  say: (line?: string) => void;
  checkInterrupted: () => void;
}

const n0 = (n: number) => Math.round(n).toLocaleString('en-US');
const SUSPECT = 'bench-suspect-credential';
const CHUNK = 250_000;

/**
 * Events g = from..to of one tenant over the past year, each naming `perEvent` people. One in `every`
 * is the suspect's (its credential, actor and resources), touching people 2k and 2k+1 (mod reach) of
 * `people`; the rest come from 200 other credentials and touch people spread over the whole list. A
 * tenant without `people` names random pseudonyms (nobody of this tenant).
 */
const INSERT_EVENTS = `
  with ev as (
    insert into access_event (id, tenant_id, occurred_at, request_id, operation_type, operation_name, root_field, fields,
                              access_kind, purpose, actor_kind, actor_role, actor_pseudonym, credential_id, resources,
                              outcome, error_code, item_count, actor_ip, actor_user_agent)
    select gen_random_uuid(), $1::uuid, now() - interval '365 days' + g * (interval '365 days' / $4::int), 'b' || g, 'query', 'Roster',
           'Query.course', array['User.email'], case when g % 50 = 0 then 'WRITE' else 'READ' end, 'education.delivery', 'USER', 'INSTRUCTOR',
           case when g % $5::int = 0 then $6::uuid else md5('actor' || (g % 200))::uuid end,
           case when g % $5::int = 0 then '${SUSPECT}' else 'bench-credential-' || (g % 200) end,
           array['Course:' || md5('course' || (g % 300))::uuid], 'SUCCESS', null, 2, null, null
      from generate_series($2::int, $3::int) as g
    returning id, tenant_id, occurred_at, request_id
  )
  insert into access_event_subject (tenant_id, pseudonym, occurred_at, event_id, categories)
  select ev.tenant_id,
         case when cardinality($7::uuid[]) = 0 then gen_random_uuid()
              when x.n % $5::int = 0 then ($7::uuid[])[1 + ((x.n / $5::int) * 2 + j) % $8::int]
              else ($7::uuid[])[(1 + (x.n::bigint * 7919 + j * 104729) % cardinality($7::uuid[]))::int] end,
         ev.occurred_at, ev.id, case when j = 0 then array['user.contact.email', 'user.name'] else array['user.education.grade'] end
    from ev cross join lateral (select substring(ev.request_id from 2)::int as n) as x cross join generate_series(0, $9::int - 1) as j`;

/** Seeds the log, then times the impact of the suspect's whole year in the busy tenant. */
export async function runIncidentBench(ctx: IncidentContext): Promise<IncidentResults> {
  const s = ctx.settings;
  const client = new pg.Client({ connectionString: ctx.ownerUrl });
  await client.connect();
  try {
    let t = performance.now();
    await client.query('set synchronous_commit = off');
    const tenant = await createTenant(ctx.owner.em.fork(), { name: 'Incident benchmark', slug: 'incident-bench' });
    await client.query(
      `insert into app_user (tenant_id, email, given_name, family_name, display_name, role)
       select $1, 'p' || g || '@incident.bench', 'Given', 'Family' || g, 'Person ' || g, 'STUDENT' from generate_series(1, $2::int) as g`,
      [tenant.id, s.people]);
    const { rows: keys } = await client.query<{ pseudonym: string }>(
      `select k.pseudonym from subject_key k join app_user u on u.id = k.user_id where k.tenant_id = $1 order by u.family_name`, [tenant.id]);
    const pseudonyms = `{${keys.map((k) => k.pseudonym).join(',')}}`;
    const actor = keys[0].pseudonym;
    const seed = async (tenantId: string, events: number, people: string, perEvent: number) => {
      for (let from = 1; from <= events; from += CHUNK) {
        ctx.checkInterrupted();
        const to = Math.min(events, from + CHUNK - 1);
        await client.query(INSERT_EVENTS, [tenantId, from, to, events, s.every, actor, people, s.reach, perEvent]);
      }
    };
    await seed(tenant.id, s.tenantEvents, pseudonyms, 2);
    ctx.say(`  incident: ${n0(s.tenantEvents)} events (${n0(s.tenantEvents * 2)} subject rows) in the incident's tenant, ${((performance.now() - t) / 1000).toFixed(0)} s`);
    const rest = s.totalEvents - s.tenantEvents;
    for (let i = 0; i < s.otherTenants && rest > 0; i++) {
      const other = await createTenant(ctx.owner.em.fork(), { name: `Incident neighbour ${i}`, slug: `incident-neighbour-${i}` });
      const share = Math.floor(rest / s.otherTenants) + (i < rest % s.otherTenants ? 1 : 0);
      // The same credential string in the neighbours' logs: only the tenant filter keeps their events out.
      await seed(other.id, share, '{}', 1);
      ctx.say(`  incident: + ${n0(share)} events of tenant ${i + 1}/${s.otherTenants}, ${((performance.now() - t) / 1000).toFixed(0)} s so far`);
    }
    await client.query('analyze access_event');
    await client.query('analyze access_event_subject');
    await client.query('analyze subject_key');
    const seedSeconds = (performance.now() - t) / 1000;
    ctx.say(`  incident: seeded ${n0(s.totalEvents)} events across ${s.otherTenants + 1} tenants in ${seedSeconds.toFixed(0)} s`);

    const suspect: Suspect = { credentialId: SUSPECT };
    const from = new Date(Date.now() - 400 * 86_400_000);
    const until = new Date(Date.now() + 86_400_000);
    const suspectEvents = Math.floor(s.tenantEvents / s.every);
    const bound = <T>(work: (em: ReturnType<MikroORM['em']['fork']>) => Promise<T>) => ctx.app.em.fork().transactional(async (em) => {
      await bindTenant(em, tenant.id, { userId: null, privileged: true });
      return work(em);
    });

    const q = impactQuery(tenant.id, suspect, from, until);
    const plan = await bound((em) => em.execute<{ 'QUERY PLAN': string }[]>(`explain (analyze, buffers) ${q.sql}`, q.params));
    const planLines = plan.map((r) => r['QUERY PLAN']);
    for (const line of planLines.filter((l) => /Index Scan|Index Only Scan|Seq Scan|Execution Time/.test(l))) ctx.say(`  plan: ${line.trim()}`);

    const samples: number[] = [];
    for (let i = 0; i < s.samples; i++) {
      ctx.checkInterrupted();
      t = performance.now();
      const impact = await bound((em) => computeImpact(em, tenant.id, suspect, from, until));
      samples.push(performance.now() - t);
      if (impact.eventCount !== suspectEvents || impact.subjectCount !== s.reach || impact.erasedSubjectCount !== 0) {
        throw new Error(`wrong impact: ${impact.eventCount} events, ${impact.subjectCount} people (${impact.erasedSubjectCount} erased); ` +
          `expected ${suspectEvents} events and ${s.reach} people`);
      }
    }
    t = performance.now();
    const page = await bound((em) => affectedSubjectsPage(em, tenant.id, suspect, from, until, 50, null, true));
    const firstPageMs = performance.now() - t;
    if (page.length !== 50) throw new Error(`the first page of affected people has ${page.length} rows, expected 50`);
    const impactMs = { median: median(samples), p95: percentile(samples, 95), max: Math.max(...samples), samples };
    ctx.say(`  incident: impact of ${n0(suspectEvents)} suspect events touching ${n0(s.reach)} people: median ${impactMs.median.toFixed(0)} ms, ` +
      `max ${impactMs.max.toFixed(0)} ms; first page of people ${firstPageMs.toFixed(0)} ms`);
    return { settings: s, seedSeconds, suspectEvents, impactMs, firstPageMs, plan: planLines };
  } finally {
    await client.end();
  }
}
