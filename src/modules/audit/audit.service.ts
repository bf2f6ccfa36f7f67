import type { RequestContext } from '../../server/context';
import { checkpointBytes, publicKeyFromRaw, type Checkpoint } from '../../audit/checkpoint';
import { checkpointFromRow, loadNodes } from '../../audit/sealer';
import { consistencyProof, consistencyProofIds, inclusionProof, inclusionProofIds, leafHash, nodeKey } from '../../audit/merkle';
import { EVENT_COLUMNS, leafBytes, type EventRecord } from '../../audit/leaf';
import { badInput, notFound, parseId } from '../../shared/errors';
import { requireMember } from '../user/user.service';
import { pgTimestamp } from '../../db/timestamps';
import { CURSOR, dateKey, pageRequest, toConnection, type ConnectionShape, type PageArgs } from '../../shared/pagination';
import type { AccessRecord, AuditCheckpoint, AuditConsistencyProof, AuditInclusionProof, AuditPublicKey } from './audit.types';

const hex = (b: Buffer) => b.toString('hex');

function present(c: Checkpoint): AuditCheckpoint {
  return {
    treeSize: c.treeSize, root: hex(c.root), createdAt: c.createdAt, previousHash: c.previousHash ? hex(c.previousHash) : null,
    keyId: c.keyId, signature: hex(c.signature), signedText: checkpointBytes(c).toString('utf8'),
  };
}

async function checkpointAt(ctx: RequestContext, treeSize: number | null | undefined): Promise<Checkpoint | null> {
  if (treeSize != null && !Number.isSafeInteger(treeSize)) throw badInput('treeSize must be a whole number.', 'treeSize');
  const rows = treeSize == null
    ? await ctx.em.execute('select * from audit_checkpoint where tenant_id = ? order by tree_size desc limit 1', [ctx.tenantId])
    : await ctx.em.execute('select * from audit_checkpoint where tenant_id = ? and tree_size = ?', [ctx.tenantId, treeSize]);
  return rows[0] ? checkpointFromRow(rows[0] as never) : null;
}

async function requireCheckpoint(ctx: RequestContext, treeSize: number | null | undefined, field: string): Promise<Checkpoint> {
  const c = await checkpointAt(ctx, treeSize);
  if (!c) throw treeSize == null ? notFound('Checkpoint') : badInput(`No checkpoint signs a tree of ${treeSize} events; ask for a checkpointed size.`, field);
  return c;
}

/** The tenant's latest checkpoint, or the one of a given size; null before anything was sealed. */
export async function getCheckpoint(ctx: RequestContext, treeSize?: number | null): Promise<AuditCheckpoint | null> {
  const c = await checkpointAt(ctx, treeSize);
  return c ? present(c) : null;
}

/** Proves an event is in the tree a checkpoint signs; reads O(log n) stored nodes in one statement. */
export async function getInclusionProof(ctx: RequestContext, rawEventId: string, treeSize?: number | null): Promise<AuditInclusionProof> {
  const eventId = parseId(rawEventId, 'eventId');
  const [leaf] = await ctx.em.execute<{ leaf_index: string }[]>(
    'select leaf_index::text from audit_leaf where tenant_id = ? and event_id = ?', [ctx.tenantId, eventId]);
  if (!leaf) throw notFound('Sealed event'); // unknown, another tenant's, or not sealed yet: the same answer
  const checkpoint = await requireCheckpoint(ctx, treeSize, 'treeSize');
  const index = Number(leaf.leaf_index);
  if (index >= checkpoint.treeSize) throw badInput(`The event was sealed after the checkpoint of size ${checkpoint.treeSize}; ask for a later one.`, 'treeSize');
  const nodes = await loadNodes(ctx.em, ctx.tenantId, inclusionProofIds(index, checkpoint.treeSize));
  const [event] = await ctx.em.execute<EventRecord[]>(`select ${EVENT_COLUMNS} from access_event e where e.tenant_id = ? and e.id = ?`, [ctx.tenantId, eventId]);
  const bytes = leafBytes(event);
  return {
    eventId, leafIndex: index, treeSize: checkpoint.treeSize, leafData: bytes.toString('utf8'), leafHash: hex(leafHash(bytes)),
    path: inclusionProof(index, checkpoint.treeSize, new Map(nodes.map((n) => [nodeKey(n), n.hash]))).map(hex),
    checkpoint: present(checkpoint),
  };
}

