import { describe, expect, test } from 'vitest';
import { canonicalJson, hashEntry } from './audit-log.ts';
import { GENESIS_HASH } from './migrations.ts';

describe('canonicalJson()', () => {
  test('sorts keys at every level so equal values serialise the same', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[1,{"y":2,"z":1}]},"b":1}',
    );
  });

  test('drops undefined fields like JSON does', () => {
    expect(canonicalJson({ a: undefined, b: 2 })).toBe('{"b":2}');
  });
});

describe('hashEntry()', () => {
  const entry = {
    id: 1,
    at: '2026-11-26T18:00:00.000Z',
    actor: 'admin',
    actorId: null,
    action: 'users.create',
    target: 'user:alice',
    outcome: 'success' as const,
    sourceIp: '127.0.0.1',
    requestId: 'r1',
    details: { role: 'viewer' },
  };

  test('is stable for the same entry and chain position', () => {
    expect(hashEntry(GENESIS_HASH, entry)).toBe(hashEntry(GENESIS_HASH, { ...entry }));
  });

  test('changes when any field, or the previous hash, changes', () => {
    const base = hashEntry(GENESIS_HASH, entry);
    expect(hashEntry(GENESIS_HASH, { ...entry, actor: 'mallory' })).not.toBe(base);
    expect(hashEntry(GENESIS_HASH, { ...entry, id: 2 })).not.toBe(base);
    expect(hashEntry(GENESIS_HASH, { ...entry, details: { role: 'admin' } })).not.toBe(base);
    expect(hashEntry('f'.repeat(64), entry)).not.toBe(base);
  });
});
