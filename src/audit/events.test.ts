import { randomUUID } from 'node:crypto';
import { MalformedEventError, validateEvents, zodIssues } from './events';
import { prng } from '../shared/prng';

/** The hand-written validator must give the zod specification's verdict on every event, valid or not. */
describe('access event validation', () => {
  const base = () => ({
    id: randomUUID(), tenantId: randomUUID(), occurredAt: new Date(), requestId: 'req-1', operationType: 'query', operationName: 'Roster',
    rootField: 'Query.course', fields: ['User.email', 'Enrollment.finalGrade'], purpose: 'education.delivery',
    actor: { kind: 'USER', role: 'INSTRUCTOR', userId: randomUUID(), credentialId: 'c1', ip: '127.0.0.1', userAgent: 'test' },
    resources: [`Course:${randomUUID()}`], kind: 'READ', outcome: 'SUCCESS', itemCount: 2,
    subjects: [{ userId: randomUUID(), categories: ['user.contact.email'] }, { userId: randomUUID(), categories: ['user.education.grade', 'user.name'] }],
  } as Record<string, unknown>);

  const accepts = (e: unknown) => { try { validateEvents([e]); return true; } catch (err) { expect(err).toBeInstanceOf(MalformedEventError); return false; } };

  const BAD_VALUES: unknown[] = [undefined, null, '', 'x', 'x'.repeat(65), 'x'.repeat(513), -1, 1.5, NaN, 0, 7, [], [1], {}, new Date('bad'), new Date(),
    'toString', '__proto__', 'Query.users', 'User:1', `Course:${'0'.repeat(36)}`, ['Query.users'], ['user.name'], ['nope'], 'FORBIDDEN', 'DENIED',
    'SUCCESS', 'READ', 'DENY', 'DISCLOSE', 'SYSTEM', `LtiTool:${randomUUID()}`, [`LtiTool:${randomUUID()}`], [`Tool:${randomUUID()}`], 'ADMIN', randomUUID(), randomUUID().toUpperCase(), 'audit', 'system', Array(101).fill(`Post:${randomUUID()}`)];
  const PATHS = ['id', 'tenantId', 'occurredAt', 'requestId', 'operationType', 'operationName', 'rootField', 'fields', 'purpose', 'resources',
    'itemCount', 'kind', 'outcome', 'subjects', 'errorCode', 'actor', 'actor.kind', 'actor.role', 'actor.userId', 'actor.credentialId', 'actor.ip',
    'actor.userAgent', 'actor.extra', 'subjects.0', 'subjects.0.userId', 'subjects.0.categories', 'subjects.1.extra', 'extra'];

  const set = (o: Record<string, unknown>, path: string, value: unknown) => {
    const keys = path.split('.');
    let at: Record<string, unknown> = o;
    for (const k of keys.slice(0, -1)) at = at[k] as Record<string, unknown>;
    const last = keys[keys.length - 1];
    if (value === undefined) delete at[last]; else at[last] = value;
  };

  it('accepts the valid shapes of each kind', () => {
    expect(accepts(base())).toBe(true);
    expect(accepts({ ...base(), kind: 'WRITE' })).toBe(true);
    expect(accepts({ ...base(), kind: 'DISCLOSE', resources: [`Course:${randomUUID()}`, `LtiTool:${randomUUID()}`] })).toBe(true);
    expect(accepts({ ...base(), kind: 'DISCLOSE', subjects: [] })).toBe(false);
    // A read of an audit surface (a report) shows no one's fields: recorded with no subjects, only for `audit`.
    expect(accepts({ ...base(), purpose: 'audit', subjects: [] })).toBe(true);
    expect(accepts({ ...base(), purpose: 'education.delivery', subjects: [] })).toBe(false);
    expect(accepts({ ...base(), kind: 'WRITE', purpose: 'audit', subjects: [] })).toBe(false);
    expect(accepts({ ...base(), kind: 'DENY', outcome: 'DENIED', errorCode: 'FORBIDDEN', subjects: [] })).toBe(true);
    expect(zodIssues(base())).toEqual([]);
  });

  it('agrees with the zod schemas on thousands of mutated events', () => {
    const rng = prng(4711);
    const random = () => rng.int(0, 1_000_000) / 1_000_001;
    const pick = <T>(list: T[]) => list[Math.floor(random() * list.length)];
    let rejected = 0;
    for (let n = 0; n < 4000; n++) {
      const e = n % 3 === 0 ? { ...base(), kind: 'DENY', outcome: 'DENIED', errorCode: 'FORBIDDEN', subjects: [] }
        : n % 3 === 1 ? { ...base(), kind: 'DISCLOSE', resources: [`LtiTool:${randomUUID()}`] } : base();
      const mutations = 1 + Math.floor(random() * 3);
      for (let m = 0; m < mutations; m++) {
        try { set(e, pick(PATHS), structuredClone(pick(BAD_VALUES))); } catch { /* a path through a value that is no longer an object */ }
      }
      const spec = zodIssues(e).length === 0;
      expect(`${n}: ${accepts(e)}`).toBe(`${n}: ${spec}`);
      if (!spec) rejected++;
    }
    expect(rejected).toBeGreaterThan(2000);
  });
});
