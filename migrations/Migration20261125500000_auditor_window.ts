import { Migration } from '@mikro-orm/migrations';

/**
 * An auditor token may be limited to a window of events (`audit_from` ≤ occurred_at < `audit_until`,
 * either end open). Only AUDITOR tokens carry one. The token resolver returns it with the token.
 */
export class Migration20261125500000_auditor_window extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      alter table api_token add column audit_from timestamptz(3), add column audit_until timestamptz(3),
        add constraint api_token_audit_window_kind check (kind = 'AUDITOR' or (audit_from is null and audit_until is null)),
        add constraint api_token_audit_window_order check (audit_from is null or audit_until is null or audit_from < audit_until);

      drop function custos_resolve_token(text);
      create function custos_resolve_token(p_hash text)
      returns table (id uuid, tenant_id uuid, kind token_kind, user_id uuid, scopes text[], expires_at timestamptz,
                     revoked_at timestamptz, role user_role, status user_status, audit_from timestamptz, audit_until timestamptz)
      language plpgsql volatile security definer set search_path = public, pg_temp as $$
      begin
        return query
          select t.id, t.tenant_id, t.kind, t.user_id, t.scopes, t.expires_at, t.revoked_at, u.role,
                 case when exists (select 1 from processing_restriction r where r.tenant_id = t.tenant_id and r.user_id = t.user_id and r.reason = 'ERASURE')
                      then 'DEACTIVATED'::user_status else u.status end,
                 t.audit_from, t.audit_until
            from api_token t left join app_user u on u.tenant_id = t.tenant_id and u.id = t.user_id
           where t.token_hash = p_hash;
        update api_token a set last_used_at = now()
         where a.token_hash = p_hash and a.revoked_at is null and a.expires_at > now()
           and (a.last_used_at is null or a.last_used_at < now() - interval '1 minute');
      end $$;
      revoke all on function custos_resolve_token(text) from public;
      do $$
      declare r name := custos_app_role();
      begin
        execute format('grant execute on function custos_resolve_token(text) to %I', r);
      end $$;
    `);
  }

  override async down(): Promise<void> {
    // The resolver returns to its earlier shape before the columns go.
    this.addSql(`
      drop function custos_resolve_token(text);
      create function custos_resolve_token(p_hash text)
      returns table (id uuid, tenant_id uuid, kind token_kind, user_id uuid, scopes text[], expires_at timestamptz,
                     revoked_at timestamptz, role user_role, status user_status)
      language plpgsql volatile security definer set search_path = public, pg_temp as $$
      begin
        return query
          select t.id, t.tenant_id, t.kind, t.user_id, t.scopes, t.expires_at, t.revoked_at, u.role,
                 case when exists (select 1 from processing_restriction r where r.tenant_id = t.tenant_id and r.user_id = t.user_id and r.reason = 'ERASURE')
                      then 'DEACTIVATED'::user_status else u.status end
            from api_token t left join app_user u on u.tenant_id = t.tenant_id and u.id = t.user_id
           where t.token_hash = p_hash;
        update api_token a set last_used_at = now()
         where a.token_hash = p_hash and a.revoked_at is null and a.expires_at > now()
           and (a.last_used_at is null or a.last_used_at < now() - interval '1 minute');
      end $$;
      revoke all on function custos_resolve_token(text) from public;
      do $$
      declare r name := custos_app_role();
      begin
        execute format('grant execute on function custos_resolve_token(text) to %I', r);
      end $$;
      alter table api_token drop column audit_from, drop column audit_until;
    `);
  }
}
