import type { AuditWindow } from '../../auth/principal';
import type { RequestContext } from '../../server/context';
import { badInput } from '../../shared/errors';

/**
 * The window of events a caller may see on the audit surfaces (events, reports, incidents' impact):
 * an auditor's token may be limited to one; administrators see everything (both ends open).
 */
export function auditWindowOf(ctx: RequestContext): AuditWindow {
  const p = ctx.principal;
  return p?.kind === 'AUDITOR' ? p.window : { from: null, until: null };
}

/**
 * A requested time range [from, until) intersected with the caller's window. A range that ends
 * before it starts is bad input; one that does not meet the window comes back empty (from = until),
 * so a query over it finds nothing rather than failing.
 */
export function clampToAuditWindow(ctx: RequestContext, from: Date | null | undefined, until: Date | null | undefined): AuditWindow {
  if (from && until && from.getTime() > until.getTime()) throw badInput('The time range must start before it ends.', 'from');
  const w = auditWindowOf(ctx);
  const later = (a: Date | null, b: Date | null) => (a && b ? (a > b ? a : b) : a ?? b);
  const earlier = (a: Date | null, b: Date | null) => (a && b ? (a < b ? a : b) : a ?? b);
  const start = later(from ?? null, w.from);
  const end = earlier(until ?? null, w.until);
  if (start && end && start.getTime() > end.getTime()) return { from: start, until: start };
  return { from: start, until: end };
}
