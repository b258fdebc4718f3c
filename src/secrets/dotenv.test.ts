import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { parseDotenv, quoteDotenvValue, serializeDotenv } from './dotenv.ts';
import { DotenvParseError } from './errors.ts';

/** `${` spelled so that neither a reader nor the linter takes it for a template placeholder. */
const REF = '$' + '{';

const pairs = (text: string) => parseDotenv(text).entries.map(({ name, value }) => [name, value]);

describe('parseDotenv()', () => {
  test('reads the forms Laravel projects write', () => {
    const text = [
      '# a comment',
      '',
      'APP_NAME=Slipway',
      'export DB_HOST=127.0.0.1',
      '  DB_PORT = 5432  ',
      'EMPTY=',
      'INLINE=value # trailing comment',
      "SINGLE='no $expansion \\n here'",
      'DOUBLE="line one\\nline two \\"quoted\\" \\$HOME \\\\"',
      'EQUALS=base64:abc==',
      'URL=postgres://u:p@h/db?sslmode=require',
      'MULTI="first',
      'second"',
      "MULTI_SINGLE='a",
      "b'",
      'SPACED=two words',
      'QUOTED_COMMENT="x" # note',
    ].join('\n');
    expect(pairs(text)).toStrictEqual([
      ['APP_NAME', 'Slipway'],
      ['DB_HOST', '127.0.0.1'],
      ['DB_PORT', '5432'],
      ['EMPTY', ''],
      ['INLINE', 'value'],
      ['SINGLE', 'no $expansion \\n here'],
      ['DOUBLE', 'line one\nline two "quoted" $HOME \\'],
      ['EQUALS', 'base64:abc=='],
      ['URL', 'postgres://u:p@h/db?sslmode=require'],
      ['MULTI', 'first\nsecond'],
      ['MULTI_SINGLE', 'a\nb'],
      ['SPACED', 'two words'],
      ['QUOTED_COMMENT', 'x'],
    ]);
  });

  test('keeps the line each entry starts on, across CRLF and multi-line values', () => {
    const { entries } = parseDotenv('A=1\r\nB="x\r\ny"\r\n\r\nC=3');
    expect(entries.map((e) => [e.name, e.value, e.line])).toStrictEqual([
      ['A', '1', 1],
      ['B', 'x\ny', 2],
      ['C', '3', 5],
    ]);
  });

  test('warns about variable references and keeps them as written', () => {
    const result = parseDotenv(`A=${REF}HOME}/x\nB="${REF}A}"\nC='${REF}A}'`);
    expect(pairs(`A=${REF}HOME}/x`)).toStrictEqual([['A', `${REF}HOME}/x`]]);
    expect(result.warnings).toStrictEqual([
      `line 1: A contains a ${REF}…} reference; it is kept as written`,
      `line 2: B contains a ${REF}…} reference; it is kept as written`,
    ]);
  });

  test.each([
    ['NAME', 'line 1: expected "=" after the name'],
    ['=value', 'line 1: expected NAME=VALUE'],
    ['1ABC=x', 'line 1: the name must start with a letter or "_"'],
    ['A=1\nB="open', 'line 2: a double-quoted value is not closed'],
    ["A='open", 'line 1: a single-quoted value is not closed'],
    ['A="x" y', 'line 1: unexpected text after the closing quote'],
    ['A="bad \\q escape"', 'line 1: a double-quoted value has an unknown escape sequence'],
  ])('refuses %j naming the line', (text, message) => {
    expect(() => parseDotenv(text)).toThrowError(`Cannot read the .env text: ${message}`);
  });
});

describe('quoteDotenvValue()', () => {
  test.each([
    ['', ''],
    ['plain-value_1.2', 'plain-value_1.2'],
    ['base64:abc==', 'base64:abc=='],
    ['has space', "'has space'"],
    ['dollar $HOME #hash', "'dollar $HOME #hash'"],
    ["it's", '"it\'s"'],
    ['say "hi"', '"say \\"hi\\""'],
    ['two\nlines', '"two\\nlines"'],
    [`back\\slash "and" ${REF}X}`, `"back\\\\slash \\"and\\" \\${REF}X}"`],
  ])('%j is written as %s', (value, written) => {
    expect(quoteDotenvValue(value)).toBe(written);
  });
});

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

// Names as Slipway stores them; values over every character class the formats care about.
const name = fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,15}$/);
const tricky = fc.constantFrom(
  'a',
  'Z',
  '0',
  '=',
  '#',
  ' ',
  '"',
  "'",
  '\\',
  '$',
  '{',
  '}',
  '\n',
  '\r',
  '\t',
  '\v',
  '\f',
  '\0',
  'é',
  '😀',
  'export ',
  `${REF}A}`,
  '\\n',
);
const value = fc.oneof(
  fc.string({ unit: tricky, maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }).filter((s) => !LONE_SURROGATE.test(s)),
);
const entries = fc.uniqueArray(fc.record({ name, value }), { selector: (e) => e.name, maxLength: 15 });

describe('serializeDotenv() and parseDotenv() (fast-check)', () => {
  test('any entries round-trip exactly', () => {
    fc.assert(
      fc.property(entries, (list) => {
        const text = serializeDotenv(list, { comment: 'generated\nby a test' });
        expect(pairs(text)).toStrictEqual(list.map((e) => [e.name, e.value]));
      }),
      { numRuns: 500 },
    );
  });

  test('any text either fails with a DotenvParseError or re-serializes to the same entries', () => {
    const piece = fc.constantFrom(
      'A',
      'B_1',
      '=',
      '#',
      ' ',
      '"',
      "'",
      '\\',
      '$',
      '\n',
      '\r\n',
      'export ',
      'x',
      '{',
      'n',
      '\t',
      '9',
    );
    fc.assert(
      fc.property(fc.string({ unit: piece, maxLength: 40 }), (text) => {
        let parsed: ReturnType<typeof parseDotenv>;
        try {
          parsed = parseDotenv(text);
        } catch (error) {
          expect(error).toBeInstanceOf(DotenvParseError);
          return;
        }
        const again = parseDotenv(serializeDotenv(parsed.entries));
        expect(again.entries.map((e) => [e.name, e.value])).toStrictEqual(
          parsed.entries.map((e) => [e.name, e.value]),
        );
      }),
      { numRuns: 2000 },
    );
  });

  test('errors never repeat the text they could not read (it may be part of a key)', () => {
    const marker = 'QZXSECRETMARKER';
    const piece = fc.constantFrom(
      'A',
      '=',
      '"',
      "'",
      '\\',
      '\n',
      ' ',
      '#',
      'q',
      marker,
      `${marker}=`,
      `"${marker}`,
    );
    fc.assert(
      fc.property(fc.string({ unit: piece, maxLength: 20 }), (text) => {
        try {
          parseDotenv(text);
        } catch (error) {
          const failure = error as DotenvParseError;
          expect(JSON.stringify([failure.message, failure.hint, failure.details])).not.toContain(marker);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
