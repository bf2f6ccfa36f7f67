import { randomUUID } from 'node:crypto';
import { codes, startTestApp, type TestApp } from '../support/harness';
import { seedTenant, sql, type Member, type SeededTenant } from '../support/seed';
import {
  ArchiveCourseDocument, CourseDocument, CoursesDocument, CreateCommentDocument, CreatePostDocument, DeactivateUserDocument,
  DeleteCommentDocument, DeletePostDocument, EditCommentDocument, EditPostDocument, EnrollDocument, EverythingOfCourseDocument,
  FeedDocument, MyEnrollmentsDocument, ReactDocument, RosterDocument, SetGradeDocument, UnenrollDocument, UnreactDocument,
  UpdateCourseDocument, UpdateUserDocument, UserDocument, UserEnrollmentsDocument, UsersDocument, ViewerDocument,
} from '../generated/graphql';
import type { Course } from '../../src/modules/course/course.entity';
import type { Post } from '../../src/modules/content/post.entity';
import type { Comment } from '../../src/modules/content/comment.entity';

/**
 * Two schools on one server. Whatever a member of North asks, and whichever of South's ids they send,
 * South's rows never come back and never change — and a foreign id reads exactly like an unknown one.
 */
describe('tenant isolation', () => {
  let app: TestApp;
  let north: SeededTenant;
  let south: SeededTenant;
  let nAdmin: Member;
  let nTeacher: Member;
  let nStudent: Member;
  let nCourse: Course;
  let sAdmin: Member;
  let sTeacher: Member;
  let sStudent: Member;
  let sCourse: Course;
  let sPost: Post;
  let sComment: Comment;
  let southIds: Set<string>;

  /** Every row of South, to compare before and after North's attempts. */
  const southSnapshot = async () => {
    const t = south.tenant.id;
    return {
      users: await sql(app.orm, 'select * from app_user where tenant_id = ? order by id', [t]),
      courses: await sql(app.orm, 'select * from course where tenant_id = ? order by id', [t]),
      enrollments: await sql(app.orm, 'select * from enrollment where tenant_id = ? order by id', [t]),
      posts: await sql(app.orm, 'select * from post where tenant_id = ? order by id', [t]),
      comments: await sql(app.orm, 'select * from comment where tenant_id = ? order by id', [t]),
      reactions: await sql(app.orm, 'select * from reaction where tenant_id = ? order by id', [t]),
      tokens: await sql(app.orm, 'select id, revoked_at, expires_at from api_token where tenant_id = ? order by id', [t]),
    };
  };

  beforeAll(async () => {
    app = await startTestApp();
    north = await seedTenant(app.orm, 'North');
    south = await seedTenant(app.orm, 'South');
    // The same names, emails and codes on both sides: only the tenant tells them apart.
    nAdmin = await north.admin({ email: 'admin@shared.test' });
    nTeacher = await north.instructor({ email: 'teacher@shared.test', familyName: 'Twin' });
    nStudent = await north.student({ email: 'student@shared.test', familyName: 'Twin', studentNumber: 'S-1' });
    sAdmin = await south.admin({ email: 'admin@shared.test' });
    sTeacher = await south.instructor({ email: 'teacher@shared.test', familyName: 'Twin' });
    sStudent = await south.student({ email: 'student@shared.test', familyName: 'Twin', studentNumber: 'S-1' });
    nCourse = await north.course('Shared Title');
    sCourse = await south.course('Shared Title');
    for (const [school, c, ms] of [[north, nCourse, [nTeacher, nStudent]], [south, sCourse, [sTeacher, sStudent]]] as const) {
      for (const m of ms) await school.enroll(c, m);
    }
    await north.posts(nCourse, nStudent, 3);
    [sPost] = await south.posts(sCourse, sStudent, 3);
    sComment = await south.comment(sPost, sTeacher, 'South comment');
    await south.react(sPost, sTeacher);
    await app.gql(SetGradeDocument, { courseId: sCourse.id, userId: sStudent.user.id, grade: 'A' }, sTeacher.token);
    southIds = new Set((await sql<{ id: string }>(app.orm, `
      select id from app_user where tenant_id = ? union all select id from course where tenant_id = ?
      union all select id from enrollment where tenant_id = ? union all select id from post where tenant_id = ?
      union all select id from comment where tenant_id = ?`, Array(5).fill(south.tenant.id))).map((r) => r.id));
  });
  afterAll(() => app.close());

  /** Every id anywhere in a response body. */
  function idsIn(value: unknown, out: string[] = []): string[] {
    if (Array.isArray(value)) value.forEach((v) => idsIn(v, out));
    else if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) {
        if (k === 'id' && typeof v === 'string') out.push(v);
        else idsIn(v, out);
      }
    }
    return out;
  }
  const expectNoSouth = (data: unknown) => {
    const leaked = idsIn(data).filter((id) => southIds.has(id));
    expect(leaked).toEqual([]);
  };

  it('South\'s member and course counts match what was seeded (sanity)', () => {
    expect(southIds.has(sStudent.user.id)).toBe(true);
    expect(southIds.has(sCourse.id)).toBe(true);
  });

  describe('reading', () => {
    it('lists: users and courses hold only the caller\'s tenant, for every role', async () => {
      for (const m of [nAdmin, nTeacher, nStudent]) {
        const users = await app.gql(UsersDocument, { first: 100 }, m.token);
        const courses = await app.gql(CoursesDocument, { first: 100 }, m.token);
        expect(users.errors).toBeUndefined();
        expect(courses.errors).toBeUndefined();
        expectNoSouth(users.data);
        expectNoSouth(courses.data);
      }
      const all = await app.gql(UsersDocument, { first: 100 }, nAdmin.token);
      expect(all.data!.users.edges.map((e) => e.node.id).sort()).toEqual([nAdmin, nTeacher, nStudent].map((m) => m.user.id).sort());
    });

    it('search does not reach across: South\'s identical emails and titles are not found', async () => {
      const users = await app.gql(UsersDocument, { search: 'shared.test' }, nAdmin.token);
      expect(users.data!.users.edges).toHaveLength(3);
      expectNoSouth(users.data);
      const courses = await app.gql(CoursesDocument, { search: 'Shared Title' }, nAdmin.token);
      expect(courses.data!.courses.edges.map((e) => e.node.id)).toEqual([nCourse.id]);
    });

    it('by-id lookups of South\'s rows answer NOT_FOUND, word for word like an unknown id', async () => {
      const unknownUser = await app.gql(UserDocument, { id: randomUUID() }, nAdmin.token);
      const unknownCourse = await app.gql(CourseDocument, { id: randomUUID() }, nAdmin.token);
      for (const m of [nAdmin, nTeacher, nStudent]) {
        for (const id of [sAdmin.user.id, sTeacher.user.id, sStudent.user.id]) {
          const res = await app.gql(UserDocument, { id }, m.token);
          expect(codes(res)).toEqual(['NOT_FOUND']);
          expect(res.errors![0].message).toBe(unknownUser.errors![0].message);
          expect(res.data).toBeNull();
        }
        const course = await app.gql(CourseDocument, { id: sCourse.id }, m.token);
        expect(codes(course)).toEqual(['NOT_FOUND']);
        expect(course.errors![0].message).toBe(unknownCourse.errors![0].message);
        for (const doc of [RosterDocument, EverythingOfCourseDocument]) {
          expect(codes(await app.gql(doc, { id: sCourse.id }, m.token))).toEqual(['NOT_FOUND']);
        }
        expect(codes(await app.gql(FeedDocument, { courseId: sCourse.id }, m.token))).toEqual(['NOT_FOUND']);
        expect(codes(await app.gql(UserEnrollmentsDocument, { id: sStudent.user.id }, m.token))).toEqual(['NOT_FOUND']);
      }
    });

    it('nested lists (roster, recent posts, feed, comments, enrollments) hold only the caller\'s tenant', async () => {
      for (const m of [nAdmin, nTeacher, nStudent]) {
        const everything = await app.gql(EverythingOfCourseDocument, { id: nCourse.id }, m.token);
        expect(everything.errors).toBeUndefined();
        expect(everything.data!.course.posts.edges).toHaveLength(3);
        expectNoSouth(everything.data);
        const feed = await app.gql(FeedDocument, { courseId: nCourse.id, first: 100, commentsFirst: 100 }, m.token);
        expectNoSouth(feed.data);
        const mine = await app.gql(MyEnrollmentsDocument, { first: 100 }, m.token);
        expectNoSouth(mine.data);
      }
      const admins = await app.gql(UserEnrollmentsDocument, { id: nStudent.user.id }, nAdmin.token);
      expect(admins.data!.user.enrollments!.edges.map((e) => e.node.course.id)).toEqual([nCourse.id]);
    });

    it('viewer and tenant name the caller\'s own tenant', async () => {
      const res = await app.gql(ViewerDocument, {}, nAdmin.token);
      expect(res.data!.viewer.tenant.id).toBe(north.tenant.id);
      expect(res.data!.viewer.user!.id).toBe(nAdmin.user.id);
    });

    it('a list cursor naming South\'s row does not reveal anything', async () => {
      const cursor = Buffer.from(JSON.stringify([sStudent.user.id])).toString('base64url');
      const res = await app.gql(UsersDocument, { first: 10, after: cursor }, nAdmin.token);
      expect(res.errors).toBeUndefined();
      expectNoSouth(res.data);
    });
  });

  describe('writing with South\'s ids', () => {
    let before: Awaited<ReturnType<typeof southSnapshot>>;
    beforeAll(async () => {
      before = await southSnapshot();
    });

    const attempts: [string, (m: Member) => Promise<Awaited<ReturnType<TestApp['gql']>>>][] = [
      ['updateUser', (m) => app.gql(UpdateUserDocument, { id: sStudent.user.id, input: { displayName: 'Pwned' } }, m.token)],
      ['deactivateUser', (m) => app.gql(DeactivateUserDocument, { id: sTeacher.user.id }, m.token)],
      ['updateCourse', (m) => app.gql(UpdateCourseDocument, { id: sCourse.id, input: { title: 'Pwned' } }, m.token)],
      ['archiveCourse', (m) => app.gql(ArchiveCourseDocument, { id: sCourse.id }, m.token)],
      ['enroll (own course, South member)', (m) => app.gql(EnrollDocument, { courseId: nCourse.id, userId: sStudent.user.id, role: 'STUDENT' }, m.token)],
      ['enroll (South course, own member)', (m) => app.gql(EnrollDocument, { courseId: sCourse.id, userId: nStudent.user.id, role: 'STUDENT' }, m.token)],
      ['unenroll', (m) => app.gql(UnenrollDocument, { courseId: sCourse.id, userId: sStudent.user.id }, m.token)],
      ['setGrade', (m) => app.gql(SetGradeDocument, { courseId: sCourse.id, userId: sStudent.user.id, grade: 'F' }, m.token)],
      ['createPost', (m) => app.gql(CreatePostDocument, { courseId: sCourse.id, body: 'Hello South' }, m.token)],
      ['editPost', (m) => app.gql(EditPostDocument, { id: sPost.id, body: 'Pwned' }, m.token)],
      ['deletePost', (m) => app.gql(DeletePostDocument, { id: sPost.id }, m.token)],
      ['createComment', (m) => app.gql(CreateCommentDocument, { postId: sPost.id, body: 'Hello South' }, m.token)],
      ['editComment', (m) => app.gql(EditCommentDocument, { id: sComment.id, body: 'Pwned' }, m.token)],
      ['deleteComment', (m) => app.gql(DeleteCommentDocument, { id: sComment.id }, m.token)],
      ['react', (m) => app.gql(ReactDocument, { postId: sPost.id, kind: 'CURIOUS' }, m.token)],
      ['unreact', (m) => app.gql(UnreactDocument, { postId: sPost.id, kind: 'LIKE' }, m.token)],
      ['issueToken (South member)', (m) => app.gql('mutation($u: ID!) { issueToken(input: { kind: USER, userId: $u, label: "x" }) { secret } }',
        { u: sStudent.user.id }, m.token)],
      ['revokeToken', async (m) => {
        const [{ id }] = await sql<{ id: string }>(app.orm, 'select id from api_token where tenant_id = ? limit 1', [south.tenant.id]);
        return app.gql('mutation($id: ID!) { revokeToken(id: $id) { id } }', { id }, m.token);
      }],
    ];

    it.each(attempts)('%s: North\'s admin gets NOT_FOUND and South is untouched', async (_name, attempt) => {
      const res = await attempt(nAdmin);
      expect(codes(res)).toEqual(['NOT_FOUND']);
      expect(res.data).toBeNull();
      expect(await southSnapshot()).toEqual(before);
    });

    it.each(attempts.filter(([name]) => /Post|Comment|react|setGrade/i.test(name)))(
      '%s: North\'s instructor and student get NOT_FOUND too', async (name, attempt) => {
        expect(codes(await attempt(nTeacher))).toEqual(['NOT_FOUND']);
        // Students may never grade: refused by role before any id is looked at, so nothing is revealed either way.
        expect(codes(await attempt(nStudent))).toEqual([name === 'setGrade' ? 'FORBIDDEN' : 'NOT_FOUND']);
        expect(await southSnapshot()).toEqual(before);
      });

    it('South\'s admin still sees all of South, unchanged', async () => {
      const res = await app.gql(EverythingOfCourseDocument, { id: sCourse.id }, sAdmin.token);
      expect(res.errors).toBeUndefined();
      expect(res.data!.course.posts.edges).toHaveLength(3);
      expect(res.data!.course.roster.edges).toHaveLength(2);
    });
  });
});
