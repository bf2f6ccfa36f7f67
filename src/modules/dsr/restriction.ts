import type { EntityManager } from '@mikro-orm/postgresql';

/**
 * Restriction of processing, kept in `processing_restriction` and enforced by row-level security (see
 * the processing-restriction migration): while a row names a person, only they and administrators see
 * their rows. REQUEST: the person asked (Art. 18); ERASURE: their approved erasure awaits its purge.
 */
export type RestrictionReason = 'REQUEST' | 'ERASURE';

export async function restrictProcessing(em: EntityManager, tenantId: string, userId: string, reason: RestrictionReason, requestId: string | null) {
  await em.execute(
    `insert into processing_restriction (tenant_id, user_id, reason, request_id) values (?, ?, ?, ?)
     on conflict (tenant_id, user_id, reason) do nothing`, [tenantId, userId, reason, requestId]);
}

/** Lifts one reason; the person stays hidden while another reason holds. Returns whether a restriction was lifted. */
export async function liftProcessingRestriction(em: EntityManager, tenantId: string, userId: string, reason: RestrictionReason): Promise<boolean> {
  const rows = await em.execute<{ user_id: string }[]>(
    'delete from processing_restriction where tenant_id = ? and user_id = ? and reason = ? returning user_id', [tenantId, userId, reason]);
  return rows.length > 0;
}
