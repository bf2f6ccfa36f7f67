import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { DataCategory } from '../privacy/categories';
import type { Purpose } from './purposes';
import type { AccessEvent } from './events';
import { writeEvents } from './store';

/**
 * Access events of work nobody's request is doing: background jobs and tenant policies (an automatic
 * approval, a scheduled purge). The actor is SYSTEM, the operation type `system`, and `operation` names
 * the step as a coordinate (`Job.dataRequest`). Written on the caller's transaction, so the event
 * commits exactly when the work does.
 */
export interface SystemAccess {
  tenantId: string;
  /** Groups the events of one run (a job id and attempt, say). */
  requestId: string;
  operation: `${string}.${string}`;
  /** DISCLOSE: sent outside Custos (a notice to a tool); the recipient among `resources`. */
  kind: 'READ' | 'WRITE' | 'DISCLOSE';
  purpose: Purpose;
  subjects: { userId: string; categories: DataCategory[] }[];
  resources?: string[];
  now?: Date;
}

export function systemEvent(a: SystemAccess): AccessEvent {
  return {
    id: randomUUID(),
    tenantId: a.tenantId,
    occurredAt: a.now ?? new Date(),
    requestId: a.requestId,
    operationType: 'system',
    operationName: null,
    rootField: a.operation,
    fields: [a.operation],
    purpose: a.purpose,
    actor: { kind: 'SYSTEM', role: null, userId: null, credentialId: null, ip: null, userAgent: null },
    resources: a.resources ?? [],
    kind: a.kind,
    outcome: 'SUCCESS',
    subjects: a.subjects.map((s) => ({ userId: s.userId, categories: [...new Set(s.categories)].sort() })),
    itemCount: a.subjects.length,
  };
}

/** Records system work on `em`'s transaction (validated like every event; throws rather than write a bad one). */
export async function recordSystemAccess(em: EntityManager, ...accesses: SystemAccess[]): Promise<void> {
  await writeEvents(em, accesses.map(systemEvent));
}
