import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWK, type KeyLike } from 'jose';
import { loadConfig, type OidcConfig } from '../config/config';
import { AppError } from '../shared/errors';
import { createOidcVerifier, looksLikeJwt } from './oidc';

const ISSUER = 'https://idp.example.com/';
const AUDIENCE = 'custos';
const SECRET = 'a-development-secret-of-32-chars!';
const now = () => Math.floor(Date.now() / 1000);
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

interface Signer { alg: string; kid?: string; key: KeyLike | Uint8Array }

const claims = () => ({
  iss: ISSUER, aud: AUDIENCE, sub: 'user-1', iat: now(), exp: now() + 300, jti: 'token-1',
  custos_tenant: ' Acme ', email: ' Ada@Example.COM ',
});

/** Signs the default claims with `overrides` applied; an override of undefined drops the claim. */
function sign(signer: Signer, overrides: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ ...claims(), ...overrides }).setProtectedHeader({ alg: signer.alg, kid: signer.kid }).sign(signer.key);
}

const oidc = (jwks: OidcConfig['jwks'], extra: Partial<OidcConfig> = {}): OidcConfig => ({
  issuer: ISSUER, audience: AUDIENCE, jwks, tenantClaim: 'custos_tenant', emailClaim: 'email', clockToleranceSeconds: 30, ...extra,
});

/** Awaits a rejection and checks it is a bare UNAUTHENTICATED error that echoes nothing from the token. */
async function rejected(verification: Promise<unknown>, message: RegExp): Promise<AppError> {
  const error = await verification.then(() => { throw new Error('the token was accepted'); }, (e: unknown) => e);
  expect(error).toBeInstanceOf(AppError);
  const appError = error as AppError;
  expect(appError.extensions.code).toBe('UNAUTHENTICATED');
  expect(appError.message).toMatch(message);
  expect(appError.message).not.toMatch(/acme|ada@|user-1|token-1|idp\.example|check failed/i);
  return appError;
}

type KeyPair = { alg: string; kid: string; privateKey: KeyLike; publicKey: KeyLike; jwk: JWK };
async function keyPair(alg: string, kid: string): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { alg, kid, privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}
const signerOf = (pair: KeyPair): Signer => ({ alg: pair.alg, kid: pair.kid, key: pair.privateKey });

let rsa: KeyPair;
let ec: KeyPair;
let ed: KeyPair;
let dir: string;
let verify: (jwt: string) => Promise<unknown>;

