import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { recordSystemAccess } from '../../audit/system-events';
import type { DataCategory } from '../../privacy/categories';
import type { RequestContext } from '../../server/context';
import { bindTenant } from '../../server/transaction-plugin';
import { importOneRoster, type PersonalWrites, type RosterImportOptions, type RosterImportResult } from './import';
import type { RosterSource } from './source';

/**
 * The two ways in: `custos import oneroster` (the system, on the application role's connection) and the
 * `importRoster` mutation (a SERVICE credential with roster:import, on its request's transaction). Both
 * record the import's writes as access events with purpose sis.sync, one per set of categories changed.
 */

/** People grouped by the exact set of categories the import changed about them: one event subject list each. */
function groupByCategories(writes: PersonalWrites): { categories: DataCategory[]; userIds: string[] }[] {
  const groups = new Map<string, { categories: DataCategory[]; userIds: string[] }>();
  for (const [userId, set] of writes) {
    const categories = [...set].sort();
    const key = categories.join(',');
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { categories, userIds: [] }));
    g.userIds.push(userId);
  }
  return [...groups.values()];
}

/** Events hold at most this many subjects each (a roster of 10,000 people is a few events, not one huge one). */
const SUBJECTS_PER_EVENT = 1_000;

/** The command line's import: its own transaction, bound to the tenant with a privileged viewer. */
export async function importRosterAsSystem(app: MikroORM, tenantId: string, source: RosterSource,
  opts: Omit<RosterImportOptions, 'actor'>): Promise<RosterImportResult> {
  return app.em.fork().transactional(async (em) => {
    await bindTenant(em as EntityManager, tenantId, { userId: null, privileged: true });
    return importOneRoster(em as EntityManager, tenantId, source, { ...opts, actor: 'cli' }, async (writes, importId) => {
      const accesses = groupByCategories(writes).flatMap(({ categories, userIds }) => {
        const out = [];
        for (let i = 0; i < userIds.length; i += SUBJECTS_PER_EVENT) {
          out.push({
            tenantId, requestId: `import:${importId}`, operation: 'Import.oneroster' as const, kind: 'WRITE' as const, purpose: 'sis.sync' as const,
            subjects: userIds.slice(i, i + SUBJECTS_PER_EVENT).map((userId) => ({ userId, categories })),
            resources: [`SisImport:${importId}`], now: opts.now,
          });
        }
        return out;
      });
      if (accesses.length) await recordSystemAccess(em as EntityManager, ...accesses);
    });
  });
}

/**
 * The mutation's import, on the request's transaction. People under restriction are hidden from a
 * SERVICE credential's reads; the import needs to see them to leave them alone, so the transaction is
 * bound with a privileged viewer while the import runs, and bound back afterwards.
 */
export async function importRosterForRequest(ctx: RequestContext, source: RosterSource,
  opts: Omit<RosterImportOptions, 'actor'>): Promise<RosterImportResult> {
  const actor = ctx.principal?.credential.id ?? 'unknown';
  await bindTenant(ctx.em, ctx.tenantId, { userId: null, privileged: true });
  try {
    return await importOneRoster(ctx.em, ctx.tenantId, source, { ...opts, actor }, async (writes, importId) => {
      for (const { categories, userIds } of groupByCategories(writes)) ctx.audit.wrote(userIds, categories);
      ctx.audit.addressed(`SisImport:${importId}`);
    });
  } finally {
    await bindTenant(ctx.em, ctx.tenantId, { userId: null, privileged: false });
  }
}
