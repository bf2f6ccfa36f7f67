import { decodeCursor, encodeCursor, pageRequest, toConnection } from './pagination';
import { AppError } from './errors';

const limits = { defaultPageSize: 20, maxPageSize: 100 };

describe('cursors', () => {
  it('round-trip the sort key', () => {
    const values = ['2026-11-22T08:00:00.123Z', '6f1c5d2e-0000-4000-8000-000000000001'];
    expect(decodeCursor(encodeCursor(values), 2)).toEqual(values);
  });

  it.each([
    ['not base64 !', 1],
    [Buffer.from('{"a":1}').toString('base64url'), 1],
    [Buffer.from('not json').toString('base64url'), 1],
    [encodeCursor(['a', 'b']), 1],
    [Buffer.from('[{"x":1}]').toString('base64url'), 1],
    ['A'.repeat(600), 1],
  ])('reject malformed cursor %s as BAD_USER_INPUT', (cursor, arity) => {
    try {
      decodeCursor(cursor, arity);
      throw new Error('accepted');
    } catch (err) {
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe('BAD_USER_INPUT');
    }
  });
});

describe('pageRequest', () => {
  it('uses the default page size', () => {
    expect(pageRequest({}, limits, 1)).toEqual({ first: 20, after: null });
  });

  it.each([0, -1, 101, 1.5])('refuses first=%s', (first) => {
    expect(() => pageRequest({ first }, limits, 1)).toThrow(/first must be between 1 and 100/);
  });
});

describe('toConnection', () => {
  it('uses the extra row only to say a next page exists', () => {
    const c = toConnection([1, 2, 3], 2, (n) => [n]);
    expect(c.edges.map((e) => e.node)).toEqual([1, 2]);
    expect(c.pageInfo).toEqual({ hasNextPage: true, endCursor: encodeCursor([2]) });
    expect(toConnection([1], 2, (n) => [n]).pageInfo.hasNextPage).toBe(false);
    expect(toConnection([], 2, (n) => [n]).pageInfo).toEqual({ hasNextPage: false, endCursor: null });
  });
});
