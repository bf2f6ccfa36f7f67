import { pgTimestamp } from '../db/timestamps';

/**
 * The exact bytes of an access event that its Merkle leaf hashes (RFC 6962: SHA-256(0x00 || bytes)).
 * Fixed for good: outside verifiers hash these bytes, and a checkpoint signed today must verify in
 * ten years. A JSON array (no key order to disagree on), version-tagged, with every column of the event
 * and its subjects sorted by pseudonym, their categories sorted.
 */
export const LEAF_FORMAT = 'custos.access_event.v1';

export interface EventRecord {
  id: string;
  tenant_id: string;
  occurred_at: Date | string;
  request_id: string;
  operation_type: string;
  operation_name: string | null;
  root_field: string;
  fields: string[];
  access_kind: string;
  purpose: string;
  actor_kind: string;
  actor_role: string | null;
  actor_pseudonym: string | null;
  credential_id: string | null;
  resources: string[];
  outcome: string;
  error_code: string | null;
  item_count: number;
  actor_ip: Buffer | null;
  actor_user_agent: Buffer | null;
  /** [pseudonym, categories] of each subject. */
  subjects: [string, string[]][];
}

/** The event's own columns, in the order `leafBytes` uses them (subjects are read separately in batches). */
export const EVENT_FIELDS = `e.id, e.tenant_id, e.occurred_at, e.request_id, e.operation_type, e.operation_name, e.root_field, e.fields,
  e.access_kind, e.purpose, e.actor_kind, e.actor_role, e.actor_pseudonym, e.credential_id, e.resources, e.outcome, e.error_code,
  e.item_count, e.actor_ip, e.actor_user_agent`;

/** The event's columns with its subjects, for reading one event (or a few) at a time. */
export const EVENT_COLUMNS = `${EVENT_FIELDS},
  coalesce((select json_agg(json_build_array(s.pseudonym, s.categories) order by s.pseudonym)
              from access_event_subject s where s.event_id = e.id), '[]'::json) as subjects`;

const b64 = (b: Buffer | null) => (b ? b.toString('base64') : null);

export function leafBytes(e: EventRecord): Buffer {
  const subjects = [...e.subjects]
    .map(([p, cats]) => [p, [...cats].sort()] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return Buffer.from(JSON.stringify([
    LEAF_FORMAT, e.id, e.tenant_id, pgTimestamp(e.occurred_at).toISOString(), e.request_id, e.operation_type, e.operation_name,
    e.root_field, [...e.fields], e.access_kind, e.purpose, e.actor_kind, e.actor_role, e.actor_pseudonym, e.credential_id,
    [...e.resources], e.outcome, e.error_code, e.item_count, b64(e.actor_ip), b64(e.actor_user_agent), subjects,
  ]), 'utf8');
}
