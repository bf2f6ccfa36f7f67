import { PURPOSES, type Purpose } from '../audit/purposes';
import { DATA_CATEGORIES, type DataCategory } from './categories';
import { LAWFUL_BASIS, RETENTION } from './processing';

describe('the records of processing', () => {
  it('states a lawful basis, with the article, for every purpose', () => {
    expect(Object.keys(LAWFUL_BASIS).sort()).toEqual(Object.keys(PURPOSES).sort());
    for (const purpose of Object.keys(PURPOSES) as Purpose[]) {
      expect(LAWFUL_BASIS[purpose]).toEqual({
        basis: expect.any(String), article: expect.stringMatching(/Art\. 6\(1\)/), explanation: expect.any(String),
      });
    }
  });

  it('states how long each category is kept and what happens then', () => {
    expect(Object.keys(RETENTION).sort()).toEqual(Object.keys(DATA_CATEGORIES).sort());
    for (const category of Object.keys(DATA_CATEGORIES) as DataCategory[]) {
      expect(RETENTION[category].period.length).toBeGreaterThan(10);
      expect(RETENTION[category].end.length).toBeGreaterThan(10);
    }
  });
});
