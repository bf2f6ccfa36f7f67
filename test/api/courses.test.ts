import { randomUUID } from 'node:crypto';
import { codes, startTestApp, type TestApp } from '../support/harness';
import { countRows, seedTenant, sql, type Member, type SeededTenant } from '../support/seed';
import {
  ArchiveCourseDocument, CourseDocument, CourseMembersDocument, CoursesDocument, CreateCourseDocument, DeactivateUserDocument,
  EnrollDocument, RosterDocument, SetGradeDocument, UnenrollDocument, UpdateCourseDocument, UserEnrollmentsDocument, type EnrollMutationVariables,
} from '../generated/graphql';
import type { Course } from '../../src/modules/course/course.entity';

/** Courses, rosters and grades: admins manage, instructors grade their own courses, students see their own. */
describe('courses', () => {
  let app: TestApp;
  let school: SeededTenant;
  let admin: Member;
  let teacher: Member;
  let otherTeacher: Member;
  let ann: Member;
  let ben: Member;
  let outsider: Member;
  let algebra: Course;
  let biology: Course;

  beforeAll(async () => {
    app = await startTestApp();
    school = await seedTenant(app.orm);
    admin = await school.admin();
    teacher = await school.instructor();
    otherTeacher = await school.instructor();
    ann = await school.student();
    ben = await school.student();
    outsider = await school.student();
    algebra = await school.course('Algebra');
    biology = await school.course('Biology');
    await school.enroll(algebra, teacher);
    await school.enroll(algebra, ann);
    await school.enroll(algebra, ben);
    await school.enroll(biology, otherTeacher);
    await school.enroll(biology, outsider);
  });
  afterAll(() => app.close());

  const courseIds = async (token: string, vars: { status?: 'ACTIVE' | 'ARCHIVED'; search?: string } = {}) => {
    const res = await app.gql(CoursesDocument, { first: 100, ...vars }, token);
    expect(res.errors).toBeUndefined();
    return res.data!.courses.edges.map((e) => e.node.id);
  };

  describe('listing and lookup', () => {
    it('an admin lists every course, ordered by code', async () => {
      const res = await app.gql(CoursesDocument, { first: 100 }, admin.token);
      const nodes = res.data!.courses.edges.map((e) => e.node);
      expect(nodes.map((n) => n.id)).toEqual(expect.arrayContaining([algebra.id, biology.id]));
      expect(nodes.map((n) => n.code)).toEqual([...nodes.map((n) => n.code)].sort());
      expect(nodes.find((n) => n.id === algebra.id)).toMatchObject({ memberCount: 3, viewerRole: null, status: 'ACTIVE' });
    });

    it('instructors and students list only their own courses, with their role in each', async () => {
      expect(await courseIds(teacher.token)).toEqual([algebra.id]);
      expect(await courseIds(ann.token)).toEqual([algebra.id]);
      expect(await courseIds(outsider.token)).toEqual([biology.id]);
      const res = await app.gql(CourseDocument, { id: algebra.id }, teacher.token);
      expect(res.data!.course).toMatchObject({ id: algebra.id, title: 'Algebra', viewerRole: 'INSTRUCTOR', memberCount: 3 });
      expect((await app.gql(CourseDocument, { id: algebra.id }, ann.token)).data!.course.viewerRole).toBe('STUDENT');
    });

    it('a course the caller is not in answers NOT_FOUND, exactly like an unknown id', async () => {
      const hidden = await app.gql(CourseDocument, { id: biology.id }, ann.token);
      const unknown = await app.gql(CourseDocument, { id: randomUUID() }, ann.token);
      expect(codes(hidden)).toEqual(['NOT_FOUND']);
      expect(hidden.errors![0].message).toBe(unknown.errors![0].message);
      expect(codes(await app.gql(CourseDocument, { id: biology.id }, teacher.token))).toEqual(['NOT_FOUND']);
    });

    it('a malformed course id is BAD_USER_INPUT', async () => {
      expect(codes(await app.gql(CourseDocument, { id: 'algebra' }, admin.token))).toEqual(['BAD_USER_INPUT']);
    });

    it('filters by status and searches code and title', async () => {
      const old = await school.course('Ancient History');
      await app.gql(ArchiveCourseDocument, { id: old.id }, admin.token);
      expect(await courseIds(admin.token, { status: 'ARCHIVED' })).toEqual([old.id]);
      expect(await courseIds(admin.token, { status: 'ACTIVE' })).not.toContain(old.id);
      expect(await courseIds(admin.token, { search: 'ancient' })).toEqual([old.id]);
      expect(await courseIds(admin.token, { search: old.code })).toEqual([old.id]);
      expect(await courseIds(ann.token, { search: 'ancient' })).toEqual([]);
    });
  });

  describe('managing', () => {
    it('an admin creates, renames and archives a course', async () => {
      const created = await app.gql(CreateCourseDocument, { input: { code: 'PHY-101', title: '  Physics   One ', description: ' Forces ' } }, admin.token);
      expect(created.errors).toBeUndefined();
      const course = created.data!.createCourse;
      expect(course).toMatchObject({ code: 'PHY-101', title: 'Physics One', description: 'Forces', status: 'ACTIVE', memberCount: 0, archivedAt: null });
      const updated = await app.gql(UpdateCourseDocument, { id: course.id, input: { title: 'Physics I', description: '' } }, admin.token);
      expect(updated.data!.updateCourse).toMatchObject({ code: 'PHY-101', title: 'Physics I', description: null });
      const archived = await app.gql(ArchiveCourseDocument, { id: course.id }, admin.token);
      expect(archived.data!.archiveCourse.status).toBe('ARCHIVED');
      expect(archived.data!.archiveCourse.archivedAt).not.toBeNull();
    });

    it('refuses a duplicate code on create and on rename, writing nothing', async () => {
      const before = await countRows(app.orm, 'course');
      const dup = await app.gql(CreateCourseDocument, { input: { code: algebra.code, title: 'Again' } }, admin.token);
      expect(codes(dup)).toEqual(['BAD_USER_INPUT']);
      expect(dup.errors![0].extensions).toMatchObject({ field: 'code', reason: 'DUPLICATE' });
      expect(codes(await app.gql(UpdateCourseDocument, { id: biology.id, input: { code: algebra.code } }, admin.token))).toEqual(['BAD_USER_INPUT']);
      expect(await countRows(app.orm, 'course')).toBe(before);
      expect((await sql<{ code: string }>(app.orm, 'select code from course where id = ?', [biology.id]))[0].code).toBe(biology.code);
    });

    it.each([
      ['a blank title', { code: 'OK-1', title: '   ' }],
      ['an over-long title', { code: 'OK-2', title: 'x'.repeat(201) }],
      ['a code with a slash', { code: 'A/B', title: 'Fine' }],
      ['an empty code', { code: '', title: 'Fine' }],
      ['an over-long description', { code: 'OK-3', title: 'Fine', description: 'x'.repeat(10001) }],
    ])('refuses %s with BAD_USER_INPUT and writes nothing', async (_what, input) => {
      const before = await countRows(app.orm, 'course');
      const res = await app.gql(CreateCourseDocument, { input }, admin.token);
      expect(codes(res)).toEqual(['BAD_USER_INPUT']);
      expect(res.errors![0].message).toMatch(/^Invalid input: /);
      expect(await countRows(app.orm, 'course')).toBe(before);
    });

    it('instructors and students may not create, update or archive courses', async () => {
      const before = await countRows(app.orm, 'course');
      for (const m of [teacher, ann]) {
        expect(codes(await app.gql(CreateCourseDocument, { input: { code: 'X-1', title: 'X' } }, m.token))).toEqual(['FORBIDDEN']);
        expect(codes(await app.gql(UpdateCourseDocument, { id: algebra.id, input: { title: 'Mine' } }, m.token))).toEqual(['FORBIDDEN']);
        expect(codes(await app.gql(ArchiveCourseDocument, { id: algebra.id }, m.token))).toEqual(['FORBIDDEN']);
      }
      expect(await countRows(app.orm, 'course')).toBe(before);
      expect((await sql(app.orm, 'select title, status from course where id = ?', [algebra.id]))[0]).toEqual({ title: 'Algebra', status: 'ACTIVE' });
    });
  });

  describe('enrollment', () => {
    it('an admin enrolls and unenrolls a member', async () => {
      const course = await school.course();
      const m = await school.student();
      const res = await app.gql(EnrollDocument, { courseId: course.id, userId: m.user.id, role: 'STUDENT' }, admin.token);
      expect(res.errors).toBeUndefined();
      expect(res.data!.enroll).toMatchObject({ role: 'STUDENT', user: { id: m.user.id }, course: { id: course.id } });
      expect((await app.gql(CoursesDocument, {}, m.token)).data!.courses.edges.map((e) => e.node.id)).toEqual([course.id]);
      const removed = await app.gql(UnenrollDocument, { courseId: course.id, userId: m.user.id }, admin.token);
      expect(removed.data!.unenroll).toBe(res.data!.enroll.id);
      expect(await countRows(app.orm, 'enrollment', 'course_id = ?', [course.id])).toBe(0);
      expect(codes(await app.gql(CourseDocument, { id: course.id }, m.token))).toEqual(['NOT_FOUND']);
    });

    it('refuses enrollments that make no sense, writing nothing', async () => {
      const course = await school.course();
      const archived = await school.course();
      await app.gql(ArchiveCourseDocument, { id: archived.id }, admin.token);
      const gone = await school.student();
      await app.gql(DeactivateUserDocument, { id: gone.user.id }, admin.token);
      const before = await countRows(app.orm, 'enrollment');
      const cases: [EnrollMutationVariables, string][] = [
        [{ courseId: algebra.id, userId: ann.user.id, role: 'STUDENT' }, 'already enrolled'],
        [{ courseId: course.id, userId: ann.user.id, role: 'INSTRUCTOR' }, 'cannot be enrolled as an instructor'],
        [{ courseId: archived.id, userId: ann.user.id, role: 'STUDENT' }, 'archived'],
        [{ courseId: course.id, userId: gone.user.id, role: 'STUDENT' }, 'deactivated'],
        [{ courseId: course.id, userId: 'nope', role: 'STUDENT' }, 'userId is not a valid id'],
      ];
      for (const [vars, message] of cases) {
        const res = await app.gql(EnrollDocument, vars, admin.token);
        expect(codes(res)).toEqual(['BAD_USER_INPUT']);
        expect(res.errors![0].message).toContain(message);
      }
      expect(codes(await app.gql(EnrollDocument, { courseId: randomUUID(), userId: ann.user.id, role: 'STUDENT' }, admin.token))).toEqual(['NOT_FOUND']);
      expect(codes(await app.gql(EnrollDocument, { courseId: course.id, userId: randomUUID(), role: 'STUDENT' }, admin.token))).toEqual(['NOT_FOUND']);
      expect(await countRows(app.orm, 'enrollment')).toBe(before);
    });

    it('only admins enroll and unenroll', async () => {
      const before = await countRows(app.orm, 'enrollment');
      for (const m of [teacher, ann]) {
        expect(codes(await app.gql(EnrollDocument, { courseId: algebra.id, userId: outsider.user.id, role: 'STUDENT' }, m.token))).toEqual(['FORBIDDEN']);
        expect(codes(await app.gql(UnenrollDocument, { courseId: algebra.id, userId: ben.user.id }, m.token))).toEqual(['FORBIDDEN']);
      }
      expect(await countRows(app.orm, 'enrollment')).toBe(before);
    });

    it('unenrolling someone who is not enrolled is NOT_FOUND', async () => {
      expect(codes(await app.gql(UnenrollDocument, { courseId: algebra.id, userId: outsider.user.id }, admin.token))).toEqual(['NOT_FOUND']);
    });
  });

  describe('roster and grades', () => {
    beforeAll(async () => {
      const res = await app.gql(SetGradeDocument, { courseId: algebra.id, userId: ann.user.id, grade: 'A-' }, teacher.token);
      expect(res.errors).toBeUndefined();
      await app.gql(SetGradeDocument, { courseId: algebra.id, userId: ben.user.id, grade: 'B+' }, teacher.token);
    });

    it('lists instructors first, then students in enrollment order', async () => {
      const res = await app.gql(RosterDocument, { id: algebra.id }, admin.token);
      expect(res.data!.course.roster.edges.map((e) => e.node.user.id)).toEqual([teacher.user.id, ann.user.id, ben.user.id]);
      const students = await app.gql(RosterDocument, { id: algebra.id, role: 'STUDENT' }, admin.token);
      expect(students.data!.course.roster.edges.map((e) => e.node.user.id)).toEqual([ann.user.id, ben.user.id]);
    });

    it('the instructor sees every student\'s email, student number and grade', async () => {
      const res = await app.gql(CourseMembersDocument, { id: algebra.id }, teacher.token);
      const byUser = new Map(res.data!.course.roster.edges.map((e) => [e.node.user.id, e.node]));
      expect(byUser.get(ann.user.id)).toMatchObject({ finalGrade: 'A-', user: { email: ann.user.email, studentNumber: ann.user.studentNumber, familyName: ann.user.familyName } });
      expect(byUser.get(ben.user.id)!.finalGrade).toBe('B+');
      expect(byUser.get(ben.user.id)!.gradedAt).not.toBeNull();
    });

    it('a student sees classmates by display name, and only their own grade', async () => {
      const res = await app.gql(CourseMembersDocument, { id: algebra.id }, ann.token);
      const byUser = new Map(res.data!.course.roster.edges.map((e) => [e.node.user.id, e.node]));
      expect(byUser.get(ann.user.id)).toMatchObject({ finalGrade: 'A-', user: { email: ann.user.email } });
      expect(byUser.get(ben.user.id)).toMatchObject({
        finalGrade: null, gradedAt: null,
        user: { displayName: ben.user.displayName, email: null, givenName: null, familyName: null, studentNumber: null },
      });
      expect(byUser.get(teacher.user.id)!.user.email).toBeNull();
    });

    it('an instructor who teaches a student elsewhere still cannot reach that student\'s Algebra roster or grade', async () => {
      const course = await school.course();
      await school.enroll(course, otherTeacher);
      await school.enroll(course, ann);
      const profile = await app.gql(UserEnrollmentsDocument, { id: ann.user.id }, otherTeacher.token);
      expect(profile.errors).toBeUndefined();
      expect(profile.data!.user.enrollments).toBeNull();
      expect(codes(await app.gql(CourseMembersDocument, { id: algebra.id }, otherTeacher.token))).toEqual(['NOT_FOUND']);
      const ownCourse = await app.gql(CourseMembersDocument, { id: course.id }, otherTeacher.token);
      expect(ownCourse.data!.course.roster.edges.find((e) => e.node.user.id === ann.user.id)!.node.user.email).toBe(ann.user.email);
    });

    it('an admin may grade, and null clears a grade', async () => {
      const res = await app.gql(SetGradeDocument, { courseId: algebra.id, userId: ben.user.id, grade: null }, admin.token);
      expect(res.data!.setGrade).toMatchObject({ finalGrade: null, gradedAt: null });
      expect((await sql(app.orm, 'select final_grade from enrollment where course_id = ? and user_id = ?', [algebra.id, ben.user.id]))[0]).toEqual({ final_grade: null });
      await app.gql(SetGradeDocument, { courseId: algebra.id, userId: ben.user.id, grade: 'B+' }, admin.token);
    });

    it('only the course\'s instructors and admins may grade; students get FORBIDDEN, strangers NOT_FOUND', async () => {
      const grade = async () => (await sql<{ final_grade: string }>(app.orm, 'select final_grade from enrollment where course_id = ? and user_id = ?', [algebra.id, ben.user.id]))[0].final_grade;
      expect(codes(await app.gql(SetGradeDocument, { courseId: algebra.id, userId: ben.user.id, grade: 'A+' }, ann.token))).toEqual(['FORBIDDEN']);
      expect(codes(await app.gql(SetGradeDocument, { courseId: algebra.id, userId: ben.user.id, grade: 'A+' }, ben.token))).toEqual(['FORBIDDEN']);
      expect(codes(await app.gql(SetGradeDocument, { courseId: algebra.id, userId: ben.user.id, grade: 'A+' }, otherTeacher.token))).toEqual(['NOT_FOUND']);
      expect(await grade()).toBe('B+');
    });

    it('refuses a malformed grade, grading an instructor and grading a non-member', async () => {
      const before = await sql(app.orm, 'select user_id, final_grade from enrollment where course_id = ? order by user_id', [algebra.id]);
      for (const g of ['', 'A'.repeat(17), '<script>']) {
        expect(codes(await app.gql(SetGradeDocument, { courseId: algebra.id, userId: ben.user.id, grade: g }, teacher.token))).toEqual(['BAD_USER_INPUT']);
      }
      expect(codes(await app.gql(SetGradeDocument, { courseId: algebra.id, userId: teacher.user.id, grade: 'A' }, admin.token))).toEqual(['BAD_USER_INPUT']);
      expect(codes(await app.gql(SetGradeDocument, { courseId: algebra.id, userId: outsider.user.id, grade: 'A' }, teacher.token))).toEqual(['NOT_FOUND']);
      expect(await sql(app.orm, 'select user_id, final_grade from enrollment where course_id = ? order by user_id', [algebra.id])).toEqual(before);
    });
  });
});
