import { generateKeyPairSync, verify } from 'node:crypto';
import pino from 'pino';
import { codes, startTestApp, type TestApp } from '../support/harness';
import { seedTenant, sql, type Member, type SeededTenant } from '../support/seed';
import { sealEverything } from '../support/audit';
import { JobRunner, type JobHandlers } from '../../src/jobs/queue';
import { jobHandlers } from '../../src/jobs/handlers';
import { makeDsrJobs } from '../../src/modules/dsr/dsr.jobs';
import { ERASURE_STEPS, receiptSignedBytes, type ErasureStep } from '../../src/modules/dsr/erasure';
import { publishSigningKey } from '../../src/audit/sealer';
import { publicKeyFromRaw, signingKeyFromPem } from '../../src/audit/checkpoint';
import { verifyAuditLog } from '../../src/audit/verify';
import { privacyRegistry } from '../../src/privacy/registry';
import { buildBareSchema } from '../../src/schema/build';
import type { Course } from '../../src/modules/course/course.entity';
import { issueToken } from '../../src/modules/token/token.service';
import { TokenKind } from '../../src/modules/token/api-token.entity';

const DAY = 86_400_000;
const key = signingKeyFromPem(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);

/** Erasure: the dry run, restriction at approval, the purge after the grace period, legal holds, crash and resume. */
describe('erasure', () => {
  let app: TestApp;
  let school: SeededTenant;
  let admin: Member;
  let teacher: Member;
  let classmate: Member;
  let course: Course;
  let clock = Date.now();
  const now = () => new Date(clock);
  const runner = (handlers: JobHandlers = jobHandlers) =>
    new JobRunner({ owner: app.orm, work: app.appOrm, handlers, log: pino({ level: 'silent' }), signingKey: key, now });

  beforeAll(async () => {
    app = await startTestApp();
    await publishSigningKey(app.orm.em.fork(), key);
    school = await seedTenant(app.orm, 'Forgetful');
    admin = await school.admin();
    teacher = await school.instructor();
    classmate = await school.student({ givenName: 'Carla', familyName: 'Classmate' });
    course = await school.course('History');
    await school.enroll(course, teacher);
    await school.enroll(course, classmate);
  });
  afterAll(() => app.close());

  /** A student with a bit of everything: posts (one with a classmate's reply), a comment and a reaction on the classmate's post, a grade. */
  const studentWithData = async (fields: Parameters<SeededTenant['student']>[0] = {}) => {
    const m = await school.student(fields);
    await school.enroll(course, m);
    const [own] = await school.posts(course, m, 2);
    await school.comment(own, classmate, 'Reply from Carla');
    const [theirs] = await school.posts(course, classmate, 1);
    await school.comment(theirs, m, 'My comment');
    await school.react(theirs, m);
    await sql(app.orm, "update enrollment set final_grade = 'A-', graded_at = now() where course_id = ? and user_id = ?", [course.id, m.user.id]);
    return m;
  };

  const fileAndApprove = async (m: Member) => {
    const filed = await app.gql<{ fileDataRequest: { id: string } }, object>('mutation { fileDataRequest(input: { type: ERASURE }) { id } }', {}, m.token);
    expect(filed.errors).toBeUndefined();
    const id = filed.data!.fileDataRequest.id;
    const approved = await app.gql<{ approveDataRequest: { status: string; purgeAfter: string } }, object>(
      'mutation($id: ID!) { approveDataRequest(id: $id) { status purgeAfter } }', { id }, admin.token);
    expect(approved.errors).toBeUndefined();
    return { id, purgeAfter: approved.data!.approveDataRequest.purgeAfter };
  };

  const request = async (id: string) => (await app.gql<{ dataRequest: { status: string; heldSince: string | null; history: { status: string }[];
    receipt: { body: string; keyId: string; signature: string } | null } }, object>(
    'query($id: ID!) { dataRequest(id: $id) { status heldSince history { status } receipt { body keyId signature } } }', { id }, admin.token)).data!.dataRequest;

  /** Everything erasure decides about, in a form two runs can be compared by. */
  const stateOf = async (m: Member, requestId: string) => {
    const [user] = await sql<Record<string, unknown>>(app.orm,
      `select given_name, family_name, display_name, email = 'erased-' || id || '@erased.invalid' as email_scrubbed, student_number, avatar_url,
              status, erased_at is not null as erased from app_user where id = ?`, [m.user.id]);
    const [counts] = await sql<Record<string, string>>(app.orm,
      `select (select count(*) from post where author_id = ?) as posts, (select count(*) from comment where author_id = ?) as comments,
              (select count(*) from reaction where user_id = ?) as reactions, (select count(*) from enrollment where user_id = ?) as enrollments,
              (select count(*) from enrollment where user_id = ? and final_grade = 'A-') as grades,
              (select count(*) from api_token where user_id = ? and revoked_at is not null and label = 'erased') as tokens_scrubbed,
              (select count(*) from api_token where user_id = ?) as tokens,
              (select count(*) from subject_key where user_id = ?) as subject_keys,
              (select count(*) from erasure_receipt where request_id = ?) as receipts`,
      [m.user.id, m.user.id, m.user.id, m.user.id, m.user.id, m.user.id, m.user.id, m.user.id, requestId]);
    const [req] = await sql<{ status: string; progress: unknown; statuses: string[] }>(app.orm,
      "select status, progress, array(select h->>'status' from jsonb_array_elements(history) h) as statuses from data_subject_request where id = ?", [requestId]);
    const [receipt] = await sql<{ body: string }>(app.orm, 'select body from erasure_receipt where request_id = ?', [requestId]);
    const body = receipt ? JSON.parse(receipt.body) as Record<string, unknown> : null;
    return { user, counts, req, receipt: body && { ...body, requestId: 'R', filedAt: 'T', approvedAt: 'T', erasedAt: 'T' } };
  };

  it('the dry run lists every classified field with its fate and counts the rows, changing nothing', async () => {
    const zoe = await studentWithData();
    const res = await app.gql<{ erasurePlan: { graceDays: number; activeLegalHolds: number;
      entries: { coordinate: string; category: string; action: string; legalBasis: string | null }[]; rows: Record<string, number> } }, object>(
      '{ erasurePlan { graceDays activeLegalHolds entries { coordinate category action legalBasis } rows { posts comments reactions enrollments grades tokens requests } } }',
      {}, zoe.token);
    expect(res.errors).toBeUndefined();
    const plan = res.data!.erasurePlan;
    const registry = privacyRegistry(await buildBareSchema());
    const coordinates = new Set(plan.entries.map((e) => e.coordinate));
    expect(registry.personalFields().map((f) => f.coordinate).filter((c) => !coordinates.has(c))).toEqual([]);
    for (const e of plan.entries) expect(`${e.coordinate}: ${e.action} ${e.legalBasis ? 'with' : 'without'} basis`).toBe(
      `${e.coordinate}: ${e.action} ${e.action === 'RETAIN' ? 'with' : 'without'} basis`);
    expect(plan.entries.find((e) => e.coordinate === 'User.email')!.action).toBe('SCRUB');
    expect(plan.entries.find((e) => e.coordinate === 'Enrollment.finalGrade')!.action).toBe('RETAIN');
    expect(plan.rows).toEqual({ posts: 2, comments: 1, reactions: 1, enrollments: 1, grades: 1, tokens: 1, requests: 0 });
    expect(plan).toMatchObject({ graceDays: 30, activeLegalHolds: 0 });
    // Others' plans are an administrator's business.
    expect(codes(await app.gql('query($s: ID) { erasurePlan(subjectId: $s) { graceDays } }', { s: zoe.user.id }, classmate.token))).toEqual(['FORBIDDEN']);
    expect((await app.gql('query($s: ID) { erasurePlan(subjectId: $s) { graceDays } }', { s: zoe.user.id }, admin.token)).errors).toBeUndefined();
    expect((await stateOf(zoe, '00000000-0000-4000-8000-000000000000')).user).toMatchObject({ erased: false, status: 'ACTIVE' });
  });

  it('approval restricts at once; after the grace period everything is scrubbed or deleted per policy, with a signed receipt', async () => {
    const zoe = await studentWithData({ givenName: 'Zoe', familyName: 'Zimmer', email: 'zoe.zimmer@forgetful.test', studentNumber: 'Z-42' });
    // Zoe's history so far: her pseudonym and how many events name her. An integration received her email.
    await app.gql('{ viewer { user { email } } }', {}, zoe.token);
    const sis = await issueToken(app.orm.em.fork(), school.tenant.id, { kind: TokenKind.SERVICE, scopes: ['roster:read'], label: 'District SIS', ttlDays: 1 });
    expect((await app.gql('query($id: ID!) { user(id: $id) { email } }', { id: zoe.user.id }, sis.secret)).errors).toBeUndefined();
    const [{ pseudonym }] = await sql<{ pseudonym: string }>(app.orm, 'select pseudonym from subject_key where user_id = ?', [zoe.user.id]);
    const { id, purgeAfter } = await fileAndApprove(zoe);
    expect(Date.parse(purgeAfter) - Date.now()).toBeGreaterThan(29 * DAY);

    // At once: her token no longer works, classmates and her teacher no longer see her or her posts; admins do.
    expect(codes(await app.gql('{ viewer { kind } }', {}, zoe.token))).toEqual(['UNAUTHENTICATED']);
    const feed = async (token: string) => (await app.gql<{ course: { posts: { edges: { node: { author: { id: string } } }[] } } }, object>(
      'query($c: ID!) { course(id: $c) { posts(first: 100) { edges { node { author { id } } } } } }', { c: course.id }, token))
      .data!.course.posts.edges.filter((e) => e.node.author.id === zoe.user.id).length;
    expect(await feed(classmate.token)).toBe(0);
    expect(await feed(teacher.token)).toBe(0);
    expect(await feed(admin.token)).toBe(2);

    // Before the grace period ends nothing is purged.
    expect(await runner().runDue()).toEqual({ done: 0, retried: 0, dead: 0 });
    expect((await stateOf(zoe, id)).counts.posts).toBe('2');
    clock = Date.now() + 31 * DAY;
    expect(await runner().runDue()).toEqual({ done: 1, retried: 0, dead: 0 });

    const after = await stateOf(zoe, id);
    expect(after.user).toEqual({
      given_name: 'Erased member', family_name: 'Erased member', display_name: 'Erased member', email_scrubbed: true,
      student_number: null, avatar_url: null, status: 'DEACTIVATED', erased: true,
    });
    expect(after.counts).toEqual({ posts: '0', comments: '0', reactions: '0', enrollments: '1', grades: '1', tokens_scrubbed: '1', tokens: '1', subject_keys: '0', receipts: '1' });
    expect(after.req).toMatchObject({ status: 'COMPLETED', statuses: ['SUBMITTED', 'APPROVED', 'IN_PROGRESS', 'COMPLETED'] });
    // The classmate's reply in Zoe's thread went with it; the classmate's own post stays.
    expect(Number((await sql<{ n: string }>(app.orm, 'select count(*) as n from post where author_id = ?', [classmate.user.id]))[0].n)).toBeGreaterThan(0);

    // The log keeps every event about her, verifiable, but nothing links the pseudonym to anyone any more.
    const events = await sql<{ n: string }>(app.orm, 'select count(*) as n from access_event_subject where pseudonym = ?', [pseudonym]);
    expect(Number(events[0].n)).toBeGreaterThan(5);
    expect(await sql(app.orm, 'select 1 from subject_key where pseudonym = ?', [pseudonym])).toEqual([]);
    await sealEverything(app.orm, key);
    const report = await verifyAuditLog(app.orm, { trustedKeys: [key.publicKeyRaw], maxUnsealedAgeMs: DAY, tenantIds: [school.tenant.id] });
    expect(report.failures).toEqual([]);

    // The receipt: signed, and free of personal data.
    const { receipt } = await request(id);
    expect(receipt).not.toBeNull();
    expect(verify(null, receiptSignedBytes(receipt!.body), publicKeyFromRaw(key.publicKeyRaw), Buffer.from(receipt!.signature, 'base64'))).toBe(true);
    expect(receipt!.body).not.toMatch(/Zoe|Zimmer|zoe\.zimmer|Z-42/);
    expect(receipt!.body).not.toContain(zoe.user.id);
    expect(JSON.parse(receipt!.body)).toMatchObject({
      format: 'custos.erasure-receipt.v1', requestId: id, removed: { posts: 2, comments: 1, reactions: 1, tokens: 1 }, recipientsNotified: 1,
    });
    // Art. 19: the integration that received her data is owed a notice.
    const notices = await app.gql<{ recipientNotices: { requestId: string; recipient: string; reason: string; categories: string[] }[] }, object>(
      '{ recipientNotices { requestId recipient reason categories } }', {}, admin.token);
    expect(notices.data!.recipientNotices.filter((n) => n.requestId === id)).toEqual([
      { requestId: id, recipient: 'District SIS', reason: 'ERASURE', categories: ['user.contact.email'] },
    ]);
    // Nobody else was touched.
    expect((await sql(app.orm, "select 1 from app_user where id = ? and given_name = 'Carla'", [classmate.user.id])).length).toBe(1);
  });

  it('a legal hold stops the purge, with the reason on record; releasing it lets the purge run', async () => {
    const yan = await studentWithData();
    const hold = await app.gql<{ placeLegalHold: { id: string } }, object>(
      'mutation($u: ID!) { placeLegalHold(userId: $u, reason: "Pending litigation: preserve all records") { id } }', { u: yan.user.id }, admin.token);
    expect(hold.errors).toBeUndefined();
    const { id } = await fileAndApprove(yan);
    clock = Date.now() + 31 * DAY;
    await runner().runDue();
    const held = await request(id);
    expect(held.status).toBe('APPROVED');
    expect(held.heldSince).not.toBeNull();
    expect((await stateOf(yan, id)).counts).toMatchObject({ posts: '2', subject_keys: '1', receipts: '0' });
    const holds = await app.gql<{ legalHolds: { reason: string; subject: { id: string } }[] }, object>(
      'query($u: ID) { legalHolds(userId: $u, activeOnly: true) { reason subject { id } } }', { u: yan.user.id }, admin.token);
    expect(holds.data!.legalHolds).toEqual([{ reason: 'Pending litigation: preserve all records', subject: { id: yan.user.id } }]);

    const released = await app.gql('mutation($id: ID!) { releaseLegalHold(id: $id, reason: "Case closed") { releasedAt } }', { id: hold.data!.placeLegalHold.id }, admin.token);
    expect(released.errors).toBeUndefined();
    expect(codes(await app.gql('mutation($id: ID!) { releaseLegalHold(id: $id, reason: "again") { id } }', { id: hold.data!.placeLegalHold.id }, admin.token)))
      .toEqual(['BAD_USER_INPUT']);
    await runner().runDue();
    expect((await request(id)).status).toBe('COMPLETED');
    expect((await stateOf(yan, id)).counts).toMatchObject({ posts: '0', subject_keys: '0', receipts: '1' });
  });

  it('inactive accounts are erased under the tenant\'s policy, through the ordinary erasure; active ones and administrators are kept', async () => {
    const dormant = await seedTenant(app.orm, 'Dormant');
    const head = await dormant.admin();
    const idleAdmin = await dormant.admin();
    const active = await dormant.student();
    const idle = await dormant.student();
    const longAgo = new Date(clock - 200 * DAY);
    await sql(app.orm, 'update app_user set created_at = ? where id = any(?::uuid[])', [longAgo, `{${[active.user.id, idle.user.id, idleAdmin.user.id].join(',')}}`]);
    await sql(app.orm, 'update api_token set last_used_at = ? where user_id = ?', [new Date(clock - DAY), active.user.id]);
    await sql(app.orm, 'update api_token set last_used_at = null where user_id = ?', [idle.user.id]);

    expect(codes(await app.gql('mutation { updatePrivacySettings(input: { inactiveAccountDays: 10 }) { inactiveAccountDays } }', {}, head.token)))
      .toEqual(['BAD_USER_INPUT']);
    const set = await app.gql<{ updatePrivacySettings: { inactiveAccountDays: number } }, object>(
      'mutation { updatePrivacySettings(input: { inactiveAccountDays: 90 }) { inactiveAccountDays } }', {}, head.token);
    expect(set.data!.updatePrivacySettings.inactiveAccountDays).toBe(90);
    await runner().runDue();

    const erasures = await sql<{ subject_id: string; status: string; filed_on_behalf: boolean; statuses: string[]; bys: string[] }>(app.orm,
      `select subject_id, status, filed_on_behalf, array(select h->>'status' from jsonb_array_elements(history) h) as statuses,
              array(select h->>'by' from jsonb_array_elements(history) h) as bys
         from data_subject_request where tenant_id = ? and type = 'ERASURE'`, [dormant.tenant.id]);
    expect(erasures).toEqual([{ subject_id: idle.user.id, status: 'APPROVED', filed_on_behalf: true, statuses: ['SUBMITTED', 'APPROVED'], bys: ['SYSTEM', 'SYSTEM'] }]);
    expect(codes(await app.gql('{ viewer { kind } }', {}, idle.token))).toEqual(['UNAUTHENTICATED']);
    expect((await app.gql('{ viewer { kind } }', {}, active.token)).errors).toBeUndefined();
    // The sweep waits for tomorrow, and does not file twice.
    const [sweep] = await sql<{ run_at: Date; finished_at: Date | null }>(app.orm,
      "select run_at, finished_at from job where tenant_id = ? and kind = 'retention.inactive_accounts'", [dormant.tenant.id]);
    expect(sweep.finished_at).toBeNull();
    expect(new Date(sweep.run_at).getTime()).toBeGreaterThan(clock + DAY / 2);
    clock += 2 * DAY;
    await runner().runDue();
    expect(await sql(app.orm, "select 1 from data_subject_request where tenant_id = ? and type = 'ERASURE'", [dormant.tenant.id])).toHaveLength(1);
    // Turning the policy off ends the sweep at its next run.
    await app.gql('mutation { updatePrivacySettings(input: { inactiveAccountDays: 0 }) { inactiveAccountDays } }', {}, head.token);
    clock += 2 * DAY;
    await runner().runDue();
    expect((await sql<{ outcome: string }>(app.orm, "select outcome from job where tenant_id = ? and kind = 'retention.inactive_accounts'", [dormant.tenant.id]))[0].outcome)
      .toBe('DONE');
  });

  describe('a crash at any point, then a rerun, ends exactly like an uninterrupted run', () => {
    let reference: Awaited<ReturnType<typeof stateOf>>;

    beforeAll(async () => {
      await app.gql('mutation { updatePrivacySettings(input: { erasureGraceDays: 0 }) { erasureGraceDays } }', {}, admin.token);
      const m = await studentWithData();
      const { id } = await fileAndApprove(m);
      await runner().runDue();
      reference = await stateOf(m, id);
      expect(reference.req.status).toBe('COMPLETED');
    });

    it.each(ERASURE_STEPS.map((s) => [s]))('inside step "%s" (its transaction rolls back), then a retry', async (step) => {
      const m = await studentWithData();
      const { id } = await fileAndApprove(m);
      let crashed = false;
      const crashing = { ...jobHandlers, ...makeDsrJobs({ afterStep: (s: ErasureStep) => { if (s === step && !crashed) { crashed = true; throw new Error(`crash in ${s}`); } } }) };
      expect((await runner(crashing).runDue()).retried).toBe(1);
      expect(crashed).toBe(true);
      clock += 3_600_000; // past the retry's backoff
      await runner().runDue();
      expect(await stateOf(m, id)).toEqual(reference);
    });

    it.each(ERASURE_STEPS.slice(0, -1).map((s, i) => [s, i + 1]))('after step "%s" (the process dies between steps), then a new worker', async (_step, stepsRun) => {
      const m = await studentWithData();
      const { id } = await fileAndApprove(m);
      await runner().runDue(stepsRun); // one job run per step, then this worker is gone
      const mid = (await sql<{ status: string }>(app.orm, 'select status from data_subject_request where id = ?', [id]))[0].status;
      expect(mid).toBe('IN_PROGRESS');
      await runner().runDue();
      expect(await stateOf(m, id)).toEqual(reference);
    });
  });
});
