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
