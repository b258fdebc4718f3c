import { describe, expect, test } from 'vitest';
import { DesiredStateError, parseDesiredState, processFingerprint } from './desired-state.ts';
import { desiredState, processSpec } from './testing.ts';

describe('parseDesiredState()', () => {
  test('accepts a document and fingerprints processes independently of key order', () => {
    const document = desiredState(3, [processSpec('web', ['node', 'server.js'])]);
    expect(parseDesiredState(JSON.parse(JSON.stringify(document)))).toStrictEqual(document);
    const spec = processSpec('web', ['node', 'server.js']);
    const reordered = Object.fromEntries(Object.entries(spec).reverse()) as typeof spec;
    expect(processFingerprint(reordered)).toBe(processFingerprint(spec));
    expect(processFingerprint({ ...spec, env: { ...spec.env, X: '1' } })).not.toBe(processFingerprint(spec));
  });

  test('names the first property that is wrong', () => {
    const document = desiredState(1, [processSpec('web', [])]);
    expect(() => parseDesiredState(document)).toThrow(
      new DesiredStateError('document.processes.0.command', 'expected a program'),
    );
    expect(() => parseDesiredState({ ...desiredState(1, []), schemaVersion: 2 })).toThrow(
      'Cannot use the desired state: document.schemaVersion: this agent understands schema version 1, not 2: upgrade the agent',
    );
    const twice = desiredState(1, [processSpec('web', ['a']), processSpec('web', ['b'])]);
    expect(() => parseDesiredState(twice)).toThrow('the process name "web" appears twice');
  });
});