beforeAll(async () => {
  [rsa, ec, ed] = await Promise.all([keyPair('RS256', 'rsa-1'), keyPair('ES256', 'ec-1'), keyPair('EdDSA', 'ed-1')]);
  dir = mkdtempSync(path.join(os.tmpdir(), 'custos-oidc-'));
  const file = path.join(dir, 'jwks.json');
  writeFileSync(file, JSON.stringify({ keys: [rsa.jwk, ec.jwk, ed.jwk] }));
  // Through loadConfig, as at start.
  const cfg = loadConfig({ CUSTOS_OIDC_ISSUER: ISSUER, CUSTOS_OIDC_AUDIENCE: AUDIENCE, CUSTOS_OIDC_JWKS_FILE: file }).oidc;
  verify = createOidcVerifier(cfg!);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('looksLikeJwt', () => {
  it('accepts three base64url segments, including the empty signature of alg none', async () => {
    expect(looksLikeJwt(await sign(signerOf(rsa)))).toBe(true);
    expect(looksLikeJwt(`${b64({ alg: 'none' })}.${b64(claims())}.`)).toBe(true);
  });

  it.each([
    ['an opaque token', `cst_${'A'.repeat(21)}_-${'b'.repeat(20)}`],
    ['an empty value', ''],
    ['two segments', 'abc.def'],
    ['four segments', 'a.b.c.d'],
    ['padding', 'abc.def.gh=='],
    ['spaces', 'abc.d ef.ghi'],
    ['an empty header', '.def.ghi'],
  ])('refuses %s', (_, value) => {
    expect(looksLikeJwt(value)).toBe(false);
  });
});

describe('createOidcVerifier with a JWKS file', () => {
  it.each(['RS256', 'ES256', 'EdDSA'])('accepts a valid %s token', async (alg) => {
    const pair = [rsa, ec, ed].find((p) => p.alg === alg)!;
    const exp = now() + 300;
    await expect(verify(await sign(signerOf(pair), { exp }))).resolves.toEqual({
      issuer: ISSUER,
      subject: 'user-1',
      tenantSlug: 'acme',
      email: 'ada@example.com',
      expiresAt: new Date(exp * 1000),
      credentialId: `jwt:${createHash('sha256').update(`${ISSUER}\nuser-1\ntoken-1`).digest('hex').slice(0, 32)}`,
    });
  });

  it('derives the credential id from jti, else iat, else exp', async () => {
    const id = async (overrides: Record<string, unknown>) =>
      ((await verify(await sign(signerOf(rsa), overrides))) as { credentialId: string }).credentialId;
    const expected = (nonce: string | number) => `jwt:${createHash('sha256').update(`${ISSUER}\nuser-1\n${nonce}`).digest('hex').slice(0, 32)}`;
    const exp = now() + 300;
    expect(await id({ jti: 'abc' })).toBe(expected('abc'));
    expect(await id({ jti: undefined, iat: 1000 })).toBe(expected(1000));
    expect(await id({ jti: undefined, iat: undefined, exp })).toBe(expected(exp));
  });

  it('accepts an audience list that includes ours, and a token expired within the clock tolerance', async () => {
    await expect(verify(await sign(signerOf(ec), { aud: ['other', AUDIENCE] }))).resolves.toMatchObject({ subject: 'user-1' });
    await expect(verify(await sign(signerOf(ec), { exp: now() - 10 }))).resolves.toMatchObject({ subject: 'user-1' });
  });

  it('reads the configured claim names', async () => {
    const file = path.join(dir, 'jwks.json');
    const custom = createOidcVerifier(oidc({ file, keys: [rsa.jwk] }, { tenantClaim: 'org', emailClaim: 'upn' }));
    await expect(custom(await sign(signerOf(rsa), { org: 'Beta', upn: 'Bo@Beta.org', custos_tenant: undefined, email: undefined })))
      .resolves.toMatchObject({ tenantSlug: 'beta', email: 'bo@beta.org' });
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['another issuer', { iss: 'https://evil.example.com/' }, /not issued by the configured identity provider/],
    ['an issuer differing by a trailing slash', { iss: 'https://idp.example.com' }, /not issued/],
    ['no issuer', { iss: undefined }, /not issued/],
    ['another audience', { aud: 'someone-else' }, /not intended for this service/],
    ['no audience', { aud: undefined }, /not intended/],
    ['an expiry in the past', { exp: now() - 120 }, /expired/],
    ['a not-before in the future', { nbf: now() + 120 }, /not valid yet/],
    ['no expiry', { exp: undefined }, /"exp" claim/],
    ['no subject', { sub: undefined }, /"sub" claim/],
    ['no tenant', { custos_tenant: undefined }, /"custos_tenant" claim/],
    ['no email', { email: undefined }, /"email" claim/],
    ['an expiry that is a string', { exp: String(now() + 300) }, /"exp" claim/],
    ['a not-before that is a string', { nbf: 'soon' }, /"nbf" claim/],
    ['a subject that is a number', { sub: 42 }, /"sub" claim/],
    ['a tenant that is an object', { custos_tenant: { slug: 'acme' } }, /"custos_tenant" claim/],
    ['a blank tenant', { custos_tenant: '  ' }, /"custos_tenant" claim/],
    ['an email list', { email: ['ada@example.com'] }, /"email" claim/],
    ['a jti that is a number', { jti: 7 }, /"jti" claim/],
  ])('refuses a token with %s', async (_, overrides, message) => {
    await rejected(verify(await sign(signerOf(rsa), overrides)), message);
  });

  it('refuses a signature by another key that claims the same kid', async () => {
    const impostor = await keyPair('RS256', rsa.kid);
    await rejected(verify(await sign(signerOf(impostor))), /signature is invalid/);
  });

  it('refuses a payload altered after signing', async () => {
    const [header, , signature] = (await sign(signerOf(ec))).split('.');
    const altered = `${header}.${b64({ ...claims(), custos_tenant: 'other-tenant' })}.${signature}`;
    await rejected(verify(altered), /signature is invalid/);
  });

  it('refuses alg none', async () => {
    await rejected(verify(`${b64({ alg: 'none' })}.${b64(claims())}.`), /algorithm that is not accepted/);
    await rejected(verify(`${b64({ alg: 'none', kid: rsa.kid })}.${b64(claims())}.`), /algorithm that is not accepted/);
  });

  it('refuses HS256 signed with the public key (algorithm confusion)', async () => {
    const pem = new TextEncoder().encode(await exportSPKI(rsa.publicKey));
    const jwkBytes = new TextEncoder().encode(JSON.stringify(rsa.jwk));
    await rejected(verify(await sign({ alg: 'HS256', kid: rsa.kid, key: pem })), /algorithm that is not accepted/);
    await rejected(verify(await sign({ alg: 'HS256', kid: rsa.kid, key: jwkBytes })), /algorithm that is not accepted/);
  });

  it('refuses an asymmetric algorithm outside the allowed list', async () => {
    const { privateKey } = await generateKeyPair('ES512');
    await rejected(verify(await sign({ alg: 'ES512', kid: 'ec-1', key: privateKey })), /algorithm that is not accepted/);
  });

  it('refuses an unknown kid', async () => {
    const stranger = await keyPair('ES256', 'ec-2');
    await rejected(verify(await sign(signerOf(stranger))), /unknown key/);
  });

  it.each([
    ['garbage', 'garbage'],
    ['three junk segments', 'abc.def.ghi'],
    ['a header that is not JSON', `${Buffer.from('alg').toString('base64url')}.${b64(claims())}.sig`],
    ['a payload that is not an object', `${b64({ alg: 'RS256', kid: 'rsa-1' })}.${b64(['claims'])}.sig`],
    ['an empty string', ''],
  ])('refuses %s as malformed', async (_, value) => {
    await rejected(verify(value), /malformed|signature is invalid/);
  });

  it('refuses a token over 8 KB before verifying it', async () => {
    const big = await sign(signerOf(ed), { padding: 'x'.repeat(8 * 1024) });
    await rejected(verify(big), /too large/);
  });
});

describe('createOidcVerifier with an HS256 secret', () => {
  const verifyHs = createOidcVerifier(oidc({ hs256Secret: SECRET }));
  const secret = new TextEncoder().encode(SECRET);

  it('accepts a token signed with the secret', async () => {
    await expect(verifyHs(await sign({ alg: 'HS256', key: secret }))).resolves.toMatchObject({ subject: 'user-1', tenantSlug: 'acme' });
  });

  it('refuses an email the provider marks as unverified, and accepts a verified one', async () => {
    await rejected(verifyHs(await sign({ alg: 'HS256', key: secret }, { email_verified: false })), /not verified/);
    await rejected(verifyHs(await sign({ alg: 'HS256', key: secret }, { email_verified: 'true' })), /not verified/);
    await expect(verifyHs(await sign({ alg: 'HS256', key: secret }, { email_verified: true }))).resolves.toMatchObject({ subject: 'user-1' });
  });

  it('refuses a token signed with another secret', async () => {
    await rejected(verifyHs(await sign({ alg: 'HS256', key: new TextEncoder().encode(`${SECRET}?`) })), /signature is invalid/);
  });

  it('refuses other algorithms and alg none', async () => {
    await rejected(verifyHs(await sign(signerOf(rsa))), /algorithm that is not accepted/);
    await rejected(verifyHs(await sign({ alg: 'HS512', key: secret })), /algorithm that is not accepted/);
    await rejected(verifyHs(`${b64({ alg: 'none' })}.${b64(claims())}.`), /algorithm that is not accepted/);
  });
});

describe('createOidcVerifier with a JWKS URL', () => {
  let server: Server;
  let base: string;
  let fetches = 0;

  beforeAll(async () => {
    server = createServer((req, res) => {
      fetches += 1;
      if (req.url === '/jwks') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ keys: [rsa.jwk, ec.jwk] }));
      } else if (req.url === '/not-json') {
        res.end('<html>');
      } else {
        res.statusCode = 500;
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('fetches the keys once and caches them', async () => {
    const verifyUrl = createOidcVerifier(oidc({ url: `${base}/jwks` }));
    const before = fetches;
    await expect(verifyUrl(await sign(signerOf(rsa)))).resolves.toMatchObject({ subject: 'user-1' });
    await expect(verifyUrl(await sign(signerOf(ec)))).resolves.toMatchObject({ subject: 'user-1' });
    expect(fetches - before).toBe(1);
    await rejected(verifyUrl(await sign(signerOf(ed))), /unknown key/);
  });

  it('refuses a disallowed algorithm without fetching anything', async () => {
    const verifyUrl = createOidcVerifier(oidc({ url: `${base}/jwks` }));
    const before = fetches;
    const pem = new TextEncoder().encode(await exportSPKI(rsa.publicKey));
    await rejected(verifyUrl(await sign({ alg: 'HS256', kid: rsa.kid, key: pem })), /algorithm that is not accepted/);
    await rejected(verifyUrl(`${b64({ alg: 'none' })}.${b64(claims())}.`), /algorithm that is not accepted/);
    expect(fetches).toBe(before);
  });

  it.each(['/fails', '/not-json'])('reports keys that cannot be fetched from %s', async (route) => {
    const verifyUrl = createOidcVerifier(oidc({ url: `${base}${route}` }));
    await rejected(verifyUrl(await sign(signerOf(rsa))), /identity provider's keys could not be fetched/);
  });

  it('reports an unreachable JWKS endpoint as UNAUTHENTICATED, keeping the cause for logs', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const verifyUrl = createOidcVerifier(oidc({ url: `http://127.0.0.1:${port}/jwks` }));
    const error = await rejected(verifyUrl(await sign(signerOf(rsa))), /identity provider's keys could not be fetched/);
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });
});
