import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Course, CourseStatus } from './course.entity';
import { CourseRole, Enrollment } from './enrollment.entity';
import type { CoursesArgs, CreateCourseInput, UpdateCourseInput } from './course.types';
import type { RequestContext } from '../../server/context';
import { User, UserRole, UserStatus } from '../user/user.entity';
import { findMemberForAdmin } from '../user/user.service';
import { badInput, duplicate, forbidden, notFound, parseId } from '../../shared/errors';
import { CURSOR, pageRequest, toConnection, type ConnectionShape } from '../../shared/pagination';
import { onUniqueViolation } from '../../db/constraints';

const UNIQUE_ERRORS = {
  course_tenant_id_code_key: () => duplicate('Another course of this tenant has this code.', 'code'),
  enrollment_course_id_user_id_key: () => duplicate('This member is already enrolled in the course.', 'userId'),
};

const clean = (s: string) => s.trim().replace(/\s+/g, ' ');

/** Courses the caller may see: all for admins, the caller's own courses for everyone else. */
export async function listCourses(ctx: RequestContext, args: CoursesArgs): Promise<ConnectionShape<Course>> {
  const { first, after } = pageRequest(args, ctx.config, CURSOR.byCode);
  const access = ctx.access;
  const where = ['c.tenant_id = ?'];
  const params: unknown[] = [ctx.tenantId];
  if (!access.readsWholeDirectory) {
    where.push('c.id in (select course_id from enrollment where user_id = ?)');
    params.push(access.userId);
  }
  if (args.status) {
    where.push('c.status = ?');
    params.push(args.status);
  }
  const search = args.search?.trim();
  if (search) {
    const pattern = `%${search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    where.push('(c.code ilike ? or c.title ilike ?)');
    params.push(pattern, pattern);
  }
  if (after) {
    where.push('(c.code, c.id) > (?, ?::uuid)');
    params.push(...after);
  }
  const rows = await ctx.em.execute<Record<string, unknown>[]>(
    `select c.* from course c where ${where.join(' and ')} order by c.code, c.id limit ?`,
    [...params, first + 1],
  );
  return toConnection(rows.map((r) => ctx.em.map(Course, r as never)), first, (c) => [c.code, c.id]);
}

/** A course the caller may see; NOT_FOUND for any other (including another tenant's). */
export async function getCourse(ctx: RequestContext, rawId: string, field = 'id'): Promise<Course> {
  const id = parseId(rawId, field);
  const course = await ctx.loaders.courseById.load(id);
  if (!course || !(await ctx.access.canReadCourse(course.id))) throw notFound('Course');
  return course;
}

async function findCourseForAdmin(em: EntityManager, tenantId: string, rawId: string, field = 'id'): Promise<Course> {
  const course = await em.findOne(Course, { id: parseId(rawId, field), tenantId });
  if (!course) throw notFound('Course');
  return course;
}

async function assertCodeFree(em: EntityManager, tenantId: string, code: string, exceptId?: string) {
  const clash = await em.findOne(Course, { tenantId, code, id: { $ne: exceptId ?? null } }, { fields: ['id'] });
  if (clash) throw UNIQUE_ERRORS.course_tenant_id_code_key();
}

/** Creates a course (administrators only). */
export async function createCourse(ctx: RequestContext, input: CreateCourseInput): Promise<Course> {
  ctx.access.requireAdmin();
  return createCourseIn(ctx.em, ctx.tenantId, input);
}

/** Creates a course in a tenant; shared by the API and the demo seed. */
export async function createCourseIn(em: EntityManager, tenantId: string, input: CreateCourseInput): Promise<Course> {
  return em.transactional(async (tem) => {
    const code = clean(input.code);
    await assertCodeFree(tem, tenantId, code);
    const course = tem.create(Course, {
      id: randomUUID(),
      tenantId,
      code,
      title: clean(input.title),
      description: input.description?.trim() || null,
    });
    await onUniqueViolation(() => tem.flush(), UNIQUE_ERRORS);
    return course;
  });
}

export async function updateCourse(ctx: RequestContext, rawId: string, input: UpdateCourseInput): Promise<Course> {
  ctx.access.requireAdmin();
  return ctx.em.transactional(async (em) => {
    const course = await findCourseForAdmin(em, ctx.tenantId, rawId);
    if (input.code != null) {
      const code = clean(input.code);
      await assertCodeFree(em, ctx.tenantId, code, course.id);
      course.code = code;
    }
    if (input.title != null) course.title = clean(input.title);
    if (input.description != null) course.description = input.description.trim() || null;
    course.updatedAt = new Date();
    await onUniqueViolation(() => em.flush(), UNIQUE_ERRORS);
    return course;
  });
}

/** Archives a course: it stays readable to its members but takes no new posts, comments or enrollments. */
export async function archiveCourse(ctx: RequestContext, rawId: string): Promise<Course> {
  ctx.access.requireAdmin();
  return ctx.em.transactional(async (em) => {
    const course = await findCourseForAdmin(em, ctx.tenantId, rawId);
    if (course.status !== CourseStatus.ARCHIVED) {
      course.status = CourseStatus.ARCHIVED;
      course.archivedAt = new Date();
      course.updatedAt = course.archivedAt;
      await em.flush();
    }
    return course;
  });
}

/** Enrolls an active member in an active course (administrators only). */
export async function enroll(ctx: RequestContext, courseId: string, userId: string, role: CourseRole): Promise<Enrollment> {
  ctx.access.requireAdmin();
  const enrollment = await enrollIn(ctx.em, ctx.tenantId, courseId, userId, role);
  ctx.audit.wrote([enrollment.userId], ['user.education.enrollment']);
  return enrollment;
}

/** Enrolls a member; shared by the API and the demo seed. */
export async function enrollIn(em: EntityManager, tenantId: string, courseId: string, userId: string, role: CourseRole): Promise<Enrollment> {
  return em.transactional(async (tem) => {
    const course = await findCourseForAdmin(tem, tenantId, courseId, 'courseId');
    const user: User = await findMemberForAdmin(tem, tenantId, userId, 'userId');
    if (course.status === CourseStatus.ARCHIVED) throw badInput('The course is archived.', 'courseId');
    if (user.status !== UserStatus.ACTIVE) throw badInput('The member is deactivated.', 'userId');
    if (role === CourseRole.INSTRUCTOR && user.role === UserRole.STUDENT) {
      throw badInput('A student cannot be enrolled as an instructor.', 'role');
    }
    if (await tem.findOne(Enrollment, { courseId: course.id, userId: user.id }, { fields: ['id'] })) {
      throw UNIQUE_ERRORS.enrollment_course_id_user_id_key();
    }
    const enrollment = tem.create(Enrollment, { id: randomUUID(), tenantId, courseId: course.id, userId: user.id, role });
    await onUniqueViolation(() => tem.flush(), UNIQUE_ERRORS);
    return enrollment;
  });
}

/** Removes a member from a course (administrators only). Returns the removed enrollment's id. */
export async function unenroll(ctx: RequestContext, courseId: string, userId: string): Promise<string> {
  ctx.access.requireAdmin();
  return ctx.em.transactional(async (em) => {
    const enrollment = await em.findOne(Enrollment, {
      tenantId: ctx.tenantId, courseId: parseId(courseId, 'courseId'), userId: parseId(userId, 'userId'),
    });
    if (!enrollment) throw notFound('Enrollment');
    const id = enrollment.id;
    em.remove(enrollment);
    await em.flush();
    ctx.audit.wrote([enrollment.userId], ['user.education.enrollment', ...(enrollment.finalGrade ? ['user.education.grade' as const] : [])]);
    return id;
  });
}

const GRADE = /^[A-Za-z0-9.+\- ]{1,16}$/;

/**
 * Sets (or clears, with null) a student's final grade. The course's instructors and admins may;
 * everyone else gets NOT_FOUND for courses they cannot see and FORBIDDEN for ones they can.
 */
export async function setGrade(ctx: RequestContext, courseId: string, userId: string, grade: string | null): Promise<Enrollment> {
  const course = await getCourse(ctx, courseId, 'courseId');
  if (!ctx.access.isAdmin && !(await ctx.access.teaches(course.id))) throw forbidden('Only the course\'s instructors may grade.');
  const value = grade === null ? null : grade.trim();
  if (value !== null && !GRADE.test(value)) {
    throw badInput('grade must be 1 to 16 letters, digits, spaces, dots, plus or minus signs.', 'grade');
  }
  return ctx.em.transactional(async (em) => {
    const enrollment = await em.findOne(Enrollment, { tenantId: ctx.tenantId, courseId: course.id, userId: parseId(userId, 'userId') });
    if (!enrollment) throw notFound('Enrollment');
    if (enrollment.role !== CourseRole.STUDENT) throw badInput('Only students are graded.', 'userId');
    enrollment.finalGrade = value;
    enrollment.gradedAt = value === null ? null : new Date();
    await em.flush();
    ctx.audit.wrote([enrollment.userId], ['user.education.grade']);
    return enrollment;
  });
}
