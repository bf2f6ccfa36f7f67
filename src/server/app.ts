import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Config } from '../config/config';
import type { Logger } from '../shared/logger';
import { buildCustosSchema } from '../schema/build';
import { RequestContext } from './context';
import { createErrorFormatter } from './error-format';
import { transactionPlugin } from './transaction-plugin';
import { authenticate } from '../auth/authenticate';
import { createOidcVerifier } from '../auth/oidc';
import { runInRequestScope, type RequestScope } from '../shared/request-scope';
import { pendingMigrations } from '../db/orm';
import { exportDownload } from './export-download';
import { reportDownload } from '../modules/report/report.download';
import { jwksOf, loadLtiPlatform, type LtiPlatform } from '../modules/lti/lti.key';
import type { ApolloServerPlugin } from '@apollo/server';

export interface RunningServer {
  url: string;
  port: number;
  close: () => Promise<void>;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

export interface ServerOptions {
  /** Serve without the graphql-shield permissions. Only the access-control benchmark does this. */
  accessControl?: boolean;
  /** Record access events (default true). Only the access-log benchmark turns it off. */
  accessLog?: boolean;
  /** Extra Apollo plugins (tests use one to run SQL inside a real request). */
  plugins?: ApolloServerPlugin<RequestContext>[];
  /** The LTI issuer and signing key; default: the configured issuer and key (loaded or generated once into the data folder). */
  lti?: LtiPlatform;
}

/**
 * Builds the HTTP app (GraphQL on /graphql, /healthz, /readyz) and starts listening. `orm` must be the
 * application role's connection: row-level security is what keeps one tenant's request out of another's rows.
 */
export async function startServer(orm: MikroORM, config: Config, log: Logger, opts: ServerOptions = {}): Promise<RunningServer> {
  const app = express();
  app.disable('x-powered-by');
  const httpServer = http.createServer(app);
  const schema = await buildCustosSchema({ accessControl: opts.accessControl, accessLog: opts.accessLog });
  const development = config.env === 'development';
  const verifyJwt = config.oidc ? createOidcVerifier(config.oidc) : null;
  const lti: LtiPlatform = opts.lti
    ?? await loadLtiPlatform(config);

  const apollo = new ApolloServer<RequestContext>({
    schema,
    introspection: config.env !== 'production',
    includeStacktraceInErrorResponses: false,
    hideSchemaDetailsFromClientErrors: !development,
    allowBatchedHttpRequests: false,
    csrfPrevention: true,
    formatError: createErrorFormatter(log, development),
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer }),
      // Responses are per caller and never cached by HTTP intermediaries; this spares a hook on every field.
      ApolloServerPluginCacheControlDisabled(),
      transactionPlugin({ exposeSqlStats: config.exposeSqlStats, accessLog: opts.accessLog !== false }),
      ...(opts.plugins ?? []),
    ],
  });
  await apollo.start();

  // Request id and per-request scope (SQL statement counter) for everything below.
  app.use((req, res, next) => {
    const given = req.header('x-request-id');
    const scope: RequestScope = { requestId: given && REQUEST_ID.test(given) ? given : randomUUID(), sqlStatements: 0 };
    res.setHeader('x-request-id', scope.requestId);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      log.info({
        requestId: scope.requestId, method: req.method, path: req.originalUrl.split('?')[0], status: res.statusCode,
        ms: Number(process.hrtime.bigint() - started) / 1e6, sql: scope.sqlStatements,
      }, 'request');
    });
    runInRequestScope(scope, next);
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    try {
      await orm.em.getConnection().execute('select 1');
      const pending = await pendingMigrations(orm.em.fork());
      if (pending.length) {
        res.status(503).json({ status: 'migrations pending', pending });
        return;
      }
      res.json({ status: 'ready' });
    } catch {
      res.status(503).json({ status: 'database unreachable' });
    }
  });

  app.get('/exports/:requestId', exportDownload(orm, { jwt: verifyJwt, log }));
  // The audit reports as CSV: GET /reports/<name>.csv?from=…&until=…&role=…&category=…&purpose=…
  app.get('/reports/:file', reportDownload(orm, { jwt: verifyJwt, log, config }));

  // The keys tools verify id_tokens and notices with: public, no credential, cacheable.
  const jwks = JSON.stringify(jwksOf(lti.key));
  app.get('/.well-known/jwks.json', (_req, res) => {
    res.status(200).set({ 'content-type': 'application/json', 'cache-control': 'public, max-age=3600' }).send(jwks);
  });

  app.use(
    '/graphql',
    express.json({ limit: config.maxRequestBytes }),
    expressMiddleware(apollo, {
      context: async ({ req }) => {
        const em = orm.em.fork();
        const requestId = String(req.res?.getHeader('x-request-id') ?? randomUUID());
        let principal = null;
        let authError: Error | null = null;
        try {
          principal = await authenticate(em, req.header('authorization'), { jwt: verifyJwt });
        } catch (err) {
          authError = err as Error;
        }
        const ctx = new RequestContext(requestId, em, principal, config, log.child({ requestId }), {
          ip: req.ip ?? req.socket.remoteAddress ?? null,
          userAgent: req.header('user-agent')?.slice(0, 512) ?? null,
        });
        ctx.authError = authError;
        ctx.lti = lti;
        return ctx;
      },
    }),
  );

  // Malformed JSON bodies and oversized requests: a clear client error, never a stack trace.
  app.use((err: { status?: number; type?: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    const status = err.status && err.status >= 400 && err.status < 500 ? err.status : 500;
    if (status === 500) log.error({ err }, 'unhandled error');
    const message = err.type === 'entity.too.large' ? 'Request body too large.'
      : status === 400 ? 'Malformed request body.' : 'Internal server error.';
    const code = status === 500 ? 'INTERNAL_SERVER_ERROR' : 'BAD_REQUEST';
    res.status(status).json({ errors: [{ message, extensions: { code } }] });
  });

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.port, config.host, () => resolve());
  });
  const { port } = httpServer.address() as AddressInfo;
  const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  return {
    url: `http://${host}:${port}/graphql`,
    port,
    close: async () => {
      await apollo.stop(); // drains in-flight requests, then closes the HTTP server
    },
  };
}
