import type { EntityManager } from '@mikro-orm/postgresql';
import { Field, ID, ObjectType } from 'type-graphql';
import type { DataCategory } from '../../privacy/categories';
import { NotPersonal, Personal, PersonalData } from '../../privacy/classify';
import type { RequestContext } from '../../server/context';
import { badInput, notFound, parseId } from '../../shared/errors';
import { pgTimestamp } from '../../db/timestamps';

/**
 * Art. 19 notices. A recipient is an integration (a SERVICE credential, named by its label) that the
 * access log shows receiving some of the person's affected categories before the change. The notice
 * names the request, the recipient and the categories; an administrator passes it on and marks it sent.
 */
export async function queueRecipientNotices(em: EntityManager, opts: {
  tenantId: string; requestId: string; subjectId: string; reason: 'RECTIFICATION' | 'ERASURE'; categories: DataCategory[]; before: Date;
}): Promise<number> {
  const rows = await em.execute<{ id: string }[]>(
    `insert into recipient_notice (id, tenant_id, request_id, credential_id, recipient, reason, categories, last_received_at)
     select gen_random_uuid(), ?, ?, r.credential_id, coalesce(t.label, 'integration ' || r.credential_id), ?, r.categories, r.last_received_at
       from (select e.credential_id, array_agg(distinct c order by c) as categories, max(e.occurred_at) as last_received_at
               from subject_key k
               join access_event_subject s on s.tenant_id = k.tenant_id and s.pseudonym = k.pseudonym
               join access_event e on e.id = s.event_id
               cross join lateral unnest(s.categories) c
              where k.tenant_id = ? and k.user_id = ? and e.actor_kind = 'SERVICE' and e.credential_id is not null
                and e.access_kind in ('READ', 'DISCLOSE') and s.occurred_at < ? and c = any(?::text[])
              group by e.credential_id) r
       left join api_token t on t.tenant_id = ? and t.id::text = r.credential_id
     on conflict (request_id, credential_id) do nothing
     returning id`,
    [opts.tenantId, opts.requestId, opts.reason, opts.tenantId, opts.subjectId, opts.before, `{${opts.categories.join(',')}}`, opts.tenantId]);
  return rows.length;
}

@PersonalData({ subject: 'subjectId' })
@ObjectType({ description: 'A notice owed to a recipient of a person\'s data after a rectification or erasure (GDPR Art. 19).' })
export class RecipientNotice {
  @NotPersonal()
  @Field(() => ID)
  id!: string;

  subjectId!: string;

  @NotPersonal()
  @Field(() => ID)
  requestId!: string;

  @NotPersonal()
  @Field(() => String, { description: 'The recipient: the integration\'s name.' })
  recipient!: string;

  @Personal('user.data_request')
  @Field(() => String, { description: 'RECTIFICATION or ERASURE.' })
  reason!: string;

  @Personal('user.data_request')
  @Field(() => [String], { description: 'The affected categories the recipient received.' })
  categories!: string[];

  @Personal('user.data_request')
  @Field(() => Date, { description: 'When the recipient last received them before the change.' })
  lastReceivedAt!: Date;

  @NotPersonal()
  @Field(() => Date)
  createdAt!: Date;

  @NotPersonal()
  @Field(() => Date, { nullable: true })
  sentAt!: Date | null;
}

interface NoticeRow {
  id: string; subject_id: string; request_id: string; recipient: string; reason: string; categories: string[];
  last_received_at: string; created_at: string; sent_at: string | null;
}

const toNotice = (r: NoticeRow): RecipientNotice => ({
  id: r.id, subjectId: r.subject_id, requestId: r.request_id, recipient: r.recipient, reason: r.reason, categories: r.categories,
  lastReceivedAt: pgTimestamp(r.last_received_at), createdAt: pgTimestamp(r.created_at), sentAt: r.sent_at ? pgTimestamp(r.sent_at) : null,
});

const SELECT = `select n.id, q.subject_id, n.request_id, n.recipient, n.reason, n.categories, n.last_received_at, n.created_at, n.sent_at
                  from recipient_notice n join data_subject_request q on q.id = n.request_id`;

/** The tenant's notices (administrators), oldest pending first; at most 500. */
export async function listRecipientNotices(ctx: RequestContext, pendingOnly: boolean): Promise<RecipientNotice[]> {
  ctx.access.requireAdmin();
  const rows = await ctx.em.execute<NoticeRow[]>(
    `${SELECT} where n.tenant_id = ? ${pendingOnly ? 'and n.sent_at is null' : ''} order by n.sent_at nulls first, n.created_at, n.id limit 500`,
    [ctx.tenantId]);
  return rows.map(toNotice);
}

/** An administrator records that the recipient was told. */
export async function markNoticeSent(ctx: RequestContext, rawId: string): Promise<RecipientNotice> {
  ctx.access.requireAdmin();
  const id = parseId(rawId);
  const updated = await ctx.em.execute<{ id: string }[]>(
    'update recipient_notice set sent_at = now(), sent_by = ? where tenant_id = ? and id = ? and sent_at is null returning id', [ctx.access.userId, ctx.tenantId, id]);
  const [row] = await ctx.em.execute<NoticeRow[]>(`${SELECT} where n.tenant_id = ? and n.id = ?`, [ctx.tenantId, id]);
  if (!row) throw notFound('Notice');
  if (!updated.length) throw badInput('This notice was already marked sent.', 'id');
  ctx.audit.wrote([row.subject_id], ['user.data_request']);
  return toNotice(row);
}

