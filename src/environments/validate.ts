/**
 * Validation of a whole infrastructure repository at once: the JSON the sandbox printed is parsed
 * with zod, then checked for what only a view of the whole environment can see (ports, references,
 * placement, secrets, file names). Every problem names the file, the property path, the value and
 * the fix; nothing is applied while any problem remains.
 */
import { z } from 'zod';
import { type DefinedEnvironment, type DefinitionProblem, EnvironmentModel } from './model.ts';

/** What the sandbox printed: one entry per environment file. */
export const SandboxOutput = z.object({
  files: z.array(
    z.object({
      file: z.string(),
      environments: z.array(z.unknown()),
      problems: z.array(
        z.object({ path: z.string(), value: z.unknown().optional(), message: z.string(), fix: z.string() }),
      ),
    }),
  ),
  skipped: z.array(z.string()).default([]),
});
export type SandboxOutput = z.infer<typeof SandboxOutput>;

/** A repository's environments and its problems. */
export interface RepositoryValidation {
  readonly environments: readonly DefinedEnvironment[];
  readonly problems: readonly DefinitionProblem[];
}

/** Variables Slipway sets itself; a definition may not set them. */
const RESERVED_VARIABLES = new Set([
  'PORT',
  'DATABASE_URL',
  'DB_CONNECTION',
  'DB_HOST',
  'DB_PORT',
  'DB_DATABASE',
  'DB_USERNAME',
  'DB_PASSWORD',
]);

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let current = root;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key as string];
  }
  return current;
}

function schemaProblems(file: string, raw: unknown, error: z.ZodError): DefinitionProblem[] {
  const environment =
    raw && typeof raw === 'object' && typeof (raw as { name?: unknown }).name === 'string'
      ? (raw as { name: string }).name
      : '(environment)';
  return error.issues.map((issue) => ({
    file,
    path: [environment, ...issue.path.map(String)].join('.'),
    value: valueAt(raw, issue.path),
    message: issue.message,
    fix: 'Build the definition with the DSL of this Slipway version (slipway/environments); this value is not what it produces',
  }));
}

