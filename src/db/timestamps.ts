/**
 * Raw statements (em.execute) return timestamptz columns as PostgreSQL text, e.g.
 * "2026-11-24 21:16:43.873+00". This turns either form into a Date without relying on how lenient
 * the JavaScript date parser happens to be.
 */
export function pgTimestamp(value: Date | string): Date {
  if (value instanceof Date) return value;
  const iso = value.replace(' ', 'T').replace(/([+-]\d{2})$/, '$1:00').replace(/([+-]\d{2})(\d{2})$/, '$1:$2');
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) throw new Error(`not a timestamp: ${value}`);
  return date;
}
