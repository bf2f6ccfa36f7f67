import { Migration } from '@mikro-orm/migrations';
import { grantToApp, isolateByTenant } from './support';

/**
 * An institution's own retention periods, per data category, where they differ from the installation's
 * defaults (src/privacy/processing.ts). Exports and the records of processing show the effective ones.
 */
export class Migration20261125310000_retention_overrides extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table retention_override (
        tenant_id uuid not null references tenant (id),
        category text not null,
        period text not null check (length(period) between 1 and 500),
        updated_at timestamptz(3) not null default now(),
        primary key (tenant_id, category)
      );
    `);
    this.addSql(isolateByTenant('retention_override'));
    this.addSql(grantToApp('select, insert, update, delete on retention_override'));
  }

  override async down(): Promise<void> {
    this.addSql('drop table retention_override;');
  }
}
