import { Migration } from '@mikro-orm/migrations';

/**
 * The access log: what was read, written, disclosed or refused, about whom, by whom, for what purpose.
 *
 * - subject_key: one mutable row per person, the only link between a person (user_id) and their
 *   pseudonym, and the key that encrypts the few personal bits the log keeps (IP address, user agent).
 *   Deleting it (erasure) leaves the log intact and verifiable but no longer linkable to anyone.
 * - access_event: one row per root field of an operation and kind of access. No names, emails, values
 *   or variables: people appear as pseudonyms only.
 * - access_event_subject: the subjects an event touched and, per subject, the categories touched. It is
 *   part of the event (the sealed hash covers both) and, keyed (tenant, pseudonym, time), it answers
 *   "who accessed which of P's categories, when, for what purpose" with one index range scan.
 * Both event tables are append-only: triggers reject UPDATE, DELETE and TRUNCATE whoever asks, and the
 * application role is granted SELECT and INSERT only.
 */
export class Migration20261124100000_access_log extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table subject_key (
        pseudonym uuid primary key default gen_random_uuid(),
        tenant_id uuid not null,
        user_id uuid not null,
        -- 32 random bytes: two v4 UUIDs from the server's strong random source (244 random bits).
        key bytea not null default (uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())) check (length(key) = 32),
        created_at timestamptz(3) not null default now(),
        unique (tenant_id, user_id),
        foreign key (tenant_id, user_id) references app_user (tenant_id, id) on delete cascade
      );

      -- Every member gets their pseudonym row when they are created, whatever creates them.
      create function custos_create_subject_key() returns trigger
      language plpgsql security definer set search_path = public, pg_temp as $$
      begin
        insert into subject_key (tenant_id, user_id) values (new.tenant_id, new.id) on conflict do nothing;
        return new;
      end $$;
      create trigger app_user_subject_key after insert on app_user for each row execute function custos_create_subject_key();
      insert into subject_key (tenant_id, user_id) select tenant_id, id from app_user;

      create table access_event (
        id uuid primary key,
        tenant_id uuid not null references tenant (id),
        -- The writing transaction: the sealer takes only events of transactions that can no longer commit late.
        txid xid8 not null default pg_current_xact_id(),
        occurred_at timestamptz(3) not null,
        request_id text not null check (length(request_id) <= 64),
        operation_type text not null check (operation_type in ('query', 'mutation', 'system')),
        operation_name text check (length(operation_name) <= 200),
        root_field text not null check (length(root_field) <= 200),
        fields text[] not null,
        access_kind text not null check (access_kind in ('READ', 'WRITE', 'DISCLOSE', 'DENY')),
        purpose text not null check (length(purpose) <= 100),
        actor_kind text not null check (actor_kind in ('USER', 'AUDITOR', 'SERVICE', 'SYSTEM')),
        actor_role text,
        actor_pseudonym uuid,
        credential_id text,
        resources text[] not null,
        outcome text not null check (outcome in ('SUCCESS', 'FAILURE', 'DENIED')),
        error_code text,
        item_count integer not null check (item_count >= 0),
        -- AES-256-GCM under the actor's subject key: iv (12) || tag (16) || ciphertext.
        actor_ip bytea,
        actor_user_agent bytea
      );
      create index access_event_txid_idx on access_event (txid);
      create index access_event_tenant_time_idx on access_event (tenant_id, occurred_at, id);
      create index access_event_actor_idx on access_event (tenant_id, actor_pseudonym, occurred_at) where actor_pseudonym is not null;
      create index access_event_credential_idx on access_event (tenant_id, credential_id, occurred_at) where credential_id is not null;

      create table access_event_subject (
        tenant_id uuid not null,
        pseudonym uuid not null,
        occurred_at timestamptz(3) not null,
        -- No foreign key: it cost a lookup per subject row on every request (0.7 of 1.7 ms for a
        -- 200-student roster). Rows are written with their event in one statement, neither can be
        -- deleted, and the verifier recomputes each event's hash over exactly these rows.
        event_id uuid not null,
        categories text[] not null check (cardinality(categories) > 0),
        primary key (tenant_id, pseudonym, occurred_at, event_id)
      );
      create index access_event_subject_event_idx on access_event_subject (event_id);

      create function custos_reject_log_change() returns trigger language plpgsql as $$
      begin
        raise exception 'the access log is append-only: % on % is not allowed', tg_op, tg_table_name
          using errcode = 'insufficient_privilege';
      end $$;
      create trigger access_event_append_only before update or delete on access_event
        for each row execute function custos_reject_log_change();
      create trigger access_event_no_truncate before truncate on access_event
        for each statement execute function custos_reject_log_change();
      create trigger access_event_subject_append_only before update or delete on access_event_subject
        for each row execute function custos_reject_log_change();
      create trigger access_event_subject_no_truncate before truncate on access_event_subject
        for each statement execute function custos_reject_log_change();

      alter table subject_key enable row level security;
      create policy tenant_isolation on subject_key using (tenant_id = custos_current_tenant()) with check (tenant_id = custos_current_tenant());
      alter table access_event enable row level security;
      create policy tenant_isolation on access_event using (tenant_id = custos_current_tenant()) with check (tenant_id = custos_current_tenant());
      alter table access_event_subject enable row level security;
      create policy tenant_isolation on access_event_subject using (tenant_id = custos_current_tenant()) with check (tenant_id = custos_current_tenant());

      do $$
      declare r name := custos_app_role();
      begin
        execute format('grant select, insert on access_event, access_event_subject to %I', r);
        execute format('grant select on subject_key to %I', r);
      end $$;
    `);
  }

  override async down(): Promise<void> {
    this.addSql(`
      drop table access_event_subject;
      drop table access_event;
      drop function custos_reject_log_change();
      drop trigger app_user_subject_key on app_user;
      drop function custos_create_subject_key();
      drop table subject_key;
    `);
  }
}
