/**
 * slipway.yaml: how an app is built, unit-tested, packaged, run, released, regression-tested and
 * health-checked. The format is documented in docs/slipway-yaml.md; the reference app's file
 * (examples/laravel-app/slipway.yaml) is its model.
 */
import { isMap, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { BASE_VERSION_PATTERN, PackageDefinition } from '../artifacts/index.ts';
import { InvalidInputError } from '../core/index.ts';

/** The file Slipway reads, at the app's path in the repository. */
export const SLIPWAY_FILE = 'slipway.yaml';

const Duration = z
  .string()
  .regex(/^[1-9]\d*(ms|s|m|h)$/, 'use a number and a unit, like "30s", "5m" or "1h"');

const EnvironmentName = z
  .string()
  .regex(
    /^[A-Za-z_][A-Za-z0-9_]*$/,
    'use a variable name: letters, digits and "_", not starting with a digit',
  );

/** A command Slipway runs in the build sandbox. */
const Command = z.strictObject({
  /** What the logs call it. */
  name: z.string().min(1).max(200).optional(),
  /** A shell command (`sh -c`), run in the app's directory of the workspace. */
  run: z.string().min(1, 'give the shell command to run'),
  /** @default '10m' */
  timeout: Duration.default('10m'),
  /** Extra variables for this command. */
  env: z.record(EnvironmentName, z.string()).default({}),
});

const Hook = z.strictObject({
  name: z.string().min(1).max(200).optional(),
  run: z.string().min(1, 'give the shell command to run'),
  /** @default '10m' */
  timeout: Duration.default('10m'),
  /** `one_host`: once per deployment (migrations); `every_host`: on each host. @default 'one_host' */
  run_on: z.enum(['one_host', 'every_host']).default('one_host'),
});

const ProcessName = z
  .string()
  .regex(/^[a-z][a-z0-9_-]*$/, 'use lowercase letters, digits, "-" and "_", starting with a letter');

const Process = z.strictObject({
  /** Run in the install directory. */
  command: z.string().min(1, 'give the command that starts the process'),
  /** It listens for HTTP on $PORT: put behind the load balancer and health-checked. @default false */
  http: z.boolean().default(false),
  /** @default 'TERM' */
  stop_signal: z.enum(['TERM', 'INT', 'QUIT', 'HUP', 'USR1', 'USR2']).default('TERM'),
  /** How long to wait after the stop signal before killing. @default '30s' */
  stop_timeout: Duration.default('30s'),
});

/** The whole file. */
export const SlipwayFile = z.strictObject({
  /** The app's name; must be the name it is registered under. */
  app: z.string().regex(/^[a-z][a-z0-9-]{1,62}$/, 'use the app\'s name: lowercase letters, digits and "-"'),
  /** Base version ("1.4.0"); each build becomes VERSION~bBUILD+gSHA. @default the latest vX.Y.Z tag, else 0.0.0 */
  version: z.string().regex(BASE_VERSION_PATTERN, 'use numbers separated by dots, like "1.4.0"').optional(),
  build: z
    .strictObject({
      steps: z.array(Command.extend({ name: z.string().min(1).max(200) })).default([]),
      /** Variables for every build and test command. */
      env: z.record(EnvironmentName, z.string()).default({}),
    })
    .default({ steps: [], env: {} }),
  /** The unit-test step; the run fails when it exits non-zero. */
  test: Command.optional(),
  package: PackageDefinition,
  processes: z.record(ProcessName, Process).default({}),
  hooks: z
    .strictObject({
      predeploy: z.array(Hook).default([]),
      postdeploy: z.array(Hook).default([]),
    })
    .default({ predeploy: [], postdeploy: [] }),
  regression: z
    .strictObject({
      run: z.string().min(1),
      timeout: Duration.default('10m'),
      /** Variables Slipway sets for it, such as APP_URL. */
      env: z.array(EnvironmentName).default([]),
    })
    .optional(),
  health_check: z
    .strictObject({
      path: z.string().regex(/^\//, 'use a path starting with "/", like "/up"'),
      expect_status: z.number().int().min(100).max(599).default(200),
      interval: Duration.default('10s'),
      timeout: Duration.default('5s'),
      healthy_after: z.number().int().min(1).max(100).default(2),
      unhealthy_after: z.number().int().min(1).max(100).default(3),
    })
    .optional(),
});
export type SlipwayFile = z.infer<typeof SlipwayFile>;

/** One problem in a slipway.yaml, located and with what to do. */
export interface SlipwayFileProblem {
  readonly file: string;
  /** The key path, like "package.files[0].to" ("" for the whole file). */
  readonly path: string;
  readonly line?: number;
  readonly column?: number;
  readonly message: string;
  readonly fix: string;
}

/** slipway.yaml cannot be used; `problems` lists every problem found. */
export class SlipwayFileError extends InvalidInputError {
  constructor(
    readonly file: string,
    readonly problems: readonly SlipwayFileProblem[],
  ) {
    const shown = problems
      .slice(0, 10)
      .map(
        (p) =>
          `${p.file}${p.line ? `:${p.line}:${p.column}` : ''}: ${p.path || '(file)'}: ${p.message}: ${p.fix}`,
      )
      .join('\n');
    super(
      `Cannot read ${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n${shown}${problems.length > 10 ? '\n…' : ''}`,
      {
        hint: `Fix ${file} as listed, commit and push again (docs/slipway-yaml.md describes every key)`,
        details: problems,
        retryable: false,
      },
    );
  }
}

function formatPath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const part of path) {
    text += typeof part === 'number' ? `[${part}]` : text === '' ? String(part) : `.${String(part)}`;
  }
  return text;
}

