import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from '../shared/logger';
import { pgTimestamp } from '../db/timestamps';
import { append, frontierIds, nodeKey, rootFrom, type Hash, type NodeId, type StoredNode } from './merkle';
import { EVENT_FIELDS, type EventRecord } from './leaf';
import { eventLeafHash } from './leaf-writer';
import { execBound, pgArray } from '../db/bound';
import { checkpointHash, signCheckpoint, type Checkpoint, type SigningKey } from './checkpoint';
import { rollUpSealed } from '../modules/report/rollup';

/** One sealer at a time across every instance: whoever takes this transaction lock seals this round. */
const SEALER_LOCK = 0x637573746f73; // "custos"

export interface SealOptions {
  /** Most events sealed per round (a round never splits one transaction's events). */
  batchSize?: number;
  /** Called after everything is written, before the commit (tests use it to crash mid-batch). */
  beforeCommit?: () => void | Promise<void>;
  now?: () => Date;
}

export interface SealResult {
  /** False when another sealer held the lock: this round did nothing. */
  leader: boolean;
  events: number;
  checkpoints: Checkpoint[];
}

interface CheckpointRow {
  tenant_id: string;
  tree_size: string;
  root: Buffer;
  created_at: Date | string;
  previous_hash: Buffer | null;
  key_id: string;
  signature: Buffer;
}

export const checkpointFromRow = (r: CheckpointRow): Checkpoint => ({
  tenantId: r.tenant_id, treeSize: Number(r.tree_size), root: r.root, createdAt: pgTimestamp(r.created_at),
  previousHash: r.previous_hash, keyId: r.key_id, signature: r.signature,
});

/** Publishes the signing key's public half, so checkpoints signed with it can be verified by anyone. */
export async function publishSigningKey(em: EntityManager, key: SigningKey): Promise<void> {
  await em.execute('insert into audit_signing_key (key_id, public_key) values (?, ?) on conflict do nothing', [key.keyId, key.publicKeyRaw]);
}

/**
 * Seals committed events into their tenants' Merkle trees and signs a checkpoint per tenant touched.
 *
 * Only events of transactions below the horizon are taken: `pg_snapshot_xmin` of a fresh snapshot is
 * the oldest transaction still running, so every transaction id below it has committed or aborted
 * for good. A slow transaction that commits late has an id at or above the watermark and is sealed in
 * a later round, never skipped; an aborted one left no rows. Everything a round writes (leaves, nodes,
 * checkpoints, the new watermark) commits together or not at all, so a crash mid-round loses nothing
 * and seals nothing twice. The reports' daily rollups are brought up to date in the same transaction.
 */
export async function sealOnce(owner: MikroORM, key: SigningKey, opts: SealOptions = {}): Promise<SealResult> {
  const batchSize = opts.batchSize ?? 20_000;
  return owner.em.fork().transactional(async (em) => {
    const [{ locked }] = await em.execute<{ locked: boolean }[]>('select pg_try_advisory_xact_lock(?) as locked', [SEALER_LOCK]);
    if (!locked) return { leader: false, events: 0, checkpoints: [] };
    const [{ sealed_below: watermark }] = await em.execute<{ sealed_below: string }[]>('select sealed_below::text from audit_seal_state for update');
    const [{ horizon }] = await em.execute<{ horizon: string }[]>('select pg_snapshot_xmin(pg_current_snapshot())::text as horizon');
    let rows = await execBound<Omit<EventRecord, 'subjects'> & { txid: string }>(em,
      `select ${EVENT_FIELDS}, e.txid::text as txid from access_event e
        where e.txid >= ?::xid8 and e.txid < ?::xid8 order by e.txid, e.id limit ?`,
      [watermark, horizon, batchSize + 1],
    );
    let sealedBelow = horizon;
    if (rows.length > batchSize) {
      // Stop before the first transaction that did not fit whole; one huge transaction is taken whole.
      const cut = rows[batchSize].txid;
      const below = BigInt(cut);
      rows = rows.filter((r) => BigInt(r.txid) < below);
      if (rows.length === 0) {
        rows = await execBound(em, `select ${EVENT_FIELDS}, e.txid::text as txid from access_event e where e.txid = ?::xid8 order by e.id`, [cut]);
        sealedBelow = (BigInt(cut) + 1n).toString();
      } else {
        sealedBelow = cut;
      }
    }
    await publishSigningKey(em, key);
    const subjects = await subjectsOf(em, rows.map((r) => r.id));
    const byTenant = new Map<string, EventRecord[]>();
    for (const r of rows) {
      let list = byTenant.get(r.tenant_id);
      if (!list) byTenant.set(r.tenant_id, (list = []));
      const event = r as typeof r & EventRecord; // the rows are ours: no copy of each
      event.subjects = subjects.get(r.id) ?? [];
      list.push(event);
    }
    const checkpoints: Checkpoint[] = [];
    for (const [tenantId, events] of byTenant) {
      checkpoints.push(await appendToTree(em, tenantId, events, key, opts.now?.() ?? new Date()));
    }
    // The reports' daily rollups count exactly the sealed events: the same range, the same transaction.
    if (rows.length) await rollUpSealed(em, rows as unknown as EventRecord[]);
    await em.execute('update audit_seal_state set sealed_below = ?::xid8', [sealedBelow]);
    await opts.beforeCommit?.();
    return { leader: true, events: rows.length, checkpoints };
  });
}

