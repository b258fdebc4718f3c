import { describeValue, type HasValueProblems, VALUE_PROBLEMS, type ValueProblem } from './problems.ts';

function numberProblems(
  value: unknown,
  what: string,
  options: { integer?: boolean; min?: number; max?: number; example: string },
): ValueProblem[] {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    return [
      {
        value: describeValue(value),
        message: `${what} must be a finite number`,
        fix: `Use ${options.example}`,
      },
    ];
  }
  if (options.integer && !Number.isInteger(value)) {
    return [{ value, message: `${what} must be a whole number`, fix: `Use ${options.example}` }];
  }
  if (options.min !== undefined && value < options.min) {
    return [{ value, message: `${what} (${value}) is below ${options.min}`, fix: `Use ${options.example}` }];
  }
  if (options.max !== undefined && value > options.max) {
    return [{ value, message: `${what} (${value}) is above ${options.max}`, fix: `Use ${options.example}` }];
  }
  return [];
}

/** A length of time. Create one with `Duration.seconds(30)`; never a bare number. */
export class Duration implements HasValueProblems {
  readonly #milliseconds: number;
  readonly [VALUE_PROBLEMS]: readonly ValueProblem[];

  private constructor(milliseconds: number, problems: readonly ValueProblem[]) {
    this.#milliseconds = problems.length > 0 ? 0 : Math.round(milliseconds);
    this[VALUE_PROBLEMS] = problems;
  }

  static #of(amount: number, factor: number, unit: string): Duration {
    return new Duration(
      amount * factor,
      numberProblems(amount, `a duration in ${unit}`, { min: 0, example: `Duration.${unit}(30)` }),
    );
  }

  /** A duration of `amount` milliseconds. */
  static millis(amount: number): Duration {
    return Duration.#of(amount, 1, 'millis');
  }

  /** A duration of `amount` seconds. */
  static seconds(amount: number): Duration {
    return Duration.#of(amount, 1000, 'seconds');
  }

  /** A duration of `amount` minutes. */
  static minutes(amount: number): Duration {
    return Duration.#of(amount, 60_000, 'minutes');
  }

  /** A duration of `amount` hours. */
  static hours(amount: number): Duration {
    return Duration.#of(amount, 3_600_000, 'hours');
  }

  /** Whether `value` is a Duration (made by this copy of the DSL). */
  static isDuration(value: unknown): value is Duration {
    return value instanceof Duration;
  }

  /** The duration in whole milliseconds. */
  toMilliseconds(): number {
    return this.#milliseconds;
  }

  /** The duration as people write it: "1500ms", "30s", "5m", "2h". */
  toString(): string {
    const ms = this.#milliseconds;
    if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
    if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
    if (ms % 1000 === 0) return `${ms / 1000}s`;
    return `${ms}ms`;
  }
}

/** An amount of memory or storage. Create one with `Size.mebibytes(256)` or `Size.gibibytes(4)`. */
export class Size implements HasValueProblems {
  readonly #mebibytes: number;
  readonly [VALUE_PROBLEMS]: readonly ValueProblem[];

  private constructor(mebibytes: number, problems: readonly ValueProblem[]) {
    this.#mebibytes = problems.length > 0 ? 0 : Math.round(mebibytes);
    this[VALUE_PROBLEMS] = problems;
  }

  /** A size of `amount` MiB. */
  static mebibytes(amount: number): Size {
    return new Size(
      amount,
      numberProblems(amount, 'a size in MiB', { min: 1, example: 'Size.mebibytes(256)' }),
    );
  }

  /** A size of `amount` GiB. */
  static gibibytes(amount: number): Size {
    return new Size(
      amount * 1024,
      numberProblems(amount, 'a size in GiB', { min: 0.001, example: 'Size.gibibytes(4)' }),
    );
  }

  /** Whether `value` is a Size. */
  static isSize(value: unknown): value is Size {
    return value instanceof Size;
  }

  /** The size in whole MiB. */
  toMebibytes(): number {
    return this.#mebibytes;
  }

  /** The size in GiB (may be fractional). */
  toGibibytes(): number {
    return this.#mebibytes / 1024;
  }

  /** "512 MiB" or "4 GiB". */
  toString(): string {
    return this.#mebibytes % 1024 === 0 ? `${this.#mebibytes / 1024} GiB` : `${this.#mebibytes} MiB`;
  }
}

/** A percentage from 0 to 100. Create one with `Percent.of(70)`. */
export class Percent implements HasValueProblems {
  readonly #value: number;
  readonly [VALUE_PROBLEMS]: readonly ValueProblem[];

  private constructor(value: number, problems: readonly ValueProblem[]) {
    this.#value = problems.length > 0 ? 0 : value;
    this[VALUE_PROBLEMS] = problems;
  }

  /** `value` percent, from 0 to 100. */
  static of(value: number): Percent {
    return new Percent(
      value,
      numberProblems(value, 'a percentage', { min: 0, max: 100, example: 'Percent.of(70)' }),
    );
  }

  /** Whether `value` is a Percent. */
  static isPercent(value: unknown): value is Percent {
    return value instanceof Percent;
  }

  /** The percentage as a number from 0 to 100. */
  toNumber(): number {
    return this.#value;
  }

  /** "70%". */
  toString(): string {
    return `${this.#value}%`;
  }
}

/** Problems for a whole number outside a range, for plain numeric props such as counts. */
export function wholeNumberProblems(
  value: unknown,
  what: string,
  range: { min: number; max: number },
  example: string,
): ValueProblem[] {
  return numberProblems(value, what, { integer: true, min: range.min, max: range.max, example });
}
