import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { codes, startTestApp, type TestApp } from '../support/harness';
import { seedTenant, sql, type Member, type SeededTenant } from '../support/seed';
import { sealEverything, unsealedCount } from '../support/audit';
import { signingKeyFromPem } from '../../src/audit/checkpoint';
import { issueToken } from '../../src/modules/token/token.service';
import { TokenKind } from '../../src/modules/token/api-token.entity';
import { verifyAuditLog } from '../../src/audit/verify';
import { recordVerification } from '../../src/modules/report/verification';
import { rollUp } from '../../src/modules/report/rollup';

/**
 * The audit reports, against expectations computed by hand from a small log: reads by an instructor and
 * an administrator, denials by a student and an auditor, disclosures to a tool, an administrator's
 * write; some events sealed (counted by the daily rollups), some not (read from the log), and a
 * foreign tenant's events that must never show.
 */

const key = signingKeyFromPem(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);

interface Ev {
  at: string;
  kind: 'READ' | 'WRITE' | 'DISCLOSE' | 'DENY';
  actor: Member | 'AUDITOR';
  credential: string;
  root: string;
  purpose: string;
  resources?: string[];
  subjects?: [Member, string[]][];
}

const SUMMARY = `query($from: DateTimeISO, $until: DateTimeISO, $role: String, $category: String, $purpose: String) {
  accessSummaryReport(from: $from, until: $until, role: $role, category: $category, purpose: $purpose) {
    from until rows { day role category purpose accessKind events subjects } } }`;
const DENIED = `query($from: DateTimeISO, $until: DateTimeISO, $role: String, $purpose: String) {
  deniedAttemptsReport(from: $from, until: $until, role: $role, purpose: $purpose) {
    rows { actorPseudonym actorKind role credentialId operation purpose attempts firstAt lastAt } } }`;
const PRIVILEGED = `query($from: DateTimeISO, $until: DateTimeISO, $category: String, $purpose: String) {
  privilegedAccessReport(from: $from, until: $until, category: $category, purpose: $purpose) {
    rows { actorPseudonym credentialId operation purpose category events students firstAt lastAt } } }`;
const DISCLOSURES = `query($from: DateTimeISO, $until: DateTimeISO, $role: String, $category: String, $purpose: String) {
  disclosuresReport(from: $from, until: $until, role: $role, category: $category, purpose: $purpose) {
    rows { recipient recipientName category events subjects firstAt lastAt } } }`;
const COMPLIANCE = `query($from: DateTimeISO, $until: DateTimeISO) {
  requestComplianceReport(from: $from, until: $until) {
    from until asOf
    rows { type filed submitted approved inProgress completed rejected cancelled failed expired completedOnTime completedLate onTimeShare medianDaysToComplete p90DaysToComplete overdue }
    overdue { requestId type status filedAt dueAt daysOverdue } } }`;
const CHAIN = `{ auditChainStatusReport { treeSize checkpointAt root keyId unsealedEvents oldestUnsealedAt sealingLagSeconds
  lastVerifiedAt lastVerificationOk lastVerificationRootCause lastVerificationFailures lastVerifiedTreeSize } }`;

const RANGE = { from: '2026-03-01T00:00:00.000Z', until: '2026-03-04T00:00:00.000Z' };

