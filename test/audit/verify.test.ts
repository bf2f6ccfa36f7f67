// `verifyAuditLog` and `custos audit …` against logs tampered with the way a database owner could:
// append-only triggers (and foreign keys) switched off with session_replication_role = replica, rows
// updated, deleted and inserted, hashes recomputed, checkpoints re-signed. Each tampering gets a tenant of
// its own in one database (the verifier is run per tenant), and nothing is sealed after the tampering
// starts (the sealer would trip over trees broken on purpose). The CLI runs as a child process (build first).
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startTestApp, type TestApp } from '../support/harness';
import { seedTenant, sql, type Member, type SeededTenant } from '../support/seed';
import { sealEverything, waitUntilSealable } from '../support/audit';
import { checkpointFromRow } from '../../src/audit/sealer';
import { checkpointHash, signCheckpoint, signingKeyFromPem, type Checkpoint, type SigningKey } from '../../src/audit/checkpoint';
import { append, leafHash, nodeKey, rootFrom } from '../../src/audit/merkle';
import { EVENT_COLUMNS, leafBytes, type EventRecord } from '../../src/audit/leaf';
import { KEY_FILE } from '../../src/audit/signing-key';
import {
  checkpointFromJson, checkpointToJson, rootCause, verifyAuditLog, type VerifyReport,
} from '../../src/audit/verify';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/custos.js');
const newKey = (): SigningKey => signingKeyFromPem(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
const codes = (r: VerifyReport) => r.failures.map((f) => f.code);

interface Run { code: number | null; stdout: string; stderr: string }

function custos(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, timeout: 30_000, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'test', ...env } },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: unknown }).code as number | null) : 0;
        resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
      });
  });
}

/** Runs statements as the database owner with every trigger off (append-only guards and foreign keys alike), in one transaction. */
async function tamper(url: string, work: (q: (text: string, values?: unknown[]) => Promise<pg.QueryResult>) => Promise<unknown>): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('begin');
    await client.query('set local session_replication_role = replica');
    await work((text, values) => client.query(text, values as unknown[]));
    await client.query('commit');
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    await client.end();
  }
}

/** A tampering scenario's world: one database, tenants sealed under `key`, helpers to read and rewrite the log. */
function world(app: () => TestApp, key: () => SigningKey) {
  const orm = () => app().orm;
  const checkpoints = async (tenantId: string) => (await sql(orm(), 'select * from audit_checkpoint where tenant_id = ? order by tree_size', [tenantId]))
    .map((r) => checkpointFromRow(r as never));
  const leafEvent = async (tenantId: string, index: number) =>
    (await sql<{ event_id: string }>(orm(), 'select event_id from audit_leaf where tenant_id = ? and leaf_index = ?', [tenantId, index]))[0].event_id;
  const eventRecord = async (eventId: string) => (await sql<EventRecord>(orm(), `select ${EVENT_COLUMNS} from access_event e where e.id = ?`, [eventId]))[0];
  const leafHashes = async (tenantId: string) => (await sql<{ hash: Buffer }>(orm(),
    'select hash from audit_node where tenant_id = ? and level = 0 order by idx', [tenantId])).map((r) => r.hash);
  const verify = (tenantId: string, extra: Partial<Parameters<typeof verifyAuditLog>[1]> = {}) =>
    verifyAuditLog(orm(), { tenantIds: [tenantId], trustedKeys: [key().publicKeyRaw], maxUnsealedAgeMs: 300_000, ...extra });
  /** Replaces a tenant's whole tree with the one built from `leaves`; returns the nodes by key. */
  const rewriteTree = async (tenantId: string, leaves: Buffer[]) => {
    const { nodes } = append(0, [], leaves);
    await tamper(app().databaseUrl, async (q) => {
      await q('delete from audit_node where tenant_id = $1', [tenantId]);
      await q(`insert into audit_node (tenant_id, level, idx, hash) select $1, l, i, h from unnest($2::smallint[], $3::int8[], $4::bytea[]) as t(l, i, h)`,
        [tenantId, nodes.map((n) => n.level), nodes.map((n) => n.index), nodes.map((n) => n.hash)]);
    });
    return new Map(nodes.map((n) => [nodeKey(n), n.hash]));
  };
  return { checkpoints, leafEvent, eventRecord, leafHashes, verify, rewriteTree };
}

