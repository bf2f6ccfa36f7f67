// Sign-in with the identity provider's JWTs, end to end: a real server configured with a JWKS file,
// requests over HTTP, members resolved from the token's tenant and email claims. The verifier's own
// cases are unit-tested in src/auth/oidc.test.ts; this file proves the whole path through the server.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWTPayload, type KeyLike } from 'jose';
import { codes, startTestApp, type GqlResponse, type TestApp } from '../support/harness';
import { seedTenant, sql, type Member, type SeededTenant } from '../support/seed';
import { UsersDocument } from '../generated/graphql';

const ISSUER = 'https://idp.test';
const AUDIENCE = 'custos';
const KID = 'idp-key-1';

const VIEWER = '{ viewer { kind role user { id } tenant { id } credentialExpiresAt } }';
interface ViewerData {
  viewer: { kind: string; role: string | null; user: { id: string } | null; tenant: { id: string }; credentialExpiresAt: string };
}

const nowSeconds = () => Math.floor(Date.now() / 1000);
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

let idpKey: { privateKey: KeyLike; publicKey: KeyLike };
let jwksDir: string;

interface SignOptions {
  /** Signing key: the identity provider's private key unless given. */
  key?: KeyLike | Uint8Array;
  alg?: string;
  kid?: string;
}

/** Signs exactly these claims, as the identity provider would (RS256, its key, its kid) unless told otherwise. */
function signJwt(claims: JWTPayload, opts: SignOptions = {}): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: opts.alg ?? 'RS256', kid: opts.kid ?? KID, typ: 'JWT' })
    .sign(opts.key ?? idpKey.privateKey);
}

/** The claims the identity provider issues for a member of a tenant, valid for five minutes; `overrides` win. */
function claimsFor(tenantSlug: string, email: string, overrides: JWTPayload = {}): JWTPayload {
  return {
    iss: ISSUER, aud: AUDIENCE, sub: `idp|${email}`, iat: nowSeconds(), exp: nowSeconds() + 300,
    custos_tenant: tenantSlug, email, ...overrides,
  };
}

/** 401, UNAUTHENTICATED, no data at all, and the reason in the message. */
function expectRefused(res: GqlResponse<unknown>, message: RegExp) {
  expect(res.status).toBe(401);
  expect(codes(res)).toEqual(['UNAUTHENTICATED']);
  expect(res.data).toBeUndefined();
  expect(res.errors![0].message).toMatch(message);
}

beforeAll(async () => {
  idpKey = await generateKeyPair('RS256');
  jwksDir = mkdtempSync(path.join(os.tmpdir(), 'custos-oidc-api-'));
});

afterAll(() => rmSync(jwksDir, { recursive: true, force: true }));

