import type { EntityManager } from '@mikro-orm/postgresql';
import type { Principal, ServiceScope } from './principal';
import { hashSecret, TOKEN_PATTERN } from '../modules/token/token.secret';
import { TokenKind } from '../modules/token/api-token.entity';
import { UserStatus, type UserRole } from '../modules/user/user.entity';
import { unauthenticated } from '../shared/errors';
import { looksLikeJwt, type VerifiedIdentity } from './oidc';

/** Verifies an identity provider's JWT (see oidc.ts); absent when no issuer is configured. */
export type JwtVerifier = (jwt: string) => Promise<VerifiedIdentity>;

export interface AuthenticateOptions {
  jwt?: JwtVerifier | null;
  now?: Date;
}

interface TokenRow {
  id: string;
  tenant_id: string;
  kind: TokenKind;
  user_id: string | null;
  scopes: string[];
  expires_at: Date;
  revoked_at: Date | null;
  role: UserRole | null;
  status: UserStatus | null;
  audit_from: Date | null;
  audit_until: Date | null;
}

/**
 * Resolves `Authorization: Bearer <credential>` to a principal: an opaque Custos token, or (when an
 * issuer is configured) a JWT from the identity provider. Any problem with a presented credential is
 * UNAUTHENTICATED; no header at all yields null (the request is then refused before execution).
 *
 * Runs before the request's tenant is known, so both lookups go through SECURITY DEFINER functions:
 * the application role cannot otherwise see across tenants.
 */
export async function authenticate(em: EntityManager, header: string | undefined, opts: AuthenticateOptions = {}): Promise<Principal | null> {
  if (header === undefined || header === '') return null;
  const match = /^Bearer ([^\s]+)$/i.exec(header.trim());
  if (!match) throw unauthenticated('The Authorization header must be "Bearer <token>".');
  const credential = match[1];
  const now = opts.now ?? new Date();
  if (looksLikeJwt(credential)) {
    if (!opts.jwt) throw unauthenticated('Sign-in with identity-provider tokens is not configured.');
    return fromIdentityProvider(em, await opts.jwt(credential));
  }
  if (!TOKEN_PATTERN.test(credential)) throw unauthenticated('The bearer token is not valid.');
  const [row] = await em.execute<TokenRow[]>('select * from custos_resolve_token(?)', [hashSecret(credential)]);
  if (!row) throw unauthenticated('The bearer token is not valid.');
  if (row.revoked_at) throw unauthenticated('The bearer token has been revoked.');
  if (new Date(row.expires_at).getTime() <= now.getTime()) throw unauthenticated('The bearer token has expired.');
  const base = { tenantId: row.tenant_id, credential: { type: 'TOKEN' as const, id: row.id, expiresAt: new Date(row.expires_at) } };
  switch (row.kind) {
    case TokenKind.USER:
      if (row.status !== UserStatus.ACTIVE || !row.user_id || !row.role) throw unauthenticated('The account of this token is deactivated.');
      return { ...base, kind: 'USER', userId: row.user_id, role: row.role };
    case TokenKind.AUDITOR:
      return {
        ...base, kind: 'AUDITOR',
        window: { from: row.audit_from ? new Date(row.audit_from) : null, until: row.audit_until ? new Date(row.audit_until) : null },
      };
    case TokenKind.SERVICE:
      return { ...base, kind: 'SERVICE', scopes: row.scopes as ServiceScope[] };
  }
}

async function fromIdentityProvider(em: EntityManager, identity: VerifiedIdentity): Promise<Principal> {
  const [member] = await em.execute<{ tenant_id: string; user_id: string; role: UserRole; status: UserStatus }[]>(
    'select * from custos_resolve_member(?, ?)', [identity.tenantSlug, identity.email],
  );
  // One answer for an unknown tenant, an unknown member and a deactivated one: no directory probing.
  if (!member || member.status !== UserStatus.ACTIVE) throw unauthenticated('No active member matches this sign-in.');
  return {
    kind: 'USER', tenantId: member.tenant_id, userId: member.user_id, role: member.role,
    credential: { type: 'JWT', id: identity.credentialId, expiresAt: identity.expiresAt },
  };
}
