/**
 * Problems the DSL finds while an environment file runs. Constructs and value objects record them
 * instead of throwing, so one evaluation reports every problem of a repository at once.
 */

/** One problem in a definition: where, what value, what is wrong and how to fix it. */
export interface DefinitionProblem {
  /** The property path from the environment: "staging.services.web.scaling.min". */
  readonly path: string;
  /** The offending value, as JSON-safe data (undefined when the property is missing). */
  readonly value?: unknown;
  readonly message: string;
  readonly fix: string;
}

/** A problem a value object found in its own arguments; the construct using it adds the path. */
export interface ValueProblem {
  /** The argument's property, relative to the value object: "min". */
  readonly property?: string;
  readonly value?: unknown;
  readonly message: string;
  readonly fix: string;
}

/** Where value objects keep their problems (a symbol, so they stay out of the public API). */
export const VALUE_PROBLEMS: unique symbol = Symbol('slipway.valueProblems');

/** A value object that may carry problems found in its arguments. */
export interface HasValueProblems {
  readonly [VALUE_PROBLEMS]: readonly ValueProblem[];
}

/** The problems a value carries, if it is a value object. */
export function valueProblemsOf(value: unknown): readonly ValueProblem[] {
  if (value && typeof value === 'object' && VALUE_PROBLEMS in value) {
    return (value as HasValueProblems)[VALUE_PROBLEMS];
  }
  return [];
}

/** A JSON-safe rendering of a value for a problem report (functions and classes named, not dumped). */
export function describeValue(value: unknown): unknown {
  if (value === undefined || value === null) return value;
  if (typeof value === 'function') return `[function ${value.name || 'anonymous'}]`;
  if (typeof value === 'bigint' || typeof value === 'symbol') return String(value);
  if (typeof value !== 'object') return Number.isNaN(value) ? 'NaN' : value;
  if (typeof (value as { toString?: unknown }).toString === 'function' && !Array.isArray(value)) {
    const text = String(value);
    if (text !== '[object Object]') return text;
  }
  try {
    return JSON.parse(JSON.stringify(value));
  } catch {
    return '[unserialisable value]';
  }
}

/** The Levenshtein distance, for "did you mean" suggestions. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

/** The closest known name to `name`, when it is close enough to be a typo. */
export function closestName(name: string, known: readonly string[]): string | undefined {
  let best: { name: string; score: number } | undefined;
  for (const candidate of known) {
    const score = distance(name.toLowerCase(), candidate.toLowerCase());
    if (!best || score < best.score) best = { name: candidate, score };
  }
  return best && best.score <= Math.max(2, Math.floor(name.length / 3)) ? best.name : undefined;
}

/**
 * Problems for the properties of `props` that `known` does not list: each names the property, its
 * value and the property the author probably meant.
 */
export function unknownProperties(
  path: string,
  what: string,
  props: unknown,
  known: readonly string[],
): DefinitionProblem[] {
  if (props === undefined) return [];
  if (props === null || typeof props !== 'object' || Array.isArray(props)) {
    return [
      {
        path,
        value: describeValue(props),
        message: `the properties of ${what} must be an object`,
        fix: `Pass an object with the properties ${known.map((k) => `"${k}"`).join(', ')}`,
      },
    ];
  }
  return Object.keys(props)
    .filter((key) => !known.includes(key))
    .sort()
    .map((key) => {
      const guess = closestName(key, known);
      return {
        path: `${path}.${key}`,
        value: describeValue((props as Record<string, unknown>)[key]),
        message: `"${key}" is not a property of ${what}`,
        fix: guess
          ? `Did you mean "${guess}"? Rename "${key}" to "${guess}"`
          : `Remove "${key}"; ${what} takes ${known.map((k) => `"${k}"`).join(', ')}`,
      };
    });
}
