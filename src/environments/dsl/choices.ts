/**
 * The choices a definition makes with static factories: where it runs (Provider), how many
 * instances (Scaling), where instances go (Placement), how big they are (InstanceSize), how releases
 * roll out (DeployStrategy), who approves changes (Approval) and which secret a variable reads
 * (SecretRef). Each factory checks its own arguments; the construct that uses it reports them.
 */
import {
  describeValue,
  type HasValueProblems,
  unknownProperties,
  VALUE_PROBLEMS,
  type ValueProblem,
} from './problems.ts';
import { Duration, Percent, Size, wholeNumberProblems } from './units.ts';

function relative(problems: readonly { path: string; value?: unknown; message: string; fix: string }[]) {
  return problems.map((p) => ({ ...p, property: p.path.replace(/^\./, '') }));
}

const REGION = /^[a-z]{2,}(-[a-z0-9]+)+$/;

/** The provider's JSON form in the model. */
export type ProviderJson =
  | { readonly kind: 'local'; readonly vendor: 'local' }
  | { readonly kind: 'aws'; readonly vendor: 'aws'; readonly region: string }
  | {
      readonly kind: 'gcp';
      readonly vendor: 'gcp';
      readonly region: string;
      readonly project: string | null;
    };

/** Options of `Provider.aws()`. */
export interface AwsProviderProps {
  /** The AWS region, like "eu-west-1". */
  readonly region: string;
}

/** Options of `Provider.gcp()`. */
export interface GcpProviderProps {
  /** The GCP region, like "europe-west1". */
  readonly region: string;
  /** The GCP project id. @default the project the cloud-vendors configuration names */
  readonly project?: string;
}

/** Where an environment runs: this machine, or a cloud vendor. */
export class Provider implements HasValueProblems {
  readonly [VALUE_PROBLEMS]: readonly ValueProblem[];

  private constructor(
    readonly json: ProviderJson,
    problems: readonly ValueProblem[] = [],
  ) {
    this[VALUE_PROBLEMS] = problems;
  }

  /** This machine: hosts are sandboxes here, with HAProxy in front and PostgreSQL clusters started here. */
  static local(): Provider {
    return new Provider({ kind: 'local', vendor: 'local' });
  }

  /** Amazon Web Services in one region (compiled with the cloud-vendors issue). */
  static aws(props: AwsProviderProps): Provider {
    const problems: ValueProblem[] = relative(unknownProperties('', 'Provider.aws()', props, ['region']));
    const region = (props as Partial<AwsProviderProps> | undefined)?.region;
    if (typeof region !== 'string' || !REGION.test(region)) {
      problems.push({
        property: 'region',
        value: describeValue(region),
        message: 'the AWS region must be a region name',
        fix: 'Use a region such as "eu-west-1"',
      });
    }
    return new Provider({ kind: 'aws', vendor: 'aws', region: String(region ?? '') }, problems);
  }

  /** Google Cloud in one region (compiled with the cloud-vendors issue). */
  static gcp(props: GcpProviderProps): Provider {
    const problems: ValueProblem[] = relative(
      unknownProperties('', 'Provider.gcp()', props, ['region', 'project']),
    );
    const region = (props as Partial<GcpProviderProps> | undefined)?.region;
    if (typeof region !== 'string' || !REGION.test(region)) {
      problems.push({
        property: 'region',
        value: describeValue(region),
        message: 'the GCP region must be a region name',
        fix: 'Use a region such as "europe-west1"',
      });
    }
    const project = props?.project;
    return new Provider(
      { kind: 'gcp', vendor: 'gcp', region: String(region ?? ''), project: project ?? null },
      problems,
    );
  }

  /** The cloud vendor ("local" for this machine). */
  get vendor(): ProviderJson['vendor'] {
    return this.json.vendor;
  }

  /** "local", "aws eu-west-1", "gcp europe-west1". */
  toString(): string {
    return this.json.kind === 'local' ? 'local' : `${this.json.kind} ${this.json.region}`;
  }
}

/** Scaling's JSON form in the model. */
export type ScalingJson =
  | { readonly mode: 'fixed'; readonly count: number }
  | { readonly mode: 'auto'; readonly min: number; readonly max: number; readonly targetCpuPercent: number };

