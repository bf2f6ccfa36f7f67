// The access log's own costs, measured without HTTP on a database of their own:
//   - sealing throughput: a backlog of committed events sealed by sealOnce rounds;
//   - verifier throughput: verifyAuditLog over those sealed events;
//   - inclusion-proof latency in one tenant's tree of a million leaves, built the fast way.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { MikroORM } from '@mikro-orm/postgresql';
import { createTenant } from '../src/modules/tenant/tenant.service';
import { checkpointFromRow, loadNodes, publishSigningKey, sealOnce } from '../src/audit/sealer';
import { signCheckpoint, signingKeyFromPem, verifyCheckpointSignature, type SigningKey } from '../src/audit/checkpoint';
import {
  append, frontierIds, inclusionProof, inclusionProofIds, leafHash, nodeKey, rootFrom, verifyInclusion, HASH_SIZE, type StoredNode,
} from '../src/audit/merkle';
import { prng } from '../src/shared/prng';
import { BINARY_COPY_HEADER, BINARY_COPY_TRAILER, copyFrom } from './pg-copy';
import { envNumber, percentile } from './support';
import { verifyAuditLog } from '../src/audit/verify';

export const AUDIT_TARGETS = {
  /** Sealing must keep up with a busy installation: at least this many events per second. */
  sealEventsPerSecond: 20_000,
  /** An auditor re-verifies the whole log: more than this many events per second. */
  verifyEventsPerSecond: 200_000,
  /** Producing and verifying one inclusion proof in a million-leaf tree, at the 99th percentile. */
  proofP99Ms: 5,
};

/** Fixed shape of the sealing backlog (the sizes are settings). */
const SEAL_TENANTS = 4;
const SUBJECTS_PER_EVENT = 3;
const EVENTS_PER_TRANSACTION = 100;
/** Distinct subject pseudonyms the backlog's events draw from (people recur across events). */
const PSEUDONYM_POOL = 2_000;
/** Leaves hashed, appended and sent per COPY chunk when building the proof tree. */
const PROOF_CHUNK = 65_536;
/** Untimed proofs before the measured ones (connection, plan cache, page cache). */
const PROOF_WARMUP = 100;

export interface AuditSettings {
  sealEvents: number;
  sealBatch: number;
  proofEvents: number;
  proofSamples: number;
}

export function readAuditSettings(): AuditSettings {
  return {
    sealEvents: envNumber('BENCH_SEAL_EVENTS', 200_000, { integer: true }),
    sealBatch: envNumber('BENCH_SEAL_BATCH', 20_000, { integer: true }),
    proofEvents: envNumber('BENCH_PROOF_EVENTS', 1_000_000, { integer: true }),
    proofSamples: envNumber('BENCH_PROOF_SAMPLES', 1_000, { integer: true }),
  };
}

export interface StatementShare {
  statement: string;
  count: number;
  ms: number;
  /** Share of the sealing time, in percent. */
  pct: number;
}

export interface SealingResult {
  events: number;
  subjectRows: number;
  tenants: number;
  eventsPerTransaction: number;
  insertSeconds: number;
  batchSize: number;
  rounds: { events: number; ms: number; checkpoints: number }[];
  seconds: number;
  eventsPerSecond: number;
  /** Time inside each kind of SQL statement (client side: formatting, round trip, parsing the rows). */
  statements: StatementShare[];
  /** Of the statements' time: MikroORM inlining the parameters into the SQL text. */
  formatMs: number;
  /** Sealing time outside every statement: leaf bytes and hashes, append, signing, BEGIN/COMMIT. */
  outsideStatementsMs: number;
}

export type VerifierResult =
  | { available: false; reason: string }
  | { available: true; events: number; seconds: number; eventsPerSecond: number; summary: Record<string, unknown> }
  | { available: true; events: number; error: string };

export interface ProofResult {
  events: number;
  nodes: number;
  hashSeconds: number;
  appendSeconds: number;
  /** Hashing, appending and COPY together (they overlap: the COPY streams while the next chunk is hashed). */
  buildSeconds: number;
  tableBytes: number;
  samples: number;
  nodesPerProof: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number; mean: number };
  sqlMs: { p50: number; p95: number; p99: number };
}

