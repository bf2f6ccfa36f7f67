import { readFileSync } from 'node:fs';
import path from 'node:path';
import { getNamedType, isObjectType, type GraphQLSchema } from 'graphql';
import { codes, startTestApp, type TestApp } from '../support/harness';
import { seedTenant, sql, type Member, type SeededTenant } from '../support/seed';
import { buildBareSchema } from '../../src/schema/build';
import {
  guaranteedOnEntry, isAuthenticated, isMember, permissionsFor, readsDirectory, REDACTED_WHEN_DENIED, ruleTree, seesGrade, seesPrivateProfile,
} from '../../src/auth/permissions';
import { issueToken, issueUserToken, revokeToken } from '../../src/modules/token/token.service';
import { TokenKind } from '../../src/modules/token/api-token.entity';
import type { Course } from '../../src/modules/course/course.entity';
import { generateKeyPairSync } from 'node:crypto';
import { sealEverything } from '../support/audit';
import { signingKeyFromPem } from '../../src/audit/checkpoint';

/**
 * The role matrix, generated: every root query and mutation of the schema × eleven kinds of caller.
 * A root field added to the schema without a row here fails this test, and so does a README matrix
 * that disagrees with what the server does.
 *
 * Primary callers (student, instructor, admin) act on their own things: the student's own post, the
 * course the instructor teaches. The cross cases act on someone else's: another student on the first
 * student's post, the instructor of another course on this course, the admin of another tenant on
 * this tenant's ids. Auditors, services and refused credentials aim at the admin's targets.
 */

const CALLERS = [
  'anonymous', 'student', 'anotherStudent', 'instructor', 'otherInstructor', 'admin', 'foreignAdmin',
  'auditor', 'service', 'expired', 'revoked',
] as const;
type Caller = (typeof CALLERS)[number];

/** What a call must answer: data (ok) or exactly one error with this code. */
type Outcome = 'ok' | 'FORBIDDEN' | 'NOT_FOUND' | 'UNAUTHENTICATED' | 'BAD_USER_INPUT';
const U = 'UNAUTHENTICATED';
const F = 'FORBIDDEN';
const NF = 'NOT_FOUND';
const ok = 'ok';
const BAD = 'BAD_USER_INPUT';

