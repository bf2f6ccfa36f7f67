import { Migration } from '@mikro-orm/migrations';
import { grantToApp, isolateByTenant } from './support';

/**
 * Roster imports from the student information system (OneRoster 1.1 CSV).
 * - sis_import: one row per applied import (dry runs and refused imports write nothing).
 * - sis_record: which SIS record (kind, sourcedId) is which Custos record, and where it last came from
 *   (import, file, line): the "source" an export shows beside each record. Orgs and catalogue courses
 *   have no Custos record of their own (target_id null); they are kept so later imports can refer to them.
 *   Several enrollment sourcedIds (one per term, say) may name the same Custos enrollment.
 */
export class Migration20261125350000_sis_import extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table sis_import (
        id uuid primary key,
        tenant_id uuid not null references tenant (id) on delete cascade,
        source text not null check (length(source) between 1 and 500),
        actor text not null check (length(actor) between 1 and 200),
        started_at timestamptz(3) not null,
        finished_at timestamptz(3) not null,
        counts jsonb not null,
        rows_with_errors int not null default 0 check (rows_with_errors >= 0),
        unique (tenant_id, id)
      );
      create index sis_import_tenant_idx on sis_import (tenant_id, started_at desc);

      create table sis_record (
        tenant_id uuid not null references tenant (id) on delete cascade,
        kind text not null check (kind in ('org', 'user', 'course', 'class', 'enrollment')),
        sourced_id text not null check (length(sourced_id) between 1 and 255),
        target_id uuid,
        status text not null check (status in ('active', 'tobedeleted')),
        import_id uuid not null,
        file text not null check (length(file) between 1 and 100),
        line int not null check (line >= 1),
        updated_at timestamptz(3) not null default now(),
        primary key (tenant_id, kind, sourced_id),
        foreign key (tenant_id, import_id) references sis_import (tenant_id, id)
      );
      create index sis_record_target_idx on sis_record (tenant_id, target_id) where target_id is not null;
    `);
    this.addSql(isolateByTenant('sis_import'));
    this.addSql(isolateByTenant('sis_record'));
    this.addSql(grantToApp('select, insert on sis_import', 'select, insert, update, delete on sis_record'));
  }

  override async down(): Promise<void> {
    this.addSql('drop table sis_record; drop table sis_import;');
  }
}
