/**
 * The `.env` format: a parser for what people and Laravel write (vlucas/phpdotenv 5 semantics, with
 * `export` prefixes, comments, quoting and multi-line values) and a serializer whose output both this
 * parser and phpdotenv read back to the same values.
 *
 * Parse errors name the line and what is wrong, never the text: a broken line may be part of a key.
 */
import { InvalidInputError } from '../core/index.ts';
import { DotenvParseError } from './errors.ts';

/** One `NAME=value` of a parsed file. */
export interface DotenvEntry {
  readonly name: string;
  readonly value: string;
  /** The line the entry starts on, from 1. */
  readonly line: number;
}

/** A parsed file: its entries in file order (duplicates kept) and notes on what was read literally. */
export interface DotenvParseResult {
  readonly entries: readonly DotenvEntry[];
  /** Things the reader may not expect, such as `${VAR}` references that are kept as written. */
  readonly warnings: readonly string[];
}

/** Names the parser accepts (phpdotenv's rule, letters first). */
const NAME = /^[A-Za-z_][A-Za-z0-9_.]*$/;

const ESCAPES: Readonly<Record<string, string>> = {
  n: '\n',
  r: '\r',
  t: '\t',
  f: '\f',
  v: '\v',
  '"': '"',
  '\\': '\\',
  $: '$',
};

function isBlank(char: string | undefined): boolean {
  return char === ' ' || char === '\t' || char === '\v' || char === '\f';
}

/**
 * Parses `.env` text.
 * - `NAME=value`, `export NAME=value`, spaces around `=`; blank lines and `#` lines are skipped.
 * - Unquoted values end at `#` (a comment) or the end of the line, trimmed; `=` may appear in them.
 * - `'single'` quotes are literal; `"double"` quotes understand `\n \r \t \f \v \" \\ \$`; both may span
 *   lines. After the closing quote only spaces and a `# comment` may follow.
 * - `${VAR}` references are kept as written (Slipway stores values, it does not expand them).
 * @throws DotenvParseError naming the line and the problem (never the text)
 */
export function parseDotenv(text: string): DotenvParseResult {
  const source = text.replace(/\r\n?/g, '\n');
  const entries: DotenvEntry[] = [];
  const warnings: string[] = [];
  let pos = 0;
  let line = 1;
  const fail = (at: number, problem: string, hint?: string): never => {
    throw new DotenvParseError(at, problem, hint);
  };

  while (pos < source.length) {
    const lineStart = line;
    // Leading blanks, then a blank line or a comment line.
    while (isBlank(source[pos])) pos++;
    if (source[pos] === '\n') {
      pos++;
      line++;
      continue;
    }
    if (pos >= source.length) break;
    if (source[pos] === '#') {
      const end = source.indexOf('\n', pos);
      pos = end === -1 ? source.length : end + 1;
      line++;
      continue;
    }
    // The name, with an optional `export ` before it.
    if (source.startsWith('export', pos) && isBlank(source[pos + 6])) {
      pos += 6;
      while (isBlank(source[pos])) pos++;
    }
    let nameEnd = pos;
    while (nameEnd < source.length && /[A-Za-z0-9_.]/.test(source[nameEnd]!)) nameEnd++;
    const name = source.slice(pos, nameEnd);
    pos = nameEnd;
    while (isBlank(source[pos])) pos++;
    if (!name || source[pos] !== '=') {
      fail(
        lineStart,
        name ? 'expected "=" after the name' : 'expected NAME=VALUE',
        'Write each entry as NAME=VALUE; start comments with "#"',
      );
    }
    if (!NAME.test(name)) {
      fail(lineStart, 'the name must start with a letter or "_"', 'Use letters, digits, "_" and "."');
    }
    pos++; // '='
    while (isBlank(source[pos])) pos++;

    let value = '';
    const quote = source[pos];
    if (quote === "'" || quote === '"') {
      pos++;
      let closed = false;
      while (pos < source.length) {
        const char = source[pos]!;
        if (char === quote) {
          pos++;
          closed = true;
          break;
        }
        if (char === '\n') line++;
        if (quote === '"' && char === '\\') {
          const next = source[pos + 1];
          const escaped = next === undefined ? undefined : ESCAPES[next];
          if (escaped === undefined) {
            fail(
              line,
              'a double-quoted value has an unknown escape sequence',
              'Inside double quotes write \\\\ for a backslash; \\n \\r \\t \\f \\v \\" \\$ are understood',
            );
          }
          value += escaped;
          pos += 2;
          continue;
        }
        if (quote === '"' && char === '$' && source[pos + 1] === '{') {
          warnings.push(`line ${lineStart}: ${name} contains a \${…} reference; it is kept as written`);
        }
        value += char;
        pos++;
      }
      if (!closed) {
        fail(
          lineStart,
          `a ${quote === '"' ? 'double' : 'single'}-quoted value is not closed`,
          'Add the closing quote',
        );
      }
      while (isBlank(source[pos])) pos++;
      if (source[pos] === '#') {
        const end = source.indexOf('\n', pos);
        pos = end === -1 ? source.length : end;
      }
      if (pos < source.length && source[pos] !== '\n') {
        fail(
          line,
          'unexpected text after the closing quote',
          'Quote the whole value, or start a comment with "#"',
        );
      }
    } else {
      let end = pos;
      while (end < source.length && source[end] !== '\n' && source[end] !== '#') end++;
      value = source.slice(pos, end).replace(/[ \t\v\f]+$/, '');
      if (value.includes('${')) {
        warnings.push(`line ${lineStart}: ${name} contains a \${…} reference; it is kept as written`);
      }
      pos = end;
      if (source[pos] === '#') {
        const newline = source.indexOf('\n', pos);
        pos = newline === -1 ? source.length : newline;
      }
    }
    entries.push({ name, value, line: lineStart });
    if (source[pos] === '\n') {
      pos++;
      line++;
    }
  }
  return { entries, warnings };
}

