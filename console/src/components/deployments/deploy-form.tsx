import { type FormEvent, useCallback, useId, useMemo, useRef, useState } from 'react';
import { useSession } from '../../session.tsx';
import { ErrorMessage } from '../error-message.tsx';
import { SelectField, TextField } from '../field.tsx';
import { Section } from '../page.tsx';
import type { Artifact } from '../pipelines/types.ts';
import { useAction } from '../use-action.ts';
import { useResource } from '../use-resource.ts';
import { type Deployment, type RolloutStrategy, STRATEGY_NAMES, type StrategyName } from './types.ts';

/** Props of DeployForm. */
export interface DeployFormProps {
  /** The environments the user may deploy to (holding "deployer" there), by name. */
  readonly environments: readonly string[];
  /** The environment chosen first (the list's filter, when the user may deploy there). */
  readonly initialEnvironment: string | undefined;
  readonly onDeployed: (deployment: Deployment) => void;
  readonly onCancel: () => void;
}

interface Fields {
  environment: string;
  app: string;
  version: string;
  strategy: '' | StrategyName;
  batchSize: string;
  canarySteps: string;
  keepOldSeconds: string;
}

const DEFAULT_STRATEGY = '';

/** The strategy the form asks for, or undefined for the environment's default. */
function strategyOf(fields: Fields): RolloutStrategy | undefined {
  const number = (text: string) => (text.trim() === '' ? undefined : Number(text.trim()));
  switch (fields.strategy) {
    case '':
      return undefined;
    case 'rolling': {
      const batchSize = number(fields.batchSize);
      return batchSize === undefined ? { strategy: 'rolling' } : { strategy: 'rolling', batchSize };
    }
    case 'blue-green': {
      const seconds = number(fields.keepOldSeconds);
      return seconds === undefined
        ? { strategy: 'blue-green' }
        : { strategy: 'blue-green', keepOldMs: Math.round(seconds * 1000) };
    }
    case 'canary': {
      const steps = fields.canarySteps
        .split(/[\s,→>]+/)
        .filter(Boolean)
        .map(Number);
      return steps.length === 0 ? { strategy: 'canary' } : { strategy: 'canary', steps };
    }
  }
}

function strategyWords(fields: Fields): string {
  const strategy = strategyOf(fields);
  if (!strategy) return "the environment's default strategy";
  if (strategy.strategy === 'rolling' && strategy.batchSize)
    return `a rolling deploy in batches of ${strategy.batchSize}`;
  if (strategy.strategy === 'canary' && strategy.steps)
    return `a canary at ${strategy.steps.join(' → ')} % of the traffic`;
  return `a ${strategy.strategy} deploy`;
}

/**
 * Deploys a version of an app to an environment: pick them (versions come from the app's published
 * artifacts), pick a strategy or keep the environment's, confirm. The server checks the role, the
 * environment's promotion policy and that no other deployment runs there; its refusal shows here with
 * what to do next.
 */
