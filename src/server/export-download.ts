import { randomUUID } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from '../shared/logger';
import type { JwtVerifier } from '../auth/authenticate';
import type { UserPrincipal } from '../auth/principal';
import { UserRole } from '../modules/user/user.entity';
import { AppError, ErrorCode, isUuid } from '../shared/errors';
import { writeEvents } from '../audit/store';
import type { AccessEvent } from '../audit/events';
import { pgTimestamp } from '../db/timestamps';
import { execBound } from '../db/bound';
import { bindTenant } from './transaction-plugin';
import { bearerPrincipal, sendError } from './http-route';
import { EXPORT_CATEGORIES } from '../modules/dsr/export/build';
import { isExpired } from '../modules/dsr/export/export.resolver';

/**
 * GET /exports/:requestId — the ZIP of a completed right-of-access export, for the person it is about
 * or an administrator of their tenant, with a bearer token as on /graphql. Anyone else, another
 * tenant's id and a missing one all get the same 404; an expired link gets 410.
 *
 * The download is an access event (READ of every category in the file, purpose data_subject_rights),
 * committed before the first byte is sent: if it cannot be written, nothing is. The file is then
 * streamed chunk by chunk, each read in a short transaction of its own, so a slow client holds no
 * database connection between chunks.
 */

export const EXPORT_EXPIRED = 'EXPORT_EXPIRED';

interface ExportRow {
  subject_id: string;
  type: string;
  bytes: string | null;
  chunks: number | null;
  expires_at: string | null;
  deleted_at: string | null;
}

type Found = { answer: 'not_found' } | { answer: 'not_ready' } | { answer: 'expired' } | { answer: 'ok'; bytes: number; chunks: number };

const send = sendError;

const gone = (res: Response) =>
  send(res, 410, EXPORT_EXPIRED, 'This export\'s download link has expired and the file is deleted; file a new access request.');

/** Writes `data`, waiting for the client to drain; rejects if it hangs up. */
function write(res: Response, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (res.destroyed) return reject(new Error('the client went away'));
    if (res.write(data)) return resolve();
    const done = (err?: Error) => {
      res.off('drain', drained);
      res.off('close', closed);
      if (err) reject(err);
      else resolve();
    };
    const drained = () => done();
    const closed = () => done(new Error('the client went away'));
    res.once('drain', drained);
    res.once('close', closed);
  });
}

export function exportDownload(orm: MikroORM, opts: { jwt?: JwtVerifier | null; log: Logger }): RequestHandler {
  const readChunk = (principal: UserPrincipal, requestId: string, seq: number) => orm.em.fork().transactional(async (em) => {
    await bindTenant(em, principal.tenantId, { userId: principal.userId, privileged: principal.role === UserRole.ADMIN });
    const [row] = await execBound<{ data: Buffer }>(em,
      'select data from data_export_chunk where tenant_id = ? and request_id = ? and seq = ?', [principal.tenantId, requestId, seq]);
    return row?.data ?? null;
  });

  /** Decides whether the caller may have the file and, if so, records the download (one transaction). */
  const admit = (req: Request, principal: UserPrincipal, requestId: string) => orm.em.fork().transactional(async (em): Promise<Found> => {
    const admin = principal.role === UserRole.ADMIN;
    await bindTenant(em, principal.tenantId, { userId: principal.userId, privileged: admin });
    const [row] = await execBound<ExportRow>(em,
      `select r.subject_id, r.type, x.bytes::text as bytes, x.chunks, x.expires_at, x.deleted_at
         from data_subject_request r left join data_export x on x.request_id = r.id
        where r.tenant_id = ? and r.id = ?`, [principal.tenantId, requestId]);
    if (!row || row.type !== 'ACCESS' || (row.subject_id !== principal.userId && !admin)) return { answer: 'not_found' };
    if (!row.expires_at || row.bytes === null || row.chunks === null) return { answer: 'not_ready' };
    if (isExpired(pgTimestamp(row.expires_at), row.deleted_at ? pgTimestamp(row.deleted_at) : null)) return { answer: 'expired' };
    const event: AccessEvent = {
      id: randomUUID(), tenantId: principal.tenantId, occurredAt: new Date(),
      requestId: String(req.res?.getHeader('x-request-id') ?? randomUUID()), operationType: 'query', operationName: null,
      rootField: 'Export.download', fields: ['Export.download'], purpose: 'data_subject_rights',
      actor: {
        kind: 'USER', role: principal.role, userId: principal.userId, credentialId: principal.credential.id,
        ip: (req.ip ?? req.socket.remoteAddress ?? null)?.slice(0, 64) ?? null, userAgent: req.header('user-agent')?.slice(0, 512) ?? null,
      },
      resources: [`DataSubjectRequest:${requestId}`], kind: 'READ', outcome: 'SUCCESS',
      subjects: [{ userId: row.subject_id, categories: EXPORT_CATEGORIES }], itemCount: 1,
    };
    await writeEvents(em, [event]);
    return { answer: 'ok', bytes: Number(row.bytes), chunks: row.chunks };
  });

  return async (req, res) => {
    const principal = await bearerPrincipal(orm, req, res, opts, 'an export download');
    if (!principal) return;
    const requestId = String(req.params.requestId ?? '');
    if (!isUuid(requestId)) return send(res, 400, ErrorCode.BAD_USER_INPUT, 'requestId is not a valid id.', { field: 'requestId' });
    // Auditors and services never receive a person's export: the same answer as a missing one.
    if (principal.kind !== 'USER') return send(res, 404, ErrorCode.NOT_FOUND, 'Export not found.');

    let found: Found;
    try {
      found = await admit(req, principal, requestId.toLowerCase());
    } catch (err) {
      opts.log.error({ err }, 'recording an export download failed; nothing was sent');
      return send(res, 503, ErrorCode.SERVICE_UNAVAILABLE, 'The download could not be recorded, so nothing was sent; retry.',
        { retryable: true });
    }
    if (found.answer === 'not_found') return send(res, 404, ErrorCode.NOT_FOUND, 'Export not found.');
    if (found.answer === 'not_ready') {
      return send(res, 404, ErrorCode.NOT_FOUND, 'This request has no export yet.', { reason: 'NOT_READY' });
    }
    if (found.answer === 'expired') return gone(res);

    try {
      let next: Buffer | null = await readChunk(principal, requestId.toLowerCase(), 0);
      if (!next) return gone(res);
      res.status(200).set({
        'content-type': 'application/zip',
        'content-length': String(found.bytes),
        'content-disposition': `attachment; filename="custos-export-${requestId.toLowerCase()}.zip"`,
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
      });
      for (let seq = 0; next; seq++) {
        await write(res, next);
        next = seq + 1 < found.chunks ? await readChunk(principal, requestId.toLowerCase(), seq + 1) : null;
        if (!next && seq + 1 < found.chunks) throw new Error(`chunk ${seq + 1} of the export disappeared during the download`);
      }
      res.end();
    } catch (err) {
      opts.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'export download interrupted');
      if (!res.headersSent) return send(res, 503, ErrorCode.SERVICE_UNAVAILABLE, 'The download failed; retry.', { retryable: true });
      res.destroy();
    }
  };
}
