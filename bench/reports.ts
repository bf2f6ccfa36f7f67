// The audit reports over a large log, through the real server (GraphQL over HTTP, access control and
// access log on): one tenant's year of events among many tenants', seeded with set-based SQL; the daily
// rollups built from the log by `rollUp` (the sealer counts the same rows in memory; a test holds the
// two together); a backlog of unsealed events left for the reports to read from the log. Each report is
// timed over the whole year and over a range with partial days.
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from '../src/shared/logger';
import { createTenant } from '../src/modules/tenant/tenant.service';
import { createMember } from '../src/modules/user/user.service';
import { issueUserToken } from '../src/modules/token/token.service';
import { UserRole } from '../src/modules/user/user.entity';
import { rollUp } from '../src/modules/report/rollup';
import { startServer } from '../src/server/app';
import { benchConfig, envNumber, gql } from './support';

export const REPORT_TARGETS = {
  /** Each report, end to end over HTTP, in seconds. */
  wallSeconds: 1,
};

/** People per tenant (subjects and actors), and the tools disclosures go to. */
const STUDENTS = 2_000;
const INSTRUCTORS = 100;
const ADMINS = 5;
const TOOLS = 5;
/** Events per INSERT statement (and transaction). */
const CHUNK = 200_000;
const DAYS = 365;

export interface ReportSettings {
  /** Events of the measured tenant. */
  events: number;
  /** Events of every tenant together (the measured one included). */
  totalEvents: number;
  /** Tenants besides the measured one, sharing the rest. */
  otherTenants: number;
  /** The measured tenant's newest events, left unsealed (read from the log, not the rollups). */
  unsealed: number;
  /** Timed runs per report (the median is reported; the first run is reported too). */
  runs: number;
}

export function readReportSettings(): ReportSettings {
  const s = {
    events: envNumber('BENCH_REPORT_EVENTS', 1_000_000, { integer: true }),
    totalEvents: envNumber('BENCH_REPORT_TOTAL_EVENTS', 10_000_000, { integer: true }),
    otherTenants: envNumber('BENCH_REPORT_TENANTS', 9, { integer: true, allowZero: true }),
    unsealed: envNumber('BENCH_REPORT_UNSEALED', 10_000, { integer: true, allowZero: true }),
    runs: envNumber('BENCH_REPORT_RUNS', 3, { integer: true }),
  };
  if (s.totalEvents < s.events) throw new Error('BENCH_REPORT_TOTAL_EVENTS must be at least BENCH_REPORT_EVENTS');
  if (s.unsealed > s.events) throw new Error('BENCH_REPORT_UNSEALED must not exceed BENCH_REPORT_EVENTS');
  return s;
}

export interface ReportTiming {
  report: string;
  range: string;
  rows: number;
  firstSeconds: number;
  medianSeconds: number;
}

export interface ReportResults {
  settings: ReportSettings;
  seedSeconds: number;
  rollupSeconds: number;
  rollupRows: { access: number; actor: number };
  timings: ReportTiming[];
}

export interface ReportContext {
  owner: MikroORM;
  app: MikroORM;
  ownerUrl: string;
  log: Logger;
  settings: ReportSettings;
  say: (line?: string) => void;
  checkInterrupted: () => void;
}

/**
 * Events $3..$4 of one tenant, spread evenly over the year before $2 ($5 apart). The kind of event is
 * n mod 100: 60% an instructor reading two students' names and emails (a roster), 20% a student reading
 * their own profile, 10% an administrator listing two students and an instructor, 5% an administrator's
 * write, 2% a disclosure to a tool, 3% a student refused (no subjects).
 */