//                         anon student other  instr  otherIn admin  foreign auditor service expired revoked
const EXPECTED: Record<string, Outcome[]> = {
  'Query.viewer':          [U, ok, ok, ok, ok, ok, ok, ok, ok, U, U],
  'Query.tenant':          [U, ok, ok, ok, ok, ok, ok, F, ok, U, U],
  'Query.users':           [U, ok, ok, ok, ok, ok, ok, F, ok, U, U],
  'Query.user':            [U, ok, ok, ok, NF, ok, NF, F, ok, U, U],
  'Query.courses':         [U, ok, ok, ok, ok, ok, ok, F, ok, U, U],
  'Query.course':          [U, ok, ok, ok, NF, ok, NF, F, ok, U, U],
  'Query.tokens':          [U, F, F, F, F, ok, ok, F, F, U, U],
  'Query.auditCheckpoint': [U, F, F, F, F, ok, ok, ok, F, U, U],
  'Query.auditInclusionProof': [U, F, F, F, F, ok, NF, ok, F, U, U],
  'Query.auditConsistencyProof': [U, F, F, F, F, ok, BAD, ok, F, U, U], // South has no checkpoint of North's size
  'Query.auditPublicKeys': [U, F, F, F, F, ok, ok, ok, F, U, U],
  'Query.auditEvents':     [U, F, F, F, F, ok, ok, ok, F, U, U],
  'Query.recordsOfProcessing': [U, F, F, F, F, ok, ok, ok, F, U, U],
  'Query.myAccessHistory': [U, ok, ok, ok, ok, ok, ok, F, F, U, U],
  // Reports: a foreign tenant's administrator gets their own tenant's report.
  'Query.accessSummaryReport': [U, F, F, F, F, ok, ok, ok, F, U, U],
  'Query.deniedAttemptsReport': [U, F, F, F, F, ok, ok, ok, F, U, U],
  'Query.privilegedAccessReport': [U, F, F, F, F, ok, ok, ok, F, U, U],
  'Query.disclosuresReport': [U, F, F, F, F, ok, ok, ok, F, U, U],
  'Query.requestComplianceReport': [U, F, F, F, F, ok, ok, ok, F, U, U],
  'Query.auditChainStatusReport': [U, F, F, F, F, ok, ok, ok, F, U, U],
  'Query.accessHistory':   [U, F, F, F, F, ok, NF, F, F, U, U],
  'Mutation.createUser':   [U, F, F, F, F, ok, ok, F, F, U, U],
  'Mutation.updateUser':   [U, F, F, F, F, ok, NF, F, F, U, U],
  'Mutation.deactivateUser': [U, F, F, F, F, ok, NF, F, F, U, U],
  'Mutation.updateMyProfile': [U, ok, ok, ok, ok, ok, ok, F, F, U, U],
  'Mutation.createCourse': [U, F, F, F, F, ok, ok, F, F, U, U],
  'Mutation.updateCourse': [U, F, F, F, F, ok, NF, F, F, U, U],
  'Mutation.archiveCourse': [U, F, F, F, F, ok, NF, F, F, U, U],
  'Mutation.enroll':       [U, F, F, F, F, ok, NF, F, F, U, U],
  'Mutation.unenroll':     [U, F, F, F, F, ok, NF, F, F, U, U],
  'Mutation.setGrade':     [U, F, F, ok, NF, ok, NF, F, F, U, U],
  'Mutation.createPost':   [U, ok, ok, ok, NF, ok, NF, F, F, U, U],
  'Mutation.editPost':     [U, ok, F, ok, NF, ok, NF, F, F, U, U],
  'Mutation.deletePost':   [U, ok, F, ok, NF, ok, NF, F, F, U, U],
  'Mutation.createComment': [U, ok, ok, ok, NF, ok, NF, F, F, U, U],
  'Mutation.editComment':  [U, ok, F, ok, NF, ok, NF, F, F, U, U],
  'Mutation.deleteComment': [U, ok, F, ok, NF, ok, NF, F, F, U, U],
  'Mutation.react':        [U, ok, ok, ok, NF, ok, NF, F, F, U, U],
  'Mutation.unreact':      [U, ok, ok, ok, NF, ok, NF, F, F, U, U],
  'Mutation.issueToken':   [U, F, F, F, F, ok, ok, F, F, U, U],
  'Mutation.revokeToken':  [U, F, F, F, F, ok, NF, F, F, U, U],
  'Query.privacySettings': [U, ok, ok, ok, ok, ok, ok, F, F, U, U],
  'Query.myDataRequests':  [U, ok, ok, ok, ok, ok, ok, F, F, U, U],
  'Query.dataRequests':    [U, F, F, F, F, ok, ok, F, F, U, U],
  'Query.dataRequest':     [U, ok, NF, ok, NF, ok, NF, F, F, U, U],
  'Mutation.fileDataRequest': [U, ok, ok, ok, ok, ok, ok, F, F, U, U],
  'Mutation.approveDataRequest': [U, F, F, F, F, ok, NF, F, F, U, U],
  'Mutation.rejectDataRequest': [U, F, F, F, F, ok, NF, F, F, U, U],
  'Mutation.extendDataRequest': [U, F, F, F, F, ok, NF, F, F, U, U],
  'Mutation.cancelDataRequest': [U, ok, NF, ok, NF, ok, NF, F, F, U, U],
  'Mutation.retryDataRequest': [U, F, F, F, F, ok, NF, F, F, U, U],
  'Mutation.liftRestriction': [U, F, F, F, F, ok, NF, F, F, U, U],
  'Query.erasurePlan':     [U, ok, F, ok, F, ok, NF, F, F, U, U],
  'Query.legalHolds':      [U, F, F, F, F, ok, ok, F, F, U, U],
  'Mutation.placeLegalHold': [U, F, F, F, F, ok, NF, F, F, U, U],
  'Mutation.releaseLegalHold': [U, F, F, F, F, ok, NF, F, F, U, U],
  'Query.recipientNotices': [U, F, F, F, F, ok, ok, F, F, U, U],
  'Mutation.markNoticeSent': [U, F, F, F, F, ok, NF, F, F, U, U],
  'Query.retentionSchedule': [U, ok, ok, ok, ok, ok, ok, F, F, U, U],
  'Mutation.setRetentionPeriod': [U, F, F, F, F, ok, ok, F, F, U, U],
  'Mutation.updatePrivacySettings': [U, F, F, F, F, ok, ok, F, F, U, U],
  'Mutation.importRoster': [U, F, F, F, F, F, F, F, ok, U, U],
  'Query.ltiTools':        [U, F, F, F, F, ok, ok, F, F, U, U],
  'Mutation.registerLtiTool': [U, F, F, F, F, ok, ok, F, F, U, U],
  'Mutation.updateLtiTool': [U, F, F, F, F, ok, NF, F, F, U, U],
  'Mutation.attachLtiTool': [U, F, F, F, F, ok, NF, F, F, U, U],
  'Mutation.detachLtiTool': [U, F, F, F, F, ok, NF, F, F, U, U],
  // Members of the course only: an administrator who is not in it may not speak for one.
  'Mutation.launchLtiTool': [U, ok, ok, ok, NF, F, NF, F, F, U, U],
  // Breaches: administrators handle them; auditors read them (pseudonymously), and may change nothing.
  'Query.incidents':       [U, F, F, F, F, ok, ok, ok, F, U, U],
  'Query.incident':        [U, F, F, F, F, ok, NF, ok, F, U, U],
  'Mutation.openIncident': [U, F, F, F, F, ok, NF, F, F, U, U], // South's admin cannot name North's token
  'Mutation.updateIncident': [U, F, F, F, F, ok, NF, F, F, U, U],
  'Mutation.recordAuthorityNotification': [U, F, F, F, F, ok, NF, F, F, U, U],
  'Mutation.recordSubjectNotification': [U, F, F, F, F, ok, NF, F, F, U, U],
  'Mutation.recordNotificationDelay': [U, F, F, F, F, ok, NF, F, F, U, U],
  'Mutation.revokeIncidentCredential': [U, F, F, F, F, ok, NF, F, F, U, U],
  'Mutation.closeIncident': [U, F, F, F, F, ok, NF, F, F, U, U],
};

/** The README's principal columns, and the caller each one stands for. */
const README_COLUMNS: [string, Caller][] = [
  ['ADMIN', 'admin'], ['INSTRUCTOR', 'instructor'], ['STUDENT', 'student'], ['AUDITOR', 'auditor'], ['SERVICE', 'service'],
];

interface Call {
  query: string;
  variables?: Record<string, unknown>;
}

