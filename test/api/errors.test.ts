import { codes, startTestApp, type TestApp } from '../support/harness';
import { seedTenant, sql, type Member } from '../support/seed';
import { seesGrade } from '../../src/auth/permissions';

/** What a refused or failed request looks like from outside: a stable code, and nothing about the inside. */
describe('errors', () => {
  let app: TestApp;
  let production: TestApp;
  let admin: Member;
  let prodAdmin: Member;

  beforeAll(async () => {
    app = await startTestApp();
    production = await startTestApp({ NODE_ENV: 'production' });
    admin = await (await seedTenant(app.orm)).admin();
    prodAdmin = await (await seedTenant(production.orm)).admin();
  });
  afterAll(async () => {
    await app.close();
    await production.close();
  });

  it('gives no field suggestions ("Did you mean …?") outside development', async () => {
    for (const server of [app, production]) {
      const res = await server.gql('{ viewr { kind } users(frist: 2) { edges { node { id } } } }', {}, server === app ? admin.token : prodAdmin.token);
      expect(res.errors!.length).toBeGreaterThan(0);
      for (const e of res.errors!) {
        expect(e.message).not.toMatch(/did you mean/i);
        expect(e.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
      }
    }
  });

  it('refuses introspection in production', async () => {
    const res = await production.gql('{ __schema { types { name } } }', {}, prodAdmin.token);
    expect(res.data ?? null).toBeNull();
    expect(res.errors![0].message).toMatch(/introspection/i);
  });

  it('answers a database failure inside a resolver as INTERNAL_SERVER_ERROR, without SQL, stack or the word "Authorised"', async () => {
    const [{ role }] = await sql<{ role: string }>(app.orm, 'select custos_app_role() as role');
    await sql(app.orm, `revoke select on course from ${role}`);
    try {
      const res = await app.gql('{ courses(first: 5) { edges { node { id } } } }', {}, admin.token);
      expect(codes(res)).toEqual(['INTERNAL_SERVER_ERROR']);
      expect(res.errors![0].message).toBe('Internal server error.');
      expect(res.errors![0].extensions).toEqual({ code: 'INTERNAL_SERVER_ERROR' }); // no SQL, no stack, not "Not Authorised!"
      expect(res.data ?? null).toBeNull();
    } finally {
      await sql(app.orm, `grant select on course to ${role}`);
    }
  });

  it('keeps a domain error\'s own code through the permission layer', async () => {
    const res = await app.gql('query($id: ID!) { user(id: $id) { id } }', { id: 'not-a-uuid' }, admin.token);
    expect(codes(res)).toEqual(['BAD_USER_INPUT']);
    const missing = await app.gql('query($id: ID!) { user(id: $id) { id } }', { id: '00000000-0000-4000-8000-000000000000' }, admin.token);
    expect(codes(missing)).toEqual(['NOT_FOUND']);
  });

  it('surfaces a failing row rule as that failure, never as a silent denial', async () => {
    const boom = new Error('database went away');
    const ctx = { _shield: { cache: {} }, access: { canSeeGrade: async () => { throw boom; } } };
    const result = await seesGrade.resolve({ id: 'e', courseId: 'c', userId: 'u' }, {}, ctx as never, {} as never,
      { debug: false, allowExternalErrors: true, hashFunction: () => '' } as never);
    expect(result).toBe(boom);
  });
});
