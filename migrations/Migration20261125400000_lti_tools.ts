import { Migration } from '@mikro-orm/migrations';
import { grantToApp, isolateByTenant } from './support';

/**
 * Third-party tools (LTI 1.3 style) and the Art. 19 notices they are owed.
 *
 * - lti_tool: a tool an administrator registered, with its privacy level (which personal claims a launch
 *   may carry) and a per-tool secret from which each person's opaque `sub` for that tool is derived
 *   (HMAC), so one person's ids at two tools cannot be linked. Tools are disabled, never deleted: the
 *   access log names them as recipients (resource `LtiTool:<id>`) and exports name them from here.
 * - lti_tool_course: where a tool is placed; its id is the `resource_link` id of launches there.
 * - recipient_notice gains tool recipients (tool_id instead of a credential) and delivery to a tool's
 *   notification URL: status, attempts, last HTTP status and error. Manual notices keep delivery null.
 */
export class Migration20261125400000_lti_tools extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table lti_tool (
        id uuid primary key,
        tenant_id uuid not null references tenant (id),
        name text not null check (length(name) between 1 and 100),
        client_id text not null check (length(client_id) between 1 and 255),
        launch_url text not null check (length(launch_url) <= 2000),
        notification_url text check (length(notification_url) <= 2000),
        privacy_level text not null check (privacy_level in ('ANONYMOUS', 'NAME_ONLY', 'EMAIL_ONLY', 'PUBLIC')),
        sub_secret bytea not null check (length(sub_secret) = 32),
        enabled boolean not null default true,
        created_at timestamptz(3) not null default now(),
        updated_at timestamptz(3) not null default now(),
        unique (tenant_id, client_id),
        unique (tenant_id, name)
      );

      create table lti_tool_course (
        id uuid primary key,
        tenant_id uuid not null references tenant (id),
        tool_id uuid not null references lti_tool (id),
        course_id uuid not null references course (id),
        created_at timestamptz(3) not null default now(),
        unique (tool_id, course_id)
      );
      create index lti_tool_course_course_idx on lti_tool_course (tenant_id, course_id);

      alter table recipient_notice
        alter column credential_id drop not null,
        add column tool_id uuid references lti_tool (id),
        add column delivery text check (delivery in ('PENDING', 'DELIVERED', 'FAILED')),
        add column delivery_attempts integer not null default 0 check (delivery_attempts >= 0),
        add column last_attempt_at timestamptz(3),
        add column last_http_status integer,
        add column last_error text check (length(last_error) <= 500),
        add constraint recipient_notice_one_recipient check (num_nonnulls(credential_id, tool_id) = 1),
        add constraint recipient_notice_delivery_to_tools check (delivery is null or tool_id is not null),
        add constraint recipient_notice_request_id_tool_id_key unique (request_id, tool_id);
    `);
    for (const table of ['lti_tool', 'lti_tool_course']) this.addSql(isolateByTenant(table));
    this.addSql(grantToApp('select, insert, update on lti_tool', 'select, insert, delete on lti_tool_course'));
  }

  override async down(): Promise<void> {
    this.addSql(`
      delete from recipient_notice where tool_id is not null;
      alter table recipient_notice
        drop constraint recipient_notice_request_id_tool_id_key,
        drop constraint recipient_notice_delivery_to_tools,
        drop constraint recipient_notice_one_recipient,
        drop column last_error, drop column last_http_status, drop column last_attempt_at, drop column delivery_attempts,
        drop column delivery, drop column tool_id,
        alter column credential_id set not null;
      drop table lti_tool_course, lti_tool;
    `);
  }
}
