import { ConfigError } from './errors.ts';

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * Parses a duration such as "500ms", "30s", "12h" or "7d" into milliseconds.
 * @throws ConfigError when the text is not a number followed by a unit
 */
export function parseDuration(text: string, what = 'duration'): number {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) {
    throw new ConfigError(`Cannot read ${what} "${text}": expected a number and a unit`, {
      hint: 'Use a number and one of the units ms, s, m, h, d, like "30s" or "12h"',
    });
  }
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}
