import { readFileSync } from 'node:fs';
import path from 'node:path';

/** Validated runtime configuration. Built once at start from environment variables. */
export interface Config {
  env: 'development' | 'production' | 'test';
  /** Connection string of an external PostgreSQL (the schema owner: migrations run with it); when absent an embedded one is started. */
  databaseUrl: string | null;
  /**
   * Connection string the application serves requests with: a role bound by row-level security. When
   * absent, Custos manages that role itself (`<database>_app`, see db/app-role.ts).
   */
  appDatabaseUrl: string | null;
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
  /** PEM file of the Ed25519 key that signs audit checkpoints; null: generated once into the data folder. */
  auditSigningKeyFile: string | null;
  /** How often the sealer seals committed access events into the Merkle trees. */
  sealIntervalMs: number;
  /** How often each instance looks for due background jobs (data-subject requests, retention). */
  jobIntervalMs: number;
  /** Largest GraphQL request body accepted, in bytes (a roster import sent over the API counts against it). */
  maxRequestBytes: number;
  /** Largest file of a OneRoster import, in bytes (uncompressed): a bigger one is refused, nothing written. */
  importMaxFileBytes: number;
  /** Sign-in with JWTs from one external OIDC issuer; null when not configured. */
  oidc: OidcConfig | null;
  /**
   * The `iss` of LTI id_tokens: this deployment's public base URL (tools fetch its keys from
   * `<issuer>/.well-known/jwks.json`). Null in production when unset: launches are then refused.
   */
  ltiIssuer: string | null;
  /** PEM file of the RSA key that signs LTI id_tokens; null: generated once into the data folder. */
  ltiSigningKeyFile: string | null;
}

export interface OidcConfig {
  /** Exact `iss` value expected in tokens (compared as a string, not normalised). */
  issuer: string;
  audience: string;
  /** Where verification keys come from: exactly one source. */
  jwks: { url: string } | { file: string; keys: object[] } | { hs256Secret: string };
  /** Claim holding the tenant's slug. */
  tenantClaim: string;
  /** Claim holding the member's email. */
  emailClaim: string;
  clockToleranceSeconds: number;
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

function databaseUrl(env: Env, name = 'DATABASE_URL'): string | null {
  const raw = str(env, name);
  if (raw === undefined) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(name, 'is not a valid URL (expected postgres://user@host:port/database)');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError(name, `must use the postgres:// scheme, got "${url.protocol}"`);
  }
  if (url.pathname.replace(/^\//, '') === '') {
    throw new ConfigError(name, 'must name a database (postgres://host/DATABASE)');
  }
  return raw;
}

/** An http(s) URL; plain http only outside production, where traffic to the IdP could be tampered with. */
function webUrl(name: string, raw: string, production: boolean): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(name, 'is not a valid URL');
  }
  if (url.protocol === 'https:' || (url.protocol === 'http:' && !production)) return raw;
  throw new ConfigError(name, production ? 'must be an https:// URL in production' : 'must be an http(s):// URL');
}

/** Reads the JWKS file now, so a typo fails at start rather than at the first sign-in. */
function jwksFile(name: string, file: string): { file: string; keys: object[] } {
  const resolved = path.resolve(file);
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(resolved, 'utf8'));
  } catch (e) {
    const reason = e instanceof SyntaxError ? 'is not valid JSON' : `cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`;
    throw new ConfigError(name, `names a file that ${reason}: ${resolved}`);
  }
  const keys = (doc as { keys?: unknown } | null)?.keys;
  const isObject = (k: unknown) => typeof k === 'object' && k !== null && !Array.isArray(k);
  if (!Array.isArray(keys) || keys.length === 0 || !keys.every(isObject)) {
    throw new ConfigError(name, `must name a JWKS file of the form {"keys": [{...}, ...]}: ${resolved}`);
  }
  // Verification needs public keys only; a private one here means the wrong file (and a leaked secret).
  if (keys.some((k) => 'd' in k)) throw new ConfigError(name, `must hold public keys only, but holds a private key: ${resolved}`);
  return { file: resolved, keys };
}

const OIDC_KEY_SOURCES = ['CUSTOS_OIDC_JWKS_URL', 'CUSTOS_OIDC_JWKS_FILE', 'CUSTOS_OIDC_HS256_SECRET'] as const;
const OIDC_DEPENDENT = ['CUSTOS_OIDC_AUDIENCE', ...OIDC_KEY_SOURCES, 'CUSTOS_OIDC_TENANT_CLAIM',
  'CUSTOS_OIDC_EMAIL_CLAIM', 'CUSTOS_OIDC_CLOCK_TOLERANCE_SECONDS'] as const;

