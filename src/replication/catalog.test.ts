import { describe, expect, test } from 'vitest';
import { describeShapeChange, parentsFirst, type TableShape } from './catalog.ts';

const users: TableShape = {
  table: 'public.users',
  columns: [
    ['email', 'text', false],
    ['id', 'bigint', false],
  ],
  key: ['id'],
};

describe('describeShapeChange()', () => {
  test('is undefined for the same shape', () => {
    expect(describeShapeChange(users, { ...users })).toBeUndefined();
  });

  test('names added, dropped and retyped columns, key changes and renames', () => {
    expect(
      describeShapeChange(users, {
        table: 'public.people',
        columns: [
          ['id', 'integer', false],
          ['nickname', 'text', false],
        ],
        key: ['id', 'nickname'],
      }),
    ).toBe(
      'the table was renamed to "public.people"; column "id" changed type from bigint to integer; column "nickname" (text) was added; column "email" (text) was dropped; the key changed from (id) to (id, nickname)',
    );
    expect(describeShapeChange(users, undefined)).toBe('the table was dropped or renamed');
  });
});

describe('parentsFirst()', () => {
  test('puts referenced tables before the tables that reference them, keeping cycles in order', () => {
    const edges = [
      { child: 'events', parent: 'users' },
      { child: 'users', parent: 'organisations' },
      { child: 'a', parent: 'b' },
      { child: 'b', parent: 'a' },
    ];
    expect(parentsFirst(['events', 'users', 'organisations', 'a', 'b'], edges)).toStrictEqual([
      'organisations',
      'users',
      'events',
      'b',
      'a',
    ]);
  });
});
