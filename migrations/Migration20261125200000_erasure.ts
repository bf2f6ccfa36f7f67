import { Migration } from '@mikro-orm/migrations';
import { grantToApp, isolateByTenant } from './support';

/**
 * Erasure with retention.
 *
 * - app_user.erased_at: the account was erased; what is left of it is nameless (see the erasure policy).
 * - data_subject_request: purge_after (end of the grace period), progress (the erasure steps done, so a
 *   crash resumes where it stopped), held_since (a legal hold is blocking the purge).
 * - legal_hold: a hold on a person's data with its recorded reason; while one is active, no purge runs.
 * - erasure_receipt: the signed deletion receipt of each erasure (no personal data in it).
 */
export class Migration20261125200000_erasure extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      alter table app_user add column erased_at timestamptz(3);
      alter table data_subject_request add column purge_after timestamptz(3), add column held_since timestamptz(3),
        add column progress jsonb not null default '{}';

      create table legal_hold (
        id uuid primary key,
        tenant_id uuid not null references tenant (id),
        user_id uuid not null,
        reason text not null check (length(reason) between 1 and 2000),
        placed_by uuid,
        placed_at timestamptz(3) not null default now(),
        released_at timestamptz(3),
        released_by uuid,
        release_reason text check (length(release_reason) <= 2000)
      );
      create index legal_hold_active_idx on legal_hold (tenant_id, user_id) where released_at is null;

      create table erasure_receipt (
        request_id uuid primary key references data_subject_request (id),
        tenant_id uuid not null references tenant (id),
        body text not null,
        key_id text not null references audit_signing_key (key_id),
        signature bytea not null check (length(signature) = 64),
        created_at timestamptz(3) not null default now()
      );
    `);
    for (const table of ['legal_hold', 'erasure_receipt']) this.addSql(isolateByTenant(table));
    // Erasure deletes the person's pseudonym link and key (their log entries stay, unlinkable).
    this.addSql(grantToApp('select, insert, update on legal_hold', 'select, insert on erasure_receipt', 'delete on subject_key'));
  }

  override async down(): Promise<void> {
    this.addSql(`
      drop table erasure_receipt, legal_hold;
      alter table data_subject_request drop column purge_after, drop column held_since, drop column progress;
      alter table app_user drop column erased_at;
    `);
  }
}
