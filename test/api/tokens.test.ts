import { codes, startTestApp, type TestApp } from '../support/harness';
import { countRows, seedTenant, sql, type Member, type SeededTenant } from '../support/seed';
import { hashSecret } from '../../src/modules/token/token.secret';

const ISSUE = `mutation($input: IssueTokenInput!) {
  issueToken(input: $input) { secret token { id kind label prefix scopes status expiresAt revokedAt lastUsedAt user { id } } }
}`;
const LIST = `query($kind: TokenKind, $status: TokenStatus, $after: String) {
  tokens(first: 50, kind: $kind, status: $status, after: $after) { edges { node { id kind label prefix scopes status lastUsedAt user { id } } } pageInfo { hasNextPage endCursor } }
}`;
const REVOKE = 'mutation($id: ID!) { revokeToken(id: $id) { id status revokedAt } }';
const VIEWER = '{ viewer { kind role scopes user { id } tenant { id } } }';

interface Issued { secret: string; token: { id: string; kind: string; prefix: string; scopes: string[]; status: string; expiresAt: string; user: { id: string } | null } }

/** Administrators issue, list and revoke every kind of token over GraphQL; the secret is shown once. */
describe('tokens over GraphQL', () => {
  let app: TestApp;
  let school: SeededTenant;
  let admin: Member;
  let teacher: Member;

  beforeAll(async () => {
    app = await startTestApp();
    school = await seedTenant(app.orm, 'Tokens High');
    admin = await school.admin();
    teacher = await school.instructor();
  });
  afterAll(() => app.close());

  const issue = async (input: Record<string, unknown>, token = admin.token) => app.gql<{ issueToken: Issued }, object>(ISSUE, { input }, token);

  it('issues an auditor token that signs in as an auditor, not as a member, with the secret stored only as a hash', async () => {
    const res = await issue({ kind: 'AUDITOR', label: 'External audit 2026', ttlDays: 30 });
    expect(res.errors).toBeUndefined();
    const { secret, token } = res.data!.issueToken;
    expect(secret).toMatch(/^cst_/);
    expect(token).toMatchObject({ kind: 'AUDITOR', scopes: [], status: 'ACTIVE', user: null, prefix: secret.slice(0, 10) });
    expect(new Date(token.expiresAt).getTime() - Date.now()).toBeGreaterThan(29 * 86_400_000);
    const [row] = await sql<{ token_hash: string; created_by_id: string }>(app.orm, 'select * from api_token where id = ?', [token.id]);
    expect(row.token_hash).toBe(hashSecret(secret));
    expect(JSON.stringify(row)).not.toContain(secret);
    expect(row.created_by_id).toBe(admin.user.id);
    const viewer = await app.gql(VIEWER, {}, secret);
    expect(viewer.data).toEqual({ viewer: { kind: 'AUDITOR', role: null, scopes: [], user: null, tenant: { id: school.tenant.id } } });
  });

  it('issues a service token with its scopes, and a member token for a member', async () => {
    const service = (await issue({ kind: 'SERVICE', label: 'SIS sync', scopes: ['roster:read', 'roster:read'] })).data!.issueToken;
    expect(service.token.scopes).toEqual(['roster:read']);
    expect((await app.gql(VIEWER, {}, service.secret)).data).toMatchObject({ viewer: { kind: 'SERVICE', scopes: ['roster:read'], user: null } });
    const member = (await issue({ kind: 'USER', label: 'laptop', userId: teacher.user.id })).data!.issueToken;
    expect(member.token.user).toEqual({ id: teacher.user.id });
    expect((await app.gql(VIEWER, {}, member.secret)).data).toMatchObject({ viewer: { kind: 'USER', role: 'INSTRUCTOR', user: { id: teacher.user.id } } });
  });

  it('lists tokens with kind, status and last use, and never a secret or hash', async () => {
    const { secret, token } = (await issue({ kind: 'AUDITOR', label: 'listed' })).data!.issueToken;
    await app.gql(VIEWER, {}, secret); // marks last use
    const res = await app.gql<{ tokens: { edges: { node: { id: string; lastUsedAt: string | null; kind: string } }[] } }, object>(LIST, { kind: 'AUDITOR' }, admin.token);
    expect(res.errors).toBeUndefined();
    const listed = res.data!.tokens.edges.map((e) => e.node);
    expect(listed.every((t) => t.kind === 'AUDITOR')).toBe(true);
    expect(listed.find((t) => t.id === token.id)!.lastUsedAt).not.toBeNull();
    expect(JSON.stringify(res.data)).not.toContain(secret.slice(10));
  });

  it('pages through tokens newest first without repeating or skipping', async () => {
    for (let i = 0; i < 3; i++) await issue({ kind: 'AUDITOR', label: `page ${i}` });
    const all = (await sql<{ id: string }>(app.orm, 'select id from api_token where tenant_id = ? order by created_at desc, id desc', [school.tenant.id])).map((r) => r.id);
    const seen: string[] = [];
    let after: string | null = null;
    do {
      const res: Awaited<ReturnType<typeof app.gql>> = await app.gql(LIST.replace('first: 50', 'first: 2'), { after }, admin.token);
      const page = (res.data as { tokens: { edges: { node: { id: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string } } }).tokens;
      seen.push(...page.edges.map((e) => e.node.id));
      after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
    } while (after);
    expect(seen).toEqual(all);
  });

  it('revocation over GraphQL stops the token on the next request', async () => {
    const { secret, token } = (await issue({ kind: 'SERVICE', label: 'to revoke', scopes: ['roster:read'] })).data!.issueToken;
    expect((await app.gql(VIEWER, {}, secret)).errors).toBeUndefined();
    const revoked = await app.gql<{ revokeToken: { status: string; revokedAt: string } }, object>(REVOKE, { id: token.id }, admin.token);
    expect(revoked.data!.revokeToken.status).toBe('REVOKED');
    const after = await app.gql(VIEWER, {}, secret);
    expect(after.status).toBe(401);
    expect(codes(after)).toEqual(['UNAUTHENTICATED']);
    const again = await app.gql<{ revokeToken: { revokedAt: string } }, object>(REVOKE, { id: token.id }, admin.token);
    expect(again.data!.revokeToken.revokedAt).toBe(revoked.data!.revokeToken.revokedAt); // idempotent
  });

  it.each([
    ['a service token without scopes', { kind: 'SERVICE', label: 'x' }, 'scopes'],
    ['an unknown scope', { kind: 'SERVICE', label: 'x', scopes: ['grades:write'] }, 'scopes'],
    ['scopes on an auditor token', { kind: 'AUDITOR', label: 'x', scopes: ['roster:read'] }, 'scopes'],
    ['a member token without a member', { kind: 'USER', label: 'x' }, 'userId'],
    ['an auditor token naming a member', { kind: 'AUDITOR', label: 'x', userId: '00000000-0000-4000-8000-000000000000' }, 'userId'],
    ['an auditor token for more than 90 days', { kind: 'AUDITOR', label: 'x', ttlDays: 91 }, 'ttlDays'],
    ['a window of events on a non-auditor token', { kind: 'SERVICE', scopes: ['roster:read'], label: 'x', auditWindow: { from: '2026-01-01T00:00:00Z' } }, 'auditWindow'],
    ['an auditor window that ends before it starts', { kind: 'AUDITOR', label: 'x', auditWindow: { from: '2026-02-01T00:00:00Z', until: '2026-01-01T00:00:00Z' } }, 'auditWindow'],
    ['a blank label', { kind: 'AUDITOR', label: '   ' }, 'label'],
  ])('refuses %s with BAD_USER_INPUT and writes nothing', async (_name, input, field) => {
    const before = await countRows(app.orm, 'api_token');
    const res = await issue(input);
    expect(codes(res)).toEqual(['BAD_USER_INPUT']);
    expect(JSON.stringify(res.errors![0].extensions)).toContain(field);
    expect(res.data).toBeNull();
    expect(await countRows(app.orm, 'api_token')).toBe(before);
  });

  it('a member token for a deactivated member is refused', async () => {
    const gone = await school.student();
    await sql(app.orm, "update app_user set status = 'DEACTIVATED' where id = ?", [gone.user.id]);
    expect(codes(await issue({ kind: 'USER', label: 'x', userId: gone.user.id }))).toEqual(['BAD_USER_INPUT']);
  });
});
