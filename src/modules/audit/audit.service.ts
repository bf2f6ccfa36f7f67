import type { RequestContext } from '../../server/context';
import { checkpointBytes, publicKeyFromRaw, type Checkpoint } from '../../audit/checkpoint';
import { checkpointFromRow, loadNodes } from '../../audit/sealer';
import { consistencyProof, consistencyProofIds, inclusionProof, inclusionProofIds, leafHash, nodeKey } from '../../audit/merkle';
import { EVENT_COLUMNS, leafBytes, type EventRecord } from '../../audit/leaf';
import { badInput, notFound, parseId } from '../../shared/errors';
import { requireMember } from '../user/user.service';
import { pgTimestamp } from '../../db/timestamps';
import { CURSOR, dateKey, pageRequest, toConnection, type ConnectionShape, type PageArgs } from '../../shared/pagination';
import type { AccessRecord, AuditCheckpoint, AuditConsistencyProof, AuditEvent, AuditEventsArgs, AuditInclusionProof, AuditPublicKey } from './audit.types';
import { execBound } from '../../db/bound';
import { PURPOSES } from '../../audit/purposes';
import { DATA_CATEGORIES, isDataCategory } from '../../privacy/categories';
import { clampToAuditWindow } from './audit-window';

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

const ACCESS_KINDS = ['READ', 'WRITE', 'DISCLOSE', 'DENY'];
const ACTOR_ROLES = ['ADMIN', 'INSTRUCTOR', 'STUDENT'];

/**
 * The tenant's access log, newest first, pseudonymous, for administrators and auditors: filtered by
 * time (clamped to an auditor's window), kind, purpose, actor role and category. People appear only by
 * their log pseudonyms.
 */
export async function listAuditEvents(ctx: RequestContext, args: AuditEventsArgs): Promise<ConnectionShape<AuditEvent>> {
  const { first, after } = pageRequest(args, ctx.config, CURSOR.byTime);
  const range = clampToAuditWindow(ctx, args.from, args.until);
  const where = ['e.tenant_id = ?'];
  const params: unknown[] = [ctx.tenantId];
  const oneOf = (value: string | null | undefined, allowed: readonly string[], field: string, column: string) => {
    if (value == null) return;
    if (!allowed.includes(value)) throw badInput(`${field} must be one of ${allowed.join(', ')}.`, field);
    where.push(`${column} = ?`);
    params.push(value);
  };
  if (range.from) { where.push('e.occurred_at >= ?'); params.push(range.from); }
  if (range.until) { where.push('e.occurred_at < ?'); params.push(range.until); }
  oneOf(args.accessKind, ACCESS_KINDS, 'accessKind', 'e.access_kind');
  oneOf(args.purpose, Object.keys(PURPOSES), 'purpose', 'e.purpose');
  oneOf(args.actorRole, ACTOR_ROLES, 'actorRole', 'e.actor_role::text');
  if (args.category != null) {
    if (!isDataCategory(args.category)) throw badInput(`category must be one of ${Object.keys(DATA_CATEGORIES).join(', ')}.`, 'category');
    where.push('exists (select 1 from access_event_subject c where c.event_id = e.id and c.tenant_id = e.tenant_id and ? = any(c.categories))');
    params.push(args.category);
  }
  if (after) {
    where.push('(e.occurred_at, e.id) < (?::timestamptz, ?::uuid)');
    params.push(...after);
  }
  const rows = await execBound<{
    id: string; occurred_at: string; access_kind: string; purpose: string; operation_type: string; root_field: string; actor_kind: string;
    actor_role: string | null; actor_pseudonym: string | null; credential_id: string | null; outcome: string; resources: string[];
    item_count: number; leaf_index: string | null;
    subjects: { pseudonym: string; categories: string[] }[] | null;
  }>(ctx.em,
    `select e.id, e.occurred_at, e.access_kind, e.purpose, e.operation_type, e.root_field, e.actor_kind, e.actor_role::text, e.actor_pseudonym,
            e.credential_id, e.outcome, e.resources, e.item_count, l.leaf_index::text,
            (select json_agg(json_build_object('pseudonym', s.pseudonym, 'categories', s.categories) order by s.pseudonym)
               from access_event_subject s where s.event_id = e.id and s.tenant_id = e.tenant_id) as subjects
       from access_event e left join audit_leaf l on l.event_id = e.id
      where ${where.join(' and ')}
      order by e.occurred_at desc, e.id desc limit ?`, [...params, first + 1]);
  const events: AuditEvent[] = rows.map((r) => ({
    id: r.id, occurredAt: pgTimestamp(r.occurred_at), accessKind: r.access_kind, purpose: r.purpose, operationType: r.operation_type,
    operation: r.root_field, actorKind: r.actor_kind, actorRole: r.actor_role, actorPseudonym: r.actor_pseudonym, credentialId: r.credential_id,
    outcome: r.outcome, resources: r.resources, itemCount: r.item_count, leafIndex: r.leaf_index === null ? null : Number(r.leaf_index),
    subjects: (r.subjects ?? []).map((s) => ({ pseudonym: s.pseudonym, categories: [...s.categories].sort() })),
  }));
  return toConnection(events, first, (e) => [dateKey(e.occurredAt), e.id]);
}
