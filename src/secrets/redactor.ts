import { Transform } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

/** Options for createRedactor. */
export interface RedactorOptions {
  /**
   * Values shorter than this are not redacted: replacing every "1" or "true" in a log would make it
   * unreadable and protect nothing. @default 4
   */
  readonly minLength?: number;
}

/** Replaces secret values in log text with `[redacted:NAME]`. */
export interface Redactor {
  /** The names whose values are redacted (sorted). */
  readonly names: readonly string[];
  /** Redacts one complete text. */
  redact(text: string): string;
  /**
   * A stream transform (bytes or strings in, UTF-8 bytes out) that redacts a log as it flows. It holds
   * back the last few characters of each chunk, so a value split across chunks is still caught, and
   * flushes them at the end.
   */
  createStream(): Transform;
}

interface Pattern {
  readonly text: string;
  readonly name: string;
}

interface Interval {
  start: number;
  end: number;
  readonly names: Set<string>;
}

/** The forms a value takes in logs: as is, escaped inside a JSON string, URL-encoded, line by line. */
function variants(value: string, minLength: number): string[] {
  const forms = new Set([value, JSON.stringify(value).slice(1, -1), encodeURIComponent(value)]);
  if (/[\r\n]/.test(value)) {
    for (const line of value.split(/\r?\n|\r/)) {
      const trimmed = line.trim();
      if (trimmed.length >= Math.max(minLength, 8)) forms.add(trimmed);
    }
  }
  return [...forms].filter((form) => form.length >= minLength);
}

/**
 * A redactor for the given name → value map (a resolved secret set, or any credentials). Each value
 * is also caught JSON-escaped (as structured logs write it), URL-encoded, and for multi-line values
 * line by line. Overlapping matches are merged into one `[redacted:A,B]`.
 */
export function createRedactor(
  values: Readonly<Record<string, string>>,
  options: RedactorOptions = {},
): Redactor {
  const minLength = Math.max(1, options.minLength ?? 4);
  const byText = new Map<string, string>();
  const names = new Set<string>();
  for (const name of Object.keys(values).sort()) {
    const value = values[name]!;
    const forms = variants(value, minLength);
    if (forms.length > 0) names.add(name);
    for (const form of forms) if (!byText.has(form)) byText.set(form, name);
  }
  const patterns: Pattern[] = [...byText].map(([text, name]) => ({ text, name }));
  const longest = patterns.reduce((max, p) => Math.max(max, p.text.length), 0);

  /** Redacts what can be decided in `text`; returns the output and how many characters it covers. */
  const process = (text: string, final: boolean): { output: string; consumed: number } => {
    if (patterns.length === 0) return { output: text, consumed: text.length };
    const found: Interval[] = [];
    for (const pattern of patterns) {
      for (let at = text.indexOf(pattern.text); at !== -1; at = text.indexOf(pattern.text, at + 1)) {
        found.push({ start: at, end: at + pattern.text.length, names: new Set([pattern.name]) });
      }
    }
    found.sort((a, b) => a.start - b.start || b.end - a.end);
    const merged: Interval[] = [];
    for (const interval of found) {
      const last = merged[merged.length - 1];
      if (last && interval.start < last.end) {
        last.end = Math.max(last.end, interval.end);
        for (const name of interval.names) last.names.add(name);
      } else merged.push(interval);
    }
    // A match starting before `boundary` is wholly inside `text`; later ones may continue in the next
    // chunk. Emit up to the boundary, or up to a merged match that reaches past it.
    let cut = text.length;
    if (!final) {
      const boundary = text.length - (longest - 1);
      if (boundary <= 0) return { output: '', consumed: 0 };
      cut = boundary;
      const crossing = merged.find((m) => m.start < boundary && m.end > boundary);
      if (crossing) cut = crossing.start;
      // Never emit half of a surrogate pair: it would turn into U+FFFD on the way out.
      else if (/[\uD800-\uDBFF]/.test(text[cut - 1] ?? '')) cut -= 1;
    }
    let output = '';
    let pos = 0;
    for (const interval of merged) {
      if (interval.start >= cut) break;
      output += `${text.slice(pos, interval.start)}[redacted:${[...interval.names].sort().join(',')}]`;
      pos = interval.end;
    }
    if (pos < cut) output += text.slice(pos, cut);
    return { output, consumed: Math.max(cut, pos) };
  };

  return {
    names: [...names],
    redact: (text) => process(text, true).output,
    createStream() {
      const decoder = new StringDecoder('utf8');
      let pending = '';
      return new Transform({
        transform(chunk: Buffer | string, _encoding, done) {
          pending += typeof chunk === 'string' ? chunk : decoder.write(chunk);
          const { output, consumed } = process(pending, false);
          pending = pending.slice(consumed);
          done(null, output.length > 0 ? Buffer.from(output, 'utf8') : undefined);
        },
        flush(done) {
          pending += decoder.end();
          const { output } = process(pending, true);
          pending = '';
          done(null, output.length > 0 ? Buffer.from(output, 'utf8') : undefined);
        },
      });
    },
  };
}
