import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { fromBufferPromise } from 'yauzl';
import { ZipFile as ZipWriter } from 'yazl';
import { codes, startTestApp, type TestApp } from '../support/harness';
import { seedTenant, sql, type Member, type SeededTenant } from '../support/seed';
import { sealEverything } from '../support/audit';
import { JobRunner } from '../../src/jobs/queue';
import { jobHandlers } from '../../src/jobs/handlers';
import { publishSigningKey } from '../../src/audit/sealer';
import { signingKeyFromPem, type SigningKey } from '../../src/audit/checkpoint';
import { buildBareSchema } from '../../src/schema/build';
import { privacyRegistry } from '../../src/privacy/registry';
import { verifyExportPackage } from '../../src/modules/dsr/export/verify-package';
import { hashSecret } from '../../src/modules/token/token.secret';
import { issueToken } from '../../src/modules/token/token.service';
import { TokenKind } from '../../src/modules/token/api-token.entity';
import type { Course } from '../../src/modules/course/course.entity';
import { bindTenant } from '../../src/server/transaction-plugin';
import { checkpointFromRow } from '../../src/audit/sealer';
import { exportFiles, loadSummary, scanLeaves, type ExportSource } from '../../src/modules/dsr/export/build';
import { loadPrivacySettings } from '../../src/modules/dsr/privacy-settings';

const DAY = 86_400_000;

interface ExportView {
  createdAt: string; expiresAt: string; bytes: number; sha256: string; events: number; downloadPath: string; expired: boolean;
}
interface Download { status: number; headers: Headers; body: Buffer; code?: unknown }
interface Location { file: string; at: string }
type Json = Record<string, unknown>;

/** RFC 4180 rows (quotes, doubled quotes, CRLF). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [], field = '', quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (c === '"') quoted = false; else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; } else if (c === '\n') {
      row.push(field.replace(/\r$/, ''));
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field || row.length) rows.push([...row, field]);
  return rows;
}

async function unzip(body: Buffer): Promise<Map<string, string>> {
  const zip = await fromBufferPromise(body);
  const files = new Map<string, string>();
  for await (const entry of zip.eachEntry()) {
    const chunks: Buffer[] = [];
    for await (const chunk of await zip.openReadStreamPromise(entry)) chunks.push(chunk as Buffer);
    files.set(entry.fileName, Buffer.concat(chunks).toString('utf8'));
  }
  return files;
}

async function rezip(files: Map<string, string>): Promise<Buffer> {
  const zip = new ZipWriter();
  for (const [name, text] of files) zip.addBuffer(Buffer.from(text, 'utf8'), name);
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Whether the member an export.json path names exists wherever the data has a parent for it: `a.b[].c`
 * walks every element of a list, and a null object (an optional part with no value) has nothing below it.
 */
function resolves(doc: unknown, at: string): boolean {
  let values: unknown[] = [doc];
  for (const part of at.split('.')) {
    const list = part.endsWith('[]');
    const key = list ? part.slice(0, -2) : part;
    const next: unknown[] = [];
    for (const v of values) {
      if (v === null) continue;
      if (typeof v !== 'object' || !(key in (v as Json))) return false;
      const child = (v as Json)[key];
      if (list) {
        if (!Array.isArray(child)) return false;
        next.push(...child);
      } else next.push(child);
    }
    values = next;
  }
  return true;
}

