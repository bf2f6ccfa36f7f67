import type { EntityManager } from '@mikro-orm/postgresql';
import type { VerifyReport } from '../../audit/verify';
import { execBound } from '../../db/bound';

/**
 * Stores what one `custos audit verify` run found, one row per tenant it verified, for the chain
 * status report. A failure that names no tenant (the seal watermark moved back, say) counts against
 * every tenant verified. The root cause is the tenant's first failure in root-cause order.
 */
export async function recordVerification(em: EntityManager, report: VerifyReport, trustedKeyIds: string[], at: Date): Promise<void> {
  const rows = report.tenants.map((t) => {
    const failures = report.failures.filter((f) => f.tenantId === t.tenantId || f.tenantId === null);
    return {
      tenant_id: t.tenantId, ok: failures.length === 0, root_cause: failures[0]?.code ?? null, failures: failures.length,
      tree_size: t.treeSize, checkpoints: t.checkpoints,
    };
  });
  if (rows.length === 0) return;
  await execBound(em,
    `insert into audit_verification (tenant_id, verified_at, ok, root_cause, failures, tree_size, checkpoints, trusted_keys)
     select r.tenant_id, ?::timestamptz, r.ok, r.root_cause, r.failures, r.tree_size, r.checkpoints, ?::text[]
       from jsonb_to_recordset(?::jsonb) as r(tenant_id uuid, ok boolean, root_cause text, failures integer, tree_size bigint, checkpoints integer)`,
    [at.toISOString(), `{${trustedKeyIds.join(',')}}`, JSON.stringify(rows)]);
}
