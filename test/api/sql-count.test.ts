import { startTestApp, type TestApp } from '../support/harness';
import { seedTenant, type Member, type SeededTenant } from '../support/seed';
import { RosterWithPostsDocument } from '../generated/graphql';
import { ReactionKind } from '../../src/modules/content/reaction.entity';
import type { Course } from '../../src/modules/course/course.entity';

/**
 * No N+1: a roster with each student's latest posts, their comment counts and reactions costs the
 * same number of statements for 5 students as for 50.
 */
describe('SQL statements per request', () => {
  let app: TestApp;
  let school: SeededTenant;
  let teacher: Member;

  beforeAll(async () => {
    app = await startTestApp({ CUSTOS_MAX_PAGE_SIZE: '100' });
    school = await seedTenant(app.orm);
    teacher = await school.instructor();
  });
  afterAll(() => app.close());

  async function courseWith(students: number): Promise<Course> {
    const course = await school.course();
    await school.enroll(course, teacher);
    for (let i = 0; i < students; i++) {
      const s = await school.student();
      await school.enroll(course, s);
      const posts = await school.posts(course, s, 4);
      await school.comment(posts[3], teacher);
      await school.react(posts[3], teacher, ReactionKind.LIKE);
      await school.react(posts[2], s, ReactionKind.CELEBRATE);
    }
    return course;
  }

  it('is constant in the roster size', async () => {
    const small = await courseWith(5);
    const large = await courseWith(50);
    await app.gql('{ viewer { role } }', {}, teacher.token); // warm-up: records the token's last use
    const a = await app.gql(RosterWithPostsDocument, { id: small.id, first: 100 }, teacher.token);
    const b = await app.gql(RosterWithPostsDocument, { id: large.id, first: 100 }, teacher.token);
    expect(a.errors).toBeUndefined();
    expect(b.errors).toBeUndefined();
    const roster = b.data!.course.roster.edges;
    expect(roster).toHaveLength(51);
    const students = roster.filter((e) => e.node.role === 'STUDENT');
    expect(students.every((e) => e.node.recentPosts.length === 3)).toBe(true);
    const newest = students[0].node.recentPosts[0];
    expect(newest.commentCount).toBe(1);
    expect(newest.reactions).toEqual([{ kind: 'LIKE', count: 1, viewerHasReacted: true }]);
    expect(students[0].node.user.email).toMatch(/@/); // the instructor sees their students' emails
    expect(a.sqlStatements).toBe(b.sqlStatements);
    // token lookup, begin, tenant binding, the instructor's facts, course, roster, users, recent posts,
    // comment counts, reactions, the access events (one statement, with all their subjects), commit.
    expect(b.sqlStatements).toBeLessThanOrEqual(13);
  });
});