/** Right-of-access exports: built by a job once the history is sealed, downloaded over HTTP, verified offline. */
describe('right-of-access exports', () => {
  let app: TestApp;
  let key: SigningKey;
  let school: SeededTenant;
  let other: SeededTenant;
  let admin: Member;
  let foreignAdmin: Member;
  let teacher: Member;
  let ann: Member;
  let carl: Member;
  let ben: Member;
  let course: Course;
  let dir: string;
  let clockShiftMs = 0;
  let runner: JobRunner;

  beforeAll(async () => {
    app = await startTestApp();
    key = signingKeyFromPem(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    await publishSigningKey(app.orm.em.fork(), key);
    runner = new JobRunner({
      owner: app.orm, work: app.appOrm, handlers: jobHandlers, log: pino({ level: 'silent' }), signingKey: key,
      now: () => new Date(Date.now() + clockShiftMs),
    });
    dir = mkdtempSync(path.join(os.tmpdir(), 'custos-exports-'));

    school = await seedTenant(app.orm, 'Exports');
    other = await seedTenant(app.orm, 'Elsewhere');
    admin = await school.admin();
    foreignAdmin = await other.admin();
    teacher = await school.instructor({ givenName: 'Euphemia', familyName: 'Strathclyde' });
    ann = await school.student({
      givenName: 'Annika', familyName: 'Quorndale', email: 'annika.quorndale@exports.test', studentNumber: 'S-ANN-4471',
    });
    carl = await school.student({ givenName: 'Bartholomew', familyName: 'Zeddicus', email: 'bart.zeddicus@exports.test' });
    ben = await school.student({ givenName: 'Benedikt', familyName: 'Oyelaran' });
    course = await school.course('Quantum Basket Weaving');
    for (const m of [teacher, ann, carl, ben]) await school.enroll(course, m);
    await sql(app.orm, 'update app_user set avatar_url = ? where id = ?', ['https://cdn.example/annika.png', ann.user.id]);

    // Ann's own content, and a classmate's around it.
    const [annsPost] = await school.posts(course, ann, 3);
    const [carlsPost] = await school.posts(course, carl, 1);
    await school.comment(annsPost, carl, 'Carl replies with a secret-of-carl remark');
    await school.comment(carlsPost, ann, 'Annika comments on the weaving pattern');
    await school.react(carlsPost, ann);
    // Requests through the API: accesses by the instructor, a grade, a post, a rectification.
    for (const m of [teacher, ann, ben]) {
      await app.gql('query($id: ID!) { course(id: $id) { roster(first: 50) { edges { node { finalGrade user { email } } } } } }',
        { id: course.id }, m.token);
    }
    for (const m of [ann, ben]) {
      const graded = await app.gql('mutation($c: ID!, $u: ID!) { setGrade(courseId: $c, userId: $u, grade: "A-") { id } }',
        { c: course.id, u: m.user.id }, teacher.token);
      expect(graded.errors).toBeUndefined();
    }
    await app.gql('mutation($c: ID!) { createPost(courseId: $c, input: { body: "Annika asks about the loom homework" }) { id } }',
      { c: course.id }, ann.token);
    // An integration receives Ann's profile before she corrects it: a named recipient, owed an Art. 19 notice.
    const sis = (await issueToken(app.orm.em.fork(), school.tenant.id,
      { kind: TokenKind.SERVICE, scopes: ['roster:read'], label: 'SIS sync', ttlDays: 1 })).secret;
    expect((await app.gql('query($id: ID!) { user(id: $id) { displayName email } }', { id: ann.user.id }, sis)).errors).toBeUndefined();
    const rect = await app.gql<{ fileDataRequest: { id: string } }, object>(
      'mutation { fileDataRequest(input: { type: RECTIFICATION, changes: [{ field: DISPLAY_NAME, value: "Annika Q." }] }) { id } }',
      {}, ann.token);
    await app.gql('mutation($id: ID!) { approveDataRequest(id: $id) { id } }', { id: rect.data!.fileDataRequest.id }, admin.token);
    await sql(app.orm, 'insert into legal_hold (id, tenant_id, user_id, reason, placed_by) values (?, ?, ?, ?, ?)',
      [randomUUID(), school.tenant.id, ann.user.id, 'Grade appeal pending before the exam board', admin.user.id]);
    expect((await runner.runDue()).done).toBe(1);
  });

  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await app.close();
  });

  const request = (id: string, token: string) => app.gql<{ dataRequest: { status: string; export: ExportView | null } }, object>(
    'query($id: ID!) { dataRequest(id: $id) { status export { createdAt expiresAt bytes sha256 events downloadPath expired } } }',
    { id }, token);
  const download = async (id: string, token?: string | null): Promise<Download> => {
    const res = await app.http(`/exports/${id}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    const body = Buffer.from(await res.arrayBuffer());
    const code = res.headers.get('content-type')?.includes('json') ? JSON.parse(body.toString()).errors[0].extensions.code : undefined;
    return { status: res.status, headers: res.headers, body, code };
  };
  const downloadEvents = async (subject: Member) => Number((await sql<{ n: string }>(app.orm,
    `select count(*) as n from access_event e
       join access_event_subject s on s.event_id = e.id join subject_key k on k.pseudonym = s.pseudonym
      where k.user_id = ? and e.root_field = 'Export.download' and e.access_kind = 'READ' and e.purpose = 'data_subject_rights'`,
    [subject.user.id]))[0].n);
  const verifyFile = async (body: Buffer, keys = [key.publicKeyRaw]) => {
    const file = path.join(dir, `${randomUUID()}.zip`);
    writeFileSync(file, body);
    return verifyExportPackage(file, keys);
  };
  const makeProcessingDue = () => sql(app.orm, "update job set run_at = now() where kind = 'dsr.process' and finished_at is null");

  /** Files (as `filer`) and approves an ACCESS request, then runs the job until the export is built. */
  async function exportOf(filer: Member, subject: Member): Promise<string> {
    const filed = await app.gql<{ fileDataRequest: { id: string } }, object>(
      'mutation($s: ID) { fileDataRequest(input: { type: ACCESS, subjectId: $s }) { id } }', { s: subject.user.id }, filer.token);
    expect(filed.errors).toBeUndefined();
    const id = filed.data!.fileDataRequest.id;
    expect((await app.gql('mutation($id: ID!) { approveDataRequest(id: $id) { id } }', { id }, admin.token)).errors).toBeUndefined();

    // Not sealed yet: the job starts the request and waits for the sealer instead of exporting unprovable events.
    await runner.runDue();
    expect((await request(id, admin.token)).data!.dataRequest).toEqual({ status: 'IN_PROGRESS', export: null });
    await sealEverything(app.orm, key);
    await makeProcessingDue();
    await runner.runDue();
    expect((await request(id, admin.token)).data!.dataRequest.status).toBe('COMPLETED');
    return id;
  }

  let annsRequest: string;
  let annsZip: Buffer;

  it('exports everything about the subject, signed and proven, downloadable by them over HTTP', async () => {
    annsRequest = await exportOf(ann, ann);
    const view = (await request(annsRequest, ann.token)).data!.dataRequest.export!;
    expect(view).toMatchObject({ downloadPath: `/exports/${annsRequest}`, expired: false });
    expect(Date.parse(view.expiresAt) - Date.parse(view.createdAt)).toBe(7 * DAY);

    const got = await download(annsRequest, ann.token);
    expect(got.status).toBe(200);
    expect(got.headers.get('content-type')).toBe('application/zip');
    expect(got.headers.get('content-disposition')).toBe(`attachment; filename="custos-export-${annsRequest}.zip"`);
    expect(Number(got.headers.get('content-length'))).toBe(got.body.length);
    expect(got.body.length).toBe(view.bytes);
    expect(createHash('sha256').update(got.body).digest('hex')).toBe(view.sha256);
    annsZip = got.body;

    const report = await verifyFile(got.body);
    expect(report.failures).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.events).toBe(view.events);

    const files = await unzip(got.body);
    expect([...files.keys()]).toEqual(['access-history.csv', 'export.json', 'index.html', 'manifest.json']);
    const doc = JSON.parse(files.get('export.json')!) as Json;
    expect(doc.format).toBe('custos.subject-export.v1');

    // Every classified field of the API has a place in the export, and that place exists in the document.
    const registry = privacyRegistry(await buildBareSchema());
    const fields = doc.fields as { coordinate: string; category: string; locations: Location[] }[];
    const indexed = new Set(fields.map((f) => f.coordinate));
    expect(registry.personalFields().map((f) => f.coordinate).filter((c) => !indexed.has(c))).toEqual([]);
    const header = parseCsv(files.get('access-history.csv')!)[0];
    for (const f of fields) {
      for (const l of f.locations) {
        if (l.file === 'export.json') expect([f.coordinate, l.at, resolves(doc, l.at)]).toEqual([f.coordinate, l.at, true]);
        else expect(header).toContain(l.at);
      }
    }

    // Ann's own values are there, in the sections they belong to.
    expect(doc.profile).toMatchObject({
      givenName: 'Annika', familyName: 'Quorndale', displayName: 'Annika Q.', email: 'annika.quorndale@exports.test',
      studentNumber: 'S-ANN-4471', avatarUrl: 'https://cdn.example/annika.png', role: 'STUDENT', source: 'MANUAL',
    });
    expect(doc.enrollments).toEqual([
      expect.objectContaining({ course: expect.objectContaining({ title: 'Quantum Basket Weaving' }), finalGrade: 'A-' }),
    ]);
    const bodies = (doc.posts as { body: string }[]).map((p) => p.body);
    expect(bodies).toHaveLength(4);
    expect(bodies).toContain('Annika asks about the loom homework');
    expect((doc.comments as { body: string }[]).map((c) => c.body)).toEqual(['Annika comments on the weaving pattern']);
    expect(doc.reactions).toEqual([expect.objectContaining({ kind: 'LIKE' })]);
    expect((doc.credentials as Json[])[0]).toMatchObject({ label: 'test', kind: 'USER', status: 'ACTIVE' });
    expect((doc.dataRequests as Json[]).map((r) => r.type)).toEqual(['RECTIFICATION', 'ACCESS']);
    expect((doc.dataRequests as { changes: Json[] }[])[0].changes)
      .toEqual([{ field: 'DISPLAY_NAME', before: expect.any(String), after: 'Annika Q.' }]);
    expect(doc.legalHolds).toEqual([expect.objectContaining({ reason: 'Grade appeal pending before the exam board', active: true })]);
    expect(doc.recipients).toMatchObject({
      statement: expect.stringContaining('received your data'),
      thirdParties: [{ recipient: 'SIS sync', scopes: ['roster:read'], categories: ['user.contact.email', 'user.name'], accesses: 1 }],
      notices: [{ recipient: 'SIS sync', reason: 'RECTIFICATION', categories: ['user.name'], sentAt: null }],
    });
    const purposes = doc.purposes as { key: string; lawfulBasis: { article: string } }[];
    expect(purposes.find((p) => p.key === 'education.assessment')!.lawfulBasis.article).toMatch(/Art\. 6/);
    const categories = doc.categories as { key: string; held: boolean; retention: { period: string } }[];
    expect(categories.every((c) => c.retention.period.length > 0)).toBe(true);
    expect(categories.find((c) => c.key === 'user.education.grade')!.held).toBe(true);
    expect((doc.rights as { law: string }[]).map((r) => r.law).join(' ')).toMatch(/Art\. 15.*Art\. 77/s);

    // Nobody else's data: not the classmate's name, email or comment, not the instructor's name (names are off by default).
    const everything = [...files.values()].join('\n');
    // Token metadata only: neither a secret nor its hash.
    expect(everything).not.toContain(ann.token);
    expect(everything).not.toContain(hashSecret(ann.token));
    for (const foreign of ['Bartholomew', 'Zeddicus', 'bart.zeddicus', 'secret-of-carl', 'Euphemia', 'Strathclyde', 'Benedikt']) {
      expect([foreign, everything.includes(foreign)]).toEqual([foreign, false]);
    }

    // The history lists exactly Ann's events sealed under the manifest's checkpoint, by role only.
    const manifest = JSON.parse(files.get('manifest.json')!) as
      { audit: { checkpoint: { treeSize: number }; leaves: { eventId: string }[] } };
    const sealed = await sql<{ event_id: string }>(app.orm,
      `select s.event_id from access_event_subject s
         join subject_key k on k.pseudonym = s.pseudonym join audit_leaf l on l.event_id = s.event_id
        where k.user_id = ? and l.leaf_index < ?`, [ann.user.id, manifest.audit.checkpoint.treeSize]);
    const rows = parseCsv(files.get('access-history.csv')!);
    expect(rows[0])
      .toEqual(['event_id', 'occurred_at', 'accessor_role', 'by_you', 'access_kind', 'categories', 'purpose', 'operation', 'outcome']);
    const listed = rows.slice(1).map((r) => r[0]);
    expect(new Set(listed)).toEqual(new Set(sealed.map((r) => r.event_id)));
    expect(listed).toHaveLength(sealed.length);
    expect(new Set(manifest.audit.leaves.map((l) => l.eventId))).toEqual(new Set(listed));
    const byTeacher = rows.find((r) => r[2] === 'INSTRUCTOR' && r[7] === 'Query.course')!;
    expect(byTeacher).toEqual([expect.any(String), expect.stringMatching(/Z$/), 'INSTRUCTOR', 'no', 'READ',
      expect.stringContaining('user.contact.email'), 'education.delivery', 'Query.course', 'SUCCESS']);
    expect(rows.some((r) => r[2] === 'STUDENT' && r[3] === 'yes')).toBe(true);
    // The export's own build is an access event too, recorded before it completed (sealed later, so not in this file).
    const built = await sql<{ actor_kind: string; purpose: string }>(app.orm,
      `select e.actor_kind, e.purpose from access_event e
         join access_event_subject s on s.event_id = e.id join subject_key k on k.pseudonym = s.pseudonym
        where k.user_id = ? and e.root_field = 'Export.build' and e.access_kind = 'READ'`, [ann.user.id]);
    expect(built).toEqual([{ actor_kind: 'SYSTEM', purpose: 'data_subject_rights' }]);

    // index.html: readable offline, nothing loaded from anywhere, values escaped.
    const html = files.get('index.html')!;
    expect(html).toContain('Annika asks about the loom homework');
    expect(html).toContain("default-src 'none'");
    expect(html).not.toMatch(/<script|<img|<link|<iframe|url\(/i);
  });

  it('reads in keyset pages: with pages of two rows, the files list the same records', async () => {
    const files = await unzip(annsZip);
    const manifest = JSON.parse(files.get('manifest.json')!) as
      { audit: { checkpoint: { treeSize: number }; leaves: { eventId: string }[] } };
    const doc = JSON.parse(files.get('export.json')!) as Json;
    await app.appOrm.em.fork().transactional(async (em) => {
      await bindTenant(em, school.tenant.id, { userId: null, privileged: true });
      const [cp] = await em.execute('select * from audit_checkpoint where tenant_id = ? and tree_size = ?',
        [school.tenant.id, manifest.audit.checkpoint.treeSize]);
      const [{ pseudonym }] = await em.execute<{ pseudonym: string }[]>('select pseudonym from subject_key where user_id = ?',
        [ann.user.id]);
      const base = {
        em, tenantId: school.tenant.id, subjectId: ann.user.id, pseudonym, checkpoint: checkpointFromRow(cp as never), batchSize: 2,
      };
      // Nothing to wait for: events sealed after the checkpoint are simply not listed.
      const leaves = await scanLeaves(base, new Date(0));
      expect(leaves!.map((l) => l.eventId).sort()).toEqual(manifest.audit.leaves.map((l) => l.eventId).sort());
      const source: ExportSource = {
        ...base, requestId: annsRequest, createdAt: new Date(), expiresAt: new Date(Date.now() + DAY),
        listed: new Set(leaves!.map((l) => l.eventId)), settings: await loadPrivacySettings(em, school.tenant.id),
        registry: privacyRegistry(await buildBareSchema()),
      };
      const rebuilt = new Map<string, string>();
      for (const f of exportFiles(source, await loadSummary(source), 'complaints')) {
        let text = '';
        for await (const chunk of f.content as AsyncIterable<string>) text += chunk;
        rebuilt.set(f.name, text);
      }
      expect(rebuilt.get('access-history.csv')).toBe(files.get('access-history.csv'));
      const again = JSON.parse(rebuilt.get('export.json')!) as Json;
      for (const list of ['enrollments', 'posts', 'comments', 'reactions', 'accessHistory']) {
        expect([list, again[list]]).toEqual([list, doc[list]]);
      }
    });
  });

  it('every download is an access event, written before the first byte; if it cannot be written, nothing is sent', async () => {
    const before = await downloadEvents(ann);
    expect((await download(annsRequest, ann.token)).status).toBe(200);
    expect((await download(annsRequest, admin.token)).status).toBe(200);
    expect(await downloadEvents(ann)).toBe(before + 2);

    const [{ role }] = await sql<{ role: string }>(app.orm, 'select custos_app_role() as role');
    await sql(app.orm, `revoke insert on access_event from ${role}`);
    try {
      const refused = await download(annsRequest, ann.token);
      expect([refused.status, refused.code]).toEqual([503, 'SERVICE_UNAVAILABLE']);
      expect(refused.body.toString()).not.toContain('PK');
    } finally {
      await sql(app.orm, `grant insert on access_event to ${role}`);
    }
    expect(await downloadEvents(ann)).toBe(before + 2);
  });

  it('nobody else downloads it: another member and another tenant\'s admin get 404, no token 401, a bad id 400', async () => {
    const before = await downloadEvents(ann);
    expect([(await download(annsRequest, carl.token)).status, (await download(annsRequest, carl.token)).code]).toEqual([404, 'NOT_FOUND']);
    expect((await download(annsRequest, teacher.token)).status).toBe(404);
    expect((await download(annsRequest, foreignAdmin.token)).status).toBe(404);
    expect((await download(randomUUID(), admin.token)).status).toBe(404);
    const anonymous = await download(annsRequest, null);
    expect([anonymous.status, anonymous.code, anonymous.headers.get('www-authenticate')]).toEqual([401, 'UNAUTHENTICATED', 'Bearer']);
    expect((await download(annsRequest, 'cst_not_a_real_token')).code).toBe('UNAUTHENTICATED');
    const malformed = await download('not-an-id', ann.token);
    expect([malformed.status, malformed.code]).toEqual([400, 'BAD_USER_INPUT']);
    expect(codes(await request(annsRequest, carl.token))).toEqual(['NOT_FOUND']);
    expect(await downloadEvents(ann)).toBe(before);
  });

  it('an administrator exports a member\'s data; accessors are named only where the tenant allows it', async () => {
    await app.gql('mutation { updatePrivacySettings(input: { showAccessorNames: true }) { showAccessorNames } }', {}, admin.token);
    try {
      const id = await exportOf(admin, ben);
      const got = await download(id, admin.token);
      expect(got.status).toBe(200);
      expect((await verifyFile(got.body)).ok).toBe(true);
      const files = await unzip(got.body);
      const rows = parseCsv(files.get('access-history.csv')!);
      expect(rows[0].slice(0, 4)).toEqual(['event_id', 'occurred_at', 'accessor_role', 'accessor_name']);
      expect(rows.find((r) => r[2] === 'INSTRUCTOR')![3]).toBe('Euphemia Strathclyde');
      expect(files.get('index.html')).toContain('Euphemia Strathclyde');
      const doc = JSON.parse(files.get('export.json')!) as Json;
      expect((doc.profile as Json).givenName).toBe('Benedikt');
      expect(doc.recipients)
        .toMatchObject({ thirdParties: [], notices: [], statement: expect.stringContaining('no record of disclosing') });
      expect(files.get('export.json')).not.toContain('Annika');
      // Ben may fetch his own export too; Ann may not.
      expect((await download(id, ben.token)).status).toBe(200);
      expect((await download(id, ann.token)).status).toBe(404);
    } finally {
      await app.gql('mutation { updatePrivacySettings(input: { showAccessorNames: false }) { showAccessorNames } }', {}, admin.token);
    }
  });

  it('a tampered download fails offline verification, with a distinct root cause per kind of change', async () => {
    const files = await unzip(annsZip);
    const edited = new Map(files);
    edited.set('export.json', files.get('export.json')!.replace('Quorndale', 'Quorndalf'));
    expect((await verifyFile(await rezip(edited))).rootCause).toBe('FILE_HASH_MISMATCH');

    const resigned = new Map(files);
    resigned.set('manifest.json', files.get('manifest.json')!.replace(/"createdAt": "\d{4}/, '"createdAt": "1999'));
    expect((await verifyFile(await rezip(resigned))).rootCause).toBe('BAD_SIGNATURE');

    const stranger = signingKeyFromPem(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    expect((await verifyFile(annsZip, [stranger.publicKeyRaw])).rootCause).toBe('UNKNOWN_KEY');
    expect((await verifyFile(annsZip)).ok).toBe(true);
  });

  it('the link expires: the expiry job deletes the file, the request becomes EXPIRED and the download answers 410', async () => {
    // Early runs of the expiry job change nothing.
    await sql(app.orm, "update job set run_at = now() where kind = 'dsr.expire_export' and payload->>'requestId' = ?", [annsRequest]);
    await runner.runDue();
    expect((await request(annsRequest, ann.token)).data!.dataRequest.status).toBe('COMPLETED');

    clockShiftMs = 8 * DAY;
    try {
      await runner.runDue();
    } finally {
      clockShiftMs = 0;
    }
    const after = (await request(annsRequest, ann.token)).data!.dataRequest;
    expect(after).toMatchObject({ status: 'EXPIRED', export: { expired: true } });
    expect(await sql(app.orm, 'select 1 from data_export_chunk where request_id = ?', [annsRequest])).toEqual([]);
    expect(await sql(app.orm, 'select deleted_at is not null as deleted from data_export where request_id = ?', [annsRequest]))
      .toEqual([{ deleted: true }]);
    const gone = await download(annsRequest, ann.token);
    expect([gone.status, gone.code]).toEqual([410, 'EXPORT_EXPIRED']);
    // Expired, the request is closed: the person may ask again, and the new export lists the old one.
    const id = await exportOf(ann, ann);
    const doc = JSON.parse((await unzip((await download(id, ann.token)).body)).get('export.json')!) as { dataRequests: Json[] };
    expect(doc.dataRequests.find((r) => r.id === annsRequest)).toMatchObject({
      status: 'EXPIRED', export: { expired: true, sha256: createHash('sha256').update(annsZip).digest('hex'), bytes: annsZip.length },
    });
    for (const k of ['createdAt', 'expiresAt', 'bytes', 'sha256', 'events', 'expired']) {
      expect([k, resolves(doc, `dataRequests[].export.${k}`)]).toEqual([k, true]);
    }
  });
});
