// How `node dist/src/main.js` starts and stops, driven as a real child process: first start on an
// empty folder, clean shutdown, restart on the same data, recovery after SIGKILL, bad configuration,
// and an external DATABASE_URL. Needs the build (`npm test` runs it in pretest).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, chmodSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { createTestDatabase } from '../support/harness';

const ROOT = path.resolve(__dirname, '../..');
const MAIN = path.join(ROOT, 'dist/src/main.js');
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;

interface LogLine {
  msg?: string;
  level?: number;
  [key: string]: unknown;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface Custos {
  proc: ChildProcess;
  logs: LogLine[];
  stderr: () => string;
  exited: Promise<Exit>;
  /** Resolves with the first log line matching, rejects on timeout or when the process exits first. */
  waitForLog: (match: (line: LogLine) => boolean, what: string, timeoutMs?: number) => Promise<LogLine>;
  baseUrl: string;
}

const running = new Set<Custos>();
const tempDirs: string[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** A fresh data folder the `postgres` system user can traverse (the server runs postgres as it under root). */
function makeDataDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'custos-lifecycle-'));
  chmodSync(dir, 0o755);
  tempDirs.push(dir);
  return dir;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Starts the server; env entries set to undefined are removed from the inherited environment. */
function startCustos(env: Record<string, string | undefined>): Custos {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'info', HOST: '127.0.0.1' };
  delete childEnv.DATABASE_URL;
  delete childEnv.CUSTOS_TEST_ADMIN_URL;
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete childEnv[key];
    else childEnv[key] = value;
  }
  const proc = spawn(process.execPath, [MAIN], { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: LogLine[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (chunk: string) => {
    stderr += chunk;
  });
  createInterface({ input: proc.stdout! }).on('line', (raw) => {
    let line: LogLine;
    try {
      line = JSON.parse(raw) as LogLine;
    } catch {
      line = { msg: raw };
    }
    logs.push(line);
    for (const wake of waiters) wake();
  });
  const exited = new Promise<Exit>((resolve) => {
    proc.once('exit', (code, signal) => {
      for (const wake of waiters) wake();
      resolve({ code, signal });
    });
  });

  const custos: Custos = {
    proc,
    logs,
    stderr: () => stderr,
    exited,
    baseUrl: `http://127.0.0.1:${env.PORT}`,
    waitForLog: (match, what, timeoutMs = START_TIMEOUT_MS) =>
      new Promise<LogLine>((resolve, reject) => {
        const check = () => {
          const hit = logs.find(match);
          if (hit) return finish(() => resolve(hit));
          if (proc.exitCode !== null || proc.signalCode !== null) {
            return finish(() => reject(new Error(
              `server exited (code ${proc.exitCode}, signal ${proc.signalCode}) before ${what}\n` +
                `stderr: ${stderr}\nlog: ${logs.map((l) => l.msg).join('\n')}`,
            )));
          }
        };
        const timer = setTimeout(() => finish(() => reject(new Error(
          `timed out after ${timeoutMs} ms waiting for ${what}\nstderr: ${stderr}\nlog: ${logs.map((l) => l.msg).join('\n')}`,
        ))), timeoutMs);
        const finish = (settle: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          settle();
        };
        waiters.add(check);
        check();
      }),
  };
  running.add(custos);
  void exited.then(() => running.delete(custos));
  return custos;
}

const isListening = (l: LogLine) => typeof l.msg === 'string' && l.msg.includes('listening');

async function stop(custos: Custos, signal: NodeJS.Signals = 'SIGTERM'): Promise<Exit> {
  if (custos.proc.exitCode === null && custos.proc.signalCode === null) custos.proc.kill(signal);
  return withTimeout(custos.exited, STOP_TIMEOUT_MS, `the server to exit after ${signal}`).catch((err: Error) => {
    const tail = custos.logs.slice(-10).map((l) => JSON.stringify(l)).join('\n');
    throw new Error(`${err.message}\nstderr: ${custos.stderr()}\nlast log lines:\n${tail}`);
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Pid of the postmaster recorded in pgdata/postmaster.pid, if that process is alive. */
function livePostmaster(dataDir: string): number | null {
  const pidFile = path.join(dataDir, 'pgdata', 'postmaster.pid');
  if (!existsSync(pidFile)) return null;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : null;
}

/** Pids of postgres processes whose command line names this data folder (Linux /proc). */
function postgresProcessesFor(dataDir: string): number[] {
  if (!existsSync('/proc')) return [];
  const pgData = path.join(dataDir, 'pgdata');
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (cmd[0]?.endsWith('postgres') && cmd.includes(pgData)) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

async function waitUntil(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Stops a postgres left behind in `dataDir` (after a failed test), so no process outlives the run. */
async function stopLeftoverPostgres(dataDir: string): Promise<void> {
  const pid = livePostmaster(dataDir);
  if (pid === null) return;
  process.kill(pid, 'SIGINT');
  await waitUntil(() => !isAlive(pid), STOP_TIMEOUT_MS, `postgres ${pid} to stop`).catch(() => process.kill(pid, 'SIGKILL'));
}

/** A client on the embedded cluster's `custos` database, as an operator would connect. */
async function embeddedClient(dataDir: string): Promise<pg.Client> {
  const lines = readFileSync(path.join(dataDir, 'pgdata', 'postmaster.pid'), 'utf8').split('\n');
  const password = readFileSync(path.join(dataDir, 'pg-superuser-password'), 'utf8').trim();
  const client = new pg.Client({ host: '127.0.0.1', port: Number(lines[3]), user: 'postgres', password, database: 'custos' });
  await client.connect();
  return client;
}

function postGraphql(baseUrl: string, query: string): Promise<Response> {
  return fetch(`${baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query }),
    signal: AbortSignal.timeout(5_000),
  });
}

function get(baseUrl: string, route: string): Promise<Response> {
  return fetch(`${baseUrl}${route}`, { signal: AbortSignal.timeout(5_000) });
}

afterEach(async () => {
  for (const custos of [...running]) {
    await stop(custos, 'SIGTERM').catch(() => stop(custos, 'SIGKILL')).catch(() => undefined);
  }
});

afterAll(async () => {
  for (const dir of tempDirs) {
    await stopLeftoverPostgres(dir).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('server lifecycle with the embedded PostgreSQL', () => {
  let dataDir: string;
  let env: Record<string, string | undefined>;

  beforeAll(async () => {
    dataDir = makeDataDir();
    env = {
      CUSTOS_DATA_DIR: dataDir,
      PORT: String(await freePort()),
      CUSTOS_EMBEDDED_PG_PORT: String(await freePort()),
    };
  });

  it('first start on an empty folder initialises, migrates and serves', async () => {
    const custos = startCustos(env);
    await custos.waitForLog(isListening, 'the "listening" log line');

    const msgs = custos.logs.map((l) => l.msg ?? '');
    expect(msgs.some((m) => m.includes('initialising embedded PostgreSQL'))).toBe(true);
    expect(custos.logs.find((l) => l.msg === 'migrations applied')).toMatchObject({
      applied: expect.arrayContaining([expect.stringMatching(/^Migration/)]),
    });
    const hint = await custos.waitForLog((l) => String(l.msg).includes('custos bootstrap'), 'the first-tenant hint', 5_000);
    expect(hint.msg).toContain('seed --demo');

    const health = await get(custos.baseUrl, '/healthz');
    expect(health.status).toBe(200);
    const ready = await get(custos.baseUrl, '/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });

    const gql = await postGraphql(custos.baseUrl, '{ __typename }');
    expect(gql.status).toBe(401);
    const body = (await gql.json()) as { errors: { extensions: { code: string } }[] };
    expect(body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });

  it('SIGTERM stops the server and its PostgreSQL and exits 0', async () => {
    const custos = startCustos(env);
    await custos.waitForLog(isListening, 'the "listening" log line');
    const postmaster = livePostmaster(dataDir);
    expect(postmaster).not.toBeNull();

    const started = Date.now();
    const exit = await stop(custos, 'SIGTERM');
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(custos.logs.some((l) => l.msg === 'stopped cleanly')).toBe(true);

    expect(livePostmaster(dataDir)).toBeNull();
    expect(isAlive(postmaster!)).toBe(false);
    expect(postgresProcessesFor(dataDir)).toEqual([]);
    expect(existsSync(path.join(dataDir, 'custos.pid'))).toBe(false);
  });

  it('a restart on the same folder keeps the data and does not initialise again', async () => {
    const first = startCustos(env);
    await first.waitForLog(isListening, 'the "listening" log line');
    const client = await embeddedClient(dataDir);
    try {
      await client.query(`insert into tenant (name, slug) values ('Lifecycle School', 'lifecycle-school')`);
    } finally {
      await client.end();
    }
    expect(await stop(first)).toEqual({ code: 0, signal: null });

    const second = startCustos(env);
    await second.waitForLog(isListening, 'the "listening" log line on restart');
    const msgs = second.logs.map((l) => l.msg ?? '');
    expect(msgs.some((m) => m.includes('initialising'))).toBe(false);
    expect(second.logs.some((l) => l.msg === 'migrations applied')).toBe(false);
    expect(msgs.some((m) => m.includes('custos bootstrap'))).toBe(false);

    const again = await embeddedClient(dataDir);
    try {
      const { rows } = await again.query('select name from tenant where slug = $1', ['lifecycle-school']);
      expect(rows).toEqual([{ name: 'Lifecycle School' }]);
    } finally {
      await again.end();
    }
    expect((await get(second.baseUrl, '/readyz')).status).toBe(200);
    expect(await stop(second)).toEqual({ code: 0, signal: null });
  });

  it('after a SIGKILL the next start stops the leftover PostgreSQL and serves', async () => {
    const killed = startCustos(env);
    await killed.waitForLog(isListening, 'the "listening" log line');
    const leftover = livePostmaster(dataDir);
    expect(leftover).not.toBeNull();
    expect(await stop(killed, 'SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
    expect(isAlive(leftover!)).toBe(true);

    const next = startCustos(env);
    const warning = await next.waitForLog(
      (l) => String(l.msg).includes('PostgreSQL left running'), 'the log line about the leftover PostgreSQL');
    expect(warning.pid).toBe(leftover);
    await next.waitForLog(isListening, 'the "listening" log line after recovery');
    expect(isAlive(leftover!)).toBe(false);

    expect((await get(next.baseUrl, '/healthz')).status).toBe(200);
    const ready = await get(next.baseUrl, '/readyz');
    expect(await ready.json()).toEqual({ status: 'ready' });
    expect((await postGraphql(next.baseUrl, '{ __typename }')).status).toBe(401);

    expect(await stop(next)).toEqual({ code: 0, signal: null });
    expect(postgresProcessesFor(dataDir)).toEqual([]);
  });
});

describe('bad configuration', () => {
  it.each([
    ['PORT', 'abc'],
    ['DATABASE_URL', 'mysql://x/y'],
  ])('%s=%s exits with code 2 and names the variable', async (variable, value) => {
    const dataDir = makeDataDir();
    const custos = startCustos({ CUSTOS_DATA_DIR: dataDir, PORT: '0', [variable]: value });
    const exit = await withTimeout(custos.exited, START_TIMEOUT_MS, 'the server to exit');
    expect(exit).toEqual({ code: 2, signal: null });
    expect(custos.stderr()).toContain(variable);
    expect(custos.stderr()).toContain('Invalid configuration');
    expect(existsSync(path.join(dataDir, 'pgdata'))).toBe(false);
  });
});

describe('with DATABASE_URL', () => {
  it('uses that server and starts no embedded PostgreSQL', async () => {
    const db = await createTestDatabase('custos_lifecycle');
    try {
      const dataDir = makeDataDir();
      const port = await freePort();
      const custos = startCustos({
        CUSTOS_DATA_DIR: dataDir,
        PORT: String(port),
        CUSTOS_EMBEDDED_PG_PORT: String(await freePort()),
        DATABASE_URL: db.url,
      });
      const listening = await custos.waitForLog(isListening, 'the "listening" log line');
      expect(String(listening.database)).toContain(`/${db.name}`);
      expect(String(listening.database)).not.toContain('embedded');
      expect(custos.logs.some((l) => String(l.msg).includes('initialising'))).toBe(false);

      const ready = await get(custos.baseUrl, '/readyz');
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ready' });

      expect(existsSync(path.join(dataDir, 'pgdata'))).toBe(false);
      // Only the signing keys: the checkpoint key, which must never live in the database it vouches for,
      // and the key tool launches are signed with (private keys stay out of the database).
      expect(readdirSync(dataDir).sort()).toEqual(['audit-signing-key.pem', 'lti-signing-key.pem']);
      expect(await stop(custos)).toEqual({ code: 0, signal: null });
    } finally {
      await db.drop();
    }
  });
});