describe('verifyAuditLog: a tampered log names its root cause', () => {
  let app: TestApp;
  let key: SigningKey;
  let dataDir: string;
  const t: Record<string, { school: SeededTenant; admin: Member }> = {};
  const SCENARIOS = ['clean1', 'clean2', 'edited', 'subject', 'subjectTime', 'cover', 'rewrite', 'resign', 'deleted', 'gap', 'forgedEvent',
    'forgedLeaf', 'middle', 'node', 'leafNode', 'missingNode', 'tail', 'moved', 'badSig', 'unknown', 'backlog', 'rollback', 'combo'] as const;
  type Scenario = typeof SCENARIOS[number];
  const id = (s: Scenario | 'bulk') => (s === 'bulk' ? bulkTenant : t[s].school.tenant.id);
  let bulkTenant: string;
  let trusted: Checkpoint;
  const w = world(() => app, () => key);
  const cli = (args: string[]) => custos(['audit', 'verify', ...args], { DATABASE_URL: app.databaseUrl, CUSTOS_DATA_DIR: dataDir });

  beforeAll(async () => {
    app = await startTestApp();
    key = newKey();
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'custos-verify-test-'));
    writeFileSync(path.join(dataDir, KEY_FILE), key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
    for (const s of SCENARIOS) {
      const school = await seedTenant(app.orm, s);
      t[s] = { school, admin: await school.admin() };
      await school.student();
      await school.student();
    }
    // Three rounds of traffic, each sealed: three checkpoints per tenant.
    for (let round = 1; round <= 3; round++) {
      await Promise.all(SCENARIOS.map(async (s) => {
        await app.gql('{ users(first: 20) { edges { node { email displayName } } } }', {}, t[s].admin.token);
        await app.gql('{ viewer { role } }', {}, t[s].admin.token);
      }));
      await sealEverything(app.orm, key);
      if (round === 2) trusted = (await w.checkpoints(id('rollback'))).pop()!;
    }
    // A bigger tree, sealed in many rounds: 6,000 events with three subjects each, written by 12 transactions.
    bulkTenant = (await seedTenant(app.orm, 'bulk')).tenant.id;
    for (let from = 1; from <= 6000; from += 500) {
      await sql(app.orm, `
      with ev as (
        insert into access_event (id, tenant_id, occurred_at, request_id, operation_type, operation_name, root_field, fields, access_kind,
                                  purpose, actor_kind, actor_role, actor_pseudonym, credential_id, resources, outcome, item_count, actor_ip)
        select gen_random_uuid(), ?, now() - interval '1 hour' + g * interval '1 millisecond', 'bulk-' || g, 'query', 'Bulk', 'Query.users',
               array['User.email', 'User.displayName'], 'READ', 'education.delivery', 'USER', 'ADMIN', gen_random_uuid(), 'c-' || g,
               array['User:' || g], 'SUCCESS', 3, uuid_send(gen_random_uuid())
          from generate_series(?::int, ?::int) as g
        returning id, tenant_id, occurred_at)
      insert into access_event_subject (tenant_id, pseudonym, occurred_at, event_id, categories)
      select ev.tenant_id, gen_random_uuid(), ev.occurred_at, ev.id, array['user.name', 'user.contact.email'] from ev cross join generate_series(1, 3)`,
      [bulkTenant, from, from + 499]);
    }
    await sealEverything(app.orm, key, { batchSize: 1_000 });
  }, 60_000);
  afterAll(async () => {
    await app?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('a clean log verifies: every tenant, leaves recomputed, checkpoints chained and signed', async () => {
    const report = await verifyAuditLog(app.orm, { trustedKeys: [key.publicKeyRaw], maxUnsealedAgeMs: 300_000 });
    expect(report.failures).toEqual([]);
    expect(report.ok).toBe(true);
    const byId = new Map(report.tenants.map((x) => [x.tenantId, x]));
    expect(byId.get(id('clean1'))!.checkpoints).toBeGreaterThanOrEqual(3);
    expect(byId.get(id('clean1'))!.treeSize).toBeGreaterThanOrEqual(6);
    expect(byId.get(id('bulk'))).toMatchObject({ treeSize: 6000 });
    expect(byId.get(id('bulk'))!.checkpoints).toBeGreaterThanOrEqual(6);
    expect(report.events).toBeGreaterThan(6000);
  });

  it('EDITED_EVENT: an event updated after sealing, reported at its leaf and nothing else', async () => {
    const eventId = await w.leafEvent(id('edited'), 2);
    await tamper(app.databaseUrl, (q) => q(`update access_event set purpose = 'marketing' where id = $1`, [eventId]));
    const report = await w.verify(id('edited'));
    expect(codes(report)).toEqual(['EDITED_EVENT']);
    expect(report.failures[0].message).toMatch(new RegExp(`leaf 2 \\(event ${eventId}\\)`));
    expect(report.failures[0].tenantId).toBe(id('edited'));

    // Deep in a big tree too.
    const deep = await w.leafEvent(id('bulk'), 4321);
    await tamper(app.databaseUrl, (q) => q('update access_event set item_count = 4 where id = $1', [deep]));
    const bulk = await w.verify(id('bulk'));
    expect(codes(bulk)).toEqual(['EDITED_EVENT']);
    expect(bulk.failures[0].message).toMatch(/leaf 4321 /);
  });

  it('EDITED_EVENT: a subject row changed (its categories), or moved in time (a column the hash does not cover)', async () => {
    const eventId = await w.leafEvent(id('subject'), 0);
    await tamper(app.databaseUrl, (q) => q(`update access_event_subject set categories = array['user.name'] where event_id = $1`, [eventId]));
    expect(codes(await w.verify(id('subject')))).toEqual(['EDITED_EVENT']);

    const other = await w.leafEvent(id('subjectTime'), 1);
    await tamper(app.databaseUrl, (q) => q(`update access_event_subject set occurred_at = occurred_at - interval '1 day' where event_id = $1`, [other]));
    const report = await w.verify(id('subjectTime'));
    expect(codes(report)).toEqual(['EDITED_EVENT']);
    expect(report.failures[0].message).toMatch(/leaf 1 .*subject row .*says time/);
  });

  it('EDITED_EVENT: an edit whose leaf hash was recomputed to match is found one level up', async () => {
    const eventId = await w.leafEvent(id('cover'), 3);
    await tamper(app.databaseUrl, (q) => q(`update access_event set outcome = 'DENIED' where id = $1`, [eventId]));
    const forged = leafHash(leafBytes(await w.eventRecord(eventId)));
    await tamper(app.databaseUrl, (q) => q('update audit_node set hash = $2 where tenant_id = $1 and level = 0 and idx = 3', [id('cover'), forged]));
    const report = await w.verify(id('cover'));
    expect(codes(report)).toEqual(['EDITED_EVENT']);
    expect(report.failures[0].message).toMatch(/node 1:1 \(leaves 2–3\)/);
  });

  it('EDITED_EVENT when every node up to the root is recomputed; UNKNOWN_KEY once the checkpoints are re-signed too', async () => {
    for (const s of ['rewrite', 'resign'] as const) {
      const eventId = await w.leafEvent(id(s), 1);
      await tamper(app.databaseUrl, (q) => q(`update access_event set actor_role = 'AUDITOR' where id = $1`, [eventId]));
      const leaves = await w.leafHashes(id(s));
      leaves[1] = leafHash(leafBytes(await w.eventRecord(eventId)));
      const nodes = await w.rewriteTree(id(s), leaves);
      if (s === 'rewrite') {
        const report = await w.verify(id(s));
        expect(codes(report)).toEqual(['EDITED_EVENT']);
        expect(report.failures[0].message).toMatch(/root at size \d+ is not the signed root .* leaves 0–\d+ .*later checkpoints/);
        continue;
      }
      // The owner signs a new chain with a key of their own, and publishes that key in the database.
      const mallory = newKey();
      let previous: Checkpoint | null = null;
      await tamper(app.databaseUrl, async (q) => {
        await q('insert into audit_signing_key (key_id, public_key) values ($1, $2)', [mallory.keyId, mallory.publicKeyRaw]);
        for (const c of await w.checkpoints(id(s))) {
          const resigned: Checkpoint = signCheckpoint({ ...c, root: rootFrom(c.treeSize, nodes), previousHash: previous ? checkpointHash(previous) : null, keyId: mallory.keyId }, mallory);
          await q('update audit_checkpoint set root = $3, previous_hash = $4, key_id = $5, signature = $6 where tenant_id = $1 and tree_size = $2',
            [id(s), c.treeSize, resigned.root, resigned.previousHash, resigned.keyId, resigned.signature]);
          previous = resigned;
        }
      });
      const report = await w.verify(id(s));
      expect(codes(report)).toEqual(['UNKNOWN_KEY']);
      expect(report.failures[0].message).toMatch(new RegExp(`\\d+ checkpoints, at tree sizes .* signed by key ${mallory.keyId}, which is not a trusted key .*listed in audit_signing_key`));
      // Trusting the database's own key list would have passed it: the point of trusted keys.
      expect((await w.verify(id(s), { trustedKeys: [key.publicKeyRaw, mallory.publicKeyRaw] })).ok).toBe(true);
    }
  });

  it('DELETED_EVENT: an event deleted under its leaf, or deleted with its leaf and leaf hash', async () => {
    const eventId = await w.leafEvent(id('deleted'), 4);
    await tamper(app.databaseUrl, async (q) => {
      await q('delete from access_event_subject where event_id = $1', [eventId]);
      await q('delete from access_event where id = $1', [eventId]);
    });
    const report = await w.verify(id('deleted'));
    expect(codes(report)).toEqual(['DELETED_EVENT']);
    expect(report.failures[0].message).toMatch(new RegExp(`leaf 4: event ${eventId} was deleted`));

    const gone = await w.leafEvent(id('gap'), 2);
    await tamper(app.databaseUrl, async (q) => {
      await q('delete from audit_leaf where event_id = $1', [gone]);
      await q('delete from audit_node where tenant_id = $1 and level = 0 and idx = 2', [id('gap')]);
      await q('delete from access_event_subject where event_id = $1', [gone]);
      await q('delete from access_event where id = $1', [gone]);
    });
    const gap = await w.verify(id('gap'));
    expect(codes(gap)).toEqual(['DELETED_EVENT']);
    expect(gap.failures[0].message).toMatch(/1 leaf missing from the tree: leaf 2:/);
  });

  it('FORGED_EVENT: an event slipped below the seal watermark, or a leaf appended that no checkpoint covers', async () => {
    const forged = randomUUID();
    await tamper(app.databaseUrl, (q) => q(`insert into access_event (id, tenant_id, txid, occurred_at, request_id, operation_type, root_field, fields,
        access_kind, purpose, actor_kind, resources, outcome, item_count) values ($1, $2, '3'::xid8, now() - interval '1 day', 'r', 'system', 'Query.viewer',
        '{}', 'READ', 'audit', 'SYSTEM', '{}', 'SUCCESS', 0)`, [forged, id('forgedEvent')]));
    const report = await w.verify(id('forgedEvent'));
    expect(codes(report)).toEqual(['FORGED_EVENT']);
    expect(report.failures[0].message).toMatch(new RegExp(`1 event in no tree although written by a transaction below the seal watermark .*${forged}`));

    // A leaf appended by hand, with its leaf hash and the nodes it completes, but no signed checkpoint.
    const tenantId = id('forgedLeaf');
    const [cp] = (await w.checkpoints(tenantId)).slice(-1);
    const leaf = randomUUID();
    await tamper(app.databaseUrl, async (q) => {
      await q(`insert into access_event (id, tenant_id, occurred_at, request_id, operation_type, root_field, fields, access_kind, purpose, actor_kind,
          resources, outcome, item_count) values ($1, $2, now(), 'r', 'system', 'Query.viewer', '{}', 'READ', 'audit', 'SYSTEM', '{}', 'SUCCESS', 0)`, [leaf, tenantId]);
      await q('insert into audit_leaf (tenant_id, leaf_index, event_id) values ($1, $2, $3)', [tenantId, cp.treeSize, leaf]);
    });
    const hashes = await w.leafHashes(tenantId);
    hashes.push(leafHash(leafBytes(await w.eventRecord(leaf))));
    await w.rewriteTree(tenantId, hashes);
    const appended = await w.verify(tenantId);
    expect(codes(appended)).toEqual(['FORGED_EVENT']);
    expect(appended.failures[0].message).toMatch(new RegExp(`1 leaf beyond the latest checkpoint \\(tree size ${cp.treeSize}\\): leaf ${cp.treeSize};`));
  });

  it('BROKEN_CHAIN: a middle checkpoint deleted; a stored node altered while every event still verifies', async () => {
    const [, middle] = await w.checkpoints(id('middle'));
    await tamper(app.databaseUrl, (q) => q('delete from audit_checkpoint where tenant_id = $1 and tree_size = $2', [id('middle'), middle.treeSize]));
    const report = await w.verify(id('middle'));
    expect(codes(report)).toEqual(['BROKEN_CHAIN']);
    expect(report.failures[0].message).toMatch(/does not chain to the checkpoint at tree size .*a checkpoint between them was deleted/);

    await tamper(app.databaseUrl, (q) => q('update audit_node set hash = $2 where tenant_id = $1 and level = 1 and idx = 1', [id('node'), randomBytes(32)]));
    const node = await w.verify(id('node'));
    expect(codes(node)).toEqual(['BROKEN_CHAIN']);
    expect(node.failures[0].message).toMatch(/1 stored node altered \(level:index 1:1\); the events under them still match/);
  });

  it('BROKEN_CHAIN, not EDITED_EVENT, when only a stored leaf hash is altered or a node deleted: the events still match the tree above', async () => {
    await tamper(app.databaseUrl, (q) => q('update audit_node set hash = $2 where tenant_id = $1 and level = 0 and idx = 2', [id('leafNode'), randomBytes(32)]));
    const leafNode = await w.verify(id('leafNode'));
    expect(codes(leafNode)).toEqual(['BROKEN_CHAIN']);
    expect(leafNode.failures[0].message).toMatch(/1 stored node altered \(level:index 0:2\)/);

    await tamper(app.databaseUrl, (q) => q('delete from audit_node where tenant_id = $1 and level = 1 and idx = 1', [id('missingNode')]));
    const missing = await w.verify(id('missingNode'));
    expect(codes(missing)).toEqual(['BROKEN_CHAIN']);
    expect(missing.failures[0].message).toMatch(/1 stored node missing \(level:index 1:1\)/);
  });

  it('DELETED_EVENT: the newest leaves deleted with their events, the checkpoint left in place', async () => {
    const [cp] = (await w.checkpoints(id('tail'))).slice(-1);
    await tamper(app.databaseUrl, async (q) => {
      const gone = (await q('select event_id from audit_leaf where tenant_id = $1 and leaf_index >= $2', [id('tail'), cp.treeSize - 2])).rows.map((r) => r.event_id);
      await q('delete from audit_leaf where tenant_id = $1 and leaf_index >= $2', [id('tail'), cp.treeSize - 2]);
      await q('delete from audit_node where tenant_id = $1 and level = 0 and idx >= $2', [id('tail'), cp.treeSize - 2]);
      await q('delete from access_event_subject where event_id = any($1::uuid[])', [gone]);
      await q('delete from access_event where id = any($1::uuid[])', [gone]);
    });
    const report = await w.verify(id('tail'));
    expect(codes(report)).toEqual(['DELETED_EVENT']);
    expect(report.failures[0].message).toMatch(new RegExp(`2 leaves missing from the tree: leaf ${cp.treeSize - 2}–${cp.treeSize - 1} \\(the signed tree has ${cp.treeSize} leaves, the database ${cp.treeSize - 2}\\)`));
  });

  it('EDITED_EVENT: an event moved to another tenant', async () => {
    const eventId = await w.leafEvent(id('moved'), 1);
    await tamper(app.databaseUrl, (q) => q('update access_event set tenant_id = $2 where id = $1', [eventId, id('clean2')]));
    const report = await w.verify(id('moved'));
    expect(new Set(codes(report))).toEqual(new Set(['EDITED_EVENT']));
    expect(report.failures.map((f) => f.message).join('\n')).toMatch(new RegExp(`leaf 1 \\(event ${eventId}\\) no longer hashes`));
  });

  it('BROKEN_CHAIN: the seal watermark moved back below sealed events', async () => {
    const [{ sealed_below: before }] = await sql<{ sealed_below: string }>(app.orm, 'select sealed_below::text from audit_seal_state');
    await tamper(app.databaseUrl, (q) => q(`update audit_seal_state set sealed_below = '1'`));
    try {
      const report = await w.verify(id('clean2'));
      expect(codes(report)).toEqual(['BROKEN_CHAIN']);
      expect(report.failures[0].message).toMatch(/sealed events? .* at or above the seal watermark .*moved back/);
    } finally {
      await tamper(app.databaseUrl, (q) => q('update audit_seal_state set sealed_below = $1::xid8', [before]));
    }
    expect((await w.verify(id('clean2'))).ok).toBe(true);
  });

  it('BAD_SIGNATURE: a checkpoint\'s root changed without its signature', async () => {
    const [, middle] = await w.checkpoints(id('badSig'));
    await tamper(app.databaseUrl, (q) => q('update audit_checkpoint set root = $3 where tenant_id = $1 and tree_size = $2', [id('badSig'), middle.treeSize, randomBytes(32)]));
    const report = await w.verify(id('badSig'));
    expect(codes(report)).toEqual(['BAD_SIGNATURE']); // not also the chain link from it, nor its root
    expect(report.failures[0].message).toMatch(new RegExp(`checkpoint at tree size ${middle.treeSize}, does not verify under the trusted key`));
  });

  it('UNKNOWN_KEY: a checkpoint re-signed with another key; and every checkpoint when no key is trusted', async () => {
    const latest = (await w.checkpoints(id('unknown'))).pop()!;
    const other = newKey();
    const resigned = signCheckpoint({ ...latest, keyId: other.keyId }, other);
    await tamper(app.databaseUrl, async (q) => {
      await q('insert into audit_signing_key (key_id, public_key) values ($1, $2)', [other.keyId, other.publicKeyRaw]);
      await q('update audit_checkpoint set key_id = $3, signature = $4 where tenant_id = $1 and tree_size = $2', [id('unknown'), latest.treeSize, other.keyId, resigned.signature]);
    });
    const report = await w.verify(id('unknown'));
    expect(codes(report)).toEqual(['UNKNOWN_KEY']);
    expect(report.failures[0].message).toMatch(new RegExp(`checkpoint at tree size ${latest.treeSize}, is signed by key ${other.keyId}`));

    const untrusted = await w.verify(id('clean1'), { trustedKeys: [] });
    expect(codes(untrusted)).toEqual(['UNKNOWN_KEY']);
    expect(untrusted.failures[0].message).toMatch(/\d+ checkpoints, at tree sizes/);
  });

  it('UNSEALED_BACKLOG: committed events left unsealed too long (by default age, not yet)', async () => {
    await app.gql('{ viewer { role } }', {}, t.backlog.admin.token);
    expect((await w.verify(id('backlog'))).ok).toBe(true);
    const report = await w.verify(id('backlog'), { now: new Date(Date.now() + 3_600_000), maxUnsealedAgeMs: 60_000 });
    expect(codes(report)).toEqual(['UNSEALED_BACKLOG']);
    expect(report.failures[0].message).toMatch(/\d+ committed events? older than 60 s not sealed yet/);
  });

  it('ROLLBACK: a trusted checkpoint verifies as the log grows, and fails once the log is rolled back', async () => {
    const tenantId = id('rollback');
    expect(trusted.treeSize).toBeLessThan((await w.checkpoints(tenantId)).pop()!.treeSize);
    expect((await w.verify(tenantId, { trustedCheckpoint: trusted })).ok).toBe(true);
    // The JSON an auditor saves round-trips.
    expect(checkpointFromJson(JSON.parse(JSON.stringify(checkpointToJson(trusted))))).toEqual(trusted);

    // Back to the previous checkpoint: later checkpoints, leaves, nodes gone; their events left behind.
    const previous = (await w.checkpoints(tenantId)).filter((c) => c.treeSize < trusted.treeSize).pop()!;
    await tamper(app.databaseUrl, async (q) => {
      await q('delete from audit_checkpoint where tenant_id = $1 and tree_size > $2', [tenantId, previous.treeSize]);
      await q('delete from audit_leaf where tenant_id = $1 and leaf_index >= $2', [tenantId, previous.treeSize]);
      await q('delete from audit_node where tenant_id = $1 and (idx + 1) * (1::int8 << level) > $2', [tenantId, previous.treeSize]);
    });
    // Without the auditor's checkpoint the shorter log is self-consistent, apart from the events left outside the tree.
    expect(codes(await w.verify(tenantId))).toEqual(['FORGED_EVENT']);
    const report = await w.verify(tenantId, { trustedCheckpoint: trusted });
    expect(codes(report)).toEqual(['ROLLBACK', 'FORGED_EVENT']);
    expect(rootCause(report)).toBe('ROLLBACK');
    expect(report.failures[0].message).toMatch(new RegExp(`trusted checkpoint has tree size ${trusted.treeSize}, but the database's latest checkpoint has tree size ${previous.treeSize}`));

    // A trusted checkpoint that does not verify is refused, not silently trusted.
    await expect(w.verify(tenantId, { trustedCheckpoint: { ...trusted, treeSize: trusted.treeSize + 1 } })).rejects.toThrow(/signature does not verify/);
    await expect(w.verify(tenantId, { trustedCheckpoint: trusted, trustedKeys: [newKey().publicKeyRaw] })).rejects.toThrow(/not among the trusted keys/);
  });

  it('several tamperings in one tenant: all reported, the root cause first', async () => {
    const tenantId = id('combo');
    const eventId = await w.leafEvent(tenantId, 0);
    const [, middle] = await w.checkpoints(tenantId);
    await tamper(app.databaseUrl, async (q) => {
      await q('update access_event set request_id = $2 where id = $1', [eventId, 'edited']);
      await q('delete from audit_checkpoint where tenant_id = $1 and tree_size = $2', [tenantId, middle.treeSize]);
    });
    const report = await w.verify(tenantId);
    expect(codes(report)).toEqual(['EDITED_EVENT', 'BROKEN_CHAIN']);
    expect(rootCause(report)).toBe('EDITED_EVENT');
  });

  it('the CLI exits with the root cause\'s code', async () => {
    const slug = (s: Scenario) => t[s].school.tenant.slug;
    const expected: [Scenario, number, string[]?][] = [
      ['clean1', 0], ['edited', 10], ['deleted', 11], ['forgedEvent', 12], ['middle', 13], ['badSig', 14], ['unknown', 15],
      ['backlog', 16, ['--max-unsealed-age', '0']],
    ];
    const runs = await Promise.all(expected.map(([s, , extra]) => cli(['--tenant', slug(s), ...(extra ?? [])])));
    runs.forEach((run, i) => {
      const [s, code] = expected[i];
      expect({ s, code: run.code, stderr: run.stderr }).toEqual({ s, code, stderr: '' });
    });
    expect(runs[0].stdout).toMatch(new RegExp(`^ok +${slug('clean1')}: tree size \\d+, \\d+ checkpoints, [\\d,]+ events/s`, 'm'));
    expect(runs[1].stdout).toMatch(/EDITED_EVENT +tenant .*leaf 2 \(event /);
    expect(runs[1].stdout).toMatch(/Root cause: EDITED_EVENT \(exit 10\)\./);

    const json = await cli(['--tenant', slug('rollback'), '--json']);
    expect(json.code).toBe(12);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, rootCause: 'FORGED_EVENT', exitCode: 12, failures: [{ code: 'FORGED_EVENT', tenant: slug('rollback') }] });
  });
});

