import { randomUUID } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Config } from '../../config/config';
import type { Logger } from '../../shared/logger';
import type { JwtVerifier } from '../../auth/authenticate';
import type { Principal } from '../../auth/principal';
import { UserRole } from '../user/user.entity';
import { AppError, badInput, ErrorCode } from '../../shared/errors';
import { bearerPrincipal, sendError } from '../../server/http-route';
import { readsAuditTrailAs } from '../../auth/permissions';
import { writeEvents } from '../../audit/store';
import { purposeOf } from '../../audit/purposes';
import type { AccessEvent, Actor } from '../../audit/events';
import { bindTenant } from '../../server/transaction-plugin';
import { RequestContext } from '../../server/context';
import { CSV_REPORTS, toCsv, type CsvReport } from './report.csv';
import type { ReportFilters } from './report.service';

/**
 * GET /reports/<name>.csv?from=…&until=…&role=…&category=…&purpose=… — a report as CSV, with a bearer
 * token as on /graphql, for the same callers (administrators and auditors of the tenant), with the same
 * rules (an auditor's window, the same filter checks) and the same rows as the GraphQL query.
 *
 * The download is an access event (a READ of the audit surface, purpose `audit`, no subjects) written
 * in the transaction that read the report and committed before the first byte is sent; a refused
 * caller's attempt is recorded as a DENY. Unknown parameters and bad values are BAD_USER_INPUT (400).
 */

const send = sendError;

function actorOf(p: Principal, req: Request): Actor {
  const user = p.kind === 'USER';
  return {
    kind: p.kind, role: user ? p.role : null, userId: user ? p.userId : null, credentialId: p.credential.id,
    ip: user ? (req.ip ?? req.socket.remoteAddress ?? null)?.slice(0, 64) ?? null : null,
    userAgent: user ? req.header('user-agent')?.slice(0, 512) ?? null : null,
  };
}

/** The query string as filters, refusing what the report does not take and values that are not times. */
function filtersOf(report: CsvReport, query: Request['query']): ReportFilters {
  const allowed = new Set<string>([...(report.ranged ? ['from', 'until'] : []), ...report.filters]);
  const out: ReportFilters = {};
  for (const [key, raw] of Object.entries(query)) {
    if (!allowed.has(key)) {
      throw badInput(`This report takes no "${key}" parameter${allowed.size ? `; it takes ${[...allowed].join(', ')}` : ''}.`, key);
    }
    if (typeof raw !== 'string') throw badInput(`Give "${key}" once, as plain text.`, key);
    if (key === 'from' || key === 'until') {
      const at = new Date(raw);
      if (!/^\d{4}-\d{2}-\d{2}/.test(raw) || Number.isNaN(at.getTime())) {
        throw badInput(`${key} must be an ISO 8601 date or time, e.g. 2026-11-01T00:00:00Z.`, key);
      }
      out[key] = at;
    } else {
      out[key as 'role' | 'category' | 'purpose'] = raw;
    }
  }
  return out;
}

export function reportDownload(orm: MikroORM, opts: { jwt?: JwtVerifier | null; log: Logger; config: Config }): RequestHandler {
  const event = (req: Request, p: Principal, report: CsvReport, name: string, kind: 'READ' | 'DENY', rows: number): AccessEvent => {
    const rootField = `Query.${report.field}`;
    const base = {
      id: randomUUID(), tenantId: p.tenantId, occurredAt: new Date(), requestId: String(req.res?.getHeader('x-request-id') ?? randomUUID()),
      operationType: 'query' as const, operationName: `reports/${name}.csv`, rootField, fields: [rootField],
      purpose: purposeOf(rootField, p), actor: actorOf(p, req), resources: [], subjects: [],
    };
    return kind === 'READ'
      ? { ...base, kind: 'READ', outcome: 'SUCCESS', itemCount: rows }
      : { ...base, kind: 'DENY', outcome: 'DENIED', errorCode: 'FORBIDDEN', itemCount: 0 };
  };

  return async (req, res) => {
    const principal = await bearerPrincipal(orm, req, res, opts, 'a report download');
    if (!principal) return;
    const file = String(req.params.file ?? '');
    const name = file.endsWith('.csv') ? file.slice(0, -4) : '';
    const report = Object.hasOwn(CSV_REPORTS, name) ? CSV_REPORTS[name] : null;
    if (!report) return send(res, 404, ErrorCode.NOT_FOUND, `No such report; there are ${Object.keys(CSV_REPORTS).map((n) => `${n}.csv`).join(', ')}.`);
    const p = principal;

    if (!readsAuditTrailAs(p)) {
      try {
        await orm.em.fork().transactional(async (em) => {
          await bindTenant(em, p.tenantId);
          await writeEvents(em, [event(req, p, report, name, 'DENY', 0)]);
        });
      } catch (err) {
        opts.log.error({ err }, 'recording a refused report download failed');
        return send(res, 503, ErrorCode.SERVICE_UNAVAILABLE, 'The request could not be recorded; retry.', { retryable: true });
      }
      return send(res, 403, ErrorCode.FORBIDDEN, 'You may not perform this operation.');
    }

    let body: string;
    try {
      const filters = filtersOf(report, req.query);
      body = await orm.em.fork().transactional(async (em) => {
        const admin = p.kind === 'USER' && p.role === UserRole.ADMIN;
        await bindTenant(em, p.tenantId, { userId: p.kind === 'USER' ? p.userId : null, privileged: admin });
        const ctx = new RequestContext(String(req.res?.getHeader('x-request-id') ?? randomUUID()), em, p, opts.config, opts.log);
        const rows = await report.rows(ctx, filters);
        await writeEvents(em, [event(req, p, report, name, 'READ', rows.length)]);
        return toCsv(report.columns, rows);
      });
    } catch (err) {
      if (err instanceof AppError && err.code === ErrorCode.BAD_USER_INPUT) {
        return send(res, 400, ErrorCode.BAD_USER_INPUT, err.message, { field: err.extensions.field });
      }
      opts.log.error({ err }, 'reading or recording a report download failed; nothing was sent');
      return send(res, 503, ErrorCode.SERVICE_UNAVAILABLE, 'The report could not be read and recorded, so nothing was sent; retry.', { retryable: true });
    }
    res.status(200).set({
      'content-type': 'text/csv; charset=utf-8; header=present',
      'content-disposition': `attachment; filename="custos-${name}.csv"`,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    }).send(body);
  };
}
