import pino from 'pino';
import { startTestApp, type TestApp } from '../support/harness';
import { seedTenant, sql, type SeededTenant } from '../support/seed';
import { enqueueJob, JobRunner, type ClaimedJob, type JobHandlers } from '../../src/jobs/queue';

const log = pino({ level: 'silent' });
const HOUR = 3_600_000;

/** The PostgreSQL job queue: one runner per job, retries with backoff, leases, dedupe, tenant-bound handlers. */
describe('the job queue', () => {
  let app: TestApp;
  let north: SeededTenant;
  let south: SeededTenant;

  beforeAll(async () => {
    app = await startTestApp();
    north = await seedTenant(app.orm, 'Queue North');
    south = await seedTenant(app.orm, 'Queue South');
  });
  afterAll(() => app.close());
  beforeEach(() => sql(app.orm, 'delete from job'));

  const enqueue = (spec: Parameters<typeof enqueueJob>[1]) => app.orm.em.fork().transactional((em) => enqueueJob(em, spec));
  const runner = (handlers: JobHandlers, now?: () => Date, leaseMs?: number) =>
    new JobRunner({ owner: app.orm, work: app.appOrm, handlers, log, now, leaseMs });
  const jobs = () => sql<{ kind: string; attempts: number; outcome: string | null; last_error: string | null; run_at: Date; payload: { n?: number } }>(
    app.orm, 'select kind, attempts, outcome, last_error, run_at, payload from job order by created_at, id');

  it('two runners racing over the same jobs run each exactly once', async () => {
    for (let n = 0; n < 30; n++) await enqueue({ tenantId: north.tenant.id, kind: 'test.count', payload: { n } });
    const seen: number[] = [];
    const handlers: JobHandlers = {
      'test.count': { run: async (job) => { seen.push(job.payload.n as number); await new Promise((r) => setTimeout(r, 2)); } },
    };
    const [a, b] = await Promise.all([runner(handlers).runDue(), runner(handlers).runDue()]);
    expect(a.done + b.done).toBe(30);
    expect(a.done).toBeGreaterThan(0);
    expect(b.done).toBeGreaterThan(0);
    expect(seen.sort((x, y) => x - y)).toEqual([...Array(30).keys()]);
    expect((await jobs()).every((j) => j.outcome === 'DONE' && j.attempts === 1)).toBe(true);
  });

  it('a pending job with the same dedupe key is enqueued once; after it finished, again', async () => {
    const spec = { tenantId: north.tenant.id, kind: 'test.once', dedupeKey: 'once:1' };
    await enqueue(spec);
    await enqueue(spec);
    expect(await jobs()).toHaveLength(1);
    await runner({ 'test.once': { run: async () => undefined } }).runDue();
    await enqueue(spec);
    expect((await jobs()).map((j) => j.outcome)).toEqual(['DONE', null]);
  });

  it('a failing job is retried with growing backoff, then gives up and its handler records that', async () => {
    await enqueue({ tenantId: north.tenant.id, kind: 'test.flaky', maxAttempts: 3 });
    let clock = Date.now();
    const now = () => new Date(clock);
    const dead: string[] = [];
    const handlers: JobHandlers = {
      'test.flaky': {
        run: async () => { throw new Error('upstream unavailable'); },
        onDead: async (job: ClaimedJob, _run, error) => { dead.push(`${job.attempt}:${error}`); },
      },
    };
    const r = runner(handlers, now);
    expect(await r.runDue()).toEqual({ done: 0, retried: 1, dead: 0 });
    const [first] = await jobs();
    expect(first).toMatchObject({ attempts: 1, outcome: null, last_error: 'upstream unavailable' });
    const firstDelay = new Date(first.run_at).getTime() - clock;
    expect(firstDelay).toBeGreaterThanOrEqual(4_000);
    // Not due yet: nothing runs.
    expect(await r.runDue()).toEqual({ done: 0, retried: 0, dead: 0 });
    clock += HOUR;
    expect(await r.runDue()).toEqual({ done: 0, retried: 1, dead: 0 });
    const [second] = await jobs();
    expect(new Date(second.run_at).getTime() - clock).toBeGreaterThan(firstDelay);
    clock += HOUR;
    expect(await r.runDue()).toEqual({ done: 0, retried: 0, dead: 1 });
    expect(await jobs()).toMatchObject([{ attempts: 3, outcome: 'DEAD', last_error: 'upstream unavailable' }]);
    expect(dead).toEqual(['3:upstream unavailable']);
  });

  it('a job\'s work and its "done" mark commit together: a failure leaves no half-done work', async () => {
    await enqueue({ tenantId: north.tenant.id, kind: 'test.write', maxAttempts: 1 });
    const handlers: JobHandlers = {
      'test.write': {
        run: async (job, { em }) => {
          await em.execute('insert into privacy_settings (tenant_id, response_window_days) values (?, 44)', [job.tenantId]);
          throw new Error('crashed after writing');
        },
      },
    };
    expect(await runner(handlers).runDue()).toEqual({ done: 0, retried: 0, dead: 1 });
    expect(await sql(app.orm, 'select 1 from privacy_settings where tenant_id = ?', [north.tenant.id])).toEqual([]);
  });

  it('a runner that dies loses its lease: another claims the job after it expires', async () => {
    await enqueue({ tenantId: north.tenant.id, kind: 'test.lease' });
    let clock = Date.now();
    const ran: number[] = [];
    const handlers: JobHandlers = { 'test.lease': { run: async (job) => { ran.push(job.attempt); } } };
    const dying = runner(handlers, () => new Date(clock), 60_000);
    expect(await dying.claim()).not.toBeNull(); // claimed, then never finished
    const other = runner(handlers, () => new Date(clock), 60_000);
    expect(await other.runDue()).toEqual({ done: 0, retried: 0, dead: 0 });
    clock += 61_000;
    expect(await other.runDue()).toEqual({ done: 1, retried: 0, dead: 0 });
    expect(ran).toEqual([2]);
  });

  it('handlers run bound to their job\'s tenant: row-level security hides every other tenant', async () => {
    await enqueue({ tenantId: south.tenant.id, kind: 'test.look' });
    let seen: string[] = [];
    const handlers: JobHandlers = {
      'test.look': { run: async (_job, { em }) => { seen = (await em.execute<{ id: string }[]>('select id from tenant')).map((r) => r.id); } },
    };
    await runner(handlers).runDue();
    expect(seen).toEqual([south.tenant.id]);
  });

  it('a job of an unknown kind gives up at once rather than loop', async () => {
    await enqueue({ tenantId: north.tenant.id, kind: 'test.unknown' });
    expect(await runner({}).runDue()).toEqual({ done: 0, retried: 0, dead: 1 });
    expect(await jobs()).toMatchObject([{ outcome: 'DEAD', last_error: 'no handler for jobs of kind test.unknown' }]);
  });
});
