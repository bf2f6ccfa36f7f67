import { randomBytes } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';

/**
 * The application connects as `<database>_app` (created by the access-control migration): a role that
 * owns nothing and has neither superuser nor BYPASSRLS, so row-level security binds every statement it
 * runs. Migrations, the CLI and system jobs use the owner's connection.
 *
 * Without CUSTOS_APP_DATABASE_URL, Custos manages that role itself: it gives it a random password on
 * first start and keeps the password in `custos_app_login`, which only the owner can read, so every
 * instance sharing the database connects the same way.
 */
export async function managedApplicationUrl(owner: MikroORM, ownerUrl: string): Promise<string> {
  const { role, password } = await owner.em.fork().transactional(async (em) => {
    // One instance at a time: two first starts must not hand out two passwords.
    await em.execute('lock table custos_app_login in exclusive mode');
    const [{ role }] = await em.execute<{ role: string }[]>('select custos_app_role() as role');
    const [stored] = await em.execute<{ password: string }[]>('select password from custos_app_login where role_name = ?', [role]);
    const [{ can_login }] = await em.execute<{ can_login: boolean }[]>('select rolcanlogin as can_login from pg_roles where rolname = ?', [role]);
    if (stored && can_login) return { role, password: stored.password };
    const password = stored?.password ?? randomBytes(24).toString('base64url');
    const [{ stmt }] = await em.execute<{ stmt: string }[]>("select format('alter role %I with login password %L', ?::text, ?::text) as stmt", [role, password]);
    await em.execute(stmt);
    if (!stored) await em.execute('insert into custos_app_login (role_name, password) values (?, ?)', [role, password]);
    return { role, password };
  });
  const url = new URL(ownerUrl);
  url.username = encodeURIComponent(role);
  url.password = encodeURIComponent(password);
  return url.toString();
}

/**
 * Refuses to serve through a connection that row-level security would not bind: a superuser, a role
 * with BYPASSRLS, or the owner of the tables.
 */
export async function assertBoundByRowSecurity(app: MikroORM): Promise<void> {
  const [row] = await app.em.fork().getConnection().execute<{ name: string; super: boolean; bypass: boolean; owns: string }[]>(
    `select r.rolname as name, r.rolsuper as super, r.rolbypassrls as bypass,
            (select count(*) from pg_tables t where t.schemaname = 'public' and t.tableowner = r.rolname) as owns
       from pg_roles r where r.rolname = current_user`,
  );
  const problem = row.super ? 'is a superuser' : row.bypass ? 'has BYPASSRLS' : Number(row.owns) > 0 ? 'owns the tables' : null;
  if (problem) {
    throw new Error(`The application's database role "${row.name}" ${problem}, so row-level security would not bind it. ` +
      'Unset CUSTOS_APP_DATABASE_URL to let Custos manage its application role, or point it at a role without those rights.');
  }
}
