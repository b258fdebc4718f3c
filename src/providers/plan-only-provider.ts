import { UnavailableError } from '../core/index.ts';
import type { EnvironmentProvider } from './provider.ts';

/**
 * A cloud provider whose compiler (Terraform JSON and cloud-init that installs the agent) comes with
 * the cloud-vendors issue: its environments are validated and planned, and an apply says why it
 * cannot run yet instead of failing half-way.
 */
export function planOnlyProvider(kind: 'aws' | 'gcp'): EnvironmentProvider {
  const cannotApply = `the ${kind} provider can plan but not yet apply: its compiler (Terraform JSON and cloud-init for the agent) arrives with the cloud-vendors issue`;
  const refuse = async (): Promise<never> => {
    throw new UnavailableError(`Cannot apply: ${cannotApply}`, {
      hint: 'Plan it with `slipway env plan NAME`; run it on this machine with Provider.local()',
      retryable: false,
    });
  };
  return {
    kind,
    cannotApply,
    ensureDatabase: refuse,
    deleteDatabase: refuse,
    ensureHost: refuse,
    deleteHost: refuse,
    instanceAddress: refuse,
    ensureLoadBalancer: refuse,
    deleteLoadBalancer: refuse,
    observe: async () => ({ hosts: {}, loadBalancer: null, database: null }),
    supervise: async () => [],
    destroyEnvironment: async () => undefined,
  };
}
