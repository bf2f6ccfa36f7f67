import { randomBytes } from 'node:crypto';
import pg from 'pg';
import pino from 'pino';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print, type DocumentNode } from 'graphql';
import { loadConfig, type Config } from '../../src/config/config';
import { connectDatabase, type Database } from '../../src/db/database';
import { startServer, type RunningServer, type ServerOptions } from '../../src/server/app';
import { ltiKeyFromPem, type LtiPlatform, type LtiSigningKey } from '../../src/modules/lti/lti.key';
import { generateKeyPairSync } from 'node:crypto';

/** One LTI signing key per test process, kept in memory (the server would otherwise write one into ./.custos). */
let testLtiKey: Promise<LtiSigningKey> | undefined;
const ltiKey = () => (testLtiKey ??= ltiKeyFromPem(
  generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string));

/** URL of a database on the test server (CUSTOS_TEST_ADMIN_URL is set by global-setup.mjs). */
export function databaseUrl(database: string): string {
  const admin = process.env.CUSTOS_TEST_ADMIN_URL;
  if (!admin) throw new Error('CUSTOS_TEST_ADMIN_URL is not set: run the tests through jest (global-setup.mjs).');
  const url = new URL(admin);
  url.pathname = `/${database}`;
  return url.toString();
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: process.env.CUSTOS_TEST_ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * Creates an empty database for one test file. Dropping it also drops its application role
 * (`<database>_app`, made by the migrations): roles belong to the server, not to the database.
 */
export async function createTestDatabase(prefix = 'custos_t'): Promise<{ name: string; url: string; drop: () => Promise<void> }> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await adminQuery(`create database ${name}`);
  return {
    name,
    url: databaseUrl(name),
    drop: async () => {
      await adminQuery(`drop database if exists ${name} with (force)`);
      await adminQuery(`drop role if exists ${name}_app`);
    },
  };
}

export interface GqlResponse<T> {
  status: number;
  headers: Headers;
  data: T | null | undefined;
  errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }[];
  /** SQL statements the server ran for this request (x-custos-sql-statements). */
  sqlStatements: number;
}

export interface TestApp {
  url: string;
  /** The owner's connection: seeding and checking what was written, across tenants. */
  orm: MikroORM;
  /** The application role's connection, which the server uses (bound by row-level security). */
  appOrm: MikroORM;
  /** The owner's connection string of this test's database (for raw clients of its own). */
  databaseUrl: string;
  config: Config;
  /** The LTI issuer and key the server signs launches with (give it to a JobRunner that delivers notices). */
  lti: LtiPlatform;
  /** Sends a GraphQL request over HTTP, as a client would. */
  gql<R, V>(doc: TypedDocumentNode<R, V> | DocumentNode | string, variables?: V, token?: string | null): Promise<GqlResponse<R>>;
  /** A raw HTTP request to the server. */
  http(path: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

/** A migrated database of its own and the real HTTP server on a free port, connected as the application role. */
export async function startTestApp(env: Record<string, string> = {}, opts: ServerOptions = {}): Promise<TestApp> {
  const db = await createTestDatabase();
  const config = loadConfig({ NODE_ENV: 'test', PORT: '0', HOST: '127.0.0.1', CUSTOS_SQL_STATS: 'true', CUSTOS_DB_POOL_MAX: '5', ...env });
  const log = pino({ level: process.env.CUSTOS_TEST_LOG ?? 'silent' });
  let database: Database;
  let server: RunningServer;
  try {
    database = await connectDatabase(db.url, config, log);
  } catch (err) {
    await db.drop();
    throw err;
  }
  const lti = opts.lti ?? { issuer: config.ltiIssuer, key: await ltiKey() };
  try {
    server = await startServer(database.app!, config, log, { ...opts, lti });
  } catch (err) {
    await database.close();
    await db.drop();
    throw err;
  }
  const base = server.url.replace(/\/graphql$/, '');
  return {
    url: server.url,
    orm: database.owner,
    appOrm: database.app!,
    databaseUrl: db.url,
    config,
    lti,
    async gql(doc, variables, token) {
      const query = typeof doc === 'string' ? doc : print(doc as DocumentNode);
      const res = await fetch(server.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await res.json()) as { data?: never; errors?: GqlResponse<never>['errors'] };
      return {
        status: res.status, headers: res.headers, data: body.data, errors: body.errors,
        sqlStatements: Number(res.headers.get('x-custos-sql-statements') ?? NaN),
      };
    },
    http: (path, init) => fetch(`${base}${path}`, init),
    async close() {
      await server.close();
      await database.close();
      await db.drop();
    },
  };
}

/** The error codes of a response, in order. */
export const codes = (res: { errors?: { extensions?: Record<string, unknown> }[] }) =>
  (res.errors ?? []).map((e) => e.extensions?.code);
