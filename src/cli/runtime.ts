import pino from 'pino';
import { validate } from 'class-validator';
import { loadConfig, type Config } from '../config/config';
import { openDatabase, type Database } from '../db/database';
import type { Logger } from '../shared/logger';
import { Tenant } from '../modules/tenant/tenant.entity';
import { User } from '../modules/user/user.entity';
import { ApiToken, TokenKind } from '../modules/token/api-token.entity';
import type { EntityManager } from '@mikro-orm/postgresql';

/** An expected failure: printed as one line on stderr, no stack trace. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1, readonly code = 'CLI_ERROR') {
    super(message);
    this.name = 'CliError';
  }
}

export interface CommonOptions {
  json?: boolean;
}

/**
 * The CLI logs at `warn` unless LOG_LEVEL is set, and to stderr, so that stdout holds only the
 * command's output (one JSON object with --json). Same redaction as the server's logger.
 */
export function cliLogger(config: Config): Logger {
  const level = process.env.LOG_LEVEL?.trim() ? config.logLevel : 'warn';
  return pino(
    {
      level,
      base: { service: 'custos', component: 'cli' },
      redact: {
        paths: ['req.headers.authorization', 'authorization', 'token', 'email', '*.email', 'password'],
        censor: '[redacted]',
      },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}

export interface CliContext {
  config: Config;
  log: Logger;
  db: Database;
  /** A fresh EntityManager for this command, on the owner's connection (the CLI acts as the system). */
  em: EntityManager;
}

/**
 * Loads the configuration, opens the database (embedded or DATABASE_URL), runs `work`, and closes
 * the database whatever happens, so an embedded PostgreSQL started here is stopped again.
 */
export async function withDatabase<T>(opts: { migrate: boolean; application?: boolean }, work: (ctx: CliContext) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const log = cliLogger(config);
  let db: Database;
  try {
    db = await openDatabase(config, log, { migrate: opts.migrate, application: opts.application ?? false });
  } catch (err) {
    throw new CliError(`Could not open the database: ${err instanceof Error ? err.message : String(err)}`, 1, 'DATABASE');
  }
  try {
    return await work({ config, log, db, em: db.owner.em.fork() as EntityManager });
  } finally {
    try {
      await db.close();
    } catch (err) {
      log.error({ err }, 'closing the database failed');
    }
  }
}

/** Writes the result: the JSON object with --json, the human-readable text otherwise. */
export function output(opts: CommonOptions, json: unknown, text: () => string): void {
  process.stdout.write(opts.json ? `${JSON.stringify(json)}\n` : `${text()}\n`);
}

/** A plain text table: one header row, columns padded to their widest cell. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  return [line(headers), ...rows.map(line)].join('\n');
}

/** `2026-11-22 14:05 UTC`, or `-` when absent. */
export function when(date: Date | string | null | undefined): string {
  if (!date) return '-';
  return `${new Date(date).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** Runs class-validator on an input object; the first problem becomes a CliError naming the option. */
export async function validateInput(input: object, optionOf: Record<string, string>): Promise<void> {
  const errors = await validate(input, { forbidUnknownValues: false });
  if (!errors.length) return;
  const first = errors[0];
  const message = Object.values(first.constraints ?? {})[0] ?? `${first.property} is not valid`;
  const option = optionOf[first.property];
  throw new CliError(option ? `Invalid ${option}: ${message}.` : `${message}.`, 1, 'BAD_USER_INPUT');
}

export async function findTenant(em: EntityManager, slug: string): Promise<Tenant> {
  const tenant = await em.findOne(Tenant, { slug: slug.trim().toLowerCase() });
  if (!tenant) throw new CliError(`Unknown tenant "${slug}": no tenant has this slug.`, 1, 'NOT_FOUND');
  return tenant;
}

export async function findMemberByEmail(em: EntityManager, tenant: Tenant, email: string): Promise<User> {
  const normalized = email.trim().toLowerCase();
  const user = await em.findOne(User, { tenantId: tenant.id, email: normalized });
  if (!user) throw new CliError(`No member of tenant "${tenant.slug}" has the email "${normalized}".`, 1, 'NOT_FOUND');
  return user;
}

export interface TokenView {
  id: string;
  prefix: string;
  /** USER, AUDITOR or SERVICE (as in the API's TokenKind). */
  kind: TokenKind;
  /** Named rights of a SERVICE token; empty for the others. */
  scopes: string[];
  label: string;
  /** The member a USER token signs in as; null for AUDITOR and SERVICE tokens. */
  email: string | null;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
  lastUsedAt: string | null;
  /** AUDITOR tokens: the window of events the auditor may see (null: open). */
  auditFrom?: string | null;
  auditUntil?: string | null;
}

/** What the CLI shows of a token: never its secret (Custos does not have it) nor its hash. */
export function tokenView(token: ApiToken, email: string | null): TokenView {
  const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
  return {
    id: token.id,
    prefix: token.prefix,
    kind: token.kind,
    scopes: [...token.scopes],
    label: token.label,
    email,
    createdAt: iso(token.createdAt)!,
    expiresAt: iso(token.expiresAt)!,
    revokedAt: iso(token.revokedAt),
    lastUsedAt: iso(token.lastUsedAt),
    ...(token.kind === 'AUDITOR' ? { auditFrom: iso(token.auditFrom), auditUntil: iso(token.auditUntil) } : {}),
  };
}

export const ONCE_WARNING = 'Store it now: this is the only time the token is shown. Custos keeps only its hash.';

/** Parses a whole number option (commander calls this with the raw text). */
/** An option holding an ISO 8601 date or date-time (a date alone is midnight UTC). */
export function isoTime(name: string) {
  return (raw: string): Date => {
    const d = new Date(raw.trim());
    if (!/^\d{4}-\d{2}-\d{2}/.test(raw.trim()) || Number.isNaN(d.getTime())) {
      throw new CliError(`${name} must be an ISO 8601 date or date-time, got "${raw}".`, 2, 'USAGE');
    }
    return d;
  };
}

export function wholeNumber(name: string, min: number, max: number) {
  return (raw: string): number => {
    if (!/^\d+$/.test(raw.trim())) throw new CliError(`${name} must be a whole number, got "${raw}".`, 2, 'USAGE');
    const n = Number(raw);
    if (n < min || n > max) throw new CliError(`${name} must be between ${min} and ${max}, got ${n}.`, 2, 'USAGE');
    return n;
  };
}
