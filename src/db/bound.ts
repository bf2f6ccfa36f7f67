import type { EntityManager } from '@mikro-orm/postgresql';
import type { Knex } from '@mikro-orm/postgresql';
import { currentRequestScope } from '../shared/request-scope';

/**
 * Runs one statement with its parameters bound by the server, on the EntityManager's transaction if
 * it has one. `em.execute` writes parameters into the SQL text instead, which for the access log's
 * large JSON and array parameters cost more than the statement itself. Placeholders are `?`; pass
 * arrays as JSON text or PostgreSQL array literals (a JavaScript array would be expanded into a list).
 */
export async function execBound<T = Record<string, unknown>>(em: EntityManager, sql: string, params: readonly unknown[]): Promise<T[]> {
  const query = em.getConnection().getKnex().raw(sql, params as Knex.RawBinding[]);
  const trx = em.getTransactionContext<Knex.Transaction>();
  if (trx) query.transacting(trx);
  const scope = currentRequestScope();
  if (scope) scope.sqlStatements++;
  const result = (await query) as { rows: T[] };
  return result.rows;
}

/** A PostgreSQL array literal for uuids, numbers or hex strings (no quoting needed for those). */
export function pgArray(values: readonly (string | number)[]): string {
  for (const v of values) {
    if (typeof v === 'string' && !/^[0-9a-fA-F-]+$/.test(v)) throw new Error('pgArray takes uuids, numbers or hex only');
  }
  return `{${values.join(',')}}`;
}

/** A PostgreSQL text[] literal for any strings: every element quoted, backslashes and quotes escaped. */
export function pgTextArray(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',')}}`;
}