describe('sign-in with identity-provider JWTs', () => {
  let app: TestApp;
  let north: SeededTenant;
  let south: SeededTenant;
  let ann: Member;        // student of north, in algebra
  let ben: Member;        // ann's classmate
  let teacher: Member;    // teaches algebra
  let loner: Member;      // student of north in no course
  let samNorth: Member;   // the same address in both tenants
  let samSouth: Member;

  const viewer = async (jwt: string) => app.gql<ViewerData, Record<string, never>>(VIEWER, {}, jwt);

  beforeAll(async () => {
    const jwks = path.join(jwksDir, 'jwks.json');
    writeFileSync(jwks, JSON.stringify({ keys: [{ ...(await exportJWK(idpKey.publicKey)), kid: KID, alg: 'RS256', use: 'sig' }] }));
    app = await startTestApp({ CUSTOS_OIDC_ISSUER: ISSUER, CUSTOS_OIDC_AUDIENCE: AUDIENCE, CUSTOS_OIDC_JWKS_FILE: jwks });
    north = await seedTenant(app.orm, 'North');
    south = await seedTenant(app.orm, 'South');
    ann = await north.student({ email: 'ann@north.test' });
    ben = await north.student();
    teacher = await north.instructor();
    loner = await north.student();
    samNorth = await north.instructor({ email: 'sam@shared.test' });
    samSouth = await south.admin({ email: 'sam@shared.test' });
    await south.student(); // someone ann must never see
    const algebra = await north.course('Algebra');
    for (const m of [ann, ben, teacher]) await north.enroll(algebra, m);
  });
  afterAll(() => app?.close());

  it('a valid JWT signs in as the member named by its email, in the tenant named by its claim, until its exp', async () => {
    const exp = nowSeconds() + 600;
    const res = await viewer(await signJwt(claimsFor(north.tenant.slug, 'ann@north.test', { exp })));
    expect(res.status).toBe(200);
    expect(res.errors).toBeUndefined();
    expect(res.data!.viewer).toEqual({
      kind: 'USER', role: 'STUDENT', user: { id: ann.user.id }, tenant: { id: north.tenant.id },
      credentialExpiresAt: new Date(exp * 1000).toISOString(),
    });
  });

  it('the tenant and the role come from Custos\' records, matched case-insensitively; extra claims grant nothing', async () => {
    const res = await viewer(await signJwt(claimsFor(` ${north.tenant.slug.toUpperCase()} `, ' Ann@NORTH.test ',
      { role: 'ADMIN', tenant_id: south.tenant.id })));
    expect(res.errors).toBeUndefined();
    expect(res.data!.viewer).toMatchObject({ role: 'STUDENT', user: { id: ann.user.id }, tenant: { id: north.tenant.id } });
  });

  it('the same email resolves to a different member in each tenant: the tenant claim decides', async () => {
    const inNorth = await viewer(await signJwt(claimsFor(north.tenant.slug, 'sam@shared.test')));
    const inSouth = await viewer(await signJwt(claimsFor(south.tenant.slug, 'sam@shared.test')));
    expect(inNorth.data!.viewer).toMatchObject({ role: 'INSTRUCTOR', user: { id: samNorth.user.id }, tenant: { id: north.tenant.id } });
    expect(inSouth.data!.viewer).toMatchObject({ role: 'ADMIN', user: { id: samSouth.user.id }, tenant: { id: south.tenant.id } });
    expect(samNorth.user.id).not.toBe(samSouth.user.id);
  });

  describe('is refused with 401 and no data', () => {
    it('when the issuer is not the configured one (compared exactly)', async () => {
      for (const iss of ['https://evil.test', `${ISSUER}/`, 'http://idp.test']) {
        expectRefused(await viewer(await signJwt(claimsFor(north.tenant.slug, ann.user.email, { iss }))), /not issued by the configured identity provider/);
      }
      const { iss: _dropped, ...withoutIssuer } = claimsFor(north.tenant.slug, ann.user.email);
      expectRefused(await viewer(await signJwt(withoutIssuer)), /"iss" claim is missing|not issued by the configured/);
    });

    it('when the audience is another service', async () => {
      for (const aud of ['other-app', ['other-app', 'reports']]) {
        expectRefused(await viewer(await signJwt(claimsFor(north.tenant.slug, ann.user.email, { aud }))), /not intended for this service/);
      }
    });

    it('when signed by another key, under the provider\'s kid or an unknown one', async () => {
      const other = await generateKeyPair('RS256');
      const claims = claimsFor(north.tenant.slug, ann.user.email);
      expectRefused(await viewer(await signJwt(claims, { key: other.privateKey })), /signature is invalid/);
      expectRefused(await viewer(await signJwt(claims, { key: other.privateKey, kid: 'someone-else' })), /unknown key/);
    });

    it('when the signature was tampered with or the payload altered after signing', async () => {
      const [header, , signature] = (await signJwt(claimsFor(north.tenant.slug, ann.user.email))).split('.');
      const forged = `${header}.${b64url(claimsFor(south.tenant.slug, 'sam@shared.test'))}.${signature}`;
      expectRefused(await viewer(forged), /signature is invalid/);
    });

    it('when expired (beyond the clock tolerance)', async () => {
      const claims = claimsFor(north.tenant.slug, ann.user.email, { iat: nowSeconds() - 3600, exp: nowSeconds() - 120 });
      expectRefused(await viewer(await signJwt(claims)), /has expired/);
    });

    it('when unsigned (alg: none)', async () => {
      const unsigned = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claimsFor(north.tenant.slug, ann.user.email))}.`;
      expectRefused(await viewer(unsigned), /algorithm that is not accepted/);
    });

    it('when HMAC-signed with the public key as the secret (algorithm confusion)', async () => {
      const claims = claimsFor(north.tenant.slug, ann.user.email);
      const pem = new TextEncoder().encode(await exportSPKI(idpKey.publicKey));
      const jwk = new TextEncoder().encode(JSON.stringify(await exportJWK(idpKey.publicKey)));
      for (const key of [pem, jwk]) {
        expectRefused(await viewer(await signJwt(claims, { alg: 'HS256', key })), /algorithm that is not accepted/);
      }
    });

    it('when the tenant or the member is unknown, or the member deactivated: one answer for all three', async () => {
      const uli = await north.student();
      const jwt = await signJwt(claimsFor(north.tenant.slug, uli.user.email));
      expect((await viewer(jwt)).data!.viewer.user).toEqual({ id: uli.user.id });
      await sql(app.orm, `update app_user set status = 'DEACTIVATED' where id = ?`, [uli.user.id]);

      const refusals = [
        await viewer(await signJwt(claimsFor('no-such-school', ann.user.email))),
        await viewer(await signJwt(claimsFor(north.tenant.slug, 'nobody@north.test'))),
        // Ann's address, but in the other tenant: members are per tenant.
        await viewer(await signJwt(claimsFor(south.tenant.slug, ann.user.email))),
        await viewer(jwt),
      ];
      for (const res of refusals) expectRefused(res, /No active member matches this sign-in/);
      expect(new Set(refusals.map((r) => r.errors![0].message)).size).toBe(1);
    });

    it('when the tenant or email claim is missing', async () => {
      const { custos_tenant: _t, ...noTenant } = claimsFor(north.tenant.slug, ann.user.email);
      const { email: _e, ...noEmail } = claimsFor(north.tenant.slug, ann.user.email);
      expectRefused(await viewer(await signJwt(noTenant)), /"custos_tenant" claim is missing or invalid/);
      expectRefused(await viewer(await signJwt(noEmail)), /"email" claim is missing or invalid/);
    });

    it('and a mutation sent with a refused JWT changes nothing', async () => {
      const before = await sql<{ n: string }>(app.orm, 'select count(*) as n from course');
      const jwt = await signJwt(claimsFor(north.tenant.slug, teacher.user.email), { key: (await generateKeyPair('RS256')).privateKey });
      const res = await app.gql('mutation { createCourse(input: { code: "JWT-1", title: "Forged" }) { id } }', {}, jwt);
      expectRefused(res, /signature is invalid/);
      expect(await sql(app.orm, 'select count(*) as n from course')).toEqual(before);
    });
  });

  it('a JWT-signed-in student sees exactly what their bearer token shows: classmates, by display name only', async () => {
    const jwt = await signJwt(claimsFor(north.tenant.slug, ann.user.email));
    const [byJwt, byToken] = await Promise.all([
      app.gql(UsersDocument, { first: 100 }, jwt),
      app.gql(UsersDocument, { first: 100 }, ann.token),
    ]);
    expect(byJwt.errors).toBeUndefined();
    expect(byJwt.data).toEqual(byToken.data);
    const nodes = byJwt.data!.users.edges.map((e) => e.node);
    expect(nodes.map((n) => n.id).sort()).toEqual([ann.user.id, ben.user.id, teacher.user.id].sort());
    expect(nodes.map((n) => n.id)).not.toContain(loner.user.id);
    expect(nodes.find((n) => n.id === ben.user.id)).toMatchObject({ displayName: ben.user.displayName, email: null, studentNumber: null });
    expect(nodes.find((n) => n.id === teacher.user.id)).toMatchObject({ email: null });
    expect(nodes.find((n) => n.id === ann.user.id)).toMatchObject({ email: ann.user.email });
  });

  it('a JWT-signed-in student is refused what their role does not allow', async () => {
    const jwt = await signJwt(claimsFor(north.tenant.slug, ann.user.email, { role: 'ADMIN' }));
    const res = await app.gql('mutation { createCourse(input: { code: "JWT-2", title: "Mine" }) { id } }', {}, jwt);
    expect(codes(res)).toEqual(['FORBIDDEN']);
    expect(await sql(app.orm, `select id from course where code = 'JWT-2'`)).toEqual([]);
  });
});

describe('a server without OIDC configured', () => {
  let plain: TestApp;
  beforeAll(async () => {
    plain = await startTestApp();
  });
  afterAll(() => plain?.close());

  it('refuses identity-provider JWTs, saying the sign-in is not configured', async () => {
    const school = await seedTenant(plain.orm);
    const member = await school.student();
    expect((await plain.gql(VIEWER, {}, member.token)).status).toBe(200); // its own tokens work
    const jwt = await signJwt(claimsFor(school.tenant.slug, member.user.email));
    expectRefused(await plain.gql(VIEWER, {}, jwt), /Sign-in with identity-provider tokens is not configured/);
  });
});