/** Checks one parsed environment for what its parts cannot see alone. */
export function checkEnvironment(file: string, model: EnvironmentModel): DefinitionProblem[] {
  const problems: DefinitionProblem[] = [];
  const at = (path: string, value: unknown, message: string, fix: string) =>
    problems.push({ file, path: path ? `${model.name}.${path}` : model.name, value, message, fix });

  const expectedFile = new RegExp(`^environments/${model.name}\\.(ts|mts|js|mjs)$`);
  if (!expectedFile.test(file)) {
    at(
      '',
      model.name,
      `the environment "${model.name}" is defined in "${file}"`,
      `Move it to environments/${model.name}.ts: each file defines the environment it is named after`,
    );
  }
  for (const [key, value] of Object.entries(model.config)) {
    if (RESERVED_VARIABLES.has(key) || key.startsWith('SLIPWAY_')) {
      at(
        `config.${key}`,
        value,
        `"${key}" is set by Slipway`,
        `Remove "${key}"; Slipway sets PORT, DATABASE_URL and DB_* from the definition`,
      );
    }
  }

  const services = new Map(model.services.map((s) => [s.name, s]));
  const portOwners = new Map<number, string>();
  for (const service of model.services) {
    const path = `services.${service.name}`;
    if (service.port !== null) {
      const owner = portOwners.get(service.port);
      if (owner) {
        at(
          `${path}.port`,
          service.port,
          `the port ${service.port} is already used by the service "${owner}"`,
          `Give "${service.name}" another port, like ${service.port + 1}; each port names one service`,
        );
      } else {
        portOwners.set(service.port, service.name);
      }
    }
    if (service.scaling.mode === 'auto' && service.scaling.min > service.scaling.max) {
      at(
        `${path}.scaling.min`,
        service.scaling.min,
        `'min' (${service.scaling.min}) must not be greater than 'max' (${service.scaling.max})`,
        `Set max to ${service.scaling.min} or more, or min to ${service.scaling.max} or less`,
      );
    }
    if (service.healthCheck && service.healthCheck.timeoutMs > service.healthCheck.intervalMs) {
      at(
        `${path}.healthCheck.timeout`,
        `${service.healthCheck.timeoutMs}ms`,
        `'timeout' must not be longer than 'interval' (${service.healthCheck.intervalMs}ms)`,
        'Shorten the timeout or lengthen the interval',
      );
    }
    if (service.healthCheck && service.port === null) {
      at(
        `${path}.healthCheck`,
        service.healthCheck.path,
        `the service "${service.name}" has a health check but no port to check`,
        'Set port on the service, or remove the health check',
      );
    }
    if (service.placement.mode === 'with') {
      const target = services.get(service.placement.service);
      if (!target) {
        at(
          `${path}.placement`,
          service.placement.service,
          `Placement.with() names the service "${service.placement.service}", which this environment does not define`,
          `Use one of: ${[...services.keys()].filter((n) => n !== service.name).join(', ') || '(no other service)'}`,
        );
      } else if (target.name === service.name) {
        at(
          `${path}.placement`,
          service.name,
          `the service "${service.name}" is placed with itself`,
          'Use Placement.dedicated(), or name another service',
        );
      } else if (target.placement.mode !== 'dedicated') {
        at(
          `${path}.placement`,
          target.name,
          `the service "${target.name}" is itself placed with another service`,
          `Place "${service.name}" with a service on dedicated hosts`,
        );
      }
    }
    for (const [key, value] of Object.entries(service.env)) {
      if (RESERVED_VARIABLES.has(key) || key.startsWith('SLIPWAY_')) {
        at(`${path}.env.${key}`, value, `"${key}" is set by Slipway`, `Remove "${key}" from env`);
      }
    }
    for (const [variable, secret] of Object.entries(service.secrets)) {
      if (!model.secrets.includes(secret)) {
        at(
          `${path}.secrets.${variable}`,
          secret,
          `the secret "${secret}" is not declared by the environment "${model.name}"`,
          model.secrets.length > 0
            ? `Use one of the declared secrets (${model.secrets.join(', ')}), or add "${secret}" to the environment's secrets`
            : `Add secrets: ["${secret}"] to the environment "${model.name}"`,
        );
      }
      if (variable in service.env || variable in model.config) {
        at(
          `${path}.secrets.${variable}`,
          variable,
          `"${variable}" is set both as a secret and as a plain value`,
          'Keep one of the two',
        );
      }
    }
    if (service.database) {
      const db = model.database;
      if (!db) {
        at(
          `${path}.database`,
          service.database,
          `the service "${service.name}" connects to a database, but the environment has none`,
          'Add a Database to the environment, or set database: false',
        );
      } else {
        const role = db.roles.find((r) => r.name === service.database!.role);
        const database = db.databases.find((d) => d.name === service.database!.database);
        if (!database) {
          at(
            `${path}.database.database`,
            service.database.database,
            `the database "${service.database.database}" is not in the environment's database`,
            `Use one of: ${db.databases.map((d) => d.name).join(', ')}`,
          );
        }
        if (!role) {
          at(
            `${path}.database.role`,
            service.database.role,
            `the role "${service.database.role}" is not in the environment's database`,
            `Use one of: ${db.roles.map((r) => r.name).join(', ')}`,
          );
        } else if (database && database.owner !== role.name && !role.databases.includes(database.name)) {
          at(
            `${path}.database.role`,
            role.name,
            `the role "${role.name}" may not use the database "${database.name}"`,
            `Add "${database.name}" to the databases of the role "${role.name}"`,
          );
        }
      }
    }
  }

  const lb = model.loadBalancer;
  if (lb) {
    const target = services.get(lb.service);
    if (!target) {
      at(
        'loadBalancer.service',
        lb.service,
        `the load balancer sends traffic to "${lb.service}", which this environment does not define`,
        `Use one of: ${[...services.keys()].join(', ') || '(no service)'}`,
      );
    } else if (target.port === null) {
      at(
        'loadBalancer.service',
        lb.service,
        `the service "${lb.service}" has no port to send traffic to`,
        `Set port on the service "${lb.service}"`,
      );
    }
    const seen = new Set<number>();
    lb.ports.forEach((p, i) => {
      if (seen.has(p))
        at(`loadBalancer.ports.${i}`, p, `the port ${p} is listed twice`, `Remove the second ${p}`);
      seen.add(p);
    });
    if (lb.healthCheck.timeoutMs > lb.healthCheck.intervalMs) {
      at(
        'loadBalancer.healthCheck.timeout',
        `${lb.healthCheck.timeoutMs}ms`,
        `'timeout' must not be longer than 'interval' (${lb.healthCheck.intervalMs}ms)`,
        'Shorten the timeout or lengthen the interval',
      );
    }
  }

  const db = model.database;
  if (db) {
    if (db.version !== 15)
      at('database.version', db.version, `PostgreSQL ${db.version} is not supported`, 'Use version: 15');
    const roles = new Set(db.roles.map((r) => r.name));
    db.databases.forEach((d, i) => {
      if (!roles.has(d.owner))
        at(
          `database.databases.${i}.owner`,
          d.owner,
          `the owner "${d.owner}" is not one of the roles`,
          `Add the role "${d.owner}" or choose another owner`,
        );
    });
    const names = new Set(db.databases.map((d) => d.name));
    db.roles.forEach((r, i) => {
      r.databases.forEach((d, j) => {
        if (!names.has(d)) {
          at(
            `database.roles.${i}.databases.${j}`,
            d,
            `the role "${r.name}" names the database "${d}", which is not defined`,
            `Add "${d}" to databases`,
          );
        }
      });
    });
    if (db.replica && db.replica.provider.vendor === model.provider.vendor) {
      at(
        'database.replica.provider',
        db.replica.provider.vendor,
        `the replica must be on another vendor than the environment (${model.provider.vendor})`,
        'Place the replica with another Provider',
      );
    }
  }

  if (model.deploy.strategy === 'canary') {
    const steps = model.deploy.steps;
    if (steps.some((s, i) => i > 0 && s <= steps[i - 1]!) || steps[steps.length - 1] !== 100) {
      at('deploy.steps', steps, "canary 'steps' must rise and end at 100", 'Use steps such as [10, 50, 100]');
    }
  }
  if (
    model.deploy.strategy === 'rolling' &&
    model.deploy.maxSurge === 0 &&
    model.deploy.maxUnavailable === 0
  ) {
    at(
      'deploy.maxSurge',
      0,
      "'maxSurge' (0) and 'maxUnavailable' (0) leave no room to replace an instance",
      'Set maxSurge to 1',
    );
  }
  return problems;
}