describe('audit reports', () => {
  let app: TestApp;
  let north: SeededTenant;
  let south: SeededTenant;
  let admin: Member;
  let instructor: Member;
  let s1: Member;
  let s2: Member;
  let auditorToken: string;
  let toolId: string;
  const pseudonym = new Map<string, string>();
  const pseudonymOf = (m: Member) => pseudonym.get(m.user.id)!;

  async function insertEvent(tenantId: string, e: Ev): Promise<string> {
    const id = randomUUID();
    const member = e.actor === 'AUDITOR' ? null : e.actor;
    await sql(app.orm,
      `insert into access_event (id, tenant_id, occurred_at, request_id, operation_type, operation_name, root_field, fields, access_kind, purpose,
                                 actor_kind, actor_role, actor_pseudonym, credential_id, resources, outcome, error_code, item_count)
       values (?, ?, ?, 'req', ?, null, ?, ?::text[], ?, ?, ?, ?, ?, ?, ?::text[], ?, ?, ?)`,
      [id, tenantId, e.at, e.root.startsWith('Mutation.') ? 'mutation' : 'query', e.root, `{${e.root}}`, e.kind, e.purpose,
        member ? 'USER' : 'AUDITOR', member ? member.user.role : null, member ? pseudonymOf(member) : null, e.credential,
        `{${(e.resources ?? []).join(',')}}`, e.kind === 'DENY' ? 'DENIED' : 'SUCCESS', e.kind === 'DENY' ? 'FORBIDDEN' : null, (e.subjects ?? []).length]);
    for (const [m, categories] of e.subjects ?? []) {
      await sql(app.orm, 'insert into access_event_subject (tenant_id, pseudonym, occurred_at, event_id, categories) values (?, ?, ?, ?, ?::text[])',
        [tenantId, pseudonymOf(m), e.at, id, `{${categories.join(',')}}`]);
    }
    return id;
  }

  const gql = async <T>(query: string, variables: Record<string, unknown>, token: string) => {
    const res = await app.gql<T, Record<string, unknown>>(query, variables, token);
    expect(res.errors).toBeUndefined();
    return res.data as T;
  };
  const allReports = async (token: string, range: Record<string, unknown> = RANGE) => ({
    summary: await gql(SUMMARY, range, token),
    denied: await gql(DENIED, range, token),
    privileged: await gql(PRIVILEGED, range, token),
    disclosures: await gql(DISCLOSURES, range, token),
  });

  beforeAll(async () => {
    app = await startTestApp();
    north = await seedTenant(app.orm, 'North');
    south = await seedTenant(app.orm, 'South');
    admin = await north.admin();
    instructor = await north.instructor();
    s1 = await north.student();
    s2 = await north.student();
    const southAdmin = await south.admin();
    const southStudent = await south.student();
    for (const r of await sql<{ user_id: string; pseudonym: string }>(app.orm, 'select user_id, pseudonym from subject_key')) pseudonym.set(r.user_id, r.pseudonym);
    [{ id: toolId }] = await sql<{ id: string }>(app.orm,
      `insert into lti_tool (id, tenant_id, name, client_id, launch_url, privacy_level, sub_secret)
       values (gen_random_uuid(), ?, '=Quiz, "Pro"', 'quiz', 'https://quiz.example/launch', 'PUBLIC', decode(md5('a') || md5('b'), 'hex')) returning id`,
      [north.tenant.id]);
    auditorToken = (await issueToken(app.orm.em.fork(), north.tenant.id, { kind: TokenKind.AUDITOR, label: 'auditor', ttlDays: 7 })).secret;

    // Sealed before the reports run: counted by the rollups.
    await insertEvent(north.tenant.id, { at: '2026-03-01T10:00:00Z', kind: 'READ', actor: instructor, credential: 'c-ins', root: 'Query.course',
      purpose: 'education.delivery', subjects: [[s1, ['user.contact.email', 'user.name']], [s2, ['user.name']]] });
    await insertEvent(north.tenant.id, { at: '2026-03-01T23:30:00Z', kind: 'READ', actor: admin, credential: 'c-adm', root: 'Query.users',
      purpose: 'account.administration', subjects: [[s1, ['user.name']], [instructor, ['user.name']]] });
    await insertEvent(north.tenant.id, { at: '2026-03-02T08:00:00Z', kind: 'DENY', actor: s1, credential: 'c-s1', root: 'Query.tokens', purpose: 'account.administration' });
    await insertEvent(north.tenant.id, { at: '2026-03-02T09:00:00Z', kind: 'DENY', actor: s1, credential: 'c-s1', root: 'Query.tokens', purpose: 'account.administration' });
    await insertEvent(north.tenant.id, { at: '2026-03-02T12:00:00Z', kind: 'DENY', actor: 'AUDITOR', credential: 'c-aud', root: 'Mutation.createUser', purpose: 'audit' });
    // Another tenant's, on the same days: never in North's reports.
    await insertEvent(south.tenant.id, { at: '2026-03-02T10:00:00Z', kind: 'READ', actor: southAdmin, credential: 'c-south', root: 'Query.users',
      purpose: 'account.administration', subjects: [[southStudent, ['user.name']]] });
    await insertEvent(south.tenant.id, { at: '2026-03-02T11:00:00Z', kind: 'DENY', actor: southStudent, credential: 'c-s', root: 'Query.tokens', purpose: 'account.administration' });
    await sealEverything(app.orm, key);

    // Not sealed yet: read from the log.
    await insertEvent(north.tenant.id, { at: '2026-03-02T13:00:00Z', kind: 'DISCLOSE', actor: s2, credential: 'c-s2', root: 'Mutation.launchLtiTool',
      purpose: 'education.delivery', resources: [`Course:${randomUUID()}`, `LtiTool:${toolId}`], subjects: [[s2, ['user.contact.email', 'user.name']]] });
    await insertEvent(north.tenant.id, { at: '2026-03-03T01:00:00Z', kind: 'DISCLOSE', actor: s1, credential: 'c-s1', root: 'Mutation.launchLtiTool',
      purpose: 'education.delivery', resources: [`LtiTool:${toolId}`], subjects: [[s1, ['user.name']]] });
    await insertEvent(north.tenant.id, { at: '2026-03-03T05:00:00Z', kind: 'READ', actor: admin, credential: 'c-adm', root: 'Query.users',
      purpose: 'account.administration', subjects: [[s1, ['user.education.grade']], [s2, ['user.education.grade', 'user.name']]] });
    await insertEvent(north.tenant.id, { at: '2026-03-03T06:00:00Z', kind: 'WRITE', actor: admin, credential: 'c-adm', root: 'Mutation.updateUser',
      purpose: 'account.administration', subjects: [[s2, ['user.name']]] });
  });
  afterAll(() => app.close());

  const summaryRow = (day: string, role: string, category: string | null, purpose: string, accessKind: string, events: number, subjects: number) =>
    ({ day, role, category, purpose, accessKind, events, subjects });
  const DAY1 = [
    summaryRow('2026-03-01', 'ADMIN', 'user.name', 'account.administration', 'READ', 1, 2),
    summaryRow('2026-03-01', 'INSTRUCTOR', 'user.contact.email', 'education.delivery', 'READ', 1, 1),
    summaryRow('2026-03-01', 'INSTRUCTOR', 'user.name', 'education.delivery', 'READ', 1, 2),
  ];
  const DAY2 = [
    summaryRow('2026-03-02', 'AUDITOR', null, 'audit', 'DENY', 1, 0),
    summaryRow('2026-03-02', 'STUDENT', null, 'account.administration', 'DENY', 2, 0),
    summaryRow('2026-03-02', 'STUDENT', 'user.contact.email', 'education.delivery', 'DISCLOSE', 1, 1),
    summaryRow('2026-03-02', 'STUDENT', 'user.name', 'education.delivery', 'DISCLOSE', 1, 1),
  ];
  const DAY3 = [
    summaryRow('2026-03-03', 'ADMIN', 'user.education.grade', 'account.administration', 'READ', 1, 2),
    summaryRow('2026-03-03', 'ADMIN', 'user.name', 'account.administration', 'READ', 1, 1),
    summaryRow('2026-03-03', 'ADMIN', 'user.name', 'account.administration', 'WRITE', 1, 1),
    summaryRow('2026-03-03', 'STUDENT', 'user.name', 'education.delivery', 'DISCLOSE', 1, 1),
  ];

  it('access summary: by day, role, category, purpose and kind, sealed and unsealed events alike', async () => {
    // The first two days are sealed, so counted by the rollup; the disclosure on day two and day three are not yet.
    const rolled = await sql<{ day: string }>(app.orm,
      `select distinct to_char(day, 'YYYY-MM-DD') as day from report_daily_access where tenant_id = ? order by 1`, [north.tenant.id]);
    expect(rolled.map((r) => r.day)).toEqual(['2026-03-01', '2026-03-02']);
    const data = await gql<{ accessSummaryReport: { from: string; until: string; rows: unknown[] } }>(SUMMARY, RANGE, admin.token);
    expect(data.accessSummaryReport).toEqual({ ...RANGE, rows: [...DAY1, ...DAY2, ...DAY3] });
  });

  it('access summary: partial days at either end come from the log, whole days from the rollup', async () => {
    const data = await gql<{ accessSummaryReport: { rows: unknown[] } }>(SUMMARY,
      { from: '2026-03-01T12:00:00Z', until: '2026-03-03T03:00:00Z' }, admin.token);
    expect(data.accessSummaryReport.rows).toEqual([DAY1[0], ...DAY2, DAY3[3]]);
    const within = await gql<{ accessSummaryReport: { rows: unknown[] } }>(SUMMARY,
      { from: '2026-03-02T08:30:00Z', until: '2026-03-02T12:30:00Z' }, admin.token);
    expect(within.accessSummaryReport.rows).toEqual([DAY2[0], { ...DAY2[1], events: 1 }]);
  });

  it('access summary: filters by role, category and purpose', async () => {
    const by = async (v: Record<string, string>) =>
      (await gql<{ accessSummaryReport: { rows: unknown[] } }>(SUMMARY, { ...RANGE, ...v }, admin.token)).accessSummaryReport.rows;
    expect(await by({ role: 'ADMIN' })).toEqual([DAY1[0], ...DAY3.slice(0, 3)]);
    expect(await by({ category: 'user.contact.email' })).toEqual([DAY1[1], DAY2[2]]);
    expect(await by({ purpose: 'audit' })).toEqual([DAY2[0]]);
    expect(await by({ role: 'STUDENT', category: 'user.name', purpose: 'education.delivery' })).toEqual([DAY2[3], DAY3[3]]);
  });

  it('denied attempts: who, what, how often, first and last', async () => {
    const data = await gql<{ deniedAttemptsReport: { rows: unknown[] } }>(DENIED, RANGE, admin.token);
    const student = {
      actorPseudonym: pseudonymOf(s1), actorKind: 'USER', role: 'STUDENT', credentialId: 'c-s1', operation: 'Query.tokens', purpose: 'account.administration',
      attempts: 2, firstAt: '2026-03-02T08:00:00.000Z', lastAt: '2026-03-02T09:00:00.000Z',
    };
    const auditor = {
      actorPseudonym: null, actorKind: 'AUDITOR', role: 'AUDITOR', credentialId: 'c-aud', operation: 'Mutation.createUser', purpose: 'audit',
      attempts: 1, firstAt: '2026-03-02T12:00:00.000Z', lastAt: '2026-03-02T12:00:00.000Z',
    };
    expect(data.deniedAttemptsReport.rows).toEqual([student, auditor]);
    expect((await gql<{ deniedAttemptsReport: { rows: unknown[] } }>(DENIED, { ...RANGE, role: 'AUDITOR' }, admin.token)).deniedAttemptsReport.rows).toEqual([auditor]);
  });

  it('privileged access: administrators\' reads, counting only the students among the subjects', async () => {
    const data = await gql<{ privilegedAccessReport: { rows: unknown[] } }>(PRIVILEGED, RANGE, admin.token);
    const row = { actorPseudonym: pseudonymOf(admin), credentialId: 'c-adm', operation: 'Query.users', purpose: 'account.administration' };
    expect(data.privilegedAccessReport.rows).toEqual([
      // The instructor read alongside s1 on the first day is no student: one student, not two.
      { ...row, category: 'user.name', events: 2, students: 2, firstAt: '2026-03-01T23:30:00.000Z', lastAt: '2026-03-03T05:00:00.000Z' },
      { ...row, category: 'user.education.grade', events: 1, students: 2, firstAt: '2026-03-03T05:00:00.000Z', lastAt: '2026-03-03T05:00:00.000Z' },
    ]);
  });

  it('disclosures: by recipient, named from the tool, and category', async () => {
    const data = await gql<{ disclosuresReport: { rows: unknown[] } }>(DISCLOSURES, RANGE, admin.token);
    const tool = { recipient: `LtiTool:${toolId}`, recipientName: '=Quiz, "Pro"' };
    expect(data.disclosuresReport.rows).toEqual([
      { ...tool, category: 'user.contact.email', events: 1, subjects: 1, firstAt: '2026-03-02T13:00:00.000Z', lastAt: '2026-03-02T13:00:00.000Z' },
      { ...tool, category: 'user.name', events: 2, subjects: 2, firstAt: '2026-03-02T13:00:00.000Z', lastAt: '2026-03-03T01:00:00.000Z' },
    ]);
  });

  it('gives the same answer before and after the rest is sealed, and on every re-run', async () => {
    expect(await unsealedCount(app.orm)).toBeGreaterThan(0);
    const before = await allReports(admin.token);
    expect(await allReports(admin.token)).toEqual(before);
    await sealEverything(app.orm, key);
    expect(await allReports(admin.token)).toEqual(before);
    const unbounded = await allReports(admin.token, {});
    // Open-ended, the reports also count the reads of the reports themselves (purpose audit, no category).
    const summaryRows = (unbounded.summary as { accessSummaryReport: { rows: { day: string }[] } }).accessSummaryReport.rows;
    expect(summaryRows.filter((r) => r.day < '2026-03-04')).toEqual([...DAY1, ...DAY2, ...DAY3]);
    expect(summaryRows.some((r) => r.day > '2026-03-04')).toBe(true);
  });

  it('rollups rebuilt from the whole log agree with the ones the sealer kept', async () => {
    const dump = () => sql(app.orm, `select * from report_daily_access order by tenant_id, day, role, purpose, category, access_kind`);
    const dumpActor = () => sql(app.orm, `select tenant_id, report, day, role, actor_kind, actor_pseudonym, credential_id, root_field, purpose, category,
      recipient, events, subjects, first_at, last_at from report_daily_actor
      order by tenant_id, report, day, role, actor_kind, actor_pseudonym, credential_id, root_field, purpose, category, recipient`);
    await sealEverything(app.orm, key);
    const kept = [await dump(), await dumpActor()];
    await app.orm.em.fork().transactional(async (em) => {
      await em.execute('delete from report_daily_access; delete from report_daily_actor');
      await rollUp(em, 'e.txid < (select sealed_below from audit_seal_state)', []);
      const rebuilt = [await em.execute(`select * from report_daily_access order by tenant_id, day, role, purpose, category, access_kind`),
        await em.execute(`select tenant_id, report, day, role, actor_kind, actor_pseudonym, credential_id, root_field, purpose, category,
          recipient, events, subjects, first_at, last_at from report_daily_actor
          order by tenant_id, report, day, role, actor_kind, actor_pseudonym, credential_id, root_field, purpose, category, recipient`)];
      expect(rebuilt).toEqual(kept);
    });
  });

  it('refuses unknown filter values and backwards ranges as BAD_USER_INPUT', async () => {
    for (const [query, vars] of [
      [SUMMARY, { role: 'JANITOR' }], [SUMMARY, { category: 'user.shoe_size' }], [DENIED, { purpose: 'fun' }],
      [SUMMARY, { from: '2026-03-04T00:00:00Z', until: '2026-03-01T00:00:00Z' }],
    ] as const) {
      const res = await app.gql(query, vars, admin.token);
      expect(codes(res)).toEqual(['BAD_USER_INPUT']);
    }
  });

  it('an auditor sees the same rows, pseudonymous, cut to the window of its token', async () => {
    expect(await allReports(auditorToken)).toEqual(await allReports(admin.token));
    const windowed = (await issueToken(app.orm.em.fork(), north.tenant.id, {
      kind: TokenKind.AUDITOR, label: 'March 2nd', ttlDays: 7, auditWindow: { from: new Date('2026-03-02T00:00:00Z'), until: new Date('2026-03-03T00:00:00Z') },
    })).secret;
    const data = await gql<{ accessSummaryReport: { from: string; until: string; rows: unknown[] } }>(SUMMARY, RANGE, windowed);
    expect(data.accessSummaryReport).toEqual({ from: '2026-03-02T00:00:00.000Z', until: '2026-03-03T00:00:00.000Z', rows: DAY2 });
    const outside = await gql<{ accessSummaryReport: { rows: unknown[] } }>(SUMMARY, { from: '2026-03-03T00:00:00Z' }, windowed);
    expect(outside.accessSummaryReport.rows).toEqual([]);
  });

  it('members other than administrators, services and other tenants get nothing', async () => {
    const service = (await issueToken(app.orm.em.fork(), north.tenant.id, { kind: TokenKind.SERVICE, scopes: ['roster:read'], label: 'sis', ttlDays: 7 })).secret;
    for (const token of [s1.token, instructor.token, service]) {
      for (const query of [SUMMARY, DENIED, PRIVILEGED, DISCLOSURES, COMPLIANCE, CHAIN]) {
        const res = await app.gql(query, RANGE, token);
        expect(codes(res)).toEqual(['FORBIDDEN']);
      }
    }
    const foreign = await south.admin();
    const data = await gql<{ accessSummaryReport: { rows: { role: string }[] } }>(SUMMARY, RANGE, foreign.token);
    expect(data.accessSummaryReport.rows).toEqual([
      summaryRow('2026-03-02', 'ADMIN', 'user.name', 'account.administration', 'READ', 1, 1),
      summaryRow('2026-03-02', 'STUDENT', null, 'account.administration', 'DENY', 1, 0),
    ]);
  });

  it('each report read is an access event: a READ for the purpose audit, with no subjects', async () => {
    const before = Number((await sql<{ n: string }>(app.orm,
      `select count(*) as n from access_event where tenant_id = ? and root_field = 'Query.deniedAttemptsReport' and access_kind = 'READ'`, [north.tenant.id]))[0].n);
    await gql(DENIED, RANGE, auditorToken);
    const [event] = await sql<{ purpose: string; actor_kind: string; item_count: number; subjects: string }>(app.orm,
      `select e.purpose, e.actor_kind, e.item_count, (select count(*) from access_event_subject s where s.event_id = e.id) as subjects
         from access_event e where tenant_id = ? and root_field = 'Query.deniedAttemptsReport' and access_kind = 'READ'
        order by occurred_at desc limit 1`, [north.tenant.id]);
    expect(event).toEqual({ purpose: 'audit', actor_kind: 'AUDITOR', item_count: 2, subjects: '0' });
    const after = Number((await sql<{ n: string }>(app.orm,
      `select count(*) as n from access_event where tenant_id = ? and root_field = 'Query.deniedAttemptsReport' and access_kind = 'READ'`, [north.tenant.id]))[0].n);
    expect(after).toBe(before + 1);
  });

  describe('request compliance', () => {
    const ids: Record<string, string> = {};
    beforeAll(async () => {
      const request = async (name: string, type: string, status: string, filed: string, due: string, extra: Record<string, string> = {}) => {
        const cols = Object.keys(extra);
        const [{ id }] = await sql<{ id: string }>(app.orm,
          `insert into data_subject_request (id, tenant_id, subject_id, type, status, filed_at, due_at, updated_at${cols.map((c) => `, ${c}`).join('')})
           values (gen_random_uuid(), ?, ?, ?, ?, ?, ?, now()${cols.map(() => ', ?').join('')}) returning id`,
          [north.tenant.id, s1.user.id, type, status, filed, due, ...Object.values(extra)]);
        ids[name] = id;
      };
      await request('onTime', 'ACCESS', 'COMPLETED', '2026-03-01T00:00:00Z', '2026-03-31T00:00:00Z', { completed_at: '2026-03-11T00:00:00Z' });
      await request('late', 'ACCESS', 'COMPLETED', '2026-03-01T00:00:00Z', '2026-03-05T00:00:00Z', { completed_at: '2026-03-21T00:00:00Z' });
      await request('open', 'ERASURE', 'SUBMITTED', '2026-03-02T00:00:00Z', '2026-03-10T00:00:00Z');
      await request('cancelled', 'RECTIFICATION', 'CANCELLED', '2026-03-02T00:00:00Z', '2026-03-20T00:00:00Z', { cancelled_at: '2026-03-03T00:00:00Z' });
      await request('rejected', 'RESTRICTION', 'REJECTED', '2026-03-03T00:00:00Z', '2026-04-30T00:00:00Z',
        { decided_at: '2026-03-04T00:00:00Z', rejection_reason: 'Not applicable' });
      await request('elsewhere', 'ACCESS', 'SUBMITTED', '2026-05-01T00:00:00Z', '2026-05-02T00:00:00Z');
    });

    const zero = {
      filed: 0, submitted: 0, approved: 0, inProgress: 0, completed: 0, rejected: 0, cancelled: 0, failed: 0, expired: 0,
      completedOnTime: 0, completedLate: 0, onTimeShare: null, medianDaysToComplete: null, p90DaysToComplete: null, overdue: 0,
    };

    it('counts by type and status, on-time share, median and p90 days, and the overdue list at the end of the range', async () => {
      const data = await gql<{ requestComplianceReport: unknown }>(COMPLIANCE, { from: '2026-03-01T00:00:00Z', until: '2026-04-01T00:00:00Z' }, auditorToken);
      expect(data.requestComplianceReport).toEqual({
        from: '2026-03-01T00:00:00.000Z', until: '2026-04-01T00:00:00.000Z', asOf: '2026-04-01T00:00:00.000Z',
        rows: [
          { ...zero, type: 'ACCESS', filed: 2, completed: 2, completedOnTime: 1, completedLate: 1, onTimeShare: 0.5, medianDaysToComplete: 15, p90DaysToComplete: 19 },
          { ...zero, type: 'RECTIFICATION', filed: 1, cancelled: 1 },
          { ...zero, type: 'ERASURE', filed: 1, submitted: 1, overdue: 1 },
          { ...zero, type: 'RESTRICTION', filed: 1, rejected: 1 },
          { ...zero, type: null, filed: 5, completed: 2, submitted: 1, cancelled: 1, rejected: 1, completedOnTime: 1, completedLate: 1, onTimeShare: 0.5,
            medianDaysToComplete: 15, p90DaysToComplete: 19, overdue: 1 },
        ],
        overdue: [{ requestId: ids.open, type: 'ERASURE', status: 'SUBMITTED', filedAt: '2026-03-02T00:00:00.000Z', dueAt: '2026-03-10T00:00:00.000Z', daysOverdue: 22 }],
      });
    });

    it('judges lateness at the end of an earlier range: a request completed after it was still open and overdue then', async () => {
      const data = await gql<{ requestComplianceReport: { asOf: string; rows: { type: string | null }[]; overdue: unknown[] } }>(COMPLIANCE,
        { from: '2026-03-01T00:00:00Z', until: '2026-03-15T00:00:00Z' }, admin.token);
      expect(data.requestComplianceReport.asOf).toBe('2026-03-15T00:00:00.000Z');
      expect(data.requestComplianceReport.rows[0]).toEqual({
        ...zero, type: 'ACCESS', filed: 2, completed: 2, completedOnTime: 1, onTimeShare: 1, medianDaysToComplete: 10, p90DaysToComplete: 10, overdue: 1,
      });
      expect(data.requestComplianceReport.overdue).toEqual([
        { requestId: ids.late, type: 'ACCESS', status: 'COMPLETED', filedAt: '2026-03-01T00:00:00.000Z', dueAt: '2026-03-05T00:00:00.000Z', daysOverdue: 10 },
        { requestId: ids.open, type: 'ERASURE', status: 'SUBMITTED', filedAt: '2026-03-02T00:00:00.000Z', dueAt: '2026-03-10T00:00:00.000Z', daysOverdue: 5 },
      ]);
    });
  });

  describe('audit chain status', () => {
    type Chain = { auditChainStatusReport: Record<string, unknown> };

    it('the latest checkpoint, the sealing lag and the last verification, of the caller\'s tenant only', async () => {
      await sealEverything(app.orm, key);
      const [latest] = await sql<{ tree_size: string; root: Buffer }>(app.orm,
        'select tree_size, root from audit_checkpoint where tenant_id = ? order by tree_size desc limit 1', [north.tenant.id]);
      // Unsealed: one event an hour old (and this request's own events, written after it answers).
      await insertEvent(north.tenant.id, { at: new Date(Date.now() - 3_600_000).toISOString(), kind: 'DENY', actor: s1, credential: 'c-s1',
        root: 'Query.tokens', purpose: 'account.administration' });
      const first = (await gql<Chain>(CHAIN, {}, auditorToken)).auditChainStatusReport;
      expect(first).toMatchObject({
        treeSize: Number(latest.tree_size), root: latest.root.toString('hex'), keyId: key.keyId, unsealedEvents: 1,
        lastVerifiedAt: null, lastVerificationOk: null, lastVerificationRootCause: null,
      });
      expect(first.sealingLagSeconds as number).toBeGreaterThanOrEqual(3600);
      expect(first.sealingLagSeconds as number).toBeLessThan(3700);

      await sealEverything(app.orm, key);
      const report = await verifyAuditLog(app.orm, { trustedKeys: [key.publicKeyRaw], maxUnsealedAgeMs: 3_600_000 });
      expect(report.ok).toBe(true);
      await recordVerification(app.orm.em.fork(), report, [key.keyId], new Date('2026-11-20T10:00:00Z'));
      const [mine] = report.tenants.filter((t) => t.tenantId === north.tenant.id);
      const after = (await gql<Chain>(CHAIN, {}, admin.token)).auditChainStatusReport;
      expect(after).toMatchObject({
        lastVerifiedAt: '2026-11-20T10:00:00.000Z', lastVerificationOk: true, lastVerificationRootCause: null, lastVerificationFailures: 0,
        lastVerifiedTreeSize: mine.treeSize,
      });
      // A later failed run is the one shown, with its root cause; South's runs never show in North.
      await recordVerification(app.orm.em.fork(), {
        ...report, ok: false, failures: [{ code: 'EDITED_EVENT', tenantId: north.tenant.id, message: 'edited' }, { code: 'BROKEN_CHAIN', tenantId: null, message: 'x' }],
      }, [key.keyId], new Date('2026-11-21T10:00:00Z'));
      await recordVerification(app.orm.em.fork(), { ...report, tenants: report.tenants.filter((t) => t.tenantId === south.tenant.id) },
        [key.keyId], new Date('2026-11-22T10:00:00Z'));
      expect((await gql<Chain>(CHAIN, {}, admin.token)).auditChainStatusReport).toMatchObject({
        lastVerifiedAt: '2026-11-21T10:00:00.000Z', lastVerificationOk: false, lastVerificationRootCause: 'EDITED_EVENT', lastVerificationFailures: 2,
      });
      const southView = (await gql<Chain>(CHAIN, {}, (await south.admin()).token)).auditChainStatusReport;
      expect(southView).toMatchObject({ lastVerifiedAt: '2026-11-22T10:00:00.000Z', lastVerificationOk: true });
      expect(southView.treeSize).not.toBe(after.treeSize);
    });

    it('verification results cannot be edited or deleted', async () => {
      await expect(sql(app.orm, 'update audit_verification set ok = true')).rejects.toThrow(/append-only/);
      await expect(sql(app.orm, 'delete from audit_verification')).rejects.toThrow(/append-only/);
    });
  });

  describe('CSV downloads', () => {
    const get = (path: string, token: string | null) => app.http(path, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    const qs = new URLSearchParams(RANGE).toString();

    it('the same rows as the GraphQL query, RFC 4180, formula-safe', async () => {
      const res = await get(`/reports/disclosures.csv?${qs}`, auditorToken);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/csv; charset=utf-8/);
      expect(res.headers.get('content-disposition')).toBe('attachment; filename="custos-disclosures.csv"');
      expect(await res.text()).toBe([
        'recipient,recipientName,category,events,subjects,firstAt,lastAt',
        `LtiTool:${toolId},"'=Quiz, ""Pro""",user.contact.email,1,1,2026-03-02T13:00:00.000Z,2026-03-02T13:00:00.000Z`,
        `LtiTool:${toolId},"'=Quiz, ""Pro""",user.name,2,2,2026-03-02T13:00:00.000Z,2026-03-03T01:00:00.000Z`,
        '',
      ].join('\r\n'));
      const summary = await (await get(`/reports/access-summary.csv?${qs}&role=ADMIN`, admin.token)).text();
      expect(summary.split('\r\n')).toEqual([
        'day,role,category,purpose,accessKind,events,subjects',
        '2026-03-01,ADMIN,user.name,account.administration,READ,1,2',
        '2026-03-03,ADMIN,user.education.grade,account.administration,READ,1,2',
        '2026-03-03,ADMIN,user.name,account.administration,READ,1,1',
        '2026-03-03,ADMIN,user.name,account.administration,WRITE,1,1',
        '',
      ]);
      const denied = await (await get(`/reports/denied-attempts.csv?${qs}`, admin.token)).text();
      expect(denied.split('\r\n')[2]).toBe(',AUDITOR,AUDITOR,c-aud,Mutation.createUser,audit,1,2026-03-02T12:00:00.000Z,2026-03-02T12:00:00.000Z');
      for (const name of ['privileged-access', 'request-compliance', 'overdue-requests', 'audit-chain-status']) {
        const r = await get(`/reports/${name}.csv${name === 'audit-chain-status' ? '' : `?${qs}`}`, auditorToken);
        expect(`${name}: ${r.status}`).toBe(`${name}: 200`);
      }
    });

    it('is recorded as a READ (purpose audit); a refused caller as a DENY', async () => {
      const count = async (kind: string) => Number((await sql<{ n: string }>(app.orm,
        `select count(*) as n from access_event where tenant_id = ? and operation_name = 'reports/denied-attempts.csv' and access_kind = ?`,
        [north.tenant.id, kind]))[0].n);
      const [reads, denials] = [await count('READ'), await count('DENY')];
      expect((await get(`/reports/denied-attempts.csv?${qs}`, auditorToken)).status).toBe(200);
      expect((await get(`/reports/denied-attempts.csv?${qs}`, s1.token)).status).toBe(403);
      expect((await get(`/reports/denied-attempts.csv?${qs}`, instructor.token)).status).toBe(403);
      expect([await count('READ'), await count('DENY')]).toEqual([reads + 1, denials + 2]);
      const [e] = await sql(app.orm, `select purpose, actor_kind, root_field, item_count from access_event
        where tenant_id = ? and operation_name = 'reports/denied-attempts.csv' and access_kind = 'READ' order by occurred_at desc limit 1`, [north.tenant.id]);
      expect(e).toEqual({ purpose: 'audit', actor_kind: 'AUDITOR', root_field: 'Query.deniedAttemptsReport', item_count: 2 });
    });

    it('answers 401 without a credential, 404 for an unknown report, 400 for unknown parameters and bad values', async () => {
      expect((await get('/reports/access-summary.csv', null)).status).toBe(401);
      expect((await get('/reports/salaries.csv', admin.token)).status).toBe(404);
      for (const query of ['role=JANITOR', 'from=yesterday', 'colour=red', 'category=user.name', 'from=2026-03-04&until=2026-03-01', 'role=ADMIN&role=STUDENT']) {
        const res = await get(`/reports/denied-attempts.csv?${query}`, admin.token);
        expect(`${query}: ${res.status}`).toBe(`${query}: 400`);
        expect(((await res.json()) as { errors: { extensions: { code: string } }[] }).errors[0].extensions.code).toBe('BAD_USER_INPUT');
      }
    });
  });
});
