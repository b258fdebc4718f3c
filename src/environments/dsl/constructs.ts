/**
 * The constructs of an environment definition: Infrastructure (the root of a file), Environment,
 * Service, LoadBalancer and Database. Each takes `(scope, id, props)`, checks its props and records
 * every problem with its property path; `synthesizeEnvironments()` returns the JSON and the problems.
 */
import {
  Approval,
  DeployStrategy,
  InstanceSize,
  Placement,
  Promotion,
  Provider,
  Scaling,
  SecretRef,
} from './choices.ts';
import type {
  DatabaseJson,
  EnvironmentJson,
  HealthCheckJson,
  LoadBalancerJson,
  ServiceJson,
} from './model-json.ts';
import {
  type DefinitionProblem,
  describeValue,
  unknownProperties,
  VALUE_PROBLEMS,
  valueProblemsOf,
} from './problems.ts';
import { Duration, Size, wholeNumberProblems } from './units.ts';

const NAME = /^[a-z][a-z0-9-]{0,30}$/;
const VARIABLE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SUBJECT = /^(user|group):[a-z][a-z0-9._-]{1,62}$/;
const SQL_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

const ROOTS: Infrastructure[] = [];

/** The root of the environments one file defines. */
export class Infrastructure {
  readonly environments: Environment[] = [];
  readonly #problems: DefinitionProblem[] = [];

  constructor() {
    ROOTS.push(this);
  }

  /** Records a problem found outside any one environment. */
  addProblem(problem: DefinitionProblem): void {
    this.#problems.push(problem);
  }

  /** Problems recorded on this root and its environments. */
  get problems(): readonly DefinitionProblem[] {
    return [...this.#problems, ...this.environments.flatMap((e) => e.problems)];
  }

  /** The JSON of this root's environments and every problem found in them. */
  synthesize(): SynthesisResult {
    const environments = this.environments.map((e) => e.toJson());
    return { environments, problems: dedupe(this.problems) };
  }
}

/** What every construct shares: its id, its path from the environment and its problem list. */
abstract class ConstructBase {
  constructor(
    readonly id: string,
    readonly path: string,
  ) {}

  abstract readonly environment: Environment;

  /** Records a problem at `property` (relative to this construct). */
  protected problem(property: string, value: unknown, message: string, fix: string): void {
    this.environment.addProblem({
      path: property ? `${this.path}.${property}` : this.path,
      value: describeValue(value),
      message,
      fix,
    });
  }

  /** Records the problems a value object found in its own arguments. */
  protected valueProblems(property: string, value: unknown): void {
    for (const p of valueProblemsOf(value)) {
      this.environment.addProblem({
        path: [this.path, property, p.property].filter(Boolean).join('.'),
        value: p.value,
        message: p.message,
        fix: p.fix,
      });
    }
  }

  /** Checks that `value` is an instance made by `factory`, and records its own problems. */
  // biome-ignore lint/complexity/noBannedTypes: any class with a private constructor, for instanceof
  protected expectChoice(property: string, value: unknown, type: Function, example: string): boolean {
    if (!(value instanceof type)) {
      this.problem(property, value, `'${property}' must be made with ${type.name}`, `Use ${example}`);
      return false;
    }
    this.valueProblems(property, value);
    return true;
  }

  protected checkName(kind: string, id: unknown): void {
    if (typeof id !== 'string' || !NAME.test(id)) {
      this.problem(
        '',
        id,
        `the ${kind} id must start with a letter and use only a-z, 0-9 and "-" (up to 31 characters)`,
        `Use an id such as "web"`,
      );
    }
  }