export interface AuditResults {
  settings: AuditSettings;
  sealing: SealingResult;
  verifier: VerifierResult;
  proof: ProofResult;
}

export interface AuditContext {
  owner: MikroORM;
  ownerUrl: string;
  settings: AuditSettings;
  say: (line?: string) => void;
  checkInterrupted: () => void;
}

const n0 = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (t0: number) => performance.now() - t0;

export async function runAuditBench(ctx: AuditContext): Promise<AuditResults> {
  const key = signingKeyFromPem(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  const client = new pg.Client({ connectionString: ctx.ownerUrl });
  await client.connect();
  try {
    const sealing = await measureSealing(ctx, client, key);
    ctx.checkInterrupted();
    // Before the proof tree exists: that tenant has nodes and a checkpoint but no events, which a verifier must reject.
    const verifier = await measureVerifier(ctx, sealing.events, key);
    ctx.checkInterrupted();
    const proof = await measureProofs(ctx, client, key);
    return { settings: ctx.settings, sealing, verifier, proof };
  } finally {
    await client.end().catch(() => undefined);
  }
}

// -------------------------------------------------------------------------------------------------
// Sealing
// -------------------------------------------------------------------------------------------------

/**
 * One transaction's worth of events ($1..$2 of the series), like the requests' own: one event per
 * root field, read access by an instructor, three subjects each with two categories, the actor's IP
 * address and user agent as AES-GCM envelopes (iv 12 + tag 16 + ciphertext bytes; random bytes here).
 */
const INSERT_EVENTS = `
  with ev as (
    insert into access_event (id, tenant_id, occurred_at, request_id, operation_type, operation_name, root_field, fields,
                              access_kind, purpose, actor_kind, actor_role, actor_pseudonym, credential_id, resources,
                              outcome, error_code, item_count, actor_ip, actor_user_agent)
    select gen_random_uuid(), p.tenants[1 + g % cardinality(p.tenants)], $5::timestamptz + g * interval '1 millisecond',
           'bench-seal-' || (g / 2), 'query', 'BenchRoster', 'Query.course',
           array['Enrollment.finalGrade', 'User.displayName', 'User.email', 'User.studentNumber'],
           'READ', 'education.delivery', 'USER', 'INSTRUCTOR', p.pseudonyms[1 + (g * 7) % cardinality(p.pseudonyms)],
           gen_random_uuid()::text, array['Course:' || gen_random_uuid()], 'SUCCESS', null, $6::int,
           substr(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()), 1, 37),
           substr(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())
               || uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()), 1, 118)
      from generate_series($1::int, $2::int) as g, (select $3::uuid[] as tenants, $4::uuid[] as pseudonyms) as p
    returning id, tenant_id, occurred_at, request_id
  )
  insert into access_event_subject (tenant_id, pseudonym, occurred_at, event_id, categories)
  select ev.tenant_id, ($4::uuid[])[1 + ((hashtext(ev.id::text)::bigint & 2147483647) + k * 101) % cardinality($4::uuid[])],
         ev.occurred_at, ev.id,
         case k % 3 when 0 then array['user.name', 'user.contact.email']
                    when 1 then array['user.contact.email', 'user.education.grade']
                    else array['user.name', 'user.education.grade'] end
    from ev cross join generate_series(1, $6::int) as k`;

async function measureSealing(ctx: AuditContext, client: pg.Client, key: SigningKey): Promise<SealingResult> {
  const { sealEvents: total, sealBatch } = ctx.settings;
  const em = ctx.owner.em.fork();
  const tenants: string[] = [];
  for (let i = 1; i <= SEAL_TENANTS; i++) tenants.push((await createTenant(em, { name: `Sealing benchmark ${i}`, slug: `seal-bench-${i}` })).id);
  const pseudonyms = Array.from({ length: PSEUDONYM_POOL }, () => randomUUID());
  const since = new Date(Date.now() - 24 * 3600_000).toISOString();

  let t = performance.now();
  for (let from = 0; from < total; from += EVENTS_PER_TRANSACTION) {
    ctx.checkInterrupted();
    const to = Math.min(from + EVENTS_PER_TRANSACTION, total) - 1;
    await client.query(INSERT_EVENTS, [from, to, tenants, pseudonyms, since, SUBJECTS_PER_EVENT]);
  }
  const insertSeconds = ms(t) / 1000;
  await client.query('analyze access_event, access_event_subject'); // as autovacuum would have by now
  const { rows: [counts] } = await client.query<{ events: string; subjects: string }>(
    'select (select count(*) from access_event) as events, (select count(*) from access_event_subject) as subjects');
  if (Number(counts.events) !== total) throw new Error(`expected ${total} events in the sealing database, found ${counts.events}`);
  ctx.say(`  sealing: ${n0(total)} committed events (${n0(Number(counts.subjects))} subject rows) in ${SEAL_TENANTS} tenants, ` +
    `${EVENTS_PER_TRANSACTION} per transaction, inserted in ${insertSeconds.toFixed(1)} s`);

  const profile = profileStatements(ctx.owner);
  const rounds: SealingResult['rounds'] = [];
  let sealed = 0;
  t = performance.now();
  try {
    while (sealed < total) {
      ctx.checkInterrupted();
      const r0 = performance.now();
      const r = await sealOnce(ctx.owner, key, { batchSize: sealBatch });
      if (!r.leader) throw new Error('another sealer holds the sealing lock');
      if (r.events === 0) throw new Error(`sealing stalled after ${sealed} of ${total} events`);
      sealed += r.events;
      rounds.push({ events: r.events, ms: ms(r0), checkpoints: r.checkpoints.length });
    }
  } finally {
    profile.stop();
  }
  const sealMs = ms(t);
  const { rows: [leaves] } = await client.query<{ n: string; distinct: string }>('select count(*) as n, count(distinct event_id) as distinct from audit_leaf');
  if (Number(leaves.n) !== total || Number(leaves.distinct) !== total) {
    throw new Error(`after sealing, audit_leaf holds ${leaves.n} rows for ${leaves.distinct} events; expected ${total}`);
  }

  const statements = profile.statements().map((s) => ({ ...s, pct: (s.ms / sealMs) * 100 })).sort((a, b) => b.ms - a.ms);
  const inStatements = statements.reduce((sum, s) => sum + s.ms, 0);
  const result: SealingResult = {
    events: total, subjectRows: Number(counts.subjects), tenants: SEAL_TENANTS, eventsPerTransaction: EVENTS_PER_TRANSACTION,
    insertSeconds, batchSize: sealBatch, rounds, seconds: sealMs / 1000, eventsPerSecond: total / (sealMs / 1000),
    statements, formatMs: profile.formatMs(), outsideStatementsMs: sealMs - inStatements,
  };
  const perRound = rounds.map((r) => r.ms);
  ctx.say(`  sealing: ${rounds.length} rounds (batch ${n0(sealBatch)}): ${n0(total)} events in ${result.seconds.toFixed(1)} s = ` +
    `${n0(result.eventsPerSecond)} events/s; round ${n0(Math.min(...perRound))}-${n0(Math.max(...perRound))} ms`);
  ctx.say('    where the sealing time goes (per kind of statement: calls, total ms, share):');
  for (const s of statements.filter((x) => x.pct >= 0.5)) {
    ctx.say(`      ${s.statement.padEnd(44)} ${String(s.count).padStart(5)} ${n0(s.ms).padStart(8)} ms ${s.pct.toFixed(1).padStart(5)}%`);
  }
  ctx.say(`      ${'outside statements (leaf bytes, SHA-256, append,'.padEnd(44)}`);
  ctx.say(`      ${' signing, BEGIN/COMMIT)'.padEnd(44)} ${''.padStart(5)} ${n0(result.outsideStatementsMs).padStart(8)} ms ` +
    `${((result.outsideStatementsMs / sealMs) * 100).toFixed(1).padStart(5)}%`);
  ctx.say(`      of the statements' time, MikroORM inlining parameters into the SQL text: ${n0(result.formatMs)} ms`);
  return result;
}

/** Friendly names for the sealer's statements (by how they start); anything else by its first words. */
const STATEMENT_NAMES: [RegExp, string][] = [
  [/^select pg_try_advisory_xact_lock/, 'take the sealing lock'],
  [/^select sealed_below/, 'read the watermark (for update)'],
  [/^select pg_snapshot_xmin/, 'read the horizon'],
  [/^select .* from access_event e\s+where e\.txid >= /, 'select the batch of events (+ subjects)'],
  [/^select .* from access_event e where e\.txid = /, 'select one oversized transaction'],
  [/^insert into audit_signing_key/, 'publish the signing key'],
  [/^select \* from audit_checkpoint/, 'read the last checkpoint'],
  [/^select n\.level, n\.idx::text, n\.hash from audit_node/, 'load the frontier nodes'],
  [/^insert into audit_leaf/, 'insert audit_leaf rows'],
  [/^insert into audit_node/, 'insert audit_node rows'],
  [/^insert into audit_checkpoint/, 'insert the checkpoint'],
  [/^update audit_seal_state/, 'update the watermark'],
];

function statementName(sql: unknown): string {
  const text = String(sql).replace(/\s+/g, ' ').trim();
  return STATEMENT_NAMES.find(([re]) => re.test(text))?.[1] ?? text.slice(0, 44);
}

/**
 * Times every statement the owner's connection runs (sealOnce's transaction runs them all through
 * Connection.execute) until stop(). The wrapper is on this one connection object only.
 */
function profileStatements(orm: MikroORM) {
  type Fn = (...args: unknown[]) => unknown;
  const conn = orm.em.getConnection() as unknown as { execute: Fn; platform: { formatQuery: Fn } };
  const platform = conn.platform;
  const originalExecute = conn.execute;
  const originalFormat = platform.formatQuery;
  const stats = new Map<string, { statement: string; count: number; ms: number }>();
  let formatMs = 0;
  conn.execute = async function timedExecute(this: unknown, ...args: unknown[]) {
    const t = performance.now();
    try {
      return await originalExecute.apply(this, args);
    } finally {
      const name = statementName(args[0]);
      const s = stats.get(name) ?? { statement: name, count: 0, ms: 0 };
      s.count++;
      s.ms += ms(t);
      stats.set(name, s);
    }
  };
  platform.formatQuery = function timedFormat(this: unknown, ...args: unknown[]) {
    const t = performance.now();
    try {
      return originalFormat.apply(this, args);
    } finally {
      formatMs += ms(t);
    }
  };
  return {
    stop: () => {
      delete (conn as Partial<typeof conn>).execute; // back to the prototype's
      delete (platform as Partial<typeof platform>).formatQuery;
      if (conn.execute !== originalExecute) conn.execute = originalExecute;
      if (platform.formatQuery !== originalFormat) platform.formatQuery = originalFormat;
    },
    statements: () => [...stats.values()],
    formatMs: () => formatMs,
  };
}

// -------------------------------------------------------------------------------------------------
// Verifier (hook)
// -------------------------------------------------------------------------------------------------

/**
 * Verifier throughput: `verifyAuditLog` over everything sealed so far in this database (exactly the
 * sealing measurement's events; the proof tree is built after this), trusting the key that signed it.
 */
async function measureVerifier(ctx: AuditContext, events: number, key: SigningKey): Promise<VerifierResult> {
  const t = performance.now();
  try {
    const outcome = await verifyAuditLog(ctx.owner, { trustedKeys: [key.publicKeyRaw], maxUnsealedAgeMs: 24 * 3_600_000 });
    const seconds = ms(t) / 1000;
    const summary = summariseOutcome(outcome);
    ctx.say(`  verifier: verifyAuditLog over ${n0(events)} sealed events in ${seconds.toFixed(2)} s = ${n0(events / seconds)} events/s; ` +
      `it answered ${JSON.stringify(summary).slice(0, 300)}`);
    if (!outcome.ok) ctx.say(`  ! the verifier reports a problem with a log the sealer just wrote: ${outcome.failures.slice(0, 3).map((f) => f.message).join('; ')}`);
    return { available: true, events, seconds, eventsPerSecond: events / seconds, summary };
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    ctx.say(`  verifier: verifyAuditLog failed after ${(ms(t) / 1000).toFixed(2)} s: ${error}`);
    return { available: true, events, error };
  }
}

/** The verifier's answer for the report, whatever its shape: scalars as they are, lists by their length. */
function summariseOutcome(outcome: unknown): Record<string, unknown> {
  if (outcome === null || typeof outcome !== 'object') return { result: outcome ?? null };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(outcome)) {
    if (Array.isArray(v)) out[`${k}.length`] = v.length;
    else if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) out[k] = v;
  }
  return out;
}

