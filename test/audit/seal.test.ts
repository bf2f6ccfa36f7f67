import { generateKeyPairSync, randomUUID } from 'node:crypto';
import pg from 'pg';
import { startTestApp, type TestApp } from '../support/harness';
import { sealEverything, unsealedCount, waitUntilSealable } from '../support/audit';
import { seedTenant, sql, type Member, type SeededTenant } from '../support/seed';
import pino from 'pino';
import { sealOnce, loadNodes, checkpointFromRow, Sealer } from '../../src/audit/sealer';
import { signingKeyFromPem, verifyCheckpointSignature, checkpointHash, checkpointBytes, signCheckpoint, type SigningKey } from '../../src/audit/checkpoint';
import { inclusionProof, inclusionProofIds, leafHash, nodeKey, verifyInclusion } from '../../src/audit/merkle';
import { leafBytes, type EventRecord } from '../../src/audit/leaf';

const newKey = (): SigningKey => signingKeyFromPem(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);

/** Sealing: every committed event lands in its tenant's tree exactly once, under a signed checkpoint. */
describe('sealing the access log', () => {
  let app: TestApp;
  let north: SeededTenant;
  let south: SeededTenant;
  let nAdmin: Member;
  let sAdmin: Member;
  let key: SigningKey;

  beforeAll(async () => {
    app = await startTestApp();
    key = newKey();
    north = await seedTenant(app.orm, 'North');
    south = await seedTenant(app.orm, 'South');
    nAdmin = await north.admin();
    sAdmin = await south.admin();
    await north.student();
  });
  afterAll(() => app.close());

  const traffic = async (times = 3) => {
    for (let i = 0; i < times; i++) {
      await app.gql('{ users(first: 20) { edges { node { email } } } }', {}, nAdmin.token);
      await app.gql('{ viewer { role } }', {}, sAdmin.token);
    }
  };
  const unsealed = () => unsealedCount(app.orm);
  const latest = async (tenantId: string) => checkpointFromRow((await sql(app.orm,
    'select * from audit_checkpoint where tenant_id = ? order by tree_size desc limit 1', [tenantId]))[0] as never);

  it('seals each tenant\'s events into its own tree and signs a chained checkpoint', async () => {
    await traffic();
    const first = await sealOnce(app.orm, key);
    expect(first.leader).toBe(true);
    await sealEverything(app.orm, key);
    expect(await unsealed()).toBe(0);
    await traffic(1);
    await sealEverything(app.orm, key);
    for (const tenant of [north.tenant, south.tenant]) {
      const c = await latest(tenant.id);
      expect(verifyCheckpointSignature(c, key.publicKeyRaw)).toBe(true);
      const leaves = Number((await sql<{ n: string }>(app.orm, 'select count(*) as n from audit_leaf where tenant_id = ?', [tenant.id]))[0].n);
      expect(c.treeSize).toBe(leaves);
      const chain = (await sql(app.orm, 'select * from audit_checkpoint where tenant_id = ? order by tree_size', [tenant.id])).map((r) => checkpointFromRow(r as never));
      expect(chain[0].previousHash).toBeNull();
      for (let i = 1; i < chain.length; i++) expect(chain[i].previousHash).toEqual(checkpointHash(chain[i - 1]));
    }
  });

  it('proves every sealed event\'s inclusion from O(log n) stored nodes', async () => {
    const c = await latest(north.tenant.id);
    const leaves = await sql<EventRecord & { leaf_index: string }>(app.orm,
      `select l.leaf_index::text, e.*, coalesce((select json_agg(json_build_array(s.pseudonym, s.categories)) from access_event_subject s where s.event_id = e.id), '[]'::json) as subjects
         from audit_leaf l join access_event e on e.id = l.event_id where l.tenant_id = ? order by l.leaf_index`, [north.tenant.id]);
    for (const leaf of leaves) {
      const index = Number(leaf.leaf_index);
      const nodes = await loadNodes(app.orm.em.fork() as never, north.tenant.id, inclusionProofIds(index, c.treeSize));
      const proof = inclusionProof(index, c.treeSize, new Map(nodes.map((n) => [nodeKey(n), n.hash])));
      expect(verifyInclusion(leafHash(leafBytes(leaf)), index, c.treeSize, proof, c.root)).toBe(true);
    }
  });

  it('never seals an event of a transaction still running, and seals it once it commits; aborted events never appear', async () => {
    const slow = new pg.Client({ connectionString: app.databaseUrl });
    const aborted = new pg.Client({ connectionString: app.databaseUrl });
    await slow.connect();
    await aborted.connect();
    const insertEvent = (client: pg.Client, id: string) => client.query(
      `insert into access_event (id, tenant_id, occurred_at, request_id, operation_type, root_field, fields, access_kind, purpose,
         actor_kind, resources, outcome, item_count) values ($1, $2, now(), 'slow', 'system', 'Query.viewer', '{}', 'READ', 'audit', 'SYSTEM', '{}', 'SUCCESS', 0)`,
      [id, north.tenant.id]);
    const slowId = randomUUID();
    const abortedId = randomUUID();
    try {
      await slow.query('begin');
      await insertEvent(slow, slowId); // takes a transaction id now, commits much later
      await aborted.query('begin');
      await insertEvent(aborted, abortedId);
      await traffic(2); // later transactions commit first
      await sealOnce(app.orm, key);
      await aborted.query('rollback');
      const sealedIds = async () => new Set((await sql<{ event_id: string }>(app.orm, 'select event_id from audit_leaf')).map((r) => r.event_id));
      expect((await sealedIds()).has(slowId)).toBe(false);
      await slow.query('commit');
      await traffic(1);
      await sealEverything(app.orm, key);
      const sealed = await sealedIds();
      expect(sealed.has(slowId)).toBe(true);
      expect(sealed.has(abortedId)).toBe(false);
      const [{ events, leaves, distinct }] = await sql<{ events: string; leaves: string; distinct: string }>(app.orm,
        'select (select count(*) from access_event) as events, (select count(*) from audit_leaf) as leaves, (select count(distinct event_id) from audit_leaf) as distinct');
      expect([leaves, distinct]).toEqual([events, events]);
    } finally {
      await slow.end();
      await aborted.end();
    }
  });

  it('a sealer that dies mid-batch leaves nothing behind, and the next round seals everything once', async () => {
    await traffic(2);
    await waitUntilSealable(app.orm);
    const before = await sql(app.orm, 'select count(*) from audit_leaf');
    let sealing = 0;
    await expect(sealOnce(app.orm, key, { beforeCommit: async () => {
      sealing = Number((await sql<{ n: string }>(app.orm, 'select count(*) as n from audit_leaf'))[0].n); // another connection: sees nothing new
      throw new Error('killed');
    } })).rejects.toThrow('killed');
    expect([{ count: String(sealing) }]).toEqual(before);
    expect(await sql(app.orm, 'select count(*) from audit_leaf')).toEqual(before);
    await sealEverything(app.orm, key);
    expect(await unsealed()).toBe(0);
  });

  it('two sealers racing: one seals, the other stands aside', async () => {
    await traffic(2);
    await waitUntilSealable(app.orm);
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    const winner = sealOnce(app.orm, key, { beforeCommit: () => held });
    await new Promise((r) => setTimeout(r, 100));
    const loser = await sealOnce(app.orm, key);
    release();
    expect(loser).toMatchObject({ leader: false, events: 0 });
    expect((await winner).leader).toBe(true);
    await sealEverything(app.orm, key);
    const [{ dupes }] = await sql<{ dupes: string }>(app.orm, 'select count(*) - count(distinct event_id) as dupes from audit_leaf');
    expect(Number(dupes)).toBe(0);
    expect(await unsealed()).toBe(0);
  });

  it('with the sealer running: concurrent requests, long and rolled-back transactions; every committed event sealed exactly once', async () => {
    const sealer = new Sealer(app.orm, key, pino({ level: 'silent' }), 20);
    const clients = await Promise.all(Array.from({ length: 4 }, async () => {
      const c = new pg.Client({ connectionString: app.databaseUrl });
      await c.connect();
      return c;
    }));
    const insertEvent = (client: pg.Client) => client.query(
      `insert into access_event (id, tenant_id, occurred_at, request_id, operation_type, root_field, fields, access_kind, purpose,
         actor_kind, resources, outcome, item_count) values ($1, $2, now(), 'concurrent', 'system', 'Query.viewer', '{}', 'READ', 'audit', 'SYSTEM', '{}', 'SUCCESS', 0)`,
      [randomUUID(), north.tenant.id]);
    const aborted: string[] = [];
    sealer.start();
    try {
      // Two long transactions that commit late, two that roll back, all spanning many sealer rounds.
      for (const c of clients) await c.query('begin');
      for (const c of clients) await insertEvent(c);
      aborted.push(...(await clients[2].query("select id from access_event where request_id = 'concurrent'")).rows.map((r: { id: string }) => r.id));
      aborted.push(...(await clients[3].query("select id from access_event where request_id = 'concurrent'")).rows.map((r: { id: string }) => r.id));
      await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 3 === 0
        ? app.gql('mutation { updateMyProfile(input: { displayName: "Busy" }) { id } }', {}, nAdmin.token)
        : app.gql('{ users(first: 20) { edges { node { email } } } }', {}, nAdmin.token))));
      await new Promise((r) => setTimeout(r, 100));
      await clients[0].query('commit');
      await clients[2].query('rollback');
      await Promise.all(Array.from({ length: 10 }, () => app.gql('{ viewer { role } }', {}, sAdmin.token)));
      await clients[1].query('commit');
      await clients[3].query('rollback');
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      await sealer.stop();
      await Promise.all(clients.map((c) => c.end()));
    }
    await sealEverything(app.orm, key);
    const [{ events, leaves, distinct, strays }] = await sql<{ events: string; leaves: string; distinct: string; strays: string }>(app.orm,
      `select (select count(*) from access_event) as events, (select count(*) from audit_leaf) as leaves,
              (select count(distinct event_id) from audit_leaf) as distinct,
              (select count(*) from audit_leaf where event_id = any(array[?]::uuid[])) as strays`, [aborted]);
    expect(aborted.length).toBe(2);
    expect({ leaves, distinct, strays }).toEqual({ leaves: events, distinct: events, strays: '0' });
    for (const tenant of [north.tenant, south.tenant]) {
      const c = await latest(tenant.id);
      expect(verifyCheckpointSignature(c, key.publicKeyRaw)).toBe(true);
      const [{ n }] = await sql<{ n: string }>(app.orm, 'select count(*) as n from audit_leaf where tenant_id = ?', [tenant.id]);
      expect(c.treeSize).toBe(Number(n));
    }
  });

  it('splits a large backlog into batches without splitting a transaction', async () => {
    await traffic(5);
    const rounds = await sealEverything(app.orm, key, { batchSize: 3 });
    expect(rounds).toBeGreaterThan(1);
    expect(await unsealed()).toBe(0);
  });
});