  protected checkVariables(property: string, values: unknown, what: string): Record<string, string> {
    if (values === undefined) return {};
    if (values === null || typeof values !== 'object' || Array.isArray(values)) {
      this.problem(property, values, `'${property}' must map names to ${what}`, `Use { NAME: value }`);
      return {};
    }
    const result: Record<string, string> = {};
    for (const [name, value] of Object.entries(values)) {
      if (!VARIABLE.test(name)) {
        this.problem(
          `${property}.${name}`,
          name,
          `"${name}" is not a valid environment variable name`,
          'Use letters, digits and "_", not starting with a digit, like "APP_ENV"',
        );
      }
      if (typeof value !== 'string') {
        this.problem(
          `${property}.${name}`,
          value,
          `the value of "${name}" must be a string`,
          `Write it as a string: "${String(value)}"`,
        );
      } else {
        result[name] = value;
      }
    }
    return result;
  }
}

/** Options of an HTTP health check. */
export interface HealthCheckProps {
  /** The path to GET; any 2xx or 3xx answer is healthy. @default '/healthz' */
  readonly path?: string;
  /** Time between two checks. @default Duration.seconds(2) */
  readonly interval?: Duration;
  /** How long one check may take. @default Duration.seconds(1) */
  readonly timeout?: Duration;
  /** Passing checks in a row before an instance counts as healthy. @default 2 */
  readonly rise?: number;
  /** Failing checks in a row before an instance counts as unhealthy. @default 3 */
  readonly fall?: number;
}

const HEALTH_CHECK_KEYS = ['path', 'interval', 'timeout', 'rise', 'fall'];

function healthCheckJson(
  construct: {
    problemAt(property: string, value: unknown, message: string, fix: string): void;
    valueAt(property: string, value: unknown): void;
  },
  property: string,
  props: HealthCheckProps,
  base: HealthCheckJson,
): HealthCheckJson {
  const path = props.path ?? base.path;
  if (typeof path !== 'string' || !/^\/[^\s]*$/.test(path)) {
    construct.problemAt(
      `${property}.path`,
      path,
      '\'path\' must start with "/" and contain no spaces',
      'Use a path such as "/healthz"',
    );
  }
  const duration = (key: 'interval' | 'timeout', fallback: number): number => {
    const value = props[key];
    if (value === undefined) return fallback;
    if (!Duration.isDuration(value)) {
      construct.problemAt(
        `${property}.${key}`,
        value,
        `'${key}' must be a Duration`,
        `Use Duration.seconds(${fallback / 1000})`,
      );
      return fallback;
    }
    construct.valueAt(`${property}.${key}`, value);
    return value.toMilliseconds();
  };
  const intervalMs = duration('interval', base.intervalMs);
  const timeoutMs = duration('timeout', base.timeoutMs);
  if (intervalMs < 100) {
    construct.problemAt(
      `${property}.interval`,
      `${intervalMs}ms`,
      "'interval' must be at least 100ms",
      'Use Duration.seconds(1) or more',
    );
  }
  if (timeoutMs < 10 || timeoutMs > intervalMs) {
    construct.problemAt(
      `${property}.timeout`,
      `${timeoutMs}ms`,
      `'timeout' (${timeoutMs}ms) must be at least 10ms and at most 'interval' (${intervalMs}ms)`,
      `Set timeout to ${Math.max(10, Math.floor(intervalMs / 2))}ms or raise interval`,
    );
  }
  const count = (key: 'rise' | 'fall', fallback: number): number => {
    const value = props[key] ?? fallback;
    for (const p of wholeNumberProblems(value, `'${key}'`, { min: 1, max: 10 }, `${key}: ${fallback}`)) {
      construct.problemAt(`${property}.${key}`, p.value, p.message, p.fix);
    }
    return Number(value);
  };
  return {
    path: String(path),
    intervalMs,
    timeoutMs,
    rise: count('rise', base.rise),
    fall: count('fall', base.fall),
  };
}

const DEFAULT_HEALTH_CHECK: HealthCheckJson = {
  path: '/healthz',
  intervalMs: 2000,
  timeoutMs: 1000,
  rise: 2,
  fall: 3,
};

/** Options of an Environment. */
export interface EnvironmentProps {
  /** Where the environment runs: `Provider.local()`, `Provider.aws({ region })`, `Provider.gcp({ region })`. */
  readonly provider: Provider;
  /**
   * How generously services are sized by default: 'minimal' (one small instance per service) or
   * 'standard' (two medium instances). @default 'minimal' for "integration", 'standard' otherwise
   */
  readonly tier?: 'minimal' | 'standard';
  /**
   * Whether a merge to the infrastructure repository applies on its own or waits for an
   * administrator. @default Approval.automatic() for "integration", Approval.byAdmin() otherwise
   */
  readonly approval?: Approval;
  /** Plain configuration every service gets as environment variables. @default {} */
  readonly config?: Readonly<Record<string, string>>;
  /** Names of the secrets this environment's services may reference with `SecretRef.named()`. @default [] */
  readonly secrets?: readonly string[];
  /** Users and groups that administer the environment ("user:alice", "group:ops"). @default [] */
  readonly admins?: readonly string[];
  /** Users and groups that may deploy to it. @default [] */
  readonly deployers?: readonly string[];
  /** How releases roll out unless a deploy says otherwise. @default DeployStrategy.rolling() */
  readonly deploy?: DeployStrategy;
  /** Which versions it takes: `Promotion.after('staging')` for production. @default Promotion.any() */
  readonly promotion?: Promotion;
}

const ENVIRONMENT_KEYS = [
  'provider',
  'tier',
  'approval',
  'config',
  'secrets',
  'admins',
  'deployers',
  'deploy',
  'promotion',
];

/** One environment (integration, staging, production, …): what runs there and who runs it. */
export class Environment extends ConstructBase {
  readonly environment: Environment = this;
  readonly infrastructure: Infrastructure;
  readonly services: Service[] = [];
  loadBalancer: LoadBalancer | undefined;
  database: Database | undefined;
  readonly #problems: DefinitionProblem[] = [];
  readonly #props: EnvironmentProps;