// -------------------------------------------------------------------------------------------------
// Inclusion proofs in a large tree
// -------------------------------------------------------------------------------------------------

/** audit_node rows in PostgreSQL's binary COPY format: (tenant_id uuid, level smallint, idx bigint, hash bytea). */
function encodeNodes(tenant: Buffer, nodes: StoredNode[]): Buffer {
  const ROW = 2 + (4 + 16) + (4 + 2) + (4 + 8) + (4 + HASH_SIZE);
  const buf = Buffer.allocUnsafe(nodes.length * ROW);
  let o = 0;
  for (const n of nodes) {
    o = buf.writeInt16BE(4, o);
    o = buf.writeInt32BE(16, o);
    o += tenant.copy(buf, o);
    o = buf.writeInt32BE(2, o);
    o = buf.writeInt16BE(n.level, o);
    o = buf.writeInt32BE(8, o);
    o = buf.writeUInt32BE(Math.floor(n.index / 2 ** 32), o);
    o = buf.writeUInt32BE(n.index % 2 ** 32, o);
    o = buf.writeInt32BE(HASH_SIZE, o);
    o += n.hash.copy(buf, o);
  }
  return buf;
}

/**
 * Builds one tenant's tree of `proofEvents` leaves without events or sealOnce: leaf hashes made here,
 * `append` computes every complete-subtree node, a binary COPY streams them into audit_node, and one
 * signed checkpoint names the root. Then times what a proof request does: `inclusionProofIds`, one
 * statement for those nodes (`loadNodes`), `inclusionProof`, `verifyInclusion` against the checkpoint.
 */
