import { generateKeyPairSync } from 'node:crypto';
import { buildBareSchema } from '../../src/schema/build';
import { rootFieldsWithPurpose } from '../../src/audit/purposes';
import { codes, startTestApp, type TestApp } from '../support/harness';
import { seedTenant, sql, type Member, type SeededTenant } from '../support/seed';
import { sealEverything } from '../support/audit';
import { checkpointBytes, signingKeyFromPem, verifyCheckpointSignature, type SigningKey } from '../../src/audit/checkpoint';
import { leafHash, verifyConsistency, verifyInclusion } from '../../src/audit/merkle';
import { issueToken } from '../../src/modules/token/token.service';
import { TokenKind } from '../../src/modules/token/api-token.entity';
import type { Course } from '../../src/modules/course/course.entity';

const fromHex = (h: string) => Buffer.from(h, 'hex');

interface CheckpointView { treeSize: number; root: string; signature: string; signedText: string; keyId: string; previousHash: string | null; createdAt: string }
const CHECKPOINT_FIELDS = 'treeSize root signature signedText keyId previousHash createdAt';

/** What an outside auditor gets over GraphQL, checked the way an outside auditor would check it. */
describe('the audit trail over GraphQL', () => {
  let app: TestApp;
  let school: SeededTenant;
  let admin: Member;
  let teacher: Member;
  let ann: Member;
  let course: Course;
  let auditor: string;
  let key: SigningKey;

  beforeAll(async () => {
    app = await startTestApp();
    key = signingKeyFromPem(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    school = await seedTenant(app.orm, 'Audited');
    admin = await school.admin();
    teacher = await school.instructor();
    ann = await school.student();
    course = await school.course();
    await school.enroll(course, teacher);
    await school.enroll(course, ann);
    auditor = (await issueToken(app.orm.em.fork(), school.tenant.id, { kind: TokenKind.AUDITOR, label: 'auditor', ttlDays: 30 })).secret;
  });
  afterAll(() => app.close());

  const rosterRead = () => app.gql(`query($id: ID!) { course(id: $id) { roster(first: 10) { edges { node { role finalGrade user { email } } } } } }`, { id: course.id }, teacher.token);

  it('every root field has a declared purpose', async () => {
    const schema = await buildBareSchema();
    const roots = [schema.getQueryType()!, schema.getMutationType()!].flatMap((t) => Object.keys(t.getFields()).map((f) => `${t.name}.${f}`));
    expect(rootFieldsWithPurpose().sort()).toEqual(roots.sort());
  });

  it('serves signed checkpoints and the public keys to check them with', async () => {
    await rosterRead();
    await sealEverything(app.orm, key);
    await rosterRead();
    await sealEverything(app.orm, key);
    const res = await app.gql<{ auditCheckpoint: CheckpointView; auditPublicKeys: { keyId: string; publicKey: string; pem: string }[] }, object>(
      `{ auditCheckpoint { ${CHECKPOINT_FIELDS} } auditPublicKeys { keyId publicKey pem } }`, {}, auditor);
    expect(res.errors).toBeUndefined();
    const c = res.data!.auditCheckpoint;
    const published = res.data!.auditPublicKeys.find((k) => k.keyId === c.keyId)!;
    expect(published.pem).toContain('BEGIN PUBLIC KEY');
    const checkpoint = { tenantId: school.tenant.id, treeSize: c.treeSize, root: fromHex(c.root), createdAt: new Date(c.createdAt),
      previousHash: c.previousHash ? fromHex(c.previousHash) : null, keyId: c.keyId, signature: fromHex(c.signature) };
    expect(checkpointBytes(checkpoint).toString('utf8')).toBe(c.signedText);
    expect(verifyCheckpointSignature(checkpoint, Buffer.from(published.publicKey, 'base64'))).toBe(true);
    expect(verifyCheckpointSignature({ ...checkpoint, treeSize: c.treeSize + 1 }, Buffer.from(published.publicKey, 'base64'))).toBe(false);
  });

  it('proves an access event is in the signed tree, from its exact bytes', async () => {
    const [{ event_id: eventId }] = await sql<{ event_id: string }>(app.orm, 'select event_id from audit_leaf where tenant_id = ? order by leaf_index limit 1', [school.tenant.id]);
    const res = await app.gql<{ auditInclusionProof: { leafIndex: number; treeSize: number; leafData: string; leafHash: string; path: string[]; checkpoint: CheckpointView } }, object>(
      `query($e: ID!) { auditInclusionProof(eventId: $e) { leafIndex treeSize leafData leafHash path checkpoint { root } } }`, { e: eventId }, auditor);
    expect(res.errors).toBeUndefined();
    const p = res.data!.auditInclusionProof;
    expect(leafHash(Buffer.from(p.leafData, 'utf8')).toString('hex')).toBe(p.leafHash);
    expect(JSON.parse(p.leafData)[1]).toBe(eventId);
    expect(verifyInclusion(fromHex(p.leafHash), p.leafIndex, p.treeSize, p.path.map(fromHex), fromHex(p.checkpoint.root))).toBe(true);
    expect(verifyInclusion(fromHex(p.leafHash), p.leafIndex + 1, p.treeSize, p.path.map(fromHex), fromHex(p.checkpoint.root))).toBe(false);
    expect(p.leafData).not.toContain(ann.user.email);
  });

  it('proves a later checkpoint extends an earlier one', async () => {
    const sizes = (await sql<{ tree_size: string }>(app.orm, 'select tree_size from audit_checkpoint where tenant_id = ? order by tree_size', [school.tenant.id])).map((r) => Number(r.tree_size));
    expect(sizes.length).toBeGreaterThan(1);
    const res = await app.gql<{ auditConsistencyProof: { fromSize: number; toSize: number; path: string[]; from: { root: string }; to: { root: string } } }, object>(
      'query($f: Float!) { auditConsistencyProof(fromSize: $f) { fromSize toSize path from { root } to { root } } }', { f: sizes[0] }, auditor);
    expect(res.errors).toBeUndefined();
    const p = res.data!.auditConsistencyProof;
    expect(verifyConsistency(p.fromSize, p.toSize, p.path.map(fromHex), fromHex(p.from.root), fromHex(p.to.root))).toBe(true);
    expect(verifyConsistency(p.fromSize, p.toSize, p.path.map(fromHex), fromHex(p.to.root), fromHex(p.from.root))).toBe(false);
  });

  it('answers unsealed, unknown and foreign events alike, and uncheckpointed sizes as the caller\'s error', async () => {
    await rosterRead(); // not sealed yet
    const [{ id: unsealed }] = await sql<{ id: string }>(app.orm,
      'select id from access_event e where tenant_id = ? and not exists (select 1 from audit_leaf l where l.event_id = e.id) limit 1', [school.tenant.id]);
    for (const e of [unsealed, '00000000-0000-4000-8000-000000000000']) {
      expect(codes(await app.gql('query($e: ID!) { auditInclusionProof(eventId: $e) { path } }', { e }, auditor))).toEqual(['NOT_FOUND']);
    }
    expect(codes(await app.gql('{ auditConsistencyProof(fromSize: 999999) { path } }', {}, auditor))).toEqual(['BAD_USER_INPUT']);
  });

  it('shows a person who accessed their data, when, why and which categories; and an admin the same for a member', async () => {
    await rosterRead();
    const mine = await app.gql<{ myAccessHistory: { edges: { node: { actorKind: string; actorRole: string; purpose: string; operation: string; categories: string[]; accessKind: string } }[] } }, object>(
      '{ myAccessHistory(first: 50) { edges { node { eventId occurredAt actorKind actorRole purpose operation categories accessKind outcome } } } }', {}, ann.token);
    expect(mine.errors).toBeUndefined();
    const byTeacher = mine.data!.myAccessHistory.edges.map((e) => e.node).find((n) => n.actorRole === 'INSTRUCTOR' && n.operation === 'Query.course');
    expect(byTeacher).toMatchObject({ actorKind: 'USER', purpose: 'education.delivery', accessKind: 'READ' });
    expect(byTeacher!.categories).toEqual(expect.arrayContaining(['user.contact.email', 'user.education.enrollment']));

    const viaAdmin = await app.gql<{ accessHistory: { edges: { node: { eventId: string } }[] } }, object>(
      'query($u: ID!) { accessHistory(userId: $u, first: 50) { edges { node { eventId } } } }', { u: ann.user.id }, admin.token);
    expect(viaAdmin.errors).toBeUndefined();
    expect(viaAdmin.data!.accessHistory.edges.length).toBeGreaterThanOrEqual(mine.data!.myAccessHistory.edges.length);
  });

  it('pages through a history newest first without gaps or repeats', async () => {
    const [{ pseudonym }] = await sql<{ pseudonym: string }>(app.orm, 'select pseudonym from subject_key where user_id = ?', [ann.user.id]);
    // What the history holds before paging; each page's own read is recorded after it answered, newer than any cursor.
    const expected = (await sql<{ event_id: string }>(app.orm,
      'select event_id from access_event_subject where pseudonym = ? order by occurred_at desc, event_id desc', [pseudonym])).map((r) => r.event_id);
    const all: string[] = [];
    let after: string | null = null;
    do {
      const res: Awaited<ReturnType<TestApp['gql']>> = await app.gql('query($a: String) { myAccessHistory(first: 2, after: $a) { edges { node { eventId occurredAt } } pageInfo { hasNextPage endCursor } } }', { a: after }, ann.token);
      const page = (res.data as { myAccessHistory: { edges: { node: { eventId: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string } } }).myAccessHistory;
      all.push(...page.edges.map((e) => e.node.eventId));
      after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
    } while (after);
    expect(all).toEqual(expected);
  });

  it('records reading someone\'s access history as an access to their data', async () => {
    await app.gql('query($u: ID!) { accessHistory(userId: $u, first: 5) { edges { node { purpose } } } }', { u: ann.user.id }, admin.token);
    const [{ pseudonym }] = await sql<{ pseudonym: string }>(app.orm, 'select pseudonym from subject_key where user_id = ?', [ann.user.id]);
    const rows = await sql<{ root_field: string; categories: string[] }>(app.orm,
      `select e.root_field, s.categories from access_event_subject s join access_event e on e.id = s.event_id
        where s.pseudonym = ? order by s.occurred_at desc limit 1`, [pseudonym]);
    expect(rows[0]).toEqual({ root_field: 'Query.accessHistory', categories: ['user.access_history'] });
  });
});
