// The `custos` command line, run as a real child process (`node bin/custos.js`) against a database of
// its own. Needs the build: `npm run build` (npm test runs it in pretest).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { MikroORM } from '@mikro-orm/postgresql';
import { createTestDatabase } from '../support/harness';
import { openOrm } from '../../src/db/orm';
import { migrationsList } from '../../migrations';
import { authenticate } from '../../src/auth/authenticate';

const ROOT = path.resolve(__dirname, '../..');
// Each case starts real `node` processes (a second or more each on a busy machine); some tests run a dozen.
jest.setTimeout(240_000);
const BIN = path.join(ROOT, 'bin/custos.js');
const TOKEN = /cst_[A-Za-z0-9_-]{43}/;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let orm: MikroORM;
let dataDir: string;

/** Runs `custos ...` with a clean environment pointing at this file's database. */
function custos(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      {
        cwd: ROOT,
        timeout: 30_000,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'test', DATABASE_URL: db.url, CUSTOS_DATA_DIR: dataDir, ...env },
      },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: unknown }).code as number | null) : 0;
        resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
      },
    );
  });
}

/** Runs a command with --json and parses stdout (one JSON object). */
async function custosJson<T = Record<string, any>>(args: string[], env: Record<string, string> = {}): Promise<{ run: Run; out: T }> {
  const run = await custos([...args, '--json'], env);
  const lines = run.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  return { run, out: JSON.parse(lines[0]) as T };
}

async function count(sql: string, params: unknown[] = []): Promise<number> {
  const [{ n }] = await orm.em.fork().getConnection().execute<{ n: string }[]>(`select count(*) as n from ${sql}`, params);
  return Number(n);
}

const principalOf = (token: string) => authenticate(orm.em.fork(), `Bearer ${token}`);

/** A token as `--json` prints it (see TokenView). */
interface TokenJson { id: string; kind: string; scopes: string[]; email: string | null }

/** Expected failures are one clear line: no stack trace. */
function expectCleanFailure(run: Run, code: number, message: RegExp) {
  expect(run.code).toBe(code);
  expect(run.stderr).toMatch(message);
  expect(run.stderr).not.toMatch(/\n\s+at /);
}

beforeAll(async () => {
  if (!existsSync(path.join(ROOT, 'dist/src/cli/index.js'))) throw new Error('Build first: npm run build');
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'custos-cli-test-'));
  db = await createTestDatabase();
  orm = await openOrm({ clientUrl: db.url, poolMax: 2, logger: pino({ level: 'silent' }) });
});

