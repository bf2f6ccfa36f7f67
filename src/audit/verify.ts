/**
 * `verifyAuditLog`: recomputes the sealed access log from the database and names exactly what is wrong.
 *
 * Trust model. Everything in the database is the suspect's: events, leaves, nodes, checkpoints, the
 * published keys and the seal watermark can all be rewritten by whoever owns the database (triggers can
 * be disabled). Only two things come from outside: the raw Ed25519 public keys the auditor trusts, and
 * optionally a checkpoint the auditor saved earlier. A checkpoint counts as *authentic* only when it is
 * signed by one of those keys; a key that is merely listed in audit_signing_key is not trusted.
 *
 * What is checked, per tenant (all in one REPEATABLE READ snapshot, so a sealer running meanwhile
 * cannot make a consistent log look broken):
 *  - every leaf: its event exists, and leafHash(leafBytes(event + subjects)) equals the stored level-0
 *    node; its subject rows agree with the event on tenant and time (columns the hash does not cover
 *    but the per-person index uses); leaf indexes have no gaps;
 *  - every stored node equals the hash of its two stored children, and no node is missing or extra;
 *  - every checkpoint: signed by the key it names, that key trusted, previous_hash = checkpointHash of
 *    the previous checkpoint (so none was deleted or inserted), and its root equal to the tree's root
 *    at its size;
 *  - events not in the tree below the seal watermark (forged into sealed history), leaves beyond the
 *    latest checkpoint (no sealer wrote them), committed events left unsealed for too long;
 *  - against a trusted checkpoint: the tree must not be smaller, and its root at that size must match.
 *
 * Root causes. One tampering trips several checks (an edited event changes every hash above it), so the
 * checks are local (each stored node against its stored children, each leaf hash against its event) and
 * a failure is attributed to the lowest point where the data stops being consistent:
 *  - an event that no longer hashes to its stored leaf hash is EDITED_EVENT at that leaf, unless the leaf's
 *    parent still commits to the event's current hash: then only the stored leaf hash was altered
 *    (BROKEN_CHAIN; the event is authentic);
 *  - a node that no longer matches its children while its parent still matches it: the hashes below were
 *    recomputed to hide an edit (EDITED_EVENT over that node's leaves); when the parent does not match
 *    either, the node itself was altered (BROKEN_CHAIN) and the parent's mismatch is its consequence;
 *  - a signed root that differs from a tree whose every node is consistent: an edit with every hash up to
 *    the root recomputed (EDITED_EVENT between the last matching checkpoint and this one; later
 *    checkpoints, which differ for the same reason, are only counted).
 * Consequences are not reported: the chain link into or out of a checkpoint that fails its signature, a
 * checkpoint's root when its signature fails, nodes missing above deleted leaves, failures among leaves
 * no checkpoint covers (FORGED_EVENT says it). Independent failures are all reported, ordered by
 * FAILURE_PRECEDENCE; the first is the root cause (and decides the CLI's exit code):
 *   ROLLBACK > UNKNOWN_KEY > BAD_SIGNATURE > DELETED_EVENT > FORGED_EVENT > EDITED_EVENT > BROKEN_CHAIN > UNSEALED_BACKLOG
 * History contradicting what an auditor saw comes first (a rollback also leaves orphaned events and a
 * shorter tree behind), then checkpoints that cannot be trusted (nothing they cover can be vouched for),
 * then the events themselves (a deletion or insertion that renumbers leaves also changes roots, so both
 * precede edits), then damage that leaves every event verifiable (a missing checkpoint, altered or
 * missing nodes, the watermark moved back), then the backlog.
 *
 * Not detectable, by design or by nature: events written (or removed, or edited) before they are sealed;
 * new events forged in the present (the owner can insert rows the sealer will seal like any other); a
 * rollback of the newest part of the log, or a restored backup, without a trusted checkpoint from after
 * it; history rewritten with the signing key itself (a stolen key signs whatever it is given; only
 * checkpoints saved earlier catch it); anything outside the leaf bytes, chiefly subject_key, the
 * mutable pseudonym ↔ person map (swapping two rows re-attributes history), and the order of a
 * subject's categories (leafBytes sorts them).
 *
 * Speed. The log is read with three `COPY … TO STDOUT (FORMAT binary)` streams on three connections
 * sharing one exported snapshot, decoded straight from the wire buffers (node-postgres' row parser costs
 * more than the hashing): (1) events with their leaf and level-0 node, and (2) their subject rows, both
 * sorted by event id and merged in lockstep; (3) the stored nodes in post-order (tenant, position, level),
 * checked with a binary counter. Sequential scans, hash joins and sorts replace an index probe per event
 * (one probe costs more than hashing the event). Memory stays bounded: a bitmap of 1 bit per leaf, a few
 * hundred buffered rows, O(log n) nodes per tenant. Per event, no string or object is made: rows waiting
 * for the merge are copied into an arena, and the leaf bytes are written straight from the row buffers
 * (LeafWriter, byte-identical to leafBytes) and hashed into a latin1 string, not a Buffer (~1 µs less per
 * hash). What is left on a slow core, per event: two SHA-256 (~1 µs each), writing the leaf (~2.5 µs) and
 * node-postgres' handling of six COPY messages; PostgreSQL's side of the events stream costs about as much
 * again. Splitting the event-id range across worker threads would only pay off with more cores.
 */
import crypto, { createHash, verify as verifySignature, type KeyObject } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Client as PgClient } from 'pg';
import { HASH_SIZE, type Hash } from './merkle';
import { LeafWriter, PG_EPOCH_US, compareBytes, int64At, type BinarySubjects } from './leaf-writer';
import { checkpointBytes, checkpointHash, keyIdOf, publicKeyFromRaw, type Checkpoint } from './checkpoint';

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

export type VerifyFailure =
  | 'EDITED_EVENT' | 'DELETED_EVENT' | 'FORGED_EVENT' | 'BROKEN_CHAIN'
  | 'BAD_SIGNATURE' | 'UNKNOWN_KEY' | 'UNSEALED_BACKLOG' | 'ROLLBACK';

/** Root-cause order: when several failures are found, the first in this list is the root cause. */
export const FAILURE_PRECEDENCE: readonly VerifyFailure[] = [
  'ROLLBACK', 'UNKNOWN_KEY', 'BAD_SIGNATURE', 'DELETED_EVENT', 'FORGED_EVENT', 'EDITED_EVENT', 'BROKEN_CHAIN', 'UNSEALED_BACKLOG',
];

export interface VerifyReport {
  /** True when nothing failed. */
  ok: boolean;
  /** Every failure found, root cause first (FAILURE_PRECEDENCE, then tenant, then position). */
  failures: { code: VerifyFailure; tenantId: string | null; message: string }[];
  /** Per tenant: leaves in its tree and checkpoints it has. */
  tenants: { tenantId: string; treeSize: number; checkpoints: number }[];
  /** Events whose leaf hashes were recomputed. */
  events: number;
  ms: number;
}

export interface VerifyOptions {
  /** Only these tenants (ids); default: every tenant. */
  tenantIds?: string[];
  /** Raw 32-byte Ed25519 public keys trusted from OUTSIDE the database. */
  trustedKeys: Buffer[];
  /** A checkpoint an auditor saved earlier: the log must still contain it. */
  trustedCheckpoint?: Checkpoint;
  /** Committed events still unsealed after this long are an UNSEALED_BACKLOG. */
  maxUnsealedAgeMs: number;
  now?: Date;
}

/** The root cause of a failed verification (null when it passed). */
export function rootCause(report: Pick<VerifyReport, 'failures'>): VerifyFailure | null {
  return report.failures[0]?.code ?? null;
}

/** A checkpoint as JSON (hex/base64), as `custos audit checkpoint` prints it and `--trusted-checkpoint` reads it. */
export interface CheckpointJson {
  format: 'custos.checkpoint.v1';
  tenantId: string;
  treeSize: number;
  root: string;
  createdAt: string;
  previousHash: string | null;
  keyId: string;
  signature: string;
  /** SHA-256 of the signed bytes and signature: what the next checkpoint names as previous. */
  hash: string;
}

