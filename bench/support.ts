import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { MikroORM } from '@mikro-orm/postgresql';
import { loadConfig, type Config } from '../src/config/config';
import { startEmbeddedPostgres } from '../src/db/embedded';
import { startServer, type RunningServer } from '../src/server/app';
import type { Logger } from '../src/shared/logger';
import type { Variant } from './comparisons';

/**
 * Server configuration shared by every variant: production (no development-only extras), the SQL
 * statement header on, logs off, and a page size limit large enough for the 200-student roster.
 */
export const BASE_ENV: Record<string, string> = {
  NODE_ENV: 'production',
  PORT: '0',
  HOST: '127.0.0.1',
  CUSTOS_SQL_STATS: 'true',
  LOG_LEVEL: 'silent',
  CUSTOS_DB_POOL_MAX: '10',
  CUSTOS_MAX_PAGE_SIZE: '200',
};

export function benchConfig(extra: Record<string, string> = {}): Config {
  return loadConfig({ ...BASE_ENV, ...extra });
}

/** A fresh, empty database of its own, on the bench's PostgreSQL server. */
export interface BenchDatabase {
  /** Owner (superuser) URL of the fresh database. */
  ownerUrl: string;
  name: string;
  /** Where it runs, for the report (no password). */
  description: string;
  /** Drops the database and its application role (idempotent). */
  close: () => Promise<void>;
}

/** The PostgreSQL server the bench works on: DATABASE_URL's, or an embedded one started for the run. */
export interface BenchServer {
  /** Where it runs, for the report (no password). */
  description: string;
  /** Creates `custos_bench_<random>`; dropped by its own close() or, at the latest, by the server's. */
  createDatabase: () => Promise<BenchDatabase>;
  /** Drops every database still open, then stops the embedded PostgreSQL if one was started. */
  close: () => Promise<void>;
}

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

async function adminQuery(adminUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

/**
 * With DATABASE_URL (an owner/superuser URL), works on that server. Without it, starts an embedded
 * PostgreSQL in a temporary folder (as the tests' global setup does). Each part of the bench then
 * creates a database of its own there.
 */
export async function openBenchServer(log: Logger): Promise<BenchServer> {
  const external = process.env.DATABASE_URL?.trim();
  let adminUrl: string;
  let where: string;
  let stopEmbedded = async () => undefined as void;
  if (external) {
    adminUrl = external;
    where = redact(external);
  } else {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'custos-bench-pg-'));
    const embedded = await startEmbeddedPostgres({ dataDir, port: await freePort(), database: 'custos_bench', logger: log })
      .catch((err: unknown) => {
        rmSync(dataDir, { recursive: true, force: true });
        throw err;
      });
    adminUrl = embedded.url;
    where = `embedded PostgreSQL in ${dataDir}`;
    stopEmbedded = async () => {
      await embedded.stop();
      rmSync(dataDir, { recursive: true, force: true });
    };
  }

  const open = new Map<string, () => Promise<void>>();
  return {
    description: where,
    createDatabase: async () => {
      const name = `custos_bench_${randomBytes(5).toString('hex')}`;
      await adminQuery(adminUrl, `create database ${name}`);
      let dropped: Promise<void> | null = null;
      const drop = () => (dropped ??= (async () => {
        open.delete(name);
        await adminQuery(adminUrl, `drop database if exists ${name} with (force)`);
        await adminQuery(adminUrl, `drop role if exists ${name}_app`);
      })());
      open.set(name, drop);
      return { ownerUrl: withDatabase(adminUrl, name), name, description: `database ${name} on ${where}`, close: drop };
    },
    close: async () => {
      let failure: unknown = null;
      for (const drop of [...open.values()]) await drop().catch((err: unknown) => { failure ??= err; });
      await stopEmbedded();
      if (failure) throw failure;
    },
  };
}

/** Starts one server per distinct variant (by name), all on the same application connection. */
export async function startVariantServers(app: MikroORM, variants: Variant[], log: Logger): Promise<Map<string, RunningServer>> {
  const servers = new Map<string, RunningServer>();
  try {
    for (const v of variants) {
      if (servers.has(v.name)) continue;
      servers.set(v.name, await startServer(app, benchConfig(v.env), log, v.options));
    }
  } catch (err) {
    await closeServers(servers);
    throw err;
  }
  return servers;
}

export async function closeServers(servers: Map<string, RunningServer>): Promise<void> {
  await Promise.allSettled([...servers.values()].map((s) => s.close()));
}

interface PoolStats {
  numUsed(): number;
  numPendingAcquires(): number;
}

/**
 * Waits until no request holds or waits for a database connection. When a load stops, the clients
 * hang up but the server still works through the requests it accepted; without this wait, that tail
 * would run into the next measurement (or, at the end, into the closing pool).
 */
export async function waitUntilIdle(orm: MikroORM, timeoutMs = 30_000): Promise<void> {
  const pool = (orm.em.getConnection().getKnex().client as { pool?: PoolStats }).pool;
  if (!pool) return;
  const deadline = Date.now() + timeoutMs;
  let quiet = 0;
  while (quiet < 3) {
    if (Date.now() > deadline) throw new Error(`the server was still busy ${timeoutMs / 1000} s after the load stopped`);
    await new Promise((r) => setTimeout(r, 20));
    quiet = pool.numUsed() === 0 && pool.numPendingAcquires() === 0 ? quiet + 1 : 0;
  }
}

export interface GqlAnswer {
  status: number;
  data: unknown;
  errors?: { message: string; extensions?: { code?: string } }[];
  sqlStatements: number | null;
}

/** One GraphQL request over HTTP, as a client sends it. */
export async function gql(url: string, query: string, variables: Record<string, unknown>, token: string): Promise<GqlAnswer> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  let body: { data?: unknown; errors?: GqlAnswer['errors'] };
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`HTTP ${res.status}, not JSON: ${text.slice(0, 300)}`);
  }
  const sql = res.headers.get('x-custos-sql-statements');
  return { status: res.status, data: body.data, errors: body.errors, sqlStatements: sql === null ? null : Number(sql) };
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** A positive number from the environment (or zero, when `allowZero`), or the default. */
export function envNumber(name: string, def: number, { integer = false, allowZero = false } = {}): number {
  const raw = process.env[name]?.trim();
  if (!raw) return def;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || (n === 0 && !allowZero) || (integer && !Number.isInteger(n))) {
    throw new Error(`${name} must be a ${integer ? 'whole number' : 'number'} ${allowZero ? 'of 0 or more' : 'greater than 0'}, got "${raw}"`);
  }
  return n;
}

export const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

/** Nearest-rank percentile (p in 0–100) of the values; NaN when there are none. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}
