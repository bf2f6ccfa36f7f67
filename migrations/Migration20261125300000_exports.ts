import { Migration } from '@mikro-orm/migrations';
import { grantToApp, isolateByTenant } from './support';

/**
 * Right-of-access exports, stored in PostgreSQL so any instance can serve the download.
 *
 * - data_export: one finished export per ACCESS request: its size and SHA-256, the checkpoint it was
 *   proven against, when its link expires and when its file was deleted.
 * - data_export_chunk: the ZIP itself, in ~1 MB pieces written while it streams out of the builder
 *   (storage EXTERNAL: a ZIP is already compressed, so TOAST should not try again).
 * Both are written in the job's transaction, so a crash leaves no half-written export behind.
 */
export class Migration20261125300000_exports extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table data_export_chunk (
        request_id uuid not null references data_subject_request (id),
        seq integer not null check (seq >= 0),
        tenant_id uuid not null references tenant (id),
        data bytea not null,
        primary key (request_id, seq)
      );
      alter table data_export_chunk alter column data set storage external;

      create table data_export (
        request_id uuid primary key references data_subject_request (id),
        tenant_id uuid not null references tenant (id),
        bytes bigint not null check (bytes > 0),
        sha256 text not null check (sha256 ~ '^[0-9a-f]{64}$'),
        chunks integer not null check (chunks > 0),
        events integer not null check (events >= 0),
        tree_size bigint not null check (tree_size > 0),
        key_id text not null references audit_signing_key (key_id),
        created_at timestamptz(3) not null,
        expires_at timestamptz(3) not null,
        deleted_at timestamptz(3),
        check (expires_at > created_at)
      );
      create index data_export_tenant_idx on data_export (tenant_id, expires_at) where deleted_at is null;
    `);
    for (const table of ['data_export', 'data_export_chunk']) this.addSql(isolateByTenant(table));
    // The job writes an export and, when its link expires, marks it deleted; its chunks go then.
    this.addSql(grantToApp('select, insert, update on data_export', 'select, insert, delete on data_export_chunk'));
  }

  override async down(): Promise<void> {
    this.addSql('drop table data_export, data_export_chunk;');
  }
}
