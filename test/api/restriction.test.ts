import pino from 'pino';
import { codes, startTestApp, type TestApp } from '../support/harness';
import { seedTenant, sql, type Member, type SeededTenant } from '../support/seed';
import { JobRunner } from '../../src/jobs/queue';
import { jobHandlers } from '../../src/jobs/handlers';
import { issueToken } from '../../src/modules/token/token.service';
import { TokenKind } from '../../src/modules/token/api-token.entity';
import { bindTenant } from '../../src/server/transaction-plugin';
import type { Course } from '../../src/modules/course/course.entity';

/** Restriction of processing: the data stays, but only the person and administrators see it until lifted. */
describe('restriction of processing', () => {
  let app: TestApp;
  let school: SeededTenant;
  let admin: Member;
  let teacher: Member;
  let ann: Member;
  let ben: Member;
  let course: Course;
  let service: string;
  let runner: JobRunner;

  beforeAll(async () => {
    app = await startTestApp();
    school = await seedTenant(app.orm, 'Restricted');
    admin = await school.admin();
    teacher = await school.instructor();
    ann = await school.student();
    ben = await school.student();
    course = await school.course('Chemistry');
    for (const m of [teacher, ann, ben]) await school.enroll(course, m);
    await school.posts(course, ann, 2);
    await school.posts(course, ben, 1);
    service = (await issueToken(app.orm.em.fork(), school.tenant.id, { kind: TokenKind.SERVICE, scopes: ['roster:read'], label: 'sis', ttlDays: 1 })).secret;
    runner = new JobRunner({ owner: app.orm, work: app.appOrm, handlers: jobHandlers, log: pino({ level: 'silent' }) });
  });
  afterAll(() => app.close());

  /** What a caller sees of Ann: in the directory, by id, on the roster, in the feed, and whether her grade can be set. */
  const whatSees = async (token: string) => {
    const users = await app.gql<{ users: { edges: { node: { id: string } }[] } }, object>('{ users(first: 100) { edges { node { id } } } }', {}, token);
    const one = await app.gql('query($id: ID!) { user(id: $id) { id displayName } }', { id: ann.user.id }, token);
    const roster = await app.gql<{ course: { roster: { edges: { node: { user: { id: string } } }[] } } }, object>(
      'query($id: ID!) { course(id: $id) { roster(first: 100) { edges { node { user { id } } } } } }', { id: course.id }, token);
    // Services may not read course content at all: null for them.
    const feed = await app.gql<{ course: { posts: { edges: { node: { author: { id: string } } }[] } } }, object>(
      'query($id: ID!) { course(id: $id) { posts(first: 100) { edges { node { author { id } } } } } }', { id: course.id }, token);
    return {
      inDirectory: users.data!.users.edges.some((e) => e.node.id === ann.user.id),
      byId: one.errors ? String(one.errors[0].extensions?.code) : 'ok',
      onRoster: roster.data!.course.roster.edges.some((e) => e.node.user.id === ann.user.id),
      postsInFeed: feed.errors ? null : feed.data!.course.posts.edges.filter((e) => e.node.author.id === ann.user.id).length,
    };
  };
  const setAnnsGrade = (token: string) =>
    app.gql('mutation($c: ID!, $u: ID!) { setGrade(courseId: $c, userId: $u, grade: "B") { id } }', { c: course.id, u: ann.user.id }, token);

  it('is filed, approved and put in force by a job; from then on only Ann and administrators see her', async () => {
    expect(await whatSees(teacher.token)).toEqual({ inDirectory: true, byId: 'ok', onRoster: true, postsInFeed: 2 });

    const filed = await app.gql<{ fileDataRequest: { id: string; status: string } }, object>(
      'mutation { fileDataRequest(input: { type: RESTRICTION, note: "I contest the accuracy of my records." }) { id status } }', {}, ann.token);
    expect(filed.errors).toBeUndefined();
    const id = filed.data!.fileDataRequest.id;
    // Filed but not approved: nothing changes yet.
    expect((await whatSees(ben.token)).inDirectory).toBe(true);
    await app.gql('mutation($id: ID!) { approveDataRequest(id: $id) { id } }', { id }, admin.token);
    expect(await runner.runDue()).toEqual({ done: 1, retried: 0, dead: 0 });
    const done = await app.gql<{ dataRequest: { status: string } }, object>('query($id: ID!) { dataRequest(id: $id) { status } }', { id }, ann.token);
    expect(done.data!.dataRequest.status).toBe('COMPLETED');

    // Instructors, classmates and services no longer see Ann at all, and nobody but an admin may process her data.
    expect(await whatSees(teacher.token)).toEqual({ inDirectory: false, byId: 'NOT_FOUND', onRoster: false, postsInFeed: 0 });
    expect(await whatSees(ben.token)).toEqual({ inDirectory: false, byId: 'NOT_FOUND', onRoster: false, postsInFeed: 0 });
    expect(await whatSees(service)).toEqual({ inDirectory: false, byId: 'NOT_FOUND', onRoster: false, postsInFeed: null });
    expect(codes(await setAnnsGrade(teacher.token))).toEqual(['NOT_FOUND']);
    expect(await sql(app.orm, 'select final_grade from enrollment where course_id = ? and user_id = ?', [course.id, ann.user.id]))
      .toEqual([{ final_grade: null }]);
    // Ann and administrators still do; the data itself is untouched.
    expect(await whatSees(ann.token)).toEqual({ inDirectory: true, byId: 'ok', onRoster: true, postsInFeed: 2 });
    expect(await whatSees(admin.token)).toEqual({ inDirectory: true, byId: 'ok', onRoster: true, postsInFeed: 2 });
    expect((await setAnnsGrade(admin.token)).errors).toBeUndefined();
    // Ben is unaffected.
    const benSeen = await app.gql('query($id: ID!) { user(id: $id) { id } }', { id: ben.user.id }, teacher.token);
    expect(benSeen.errors).toBeUndefined();
    // The restriction itself is an access event about Ann.
    const [{ n }] = await sql<{ n: string }>(app.orm,
      `select count(*) as n from access_event e join access_event_subject s on s.event_id = e.id
         join subject_key k on k.pseudonym = s.pseudonym where k.user_id = ? and e.root_field = 'User.restrictProcessing'`, [ann.user.id]);
    expect(Number(n)).toBe(1);
  });

  it('is enforced by PostgreSQL itself: a query that forgets to ask still cannot see her', async () => {
    const seen = await app.appOrm.em.fork().transactional(async (em) => {
      await bindTenant(em, school.tenant.id, { userId: teacher.user.id, privileged: false });
      const counts = await em.execute<{ users: string; enrollments: string; posts: string }[]>(
        `select (select count(*) from app_user where id = ?) as users, (select count(*) from enrollment where user_id = ?) as enrollments,
                (select count(*) from post where author_id = ?) as posts`, [ann.user.id, ann.user.id, ann.user.id]);
      const updated = await em.execute<{ id: string }[]>("update app_user set display_name = 'Renamed' where id = ? returning id", [ann.user.id]);
      return { ...counts[0], updated: updated.length };
    });
    expect(seen).toEqual({ users: '0', enrollments: '0', posts: '0', updated: 0 });
    const asAdmin = await app.appOrm.em.fork().transactional(async (em) => {
      await bindTenant(em, school.tenant.id, { userId: admin.user.id, privileged: true });
      return (await em.execute<{ n: string }[]>('select count(*) as n from app_user where id = ?', [ann.user.id]))[0].n;
    });
    expect(asAdmin).toBe('1');
  });

  it('an administrator lifts it with a reason, once; Ann sees when and why, and everyone sees her again', async () => {
    const [{ id }] = await sql<{ id: string }>(app.orm, "select id from data_subject_request where subject_id = ? and type = 'RESTRICTION'", [ann.user.id]);
    expect(codes(await app.gql('mutation($id: ID!) { liftRestriction(id: $id, reason: "x") { id } }', { id }, teacher.token))).toEqual(['FORBIDDEN']);
    expect(codes(await app.gql('mutation($id: ID!) { liftRestriction(id: $id, reason: " ") { id } }', { id }, admin.token))).toEqual(['BAD_USER_INPUT']);
    const lifted = await app.gql<{ liftRestriction: { liftedAt: string | null; liftReason: string } }, object>(
      'mutation($id: ID!) { liftRestriction(id: $id, reason: "Records verified against the enrolment file.") { liftedAt liftReason } }', { id }, admin.token);
    expect(lifted.errors).toBeUndefined();
    expect(lifted.data!.liftRestriction.liftReason).toBe('Records verified against the enrolment file.');
    const again = await app.gql('mutation($id: ID!) { liftRestriction(id: $id, reason: "again") { id } }', { id }, admin.token);
    expect(again.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'NOT_IN_FORCE' });
    const mine = await app.gql<{ dataRequest: { liftedAt: string | null } }, object>('query($id: ID!) { dataRequest(id: $id) { liftedAt } }', { id }, ann.token);
    expect(mine.data!.dataRequest.liftedAt).not.toBeNull();
    expect(await whatSees(teacher.token)).toEqual({ inDirectory: true, byId: 'ok', onRoster: true, postsInFeed: 2 });
  });
});
