import type { MikroORM } from '@mikro-orm/postgresql';
import { createTenant } from '../../src/modules/tenant/tenant.service';
import { createMember } from '../../src/modules/user/user.service';
import { createCourseIn, enrollIn } from '../../src/modules/course/course.service';
import { issueUserToken } from '../../src/modules/token/token.service';
import { User, UserRole } from '../../src/modules/user/user.entity';
import { Course } from '../../src/modules/course/course.entity';
import { CourseRole } from '../../src/modules/course/enrollment.entity';
import { Post } from '../../src/modules/content/post.entity';
import { Comment } from '../../src/modules/content/comment.entity';
import { Reaction, ReactionKind } from '../../src/modules/content/reaction.entity';
import { Tenant } from '../../src/modules/tenant/tenant.entity';
import { randomUUID } from 'node:crypto';

export interface Member {
  user: User;
  token: string;
}

let counter = 0;
const next = () => ++counter;

/**
 * Builds test data the way the story reads: `const school = await seedTenant(orm, 'North')`,
 * `const ann = await school.student()`, `await school.enroll(course, ann)`.
 */
export async function seedTenant(orm: MikroORM, name = `School ${next()}`) {
  const em = () => orm.em.fork();
  const tenant: Tenant = await createTenant(em(), { name, slug: `t-${next()}-${Date.now().toString(36)}` });

  async function member(role: UserRole, fields: Partial<{ givenName: string; familyName: string; email: string; studentNumber: string }> = {}): Promise<Member> {
    const n = next();
    const user = await createMember(em(), tenant.id, {
      email: fields.email ?? `${role.toLowerCase()}${n}@${tenant.slug}.test`,
      givenName: fields.givenName ?? `Given${n}`,
      familyName: fields.familyName ?? `Family${String(n).padStart(5, '0')}`,
      role,
      studentNumber: fields.studentNumber ?? (role === UserRole.STUDENT ? `S${n}` : null),
    });
    const { secret } = await issueUserToken(em(), user, { label: 'test', ttlDays: 1 });
    return { user, token: secret };
  }

  return {
    tenant,
    admin: (f?: Parameters<typeof member>[1]) => member(UserRole.ADMIN, f),
    instructor: (f?: Parameters<typeof member>[1]) => member(UserRole.INSTRUCTOR, f),
    student: (f?: Parameters<typeof member>[1]) => member(UserRole.STUDENT, f),
    async course(title = `Course ${next()}`): Promise<Course> {
      return createCourseIn(em(), tenant.id, { code: `C-${next()}`, title });
    },
    async enroll(course: Course, m: Member, role = m.user.role === UserRole.STUDENT ? CourseRole.STUDENT : CourseRole.INSTRUCTOR) {
      return enrollIn(em(), tenant.id, course.id, m.user.id, role);
    },
    /** Inserts posts directly (fast), `at` spaced a second apart so ordering is deterministic. */
    async posts(course: Course, author: Member, count: number, startAt = Date.now() - 3_600_000): Promise<Post[]> {
      const e = em();
      const posts = Array.from({ length: count }, (_, i) =>
        e.create(Post, { id: randomUUID(), tenantId: tenant.id, courseId: course.id, authorId: author.user.id, body: `Post ${i} by ${author.user.displayName}`, createdAt: new Date(startAt + i * 1000) }));
      await e.flush();
      return posts;
    },
    async comment(post: Post, author: Member, body = 'A comment'): Promise<Comment> {
      const e = em();
      const c = e.create(Comment, { id: randomUUID(), tenantId: tenant.id, postId: post.id, authorId: author.user.id, body });
      await e.flush();
      return c;
    },
    async react(post: Post, m: Member, kind = ReactionKind.LIKE): Promise<void> {
      const e = em();
      e.create(Reaction, { id: randomUUID(), tenantId: tenant.id, postId: post.id, userId: m.user.id, kind });
      await e.flush();
    },
    /** Issues one more bearer token for a member (e.g. to check that revoking one leaves the other working). */
    async token(m: Member, ttlDays = 1): Promise<string> {
      const { secret } = await issueUserToken(em(), m.user, { label: 'extra', ttlDays });
      return secret;
    },
  };
}

export type SeededTenant = Awaited<ReturnType<typeof seedTenant>>;

/** Runs raw SQL against the test database, outside any request (for setup and for checking what was written). */
export async function sql<T = Record<string, unknown>>(orm: MikroORM, query: string, params: unknown[] = []): Promise<T[]> {
  return orm.em.fork().getConnection().execute<T[]>(query, params);
}

/** Number of rows of a table, optionally restricted by a condition. */
export async function countRows(orm: MikroORM, table: string, where = 'true', params: unknown[] = []): Promise<number> {
  const [row] = await sql<{ n: string }>(orm, `select count(*) as n from ${table} where ${where}`, params);
  return Number(row.n);
}
