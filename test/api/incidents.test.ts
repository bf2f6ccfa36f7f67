import { randomUUID } from 'node:crypto';
import { codes, startTestApp, type TestApp } from '../support/harness';
import { seedTenant, sql, type Member, type SeededTenant } from '../support/seed';
import { issueToken } from '../../src/modules/token/token.service';
import { TokenKind } from '../../src/modules/token/api-token.entity';

const HOUR = 3_600_000;

interface ImpactView {
  from: string; until: string; clamped: boolean; subjectCount: number; erasedSubjectCount: number; eventCount: number; deniedAttempts: number;
  resourceCount: number; resources: string[]; note: string | null;
  categories: { category: string; subjects: number }[]; eventsByKind: { kind: string; events: number }[]; resourcesByType: { type: string; count: number }[];
}
interface SubjectView { pseudonym: string; erased: boolean; categories: string[]; eventCount: number; firstAccessAt: string; lastAccessAt: string }
interface IncidentView {
  id: string; status: string; description: string; detectedAt: string; authorityDueAt: string; overdue: boolean; suspectKind: string;
  suspectCredentialId: string | null; suspectPseudonym: string | null; windowFrom: string; windowUntil: string; authorityNotifiedAt: string | null;
  delayReason: string | null; credentialRevokedAt: string | null; revokedTokenCount: number | null; closedAt: string | null; closingSummary: string | null;
  notifications: { kind: string; notifiedAt: string; recipient: string; method: string; reference: string | null; subjectCount: number | null }[];
  history: { action: string }[];
}

const INCIDENT = `id status description detectedAt authorityDueAt overdue suspectKind suspectCredentialId suspectPseudonym windowFrom windowUntil
  authorityNotifiedAt delayReason credentialRevokedAt revokedTokenCount closedAt closingSummary
  notifications { kind notifiedAt recipient method reference subjectCount } history { action }`;
const IMPACT = `impact { from until clamped subjectCount erasedSubjectCount eventCount deniedAttempts resourceCount resources note
  categories { category subjects } eventsByKind { kind events } resourcesByType { type count } }`;
const SUBJECTS = 'affectedSubjects(first: 100) { edges { node { pseudonym erased categories eventCount firstAccessAt lastAccessAt } } }';