/** Options of `Scaling.auto()`. */
export interface AutoScalingProps {
  /** Fewest instances, at least 1. */
  readonly min: number;
  /** Most instances, at least `min`, at most 100. */
  readonly max: number;
  /** Average CPU the autoscaler aims for. @default Percent.of(70) */
  readonly targetCpu?: Percent;
}

/** How many instances a service runs. */
export class Scaling implements HasValueProblems {
  readonly [VALUE_PROBLEMS]: readonly ValueProblem[];

  private constructor(
    readonly json: ScalingJson,
    problems: readonly ValueProblem[],
  ) {
    this[VALUE_PROBLEMS] = problems;
  }

  /** Exactly `count` instances (1 to 100). */
  static fixed(count: number): Scaling {
    return new Scaling(
      { mode: 'fixed', count },
      wholeNumberProblems(count, 'the instance count', { min: 1, max: 100 }, 'Scaling.fixed(2)').map((p) => ({
        ...p,
        property: 'count',
      })),
    );
  }

  /** Between `min` and `max` instances, scaled on CPU. */
  static auto(props: AutoScalingProps): Scaling {
    const problems: ValueProblem[] = relative(
      unknownProperties('', 'Scaling.auto()', props, ['min', 'max', 'targetCpu']),
    );
    const { min, max } = props ?? ({} as AutoScalingProps);
    const example = 'Scaling.auto({ min: 2, max: 10 })';
    problems.push(
      ...wholeNumberProblems(min, "'min'", { min: 1, max: 100 }, example).map((p) => ({
        ...p,
        property: 'min',
      })),
      ...wholeNumberProblems(max, "'max'", { min: 1, max: 100 }, example).map((p) => ({
        ...p,
        property: 'max',
      })),
    );
    if (typeof min === 'number' && typeof max === 'number' && min > max) {
      problems.push({
        property: 'min',
        value: min,
        message: `'min' (${min}) must not be greater than 'max' (${max})`,
        fix: `Set max to ${min} or more, or min to ${max} or less`,
      });
    }
    const targetCpu = props?.targetCpu ?? Percent.of(70);
    if (!Percent.isPercent(targetCpu)) {
      problems.push({
        property: 'targetCpu',
        value: describeValue(targetCpu),
        message: "'targetCpu' must be a Percent",
        fix: 'Use Percent.of(70)',
      });
    } else {
      problems.push(...targetCpu[VALUE_PROBLEMS].map((p) => ({ ...p, property: 'targetCpu' })));
    }
    return new Scaling(
      {
        mode: 'auto',
        min,
        max,
        targetCpuPercent: Percent.isPercent(targetCpu) ? targetCpu.toNumber() : 70,
      },
      problems,
    );
  }

  /** "Scaling.fixed(2)" or "Scaling.auto({ min: 2, max: 10, targetCpu: 70% })". */
  toString(): string {
    const j = this.json;
    return j.mode === 'fixed'
      ? `Scaling.fixed(${j.count})`
      : `Scaling.auto({ min: ${j.min}, max: ${j.max}, targetCpu: ${j.targetCpuPercent}% })`;
  }

  /** Instances the service starts with: the count, or `min`. */
  get initialCount(): number {
    return this.json.mode === 'fixed' ? this.json.count : this.json.min;
  }
}

/** Placement's JSON form in the model. */
export type PlacementJson =
  | { readonly mode: 'dedicated'; readonly zones: readonly string[] }
  | { readonly mode: 'with'; readonly service: string };

/** Options of `Placement.dedicated()`. */
export interface DedicatedPlacementProps {
  /** Zones to spread instances over, round robin. @default the provider's default zone */
  readonly zones?: readonly string[];
}

/** Where a service's instances run. */
export class Placement implements HasValueProblems {
  readonly [VALUE_PROBLEMS]: readonly ValueProblem[];

  private constructor(
    readonly json: PlacementJson,
    problems: readonly ValueProblem[] = [],
  ) {
    this[VALUE_PROBLEMS] = problems;
  }

  /** One host per instance (the default), spread over `zones` when given. */
  static dedicated(props: DedicatedPlacementProps = {}): Placement {
    const problems: ValueProblem[] = relative(
      unknownProperties('', 'Placement.dedicated()', props, ['zones']),
    );
    const zones = props?.zones ?? [];
    if (!Array.isArray(zones) || zones.some((z) => typeof z !== 'string' || !/^[a-z0-9-]{1,40}$/.test(z))) {
      problems.push({
        property: 'zones',
        value: describeValue(zones),
        message: "'zones' must be a list of zone names",
        fix: 'Use names such as ["eu-west-1a", "eu-west-1b"]',
      });
    }
    return new Placement({ mode: 'dedicated', zones: Array.isArray(zones) ? [...zones] : [] }, problems);
  }