/** The subjects of a batch of events, in one statement: [pseudonym, categories] per event id. */
export async function subjectsOf(em: EntityManager, eventIds: string[]): Promise<Map<string, [string, string[]][]>> {
  const out = new Map<string, [string, string[]][]>();
  if (eventIds.length === 0) return out;
  // Categories travel as one comma-joined string: category keys hold no commas, and parsing tens of
  // thousands of array literals was a visible share of a round.
  const rows = await execBound<{ event_id: string; pseudonym: string; categories: string }>(em,
    `select event_id, pseudonym, array_to_string(categories, ',') as categories from access_event_subject where event_id = any(?::uuid[])`,
    [pgArray(eventIds)]);
  for (const r of rows) {
    let list = out.get(r.event_id);
    if (!list) out.set(r.event_id, (list = []));
    list.push([r.pseudonym, r.categories.split(',')]);
  }
  return out;
}

async function appendToTree(em: EntityManager, tenantId: string, events: EventRecord[], key: SigningKey, now: Date): Promise<Checkpoint> {
  const [last] = await em.execute<CheckpointRow[]>(
    'select * from audit_checkpoint where tenant_id = ? order by tree_size desc limit 1', [tenantId]);
  const previous = last ? checkpointFromRow(last) : null;
  const size = previous?.treeSize ?? 0;
  const frontier = await loadNodes(em, tenantId, frontierIds(size));
  const leaves = events.map((e) => eventLeafHash(e)); // = leafHash(leafBytes(e)), without JSON.stringify
  const grown = append(size, frontier, leaves);
  await execBound(em,
    `insert into audit_leaf (tenant_id, leaf_index, event_id)
     select ?, t.i, t.e from unnest(?::bigint[], ?::uuid[]) as t(i, e)`,
    [tenantId, pgArray(events.map((_, i) => size + i)), pgArray(events.map((e) => e.id))],
  );
  await execBound(em,
    `insert into audit_node (tenant_id, level, idx, hash)
     select ?, t.l, t.i, decode(t.h, 'hex') from unnest(?::smallint[], ?::bigint[], ?::text[]) as t(l, i, h)`,
    [tenantId, pgArray(grown.nodes.map((n) => n.level)), pgArray(grown.nodes.map((n) => n.index)), pgArray(grown.nodes.map((n) => n.hash.toString('hex')))],
  );
  const peaks = new Map(grown.frontier.map((n) => [nodeKey(n), n.hash]));
  const checkpoint = signCheckpoint({
    tenantId, treeSize: grown.size, root: rootFrom(grown.size, peaks), createdAt: now,
    previousHash: previous ? checkpointHash(previous) : null, keyId: key.keyId,
  }, key);
  await em.execute(
    `insert into audit_checkpoint (tenant_id, tree_size, root, created_at, previous_hash, key_id, signature) values (?, ?, ?, ?, ?, ?, ?)`,
    [tenantId, checkpoint.treeSize, checkpoint.root, checkpoint.createdAt, checkpoint.previousHash, checkpoint.keyId, checkpoint.signature],
  );
  return checkpoint;
}

/** Stored nodes of a tenant's tree, in one statement. Throws if one is missing (a damaged tree). */
export async function loadNodes(em: EntityManager, tenantId: string, ids: NodeId[]): Promise<StoredNode[]> {
  const hashes = await loadNodeHashes(em, tenantId, ids);
  return ids.map((id, i) => ({ ...id, hash: hashes[i] }));
}

/**
 * The hashes of stored nodes, in the order of `ids`, in one statement, with no lookup table: what a
 * proof of tens of thousands of nodes reads. Throws if one is missing (a damaged tree).
 */
export async function loadNodeHashes(em: EntityManager, tenantId: string, ids: NodeId[]): Promise<Hash[]> {
  if (ids.length === 0) return [];
  const rows = await execBound<{ hash: Buffer | null }>(em,
    `select n.hash from unnest(?::smallint[], ?::bigint[]) with ordinality as w(l, i, o)
       left join lateral (select n.hash from audit_node n where n.tenant_id = ? and n.level = w.l and n.idx = w.i) n on true
      order by w.o`,
    [pgArray(ids.map((n) => n.level)), pgArray(ids.map((n) => n.index)), tenantId],
  );
  return rows.map((r, i) => {
    if (!r.hash) throw new Error(`audit tree of tenant ${tenantId} is missing node ${nodeKey(ids[i])}`);
    return r.hash;
  });
}

/**
 * Runs `sealOnce` every `intervalMs` on this instance; with several instances, the one that takes the
 * lock seals each round and the others skip it. Rounds never overlap within an instance.
 */
export class Sealer {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(private readonly owner: MikroORM, private readonly key: SigningKey, private readonly log: Logger, private readonly intervalMs: number) {}

  start(): void {
    const tick = () => {
      if (this.stopped) return;
      this.running = sealOnce(this.owner, this.key)
        .then((r) => { if (r.events) this.log.debug({ events: r.events, tenants: r.checkpoints.length }, 'sealed access events'); })
        .catch((err) => this.log.error({ err }, 'sealing the access log failed; retrying next round'))
        .finally(() => { if (!this.stopped) this.timer = setTimeout(tick, this.intervalMs); });
    };
    this.timer = setTimeout(tick, 0);
  }

  /** Stops after the round in progress, if any. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
