import { describe, expect, test } from 'vitest';
import { loadServerConfig } from '../src/server/config.ts';

describe('secret store settings of the server', () => {
  test('root key file and versions kept: flags win over environment variables, which win over defaults', () => {
    expect(loadServerConfig({}, {})).toMatchObject({ secretVersionsKept: 10 });
    expect(loadServerConfig({}, {}).rootKeyFile).toBeUndefined();
    const config = loadServerConfig(
      { rootKeyFile: '/etc/slipway/root.key' },
      { SLIPWAY_ROOT_KEY_FILE: '/elsewhere.key', SLIPWAY_SECRET_VERSIONS_KEPT: '5' },
    );
    expect(config).toMatchObject({ rootKeyFile: '/etc/slipway/root.key', secretVersionsKept: 5 });
    expect(loadServerConfig({}, { SLIPWAY_ROOT_KEY: 'k'.repeat(44) }).rootKey).toBe('k'.repeat(44));
  });

  test('refuses a key file and an inline key together, and a bad versions count, without echoing the key', () => {
    const attempt = () =>
      loadServerConfig(
        {},
        {
          SLIPWAY_ROOT_KEY_FILE: '/a.key',
          SLIPWAY_ROOT_KEY: 'inline-key-text',
          SLIPWAY_SECRET_VERSIONS_KEPT: '0',
        },
      );
    expect(attempt).toThrowError(
      'Cannot start the server: configuration is invalid: secretVersionsKept: Too small: expected number to be >=1',
    );
    expect(() =>
      loadServerConfig({}, { SLIPWAY_ROOT_KEY_FILE: '/a.key', SLIPWAY_ROOT_KEY: 'inline-key-text' }),
    ).toThrowError(
      'Cannot start the server: configuration is invalid: rootKey: set rootKeyFile or rootKey, not both',
    );
    try {
      attempt();
    } catch (error) {
      expect(JSON.stringify(error) + String(error)).not.toContain('inline-key-text');
    }
  });
});