async function measureProofs(ctx: AuditContext, client: pg.Client, key: SigningKey): Promise<ProofResult> {
  const { proofEvents: size, proofSamples } = ctx.settings;
  const em = ctx.owner.em.fork();
  const tenant = await createTenant(em, { name: 'Proof benchmark', slug: 'proof-bench' });
  const tenantBytes = Buffer.from(tenant.id.replace(/-/g, ''), 'hex');

  const leaves = Buffer.alloc(size * HASH_SIZE); // kept for verifying the proofs
  const leaf = (i: number) => leaves.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE);
  let hashMs = 0;
  let appendMs = 0;
  let nodes = 0;
  let frontier: StoredNode[] = [];
  let built = 0;
  const data = Buffer.alloc(16);
  data.write('proof-bench', 'latin1');
  async function* rows(): AsyncGenerator<Buffer> {
    yield BINARY_COPY_HEADER;
    for (let from = 0; from < size; from += PROOF_CHUNK) {
      ctx.checkInterrupted();
      const to = Math.min(from + PROOF_CHUNK, size);
      let t = performance.now();
      const chunk: Buffer[] = [];
      for (let i = from; i < to; i++) {
        data.writeUInt32BE(i, 12);
        leafHash(data).copy(leaves, i * HASH_SIZE);
        chunk.push(leaf(i));
      }
      hashMs += ms(t);
      t = performance.now();
      const grown = append(built, frontier, chunk);
      appendMs += ms(t);
      built = grown.size;
      frontier = grown.frontier;
      nodes += grown.nodes.length;
      yield encodeNodes(tenantBytes, grown.nodes);
    }
    yield BINARY_COPY_TRAILER;
  }
  let t = performance.now();
  const copied = await copyFrom(client, 'copy audit_node (tenant_id, level, idx, hash) from stdin (format binary)', rows());
  const buildSeconds = ms(t) / 1000;
  if (copied !== nodes) throw new Error(`COPY stored ${copied} of ${nodes} nodes`);
  // A tree that grew over months is vacuumed and checkpointed: do both now, so the measurement meets
  // neither autovacuum nor the checkpointer flushing the bulk load. CHECKPOINT needs a superuser (or
  // pg_checkpoint) and is skipped without one.
  await client.query('vacuum analyze audit_node');
  await client.query('checkpoint').catch(() => undefined);
  const { rows: [{ bytes }] } = await client.query<{ bytes: string }>("select pg_total_relation_size('audit_node') as bytes");

  // The checkpoint over the tree, and a check that the stored peaks give the same root.
  const root = rootFrom(size, new Map(frontier.map((n) => [nodeKey(n), n.hash])));
  const storedPeaks = await loadNodes(em, tenant.id, frontierIds(size));
  if (!rootFrom(size, new Map(storedPeaks.map((n) => [nodeKey(n), n.hash]))).equals(root)) throw new Error('the stored tree does not give the computed root');
  await publishSigningKey(em, key);
  const signed = signCheckpoint({ tenantId: tenant.id, treeSize: size, root, createdAt: new Date(), previousHash: null, keyId: key.keyId }, key);
  await em.execute(
    'insert into audit_checkpoint (tenant_id, tree_size, root, created_at, previous_hash, key_id, signature) values (?, ?, ?, ?, ?, ?, ?)',
    [tenant.id, signed.treeSize, signed.root, signed.createdAt, signed.previousHash, signed.keyId, signed.signature],
  );
  const [row] = await em.execute('select * from audit_checkpoint where tenant_id = ? order by tree_size desc limit 1', [tenant.id]);
  const checkpoint = checkpointFromRow(row as Parameters<typeof checkpointFromRow>[0]);
  if (!verifyCheckpointSignature(checkpoint, key.publicKeyRaw)) throw new Error('the checkpoint signature does not verify');
  ctx.say(`  inclusion proofs: tree of ${n0(size)} leaves: ${n0(nodes)} nodes hashed (leaves ${(hashMs / 1000).toFixed(1)} s, ` +
    `append ${(appendMs / 1000).toFixed(1)} s) and streamed by binary COPY, ${buildSeconds.toFixed(1)} s in all; ` +
    `audit_node ${(Number(bytes) / 1024 / 1024).toFixed(0)} MB with its index`);

  const rand = prng(20261124);
  const proofEm = ctx.owner.em.fork();
  const latency: number[] = [];
  const sql: number[] = [];
  let nodesFetched = 0;
  for (let k = 0; k < PROOF_WARMUP + proofSamples; k++) {
    if (k % 100 === 0) ctx.checkInterrupted();
    const index = rand.int(0, size - 1);
    const t0 = performance.now();
    const ids = inclusionProofIds(index, checkpoint.treeSize);
    const t1 = performance.now();
    const stored = await loadNodes(proofEm, tenant.id, ids);
    const t2 = performance.now();
    const proof = inclusionProof(index, checkpoint.treeSize, new Map(stored.map((n) => [nodeKey(n), n.hash])));
    const ok = verifyInclusion(leaf(index), index, checkpoint.treeSize, proof, checkpoint.root);
    const t3 = performance.now();
    if (!ok) throw new Error(`the inclusion proof of leaf ${index} does not verify`);
    if (k < PROOF_WARMUP) continue;
    latency.push(t3 - t0);
    sql.push(t2 - t1);
    nodesFetched += ids.length;
  }
  const result: ProofResult = {
    events: size, nodes, hashSeconds: hashMs / 1000, appendSeconds: appendMs / 1000, buildSeconds, tableBytes: Number(bytes),
    samples: proofSamples, nodesPerProof: nodesFetched / proofSamples,
    latencyMs: {
      p50: percentile(latency, 50), p95: percentile(latency, 95), p99: percentile(latency, 99),
      max: Math.max(...latency), mean: latency.reduce((a, b) => a + b, 0) / latency.length,
    },
    sqlMs: { p50: percentile(sql, 50), p95: percentile(sql, 95), p99: percentile(sql, 99) },
  };
  const f = (x: number) => x.toFixed(2);
  ctx.say(`  inclusion proofs: ${n0(proofSamples)} random leaves (after ${PROOF_WARMUP} untimed), ${result.nodesPerProof.toFixed(1)} nodes in one statement each: ` +
    `p50 ${f(result.latencyMs.p50)} ms, p95 ${f(result.latencyMs.p95)} ms, p99 ${f(result.latencyMs.p99)} ms, max ${f(result.latencyMs.max)} ms ` +
    `(the statement alone: p50 ${f(result.sqlMs.p50)}, p99 ${f(result.sqlMs.p99)} ms)`);
  return result;
}
