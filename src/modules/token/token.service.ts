import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { ApiToken, TokenKind, TokenStatus } from './api-token.entity';
import { generateSecret, hashSecret, secretPrefix } from './token.secret';
import type { IssueTokenInput, TokensArgs } from './token.types';
import { User, UserStatus } from '../user/user.entity';
import { isServiceScope, SERVICE_SCOPES } from '../../auth/principal';
import type { RequestContext } from '../../server/context';
import { badInput, notFound, parseId } from '../../shared/errors';
import { CURSOR, dateKey, pageRequest, toConnection, type ConnectionShape } from '../../shared/pagination';

export interface IssuedToken {
  token: ApiToken;
  /** The bearer secret. It exists only here: Custos keeps its hash. */
  secret: string;
}

/** Longest lifetime per kind: auditors are engaged for an audit, not for good. */
export const MAX_TTL_DAYS: Record<TokenKind, number> = {
  [TokenKind.USER]: 3650,
  [TokenKind.AUDITOR]: 90,
  [TokenKind.SERVICE]: 3650,
};

export interface TokenSpec {
  kind: TokenKind;
  /** The member a USER token signs in as (must be active); absent for AUDITOR and SERVICE. */
  user?: User | null;
  scopes?: readonly string[];
  label: string;
  ttlDays: number;
  /** The administrator issuing it; absent from the command line. */
  createdById?: string | null;
  /** AUDITOR only: the window of events the auditor may see, [from, until), either end open. */
  auditWindow?: { from?: Date | null; until?: Date | null } | null;
  now?: Date;
}

const notAMemberToken = (kind: TokenKind) => badInput(`A ${kind} token does not belong to a member; leave userId out.`, 'userId');

/** Checks a token request; every problem is the caller's, reported with the offending field. */
function checkSpec(spec: TokenSpec): { label: string; scopes: string[] } {
  const label = spec.label.trim();
  if (label.length < 1 || label.length > 100) throw badInput('label must be 1 to 100 characters.', 'label');
  const max = MAX_TTL_DAYS[spec.kind];
  if (!Number.isInteger(spec.ttlDays) || spec.ttlDays < 1 || spec.ttlDays > max) {
    throw badInput(`ttlDays must be between 1 and ${max} for ${spec.kind} tokens.`, 'ttlDays');
  }
  const scopes = [...new Set((spec.scopes ?? []).map((s) => s.trim()))];
  if (spec.kind === TokenKind.USER) {
    if (!spec.user) throw badInput('A USER token needs the member it signs in as.', 'userId');
    if (spec.user.status !== UserStatus.ACTIVE) throw badInput('The member is deactivated; a token would not work.', 'userId');
  } else if (spec.user) {
    throw notAMemberToken(spec.kind);
  }
  if (spec.kind === TokenKind.SERVICE) {
    if (scopes.length === 0) throw badInput(`A SERVICE token needs at least one scope: ${SERVICE_SCOPES.join(', ')}.`, 'scopes');
    const unknown = scopes.filter((s) => !isServiceScope(s));
    if (unknown.length) throw badInput(`Unknown scope "${unknown[0]}"; scopes are ${SERVICE_SCOPES.join(', ')}.`, 'scopes');
  } else if (scopes.length) {
    throw badInput('Only SERVICE tokens carry scopes.', 'scopes');
  }
  const from = spec.auditWindow?.from ?? null;
  const until = spec.auditWindow?.until ?? null;
  if ((from || until) && spec.kind !== TokenKind.AUDITOR) throw badInput('Only AUDITOR tokens carry a window of events.', 'auditWindow');
  for (const d of [from, until]) {
    if (d && Number.isNaN(d.getTime())) throw badInput('The window\'s times must be valid dates.', 'auditWindow');
  }
  if (from && until && from.getTime() >= until.getTime()) throw badInput('The window must start before it ends.', 'auditWindow');
  return { label, scopes };
}

/** Issues a bearer token of any kind. The secret is returned once and never stored. */
export async function issueToken(em: EntityManager, tenantId: string, spec: TokenSpec): Promise<IssuedToken> {
  const { label, scopes } = checkSpec(spec);
  if (spec.user && spec.user.tenantId !== tenantId) throw notFound('User');
  const now = spec.now ?? new Date();
  const secret = generateSecret();
  const token = em.create(ApiToken, {
    id: randomUUID(),
    tenantId,
    userId: spec.user?.id ?? null,
    kind: spec.kind,
    scopes,
    label,
    tokenHash: hashSecret(secret),
    prefix: secretPrefix(secret),
    createdById: spec.createdById ?? null,
    createdAt: now,
    expiresAt: new Date(now.getTime() + spec.ttlDays * 86_400_000),
    auditFrom: spec.auditWindow?.from ?? null,
    auditUntil: spec.auditWindow?.until ?? null,
  });
  await em.flush();
  return { token, secret };
}

