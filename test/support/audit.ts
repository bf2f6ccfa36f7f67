import type { MikroORM } from '@mikro-orm/postgresql';
import { sealOnce } from '../../src/audit/sealer';
import type { SigningKey } from '../../src/audit/checkpoint';
import { sql } from './seed';

const unsealedCount = async (orm: MikroORM) => Number((await sql<{ n: string }>(orm,
  'select count(*) as n from access_event e where not exists (select 1 from audit_leaf l where l.event_id = e.id)'))[0].n);

/**
 * Seals until every committed event of this database is sealed. One round may not be enough: the
 * sealing horizon is the oldest transaction running anywhere on the server (transaction ids are
 * cluster-wide), and other test files share the server. Returns the rounds that sealed something.
 */
export async function sealEverything(orm: MikroORM, key: SigningKey, opts: { batchSize?: number; timeoutMs?: number } = {}): Promise<number> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let rounds = 0;
  for (;;) {
    const result = await sealOnce(orm, key, { batchSize: opts.batchSize });
    if (result.events > 0) rounds++;
    const left = await unsealedCount(orm);
    if (left === 0) return rounds;
    if (Date.now() > deadline) throw new Error(`${left} events still unsealed: a long transaction elsewhere on the server holds the horizon back`);
    if (result.events === 0) await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until some unsealed event is below the sealing horizon, so the next round has work to do. */
export async function waitUntilSealable(orm: MikroORM, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [{ n }] = await sql<{ n: string }>(orm, `select count(*) as n from access_event e
      where e.txid < pg_snapshot_xmin(pg_current_snapshot()) and not exists (select 1 from audit_leaf l where l.event_id = e.id)`);
    if (Number(n) > 0) return;
    if (Date.now() > deadline) throw new Error('no event became sealable');
    await new Promise((r) => setTimeout(r, 50));
  }
}

export { unsealedCount };
