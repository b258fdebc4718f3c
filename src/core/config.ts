import type { z } from 'zod';
import { ConfigError } from './errors.ts';

/**
 * Merges configuration sources in Slipway's one order of precedence: command-line flags, then
 * environment variables, then a file, then the schema's defaults. Undefined values fall through.
 */
export function mergeSources(
  ...sources: readonly (Readonly<Record<string, unknown>> | undefined)[]
): Record<string, unknown> {
  const merged: Record<string, unknown> = {};
  for (const source of [...sources].reverse()) {
    for (const [key, value] of Object.entries(source ?? {})) {
      if (value !== undefined && value !== '') merged[key] = value;
    }
  }
  return merged;
}

/**
 * Parses merged configuration with a schema, reporting every problem at once with its path.
 * @throws ConfigError listing each problem
 */
export function parseConfig<S extends z.ZodType>(schema: S, raw: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => ({
    path: issue.path.join('.'),
    message: issue.message,
  }));
  throw new ConfigError(
    `Cannot start ${what}: configuration is invalid: ${problems.map((p) => `${p.path || '(root)'}: ${p.message}`).join('; ')}`,
    { hint: 'Fix the values listed, then start again', details: { problems } },
  );
}
