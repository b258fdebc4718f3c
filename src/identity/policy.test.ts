import { describe, expect, test } from 'vitest';
import { environmentScope, type Grant, PLATFORM, type Principal, type Role } from '../core/index.ts';
import { authorize, isAllowed } from './policy.ts';

function principal(grants: Grant[], isDisabled = false): Principal {
  return {
    userId: 'u1',
    username: 'alice',
    isDisabled,
    via: 'token',
    credentialId: 't1',
    groups: [],
    grants,
  };
}

const staging = environmentScope('staging');
const production = environmentScope('production');

describe('isAllowed()', () => {
  test('denies by default: no grants, no access', () => {
    expect(isAllowed(principal([]), 'viewer', PLATFORM)).toBe(false);
    expect(isAllowed(principal([]), 'viewer', staging)).toBe(false);
    expect(isAllowed(undefined, 'viewer', PLATFORM)).toBe(false);
  });

  test('a stronger role covers the weaker ones on the same scope', () => {
    const p = principal([{ role: 'deployer', scope: staging }]);
    for (const role of ['viewer', 'developer', 'deployer'] as Role[])
      expect(isAllowed(p, role, staging)).toBe(true);
    expect(isAllowed(p, 'admin', staging)).toBe(false);
  });

  test('a deployer on staging is refused on production and on the platform', () => {
    const p = principal([{ role: 'deployer', scope: staging }]);
    expect(isAllowed(p, 'deployer', production)).toBe(false);
    expect(isAllowed(p, 'viewer', production)).toBe(false);
    expect(isAllowed(p, 'viewer', PLATFORM)).toBe(false);
  });

  test('a platform binding covers every environment, even one that does not exist yet', () => {
    const p = principal([{ role: 'admin', scope: PLATFORM }]);
    expect(isAllowed(p, 'admin', environmentScope('not-created-yet'))).toBe(true);
  });

  test('grants through a group count like direct ones', () => {
    const p = principal([{ role: 'admin', scope: production, viaGroup: 'ops' }]);
    expect(isAllowed(p, 'deployer', production)).toBe(true);
  });

  test('a disabled user holds nothing', () => {
    expect(isAllowed(principal([{ role: 'admin', scope: PLATFORM }], true), 'viewer', PLATFORM)).toBe(false);
  });
});

describe('authorize()', () => {
  test('names the missing role and scope, and how to get it', () => {
    const p = principal([{ role: 'deployer', scope: staging }]);
    expect(() => authorize(p, 'deployer', production)).toThrowError(
      'Not allowed: user "alice" needs role "deployer" on environment:production',
    );
    try {
      authorize(p, 'deployer', production);
    } catch (error) {
      expect((error as { hint: string }).hint).toBe(
        'Ask an administrator to run `slipway roles grant user:alice deployer --scope environment:production`',
      );
      expect((error as { httpStatus: number }).httpStatus).toBe(403);
    }
  });
});