export function checkpointToJson(c: Checkpoint): CheckpointJson {
  return {
    format: 'custos.checkpoint.v1', tenantId: c.tenantId, treeSize: c.treeSize, root: c.root.toString('hex'),
    createdAt: c.createdAt.toISOString(), previousHash: c.previousHash ? c.previousHash.toString('hex') : null, keyId: c.keyId,
    signature: c.signature.toString('base64'), hash: checkpointHash(c).toString('hex'),
  };
}

/** Parses `checkpointToJson`'s output; throws a message naming the bad field. */
export function checkpointFromJson(value: unknown): Checkpoint {
  const o = (value && typeof value === 'object' ? value : {}) as Record<string, unknown>;
  const field = (name: string, ok: boolean) => { if (!ok) throw new Error(`checkpoint field "${name}" is missing or malformed`); };
  const hex = (name: string, bytes: number) => {
    const v = o[name];
    field(name, typeof v === 'string' && new RegExp(`^[0-9a-f]{${bytes * 2}}$`, 'i').test(v));
    return Buffer.from(v as string, 'hex');
  };
  field('tenantId', typeof o.tenantId === 'string' && UUID.test(o.tenantId));
  field('treeSize', typeof o.treeSize === 'number' && Number.isSafeInteger(o.treeSize) && o.treeSize > 0);
  field('createdAt', typeof o.createdAt === 'string' && !Number.isNaN(Date.parse(o.createdAt)));
  field('keyId', typeof o.keyId === 'string' && /^[0-9a-f]{32}$/.test(o.keyId));
  field('signature', typeof o.signature === 'string' && Buffer.from(o.signature, 'base64').length === 64);
  field('previousHash', o.previousHash === null || typeof o.previousHash === 'string');
  return {
    tenantId: (o.tenantId as string).toLowerCase(), treeSize: o.treeSize as number, root: hex('root', HASH_SIZE),
    createdAt: new Date(o.createdAt as string), previousHash: o.previousHash === null ? null : hex('previousHash', HASH_SIZE),
    keyId: o.keyId as string, signature: Buffer.from(o.signature as string, 'base64'),
  };
}

// ---------------------------------------------------------------------------------------------
// Hashing (node:crypto; one-shot where available: the same SHA-256 values as merkle.ts)
// ---------------------------------------------------------------------------------------------

// A latin1 string result: asking node:crypto for a Buffer costs ~1 µs more per hash.
const oneShot = (crypto as unknown as { hash?: (alg: string, data: Buffer, enc: 'latin1') => string }).hash;
const nodeInput = Buffer.alloc(1 + 2 * HASH_SIZE, 1);

/** RFC 6962 interior node hash, SHA-256(0x01 || left || right). */
function hashNode(left: Hash, right: Hash): Hash {
  if (!oneShot) return createHash('sha256').update(nodeInput.subarray(0, 1)).update(left).update(right).digest();
  left.copy(nodeInput, 1);
  right.copy(nodeInput, 1 + HASH_SIZE);
  return Buffer.from(oneShot('sha256', nodeInput, 'latin1'), 'latin1');
}

/** MTH from the peaks of a tree, left to right (RFC 6962: fold right to left). Null if a peak is unknown. */
function foldPeaks(peaks: (Hash | null)[]): Hash | null {
  if (peaks.length === 0) return null;
  let h = peaks[peaks.length - 1];
  for (let i = peaks.length - 2; i >= 0 && h; i--) h = peaks[i] ? hashNode(peaks[i]!, h) : null;
  return h;
}

const same = (a: Buffer | null | undefined, b: Buffer | null | undefined) => !!a && !!b && a.length === b.length && a.equals(b);

// ---------------------------------------------------------------------------------------------
// COPY … TO STDOUT (FORMAT binary), decoded from the wire buffers
// ---------------------------------------------------------------------------------------------

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_FIELDS = 32;

interface PgConnection {
  query(text: string): void;
  stream: { pause(): void; resume(): void };
}

/** One row of n fields: field i is buf[off[i], off[i] + len[i]), len -1 for NULL. The arrays are reused: copy what you keep. */
type RowHandler = (buf: Buffer, off: Int32Array, len: Int32Array, n: number) => void;

/**
 * `COPY (query) TO STDOUT (FORMAT binary)` as a pg Submittable (like pg-copy-streams): pg hands over its
 * connection and forwards the CopyData messages, whose buffers we decode in place. A handler that throws
 * stops the decoding; the COPY still drains, then the promise rejects with that error.
 */
class CopyOut {
  callback?: (err: Error | null) => void;
  connection: PgConnection | null = null;
  private header = false;
  private ended = false;
  private finished = false;
  private error: Error | null = null;
  private rest: Buffer | null = null;
  private readonly off = new Int32Array(MAX_FIELDS);
  private readonly len = new Int32Array(MAX_FIELDS);

  constructor(private readonly text: string, private readonly onRow: RowHandler) {}

  submit(connection: PgConnection): void {
    this.connection = connection;
    connection.query(this.text);
  }

  pause(): void { this.connection?.stream.pause(); }
  resume(): void { this.connection?.stream.resume(); }

  handleCopyData(msg: { chunk: Buffer }): void {
    if (this.error || this.ended) return;
    let buf = msg.chunk;
    if (this.rest) {
      buf = Buffer.concat([this.rest, buf]);
      this.rest = null;
    }
    let o = 0;
    if (!this.header) {
      if (buf.length < 19) { this.rest = Buffer.from(buf); return; }
      if (buf.toString('latin1', 0, 11) !== 'PGCOPY\n\xff\r\n\0') return this.fail(new Error('COPY did not start with the binary signature'));
      const ext = buf.readInt32BE(15);
      if (buf.length < 19 + ext) { this.rest = Buffer.from(buf); return; }
      o = 19 + ext;
      this.header = true;
    }
    const { off, len } = this;
    while (o < buf.length) {
      const start = o;
      if (o + 2 > buf.length) { this.rest = Buffer.from(buf.subarray(start)); return; }
      const n = buf.readInt16BE(o);
      o += 2;
      if (n === -1) { this.ended = true; return; }
      if (n < 0 || n > MAX_FIELDS) return this.fail(new Error(`COPY row with ${n} fields`));
      let complete = true;
      for (let i = 0; i < n; i++) {
        if (o + 4 > buf.length) { complete = false; break; }
        const l = (buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]; // readInt32BE, inlined: the hottest loop
        o += 4;
        off[i] = o;
        len[i] = l;
        if (l > 0) o += l;
        if (o > buf.length) { complete = false; break; }
      }
      if (!complete) { this.rest = Buffer.from(buf.subarray(start)); return; } // pg may reuse its buffer: copy
      try {
        this.onRow(buf, off, len, n);
      } catch (err) {
        return this.fail(err instanceof Error ? err : new Error(String(err)));
      }
    }
  }

  private fail(err: Error): void {
    this.error = err;
    this.resume(); // let the server finish sending; we discard the rest
  }

  handleCommandComplete(): void {}
  handleReadyForQuery(): void { this.finish(this.error); }
  handleError(err: Error): void { this.finish(err); }
  private finish(err: Error | null): void {
    if (this.finished) return;
    this.finished = true;
    this.callback?.(err);
  }
  handleCopyOutResponse(): void {}
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyInResponse(): void {}
}

function copyOut(client: PgClient, sql: string, onRow: RowHandler): { copy: CopyOut; done: Promise<void> } {
  const copy = new CopyOut(`copy (${sql}) to stdout with (format binary)`, onRow);
  const done = new Promise<void>((resolve, reject) => {
    copy.callback = (err) => (err ? reject(err) : resolve());
  });
  client.query(copy as unknown as Parameters<PgClient['query']>[0]);
  return { copy, done };
}

