import { codes, startTestApp, type TestApp } from '../support/harness';
import { seedTenant, sql, type Member, type SeededTenant } from '../support/seed';
import { issueToken } from '../../src/modules/token/token.service';
import { TokenKind } from '../../src/modules/token/api-token.entity';
import { openForSubject } from '../../src/audit/subject-crypto';
import { validateEvents, MalformedEventError } from '../../src/audit/events';
import type { Course } from '../../src/modules/course/course.entity';

interface EventRow {
  id: string; access_kind: string; root_field: string; fields: string[]; purpose: string; actor_kind: string; actor_role: string | null;
  actor_pseudonym: string | null; credential_id: string | null; outcome: string; error_code: string | null; item_count: number;
  resources: string[]; operation_type: string; operation_name: string | null; request_id: string; actor_ip: Buffer | null; actor_user_agent: Buffer | null;
}

/** Every read, write and refusal of personal data lands in the log, by pseudonym, before any data leaves. */
describe('the access log', () => {
  let app: TestApp;
  let school: SeededTenant;
  let admin: Member;
  let teacher: Member;
  let ann: Member;
  let ben: Member;
  let course: Course;

  const pseudonymOf = async (m: Member) =>
    (await sql<{ pseudonym: string }>(app.orm, 'select pseudonym from subject_key where user_id = ?', [m.user.id]))[0].pseudonym;
  const eventsOf = async (requestId: string) =>
    sql<EventRow>(app.orm, 'select * from access_event where request_id = ? order by access_kind, root_field', [requestId]);
  const subjectsOf = async (eventId: string) =>
    new Map((await sql<{ pseudonym: string; categories: string[] }>(app.orm,
      'select pseudonym, categories from access_event_subject where event_id = ?', [eventId])).map((r) => [r.pseudonym, [...r.categories].sort()]));
  /** Sends a request with a known request id, as a client may. */
  const send = async (requestId: string, query: string, variables: object, token: string | null, headers: Record<string, string> = {}) => {
    const res = await fetch(app.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': requestId, ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
      body: JSON.stringify({ query, variables }),
    });
    return { status: res.status, ...(await res.json()) as { data?: Record<string, unknown> | null; errors?: { extensions: { code: string } }[] } };
  };
  let n = 0;
  const rid = () => `req-${Date.now()}-${++n}`;

  beforeAll(async () => {
    app = await startTestApp();
    school = await seedTenant(app.orm, 'Logged');
    admin = await school.admin();
    teacher = await school.instructor({ givenName: 'Tessa', familyName: 'Teacher', email: 'tessa@logged.test' });
    ann = await school.student({ givenName: 'Ann', familyName: 'Archer', email: 'ann.archer@logged.test', studentNumber: 'SN-4711' });
    ben = await school.student({ givenName: 'Ben', familyName: 'Brook', email: 'ben.brook@logged.test' });
    course = await school.course('Logic');
    await school.enroll(course, teacher);
    await school.enroll(course, ann);
    await school.enroll(course, ben);
    await sql(app.orm, "update enrollment set final_grade = 'A-' where user_id = ?", [ann.user.id]);
  });
  afterAll(() => app.close());

  const ROSTER = `query Roster($id: ID!) { course(id: $id) { title roster(first: 10) { edges { node { role finalGrade user { displayName email studentNumber } } } } } }`;

  it('records who read which of whose categories, for what purpose, by pseudonym', async () => {
    const id = rid();
    const res = await send(id, ROSTER, { id: course.id }, teacher.token);
    expect(res.errors).toBeUndefined();
    const [read] = await eventsOf(id);
    expect(read).toMatchObject({
      access_kind: 'READ', root_field: 'Query.course', purpose: 'education.delivery', actor_kind: 'USER', actor_role: 'INSTRUCTOR',
      actor_pseudonym: await pseudonymOf(teacher), outcome: 'SUCCESS', operation_type: 'query', operation_name: 'Roster',
      resources: [`Course:${course.id}`],
    });
    expect(read.credential_id).toEqual(expect.any(String));
    expect(read.fields).toEqual(expect.arrayContaining(['User.email', 'User.studentNumber', 'Enrollment.finalGrade', 'User.displayName']));
    const subjects = await subjectsOf(read.id);
    expect(subjects.get(await pseudonymOf(ann))).toEqual(
      ['user.contact.email', 'user.education.enrollment', 'user.education.grade', 'user.name', 'user.unique_id.student_number'].sort());
    // Ben has no grade: nothing of that category was disclosed about him.
    expect(subjects.get(await pseudonymOf(ben))).not.toContain('user.education.grade');
    expect(read.item_count).toBeGreaterThanOrEqual(6); // three enrollments and three users
  });

  it('answers "who accessed Ann\'s grade, when and why" from the subject index alone', async () => {
    const rows = await sql<{ actor_role: string; purpose: string; categories: string[]; occurred_at: Date }>(app.orm,
      `select e.actor_role, e.purpose, s.categories, s.occurred_at from access_event_subject s join access_event e on e.id = s.event_id
        where s.tenant_id = ? and s.pseudonym = ? and 'user.education.grade' = any(s.categories) order by s.occurred_at desc`,
      [school.tenant.id, await pseudonymOf(ann)]);
    expect(rows[0]).toMatchObject({ actor_role: 'INSTRUCTOR', purpose: 'education.delivery' });
  });

  it('does not count a redacted field as read: a classmate\'s email was never disclosed', async () => {
    const id = rid();
    await send(id, ROSTER, { id: course.id }, ben.token);
    const [read] = await eventsOf(id);
    const subjects = await subjectsOf(read.id);
    expect(subjects.get(await pseudonymOf(ann))).toEqual(['user.education.enrollment', 'user.name']);
    expect(subjects.get(await pseudonymOf(ben))).toContain('user.contact.email'); // his own
  });

  it('keeps no names, emails, values or variables in the log', async () => {
    const id = rid();
    await send(id, `query($q: String) { users(first: 10, search: $q) { edges { node { email givenName } } } }`, { q: 'Archer' }, admin.token);
    expect(await eventsOf(id)).toHaveLength(1);
    const dump = JSON.stringify(await sql(app.orm, 'select * from access_event')) + JSON.stringify(await sql(app.orm, 'select * from access_event_subject'));
    for (const secret of ['Ann', 'Archer', 'ann.archer', 'SN-4711', 'A-', 'Tessa', ann.user.id, teacher.user.id]) expect(dump).not.toContain(secret);
  });

  it('keeps the actor\'s IP address and user agent only encrypted under the actor\'s own key', async () => {
    const id = rid();
    await send(id, '{ viewer { role } }', {}, ann.token, { 'user-agent': 'ExamBrowser/1.0' });
    const [event] = await eventsOf(id);
    expect(event.actor_user_agent!.toString('utf8')).not.toContain('ExamBrowser');
    const [{ key }] = await sql<{ key: Buffer }>(app.orm, 'select key from subject_key where user_id = ?', [ann.user.id]);
    expect(openForSubject(key, event.actor_user_agent!)).toBe('ExamBrowser/1.0');
    expect(openForSubject(key, event.actor_ip!)).toMatch(/127\.0\.0\.1/);
  });

  it('writes a mutation\'s WRITE event in its transaction, and none when it fails', async () => {
    const ok = rid();
    const graded = await send(ok, 'mutation { setGrade(courseId: "' + course.id + '", userId: "' + ben.user.id + '", grade: "B") { id } }', {}, teacher.token);
    expect(graded.errors).toBeUndefined();
    const events = await eventsOf(ok);
    const write = events.find((e) => e.access_kind === 'WRITE')!;
    expect(write).toMatchObject({ root_field: 'Mutation.setGrade', purpose: 'education.assessment', operation_type: 'mutation' });
    expect(await subjectsOf(write.id)).toEqual(new Map([[await pseudonymOf(ben), ['user.education.grade']]]));

    const bad = rid();
    const refused = await send(bad, 'mutation { setGrade(courseId: "' + course.id + '", userId: "' + ben.user.id + '", grade: "<script>") { id } }', {}, teacher.token);
    expect(codes(refused as never)).toEqual(['BAD_USER_INPUT']);
    expect((await eventsOf(bad)).filter((e) => e.access_kind === 'WRITE')).toEqual([]);
  });

  it('records refusals as DENY: by a rule, by a service, and at the door', async () => {
    const byRule = rid();
    await send(byRule, 'mutation { setGrade(courseId: "' + course.id + '", userId: "' + ann.user.id + '", grade: "A") { id } }', {}, ben.token);
    expect(await eventsOf(byRule)).toEqual([expect.objectContaining({ access_kind: 'DENY', outcome: 'DENIED', error_code: 'FORBIDDEN', root_field: 'Mutation.setGrade' })]);

    const [post] = await school.posts(course, ann, 1);
    const byService = rid();
    await send(byService, `mutation { editPost(id: "${post.id}", input: { body: "mine now" }) { id } }`, {}, ben.token);
    expect((await eventsOf(byService)).map((e) => [e.access_kind, e.root_field])).toEqual([['DENY', 'Mutation.editPost']]);

    const auditor = await issueToken(app.orm.em.fork(), school.tenant.id, { kind: TokenKind.AUDITOR, label: 'a', ttlDays: 1 });
    const atDoor = rid();
    const res = await send(atDoor, 'mutation Sneaky { updateMyProfile(input: { displayName: "x" }) { id } }', {}, auditor.secret);
    expect(res.status).toBe(403);
    expect(await eventsOf(atDoor)).toEqual([expect.objectContaining({
      access_kind: 'DENY', actor_kind: 'AUDITOR', actor_pseudonym: null, root_field: 'Mutation.updateMyProfile', operation_name: 'Sneaky', purpose: 'audit',
    })]);
  });

  describe('fail closed', () => {
    let role: string;
    beforeAll(async () => {
      [{ role }] = await sql<{ role: string }>(app.orm, 'select custos_app_role() as role');
    });
    const breakTheLog = () => sql(app.orm, `revoke insert on access_event from ${role}`);
    const mendTheLog = () => sql(app.orm, `grant insert on access_event to ${role}`);

    it('a read whose events cannot be written returns an error and no data', async () => {
      await breakTheLog();
      try {
        const res = await send(rid(), ROSTER, { id: course.id }, teacher.token);
        expect(res.status).toBe(503);
        expect(res.data ?? null).toBeNull();
        expect(JSON.stringify(res)).not.toContain('ann.archer');
        expect(codes(res as never)).toEqual(['SERVICE_UNAVAILABLE']);
      } finally {
        await mendTheLog();
      }
    });

    it('a mutation whose events cannot be written changes nothing', async () => {
      await breakTheLog();
      try {
        const res = await send(rid(), `mutation { updateMyProfile(input: { displayName: "Unlogged" }) { id } }`, {}, ann.token);
        expect(codes(res as never)).toEqual(['SERVICE_UNAVAILABLE']);
      } finally {
        await mendTheLog();
      }
      expect(await sql(app.orm, "select 1 from app_user where display_name = 'Unlogged'")).toEqual([]);
    });

    it('a malformed event is refused before it reaches the database', () => {
      expect(() => validateEvents([{ kind: 'READ', id: 'nope' }])).toThrow(MalformedEventError);
      const sneaky = {
        id: '00000000-0000-4000-8000-000000000001', tenantId: school.tenant.id, occurredAt: new Date(), requestId: 'r', operationType: 'query',
        operationName: null, rootField: 'Query.users', fields: ['User.email'], purpose: 'account.administration', resources: [], itemCount: 1,
        actor: { kind: 'USER', role: 'ADMIN', userId: admin.user.id, credentialId: null, ip: null, userAgent: null },
        kind: 'READ', outcome: 'SUCCESS', subjects: [{ userId: ann.user.id, categories: ['user.contact.email'] }],
        email: 'ann.archer@logged.test', // a field no event shape has
      };
      expect(() => validateEvents([sneaky])).toThrow(/email|Unrecognized/);
    });
  });

  describe('append-only', () => {
    it.each([
      ['update', "update access_event set purpose = 'audit'"],
      ['delete', 'delete from access_event'],
      ['truncate', 'truncate access_event cascade'],
      ['update a subject row', "update access_event_subject set categories = '{user.name}'"],
      ['delete a subject row', 'delete from access_event_subject'],
      ['truncate subject rows', 'truncate access_event_subject'],
    ])('the database refuses to %s, even for the owner', async (_name, statement) => {
      const before = await sql(app.orm, 'select count(*) from access_event');
      await expect(sql(app.orm, statement)).rejects.toThrow(/append-only/);
      expect(await sql(app.orm, 'select count(*) from access_event')).toEqual(before);
    });

    it('the application role may only read and insert events', async () => {
      const em = app.appOrm.em.fork();
      for (const statement of ['update access_event set purpose = \'audit\'', 'delete from access_event', 'truncate access_event']) {
        await expect(em.transactional((t) => t.execute(statement))).rejects.toThrow(/permission denied/);
      }
    });
  });

  it('erasing a person\'s key row leaves every log row intact but no longer linkable to them', async () => {
    const carl = await school.student({ givenName: 'Carl', email: 'carl@logged.test' });
    await school.enroll(course, carl);
    const id = rid();
    await send(id, '{ viewer { role user { email } } }', {}, carl.token, { 'user-agent': 'CarlPhone' });
    const pseudonym = await pseudonymOf(carl);
    const before = {
      events: await sql(app.orm, 'select * from access_event order by id'),
      subjects: await sql(app.orm, 'select * from access_event_subject order by event_id, pseudonym'),
    };
    expect(before.subjects.some((s) => (s as { pseudonym: string }).pseudonym === pseudonym)).toBe(true);

    await sql(app.orm, 'delete from subject_key where user_id = ?', [carl.user.id]);

    expect(await sql(app.orm, 'select * from access_event order by id')).toEqual(before.events);
    expect(await sql(app.orm, 'select * from access_event_subject order by event_id, pseudonym')).toEqual(before.subjects);
    expect(await sql(app.orm, 'select * from subject_key where pseudonym = ?', [pseudonym])).toEqual([]);
    const [event] = await eventsOf(id);
    const keys = await sql<{ key: Buffer }>(app.orm, 'select key from subject_key');
    for (const { key } of keys) expect(() => openForSubject(key, event.actor_user_agent!)).toThrow();
  });
});
