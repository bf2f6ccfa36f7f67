import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTestApp, type TestApp } from '../support/harness';
import { seedTenant, sql, type SeededTenant } from '../support/seed';
import { ZipFile as ZipWriter } from 'yazl';
import { issueToken } from '../../src/modules/token/token.service';
import { TokenKind } from '../../src/modules/token/api-token.entity';
import { codes } from '../support/harness';
import { decodeJwt } from 'jose';
import { issueUserToken } from '../../src/modules/token/token.service';
import { User } from '../../src/modules/user/user.entity';
import { bindTenant } from '../../src/server/transaction-plugin';
import { exportFiles, loadSummary, type ExportSource } from '../../src/modules/dsr/export/build';
import { loadPrivacySettings } from '../../src/modules/dsr/privacy-settings';
import { privacyRegistry } from '../../src/privacy/registry';
import { buildBareSchema } from '../../src/schema/build';
import type { Checkpoint } from '../../src/audit/checkpoint';
import { importRosterAsSystem } from '../../src/modules/roster/roster.service';
import { openRosterPath } from '../../src/modules/roster/source';
import type { RosterImportResult } from '../../src/modules/roster/import';

const SAMPLE = path.resolve(__dirname, '../fixtures/oneroster-1.1-sample');

let app: TestApp;
let dir: string;

beforeAll(async () => {
  app = await startTestApp();
  dir = mkdtempSync(path.join(os.tmpdir(), 'custos-roster-'));
});

