import { describe, expect, test } from 'vitest';
import { loadServerConfig } from './config.ts';

describe('loadServerConfig()', () => {
  test('flags win over environment variables, which win over defaults', () => {
    const config = loadServerConfig({ port: '9000' }, { SLIPWAY_PORT: '8000', SLIPWAY_HOST: '127.0.0.2' });
    expect(config.port).toBe(9000);
    expect(config.host).toBe('127.0.0.2');
    expect(config.dataDir).toBe('.slipway');
    expect(config.sessionTtl).toBe('12h');
  });

  test('reports every invalid value at once, with its path', () => {
    expect(() =>
      loadServerConfig(
        {},
        { SLIPWAY_PORT: '70000', SLIPWAY_SESSION_TTL: 'forever', SLIPWAY_DATABASE_URL: 'mysql://x' },
      ),
    ).toThrowError(
      'Cannot start the server: configuration is invalid: port: Too big: expected number to be <=65535; databaseUrl: use a postgres:// or postgresql:// URL; sessionTtl: use a number and a unit, like "12h"',
    );
  });

  test('refuses half a TLS configuration', () => {
    expect(() => loadServerConfig({ tlsCert: '/x.pem' }, {})).toThrowError(
      'tlsKey: set both tlsCert and tlsKey, or neither',
    );
  });

  test('takes the number of builds run at once from SLIPWAY_BUILD_CONCURRENCY, and refuses a nonsense one', () => {
    expect(loadServerConfig({}, {}).buildConcurrency).toBe(2);
    expect(loadServerConfig({}, { SLIPWAY_BUILD_CONCURRENCY: '6' }).buildConcurrency).toBe(6);
    expect(() => loadServerConfig({}, { SLIPWAY_BUILD_CONCURRENCY: '0' })).toThrowError(
      'buildConcurrency: use at least 1',
    );
    expect(() => loadServerConfig({}, { SLIPWAY_BUILD_CONCURRENCY: 'many' })).toThrowError(
      /buildConcurrency/,
    );
  });
});
