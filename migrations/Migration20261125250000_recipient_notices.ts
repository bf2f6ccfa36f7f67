import { Migration } from '@mikro-orm/migrations';
import { grantToApp, isolateByTenant } from './support';

/**
 * Art. 19 notices: when a person's data is rectified or erased, every recipient that received the
 * affected categories before the change is to be told. Recipients are the integrations (SERVICE
 * credentials) the access log shows receiving that person's data; one notice per request and recipient.
 */
export class Migration20261125250000_recipient_notices extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table recipient_notice (
        id uuid primary key,
        tenant_id uuid not null references tenant (id),
        request_id uuid not null references data_subject_request (id),
        credential_id text not null,
        recipient text not null,
        reason text not null check (reason in ('RECTIFICATION', 'ERASURE')),
        categories text[] not null check (cardinality(categories) > 0),
        last_received_at timestamptz(3) not null,
        created_at timestamptz(3) not null default now(),
        sent_at timestamptz(3),
        sent_by uuid,
        unique (request_id, credential_id)
      );
      create index recipient_notice_pending_idx on recipient_notice (tenant_id, created_at) where sent_at is null;
    `);
    this.addSql(isolateByTenant('recipient_notice'));
    this.addSql(grantToApp('select, insert, update on recipient_notice'));
  }

  override async down(): Promise<void> {
    this.addSql('drop table recipient_notice;');
  }
}
