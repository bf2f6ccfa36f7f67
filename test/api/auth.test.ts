import { randomBytes } from 'node:crypto';
import { codes, startTestApp, type TestApp } from '../support/harness';
import { countRows, seedTenant, sql, type Member, type SeededTenant } from '../support/seed';
import { CreateCourseDocument, DeactivateUserDocument, TenantDocument, ViewerDocument } from '../generated/graphql';
import { hashSecret } from '../../src/modules/token/token.secret';
import { issueUserToken, revokeToken } from '../../src/modules/token/token.service';

/** Who is calling is decided at the door: a request without a usable credential gets 401 and no data. */
describe('authentication', () => {
  let app: TestApp;
  let school: SeededTenant;
  let admin: Member;
  let ann: Member;

  beforeAll(async () => {
    app = await startTestApp();
    school = await seedTenant(app.orm, 'Northfield');
    admin = await school.admin();
    ann = await school.student();
  });
  afterAll(() => app.close());

  const tokenRow = async (secret: string) =>
    (await sql<{ id: string; revoked_at: Date | null; expires_at: Date }>(app.orm,
      'select id, revoked_at, expires_at from api_token where token_hash = ?', [hashSecret(secret)]))[0];

  function expectRefused(res: Awaited<ReturnType<TestApp['gql']>>, message?: RegExp) {
    expect(res.status).toBe(401);
    expect(codes(res)).toEqual(['UNAUTHENTICATED']);
    expect(res.data ?? null).toBeNull();
    if (message) expect(res.errors![0].message).toMatch(message);
  }

  it('refuses a request without an Authorization header', async () => {
    expectRefused(await app.gql(ViewerDocument, {}, null), /bearer token is required/i);
  });

  it('refuses even a harmless __typename query without a token', async () => {
    expectRefused(await app.gql('{ __typename }', {}, null));
  });

  it('refuses an Authorization header that is not "Bearer <token>"', async () => {
    for (const header of ['Basic dXNlcjpwYXNz', 'Bearer', `Bearer ${ann.token} extra`, ann.token]) {
      const res = await fetch(app.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: header },
        body: JSON.stringify({ query: '{ viewer { role } }' }),
      });
      const body = await res.json() as { data?: unknown; errors: { extensions: { code: string } }[] };
      expect(res.status).toBe(401);
      expect(body.data ?? null).toBeNull();
      expect(body.errors.map((e) => e.extensions.code)).toEqual(['UNAUTHENTICATED']);
    }
  });

  it('refuses a malformed bearer token', async () => {
    expectRefused(await app.gql(ViewerDocument, {}, 'not-a-token'), /not valid/);
    expectRefused(await app.gql(ViewerDocument, {}, `cst_${'x'.repeat(10)}`), /not valid/);
  });

  it('refuses a well-formed token that was never issued', async () => {
    expectRefused(await app.gql(ViewerDocument, {}, `cst_${randomBytes(32).toString('base64url')}`), /not valid/);
  });

  it('refuses an expired token, and the expiry is checked on every request', async () => {
    const bob = await school.student();
    expect((await app.gql(ViewerDocument, {}, bob.token)).status).toBe(200);
    await sql(app.orm, "update api_token set expires_at = now() - interval '1 second' where token_hash = ?", [hashSecret(bob.token)]);
    expectRefused(await app.gql(ViewerDocument, {}, bob.token), /expired/);
  });

  it('revocation takes effect on the very next request, and only for the revoked token', async () => {
    const cat = await school.student();
    const second = await school.token(cat);
    expect((await app.gql(ViewerDocument, {}, cat.token)).data?.viewer.user?.id).toBe(cat.user.id);
    const row = await tokenRow(cat.token);
    await revokeToken(app.orm.em.fork(), school.tenant.id, row.id);
    expectRefused(await app.gql(ViewerDocument, {}, cat.token), /revoked/);
    expect((await app.gql(ViewerDocument, {}, second)).data?.viewer.user?.id).toBe(cat.user.id);
  });

  it('a deactivated member is locked out: existing tokens are revoked and new ones do not work', async () => {
    const dan = await school.instructor();
    expect((await app.gql(ViewerDocument, {}, dan.token)).status).toBe(200);
    const res = await app.gql(DeactivateUserDocument, { id: dan.user.id }, admin.token);
    expect(res.errors).toBeUndefined();
    expect(res.data?.deactivateUser.status).toBe('DEACTIVATED');
    expectRefused(await app.gql(ViewerDocument, {}, dan.token));
    expect((await tokenRow(dan.token)).revoked_at).not.toBeNull();
    // A token issued after deactivation (e.g. by a stale script) is still refused: the account is what counts.
    const { secret } = await issueUserToken(app.orm.em.fork(), { ...dan.user, status: 'ACTIVE' } as never, { label: 'late', ttlDays: 1 });
    expectRefused(await app.gql(ViewerDocument, {}, secret), /deactivated/);
  });

  it('a mutation sent without a valid token changes nothing', async () => {
    const before = await countRows(app.orm, 'course');
    for (const token of [null, 'garbage', `cst_${randomBytes(32).toString('base64url')}`]) {
      const res = await app.gql(CreateCourseDocument, { input: { code: 'HACK-1', title: 'Nope' } }, token);
      expect(res.status).toBe(401);
      expect(codes(res)).toEqual(['UNAUTHENTICATED']);
    }
    expect(await countRows(app.orm, 'course')).toBe(before);
  });

  it('viewer answers who is calling, in which tenant, and until when the credential is valid', async () => {
    const res = await app.gql(ViewerDocument, {}, ann.token);
    expect(res.status).toBe(200);
    expect(res.errors).toBeUndefined();
    const viewer = res.data!.viewer;
    expect(viewer.role).toBe('STUDENT');
    expect(viewer.user).toEqual({ id: ann.user.id, displayName: ann.user.displayName, email: ann.user.email });
    expect(viewer.tenant).toEqual({ id: school.tenant.id, name: 'Northfield', slug: school.tenant.slug });
    const row = await tokenRow(ann.token);
    expect(new Date(viewer.credentialExpiresAt).getTime()).toBe(new Date(row.expires_at).getTime());
  });

  it('tenant answers the caller\'s own tenant, for every role', async () => {
    for (const m of [admin, ann, await school.instructor()]) {
      const res = await app.gql(TenantDocument, {}, m.token);
      expect(res.errors).toBeUndefined();
      expect(res.data?.tenant).toMatchObject({ id: school.tenant.id, name: 'Northfield', slug: school.tenant.slug });
    }
  });

  it('records when a token was last used', async () => {
    const eve = await school.student();
    expect((await sql<{ last_used_at: Date | null }>(app.orm, 'select last_used_at from api_token where token_hash = ?', [hashSecret(eve.token)]))[0].last_used_at).toBeNull();
    await app.gql(ViewerDocument, {}, eve.token);
    expect((await sql<{ last_used_at: Date | null }>(app.orm, 'select last_used_at from api_token where token_hash = ?', [hashSecret(eve.token)]))[0].last_used_at).not.toBeNull();
  });
});