describe('custos audit: public key, seal, checkpoint, verify with a trusted checkpoint', () => {
  let app: TestApp;
  let dataDir: string;
  let emptyDir: string;
  let north: SeededTenant;
  let south: SeededTenant;
  let west: SeededTenant;
  let nAdmin: Member;
  let sAdmin: Member;
  let wAdmin: Member;
  const env = (dir = dataDir) => ({ DATABASE_URL: app.databaseUrl, CUSTOS_DATA_DIR: dir });
  const file = (name: string, text: string) => {
    writeFileSync(path.join(emptyDir, name), text);
    return path.join(emptyDir, name);
  };
  const traffic = async () => {
    await app.gql('{ users(first: 20) { edges { node { email } } } }', {}, nAdmin.token);
    await app.gql('{ users(first: 20) { edges { node { email } } } }', {}, sAdmin.token);
  };
  const installationKey = () => signingKeyFromPem(readFileSync(path.join(dataDir, KEY_FILE), 'utf8'));
  /** One round through the CLI (which must find work), then whatever another file's open transaction held back. */
  const sealViaCli = async () => {
    await waitUntilSealable(app.orm);
    const run = await custos(['audit', 'seal'], env());
    expect(run.code).toBe(0);
    await sealEverything(app.orm, installationKey());
    return run;
  };

  beforeAll(async () => {
    if (!existsSync(path.join(ROOT, 'dist/src/cli/commands/audit.js'))) throw new Error('Build first: npm run build');
    app = await startTestApp();
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'custos-audit-cli-'));
    emptyDir = mkdtempSync(path.join(os.tmpdir(), 'custos-audit-cli-empty-'));
    writeFileSync(path.join(dataDir, KEY_FILE), newKey().privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
    north = await seedTenant(app.orm, 'North');
    south = await seedTenant(app.orm, 'South');
    west = await seedTenant(app.orm, 'West');
    nAdmin = await north.admin();
    sAdmin = await south.admin();
    wAdmin = await west.admin();
    await north.student();
  });
  afterAll(async () => {
    await app?.close();
    for (const d of [dataDir, emptyDir]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it('seals, saves a checkpoint, and verifies it after more traffic; a rollback is exit 17', async () => {
    const pub = await custos(['audit', 'public-key', '--json'], env());
    expect(pub.code).toBe(0);
    const publicKey = JSON.parse(pub.stdout) as { keyId: string; publicKey: string; pem: string };
    expect(publicKey.keyId).toMatch(/^[0-9a-f]{32}$/);
    expect(publicKey.pem).toMatch(/BEGIN PUBLIC KEY/);

    await traffic();
    const sealed = await sealViaCli();
    expect(sealed.stdout).toMatch(/^Sealed \d+ events? with key [0-9a-f]{32}:/);
    await sealEverything(app.orm, installationKey());

    const saved = await custos(['audit', 'checkpoint', '--tenant', north.tenant.slug], env());
    expect(saved.code).toBe(0);
    const checkpointFile = file('north.json', saved.stdout);
    const cp = JSON.parse(saved.stdout);
    expect(cp).toMatchObject({ format: 'custos.checkpoint.v1', tenantId: north.tenant.id, keyId: publicKey.keyId, tenantSlug: north.tenant.slug });

    // Clean, across both tenants.
    const clean = await custos(['audit', 'verify'], env());
    expect(clean.code).toBe(0);
    expect(clean.stdout).toMatch(new RegExp(`^ok +${north.tenant.slug}: tree size \\d+, \\d+ checkpoints?, [\\d,]+ events/s$`, 'm'));
    expect(clean.stdout).toMatch(new RegExp(`^ok +${south.tenant.slug}: tree size \\d+, \\d+ checkpoints?`, 'm'));
    expect(clean.stdout).toMatch(/the access log is intact/);

    // More traffic, sealed: the saved checkpoint is still in the log. Trust comes from the key file alone here.
    await traffic();
    await sealViaCli();
    const keyFile = file('key.json', pub.stdout);
    const later = await custos(['audit', 'verify', '--tenant', north.tenant.slug, '--trusted-checkpoint', checkpointFile, '--trusted-key', keyFile], env(emptyDir));
    expect(later.code).toBe(0);
    expect(later.stdout).toMatch(/tree size \d+, \d+ checkpoints/);
    const noKey = await custos(['audit', 'verify', '--tenant', north.tenant.slug], env(emptyDir));
    expect(noKey.code).toBe(15);

    // Roll north back to before the saved checkpoint (the owner deletes everything since, events included).
    await tamper(app.databaseUrl, async (q) => {
      const gone = (await q('select event_id from audit_leaf where tenant_id = $1', [north.tenant.id])).rows.map((r) => r.event_id);
      await q('delete from audit_checkpoint where tenant_id = $1', [north.tenant.id]);
      await q('delete from audit_leaf where tenant_id = $1', [north.tenant.id]);
      await q('delete from audit_node where tenant_id = $1', [north.tenant.id]);
      await q('delete from access_event_subject where event_id = any($1::uuid[])', [gone]);
      await q('delete from access_event where id = any($1::uuid[])', [gone]);
    });
    expect((await custos(['audit', 'verify', '--tenant', north.tenant.slug], env())).code).toBe(0); // nothing left to contradict
    const rolledBack = await custos(['audit', 'verify', '--tenant', north.tenant.slug, '--trusted-checkpoint', checkpointFile, '--json'], env());
    expect(rolledBack.code).toBe(17);
    expect(JSON.parse(rolledBack.stdout)).toMatchObject({ rootCause: 'ROLLBACK', exitCode: 17, failures: [{ code: 'ROLLBACK' }] });

    // Bad inputs are exit 1, not a verdict.
    const badKey = await custos(['audit', 'verify', '--trusted-key', file('bad.pem', 'not a key')], env());
    expect(badKey.code).toBe(1);
    expect(badKey.stderr).toMatch(/not an Ed25519 key/);
    const badCp = await custos(['audit', 'verify', '--trusted-checkpoint', file('bad.json', '{"treeSize": 3}')], env());
    expect(badCp.code).toBe(1);
    expect(badCp.stderr).toMatch(/not a checkpoint saved with custos audit checkpoint: checkpoint field "tenantId"/);
  });
  it('ROLLBACK: an older backup restored and sealed onward, past the trusted size, under the real key', async () => {
    const key = installationKey();
    const w = world(() => app, () => key);
    const westTraffic = async (n: number) => { for (let i = 0; i < n; i++) await app.gql('{ users(first: 5) { edges { node { email } } } }', {}, wAdmin.token); };
    await westTraffic(2);
    await sealEverything(app.orm, key);
    const backup = (await w.checkpoints(west.tenant.id)).pop()!;
    await westTraffic(2);
    await sealEverything(app.orm, key);
    const trusted = (await w.checkpoints(west.tenant.id)).pop()!;
    expect((await w.verify(west.tenant.id, { trustedCheckpoint: trusted })).ok).toBe(true);

    // The database goes back to the backup (everything after it gone), then lives on: new requests, sealed by the real sealer.
    await tamper(app.databaseUrl, async (q) => {
      const gone = (await q('select event_id from audit_leaf where tenant_id = $1 and leaf_index >= $2', [west.tenant.id, backup.treeSize])).rows.map((r) => r.event_id);
      await q('delete from audit_checkpoint where tenant_id = $1 and tree_size > $2', [west.tenant.id, backup.treeSize]);
      await q('delete from audit_leaf where tenant_id = $1 and leaf_index >= $2', [west.tenant.id, backup.treeSize]);
      await q('delete from audit_node where tenant_id = $1 and (idx + 1) * (1::int8 << level) > $2', [west.tenant.id, backup.treeSize]);
      await q('delete from access_event_subject where event_id = any($1::uuid[])', [gone]);
      await q('delete from access_event where id = any($1::uuid[])', [gone]);
    });
    await westTraffic(4);
    await sealEverything(app.orm, key);
    expect((await w.checkpoints(west.tenant.id)).pop()!.treeSize).toBeGreaterThan(trusted.treeSize);
    expect((await w.verify(west.tenant.id)).ok).toBe(true); // self-consistent, signed by the real key
    const report = await w.verify(west.tenant.id, { trustedCheckpoint: trusted });
    expect(codes(report)).toEqual(['ROLLBACK']);
    expect(report.failures[0].message).toMatch(new RegExp(`root at size ${trusted.treeSize} is [0-9a-f]{16}…, not the trusted checkpoint's .*history the auditor saw was replaced`));
  });
});
