import type { MikroORM } from '@mikro-orm/postgresql';
import type { Config } from '../config/config';
import type { Logger } from '../shared/logger';
import { startEmbeddedPostgres } from './embedded';
import { openOrm, runMigrations } from './orm';
import { assertBoundByRowSecurity, managedApplicationUrl } from './app-role';

export interface Database {
  /** The owner's connection: migrations, the CLI, system jobs. Row-level security does not bind it. */
  owner: MikroORM;
  /** The application's connection (null when not asked for): every request runs here, bound by row-level security. */
  app: MikroORM | null;
  /** Where the data lives, for the start-up log (never includes a password). */
  description: string;
  close: () => Promise<void>;
}

export interface OpenOptions {
  /** Apply pending migrations (default true). */
  migrate?: boolean;
  /** Open the application role's pool too (default true; the CLI works as the owner only). */
  application?: boolean;
}

const MIN_SERVER_VERSION = 150000;

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

/**
 * Connects to DATABASE_URL, or starts the embedded PostgreSQL in the data folder, applies pending
 * migrations unless told not to, and opens the application role's pool.
 */
export async function openDatabase(config: Config, log: Logger, opts: OpenOptions = {}): Promise<Database> {
  const embedded = config.databaseUrl
    ? null
    : await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.embeddedPgPort, database: 'custos', logger: log });
  const url = config.databaseUrl ?? embedded!.url;
  try {
    const db = await connectDatabase(url, config, log, opts);
    return {
      ...db,
      description: embedded ? `embedded PostgreSQL in ${config.dataDir}` : db.description,
      close: async () => {
        await db.close();
        await embedded?.stop();
      },
    };
  } catch (err) {
    await embedded?.stop();
    throw err;
  }
}

/** The same as openDatabase for a server that is already running (tests use it on their own databases). */
export async function connectDatabase(ownerUrl: string, config: Config, log: Logger, opts: OpenOptions = {}): Promise<Database> {
  const owner = await openOrm({ clientUrl: ownerUrl, poolMax: 2, logger: log });
  let app: MikroORM | null = null;
  try {
    const [{ server_version_num }] = await owner.em.getConnection().execute<{ server_version_num: string }[]>('show server_version_num');
    if (Number(server_version_num) < MIN_SERVER_VERSION) {
      throw new Error(`PostgreSQL 15 or newer is required; the server at ${redact(ownerUrl)} runs version ${server_version_num}.`);
    }
    if (opts.migrate !== false) {
      const applied = await runMigrations(owner);
      if (applied.length) log.info({ applied }, 'migrations applied');
    }
    if (opts.application !== false) {
      const appUrl = config.appDatabaseUrl ?? (await managedApplicationUrl(owner, ownerUrl));
      app = await openOrm({ clientUrl: appUrl, poolMax: config.dbPoolMax, logger: log });
      await assertBoundByRowSecurity(app);
    }
  } catch (err) {
    await app?.close(true);
    await owner.close(true);
    throw err;
  }
  return {
    owner,
    app,
    description: redact(ownerUrl),
    close: async () => {
      await app?.close(true);
      await owner.close(true);
    },
  };
}
