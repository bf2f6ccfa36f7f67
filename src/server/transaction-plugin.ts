import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError } from 'graphql';
import type { RequestContext } from './context';
import { ErrorCode, unauthenticated } from '../shared/errors';
import { currentRequestScope } from '../shared/request-scope';

/**
 * Runs each operation inside one database transaction and refuses callers at the door.
 *
 * - A request without a valid credential is answered UNAUTHENTICATED before execution starts: no
 *   resolver runs, no data is read.
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
        async didResolveOperation({ contextValue }) {
          if (contextValue.authError) throw contextValue.authError;
          if (!contextValue.principal) throw unauthenticated();
        },
        async executionDidStart({ contextValue, operation }) {
          await contextValue.em.begin({ readOnly: operation.operation === 'query' });
          open = true;
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