afterAll(async () => {
  await orm?.close(true);
  await db?.drop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test('migrate applies the migrations, then reports the database up to date', async () => {
  const first = await custos(['migrate']);
  expect(first.code).toBe(0);
  expect(first.stdout).toMatch(new RegExp(`Applied ${migrationsList.length} migrations`));
  for (const m of migrationsList) expect(first.stdout).toContain(m.name);

  const again = await custos(['migrate']);
  expect(again.code).toBe(0);
  expect(again.stdout).toMatch(/up to date/);

  const { run, out } = await custosJson(['migrate']);
  expect(run.code).toBe(0);
  expect(out).toMatchObject({ applied: [], upToDate: true });
});

test('bootstrap creates the tenant, its admin and a token that authenticates', async () => {
  const { run, out } = await custosJson(['bootstrap', '--tenant', 'Northfield College', '--admin-email', 'Ada@North.example',
    '--admin-given-name', 'Ada', '--admin-family-name', 'Lovelace']);
  expect(run.code).toBe(0);
  expect(out.tenant).toMatchObject({ name: 'Northfield College', slug: 'northfield-college' });
  expect(out.admin).toMatchObject({ email: 'ada@north.example', givenName: 'Ada', familyName: 'Lovelace', role: 'ADMIN' });
  expect(out.secret).toMatch(TOKEN);
  expect(out.token.prefix).toBe(out.secret.slice(0, 10));
  await expect(principalOf(out.secret)).resolves.toMatchObject({ tenantId: out.tenant.id, userId: out.admin.id, role: 'ADMIN' });

  // Text output: the token once, with the warning; default names derived from the tenant.
  const text = await custos(['bootstrap', '--tenant', 'Southbank Academy', '--slug', 'southbank', '--admin-email', 'head@south.example']);
  expect(text.code).toBe(0);
  expect(text.stdout).toMatch(/only time the token is shown/);
  const secret = text.stdout.match(TOKEN)![0];
  expect(await principalOf(secret)).toMatchObject({ kind: 'USER', role: 'ADMIN' });
  const [admin] = await orm.em.fork().getConnection().execute<{ given_name: string; family_name: string }[]>(
    `select given_name, family_name from app_user where email = 'head@south.example'`);
  expect(admin).toEqual({ given_name: 'Admin', family_name: 'Southbank Academy' });
});

test('bootstrap with a taken slug fails with exit 1 and writes nothing', async () => {
  const tenants = await count('tenant');
  const users = await count('app_user');
  const tokens = await count('api_token');
  const run = await custos(['bootstrap', '--tenant', 'Northfield Again', '--slug', 'northfield-college', '--admin-email', 'dup@north.example']);
  expectCleanFailure(run, 1, /custos: A tenant with the slug "northfield-college" already exists/);
  expect(run.stdout).toBe('');
  expect(await count('tenant')).toBe(tenants);
  expect(await count('app_user')).toBe(users);
  expect(await count('api_token')).toBe(tokens);
  expect(await count(`app_user where email = 'dup@north.example'`)).toBe(0);
});

test('bootstrap rejects a bad email and missing options', async () => {
  const bad = await custos(['bootstrap', '--tenant', 'Nowhere', '--admin-email', 'not-an-email']);
  expectCleanFailure(bad, 1, /Invalid --admin-email: email must be a valid email address/);
  expect(await count(`tenant where slug = 'nowhere'`)).toBe(0);

  const usage = await custos(['bootstrap', '--admin-email', 'a@b.example']);
  expectCleanFailure(usage, 2, /required option '--tenant <name>' not specified/);
});

test('seed --demo creates the demo school and prints one working token per role', async () => {
  const { run, out } = await custosJson(['seed', '--demo']);
  expect(run.code).toBe(0);
  expect(out.tenant).toMatchObject({ name: 'Demo School', slug: 'demo' });
  const t = out.tenant.id as string;

  const byRole = await orm.em.fork().getConnection().execute<{ role: string; n: string }[]>(
    'select role, count(*) as n from app_user where tenant_id = ? group by role order by role', [t]);
  expect(Object.fromEntries(byRole.map((r) => [r.role, Number(r.n)]))).toEqual({ ADMIN: 1, INSTRUCTOR: 3, STUDENT: 30 });
  expect(await count(`app_user where tenant_id = ? and email not like '%@demo.custos.test'`, [t])).toBe(0);
  expect(await count(`app_user where tenant_id = ? and role = 'STUDENT' and student_number is null`, [t])).toBe(0);
  expect(await count('course where tenant_id = ?', [t])).toBe(4);
  // Every course has an instructor and students, and about five posts.
  const perCourse = await orm.em.fork().getConnection().execute<{ teachers: string; students: string; posts: string }[]>(
    `select (select count(*) from enrollment e where e.course_id = c.id and e.role = 'INSTRUCTOR') as teachers,
            (select count(*) from enrollment e where e.course_id = c.id and e.role = 'STUDENT') as students,
            (select count(*) from post p where p.course_id = c.id) as posts
       from course c where c.tenant_id = ?`, [t]);
  for (const c of perCourse) {
    expect(Number(c.teachers)).toBeGreaterThanOrEqual(1);
    expect(Number(c.students)).toBeGreaterThanOrEqual(10);
    expect(Number(c.posts)).toBe(5);
  }
  expect(await count('enrollment where tenant_id = ? and final_grade is not null', [t])).toBeGreaterThan(0);
  expect(await count('comment where tenant_id = ?', [t])).toBe(out.counts.comments);
  expect(await count('reaction where tenant_id = ?', [t])).toBe(out.counts.reactions);
  expect(out.counts).toMatchObject({ admins: 1, instructors: 3, students: 30, courses: 4, posts: 20 });
  expect(out.counts.comments).toBeGreaterThan(0);
  expect(out.counts.reactions).toBeGreaterThan(0);

  expect(out.tokens.map((k: { role: string }) => k.role)).toEqual(['ADMIN', 'INSTRUCTOR', 'STUDENT']);
  for (const k of out.tokens as { role: string; email: string; token: string }[]) {
    expect(k.email).toMatch(/@demo\.custos\.test$/);
    expect(k.token).toMatch(TOKEN);
    await expect(principalOf(k.token)).resolves.toMatchObject({ tenantId: t, role: k.role });
  }
});

test('a second seed --demo exits 1 and points to token create', async () => {
  const users = await count('app_user');
  const run = await custos(['seed', '--demo']);
  expectCleanFailure(run, 1, /demo tenant .* already exists.*custos token create --tenant demo --email/);
  expect(run.stdout).toBe('');
  expect(await count('app_user')).toBe(users);

  const { run: jsonRun, out } = await custosJson(['seed', '--demo']);
  expect(jsonRun.code).toBe(1);
  expect(out.error).toMatchObject({ code: 'BAD_USER_INPUT' });
});

test('token create, list and revoke round trip', async () => {
  const email = 'mei.chen@demo.custos.test';
  const { run, out: created } = await custosJson(['token', 'create', '--tenant', 'demo', '--email', 'Mei.Chen@demo.custos.test',
    '--label', 'laptop', '--ttl-days', '7']);
  expect(run.code).toBe(0);
  expect(created.secret).toMatch(TOKEN);
  expect(created.token).toMatchObject({ kind: 'USER', scopes: [], label: 'laptop', email, revokedAt: null });
  expect(new Date(created.token.expiresAt).getTime() - new Date(created.token.createdAt).getTime()).toBe(7 * 86_400_000);
  expect(await principalOf(created.secret)).toMatchObject({ kind: 'USER', role: 'STUDENT' });

  const { out: listed } = await custosJson(['token', 'list', '--tenant', 'demo', '--email', email]);
  expect(listed.tokens).toHaveLength(1);
  expect(listed.tokens[0]).toMatchObject({ id: created.token.id, prefix: created.secret.slice(0, 10), label: 'laptop', email });
  expect(listed.tokens[0].lastUsedAt).not.toBeNull(); // authenticate() above used it
  expect(JSON.stringify(listed)).not.toContain(created.secret);

  const table = await custos(['token', 'list', '--tenant', 'demo']);
  expect(table.code).toBe(0);
  expect(table.stdout).toMatch(/^ID\s+PREFIX\s+KIND\s+LABEL\s+USER\s+SCOPES\s+CREATED\s+EXPIRES\s+REVOKED\s+LAST USED/);
  expect(table.stdout).toMatch(new RegExp(`${created.token.id}\\s+\\S+\\s+USER\\s+laptop\\s+${email}\\s+-\\s`));
  expect(table.stdout).not.toMatch(TOKEN);

  const revoked = await custos(['token', 'revoke', '--tenant', 'demo', '--id', created.token.id]);
  expect(revoked.code).toBe(0);
  expect(revoked.stdout).toMatch(new RegExp(`Revoked user token ${created.token.id} for ${email}`));
  await expect(principalOf(created.secret)).rejects.toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });

  const { out: again } = await custosJson(['token', 'revoke', '--tenant', 'demo', '--id', created.token.id]);
  expect(again).toMatchObject({ alreadyRevoked: true, token: { id: created.token.id } });
  expect(again.token.revokedAt).not.toBeNull();

  // Another tenant's token id is not found there.
  const foreign = await custos(['token', 'revoke', '--tenant', 'northfield-college', '--id', created.token.id]);
  expectCleanFailure(foreign, 1, /has no token with the id/);
});

