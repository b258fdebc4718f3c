import { Readable } from 'node:stream';
import { text as readText } from 'node:stream/consumers';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { createRedactor } from './redactor.ts';

async function throughStream(
  redactor: ReturnType<typeof createRedactor>,
  chunks: readonly (Buffer | string)[],
) {
  return readText(Readable.from(chunks, { objectMode: false }).pipe(redactor.createStream()));
}

describe('createRedactor()', () => {
  test('replaces each value with its name, in the forms logs write it', () => {
    const redactor = createRedactor({
      DB_PASSWORD: 's3cr3t-pa55',
      MAIL_PASSWORD: 'with "quotes"\nand lines here',
      SHORT: '1',
    });
    expect(redactor.names).toStrictEqual(['DB_PASSWORD', 'MAIL_PASSWORD']);
    expect(redactor.redact('connecting with s3cr3t-pa55 to db')).toBe(
      'connecting with [redacted:DB_PASSWORD] to db',
    );
    const jsonLine = JSON.stringify({ msg: 'mail', password: 'with "quotes"\nand lines here' });
    expect(redactor.redact(jsonLine)).toBe('{"msg":"mail","password":"[redacted:MAIL_PASSWORD]"}');
    expect(redactor.redact('url?p=s3cr3t-pa55&x=1')).toBe('url?p=[redacted:DB_PASSWORD]&x=1');
    expect(redactor.redact('printed one line: and lines here')).toBe(
      'printed one line: [redacted:MAIL_PASSWORD]',
    );
    expect(redactor.redact('value 1 stays')).toBe('value 1 stays');
  });

  test('overlapping values are merged into one redaction naming both', () => {
    const redactor = createRedactor({ A: 'xabc1', B: 'abc1def' });
    expect(redactor.redact('--xabc1def--')).toBe('--[redacted:A,B]--');
    expect(redactor.redact('abc1def xabc1')).toBe('[redacted:B] [redacted:A]');
  });

  test('a stream catches a value split across chunks, and inside a multi-byte character', async () => {
    const redactor = createRedactor({ TOKEN: 'tøken-😀-value' });
    const bytes = Buffer.from('start tøken-😀-value end', 'utf8');
    const chunks = [bytes.subarray(0, 8), bytes.subarray(8, 15), bytes.subarray(15, 16), bytes.subarray(16)];
    expect(await throughStream(redactor, chunks)).toBe('start [redacted:TOKEN] end');
  });

  test('with no values a stream passes text through unchanged', async () => {
    expect(await throughStream(createRedactor({}), ['a', 'b'])).toBe('ab');
  });

  test('streamed output equals whole-text redaction and holds no value (fast-check)', async () => {
    const secret = fc.string({
      unit: fc.constantFrom('a', 'b', 'c', 'é', '😀', '"', '\n'),
      minLength: 4,
      maxLength: 12,
    });
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(secret, { minLength: 1, maxLength: 4 }),
        fc.array(
          fc.oneof(fc.nat(3), fc.string({ unit: fc.constantFrom('a', 'b', 'x', ' ', '😀'), maxLength: 6 })),
          {
            maxLength: 12,
          },
        ),
        fc.array(fc.nat(), { maxLength: 8 }),
        async (secrets, pieces, cuts) => {
          const values = Object.fromEntries(secrets.map((s, i) => [`S${i}`, s]));
          const text = pieces
            .map((p) => (typeof p === 'number' ? (secrets[p % secrets.length] ?? '') : p))
            .join('');
          const redactor = createRedactor(values);
          const whole = redactor.redact(text);
          for (const s of secrets) expect(whole).not.toContain(s);
          const bytes = Buffer.from(text, 'utf8');
          const points = [...new Set(cuts.map((c) => (bytes.length ? c % bytes.length : 0)))].sort(
            (a, b) => a - b,
          );
          const chunks: Buffer[] = [];
          let from = 0;
          for (const point of points) {
            chunks.push(bytes.subarray(from, point));
            from = point;
          }
          chunks.push(bytes.subarray(from));
          expect(
            await throughStream(
              redactor,
              chunks.filter((c) => c.length > 0),
            ),
          ).toBe(whole);
        },
      ),
      { numRuns: 400 },
    );
  });
});
