import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError } from 'graphql';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { RequestContext } from './context';
import { AppError, ErrorCode, unauthenticated } from '../shared/errors';
import { canWrite } from '../auth/principal';
import { currentRequestScope } from '../shared/request-scope';
import { rootFieldsOf } from '../audit/operation';
import { writeEvents } from '../audit/store';
import type { ErrorFact } from '../audit/recorder';

/** Who is asking, as the row-level security policies see it (see the processing-restriction migration). */
export interface Viewer {
  /** The member asking, if any: a restricted person still sees their own rows. */
  userId: string | null;
  /** Administrators and Custos's own jobs see restricted people's rows; everyone else does not. */
  privileged: boolean;
}

/**
 * Binds a transaction to a tenant and a viewer (transaction-local settings): the tenant-isolation
 * policies read the tenant, the processing-restriction policies the viewer. Without a viewer the
 * transaction sees no restricted person's rows.
 */
export async function bindTenant(em: EntityManager, tenantId: string, viewer: Viewer = { userId: null, privileged: false }): Promise<void> {
  await em.execute(
    "select set_config('custos.tenant_id', ?, true), set_config('custos.viewer_id', ?, true), set_config('custos.viewer_privileged', ?, true)",
    [tenantId, viewer.userId ?? '', viewer.privileged ? 'on' : 'off']);
}

/**
 * Runs each operation inside one database transaction, refuses callers at the door, and writes the
 * request's access events before anything leaves.
 *
 * - A request without a valid credential is answered UNAUTHENTICATED before execution starts: no
 *   resolver runs, no data is read. A read-only principal (an auditor, a service without a write
 *   scope) sending a mutation is answered FORBIDDEN at the same point, and that refusal is recorded.
 * - The transaction is bound to the caller's tenant (`custos.tenant_id`, transaction-local): the
 *   row-level security policies then hide every other tenant's rows from every statement it runs.
 * - Each mutation field runs in its own savepoint (services use `em.transactional`), so one failed
 *   mutation in a document does not undo the others.
 * - Before the commit, the access events are written on the same transaction: a mutation's events
 *   commit with its change or not at all. If writing them or committing fails, the client gets an
 *   error and no data (fail closed): nothing leaves that was not durably recorded.
 */
export function transactionPlugin(opts: { exposeSqlStats: boolean; accessLog: boolean }): ApolloServerPlugin<RequestContext> {
  return {
    async requestDidStart() {
      let open = false;
      return {
        async didResolveOperation({ contextValue, operation, document }) {
          if (contextValue.authError) throw contextValue.authError;
          const principal = contextValue.principal;
          if (!principal) throw unauthenticated();
          if (operation && operation.operation !== 'subscription') {
            contextValue.audit.setOperation(operation.operation, operation.name?.value ?? null, rootFieldsOf(operation, document));
          }
          if (operation?.operation === 'mutation' && !canWrite(principal)) {
            throw new AppError(ErrorCode.FORBIDDEN, 'This credential is read-only: it may not run mutations.', { http: { status: 403 } });
          }
        },
        async executionDidStart({ contextValue }) {
          await contextValue.em.begin();
          open = true;
          const access = contextValue.access;
          await bindTenant(contextValue.em, contextValue.tenantId, { userId: access.userIdOrNull, privileged: access.isAdmin });
        },
        async willSendResponse({ contextValue: ctx, response }) {
          const body = response.body.kind === 'single' ? response.body.singleResult : null;
          const errors: ErrorFact[] = (body?.errors ?? []).map((e) => ({ code: e.extensions?.code, path: e.path }));
          try {
            if (open) {
              open = false;
              if (opts.accessLog) await writeEvents(ctx.em, ctx.audit.events(ctx.tenantId, errors));
              await ctx.em.commit();
            } else if (opts.accessLog && ctx.principal && errors.some((e) => e.code === ErrorCode.FORBIDDEN)) {
              // Refused before execution: no transaction was opened, but the refusal is still recorded.
              await ctx.em.transactional(async (em) => {
                await bindTenant(em, ctx.tenantId);
                await writeEvents(em, ctx.audit.events(ctx.tenantId, errors));
              });
            }
          } catch (err) {
            ctx.log.error({ err }, 'recording or committing the request failed');
            await ctx.em.rollback().catch(() => undefined);
            response.http.status = 503;
            response.body = {
              kind: 'single',
              singleResult: {
                errors: [new GraphQLError('The request could not be completed and nothing was changed; retry.', {
                  extensions: { code: ErrorCode.SERVICE_UNAVAILABLE, retryable: true },
                }).toJSON()],
              },
            };
          }
          const scope = currentRequestScope();
          if (opts.exposeSqlStats && scope) response.http.headers.set('x-custos-sql-statements', String(scope.sqlStatements));
        },
      };
    },
  };
}