describe('token create for auditors and services', () => {
  const DAY = 86_400_000;
  const lifetime = (t: { createdAt: string; expiresAt: string }) => new Date(t.expiresAt).getTime() - new Date(t.createdAt).getTime();
  const row = async (id: string) => (await orm.em.fork().getConnection().execute<{ kind: string; scopes: string[]; user_id: string | null }[]>(
    'select kind, scopes, user_id from api_token where id = ?', [id]))[0];
  let demoId: string;

  beforeAll(async () => {
    [{ id: demoId }] = await orm.em.fork().getConnection().execute<{ id: string }[]>(`select id from tenant where slug = 'demo'`);
  });

  test('an auditor token: no member, no scopes, read-only principal of the tenant', async () => {
    const { run, out } = await custosJson(['token', 'create', '--tenant', 'demo', '--kind', 'Auditor', '--label', 'audit 2026']);
    expect(run.code).toBe(0);
    expect(out.secret).toMatch(TOKEN);
    expect(out.token).toMatchObject({ kind: 'AUDITOR', scopes: [], email: null, label: 'audit 2026', revokedAt: null });
    expect(lifetime(out.token)).toBe(30 * DAY); // CUSTOS_TOKEN_TTL_DAYS' default
    expect(await row(out.token.id)).toEqual({ kind: 'AUDITOR', scopes: [], user_id: null });
    const principal = await principalOf(out.secret);
    expect(principal).toMatchObject({ kind: 'AUDITOR', tenantId: demoId });
    expect(principal).not.toHaveProperty('userId');
  });

  test('an auditor token\'s default lifetime is capped at 90 days; 90 may also be asked for, with a window of events', async () => {
    const { out: capped } = await custosJson(['token', 'create', '--tenant', 'demo', '--kind', 'auditor'], { CUSTOS_TOKEN_TTL_DAYS: '400' });
    expect(capped.token.kind).toBe('AUDITOR');
    expect(lifetime(capped.token)).toBe(90 * DAY);
    expect(capped.token).toMatchObject({ auditFrom: null, auditUntil: null });
    const { out: explicit } = await custosJson(['token', 'create', '--tenant', 'demo', '--kind', 'auditor', '--ttl-days', '90',
      '--audit-from', '2026-01-01', '--audit-until', '2026-07-01T00:00:00Z']);
    expect(lifetime(explicit.token)).toBe(90 * DAY);
    expect(explicit.token).toMatchObject({ auditFrom: '2026-01-01T00:00:00.000Z', auditUntil: '2026-07-01T00:00:00.000Z' });
    await expect(principalOf(explicit.secret)).resolves.toMatchObject({
      kind: 'AUDITOR', window: { from: new Date('2026-01-01T00:00:00Z'), until: new Date('2026-07-01T00:00:00Z') },
    });
    expectCleanFailure(await custos(['token', 'create', '--tenant', 'demo', '--kind', 'auditor', '--audit-from', 'last week']), 2,
      /--audit-from must be an ISO 8601 date/);
    // Other kinds keep the configured default.
    const { out: service } = await custosJson(['token', 'create', '--tenant', 'demo', '--kind', 'service', '--scope', 'roster:read'],
      { CUSTOS_TOKEN_TTL_DAYS: '400' });
    expect(lifetime(service.token)).toBe(400 * DAY);
  });

  test('a service token carries its scopes into the principal', async () => {
    const { run, out } = await custosJson(['token', 'create', '--tenant', 'demo', '--kind', 'SERVICE', '--scope', 'roster:read',
      '--label', 'sis sync', '--ttl-days', '90']);
    expect(run.code).toBe(0);
    expect(out.token).toMatchObject({ kind: 'SERVICE', scopes: ['roster:read'], email: null, label: 'sis sync' });
    expect(lifetime(out.token)).toBe(90 * DAY);
    expect(await row(out.token.id)).toEqual({ kind: 'SERVICE', scopes: ['roster:read'], user_id: null });
    expect(await principalOf(out.secret)).toMatchObject({ kind: 'SERVICE', scopes: ['roster:read'], tenantId: demoId });

    // --scope repeats; a repeated value counts once.
    const { out: both } = await custosJson(['token', 'create', '--tenant', 'demo', '--kind', 'service',
      '--scope', 'roster:read', '--scope', 'roster:import', '--scope', 'roster:read']);
    expect(both.token.scopes).toEqual(['roster:read', 'roster:import']);
    expect(await principalOf(both.secret)).toMatchObject({ kind: 'SERVICE', scopes: ['roster:read', 'roster:import'] });
  });

  test('the text output names the kind, and shows the secret once', async () => {
    const service = await custos(['token', 'create', '--tenant', 'demo', '--kind', 'service', '--scope', 'roster:read']);
    expect(service.code).toBe(0);
    expect(service.stdout).toMatch(/^Issued service token [0-9a-f-]{36} with scopes roster:read in tenant demo, expires /);
    expect(service.stdout.match(new RegExp(TOKEN, 'g'))).toHaveLength(1);
    expect(service.stdout).toMatch(/only time the token is shown/);
    expect(await principalOf(service.stdout.match(TOKEN)![0])).toMatchObject({ kind: 'SERVICE', scopes: ['roster:read'] });

    const auditor = await custos(['token', 'create', '--tenant', 'demo', '--kind', 'auditor']);
    expect(auditor.stdout).toMatch(/^Issued auditor token [0-9a-f-]{36} \(read-only\) in tenant demo/);
    const user = await custos(['token', 'create', '--tenant', 'demo', '--email', 'mei.chen@demo.custos.test']);
    expect(user.stdout).toMatch(/^Issued user token [0-9a-f-]{36} for mei\.chen@demo\.custos\.test \(STUDENT\) in tenant demo/);
  });

  test('token list shows kind and scopes, and filters by kind', async () => {
    const { out: service } = await custosJson(['token', 'create', '--tenant', 'demo', '--kind', 'service', '--scope', 'roster:import', '--label', 'importer']);

    const { out: all } = await custosJson(['token', 'list', '--tenant', 'demo']);
    const kinds = new Set(all.tokens.map((t: TokenJson) => t.kind));
    expect(kinds).toEqual(new Set(['USER', 'AUDITOR', 'SERVICE']));
    expect(all.tokens.find((t: TokenJson) => t.id === service.token.id)).toMatchObject({ kind: 'SERVICE', scopes: ['roster:import'], email: null });

    for (const kind of ['auditor', 'service', 'user']) {
      const { run, out } = await custosJson(['token', 'list', '--tenant', 'demo', '--kind', kind]);
      expect(run.code).toBe(0);
      expect(out.tokens.length).toBeGreaterThan(0);
      expect(out.tokens.length).toBe(all.tokens.filter((t: TokenJson) => t.kind === kind.toUpperCase()).length);
      for (const t of out.tokens as TokenJson[]) {
        expect(t.kind).toBe(kind.toUpperCase());
        if (kind === 'user') expect(t.email).toMatch(/@demo\.custos\.test$/);
        else expect(t.email).toBeNull();
        if (kind !== 'service') expect(t.scopes).toEqual([]);
      }
    }

    const table = await custos(['token', 'list', '--tenant', 'demo', '--kind', 'SERVICE']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`^${service.token.id}\\s+\\S+\\s+SERVICE\\s+importer\\s+-\\s+roster:import\\s`, 'm'));
    const rows = table.stdout.trim().split('\n').slice(1);
    expect(rows.length).toBe(all.tokens.filter((t: TokenJson) => t.kind === 'SERVICE').length);
    for (const line of rows) expect(line.split(/\s{2,}/)[2]).toBe('SERVICE');

    const none = await custos(['token', 'list', '--tenant', 'northfield-college', '--kind', 'auditor']);
    expect(none.stdout.trim()).toBe('Tenant northfield-college has no auditor tokens.');
  });

  test('an auditor or service token is revoked like any other', async () => {
    const { out } = await custosJson(['token', 'create', '--tenant', 'demo', '--kind', 'auditor', '--label', 'short audit']);
    const revoked = await custos(['token', 'revoke', '--tenant', 'demo', '--id', out.token.id]);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toMatch(new RegExp(`Revoked auditor token ${out.token.id} \\(read-only\\) .*"short audit"`));
    await expect(principalOf(out.secret)).rejects.toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
  });

  test('inconsistent kind, email, scope and lifetime are refused before anything is written', async () => {
    const tokens = await count('api_token');
    const refused: [string[], RegExp][] = [
      [['--kind', 'auditor', '--email', 'mei.chen@demo.custos.test'], /--email is only for --kind user: an auditor token does not belong to a member/],
      [['--kind', 'service', '--scope', 'roster:read', '--email', 'mei.chen@demo.custos.test'], /--email is only for --kind user: a service token/],
      [['--kind', 'service'], /--kind service needs at least one --scope: roster:read, roster:import/],
      [['--kind', 'service', '--scope', 'grades:write'], /Unknown --scope "grades:write": the scopes are roster:read, roster:import/],
      [['--kind', 'service', '--scope', 'roster:read', '--scope', 'roster:*'], /Unknown --scope "roster:\*"/],
      [['--kind', 'auditor', '--ttl-days', '400'], /--ttl-days must be between 1 and 90 for an auditor token, got 400/],
      [['--kind', 'auditor', '--scope', 'roster:read'], /--scope is only for --kind service: an auditor token carries no scopes/],
      [['--email', 'mei.chen@demo.custos.test', '--scope', 'roster:read'], /--scope is only for --kind service: a user token/],
      [['--kind', 'robot'], /--kind must be one of user, auditor, service, got "robot"/],
      [['--kind', 'user'], /required option '--email <email>' not specified/],
    ];
    for (const [args, message] of refused) {
      const run = await custos(['token', 'create', '--tenant', 'demo', ...args]);
      expectCleanFailure(run, 2, message);
      expect(run.stdout).toBe('');
      const { run: jsonRun, out } = await custosJson(['token', 'create', '--tenant', 'demo', ...args]);
      expect(jsonRun.code).toBe(2);
      expect(out.error).toMatchObject({ code: 'USAGE', message: expect.stringMatching(message) });
    }
    expectCleanFailure(await custos(['token', 'list', '--tenant', 'demo', '--kind', 'service', '--email', 'mei.chen@demo.custos.test']), 2,
      /--email selects a member's tokens, which are user tokens; it cannot be combined with --kind service/);
    expect(await count('api_token')).toBe(tokens);
  });
});

