import { Migration } from '@mikro-orm/migrations';
import { grantToApp, isolateByTenant } from './support';

/** Tables whose rows belong to one person, and the column naming them. */
const PERSON_ROWS: [table: string, column: string][] = [
  ['app_user', 'id'], ['enrollment', 'user_id'], ['post', 'author_id'], ['comment', 'author_id'], ['reaction', 'user_id'],
];

/**
 * Restriction of processing (GDPR Art. 18), enforced by PostgreSQL like tenant isolation.
 *
 * - processing_restriction: one row per person and reason (REQUEST: the person asked; ERASURE: their
 *   erasure was approved and waits for its purge).
 * - Each request binds who is asking (`custos.viewer_id`, `custos.viewer_privileged` for administrators
 *   and Custos's own jobs) next to `custos.tenant_id`. A restrictive policy on every table of a
 *   person's rows then hides a restricted person's rows from everybody else: other members, services,
 *   any query that forgets to ask. The person and administrators still see them.
 * - `custos_hidden_people()` is evaluated once per statement (an InitPlan: the policies call it through a
 *   scalar subquery), so a roster of 200 rows costs one lookup, not 200.
 * - The identity functions refuse sign-in for a person whose erasure is under way.
 */
export class Migration20261125100000_processing_restriction extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table processing_restriction (
        tenant_id uuid not null references tenant (id),
        user_id uuid not null,
        reason text not null check (reason in ('REQUEST', 'ERASURE')),
        request_id uuid references data_subject_request (id),
        since timestamptz(3) not null default now(),
        primary key (tenant_id, user_id, reason)
      );
      ${isolateByTenant('processing_restriction')}

      create function custos_hidden_people() returns uuid[] language sql stable as $$
        select case when coalesce(current_setting('custos.viewer_privileged', true), '') = 'on' then '{}'::uuid[]
               else coalesce((select array_agg(distinct r.user_id) from processing_restriction r
                               where r.tenant_id = custos_current_tenant()
                                 and r.user_id is distinct from nullif(current_setting('custos.viewer_id', true), '')::uuid), '{}'::uuid[])
               end
      $$;

      alter table data_subject_request add column lifted_at timestamptz(3), add column lift_reason text check (length(lift_reason) <= 2000);
    `);
    for (const [table, column] of PERSON_ROWS) {
      this.addSql(`create policy processing_restriction on ${table} as restrictive for all using (${column} <> all ((select custos_hidden_people())::uuid[]));`);
    }
    this.addSql(`
      create or replace function custos_resolve_token(p_hash text)
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

      create or replace function custos_resolve_member(p_tenant_slug text, p_email text)
      returns table (tenant_id uuid, user_id uuid, role user_role, status user_status)
      language sql stable security definer set search_path = public, pg_temp as $$
        select u.tenant_id, u.id, u.role,
               case when exists (select 1 from processing_restriction r where r.tenant_id = u.tenant_id and r.user_id = u.id and r.reason = 'ERASURE')
                    then 'DEACTIVATED'::user_status else u.status end
          from tenant t join app_user u on u.tenant_id = t.id
         where t.slug = p_tenant_slug and u.email = p_email
      $$;

      ${grantToApp('select, insert, delete on processing_restriction')}
    `);
  }

  override async down(): Promise<void> {
    for (const [table] of PERSON_ROWS) this.addSql(`drop policy processing_restriction on ${table};`);
    this.addSql(`
      create or replace function custos_resolve_token(p_hash text)
      returns table (id uuid, tenant_id uuid, kind token_kind, user_id uuid, scopes text[], expires_at timestamptz,
                     revoked_at timestamptz, role user_role, status user_status)
      language plpgsql volatile security definer set search_path = public, pg_temp as $$
      begin
        return query
          select t.id, t.tenant_id, t.kind, t.user_id, t.scopes, t.expires_at, t.revoked_at, u.role, u.status
            from api_token t left join app_user u on u.tenant_id = t.tenant_id and u.id = t.user_id
           where t.token_hash = p_hash;
        update api_token a set last_used_at = now()
         where a.token_hash = p_hash and a.revoked_at is null and a.expires_at > now()
           and (a.last_used_at is null or a.last_used_at < now() - interval '1 minute');
      end $$;
      create or replace function custos_resolve_member(p_tenant_slug text, p_email text)
      returns table (tenant_id uuid, user_id uuid, role user_role, status user_status)
      language sql stable security definer set search_path = public, pg_temp as $$
        select u.tenant_id, u.id, u.role, u.status from tenant t join app_user u on u.tenant_id = t.id
         where t.slug = p_tenant_slug and u.email = p_email
      $$;
      alter table data_subject_request drop column lifted_at, drop column lift_reason;
      drop function custos_hidden_people();
      drop table processing_restriction;
    `);
  }
}
