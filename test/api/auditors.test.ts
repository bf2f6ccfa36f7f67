import { randomUUID } from 'node:crypto';
import { codes, startTestApp, type TestApp } from '../support/harness';
import { seedTenant, sql, type Member, type SeededTenant } from '../support/seed';
import { issueToken, revokeToken } from '../../src/modules/token/token.service';
import { TokenKind } from '../../src/modules/token/api-token.entity';

/**
 * External auditors: tokens an administrator issues (at most 90 days, optionally for a window of
 * events), which see the pseudonymous audit surfaces and nothing else, and whose every query is
 * itself in the log.
 */
let app: TestApp;
let school: SeededTenant;
let admin: Member;
let student: Member;

const EVENTS = `query($from: DateTimeISO, $until: DateTimeISO) {
  auditEvents(first: 100, from: $from, until: $until) {
    edges { node { id occurredAt accessKind purpose operation actorKind actorRole actorPseudonym subjects { pseudonym categories } } }
  } }`;

/** An access event about the student at a given time (the log is append-only; tests write history directly). */
async function eventAt(at: string, kind = 'READ'): Promise<string> {
  const id = randomUUID();
  const [{ pseudonym }] = await sql<{ pseudonym: string }>(app.orm, 'select pseudonym from subject_key where user_id = ?', [student.user.id]);
  await sql(app.orm,
    `insert into access_event (id, tenant_id, occurred_at, request_id, operation_type, operation_name, root_field, fields, access_kind, purpose,
                               actor_kind, actor_role, actor_pseudonym, credential_id, resources, outcome, error_code, item_count)
     values (?, ?, ?, 'seeded', 'query', null, 'Query.user', '{User.email}', ?, 'account.administration', 'USER', 'ADMIN', null, null, '{}',
             'SUCCESS', null, 1)`, [id, school.tenant.id, at, kind]);
  await sql(app.orm, `insert into access_event_subject (tenant_id, pseudonym, occurred_at, event_id, categories) values (?, ?, ?, ?, '{user.contact.email}')`,
    [school.tenant.id, pseudonym, at, id]);
  return id;
}

async function auditorToken(window?: { from?: string; until?: string }, ttlDays = 30): Promise<string> {
  const res = await app.gql<{ issueToken: { secret: string; token: { expiresAt: string; auditFrom: string | null; auditUntil: string | null } } }, unknown>(
    `mutation($i: IssueTokenInput!) { issueToken(input: $i) { secret token { expiresAt auditFrom auditUntil } } }`,
    { i: { kind: 'AUDITOR', label: 'External audit', ttlDays, ...(window ? { auditWindow: window } : {}) } }, admin.token);
  expect(res.errors).toBeUndefined();
  return res.data!.issueToken.secret;
}

beforeAll(async () => {
  app = await startTestApp();
  school = await seedTenant(app.orm, 'Audited');
  admin = await school.admin();
  student = await school.student();
});
afterAll(() => app?.close());

