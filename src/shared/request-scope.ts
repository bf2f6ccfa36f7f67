import { AsyncLocalStorage } from 'node:async_hooks';

/** Per-request facts that code far from the request (the SQL logger) needs to see. */
export interface RequestScope {
  requestId: string;
  sqlStatements: number;
}

const storage = new AsyncLocalStorage<RequestScope>();

export function runInRequestScope<T>(scope: RequestScope, fn: () => T): T {
  return storage.run(scope, fn);
}

export function currentRequestScope(): RequestScope | undefined {
  return storage.getStore();
}
