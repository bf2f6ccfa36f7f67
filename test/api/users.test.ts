import { randomUUID } from 'node:crypto';
import { codes, startTestApp, type TestApp } from '../support/harness';
import { countRows, seedTenant, sql, type Member, type SeededTenant } from '../support/seed';
import {
  CreateUserDocument, DeactivateUserDocument, MyEnrollmentsDocument, UpdateMyProfileDocument, UpdateUserDocument,
  UserDocument, UserEnrollmentsDocument, UsersDocument, type UsersQueryVariables,
} from '../generated/graphql';
import type { Course } from '../../src/modules/course/course.entity';

/**
 * Who sees whom. Admins see every member; instructors see the students they teach, with their private
 * details; students see the people in their courses by display name only.
 */
describe('members', () => {
  let app: TestApp;
  let school: SeededTenant;
  let admin: Member;
  let teacher: Member;      // teaches algebra
  let otherTeacher: Member; // teaches biology
  let ann: Member;          // algebra
  let ben: Member;          // algebra and biology
  let cid: Member;          // biology only
  let loner: Member;        // no course
  let algebra: Course;
  let biology: Course;

  beforeAll(async () => {
    app = await startTestApp();
    school = await seedTenant(app.orm);
    admin = await school.admin();
    teacher = await school.instructor();
    otherTeacher = await school.instructor();
    ann = await school.student({ givenName: 'Ann', familyName: 'Archer', email: 'ann.archer@example.test' });
    ben = await school.student();
    cid = await school.student();
    loner = await school.student();
    algebra = await school.course('Algebra');
    biology = await school.course('Biology');
    await school.enroll(algebra, teacher);
    await school.enroll(algebra, ann);
    await school.enroll(algebra, ben);
    await school.enroll(biology, otherTeacher);
    await school.enroll(biology, ben);
    await school.enroll(biology, cid);
  });
  afterAll(() => app.close());

  const listIds = async (token: string, vars: UsersQueryVariables = {}) => {
    const res = await app.gql(UsersDocument, { first: 100, ...vars }, token);
    expect(res.errors).toBeUndefined();
    return res.data!.users.edges.map((e) => e.node);
  };
  const ids = (nodes: { id: string }[]) => nodes.map((n) => n.id).sort();

  describe('listing', () => {
    it('an admin lists every member of the tenant, by family name, with private details', async () => {
      const nodes = await listIds(admin.token);
      const all = [admin, teacher, otherTeacher, ann, ben, cid, loner];
      expect(ids(nodes)).toEqual(ids(all.map((m) => m.user)));
      const familyNames = nodes.map((n) => n.familyName!);
      expect(familyNames).toEqual([...familyNames].sort());
      expect(nodes.find((n) => n.id === ann.user.id)).toMatchObject({ email: 'ann.archer@example.test', givenName: 'Ann', familyName: 'Archer' });
    });

    it('an instructor lists only the students of the courses they teach, with their email and student number', async () => {
      const nodes = await listIds(teacher.token);
      expect(ids(nodes)).toEqual(ids([ann.user, ben.user]));
      const annNode = nodes.find((n) => n.id === ann.user.id)!;
      expect(annNode).toMatchObject({ email: ann.user.email, givenName: 'Ann', familyName: 'Archer', studentNumber: ann.user.studentNumber });
    });

    it('a student lists the members of their courses and themselves, seeing classmates only by display name', async () => {
      const nodes = await listIds(ann.token);
      expect(ids(nodes)).toEqual(ids([ann.user, ben.user, teacher.user]));
      const benNode = nodes.find((n) => n.id === ben.user.id)!;
      expect(benNode.displayName).toBe(ben.user.displayName);
      expect(benNode).toMatchObject({ email: null, givenName: null, familyName: null, studentNumber: null });
      const teacherNode = nodes.find((n) => n.id === teacher.user.id)!;
      expect(teacherNode).toMatchObject({ email: null, givenName: null, familyName: null });
      const self = nodes.find((n) => n.id === ann.user.id)!;
      expect(self).toMatchObject({ email: ann.user.email, givenName: 'Ann', studentNumber: ann.user.studentNumber });
    });

    it('a student in no course lists only themselves', async () => {
      expect(ids(await listIds(loner.token))).toEqual([loner.user.id]);
    });

    it('filters by role', async () => {
      expect(ids(await listIds(admin.token, { role: 'INSTRUCTOR' }))).toEqual(ids([teacher.user, otherTeacher.user]));
      expect(ids(await listIds(ann.token, { role: 'INSTRUCTOR' }))).toEqual([teacher.user.id]);
    });

    it('an admin can search by name and email; a student cannot use search to probe hidden fields', async () => {
      expect(ids(await listIds(admin.token, { search: 'archer@example' }))).toEqual([ann.user.id]);
      expect(ids(await listIds(admin.token, { search: 'Ann Archer' }))).toEqual([ann.user.id]);
      expect(ids(await listIds(teacher.token, { search: 'archer' }))).toEqual([ann.user.id]);
      // Ben sees Ann only by her display name ("Ann Archer"); her email must not be searchable for him.
      expect(await listIds(ben.token, { search: 'example.test' })).toEqual([]);
      expect(ids(await listIds(ben.token, { search: 'Ann' }))).toEqual([ann.user.id]);
    });

    it('treats % and _ in the search text literally', async () => {
      expect(await listIds(admin.token, { search: '%' })).toEqual([]);
      expect(await listIds(admin.token, { search: '_' })).toEqual([]);
    });

    it('refuses an over-long search text', async () => {
      const res = await app.gql(UsersDocument, { search: 'x'.repeat(101) }, admin.token);
      expect(codes(res)).toEqual(['BAD_USER_INPUT']);
    });
  });

  describe('looking one up', () => {
    it('answers NOT_FOUND for a member outside the caller\'s view, exactly as for an unknown id', async () => {
      const unknown = await app.gql(UserDocument, { id: randomUUID() }, ann.token);
      const hidden = await app.gql(UserDocument, { id: cid.user.id }, ann.token);
      expect(codes(unknown)).toEqual(['NOT_FOUND']);
      expect(codes(hidden)).toEqual(['NOT_FOUND']);
      expect(hidden.errors![0].message).toBe(unknown.errors![0].message);
      expect(hidden.data).toBeNull();
    });

    it('an instructor cannot look up a student of a course they do not teach, nor a colleague', async () => {
      expect(codes(await app.gql(UserDocument, { id: cid.user.id }, teacher.token))).toEqual(['NOT_FOUND']);
      expect(codes(await app.gql(UserDocument, { id: otherTeacher.user.id }, teacher.token))).toEqual(['NOT_FOUND']);
      const res = await app.gql(UserDocument, { id: ben.user.id }, teacher.token);
      expect(res.data?.user).toMatchObject({ id: ben.user.id, email: ben.user.email });
    });

    it('a student looks up a classmate and gets the public profile only', async () => {
      const res = await app.gql(UserDocument, { id: ben.user.id }, ann.token);
      expect(res.data?.user).toMatchObject({ id: ben.user.id, displayName: ben.user.displayName, email: null, studentNumber: null });
    });

    it('answers BAD_USER_INPUT for a malformed id', async () => {
      const res = await app.gql(UserDocument, { id: 'not-a-uuid' }, admin.token);
      expect(codes(res)).toEqual(['BAD_USER_INPUT']);
      expect(res.errors![0].message).toMatch(/not a valid id/);
    });

    it('enrollments are visible to the member and admins, and null to anyone else', async () => {
      const own = await app.gql(MyEnrollmentsDocument, {}, ben.token);
      expect(own.data!.viewer.user!.enrollments!.edges.map((e) => e.node.course.id).sort()).toEqual([algebra.id, biology.id].sort());
      const byAdmin = await app.gql(UserEnrollmentsDocument, { id: ben.user.id }, admin.token);
      expect(byAdmin.data!.user.enrollments!.edges).toHaveLength(2);
      const byClassmate = await app.gql(UserEnrollmentsDocument, { id: ben.user.id }, ann.token);
      expect(byClassmate.errors).toBeUndefined();
      expect(byClassmate.data!.user.enrollments).toBeNull();
      const byTeacher = await app.gql(UserEnrollmentsDocument, { id: ben.user.id }, teacher.token);
      expect(byTeacher.data!.user.enrollments).toBeNull();
    });
  });

  describe('creating', () => {
    const valid = { email: 'New.Person@Example.TEST', givenName: ' New ', familyName: 'Person', role: 'STUDENT' as const, studentNumber: 'N-100' };

    it('an admin creates a member; email is normalised and the display name defaults to the full name', async () => {
      const res = await app.gql(CreateUserDocument, { input: valid }, admin.token);
      expect(res.errors).toBeUndefined();
      expect(res.data!.createUser).toMatchObject({
        email: 'new.person@example.test', givenName: 'New', familyName: 'Person', displayName: 'New Person',
        role: 'STUDENT', status: 'ACTIVE', source: 'MANUAL', studentNumber: 'N-100',
      });
      expect(await countRows(app.orm, 'app_user', 'tenant_id = ? and email = ?', [school.tenant.id, 'new.person@example.test'])).toBe(1);
    });

    it('refuses a second member with the same email or student number', async () => {
      const before = await countRows(app.orm, 'app_user');
      const sameEmail = await app.gql(CreateUserDocument, { input: { ...valid, studentNumber: null, email: 'NEW.person@example.test' } }, admin.token);
      expect(codes(sameEmail)).toEqual(['BAD_USER_INPUT']);
      expect(sameEmail.errors![0].extensions).toMatchObject({ field: 'email', reason: 'DUPLICATE' });
      const sameNumber = await app.gql(CreateUserDocument, { input: { ...valid, email: 'other@example.test' } }, admin.token);
      expect(codes(sameNumber)).toEqual(['BAD_USER_INPUT']);
      expect(sameNumber.errors![0].extensions).toMatchObject({ field: 'studentNumber' });
      expect(await countRows(app.orm, 'app_user')).toBe(before);
    });

    it.each([
      ['a blank given name', { givenName: '   ' }, /givenName must not be blank/],
      ['an empty family name', { familyName: '' }, /familyName/],
      ['a malformed email', { email: 'not-an-email' }, /email must be a valid email address/],
      ['an over-long family name', { familyName: 'x'.repeat(101) }, /familyName/],
      ['an http avatar', { avatarUrl: 'http://example.test/a.png' }, /avatarUrl must be an https URL/],
      ['a student number with spaces', { studentNumber: 'S 1' }, /studentNumber/],
    ])('refuses %s with BAD_USER_INPUT and writes nothing', async (_what, change, message) => {
      const before = await countRows(app.orm, 'app_user');
      const res = await app.gql(CreateUserDocument, { input: { ...valid, email: `v${randomUUID().slice(0, 8)}@example.test`, studentNumber: null, ...change } }, admin.token);
      expect(res.status).toBe(200);
      expect(codes(res)).toEqual(['BAD_USER_INPUT']);
      expect(res.errors![0].message).toMatch(message);
      expect(res.data).toBeNull();
      expect(await countRows(app.orm, 'app_user')).toBe(before);
    });

    it('instructors and students may not create members', async () => {
      const before = await countRows(app.orm, 'app_user');
      for (const m of [teacher, ann]) {
        const res = await app.gql(CreateUserDocument, { input: { ...valid, email: 'sneaky@example.test', studentNumber: null } }, m.token);
        expect(codes(res)).toEqual(['FORBIDDEN']);
      }
      expect(await countRows(app.orm, 'app_user')).toBe(before);
    });
  });

  describe('updating', () => {
    it('an admin changes a member\'s names and removes the student number with an empty string', async () => {
      const m = await school.student();
      const res = await app.gql(UpdateUserDocument, { id: m.user.id, input: { givenName: ' Zoe  Q ', studentNumber: '' } }, admin.token);
      expect(res.errors).toBeUndefined();
      expect(res.data!.updateUser).toMatchObject({ givenName: 'Zoe Q', studentNumber: null, familyName: m.user.familyName });
    });

    it('refuses to give a member another member\'s email, and leaves the row as it was', async () => {
      const m = await school.student();
      const res = await app.gql(UpdateUserDocument, { id: m.user.id, input: { email: ann.user.email } }, admin.token);
      expect(codes(res)).toEqual(['BAD_USER_INPUT']);
      const [row] = await sql<{ email: string }>(app.orm, 'select email from app_user where id = ?', [m.user.id]);
      expect(row.email).toBe(m.user.email);
    });

    it('refuses blank names and leaves the row as it was', async () => {
      const res = await app.gql(UpdateUserDocument, { id: ben.user.id, input: { familyName: ' ' } }, admin.token);
      expect(codes(res)).toEqual(['BAD_USER_INPUT']);
      const [row] = await sql<{ family_name: string }>(app.orm, 'select family_name from app_user where id = ?', [ben.user.id]);
      expect(row.family_name).toBe(ben.user.familyName);
    });

    it('an admin cannot remove their own administrator role', async () => {
      const res = await app.gql(UpdateUserDocument, { id: admin.user.id, input: { role: 'STUDENT' } }, admin.token);
      expect(codes(res)).toEqual(['BAD_USER_INPUT']);
      const [row] = await sql<{ role: string }>(app.orm, 'select role from app_user where id = ?', [admin.user.id]);
      expect(row.role).toBe('ADMIN');
    });

    it('instructors and students may not update or deactivate members', async () => {
      for (const m of [teacher, ann]) {
        expect(codes(await app.gql(UpdateUserDocument, { id: ben.user.id, input: { displayName: 'Hacked' } }, m.token))).toEqual(['FORBIDDEN']);
        expect(codes(await app.gql(DeactivateUserDocument, { id: ben.user.id }, m.token))).toEqual(['FORBIDDEN']);
      }
      const [row] = await sql<{ display_name: string; status: string }>(app.orm, 'select display_name, status from app_user where id = ?', [ben.user.id]);
      expect(row).toEqual({ display_name: ben.user.displayName, status: 'ACTIVE' });
    });

    it('updating an unknown member is NOT_FOUND, a malformed id BAD_USER_INPUT', async () => {
      expect(codes(await app.gql(UpdateUserDocument, { id: randomUUID(), input: { displayName: 'X' } }, admin.token))).toEqual(['NOT_FOUND']);
      expect(codes(await app.gql(UpdateUserDocument, { id: '123', input: { displayName: 'X' } }, admin.token))).toEqual(['BAD_USER_INPUT']);
    });
  });

  describe('deactivating', () => {
    it('an admin deactivates a member: the status changes and every token of theirs is revoked', async () => {
      const m = await school.student();
      await school.token(m);
      const res = await app.gql(DeactivateUserDocument, { id: m.user.id }, admin.token);
      expect(res.data!.deactivateUser).toEqual({ id: m.user.id, status: 'DEACTIVATED' });
      expect(await countRows(app.orm, 'api_token', 'user_id = ? and revoked_at is null', [m.user.id])).toBe(0);
      expect(await countRows(app.orm, 'api_token', 'user_id = ?', [m.user.id])).toBe(2);
      // Deactivating again is harmless.
      expect((await app.gql(DeactivateUserDocument, { id: m.user.id }, admin.token)).data!.deactivateUser.status).toBe('DEACTIVATED');
    });

    it('an admin cannot deactivate themselves', async () => {
      expect(codes(await app.gql(DeactivateUserDocument, { id: admin.user.id }, admin.token))).toEqual(['BAD_USER_INPUT']);
      expect((await app.gql(UsersDocument, { first: 1 }, admin.token)).status).toBe(200);
    });
  });

  describe('own profile', () => {
    it('a student changes their display name, and classmates see the new one', async () => {
      const res = await app.gql(UpdateMyProfileDocument, { input: { displayName: '  Annie  ', avatarUrl: 'https://img.example.test/annie.png' } }, ann.token);
      expect(res.errors).toBeUndefined();
      expect(res.data!.updateMyProfile).toMatchObject({ id: ann.user.id, displayName: 'Annie', avatarUrl: 'https://img.example.test/annie.png', email: ann.user.email });
      const seen = await app.gql(UserDocument, { id: ann.user.id }, ben.token);
      expect(seen.data!.user).toMatchObject({ displayName: 'Annie', avatarUrl: 'https://img.example.test/annie.png', email: null });
      const cleared = await app.gql(UpdateMyProfileDocument, { input: { avatarUrl: '' } }, ann.token);
      expect(cleared.data!.updateMyProfile.avatarUrl).toBeNull();
    });

    it('refuses a blank display name or a non-https avatar and keeps the old values', async () => {
      for (const input of [{ displayName: '   ' }, { displayName: 'x'.repeat(101) }, { avatarUrl: 'javascript:alert(1)' }]) {
        expect(codes(await app.gql(UpdateMyProfileDocument, { input }, cid.token))).toEqual(['BAD_USER_INPUT']);
      }
      const [row] = await sql<{ display_name: string; avatar_url: string | null }>(app.orm, 'select display_name, avatar_url from app_user where id = ?', [cid.user.id]);
      expect(row).toEqual({ display_name: cid.user.displayName, avatar_url: null });
    });
  });
});
