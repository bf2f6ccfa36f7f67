import { Migration } from '@mikro-orm/migrations';

/** Tables that belong to one tenant: each gets the same row-level security policy on `tenant_id`. */
const TENANT_TABLES = ['app_user', 'course', 'enrollment', 'post', 'comment', 'reaction', 'api_token'];

/**
 * Principals and tenant isolation inside PostgreSQL.
 *
 * - Tokens gain kinds (member, auditor, service) and service scopes.
 * - Row-level security on every tenant-owned table, keyed on the transaction-local setting
 *   `custos.tenant_id` that each request sets (`set_config(..., true)`); unset means no rows.
 * - The application connects as `<database>_app`, a role without superuser or BYPASSRLS that owns
 *   nothing, so the policies bind it. Migrations run as the owner, which the policies do not bind.
 * - Two SECURITY DEFINER functions are the only way across tenants for the application role:
 *   resolving a bearer token's hash, and an identity provider's (tenant slug, email) pair.
 */
export class Migration20261124000000_access_control extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      alter table api_token drop constraint api_token_check; -- (kind <> 'USER' or user_id is not null), replaced below
      alter table api_token alter column kind drop default;
      alter table api_token alter column kind type text;
      drop type token_kind;
      create type token_kind as enum ('USER', 'AUDITOR', 'SERVICE');
      alter table api_token alter column kind type token_kind using kind::token_kind;
      alter table api_token alter column kind set default 'USER';
      alter table api_token
        add column scopes text[] not null default '{}',
        add column created_by_id uuid,
        add constraint api_token_member_kind check ((kind = 'USER') = (user_id is not null)),
        add constraint api_token_scopes check (
          (kind = 'SERVICE' and cardinality(scopes) between 1 and 16 and scopes <@ array['roster:read', 'roster:import'])
          or (kind <> 'SERVICE' and scopes = '{}')),
        add constraint api_token_created_by_fk foreign key (tenant_id, created_by_id) references app_user (tenant_id, id) on delete set null (created_by_id);
      create index api_token_tenant_idx on api_token (tenant_id, created_at, id);

      -- The application role of this database (role names are per cluster, databases are not).
      create function custos_app_role() returns name language sql immutable as $$
        select (case when length(current_database()) <= 59 then current_database()
                     else left(current_database(), 50) || '_' || left(md5(current_database()), 8) end || '_app')::name
      $$;

      do $$ begin
        if not exists (select 1 from pg_roles where rolname = custos_app_role()) then
          execute format('create role %I nologin nosuperuser nocreatedb nocreaterole nobypassrls noinherit', custos_app_role());
        end if;
      end $$;

      -- Its login password, when Custos manages the role itself; readable by the owner only.
      create table custos_app_login (
        role_name name primary key,
        password text not null,
        created_at timestamptz(3) not null default now()
      );
      revoke all on custos_app_login from public;

      create function custos_current_tenant() returns uuid language sql stable as $$
        select nullif(current_setting('custos.tenant_id', true), '')::uuid
      $$;

      alter table tenant enable row level security;
      create policy tenant_isolation on tenant using (id = custos_current_tenant());
    `);
    for (const table of TENANT_TABLES) {
      this.addSql(`
        alter table ${table} enable row level security;
        create policy tenant_isolation on ${table}
          using (tenant_id = custos_current_tenant()) with check (tenant_id = custos_current_tenant());
      `);
    }
    this.addSql(`
      -- Bearer token → its row and its member's role and status. Marks last use, to the minute.
      create function custos_resolve_token(p_hash text)
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

      -- Identity-provider sign-in: (tenant slug, email) → the member.
      create function custos_resolve_member(p_tenant_slug text, p_email text)
      returns table (tenant_id uuid, user_id uuid, role user_role, status user_status)
      language sql stable security definer set search_path = public, pg_temp as $$
        select u.tenant_id, u.id, u.role, u.status
          from tenant t join app_user u on u.tenant_id = t.id
         where t.slug = p_tenant_slug and u.email = p_email
      $$;

      revoke all on function custos_resolve_token(text), custos_resolve_member(text, text) from public;

      do $$
      declare r name := custos_app_role();
      begin
        execute format('grant usage on schema public to %I', r);
        execute format('grant select on tenant, mikro_orm_migrations to %I', r);
        execute format('grant select, insert, update, delete on app_user, course, enrollment, post, comment, reaction to %I', r);
        -- Tokens are revoked, never deleted: their ids stay meaningful in the access log.
        execute format('grant select, insert, update on api_token to %I', r);
        execute format('grant execute on function custos_resolve_token(text), custos_resolve_member(text, text) to %I', r);
      end $$;
    `);
  }

  override async down(): Promise<void> {
    this.addSql(`
      do $$ declare r name := custos_app_role();
      begin
        execute format('revoke all on all tables in schema public from %I', r);
        execute format('revoke all on schema public from %I', r);
      end $$;
      drop function custos_resolve_member(text, text);
      drop function custos_resolve_token(text);
    `);
    for (const table of ['tenant', ...TENANT_TABLES]) {
      this.addSql(`drop policy tenant_isolation on ${table}; alter table ${table} disable row level security;`);
    }
    this.addSql(`
      drop function custos_current_tenant();
      drop table custos_app_login;
      alter table api_token drop constraint api_token_created_by_fk, drop constraint api_token_scopes,
        drop constraint api_token_member_kind, drop column created_by_id, drop column scopes;
      drop index api_token_tenant_idx;
      delete from api_token where kind <> 'USER';
      alter table api_token alter column kind drop default;
      alter table api_token alter column kind type text;
      drop type token_kind;
      create type token_kind as enum ('USER');
      alter table api_token alter column kind type token_kind using kind::token_kind;
      alter table api_token alter column kind set default 'USER';
      drop function custos_app_role();
    `);
  }
}