// Decoders of PostgreSQL's binary send formats.
function uuidAt(b: Buffer, o: number): string {
  const h = b.toString('hex', o, o + 16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
/** A copy: node-postgres may reuse the buffer a message was read from. */
function bytesOf(b: Buffer, off: Int32Array, len: Int32Array, i: number): Buffer | null {
  if (len[i] < 0) return null;
  const out = Buffer.allocUnsafe(len[i]);
  b.copy(out, 0, off[i], off[i] + len[i]);
  return out;
}

/**
 * Rows of one COPY stream waiting for the merge. node-postgres reuses the buffers it hands over, so each
 * row is copied into one growing arena: no object, string or Buffer per row. Row r's field i is
 * data[off[r * fields + i], … + len[r * fields + i]) (len -1: NULL); rows head … tail - 1 are queued.
 */
class RowQueue {
  data: Buffer;
  off: Int32Array;
  len: Int32Array;
  head = 0;
  tail = 0;
  private used = 0;

  /** Room for `rows` rows of `rowBytes`: far more than the merge keeps, so the rows queued are rarely moved. */
  constructor(readonly fields: number, rows: number, rowBytes: number) {
    this.data = Buffer.allocUnsafe(rows * rowBytes);
    this.off = new Int32Array(rows * fields);
    this.len = new Int32Array(rows * fields);
  }

  get size(): number { return this.tail - this.head; }

  push(b: Buffer, off: Int32Array, len: Int32Array, n: number): void {
    const nf = this.fields;
    if (this.head === this.tail) this.head = this.tail = this.used = 0;
    const start = off[0];
    const end = off[n - 1] + Math.max(len[n - 1], 0);
    if ((this.tail + 1) * nf > this.off.length || this.used + (end - start) > this.data.length) this.compact(end - start);
    b.copy(this.data, this.used, start, end);
    const shift = this.used - start;
    const base = this.tail * nf;
    for (let i = 0; i < nf; i++) {
      this.off[base + i] = i < n ? off[i] + shift : this.used + end - start;
      this.len[base + i] = i < n ? len[i] : -1;
    }
    this.used += end - start;
    this.tail++;
  }

  /** Moves the queued rows to the front, growing the arena and the offsets if they stay too small. */
  private compact(bytes: number): void {
    const nf = this.fields;
    const rows = this.tail - this.head;
    const from = rows ? this.off[this.head * nf] : this.used;
    const live = this.used - from;
    const data = live + bytes > this.data.length / 2 ? Buffer.allocUnsafe(Math.max(2 * this.data.length, live + bytes)) : this.data;
    this.data.copy(data, 0, from, this.used);
    const grow = (rows + 1) * nf > this.off.length / 2;
    const off = grow ? new Int32Array(2 * this.off.length) : this.off;
    const len = grow ? new Int32Array(2 * this.len.length) : this.len;
    for (let i = 0; i < rows * nf; i++) {
      off[i] = this.off[this.head * nf + i] - from;
      len[i] = this.len[this.head * nf + i];
    }
    this.data = data;
    this.off = off;
    this.len = len;
    this.used = live;
    this.head = 0;
    this.tail = rows;
  }
}

// ---------------------------------------------------------------------------------------------
// Per-tenant state
// ---------------------------------------------------------------------------------------------

interface CheckpointRow {
  tenant_id: string;
  tree_size: string;
  root: Buffer;
  created_at: Date;
  previous_hash: Buffer | null;
  key_id: string;
  signature: Buffer;
}

interface CheckedCheckpoint {
  checkpoint: Checkpoint;
  authentic: boolean;
}

interface LeafIssue { index: number; eventId: string; r: Hash | null; stored: Hash | null }

/** What the node pass found at a node whose stored hash is not the hash of its stored children. */
interface NodeFailure {
  level: number;
  index: number;
  /** rewritten: the hashes below were replaced (the node still commits to the old ones); corrupted: this node was altered. */
  kind: 'rewritten' | 'corrupted';
}

interface StackEntry {
  level: number;
  index: number;
  /** The stored hash (or, if missing, the one computed from the children); null when unknown. */
  value: Hash | null;
  /** Computed from the children's values; null for leaves and when a child is unknown. */
  expected: Hash | null;
  failure: NodeFailure | null;
}

interface RootAt {
  size: number;
  stored: Hash | null;
  /** The root with every failed peak replaced by the hash of its children. */
  best: Hash | null;
  failedPeaks: NodeFailure[];
  peaks: (Hash | null)[];
}

interface TenantState {
  id: string;
  label: string;
  checkpoints: CheckedCheckpoint[];
  /** Largest checkpoint size, authentic or not; and largest authentic one. */
  sAll: number;
  sAuth: number;
  leafCount: number;
  maxLeafIndex: number;
  /** Positions [0, bound) are tracked (bitmap) and walked by the node pass. */
  bound: number;
  seen: Uint8Array;
  events: number;
  deletedEvents: { index: number; eventId: string }[];
  leafMismatches: LeafIssue[];
  missingLeafHashes: LeafIssue[];
  inconsistentSubjects: { index: number; eventId: string; detail: string }[];
  forgedLeaves: number[];
  farLeaves: number;
  forgedEvents: string[];
  forgedEventCount: number;
  backlog: number;
  oldestBacklog: number;
  lateSealed: number;
  lateSealedExample: string | null;
  // node pass
  nodeFailures: NodeFailure[];
  missingNodes: { level: number; index: number }[];
  extraneousNodes: number;
  rootsAt: Map<number, RootAt>;
  /** Sizes at which the node pass records roots. */
  wantRoots: Set<number>;
  nodePassDone: boolean;
}

const BITS = (n: number) => new Uint8Array(Math.ceil(n / 8));
const isSet = (bits: Uint8Array, i: number) => (bits[i >>> 3] & (1 << (i & 7))) !== 0;
const setBit = (bits: Uint8Array, i: number) => { bits[i >>> 3] |= 1 << (i & 7); };

/** Individual failures reported per tenant and kind before they are summarised. */
const DETAIL_LIMIT = 20;
/** Leaf issues classified with a follow-up look at their parents (beyond this, they are taken as edits). */
const FOLLOW_UP_LIMIT = 5_000;
/** Rows buffered per stream before it is paused (the event and subject streams run in lockstep). */
const HIGH_WATER = 512;
const LOW_WATER = 128;

const ranges = (sorted: number[]) => {
  const out: [number, number][] = [];
  for (const i of sorted) {
    const last = out[out.length - 1];
    if (last && last[1] === i - 1) last[1] = i;
    else out.push([i, i]);
  }
  return out.map(([a, b]) => (a === b ? `${a}` : `${a}–${b}`));
};

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

// ---------------------------------------------------------------------------------------------
// verifyAuditLog
// ---------------------------------------------------------------------------------------------

type KnexClient = { acquireRawConnection(): Promise<PgClient>; destroyRawConnection(c: PgClient): Promise<void> };

export async function verifyAuditLog(owner: MikroORM, opts: VerifyOptions): Promise<VerifyReport> {
  const started = Date.now();
  const trustedKeys = opts?.trustedKeys ?? [];
  const maxUnsealedAgeMs = opts?.maxUnsealedAgeMs ?? 300_000;
  const now = opts?.now ?? new Date();
  for (const id of opts?.tenantIds ?? []) if (!UUID.test(id)) throw new Error(`not a tenant id: ${id}`);

  const trusted = new Map<string, { raw: Buffer; key: KeyObject }>();
  for (const raw of trustedKeys) {
    if (!Buffer.isBuffer(raw) || raw.length !== 32) throw new Error('a trusted key must be a raw 32-byte Ed25519 public key');
    trusted.set(keyIdOf(raw), { raw, key: publicKeyFromRaw(raw) });
  }
  const verifyWith = (c: Checkpoint, key: KeyObject) => {
    try {
      return verifySignature(null, checkpointBytes(c), key, c.signature);
    } catch {
      return false;
    }
  };
  const trustedCp = opts?.trustedCheckpoint;
  if (trustedCp) {
    const k = trusted.get(trustedCp.keyId);
    if (!k) throw new Error(`the trusted checkpoint is signed by key ${trustedCp.keyId}, which is not among the trusted keys`);
    if (!verifyWith(trustedCp, k.key)) throw new Error('the trusted checkpoint\'s signature does not verify: the file was altered or is not a checkpoint');
    if (opts?.tenantIds && !opts.tenantIds.map((t) => t.toLowerCase()).includes(trustedCp.tenantId)) {
      throw new Error(`the trusted checkpoint belongs to tenant ${trustedCp.tenantId}, which is not being verified`);
    }
  }

  const knex = (owner.em.getConnection() as unknown as { getKnex(): { client: KnexClient } }).getKnex().client;
  const conns: PgClient[] = [];
  try {
    for (let i = 0; i < 3; i++) conns.push(await knex.acquireRawConnection());
    const [c0, c1, c2] = conns;
    await c0.query('begin isolation level repeatable read read only');
    const { rows: [{ snapshot }] } = await c0.query<{ snapshot: string }>('select pg_export_snapshot() as snapshot');
    for (const c of [c1, c2]) {
      await c.query('begin isolation level repeatable read read only');
      await c.query(`set transaction snapshot '${snapshot}'`);
    }
    // The sorts of the three streams fit in memory for logs of a few million events.
    for (const c of conns) {
      await c.query(`set local work_mem = '128MB'`);
      // A policy forced onto the owner could hide rows from us: make it an error instead.
      await c.query('set local row_security = off');
    }
    const result = await verifyInSnapshot(conns as [PgClient, PgClient, PgClient], {
      tenantIds: opts?.tenantIds?.map((t) => t.toLowerCase()), trusted, verifyWith, trustedCp, maxUnsealedAgeMs, now,
    });
    return { ...result, ms: Date.now() - started };
  } finally {
    for (const c of conns) {
      await c.query('rollback').catch(() => undefined);
      await knex.destroyRawConnection(c).catch(() => undefined);
    }
  }
}

interface Context {
  tenantIds?: string[];
  trusted: Map<string, { raw: Buffer; key: KeyObject }>;
  verifyWith: (c: Checkpoint, key: KeyObject) => boolean;
  trustedCp?: Checkpoint;
  maxUnsealedAgeMs: number;
  now: Date;
}

type Failure = VerifyReport['failures'][number] & { order: number };

async function verifyInSnapshot([c0, c1, c2]: [PgClient, PgClient, PgClient], ctx: Context): Promise<Omit<VerifyReport, 'ms'>> {
  // ---- small reads: the watermark, tenants, checkpoints, published keys, leaf counts ----
  const seal = await c0.query<{ sealed_below: string }>('select sealed_below::text from audit_seal_state');
  const watermark = seal.rows[0]?.sealed_below ?? '0';
  if (!/^\d+$/.test(watermark)) throw new Error(`unexpected seal watermark ${watermark}`);
  const tenantRows = (await c0.query<{ id: string; slug: string }>(
    ctx.tenantIds ? 'select id::text, slug from tenant where id = any($1::uuid[]) order by id' : 'select id::text, slug from tenant order by id',
    ctx.tenantIds ? [ctx.tenantIds] : [],
  )).rows;
  const ids = new Set([...tenantRows.map((t) => t.id), ...(ctx.tenantIds ?? [])]);
  if (ctx.trustedCp) ids.add(ctx.trustedCp.tenantId);
  const tenantIds = [...ids].sort();
  const slugs = new Map(tenantRows.map((t) => [t.id, t.slug]));
  const idList = `'{${tenantIds.join(',')}}'::uuid[]`; // validated UUIDs: COPY takes no parameters

  const failures: Failure[] = [];
  let order = 0;
  const fail = (code: VerifyFailure, tenantId: string | null, message: string) => failures.push({ code, tenantId, message, order: order++ });

  const cpRows = (await c0.query<CheckpointRow>(
    'select c.tenant_id::text, c.tree_size::text, c.root, c.created_at, c.previous_hash, c.key_id, c.signature from audit_checkpoint c where c.tenant_id = any($1::uuid[]) order by c.tenant_id, c.tree_size',
    [tenantIds],
  )).rows;
  const published = new Map((await c0.query<{ key_id: string; public_key: Buffer }>('select key_id, public_key from audit_signing_key')).rows
    .map((r) => [r.key_id, r.public_key]));
  const leafStats = new Map((await c0.query<{ tenant_id: string; n: string; max: string }>(
    'select tenant_id::text, count(*)::text as n, max(leaf_index)::text as max from audit_leaf where tenant_id = any($1::uuid[]) group by tenant_id',
    [tenantIds],
  )).rows.map((r) => [r.tenant_id, { count: Number(r.n), max: Number(r.max) }]));

  const states = new Map<string, TenantState>();
  for (const id of tenantIds) {
    const stats = leafStats.get(id) ?? { count: 0, max: -1 };
    states.set(id, {
      id, label: slugs.has(id) ? `tenant ${slugs.get(id)} (${id})` : `tenant ${id}`, checkpoints: [], sAll: 0, sAuth: 0,
      leafCount: stats.count, maxLeafIndex: stats.max, bound: 0, seen: BITS(0), events: 0, deletedEvents: [], leafMismatches: [], missingLeafHashes: [],
      inconsistentSubjects: [], forgedLeaves: [], farLeaves: 0, forgedEvents: [], forgedEventCount: 0, backlog: 0, oldestBacklog: Infinity,
      lateSealed: 0, lateSealedExample: null, nodeFailures: [], missingNodes: [], extraneousNodes: 0, rootsAt: new Map(), wantRoots: new Set(),
      nodePassDone: false,
    });
  }

  // ---- checkpoints: trust, signature, chain ----
  const unknown = new Map<string, { st: TenantState; keyId: string; sizes: number[]; note: string }>();
  const bad = new Map<string, { st: TenantState; sizes: number[] }>();
  for (const row of cpRows) {
    const st = states.get(row.tenant_id)!;
    const c: Checkpoint = {
      tenantId: row.tenant_id, treeSize: Number(row.tree_size), root: row.root, createdAt: new Date(row.created_at),
      previousHash: row.previous_hash, keyId: row.key_id, signature: row.signature,
    };
    const key = ctx.trusted.get(c.keyId);
    let authentic = false;
    if (!key) {
      const listed = published.get(c.keyId);
      let selfSigned = false;
      try {
        selfSigned = !!listed && listed.length === 32 && ctx.verifyWith(c, publicKeyFromRaw(listed));
      } catch {
        selfSigned = false;
      }
      const note = selfSigned ? 'it is listed in audit_signing_key and the signatures verify under it, but anyone who can write to the database can add a key'
        : listed ? 'the signatures do not even verify under the key audit_signing_key lists for it' : 'no such key is published either';
      const k = `${st.id}/${c.keyId}/${note}`;
      const entry = unknown.get(k) ?? { st, keyId: c.keyId, sizes: [], note };
      entry.sizes.push(c.treeSize);
      unknown.set(k, entry);
    } else if (!ctx.verifyWith(c, key.key)) {
      const entry = bad.get(st.id) ?? { st, sizes: [] };
      entry.sizes.push(c.treeSize);
      bad.set(st.id, entry);
    } else {
      authentic = true;
    }
    st.checkpoints.push({ checkpoint: c, authentic });
  }
  const sizes = (list: number[]) => `${list.length === 1 ? 'checkpoint at tree size' : `${list.length} checkpoints, at tree sizes`} ` +
    `${list.slice(0, DETAIL_LIMIT).join(', ')}${list.length > DETAIL_LIMIT ? ' …' : ''}`;
  for (const { st, keyId, sizes: list, note } of unknown.values()) {
    fail('UNKNOWN_KEY', st.id, `${st.label}: ${sizes(list)}, ${list.length === 1 ? 'is' : 'are'} signed by key ${keyId}, which is not a trusted key (${note})`);
  }
  for (const { st, sizes: list } of bad.values()) {
    fail('BAD_SIGNATURE', st.id, `${st.label}: ${sizes(list)}, ${list.length === 1 ? 'does' : 'do'} not verify under the trusted key ${list.length === 1 ? 'it names' : 'they name'}: ` +
      'root, size, time, previous hash or signature altered after signing');
  }
  for (const st of states.values()) {
    const cps = st.checkpoints;
    for (let i = 0; i < cps.length; i++) {
      const { checkpoint: c, authentic } = cps[i];
      st.sAll = Math.max(st.sAll, c.treeSize);
      if (authentic) { st.sAuth = Math.max(st.sAuth, c.treeSize); st.wantRoots.add(c.treeSize); }
      if (i === 0) {
        if (c.previousHash && authentic) {
          fail('BROKEN_CHAIN', st.id, `${st.label}: the first checkpoint (tree size ${c.treeSize}) names a previous checkpoint ` +
            `${c.previousHash.toString('hex')}: earlier checkpoints were deleted`);
        }
        continue;
      }
      const prev = cps[i - 1];
      // A link into or out of a checkpoint that is not authentic is explained by that checkpoint's failure.
      if (!authentic || !prev.authentic) continue;
      if (!c.previousHash) {
        fail('BROKEN_CHAIN', st.id, `${st.label}: checkpoint at tree size ${c.treeSize} names no previous checkpoint, ` +
          `but the checkpoint at tree size ${prev.checkpoint.treeSize} precedes it`);
      } else if (!c.previousHash.equals(checkpointHash(prev.checkpoint))) {
        fail('BROKEN_CHAIN', st.id, `${st.label}: checkpoint at tree size ${c.treeSize} does not chain to the checkpoint at tree size ` +
          `${prev.checkpoint.treeSize} (previous_hash ${c.previousHash.toString('hex').slice(0, 16)}… ≠ ${checkpointHash(prev.checkpoint).toString('hex').slice(0, 16)}…): ` +
          'a checkpoint between them was deleted');
      }
    }
    // Positions tracked and walked: every authentic size, and the leaves if they are (nearly) contiguous.
    st.bound = Math.max(st.sAuth, Math.min(st.maxLeafIndex + 1, st.sAuth + st.leafCount));
    if (ctx.trustedCp?.tenantId === st.id && ctx.trustedCp.treeSize <= st.sAll) {
      st.bound = Math.max(st.bound, ctx.trustedCp.treeSize);
      st.wantRoots.add(ctx.trustedCp.treeSize);
    }
    st.seen = BITS(st.bound);
  }

  // ---- the three streams ----
  const cutoffMs = ctx.now.getTime() - ctx.maxUnsealedAgeMs;
  const eventsSql = `
    select coalesce(e.id, l.event_id) as k, l.tenant_id as leaf_tenant, l.leaf_index, n.hash,
           e.id, e.tenant_id, e.occurred_at, e.request_id, e.operation_type, e.operation_name, e.root_field, e.fields,
           e.access_kind, e.purpose, e.actor_kind, e.actor_role, e.actor_pseudonym, e.credential_id, e.resources, e.outcome,
           e.error_code, e.item_count, e.actor_ip, e.actor_user_agent, e.txid < '${watermark}'::xid8 as below
      from access_event e
      full join audit_leaf l on l.event_id = e.id
      left join audit_node n on n.tenant_id = l.tenant_id and n.level = 0 and n.idx = l.leaf_index and n.tenant_id = any(${idList})
     where coalesce(l.tenant_id, e.tenant_id) = any(${idList})
     order by 1`;
  const subjectsSql = `
    select s.event_id, s.pseudonym, s.categories, s.tenant_id, s.occurred_at
      from access_event_subject s where s.tenant_id = any(${idList}) order by s.event_id`;
  // Post-order: a node (level L, index k) completes at leaf position (k+1)·2^L - 1; absurd ones sort last.
  const nodesSql = `
    select n.tenant_id,
           case when n.level < 62 and n.idx < (1::int8 << (62 - n.level)) then ((n.idx + 1) << n.level) - 1 end as pos,
           n.level, n.idx, n.hash
      from audit_node n where n.tenant_id = any(${idList})
     order by 1, 2 nulls last, 3`;

  // The planner cannot estimate the coalesce filter (it guesses 1/40 of the rows) and would probe
  // audit_node's index once per leaf: hash joins are ~1/3 faster, and the events stream is the slowest.
  await c0.query('set local enable_nestloop = off');
  const pass1 = new EventPass(states, cutoffMs);
  const pass2 = new NodePass(states);
  const ev = copyOut(c0, eventsSql, (b, off, len, n) => pass1.onEvent(b, off, len, n));
  const sub = copyOut(c1, subjectsSql, (b, off, len, n) => pass1.onSubject(b, off, len, n));
  const nodes = copyOut(c2, nodesSql, (b, off, len) => pass2.onNode(b, off, len));
  pass1.streams = { events: ev.copy, subjects: sub.copy };
  // A stream that fails may leave another paused, waiting for it: close every connection then (they are ours).
  let firstError: unknown = null;
  const abort = (err: unknown) => {
    if (firstError === null) {
      firstError = err;
      for (const c of [c0, c1, c2]) (c as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    }
    throw err;
  };
  const settled = await Promise.allSettled([
    ev.done.then(() => pass1.endEvents()).catch(abort),
    sub.done.then(() => pass1.endSubjects()).catch(abort),
    nodes.done.then(() => pass2.end()).catch(abort),
  ]);
  if (firstError !== null) throw firstError;
  for (const s of settled) if (s.status === 'rejected') throw s.reason;
  pass1.finish();

  // ---- classification ----
  await c0.query('set local enable_nestloop = default'); // its follow-up reads want index probes
  await classify(c0, states, ctx, fail);

  failures.sort((a, b) => FAILURE_PRECEDENCE.indexOf(a.code) - FAILURE_PRECEDENCE.indexOf(b.code)
    || (a.tenantId ?? '').localeCompare(b.tenantId ?? '') || a.order - b.order);
  let events = 0;
  const tenants: VerifyReport['tenants'] = [];
  for (const st of states.values()) {
    events += st.events;
    if (slugs.has(st.id) || st.leafCount > 0 || st.checkpoints.length > 0) {
      tenants.push({ tenantId: st.id, treeSize: st.leafCount, checkpoints: st.checkpoints.length });
    }
  }
  return {
    ok: failures.length === 0,
    failures: failures.map(({ code, tenantId, message }) => ({ code, tenantId, message })),
    tenants,
    events,
  };
}

// ---------------------------------------------------------------------------------------------
// Pass 1: events and their subjects, merged by event id
// ---------------------------------------------------------------------------------------------

/** Fields of the event stream: merge key, leaf tenant and index, stored leaf hash, the event's columns (EVENT_FIELDS' order), below. */
const EV = { key: 0, leafTenant: 1, leafIndex: 2, stored: 3, event: 4, tenant: 5, occurred: 6, below: 24, fields: 25 } as const;
/** Fields of the subject stream. */
const SUB = { eventId: 0, pseudonym: 1, categories: 2, tenant: 3, occurred: 4, fields: 5 } as const;

class EventPass {
  streams: { events: CopyOut; subjects: CopyOut } | null = null;
  private readonly events = new RowQueue(EV.fields, 8192, 1024);
  private readonly subjects = new RowQueue(SUB.fields, 8192, 256);
  /** Subject rows at the head of their queue that belong to the first queued event, which waits for more. */
  private matched = 0;
  private eventsDone = false;
  private subjectsDone = false;
  private eventsPaused = false;
  private subjectsPaused = false;
  private readonly writer = new LeafWriter();
  private readonly view: BinarySubjects = {
    buf: this.subjects.data, off: this.subjects.off, len: this.subjects.len, stride: SUB.fields, first: 0, count: 0,
    pseudonym: SUB.pseudonym, categories: SUB.categories,
  };

  /** Tenants by the first 4 bytes of their id (then compared whole): no string per row. */
  private readonly tenants = new Map<number, { id: Buffer; st: TenantState }[]>();

  constructor(states: Map<string, TenantState>, private readonly cutoffMs: number) {
    for (const st of states.values()) {
      const id = Buffer.from(st.id.replace(/-/g, ''), 'hex');
      const list = this.tenants.get(id.readUInt32BE(0)) ?? [];
      list.push({ id, st });
      this.tenants.set(id.readUInt32BE(0), list);
    }
  }

  private tenantAt(b: Buffer, o: number): TenantState | null {
    const list = this.tenants.get(b.readUInt32BE(o));
    if (list) for (const t of list) if (compareBytes(t.id, 0, 16, b, o, 16) === 0) return t.st;
    return null;
  }

  onEvent(b: Buffer, off: Int32Array, len: Int32Array, n: number): void {
    // Straight from node-postgres' buffer when nothing is queued before it and its subjects are in.
    if (this.events.size === 0 && this.take(b, off, len, 0)) { this.flow(); return; }
    this.events.push(b, off, len, n);
    this.pump();
  }

  onSubject(b: Buffer, off: Int32Array, len: Int32Array, n: number): void {
    this.subjects.push(b, off, len, n);
    this.pump();
  }

  endEvents(): void { this.eventsDone = true; this.pump(); }
  endSubjects(): void { this.subjectsDone = true; this.pump(); }

  /** Processes every queued event whose subjects are all in. */
  private pump(): void {
    const E = this.events;
    this.matched = 0;
    while (E.head < E.tail && this.take(E.data, E.off, E.len, E.head * EV.fields)) E.head++;
    this.flow();
  }

  /** Processes the event row at fields e… if its subjects are all in (the subject stream is past its id); false if it must wait. */
  private take(b: Buffer, off: Int32Array, len: Int32Array, e: number): boolean {
    const S = this.subjects;
    const key = off[e + EV.key];
    let j = S.head;
    let complete = false;
    while (j < S.tail) {
      const c = compareBytes(S.data, S.off[j * SUB.fields + SUB.eventId], 16, b, key, 16);
      if (c < 0) { S.head = ++j; continue; } // a subject of an event not in this verification
      if (c > 0) { complete = true; break; }
      j++;
    }
    if (!complete && !this.subjectsDone) { this.matched = j - S.head; return false; }
    this.matched = 0;
    this.process(b, off, len, e, S.head, j);
    S.head = j;
    return true;
  }

  /**
   * Lockstep: after a pump, one of the two queues is empty (the merge waits for that stream) but for the
   * subjects of the event it waits on. The other stream is paused once it is far ahead, and resumed when
   * the merge has caught up: never a deadlock.
   */
  private flow(): void {
    if (!this.streams) return;
    const eventsQueued = this.events.size;
    const subjectsQueued = this.subjects.size - this.matched;
    if (!this.eventsPaused && eventsQueued > HIGH_WATER) { this.streams.events.pause(); this.eventsPaused = true; }
    else if (this.eventsPaused && eventsQueued < LOW_WATER) { this.streams.events.resume(); this.eventsPaused = false; }
    if (!this.subjectsPaused && subjectsQueued > HIGH_WATER) { this.streams.subjects.pause(); this.subjectsPaused = true; }
    else if (this.subjectsPaused && subjectsQueued < LOW_WATER) { this.streams.subjects.resume(); this.subjectsPaused = false; }
  }

  finish(): void {
    this.subjectsDone = true;
    this.eventsDone = true;
    this.pump();
  }

  /** Subject row j disagrees with the event (fields e…) on tenant or time. */
  private inconsistent(st: TenantState, b: Buffer, off: Int32Array, len: Int32Array, e: number, j: number): void {
    const { data: sb, off: soff } = this.subjects;
    const s = j * SUB.fields;
    const eventUs = len[e + EV.occurred] >= 0 ? int64At(b, off[e + EV.occurred]) : 0;
    const iso = (us: number) => new Date(Math.floor((us + PG_EPOCH_US) / 1000)).toISOString();
    const what = compareBytes(sb, soff[s + SUB.tenant], 16, b, off[e + EV.tenant], 16) !== 0
      ? `tenant ${uuidAt(sb, soff[s + SUB.tenant])} instead of ${uuidAt(b, off[e + EV.tenant])}`
      : `time ${iso(int64At(sb, soff[s + SUB.occurred]))} instead of ${iso(eventUs)}`;
    st.inconsistentSubjects.push({
      index: leafIndexOf(b, off, len, e), eventId: uuidAt(b, off[e + EV.event]),
      detail: `its subject row for ${uuidAt(sb, soff[s + SUB.pseudonym])} says ${what}`,
    });
  }

  /** The event row at fields e… of b/off/len; its subjects are subject rows sa … sb - 1. */
  private process(b: Buffer, off: Int32Array, len: Int32Array, e: number, sa: number, sb: number): void {
    const hasEvent = len[e + EV.event] >= 0;
    const occurredUs = len[e + EV.occurred] >= 0 ? int64At(b, off[e + EV.occurred]) : 0;
    const below = len[e + EV.below] >= 0 && b[off[e + EV.below]] === 1;
    const st = len[e + EV.leafTenant] >= 0 ? this.tenantAt(b, off[e + EV.leafTenant]) : null;
    if (st === null) {
      // An event in no tree: sealed history it was never part of, or not sealed yet.
      const own = hasEvent ? this.tenantAt(b, off[e + EV.tenant]) : null;
      if (!own) return;
      if (below) {
        own.forgedEventCount++;
        if (own.forgedEvents.length < DETAIL_LIMIT) own.forgedEvents.push(uuidAt(b, off[e + EV.key]));
      } else {
        const ms = Math.floor((occurredUs + PG_EPOCH_US) / 1000);
        if (ms < this.cutoffMs) {
          own.backlog++;
          own.oldestBacklog = Math.min(own.oldestBacklog, ms);
        }
      }
      return;
    }
    if (hasEvent) {
      const { data: s, off: soff } = this.subjects;
      for (let j = sa; j < sb; j++) {
        const o = j * SUB.fields;
        if (compareBytes(s, soff[o + SUB.tenant], 16, b, off[e + EV.tenant], 16) !== 0
          || int64At(s, soff[o + SUB.occurred]) !== occurredUs) this.inconsistent(st, b, off, len, e, j);
      }
    }
    const i = leafIndexOf(b, off, len, e);
    // The event's id (the merge key is the event's id when there is an event, else the leaf's).
    const eventId = () => uuidAt(b, off[e + EV.key]);
    if (i < st.bound) setBit(st.seen, i);
    else st.farLeaves++;
    if (i >= st.sAll) {
      st.forgedLeaves.push(i);
      return;
    }
    if (!hasEvent) {
      st.deletedEvents.push({ index: i, eventId: eventId() });
      return;
    }
    st.events++;
    if (!below) {
      st.lateSealed++;
      st.lateSealedExample ??= eventId();
    }
    let r: string | null = null;
    try {
      const view = this.view;
      view.buf = this.subjects.data;
      view.off = this.subjects.off;
      view.len = this.subjects.len;
      view.first = sa;
      view.count = sb - sa;
      r = this.writer.binaryEvent(b, off, len, e + EV.event, view).hashLatin1();
    } catch {
      r = null; // a value leafBytes cannot even serialise (say, an infinite timestamp): certainly not the sealed one
    }
    const so = off[e + EV.stored];
    const sl = len[e + EV.stored];
    if (r !== null && sl === HASH_SIZE && sameBytes(r, b, so)) return;
    const h = r === null ? null : Buffer.from(r, 'latin1');
    if (sl < 0) st.missingLeafHashes.push({ index: i, eventId: eventId(), r: h, stored: null });
    else st.leafMismatches.push({ index: i, eventId: eventId(), r: h, stored: Buffer.from(b.subarray(so, so + sl)) });
  }
}

const leafIndexOf = (b: Buffer, off: Int32Array, len: Int32Array, e: number) => (len[e + EV.leafIndex] >= 0 ? int64At(b, off[e + EV.leafIndex]) : -1);

/** Whether the 32 bytes at b[o…] are the latin1 string h. */
function sameBytes(h: string, b: Buffer, o: number): boolean {
  for (let i = 0; i < HASH_SIZE; i++) if (h.charCodeAt(i) !== b[o + i]) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Pass 2: stored nodes in post-order, checked against their stored children (a binary counter)
// ---------------------------------------------------------------------------------------------

class NodePass {
  private st: TenantState | null = null;
  private tenantBytes: Buffer | null = null;
  private stack: StackEntry[] = [];
  /** Next leaf position of the current tenant to complete. */
  private next = 0;
  private at = -1;
  private here: (Hash | undefined)[] = [];

  constructor(private readonly states: Map<string, TenantState>) {}

  onNode(b: Buffer, off: Int32Array, len: Int32Array): void {
    if (!this.tenantBytes || b.compare(this.tenantBytes, 0, 16, off[0], off[0] + 16) !== 0) {
      this.closeTenant();
      this.tenantBytes = Buffer.from(b.subarray(off[0], off[0] + 16));
      this.st = this.states.get(uuidAt(b, off[0])) ?? null;
      this.stack = [];
      this.next = 0;
      this.at = -1;
      this.here = [];
    }
    const st = this.st;
    if (!st) return;
    const pos = len[1] < 0 ? Infinity : int64At(b, off[1]);
    if (pos >= st.bound) { st.extraneousNodes++; return; }
    if (pos !== this.at) {
      if (this.at >= 0) this.complete(this.at);
      this.walkTo(pos);
      this.at = pos;
      this.here = [];
    }
    this.here[b.readInt16BE(off[2])] = bytesOf(b, off, len, 4)!;
  }

  end(): void {
    this.closeTenant();
    for (const st of this.states.values()) {
      if (st.nodePassDone) continue;
      this.st = st;
      this.stack = [];
      this.next = 0;
      this.at = -1;
      this.here = [];
      this.closeTenant();
    }
  }

  private closeTenant(): void {
    const st = this.st;
    if (!st) return;
    if (this.at >= 0) this.complete(this.at);
    this.here = [];
    this.walkTo(st.bound);
    st.nodePassDone = true;
    this.st = null;
  }

  /** Completes every position before `pos` that has no stored node at all. */
  private walkTo(pos: number): void {
    this.here = [];
    while (this.next < pos) this.complete(this.next);
  }

  private complete(p: number): void {
    const st = this.st!;
    if (p !== this.next) return; // already done
    this.next = p + 1;
    const here = this.here;
    const stack = this.stack;
    stack.push({ level: 0, index: p, value: here[0] ?? null, expected: null, failure: null });
    while (stack.length >= 2 && stack[stack.length - 1].level === stack[stack.length - 2].level) {
      const right = stack.pop()!;
      const left = stack.pop()!;
      const level = left.level + 1;
      const index = left.index / 2;
      const expected = left.value && right.value ? hashNode(left.value, right.value) : null;
      const stored = here[level] ?? null;
      let failure: NodeFailure | null = null;
      if (stored && expected && !stored.equals(expected)) {
        if (left.failure || right.failure) {
          // This node still commits to the original child: the failed child itself was altered.
          for (const c of [left, right]) if (c.failure) c.failure.kind = 'corrupted';
        } else {
          failure = { level, index, kind: 'rewritten' };
          st.nodeFailures.push(failure);
        }
      } else if (!stored && expected) {
        st.missingNodes.push({ level, index });
      }
      stack.push({ level, index, value: stored ?? expected, expected, failure });
    }
    this.here = [];
    const size = p + 1;
    if (st.wantRoots.has(size)) {
      const peaks = stack.map((e) => e.value);
      const failed = stack.filter((e) => e.failure);
      st.rootsAt.set(size, {
        size, stored: foldPeaks(peaks),
        best: failed.length ? foldPeaks(stack.map((e) => (e.failure ? e.expected : e.value))) : null,
        failedPeaks: failed.map((e) => e.failure!), peaks,
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Classification: root causes, consequences dropped
// ---------------------------------------------------------------------------------------------

async function classify(c0: PgClient, states: Map<string, TenantState>, ctx: Context,
  fail: (code: VerifyFailure, tenantId: string | null, message: string) => void): Promise<void> {
  // Look at the parent and sibling of leaves whose stored hash is wrong or missing: was the event edited,
  // or only its stored leaf hash?
  const wanted: { st: TenantState; issue: LeafIssue }[] = [];
  for (const st of states.values()) {
    for (const issue of st.leafMismatches) wanted.push({ st, issue });
    for (const issue of st.missingLeafHashes) wanted.push({ st, issue });
  }
  const sample = wanted.slice(0, FOLLOW_UP_LIMIT);
  const nodes = new Map<string, Hash>();
  if (sample.length) {
    const t: string[] = [], l: number[] = [], i: number[] = [];
    for (const { st, issue } of sample) {
      const sib = issue.index % 2 === 0 ? issue.index + 1 : issue.index - 1;
      t.push(st.id, st.id); l.push(0, 1); i.push(sib, Math.floor(issue.index / 2));
    }
    const rows = (await c0.query<{ tenant_id: string; level: number; idx: string; hash: Buffer }>(
      `select n.tenant_id::text, n.level, n.idx::text, n.hash from audit_node n
         join unnest($1::uuid[], $2::smallint[], $3::int8[]) as w(t, l, i) on n.tenant_id = w.t and n.level = w.l and n.idx = w.i`,
      [t, l, i])).rows;
    for (const r of rows) nodes.set(`${r.tenant_id}/${r.level}/${r.idx}`, r.hash);
  }
  /** Leaves (per tenant) whose stored leaf hash was altered while the event is intact: explains a failure at their parent. */
  const corruptedLeafNodes = new Map<string, Set<number>>();

  for (const st of states.values()) {
    const L = st.label;
    const rIndex = new Map<number, Hash | null>();
    for (const x of [...st.leafMismatches, ...st.missingLeafHashes]) rIndex.set(x.index, x.r);
    const sampled = new Set(sample.filter((w) => w.st === st).map((w) => w.issue));
    const edited: string[] = [];
    const corrupted: number[] = [];
    const deletedNodes: number[] = [];
    const inconclusive: number[] = [];
    const leafVerdict = (issue: LeafIssue): 'intact' | 'edited' | 'unknown' => {
      if (!issue.r) return 'edited';
      if (!sampled.has(issue)) return 'edited';
      const i = issue.index;
      const sib = i % 2 === 0 ? i + 1 : i - 1;
      const parent = nodes.get(`${st.id}/1/${Math.floor(i / 2)}`);
      if (parent) {
        const candidates = [nodes.get(`${st.id}/0/${sib}`), rIndex.get(sib)].filter((h): h is Hash => !!h);
        for (const s of candidates) {
          const h = i % 2 === 0 ? hashNode(issue.r, s) : hashNode(s, issue.r);
          if (h.equals(parent)) return 'intact';
        }
        return 'edited';
      }
      // No parent: the last, unpaired leaf. The latest authentic checkpoint ending at it decides.
      const at = st.rootsAt.get(i + 1);
      const cp = st.checkpoints.filter((c) => c.authentic && c.checkpoint.treeSize === i + 1)[0];
      if (at && cp && at.peaks.length) {
        const root = foldPeaks([...at.peaks.slice(0, -1), issue.r]);
        return same(root, cp.checkpoint.root) ? 'intact' : 'edited';
      }
      return 'unknown';
    };
    for (const issue of st.leafMismatches) {
      const v = leafVerdict(issue);
      if (v === 'intact') corrupted.push(issue.index);
      else edited.push(`leaf ${issue.index} (event ${issue.eventId})`);
    }
    for (const issue of st.missingLeafHashes) {
      const v = leafVerdict(issue);
      if (v === 'intact') deletedNodes.push(issue.index);
      else if (v === 'edited') edited.push(`leaf ${issue.index} (event ${issue.eventId}, whose stored leaf hash was deleted)`);
      else inconclusive.push(issue.index);
    }
    corruptedLeafNodes.set(st.id, new Set(corrupted));

    // DELETED_EVENT: gaps in the leaf indexes, leaves whose event is gone, and a tree shorter than its checkpoints.
    const gaps: number[] = [];
    const end = Math.min(st.bound, Math.max(st.sAll, st.sAuth));
    for (let p = 0; p < end; p++) if (!isSet(st.seen, p)) gaps.push(p);
    const deletedPositions = [...gaps, ...st.deletedEvents.map((d) => d.index)].sort((a, b) => a - b);
    if (gaps.length) {
      const rs = ranges(gaps);
      fail('DELETED_EVENT', st.id, `${L}: ${plural(gaps.length, 'leaf', 'leaves')} missing from the tree: ` +
        `leaf ${rs.slice(0, DETAIL_LIMIT).join(', ')}${rs.length > DETAIL_LIMIT ? ` and ${rs.length - DETAIL_LIMIT} more ranges` : ''}` +
        (gaps[gaps.length - 1] >= st.maxLeafIndex + 1 ? ` (the signed tree has ${Math.max(st.sAll, st.sAuth)} leaves, the database ${st.leafCount})` : '') +
        ': their events were deleted with their leaves');
    }
    st.deletedEvents.forEach((d, n) => {
      if (n < DETAIL_LIMIT) fail('DELETED_EVENT', st.id, `${L}: leaf ${d.index}: event ${d.eventId} was deleted (the leaf and its hash remain)`);
    });
    if (st.deletedEvents.length > DETAIL_LIMIT) {
      fail('DELETED_EVENT', st.id, `${L}: and ${st.deletedEvents.length - DETAIL_LIMIT} more leaves whose event was deleted`);
    }
    const touchesDeleted = (a: number, b: number) => { // any deleted position in [a, b)?
      let lo = 0, hi = deletedPositions.length;
      while (lo < hi) { const m = (lo + hi) >>> 1; if (deletedPositions[m] < a) lo = m + 1; else hi = m; }
      return lo < deletedPositions.length && deletedPositions[lo] < b;
    };

    // FORGED_EVENT: leaves no checkpoint covers, events slipped under the watermark.
    if (st.forgedLeaves.length) {
      const sorted = [...st.forgedLeaves].sort((a, b) => a - b);
      const rs = ranges(sorted);
      fail('FORGED_EVENT', st.id, `${L}: ${plural(sorted.length, 'leaf', 'leaves')} ${st.sAll ? `beyond the latest checkpoint (tree size ${st.sAll})` : 'and no checkpoint'}: ` +
        `leaf ${rs.slice(0, DETAIL_LIMIT).join(', ')}${rs.length > DETAIL_LIMIT ? ' …' : ''}; the sealer signs a checkpoint with every leaf it writes, so these were added by hand`);
    }
    if (st.forgedEventCount) {
      fail('FORGED_EVENT', st.id, `${L}: ${plural(st.forgedEventCount, 'event')} in no tree although written by a transaction below the seal ` +
        `watermark (every such event was sealed): ${st.forgedEvents.join(', ')}${st.forgedEventCount > st.forgedEvents.length ? ' …' : ''}`);
    }

    // EDITED_EVENT: events that no longer hash to their sealed leaf, subject rows altered.
    edited.slice(0, DETAIL_LIMIT).forEach((e) => fail('EDITED_EVENT', st.id, `${L}: ${e} no longer hashes to its sealed leaf hash: the event or its subjects were changed after sealing`));
    if (edited.length > DETAIL_LIMIT) fail('EDITED_EVENT', st.id, `${L}: and ${edited.length - DETAIL_LIMIT} more edited events`);
    st.inconsistentSubjects.slice(0, DETAIL_LIMIT).forEach((s) => fail('EDITED_EVENT', st.id,
      `${L}: leaf ${s.index} (event ${s.eventId}): ${s.detail}: a subject row was altered in columns the leaf hash does not cover`));
    if (st.inconsistentSubjects.length > DETAIL_LIMIT) fail('EDITED_EVENT', st.id, `${L}: and ${st.inconsistentSubjects.length - DETAIL_LIMIT} more altered subject rows`);

    // Node failures: drop those explained by a corrupted leaf hash below them, or lying among forged or deleted leaves.
    const corruptLeaves = corruptedLeafNodes.get(st.id)!;
    const range = (f: { level: number; index: number }) => [f.index * 2 ** f.level, (f.index + 1) * 2 ** f.level] as const;
    const rewritten: string[] = [];
    const corruptedNodes: string[] = corrupted.map((i) => `0:${i}`);
    // Roots at authentic checkpoints.
    let lastGood = 0;
    let rewrittenRoot: string | null = null;
    let laterMismatches = 0;
    for (const { checkpoint: c, authentic } of st.checkpoints) {
      if (!authentic) continue;
      const at = st.rootsAt.get(c.treeSize);
      if (!at || !at.stored) continue; // nodes missing (reported) or leaves deleted (reported)
      if (at.stored.equals(c.root)) { lastGood = c.treeSize; continue; }
      if (at.best && at.best.equals(c.root)) {
        for (const f of at.failedPeaks) f.kind = 'corrupted';
        continue;
      }
      if (rewrittenRoot) { laterMismatches++; continue; }
      rewrittenRoot = `${L}: the tree's root at size ${c.treeSize} is not the signed root of the checkpoint at that size, although every ` +
        `stored node matches its children: an event among leaves ${lastGood}–${c.treeSize - 1} was changed and every hash above it recomputed`;
    }
    for (const f of st.nodeFailures) {
      const [a, b] = range(f);
      if (a >= st.sAll) continue; // among forged leaves
      if (f.level === 1 && (corruptLeaves.has(a) || corruptLeaves.has(a + 1))) continue;
      if (f.kind === 'corrupted') corruptedNodes.push(`${f.level}:${f.index}`);
      else rewritten.push(`node ${f.level}:${f.index} (leaves ${a}–${b - 1})`);
    }
    rewritten.slice(0, DETAIL_LIMIT).forEach((r) => fail('EDITED_EVENT', st.id, `${L}: ${r} no longer matches the hashes below it, which ` +
      'were rewritten: an event under it was changed and its leaf hash recomputed to hide it'));
    if (rewritten.length > DETAIL_LIMIT) fail('EDITED_EVENT', st.id, `${L}: and ${rewritten.length - DETAIL_LIMIT} more rewritten subtrees`);
    if (rewrittenRoot) fail('EDITED_EVENT', st.id, rewrittenRoot + (laterMismatches ? ` (so do the ${laterMismatches} later checkpoints)` : ''));

    // BROKEN_CHAIN: stored nodes altered, missing or extra while the events still verify; the watermark behind sealed events.
    if (corruptedNodes.length) {
      fail('BROKEN_CHAIN', st.id, `${L}: ${plural(corruptedNodes.length, 'stored node')} altered (level:index ${corruptedNodes.slice(0, DETAIL_LIMIT).join(', ')}` +
        `${corruptedNodes.length > DETAIL_LIMIT ? ' …' : ''}); the events under them still match the tree, but proofs served from these nodes fail`);
    }
    const missing = st.missingNodes.filter((m) => { const [a, b] = range(m); return a < st.sAll && !touchesDeleted(a, b); })
      .map((m) => `${m.level}:${m.index}`).concat(deletedNodes.map((i) => `0:${i}`));
    if (missing.length) {
      fail('BROKEN_CHAIN', st.id, `${L}: ${plural(missing.length, 'stored node')} missing (level:index ${missing.slice(0, DETAIL_LIMIT).join(', ')}` +
        `${missing.length > DETAIL_LIMIT ? ' …' : ''}); the events under them still match the tree`);
    }
    if (inconclusive.length) {
      fail('BROKEN_CHAIN', st.id, `${L}: the stored hashes of ${plural(inconclusive.length, 'leaf', 'leaves')} (${ranges(inconclusive).slice(0, DETAIL_LIMIT).join(', ')}) ` +
        'are missing and nothing above them is left to check their events against');
    }
    if (st.extraneousNodes && st.forgedLeaves.length === 0 && st.farLeaves === 0) {
      fail('BROKEN_CHAIN', st.id, `${L}: ${plural(st.extraneousNodes, 'stored node')} lie beyond the tree (size ${st.bound}): the sealer never writes them`);
    }
    if (st.lateSealed) {
      fail('BROKEN_CHAIN', st.id, `${L}: ${plural(st.lateSealed, 'sealed event')} (e.g. ${st.lateSealedExample}) belong to transactions at or above the seal ` +
        'watermark audit_seal_state.sealed_below: the watermark was moved back (events inserted below the old watermark now pass as unsealed)');
    }

    // UNSEALED_BACKLOG
    if (st.backlog) {
      fail('UNSEALED_BACKLOG', st.id, `${L}: ${plural(st.backlog, 'committed event')} older than ${Math.round(ctx.maxUnsealedAgeMs / 1000)} s ` +
        `not sealed yet (oldest from ${new Date(st.oldestBacklog).toISOString()}): is the sealer running?`);
    }

    // ROLLBACK against the auditor's checkpoint.
    const t = ctx.trustedCp;
    if (t && t.tenantId === st.id) {
      const latest = Math.max(st.sAll, 0);
      if (latest < t.treeSize) {
        fail('ROLLBACK', st.id, `${L}: the trusted checkpoint has tree size ${t.treeSize}, but the database's latest checkpoint has tree size ${latest}` +
          ` and its tree ${st.leafCount} leaves: the log was rolled back`);
      } else {
        const at = st.rootsAt.get(t.treeSize);
        if (at?.stored && !at.stored.equals(t.root) && !(at.best && at.best.equals(t.root))) {
          fail('ROLLBACK', st.id, `${L}: the tree's root at size ${t.treeSize} is ${at.stored.toString('hex').slice(0, 16)}…, not the trusted ` +
            `checkpoint's ${t.root.toString('hex').slice(0, 16)}…: the history the auditor saw was replaced (restored from an older backup, or rewritten)`);
        }
      }
    }
  }
}
