import type { Request, Response } from 'express';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from '../shared/logger';
import { authenticate, type JwtVerifier } from '../auth/authenticate';
import type { Principal } from '../auth/principal';
import { AppError, ErrorCode } from '../shared/errors';

/**
 * What the plain HTTP routes beside /graphql (export and report downloads) share: errors in the
 * GraphQL error shape, and bearer authentication with the same answers as /graphql.
 */

/** An error answer, `{ errors: [{ message, extensions: { code, … } }] }`, never cached. */
export const sendError = (res: Response, status: number, code: string, message: string, extra: Record<string, unknown> = {}) => {
  res.status(status).set('cache-control', 'no-store').json({ errors: [{ message, extensions: { code, ...extra } }] });
};

/**
 * The caller of a download, or null once the answer is sent: 401 for a missing or unusable
 * credential, 503 when authentication itself failed (`what` names the download in the log).
 */
export async function bearerPrincipal(orm: MikroORM, req: Request, res: Response, opts: { jwt?: JwtVerifier | null; log: Logger },
  what: string): Promise<Principal | null> {
  let principal: Principal | null;
  try {
    principal = await authenticate(orm.em.fork(), req.header('authorization'), { jwt: opts.jwt });
  } catch (err) {
    if (err instanceof AppError && err.code === ErrorCode.UNAUTHENTICATED) {
      sendError(res, 401, ErrorCode.UNAUTHENTICATED, err.message);
      return null;
    }
    opts.log.error({ err }, `authenticating ${what} failed`);
    sendError(res, 503, ErrorCode.SERVICE_UNAVAILABLE, 'The download could not be started; retry.');
    return null;
  }
  if (!principal) {
    res.set('www-authenticate', 'Bearer');
    sendError(res, 401, ErrorCode.UNAUTHENTICATED, 'A valid bearer token is required.');
  }
  return principal;
}
