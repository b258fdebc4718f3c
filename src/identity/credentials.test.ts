import { describe, expect, test } from 'vitest';
import { issueCredential, parseCredential, secretMatches, TOKEN_PREFIX } from './credentials.ts';

describe('credentials', () => {
  test('an issued token parses back to its id and its secret matches the stored hash', () => {
    const issued = issueCredential(TOKEN_PREFIX);
    const parsed = parseCredential(TOKEN_PREFIX, issued.value);
    expect(parsed?.id).toBe(issued.id);
    expect(secretMatches(parsed!.secret, issued.secretHash)).toBe(true);
  });

  test('a secret with one character changed does not match', () => {
    const issued = issueCredential(TOKEN_PREFIX);
    const parsed = parseCredential(TOKEN_PREFIX, issued.value)!;
    const last = parsed.secret.at(-1) === 'A' ? 'B' : 'A';
    expect(secretMatches(parsed.secret.slice(0, -1) + last, issued.secretHash)).toBe(false);
  });

  test('malformed values and other prefixes are rejected without a lookup', () => {
    expect(parseCredential(TOKEN_PREFIX, 'slw_nothex_abc')).toBeUndefined();
    expect(
      parseCredential(TOKEN_PREFIX, 'sws_0123456789abcdef0123456789abcdef_' + 'a'.repeat(43)),
    ).toBeUndefined();
    expect(parseCredential(TOKEN_PREFIX, '')).toBeUndefined();
  });

  test('the stored hash never contains the secret', () => {
    const issued = issueCredential(TOKEN_PREFIX);
    const secret = parseCredential(TOKEN_PREFIX, issued.value)!.secret;
    expect(issued.secretHash.toString('base64url')).not.toContain(secret);
  });
});
