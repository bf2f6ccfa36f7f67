import type { EntityManager } from '@mikro-orm/postgresql';
import { validateEvents, type AccessEvent } from './events';
import { sealForSubject } from './subject-crypto';
import { execBound } from '../db/bound';

/**
 * Actors' subject keys, cached briefly: a request needs its actor's key to encrypt the IP address and
 * user agent, and the same few actors make most requests. An erased person's tokens are revoked
 * before their key is deleted, so a cached key is never used for someone who can no longer act.
 */
const KEY_TTL_MS = 5 * 60_000;
const KEY_CACHE_MAX = 10_000;
const actorKeys = new Map<string, { key: Buffer; at: number }>();

async function actorKey(em: EntityManager, tenantId: string, userId: string): Promise<Buffer | null> {
  const cacheKey = `${tenantId}:${userId}`;
  const hit = actorKeys.get(cacheKey);
  if (hit && Date.now() - hit.at < KEY_TTL_MS) return hit.key;
  const [row] = await em.execute<{ key: Buffer }[]>('select key from subject_key where tenant_id = ? and user_id = ?', [tenantId, userId]);
  if (!row) return null;
  if (actorKeys.size >= KEY_CACHE_MAX) actorKeys.clear();
  actorKeys.set(cacheKey, { key: row.key, at: Date.now() });
  return row.key;
}

/** Forgets cached keys (erasure calls this for the person it erases). */
export function forgetActorKey(tenantId: string, userId: string): void {
  actorKeys.delete(`${tenantId}:${userId}`);
}

/**
 * Writes a request's events, with their subjects, in one statement on the caller's transaction (so a
 * mutation's events commit or roll back with its change). User ids become pseudonyms inside the
 * database; the actor's IP address and user agent are stored only encrypted under the actor's key.
 * Throws on any problem: the caller must then fail the request (fail closed).
 */
export async function writeEvents(em: EntityManager, unchecked: AccessEvent[]): Promise<void> {
  if (unchecked.length === 0) return;
  const events = validateEvents(unchecked);
  const actor = events[0].actor;
  const key = actor.userId && (actor.ip || actor.userAgent) ? await actorKey(em, events[0].tenantId, actor.userId) : null;
  const seal = (value: string | null) => (key && value ? sealForSubject(key, value).toString('base64') : null);
  const ip = seal(actor.ip);
  const userAgent = seal(actor.userAgent);
  const rows = events.map((e) => ({
    id: e.id, tenant_id: e.tenantId, occurred_at: e.occurredAt.toISOString(), request_id: e.requestId,
    operation_type: e.operationType, operation_name: e.operationName, root_field: e.rootField, fields: e.fields,
    access_kind: e.kind, purpose: e.purpose, actor_kind: e.actor.kind, actor_role: e.actor.role, actor_user_id: e.actor.userId,
    credential_id: e.actor.credentialId, resources: e.resources, outcome: e.outcome,
    error_code: e.kind === 'DENY' ? e.errorCode : null, item_count: e.itemCount, actor_ip: ip, actor_user_agent: userAgent,
  }));
  // Subjects grouped by identical category sets (a roster's students all share one): a fraction of the bytes.
  const groups: { event_id: string; categories: string[]; users: string[] }[] = [];
  for (const e of events) {
    const byCategories = new Map<string, { event_id: string; categories: string[]; users: string[] }>();
    for (const s of e.subjects) {
      const key = s.categories.join(',');
      let g = byCategories.get(key);
      if (!g) byCategories.set(key, (g = { event_id: e.id, categories: s.categories, users: [] }));
      g.users.push(s.userId);
    }
    groups.push(...byCategories.values());
  }
  await execBound(em,
    `with ev as (
       insert into access_event (id, tenant_id, occurred_at, request_id, operation_type, operation_name, root_field, fields,
                                 access_kind, purpose, actor_kind, actor_role, actor_pseudonym, credential_id, resources,
                                 outcome, error_code, item_count, actor_ip, actor_user_agent)
       select e.id, e.tenant_id, e.occurred_at, e.request_id, e.operation_type, e.operation_name, e.root_field, e.fields,
              e.access_kind, e.purpose, e.actor_kind, e.actor_role,
              (select k.pseudonym from subject_key k where k.tenant_id = e.tenant_id and k.user_id = e.actor_user_id),
              e.credential_id, e.resources, e.outcome, e.error_code, e.item_count,
              decode(e.actor_ip, 'base64'), decode(e.actor_user_agent, 'base64')
         from jsonb_to_recordset(?::jsonb) as e(id uuid, tenant_id uuid, occurred_at timestamptz, request_id text,
              operation_type text, operation_name text, root_field text, fields text[], access_kind text, purpose text,
              actor_kind text, actor_role text, actor_user_id uuid, credential_id text, resources text[], outcome text,
              error_code text, item_count integer, actor_ip text, actor_user_agent text)
       returning id, tenant_id, occurred_at
     )
     insert into access_event_subject (tenant_id, pseudonym, occurred_at, event_id, categories)
     select ev.tenant_id, k.pseudonym, ev.occurred_at, ev.id, g.categories
       from jsonb_to_recordset(?::jsonb) as g(event_id uuid, categories text[], users uuid[])
       cross join lateral unnest(g.users) as u(user_id)
       join ev on ev.id = g.event_id
       join subject_key k on k.tenant_id = ev.tenant_id and k.user_id = u.user_id`,
    [JSON.stringify(rows), JSON.stringify(groups)],
  );
}