/**
 * The formats are forever: these bytes and hashes were produced by today's code. If this test fails,
 * checkpoints already handed to auditors would no longer verify — add a new format version instead.
 */
describe('golden formats', () => {
  const pem = '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIHw5IKvUk9AFUbiS3T/WXZu0fb3Tb9h5b+3cL3m1rHcX\n-----END PRIVATE KEY-----\n';
  const event: EventRecord = {
    id: '7b1f1f4e-2d7a-4a43-9b0e-6f3a1d2c9e10', tenant_id: '0c4f0e5a-6b52-4a8e-9f3e-2b1d8c7a6e54', occurred_at: new Date('2026-11-24T10:15:30.123Z'),
    request_id: 'req-1', operation_type: 'query', operation_name: 'Roster', root_field: 'Query.course', fields: ['User.email', 'Enrollment.finalGrade'],
    access_kind: 'READ', purpose: 'education.delivery', actor_kind: 'USER', actor_role: 'INSTRUCTOR', actor_pseudonym: '5e0c1b9a-4f6d-4e2a-8c3b-7d9e0f1a2b3c',
    credential_id: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d', resources: ['Course:3f2e1d0c-9b8a-4f7e-8d6c-5b4a3f2e1d0c'], outcome: 'SUCCESS', error_code: null,
    item_count: 2, actor_ip: Buffer.from('0102', 'hex'), actor_user_agent: null,
    subjects: [['f1e2d3c4-b5a6-4978-8877-665544332211', ['user.education.grade', 'user.contact.email']], ['a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d', ['user.name']]],
  };

  it('hashes an event to the same leaf as ever', () => {
    expect(leafHash(leafBytes(event)).toString('hex')).toBe('18ed4011de5952689a05b62fe7e571731239348e7009f86d5e64fea2aa9092c2');
  });

  it('signs a checkpoint to the same bytes and signature as ever', () => {
    const key = signingKeyFromPem(pem);
    const c = signCheckpoint({
      tenantId: event.tenant_id, treeSize: 1, root: leafHash(leafBytes(event)), createdAt: new Date('2026-11-24T10:15:31.000Z'), previousHash: null, keyId: key.keyId,
    }, key);
    expect(checkpointBytes(c).toString('utf8')).toBe([
      'custos.checkpoint.v1',
      'tenant 0c4f0e5a-6b52-4a8e-9f3e-2b1d8c7a6e54',
      'size 1',
      'root 18ed4011de5952689a05b62fe7e571731239348e7009f86d5e64fea2aa9092c2',
      'time 2026-11-24T10:15:31.000Z',
      'previous none',
      'key 9e6ce639529e1d38d53785fe42f9e37f',
      '',
    ].join('\n'));
    expect(c.signature.toString('hex')).toBe('b4c78ea59fecb7db8bdc37c0e3d4cdf5ee4f6041762c72a54a617703a50f8c28dc4183e42d6d372b8a3118b9e919d69c6d0ea419bd653eb12507c38568e53a0f');
    expect(verifyCheckpointSignature(c, key.publicKeyRaw)).toBe(true);
  });
});
