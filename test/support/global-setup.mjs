// Starts one PostgreSQL for the whole run (embedded, unless DATABASE_URL is set). Each test file
// then creates its own database on it (see harness.ts), so files never see each other's rows.
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export default async function globalSetup() {
  if (process.env.DATABASE_URL) {
    process.env.CUSTOS_TEST_ADMIN_URL = process.env.DATABASE_URL;
    return;
  }
  const { startEmbeddedPostgres } = require('../../dist/src/db/embedded.js');
  const pino = require('pino');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'custos-test-pg-'));
  const db = await startEmbeddedPostgres({
    dataDir, port: await freePort(), database: 'custos_test', logger: pino({ level: 'warn' }),
  });
  process.env.CUSTOS_TEST_ADMIN_URL = db.url;
  globalThis.__CUSTOS_TEST_PG__ = { db, dataDir };
}