describe('auditor tokens', () => {
  it('are issued by an administrator for at most 90 days, shown once, stored hashed, listed with their last use', async () => {
    const tooLong = await app.gql(`mutation { issueToken(input: { kind: AUDITOR, label: "x", ttlDays: 91 }) { secret } }`, {}, admin.token);
    expect(codes(tooLong)).toEqual(['BAD_USER_INPUT']);
    const secret = await auditorToken(undefined, 90);
    const [row] = await sql<{ token_hash: string }>(app.orm, "select token_hash from api_token where kind = 'AUDITOR' and tenant_id = ? order by created_at desc limit 1",
      [school.tenant.id]);
    expect(row.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(row.token_hash).not.toContain(secret);
    expect((await app.gql('{ auditPublicKeys { keyId } }', {}, secret)).errors).toBeUndefined();
    const list = await app.gql<{ tokens: { edges: { node: { kind: string; lastUsedAt: string | null } }[] } }, unknown>(
      '{ tokens(kind: AUDITOR, first: 10) { edges { node { kind lastUsedAt } } } }', {}, admin.token);
    expect(list.data!.tokens.edges.some((e) => e.node.lastUsedAt !== null)).toBe(true);
  });

  it('see every audit surface, pseudonymously, and no personal-data field', async () => {
    const secret = await auditorToken();
    await eventAt(new Date().toISOString());
    const events = await app.gql<{ auditEvents: { edges: { node: { subjects: { pseudonym: string }[] } }[] } }, unknown>(EVENTS, {}, secret);
    expect(events.errors).toBeUndefined();
    const json = JSON.stringify(events.data);
    expect(json).not.toContain(student.user.email);
    expect(json).not.toContain(student.user.id);
    expect(events.data!.auditEvents.edges.some((e) => e.node.subjects.length > 0)).toBe(true);
    for (const q of ['{ auditCheckpoint { treeSize } }', '{ auditPublicKeys { keyId } }']) expect((await app.gql(q, {}, secret)).errors).toBeUndefined();
    for (const q of ['{ users(first: 5) { edges { node { email } } } }', `{ user(id: "${student.user.id}") { email } }`,
      `{ accessHistory(userId: "${student.user.id}", first: 5) { edges { node { eventId } } } }`, '{ myAccessHistory(first: 1) { edges { node { eventId } } } }']) {
      expect(codes(await app.gql(q, {}, secret))).toEqual(['FORBIDDEN']);
    }
    const mutation = await app.gql('mutation { createCourse(input: { code: "AUD-1", title: "No" }) { id } }', {}, secret);
    expect(mutation.status).toBe(403);
    expect(codes(mutation)).toEqual(['FORBIDDEN']);
  });

  it('are audited: each query an auditor makes is an access event of theirs', async () => {
    const secret = await auditorToken();
    const [{ id: tokenId }] = await sql<{ id: string }>(app.orm, "select id from api_token where kind = 'AUDITOR' and tenant_id = ? order by created_at desc limit 1",
      [school.tenant.id]);
    await app.gql(EVENTS, {}, secret);
    await app.gql('{ auditPublicKeys { keyId } }', {}, secret);
    expect((await app.gql('{ accessSummaryReport { from } }', {}, secret)).errors).toBeUndefined();
    const logged = await sql<{ root_field: string; access_kind: string; actor_kind: string; purpose: string; subjects: string }>(app.orm,
      `select e.root_field, e.access_kind, e.actor_kind, e.purpose, (select count(*) from access_event_subject s where s.event_id = e.id) as subjects
         from access_event e where e.tenant_id = ? and e.credential_id = ? order by e.occurred_at, e.root_field`, [school.tenant.id, tokenId]);
    // One READ per query, a report's included (recorded once, not once as a report and once as an auditor's query).
    expect(logged).toEqual([
      { root_field: 'Query.auditEvents', access_kind: 'READ', actor_kind: 'AUDITOR', purpose: 'audit', subjects: '0' },
      { root_field: 'Query.auditPublicKeys', access_kind: 'READ', actor_kind: 'AUDITOR', purpose: 'audit', subjects: '0' },
      { root_field: 'Query.accessSummaryReport', access_kind: 'READ', actor_kind: 'AUDITOR', purpose: 'audit', subjects: '0' },
    ]);
  });

  it('see only the events of their window, whatever range they ask for', async () => {
    const inside = await eventAt('2026-03-15T12:00:00.000Z');
    const before = await eventAt('2026-02-27T12:00:00.000Z');
    const after = await eventAt('2026-04-02T12:00:00.000Z');
    const secret = await auditorToken({ from: '2026-03-01T00:00:00Z', until: '2026-04-01T00:00:00Z' });
    const ids = async (vars: Record<string, string>, token = secret) => {
      const res = await app.gql<{ auditEvents: { edges: { node: { id: string } }[] } }, unknown>(EVENTS, vars, token);
      expect(res.errors).toBeUndefined();
      return res.data!.auditEvents.edges.map((e) => e.node.id);
    };
    const seen = await ids({});
    expect(seen).toContain(inside);
    expect(seen).not.toContain(before);
    expect(seen).not.toContain(after);
    expect(await ids({ from: '2026-01-01T00:00:00Z', until: '2026-12-31T00:00:00Z' })).toEqual(seen);
    expect(await ids({ from: '2026-04-01T00:00:00Z' })).toEqual([]);
    // An administrator sees all three.
    const all = await ids({ from: '2026-01-01T00:00:00Z', until: '2026-12-31T00:00:00Z' }, admin.token);
    expect(all).toEqual(expect.arrayContaining([inside, before, after]));
    expect(codes(await app.gql(EVENTS, { from: '2026-05-01T00:00:00Z', until: '2026-04-01T00:00:00Z' }, secret))).toEqual(['BAD_USER_INPUT']);
  });

  it('stop working when revoked or expired', async () => {
    const secret = await auditorToken();
    const [{ id }] = await sql<{ id: string }>(app.orm, "select id from api_token where kind = 'AUDITOR' and tenant_id = ? order by created_at desc limit 1",
      [school.tenant.id]);
    await revokeToken(app.orm.em.fork(), school.tenant.id, id);
    expect(codes(await app.gql('{ auditPublicKeys { keyId } }', {}, secret))).toEqual(['UNAUTHENTICATED']);
    const expired = await issueToken(app.orm.em.fork(), school.tenant.id,
      { kind: TokenKind.AUDITOR, label: 'old audit', ttlDays: 1, now: new Date(Date.now() - 3 * 86_400_000) });
    expect(codes(await app.gql('{ auditPublicKeys { keyId } }', {}, expired.secret))).toEqual(['UNAUTHENTICATED']);
  });
});

describe('records of processing (Art. 30)', () => {
  const RECORDS = `{ recordsOfProcessing {
    controller purposes { purpose lawfulBasis article } subjects { role active deactivated }
    categories { category fields retention retentionOverridden } recipients { recipient kind categories host }
    transfers { recipient destination } securityMeasures html } }`;
  type Records = {
    controller: string; purposes: { purpose: string; lawfulBasis: string }[]; subjects: { role: string; active: number; deactivated: number }[];
    categories: { category: string; fields: string[]; retention: string; retentionOverridden: boolean }[];
    recipients: { recipient: string; kind: string; categories: string[]; host: string | null }[];
    transfers: { recipient: string; destination: string }[]; securityMeasures: string[]; html: string;
  };

  it('come from the registry, the settings, the integrations and the tools, for administrators and auditors', async () => {
    await issueToken(app.orm.em.fork(), school.tenant.id, { kind: TokenKind.SERVICE, scopes: ['roster:read'], label: 'SIS nightly', ttlDays: 5 });
    await app.gql('mutation($i: RegisterLtiToolInput!) { registerLtiTool(input: $i) { id } }',
      { i: { name: 'Quiz Lab', clientId: 'quiz-1', launchUrl: 'https://quiz.example/launch', privacyLevel: 'NAME_ONLY' } }, admin.token);
    const set = await app.gql('mutation { setRetentionPeriod(category: "user.content.private", period: "Two school years") { period } }', {}, admin.token);
    expect(set.errors).toBeUndefined();
    const auditor = await auditorToken();
    for (const token of [admin.token, auditor]) {
      const res = await app.gql<{ recordsOfProcessing: Records }, unknown>(RECORDS, {}, token);
      expect(res.errors).toBeUndefined();
      const r = res.data!.recordsOfProcessing;
      expect(r.controller).toBe('Audited');
      expect(r.purposes.map((p) => p.purpose)).toEqual(expect.arrayContaining(['education.delivery', 'sis.sync', 'audit', 'data_subject_rights']));
      expect(r.purposes.every((p) => ['contract', 'legal_obligation', 'public_task', 'legitimate_interests'].includes(p.lawfulBasis))).toBe(true);
      expect(r.subjects.find((s) => s.role === 'STUDENT')!.active).toBeGreaterThanOrEqual(1);
      const email = r.categories.find((c) => c.category === 'user.contact.email')!;
      expect(email.fields).toContain('User.email');
      expect(r.categories.find((c) => c.category === 'user.content.private')).toMatchObject({ retention: 'Two school years', retentionOverridden: true });
      expect(r.recipients.find((x) => x.recipient === 'SIS nightly')).toMatchObject({ kind: 'INTEGRATION' });
      expect(r.recipients.find((x) => x.recipient === 'Quiz Lab')).toEqual({
        recipient: 'Quiz Lab', kind: 'TOOL', categories: ['user.education.enrollment', 'user.name'], host: 'quiz.example',
      });
      expect(r.transfers).toEqual([{ recipient: 'Quiz Lab', destination: 'quiz.example' }]);
      expect(r.securityMeasures.length).toBeGreaterThan(3);
      expect(r.html).toMatch(/<h1>Records of processing activities/);
      expect(r.html).toContain('Quiz Lab');
      expect(r.html).not.toMatch(/<script|<link|<img|src=/i);
      expect(JSON.stringify(r)).not.toContain(student.user.email);
    }
  });
});
