import { Migration } from '@mikro-orm/migrations';

/**
 * Tenants, members, courses, enrollments, course content and bearer tokens.
 *
 * Every tenant-owned table carries tenant_id, and every reference between tenant-owned rows is a
 * composite foreign key (tenant_id, id): the database itself refuses a row that points into another
 * tenant, whatever the application does.
 */
export class Migration20261122000000_foundation extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create type user_role as enum ('ADMIN', 'INSTRUCTOR', 'STUDENT');
      create type user_status as enum ('ACTIVE', 'DEACTIVATED');
      create type record_source as enum ('MANUAL', 'SIS_IMPORT');
      create type course_status as enum ('ACTIVE', 'ARCHIVED');
      create type course_role as enum ('INSTRUCTOR', 'STUDENT');
      create type reaction_kind as enum ('LIKE', 'CELEBRATE', 'INSIGHTFUL', 'SUPPORT', 'CURIOUS');
      create type token_kind as enum ('USER');

      create table tenant (
        id uuid primary key default gen_random_uuid(),
        name text not null check (length(name) between 1 and 200),
        slug text not null unique check (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
        created_at timestamptz(3) not null default now()
      );

      create table app_user (
        id uuid primary key default gen_random_uuid(),
        tenant_id uuid not null references tenant (id) on delete cascade,
        email text not null check (email = lower(email) and length(email) between 3 and 254),
        given_name text not null check (length(given_name) between 1 and 100),
        family_name text not null check (length(family_name) between 1 and 100),
        display_name text not null check (length(display_name) between 1 and 100),
        student_number text check (length(student_number) between 1 and 64),
        avatar_url text check (length(avatar_url) <= 2048),
        role user_role not null,
        status user_status not null default 'ACTIVE',
        source record_source not null default 'MANUAL',
        created_at timestamptz(3) not null default now(),
        updated_at timestamptz(3) not null default now(),
        deactivated_at timestamptz(3),
        unique (tenant_id, id),
        unique (tenant_id, email),
        unique (tenant_id, student_number)
      );
      create index app_user_tenant_name_idx on app_user (tenant_id, family_name, given_name, id);
      create index app_user_tenant_role_idx on app_user (tenant_id, role);

      create table course (
        id uuid primary key default gen_random_uuid(),
        tenant_id uuid not null references tenant (id) on delete cascade,
        code text not null check (length(code) between 1 and 64),
        title text not null check (length(title) between 1 and 200),
        description text check (length(description) <= 10000),
        status course_status not null default 'ACTIVE',
        created_at timestamptz(3) not null default now(),
        updated_at timestamptz(3) not null default now(),
        archived_at timestamptz(3),
        unique (tenant_id, id),
        unique (tenant_id, code)
      );

      create table enrollment (
        id uuid primary key default gen_random_uuid(),
        tenant_id uuid not null,
        course_id uuid not null,
        user_id uuid not null,
        role course_role not null,
        final_grade text check (length(final_grade) between 1 and 16),
        graded_at timestamptz(3),
        created_at timestamptz(3) not null default now(),
        foreign key (tenant_id, course_id) references course (tenant_id, id) on delete cascade,
        foreign key (tenant_id, user_id) references app_user (tenant_id, id) on delete cascade,
        unique (course_id, user_id)
      );
      create index enrollment_user_idx on enrollment (user_id);

      create table post (
        id uuid primary key default gen_random_uuid(),
        tenant_id uuid not null,
        course_id uuid not null,
        author_id uuid not null,
        body text not null check (length(body) between 1 and 20000),
        created_at timestamptz(3) not null default now(),
        edited_at timestamptz(3),
        unique (tenant_id, id),
        foreign key (tenant_id, course_id) references course (tenant_id, id) on delete cascade,
        foreign key (tenant_id, author_id) references app_user (tenant_id, id) on delete cascade
      );
      create index post_course_feed_idx on post (course_id, created_at desc, id desc);
      create index post_course_author_idx on post (course_id, author_id, created_at desc, id desc);
      create index post_author_idx on post (author_id);

      create table comment (
        id uuid primary key default gen_random_uuid(),
        tenant_id uuid not null,
        post_id uuid not null,
        author_id uuid not null,
        body text not null check (length(body) between 1 and 5000),
        created_at timestamptz(3) not null default now(),
        edited_at timestamptz(3),
        foreign key (tenant_id, post_id) references post (tenant_id, id) on delete cascade,
        foreign key (tenant_id, author_id) references app_user (tenant_id, id) on delete cascade
      );
      create index comment_post_idx on comment (post_id, created_at, id);
      create index comment_author_idx on comment (author_id);

      create table reaction (
        id uuid primary key default gen_random_uuid(),
        tenant_id uuid not null,
        post_id uuid not null,
        user_id uuid not null,
        kind reaction_kind not null,
        created_at timestamptz(3) not null default now(),
        foreign key (tenant_id, post_id) references post (tenant_id, id) on delete cascade,
        foreign key (tenant_id, user_id) references app_user (tenant_id, id) on delete cascade,
        unique (post_id, user_id, kind)
      );
      create index reaction_user_idx on reaction (user_id);

      create table api_token (
        id uuid primary key default gen_random_uuid(),
        tenant_id uuid not null references tenant (id) on delete cascade,
        user_id uuid,
        kind token_kind not null default 'USER',
        label text not null check (length(label) between 1 and 100),
        token_hash text not null unique check (token_hash ~ '^[0-9a-f]{64}$'),
        prefix text not null,
        created_at timestamptz(3) not null default now(),
        expires_at timestamptz(3) not null,
        revoked_at timestamptz(3),
        last_used_at timestamptz(3),
        foreign key (tenant_id, user_id) references app_user (tenant_id, id) on delete cascade,
        check (kind <> 'USER' or user_id is not null)
      );
      create index api_token_user_idx on api_token (user_id);
    `);
  }

  override async down(): Promise<void> {
    this.addSql(`
      drop table if exists api_token, reaction, comment, post, enrollment, course, app_user, tenant cascade;
      drop type if exists token_kind, reaction_kind, course_role, course_status, record_source, user_status, user_role;
    `);
  }
}
