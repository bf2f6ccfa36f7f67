import { randomUUID } from 'node:crypto';
import { Field, ID, ObjectType } from 'type-graphql';
import type { RequestContext } from '../../server/context';
import { NotPersonal, Personal, PersonalData } from '../../privacy/classify';
import { badInput, notFound, parseId, requiredText } from '../../shared/errors';
import { requireMember } from '../user/user.service';
import { pgTimestamp } from '../../db/timestamps';
import { PROCESS_JOB } from './dsr.service';

/** A legal hold: the person's data must be kept (litigation, an investigation) whatever else is asked. */
@PersonalData({ subject: 'userId' })
@ObjectType({ description: 'A legal hold on a member\'s data: while active, no erasure purge runs (GDPR Art. 17(3)(e)).' })
export class LegalHold {
  @NotPersonal()
  @Field(() => ID)
  id!: string;

  userId!: string;

  @Personal('user.account')
  @Field(() => String)
  reason!: string;

  @Personal('user.account')
  @Field(() => Date)
  placedAt!: Date;

  @Personal('user.account')
  @Field(() => Date, { nullable: true })
  releasedAt!: Date | null;

  @Personal('user.account')
  @Field(() => String, { nullable: true })
  releaseReason!: string | null;
}

interface HoldRow { id: string; user_id: string; reason: string; placed_at: string; released_at: string | null; release_reason: string | null }

const toHold = (r: HoldRow): LegalHold => ({
  id: r.id, userId: r.user_id, reason: r.reason, placedAt: pgTimestamp(r.placed_at),
  releasedAt: r.released_at ? pgTimestamp(r.released_at) : null, releaseReason: r.release_reason,
});

/** Places a hold on a member's data (administrators). */
export async function placeLegalHold(ctx: RequestContext, rawUserId: string, rawReason: string): Promise<LegalHold> {
  ctx.access.requireAdmin();
  const userId = parseId(rawUserId, 'userId');
  const reason = requiredText(rawReason, 'reason');
  await requireMember(ctx.em, ctx.tenantId, userId);
  const [row] = await ctx.em.execute<HoldRow[]>(
    `insert into legal_hold (id, tenant_id, user_id, reason, placed_by) values (?, ?, ?, ?, ?)
     returning id, user_id, reason, placed_at, released_at, release_reason`,
    [randomUUID(), ctx.tenantId, userId, reason, ctx.access.userId]);
  ctx.audit.wrote([userId], ['user.account']);
  return toHold(row);
}

/** Releases a hold; an erasure it was blocking is looked at again at once. */
export async function releaseLegalHold(ctx: RequestContext, rawId: string, rawReason: string): Promise<LegalHold> {
  ctx.access.requireAdmin();
  const id = parseId(rawId);
  const reason = requiredText(rawReason, 'reason');
  const [row] = await ctx.em.execute<HoldRow[]>(
    `update legal_hold set released_at = now(), released_by = ?, release_reason = ?
      where tenant_id = ? and id = ? and released_at is null
      returning id, user_id, reason, placed_at, released_at, release_reason`,
    [ctx.access.userId, reason, ctx.tenantId, id]);
  if (!row) {
    const [exists] = await ctx.em.execute('select 1 from legal_hold where tenant_id = ? and id = ?', [ctx.tenantId, id]);
    if (!exists) throw notFound('Legal hold');
    throw badInput('This legal hold was already released.', 'id');
  }
  await ctx.em.execute(
    `update job set run_at = now() where tenant_id = ? and kind = ? and finished_at is null
        and payload->>'requestId' in (select id::text from data_subject_request where tenant_id = ? and subject_id = ? and type = 'ERASURE' and held_since is not null)`,
    [ctx.tenantId, PROCESS_JOB, ctx.tenantId, row.user_id]);
  ctx.audit.wrote([row.user_id], ['user.account']);
  return toHold(row);
}

/** The tenant's holds (administrators), optionally of one member or only active ones. */
export async function listLegalHolds(ctx: RequestContext, rawUserId: string | null | undefined, activeOnly: boolean): Promise<LegalHold[]> {
  ctx.access.requireAdmin();
  const where = ['tenant_id = ?'];
  const params: unknown[] = [ctx.tenantId];
  if (rawUserId) { where.push('user_id = ?'); params.push(parseId(rawUserId, 'userId')); }
  if (activeOnly) where.push('released_at is null');
  const rows = await ctx.em.execute<HoldRow[]>(
    `select id, user_id, reason, placed_at, released_at, release_reason from legal_hold where ${where.join(' and ')} order by placed_at desc, id limit 500`, params);
  return rows.map(toHold);
}