  /** "Placement.dedicated()" or "Placement.with(web)". */
  toString(): string {
    return this.json.mode === 'dedicated' ? 'Placement.dedicated()' : `Placement.with(${this.json.service})`;
  }

  /** On the hosts of another service (a worker beside each web instance), one instance per host. */
  static with(service: { readonly id: string }): Placement {
    if (!service || typeof service.id !== 'string') {
      return new Placement({ mode: 'with', service: '' }, [
        {
          value: describeValue(service),
          message: 'Placement.with() takes a Service',
          fix: 'Pass the Service whose hosts this one shares: Placement.with(web)',
        },
      ]);
    }
    return new Placement({ mode: 'with', service: service.id });
  }
}

/** InstanceSize's JSON form in the model. */
export interface InstanceSizeJson {
  readonly name: string;
  readonly vcpus: number;
  readonly memoryMiB: number;
}

/** Options of `InstanceSize.of()`. */
export interface InstanceSizeProps {
  /** Virtual CPUs (0.25 to 64). */
  readonly vcpus: number;
  readonly memory: Size;
}

/** How big each instance is; compilers map it to a vendor's machine type. */
export class InstanceSize implements HasValueProblems {
  readonly [VALUE_PROBLEMS]: readonly ValueProblem[];

  private constructor(
    readonly json: InstanceSizeJson,
    problems: readonly ValueProblem[] = [],
  ) {
    this[VALUE_PROBLEMS] = problems;
  }

  /** 0.5 vCPU, 512 MiB: integration's default. */
  static small(): InstanceSize {
    return new InstanceSize({ name: 'small', vcpus: 0.5, memoryMiB: 512 });
  }

  /** 1 vCPU, 2 GiB: the default outside integration. */
  static medium(): InstanceSize {
    return new InstanceSize({ name: 'medium', vcpus: 1, memoryMiB: 2048 });
  }

  /** 4 vCPU, 8 GiB. */
  static large(): InstanceSize {
    return new InstanceSize({ name: 'large', vcpus: 4, memoryMiB: 8192 });
  }

  /** "small (0.5 vCPU, 512 MiB)". */
  toString(): string {
    return `${this.json.name} (${this.json.vcpus} vCPU, ${this.json.memoryMiB} MiB)`;
  }

  /** A size of your own. */
  static of(props: InstanceSizeProps): InstanceSize {
    const problems: ValueProblem[] = relative(
      unknownProperties('', 'InstanceSize.of()', props, ['vcpus', 'memory']),
    );
    const vcpus = props?.vcpus;
    if (typeof vcpus !== 'number' || !(vcpus >= 0.25 && vcpus <= 64)) {
      problems.push({
        property: 'vcpus',
        value: describeValue(vcpus),
        message: "'vcpus' must be a number from 0.25 to 64",
        fix: 'Use InstanceSize.of({ vcpus: 2, memory: Size.gibibytes(4) })',
      });
    }
    const memory = props?.memory;
    if (!Size.isSize(memory)) {
      problems.push({
        property: 'memory',
        value: describeValue(memory),
        message: "'memory' must be a Size",
        fix: 'Use Size.mebibytes(512) or Size.gibibytes(4)',
      });
    } else {
      problems.push(...memory[VALUE_PROBLEMS].map((p) => ({ ...p, property: 'memory' })));
    }
    return new InstanceSize(
      {
        name: 'custom',
        vcpus: Number(vcpus) || 0,
        memoryMiB: Size.isSize(memory) ? memory.toMebibytes() : 0,
      },
      problems,
    );
  }
}

/** DeployStrategy's JSON form in the model. */
export type DeployStrategyJson =
  | {
      readonly strategy: 'rolling';
      readonly batchSize: number;
      readonly maxSurge: number;
      readonly maxUnavailable: number;
    }
  | { readonly strategy: 'blue-green'; readonly keepOldMs: number }
  | {
      readonly strategy: 'canary';
      readonly steps: readonly number[];
      readonly pauseMs: number;
      readonly maxErrorRatePercent: number;
      readonly maxLatencyMs: number;
    };

