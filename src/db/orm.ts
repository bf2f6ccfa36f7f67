import { MikroORM, type EntityManager, type LogContext, type LoggerNamespace, type Logger as OrmLogger } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { migrationsList } from '../../migrations';
import { Tenant } from '../modules/tenant/tenant.entity';
import { User } from '../modules/user/user.entity';
import { Course } from '../modules/course/course.entity';
import { Enrollment } from '../modules/course/enrollment.entity';
import { Post } from '../modules/content/post.entity';
import { Comment } from '../modules/content/comment.entity';
import { Reaction } from '../modules/content/reaction.entity';
import { ApiToken } from '../modules/token/api-token.entity';
import { DataSubjectRequest } from '../modules/dsr/dsr.entity';
import { Incident } from '../modules/incident/incident.entity';
import { LtiTool } from '../modules/lti/lti-tool.entity';
import { currentRequestScope } from '../shared/request-scope';
import type { Logger } from '../shared/logger';

export const entities = [Tenant, User, Course, Enrollment, Post, Comment, Reaction, ApiToken, DataSubjectRequest, LtiTool, Incident];

/**
 * Counts every statement against the request that ran it (for the SQL-count header, tests and
 * benchmarks) and sends query logs to pino at debug level. Query parameters are never logged.
 */
class CountingLogger implements OrmLogger {
  debugMode: boolean | LoggerNamespace[] = false;
  constructor(private readonly out: Logger) {}
  private write(ns: LoggerNamespace | string, message: string, level: 'info' | 'warn' | 'error') {
    this.out[level]({ orm: ns }, message);
  }
  log(namespace: LoggerNamespace | string, message: string): void { this.out.debug({ orm: namespace }, message); }
  error(namespace: LoggerNamespace | string, message: string): void { this.write(namespace, message, 'error'); }
  warn(namespace: LoggerNamespace | string, message: string): void { this.write(namespace, message, 'warn'); }
  setDebugMode(debugMode: boolean | LoggerNamespace[]): void { this.debugMode = debugMode; }
  isEnabled(): boolean { return true; }
  logQuery(context: { query: string } & LogContext): void {
    const scope = currentRequestScope();
    if (scope) scope.sqlStatements++;
    if (this.out.isLevelEnabled('trace')) this.out.trace({ sql: context.query, took: context.took }, 'sql');
  }
}

export interface OrmOptions {
  clientUrl: string;
  poolMax: number;
  logger: Logger;
}

/** Opens the connection pool. Migrations are explicit (see runMigrations); the schema is never synced. */
export async function openOrm(opts: OrmOptions): Promise<MikroORM> {
  return MikroORM.init({
    clientUrl: opts.clientUrl,
    entities,
    discovery: { warnWhenNoEntities: true },
    pool: { min: 0, max: opts.poolMax },
    extensions: [Migrator],
    // snapshot: false — otherwise every `up()` that applies something writes `.snapshot-<database>.json` into
    // `<cwd>/migrations` (one file per test database, and a stray folder wherever the server is started).
    migrations: { migrationsList, tableName: 'mikro_orm_migrations', transactional: true, allOrNothing: true, snapshot: false },
    loggerFactory: () => new CountingLogger(opts.logger),
    debug: false,
    allowGlobalContext: false,
    forceUtcTimezone: true,
    // Entities are never lazily loaded behind a caller's back: relations are resolved by DataLoaders.
    ensureDatabase: false,
  });
}

/** Applies pending migrations; returns the names applied. */
export async function runMigrations(orm: MikroORM): Promise<string[]> {
  const applied = await orm.getMigrator().up();
  return applied.map((m) => m.name);
}

/**
 * Names of migrations not yet applied. Reads the migrations table directly: the application role may
 * read it but not create it, and the migrator would try.
 */
export async function pendingMigrations(em: EntityManager): Promise<string[]> {
  const rows = await em.getConnection().execute<{ name: string }[]>('select name from mikro_orm_migrations');
  const applied = new Set(rows.map((r) => r.name.replace(/\.[jt]s$/, '')));
  return migrationsList.map((m) => m.name).filter((name) => !applied.has(name));
}