/** Values that need no quotes in any reader. */
const PLAIN = /^[A-Za-z0-9_./:@%+,=-]+$/;

/**
 * Writes one value so that this parser and phpdotenv (Laravel) both read back exactly `value`: bare
 * when it is plain, in single quotes when that is literal and safe, otherwise in double quotes with
 * `\\ \" \$ \n \r` escaped (so a value never spans lines and never expands `${…}`).
 */
export function quoteDotenvValue(value: string): string {
  if (value === '') return '';
  if (PLAIN.test(value)) return value;
  if (!/['"\n\r]/.test(value)) return `'${value}'`;
  const escaped = value.replace(/[\\"$\n\r]/g, (char) =>
    char === '\n' ? '\\n' : char === '\r' ? '\\r' : `\\${char}`,
  );
  return `"${escaped}"`;
}

/** Options for serializeDotenv. */
export interface SerializeDotenvOptions {
  /** Comment lines written first (each gets a "# "). */
  readonly comment?: string;
}

/**
 * Writes entries as `.env` text, one `NAME=value` per line in the order given.
 * @throws InvalidInputError when a name is not a variable name
 */
export function serializeDotenv(
  entries: readonly { readonly name: string; readonly value: string }[],
  options: SerializeDotenvOptions = {},
): string {
  const lines: string[] = [];
  if (options.comment) {
    for (const text of options.comment.split('\n')) lines.push(text ? `# ${text}` : '#');
  }
  for (const { name, value } of entries) {
    if (!NAME.test(name)) {
      throw new InvalidInputError(`Cannot write "${name}" to a .env file: it is not a variable name`, {
        hint: 'Use letters, digits, "_" and ".", starting with a letter or "_"',
      });
    }
    lines.push(`${name}=${quoteDotenvValue(value)}`);
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

/** The entries as a name → value record; a later entry of the same name wins, as in every reader. */
export function dotenvRecord(entries: readonly DotenvEntry[]): Record<string, string> {
  const record: Record<string, string> = Object.create(null);
  for (const entry of entries) record[entry.name] = entry.value;
  return record;
}