/** Options of `DeployStrategy.rolling()`. */
export interface RollingProps {
  /** Instances replaced at a time. @default 1 */
  readonly batchSize?: number;
  /** Extra instances allowed above the count during a rollout. @default 1 */
  readonly maxSurge?: number;
  /** Instances allowed to be out of service during a rollout. @default 0 */
  readonly maxUnavailable?: number;
}

/** Options of `DeployStrategy.blueGreen()`. */
export interface BlueGreenProps {
  /** How long the old set is kept after the switch, for an instant rollback. @default Duration.minutes(30) */
  readonly keepOld?: Duration;
}

/** Options of `DeployStrategy.canary()`. */
export interface CanaryProps {
  /** Traffic percentages, rising, ending at 100. @default [10, 50, 100] */
  readonly steps?: readonly number[];
  /** Pause between two steps. @default Duration.minutes(5) */
  readonly pause?: Duration;
  /** Highest 5xx rate the canary may show before it is rolled back. @default Percent.of(1) */
  readonly maxErrorRate?: Percent;
  /** Highest average response time the canary may show. @default Duration.millis(1000) */
  readonly maxLatency?: Duration;
}

function durationProblems(value: unknown, property: string, example: string): ValueProblem[] {
  if (!Duration.isDuration(value)) {
    return [
      {
        property,
        value: describeValue(value),
        message: `'${property}' must be a Duration`,
        fix: `Use ${example}`,
      },
    ];
  }
  return value[VALUE_PROBLEMS].map((p) => ({ ...p, property }));
}

/** How a release replaces the running one; the default for deploys to an environment. */
export class DeployStrategy implements HasValueProblems {
  readonly [VALUE_PROBLEMS]: readonly ValueProblem[];

  private constructor(
    readonly json: DeployStrategyJson,
    problems: readonly ValueProblem[],
  ) {
    this[VALUE_PROBLEMS] = problems;
  }

  /** "DeployStrategy.rolling", "DeployStrategy.blue-green" or "DeployStrategy.canary". */
  toString(): string {
    return `DeployStrategy.${this.json.strategy}`;
  }

  /** Replace instances a batch at a time. */
  static rolling(props: RollingProps = {}): DeployStrategy {
    const problems: ValueProblem[] = relative(
      unknownProperties('', 'DeployStrategy.rolling()', props, ['batchSize', 'maxSurge', 'maxUnavailable']),
    );
    const batchSize = props?.batchSize ?? 1;
    const maxSurge = props?.maxSurge ?? 1;
    const maxUnavailable = props?.maxUnavailable ?? 0;
    const example = 'DeployStrategy.rolling({ batchSize: 1, maxSurge: 1, maxUnavailable: 0 })';
    for (const [property, value, min] of [
      ['batchSize', batchSize, 1],
      ['maxSurge', maxSurge, 0],
      ['maxUnavailable', maxUnavailable, 0],
    ] as const) {
      problems.push(
        ...wholeNumberProblems(value, `'${property}'`, { min, max: 100 }, example).map((p) => ({
          ...p,
          property,
        })),
      );
    }
    if (maxSurge === 0 && maxUnavailable === 0) {
      problems.push({
        property: 'maxSurge',
        value: 0,
        message: "'maxSurge' (0) and 'maxUnavailable' (0) leave no room to replace an instance",
        fix: 'Set maxSurge to 1 (start a new instance before stopping an old one)',
      });
    }
    return new DeployStrategy({ strategy: 'rolling', batchSize, maxSurge, maxUnavailable }, problems);
  }

  /** Start a full new set, switch the load balancer at once, keep the old set for a while. */
  static blueGreen(props: BlueGreenProps = {}): DeployStrategy {
    const problems: ValueProblem[] = relative(
      unknownProperties('', 'DeployStrategy.blueGreen()', props, ['keepOld']),
    );
    const keepOld = props?.keepOld ?? Duration.minutes(30);
    problems.push(...durationProblems(keepOld, 'keepOld', 'Duration.minutes(30)'));
    return new DeployStrategy(
      { strategy: 'blue-green', keepOldMs: Duration.isDuration(keepOld) ? keepOld.toMilliseconds() : 0 },
      problems,
    );
  }

