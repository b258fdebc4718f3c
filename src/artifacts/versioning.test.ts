import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { buildVersion, compareDebianVersions, maxVersion, tryParseTagVersion } from './versioning.ts';

function dpkgSays(a: string, relation: 'lt' | 'eq' | 'gt', b: string): boolean {
  try {
    execFileSync('dpkg', ['--compare-versions', a, relation, b]);
    return true;
  } catch {
    return false;
  }
}

function dpkgOrder(a: string, b: string): number {
  if (dpkgSays(a, 'lt', b)) return -1;
  if (dpkgSays(a, 'gt', b)) return 1;
  return 0;
}

describe('buildVersion()', () => {
  test('names the base, the build number and the commit', () => {
    expect(
      buildVersion({ base: '1.4.0', build: 27, commit: '1A2B3C4D5E6F7a8b9c0d1e2f3a4b5c6d7e8f9a0b' }),
    ).toBe('1.4.0~b27+g1a2b3c4d5e6f');
  });

  test('dpkg orders builds by build number, whatever the commits', () => {
    const versions = [1, 2, 9, 10, 11, 99, 100, 1000].map((build, i) =>
      buildVersion({
        base: '1.0.0',
        build,
        commit: `${'f0e1d2c3b4a5'.slice(i % 12)}${'0'.repeat(40)}`.slice(0, 40),
      }),
    );
    for (let i = 1; i < versions.length; i++) {
      expect(dpkgSays(versions[i - 1]!, 'lt', versions[i]!), `${versions[i - 1]} < ${versions[i]}`).toBe(
        true,
      );
    }
  });

  test('a higher base sorts after every build of a lower one, and a build before its plain release', () => {
    expect(dpkgSays('1.0.0~b999+gffffffffffff', 'lt', '1.1.0~b1000+g000000000000')).toBe(true);
    expect(dpkgSays('1.0.0~b5+gabcdef012345', 'lt', '1.0.0')).toBe(true);
    expect(dpkgSays('1.9.0~b5+gabcdef012345', 'lt', '1.10.0~b6+gabcdef012345')).toBe(true);
  });

  test('refuses a base that is not numbers and dots, and a build number below 1', () => {
    expect(() => buildVersion({ base: 'v1.0', build: 1, commit: 'a'.repeat(40) })).toThrow(
      'is not like "1.4.0"',
    );
    expect(() => buildVersion({ base: '1.0', build: 0, commit: 'a'.repeat(40) })).toThrow(
      'not a positive integer',
    );
  });
});

describe('compareDebianVersions()', () => {
  test('agrees with dpkg --compare-versions on hand-picked pairs', () => {
    const pairs: [string, string][] = [
      ['1.0', '1.0.0'],
      ['1.0~rc1', '1.0'],
      ['1.0~~', '1.0~'],
      ['1.0+b1', '1.0'],
      ['1:0.9', '2.0'],
      ['1.0-1', '1.0-2'],
      ['1.0a', '1.0+'],
      ['1.001', '1.1'],
      ['2.0~b10+g1', '2.0~b9+g2'],
    ];
    for (const [a, b] of pairs)
      expect(Math.sign(compareDebianVersions(a, b)), `${a} vs ${b}`).toBe(dpkgOrder(a, b));
  });

  test('agrees with dpkg --compare-versions on generated build versions', () => {
    const version = fc
      .tuple(
        fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 1, max: 2000 }),
        fc.stringMatching(/^[0-9a-f]{12}$/),
      )
      .map(([parts, build, sha]) => `${parts.join('.')}~b${build}+g${sha}`);
    fc.assert(
      fc.property(version, version, (a, b) => Math.sign(compareDebianVersions(a, b)) === dpkgOrder(a, b)),
      { numRuns: 150 },
    );
  });

  test('maxVersion keeps the higher base', () => {
    expect(maxVersion('1.9.0', '1.10.0')).toBe('1.10.0');
    expect(maxVersion('2.0.0', '1.10.0')).toBe('2.0.0');
  });
});

describe('tryParseTagVersion()', () => {
  test('reads vX.Y.Z tags and ignores others', () => {
    expect(tryParseTagVersion('v1.4.0')).toBe('1.4.0');
    expect(tryParseTagVersion('refs/tags/2.0')).toBe('2.0');
    expect(tryParseTagVersion('release-candidate')).toBeUndefined();
  });
});
