import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { ApiToken, TokenKind } from './api-token.entity';
import { generateSecret, hashSecret, secretPrefix, TOKEN_PATTERN } from './token.secret';
import { User, UserStatus } from '../user/user.entity';
import type { Principal } from '../../auth/principal';
import { badInput, notFound, unauthenticated } from '../../shared/errors';

export interface IssuedToken {
  token: ApiToken;
  /** The bearer secret. It exists only here: Custos keeps its hash. */
  secret: string;
}

const LAST_USED_RESOLUTION_MS = 60_000;

/** Issues a bearer token for a member. The secret is returned once and never stored. */
export async function issueUserToken(
  em: EntityManager,
  user: User,
  opts: { label: string; ttlDays: number; now?: Date },
): Promise<IssuedToken> {
  const label = opts.label.trim();
  if (label.length < 1 || label.length > 100) throw badInput('label must be 1 to 100 characters.', 'label');
  if (!Number.isInteger(opts.ttlDays) || opts.ttlDays < 1 || opts.ttlDays > 3650) {
    throw badInput('ttlDays must be between 1 and 3650.', 'ttlDays');
  }
  const now = opts.now ?? new Date();
  const secret = generateSecret();
  const token = em.create(ApiToken, {
    id: randomUUID(),
    tenantId: user.tenantId,
    userId: user.id,
    kind: TokenKind.USER,
    label,
    tokenHash: hashSecret(secret),
    prefix: secretPrefix(secret),
    createdAt: now,
    expiresAt: new Date(now.getTime() + opts.ttlDays * 86_400_000),
  });
  await em.flush();
  return { token, secret };
}

/** Revokes a token of the tenant. Idempotent: revoking twice keeps the first revocation time. */
export async function revokeToken(em: EntityManager, tenantId: string, tokenId: string): Promise<ApiToken> {
  const token = await em.findOne(ApiToken, { id: tokenId, tenantId });
  if (!token) throw notFound('Token');
  token.revokedAt ??= new Date();
  await em.flush();
  return token;
}

/** Revokes every live token of a member (deactivation). */
export async function revokeTokensOfUser(em: EntityManager, tenantId: string, userId: string): Promise<void> {
  await em.nativeUpdate(ApiToken, { tenantId, userId, revokedAt: null }, { revokedAt: new Date() });
}

interface TokenRow {
  id: string;
  tenant_id: string;
  user_id: string;
  expires_at: Date;
  revoked_at: Date | null;
  last_used_at: Date | null;
  role: User['role'];
  status: UserStatus;
}

/**
 * Resolves `Authorization: Bearer <secret>` to a principal. Any problem with a presented token is
 * UNAUTHENTICATED; no header at all yields null (the request is then refused before execution).
 */
export async function authenticate(em: EntityManager, header: string | undefined, now = new Date()): Promise<Principal | null> {
  if (header === undefined || header === '') return null;
  const match = /^Bearer ([^\s]+)$/i.exec(header.trim());
  if (!match) throw unauthenticated('The Authorization header must be "Bearer <token>".');
  const secret = match[1];
  if (!TOKEN_PATTERN.test(secret)) throw unauthenticated('The bearer token is not valid.');
  const rows: TokenRow[] = await em.execute(
    `select t.id, t.tenant_id, t.user_id, t.expires_at, t.revoked_at, t.last_used_at, u.role, u.status
       from api_token t join app_user u on u.id = t.user_id and u.tenant_id = t.tenant_id
      where t.token_hash = ?`,
    [hashSecret(secret)],
  );
  const row = rows[0];
  if (!row) throw unauthenticated('The bearer token is not valid.');
  if (row.revoked_at) throw unauthenticated('The bearer token has been revoked.');
  if (new Date(row.expires_at).getTime() <= now.getTime()) throw unauthenticated('The bearer token has expired.');
  if (row.status !== UserStatus.ACTIVE) throw unauthenticated('The account of this token is deactivated.');
  // Last use is kept to the minute: one write per token per minute, not one per request.
  if (!row.last_used_at || now.getTime() - new Date(row.last_used_at).getTime() > LAST_USED_RESOLUTION_MS) {
    await em.execute('update api_token set last_used_at = ? where id = ?', [now, row.id]);
  }
  return { tenantId: row.tenant_id, userId: row.user_id, role: row.role, tokenId: row.id };
}
