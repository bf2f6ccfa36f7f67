import pino from 'pino';
import { codes, startTestApp, type TestApp } from '../support/harness';
import { seedTenant, sql, type Member, type SeededTenant } from '../support/seed';
import { JobRunner } from '../../src/jobs/queue';
import { jobHandlers } from '../../src/jobs/handlers';
import { COMPLAINT_NOTICE } from '../../src/modules/dsr/dsr.resolver';
import { loadPrivacySettings } from '../../src/modules/dsr/privacy-settings';
import { issueToken } from '../../src/modules/token/token.service';
import { TokenKind } from '../../src/modules/token/api-token.entity';

const DAY = 86_400_000;

const REQUEST_FIELDS = `id type status filedOnBehalf note filedAt dueAt extendedAt extensionDays extensionReason decidedAt rejectionReason
  startedAt completedAt cancelledAt failedAt failure overdue complaintNotice
  subject { id } changes { field before after } history { status by at }`;

interface RequestView {
  id: string; type: string; status: string; filedOnBehalf: boolean; note: string | null; filedAt: string; dueAt: string;
  extendedAt: string | null; extensionDays: number | null; extensionReason: string | null; decidedAt: string | null; rejectionReason: string | null;
  startedAt: string | null; completedAt: string | null; cancelledAt: string | null; failedAt: string | null; failure: string | null;
  overdue: boolean; complaintNotice: string | null; subject: { id: string } | null;
  changes: { field: string; before: string | null; after: string | null }[]; history: { status: string; by: string; at: string }[];
}

interface LoggedEvent { root_field: string; access_kind: string; actor_kind: string; purpose: string; operation_type: string; pseudonyms: string[]; categories: string[][] }

