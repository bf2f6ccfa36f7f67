import type { EntityClass, EntityManager } from '@mikro-orm/postgresql';

export interface WindowedQuery {
  /** Table holding the children; aliased `t`. */
  table: string;
  /** Column of `t` naming the parent; rows are grouped by it. */
  parentColumn: string;
  parentIds: readonly string[];
  tenantId: string;
  /** ORDER BY inside each parent's group, e.g. `t.created_at desc, t.id desc`. */
  orderBy: string;
  /** Extra AND-ed conditions on `t`, with `?` placeholders, and their parameters in order. */
  where?: string[];
  params?: unknown[];
  /** Rows kept per parent. */
  limit: number;
}

/**
 * Fetches up to `limit` ordered children for many parents in one statement (a window function
 * numbers each parent's rows). This is what keeps nested lists free of N+1 queries.
 */
export async function fetchWindowed<E extends object>(
  em: EntityManager,
  entity: EntityClass<E>,
  q: WindowedQuery,
): Promise<Map<string, E[]>> {
  const groups = new Map<string, E[]>(q.parentIds.map((id) => [id, []]));
  if (q.parentIds.length === 0) return groups;
  const extra = (q.where ?? []).map((w) => ` and (${w})`).join('');
  const rows = await em.execute<Record<string, unknown>[]>(
    `select * from (
       select t.*, row_number() over (partition by t.${q.parentColumn} order by ${q.orderBy}) as custos_rn
         from ${q.table} t
        where t.tenant_id = ? and t.${q.parentColumn} in (?)${extra}
     ) w where w.custos_rn <= ? order by w.${q.parentColumn}, w.custos_rn`,
    [q.tenantId, [...q.parentIds], ...(q.params ?? []), q.limit],
  );
  for (const row of rows) {
    const { custos_rn: _rank, ...data } = row;
    groups.get(row[q.parentColumn] as string)?.push(em.map(entity, data as never));
  }
  return groups;
}

/** Counts children per parent in one statement. */
export async function countByParent(
  em: EntityManager,
  q: Omit<WindowedQuery, 'orderBy' | 'limit'>,
): Promise<Map<string, number>> {
  const counts = new Map<string, number>(q.parentIds.map((id) => [id, 0]));
  if (q.parentIds.length === 0) return counts;
  const extra = (q.where ?? []).map((w) => ` and (${w})`).join('');
  const rows = await em.execute<{ parent: string; n: string }[]>(
    `select t.${q.parentColumn} as parent, count(*) as n from ${q.table} t
      where t.tenant_id = ? and t.${q.parentColumn} in (?)${extra} group by t.${q.parentColumn}`,
    [q.tenantId, [...q.parentIds], ...(q.params ?? [])],
  );
  for (const r of rows) counts.set(r.parent, Number(r.n));
  return counts;
}
