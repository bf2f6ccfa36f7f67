import { Migration } from '@mikro-orm/migrations';
import { grantToApp, isolateByTenant } from './support';

/**
 * Data-subject requests and the background jobs that carry them out.
 *
 * - privacy_settings: one row per tenant that changed a default (response window, auto-approval,
 *   erasure grace, export link lifetime, whether accessors are named in exports). No row: defaults.
 * - data_subject_request: a person's request and everything about its handling. At most one open
 *   request per (tenant, subject, type), enforced by a partial unique index.
 * - job: a PostgreSQL job queue claimed with FOR UPDATE SKIP LOCKED under a lease, so several
 *   instances can run workers; a job is enqueued in the same transaction as the change that needs it.
 */
export class Migration20261125000000_data_subject_requests extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table privacy_settings (
        tenant_id uuid primary key references tenant (id),
        response_window_days integer not null default 30 check (response_window_days between 1 and 45),
        auto_approve text[] not null default '{}'
          check (auto_approve <@ array['ACCESS', 'RECTIFICATION', 'ERASURE', 'RESTRICTION']::text[]),
        erasure_grace_days integer not null default 30 check (erasure_grace_days between 0 and 180),
        export_link_days integer not null default 7 check (export_link_days between 1 and 30),
        show_accessor_names boolean not null default false,
        updated_at timestamptz(3) not null default now()
      );

      create table data_subject_request (
        id uuid primary key,
        tenant_id uuid not null references tenant (id),
        -- No foreign key: the request outlives the account it concerns (erasure deletes the person's key, and
        -- the request is the record that the erasure was asked for and done).
        subject_id uuid not null,
        type text not null check (type in ('ACCESS', 'RECTIFICATION', 'ERASURE', 'RESTRICTION')),
        status text not null check (status in ('SUBMITTED', 'APPROVED', 'REJECTED', 'IN_PROGRESS', 'COMPLETED', 'CANCELLED', 'FAILED', 'EXPIRED')),
        filed_by uuid,
        filed_on_behalf boolean not null default false,
        note text check (length(note) <= 2000),
        -- RECTIFICATION: [{field, before, after}] (before filled in when applied). Kept here, never in the log.
        changes jsonb,
        filed_at timestamptz(3) not null,
        due_at timestamptz(3) not null,
        extended_at timestamptz(3),
        extension_days integer check (extension_days between 1 and 60),
        extension_reason text check (length(extension_reason) <= 2000),
        decided_at timestamptz(3),
        decided_by uuid,
        rejection_reason text check (length(rejection_reason) <= 2000),
        started_at timestamptz(3),
        completed_at timestamptz(3),
        cancelled_at timestamptz(3),
        failed_at timestamptz(3),
        failure text,
        attempts integer not null default 0,
        -- Each status change: [{status, at, by}] with by in SUBJECT, ADMIN, SYSTEM.
        history jsonb not null default '[]',
        updated_at timestamptz(3) not null,
        check (status <> 'REJECTED' or rejection_reason is not null),
        check ((extended_at is null) = (extension_days is null) and (extended_at is null) = (extension_reason is null))
      );
      create unique index data_subject_request_one_open on data_subject_request (tenant_id, subject_id, type)
        where status in ('SUBMITTED', 'APPROVED', 'IN_PROGRESS', 'FAILED');
      create index data_subject_request_subject_idx on data_subject_request (tenant_id, subject_id, filed_at desc);
      create index data_subject_request_status_idx on data_subject_request (tenant_id, status, due_at);

      create table job (
        id uuid primary key,
        tenant_id uuid not null references tenant (id),
        kind text not null check (kind ~ '^[a-z]+(\\.[a-z_]+)+$'),
        payload jsonb not null default '{}',
        -- Enqueueing the same work twice while it is pending is a no-op.
        dedupe_key text,
        run_at timestamptz(3) not null default now(),
        attempts integer not null default 0,
        max_attempts integer not null default 8 check (max_attempts between 1 and 100),
        locked_by text,
        locked_until timestamptz(3),
        last_error text,
        finished_at timestamptz(3),
        outcome text check (outcome in ('DONE', 'DEAD')),
        created_at timestamptz(3) not null default now(),
        check ((finished_at is null) = (outcome is null))
      );
      create unique index job_pending_dedupe on job (dedupe_key) where finished_at is null and dedupe_key is not null;
      create index job_due_idx on job (run_at) where finished_at is null;
    `);
    for (const table of ['privacy_settings', 'data_subject_request', 'job']) this.addSql(isolateByTenant(table));
    // Requests enqueue work; handlers mark their job done in their own transaction. Claiming across tenants is the owner's.
    this.addSql(grantToApp('select, insert, update on privacy_settings, data_subject_request', 'select, insert, update on job'));
  }

  override async down(): Promise<void> {
    this.addSql('drop table job, data_subject_request, privacy_settings;');
  }
}