test('unknown tenant, unknown member and malformed arguments fail clearly', async () => {
  expectCleanFailure(await custos(['token', 'create', '--tenant', 'nope', '--email', 'a@b.example']), 1, /custos: Unknown tenant "nope"/);
  expectCleanFailure(await custos(['token', 'create', '--tenant', 'demo', '--email', 'ghost@demo.custos.test']), 1,
    /No member of tenant "demo" has the email "ghost@demo.custos.test"/);
  expectCleanFailure(await custos(['token', 'list', '--tenant', 'demo', '--email', 'not-an-email']), 1, /Invalid --email/);
  expectCleanFailure(await custos(['token', 'revoke', '--tenant', 'demo', '--id', '42']), 1, /Invalid --id/);
  expectCleanFailure(await custos(['token', 'create', '--tenant', 'demo']), 2, /required option '--email <email>'/);
  expectCleanFailure(await custos(['token', 'create', '--tenant', 'demo', '--email', 'a@b.example', '--ttl-days', 'soon']), 2, /--ttl-days must be a whole number/);

  const { run, out } = await custosJson(['token', 'list', '--tenant', 'nope']);
  expect(run.code).toBe(1);
  expect(out.error).toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('Unknown tenant') });
});

test('an invalid environment variable exits 2 naming it', async () => {
  expectCleanFailure(await custos(['migrate'], { PORT: 'abc' }), 2, /PORT must be a whole number/);
  const { run, out } = await custosJson(['token', 'list', '--tenant', 'demo'], { CUSTOS_DB_POOL_MAX: '0' });
  expectCleanFailure(run, 2, /CUSTOS_DB_POOL_MAX/);
  expect(out.error.message).toMatch(/CUSTOS_DB_POOL_MAX must be between 1 and 200/);
});

