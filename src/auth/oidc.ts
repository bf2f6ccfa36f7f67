import { createHash } from 'node:crypto';
import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { OidcConfig } from '../config/config';
import { unauthenticated } from '../shared/errors';

export interface VerifiedIdentity {
  issuer: string;
  subject: string;
  /** Lowercased, trimmed slug from the configured tenant claim. */
  tenantSlug: string;
  /** Lowercased, trimmed address from the configured email claim. */
  email: string;
  expiresAt: Date;
  /** Stable, non-reversible id of this credential for logs (never the token itself). */
  credentialId: string;
}

/** Larger tokens are refused before any parsing or key lookup. */
const MAX_JWT_BYTES = 8 * 1024;

/** Asymmetric only: a public key from a JWKS must never be usable as an HMAC secret. */
const JWKS_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA'];

/** header.payload.signature, each base64url; the signature may be empty so that `alg: none` reaches the verifier and is refused there. */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** True when the bearer value has JWT shape (three base64url segments); opaque tokens start with cst_ and never match. */
export function looksLikeJwt(value: string): boolean {
  return JWT_SHAPE.test(value);
}

/** Marks a failure to obtain or use the IdP's keys, as opposed to a fault in the token. */
class KeysUnavailable extends Error {}

/** Lets through "no key for this token" (the token's fault); anything else (network, timeout, non-200, bad JSON, unusable key) is the IdP's. */
function guardKeySet(getKey: JWTVerifyGetKey): JWTVerifyGetKey {
  return async (header, token) => {
    try {
      return await getKey(header, token);
    } catch (e) {
      if (e instanceof errors.JWKSNoMatchingKey || e instanceof errors.JWKSMultipleMatchingKeys) throw e;
      throw new KeysUnavailable('JWKS unavailable', { cause: e });
    }
  };
}

function keySource(jwks: OidcConfig['jwks']): { getKey: JWTVerifyGetKey; algorithms: string[] } {
  if ('hs256Secret' in jwks) {
    const secret = new TextEncoder().encode(jwks.hs256Secret);
    return { getKey: () => secret, algorithms: ['HS256'] };
  }
  const keySet = 'keys' in jwks
    ? createLocalJWKSet({ keys: jwks.keys } as JSONWebKeySet)
    // Cached; an unknown kid refetches at most once per cooldown; concurrent requests share one fetch.
    : createRemoteJWKSet(new URL(jwks.url), { timeoutDuration: 5_000, cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 });
  return { getKey: guardKeySet(keySet), algorithms: JWKS_ALGORITHMS };
}

/** A short message per failure; jose's own messages and the token's contents never reach the caller. */
function rejection(e: unknown): Error {
  if (e instanceof KeysUnavailable) {
    const err = unauthenticated("The identity provider's keys could not be fetched or used; try again later.");
    return Object.defineProperty(err, 'cause', { value: e.cause }); // for operators' logs
  }
  if (e instanceof errors.JWTExpired) return unauthenticated('The token has expired.');
  if (e instanceof errors.JWTClaimValidationFailed) {
    if (e.claim === 'iss') return unauthenticated('The token was not issued by the configured identity provider.');
    if (e.claim === 'aud') return unauthenticated('The token is not intended for this service.');
    if (e.claim === 'nbf' && e.reason === 'check_failed') return unauthenticated('The token is not valid yet.');
    return unauthenticated(`The token's "${e.claim}" claim is missing or invalid.`);
  }
  if (e instanceof errors.JWSSignatureVerificationFailed) return unauthenticated('The token signature is invalid.');
  if (e instanceof errors.JOSEAlgNotAllowed || e instanceof errors.JOSENotSupported) {
    return unauthenticated('The token is signed with an algorithm that is not accepted.');
  }
  if (e instanceof errors.JWKSNoMatchingKey) return unauthenticated('The token is signed with an unknown key.');
  // Several candidate keys only happens without a kid; the IdPs we expect always send one.
  if (e instanceof errors.JWKSMultipleMatchingKeys) return unauthenticated('The token does not name its signing key (kid).');
  return unauthenticated('The token is malformed.');
}

function stringClaim(payload: JWTPayload, claim: string): string {
  const value = payload[claim];
  if (typeof value !== 'string' || value.trim() === '') throw unauthenticated(`The token's "${claim}" claim is missing or invalid.`);
  return value;
}

/** Builds a verifier once at start (JWKS URL via jose createRemoteJWKSet with a timeout and caching; file via createLocalJWKSet; HS256 via the secret). */
export function createOidcVerifier(cfg: OidcConfig): (jwt: string) => Promise<VerifiedIdentity> {
  const { getKey, algorithms } = keySource(cfg.jwks);
  return async (jwt) => {
    if (Buffer.byteLength(jwt) > MAX_JWT_BYTES) throw unauthenticated('The token is too large.');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(jwt, getKey, {
        issuer: cfg.issuer,
        audience: cfg.audience,
        algorithms,
        clockTolerance: cfg.clockToleranceSeconds,
        requiredClaims: ['exp', 'sub'], // jose checks exp/nbf/iat are numbers when present
      }));
    } catch (e) {
      throw rejection(e);
    }
    const subject = stringClaim(payload, 'sub');
    const tenantSlug = stringClaim(payload, cfg.tenantClaim).trim().toLowerCase();
    const email = stringClaim(payload, cfg.emailClaim).trim().toLowerCase();
    // Members are matched by email: an address the provider itself says it has not verified proves nothing.
    // (Providers that never send email_verified are trusted to issue only addresses they control.)
    if (payload.email_verified !== undefined && payload.email_verified !== true) {
      throw unauthenticated('The identity provider has not verified this email address.');
    }
    if (payload.jti !== undefined && typeof payload.jti !== 'string') throw unauthenticated('The token\'s "jti" claim is invalid.');
    const exp = payload.exp as number;
    const nonce = payload.jti ?? payload.iat ?? exp;
    const digest = createHash('sha256').update(`${cfg.issuer}\n${subject}\n${nonce}`).digest('hex');
    return { issuer: cfg.issuer, subject, tenantSlug, email, expiresAt: new Date(exp * 1000), credentialId: `jwt:${digest.slice(0, 32)}` };
  };
}
