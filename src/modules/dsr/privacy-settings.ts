import { Field, InputType, Int, ObjectType } from 'type-graphql';
import { ArrayMaxSize, IsOptional, Max, Min } from 'class-validator';
import type { EntityManager } from '@mikro-orm/postgresql';
import { NoPersonalData } from '../../privacy/classify';
import { DataRequestType } from './dsr.entity';
import { effectiveRetention, type EffectiveRetention } from '../../privacy/processing';
import type { DataCategory } from '../../privacy/categories';
import { enqueueJob } from '../../jobs/queue';
import { badInput } from '../../shared/errors';

/** Defaults when a tenant has not changed them (GDPR Art. 12(3): one month; erasure grace 30 days; links live a week). */
export const PRIVACY_DEFAULTS = {
  responseWindowDays: 30,
  autoApprove: [] as DataRequestType[],
  erasureGraceDays: 30,
  exportLinkDays: 7,
  showAccessorNames: false,
  inactiveAccountDays: null as number | null,
};

/** The daily sweep that erases inactive accounts (see inactive-accounts.ts). */
export const INACTIVE_SWEEP_JOB = 'retention.inactive_accounts';

/** The tenant's data-protection settings: how requests are answered. Institution policy, not personal data. */
@NoPersonalData()
@ObjectType({ description: 'How this institution answers data-subject requests.' })
export class PrivacySettings {
  @Field(() => Int, { description: 'Days to answer a request (GDPR: one month; FERPA institutions may choose 45).' })
  responseWindowDays!: number;

  @Field(() => [DataRequestType], { description: 'Request types approved as soon as they are filed.' })
  autoApprove!: DataRequestType[];

  @Field(() => Int, { description: 'Days between an approved erasure and the purge (at most 180).' })
  erasureGraceDays!: number;

  @Field(() => Int, { description: 'Days a right-of-access export can be downloaded.' })
  exportLinkDays!: number;

  @Field(() => Boolean, { description: 'Whether exports name the people who accessed a person\'s data (otherwise their role only).' })
  showAccessorNames!: boolean;

  /** Retention per category as it applies here (defaults, or the institution's own periods); see `retentionSchedule`. */
  retention!: Record<DataCategory, EffectiveRetention>;

  @Field(() => Int, {
    nullable: true,
    description: 'Members (other than administrators) inactive this many days are erased, through the ordinary erasure with its grace ' +
      'period and legal holds. Null: accounts are kept.',
  })
  inactiveAccountDays!: number | null;
}

@InputType()
export class UpdatePrivacySettingsInput {
  @Field(() => Int, { nullable: true })
  @IsOptional() @Min(1) @Max(45)
  responseWindowDays?: number | null;

  @Field(() => [DataRequestType], { nullable: true })
  @IsOptional() @ArrayMaxSize(4)
  autoApprove?: DataRequestType[] | null;

  @Field(() => Int, { nullable: true })
  @IsOptional() @Min(0) @Max(180)
  erasureGraceDays?: number | null;

  @Field(() => Int, { nullable: true })
  @IsOptional() @Min(1) @Max(30)
  exportLinkDays?: number | null;

  @Field(() => Boolean, { nullable: true })
  showAccessorNames?: boolean | null;

  @Field(() => Int, { nullable: true, description: '30 to 3650 days; 0 turns the policy off.' })
  @IsOptional() @Min(0) @Max(3650)
  inactiveAccountDays?: number | null;
}

interface SettingsRow {
  response_window_days: number;
  auto_approve: string[];
  erasure_grace_days: number;
  export_link_days: number;
  show_accessor_names: boolean;
  inactive_account_days: number | null;
}

const fromRow = (r: SettingsRow | undefined, retention: Record<DataCategory, EffectiveRetention>): PrivacySettings => (r ? {
  retention,
  responseWindowDays: r.response_window_days,
  autoApprove: r.auto_approve.filter((t): t is DataRequestType => (Object.values(DataRequestType) as string[]).includes(t)),
  erasureGraceDays: r.erasure_grace_days,
  exportLinkDays: r.export_link_days,
  showAccessorNames: r.show_accessor_names,
  inactiveAccountDays: r.inactive_account_days,
} : { ...PRIVACY_DEFAULTS, autoApprove: [...PRIVACY_DEFAULTS.autoApprove], retention });

export async function loadPrivacySettings(em: EntityManager, tenantId: string): Promise<PrivacySettings> {
  const [row] = await em.execute<SettingsRow[]>(
    `select response_window_days, auto_approve, erasure_grace_days, export_link_days, show_accessor_names, inactive_account_days
       from privacy_settings where tenant_id = ?`,
    [tenantId]);
  const overrides = await em.execute<{ category: string; period: string }[]>('select category, period from retention_override where tenant_id = ?', [tenantId]);
  return fromRow(row, effectiveRetention(new Map(overrides.map((o) => [o.category, o.period]))));
}

/** Changes the given settings, keeping the others (the database checks the bounds again). */
export async function savePrivacySettings(em: EntityManager, tenantId: string, input: UpdatePrivacySettingsInput): Promise<PrivacySettings> {
  const current = await loadPrivacySettings(em, tenantId);
  const next: PrivacySettings = {
    retention: current.retention,
    responseWindowDays: input.responseWindowDays ?? current.responseWindowDays,
    autoApprove: input.autoApprove ? [...new Set(input.autoApprove)].sort() : current.autoApprove,
    erasureGraceDays: input.erasureGraceDays ?? current.erasureGraceDays,
    exportLinkDays: input.exportLinkDays ?? current.exportLinkDays,
    showAccessorNames: input.showAccessorNames ?? current.showAccessorNames,
    inactiveAccountDays: input.inactiveAccountDays == null ? current.inactiveAccountDays : input.inactiveAccountDays || null,
  };
  if (next.inactiveAccountDays !== null && next.inactiveAccountDays < 30) {
    throw badInput('inactiveAccountDays must be at least 30 (or 0 to turn the policy off).', 'inactiveAccountDays');
  }
  await em.execute(
    `insert into privacy_settings (tenant_id, response_window_days, auto_approve, erasure_grace_days, export_link_days, show_accessor_names,
                                   inactive_account_days, updated_at)
     values (?, ?, ?::text[], ?, ?, ?, ?, now())
     on conflict (tenant_id) do update set response_window_days = excluded.response_window_days, auto_approve = excluded.auto_approve,
       erasure_grace_days = excluded.erasure_grace_days, export_link_days = excluded.export_link_days,
       show_accessor_names = excluded.show_accessor_names, inactive_account_days = excluded.inactive_account_days, updated_at = now()`,
    [tenantId, next.responseWindowDays, `{${next.autoApprove.join(',')}}`, next.erasureGraceDays, next.exportLinkDays, next.showAccessorNames,
      next.inactiveAccountDays],
  );
  // The sweep reschedules itself daily while the policy is on; turning it on starts it.
  if (next.inactiveAccountDays !== null) {
    await enqueueJob(em, { tenantId, kind: INACTIVE_SWEEP_JOB, dedupeKey: `${INACTIVE_SWEEP_JOB}:${tenantId}` });
  }
  return next;
}
