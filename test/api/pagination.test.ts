import { randomUUID } from 'node:crypto';
import { codes, startTestApp, type TestApp, type GqlResponse } from '../support/harness';
import { seedTenant, sql, type Member, type SeededTenant } from '../support/seed';
import { CourseFeedPageDocument, CoursesDocument, PostCommentsDocument, RosterDocument, UserEnrollmentsDocument, UsersDocument } from '../generated/graphql';
import type { Course } from '../../src/modules/course/course.entity';
import type { Post } from '../../src/modules/content/post.entity';

const MAX = 10;

interface Page { ids: string[]; cursors: string[]; hasNextPage: boolean; endCursor: string | null }

/**
 * Walking every list page by page with first/after visits each row exactly once, in order, even when
 * sort keys tie; page sizes are bounded; cursors that this server did not hand out are refused.
 */
describe('pagination', () => {
  let app: TestApp;
  let school: SeededTenant;
  let admin: Member;
  let teacher: Member;
  let course: Course;
  let postWithComments: Post;

  beforeAll(async () => {
    app = await startTestApp({ CUSTOS_MAX_PAGE_SIZE: String(MAX), CUSTOS_DEFAULT_PAGE_SIZE: '5' });
    school = await seedTenant(app.orm);
    admin = await school.admin();
    teacher = await school.instructor();
    course = await school.course();
    await school.enroll(course, teacher);
    // Students with identical names, so only the id breaks the tie in the sort.
    for (let i = 0; i < 17; i++) {
      const s = await school.student(i < 8 ? { givenName: 'Same', familyName: 'Twin' } : {});
      await school.enroll(course, s);
    }
    for (let i = 0; i < 14; i++) await school.course(`Course ${i}`);
    // Posts: 12 a second apart, plus 6 sharing one timestamp.
    await school.posts(course, teacher, 12);
    const tie = Date.now() - 7_200_000;
    for (let i = 0; i < 6; i++) await school.posts(course, teacher, 1, tie);
    // Comments on the newest post, including several with the same creation time.
    const [newest] = await sql<{ id: string }>(app.orm, 'select id from post where course_id = ? order by created_at desc, id desc limit 1', [course.id]);
    postWithComments = { id: newest.id } as Post;
    for (let i = 0; i < 13; i++) await school.comment(postWithComments, teacher, `Comment ${i}`);
    await sql(app.orm, "update comment set created_at = date_trunc('second', now()) where post_id = ? and body in ('Comment 3', 'Comment 4', 'Comment 5', 'Comment 6')", [newest.id]);
  });
  afterAll(() => app.close());

  /** Walks a list from the start, `size` at a time, and returns every page. */
  async function walk(fetchPage: (after: string | null) => Promise<Page>): Promise<Page[]> {
    const pages: Page[] = [];
    let after: string | null = null;
    for (let guard = 0; guard < 100; guard++) {
      const page = await fetchPage(after);
      pages.push(page);
      if (!page.hasNextPage) return pages;
      expect(page.endCursor).toBe(page.cursors[page.cursors.length - 1]);
      after = page.endCursor;
    }
    throw new Error('pagination did not end');
  }

  function pageOf<T extends { cursor: string; node: { id: string } }>(
    res: GqlResponse<unknown>, conn: { edges: T[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } },
  ): Page {
    expect(res.errors).toBeUndefined();
    return { ids: conn.edges.map((e) => e.node.id), cursors: conn.edges.map((e) => e.cursor), ...conn.pageInfo };
  }

  function expectComplete(pages: Page[], expected: string[], size: number) {
    const seen = pages.flatMap((p) => p.ids);
    expect(new Set(seen).size).toBe(seen.length);                      // no duplicates
    expect(seen).toEqual(expected);                                    // no gaps, same order as the full list
    expect(pages.slice(0, -1).every((p) => p.ids.length === size)).toBe(true);
    expect(pages[pages.length - 1].hasNextPage).toBe(false);
  }

  it('users: walks every member once, in family-name order, through ties', async () => {
    const expected = (await sql<{ id: string }>(app.orm, 'select id from app_user where tenant_id = ? order by family_name, given_name, id', [school.tenant.id])).map((r) => r.id);
    const pages = await walk(async (after) => {
      const res = await app.gql(UsersDocument, { first: 4, after }, admin.token);
      return pageOf(res, res.data!.users);
    });
    expectComplete(pages, expected, 4);
    expect(expected.length).toBe(19);
  });

  it('users as an instructor: only their students, still complete', async () => {
    const expected = (await sql<{ id: string }>(app.orm, `select u.id from app_user u join enrollment e on e.user_id = u.id
      where e.course_id = ? and e.role = 'STUDENT' order by u.family_name, u.given_name, u.id`, [course.id])).map((r) => r.id);
    const pages = await walk(async (after) => {
      const res = await app.gql(UsersDocument, { first: 3, after }, teacher.token);
      return pageOf(res, res.data!.users);
    });
    expectComplete(pages, expected, 3);
  });

  it('courses: walks every course once, by code', async () => {
    const expected = (await sql<{ id: string }>(app.orm, 'select id from course where tenant_id = ? order by code, id', [school.tenant.id])).map((r) => r.id);
    const pages = await walk(async (after) => {
      const res = await app.gql(CoursesDocument, { first: 4, after }, admin.token);
      return pageOf(res, res.data!.courses);
    });
    expectComplete(pages, expected, 4);
    expect(expected.length).toBe(15);
  });

  it('roster: instructors first, then every student once', async () => {
    const expected = (await sql<{ id: string }>(app.orm, 'select id from enrollment where course_id = ? order by role, created_at, id', [course.id])).map((r) => r.id);
    const pages = await walk(async (after) => {
      const res = await app.gql(RosterDocument, { id: course.id, first: 5, after }, teacher.token);
      return pageOf(res, res.data!.course.roster);
    });
    expectComplete(pages, expected, 5);
    expect(expected.length).toBe(18);
  });

  it('feed: newest first, every post once, including posts with the same timestamp', async () => {
    const expected = (await sql<{ id: string }>(app.orm, 'select id from post where course_id = ? order by created_at desc, id desc', [course.id])).map((r) => r.id);
    const pages = await walk(async (after) => {
      const res = await app.gql(CourseFeedPageDocument, { id: course.id, first: 4, after }, teacher.token);
      return pageOf(res, res.data!.course.posts);
    });
    expectComplete(pages, expected, 4);
    expect(expected.length).toBe(18);
  });

  it('comments: oldest first, every comment once, including same-time comments', async () => {
    const expected = (await sql<{ id: string }>(app.orm, 'select id from comment where post_id = ? order by created_at, id', [postWithComments.id])).map((r) => r.id);
    const pages = await walk(async (after) => {
      const res = await app.gql(PostCommentsDocument, { courseId: course.id, first: 3, after }, teacher.token);
      const post = res.data!.course.posts.edges[0].node;
      expect(post.id).toBe(postWithComments.id);
      return pageOf(res, post.comments);
    });
    expectComplete(pages, expected, 3);
    expect(expected.length).toBe(13);
  });

  it('a member\'s enrollments page too', async () => {
    const student = await school.student();
    const courses = (await sql<{ id: string }>(app.orm, 'select id from course where tenant_id = ? and id <> ? order by code limit 7', [school.tenant.id, course.id])).map((r) => r.id);
    for (const id of courses) await school.enroll({ id } as Course, student);
    const expected = (await sql<{ id: string }>(app.orm, 'select id from enrollment where user_id = ? order by created_at, id', [student.user.id])).map((r) => r.id);
    const pages = await walk(async (after) => {
      const res = await app.gql(UserEnrollmentsDocument, { id: student.user.id, first: 2, after }, admin.token);
      return pageOf(res, res.data!.user.enrollments!);
    });
    expectComplete(pages, expected, 2);
  });

  it('without first, a list returns the default page size', async () => {
    const res = await app.gql(UsersDocument, {}, admin.token);
    expect(res.data!.users.edges).toHaveLength(5);
    expect(res.data!.users.pageInfo.hasNextPage).toBe(true);
  });

  it('an empty list has no end cursor and no next page', async () => {
    const empty = await school.course();
    const res = await app.gql(RosterDocument, { id: empty.id }, admin.token);
    expect(res.data!.course.roster).toEqual({ edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
  });

  it('first may be the maximum page size but not more, nor below 1, on every list', async () => {
    const ok = await app.gql(UsersDocument, { first: MAX }, admin.token);
    expect(ok.data!.users.edges).toHaveLength(MAX);
    for (const first of [MAX + 1, 0, -1, 1_000_000]) {
      const lists = [
        app.gql(UsersDocument, { first }, admin.token),
        app.gql(CoursesDocument, { first }, admin.token),
        app.gql(RosterDocument, { id: course.id, first }, admin.token),
        app.gql(CourseFeedPageDocument, { id: course.id, first }, admin.token),
        app.gql(PostCommentsDocument, { courseId: course.id, first }, admin.token),
        app.gql(UserEnrollmentsDocument, { id: admin.user.id, first }, admin.token),
      ];
      for (const res of await Promise.all(lists)) {
        expect(codes(res)).toEqual(['BAD_USER_INPUT']);
        expect(res.errors![0].message).toBe(`first must be between 1 and ${MAX}.`);
      }
    }
  });

  describe('cursors the server did not hand out', () => {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const malformed = [
      ['not base64url', '!!!'],
      ['not JSON', Buffer.from('hello').toString('base64url')],
      ['a JSON object', b64({ id: 1 })],
      ['too long', 'A'.repeat(600)],
      ['the wrong arity', b64(['a', 'b', 'c', 'd'])],
      ['an id that is not a uuid', b64(['not-a-uuid'])],
      // For courses the first part is a course code, and any text may be one: only the time-ordered lists refuse it.
      ['a time that is not an ISO timestamp', b64(['yesterday', randomUUID()]), ['courses']],
      ['an impossible ISO timestamp', b64(['2024-13-45T99:99:99.000Z', randomUUID()]), ['courses']],
      ['a number where a uuid belongs', b64([1])],
      ['a role that does not exist', b64(['KING', new Date().toISOString(), randomUUID()])],
    ] as [string, string, string[]?][];

    it.each(malformed)('%s: every list answers BAD_USER_INPUT', async (_what, after, wellFormedFor = []) => {
      const lists = {
        users: await app.gql(UsersDocument, { first: 2, after }, admin.token),
        courses: await app.gql(CoursesDocument, { first: 2, after }, admin.token),
        roster: await app.gql(RosterDocument, { id: course.id, first: 2, after }, admin.token),
        feed: await app.gql(CourseFeedPageDocument, { id: course.id, first: 2, after }, admin.token),
        comments: await app.gql(PostCommentsDocument, { courseId: course.id, first: 2, after }, admin.token),
        enrollments: await app.gql(UserEnrollmentsDocument, { id: admin.user.id, first: 2, after }, admin.token),
      };
      const answers = Object.fromEntries(Object.entries(lists).map(([name, res]) => [name, codes(res)]));
      const expected = Object.fromEntries(Object.keys(lists).map((name) => [name, wellFormedFor.includes(name) ? [] : ['BAD_USER_INPUT']]));
      expect(answers).toEqual(expected);
      for (const [name, res] of Object.entries(lists)) {
        if (!wellFormedFor.includes(name)) expect(res.errors![0].message).toMatch(/cursor is malformed/);
      }
    });

    it('a cursor of one list passed to another is refused, not misread', async () => {
      const users = await app.gql(UsersDocument, { first: 1 }, admin.token);
      const courses = await app.gql(CoursesDocument, { first: 1 }, admin.token);
      const roster = await app.gql(RosterDocument, { id: course.id, first: 1 }, admin.token);
      const userCursor = users.data!.users.pageInfo.endCursor!;
      const courseCursor = courses.data!.courses.pageInfo.endCursor!;
      const rosterCursor = roster.data!.course.roster.pageInfo.endCursor!;
      expect(codes(await app.gql(CourseFeedPageDocument, { id: course.id, after: courseCursor }, admin.token))).toEqual(['BAD_USER_INPUT']);
      expect(codes(await app.gql(CourseFeedPageDocument, { id: course.id, after: userCursor }, admin.token))).toEqual(['BAD_USER_INPUT']);
      expect(codes(await app.gql(CoursesDocument, { after: rosterCursor }, admin.token))).toEqual(['BAD_USER_INPUT']);
      expect(codes(await app.gql(UsersDocument, { after: courseCursor }, admin.token))).toEqual(['BAD_USER_INPUT']);
    });
  });
});