test('jobs run carries out due background work once and reports it', async () => {
  const conn = orm.em.fork().getConnection();
  const [member] = await conn.execute<{ id: string; tenant_id: string }[]>(
    "select u.id, u.tenant_id from app_user u join tenant t on t.id = u.tenant_id where t.slug = 'demo' and u.role = 'STUDENT' order by u.email limit 1");
  const [{ id: requestId }] = await conn.execute<{ id: string }[]>(
    `insert into data_subject_request (id, tenant_id, subject_id, type, status, filed_by, filed_at, due_at, changes, history, updated_at)
     values (gen_random_uuid(), ?, ?, 'RECTIFICATION', 'APPROVED', ?, now(), now() + interval '30 days',
             '[{"field": "DISPLAY_NAME", "after": "Rectified By Job"}]', '[]', now()) returning id`,
    [member.tenant_id, member.id, member.id]);
  await conn.execute("insert into job (id, tenant_id, kind, payload) values (gen_random_uuid(), ?, 'dsr.process', ?::jsonb)",
    [member.tenant_id, JSON.stringify({ requestId })]);

  const { run, out } = await custosJson(['jobs', 'run']);
  expect(run.code).toBe(0);
  expect(out).toEqual({ done: 1, retried: 0, dead: 0 });
  expect(await count(`data_subject_request where id = ? and status = 'COMPLETED'`, [requestId])).toBe(1);
  expect(await count(`app_user where id = ? and display_name = 'Rectified By Job'`, [member.id])).toBe(1);

  // Jobs sign what they issue with the installation's key: an erasure runs to its signed receipt.
  const [other] = await conn.execute<{ id: string }[]>(
    "select u.id from app_user u join tenant t on t.id = u.tenant_id where t.slug = 'demo' and u.role = 'STUDENT' order by u.email offset 1 limit 1");
  const [{ id: erasureId }] = await conn.execute<{ id: string }[]>(
    `insert into data_subject_request (id, tenant_id, subject_id, type, status, filed_by, filed_at, due_at, purge_after, history, updated_at)
     values (gen_random_uuid(), ?, ?, 'ERASURE', 'APPROVED', ?, now(), now() + interval '30 days', now(), '[]', now()) returning id`,
    [member.tenant_id, other.id, other.id]);
  await conn.execute("insert into job (id, tenant_id, kind, payload) values (gen_random_uuid(), ?, 'dsr.process', ?::jsonb)",
    [member.tenant_id, JSON.stringify({ requestId: erasureId })]);
  const erased = await custosJson(['jobs', 'run']);
  expect(erased.out).toEqual({ done: 1, retried: 0, dead: 0 });
  expect(await count(`erasure_receipt where request_id = ?`, [erasureId])).toBe(1);
  expect(await count(`data_subject_request where id = ? and status = 'COMPLETED'`, [erasureId])).toBe(1);

  const again = await custos(['jobs', 'run']);
  expect(again.code).toBe(0);
  expect(again.stdout).toMatch(/Ran 0 job\(s\)/);
  expectCleanFailure(await custos(['jobs', 'run', '--limit', 'lots']), 2, /--limit must be a whole number/);
});

