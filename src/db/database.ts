import type { MikroORM } from '@mikro-orm/postgresql';
import type { Config } from '../config/config';
import type { Logger } from '../shared/logger';
import { startEmbeddedPostgres } from './embedded';
import { openOrm, runMigrations } from './orm';

export interface Database {
  orm: MikroORM;
  /** Where the data lives, for the start-up log (never includes a password). */
  description: string;
  close: () => Promise<void>;
}

const MIN_SERVER_VERSION = 150000;

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

/**
 * Connects to DATABASE_URL, or starts the embedded PostgreSQL in the data folder, and applies
 * pending migrations unless told not to.
 */
export async function openDatabase(config: Config, log: Logger, opts: { migrate?: boolean } = {}): Promise<Database> {
  const embedded = config.databaseUrl
    ? null
    : await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.embeddedPgPort, database: 'custos', logger: log });
  const url = config.databaseUrl ?? embedded!.url;
  let orm: MikroORM;
  try {
    orm = await openOrm({ clientUrl: url, poolMax: config.dbPoolMax, logger: log });
    const [{ server_version_num }] = await orm.em.getConnection().execute<{ server_version_num: string }[]>('show server_version_num');
    if (Number(server_version_num) < MIN_SERVER_VERSION) {
      await orm.close();
      throw new Error(`PostgreSQL 15 or newer is required; the server at ${redact(url)} runs version ${server_version_num}.`);
    }
    if (opts.migrate !== false) {
      const applied = await runMigrations(orm);
      if (applied.length) log.info({ applied }, 'migrations applied');
    }
  } catch (err) {
    await embedded?.stop();
    throw err;
  }
  return {
    orm,
    description: embedded ? `embedded PostgreSQL in ${config.dataDir}` : redact(url),
    close: async () => {
      await orm.close(true);
      await embedded?.stop();
    },
  };
}
