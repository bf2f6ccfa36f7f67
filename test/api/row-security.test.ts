import pino from 'pino';
import type { ApolloServerPlugin } from '@apollo/server';
import type { EntityManager } from '@mikro-orm/postgresql';
import { codes, createTestDatabase, startTestApp, type TestApp } from '../support/harness';
import { seedTenant, sql, type Member, type SeededTenant } from '../support/seed';
import type { RequestContext } from '../../src/server/context';
import { connectDatabase } from '../../src/db/database';
import { loadConfig } from '../../src/config/config';
import { hashSecret } from '../../src/modules/token/token.secret';
import { bindTenant } from '../../src/server/transaction-plugin';

const TENANT_TABLES = ['app_user', 'course', 'enrollment', 'post', 'comment', 'reaction', 'api_token'];

/**
 * Tenant isolation inside PostgreSQL: whatever SQL the application runs, and however it forgets its
 * filters, the rows of another tenant are not there for it.
 */
describe('row-level security', () => {
  let app: TestApp;
  let north: SeededTenant;
  let south: SeededTenant;
  let northAdmin: Member;
  /** What the deliberately unscoped statements saw inside the last request, per table. */
  let seen: Record<string, string[]> = {};
  let probe: Promise<void> | null = null;

  /** Runs `select tenant_id from <table>` (no WHERE) on the request's own transaction while it executes. */
  const unscopedProbe: ApolloServerPlugin<RequestContext> = {
    async requestDidStart() {
      return {
        async executionDidStart() {
          return {
            willResolveField({ contextValue, info }) {
              if (info.path.prev !== undefined || probe) return;
              const em: EntityManager = contextValue.em;
              // One statement, sent while the request executes (before its commit), without any WHERE.
              const union = [...TENANT_TABLES.map((t) => `select '${t}' as t, tenant_id from ${t}`), "select 'tenant', id from tenant"].join(' union all ');
              probe = em.execute<{ t: string; tenant_id: string }[]>(union).then((rows) => {
                seen = {};
                for (const r of rows) (seen[r.t] ??= []).push(r.tenant_id);
              });
            },
          };
        },
      };
    },
  };

  beforeAll(async () => {
    app = await startTestApp({}, { plugins: [unscopedProbe] });
    north = await seedTenant(app.orm, 'North');
    south = await seedTenant(app.orm, 'South');
    for (const school of [north, south]) {
      const admin = await school.admin();
      const teacher = await school.instructor();
      const pupil = await school.student();
      const course = await school.course();
      await school.enroll(course, teacher);
      await school.enroll(course, pupil);
      const [post] = await school.posts(course, pupil, 2);
      await school.comment(post, teacher);
      await school.react(post, teacher);
      if (school === north) northAdmin = admin;
    }
  });
  afterAll(() => app.close());

  it('an unscoped raw query inside a request of one tenant sees none of another tenant\'s rows', async () => {
    probe = null;
    const res = await app.gql('{ viewer { kind } }', {}, northAdmin.token);
    expect(res.errors).toBeUndefined();
    await probe;
    for (const table of TENANT_TABLES) {
      const [{ n }] = await sql<{ n: string }>(app.orm, `select count(*) as n from ${table} where tenant_id = ?`, [north.tenant.id]);
      expect({ table, tenants: [...new Set(seen[table])] }).toEqual({ table, tenants: [north.tenant.id] });
      expect(seen[table]).toHaveLength(Number(n)); // all of North's rows, so the probe really ran unfiltered
    }
    expect(seen.tenant).toEqual([north.tenant.id]);
  });

  describe('the application role', () => {
    let appEm: () => EntityManager;
    beforeAll(() => {
      appEm = () => app.appOrm.em.fork() as EntityManager;
    });

    /** Runs statements as the application role in one transaction bound to a tenant (as a request is). */
    async function asTenant<T>(tenantId: string | null, work: (em: EntityManager) => Promise<T>): Promise<T> {
      return appEm().transactional(async (em) => {
        if (tenantId) await bindTenant(em, tenantId);
        return work(em);
      });
    }

    it('sees no rows at all outside a request (no tenant bound)', async () => {
      for (const table of [...TENANT_TABLES, 'tenant']) {
        const rows = await asTenant(null, (em) => em.execute(`select * from ${table}`));
        expect({ table, rows: rows.length }).toEqual({ table, rows: 0 });
      }
    });

    it('cannot write a row into another tenant, nor change or delete one', async () => {
      await expect(asTenant(north.tenant.id, (em) => em.execute(
        "insert into course (tenant_id, code, title) values (?, 'EVIL-1', 'Planted')", [south.tenant.id],
      ))).rejects.toThrow(/row-level security/);
      const changed = await asTenant(north.tenant.id, (em) => em.execute<{ affectedRows: number }>(
        "update app_user set display_name = 'Pwned' where tenant_id = ?", [south.tenant.id], 'run'));
      const deleted = await asTenant(north.tenant.id, (em) => em.execute<{ affectedRows: number }>(
        'delete from post where tenant_id = ?', [south.tenant.id], 'run'));
      expect([changed.affectedRows, deleted.affectedRows]).toEqual([0, 0]);
      expect(await sql(app.orm, "select 1 from app_user where display_name = 'Pwned'")).toEqual([]);
      expect(await sql(app.orm, "select 1 from course where code = 'EVIL-1'")).toEqual([]);
    });

    it('cannot switch the policies off, become another role, or read the role secrets', async () => {
      const attempts: [string, RegExp][] = [
        ['alter table app_user disable row level security', /must be owner/],
        ['alter table app_user no force row level security', /must be owner/],
        ['drop policy tenant_isolation on app_user', /must be owner/],
        ['set role postgres', /permission denied/],
        ['select * from custos_app_login', /permission denied/],
        ['truncate post', /permission denied/],
        ['delete from api_token', /permission denied/],
        ['create table planted (id int)', /permission denied/],
      ];
      for (const [statement, error] of attempts) {
        await expect(asTenant(north.tenant.id, (em) => em.execute(statement))).rejects.toThrow(error);
      }
      const [role] = await asTenant(null, (em) => em.execute<{ rolsuper: boolean; rolbypassrls: boolean }[]>(
        'select rolsuper, rolbypassrls from pg_roles where rolname = current_user'));
      expect(role).toEqual({ rolsuper: false, rolbypassrls: false });
    });

    it('resolves a token across tenants only through the definer function', async () => {
      const [direct] = await asTenant(null, (em) => em.execute<{ n: string }[]>('select count(*) as n from api_token where token_hash = ?', [hashSecret(northAdmin.token)]));
      expect(Number(direct.n)).toBe(0);
      const [resolved] = await asTenant(null, (em) => em.execute<{ tenant_id: string }[]>('select * from custos_resolve_token(?)', [hashSecret(northAdmin.token)]));
      expect(resolved.tenant_id).toBe(north.tenant.id);
    });
  });

  it('the server refuses to serve through a role that row-level security would not bind', async () => {
    const db = await createTestDatabase();
    try {
      // The owner's own URL as the application's: it is a superuser here, and owns the tables.
      const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: db.url, CUSTOS_APP_DATABASE_URL: db.url });
      await expect(connectDatabase(db.url, config, pino({ level: 'silent' }))).rejects.toThrow(/row-level security would not bind/);
    } finally {
      await db.drop();
    }
  });

  it('a request still gets its own tenant\'s answer with the policies in force', async () => {
    const res = await app.gql<{ users: { edges: { node: { id: string } }[] } }, object>('{ users(first: 50) { edges { node { id } } } }', {}, northAdmin.token);
    expect(codes(res)).toEqual([]);
    const northIds = (await sql<{ id: string }>(app.orm, 'select id from app_user where tenant_id = ?', [north.tenant.id])).map((r) => r.id).sort();
    expect(res.data!.users.edges.map((e) => e.node.id).sort()).toEqual(northIds);
  });
});