/** Breach incidents: impact computed from the access log, deadlines and notifications, revocation, the record kept. */
describe('incidents', () => {
  let app: TestApp;
  let school: SeededTenant;
  let other: SeededTenant;
  let admin: Member;
  let foreignAdmin: Member;
  let auditor: string;

  beforeAll(async () => {
    app = await startTestApp();
    school = await seedTenant(app.orm, 'Breached');
    other = await seedTenant(app.orm, 'Elsewhere');
    admin = await school.admin();
    foreignAdmin = await other.admin();
    auditor = (await issueToken(app.orm.em.fork(), school.tenant.id, { kind: TokenKind.AUDITOR, label: 'auditor', ttlDays: 7 })).secret;
  });
  afterAll(() => app.close());

  const pseudonymOf = async (m: Member) =>
    (await sql<{ pseudonym: string }>(app.orm, 'select pseudonym from subject_key where user_id = ?', [m.user.id]))[0].pseudonym;
  const tokenIdOf = async (m: Member) =>
    (await sql<{ id: string }>(app.orm, 'select id from api_token where user_id = ? order by created_at limit 1', [m.user.id]))[0].id;

  /** Writes an access event straight into the log (the log accepts inserts; only changes are refused). */
  const logEvent = async (e: {
    tenantId?: string; at: Date; kind?: 'READ' | 'WRITE' | 'DISCLOSE' | 'DENY'; credentialId?: string | null; actor?: string | null;
    subjects?: [string, string[]][]; resources?: string[];
  }) => {
    const id = randomUUID();
    const tenantId = e.tenantId ?? school.tenant.id;
    const kind = e.kind ?? 'READ';
    await sql(app.orm,
      `insert into access_event (id, tenant_id, occurred_at, request_id, operation_type, root_field, fields, access_kind, purpose, actor_kind,
                                 actor_role, actor_pseudonym, credential_id, resources, outcome, error_code, item_count)
       values (?, ?, ?, 'test', 'query', 'Query.course', '{}', ?, 'education.delivery', 'USER', 'INSTRUCTOR', ?, ?, ?, ?, ?, 0)`,
      [id, tenantId, e.at, kind, e.actor ?? null, e.credentialId ?? null, `{${(e.resources ?? []).join(',')}}`,
        kind === 'DENY' ? 'DENIED' : 'SUCCESS', kind === 'DENY' ? 'FORBIDDEN' : null]);
    for (const [pseudonym, categories] of e.subjects ?? []) {
      await sql(app.orm, 'insert into access_event_subject (tenant_id, pseudonym, occurred_at, event_id, categories) values (?, ?, ?, ?, ?)',
        [tenantId, pseudonym, e.at, id, `{${categories.join(',')}}`]);
    }
  };

  const open = (token: string, input: Record<string, unknown>, fields = INCIDENT) =>
    app.gql<{ openIncident: IncidentView }, object>(`mutation($input: OpenIncidentInput!) { openIncident(input: $input) { ${fields} } }`, { input }, token);
  const get = <T = IncidentView>(token: string, id: string, fields: string) =>
    app.gql<{ incident: T }, object>(`query($id: ID!) { incident(id: $id) { ${fields} } }`, { id }, token);
  const mutate = (token: string, mutation: string, args: string, variables: Record<string, unknown>) =>
    app.gql<Record<string, IncidentView>, object>(`mutation(${args}) { ${mutation} { ${INCIDENT} } }`, variables, token);

  describe('impact: exactly what the suspect touched in the window', () => {
    let teacher: Member;
    let credential: string;
    let actor: string;
    const ann = randomUUID(); // stand-ins for people: pseudonyms the events name
    const ben = randomUUID();
    const cat = randomUUID();
    const erased = randomUUID(); // no subject_key row: erased since
    const before = randomUUID();
    const atEnd = randomUUID();
    const viaOtherCredential = randomUUID();
    const elsewhere = randomUUID();
    const denied = randomUUID();
    const from = new Date(Date.now() - 10 * HOUR);
    const until = new Date(Date.now() - 2 * HOUR);
    const course = `Course:${randomUUID()}`;
    const tool = `LtiTool:${randomUUID()}`;
    const refusedCourse = `Course:${randomUUID()}`;

    beforeAll(async () => {
      teacher = await school.instructor();
      credential = await tokenIdOf(teacher);
      actor = await pseudonymOf(teacher);
      // People who exist (their pseudonym rows), except `erased`.
      for (const p of [ann, ben, cat, before, atEnd, viaOtherCredential]) {
        await sql(app.orm, 'insert into app_user (id, tenant_id, email, given_name, family_name, display_name, role) values (?, ?, ?, ?, ?, ?, ?::user_role)',
          [p, school.tenant.id, `${p}@x.test`, 'P', 'Q', 'P Q', 'STUDENT']);
        await sql(app.orm, 'update subject_key set pseudonym = ? where user_id = ?', [p, p]);
      }
      await logEvent({ at: from, credentialId: credential, actor, subjects: [[ann, ['user.name']], [ben, ['user.contact.email', 'user.name']], [erased, ['user.name']]], resources: [course] });
      await logEvent({ at: new Date(until.getTime() - 1), kind: 'WRITE', credentialId: credential, actor, subjects: [[cat, ['user.education.grade']]], resources: [course] });
      await logEvent({ at: new Date(from.getTime() + HOUR), kind: 'DISCLOSE', credentialId: credential, actor, subjects: [[ann, ['user.contact.email']]], resources: [tool] });
      await logEvent({ at: new Date(from.getTime() + HOUR), kind: 'DENY', credentialId: credential, actor, subjects: [[denied, ['user.name']]], resources: [refusedCourse] });
      // Outside: a millisecond before the window, exactly at its (exclusive) end, another credential, another tenant.
      await logEvent({ at: new Date(from.getTime() - 1), credentialId: credential, actor, subjects: [[before, ['user.name']]] });
      await logEvent({ at: until, credentialId: credential, actor, subjects: [[atEnd, ['user.name']]] });
      await logEvent({ at: new Date(from.getTime() + 2 * HOUR), credentialId: 'jwt:0123456789abcdef0123456789abcdef', actor, subjects: [[viaOtherCredential, ['user.account']]] });
      await logEvent({ tenantId: other.tenant.id, at: new Date(from.getTime() + HOUR), credentialId: credential, subjects: [[elsewhere, ['user.name']]] });
    });

    it('counts the people, categories, events and objects of the suspected credential\'s READ, WRITE and DISCLOSE events in [from, until)', async () => {
      const res = await open(admin.token, {
        detectedAt: new Date().toISOString(), description: 'A teacher\'s token was found in a public repository.',
        suspect: { credentialId: credential }, windowFrom: from.toISOString(), windowUntil: until.toISOString(),
      }, `${INCIDENT} ${IMPACT} ${SUBJECTS}`);
      expect(res.errors).toBeUndefined();
      const incident = res.data!.openIncident as IncidentView & { impact: ImpactView; affectedSubjects: { edges: { node: SubjectView }[] } };
      expect(incident).toMatchObject({ status: 'OPEN', suspectKind: 'CREDENTIAL', suspectCredentialId: credential, suspectPseudonym: null, overdue: false });
      expect(incident.impact).toMatchObject({
        clamped: false, subjectCount: 4, erasedSubjectCount: 1, eventCount: 3, deniedAttempts: 1, resourceCount: 2, resources: [course, tool].sort(),
        eventsByKind: [{ kind: 'DISCLOSE', events: 1 }, { kind: 'READ', events: 1 }, { kind: 'WRITE', events: 1 }],
        resourcesByType: [{ type: 'Course', count: 1 }, { type: 'LtiTool', count: 1 }],
        categories: [
          { category: 'user.contact.email', subjects: 2 }, { category: 'user.education.grade', subjects: 1 }, { category: 'user.name', subjects: 3 },
        ],
      });
      expect(incident.impact.note).toMatch(/1 of the 4 .* erased .* cannot be listed by name/);
      const subjects = incident.affectedSubjects.edges.map((e) => e.node);
      expect(subjects.map((s) => s.pseudonym)).toEqual([ann, ben, cat, erased].sort());
      expect(subjects.find((s) => s.pseudonym === ann)).toMatchObject({ erased: false, categories: ['user.contact.email', 'user.name'], eventCount: 2 });
      expect(subjects.find((s) => s.pseudonym === erased)).toMatchObject({ erased: true, categories: ['user.name'], eventCount: 1 });
      expect(Date.parse(subjects.find((s) => s.pseudonym === cat)!.lastAccessAt)).toBe(until.getTime() - 1);
    });

    it('for a suspected member, counts every credential they used, and nothing of anyone else', async () => {
      const res = await open(admin.token, {
        detectedAt: new Date().toISOString(), description: 'A teacher account acted oddly.',
        suspect: { userId: teacher.user.id }, windowFrom: from.toISOString(), windowUntil: until.toISOString(),
      }, `${INCIDENT} ${IMPACT} ${SUBJECTS} suspectMember { id }`);
      expect(res.errors).toBeUndefined();
      const incident = res.data!.openIncident as IncidentView & { impact: ImpactView; affectedSubjects: { edges: { node: SubjectView }[] } };
      expect(incident).toMatchObject({ suspectKind: 'MEMBER', suspectCredentialId: null, suspectPseudonym: actor, suspectMember: { id: teacher.user.id } });
      expect(incident.impact).toMatchObject({ subjectCount: 5, erasedSubjectCount: 1, eventCount: 4, deniedAttempts: 1 });
      expect(incident.affectedSubjects.edges.map((e) => e.node.pseudonym)).toEqual([ann, ben, cat, erased, viaOtherCredential].sort());
    });

    it('pages the affected people by pseudonym', async () => {
      const id = (await open(admin.token, {
        detectedAt: new Date().toISOString(), description: 'Paging.', suspect: { credentialId: credential }, windowFrom: from.toISOString(), windowUntil: until.toISOString(),
      }, 'id')).data!.openIncident.id;
      const seen: string[] = [];
      let after: string | null = null;
      for (let i = 0; i < 5; i++) {
        const res: { data?: { incident: { affectedSubjects: { edges: { node: { pseudonym: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string } } } } | null } =
          await app.gql(`query($id: ID!, $after: String) { incident(id: $id) { affectedSubjects(first: 3, after: $after) { edges { node { pseudonym } } pageInfo { hasNextPage endCursor } } } }`,
            { id, after }, admin.token);
        const page = res.data!.incident.affectedSubjects;
        seen.push(...page.edges.map((e) => e.node.pseudonym));
        if (!page.pageInfo.hasNextPage) break;
        after = page.pageInfo.endCursor;
      }
      expect(seen).toEqual([ann, ben, cat, erased].sort());
    });

    it('an auditor sees counts and pseudonyms, never who they are, and only within the auditor\'s own window', async () => {
      const id = (await open(admin.token, {
        detectedAt: new Date().toISOString(), description: 'Audited.', suspect: { credentialId: credential }, windowFrom: from.toISOString(), windowUntil: until.toISOString(),
      }, 'id')).data!.openIncident.id;
      const full = await get<{ impact: ImpactView; affectedSubjects: { edges: { node: SubjectView }[] } }>(auditor, id, `${IMPACT} ${SUBJECTS}`);
      expect(full.errors).toBeUndefined();
      expect(full.data!.incident.impact.subjectCount).toBe(4);
      expect(full.data!.incident.affectedSubjects.edges).toHaveLength(4);
      const named = await get(auditor, id, 'affectedSubjects(first: 5) { edges { node { pseudonym person { id email } } } }');
      expect(codes(named)).toContain('FORBIDDEN');
      expect(codes(await get(auditor, id, 'suspectMember { id }'))).toEqual(['FORBIDDEN']);

      // An auditor engaged for the first half hour of the window sees only the first event (and the refusal an hour in: no).
      const windowed = (await issueToken(app.orm.em.fork(), school.tenant.id, {
        kind: TokenKind.AUDITOR, label: 'windowed', ttlDays: 1, auditWindow: { from: null, until: new Date(from.getTime() + HOUR / 2) },
      })).secret;
      const part = await get<{ impact: ImpactView; affectedSubjects: { edges: { node: SubjectView }[] } }>(windowed, id, `${IMPACT} ${SUBJECTS}`);
      expect(part.errors).toBeUndefined();
      expect(part.data!.incident.impact).toMatchObject({ clamped: true, subjectCount: 3, eventCount: 1, deniedAttempts: 0, resources: [course] });
      expect(Date.parse(part.data!.incident.impact.until)).toBe(from.getTime() + HOUR / 2);
      expect(part.data!.incident.affectedSubjects.edges.map((e) => e.node.pseudonym)).toEqual([ann, ben, erased].sort());
    });
  });

  it('through the API: the people a stolen token read are the affected people, and an admin reading them is itself logged', async () => {
    const teacher = await school.instructor();
    const course = await school.course('Chemistry');
    const pupils = [await school.student(), await school.student(), await school.student()];
    const bystander = await school.student();
    await school.enroll(course, teacher);
    for (const p of pupils) await school.enroll(course, p);
    const stolen = await school.token(teacher);
    const stolenId = (await sql<{ id: string }>(app.orm, 'select id from api_token where user_id = ? order by created_at desc limit 1', [teacher.user.id]))[0].id;
    const from = new Date(Date.now() - 1000);
    const roster = `query($id: ID!) { course(id: $id) { roster(first: 50) { edges { node { user { id email } } } } } }`;
    expect((await app.gql(roster, { id: course.id }, stolen)).errors).toBeUndefined();
    // The same teacher's other token, and someone else, touch other people: not this credential's doing.
    await app.gql('query($id: ID!) { user(id: $id) { email } }', { id: bystander.user.id }, teacher.token);
    await app.gql('query($id: ID!) { user(id: $id) { email } }', { id: bystander.user.id }, admin.token);
    const until = new Date(Date.now() + 1000);

    const res = await open(admin.token, {
      detectedAt: new Date().toISOString(), description: 'Token leaked.', suspect: { credentialId: stolenId },
      windowFrom: from.toISOString(), windowUntil: until.toISOString(),
    }, 'id impact { subjectCount } affectedSubjects(first: 50) { edges { node { categories person { id email } } } } suspectMember { id }');
    expect(res.errors).toBeUndefined();
    const incident = res.data!.openIncident as unknown as { id: string; impact: { subjectCount: number }; suspectMember: { id: string };
      affectedSubjects: { edges: { node: { person: { id: string; email: string } } }[] } };
    const expected = [teacher, ...pupils].map((m) => m.user.id).sort(); // the roster lists its instructor too
    expect(incident.impact.subjectCount).toBe(expected.length);
    expect(incident.affectedSubjects.edges.map((e) => e.node.person.id).sort()).toEqual(expected);
    expect(incident.affectedSubjects.edges.find((e) => e.node.person.id === pupils[0].user.id)!.node.person.email).toBe(pupils[0].user.email);
    expect(incident.suspectMember.id).toBe(teacher.user.id);

    // Naming the teacher's token wrote a record about the teacher; listing the pupils was a read of their data, naming the incident.
    const events = await sql<{ access_kind: string; purpose: string; resources: string[]; pseudonyms: string[]; categories: string[] }>(app.orm,
      `select e.access_kind, e.purpose, e.resources, array_agg(distinct s.pseudonym::text) as pseudonyms,
              array_agg(distinct c order by c) as categories
         from access_event e join access_event_subject s on s.event_id = e.id cross join unnest(s.categories) as c
        where e.root_field = 'Mutation.openIncident' and ? = any(e.resources) group by e.id order by e.access_kind`, [`Incident:${incident.id}`]);
    const keyOf = async (m: Member) => pseudonymOf(m);
    expect(events.map((e) => e.access_kind)).toEqual(['READ', 'WRITE']);
    expect(events.every((e) => e.purpose === 'security.incident')).toBe(true);
    expect(events[0].pseudonyms.sort()).toEqual((await Promise.all([teacher, ...pupils].map(keyOf))).sort());
    expect(events[0].categories).toEqual(expect.arrayContaining(['user.access_history', 'user.contact.email']));
    expect(events[1]).toMatchObject({ pseudonyms: [await keyOf(teacher)], categories: ['user.credential'] });
  });

  describe('deadlines and notifications', () => {
    let credential: string;
    beforeAll(async () => {
      credential = await tokenIdOf(await school.instructor());
    });
    const openDetected = async (hoursAgo: number) => {
      const res = await open(admin.token, {
        detectedAt: new Date(Date.now() - hoursAgo * HOUR).toISOString(), description: `Detected ${hoursAgo} h ago.`,
        suspect: { credentialId: credential }, windowFrom: new Date(Date.now() - 100 * HOUR).toISOString(), windowUntil: new Date().toISOString(),
      });
      expect(res.errors).toBeUndefined();
      return res.data!.openIncident;
    };
    const overdueIds = async () => {
      const res = await app.gql<{ incidents: { edges: { node: { id: string } }[] } }, object>('{ incidents(first: 100, overdue: true) { edges { node { id } } } }', {}, admin.token);
      return res.data!.incidents.edges.map((e) => e.node.id);
    };

    it('sets the authority deadline 72 hours after detection, and flags an incident past it with no notification or reason', async () => {
      const fresh = await openDetected(1);
      const late = await openDetected(80);
      expect(Date.parse(fresh.authorityDueAt) - Date.parse(fresh.detectedAt)).toBe(72 * HOUR);
      expect(fresh.overdue).toBe(false);
      expect(late.overdue).toBe(true);
      expect(await overdueIds()).toContain(late.id);
      expect(await overdueIds()).not.toContain(fresh.id);

      const explained = await mutate(admin.token, 'recordNotificationDelay(id: $id, reason: $reason)', '$id: ID!, $reason: String!',
        { id: late.id, reason: 'Forensics needed to know whom to tell.' });
      expect(explained.errors).toBeUndefined();
      expect(explained.data!.recordNotificationDelay).toMatchObject({ overdue: false, delayReason: 'Forensics needed to know whom to tell.' });
      expect(await overdueIds()).not.toContain(late.id);
      const again = await mutate(admin.token, 'recordNotificationDelay(id: $id, reason: $reason)', '$id: ID!, $reason: String!', { id: late.id, reason: 'Again' });
      expect(again.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'ALREADY_RECORDED' });
    });

    it('records who was told, when and how; a late authority notification must give its reasons', async () => {
      const late = await openDetected(100);
      const notify = (input: Record<string, unknown>) => mutate(admin.token, 'recordAuthorityNotification(id: $id, input: $input)',
        '$id: ID!, $input: AuthorityNotificationInput!', { id: late.id, input });
      const now = new Date().toISOString();
      const refused = await notify({ notifiedAt: now, authority: 'Data Protection Commission', method: 'Online form' });
      expect(refused.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'DELAY_REASON_REQUIRED' });
      const told = await notify({ notifiedAt: now, authority: 'Data Protection Commission', method: 'Online form', reference: 'DPC-2026-17', delayReason: 'Found over a weekend.' });
      expect(told.errors).toBeUndefined();
      expect(told.data!.recordAuthorityNotification).toMatchObject({
        overdue: false, authorityNotifiedAt: now, delayReason: 'Found over a weekend.',
        notifications: [{ kind: 'AUTHORITY', notifiedAt: now, recipient: 'Data Protection Commission', method: 'Online form', reference: 'DPC-2026-17', subjectCount: null }],
      });

      const people = await mutate(admin.token, 'recordSubjectNotification(id: $id, input: $input)', '$id: ID!, $input: SubjectNotificationInput!',
        { id: late.id, input: { notifiedAt: now, subjectCount: 31, recipients: 'Every affected student', method: 'Email' } });
      expect(people.errors).toBeUndefined();
      expect(people.data!.recordSubjectNotification.notifications.map((n) => `${n.kind}:${n.subjectCount}`)).toEqual(['AUTHORITY:null', 'SUBJECTS:31']);
      expect(people.data!.recordSubjectNotification.history.map((h) => h.action)).toEqual(['OPENED', 'AUTHORITY_NOTIFIED', 'SUBJECTS_NOTIFIED']);
      // On time: no reason needed.
      const onTime = await openDetected(2);
      const ok = await mutate(admin.token, 'recordAuthorityNotification(id: $id, input: $input)', '$id: ID!, $input: AuthorityNotificationInput!',
        { id: onTime.id, input: { notifiedAt: now, authority: 'ICO', method: 'Phone' } });
      expect(ok.errors).toBeUndefined();
      expect(ok.data!.recordAuthorityNotification.delayReason).toBeNull();
    });

    it('keeps every incident: closing is final, and the database refuses to delete one or change a notification', async () => {
      const incident = await openDetected(1);
      await mutate(admin.token, 'recordSubjectNotification(id: $id, input: $input)', '$id: ID!, $input: SubjectNotificationInput!',
        { id: incident.id, input: { notifiedAt: new Date().toISOString(), subjectCount: 1, recipients: 'The student', method: 'Letter' } });
      const closed = await mutate(admin.token, 'closeIncident(id: $id, summary: $summary)', '$id: ID!, $summary: String!',
        { id: incident.id, summary: 'Token revoked; no data left the institution.' });
      expect(closed.errors).toBeUndefined();
      expect(closed.data!.closeIncident).toMatchObject({ status: 'CLOSED', closingSummary: 'Token revoked; no data left the institution.' });
      const after = await mutate(admin.token, 'updateIncident(id: $id, input: { description: "Changed" })', '$id: ID!', { id: incident.id });
      expect(after.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'INCIDENT_CLOSED' });
      await expect(sql(app.orm, 'delete from incident where id = ?', [incident.id])).rejects.toThrow(/kept on record/);
      await expect(sql(app.orm, "update incident_notification set method = 'x' where incident_id = ?", [incident.id])).rejects.toThrow(/kept on record/);
      const listed = await app.gql<{ incidents: { edges: { node: { id: string } }[] } }, object>('{ incidents(first: 100, status: CLOSED) { edges { node { id } } } }', {}, auditor);
      expect(listed.data!.incidents.edges.map((e) => e.node.id)).toContain(incident.id);
    });
  });

  describe('revoking the suspect\'s credentials from the incident', () => {
    it('revokes the suspected token, which stops working, and records it on the incident and in the log', async () => {
      const teacher = await school.instructor();
      const credential = await tokenIdOf(teacher);
      const { id } = (await open(admin.token, {
        detectedAt: new Date().toISOString(), description: 'Leaked.', suspect: { credentialId: credential },
        windowFrom: new Date(Date.now() - HOUR).toISOString(), windowUntil: new Date().toISOString(),
      })).data!.openIncident;
      expect((await app.gql('{ viewer { kind } }', {}, teacher.token)).errors).toBeUndefined();
      const res = await mutate(admin.token, 'revokeIncidentCredential(id: $id)', '$id: ID!', { id });
      expect(res.errors).toBeUndefined();
      expect(res.data!.revokeIncidentCredential).toMatchObject({ revokedTokenCount: 1, history: [{ action: 'OPENED' }, { action: 'CREDENTIAL_REVOKED' }] });
      expect(res.data!.revokeIncidentCredential.credentialRevokedAt).not.toBeNull();
      expect(codes(await app.gql('{ viewer { kind } }', {}, teacher.token))).toEqual(['UNAUTHENTICATED']);
      const [logged] = await sql<{ n: number }>(app.orm,
        `select count(*)::int as n from access_event e join access_event_subject s on s.event_id = e.id
          where e.root_field = 'Mutation.revokeIncidentCredential' and e.access_kind = 'WRITE' and s.pseudonym = ? and s.categories = '{user.credential}'
            and ? = any(e.resources)`, [await pseudonymOf(teacher), `Incident:${id}`]);
      expect(logged.n).toBe(1);
    });

    it('revokes every token of a suspected member; an identity-provider token cannot be revoked here', async () => {
      const student = await school.student();
      await school.token(student);
      const { id } = (await open(admin.token, {
        detectedAt: new Date().toISOString(), description: 'Account taken over.', suspect: { userId: student.user.id },
        windowFrom: new Date(Date.now() - HOUR).toISOString(), windowUntil: new Date().toISOString(),
      })).data!.openIncident;
      const res = await mutate(admin.token, 'revokeIncidentCredential(id: $id)', '$id: ID!', { id });
      expect(res.data!.revokeIncidentCredential.revokedTokenCount).toBe(2);
      expect(codes(await app.gql('{ viewer { kind } }', {}, student.token))).toEqual(['UNAUTHENTICATED']);

      const jwt = 'jwt:fedcba9876543210fedcba9876543210';
      await logEvent({ at: new Date(Date.now() - HOUR / 2), credentialId: jwt, subjects: [] });
      const jwtIncident = await open(admin.token, {
        detectedAt: new Date().toISOString(), description: 'IdP token replayed.', suspect: { credentialId: jwt },
        windowFrom: new Date(Date.now() - HOUR).toISOString(), windowUntil: new Date().toISOString(),
      });
      expect(jwtIncident.errors).toBeUndefined();
      const refused = await mutate(admin.token, 'revokeIncidentCredential(id: $id)', '$id: ID!', { id: jwtIncident.data!.openIncident.id });
      expect(refused.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'NOT_REVOCABLE' });
    });
  });

  describe('what is refused', () => {
    const base = () => ({
      detectedAt: new Date().toISOString(), description: 'x', windowFrom: new Date(Date.now() - HOUR).toISOString(), windowUntil: new Date().toISOString(),
    });

    it('bad suspects, times and windows', async () => {
      const teacher = await school.instructor();
      const credential = await tokenIdOf(teacher);
      const fail = async (input: Record<string, unknown>) => (await open(admin.token, { ...base(), ...input })).errors?.[0].extensions;
      expect(await fail({ suspect: { credentialId: credential, userId: teacher.user.id } })).toMatchObject({ code: 'BAD_USER_INPUT', field: 'suspect' });
      expect(await fail({ suspect: {} })).toMatchObject({ code: 'BAD_USER_INPUT', field: 'suspect' });
      expect(await fail({ suspect: { credentialId: credential }, detectedAt: new Date(Date.now() + HOUR).toISOString() })).toMatchObject({ field: 'detectedAt' });
      expect(await fail({ suspect: { credentialId: credential }, windowFrom: new Date().toISOString(), windowUntil: new Date(Date.now() - HOUR).toISOString() }))
        .toMatchObject({ field: 'windowFrom' });
      expect(await fail({ suspect: { credentialId: 'jwt:00000000000000000000000000000000' } })).toMatchObject({ code: 'BAD_USER_INPUT', field: 'suspect.credentialId' });
      expect(await fail({ suspect: { credentialId: await tokenIdOf(foreignAdmin) } })).toMatchObject({ code: 'NOT_FOUND' });
      expect(await fail({ suspect: { userId: foreignAdmin.user.id } })).toMatchObject({ code: 'NOT_FOUND' });
      expect(await fail({ suspect: { credentialId: credential }, description: '   ' })).toMatchObject({ field: 'description' });
    });

    it('another tenant\'s incident does not exist; members other than administrators see none', async () => {
      const teacher = await school.instructor();
      const { id } = (await open(admin.token, { ...base(), suspect: { credentialId: await tokenIdOf(teacher) } })).data!.openIncident;
      expect(codes(await get(foreignAdmin.token, id, 'id'))).toEqual(['NOT_FOUND']);
      expect(codes(await mutate(foreignAdmin.token, 'closeIncident(id: $id, summary: "x")', '$id: ID!', { id }))).toEqual(['NOT_FOUND']);
      expect(codes(await get(teacher.token, id, 'id'))).toEqual(['FORBIDDEN']);
      const theirs = await app.gql<{ incidents: { edges: unknown[] } }, object>('{ incidents(first: 100) { edges { node { id } } } }', {}, foreignAdmin.token);
      expect(theirs.data!.incidents.edges).toEqual([]);
    });
  });
});