  constructor(scope: Infrastructure, id: string, props: EnvironmentProps) {
    super(id, String(id));
    this.infrastructure = scope;
    this.#props = props ?? ({} as EnvironmentProps);
    if (!(scope instanceof Infrastructure)) {
      throw new TypeError(
        `Environment "${id}" must be created in an Infrastructure: new Environment(new Infrastructure(), "${id}", {...})`,
      );
    }
    if (scope.environments.some((e) => e.id === id)) {
      this.problem('', id, `the environment "${id}" is defined twice`, 'Give each environment its own id');
    }
    scope.environments.push(this);
    this.checkName('environment', id);
    for (const p of unknownProperties(this.path, 'Environment', props, ENVIRONMENT_KEYS)) this.addProblem(p);
    if (this.#props.provider === undefined) {
      this.problem('provider', undefined, "'provider' is required", 'Add provider: Provider.local()');
    } else {
      this.expectChoice('provider', this.#props.provider, Provider, 'Provider.local()');
    }
    if (this.#props.tier !== undefined && !['minimal', 'standard'].includes(this.#props.tier)) {
      this.problem(
        'tier',
        this.#props.tier,
        '\'tier\' must be "minimal" or "standard"',
        'Use tier: "minimal"',
      );
    }
    if (this.#props.approval !== undefined)
      this.expectChoice('approval', this.#props.approval, Approval, 'Approval.byAdmin()');
    if (this.#props.deploy !== undefined)
      this.expectChoice('deploy', this.#props.deploy, DeployStrategy, 'DeployStrategy.rolling()');
    if (this.#props.promotion !== undefined)
      this.expectChoice('promotion', this.#props.promotion, Promotion, "Promotion.after('staging')");
    for (const key of ['admins', 'deployers'] as const) {
      const list = this.#props[key];
      if (list === undefined) continue;
      if (!Array.isArray(list)) {
        this.problem(
          key,
          list,
          `'${key}' must be a list of subjects`,
          `Use ${key}: ["user:alice", "group:ops"]`,
        );
        continue;
      }
      list.forEach((subject, i) => {
        if (typeof subject !== 'string' || !SUBJECT.test(subject)) {
          this.problem(
            `${key}.${i}`,
            subject,
            `"${String(subject)}" is not a subject`,
            'Write "user:NAME" or "group:NAME"',
          );
        }
      });
    }
    const secrets = this.#props.secrets;
    if (secrets !== undefined && (!Array.isArray(secrets) || secrets.some((s) => typeof s !== 'string'))) {
      this.problem(
        'secrets',
        secrets,
        "'secrets' must be a list of secret names",
        'Use secrets: ["DB_PASSWORD"]',
      );
    }
    this.checkVariables('config', this.#props.config, 'string values');
  }

  /** Records a problem in this environment. */
  addProblem(problem: DefinitionProblem): void {
    this.#problems.push(problem);
  }

  /** Problems found so far. */
  get problems(): readonly DefinitionProblem[] {
    return this.#problems;
  }

  /** The vendor of the environment's provider, once it is set. */
  get providerVendor(): string | undefined {
    return this.#props.provider instanceof Provider ? this.#props.provider.vendor : undefined;
  }

  /** The tier in effect (props, or the default for the environment's name). */
  get tier(): 'minimal' | 'standard' {
    return this.#props.tier ?? (this.id === 'integration' ? 'minimal' : 'standard');
  }

  /** The environment as provider-neutral JSON. */
  toJson(): EnvironmentJson {
    const props = this.#props;
    const provider = props.provider instanceof Provider ? props.provider.json : Provider.local().json;
    const approval =
      props.approval instanceof Approval
        ? props.approval.json
        : this.id === 'integration'
          ? 'automatic'
          : 'admin';
    return {
      schemaVersion: 1,
      name: this.id,
      provider,
      tier: this.tier,
      approval,
      config: sortedRecord(this.checkVariablesQuiet(props.config)),
      secrets: Array.isArray(props.secrets) ? [...new Set(props.secrets.map(String))].sort() : [],
      access: {
        admins: Array.isArray(props.admins) ? [...new Set(props.admins.map(String))].sort() : [],
        deployers: Array.isArray(props.deployers) ? [...new Set(props.deployers.map(String))].sort() : [],
      },
      deploy: (props.deploy instanceof DeployStrategy ? props.deploy : DeployStrategy.rolling()).json,
      promotion: (props.promotion instanceof Promotion ? props.promotion : Promotion.any()).json,
      services: [...this.services].sort((a, b) => a.id.localeCompare(b.id)).map((s) => s.toJson()),
      loadBalancer: this.loadBalancer?.toJson() ?? null,
      database: this.database?.toJson() ?? null,
    };
  }

  private checkVariablesQuiet(values: unknown): Record<string, string> {
    if (!values || typeof values !== 'object') return {};
    return Object.fromEntries(Object.entries(values).filter(([, v]) => typeof v === 'string')) as Record<
      string,
      string
    >;
  }
}

function sortedRecord(record: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Options of a Service. */
export interface ServiceProps {
  /** The app whose release provides the process; undefined for a service that only runs `command`. */
  readonly app?: string;
  /** Which process type of the app's Procfile/slipway.yaml runs here. @default the service's id */
  readonly processType?: string;
  /**
   * The command to run until a release of `app` is deployed (or always, without `app`), as
   * [program, ...arguments]; it gets PORT and the environment's configuration. @default none
   */
  readonly command?: readonly string[];
  /** The port the process listens on (PORT); unique in the environment. @default none (no listener) */
  readonly port?: number;
  /** How big each instance is. @default InstanceSize.small() in a minimal tier, InstanceSize.medium() otherwise */
  readonly size?: InstanceSize;
  /** How many instances. @default Scaling.fixed(1) in a minimal tier, Scaling.fixed(2) otherwise */
  readonly scaling?: Scaling;
  /** Where instances run. @default Placement.dedicated() */
  readonly placement?: Placement;
  /** The HTTP check the agent runs on each instance. @default none */
  readonly healthCheck?: HealthCheckProps;
  /** Variables of this service only, on top of the environment's config. @default {} */
  readonly env?: Readonly<Record<string, string>>;
  /** Variables read from the environment's secrets. @default {} */
  readonly secrets?: Readonly<Record<string, SecretRef>>;
  /**
   * Which database and role the service's DB_* variables and DATABASE_URL connect with, or false for
   * none. @default the environment database's first database and its owner
   */
  readonly database?: { readonly database: string; readonly role: string } | false;
  /** How long the process may take to stop after SIGTERM before it is killed. @default Duration.seconds(30) */
  readonly stopTimeout?: Duration;
}

const SERVICE_KEYS = [
  'app',
  'processType',
  'command',
  'port',
  'size',
  'scaling',
  'placement',
  'healthCheck',
  'env',
  'secrets',
  'database',
  'stopTimeout',
];

/** A set of identical instances running one process type (web, worker, scheduler). */
export class Service extends ConstructBase {
  readonly environment: Environment;
  readonly #props: ServiceProps;
  readonly #secrets = new Map<string, SecretRef>();

  constructor(scope: Environment, id: string, props: ServiceProps = {}) {
    super(id, `${scope?.path}.services.${id}`);
    if (!(scope instanceof Environment)) {
      throw new TypeError(
        `Service "${id}" must be created in an Environment: new Service(environment, "${id}", {...})`,
      );
    }
    this.environment = scope;
    this.#props = props ?? {};
    if (scope.services.some((s) => s.id === id)) {
      this.problem(
        '',
        id,
        `the service "${id}" is defined twice in "${scope.id}"`,
        'Give each service its own id',
      );
    }
    scope.services.push(this);
    this.checkName('service', id);
    for (const p of unknownProperties(this.path, 'Service', props, SERVICE_KEYS)) scope.addProblem(p);
    const p = this.#props;
    if (p.app !== undefined && (typeof p.app !== 'string' || !NAME.test(p.app))) {
      this.problem(
        'app',
        p.app,
        "'app' must be an app name",
        'Use the name the app was registered with, like "laravel-app"',
      );
    }
    if (
      p.processType !== undefined &&
      (typeof p.processType !== 'string' || !/^[a-z][a-z0-9_-]{0,30}$/.test(p.processType))
    ) {
      this.problem(
        'processType',
        p.processType,
        "'processType' must be a process type name",
        'Use a name from the Procfile, like "web"',
      );
    }
    if (
      p.command !== undefined &&
      (!Array.isArray(p.command) || p.command.length === 0 || p.command.some((c) => typeof c !== 'string'))
    ) {
      this.problem(
        'command',
        p.command,
        "'command' must be a non-empty list of strings",
        'Use command: ["node", "server.js"]',
      );
    }
    if (p.port !== undefined) {
      for (const v of wholeNumberProblems(p.port, "'port'", { min: 1, max: 65_535 }, 'port: 8080')) {
        this.problem('port', v.value, v.message, v.fix);
      }
    }
    if (p.size !== undefined) this.expectChoice('size', p.size, InstanceSize, 'InstanceSize.small()');
    if (p.scaling !== undefined)
      this.expectChoice(
        'scaling',
        p.scaling,
        Scaling,
        'Scaling.fixed(2) or Scaling.auto({ min: 2, max: 10 })',
      );
    if (p.placement !== undefined)
      this.expectChoice('placement', p.placement, Placement, 'Placement.dedicated()');
    if (p.healthCheck !== undefined) {
      for (const problem of unknownProperties(
        `${this.path}.healthCheck`,
        'a health check',
        p.healthCheck,
        HEALTH_CHECK_KEYS,
      )) {
        scope.addProblem(problem);
      }
    }
    if (p.stopTimeout !== undefined)
      this.expectChoice('stopTimeout', p.stopTimeout, Duration, 'Duration.seconds(30)');
    this.checkVariables('env', p.env, 'string values');
    if (p.secrets !== undefined) {
      if (!p.secrets || typeof p.secrets !== 'object') {
        this.problem(
          'secrets',
          p.secrets,
          "'secrets' must map variable names to SecretRef.named(...)",
          'Use secrets: { DB_PASSWORD: SecretRef.named("DB_PASSWORD") }',
        );
      } else {
        for (const [variable, ref] of Object.entries(p.secrets)) {
          // biome-ignore lint/correctness/useHookAtTopLevel: a DSL method (STYLE.md §6), not a React hook
          this.useSecret(variable, ref);
        }
      }
    }
    if (p.database !== undefined && p.database !== false) {
      const d = p.database as { database?: unknown; role?: unknown };
      for (const problem of unknownProperties(`${this.path}.database`, 'a database connection', d, [
        'database',
        'role',
      ])) {
        scope.addProblem(problem);
      }
      if (typeof d?.database !== 'string' || typeof d?.role !== 'string') {
        this.problem(
          'database',
          d,
          "'database' must name a database and a role",
          'Use database: { database: "app", role: "app" }',
        );
      }
    }
  }

  /** Reads the environment variable `variable` from the secret `ref`. */
  useSecret(variable: string, ref: SecretRef): this {
    if (!VARIABLE.test(String(variable))) {
      this.problem(
        `secrets.${variable}`,
        variable,
        `"${variable}" is not a valid environment variable name`,
        'Use a name like "DB_PASSWORD"',
      );
    }
    if (!SecretRef.isSecretRef(ref)) {
      this.problem(
        `secrets.${variable}`,
        ref,
        `the secret of "${variable}" must be a SecretRef`,
        `Use SecretRef.named("${String(ref)}")`,
      );
      return this;
    }
    this.valueProblems(`secrets.${variable}`, ref);
    this.#secrets.set(String(variable), ref);
    return this;
  }

  /** The port, when the service listens on one. */
  get port(): number | undefined {
    return this.#props.port;
  }

  /** The health check in effect, when there is one. */
  healthCheckJson(): HealthCheckJson | null {
    if (!this.#props.healthCheck) return null;
    return healthCheckJson(this.#reporter(), 'healthCheck', this.#props.healthCheck, DEFAULT_HEALTH_CHECK);
  }

  #reporter() {
    return {
      problemAt: (property: string, value: unknown, message: string, fix: string) =>
        this.problem(property, value, message, fix),
      valueAt: (property: string, value: unknown) => this.valueProblems(property, value),
    };
  }

  /** The service as JSON. */
  toJson(): ServiceJson {
    const p = this.#props;
    const minimal = this.environment.tier === 'minimal';
    const size =
      p.size instanceof InstanceSize ? p.size : minimal ? InstanceSize.small() : InstanceSize.medium();
    const scaling = p.scaling instanceof Scaling ? p.scaling : Scaling.fixed(minimal ? 1 : 2);
    const placement = p.placement instanceof Placement ? p.placement : Placement.dedicated();
    const db = this.environment.database;
    const database =
      p.database === false
        ? null
        : p.database && typeof p.database === 'object'
          ? { database: String(p.database.database), role: String(p.database.role) }
          : db
            ? db.defaultConnection()
            : null;
    return {
      name: this.id,
      app: typeof p.app === 'string' ? p.app : null,
      processType: typeof p.processType === 'string' ? p.processType : this.id,
      command: Array.isArray(p.command) ? p.command.map(String) : null,
      port: typeof p.port === 'number' ? p.port : null,
      size: size.json,
      scaling: scaling.json,
      placement: placement.json,
      healthCheck: this.healthCheckJson(),
      env: sortedRecord(
        Object.fromEntries(Object.entries(p.env ?? {}).filter(([, v]) => typeof v === 'string')),
      ),
      secrets: sortedRecord(Object.fromEntries([...this.#secrets].map(([k, ref]) => [k, ref.name]))),
      database,
      stopTimeoutMs: p.stopTimeout instanceof Duration ? p.stopTimeout.toMilliseconds() : 30_000,
    };
  }
}

/** Options of a LoadBalancer. */
export interface LoadBalancerProps {
  /** The service that receives the traffic; it must have a port. */
  readonly service: Service;
  /** Ports the load balancer listens on. @default [80] */
  readonly ports?: readonly number[];
  /** How the load balancer checks each instance. @default the service's health check, else GET /healthz every 2s */
  readonly healthCheck?: HealthCheckProps;
}

/** The environment's load balancer, in front of one service (one per environment). */
export class LoadBalancer extends ConstructBase {
  readonly environment: Environment;
  readonly #props: LoadBalancerProps;

  constructor(scope: Environment, id: string, props: LoadBalancerProps) {
    super(id, `${scope?.path}.loadBalancer`);
    if (!(scope instanceof Environment)) {
      throw new TypeError(`LoadBalancer "${id}" must be created in an Environment`);
    }
    this.environment = scope;
    this.#props = props ?? ({} as LoadBalancerProps);
    if (scope.loadBalancer) {
      this.problem(
        '',
        id,
        `"${scope.id}" already has the load balancer "${scope.loadBalancer.id}"`,
        'Keep one LoadBalancer per environment, listing every port in `ports`',
      );
      return;
    }
    scope.loadBalancer = this;
    this.checkName('load balancer', id);
    for (const p of unknownProperties(this.path, 'LoadBalancer', props, ['service', 'ports', 'healthCheck']))
      scope.addProblem(p);
    const service = this.#props.service;
    if (!(service instanceof Service)) {
      this.problem(
        'service',
        service,
        "'service' must be a Service of this environment",
        'Pass the Service that gets the traffic: { service: web }',
      );
    } else if (service.environment !== scope) {
      this.problem(
        'service',
        service.path,
        `the service "${service.id}" belongs to "${service.environment.id}", not "${scope.id}"`,
        'Pass a Service created in this environment',
      );
    } else if (service.port === undefined) {
      this.problem(
        'service',
        service.id,
        `the service "${service.id}" has no port to send traffic to`,
        `Set port on the service "${service.id}", like port: 8080`,
      );
    }
    const ports = this.#props.ports ?? [80];
    if (!Array.isArray(ports) || ports.length === 0) {
      this.problem('ports', ports, "'ports' must be a non-empty list of ports", 'Use ports: [80]');
    } else {
      const seen = new Set<number>();
      ports.forEach((port, i) => {
        for (const v of wholeNumberProblems(
          port,
          'a load balancer port',
          { min: 1, max: 65_535 },
          'ports: [80]',
        )) {
          this.problem(`ports.${i}`, v.value, v.message, v.fix);
        }
        if (seen.has(port))
          this.problem(`ports.${i}`, port, `the port ${port} is listed twice`, `Remove the second ${port}`);
        seen.add(port);
      });
    }
    if (this.#props.healthCheck !== undefined) {
      for (const p of unknownProperties(
        `${this.path}.healthCheck`,
        'a health check',
        this.#props.healthCheck,
        HEALTH_CHECK_KEYS,
      )) {
        scope.addProblem(p);
      }
    }
  }

  /** The load balancer as JSON. */
  toJson(): LoadBalancerJson {
    const service = this.#props.service instanceof Service ? this.#props.service : undefined;
    const base = service?.healthCheckJson() ?? DEFAULT_HEALTH_CHECK;
    const reporter = {
      problemAt: (property: string, value: unknown, message: string, fix: string) =>
        this.problem(property, value, message, fix),
      valueAt: (property: string, value: unknown) => this.valueProblems(property, value),
    };
    const ports = Array.isArray(this.#props.ports) ? [...this.#props.ports] : [80];
    return {
      name: this.id,
      service: service?.id ?? '',
      ports: ports.sort((a, b) => a - b),
      healthCheck: this.#props.healthCheck
        ? healthCheckJson(reporter, 'healthCheck', this.#props.healthCheck, base)
        : base,
    };
  }
}

/** A role of the database server, and the databases it may use. */
export interface DatabaseRoleProps {
  readonly name: string;
  /** Databases the role may connect to and create objects in. @default [] */
  readonly databases?: readonly string[];
}

/** A database on the server, and the role that owns it. */
export interface DatabaseSchemaProps {
  readonly name: string;
  /** The owning role (one of `roles`). @default the first role listing this database, else the first role */
  readonly owner?: string;
}

/** Options of a Database. */
export interface DatabaseProps {
  /** PostgreSQL's major version. @default 15 */
  readonly version?: number;
  /** How big the server is. @default InstanceSize.small() in a minimal tier, InstanceSize.medium() otherwise */
  readonly size?: InstanceSize;
  /** Disk space. @default Size.gibibytes(10) */
  readonly storage?: Size;
  /** The databases to create, by name or with their owner. */
  readonly databases: readonly (string | DatabaseSchemaProps)[];
  /** The login roles to create. */
  readonly roles: readonly DatabaseRoleProps[];
  /** A standby copy on another vendor (kept up to date by the replication module). @default none */
  readonly replica?: { readonly provider: Provider };
}

/** The environment's PostgreSQL server, with its databases and roles (one per environment). */
export class Database extends ConstructBase {
  readonly environment: Environment;
  readonly #props: DatabaseProps;

  constructor(scope: Environment, id: string, props: DatabaseProps) {
    super(id, `${scope?.path}.database`);
    if (!(scope instanceof Environment))
      throw new TypeError(`Database "${id}" must be created in an Environment`);
    this.environment = scope;
    this.#props = props ?? ({} as DatabaseProps);
    if (scope.database) {
      this.problem(
        '',
        id,
        `"${scope.id}" already has the database "${scope.database.id}"`,
        'Keep one Database per environment; list more databases in `databases`',
      );
      return;
    }
    scope.database = this;
    this.checkName('database', id);
    for (const p of unknownProperties(this.path, 'Database', props, [
      'version',
      'size',
      'storage',
      'databases',
      'roles',
      'replica',
    ])) {
      scope.addProblem(p);
    }
    const p = this.#props;
    if (p.version !== undefined && p.version !== 15) {
      this.problem(
        'version',
        p.version,
        `PostgreSQL ${String(p.version)} is not supported`,
        'Use version: 15',
      );
    }
    if (p.size !== undefined) this.expectChoice('size', p.size, InstanceSize, 'InstanceSize.small()');
    if (p.storage !== undefined) this.expectChoice('storage', p.storage, Size, 'Size.gibibytes(10)');
    const roles = Array.isArray(p.roles) ? p.roles : [];
    if (!Array.isArray(p.roles) || p.roles.length === 0) {
      this.problem(
        'roles',
        p.roles,
        "'roles' must list at least one role",
        'Use roles: [{ name: "app", databases: ["app"] }]',
      );
    }
    const roleNames = new Set<string>();
    roles.forEach((role, i) => {
      for (const problem of unknownProperties(`${this.path}.roles.${i}`, 'a database role', role, [
        'name',
        'databases',
      ]))
        scope.addProblem(problem);
      if (typeof role?.name !== 'string' || !SQL_NAME.test(role.name)) {
        this.problem(
          `roles.${i}.name`,
          role?.name,
          'a role name must use a-z, 0-9 and "_", starting with a letter or "_"',
          'Use a name such as "app"',
        );
      } else if (roleNames.has(role.name)) {
        this.problem(
          `roles.${i}.name`,
          role.name,
          `the role "${role.name}" is listed twice`,
          'Merge the two entries',
        );
      } else {
        roleNames.add(role.name);
      }
    });
    if (!Array.isArray(p.databases) || p.databases.length === 0) {
      this.problem(
        'databases',
        p.databases,
        "'databases' must list at least one database",
        'Use databases: ["app"]',
      );
    }
    const dbNames = new Set<string>();
    (Array.isArray(p.databases) ? p.databases : []).forEach((entry, i) => {
      const name = typeof entry === 'string' ? entry : entry?.name;
      if (typeof entry === 'object') {
        for (const problem of unknownProperties(`${this.path}.databases.${i}`, 'a database', entry, [
          'name',
          'owner',
        ]))
          scope.addProblem(problem);
      }
      if (
        typeof name !== 'string' ||
        !SQL_NAME.test(name) ||
        name === 'postgres' ||
        name.startsWith('template')
      ) {
        this.problem(
          `databases.${i}`,
          name,
          'a database name must use a-z, 0-9 and "_" and not be "postgres" or "template…"',
          'Use a name such as "app"',
        );
      } else if (dbNames.has(name)) {
        this.problem(
          `databases.${i}`,
          name,
          `the database "${name}" is listed twice`,
          'Remove the second entry',
        );
      } else {
        dbNames.add(name);
      }
      const owner = typeof entry === 'object' ? entry?.owner : undefined;
      if (owner !== undefined && !roleNames.has(owner)) {
        this.problem(
          `databases.${i}.owner`,
          owner,
          `the owner "${owner}" is not one of the roles`,
          `Add { name: "${owner}" } to roles, or use one of: ${[...roleNames].join(', ') || '(none)'}`,
        );
      }
    });
    roles.forEach((role, i) => {
      (Array.isArray(role?.databases) ? (role.databases as readonly string[]) : []).forEach(
        (db: string, j: number) => {
          if (!dbNames.has(db)) {
            this.problem(
              `roles.${i}.databases.${j}`,
              db,
              `the role "${role.name}" names the database "${db}", which is not in 'databases'`,
              `Add "${db}" to databases, or remove it here`,
            );
          }
        },
      );
    });
    if (p.replica !== undefined) {
      for (const problem of unknownProperties(`${this.path}.replica`, 'a replica', p.replica, ['provider']))
        scope.addProblem(problem);
      const provider = p.replica?.provider;
      if (
        this.expectChoice('replica.provider', provider, Provider, 'Provider.gcp({ region: "europe-west1" })')
      ) {
        const own = scope.providerVendor;
        if (own && provider.vendor === own) {
          this.problem(
            'replica.provider',
            provider.toString(),
            `the replica must be on another vendor than the environment (${own})`,
            own === 'aws'
              ? 'Use Provider.gcp({ region: "europe-west1" })'
              : 'Use Provider.aws({ region: "eu-west-1" })',
          );
        }
      }
    }
  }

  /** The connection services use unless they name another. */
  defaultConnection(): { database: string; role: string } | null {
    const json = this.toJson();
    const first = json.databases[0];
    return first ? { database: first.name, role: first.owner } : null;
  }

  /** The database server as JSON. */
  toJson(): DatabaseJson {
    const p = this.#props;
    const roles = (Array.isArray(p.roles) ? p.roles : [])
      .filter((r) => typeof r?.name === 'string')
      .map((r) => ({
        name: r.name,
        databases: Array.isArray(r.databases)
          ? [...new Set((r.databases as readonly unknown[]).map(String))].sort()
          : [],
      }));
    const databases = (Array.isArray(p.databases) ? p.databases : []).map((entry) => {
      const name = String(typeof entry === 'string' ? entry : entry?.name);
      const owner =
        (typeof entry === 'object' && entry?.owner) ||
        roles.find((r) => r.databases.includes(name))?.name ||
        roles[0]?.name ||
        '';
      return { name, owner };
    });
    const minimal = this.environment.tier === 'minimal';
    const size =
      p.size instanceof InstanceSize ? p.size : minimal ? InstanceSize.small() : InstanceSize.medium();
    return {
      name: this.id,
      engine: 'postgresql',
      version: typeof p.version === 'number' ? p.version : 15,
      size: size.json,
      storageGiB: p.storage instanceof Size ? p.storage.toGibibytes() : 10,
      databases: databases.sort((a, b) => a.name.localeCompare(b.name)),
      roles: roles.sort((a, b) => a.name.localeCompare(b.name)),
      replica: p.replica?.provider instanceof Provider ? { provider: p.replica.provider.json } : null,
    };
  }
}

/** What evaluating a file's environments produced. */
export interface SynthesisResult {
  readonly environments: readonly EnvironmentJson[];
  readonly problems: readonly DefinitionProblem[];
}

/**
 * The JSON of every environment defined so far, and every problem found. Slipway's evaluator calls
 * this after running an environment file; definitions do not need to.
 */
export function synthesizeEnvironments(): SynthesisResult {
  const environments: EnvironmentJson[] = [];
  const problems: DefinitionProblem[] = [];
  for (const root of ROOTS) {
    for (const environment of root.environments) environments.push(environment.toJson());
    problems.push(...root.problems);
  }
  return { environments, problems: dedupe(problems) };
}

function dedupe(problems: readonly DefinitionProblem[]): DefinitionProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.path}\n${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export { VALUE_PROBLEMS };