function keysOf(schema: z.ZodType): string[] {
  const shape = (schema as unknown as { shape?: Record<string, unknown> }).shape;
  return shape ? Object.keys(shape) : [];
}

/** The schema that applies at a key path, to name the keys a mapping accepts. */
function schemaAt(path: readonly PropertyKey[]): z.ZodType | undefined {
  let schema: z.ZodType = SlipwayFile;
  for (const part of path) {
    let inner: any = schema;
    while (inner?.def && ['default', 'optional', 'pipe', 'prefault'].includes(inner.def.type)) {
      inner = inner.def.innerType ?? inner.def.in;
    }
    if (inner?.def?.type === 'object') inner = inner.shape[part as string];
    else if (inner?.def?.type === 'array') inner = inner.def.element;
    else if (inner?.def?.type === 'record') inner = inner.def.valueType;
    else return undefined;
    schema = inner;
  }
  let inner: any = schema;
  while (inner?.def && ['default', 'optional', 'pipe', 'prefault'].includes(inner.def.type)) {
    inner = inner.def.innerType ?? inner.def.in;
  }
  return inner;
}

/** Turns a schema issue into what is wrong and what to do. */
function describe(
  issue: z.core.$ZodIssue,
  value: unknown,
  source?: string,
): { message: string; fix: string } {
  if (issue.code === 'unrecognized_keys') {
    const known = keysOf(schemaAt(issue.path) ?? z.object({}));
    return {
      message: `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`,
      fix: `remove ${issue.keys.length > 1 ? 'them' : 'it'} or fix the spelling${known.length ? ` (this section takes ${known.join(', ')})` : ''}`,
    };
  }
  if (issue.code === 'invalid_type' && value === undefined) {
    return {
      message: 'missing',
      fix: `add it (${issue.expected === 'object' ? 'a mapping' : `a ${issue.expected}`})`,
    };
  }
  if (issue.code === 'invalid_type' && issue.expected === 'string' && typeof value === 'number') {
    return { message: `${source ?? value} is a number`, fix: `quote it, like "${source ?? value}"` };
  }
  if (issue.code === 'invalid_type') {
    const got = Array.isArray(value) ? 'a list' : value === null ? 'empty' : `a ${typeof value}`;
    const want =
      issue.expected === 'object'
        ? 'a mapping'
        : issue.expected === 'array'
          ? 'a list'
          : `a ${issue.expected}`;
    return { message: `is ${got}`, fix: `make it ${want}` };
  }
  if (issue.code === 'invalid_value') {
    return {
      message: `${JSON.stringify(value)} is not allowed`,
      fix: `use one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`,
    };
  }
  // The schemas phrase their messages as what to do ("use …").
  return {
    message: value === undefined ? 'is not valid' : `${JSON.stringify(value)} is not valid`,
    fix: issue.message,
  };
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let current: any = data;
  for (const part of path) current = current?.[part as any];
  return current;
}

/**
 * Parses and validates a slipway.yaml.
 * @throws SlipwayFileError listing every problem with its file, key path, line and column, and a fix
 */
export function parseSlipwayFile(text: string, file = SLIPWAY_FILE): SlipwayFile {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new SlipwayFileError(
      file,
      document.errors.map((error) => {
        const position = lineCounter.linePos(error.pos[0]);
        return {
          file,
          path: '',
          line: position.line,
          column: position.col,
          message: `not valid YAML: ${error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
          fix: 'fix the YAML syntax (indentation with spaces, a space after each ":" and "-")',
        };
      }),
    );
  }
  const data = document.toJS();
  if (!data || typeof data !== 'object' || Array.isArray(data)) {
    throw new SlipwayFileError(file, [
      {
        file,
        path: '',
        message: 'is not a mapping of keys',
        fix: 'start from the example in docs/slipway-yaml.md',
      },
    ]);
  }
  const parsed = SlipwayFile.safeParse(data);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue): SlipwayFileProblem => {
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    // Point at the deepest node that exists: the key itself, or the mapping a missing key belongs in.
    let node: any;
    for (let depth = path.length; depth >= 0 && !node?.range; depth--) {
      node = depth === 0 ? document.contents : document.getIn(path.slice(0, depth), true);
    }
    if (issue.code === 'unrecognized_keys' && isMap(node)) {
      const item: any = node.items.find((entry: any) => entry.key?.value === issue.keys[0]);
      if (item?.key?.range) node = item.key;
    }
    const position = node?.range ? lineCounter.linePos(node.range[0]) : undefined;
    const { message, fix } = describe(
      issue,
      valueAt(data, path),
      typeof node?.source === 'string' ? node.source : undefined,
    );
    return {
      file,
      path: formatPath(path),
      ...(position ? { line: position.line, column: position.col } : {}),
      message,
      fix,
    };
  });
  throw new SlipwayFileError(file, problems);
}
