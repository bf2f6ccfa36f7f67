import { randomUUID } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import { createTenant } from '../src/modules/tenant/tenant.service';
import { createCourseIn } from '../src/modules/course/course.service';
import { issueUserToken } from '../src/modules/token/token.service';
import { User, UserRole } from '../src/modules/user/user.entity';
import { CourseRole, Enrollment } from '../src/modules/course/enrollment.entity';
import { Post } from '../src/modules/content/post.entity';
import { Comment } from '../src/modules/content/comment.entity';
import { Reaction, ReactionKind } from '../src/modules/content/reaction.entity';
import { prng } from '../src/shared/prng';

/** Sizes of the data set. The scenarios' expectations are derived from these. */
export const SIZES = {
  /** Students enrolled in the roster course (plus one instructor). */
  rosterStudents: 200,
  /** Students of the roster course who are also enrolled in the feed course. */
  feedStudents: 40,
  feedPosts: 50,
  commentsPerFeedPost: 3,
} as const;

export interface BenchData {
  tenantId: string;
  rosterCourseId: string;
  feedCourseId: string;
  /** Bearer secrets. The student is enrolled in both courses. */
  tokens: { admin: string; instructor: string; student: string };
  counts: Record<'users' | 'courses' | 'enrollments' | 'grades' | 'posts' | 'comments' | 'reactions', number>;
}

const KINDS = Object.values(ReactionKind);
const GRADES = ['A', 'A-', 'B+', 'B', 'B-', 'C+'];
const MINUTE = 60_000;

/**
 * One tenant: an administrator, an instructor, 200 students.
 * - Roster course: the instructor and all 200 students; every student has 1–2 posts there with 2–4
 *   reactions each, and every fourth student has a final grade.
 * - Feed course: the instructor and 40 of the students; 50 posts, each with 3 comments and 2–6 reactions.
 * The tenant and courses go through the services; the bulk rows are written directly with the owner's
 * connection (a few multi-row inserts instead of thousands of single-row transactions).
 */
export async function seedBenchData(orm: MikroORM): Promise<BenchData> {
  const rand = prng(20261201);
  const em = orm.em.fork();
  const tenant = await createTenant(em, { name: 'Benchmark School', slug: `bench-${Date.now().toString(36)}` });
  const t0 = Date.now() - 30 * 24 * 60 * MINUTE;

  const person = (role: UserRole, n: number, given: string, family: string, studentNumber: string | null = null) =>
    em.create(User, {
      id: randomUUID(), tenantId: tenant.id, role, givenName: given, familyName: family,
      displayName: `${given} ${family}`, email: `${role.toLowerCase()}${n}@bench.custos.test`, studentNumber,
      createdAt: new Date(t0), updatedAt: new Date(t0),
    });
  const admin = person(UserRole.ADMIN, 1, 'Ada', 'Admin');
  const instructor = person(UserRole.INSTRUCTOR, 1, 'Ivan', 'Instructor');
  const students = Array.from({ length: SIZES.rosterStudents }, (_, i) =>
    person(UserRole.STUDENT, i + 1, `Student${i + 1}`, `Family${String(i + 1).padStart(4, '0')}`, `BS-${10001 + i}`));
  await em.flush();

  const roster = await createCourseIn(em, tenant.id, { code: 'BENCH-200', title: 'Large lecture (roster benchmark)' });
  const feed = await createCourseIn(em, tenant.id, { code: 'BENCH-FEED', title: 'Seminar (feed benchmark)' });

  let enrollments = 0;
  let grades = 0;
  const enroll = (courseId: string, user: User, role: CourseRole, at: number, finalGrade: string | null = null) => {
    enrollments++;
    if (finalGrade) grades++;
    em.create(Enrollment, {
      id: randomUUID(), tenantId: tenant.id, courseId, userId: user.id, role, createdAt: new Date(at),
      finalGrade, gradedAt: finalGrade ? new Date(t0 + 20 * 24 * 60 * MINUTE) : null,
    });
  };
  enroll(roster.id, instructor, CourseRole.INSTRUCTOR, t0);
  students.forEach((s, i) => enroll(roster.id, s, CourseRole.STUDENT, t0 + (i + 1) * 1000, i % 4 === 0 ? rand.pick(GRADES) : null));
  const feedMembers = [instructor, ...students.slice(0, SIZES.feedStudents)];
  enroll(feed.id, instructor, CourseRole.INSTRUCTOR, t0);
  feedMembers.slice(1).forEach((s, i) => enroll(feed.id, s, CourseRole.STUDENT, t0 + (i + 1) * 1000));
  await em.flush();

  // Posts first: relations are plain ids, so the unit of work cannot order the inserts itself.
  const posts: Post[] = [];
  const post = (courseId: string, author: User, at: number, body: string) => {
    const p = em.create(Post, { id: randomUUID(), tenantId: tenant.id, courseId, authorId: author.id, body, createdAt: new Date(at) });
    posts.push(p);
    return p;
  };
  const rosterPosts = students.flatMap((s, i) =>
    Array.from({ length: 1 + (i % 2) }, (_, k) => post(roster.id, s, t0 + (10 * 24 * 60 + i * 7 + k) * MINUTE, `Question ${k + 1} from ${s.displayName}`)));
  const feedPosts = Array.from({ length: SIZES.feedPosts }, (_, p) =>
    post(feed.id, p % 10 === 0 ? instructor : rand.pick(feedMembers.slice(1)), t0 + (20 * 24 * 60 + p * 90) * MINUTE,
      `Feed post ${p + 1}: notes, links and a question for the seminar.`));
  await em.flush();

  let comments = 0;
  let reactions = 0;
  const react = (p: Post, pool: User[], min: number, max: number) => {
    for (const u of rand.sample(pool.filter((m) => m.id !== p.authorId), rand.int(min, max))) {
      reactions++;
      em.create(Reaction, { id: randomUUID(), tenantId: tenant.id, postId: p.id, userId: u.id, kind: rand.pick(KINDS), createdAt: new Date(p.createdAt.getTime() + MINUTE) });
    }
  };
  for (const p of rosterPosts) react(p, students, 2, 4);
  for (const p of feedPosts) {
    const others = feedMembers.filter((m) => m.id !== p.authorId);
    for (let k = 0; k < SIZES.commentsPerFeedPost; k++) {
      comments++;
      em.create(Comment, {
        id: randomUUID(), tenantId: tenant.id, postId: p.id, authorId: rand.pick(others).id,
        body: `Comment ${k + 1} on this post.`, createdAt: new Date(p.createdAt.getTime() + (k + 1) * 5 * MINUTE),
      });
    }
    react(p, feedMembers, 2, 6);
  }
  await em.flush();

  const token = async (user: User) => (await issueUserToken(em, user, { label: 'benchmark', ttlDays: 1 })).secret;
  return {
    tenantId: tenant.id,
    rosterCourseId: roster.id,
    feedCourseId: feed.id,
    tokens: { admin: await token(admin), instructor: await token(instructor), student: await token(students[0]) },
    counts: { users: 2 + students.length, courses: 2, enrollments, grades, posts: posts.length, comments, reactions },
  };
}
