import { Field, ObjectType } from 'type-graphql';
import type { RequestContext } from '../../server/context';
import { NoPersonalData } from '../../privacy/classify';
import { DATA_CATEGORIES, isDataCategory } from '../../privacy/categories';
import { ERASURE_POLICY } from '../../privacy/erasure-policy';
import { badInput } from '../../shared/errors';
import { loadPrivacySettings } from './privacy-settings';
import { ErasureActionKind, toActionKind } from './erasure.types';

/** One line of the institution's retention schedule: institution policy, not anyone's data. */
@NoPersonalData()
@ObjectType({ description: 'How long a category of personal data is kept here, and what erasure does to it.' })
export class RetentionEntry {
  @Field(() => String)
  category!: string;

  @Field(() => String)
  description!: string;

  @Field(() => String, { description: 'How long: the institution\'s own period where it set one, else the default.' })
  period!: string;

  @Field(() => String, { description: 'What ends it, and what happens then.' })
  end!: string;

  @Field(() => Boolean, { description: 'The institution set its own period for this category.' })
  overridden!: boolean;

  @Field(() => ErasureActionKind)
  erasureAction!: ErasureActionKind;

  @Field(() => String, { nullable: true, description: 'Why erasure keeps it, when it does.' })
  legalBasis!: string | null;
}

export async function retentionSchedule(ctx: RequestContext): Promise<RetentionEntry[]> {
  const { retention } = await loadPrivacySettings(ctx.em, ctx.tenantId);
  return (Object.keys(DATA_CATEGORIES) as (keyof typeof DATA_CATEGORIES)[]).map((category) => ({
    category, description: DATA_CATEGORIES[category], period: retention[category].period, end: retention[category].end,
    overridden: retention[category].overridden, erasureAction: toActionKind(ERASURE_POLICY[category].action), legalBasis: ERASURE_POLICY[category].legalBasis,
  }));
}

/** Sets the institution's own retention period for a category (administrators); null returns to the default. */
export async function setRetentionPeriod(ctx: RequestContext, category: string, rawPeriod: string | null | undefined): Promise<RetentionEntry> {
  ctx.access.requireAdmin();
  if (!isDataCategory(category)) throw badInput(`Unknown data category "${category}".`, 'category');
  const period = rawPeriod?.trim() ?? '';
  if (period.length > 500) throw badInput('period must be at most 500 characters.', 'period');
  if (period) {
    await ctx.em.execute(
      `insert into retention_override (tenant_id, category, period) values (?, ?, ?)
       on conflict (tenant_id, category) do update set period = excluded.period, updated_at = now()`, [ctx.tenantId, category, period]);
  } else {
    await ctx.em.execute('delete from retention_override where tenant_id = ? and category = ?', [ctx.tenantId, category]);
  }
  return (await retentionSchedule(ctx)).find((e) => e.category === category)!;
}
