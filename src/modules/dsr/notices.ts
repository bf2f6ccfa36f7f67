import type { EntityManager } from '@mikro-orm/postgresql';
import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { enqueueJob } from '../../jobs/queue';
import type { DataCategory } from '../../privacy/categories';
import { NotPersonal, Personal, PersonalData } from '../../privacy/classify';
import type { RequestContext } from '../../server/context';
import { badInput, notFound, parseId } from '../../shared/errors';
import { pgTimestamp } from '../../db/timestamps';

/** Job kind that delivers a notice to a tool's notification URL (handler: modules/lti/lti.notices.ts). */
export const DELIVER_NOTICE_JOB = 'notice.deliver';

export enum NoticeDelivery {
  PENDING = 'PENDING',
  DELIVERED = 'DELIVERED',
  FAILED = 'FAILED',
}
registerEnumType(NoticeDelivery, {
  name: 'NoticeDelivery',
  description: 'Delivery of a notice to a tool\'s notification URL: PENDING (being tried), DELIVERED, FAILED (gave up; pass it on by hand).',
});

/**
 * Art. 19 notices. A recipient is anyone the access log shows receiving some of the person's affected
 * categories before the change:
 * - an integration (a SERVICE credential, named by its label) that read them; an administrator passes
 *   the notice on and marks it sent;
 * - a third-party tool (named by its name) that a launch disclosed them to (DISCLOSE events naming
 *   `LtiTool:<id>`); a tool with a notification URL is sent the notice by a job, in the same transaction
 *   as the queueing, and the delivery is recorded on the notice; one without is passed on by hand.
 * One notice per request and recipient: queueing twice (a retried job) adds nothing.
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
  const tools = await em.execute<{ id: string; deliver: boolean }[]>(
    `insert into recipient_notice (id, tenant_id, request_id, tool_id, recipient, reason, categories, last_received_at, delivery)
     select gen_random_uuid(), ?, ?, t.id, t.name, ?, r.categories, r.last_received_at,
            case when t.notification_url is null then null else 'PENDING' end
       from (select substr(x.resource, 9)::uuid as tool_id, array_agg(distinct c order by c) as categories, max(e.occurred_at) as last_received_at
               from subject_key k
               join access_event_subject s on s.tenant_id = k.tenant_id and s.pseudonym = k.pseudonym
               join access_event e on e.id = s.event_id
               cross join lateral unnest(e.resources) x(resource)
               cross join lateral unnest(s.categories) c
              where k.tenant_id = ? and k.user_id = ? and e.access_kind = 'DISCLOSE' and x.resource like 'LtiTool:%'
                and s.occurred_at < ? and c = any(?::text[])
              group by 1) r
       join lti_tool t on t.tenant_id = ? and t.id = r.tool_id
     on conflict (request_id, tool_id) do nothing
     returning id, delivery is not null as deliver`,
    [opts.tenantId, opts.requestId, opts.reason, opts.tenantId, opts.subjectId, opts.before, `{${opts.categories.join(',')}}`, opts.tenantId]);
  for (const notice of tools.filter((n) => n.deliver)) {
    await enqueueJob(em, { tenantId: opts.tenantId, kind: DELIVER_NOTICE_JOB, payload: { noticeId: notice.id }, dedupeKey: `notice:${notice.id}` });
  }
  return rows.length + tools.length;
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
  @Field(() => Date, { nullable: true, description: 'When the recipient was told: marked by an administrator, or the time of delivery.' })
  sentAt!: Date | null;

  @NotPersonal()
  @Field(() => ID, { nullable: true, description: 'The tool, when the recipient is a third-party tool.' })
  toolId!: string | null;

  @NotPersonal()
  @Field(() => NoticeDelivery, { nullable: true, description: 'Delivery to the tool\'s notification URL; null: passed on by hand.' })
  delivery!: NoticeDelivery | null;

  @NotPersonal()
  @Field(() => Int, { description: 'Delivery attempts made.' })
  deliveryAttempts!: number;

  @NotPersonal()
  @Field(() => Date, { nullable: true })
  lastAttemptAt!: Date | null;

  @NotPersonal()
  @Field(() => Int, { nullable: true, description: 'HTTP status of the last attempt (none when no answer came).' })
  lastHttpStatus!: number | null;

  @NotPersonal()
  @Field(() => String, { nullable: true, description: 'Why the last attempt failed.' })
  lastError!: string | null;
}

interface NoticeRow {
  id: string; subject_id: string; request_id: string; recipient: string; reason: string; categories: string[];
  last_received_at: string; created_at: string; sent_at: string | null; tool_id: string | null; delivery: NoticeDelivery | null;
  delivery_attempts: number; last_attempt_at: string | null; last_http_status: number | null; last_error: string | null;
}

const toNotice = (r: NoticeRow): RecipientNotice => ({
  id: r.id, subjectId: r.subject_id, requestId: r.request_id, recipient: r.recipient, reason: r.reason, categories: r.categories,
  lastReceivedAt: pgTimestamp(r.last_received_at), createdAt: pgTimestamp(r.created_at), sentAt: r.sent_at ? pgTimestamp(r.sent_at) : null,
  toolId: r.tool_id, delivery: r.delivery, deliveryAttempts: r.delivery_attempts,
  lastAttemptAt: r.last_attempt_at ? pgTimestamp(r.last_attempt_at) : null, lastHttpStatus: r.last_http_status, lastError: r.last_error,
});

const SELECT = `select n.id, q.subject_id, n.request_id, n.recipient, n.reason, n.categories, n.last_received_at, n.created_at, n.sent_at,
                       n.tool_id, n.delivery, n.delivery_attempts, n.last_attempt_at, n.last_http_status, n.last_error
                  from recipient_notice n join data_subject_request q on q.id = n.request_id`;

/** The tenant's notices (administrators), oldest pending first; at most 500. */
export async function listRecipientNotices(ctx: RequestContext, pendingOnly: boolean): Promise<RecipientNotice[]> {
  ctx.access.requireAdmin();
  const rows = await ctx.em.execute<NoticeRow[]>(
    `${SELECT} where n.tenant_id = ? ${pendingOnly ? 'and n.sent_at is null' : ''} order by n.sent_at nulls first, n.created_at, n.id limit 500`,
    [ctx.tenantId]);
  return rows.map(toNotice);
}

/**
 * An administrator records that the recipient was told: a notice passed on by hand, or one whose
 * delivery failed. One still being delivered is the job's to finish.
 */
export async function markNoticeSent(ctx: RequestContext, rawId: string): Promise<RecipientNotice> {
  ctx.access.requireAdmin();
  const id = parseId(rawId);
  const updated = await ctx.em.execute<{ id: string }[]>(
    `update recipient_notice set sent_at = now(), sent_by = ?
      where tenant_id = ? and id = ? and sent_at is null and delivery is distinct from 'PENDING' returning id`, [ctx.access.userId, ctx.tenantId, id]);
  const [row] = await ctx.em.execute<NoticeRow[]>(`${SELECT} where n.tenant_id = ? and n.id = ?`, [ctx.tenantId, id]);
  if (!row) throw notFound('Notice');
  if (!updated.length && row.delivery === NoticeDelivery.PENDING && !row.sent_at) {
    throw badInput('This notice is being delivered to the tool; it can be marked sent by hand only if delivery fails.', 'id');
  }
  if (!updated.length) throw badInput('This notice was already marked sent.', 'id');
  ctx.audit.wrote([row.subject_id], ['user.data_request']);
  return toNotice(row);
}

