import { Migration } from '@mikro-orm/migrations';
import { grantToApp, isolateByTenant } from './support';
import { actorSelect, summarySelect } from '../src/modules/report/rollup';

/**
 * Audit reports over the access log, fast at millions of events.
 *
 * - report_daily_access: per tenant and UTC day, the events by access kind, actor role (or actor kind
 *   when no member acted), purpose and category touched ('' for an event that touched no one), with
 *   the number of (event, subject) pairs. The access summary reads it.
 * - report_daily_actor: per tenant and UTC day, who did what for the three reports that name actors or
 *   recipients: DENIED (every denial), PRIVILEGED (administrators' reads of students, counted over the
 *   student subjects only) and DISCLOSED (data sent to a recipient, by recipient and category).
 * Both are written by the sealer, in the transaction that seals the events they count: an event is
 * counted in them exactly when it is sealed (txid below audit_seal_state.sealed_below). Reports add
 * the events not sealed yet, and the partial days at the ends of a range, from the log itself.
 * Derived data: rebuildable from the log, never evidence; the application only reads them.
 *
 * - audit_verification: the outcome of each `custos audit verify` run, per tenant verified, so the
 *   chain status report can say when the log was last verified and what was found. Append-only.
 *
 * The application role may read the seal watermark (one transaction id, no tenant data): reports
 * need it to know which events the rollups already count.
 */
export class Migration20261125600000_reports extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table report_daily_access (
        tenant_id uuid not null references tenant (id),
        day date not null,
        access_kind text not null check (access_kind in ('READ', 'WRITE', 'DISCLOSE', 'DENY')),
        role text not null,
        purpose text not null,
        category text not null,
        events bigint not null check (events >= 0),
        subjects bigint not null check (subjects >= 0),
        primary key (tenant_id, day, role, purpose, category, access_kind)
      );

      create table report_daily_actor (
        tenant_id uuid not null references tenant (id),
        report text not null check (report in ('DENIED', 'PRIVILEGED', 'DISCLOSED')),
        day date not null,
        role text not null,
        actor_kind text not null,
        actor_pseudonym uuid,
        credential_id text,
        root_field text not null,
        purpose text not null,
        category text not null,
        recipient text not null,
        events bigint not null check (events >= 0),
        subjects bigint not null check (subjects >= 0),
        first_at timestamptz(3) not null,
        last_at timestamptz(3) not null,
        constraint report_daily_actor_key unique nulls not distinct
          (tenant_id, report, day, role, actor_kind, actor_pseudonym, credential_id, root_field, purpose, category, recipient)
      );

      create table audit_verification (
        id uuid primary key default gen_random_uuid(),
        tenant_id uuid not null references tenant (id),
        verified_at timestamptz(3) not null,
        ok boolean not null,
        root_cause text,
        failures integer not null check (failures >= 0),
        tree_size bigint not null check (tree_size >= 0),
        checkpoints integer not null check (checkpoints >= 0),
        trusted_keys text[] not null,
        check (ok = (root_cause is null))
      );
      create index audit_verification_tenant_idx on audit_verification (tenant_id, verified_at desc, id);
      create trigger audit_verification_append_only before update or delete on audit_verification
        for each row execute function custos_reject_log_change();
      create trigger audit_verification_no_truncate before truncate on audit_verification
        for each statement execute function custos_reject_log_change();

      -- Denials are few among millions of events: the unsealed tail and partial days find them by index.
      create index access_event_deny_idx on access_event (tenant_id, occurred_at) where access_kind = 'DENY';
    `);
    // What is sealed already is counted now; the sealer counts the rest as it seals it.
    const sealed = 'e.txid < (select sealed_below from audit_seal_state)';
    this.addSql(`insert into report_daily_access (tenant_id, day, access_kind, role, purpose, category, events, subjects) ${summarySelect(sealed)};`);
    for (const report of ['DENIED', 'PRIVILEGED', 'DISCLOSED'] as const) {
      this.addSql(`insert into report_daily_actor (tenant_id, report, day, role, actor_kind, actor_pseudonym, credential_id, root_field,
        purpose, category, recipient, events, subjects, first_at, last_at) ${actorSelect(report, sealed)};`);
    }
    this.addSql(isolateByTenant('report_daily_access'));
    this.addSql(isolateByTenant('report_daily_actor'));
    this.addSql(isolateByTenant('audit_verification'));
    this.addSql(grantToApp('select on report_daily_access, report_daily_actor, audit_verification, audit_seal_state'));
  }

  override async down(): Promise<void> {
    this.addSql(`
      drop index access_event_deny_idx;
      drop table audit_verification, report_daily_actor, report_daily_access;
      do $$
      declare r name := custos_app_role();
      begin
        execute format('revoke select on audit_seal_state from %I', r);
      end $$;
    `);
  }
}