/** Data-subject requests through the API: filing, deciding, deadlines, processing by the job queue, and the log of each step. */
describe('data-subject requests', () => {
  let app: TestApp;
  let school: SeededTenant;
  let other: SeededTenant;
  let admin: Member;
  let foreignAdmin: Member;
  let runner: JobRunner;

  beforeAll(async () => {
    app = await startTestApp();
    school = await seedTenant(app.orm, 'Rights');
    other = await seedTenant(app.orm, 'Elsewhere');
    admin = await school.admin();
    foreignAdmin = await other.admin();
    runner = new JobRunner({ owner: app.orm, work: app.appOrm, handlers: jobHandlers, log: pino({ level: 'silent' }) });
  });
  afterAll(() => app.close());

  const file = async (token: string, input: Record<string, unknown>) => {
    const res = await app.gql<{ fileDataRequest: RequestView }, object>(
      `mutation($input: FileDataRequestInput!) { fileDataRequest(input: $input) { ${REQUEST_FIELDS} } }`, { input }, token);
    return res;
  };
  const act = async (token: string, mutation: string, args: Record<string, unknown>) => {
    const decl = Object.keys(args).map((k) => `$${k}: ${k === 'days' ? 'Int!' : k === 'id' ? 'ID!' : 'String!'}`).join(', ');
    const call = Object.keys(args).map((k) => `${k}: $${k}`).join(', ');
    return app.gql<Record<string, RequestView>, object>(`mutation(${decl}) { ${mutation}(${call}) { ${REQUEST_FIELDS} } }`, args, token);
  };
  const get = async (token: string, id: string) =>
    app.gql<{ dataRequest: RequestView }, object>(`query($id: ID!) { dataRequest(id: $id) { ${REQUEST_FIELDS} } }`, { id }, token);
  const rectifyName = (value: string) => ({ type: 'RECTIFICATION', changes: [{ field: 'GIVEN_NAME', value }] });
  const pseudonymOf = async (m: Member) =>
    (await sql<{ pseudonym: string }>(app.orm, 'select pseudonym from subject_key where user_id = ?', [m.user.id]))[0].pseudonym;
  /** The log's events about a member, oldest first, with the categories touched per subject. */
  const eventsAbout = async (m: Member) => sql<LoggedEvent>(app.orm,
    `select e.root_field, e.access_kind, e.actor_kind, e.purpose, e.operation_type,
            array_agg(s.pseudonym::text order by s.pseudonym) as pseudonyms, array_agg(array_to_string(s.categories, ',')) as categories
       from access_event e join access_event_subject s on s.event_id = e.id
      where s.pseudonym = ? group by e.id order by e.occurred_at, e.root_field`, [await pseudonymOf(m)]);
  const writesAbout = async (m: Member) => (await eventsAbout(m)).filter((e) => e.access_kind === 'WRITE').map((e) => e.root_field);

  it('rectification, filed by the person: submitted, approved, carried out by a job, every step logged', async () => {
    const ann = await school.student({ givenName: 'Anne', familyName: 'Archer' });
    const filed = await file(ann.token, { ...rectifyName('Ann'), note: 'My name is spelled Ann.' });
    expect(filed.errors).toBeUndefined();
    const req = filed.data!.fileDataRequest;
    expect(req).toMatchObject({
      type: 'RECTIFICATION', status: 'SUBMITTED', filedOnBehalf: false, note: 'My name is spelled Ann.', subject: { id: ann.user.id },
      changes: [{ field: 'GIVEN_NAME', before: null, after: 'Ann' }], overdue: false, complaintNotice: null,
      history: [{ status: 'SUBMITTED', by: 'SUBJECT' }],
    });
    expect(Date.parse(req.dueAt) - Date.parse(req.filedAt)).toBe(30 * DAY);

    // The administrator sees it among the tenant's requests; nothing changes before approval.
    const listed = await app.gql<{ dataRequests: { edges: { node: { id: string } }[] } }, object>(
      '{ dataRequests(first: 50, status: SUBMITTED) { edges { node { id } } } }', {}, admin.token);
    expect(listed.data!.dataRequests.edges.map((e) => e.node.id)).toContain(req.id);
    expect(await runner.runDue()).toEqual({ done: 0, retried: 0, dead: 0 });

    const approved = await act(admin.token, 'approveDataRequest', { id: req.id });
    expect(approved.errors).toBeUndefined();
    expect(approved.data!.approveDataRequest).toMatchObject({ status: 'APPROVED' });
    expect(approved.data!.approveDataRequest.decidedAt).not.toBeNull();
    expect((await sql(app.orm, 'select 1 from app_user where id = ? and given_name = ?', [ann.user.id, 'Anne'])).length).toBe(1);

    expect(await runner.runDue()).toEqual({ done: 1, retried: 0, dead: 0 });
    const done = (await get(ann.token, req.id)).data!.dataRequest;
    expect(done).toMatchObject({ status: 'COMPLETED', changes: [{ field: 'GIVEN_NAME', before: 'Anne', after: 'Ann' }] });
    expect(done.history.map((h) => `${h.status}/${h.by}`)).toEqual(['SUBMITTED/SUBJECT', 'APPROVED/ADMIN', 'IN_PROGRESS/SYSTEM', 'COMPLETED/SYSTEM']);
    expect((await sql(app.orm, 'select 1 from app_user where id = ? and given_name = ?', [ann.user.id, 'Ann'])).length).toBe(1);

    // Each transition and the change itself are access events about Ann, for the data-subject-rights purpose.
    const events = (await eventsAbout(ann)).filter((e) => e.access_kind === 'WRITE');
    expect(events.map((e) => `${e.root_field}/${e.actor_kind}`).sort()).toEqual([
      'DataSubjectRequest.complete/SYSTEM', 'DataSubjectRequest.start/SYSTEM', 'Mutation.approveDataRequest/USER',
      'Mutation.fileDataRequest/USER', 'User.rectify/SYSTEM',
    ]);
    expect(events.every((e) => e.purpose === 'data_subject_rights')).toBe(true);
    expect(events.find((e) => e.root_field === 'User.rectify')!.categories).toEqual(['user.name']);
    expect(events.filter((e) => e.operation_type === 'system').length).toBe(3);

    // The values themselves stay in the request record: nothing in the log holds them.
    const logText = await sql<{ t: string }>(app.orm, "select string_agg(e::text, ' ') as t from access_event e");
    expect(logText[0].t).not.toMatch(/Anne|Ann\b|spelled/);
    // A job that runs again changes nothing twice.
    await sql(app.orm, `insert into job (id, tenant_id, kind, payload) values (gen_random_uuid(), ?, 'dsr.process', ?::jsonb)`,
      [school.tenant.id, JSON.stringify({ requestId: req.id })]);
    expect(await runner.runDue()).toEqual({ done: 1, retried: 0, dead: 0 });
    expect((await get(ann.token, req.id)).data!.dataRequest.history).toHaveLength(4);
  });

  it('administrators file on a member\'s behalf; nobody else may, and another tenant\'s member is not found', async () => {
    const ben = await school.student();
    const res = await file(admin.token, { ...rectifyName('Benjamin'), subjectId: ben.user.id });
    expect(res.errors).toBeUndefined();
    expect(res.data!.fileDataRequest).toMatchObject({ filedOnBehalf: true, subject: { id: ben.user.id }, history: [{ status: 'SUBMITTED', by: 'ADMIN' }] });
    // Ben sees the request filed for him among his own.
    const mine = await app.gql<{ myDataRequests: { edges: { node: { id: string } }[] } }, object>('{ myDataRequests(first: 10) { edges { node { id } } } }', {}, ben.token);
    expect(mine.data!.myDataRequests.edges.map((e) => e.node.id)).toEqual([res.data!.fileDataRequest.id]);

    const carl = await school.student();
    expect(codes(await file(carl.token, { ...rectifyName('X'), subjectId: ben.user.id }))).toEqual(['FORBIDDEN']);
    expect(codes(await file(foreignAdmin.token, { ...rectifyName('X'), subjectId: ben.user.id }))).toEqual(['NOT_FOUND']);
    expect(codes(await get(carl.token, res.data!.fileDataRequest.id))).toEqual(['NOT_FOUND']);
    expect(codes(await get(foreignAdmin.token, res.data!.fileDataRequest.id))).toEqual(['NOT_FOUND']);
  });

  it('one open request per type and person; a cancelled one no longer counts', async () => {
    const dee = await school.student();
    const first = (await file(dee.token, rectifyName('Dee'))).data!.fileDataRequest;
    const again = await file(dee.token, rectifyName('Dee'));
    expect(codes(again)).toEqual(['BAD_USER_INPUT']);
    expect(again.errors![0].extensions).toMatchObject({ reason: 'OPEN_REQUEST_EXISTS', openRequestId: first.id });
    // Two filings at once: still one.
    const raced = await Promise.all([0, 1].map(() => file(admin.token, { ...rectifyName('Dee'), subjectId: (dee.user.id) })));
    expect(raced.every((r) => codes(r)[0] === 'BAD_USER_INPUT')).toBe(true);

    const cancelled = await act(dee.token, 'cancelDataRequest', { id: first.id });
    expect(cancelled.data!.cancelDataRequest).toMatchObject({ status: 'CANCELLED' });
    expect(cancelled.data!.cancelDataRequest.cancelledAt).not.toBeNull();
    expect((await file(dee.token, rectifyName('Dee'))).data!.fileDataRequest.status).toBe('SUBMITTED');
    const racedFresh = await Promise.all([0, 1, 2].map(() => file(admin.token, { type: 'RECTIFICATION', subjectId: admin.user.id, changes: [{ field: 'DISPLAY_NAME', value: 'Admin' }] })));
    expect(racedFresh.filter((r) => !r.errors).length).toBe(1);
    expect(racedFresh.filter((r) => r.errors?.[0].extensions?.reason === 'OPEN_REQUEST_EXISTS').length).toBe(2);
  });

  it('the status flow: invalid transitions are clear errors; only the person cancels, before a decision', async () => {
    const eve = await school.student();
    const req = (await file(eve.token, rectifyName('Eve'))).data!.fileDataRequest;
    expect(codes(await act(admin.token, 'cancelDataRequest', { id: req.id }))).toEqual(['FORBIDDEN']);
    expect(codes(await act(eve.token, 'approveDataRequest', { id: req.id }))).toEqual(['FORBIDDEN']);
    const noReason = await act(admin.token, 'rejectDataRequest', { id: req.id, reason: '   ' });
    expect(codes(noReason)).toEqual(['BAD_USER_INPUT']);
    expect(codes(await act(admin.token, 'rejectDataRequest', { id: req.id, reason: 'x'.repeat(2001) }))).toEqual(['BAD_USER_INPUT']);
    const rejected = await act(admin.token, 'rejectDataRequest', { id: req.id, reason: 'The recorded name matches the enrolment documents.' });
    expect(rejected.data!.rejectDataRequest).toMatchObject({
      status: 'REJECTED', rejectionReason: 'The recorded name matches the enrolment documents.', complaintNotice: COMPLAINT_NOTICE,
    });
    for (const [token, mutation, args] of [
      [admin.token, 'approveDataRequest', { id: req.id }], [eve.token, 'cancelDataRequest', { id: req.id }],
      [admin.token, 'retryDataRequest', { id: req.id }], [admin.token, 'rejectDataRequest', { id: req.id, reason: 'again' }],
    ] as const) {
      const res = await act(token, mutation, args);
      expect(codes(res)).toEqual(['BAD_USER_INPUT']);
      expect(res.errors![0].extensions).toMatchObject({ reason: 'INVALID_TRANSITION', from: 'REJECTED' });
    }
    expect(codes(await act(admin.token, 'approveDataRequest', { id: '00000000-0000-4000-8000-000000000000' }))).toEqual(['NOT_FOUND']);
    expect(codes(await act(admin.token, 'approveDataRequest', { id: 'not-an-id' }))).toEqual(['BAD_USER_INPUT']);
    expect(await writesAbout(eve)).toEqual(['Mutation.fileDataRequest', 'Mutation.rejectDataRequest']);
  });

  it('bad rectification input is refused before anything is written', async () => {
    const fay = await school.student();
    for (const input of [
      { type: 'RECTIFICATION' },
      { type: 'RECTIFICATION', changes: [] },
      { type: 'RECTIFICATION', changes: [{ field: 'EMAIL', value: 'not an email' }] },
      { type: 'RECTIFICATION', changes: [{ field: 'GIVEN_NAME', value: '  ' }] },
      { type: 'RECTIFICATION', changes: [{ field: 'GIVEN_NAME', value: 'A' }, { field: 'GIVEN_NAME', value: 'B' }] },
      { type: 'RECTIFICATION', changes: [{ field: 'STUDENT_NUMBER', value: 'has spaces' }] },
      { type: 'RECTIFICATION', changes: [{ field: 'GIVEN_NAME', value: 'x'.repeat(300) }] },
    ]) {
      expect(codes(await file(fay.token, input))).toEqual(['BAD_USER_INPUT']);
    }
    expect(await sql(app.orm, 'select 1 from data_subject_request where subject_id = ?', [fay.user.id])).toEqual([]);
    expect(await writesAbout(fay)).toEqual([]);
  });

  it('deadlines: the tenant\'s window, one extension of at most 60 days inside the first window, overdue requests listed', async () => {
    const gus = await school.student();
    const req = (await file(gus.token, rectifyName('Gus'))).data!.fileDataRequest;
    expect(codes(await act(admin.token, 'extendDataRequest', { id: req.id, days: 61, reason: 'Complex' }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await act(admin.token, 'extendDataRequest', { id: req.id, days: 30, reason: ' ' }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await act(gus.token, 'extendDataRequest', { id: req.id, days: 30, reason: 'Mine' }))).toEqual(['FORBIDDEN']);
    const extended = (await act(admin.token, 'extendDataRequest', { id: req.id, days: 45, reason: 'Records are held in two systems.' })).data!.extendDataRequest;
    expect(extended).toMatchObject({ extensionDays: 45, extensionReason: 'Records are held in two systems.', status: 'SUBMITTED' });
    expect(Date.parse(extended.dueAt) - Date.parse(req.dueAt)).toBe(45 * DAY);
    const twice = await act(admin.token, 'extendDataRequest', { id: req.id, days: 5, reason: 'More' });
    expect(twice.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'ALREADY_EXTENDED' });

    // A request whose first window has passed can no longer be extended, and is overdue.
    const hal = await school.student();
    const late = (await file(hal.token, rectifyName('Hal'))).data!.fileDataRequest;
    await sql(app.orm, "update data_subject_request set filed_at = now() - interval '31 days', due_at = now() - interval '1 day' where id = ?", [late.id]);
    const tooLate = await act(admin.token, 'extendDataRequest', { id: late.id, days: 10, reason: 'Busy' });
    expect(tooLate.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'WINDOW_PASSED' });
    expect((await get(hal.token, late.id)).data!.dataRequest.overdue).toBe(true);
    const overdue = await app.gql<{ dataRequests: { edges: { node: { id: string; overdue: boolean } }[] } }, object>(
      '{ dataRequests(first: 100, overdue: true) { edges { node { id overdue } } } }', {}, admin.token);
    expect(overdue.data!.dataRequests.edges.map((e) => e.node)).toEqual([{ id: late.id, overdue: true }]);
  });

  it('tenant settings: response window and auto-approval; bounds are enforced', async () => {
    const settings = await app.gql<{ privacySettings: Record<string, unknown> }, object>(
      '{ privacySettings { responseWindowDays autoApprove erasureGraceDays exportLinkDays showAccessorNames } }', {}, admin.token);
    expect(settings.data!.privacySettings).toEqual({ responseWindowDays: 30, autoApprove: [], erasureGraceDays: 30, exportLinkDays: 7, showAccessorNames: false });
    for (const input of ['{ responseWindowDays: 46 }', '{ responseWindowDays: 0 }', '{ erasureGraceDays: 181 }', '{ exportLinkDays: 0 }']) {
      expect(codes(await app.gql(`mutation { updatePrivacySettings(input: ${input}) { responseWindowDays } }`, {}, admin.token))).toEqual(['BAD_USER_INPUT']);
    }
    const updated = await app.gql<{ updatePrivacySettings: Record<string, unknown> }, object>(
      'mutation { updatePrivacySettings(input: { responseWindowDays: 45, autoApprove: [RECTIFICATION] }) { responseWindowDays autoApprove erasureGraceDays } }',
      {}, admin.token);
    expect(updated.data!.updatePrivacySettings).toEqual({ responseWindowDays: 45, autoApprove: ['RECTIFICATION'], erasureGraceDays: 30 });
    // Another tenant's settings are its own.
    const theirs = await app.gql<{ privacySettings: { responseWindowDays: number } }, object>('{ privacySettings { responseWindowDays } }', {}, foreignAdmin.token);
    expect(theirs.data!.privacySettings.responseWindowDays).toBe(30);

    const ivy = await school.student({ givenName: 'Ivi' });
    const req = (await file(ivy.token, rectifyName('Ivy'))).data!.fileDataRequest;
    expect(req.status).toBe('APPROVED');
    expect(Date.parse(req.dueAt) - Date.parse(req.filedAt)).toBe(45 * DAY);
    expect(req.history.map((h) => `${h.status}/${h.by}`)).toEqual(['SUBMITTED/SUBJECT', 'APPROVED/SYSTEM']);
    const autoEvent = (await eventsAbout(ivy)).find((e) => e.root_field === 'DataSubjectRequest.autoApprove')!;
    expect(autoEvent).toMatchObject({ access_kind: 'WRITE', actor_kind: 'SYSTEM', purpose: 'data_subject_rights' });
    await runner.runDue();
    expect((await get(ivy.token, req.id)).data!.dataRequest.status).toBe('COMPLETED');
    await app.gql('mutation { updatePrivacySettings(input: { responseWindowDays: 30, autoApprove: [] }) { responseWindowDays } }', {}, admin.token);
  });

  it('recipients that received the old value are owed an Art. 19 notice; others are not', async () => {
    const kim = await school.student();
    const sis = await issueToken(app.orm.em.fork(), school.tenant.id, { kind: TokenKind.SERVICE, scopes: ['roster:read'], label: 'District SIS', ttlDays: 1 });
    await issueToken(app.orm.em.fork(), school.tenant.id, { kind: TokenKind.SERVICE, scopes: ['roster:read'], label: 'Idle LMS', ttlDays: 1 });
    // The SIS reads Kim's email; the idle integration reads nothing.
    const read = await app.gql('query($id: ID!) { user(id: $id) { email } }', { id: kim.user.id }, sis.secret);
    expect(read.errors).toBeUndefined();
    const req = (await file(kim.token, { type: 'RECTIFICATION', changes: [{ field: 'EMAIL', value: 'kim.new@rights.test' }] })).data!.fileDataRequest;
    await act(admin.token, 'approveDataRequest', { id: req.id });
    await runner.runDue();
    const notices = await app.gql<{ recipientNotices: { id: string; requestId: string; recipient: string; reason: string; categories: string[]; sentAt: string | null }[] }, object>(
      '{ recipientNotices { id requestId recipient reason categories sentAt } }', {}, admin.token);
    const mine = notices.data!.recipientNotices.filter((n) => n.requestId === req.id);
    expect(mine.map(({ id: _id, ...n }) => n)).toEqual([
      { requestId: req.id, recipient: 'District SIS', reason: 'RECTIFICATION', categories: ['user.contact.email'], sentAt: null },
    ]);
    const sent = await app.gql<{ markNoticeSent: { sentAt: string | null } }, object>('mutation($id: ID!) { markNoticeSent(id: $id) { sentAt } }', { id: mine[0].id }, admin.token);
    expect(sent.data!.markNoticeSent.sentAt).not.toBeNull();
    expect(codes(await app.gql('mutation($id: ID!) { markNoticeSent(id: $id) { sentAt } }', { id: mine[0].id }, admin.token))).toEqual(['BAD_USER_INPUT']);
    const pending = await app.gql<{ recipientNotices: { id: string }[] }, object>('{ recipientNotices { id } }', {}, admin.token);
    expect(pending.data!.recipientNotices.map((n) => n.id)).not.toContain(mine[0].id);
    // A change of a category the SIS never received owes it nothing.
    const again = (await file(kim.token, rectifyName('Kimberly'))).data!.fileDataRequest;
    await act(admin.token, 'approveDataRequest', { id: again.id });
    await runner.runDue();
    const none = await app.gql<{ recipientNotices: { requestId: string }[] }, object>('{ recipientNotices(pendingOnly: false) { requestId } }', {}, admin.token);
    expect(none.data!.recipientNotices.filter((n) => n.requestId === again.id)).toEqual([]);
  });

  it('the retention schedule: defaults per category, an institution\'s own periods, and exports see them', async () => {
    const student = await school.student();
    type Entry = { category: string; period: string; overridden: boolean; erasureAction: string; legalBasis: string | null };
    const schedule = async (token: string) => (await app.gql<{ retentionSchedule: Entry[] }, object>(
      '{ retentionSchedule { category period overridden erasureAction legalBasis } }', {}, token)).data!.retentionSchedule;
    const before = await schedule(student.token);
    expect(before.map((e) => e.category)).toContain('user.content.private');
    expect(before.every((e) => !e.overridden)).toBe(true);
    expect(before.find((e) => e.category === 'user.education.grade')).toMatchObject({ erasureAction: 'RETAIN', legalBasis: expect.stringContaining('education records') });

    const set = 'mutation($c: String!, $p: String) { setRetentionPeriod(category: $c, period: $p) { category period overridden } }';
    expect(codes(await app.gql(set, { c: 'user.content.private', p: 'Two years' }, student.token))).toEqual(['FORBIDDEN']);
    expect(codes(await app.gql(set, { c: 'user.favourite_colour', p: 'Forever' }, admin.token))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await app.gql(set, { c: 'user.content.private', p: 'x'.repeat(501) }, admin.token))).toEqual(['BAD_USER_INPUT']);
    const changed = await app.gql<{ setRetentionPeriod: Entry }, object>(set, { c: 'user.content.private', p: 'Two years after the course ends' }, admin.token);
    expect(changed.data!.setRetentionPeriod).toEqual({ category: 'user.content.private', period: 'Two years after the course ends', overridden: true });
    expect((await schedule(student.token)).find((e) => e.category === 'user.content.private')!.period).toBe('Two years after the course ends');
    // What exports are built from, and another tenant's schedule.
    const em = app.appOrm.em.fork();
    const settings = await em.transactional(async (tem) => {
      await tem.execute("select set_config('custos.tenant_id', ?, true)", [school.tenant.id]);
      return loadPrivacySettings(tem, school.tenant.id);
    });
    expect(settings.retention['user.content.private']).toMatchObject({ period: 'Two years after the course ends', overridden: true });
    expect((await schedule(foreignAdmin.token)).find((e) => e.category === 'user.content.private')!.overridden).toBe(false);
    const reset = await app.gql<{ setRetentionPeriod: Entry }, object>(set, { c: 'user.content.private', p: null }, admin.token);
    expect(reset.data!.setRetentionPeriod.overridden).toBe(false);
  });

  it('a rectification that cannot be applied fails with its reason, and an administrator can retry it', async () => {
    const jo = await school.student();
    const holder = await school.student({ email: 'taken@rights.test' });
    const req = (await file(jo.token, { type: 'RECTIFICATION', changes: [{ field: 'EMAIL', value: 'Taken@Rights.test' }, { field: 'FAMILY_NAME', value: 'Jones' }] }))
      .data!.fileDataRequest;
    expect(req.changes).toEqual([{ field: 'EMAIL', before: null, after: 'taken@rights.test' }, { field: 'FAMILY_NAME', before: null, after: 'Jones' }]);
    await act(admin.token, 'approveDataRequest', { id: req.id });
    expect(await runner.runDue()).toEqual({ done: 1, retried: 0, dead: 0 });
    const failed = (await get(admin.token, req.id)).data!.dataRequest;
    expect(failed).toMatchObject({ status: 'FAILED', failure: 'Another member of this tenant has this email.' });
    // Nothing of the rectification was applied.
    expect((await sql<{ family_name: string }>(app.orm, 'select family_name from app_user where id = ?', [jo.user.id]))[0].family_name).toBe(jo.user.familyName);

    await sql(app.orm, "update app_user set email = 'moved@rights.test' where id = ?", [holder.user.id]);
    expect((await act(admin.token, 'retryDataRequest', { id: req.id })).data!.retryDataRequest).toMatchObject({ status: 'APPROVED', failure: null });
    await runner.runDue();
    const done = (await get(jo.token, req.id)).data!.dataRequest;
    expect(done.status).toBe('COMPLETED');
    expect(done.history.map((h) => h.status)).toEqual(['SUBMITTED', 'APPROVED', 'IN_PROGRESS', 'FAILED', 'APPROVED', 'IN_PROGRESS', 'COMPLETED']);
    expect((await sql(app.orm, "select 1 from app_user where id = ? and email = 'taken@rights.test' and family_name = 'Jones'", [jo.user.id])).length).toBe(1);
  });
});