describe('the role matrix', () => {
  let app: TestApp;
  let north: SeededTenant;
  let south: SeededTenant;
  let admin: Member;
  let instructor: Member;
  let otherInstructor: Member;
  let student: Member;
  let anotherStudent: Member;
  let foreignAdmin: Member;
  let course: Course;
  let otherCourse: Course;
  const tokens = {} as Record<Caller, string | null>;
  let schema: GraphQLSchema;
  let checkpointSize: number;
  let sealedEventId: string;

  beforeAll(async () => {
    schema = await buildBareSchema();
    app = await startTestApp();
    north = await seedTenant(app.orm, 'North');
    south = await seedTenant(app.orm, 'South');
    admin = await north.admin();
    instructor = await north.instructor();
    otherInstructor = await north.instructor();
    student = await north.student();
    anotherStudent = await north.student();
    const thirdStudent = await north.student();
    foreignAdmin = await south.admin();
    course = await north.course('Algebra');
    otherCourse = await north.course('Biology');
    await north.enroll(course, instructor);
    await north.enroll(course, student);
    await north.enroll(course, anotherStudent);
    await north.enroll(otherCourse, otherInstructor);
    await north.enroll(otherCourse, thirdStudent);
    await north.posts(course, student, 1);
    // A sealed log to prove things about: one request's events, sealed under a checkpoint.
    await app.gql('{ users(first: 5) { edges { node { email } } } }', {}, admin.token);
    await sealEverything(app.orm, signingKeyFromPem(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string));
    [{ size: checkpointSize }] = await sql<{ size: number }>(app.orm, 'select max(tree_size)::int as size from audit_checkpoint where tenant_id = ?', [north.tenant.id]);
    [{ event_id: sealedEventId }] = await sql<{ event_id: string }>(app.orm, 'select event_id from audit_leaf where tenant_id = ? limit 1', [north.tenant.id]);

    const em = () => app.orm.em.fork();
    const past = new Date(Date.now() - 3 * 86_400_000);
    const expired = await issueUserToken(em(), student.user, { label: 'expired', ttlDays: 1, now: past });
    const revoked = await issueUserToken(em(), student.user, { label: 'revoked', ttlDays: 1 });
    await revokeToken(em(), north.tenant.id, revoked.token.id);
    const auditor = await issueToken(em(), north.tenant.id, { kind: TokenKind.AUDITOR, label: 'auditor', ttlDays: 7 });
    const service = await issueToken(em(), north.tenant.id, { kind: TokenKind.SERVICE, scopes: ['roster:read', 'roster:import'], label: 'sis', ttlDays: 7 });
    Object.assign(tokens, {
      anonymous: null, student: student.token, anotherStudent: anotherStudent.token, instructor: instructor.token,
      otherInstructor: otherInstructor.token, admin: admin.token, foreignAdmin: foreignAdmin.token,
      auditor: auditor.secret, service: service.secret, expired: expired.secret, revoked: revoked.secret,
    });
  });
  afterAll(() => app.close());

  /** Whose things a caller aims at: its own for the primary callers, someone else's for the rest. */
  const victimOf = (caller: Caller): Member =>
    ({ student, instructor, admin } as Partial<Record<Caller, Member>>)[caller] ?? (caller === 'anotherStudent' || caller === 'otherInstructor' ? student : admin);

  /** The member behind a caller's token, if any. */
  const memberOf = (caller: Caller): Member | null =>
    ({ student, anotherStudent, instructor, otherInstructor, admin, foreignAdmin } as Partial<Record<Caller, Member>>)[caller] ?? null;

  /** Closes a member's open requests, so a new one may be filed (one open request per type and person). */
  const closeRequestsOf = (m: Member) => sql(app.orm,
    "update data_subject_request set status = 'CANCELLED', cancelled_at = now() where subject_id = ? and status in ('SUBMITTED', 'APPROVED', 'IN_PROGRESS', 'FAILED')",
    [m.user.id]);

  /** A fresh open request of a member, in a given status. */
  const requestOf = async (m: Member, status = 'SUBMITTED', type = 'RECTIFICATION') => {
    await closeRequestsOf(m);
    const [{ id }] = await sql<{ id: string }>(app.orm,
      `insert into data_subject_request (id, tenant_id, subject_id, type, status, filed_by, filed_at, due_at, changes, history, updated_at)
       values (gen_random_uuid(), ?, ?, ?, ?, ?, now(), now() + interval '30 days',
               '[{"field": "DISPLAY_NAME", "after": "Corrected"}]', '[]', now()) returning id`,
      [m.user.tenantId, m.user.id, type, status, m.user.id]);
    return id;
  };

  /** A fresh tool of North's, placed in the course when asked. */
  const toolIn = async (placed: Course | null) => {
    const [{ id }] = await sql<{ id: string }>(app.orm,
      `insert into lti_tool (id, tenant_id, name, client_id, launch_url, privacy_level, sub_secret)
       values (gen_random_uuid(), ?, 'Tool ' || gen_random_uuid(), gen_random_uuid()::text, 'https://tool.example/launch', 'NAME_ONLY',
               decode(md5(random()::text) || md5(random()::text), 'hex')) returning id`, [north.tenant.id]);
    if (placed) await sql(app.orm, 'insert into lti_tool_course (id, tenant_id, tool_id, course_id) values (gen_random_uuid(), ?, ?, ?)', [north.tenant.id, id, placed.id]);
    return id;
  };

  /** A fresh open incident of North's about a fresh (revocable) auditor token, detected an hour ago. */
  const incidentOf = async () => {
    const suspect = await issueToken(app.orm.em.fork(), north.tenant.id, { kind: TokenKind.AUDITOR, label: 'suspect', ttlDays: 1 });
    const [{ id }] = await sql<{ id: string }>(app.orm,
      `insert into incident (id, tenant_id, description, detected_at, authority_due_at, suspect_credential_id, window_from, window_until, status, opened_at, updated_at)
       values (gen_random_uuid(), ?, 'Matrix', now() - interval '1 hour', now() + interval '71 hours', ?, now() - interval '1 day', now(), 'OPEN', now(), now())
       returning id`, [north.tenant.id, suspect.token.id]);
    return { id, suspect: suspect.token.id };
  };

  /** A fresh post in the course by the caller's target member (fresh so each call can delete its own). */
  const postBy = async (m: Member) => (await north.posts(course, m, 1))[0];

  /** How to call each root field, with targets fit for the caller. */
  const CALLS: Record<string, (caller: Caller) => Promise<Call>> = {
    'Query.viewer': async () => ({ query: '{ viewer { kind tenant { id } } }' }),
    'Query.tenant': async () => ({ query: '{ tenant { id name } }' }),
    'Query.users': async () => ({ query: '{ users(first: 50) { edges { node { id displayName } } } }' }),
    'Query.user': async () => ({ query: 'query($id: ID!) { user(id: $id) { id displayName } }', variables: { id: student.user.id } }),
    'Query.recordsOfProcessing': async () => ({ query: '{ recordsOfProcessing { controller purposes { purpose lawfulBasis } } }' }),
    'Query.auditEvents': async () => ({ query: '{ auditEvents(first: 5) { edges { node { id accessKind subjects { pseudonym } } } } }' }),
    'Query.courses': async () => ({ query: '{ courses(first: 50) { edges { node { id code } } } }' }),
    'Query.course': async () => ({ query: 'query($id: ID!) { course(id: $id) { id code } }', variables: { id: course.id } }),
    'Query.tokens': async () => ({ query: '{ tokens(first: 5) { edges { node { id kind } } } }' }),
    'Query.auditCheckpoint': async () => ({ query: '{ auditCheckpoint { treeSize root signature } }' }),
    'Query.auditInclusionProof': async () => ({
      query: 'query($e: ID!, $s: Float) { auditInclusionProof(eventId: $e, treeSize: $s) { leafIndex path } }', variables: { e: sealedEventId, s: checkpointSize },
    }),
    'Query.auditConsistencyProof': async () => ({
      query: 'query($f: Float!) { auditConsistencyProof(fromSize: $f) { path } }', variables: { f: checkpointSize },
    }),
    'Query.auditPublicKeys': async () => ({ query: '{ auditPublicKeys { keyId publicKey } }' }),
    'Query.accessSummaryReport': async () => ({ query: '{ accessSummaryReport(purpose: "account.administration") { rows { day role category events } } }' }),
    'Query.deniedAttemptsReport': async () => ({ query: '{ deniedAttemptsReport { rows { actorPseudonym operation attempts } } }' }),
    'Query.privilegedAccessReport': async () => ({ query: '{ privilegedAccessReport { rows { actorPseudonym category students } } }' }),
    'Query.disclosuresReport': async () => ({ query: '{ disclosuresReport { rows { recipient recipientName events } } }' }),
    'Query.requestComplianceReport': async () => ({ query: '{ requestComplianceReport { asOf rows { type filed onTimeShare } overdue { requestId } } }' }),
    'Query.auditChainStatusReport': async () => ({ query: '{ auditChainStatusReport { treeSize sealingLagSeconds lastVerificationOk } }' }),
    'Query.myAccessHistory': async () => ({ query: '{ myAccessHistory(first: 5) { edges { node { occurredAt categories } } } }' }),
    'Query.accessHistory': async () => ({
      query: 'query($u: ID!) { accessHistory(userId: $u, first: 5) { edges { node { occurredAt categories } } } }', variables: { u: student.user.id },
    }),
    'Mutation.createUser': async () => ({
      query: 'mutation($input: CreateUserInput!) { createUser(input: $input) { id } }',
      variables: { input: { email: `new-${Math.random().toString(36).slice(2)}@x.test`, givenName: 'New', familyName: 'Member', role: 'STUDENT' } },
    }),
    'Mutation.updateUser': async () => ({
      query: 'mutation($id: ID!) { updateUser(id: $id, input: { displayName: "Renamed" }) { id } }', variables: { id: student.user.id },
    }),
    'Mutation.deactivateUser': async () => ({
      query: 'mutation($id: ID!) { deactivateUser(id: $id) { id status } }', variables: { id: (await north.student()).user.id },
    }),
    'Mutation.updateMyProfile': async () => ({ query: 'mutation { updateMyProfile(input: { displayName: "Me" }) { id } }' }),
    'Mutation.createCourse': async () => ({
      query: 'mutation($code: String!) { createCourse(input: { code: $code, title: "New" }) { id } }',
      variables: { code: `N-${Math.random().toString(36).slice(2, 8)}` },
    }),
    'Mutation.updateCourse': async () => ({
      query: 'mutation($id: ID!) { updateCourse(id: $id, input: { title: "Algebra I" }) { id } }', variables: { id: course.id },
    }),
    'Mutation.archiveCourse': async () => ({
      query: 'mutation($id: ID!) { archiveCourse(id: $id) { id status } }', variables: { id: (await north.course()).id },
    }),
    'Mutation.enroll': async () => ({
      query: 'mutation($c: ID!, $u: ID!) { enroll(courseId: $c, userId: $u, role: STUDENT) { id } }',
      variables: { c: course.id, u: (await north.student()).user.id },
    }),
    'Mutation.unenroll': async () => {
      const fresh = await north.student();
      await north.enroll(course, fresh);
      return { query: 'mutation($c: ID!, $u: ID!) { unenroll(courseId: $c, userId: $u) }', variables: { c: course.id, u: fresh.user.id } };
    },
    'Mutation.setGrade': async () => ({
      query: 'mutation($c: ID!, $u: ID!) { setGrade(courseId: $c, userId: $u, grade: "B+") { id } }',
      variables: { c: course.id, u: student.user.id },
    }),
    'Mutation.createPost': async () => ({
      query: 'mutation($c: ID!) { createPost(courseId: $c, input: { body: "Hello" }) { id } }', variables: { c: course.id },
    }),
    'Mutation.editPost': async (c) => ({
      query: 'mutation($id: ID!) { editPost(id: $id, input: { body: "Edited" }) { id } }', variables: { id: (await postBy(victimOf(c))).id },
    }),
    'Mutation.deletePost': async (c) => ({
      query: 'mutation($id: ID!) { deletePost(id: $id) }', variables: { id: (await postBy(victimOf(c))).id },
    }),
    'Mutation.createComment': async () => ({
      query: 'mutation($p: ID!) { createComment(postId: $p, input: { body: "Nice" }) { id } }', variables: { p: (await postBy(student)).id },
    }),
    'Mutation.editComment': async (c) => {
      const comment = await north.comment(await postBy(student), victimOf(c));
      return { query: 'mutation($id: ID!) { editComment(id: $id, input: { body: "Edited" }) { id } }', variables: { id: comment.id } };
    },
    'Mutation.deleteComment': async (c) => {
      const comment = await north.comment(await postBy(student), victimOf(c));
      return { query: 'mutation($id: ID!) { deleteComment(id: $id) }', variables: { id: comment.id } };
    },
    'Mutation.react': async () => ({
      query: 'mutation($p: ID!) { react(postId: $p, kind: LIKE) { id } }', variables: { p: (await postBy(student)).id },
    }),
    'Mutation.unreact': async () => ({
      query: 'mutation($p: ID!) { unreact(postId: $p, kind: LIKE) { id } }', variables: { p: (await postBy(student)).id },
    }),
    'Mutation.issueToken': async () => ({
      query: 'mutation { issueToken(input: { kind: AUDITOR, label: "audit 2026" }) { secret token { id } } }',
    }),
    'Query.privacySettings': async () => ({ query: '{ privacySettings { responseWindowDays autoApprove } }' }),
    'Query.myDataRequests': async () => ({ query: '{ myDataRequests(first: 5) { edges { node { id status } } } }' }),
    'Query.dataRequests': async () => ({ query: '{ dataRequests(first: 5) { edges { node { id status } } } }' }),
    'Query.dataRequest': async (c) => ({
      query: 'query($id: ID!) { dataRequest(id: $id) { id status } }', variables: { id: await requestOf(victimOf(c)) },
    }),
    'Mutation.fileDataRequest': async (c) => {
      const m = memberOf(c);
      if (m) await closeRequestsOf(m);
      return { query: 'mutation { fileDataRequest(input: { type: RECTIFICATION, changes: [{ field: DISPLAY_NAME, value: "Right Name" }] }) { id status } }' };
    },
    'Mutation.approveDataRequest': async () => ({
      query: 'mutation($id: ID!) { approveDataRequest(id: $id) { id status } }', variables: { id: await requestOf(student) },
    }),
    'Mutation.rejectDataRequest': async () => ({
      query: 'mutation($id: ID!) { rejectDataRequest(id: $id, reason: "Not inaccurate") { id status } }', variables: { id: await requestOf(student) },
    }),
    'Mutation.extendDataRequest': async () => ({
      query: 'mutation($id: ID!) { extendDataRequest(id: $id, days: 30, reason: "Many records") { id dueAt } }', variables: { id: await requestOf(student) },
    }),
    'Mutation.cancelDataRequest': async (c) => ({
      query: 'mutation($id: ID!) { cancelDataRequest(id: $id) { id status } }', variables: { id: await requestOf(victimOf(c)) },
    }),
    'Mutation.retryDataRequest': async () => ({
      query: 'mutation($id: ID!) { retryDataRequest(id: $id) { id status } }', variables: { id: await requestOf(student, 'FAILED') },
    }),
    'Mutation.liftRestriction': async () => {
      // A restriction in force on a member nobody else's test depends on seeing.
      const bystander = await north.student();
      const id = await requestOf(bystander, 'COMPLETED', 'RESTRICTION');
      await sql(app.orm, "insert into processing_restriction (tenant_id, user_id, reason, request_id) values (?, ?, 'REQUEST', ?)",
        [bystander.user.tenantId, bystander.user.id, id]);
      return { query: 'mutation($id: ID!) { liftRestriction(id: $id, reason: "Accuracy confirmed") { id liftedAt } }', variables: { id } };
    },
    'Query.erasurePlan': async (c) => ({
      query: 'query($s: ID) { erasurePlan(subjectId: $s) { graceDays entries { coordinate action } rows { posts } } }', variables: { s: victimOf(c).user.id },
    }),
    'Query.legalHolds': async () => ({ query: '{ legalHolds { id reason } }' }),
    'Mutation.placeLegalHold': async () => ({
      query: 'mutation($u: ID!) { placeLegalHold(userId: $u, reason: "Litigation pending") { id } }', variables: { u: student.user.id },
    }),
    'Mutation.releaseLegalHold': async () => {
      const [{ id }] = await sql<{ id: string }>(app.orm,
        "insert into legal_hold (id, tenant_id, user_id, reason) values (gen_random_uuid(), ?, ?, 'Audit') returning id", [north.tenant.id, student.user.id]);
      return { query: 'mutation($id: ID!) { releaseLegalHold(id: $id, reason: "Closed") { id releasedAt } }', variables: { id } };
    },
    'Query.retentionSchedule': async () => ({ query: '{ retentionSchedule { category period overridden } }' }),
    'Mutation.setRetentionPeriod': async () => ({ query: 'mutation { setRetentionPeriod(category: "user.content.private", period: "Two years") { period } }' }),
    'Query.recipientNotices': async () => ({ query: '{ recipientNotices { id recipient categories } }' }),
    'Mutation.markNoticeSent': async () => {
      const requestId = await requestOf(student, 'COMPLETED');
      const [{ id }] = await sql<{ id: string }>(app.orm,
        `insert into recipient_notice (id, tenant_id, request_id, credential_id, recipient, reason, categories, last_received_at)
         values (gen_random_uuid(), ?, ?, 'cred', 'SIS', 'RECTIFICATION', '{user.name}', now()) returning id`, [north.tenant.id, requestId]);
      return { query: 'mutation($id: ID!) { markNoticeSent(id: $id) { id sentAt } }', variables: { id } };
    },
    'Mutation.importRoster': async () => ({
      query: `mutation($files: [RosterFileInput!]) { importRoster(input: { files: $files, dryRun: true }) { applied errorCount } }`,
      variables: { files: [{ name: 'manifest.csv', content: 'propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\n' }] },
    }),
    'Query.ltiTools': async () => ({ query: '{ ltiTools { id name clientId courses { id } } }' }),
    'Mutation.registerLtiTool': async () => ({
      query: 'mutation($i: RegisterLtiToolInput!) { registerLtiTool(input: $i) { id } }',
      variables: { i: { name: `Tool ${Math.random()}`, clientId: `c-${Math.random()}`, launchUrl: 'https://tool.example/l', privacyLevel: 'ANONYMOUS' } },
    }),
    'Mutation.updateLtiTool': async () => ({
      query: 'mutation($id: ID!) { updateLtiTool(id: $id, input: { privacyLevel: PUBLIC }) { id privacyLevel } }', variables: { id: await toolIn(null) },
    }),
    'Mutation.attachLtiTool': async () => ({
      query: 'mutation($t: ID!, $c: ID!) { attachLtiTool(toolId: $t, courseId: $c) { id } }', variables: { t: await toolIn(null), c: course.id },
    }),
    'Mutation.detachLtiTool': async () => ({
      query: 'mutation($t: ID!, $c: ID!) { detachLtiTool(toolId: $t, courseId: $c) { id } }', variables: { t: await toolIn(course), c: course.id },
    }),
    'Mutation.launchLtiTool': async () => ({
      query: 'mutation($t: ID!, $c: ID!) { launchLtiTool(toolId: $t, courseId: $c, nonce: "matrix-nonce") { idToken } }',
      variables: { t: await toolIn(course), c: course.id },
    }),
    'Mutation.updatePrivacySettings': async () => ({
      query: 'mutation { updatePrivacySettings(input: { responseWindowDays: 30 }) { responseWindowDays } }',
    }),
    'Query.incidents': async () => ({ query: '{ incidents(first: 5) { edges { node { id overdue impact { subjectCount } } } } }' }),
    'Query.incident': async () => ({
      query: 'query($id: ID!) { incident(id: $id) { id impact { subjectCount categories { category subjects } } affectedSubjects(first: 5) { edges { node { pseudonym } } } } }',
      variables: { id: (await incidentOf()).id },
    }),
    'Mutation.openIncident': async () => ({
      query: 'mutation($i: OpenIncidentInput!) { openIncident(input: $i) { id authorityDueAt } }',
      variables: { i: {
        detectedAt: new Date().toISOString(), description: 'Matrix', suspect: { credentialId: (await incidentOf()).suspect },
        windowFrom: new Date(Date.now() - 86_400_000).toISOString(), windowUntil: new Date().toISOString(),
      } },
    }),
    'Mutation.updateIncident': async () => ({
      query: 'mutation($id: ID!) { updateIncident(id: $id, input: { description: "Refined" }) { id } }', variables: { id: (await incidentOf()).id },
    }),
    'Mutation.recordAuthorityNotification': async () => ({
      query: 'mutation($id: ID!, $at: DateTimeISO!) { recordAuthorityNotification(id: $id, input: { notifiedAt: $at, authority: "DPA", method: "Form" }) { id } }',
      variables: { id: (await incidentOf()).id, at: new Date().toISOString() },
    }),
    'Mutation.recordSubjectNotification': async () => ({
      query: 'mutation($id: ID!, $at: DateTimeISO!) { recordSubjectNotification(id: $id, input: { notifiedAt: $at, subjectCount: 2, recipients: "Students", method: "Email" }) { id } }',
      variables: { id: (await incidentOf()).id, at: new Date().toISOString() },
    }),
    'Mutation.recordNotificationDelay': async () => ({
      query: 'mutation($id: ID!) { recordNotificationDelay(id: $id, reason: "Still investigating") { id } }', variables: { id: (await incidentOf()).id },
    }),
    'Mutation.revokeIncidentCredential': async () => ({
      query: 'mutation($id: ID!) { revokeIncidentCredential(id: $id) { id revokedTokenCount } }', variables: { id: (await incidentOf()).id },
    }),
    'Mutation.closeIncident': async () => ({
      query: 'mutation($id: ID!) { closeIncident(id: $id, summary: "Contained") { id status } }', variables: { id: (await incidentOf()).id },
    }),
    'Mutation.revokeToken': async () => {
      const t = await issueToken(app.orm.em.fork(), north.tenant.id, { kind: TokenKind.AUDITOR, label: 'to revoke', ttlDays: 1 });
      return { query: 'mutation($id: ID!) { revokeToken(id: $id) { id revokedAt } }', variables: { id: t.token.id } };
    },
  };

  const rootFields = () => [schema.getQueryType()!, schema.getMutationType()!]
    .flatMap((type) => Object.keys(type.getFields()).map((f) => `${type.name}.${f}`));

  it('has an expectation and a call for every root field of the schema, and nothing else', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual(rootFields().sort());
    expect(Object.keys(CALLS).sort()).toEqual(rootFields().sort());
  });

  it('gives every field of every object type an explicit rule (nothing rests on the deny fallback)', () => {
    const missing: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (!isObjectType(type) || type.name.startsWith('__')) continue;
      const rules = (ruleTree as Record<string, Record<string, unknown>>)[type.name];
      for (const field of Object.keys(type.getFields())) {
        if (!rules || !(field in rules || '*' in rules)) missing.push(`${type.name}.${field}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('skips per-row checks only where every path into the type already made them, and never skips a row rule', () => {
    const held = guaranteedOnEntry(schema);
    // Tenant is reachable through viewer, which every principal may read: nothing stronger holds there.
    expect([...held.get('Tenant')!]).toEqual([isAuthenticated]);
    expect(held.get('User')!.has(readsDirectory)).toBe(true);
    expect(held.get('User')!.has(isMember)).toBe(false); // roster:read services reach members too
    expect(held.get('Post')!.has(isMember)).toBe(true);
    const wrapped = permissionsFor(schema) as Record<string, Record<string, unknown>>;
    for (const [typeName, fields] of Object.entries(ruleTree as Record<string, Record<string, unknown>>)) {
      for (const [field, r] of Object.entries(fields)) {
        if (r === seesPrivateProfile || r === seesGrade) expect(`${typeName}.${field} wrapped: ${field in (wrapped[typeName] ?? {})}`).toBe(`${typeName}.${field} wrapped: true`);
      }
    }
    for (const root of ['Query', 'Mutation']) {
      expect(Object.keys(wrapped[root]).sort()).toEqual(Object.keys((schema.getType(root) as never as { getFields(): object }).getFields()).sort());
    }
  });

  it('makes every redacted field nullable, so a denial never wipes the list around it', () => {
    for (const coordinate of REDACTED_WHEN_DENIED) {
      const [typeName, field] = coordinate.split('.');
      const type = schema.getType(typeName);
      expect(isObjectType(type)).toBe(true);
      const fieldType = (type as { getFields(): Record<string, { type: unknown }> }).getFields()[field]?.type;
      expect(fieldType).toBeDefined();
      expect(String(fieldType).endsWith('!')).toBe(false);
      expect(getNamedType(fieldType as never)).toBeDefined();
    }
  });

  describe.each(Object.keys(EXPECTED))('%s', (coordinate) => {
    it.each(CALLERS.map((caller, i) => [caller, i] as const))('%s', async (caller, i) => {
      const expected = EXPECTED[coordinate][i];
      const call = await CALLS[coordinate](caller);
      const res = await app.gql(call.query, call.variables, tokens[caller]);
      if (expected === 'ok') {
        expect(res.errors).toBeUndefined();
        expect(res.data).toBeTruthy();
      } else {
        expect(codes(res)).toEqual([expected]);
        // Nothing comes back: no data at all, or null for a nullable root field.
        expect(Object.values(res.data ?? {}).every((v) => v === null)).toBe(true);
      }
    });
  });

  describe('which rows and fields come back', () => {
    // Restrictions the liftRestriction calls above left in force (on bystanders) would hide those members here.
    beforeAll(() => sql(app.orm, 'delete from processing_restriction'));
    const rosterQuery = `query($id: ID!) { course(id: $id) { roster(first: 50) { edges { node {
      role finalGrade user { id displayName email studentNumber givenName } } } } } }`;
    type RosterRow = { role: string; finalGrade: string | null; user: { id: string; displayName: string; email: string | null; studentNumber: string | null; givenName: string | null } };
    const roster = async (token: string | null) => {
      await sql(app.orm, 'update enrollment set final_grade = ? where course_id = ? and user_id = ?', ['A', course.id, student.user.id]);
      await sql(app.orm, 'update enrollment set final_grade = ? where course_id = ? and user_id = ?', ['C', course.id, anotherStudent.user.id]);
      const res = await app.gql<{ course: { roster: { edges: { node: RosterRow }[] } } }, { id: string }>(rosterQuery, { id: course.id }, token);
      expect(res.errors).toBeUndefined();
      return new Map(res.data!.course.roster.edges.map((e) => [e.node.user.id, e.node]));
    };
    const userIds = async (token: string | null) => {
      const res = await app.gql<{ users: { edges: { node: { id: string } }[] } }, object>('{ users(first: 100) { edges { node { id } } } }', {}, token);
      expect(res.errors).toBeUndefined();
      return new Set(res.data!.users.edges.map((e) => e.node.id));
    };

    it('a student sees classmates\' display names only, and only their own grade', async () => {
      const rows = await roster(student.token);
      const self = rows.get(student.user.id)!;
      const classmate = rows.get(anotherStudent.user.id)!;
      const teacher = rows.get(instructor.user.id)!;
      expect(self).toMatchObject({ finalGrade: 'A', user: { email: student.user.email, studentNumber: student.user.studentNumber } });
      // Display names as they are now (the matrix above renamed people through updateMyProfile).
      const names = new Map((await sql<{ id: string; display_name: string }>(app.orm, 'select id, display_name from app_user where tenant_id = ?', [north.tenant.id]))
        .map((r) => [r.id, r.display_name]));
      expect(classmate).toMatchObject({ finalGrade: null, user: { displayName: names.get(anotherStudent.user.id), email: null, studentNumber: null, givenName: null } });
      expect(teacher.user).toMatchObject({ displayName: names.get(instructor.user.id), email: null });
    });

    it('the course\'s instructor sees students\' emails, numbers and grades; admins see everyone\'s', async () => {
      for (const token of [instructor.token, admin.token]) {
        const rows = await roster(token);
        expect(rows.get(student.user.id)).toMatchObject({ finalGrade: 'A', user: { email: student.user.email, studentNumber: student.user.studentNumber } });
        expect(rows.get(anotherStudent.user.id)).toMatchObject({ finalGrade: 'C', user: { email: anotherStudent.user.email } });
      }
    });

    it('a roster:read service sees the directory (emails, student numbers) but never grades', async () => {
      const rows = await roster(tokens.service);
      expect(rows.get(student.user.id)).toMatchObject({ finalGrade: null, user: { email: student.user.email, studentNumber: student.user.studentNumber } });
      const feed = await app.gql(`query($id: ID!) { course(id: $id) { posts(first: 5) { edges { node { id } } } } }`, { id: course.id }, tokens.service);
      expect(codes(feed)).toEqual([F]);
    });

    it('users: admins and services list everyone; instructors their students; students themselves and classmates', async () => {
      const everyone = new Set((await sql<{ id: string }>(app.orm, 'select id from app_user where tenant_id = ?', [north.tenant.id])).map((r) => r.id));
      expect(await userIds(admin.token)).toEqual(everyone);
      expect(await userIds(tokens.service)).toEqual(everyone);
      const taught = new Set((await sql<{ user_id: string }>(app.orm,
        "select user_id from enrollment where course_id = ? and role = 'STUDENT'", [course.id])).map((r) => r.user_id));
      expect(await userIds(instructor.token)).toEqual(taught);
      const mine = await userIds(student.token);
      expect(mine.has(student.user.id) && mine.has(anotherStudent.user.id) && mine.has(instructor.user.id)).toBe(true);
      expect(mine.has(otherInstructor.user.id)).toBe(false);
      expect([...mine].every((id) => everyone.has(id))).toBe(true);
      const foreign = await userIds(foreignAdmin.token);
      expect([...foreign].some((id) => everyone.has(id))).toBe(false);
    });

    it('an auditor reads its viewer and the audit trail, nothing else, and has no member behind it', async () => {
      const res = await app.gql('{ viewer { kind role user { id } scopes tenant { id } } }', {}, tokens.auditor);
      expect(res.errors).toBeUndefined();
      expect(res.data).toEqual({ viewer: { kind: 'AUDITOR', role: null, user: null, scopes: [], tenant: { id: north.tenant.id } } });
    });

    it('a read-only credential is refused at the door, before any resolver runs', async () => {
      const before = await sql(app.orm, 'select id, display_name, updated_at from app_user where tenant_id = ? order by id', [north.tenant.id]);
      const readOnly = await issueToken(app.orm.em.fork(), north.tenant.id, { kind: TokenKind.SERVICE, scopes: ['roster:read'], label: 'reader', ttlDays: 1 });
      for (const token of [tokens.auditor, readOnly.secret]) {
        const res = await app.gql('mutation { updateMyProfile(input: { displayName: "Nope" }) { id } createCourse(input: { code: "X", title: "Y" }) { id } }', {}, token);
        expect(res.status).toBe(403);
        expect(codes(res)).toEqual([F]); // one error for the whole operation, not one per field
        expect(res.data ?? null).toBeNull();
      }
      expect(await sql(app.orm, 'select id, display_name, updated_at from app_user where tenant_id = ? order by id', [north.tenant.id])).toEqual(before);
    });
  });

  it('the README\'s access matrix says what the server does', () => {
    const readme = readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');
    const header = readme.split('\n').find((l) => /^\|\s*operation\s*\|/i.test(l));
    expect(header).toBeDefined();
    const columns = header!.split('|').map((c) => c.trim()).filter(Boolean);
    const rows = new Map<string, string[]>();
    for (const line of readme.split('\n')) {
      const m = /^\|\s*`(query|mutation) (\w+)`\s*\|(.*)\|\s*$/.exec(line);
      if (m) rows.set(`${m[1] === 'query' ? 'Query' : 'Mutation'}.${m[2]}`, m[3].split('|').map((c) => c.trim()));
    }
    expect([...rows.keys()].sort()).toEqual(Object.keys(EXPECTED).sort());
    for (const [coordinate, cells] of rows) {
      for (const [column, caller] of README_COLUMNS) {
        const index = columns.findIndex((c) => c.toUpperCase().startsWith(column)) - 1;
        expect(index).toBeGreaterThanOrEqual(0);
        const saysAllowed = cells[index].startsWith('✓');
        const allowed = EXPECTED[coordinate][CALLERS.indexOf(caller)] === 'ok';
        expect(`${coordinate} for ${column}: ${saysAllowed ? 'allowed' : 'refused'}`).toBe(`${coordinate} for ${column}: ${allowed ? 'allowed' : 'refused'}`);
      }
    }
  });
});