/**
 * Validates what the sandbox printed for a whole repository: every environment of every file, and
 * every problem, each with its file.
 */
export function validateRepository(output: unknown): RepositoryValidation {
  const parsed = SandboxOutput.safeParse(output);
  if (!parsed.success) {
    return {
      environments: [],
      problems: [
        {
          file: '(repository)',
          path: '',
          message: 'the evaluation sandbox printed something that is not an evaluation result',
          fix: 'Check that environment files do not write to standard output',
        },
      ],
    };
  }
  const problems: DefinitionProblem[] = [];
  const environments: DefinedEnvironment[] = [];
  const definedIn = new Map<string, string>();
  for (const entry of parsed.data.files) {
    problems.push(...entry.problems.map((p) => ({ file: entry.file, ...p })));
    if (entry.problems.length > 0) {
      // The DSL's own messages say it better than a schema would; the whole-environment checks still
      // run, so one evaluation reports every problem, each path once.
      const reported = new Set(entry.problems.map((p) => p.path));
      for (const raw of entry.environments) {
        const result = EnvironmentModel.safeParse(raw);
        if (!result.success) continue;
        problems.push(...checkEnvironment(entry.file, result.data).filter((p) => !reported.has(p.path)));
      }
      continue;
    }
    if (entry.environments.length === 0) {
      problems.push({
        file: entry.file,
        path: '',
        message: 'the file defines no environment',
        fix: 'Create one with new Environment(new Infrastructure(), NAME, {...}), or move shared code out of environments/',
      });
    }
    for (const raw of entry.environments) {
      const result = EnvironmentModel.safeParse(raw);
      if (!result.success) {
        problems.push(...schemaProblems(entry.file, raw, result.error));
        continue;
      }
      const model = result.data;
      const earlier = definedIn.get(model.name);
      if (earlier) {
        problems.push({
          file: entry.file,
          path: model.name,
          value: model.name,
          message: `the environment "${model.name}" is also defined in "${earlier}"`,
          fix: 'Define each environment once',
        });
        continue;
      }
      definedIn.set(model.name, entry.file);
      const found = checkEnvironment(entry.file, model);
      problems.push(...found);
      if (found.length === 0) environments.push({ file: entry.file, model });
    }
  }
  // A promotion policy must name an environment the repository defines.
  for (const { file, model } of environments) {
    const requires = model.promotion.requires;
    if (requires !== null && (requires === model.name || !definedIn.has(requires))) {
      problems.push({
        file,
        path: `${model.name}.promotion`,
        value: requires,
        message:
          requires === model.name
            ? `the environment "${model.name}" cannot require versions to pass itself first`
            : `the environment "${requires}" that versions must pass first is not defined`,
        fix: `Name an environment of environments/, like Promotion.after('${[...definedIn.keys()].find((n) => n !== model.name) ?? 'staging'}')`,
      });
    }
  }
  for (const file of parsed.data.skipped) {
    problems.push({
      file,
      path: '',
      message: 'the file name is not an environment name',
      fix: 'Name environment files after their environment (a-z, 0-9, "-"), like environments/staging.ts',
    });
  }
  return { environments, problems };
}

/** One line per problem, for the CLI and error messages. */
export function formatProblems(problems: readonly DefinitionProblem[]): string {
  return problems
    .map((p) => {
      const value = p.value === undefined ? '' : ` = ${JSON.stringify(p.value)}`;
      return `${p.file}: ${p.path || '(file)'}${value}: ${p.message}\n    fix: ${p.fix}`;
    })
    .join('\n');
}