test('import oneroster: a dry run prints the diff, the import applies it, bad files exit 1 with file and line', async () => {
  const sample = path.join(ROOT, 'test/fixtures/oneroster-1.1-sample');
  await custos(['bootstrap', '--tenant', 'Grand Bend', '--slug', 'grand-bend', '--admin-email', 'office@grandbend.example']);
  const dry = await custos(['import', 'oneroster', sample, '--tenant', 'grand-bend', '--dry-run']);
  expect(dry.code).toBe(0);
  expect(dry.stdout).toMatch(/^Dry run of oneroster-1\.1-sample: nothing written\./);
  expect(dry.stdout).toMatch(/\nusers\s+10\s+0\s+0\s+0\s+0\n/);
  expect(dry.stdout).toMatch(/demographics\.csv: special-category data/);
  expect(await count("app_user where source = 'SIS_IMPORT'")).toBe(0);

  const { run, out } = await custosJson(['import', 'oneroster', sample, '--tenant', 'grand-bend']);
  expect(run.code).toBe(0);
  expect(out).toMatchObject({ applied: true, errorCount: 0 });
  expect(out.diff.find((d: { entity: string }) => d.entity === 'enrollments')).toMatchObject({ created: 12 });
  expect(await count("app_user where source = 'SIS_IMPORT'")).toBe(10);
  expect(await count("access_event where purpose = 'sis.sync' and root_field = 'Import.oneroster'")).toBeGreaterThan(0);

  const broken = mkdtempSync(path.join(dataDir, 'roster-'));
  for (const f of ['manifest.csv', 'orgs.csv', 'courses.csv', 'classes.csv', 'users.csv', 'enrollments.csv']) {
    let text = readFileSync(path.join(sample, f), 'utf8');
    if (f === 'users.csv') text = text.replace('604874,,,true,255901001,student', '604874,,,true,255901001,headmaster');
    writeFileSync(path.join(broken, f), text);
  }
  const bad = await custos(['import', 'oneroster', broken, '--tenant', 'grand-bend']);
  expect(bad.code).toBe(1);
  expect(bad.stdout).toMatch(/users\.csv:3 {2}UNKNOWN_ROLE {2}role "headmaster"/);
  expect(bad.stdout).toMatch(/nothing written/);
  expectCleanFailure(await custos(['import', 'oneroster', path.join(dataDir, 'nowhere'), '--tenant', 'grand-bend']), 1, /does not exist/);
  expectCleanFailure(await custos(['import', 'oneroster', sample, '--tenant', 'no-such-school']), 1, /Unknown tenant/);
});