/** Proves the tree at `toSize` extends the one at `fromSize` (both checkpointed). */
export async function getConsistencyProof(ctx: RequestContext, fromSize: number, toSize?: number | null): Promise<AuditConsistencyProof> {
  const from = await requireCheckpoint(ctx, fromSize, 'fromSize');
  const to = await requireCheckpoint(ctx, toSize, 'toSize');
  if (from.treeSize > to.treeSize) throw badInput('fromSize must not exceed toSize.', 'fromSize');
  const nodes = await loadNodes(ctx.em, ctx.tenantId, consistencyProofIds(from.treeSize, to.treeSize));
  const path = consistencyProof(from.treeSize, to.treeSize, new Map(nodes.map((n) => [nodeKey(n), n.hash])));
  return { fromSize: from.treeSize, toSize: to.treeSize, path: path.map(hex), from: present(from), to: present(to) };
}

export async function listPublicKeys(ctx: RequestContext): Promise<AuditPublicKey[]> {
  const rows = await ctx.em.execute<{ key_id: string; public_key: Buffer; created_at: string }[]>(
    'select key_id, public_key, created_at from audit_signing_key order by created_at, key_id');
  return rows.map((r) => ({
    keyId: r.key_id, algorithm: 'Ed25519', publicKey: r.public_key.toString('base64'), createdAt: pgTimestamp(r.created_at),
    pem: publicKeyFromRaw(r.public_key).export({ type: 'spki', format: 'pem' }).toString(),
  }));
}

/**
 * Who accessed a person's data, newest first: one entry per access event that touched them, with the
 * categories touched. Read by pseudonym from the subject index; an erased person has no history left
 * that can be linked to them.
 */
export async function accessHistoryOf(ctx: RequestContext, userId: string, args: PageArgs): Promise<ConnectionShape<AccessRecord>> {
  const { first, after } = pageRequest(args, ctx.config, CURSOR.byTime);
  const params: unknown[] = [ctx.tenantId, userId];
  let keyset = '';
  if (after) {
    keyset = 'and (s.occurred_at, s.event_id) < (?::timestamptz, ?::uuid)';
    params.push(...after);
  }
  const rows = await ctx.em.execute<{ event_id: string; occurred_at: string; categories: string[]; access_kind: string; purpose: string;
    actor_kind: string; actor_role: string | null; root_field: string; outcome: string }[]>(
    `select s.event_id, s.occurred_at, s.categories, e.access_kind, e.purpose, e.actor_kind, e.actor_role, e.root_field, e.outcome
       from subject_key k
       join access_event_subject s on s.tenant_id = k.tenant_id and s.pseudonym = k.pseudonym
       join access_event e on e.id = s.event_id
      where k.tenant_id = ? and k.user_id = ? ${keyset}
      order by s.occurred_at desc, s.event_id desc limit ?`,
    [...params, first + 1],
  );
  const records: AccessRecord[] = rows.map((r) => ({
    subjectUserId: userId, eventId: r.event_id, occurredAt: pgTimestamp(r.occurred_at), categories: [...r.categories].sort(), accessKind: r.access_kind,
    purpose: r.purpose, actorKind: r.actor_kind, actorRole: r.actor_role, operation: r.root_field, outcome: r.outcome,
  }));
  return toConnection(records, first, (r) => [dateKey(r.occurredAt), r.eventId]);
}

/** An administrator asks about a member of the tenant; anyone else, or another tenant's id, gets NOT_FOUND. */
export async function accessHistoryForAdmin(ctx: RequestContext, rawUserId: string, args: PageArgs): Promise<ConnectionShape<AccessRecord>> {
  ctx.access.requireAdmin();
  const userId = parseId(rawUserId, 'userId');
  await requireMember(ctx.em, ctx.tenantId, userId);
  return accessHistoryOf(ctx, userId, args);
}
