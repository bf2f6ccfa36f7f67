import path from 'node:path';

/** Validated runtime configuration. Built once at start from environment variables. */
export interface Config {
  env: 'development' | 'production' | 'test';
  /** Connection string of an external PostgreSQL; when absent an embedded one is started. */
  databaseUrl: string | null;
  dataDir: string;
  embeddedPgPort: number;
  host: string;
  port: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  dbPoolMax: number;
  maxPageSize: number;
  defaultPageSize: number;
  tokenTtlDays: number;
  /** Adds an `x-custos-sql-statements` response header (statements run for the request). */
  exposeSqlStats: boolean;
}

export class ConfigError extends Error {
  constructor(readonly variable: string, problem: string) {
    super(`Invalid configuration: ${variable} ${problem}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function str(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function int(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = str(env, name);
  if (raw === undefined) return def;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], def: T): T {
  const raw = str(env, name);
  if (raw === undefined) return def;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got "${raw}"`);
  }
  return raw as T;
}

function bool(env: Env, name: string, def: boolean): boolean {
  const raw = str(env, name);
  if (raw === undefined) return def;
  if (['1', 'true', 'yes', 'on'].includes(raw.toLowerCase())) return true;
  if (['0', 'false', 'no', 'off'].includes(raw.toLowerCase())) return false;
  throw new ConfigError(name, `must be true or false, got "${raw}"`);
}

function databaseUrl(env: Env): string | null {
  const raw = str(env, 'DATABASE_URL');
  if (raw === undefined) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError('DATABASE_URL', 'is not a valid URL (expected postgres://user@host:port/database)');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError('DATABASE_URL', `must use the postgres:// scheme, got "${url.protocol}"`);
  }
  if (url.pathname.replace(/^\//, '') === '') {
    throw new ConfigError('DATABASE_URL', 'must name a database (postgres://host/DATABASE)');
  }
  return raw;
}

/** Reads and validates configuration; throws ConfigError naming the first bad variable. */
export function loadConfig(env: Env = process.env): Config {
  const nodeEnv = oneOf(env, 'NODE_ENV', ['development', 'production', 'test'] as const, 'development');
  const maxPageSize = int(env, 'CUSTOS_MAX_PAGE_SIZE', 100, 1, 1000);
  const defaultPageSize = int(env, 'CUSTOS_DEFAULT_PAGE_SIZE', Math.min(20, maxPageSize), 1, 1000);
  if (defaultPageSize > maxPageSize) {
    throw new ConfigError('CUSTOS_DEFAULT_PAGE_SIZE', `must not exceed CUSTOS_MAX_PAGE_SIZE (${maxPageSize})`);
  }
  return {
    env: nodeEnv,
    databaseUrl: databaseUrl(env),
    dataDir: path.resolve(str(env, 'CUSTOS_DATA_DIR') ?? '.custos'),
    embeddedPgPort: int(env, 'CUSTOS_EMBEDDED_PG_PORT', 54329, 1024, 65535),
    host: str(env, 'HOST') ?? '0.0.0.0',
    port: int(env, 'PORT', 4000, 0, 65535),
    logLevel: oneOf(env, 'LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const,
      nodeEnv === 'test' ? 'warn' : 'info'),
    dbPoolMax: int(env, 'CUSTOS_DB_POOL_MAX', 10, 1, 200),
    maxPageSize,
    defaultPageSize,
    tokenTtlDays: int(env, 'CUSTOS_TOKEN_TTL_DAYS', 30, 1, 3650),
    exposeSqlStats: bool(env, 'CUSTOS_SQL_STATS', nodeEnv !== 'production'),
  };
}