/** Issues a member's token (CLI, seeds). */
export function issueUserToken(em: EntityManager, user: User, opts: { label: string; ttlDays: number; now?: Date }): Promise<IssuedToken> {
  return issueToken(em, user.tenantId, { kind: TokenKind.USER, user, ...opts });
}

/** Revokes a token of the tenant. Idempotent: revoking twice keeps the first revocation time. */
export async function revokeToken(em: EntityManager, tenantId: string, tokenId: string): Promise<ApiToken> {
  const token = await em.findOne(ApiToken, { id: tokenId, tenantId });
  if (!token) throw notFound('Token');
  token.revokedAt ??= new Date();
  await em.flush();
  return token;
}

/** Revokes every token of a member not yet revoked (deactivation, erasure, a breach); returns how many. */
export async function revokeTokensOfUser(em: EntityManager, tenantId: string, userId: string): Promise<number> {
  return em.nativeUpdate(ApiToken, { tenantId, userId, revokedAt: null }, { revokedAt: new Date() });
}

/** An administrator issues a token over the API. */
export async function issueTokenAsAdmin(ctx: RequestContext, input: IssueTokenInput): Promise<IssuedToken> {
  ctx.access.requireAdmin();
  if (input.kind !== TokenKind.USER && input.userId != null) throw notAMemberToken(input.kind);
  return ctx.em.transactional(async (em) => {
    const user = input.userId != null ? await em.findOne(User, { id: parseId(input.userId, 'userId'), tenantId: ctx.tenantId }) : null;
    if (input.userId != null && !user) throw notFound('User');
    const issued = await issueToken(em, ctx.tenantId, {
      kind: input.kind,
      user,
      scopes: input.scopes ?? [],
      label: input.label,
      ttlDays: input.ttlDays ?? Math.min(ctx.config.tokenTtlDays, MAX_TTL_DAYS[input.kind]),
      createdById: ctx.access.userId,
      auditWindow: input.auditWindow ? { from: input.auditWindow.from ?? null, until: input.auditWindow.until ?? null } : null,
    });
    if (user) ctx.audit.wrote([user.id], ['user.credential']);
    return issued;
  });
}

export async function revokeTokenAsAdmin(ctx: RequestContext, rawId: string): Promise<ApiToken> {
  ctx.access.requireAdmin();
  const token = await ctx.em.transactional((em) => revokeToken(em, ctx.tenantId, parseId(rawId)));
  if (token.userId) ctx.audit.wrote([token.userId], ['user.credential']);
  return token;
}

/** The tenant's tokens, newest first, optionally by kind, member and status. */
export async function listTokens(ctx: RequestContext, args: TokensArgs): Promise<ConnectionShape<ApiToken>> {
  ctx.access.requireAdmin();
  const { first, after } = pageRequest(args, ctx.config, CURSOR.byTime);
  const where = ['t.tenant_id = ?'];
  const params: unknown[] = [ctx.tenantId];
  if (args.kind) {
    where.push('t.kind = ?');
    params.push(args.kind);
  }
  if (args.userId != null) {
    where.push('t.user_id = ?');
    params.push(parseId(args.userId, 'userId'));
  }
  if (args.status === TokenStatus.ACTIVE) where.push('t.revoked_at is null and t.expires_at > now()');
  if (args.status === TokenStatus.EXPIRED) where.push('t.revoked_at is null and t.expires_at <= now()');
  if (args.status === TokenStatus.REVOKED) where.push('t.revoked_at is not null');
  if (after) {
    where.push('(t.created_at, t.id) < (?::timestamptz, ?::uuid)');
    params.push(...after);
  }
  const rows = await ctx.em.execute<Record<string, unknown>[]>(
    `select t.* from api_token t where ${where.join(' and ')} order by t.created_at desc, t.id desc limit ?`,
    [...params, first + 1],
  );
  return toConnection(rows.map((r) => ctx.em.map(ApiToken, r as never)), first, (t) => [dateKey(t.createdAt), t.id]);
}
