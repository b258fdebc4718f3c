import { describe, expect, test } from 'vitest';
import { formatSnapshot, isCoveredBy, isVisibleIn, notVisibleFilter, parseSnapshot } from './snapshot.ts';

describe('snapshots', () => {
  test('parse and format round-trip', () => {
    for (const text of ['10:20:', '10:20:12,15', '5:5:'])
      expect(formatSnapshot(parseSnapshot(text))).toBe(text);
    expect(() => parseSnapshot('nope')).toThrow('Not a pg_snapshot');
  });

  test('visibility follows xmin, xmax and the in-progress list', () => {
    const s = parseSnapshot('10:20:12,15');
    expect([9n, 10n, 12n, 15n, 19n, 20n, 25n].map((x) => isVisibleIn(x, s))).toStrictEqual([
      true,
      true,
      false,
      false,
      true,
      false,
      false,
    ]);
  });

  test('a later snapshot covers an earlier one only when nothing the earlier saw is in progress', () => {
    expect(isCoveredBy(parseSnapshot('10:20:12'), parseSnapshot('12:25:12,21'))).toBe(true);
    expect(isCoveredBy(parseSnapshot('10:20:'), parseSnapshot('12:25:13'))).toBe(false);
    expect(isCoveredBy(parseSnapshot('10:20:'), parseSnapshot('20:25:'))).toBe(true);
    expect(isCoveredBy(parseSnapshot('10:20:'), parseSnapshot('10:18:'))).toBe(false);
  });

  test('the filter selects ids at or above xmax and those in progress', () => {
    expect(notVisibleFilter(parseSnapshot('10:20:'))).toBe(`txid >= '20'::xid8`);
    expect(notVisibleFilter(parseSnapshot('10:20:12,15'))).toBe(
      `(txid >= '20'::xid8 OR txid = ANY('{12,15}'::xid8[]))`,
    );
  });
});