export function DeployForm({ environments, initialEnvironment, onDeployed, onCancel }: DeployFormProps) {
  const { client } = useSession();
  const [fields, setFields] = useState<Fields>({
    environment:
      initialEnvironment && environments.includes(initialEnvironment)
        ? initialEnvironment
        : (environments[0] ?? ''),
    app: '',
    version: '',
    strategy: DEFAULT_STRATEGY,
    batchSize: '',
    canarySteps: '10, 50, 100',
    keepOldSeconds: '',
  });
  // Listing artifacts needs "viewer" on the platform; a deployer of one environment types the version.
  const artifacts = useResource(
    useCallback(() => client.get<Artifact[]>('/api/artifacts', { limit: 1000 }), [client]),
  );
  const apps = useMemo(
    () => [...new Set((artifacts.data ?? []).map((artifact) => artifact.app))].sort(),
    [artifacts.data],
  );
  const versions = useMemo(
    () => (artifacts.data ?? []).filter((artifact) => artifact.app === fields.app),
    [artifacts.data, fields.app],
  );
  const deploy = useAction(
    useCallback(
      (input: Fields) => {
        const strategy = strategyOf(input);
        return client.post<Deployment>('/api/deployments', {
          environment: input.environment,
          app: input.app.trim(),
          version: input.version.trim(),
          ...(strategy ? { strategy } : {}),
        });
      },
      [client],
    ),
  );
  const errors = deploy.error?.fieldErrors() ?? {};
  const dialog = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const messageId = useId();

  const set = (name: keyof Fields) => (event: { target: { value: string } }) => {
    const value = event.target.value;
    setFields((current) => ({
      ...current,
      [name]: value,
      // Another app has other versions: pick its newest.
      ...(name === 'app'
        ? { version: artifacts.data?.find((artifact) => artifact.app === value)?.version ?? '' }
        : {}),
    }));
  };
  const ready = fields.environment !== '' && fields.app.trim() !== '' && fields.version.trim() !== '';

  const askToConfirm = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (ready) dialog.current?.showModal();
  };
  const confirm = async () => {
    dialog.current?.close();
    const result = await deploy.run(fields);
    if (result.ok) onDeployed(result.value);
  };

  const canListVersions = artifacts.data !== undefined && apps.length > 0;
  return (
    <Section title="Deploy a version">
      <form className="form-grid" onSubmit={askToConfirm} aria-label="Deploy a version" noValidate>
        <ErrorMessage error={deploy.error} title="Cannot deploy" />
        <SelectField
          label="Environment"
          name="environment"
          options={environments}
          value={fields.environment}
          onChange={set('environment')}
          error={errors.environment}
        />
        {canListVersions ? (
          <SelectField
            label="App"
            name="app"
            options={[{ value: '', label: 'Choose an app' }, ...apps]}
            value={fields.app}
            onChange={set('app')}
            error={errors.app}
          />
        ) : (
          <TextField label="App" name="app" value={fields.app} onChange={set('app')} error={errors.app} />
        )}
        {canListVersions && versions.length > 0 ? (
          <SelectField
            label="Version"
            name="version"
            help="Published versions, newest first"
            options={versions.map((artifact) => ({
              value: artifact.version,
              label:
                artifact.deployedTo.length > 0
                  ? `${artifact.version} (on ${artifact.deployedTo.join(', ')})`
                  : artifact.version,
            }))}
            value={fields.version}
            onChange={set('version')}
            error={errors.version}
          />
        ) : (
          <TextField
            label="Version"
            name="version"
            help={
              artifacts.error
                ? 'You cannot list artifacts (that needs "viewer" on the platform): type the version'
                : 'A published version, like "1.0.0~b7+g1a2b3c4"'
            }
            value={fields.version}
            onChange={set('version')}
            error={errors.version}
          />
        )}
        <SelectField
          label="Strategy"
          name="strategy"
          options={[
            { value: DEFAULT_STRATEGY, label: "The environment's default" },
            ...STRATEGY_NAMES.map((name) => ({ value: name, label: name })),
          ]}
          value={fields.strategy}
          onChange={set('strategy')}
          error={errors.strategy}
        />
        {fields.strategy === 'rolling' ? (
          <TextField
            label="Batch size"
            name="batchSize"
            inputMode="numeric"
            help="Hosts replaced together (default 1)"
            value={fields.batchSize}
            onChange={set('batchSize')}
            error={errors['strategy.batchSize']}
          />
        ) : null}
        {fields.strategy === 'canary' ? (
          <TextField
            label="Canary steps (%)"
            name="canarySteps"
            help="The canary's share of the traffic at each step"
            value={fields.canarySteps}
            onChange={set('canarySteps')}
            error={errors['strategy.steps']}
          />
        ) : null}
        {fields.strategy === 'blue-green' ? (
          <TextField
            label="Keep the old set (seconds)"
            name="keepOldSeconds"
            inputMode="numeric"
            help="For an instant rollback after the switch (default 60)"
            value={fields.keepOldSeconds}
            onChange={set('keepOldSeconds')}
            error={errors['strategy.keepOldMs']}
          />
        ) : null}
        <div className="form-actions button-row">
          <button type="submit" className="button-primary" disabled={!ready || deploy.pending}>
            {deploy.pending ? 'Deploying…' : 'Deploy…'}
          </button>
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
        </div>
      </form>
      <dialog ref={dialog} className="confirm" aria-labelledby={titleId} aria-describedby={messageId}>
        <h2 id={titleId}>
          Deploy {fields.app.trim()} {fields.version.trim()} to {fields.environment}?
        </h2>
        <p id={messageId} className="confirm-message">
          Every host of {fields.environment} moves to this version with {strategyWords(fields)}. A failing
          hook or health check rolls it back by itself.
        </p>
        <div className="button-row">
          <button type="button" onClick={() => dialog.current?.close()}>
            Cancel
          </button>
          <button type="button" className="button-primary" onClick={confirm}>
            Deploy
          </button>
        </div>
      </dialog>
    </Section>
  );
}
