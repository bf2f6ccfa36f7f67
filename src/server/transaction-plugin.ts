import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError } from 'graphql';
import type { RequestContext } from './context';
import { AppError, ErrorCode, unauthenticated } from '../shared/errors';
import { canWrite } from '../auth/principal';
import { currentRequestScope } from '../shared/request-scope';

/**
 * Runs each operation inside one database transaction and refuses callers at the door.
 *
 * - A request without a valid credential is answered UNAUTHENTICATED before execution starts: no
 *   resolver runs, no data is read. A read-only principal (an auditor, a service without a write
 *   scope) sending a mutation is answered FORBIDDEN at the same point.
 * - The transaction is bound to the caller's tenant (`custos.tenant_id`, transaction-local): the
 *   row-level security policies then hide every other tenant's rows from every statement it runs.
 * - Queries run READ ONLY. Each mutation field runs in its own savepoint (services use
 *   `em.transactional`), so one failed mutation in a document does not undo the others.
 * - The transaction commits before the response leaves. If the commit fails, the client gets an
 *   error and no data: nothing is reported as done that was not durably done.
 */
export function transactionPlugin(opts: { exposeSqlStats: boolean }): ApolloServerPlugin<RequestContext> {
  return {
    async requestDidStart() {
      let open = false;
      return {
        async didResolveOperation({ contextValue, operation }) {
          if (contextValue.authError) throw contextValue.authError;
          const principal = contextValue.principal;
          if (!principal) throw unauthenticated();
          if (operation?.operation === 'mutation' && !canWrite(principal)) {
            throw new AppError(ErrorCode.FORBIDDEN, 'This credential is read-only: it may not run mutations.', { http: { status: 403 } });
          }
        },
        async executionDidStart({ contextValue, operation }) {
          await contextValue.em.begin({ readOnly: operation.operation === 'query' });
          open = true;
          await contextValue.em.execute("select set_config('custos.tenant_id', ?, true)", [contextValue.tenantId]);
        },
        async willSendResponse({ contextValue, response }) {
          if (open) {
            open = false;
            try {
              await contextValue.em.commit();
            } catch (err) {
              contextValue.log.error({ err }, 'commit failed');
              await contextValue.em.rollback().catch(() => undefined);
              response.http.status = 503;
              response.body = {
                kind: 'single',
                singleResult: {
                  errors: [new GraphQLError('The change could not be saved; retry.', {
                    extensions: { code: ErrorCode.SERVICE_UNAVAILABLE, retryable: true },
                  }).toJSON()],
                },
              };
            }
          }
          const scope = currentRequestScope();
          if (opts.exposeSqlStats && scope) response.http.headers.set('x-custos-sql-statements', String(scope.sqlStatements));
        },
      };
    },
  };
}