afterAll(async () => {
  await app?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A copy of the sample folder with some files replaced (name → content, or null to delete). */
function sampleWith(changes: Record<string, string | null> = {}): string {
  const target = mkdtempSync(path.join(dir, 'set-'));
  cpSync(SAMPLE, target, { recursive: true });
  for (const [name, content] of Object.entries(changes)) {
    if (content === null) rmSync(path.join(target, name));
    else writeFileSync(path.join(target, name), content);
  }
  return target;
}

const read = (name: string) => readFileSync(path.join(SAMPLE, name), 'utf8');

async function importPath(school: SeededTenant, target: string, opts: Partial<{ dryRun: boolean; importValidRows: boolean }> = {}) {
  return importRosterAsSystem(app.appOrm, school.tenant.id, await openRosterPath(target), { dryRun: false, importValidRows: false, ...opts });
}

/** The tenant as the import left it: members, courses and enrollments, sorted. */
async function snapshot(school: SeededTenant) {
  const t = school.tenant.id;
  const users = await sql<Record<string, unknown>>(app.orm,
    `select u.email, u.given_name, u.family_name, u.display_name, u.student_number, u.role::text, u.status::text, u.source::text, r.sourced_id
       from app_user u left join sis_record r on r.tenant_id = u.tenant_id and r.kind = 'user' and r.target_id = u.id
      where u.tenant_id = ? order by u.email`, [t]);
  const courses = await sql<Record<string, unknown>>(app.orm,
    `select c.code, c.title, c.description, c.status::text, r.sourced_id from course c
       left join sis_record r on r.tenant_id = c.tenant_id and r.kind = 'class' and r.target_id = c.id
      where c.tenant_id = ? order by c.code`, [t]);
  const enrollments = await sql<Record<string, unknown>>(app.orm,
    `select c.code, u.email, e.role::text from enrollment e join course c on c.id = e.course_id join app_user u on u.id = e.user_id
      where e.tenant_id = ? order by c.code, u.email`, [t]);
  return { users, courses, enrollments };
}

const STUDENTS = [
  ['604863', 'Mary', 'Archer'], ['604874', 'Kyle', 'Hughes'], ['604918', 'Peter', 'Nash'], ['604927', 'Larry', 'Mahoney'],
  ['604938', 'Roland', 'Phillips'], ['604969', 'Stephen', 'Caldwell'], ['604974', 'Olivia', 'Hardy'], ['605015', 'Micheal', 'Turner'],
];
const TEACHERS = [['207270', 'Kelley', 'Christian'], ['207268', 'Sara', 'Preston']];
const ALGEBRA = ['604863', '604874', '604918', '604927', '604938'];
const ENGLISH = ['604863', '604874', '604969', '604974', '605015'];

describe('importing the OneRoster 1.1 sample', () => {
  let school: SeededTenant;
  let first: RosterImportResult;

  beforeAll(async () => {
    school = await seedTenant(app.orm, 'Grand Bend');
    first = await importPath(school, SAMPLE);
  });

  it('creates exactly the sample\'s members, courses and enrollments, each linked to its sourcedId', async () => {
    expect(first.errors).toEqual([]);
    expect(first.applied).toBe(true);
    const { users, courses, enrollments } = await snapshot(school);
    const expected = [
      ...STUDENTS.map(([id, given, family]) => ({
        email: `${given}.${family}@studentgps.org`.toLowerCase(), given_name: given, family_name: family, display_name: `${given} ${family}`,
        student_number: null, role: 'STUDENT', status: 'ACTIVE', source: 'SIS_IMPORT', sourced_id: id,
      })),
      ...TEACHERS.map(([id, given, family]) => ({
        email: `${given}.${family}@studentgps.org`.toLowerCase(), given_name: given, family_name: family, display_name: `${given} ${family}`,
        student_number: null, role: 'INSTRUCTOR', status: 'ACTIVE', source: 'SIS_IMPORT', sourced_id: id,
      })),
    ].sort((a, b) => a.email.localeCompare(b.email));
    expect(users).toEqual(expected);
    expect(courses).toEqual([
      { code: 'Algebra I', title: 'ALG-1', description: 'Algebra I (ALG-1)', status: 'ACTIVE',
        sourced_id: '25590100102Trad220ALG112011' },
      { code: 'English I', title: 'ENG-1', description: 'English I (ENG-1)', status: 'ACTIVE', sourced_id: '25590100101Trad120ENG112011' },
    ]);
    const emailOf = (id: string) => {
      const [, given, family] = [...STUDENTS, ...TEACHERS].find(([s]) => s === id)!;
      return `${given}.${family}@studentgps.org`.toLowerCase();
    };
    const rows = [
      ...ALGEBRA.map((id) => ({ code: 'Algebra I', email: emailOf(id), role: 'STUDENT' })),
      { code: 'Algebra I', email: emailOf('207270'), role: 'INSTRUCTOR' },
      ...ENGLISH.map((id) => ({ code: 'English I', email: emailOf(id), role: 'STUDENT' })),
      { code: 'English I', email: emailOf('207268'), role: 'INSTRUCTOR' },
    ].sort((a, b) => a.code.localeCompare(b.code) || a.email.localeCompare(b.email));
    expect(enrollments).toEqual(rows);
  });

  it('reports what it read, what it changed and what it ignored, and why', () => {
    expect(first.rows).toEqual({ 'orgs.csv': 2, 'courses.csv': 2, 'classes.csv': 2, 'users.csv': 10, 'enrollments.csv': 24 });
    expect(first.diff).toEqual({
      orgs: { created: 2, updated: 0, deactivated: 0, unchanged: 0, skipped: 0 },
      courses: { created: 2, updated: 0, deactivated: 0, unchanged: 0, skipped: 0 },
      classes: { created: 2, updated: 0, deactivated: 0, unchanged: 0, skipped: 0 },
      users: { created: 10, updated: 0, deactivated: 0, unchanged: 0, skipped: 0 },
      enrollments: { created: 12, updated: 0, deactivated: 0, unchanged: 0, skipped: 0 },
    });
    expect(first.ignoredFiles.map((f) => f.name)).toEqual(['LICENSE', 'NOTICES.md', 'SOURCE.md', 'academicSessions.csv', 'demographics.csv']);
    expect(first.ignoredFiles.find((f) => f.name === 'demographics.csv')!.reason).toMatch(/special-category/);
  });

  it('records the import, and the source of every record (import, file, line, sourcedId)', async () => {
    const [imp] = await sql<{ id: string; source: string; actor: string }>(app.orm, 'select id, source, actor from sis_import where tenant_id = ?',
      [school.tenant.id]);
    expect(imp).toMatchObject({ id: first.importId, source: 'oneroster-1.1-sample', actor: 'cli' });
    const records = await sql<{ kind: string; n: string }>(app.orm,
      `select kind, count(*) as n from sis_record where tenant_id = ? and import_id = ? group by kind order by kind`, [school.tenant.id, imp.id]);
    expect(records.map((r) => [r.kind, Number(r.n)])).toEqual([['class', 2], ['course', 2], ['enrollment', 24], ['org', 2], ['user', 10]]);
    const [mary] = await sql<{ file: string; line: number }>(app.orm,
      `select file, line from sis_record where tenant_id = ? and kind = 'user' and sourced_id = '604863'`, [school.tenant.id]);
    expect(mary).toEqual({ file: 'users.csv', line: 2 });
  });

  it('writes one access event per set of categories, purpose sis.sync, naming the import', async () => {
    const events = await sql<{ purpose: string; root_field: string; access_kind: string; resources: string[]; subjects: string }>(app.orm,
      `select e.purpose, e.root_field, e.access_kind, e.resources, (select count(*) from access_event_subject s where s.event_id = e.id) as subjects
         from access_event e where e.tenant_id = ? and e.request_id = ?`, [school.tenant.id, `import:${first.importId}`]);
    expect(events.length).toBeGreaterThan(0);
    for (const e of events) {
      expect(e).toMatchObject({ purpose: 'sis.sync', root_field: 'Import.oneroster', access_kind: 'WRITE', resources: [`SisImport:${first.importId}`] });
    }
    expect(events.reduce((n, e) => n + Number(e.subjects), 0)).toBe(10);
  });

  it('re-importing the same files changes nothing: no writes, no events, the same sources', async () => {
    const before = await snapshot(school);
    const records = await sql(app.orm, 'select * from sis_record where tenant_id = ? order by kind, sourced_id', [school.tenant.id]);
    const [{ n: eventsBefore }] = await sql<{ n: string }>(app.orm, 'select count(*) as n from access_event where tenant_id = ?', [school.tenant.id]);
    const again = await importPath(school, SAMPLE);
    expect(again.errors).toEqual([]);
    for (const d of Object.values(again.diff)) expect(d).toMatchObject({ created: 0, updated: 0, deactivated: 0 });
    expect(again.diff.users.unchanged).toBe(10);
    expect(again.diff.enrollments.unchanged).toBe(12);
    expect(await snapshot(school)).toEqual(before);
    expect(await sql(app.orm, 'select * from sis_record where tenant_id = ? order by kind, sourced_id', [school.tenant.id])).toEqual(records);
    const [{ n: eventsAfter }] = await sql<{ n: string }>(app.orm, 'select count(*) as n from access_event where tenant_id = ?', [school.tenant.id]);
    expect(eventsAfter).toBe(eventsBefore);
  });
});

describe('the source of imported records in a right-of-access export', () => {
  it('names the SIS import, file, line and sourcedId of the profile and of each enrollment', async () => {
    const school = await seedTenant(app.orm, 'Sources');
    const result = await importPath(school, SAMPLE);
    const [mary] = await sql<{ id: string }>(app.orm, "select id from app_user where tenant_id = ? and email = 'mary.archer@studentgps.org'",
      [school.tenant.id]);
    const files = await app.appOrm.em.fork().transactional(async (em) => {
      await bindTenant(em, school.tenant.id, { userId: null, privileged: true });
      const source: ExportSource = {
        em, tenantId: school.tenant.id, subjectId: mary.id, pseudonym: null, requestId: 'r', createdAt: new Date(),
        expiresAt: new Date(Date.now() + 86_400_000), checkpoint: { treeSize: 0, root: Buffer.alloc(32), createdAt: new Date(), keyId: 'k' } as Checkpoint, listed: new Set(),
        settings: await loadPrivacySettings(em, school.tenant.id), registry: privacyRegistry(await buildBareSchema()),
      };
      const out = new Map<string, string>();
      for (const f of exportFiles(source, await loadSummary(source), 'complaints')) {
        let text = '';
        for await (const chunk of f.content as AsyncIterable<string>) text += chunk;
        out.set(f.name, text);
      }
      return out;
    });
    const doc = JSON.parse(files.get('export.json')!) as {
      profile: { source: string; sourceRecords: unknown[] }; enrollments: { course: { code: string }; source: string; sourceRecords: unknown[] }[];
    };
    expect(doc.profile).toMatchObject({
      source: 'SIS_IMPORT', sourceRecords: [{ importId: result.importId, file: 'users.csv', line: 2, sourcedId: '604863' }],
    });
    const algebra = doc.enrollments.find((e) => e.course.code === 'Algebra I')!;
    expect(algebra).toMatchObject({
      source: 'SIS_IMPORT',
      sourceRecords: [
        { importId: result.importId, file: 'enrollments.csv', line: 13, sourcedId: '7DFD7AE2-7C8D-4310-8135-7ED1EA9D2E59' },
        { importId: result.importId, file: 'enrollments.csv', line: 3, sourcedId: '8622A96A-9287-4BAA-BD1F-3DB11A74524E' },
      ],
    });
    expect(files.get('index.html')).toContain(`(SIS import ${result.importId}, users.csv line 2, sourcedId 604863)`);
  });
});

describe('a tool launch by an imported person', () => {
  it('sends the SIS sourcedId as lis.person_sourcedid, disclosed as account data', async () => {
    const school = await seedTenant(app.orm, 'Launching');
    await importPath(school, SAMPLE);
    const admin = await school.admin();
    const [course] = await sql<{ id: string }>(app.orm, "select id from course where tenant_id = ? and code = 'Algebra I'", [school.tenant.id]);
    const registered = await app.gql<{ registerLtiTool: { id: string } }, unknown>(
      'mutation($i: RegisterLtiToolInput!) { registerLtiTool(input: $i) { id } }',
      { i: { name: 'Lab', clientId: 'lab-1', launchUrl: 'https://lab.example/launch', privacyLevel: 'PUBLIC' } }, admin.token);
    const toolId = registered.data!.registerLtiTool.id;
    await app.gql('mutation($t: ID!, $c: ID!) { attachLtiTool(toolId: $t, courseId: $c) { id } }', { t: toolId, c: course.id }, admin.token);
    const mary = await app.orm.em.fork().findOneOrFail(User, { tenantId: school.tenant.id, email: 'mary.archer@studentgps.org' });
    const { secret } = await issueUserToken(app.orm.em.fork(), mary, { label: 'test', ttlDays: 1 });
    const launch = await app.gql<{ launchLtiTool: { idToken: string } }, unknown>(
      'mutation($t: ID!, $c: ID!) { launchLtiTool(toolId: $t, courseId: $c, nonce: "n-1") { idToken } }', { t: toolId, c: course.id }, secret);
    expect(launch.errors).toBeUndefined();
    const claims = decodeJwt(launch.data!.launchLtiTool.idToken);
    expect(claims['https://purl.imsglobal.org/spec/lti/claim/lis']).toEqual({ person_sourcedid: '604863' });
    const [event] = await sql<{ categories: string[] }>(app.orm,
      `select s.categories from access_event e join access_event_subject s on s.event_id = e.id
        where e.tenant_id = ? and e.access_kind = 'DISCLOSE' and e.root_field = 'Mutation.launchLtiTool'`, [school.tenant.id]);
    expect(event.categories).toEqual(['user.account', 'user.contact.email', 'user.education.enrollment', 'user.name']);
  });
});

describe('a tobedeleted delta, then a bulk set without someone', () => {
  let school: SeededTenant;

  beforeAll(async () => {
    school = await seedTenant(app.orm, 'Delta');
    expect((await importPath(school, SAMPLE)).applied).toBe(true);
  });

  const DELTA_MANIFEST = read('manifest.csv').replace(/^file\.(\w+),bulk$/gm, (_, f) => `file.${f},${f === 'users' || f === 'enrollments' ? 'delta' : 'absent'}`);
  const usersHeader = read('users.csv').split('\n')[0];
  const enrollmentsHeader = read('enrollments.csv').split('\n')[0];

  it('deactivates the person and removes the enrollment a delta names, and nothing else', async () => {
    const target = mkdtempSync(path.join(dir, 'delta-'));
    writeFileSync(path.join(target, 'manifest.csv'), DELTA_MANIFEST);
    writeFileSync(path.join(target, 'users.csv'),
      `${usersHeader}\n604927,tobedeleted,2021-03-01T10:00:00Z,true,255901001,student,Larry Mahoney,{Local:927},Larry,Mahoney,,,Larry.Mahoney@studentgps.org,,,,09,\n`);
    // Kyle leaves English: both terms' rows (the Fall row as tobedeleted, the Spring row as inactive, the pre-1.1 spelling).
    writeFileSync(path.join(target, 'enrollments.csv'), `${enrollmentsHeader}\n` +
      'B3599829-090C-4BC5-AA59-15E90427A7BA,tobedeleted,,25590100101Trad120ENG112011,255901001,604874,student,,2020-08-17,2020-12-18\n' +
      'BC2ABC3B-BE0A-41C1-AE69-BAFEFA985320,inactive,,25590100101Trad120ENG112011,255901001,604874,student,,2021-01-04,2021-05-28\n');
    const before = await snapshot(school);
    const result = await importPath(school, target);
    expect(result.errors).toEqual([]);
    expect(result.diff.users).toEqual({ created: 0, updated: 0, deactivated: 1, unchanged: 0, skipped: 0 });
    expect(result.diff.enrollments).toEqual({ created: 0, updated: 0, deactivated: 1, unchanged: 0, skipped: 0 });
    const after = await snapshot(school);
    expect(after.users.filter((u) => u.status === 'DEACTIVATED').map((u) => u.sourced_id)).toEqual(['604927']);
    expect(after.users.length).toBe(before.users.length);
    const kyle = 'kyle.hughes@studentgps.org';
    expect(before.enrollments.filter((e) => e.email === kyle).map((e) => e.code)).toEqual(['Algebra I', 'English I']);
    expect(after.enrollments.filter((e) => e.email === kyle).map((e) => e.code)).toEqual(['Algebra I']);
    expect(after.enrollments.length).toBe(before.enrollments.length - 1);
    // Larry's enrollment stays (he is deactivated, his enrollment is history); his tokens would have been revoked.
    expect(after.enrollments.filter((e) => e.email === 'larry.mahoney@studentgps.org')).toHaveLength(1);
  });

  it('the same delta again changes nothing', async () => {
    const target = mkdtempSync(path.join(dir, 'delta-again-'));
    writeFileSync(path.join(target, 'manifest.csv'), DELTA_MANIFEST);
    writeFileSync(path.join(target, 'users.csv'),
      `${usersHeader}\n604927,tobedeleted,2021-03-01T10:00:00Z,true,255901001,student,Larry Mahoney,{Local:927},Larry,Mahoney,,,Larry.Mahoney@studentgps.org,,,,09,\n`);
    writeFileSync(path.join(target, 'enrollments.csv'), `${enrollmentsHeader}\n`);
    const result = await importPath(school, target);
    expect(result.diff.users).toEqual({ created: 0, updated: 0, deactivated: 0, unchanged: 1, skipped: 0 });
    expect(result.diff.enrollments).toEqual({ created: 0, updated: 0, deactivated: 0, unchanged: 0, skipped: 0 });
  });

  it('a bulk users file without someone deactivates them; putting them back reactivates them', async () => {
    const withoutOlivia = read('users.csv').split('\n').filter((l) => !l.startsWith('604974,')).join('\n');
    const result = await importPath(school, sampleWith({ 'users.csv': withoutOlivia }));
    // Olivia's enrollments now name someone missing from a bulk users file: refused, nothing written.
    expect(result.applied).toBe(false);
    expect(result.errors.map((e) => [e.file, e.line, e.code])).toEqual([['enrollments.csv', 10, 'DANGLING_REFERENCE'], ['enrollments.csv', 20, 'DANGLING_REFERENCE']]);
    const enrollments = read('enrollments.csv').split('\n').filter((l) => !l.includes(',604974,')).join('\n');
    const ok = await importPath(school, sampleWith({ 'users.csv': withoutOlivia, 'enrollments.csv': enrollments }));
    expect(ok.errors).toEqual([]);
    expect(ok.diff.users.deactivated).toBe(1);
    // Olivia's English enrollment goes; Kyle's, active again in the bulk file, comes back.
    expect(ok.diff.enrollments).toMatchObject({ deactivated: 1, created: 1 });
    const after = await snapshot(school);
    expect(after.users.find((u) => u.sourced_id === '604974')).toMatchObject({ status: 'DEACTIVATED' });
    // Larry is in the bulk file again, active: reactivated.
    expect(after.users.find((u) => u.sourced_id === '604927')).toMatchObject({ status: 'ACTIVE' });
  });
});

describe('bad input: errors with file, line and code, and nothing written', () => {
  let school: SeededTenant;

  beforeAll(async () => {
    school = await seedTenant(app.orm, 'Careful');
  });

  /** Imports a changed sample into the empty school and checks that nothing at all was written. */
  async function refused(changes: Record<string, string | null>) {
    const result = await importPath(school, sampleWith(changes));
    expect(result.applied).toBe(false);
    expect(await sql(app.orm, 'select 1 from sis_record where tenant_id = ?', [school.tenant.id])).toEqual([]);
    expect(await sql(app.orm, "select 1 from app_user where tenant_id = ? and source = 'SIS_IMPORT'", [school.tenant.id])).toEqual([]);
    return result.errors.map((e) => [e.file, e.line, e.code, e.message]);
  }

  const lines = (name: string) => read(name).split('\n');
  const replaceLine = (name: string, n: number, edit: (line: string) => string) =>
    lines(name).map((l, i) => (i === n - 1 ? edit(l) : l)).join('\n');

  it('a missing required file, or one the manifest calls absent', async () => {
    expect(await refused({ 'enrollments.csv': null })).toEqual([
      ['enrollments.csv', null, 'MISSING_FILE', 'enrollments.csv is missing; the manifest says file.enrollments is bulk'],
    ]);
    expect(await refused({ 'manifest.csv': null })).toEqual([['manifest.csv', null, 'MISSING_FILE', 'manifest.csv is missing']]);
    expect(await refused({ 'manifest.csv': read('manifest.csv').replace('file.orgs,bulk', 'file.orgs,absent') })).toEqual([
      ['orgs.csv', null, 'UNEXPECTED_FILE', 'orgs.csv is present but the manifest says file.orgs is absent'],
    ]);
  });

  it('a missing column', async () => {
    expect(await refused({ 'users.csv': read('users.csv').replace(',givenName,', ',firstName,') })).toEqual([
      ['users.csv', 1, 'MISSING_COLUMN', 'the header lacks givenName'],
    ]);
  });

  it('a wrong-version manifest', async () => {
    expect(await refused({ 'manifest.csv': read('manifest.csv').replace('oneroster.version,1.1', 'oneroster.version,1.2') })).toEqual([
      ['manifest.csv', 3, 'MANIFEST_VERSION', 'oneroster.version is "1.2"; Custos reads OneRoster 1.1'],
    ]);
  });

  it('unknown roles, bad dates, duplicate ids and dangling references, each on its line', async () => {
    const users = replaceLine('users.csv', 3, (l) => l.replace(',student,', ',janitor,'));
    const enrollments = [
      ...lines('enrollments.csv').slice(0, 2),
      '6F4283DC-F831-4437-A9A3-E030C7AF0493,,,25590100102Trad220ALG112011,255901001,604918,student,,2020-08-17,2020-12-18',
      'NEW-1,,,25590100102Trad220ALG112011,255901001,604918,student,,2020-02-30,2020-12-18',
      'NEW-2,,,NO-SUCH-CLASS,255901001,604918,student,,2020-08-17,2020-12-18',
      'NEW-3,,,25590100102Trad220ALG112011,255901001,NO-SUCH-USER,student,,2020-08-17,2020-12-18',
      'NEW-4,,,25590100102Trad220ALG112011,255901001,604918,principal,,2020-08-17,2020-12-18',
      'NEW-5,,,25590100102Trad220ALG112011,255901001,604874,student,,2020-08-17,2020-12-18',
    ].join('\n');
    const errors = await refused({ 'users.csv': users, 'enrollments.csv': enrollments });
    expect(errors).toEqual([
      ['users.csv', 3, 'UNKNOWN_ROLE', 'role "janitor" is not one of administrator, aide, guardian, parent, proctor, relative, student, teacher'],
      ['enrollments.csv', 3, 'DUPLICATE_ID', 'sourcedId 6F4283DC-F831-4437-A9A3-E030C7AF0493 is also on line 2'],
      ['enrollments.csv', 4, 'BAD_DATE', 'beginDate "2020-02-30" is not a date (YYYY-MM-DD)'],
      ['enrollments.csv', 7, 'UNKNOWN_ROLE', 'role "principal" is not one of administrator, proctor, student, teacher'],
      ['enrollments.csv', 2, 'DUPLICATE_ID', 'sourcedId 6F4283DC-F831-4437-A9A3-E030C7AF0493 appears more than once'],
      ['enrollments.csv', 5, 'DANGLING_REFERENCE', 'classSourcedId NO-SUCH-CLASS is not in classes.csv'],
      ['enrollments.csv', 6, 'DANGLING_REFERENCE', 'userSourcedId NO-SUCH-USER is not in users.csv'],
      // Kyle's row is invalid (unknown role), so an enrollment of his has no one to name.
      ['enrollments.csv', 8, 'DANGLING_REFERENCE', 'userSourcedId 604874 is not in users.csv'],
    ]);
  });

  it('collisions: two people with one e-mail, two classes with one code', async () => {
    const users = replaceLine('users.csv', 3, (l) => l.replace('Kyle.Hughes@studentgps.org', 'Mary.Archer@studentgps.org'));
    const classes = replaceLine('classes.csv', 3, (l) => l.replace(',Algebra I,', ',English I,'));
    const errors = await refused({ 'users.csv': users, 'classes.csv': classes });
    expect(errors.slice(0, 2)).toEqual([
      ['classes.csv', 3, 'CONFLICT', 'classCode English I is also the code of the class on line 2'],
      ['users.csv', 3, 'CONFLICT', 'email mary.archer@studentgps.org is also on line 2'],
    ]);
    expect(errors.slice(2).every(([file, , code]) => file === 'enrollments.csv' && code === 'DANGLING_REFERENCE')).toBe(true);
  });

  it('a file over the size limit, and a file that is not CSV', async () => {
    const target = sampleWith();
    const tooBig = await importRosterAsSystem(app.appOrm, school.tenant.id, await openRosterPath(target),
      { dryRun: false, importValidRows: true, limits: { maxFileBytes: 1_000 } });
    expect(tooBig.applied).toBe(false);
    expect(tooBig.errors.map((e) => [e.file, e.code])).toEqual([['users.csv', 'FILE_TOO_LARGE'], ['enrollments.csv', 'FILE_TOO_LARGE']].slice(0, 1));
    expect(await refused({ 'orgs.csv': `${lines('orgs.csv')[0]}\n"255901,,,Grand Bend ISD,district,,,,,,,\n` })).toEqual([
      ['orgs.csv', 2, 'MALFORMED_CSV', expect.stringMatching(/^the file is not valid CSV/)],
    ]);
  });

  it('with importValidRows, the valid rows are imported and the rest reported', async () => {
    const users = replaceLine('users.csv', 3, (l) => l.replace(',student,', ',janitor,'));
    const result = await importRosterAsSystem(app.appOrm, school.tenant.id, await openRosterPath(sampleWith({ 'users.csv': users })),
      { dryRun: false, importValidRows: true });
    expect(result.applied).toBe(true);
    expect(result.errors.map((e) => [e.file, e.line, e.code])).toEqual([
      ['users.csv', 3, 'UNKNOWN_ROLE'],
      ['enrollments.csv', 4, 'DANGLING_REFERENCE'], ['enrollments.csv', 5, 'DANGLING_REFERENCE'],
      ['enrollments.csv', 14, 'DANGLING_REFERENCE'], ['enrollments.csv', 15, 'DANGLING_REFERENCE'],
    ]);
    expect(result.diff.users.created).toBe(9);
    const { users: members } = await snapshot(school);
    expect(members.map((u) => u.sourced_id)).not.toContain('604874');
    expect(members).toHaveLength(9);
  });
});

describe('a dry run', () => {
  it('prints the diff and writes nothing, not even the import', async () => {
    const school = await seedTenant(app.orm, 'Dry');
    const plan = await importPath(school, SAMPLE, { dryRun: true });
    expect(plan).toMatchObject({ applied: false, dryRun: true, importId: null, errors: [] });
    expect(plan.diff.users).toEqual({ created: 10, updated: 0, deactivated: 0, unchanged: 0, skipped: 0 });
    expect(plan.diff.enrollments.created).toBe(12);
    for (const table of ['sis_import', 'sis_record', 'course', 'enrollment', 'access_event']) {
      expect(await sql(app.orm, `select 1 from ${table} where tenant_id = ?`, [school.tenant.id])).toEqual([]);
    }
  });
});

describe('over GraphQL, for SERVICE credentials with roster:import', () => {
  let school: SeededTenant;
  let importer: string;
  let reader: string;
  const IMPORT = `mutation($input: ImportRosterInput!) { importRoster(input: $input) {
    importId applied dryRun errorCount files { file rows } diff { entity created updated deactivated unchanged skipped }
    errors { file line sourcedId code message } skipped { file line sourcedId reason } skippedCount ignoredFiles { name reason } } }`;
  const SAMPLE_FILES = ['manifest.csv', 'orgs.csv', 'users.csv', 'courses.csv', 'classes.csv', 'enrollments.csv', 'demographics.csv'];
  const files = (edit: (name: string, text: string) => string = (_, t) => t) =>
    SAMPLE_FILES.map((name) => ({ name, content: edit(name, read(name)) }));

  beforeAll(async () => {
    school = await seedTenant(app.orm, 'Over the wire');
    importer = (await issueToken(app.orm.em.fork(), school.tenant.id, { kind: TokenKind.SERVICE, scopes: ['roster:import'], label: 'SIS sync', ttlDays: 1 })).secret;
    reader = (await issueToken(app.orm.em.fork(), school.tenant.id, { kind: TokenKind.SERVICE, scopes: ['roster:read'], label: 'reader', ttlDays: 1 })).secret;
  });

  it('a dry run, then the import, as files; the events name the integration and purpose sis.sync', async () => {
    const dry = await app.gql(IMPORT, { input: { files: files(), dryRun: true } }, importer);
    expect(dry.errors).toBeUndefined();
    expect(dry.data).toMatchObject({ importRoster: { applied: false, dryRun: true, importId: null, errorCount: 0 } });
    const res = await app.gql<{ importRoster: { importId: string; applied: boolean; diff: { entity: string; created: number }[] } }, unknown>(
      IMPORT, { input: { files: files() } }, importer);
    expect(res.errors).toBeUndefined();
    expect(res.data!.importRoster.applied).toBe(true);
    expect(res.data!.importRoster.diff.map((d) => [d.entity, d.created])).toEqual([
      ['orgs', 2], ['users', 10], ['courses', 2], ['classes', 2], ['enrollments', 12]]);
    const events = await sql<{ purpose: string; actor_kind: string; credential_id: string; access_kind: string; resources: string[] }>(app.orm,
      `select purpose, actor_kind, credential_id, access_kind, resources from access_event where tenant_id = ? and root_field = 'Mutation.importRoster'`,
      [school.tenant.id]);
    const writes = events.filter((e) => e.access_kind === 'WRITE');
    expect(writes.length).toBeGreaterThan(0);
    for (const e of writes) {
      expect(e).toMatchObject({ purpose: 'sis.sync', actor_kind: 'SERVICE', resources: [`SisImport:${res.data!.importRoster.importId}`] });
    }
    const [{ actor }] = await sql<{ actor: string }>(app.orm, 'select actor from sis_import where id = ?', [res.data!.importRoster.importId]);
    expect(actor).toBe(writes[0].credential_id);
  });

  it('as a ZIP (files in a folder inside it), where the same set again changes nothing', async () => {
    const zip = new ZipWriter();
    for (const f of files()) zip.addBuffer(Buffer.from(f.content), `export-2021/${f.name}`);
    zip.end();
    const chunks: Buffer[] = [];
    for await (const c of zip.outputStream) chunks.push(c as Buffer);
    const res = await app.gql<{ importRoster: { diff: { entity: string; created: number; updated: number; unchanged: number }[] } }, unknown>(
      IMPORT, { input: { zipBase64: Buffer.concat(chunks).toString('base64') } }, importer);
    expect(res.errors).toBeUndefined();
    for (const d of res.data!.importRoster.diff) expect(d).toMatchObject({ created: 0, updated: 0 });
  });

  it('refuses a bad request clearly: both or neither of files and zip, a non-ZIP, a bad file name', async () => {
    for (const input of [{}, { files: files(), zipBase64: 'UEsFBg==' }]) {
      const res = await app.gql(IMPORT, { input }, importer);
      expect(codes(res)).toEqual(['BAD_USER_INPUT']);
    }
    expect(codes(await app.gql(IMPORT, { input: { zipBase64: 'not base64!' } }, importer))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await app.gql(IMPORT, { input: { zipBase64: Buffer.from('plain text').toString('base64') } }, importer))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await app.gql(IMPORT, { input: { files: [{ name: '../users.csv', content: '' }] } }, importer))).toEqual(['BAD_USER_INPUT']);
  });

  it('is refused to a roster:read service and to an administrator', async () => {
    const admin = await school.admin();
    for (const token of [reader, admin.token]) {
      const res = await app.gql(IMPORT, { input: { files: files(), dryRun: true } }, token);
      expect(codes(res)).toEqual(['FORBIDDEN']);
    }
  });

  it('leaves a person under restriction alone, and says so', async () => {
    const [mary] = await sql<{ id: string }>(app.orm, "select id from app_user where tenant_id = ? and email = 'mary.archer@studentgps.org'",
      [school.tenant.id]);
    await sql(app.orm, "insert into processing_restriction (tenant_id, user_id, reason, since) values (?, ?, 'REQUEST', now())",
      [school.tenant.id, mary.id]);
    const renamed = files((name, text) => (name === 'users.csv' ? text.replace(',Mary,Archer,', ',Maria,Archer,') : text));
    const res = await app.gql<{ importRoster: { skipped: { sourcedId: string; reason: string }[]; diff: { entity: string; updated: number }[] } }, unknown>(
      IMPORT, { input: { files: renamed } }, importer);
    expect(res.errors).toBeUndefined();
    expect(res.data!.importRoster.skipped.filter((s) => s.sourcedId === '604863')).toEqual([
      expect.objectContaining({ reason: expect.stringMatching(/restricted or erased at their request/) })]);
    expect(res.data!.importRoster.diff.find((d) => d.entity === 'users')!.updated).toBe(0);
    const [after] = await sql<{ given_name: string }>(app.orm, 'select given_name from app_user where id = ?', [mary.id]);
    expect(after.given_name).toBe('Mary');
  });
});