const INSERT_EVENTS = `
  with ev as (
    insert into access_event (id, tenant_id, occurred_at, request_id, operation_type, operation_name, root_field, fields,
                              access_kind, purpose, actor_kind, actor_role, actor_pseudonym, credential_id, resources,
                              outcome, error_code, item_count)
    select gen_random_uuid(), $1::uuid, $2::timestamptz - interval '${DAYS} days' + g * $5::interval, 'bench-reports-' || g,
           case when t.k >= 80 and t.k < 97 then 'mutation' else 'query' end, null, t.root, array[t.root],
           t.kind, t.purpose, 'USER', t.role, t.actor, 'cred-' || t.role || '-' || (g % 7), t.resources,
           case when t.kind = 'DENY' then 'DENIED' else 'SUCCESS' end, case when t.kind = 'DENY' then 'FORBIDDEN' end, t.items
      from generate_series($3::bigint, $4::bigint) as g
      cross join lateral (select (g % 100)::int as k) as x
      cross join lateral (select x.k as k,
        case when x.k < 60 then 'Query.course' when x.k < 80 then 'Query.viewer' when x.k < 90 then 'Query.users'
             when x.k < 95 then 'Mutation.updateUser' when x.k < 97 then 'Mutation.launchLtiTool' else 'Query.tokens' end as root,
        case when x.k < 80 then 'READ' when x.k < 90 then 'READ' when x.k < 95 then 'WRITE' when x.k < 97 then 'DISCLOSE' else 'DENY' end as kind,
        case when x.k < 60 then 'education.delivery' when x.k < 80 then 'account.self_service' when x.k < 95 then 'account.administration'
             when x.k < 97 then 'education.delivery' else 'account.administration' end as purpose,
        case when x.k < 60 then 'INSTRUCTOR' when x.k < 80 then 'STUDENT' when x.k < 95 then 'ADMIN' else 'STUDENT' end as role,
        case when x.k < 60 then ($7::uuid[])[1 + g % cardinality($7::uuid[])]
             when x.k < 80 or x.k >= 95 then ($6::uuid[])[1 + g % cardinality($6::uuid[])]
             else ($8::uuid[])[1 + g % cardinality($8::uuid[])] end as actor,
        case when x.k >= 95 and x.k < 97 then array['LtiTool:' || ($9::uuid[])[1 + (g / 100) % cardinality($9::uuid[])]] else array[]::text[] end as resources,
        case when x.k < 60 then 2 when x.k < 80 then 1 when x.k < 90 then 3 when x.k < 97 then 1 else 0 end as items) as t
    returning id, tenant_id, occurred_at, request_id
  )
  insert into access_event_subject (tenant_id, pseudonym, occurred_at, event_id, categories)
  select ev.tenant_id, s.pseudonym, ev.occurred_at, ev.id, s.categories
    from ev
    cross join lateral (select substring(ev.request_id from '[0-9]+$')::bigint as n) as x
    cross join lateral (
      select ($6::uuid[])[1 + (x.n * 7 + i) % cardinality($6::uuid[])] as pseudonym, array['user.contact.email', 'user.name'] as categories
        from generate_series(0, 1) as i where x.n % 100 < 60 or (x.n % 100 >= 80 and x.n % 100 < 90)
      union all
      select ($7::uuid[])[1 + x.n % cardinality($7::uuid[])], array['user.contact.email', 'user.name'] where x.n % 100 >= 80 and x.n % 100 < 90
      union all
      select ($6::uuid[])[1 + x.n % cardinality($6::uuid[])], array['user.name'] where x.n % 100 >= 60 and x.n % 100 < 80
      union all
      select ($6::uuid[])[1 + (x.n * 3) % cardinality($6::uuid[])], array['user.name'] where x.n % 100 >= 90 and x.n % 100 < 95
      union all
      select ($6::uuid[])[1 + x.n % cardinality($6::uuid[])], array['user.contact.email', 'user.name'] where x.n % 100 >= 95 and x.n % 100 < 97
    ) as s`;

interface SeededTenant {
  id: string;
  students: string[];
  instructors: string[];
  admins: string[];
  tools: string[];
}

const n0 = (n: number) => Math.round(n).toLocaleString('en-US');

async function seedPeople(client: pg.Client, owner: MikroORM, index: number): Promise<SeededTenant> {
  const tenant = await createTenant(owner.em.fork(), { name: `Reports ${index}`, slug: `reports-bench-${index}` });
  await client.query(
    `insert into app_user (id, tenant_id, email, given_name, family_name, display_name, role, student_number)
     select gen_random_uuid(), $1, lower(r) || g || '@reports.bench', 'Given', 'Family' || g, 'Person ' || g, r::user_role,
            case when r = 'STUDENT' then 'S' || g end
       from (values ('STUDENT', $2::int), ('INSTRUCTOR', $3::int), ('ADMIN', $4::int)) as v(r, n)
       cross join lateral generate_series(1, v.n) as g`, [tenant.id, STUDENTS, INSTRUCTORS, ADMINS]);
  const { rows } = await client.query<{ role: string; pseudonyms: string[] }>(
    `select u.role::text as role, array_agg(k.pseudonym order by k.pseudonym) as pseudonyms
       from app_user u join subject_key k on k.tenant_id = u.tenant_id and k.user_id = u.id
      where u.tenant_id = $1 group by u.role`, [tenant.id]);
  const of = (role: string) => rows.find((r) => r.role === role)!.pseudonyms;
  const { rows: tools } = await client.query<{ id: string }>(
    `insert into lti_tool (id, tenant_id, name, client_id, launch_url, privacy_level, sub_secret)
     select gen_random_uuid(), $1, 'Tool ' || g, 'client-' || g, 'https://tool' || g || '.example/launch', 'PUBLIC', decode(md5(g::text) || md5(g::text), 'hex')
       from generate_series(1, $2::int) as g returning id`, [tenant.id, TOOLS]);
  return { id: tenant.id, students: of('STUDENT'), instructors: of('INSTRUCTOR'), admins: of('ADMIN'), tools: tools.map((t) => t.id) };
}