  /** Move traffic to the new release in steps, rolling back when the canary's errors or latency rise. */
  static canary(props: CanaryProps = {}): DeployStrategy {
    const problems: ValueProblem[] = relative(
      unknownProperties('', 'DeployStrategy.canary()', props, [
        'steps',
        'pause',
        'maxErrorRate',
        'maxLatency',
      ]),
    );
    const steps = props?.steps ?? [10, 50, 100];
    const stepsOk =
      Array.isArray(steps) &&
      steps.length > 0 &&
      steps.every((s, i) => Number.isInteger(s) && s >= 1 && s <= 100 && (i === 0 || s > steps[i - 1]!)) &&
      steps[steps.length - 1] === 100;
    if (!stepsOk) {
      problems.push({
        property: 'steps',
        value: describeValue(steps),
        message: "'steps' must be rising whole percentages from 1 to 100 that end at 100",
        fix: 'Use steps such as [10, 50, 100]',
      });
    }
    const pause = props?.pause ?? Duration.minutes(5);
    const maxLatency = props?.maxLatency ?? Duration.millis(1000);
    const maxErrorRate = props?.maxErrorRate ?? Percent.of(1);
    problems.push(
      ...durationProblems(pause, 'pause', 'Duration.minutes(5)'),
      ...durationProblems(maxLatency, 'maxLatency', 'Duration.millis(500)'),
    );
    if (!Percent.isPercent(maxErrorRate)) {
      problems.push({
        property: 'maxErrorRate',
        value: describeValue(maxErrorRate),
        message: "'maxErrorRate' must be a Percent",
        fix: 'Use Percent.of(1)',
      });
    }
    return new DeployStrategy(
      {
        strategy: 'canary',
        steps: Array.isArray(steps) ? [...steps] : [],
        pauseMs: Duration.isDuration(pause) ? pause.toMilliseconds() : 0,
        maxErrorRatePercent: Percent.isPercent(maxErrorRate) ? maxErrorRate.toNumber() : 0,
        maxLatencyMs: Duration.isDuration(maxLatency) ? maxLatency.toMilliseconds() : 0,
      },
      problems,
    );
  }
}

/** Who lets a planned change go ahead. */
export class Approval {
  private constructor(readonly json: 'automatic' | 'admin') {}

  /** Plans from the infrastructure repository apply on their own (integration's default). */
  static automatic(): Approval {
    return new Approval('automatic');
  }

  /** Plans wait for one action by an administrator of the environment (the default elsewhere). */
  static byAdmin(): Approval {
    return new Approval('admin');
  }
}

/** Which versions an environment takes: any, or only those that passed another environment first. */
export class Promotion {
  private constructor(readonly json: { readonly requires: string | null }) {}

  /** Any built version may be deployed (the default). */
  static any(): Promotion {
    return new Promotion({ requires: null });
  }

  /** Only versions that passed `environment` (its tests, or a successful deploy there), like production after staging. */
  static after(environment: string): Promotion {
    return new Promotion({ requires: String(environment) });
  }
}

/** A reference to a secret of the environment, by name; the value never appears in a definition. */
export class SecretRef implements HasValueProblems {
  readonly [VALUE_PROBLEMS]: readonly ValueProblem[];

  private constructor(
    readonly name: string,
    problems: readonly ValueProblem[],
  ) {
    this[VALUE_PROBLEMS] = problems;
  }

  /** The secret called `name` in the environment's vault (declared in the environment's `secrets`). */
  static named(name: string): SecretRef {
    // The same names the secrets store takes (`slipway secrets set ENV NAME`).
    const ok = typeof name === 'string' && /^[A-Z_][A-Z0-9_]{0,127}$/.test(name);
    return new SecretRef(
      String(name),
      ok
        ? []
        : [
            {
              value: describeValue(name),
              message: 'a secret name uses uppercase letters, digits and "_", as in the secrets store',
              fix: 'Use a name such as "DB_PASSWORD"',
            },
          ],
    );
  }

  /** 'SecretRef.named("DB_PASSWORD")'. */
  toString(): string {
    return `SecretRef.named(${JSON.stringify(this.name)})`;
  }

  /** Whether `value` is a SecretRef. */
  static isSecretRef(value: unknown): value is SecretRef {
    return value instanceof SecretRef;
  }
}
