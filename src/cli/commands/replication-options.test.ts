import { describe, expect, test } from 'vitest';
import { batchInterval } from './replication.ts';

describe('replication apply --batch-interval', () => {
  test('reads a duration', () => {
    expect(batchInterval('100ms')).toBe(100);
    expect(batchInterval('2s')).toBe(2000);
  });

  test('refuses what is not a duration, or out of range, saying what to use', () => {
    expect(() => batchInterval('fast')).toThrowError('Cannot read --batch-interval "fast"');
    expect(() => batchInterval('5ms')).toThrowError(
      'Cannot run the applier: --batch-interval 5ms is out of range',
    );
    expect(() => batchInterval('2m')).toThrowError(/out of range/);
    let caught: unknown;
    try {
      batchInterval('0ms');
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({ hint: expect.stringContaining('from 10ms to 60s') });
  });
});