function oidcKeys(env: Env, production: boolean): OidcConfig['jwks'] {
  const set = OIDC_KEY_SOURCES.filter((name) => str(env, name) !== undefined);
  if (set.length !== 1) {
    throw set.length === 0
      ? new ConfigError(OIDC_KEY_SOURCES.join(' or '), 'must be set when CUSTOS_OIDC_ISSUER is set (exactly one key source)')
      : new ConfigError(set.join(' and '), 'are set together; set exactly one key source');
  }
  const name = set[0];
  const value = str(env, name) as string;
  switch (name) {
    case 'CUSTOS_OIDC_JWKS_URL':
      return { url: webUrl(name, value, production) };
    case 'CUSTOS_OIDC_JWKS_FILE':
      return jwksFile(name, value);
    case 'CUSTOS_OIDC_HS256_SECRET':
      // Whoever holds a shared secret can mint tokens for any tenant: never in production.
      if (production) throw new ConfigError(name, 'is for development only; use CUSTOS_OIDC_JWKS_URL or CUSTOS_OIDC_JWKS_FILE in production');
      if (value.length < 32) throw new ConfigError(name, 'must be at least 32 characters long');
      return { hs256Secret: value };
  }
}

function oidc(env: Env, production: boolean): OidcConfig | null {
  const issuer = str(env, 'CUSTOS_OIDC_ISSUER');
  if (issuer === undefined) {
    // Half an OIDC setup is a mistake, not a request to turn sign-in off.
    const stray = OIDC_DEPENDENT.find((name) => str(env, name) !== undefined);
    if (stray) throw new ConfigError(stray, 'is set, so CUSTOS_OIDC_ISSUER must be set too');
    return null;
  }
  const audience = str(env, 'CUSTOS_OIDC_AUDIENCE');
  if (audience === undefined) throw new ConfigError('CUSTOS_OIDC_AUDIENCE', 'must be set when CUSTOS_OIDC_ISSUER is set');
  return {
    issuer: webUrl('CUSTOS_OIDC_ISSUER', issuer, production),
    audience,
    jwks: oidcKeys(env, production),
    tenantClaim: str(env, 'CUSTOS_OIDC_TENANT_CLAIM') ?? 'custos_tenant',
    emailClaim: str(env, 'CUSTOS_OIDC_EMAIL_CLAIM') ?? 'email',
    clockToleranceSeconds: int(env, 'CUSTOS_OIDC_CLOCK_TOLERANCE_SECONDS', 30, 0, 300),
  };
}

function signingKeyFile(env: Env, name = 'CUSTOS_AUDIT_SIGNING_KEY_FILE', kind = 'Ed25519'): string | null {
  const file = str(env, name);
  if (file === undefined) return null;
  const resolved = path.resolve(file);
  let pem: string;
  try {
    pem = readFileSync(resolved, 'utf8');
  } catch (e) {
    throw new ConfigError(name, `names a file that cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'}): ${resolved}`);
  }
  if (!/-----BEGIN PRIVATE KEY-----/.test(pem)) {
    throw new ConfigError(name, `must name a PEM (PKCS#8) ${kind} private key: ${resolved}`);
  }
  return resolved;
}

/**
 * The LTI issuer. Tools compare `iss` as a string and fetch keys below it, so it must be the URL they
 * reach this deployment at: https in production, where it has no sensible default; elsewhere the local server.
 */
function ltiIssuer(env: Env, production: boolean, port: number): string | null {
  const raw = str(env, 'CUSTOS_LTI_ISSUER');
  if (raw === undefined) return production ? null : `http://localhost:${port || 4000}`;
  const url = webUrl('CUSTOS_LTI_ISSUER', raw, production);
  const parsed = new URL(url);
  if (parsed.search || parsed.hash || parsed.username || parsed.password) {
    throw new ConfigError('CUSTOS_LTI_ISSUER', 'must be a plain base URL (no query, fragment or credentials)');
  }
  return url.replace(/\/+$/, '');
}

function appDatabaseUrl(env: Env): string | null {
  const url = databaseUrl(env, 'CUSTOS_APP_DATABASE_URL');
  if (url !== null && str(env, 'DATABASE_URL') === undefined) {
    throw new ConfigError('CUSTOS_APP_DATABASE_URL', 'is set, so DATABASE_URL (the schema owner) must be set too');
  }
  return url;
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
    appDatabaseUrl: appDatabaseUrl(env),
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
    auditSigningKeyFile: signingKeyFile(env),
    sealIntervalMs: int(env, 'CUSTOS_SEAL_INTERVAL_MS', 1000, 50, 3_600_000),
    jobIntervalMs: int(env, 'CUSTOS_JOB_INTERVAL_MS', 1000, 50, 3_600_000),
    maxRequestBytes: int(env, 'CUSTOS_MAX_REQUEST_BYTES', 8 * 1024 * 1024, 16 * 1024, 512 * 1024 * 1024),
    importMaxFileBytes: int(env, 'CUSTOS_IMPORT_MAX_FILE_BYTES', 200 * 1024 * 1024, 1024, 8 * 1024 * 1024 * 1024),
    oidc: oidc(env, nodeEnv === 'production'),
    ltiIssuer: ltiIssuer(env, nodeEnv === 'production', int(env, 'PORT', 4000, 0, 65535)),
    ltiSigningKeyFile: signingKeyFile(env, 'CUSTOS_LTI_SIGNING_KEY_FILE', 'RSA'),
  };
}
