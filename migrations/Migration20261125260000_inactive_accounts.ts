import { Migration } from '@mikro-orm/migrations';

/**
 * Deleting inactive accounts where the institution's policy asks for it (storage limitation, GDPR
 * Art. 5(1)(e)).
 *
 * - privacy_settings.inactive_account_days: null (the default) keeps accounts; otherwise members with no
 *   activity for that long are erased through the ordinary erasure (grace period, legal holds, receipt).
 * - app_user.last_active_at: the last sign-in through the identity provider, at most hourly. Bearer
 *   token use is already in api_token.last_used_at.
 */
export class Migration20261125260000_inactive_accounts extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      alter table privacy_settings add column inactive_account_days integer
        check (inactive_account_days is null or inactive_account_days between 30 and 3650);
      alter table app_user add column last_active_at timestamptz(3);

      drop function custos_resolve_member(text, text);
      create function custos_resolve_member(p_tenant_slug text, p_email text)
      returns table (tenant_id uuid, user_id uuid, role user_role, status user_status)
      language plpgsql volatile security definer set search_path = public, pg_temp as $$
      begin
        return query
          select u.tenant_id, u.id, u.role,
                 case when exists (select 1 from processing_restriction r where r.tenant_id = u.tenant_id and r.user_id = u.id and r.reason = 'ERASURE')
                      then 'DEACTIVATED'::user_status else u.status end
            from tenant t join app_user u on u.tenant_id = t.id
           where t.slug = p_tenant_slug and u.email = p_email;
        update app_user u set last_active_at = now()
          from tenant t
         where t.slug = p_tenant_slug and u.tenant_id = t.id and u.email = p_email
           and (u.last_active_at is null or u.last_active_at < now() - interval '1 hour');
      end $$;
      revoke all on function custos_resolve_member(text, text) from public;
      do $$
      declare r name := custos_app_role();
      begin
        execute format('grant execute on function custos_resolve_member(text, text) to %I', r);
      end $$;
    `);
  }

  override async down(): Promise<void> {
    this.addSql(`
      drop function custos_resolve_member(text, text);
      create function custos_resolve_member(p_tenant_slug text, p_email text)
      returns table (tenant_id uuid, user_id uuid, role user_role, status user_status)
      language sql stable security definer set search_path = public, pg_temp as $$
        select u.tenant_id, u.id, u.role,
               case when exists (select 1 from processing_restriction r where r.tenant_id = u.tenant_id and r.user_id = u.id and r.reason = 'ERASURE')
                    then 'DEACTIVATED'::user_status else u.status end
          from tenant t join app_user u on u.tenant_id = t.id
         where t.slug = p_tenant_slug and u.email = p_email
      $$;
      alter table app_user drop column last_active_at;
      alter table privacy_settings drop column inactive_account_days;
    `);
  }
}
