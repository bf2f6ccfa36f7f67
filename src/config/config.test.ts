import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from './config';

describe('loadConfig', () => {
  it('has working defaults for a fresh machine', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ env: 'development', databaseUrl: null, port: 4000, embeddedPgPort: 54329, maxPageSize: 100, defaultPageSize: 20 });
    expect(c.dataDir).toMatch(/\.custos$/);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['NODE_ENV', 'staging'],
    ['DATABASE_URL', 'not a url'],
    ['DATABASE_URL', 'mysql://localhost/db'],
    ['DATABASE_URL', 'postgres://localhost'],
    ['CUSTOS_DB_POOL_MAX', '0'],
    ['CUSTOS_SQL_STATS', 'maybe'],
    ['LOG_LEVEL', 'loud'],
  ])('names the bad variable %s=%s', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^Invalid configuration: ${name} `));
  });

  it('refuses a default page size above the maximum', () => {
    expect(() => loadConfig({ CUSTOS_MAX_PAGE_SIZE: '10', CUSTOS_DEFAULT_PAGE_SIZE: '11' })).toThrow(/CUSTOS_DEFAULT_PAGE_SIZE/);
  });

  it('keeps the SQL-count header off in production unless asked', () => {
    expect(loadConfig({ NODE_ENV: 'production' }).exposeSqlStats).toBe(false);
    expect(loadConfig({ NODE_ENV: 'production', CUSTOS_SQL_STATS: 'true' }).exposeSqlStats).toBe(true);
  });
});

describe('loadConfig: OIDC sign-in', () => {
  const SECRET = 'x'.repeat(32);
  const base = { CUSTOS_OIDC_ISSUER: 'https://idp.example.com/', CUSTOS_OIDC_AUDIENCE: 'custos' };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'custos-config-'));
  const file = (name: string, text: string) => {
    writeFileSync(path.join(dir, name), text);
    return path.join(dir, name);
  };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const keysFile = file('jwks.json', JSON.stringify({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'abc', kid: 'k1' }] }));

  const badVariable = (env: Record<string, string>, variable: string | RegExp, problem?: RegExp) => {
    let thrown: unknown;
    try {
      loadConfig(env);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).variable).toMatch(variable);
    if (problem) expect((thrown as ConfigError).message).toMatch(problem);
  };

  it('is off when no OIDC variable is set', () => {
    expect(loadConfig({}).oidc).toBeNull();
  });

  it('reads an issuer with a JWKS URL and applies the defaults', () => {
    expect(loadConfig({ ...base, CUSTOS_OIDC_JWKS_URL: 'https://idp.example.com/jwks' }).oidc).toEqual({
      issuer: 'https://idp.example.com/', // kept exactly: iss is compared as a string
      audience: 'custos',
      jwks: { url: 'https://idp.example.com/jwks' },
      tenantClaim: 'custos_tenant',
      emailClaim: 'email',
      clockToleranceSeconds: 30,
    });
  });

  it('reads the claim names and clock tolerance', () => {
    const c = loadConfig({ ...base, CUSTOS_OIDC_HS256_SECRET: SECRET, CUSTOS_OIDC_TENANT_CLAIM: 'org',
      CUSTOS_OIDC_EMAIL_CLAIM: 'upn', CUSTOS_OIDC_CLOCK_TOLERANCE_SECONDS: '0' }).oidc;
    expect(c).toMatchObject({ jwks: { hs256Secret: SECRET }, tenantClaim: 'org', emailClaim: 'upn', clockToleranceSeconds: 0 });
  });

  it('loads the keys of a JWKS file at start', () => {
    expect(loadConfig({ ...base, CUSTOS_OIDC_JWKS_FILE: keysFile }).oidc?.jwks).toEqual({
      file: keysFile, keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'abc', kid: 'k1' }],
    });
  });

  it.each([
    'CUSTOS_OIDC_AUDIENCE', 'CUSTOS_OIDC_JWKS_URL', 'CUSTOS_OIDC_JWKS_FILE', 'CUSTOS_OIDC_HS256_SECRET',
    'CUSTOS_OIDC_TENANT_CLAIM', 'CUSTOS_OIDC_EMAIL_CLAIM', 'CUSTOS_OIDC_CLOCK_TOLERANCE_SECONDS',
  ])('refuses %s without CUSTOS_OIDC_ISSUER', (name) => {
    badVariable({ [name]: 'value' }, name, /CUSTOS_OIDC_ISSUER must be set too/);
  });

  it.each([
    ['not a url', 'development'],
    ['ftp://idp.example.com', 'development'],
    ['http://idp.example.com', 'production'],
  ])('refuses the issuer %s in %s', (issuer, env) => {
    badVariable({ ...base, NODE_ENV: env, CUSTOS_OIDC_ISSUER: issuer, CUSTOS_OIDC_JWKS_URL: 'https://idp.example.com/jwks' },
      'CUSTOS_OIDC_ISSUER');
  });

  it('accepts plain http only outside production', () => {
    const env = { ...base, CUSTOS_OIDC_ISSUER: 'http://localhost:8080', CUSTOS_OIDC_JWKS_URL: 'http://localhost:8080/jwks' };
    expect(loadConfig({ ...env, NODE_ENV: 'test' }).oidc).toMatchObject({ issuer: 'http://localhost:8080', jwks: { url: 'http://localhost:8080/jwks' } });
    badVariable({ ...env, NODE_ENV: 'production', CUSTOS_OIDC_ISSUER: 'https://idp.example.com' }, 'CUSTOS_OIDC_JWKS_URL', /https/);
  });

  it('refuses a JWKS URL that is not http(s)', () => {
    badVariable({ ...base, CUSTOS_OIDC_JWKS_URL: 'file:///etc/jwks.json' }, 'CUSTOS_OIDC_JWKS_URL');
    badVariable({ ...base, CUSTOS_OIDC_JWKS_URL: 'jwks' }, 'CUSTOS_OIDC_JWKS_URL');
  });

  it('requires an audience', () => {
    badVariable({ CUSTOS_OIDC_ISSUER: base.CUSTOS_OIDC_ISSUER, CUSTOS_OIDC_HS256_SECRET: SECRET }, 'CUSTOS_OIDC_AUDIENCE');
  });

  it('requires exactly one key source', () => {
    badVariable(base, /CUSTOS_OIDC_JWKS_URL.*CUSTOS_OIDC_JWKS_FILE.*CUSTOS_OIDC_HS256_SECRET/, /exactly one/);
    badVariable({ ...base, CUSTOS_OIDC_JWKS_URL: 'https://idp.example.com/jwks', CUSTOS_OIDC_HS256_SECRET: SECRET },
      'CUSTOS_OIDC_JWKS_URL and CUSTOS_OIDC_HS256_SECRET', /exactly one/);
    badVariable({ ...base, CUSTOS_OIDC_JWKS_URL: 'https://idp.example.com/jwks', CUSTOS_OIDC_JWKS_FILE: keysFile,
      CUSTOS_OIDC_HS256_SECRET: SECRET }, 'CUSTOS_OIDC_JWKS_URL and CUSTOS_OIDC_JWKS_FILE and CUSTOS_OIDC_HS256_SECRET');
  });

  it.each([
    ['a missing file', path.join(dir, 'absent.json'), /cannot be read \(ENOENT\)/],
    ['a file that is not JSON', file('garbage.json', '{"keys": ['), /not valid JSON/],
    ['a JSON file that is not a JWKS', file('object.json', '{"kty": "RSA"}'), /\{"keys"/],
    ['a JWKS without keys', file('empty.json', '{"keys": []}'), /\{"keys"/],
    ['a JWKS whose keys are not objects', file('strings.json', '{"keys": ["k1"]}'), /\{"keys"/],
    ['a JWKS holding a private key', file('private.json', '{"keys": [{"kty": "EC", "d": "secret"}]}'), /public keys only/],
  ])('refuses a JWKS file: %s', (_, name, problem) => {
    badVariable({ ...base, CUSTOS_OIDC_JWKS_FILE: name }, 'CUSTOS_OIDC_JWKS_FILE', problem);
  });

  it('refuses a short HS256 secret', () => {
    badVariable({ ...base, CUSTOS_OIDC_HS256_SECRET: 'x'.repeat(31) }, 'CUSTOS_OIDC_HS256_SECRET', /at least 32/);
  });

  it('refuses an HS256 secret in production', () => {
    badVariable({ ...base, NODE_ENV: 'production', CUSTOS_OIDC_HS256_SECRET: SECRET }, 'CUSTOS_OIDC_HS256_SECRET', /development only/);
  });

  it.each(['-1', '301', 'soon'])('refuses a clock tolerance of %s', (value) => {
    badVariable({ ...base, CUSTOS_OIDC_HS256_SECRET: SECRET, CUSTOS_OIDC_CLOCK_TOLERANCE_SECONDS: value },
      'CUSTOS_OIDC_CLOCK_TOLERANCE_SECONDS');
  });
});