async function seedEvents(client: pg.Client, t: SeededTenant, from: number, to: number, total: number, end: Date, check: () => void): Promise<void> {
  const step = `${(DAYS * 86_400) / Math.max(total, 1)} seconds`;
  const arr = (ids: string[]) => `{${ids.join(',')}}`;
  for (let a = from; a < to; a += CHUNK) {
    check();
    const b = Math.min(a + CHUNK, to) - 1;
    await client.query(INSERT_EVENTS, [t.id, end.toISOString(), a, b, step, arr(t.students), arr(t.instructors), arr(t.admins), arr(t.tools)]);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const QUERIES: Record<string, string> = {
  accessSummary: 'query($from: DateTimeISO, $until: DateTimeISO) { accessSummaryReport(from: $from, until: $until) { rows { day role category purpose accessKind events subjects } } }',
  deniedAttempts: 'query($from: DateTimeISO, $until: DateTimeISO) { deniedAttemptsReport(from: $from, until: $until) { rows { actorPseudonym actorKind role credentialId operation purpose attempts firstAt lastAt } } }',
  privilegedAccess: 'query($from: DateTimeISO, $until: DateTimeISO) { privilegedAccessReport(from: $from, until: $until) { rows { actorPseudonym credentialId operation purpose category events students firstAt lastAt } } }',
  disclosures: 'query($from: DateTimeISO, $until: DateTimeISO) { disclosuresReport(from: $from, until: $until) { rows { recipient recipientName category events subjects firstAt lastAt } } }',
  requestCompliance: 'query($from: DateTimeISO, $until: DateTimeISO) { requestComplianceReport(from: $from, until: $until) { rows { type filed onTimeShare medianDaysToComplete p90DaysToComplete overdue } overdue { requestId daysOverdue } } }',
  auditChainStatus: '{ auditChainStatusReport { treeSize unsealedEvents sealingLagSeconds lastVerificationOk } }',
};

const rowsOf = (data: unknown): number => {
  const report = Object.values(data as Record<string, Record<string, unknown>>)[0];
  return Array.isArray(report.rows) ? report.rows.length + (Array.isArray(report.overdue) ? report.overdue.length : 0) : 1;
};

export async function runReportBench(ctx: ReportContext): Promise<ReportResults> {
  const s = ctx.settings;
  const client = new pg.Client({ connectionString: ctx.ownerUrl });
  await client.connect();
  try {
    let t = performance.now();
    const end = new Date(Math.floor(Date.now() / 86_400_000) * 86_400_000);
    const measured = await seedPeople(client, ctx.owner, 0);
    const sealedEvents = s.events - s.unsealed;
    await seedEvents(client, measured, 0, sealedEvents, s.events, end, ctx.checkInterrupted);
    const others = s.totalEvents - s.events;
    for (let i = 1; i <= s.otherTenants && others > 0; i++) {
      const share = Math.floor(others / s.otherTenants) + (i <= others % s.otherTenants ? 1 : 0);
      const tenant = await seedPeople(client, ctx.owner, i);
      await seedEvents(client, tenant, 0, share, share, end, ctx.checkInterrupted);
      ctx.say(`  reports: tenant ${i} of ${s.otherTenants}: ${n0(share)} events`);
    }
    // Data-subject requests of the measured tenant: a year of them, some late, some open past due.
    await client.query(
      `insert into data_subject_request (id, tenant_id, subject_id, type, status, filed_at, due_at, completed_at, updated_at)
       select gen_random_uuid(), $1, u.id, (array['ACCESS', 'RECTIFICATION', 'ERASURE', 'RESTRICTION'])[1 + g % 4],
              case when g % 10 = 0 and g <= 2000 then 'SUBMITTED' else 'COMPLETED' end,
              $2::timestamptz - (g || ' hours')::interval, $2::timestamptz - (g || ' hours')::interval + interval '30 days',
              case when g % 10 = 0 and g <= 2000 then null else $2::timestamptz - (g || ' hours')::interval + ((g % 40) || ' days')::interval end, now()
         from generate_series(1, 5000) as g
         join lateral (select id from app_user where tenant_id = $1 and role = 'STUDENT' order by id offset g % 2000 limit 1) u on true`,
      [measured.id, end.toISOString()]);
    await client.query('analyze access_event, access_event_subject, app_user, subject_key, data_subject_request');
    const seedSeconds = (performance.now() - t) / 1000;
    ctx.say(`  reports: seeded ${n0(s.totalEvents - s.unsealed)} events (${n0(sealedEvents)} in the measured tenant) in ${seedSeconds.toFixed(1)} s`);

    // The rollups as the sealer would leave them: every committed event counted, the watermark moved past them.
    // (Sealing's own cost is the audit part's measurement; here only what the reports read matters.)
    t = performance.now();
    await ctx.owner.em.fork().transactional(async (em) => {
      const [{ below }] = await em.execute<{ below: string }[]>('select pg_current_xact_id()::text as below');
      await rollUp(em, 'e.txid < ?::xid8', [below]);
      await em.execute('update audit_seal_state set sealed_below = ?::xid8', [below]);
    });
    const rollupSeconds = (performance.now() - t) / 1000;
    const { rows: [counts] } = await client.query<{ access: string; actor: string }>(
      'select (select count(*) from report_daily_access) as access, (select count(*) from report_daily_actor) as actor');
    ctx.say(`  reports: rollups built in ${rollupSeconds.toFixed(1)} s: ${n0(Number(counts.access))} + ${n0(Number(counts.actor))} rows`);
    // The newest events come after the watermark: the reports read them from the log.
    await seedEvents(client, measured, sealedEvents, s.events, s.events, end, ctx.checkInterrupted);
    await client.query('analyze access_event, access_event_subject, report_daily_access, report_daily_actor');

    const admin = await createMember(ctx.owner.em.fork(), measured.id, {
      email: 'bench-admin@reports.bench', givenName: 'Bench', familyName: 'Admin', role: UserRole.ADMIN,
    });
    const { secret } = await issueUserToken(ctx.owner.em.fork(), admin, { label: 'bench', ttlDays: 1 });
    const server = await startServer(ctx.app, benchConfig(), ctx.log);
    const timings: ReportTiming[] = [];
    try {
      const day = 86_400_000;
      const ranges: [string, Record<string, string>][] = [
        ['whole year', {}],
        ['partial days', { from: new Date(end.getTime() - DAYS * day + day / 2).toISOString(), until: new Date(end.getTime() - day / 2).toISOString() }],
      ];
      for (const [report, query] of Object.entries(QUERIES)) {
        for (const [range, variables] of ranges) {
          if (report === 'auditChainStatus' && range !== 'whole year') continue;
          const times: number[] = [];
          let rows = 0;
          for (let run = 0; run < s.runs; run++) {
            ctx.checkInterrupted();
            const t0 = performance.now();
            const res = await gql(server.url, query, variables, secret);
            times.push((performance.now() - t0) / 1000);
            if (res.errors?.length) throw new Error(`${report}: ${JSON.stringify(res.errors)}`);
            rows = rowsOf(res.data);
          }
          const timing = { report, range: report === 'auditChainStatus' ? '-' : range, rows, firstSeconds: times[0], medianSeconds: median(times) };
          timings.push(timing);
          ctx.say(`  ${report.padEnd(18)} ${timing.range.padEnd(13)} ${String(rows).padStart(6)} rows  first ${times[0].toFixed(3)} s, ` +
            `median ${timing.medianSeconds.toFixed(3)} s  ${timing.medianSeconds < REPORT_TARGETS.wallSeconds ? 'PASS' : 'OVER'}`);
        }
      }
      // The same summary as CSV, over the route.
      const t0 = performance.now();
      const res = await fetch(server.url.replace(/\/graphql$/, '/reports/access-summary.csv'), { headers: { authorization: `Bearer ${secret}` } });
      const text = await res.text();
      const csvSeconds = (performance.now() - t0) / 1000;
      if (res.status !== 200) throw new Error(`access-summary.csv: HTTP ${res.status}: ${text.slice(0, 200)}`);
      timings.push({ report: 'access-summary.csv', range: 'whole year', rows: text.split('\r\n').length - 2, firstSeconds: csvSeconds, medianSeconds: csvSeconds });
      ctx.say(`  ${'access-summary.csv'.padEnd(18)} ${'whole year'.padEnd(13)} ${String(text.split('\r\n').length - 2).padStart(6)} rows  ${csvSeconds.toFixed(3)} s`);
    } finally {
      await server.close();
    }
    return { settings: s, seedSeconds, rollupSeconds, rollupRows: { access: Number(counts.access), actor: Number(counts.actor) }, timings };
  } finally {
    await client.end();
  }
}
