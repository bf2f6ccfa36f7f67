import { Migration } from '@mikro-orm/migrations';
import { grantToApp, isolateByTenant } from './support';

/**
 * Personal-data breaches (GDPR Art. 33, 34), kept on record for good (Art. 33(5)).
 *
 * - incident: what an administrator opened — detection time, description, the suspect (a credential
 *   id as the access log records it, or a member's pseudonym), the window of events to look at — and
 *   how it was handled: the 72-hour deadline for telling the supervisory authority, a recorded reason
 *   for a delay, revocation of the suspect's credentials, closing. Its impact is not stored: it is
 *   computed from the access log, which cannot change.
 *   The suspect member is kept as their pseudonym, never their user id: erasing them deletes the only
 *   link (subject_key), and the incident still finds the events they made.
 * - incident_notification: each time the authority or the affected people were told (who, when, how),
 *   several when a notification is given in phases (Art. 33(4)).
 * Neither may be deleted or truncated (triggers, and no DELETE grant); notifications cannot be changed.
 *
 * The impact is read through access_event_credential_idx and access_event_actor_idx (tenant, suspect,
 * time), both created with the access log, and access_event_subject_event_idx: no index is added here.
 */
export class Migration20261125700000_incidents extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table incident (
        id uuid primary key,
        tenant_id uuid not null references tenant (id),
        description text not null check (length(description) between 1 and 4000),
        detected_at timestamptz(3) not null,
        -- Art. 33(1): without undue delay and, where feasible, not later than 72 hours after becoming aware.
        authority_due_at timestamptz(3) not null,
        suspect_credential_id text check (length(suspect_credential_id) between 1 and 64),
        suspect_pseudonym uuid,
        window_from timestamptz(3) not null,
        window_until timestamptz(3) not null,
        status text not null check (status in ('OPEN', 'CLOSED')),
        opened_at timestamptz(3) not null,
        opened_by uuid,
        -- The first notification of the authority (incident_notification has them all).
        authority_notified_at timestamptz(3),
        delay_reason text check (length(delay_reason) between 1 and 4000),
        delay_recorded_at timestamptz(3),
        credential_revoked_at timestamptz(3),
        revoked_token_count integer check (revoked_token_count >= 0),
        closed_at timestamptz(3),
        closing_summary text check (length(closing_summary) between 1 and 4000),
        -- Every change: [{action, at, by}], by = the administrator's user id.
        history jsonb not null default '[]',
        updated_at timestamptz(3) not null,
        check ((suspect_credential_id is null) <> (suspect_pseudonym is null)),
        check (window_from < window_until),
        check ((delay_reason is null) = (delay_recorded_at is null)),
        check ((credential_revoked_at is null) = (revoked_token_count is null)),
        check ((status = 'CLOSED') = (closed_at is not null) and (closed_at is null) = (closing_summary is null))
      );
      create index incident_tenant_opened_idx on incident (tenant_id, opened_at desc, id desc);

      create table incident_notification (
        id uuid primary key,
        tenant_id uuid not null references tenant (id),
        incident_id uuid not null references incident (id),
        kind text not null check (kind in ('AUTHORITY', 'SUBJECTS')),
        notified_at timestamptz(3) not null,
        -- AUTHORITY: which authority was told; SUBJECTS: who was addressed (e.g. "all affected students").
        recipient text not null check (length(recipient) between 1 and 200),
        method text not null check (length(method) between 1 and 200),
        reference text check (length(reference) between 1 and 200),
        subject_count integer check (subject_count >= 0),
        recorded_by uuid,
        recorded_at timestamptz(3) not null,
        check ((kind = 'SUBJECTS') = (subject_count is not null))
      );
      create index incident_notification_incident_idx on incident_notification (tenant_id, incident_id, notified_at);

      create function custos_keep_incident_record() returns trigger language plpgsql as $$
      begin
        raise exception 'incidents are kept on record (GDPR Art. 33(5)): % on % is not allowed', tg_op, tg_table_name
          using errcode = 'insufficient_privilege';
      end $$;
      create trigger incident_no_delete before delete on incident for each row execute function custos_keep_incident_record();
      create trigger incident_no_truncate before truncate on incident for each statement execute function custos_keep_incident_record();
      create trigger incident_notification_append_only before update or delete on incident_notification
        for each row execute function custos_keep_incident_record();
      create trigger incident_notification_no_truncate before truncate on incident_notification
        for each statement execute function custos_keep_incident_record();

      ${isolateByTenant('incident')}
      ${isolateByTenant('incident_notification')}
      ${grantToApp('select, insert, update on incident', 'select, insert on incident_notification')}
    `);
  }

  override async down(): Promise<void> {
    this.addSql(`
      drop table incident_notification;
      drop table incident;
      drop function custos_keep_incident_record();
    `);
  }
}
